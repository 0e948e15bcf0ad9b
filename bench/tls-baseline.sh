#!/bin/sh
# Compares the broker's GET /healthz and a company's warm GET /v1/profile
# (one token, seen many times) with nginx serving the same bytes as a
# static file over TLS, with the same certificate and protocol versions, in
# the same run.  Needs wrk and nginx (Debian packages wrk, nginx-light).
# The full benchmark (many customers, cold tokens, writes) is `make bench`.
#
# Usage: bench/tls-baseline.sh [DURATION] [CONNECTIONS]
set -eu
cd "$(dirname "$0")/.."
. bench/nginx.sh
dur=${1:-10s}
conns=${2:-32}
work=$(mktemp -d)
trap 'kill $bpid $npid 2>/dev/null || true; rm -rf "$work"' EXIT INT TERM
bpid=""; npid=""

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

bin/ccx-admin --data "$work/data" init >/dev/null
bport=$(free_port)
secret=$(bin/ccx-admin --data "$work/data" company add bench --name Bench |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
bin/ccx-broker --data "$work/data" --listen "127.0.0.1:$bport" \
    --access-log /dev/null --kdf-memory 64 --kdf-time 1 2>"$work/broker.err" &
bpid=$!
sleep 0.5
# One customer with a ~1.5 KB profile, a grant, and a token for it.
c() { curl -sS --cacert "$work/data/certs/ca.pem" --resolve "localhost:$bport:127.0.0.1" "$@"; }
b="https://localhost:$bport"
c -X POST "$b/v1/customers" -H 'Content-Type: application/json' \
    -d '{"login":"bench","password":"correct horse battery"}' >/dev/null
sess=$(c -X POST "$b/v1/sessions" -H 'Content-Type: application/json' \
    -d '{"login":"bench","password":"correct horse battery"}' |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["session"])')
etag=$(c -sI "$b/v1/me/profile" -H "Authorization: Bearer $sess" | tr -d '\r' |
    awk 'tolower($1)=="etag:" {print $2}')
/usr/bin/python3 - >"$work/profile.json" <<'PY'
import json
print(json.dumps({
  "identity": {"name": "Ada Lovelace", "preferred_name": "Ada", "pronouns": "she/her"},
  "contact": {"email": "ada@example.org", "phone": "+441632960961",
              "postal": {"street": "12 Analytical Row", "city": "London", "postcode": "N1 9GU", "country": "GB"}},
  "communication": {"channels": ["email", "post"], "frequency": "weekly",
                    "quiet_hours": {"start": "21:00", "end": "08:00", "tz": "Europe/London"}, "do_not_contact": False},
  "language": "en-GB",
  "interests": ["mathematics", "poetry", "engines", "music", "horses", "astronomy", "weaving", "chess"],
  "sizes": {"shoe_eu": 38, "shirt": "S", "dress_uk": 10, "glove": "6.5"},
  "diet": {"vegetarian": True, "vegan": False, "halal": False, "kosher": False, "allergies": ["peanuts", "shellfish"]},
  "accessibility": {"large_text": False, "screen_reader": False, "captions": True,
                    "notes": "Prefers written summaries after phone calls; quiet rooms for appointments."},
  "loyalty": {"member_since": "2019-04-01", "tier": "gold", "stores": ["london-1", "bath-2", "york-1"],
              "notes": "Collects limited prints; notify about exhibitions in the north of England."}
}))
PY
c -X PUT "$b/v1/me/profile" -H "Authorization: Bearer $sess" -H "If-Match: $etag" \
    -H 'Content-Type: application/json' --data-binary @"$work/profile.json" >/dev/null
grant=$(c -X POST "$b/v1/me/grants" -H "Authorization: Bearer $sess" \
    -H 'Content-Type: application/json' -d '{"company":"bench","purpose":"service",
    "expires_at":'"$(( $(date +%s) + 31536000 ))"',"scopes":["read:identity","read:contact","read:communication",
    "read:language","read:interests","read:sizes","read:diet","read:accessibility","read:loyalty"]}' |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
at=$(c -u "bench:$secret" -X POST "$b/oauth/token" \
    -d "grant_type=urn:ccx:params:oauth:grant-type:grant&grant_id=$grant" |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

nport=$(free_port)
mkdir -p "$work/www"
printf '{"status":"ok"}' >"$work/www/healthz"
c "$b/v1/profile" -H "Authorization: Bearer $at" >"$work/www/profile"
NGINX_CA=$work/data/certs/ca.pem nginx_start "$work" "$nport" \
    "$work/data/certs/server.pem" "$work/data/certs/server.key" healthz

run() {
	url=$1; shift
	# Only 200s count: a misconfigured baseline must not look fast.
	st=$(curl -sk -o /dev/null -w '%{http_code}' "$@" "$url" 2>/dev/null || true)
	[ "$st" = 200 ] || { echo "baseline check: $url answered $st" >&2; exit 1; }
	wrk -t2 -c"$conns" -d"$dur" --latency "$@" "$url" | tee -a "$work/wrk.out" |
	    awk '/Requests\/sec/ {rps=$2} /50%/ {p50=$2} /99%/ {p99=$2}
		END {printf "%s req/s  p50 %s  p99 %s\n", rps, p50, p99}'
}
printf 'bytes: healthz %s, profile %s\n' "$(wc -c <"$work/www/healthz")" "$(wc -c <"$work/www/profile")"
n1=$(run "https://127.0.0.1:$nport/healthz"); echo "nginx  static healthz:  $n1"
b1=$(run "https://127.0.0.1:$bport/healthz"); echo "broker GET /healthz:    $b1"
n2=$(run "https://127.0.0.1:$nport/profile"); echo "nginx  static profile:  $n2"
b2=$(run "https://127.0.0.1:$bport/v1/profile" -H "Authorization: Bearer $at")
echo "broker GET /v1/profile: $b2 (warm token)"
echo "$n1 $b1" | awk '{printf "ratio healthz/nginx: %.2f\n", $7/$1}'
echo "$n2 $b2" | awk '{printf "ratio profile/nginx: %.2f\n", $7/$1}'
