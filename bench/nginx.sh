# nginx.sh - the static baseline of the benchmarks, sourced by run.sh and
# tls-baseline.sh: nginx serving the files of WORK/www as JSON over TLS
# with the broker's certificate and protocol versions.
#
# nginx_start WORK PORT CERT KEY FILE: writes WORK/nginx.conf, starts
# nginx in the background (its pid in $npid) and waits until
# https://localhost:PORT/FILE answers, checked against WORK's CA file
# given as NGINX_CA; exits on failure.

nginx_start() {
	nw=$1; nport_=$2; ncert=$3; nkey=$4; nfile=$5
	# nginx's workers may run as another user (www-data when started as
	# root): a 0700 temporary directory would make every answer a 403.
	chmod 711 "$nw"
	chmod 755 "$nw/www"
	chmod 644 "$nw"/www/*
	cat >"$nw/nginx.conf" <<CONF
worker_processes auto;
pid $nw/nginx.pid;
error_log $nw/nginx.err;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  default_type application/json;
  server {
    listen 127.0.0.1:$nport_ ssl;
    ssl_certificate $ncert;
    ssl_certificate_key $nkey;
    ssl_protocols TLSv1.2 TLSv1.3;
    root $nw/www;
  }
}
CONF
	"${NGINX:-nginx}" -c "$nw/nginx.conf" -g 'daemon off;' 2>>"$nw/nginx.err" &
	npid=$!
	ni=0
	until curl -sSf -o /dev/null --cacert "$NGINX_CA" \
	    --resolve "localhost:$nport_:127.0.0.1" \
	    "https://localhost:$nport_/$nfile" 2>/dev/null; do
		ni=$((ni + 1))
		if [ $ni -gt 50 ]; then
			echo "bench: nginx did not start:" >&2
			cat "$nw/nginx.err" >&2
			exit 1
		fi
		sleep 0.1
	done
}
