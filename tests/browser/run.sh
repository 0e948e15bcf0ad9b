#!/bin/sh
# Browser tests of the customer web page: playwright-core (pinned in
# package-lock.json) drives Debian's chromium headless against a broker
# each test file starts for itself on a free port.
#
# The first run installs playwright-core into ./node_modules with `npm ci`
# (exact versions from the lock file; needs the npm registry); later runs
# are offline.  No browser is ever downloaded: the tests use
# /usr/bin/chromium (or $CCX_CHROMIUM).  Screenshots of the main screens at
# desktop and phone widths go to build/screenshots/.
#
# Usage: tests/browser/run.sh [FILE.test.mjs...]   (default: all of them)
# Needs bin/ccx-broker and bin/ccx-admin (`make all`).  Exits non-zero when
# a test fails.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
chromium=${CCX_CHROMIUM:-/usr/bin/chromium}

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "browser tests: node and npm are needed (Debian: apt-get install nodejs npm)" >&2
	exit 1
fi
if [ ! -x "$chromium" ]; then
	echo "browser tests: $chromium not found; install Debian's chromium" \
	    "(apt-get install chromium) - no browser is downloaded" >&2
	exit 1
fi
for bin in ccx-broker ccx-admin; do
	if [ ! -x "$repo/bin/$bin" ]; then
		echo "browser tests: missing bin/$bin: run \`make all\` first" >&2
		exit 1
	fi
done

# Install when missing, or when the lock file changed since the install.
cd "$here"
if [ ! -f node_modules/playwright-core/package.json ] ||
   [ ! -f node_modules/.package-lock.json ] ||
   [ package-lock.json -nt node_modules/.package-lock.json ]; then
	log=$(mktemp)
	if ! PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund \
	    --loglevel=error >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		echo "browser tests: npm ci failed in $here" >&2
		exit 1
	fi
	rm -f "$log"
fi

cd "$repo"
rm -rf build/screenshots
mkdir -p build/screenshots
export CCX_CHROMIUM="$chromium" PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [ "$#" -eq 0 ]; then
	set -- tests/browser/*.test.mjs
fi
exec node --test --test-reporter=spec --test-timeout=120000 "$@"
