#!/bin/sh
# The benchmark behind `make bench`: a company's GET /v1/profile on a data
# directory of BENCH_CUSTOMERS customers, warm (10,000 tokens in rotation)
# and cold (every request a token never seen before), against nginx
# serving the same response bytes as a static file over TLS with the same
# certificate and protocol versions, in the same run, with wrk over HTTPS
# keep-alive on loopback.
#
# Prints a table and writes bench/results/<date>-<N>.json.
#
# Environment:
#   BENCH_CUSTOMERS     customers to load (default 100000)
#   BENCH_DURATION      wrk duration per run (default 10s; s, m or h)
#   BENCH_THREADS       wrk threads (default 2)
#   BENCH_CONNECTIONS   wrk connections (default 32)
#   BENCH_WARMUP        unmeasured run before nginx's and the warm run
#                       (default 3s)
#   BENCH_ROUNDS        nginx and warm runs, alternating (default 5); the
#                       report gives medians and the median of the ratios
#                       of each round
#   BENCH_COLD_TOKENS   distinct tokens for the cold run (default: 40,000
#                       per second of duration; a run that uses them all
#                       says so, the results then are not cold)
#   BENCH_BROKER_FLAGS  extra ccx-broker flags (e.g. cache sizes)
#   BENCH_KEEP=1        keep the temporary directory (printed)
#
# Needs wrk and nginx (Debian packages wrk, nginx-light): installed with
# apt-get when running as root, else the script says what to install.
set -eu
cd "$(dirname "$0")/.."

n=${BENCH_CUSTOMERS:-100000}
dur=${BENCH_DURATION:-10s}
threads=${BENCH_THREADS:-2}
conns=${BENCH_CONNECTIONS:-32}
warm_s=${BENCH_WARMUP:-3s}
rounds=${BENCH_ROUNDS:-5}
warm=10000
[ "$n" -lt "$warm" ] && warm=$n
case $dur in
*h) secs=$(( ${dur%h} * 3600 )) ;;
*m) secs=$(( ${dur%m} * 60 )) ;;
*s) secs=${dur%s} ;;
*) secs=$dur ;;
esac
cold=${BENCH_COLD_TOKENS:-$(( secs * 40000 ))}
# The customers, and room for the audit trail the runs write (a minute of
# warm fetches at 70k/s files about a million records): LMDB only
# reserves the address space, the file grows as it is used.
map_size=$(( (n / 1000 + 1) * 8 * 1024 * 1024 + 3 * 1024 * 1024 * 1024 ))

# ---- tools ---------------------------------------------------------------
missing=""
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$missing nginx-light"
if [ -n "$missing" ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "installing:$missing"
		export DEBIAN_FRONTEND=noninteractive
		# shellcheck disable=SC2086 # a list of package names
		apt-get update -qq >/dev/null &&
		    apt-get install -y -qq --no-install-recommends $missing >/dev/null
	else
		echo "bench: missing:$missing -- install with: sudo apt-get install$missing" >&2
		exit 1
	fi
fi
NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
PY=/usr/bin/python3
. bench/nginx.sh

# ---- build -----------------------------------------------------------------
make -s all
PKGS="libmicrohttpd gnutls openssl lmdb jansson libargon2"
mkdir -p build/bench bench/results
# shellcheck disable=SC2046,SC2086 # pkg-config flags, a list of names
${CC:-cc} -std=c11 -D_DEFAULT_SOURCE -I. -O2 bench/load.c build/libccx.a \
    $(pkg-config --cflags --libs $PKGS) -lpthread -o build/bench/load
# shellcheck disable=SC2046,SC2086 # pkg-config flags, a list of names
${CC:-cc} -std=c11 -D_DEFAULT_SOURCE -I. -O2 bench/tokencheck.c build/libccx.a \
    $(pkg-config --cflags --libs $PKGS) -lpthread -o build/bench/tokencheck

# ---- data ------------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/ccx-bench.XXXXXX")
bpid=""; npid=""
cleanup() {
	[ -n "$bpid" ] && kill "$bpid" 2>/dev/null && wait "$bpid" 2>/dev/null
	[ -n "$npid" ] && kill "$npid" 2>/dev/null && wait "$npid" 2>/dev/null
	if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	$PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
bport=$(free_port)
nport=$(free_port)
issuer="https://localhost:$bport"
data=$work/data

bin/ccx-admin --data "$data" init --issuer "$issuer" >/dev/null
bin/ccx-admin --data "$data" company add bench --name Bench >"$work/company.json"
kid=$(bin/ccx-admin --data "$data" keys list |
    $PY -c 'import json,sys; print([k["kid"] for k in json.load(sys.stdin) if k.get("signing")][0])')
echo "loading $n customers, minting $warm warm + $cold cold tokens"
t0=$(date +%s.%N)
build/bench/load "$data" "$issuer" "$kid" "$n" "$work/warm.tokens" "$warm" \
    "$work/cold.tokens" "$cold" "$map_size" | tee "$work/load.out"
t1=$(date +%s.%N)
load_s=$(echo "$t0 $t1" | awk '{printf "%.2f", $2 - $1}')
echo "load total: $load_s s"
du -sh "$data/db" | awk '{print "store size: " $1}'

# ---- servers ---------------------------------------------------------------
bin/ccx-broker --data "$data" --listen "127.0.0.1:$bport" --issuer "$issuer" \
    --map-size "$map_size" --access-log /dev/null ${BENCH_BROKER_FLAGS:-} \
    2>"$work/broker.err" &
bpid=$!

c() { curl -sS --cacert "$data/certs/ca.pem" --resolve "localhost:$bport:127.0.0.1" "$@"; }
tok0=$(head -n 1 "$work/warm.tokens")
mkdir -p "$work/www"
i=0
until c -o "$work/www/profile" -f "$issuer/v1/profile" -H "Authorization: Bearer $tok0" 2>/dev/null; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 "$bpid" 2>/dev/null; then
		echo "bench: broker did not answer:" >&2
		cat "$work/broker.err" >&2
		c "$issuer/v1/profile" -H "Authorization: Bearer $tok0" >&2 || true
		exit 1
	fi
	sleep 0.1
done
body_bytes=$(wc -c <"$work/www/profile")
NGINX_CA=$data/certs/ca.pem nginx_start "$work" "$nport" \
    "$data/certs/server.pem" "$data/certs/server.key" profile

# ---- runs --------------------------------------------------------------------
hz=$(getconf CLK_TCK)

# Sampled every 200 ms for the whole run by bench/sample.py, each sample
# tagged with the phase (the run under way): time, the broker's CPU
# ticks, its private memory, and the requests it has answered by its own
# count.  The report takes a run's rate and CPU use from the middle of its
# samples, away from wrk's start-up (reading up to 400,000 tokens) and
# wind-down.
echo start >"$work/phase"
$PY bench/sample.py "$bpid" "$bport" "$data/certs/ca.pem" "$data/admin.token" \
    "$work/phase" >"$work/samples.txt" &
rpid=$!

# run NAME THREADS CONNS URL [wrk args...]: appends
# "NAME rps p50 p99 requests non2xx wraps".
run() {
	name=$1; t=$2; cn=$3; url=$4; shift 4
	echo "$name" >"$work/phase"
	BENCH_THREADS=$t wrk -t"$t" -c"$cn" -d"$dur" --latency "$url" "$@" \
	    >"$work/wrk.$name" 2>&1 || { cat "$work/wrk.$name" >&2; exit 1; }
	echo "after-$name" >"$work/phase"
	awk -v name="$name" '
	function us(v) {
		if (v ~ /us$/) return v + 0;
		if (v ~ /ms$/) return v * 1000;
		if (v ~ /s$/) return v * 1000000;
		return v
	}
	/Requests\/sec/ {rps = $2}
	/^ +50%/ {p50 = us($2)}
	/^ +99%/ {p99 = us($2)}
	/requests in/ {reqs = $1}
	/Non-2xx/ {bad = $NF}
	/fetch.lua: mode/ {wraps = $NF}
	END {printf "%s %s %s %s %s %s %s\n", name, rps, p50, p99, reqs, bad + 0, wraps + 0}
	' "$work/wrk.$name" >>"$work/results.txt"
}
# warmup URL [wrk args...]: an unmeasured run before a measured one.
# The warm run is to measure the steady state, but the first time any
# of its tokens is seen is a cold fetch (a signature to verify, and a
# second one when the token is cached on its second use): about 1.5 s of
# a 10 s run.  So its tokens all go round a few times first; nginx gets
# the same.
warmup() {
	echo warmup >"$work/phase"
	wrk -t"$threads" -c"$conns" -d"$warm_s" "$@" >"$work/wrk.warmup" 2>&1 ||
	    { cat "$work/wrk.warmup" >&2; exit 1; }
}
: >"$work/results.txt"
echo "running: nginx static and broker warm ($rounds rounds, alternating, after a $warm_s" \
    "warm-up each), broker cold ($dur each, -t$threads -c$conns)"
warmup "https://127.0.0.1:$nport/profile"
warmup "https://127.0.0.1:$bport/v1/profile" -s bench/fetch.lua -- "$work/warm.tokens" warm
# Alternating rounds, because a 2-core machine's noise is large: nginx's
# own rate has moved between 61k and 79k req/s, and its p99 between 1.1
# and 5.3 ms, from one 10 s run to the next.
i=1
while [ "$i" -le "$rounds" ]; do
	run "nginx.$i" "$threads" "$conns" "https://127.0.0.1:$nport/profile"
	run "warm.$i" "$threads" "$conns" "https://127.0.0.1:$bport/v1/profile" -s bench/fetch.lua -- "$work/warm.tokens" warm
	i=$((i + 1))
done
run cold "$threads" "$conns" "https://127.0.0.1:$bport/v1/profile" -s bench/fetch.lua -- "$work/cold.tokens" cold

echo "running: token issuance, profile writes with 1 and 32 writers"
secret=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["client_secret"])' "$work/company.json")
basic=$(printf 'bench:%s' "$secret" | base64 -w0)
run issue "$threads" "$conns" "https://127.0.0.1:$bport/oauth/token" -s bench/token.lua -- "$work/warm.tokens.grants" "$basic"
# Sessions of 32 customers (the shared test-cost hash makes log-in cheap).
$PY - "$bport" "$data/certs/ca.pem" 32 >"$work/sessions" <<'PY'
import http.client, json, ssl, sys
port, ca, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ctx = ssl.create_default_context(cafile=ca)
conn = http.client.HTTPSConnection("localhost", port, context=ctx)
for i in range(n):
    body = json.dumps({"login": "user%d" % i, "password": "correct horse battery staple"})
    conn.request("POST", "/v1/sessions", body, {"Content-Type": "application/json", "Host": "localhost:%d" % port})
    r = conn.getresponse(); data = r.read()
    if r.status != 201:
        sys.exit("bench: log-in user%d: %d %s" % (i, r.status, data[:200]))
    print(json.loads(data)["session"])
PY
run write1 1 1 "https://127.0.0.1:$bport/v1/me/profile" -s bench/write.lua -- "$work/sessions"
run write32 "$threads" 32 "https://127.0.0.1:$bport/v1/me/profile" -s bench/write.lua -- "$work/sessions"
kill "$rpid" 2>/dev/null; wait "$rpid" 2>/dev/null || true


# What Ed25519 verification alone allows: openssl's single-core rate.
verify_per_core=$(openssl speed -seconds 2 ed25519 2>/dev/null |
    awk '/Ed25519/ {print $NF}' | tail -n 1)
# And what the broker's whole token check costs beyond the signature, on
# this run's cold tokens (one thread, with the broker stopped).
build/bench/tokencheck "$data" "$kid" "$issuer" "$work/cold.tokens" \
    >"$work/tokencheck.out"
check_us=$(sed -n 's/.*check_us=\([0-9.]*\).*/\1/p' "$work/tokencheck.out")
sig_us=$(sed -n 's/.*signature_us=\([0-9.]*\).*/\1/p' "$work/tokencheck.out")

# ---- report --------------------------------------------------------------------
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="bench/results/$stamp-$n.json"
BENCH_N=$n BENCH_DUR=$dur BENCH_WARMUP=$warm_s BENCH_T=$threads BENCH_C=$conns BENCH_BYTES=$body_bytes \
BENCH_LOAD_S=$load_s BENCH_COLD=$cold BENCH_WARM=$warm BENCH_OUT=$out BENCH_STAMP=$stamp \
BENCH_SAMPLES="$work/samples.txt" BENCH_HZ=$hz BENCH_VERIFY=${verify_per_core:-0} BENCH_CHECK_US=${check_us:-0} BENCH_SIG_US=${sig_us:-0} BENCH_FLAGS="${BENCH_BROKER_FLAGS:-}" \
BENCH_NGINX_V="$("$NGINX" -v 2>&1 | sed 's/.*: //')" \
BENCH_WRK_V="$(wrk -v 2>&1 | head -n 1 | awk '{print $2}')" \
BENCH_GIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo +dirty)" \
BENCH_LIBS="$(for p in $PKGS; do printf '%s=%s ' "$p" "$(pkg-config --modversion "$p")"; done)" \
$PY bench/report.py "$work/results.txt" "$work/load.out"
