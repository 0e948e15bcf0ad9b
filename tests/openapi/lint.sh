#!/bin/sh
# Lints api/openapi.yaml with the Redocly CLI version pinned in
# package-lock.json, using redocly.yaml (the recommended ruleset).
#
# The first run installs the linter into ./node_modules with `npm ci`
# (exact versions from the lock file, needs the npm registry); later runs
# are offline.  Exits non-zero on any error or warning.
#
# Usage: tests/openapi/lint.sh [FILE.yaml]   (default: api/openapi.yaml)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
spec=${1:-"$here/../../api/openapi.yaml"}
spec=$(cd "$(dirname "$spec")" && pwd)/$(basename "$spec")
cd "$here"

# Nothing leaves the machine, and no banners about newer versions.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_COLOR=1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# Install when missing, or when the lock file changed since the install.
if [ ! -x node_modules/.bin/redocly ] ||
   [ package-lock.json -nt node_modules/.package-lock.json ]; then
	if ! npm ci --no-audit --no-fund --loglevel=error >"$tmp/npm.log" 2>&1; then
		cat "$tmp/npm.log" >&2
		echo "openapi lint: npm ci failed in $here" >&2
		exit 1
	fi
fi

# One run with machine-readable output decides; redocly's own exit status
# ignores warnings.
node_modules/.bin/redocly lint --config redocly.yaml --format=json "$spec" \
    >"$tmp/report.json" 2>"$tmp/stderr.log" || true
if node -e '
	const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
	const t = r.totals;
	console.log(`openapi lint: ${process.argv[2]}: ${t.errors} errors, ` +
	    `${t.warnings} warnings, ${t.ignored} ignored on purpose ` +
	    `(redocly ${r.version})`);
	process.exit(t.errors + t.warnings === 0 ? 0 : 1);
    ' "$tmp/report.json" "$spec" 2>/dev/null; then
	exit 0
fi

# Failed: show the problems in the readable format (without the boxed
# notices the CLI prints about Node.js versions, which are not findings).
node_modules/.bin/redocly lint --config redocly.yaml "$spec" 2>&1 |
    grep -v '[║╔╚]' >&2 || true
echo "openapi lint: FAILED (any error or warning fails)" >&2
exit 1
