#!/bin/sh
# Compares the broker's GET /healthz with nginx serving the same bytes as a
# static file over TLS, with the same certificate and protocol versions, in
# the same run.  Needs wrk and nginx (Debian packages wrk, nginx-light).
#
# Usage: bench/tls-baseline.sh [DURATION] [CONNECTIONS]
set -eu
cd "$(dirname "$0")/.."
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
bin/ccx-broker --data "$work/data" --listen "127.0.0.1:$bport" \
    --access-log /dev/null 2>"$work/broker.err" &
bpid=$!

nport=$(free_port)
mkdir -p "$work/www"
printf '{"status":"ok"}' >"$work/www/healthz"
cat >"$work/nginx.conf" <<CONF
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx.err;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$nport ssl;
    ssl_certificate $work/data/certs/server.pem;
    ssl_certificate_key $work/data/certs/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    root $work/www;
    location = /healthz { default_type application/json; }
  }
}
CONF
nginx -c "$work/nginx.conf" -g 'daemon off;' &
npid=$!
sleep 1

run() {
	wrk -t2 -c"$conns" -d"$dur" --latency "$1" | tee -a "$work/wrk.out" |
	    awk '/Requests\/sec/ {rps=$2} /50%/ {p50=$2} /99%/ {p99=$2}
		END {printf "%s req/s  p50 %s  p99 %s\n", rps, p50, p99}'
}
printf 'nginx  static: '; n=$(run "https://127.0.0.1:$nport/healthz"); echo "$n"
printf 'broker healthz: '; b=$(run "https://127.0.0.1:$bport/healthz"); echo "$b"
echo "$n $b" | awk '{printf "ratio broker/nginx: %.2f\n", $7/$1}'
