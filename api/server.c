/*
 * server.c - the libmicrohttpd daemons: TLS, limits, the request
 * life cycle and graceful shutdown.
 *
 * A request goes: first callback (state allocated, route, framing, auth
 * and length checked, nothing queued: queueing here would make MHD close
 * the connection), body callbacks (into a capped buffer), final callback
 * (body parsed, handler run, response queued), possibly a suspension while
 * the committer makes a write durable, then the completion callback, which
 * logs, counts and frees.  It never blocks a worker thread on the disk.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/api_int.h"
#include "certs/certs.h"

/*
 * TLS 1.2 and 1.3 only, AEAD ciphers only, forward-secret key exchange
 * only: GnuTLS's "NORMAL" would also offer TLS 1.0/1.1 and CBC.
 */
#define DEFAULT_TLS_PRIORITIES                                                \
	"NONE:+VERS-TLS1.3:+VERS-TLS1.2:+AES-128-GCM:+AES-256-GCM:"          \
	"+CHACHA20-POLY1305:+AEAD:+ECDHE-ECDSA:+ECDHE-RSA:+SIGN-ALL:"        \
	"+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+COMP-NULL:"        \
	"+CTYPE-X509:%SERVER_PRECEDENCE"

#define ADMIN_TOKEN_MAX 256
#define CONN_SLACK 64 /* MHD's own limit sits above ours, see on_accept */
#define DISCARD_FACTOR 16 /* body bytes read past the cap before hanging up */

void
api_config_defaults(struct api_config *c)
{
	memset(c, 0, sizeof(*c));
	c->data_dir = "var";
	c->listen = "127.0.0.1:8443";
	c->tls_priorities = DEFAULT_TLS_PRIORITIES;
	c->access_log = "-";
	c->threads = 0;
	c->worker_affinity = 1;
	c->max_conns = 1024;
	c->max_conns_per_ip = 256;
	c->conn_memory = (size_t)32 * 1024;
	c->conn_timeout = 30;
	c->max_body = (size_t)64 * 1024;
	c->shutdown_timeout = 10;
	c->log_flush_ms = 50;
	c->session_idle = 30 * 60;
	c->session_lifetime = 12 * 60 * 60;
	c->throttle_window = 15 * 60;
	c->login_max_failures = 5;
	c->ip_max_failures = 50;
	c->signup_max = 20;
	c->grant_create_max = 50;
	c->session_create_max = 30;
	c->grant_max = 100;
	c->grant_token_max = 120;
	c->refresh_families_max = 16;
	c->refresh_reuse_window = 30 * 86400;
	c->token_lifetime = 3600;
	c->code_lifetime = 60;
	c->jwks_max_age = 300;
	c->token_cache = 12288;
	c->projection_cache = 11264;
	c->projection_cache_bytes = (size_t)32 << 20;
	c->audit_flush_ms = 200;
	c->audit_fold_ms = 5000;
	c->audit_wait_ms = 2000;
	c->audit_queue = 8192;
	c->audit_retention = 400;
	c->store.map_size = (size_t)1 << 30;
	c->kdf.threads = 2;
}

static void
errmsg(char *buf, size_t cap, const char *what, const char *why)
{
	if (cap > 0 && snprintf(buf, cap, "%s: %s", what, why) < 0)
		buf[0] = '\0';
}

/* ---- request framing and authentication ------------------------------- */

struct framing {
	int n_cl, n_te, te_chunked, bad_name;
	const char *ctype;
	const char *authz;
};

static enum MHD_Result
scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct framing *f = cls;

	(void)kind;
	/*
	 * "Transfer-Encoding :" is not Transfer-Encoding to MHD but may be
	 * to a proxy in front: RFC 9112 5.1 says reject with 400.
	 */
	if (strpbrk(key, " \t") != NULL)
		f->bad_name = 1;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		f->n_cl++;
	else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		f->n_te++;
		f->te_chunked = value != NULL && strcasecmp(value, "chunked") == 0;
	} else if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_TYPE) == 0)
		f->ctype = value;
	else if (strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION) == 0)
		f->authz = value;
	return MHD_YES;
}

/* Content-Length: 0 (a body-less request may carry it). */
static int
is_zero(const char *s)
{
	if (s == NULL || *s == '\0')
		return 0;
	while (*s == '0')
		s++;
	return *s == '\0';
}

/* Is ct the media type want, parameters (charset=...) ignored? */
static int
is_media_type(const char *ct, const char *want)
{
	size_t n = strcspn(ct, ";");

	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	return n == strlen(want) && strncasecmp(ct, want, n) == 0;
}

static int
check_admin(const struct api_server *srv, const char *authz)
{
	size_t len;

	if (authz == NULL || strncasecmp(authz, "Bearer ", 7) != 0)
		return API_E_UNAUTH;
	authz += 7;
	len = strlen(authz);
	/* The token's length is public (fixed); its bytes are compared in
	 * constant time. */
	if (len != srv->admin_token_len ||
	    !certs_ct_equal(authz, srv->admin_token, len))
		return API_E_UNAUTH;
	return 0;
}

/*
 * Everything decidable from the request line and headers: returns the
 * error to answer with, or 0.  Ambiguous framing is request smuggling's
 * raw material (a proxy and the broker could disagree on where the body
 * ends), so it is refused outright.
 */
static int
first_checks(struct api_request *r, int route_rc)
{
	struct framing f = { 0 };
	const char *cl;
	unsigned long long n;
	char *end;
	int rc;

	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, scan_header, &f);
	r->has_body = f.n_te > 0 ||
	    (f.n_cl > 0 && !is_zero(MHD_lookup_connection_value(r->conn,
		MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH)));
	if (f.n_cl > 1 || f.n_te > 1 || (f.n_cl && f.n_te) ||
	    (f.n_te && !f.te_chunked))
		return api_fail(r, API_E_SMUGGLE,
		    "conflicting Content-Length/Transfer-Encoding headers");
	if (f.bad_name)
		return api_fail(r, API_E_SMUGGLE,
		    "whitespace in a header field name");
	if (route_rc != 0 || r->route == NULL)
		return route_rc != 0 ? route_rc : API_E_NOTFOUND;
	if (r->route->auth == API_AUTH_ADMIN &&
	    check_admin(r->srv, f.authz) != 0)
		return api_fail(r, API_E_UNAUTH, "admin token required");
	if (r->route->auth == API_AUTH_SESSION &&
	    (rc = api_session_auth(r, f.authz)) != 0)
		return rc;
	/*
	 * On the mutual-TLS listener a company may authenticate with its
	 * certificate and the client_id of the form (RFC 8705 2.1): that
	 * waits until the body is read.
	 */
	if (r->route->auth == API_AUTH_CLIENT && r->mtls && f.authz == NULL &&
	    r->route->body == API_BODY_FORM)
		r->tls_client_auth = 1;
	else if (r->route->auth == API_AUTH_CLIENT &&
	    (rc = api_client_auth(r, f.authz)) != 0)
		return rc;
	if (r->route->auth == API_AUTH_BEARER)
		r->bearer_presented = f.authz != NULL &&
		    strncasecmp(f.authz, "Bearer ", 7) == 0;
	cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	n = 0;
	if (cl != NULL) {
		errno = 0;
		n = strtoull(cl, &end, 10);
		if (errno != 0 || end == cl || *end != '\0')
			return api_fail(r, API_E_BADREQ, "bad Content-Length");
	}
	if (r->route->body == API_BODY_NONE) {
		if (n > 0 || f.n_te)
			return api_fail(r, API_E_BADREQ,
			    "this endpoint takes no request body");
		return 0;
	}
	if (cl == NULL && !f.n_te)
		return api_fail(r, API_E_LENGTH,
		    "a request body needs Content-Length or chunked encoding");
	if (n > r->srv->cfg.max_body)
		return api_fail(r, API_E_TOOBIG, "body larger than %zu bytes",
		    r->srv->cfg.max_body);
	if (r->route->body == API_BODY_FORM) {
		if (f.ctype == NULL || !is_media_type(f.ctype,
					   "application/x-www-form-urlencoded"))
			return api_fail(r, API_E_MEDIA, "expected "
			    "application/x-www-form-urlencoded");
	} else if (r->route->body == API_BODY_MERGE_PATCH) {
		if (f.ctype == NULL || !is_media_type(f.ctype,
					   "application/merge-patch+json"))
			return api_fail(r, API_E_MEDIA,
			    "expected application/merge-patch+json");
	} else if (f.ctype == NULL || !is_media_type(f.ctype,
					  "application/json"))
		return api_fail(r, API_E_MEDIA, "expected application/json");
	return 0;
}

static void
client_ip(struct MHD_Connection *conn, char *out, size_t cap)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;

	snprintf(out, cap, "-");
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || (sa = ci->client_addr) == NULL)
		return;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET,
		    &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
		    out, (socklen_t)cap);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6,
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		    out, (socklen_t)cap);
}

/* ---- the request life cycle ------------------------------------------- */

static struct api_request *
request_new(struct api_server *srv, struct MHD_Connection *conn,
    const char *method, const char *url, int mtls)
{
	struct api_request *r = calloc(1, sizeof(*r));
	int rc;

	if (r == NULL)
		return NULL;
	r->srv = srv;
	r->mtls = mtls;
	r->conn = conn;
	r->method = method;
	r->path = url;
	r->t0_usec = api_now_usec();
	client_ip(conn, r->ip, sizeof(r->ip));
	api_body_init(&r->body, srv->cfg.max_body);
	rc = api_route_match(method, url, &r->route, r->params, &r->n_params,
	    r->allow, sizeof(r->allow));
	r->route_idx = r->route ? (size_t)(r->route - api_routes)
				: api_n_routes;
	/*
	 * Counted in, then the stop flag read (both sequentially
	 * consistent, as in api_server_stop): either the stop waits for
	 * this request, or the request sees the stop and touches nothing.
	 */
	atomic_fetch_add(&srv->inflight, 1);
	r->counted = 1;
	if (atomic_load(&srv->stopping)) {
		atomic_fetch_sub(&srv->inflight, 1);
		r->counted = 0;
		r->early = api_fail(r, API_E_UNAVAILABLE,
		    "the broker is shutting down");
	} else {
		r->early = first_checks(r, rc);
	}
	return r;
}

static enum MHD_Result
queue(struct api_request *r)
{
	enum MHD_Result ok;

	r->queued = 1;
	if (r->resp == NULL) {
		/* Could not even build a problem: let MHD answer 500. */
		return MHD_NO;
	}
	api_tlsio_hold(r->conn, r->method, r->status, r->resp_bytes);
	ok = MHD_queue_response(r->conn, r->status, r->resp);
	api_release_response(r); /* MHD holds its own reference */
	return ok;
}

static enum MHD_Result
answer_error(struct api_request *r, int err)
{
	if (api_respond_problem(r, err) != 0)
		return MHD_NO;
	/*
	 * After ambiguous framing, or a body left unread, the bytes that
	 * follow cannot be trusted to start a request: close.
	 */
	if ((err == API_E_SMUGGLE || (r->has_body && r->early != 0)) &&
	    api_add_header(r, MHD_HTTP_HEADER_CONNECTION, "close") != 0)
		return MHD_NO;
	return queue(r);
}

/* Runs (or resumes) the handler and queues what it produced. */
static enum MHD_Result
run_handler(struct api_request *r)
{
	int rc;

	if (r->route->body == API_BODY_FORM && !r->form_parsed) {
		rc = api_form_parse(r->body.data ? r->body.data : "",
		    r->body.len, &r->form, r->detail, sizeof(r->detail));
		if (rc != 0)
			return answer_error(r, rc);
		r->form_parsed = 1;
		if (r->tls_client_auth &&
		    (rc = api_client_tls_auth(r)) != 0)
			return answer_error(r, rc);
	} else if (r->route->body != API_BODY_NONE &&
	    r->route->body != API_BODY_FORM && r->json == NULL) {
		static const struct policy_json_limits lim =
		    POLICY_JSON_LIMITS_DEFAULT;

		rc = api_json_parse(r->body.data ? r->body.data : "",
		    r->body.len, &lim, &r->json, r->detail, sizeof(r->detail));
		if (rc != 0)
			return answer_error(r, rc);
	}
	rc = r->route->handler(r);
	if (rc == API_SUSPENDED)
		return MHD_YES;
	if (rc < 0)
		return answer_error(r, rc);
	return queue(r);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **req_cls)
{
	const struct api_endpoint *ep = cls;
	struct api_server *srv = ep->srv;
	struct api_request *r = *req_cls;
	int rc;

	(void)version;
	if (r == NULL) {
		if ((r = request_new(srv, conn, method, url, ep->mtls)) == NULL)
			return MHD_NO;
		*req_cls = r;
		/*
		 * Never queue on the first call (MHD would close the
		 * connection) - except to refuse a request whose body will
		 * not be read: closing is then what must happen, and waiting
		 * would leave an unknown Transfer-Encoding hanging.
		 */
		if (r->early != 0 && r->has_body)
			return answer_error(r, r->early);
		return MHD_YES;
	}
	if (r->queued) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (r->early != 0) {
			/*
			 * MHD 0.9.75 drops a response queued in the middle of
			 * a chunked upload: discard the rest and answer at its
			 * end, but only up to a bound, then hang up.
			 */
			r->discarded += *upload_data_size;
			*upload_data_size = 0;
			return r->discarded > DISCARD_FACTOR * srv->cfg.max_body
				   ? MHD_NO
				   : MHD_YES;
		}
		rc = api_body_append(&r->body, upload_data, *upload_data_size);
		*upload_data_size = 0;
		if (rc != 0) {
			r->early = api_fail(r, rc, "body larger than %zu bytes",
			    srv->cfg.max_body);
			api_body_free(&r->body);
		}
		return MHD_YES;
	}
	if (r->early != 0)
		return answer_error(r, r->early);
	if (r->suspended) {
		/* Resumed by the committer: the write's result is in. */
		r->suspended = 0;
		if (r->write_rc < 0) {
			r->detail[0] = '\0';
			if (r->write_rc == BROKER_E_NOTFOUND &&
			    r->write_notfound != NULL)
				api_fail(r, API_E_NOTFOUND, "%s",
				    r->write_notfound);
			else if (r->write_rc == BROKER_E_LIMIT &&
			    r->write_limit != NULL)
				api_fail(r, BROKER_E_LIMIT, "%s",
				    r->write_limit);
			return answer_error(r, r->write_rc);
		}
	}
	return run_handler(r);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct api_request *r = *req_cls;
	uint64_t usec;
	unsigned status;

	(void)cls;
	if (r == NULL)
		return;
	*req_cls = NULL;
	usec = api_now_usec() - r->t0_usec;
	/* 499 as nginx logs it: the client went away before an answer. */
	status = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? r->status : 499;
	(void)conn;
	api_accesslog_line(r->ip, r->method, r->path, status, r->resp_bytes, usec);
	api_metrics_request(r->route_idx, status, usec, r->resp_bytes);
	api_release_response(r);
	if (r->state_free != NULL)
		r->state_free(r->state);
	json_decref(r->json);
	free(r->problem_redirect);
	api_form_free(&r->form);
	api_body_free(&r->body);
	if (r->counted)
		atomic_fetch_sub(&r->srv->inflight, 1);
	free(r);
}

/*
 * The total limit is enforced here rather than by MHD's own, which leaves
 * connections over it waiting unanswered in the listen backlog.  Once the
 * broker stops, a connection accepted before its listener closed is
 * turned away too.
 */
static enum MHD_Result
on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	struct api_server *srv = cls;

	(void)addr;
	(void)addrlen;
	if (atomic_load(&srv->stopping))
		return MHD_NO;
	return api_metrics_open_connections() < srv->cfg.max_conns ? MHD_YES
								   : MHD_NO;
}

static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
    enum MHD_ConnectionNotificationCode toe)
{
	struct api_server *srv = cls;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		/* Runs on the worker that will serve the connection. */
		api_affinity_pin(&srv->affinity);
		api_tlsio_attach(conn, socket_ctx);
	} else
		api_tlsio_detach(socket_ctx);
	api_metrics_connection(toe == MHD_CONNECTION_NOTIFY_STARTED);
}

/* ---- start and stop --------------------------------------------------- */

/* Hourly housekeeping, on the audit flusher's thread. */
static void
maintain(void *arg, void (*drain)(void *), void *drain_arg)
{
	struct api_server *srv = arg;
	struct broker_sweep sw = { api_wall_now(), drain, drain_arg };
	size_t n;

	(void)broker_sessions_sweep(srv->store, &sw, srv->cfg.session_idle,
	    &n);
	sw.now = api_wall_now();
	(void)broker_tokens_sweep(srv->store, &sw,
	    srv->cfg.refresh_reuse_window, &n);
}

/*
 * Starts one libmicrohttpd daemon on an endpoint, handing it the listening
 * socket *fd, which is the daemon's from then on whatever the outcome: it
 * closes it at its stop, and on most failed starts.  A failed start ends
 * the process, so the other failures leak one descriptor rather than risk
 * closing it twice.
 *
 * The mutual-TLS daemon is given the CA as trust anchor, which makes
 * GnuTLS ask for a client certificate; libmicrohttpd never checks it, so
 * client.c does.  MHD splits its connection limit between its workers, and
 * a worker at its share takes the listening socket out of its epoll set,
 * which must not happen once api_listener_close() has closed it: so each
 * worker's share is the whole limit on_accept() enforces, plus slack
 * (and api_listener_fd_budget() provides the descriptors for it).
 */
static struct MHD_Daemon *
start_daemon(struct api_server *srv, struct api_endpoint *ep, int *fd,
    unsigned threads)
{
	const struct api_config *cfg = &srv->cfg;
	struct MHD_OptionItem trust[] = {
		{ MHD_OPTION_HTTPS_MEM_TRUST, 0, srv->ca_pem },
		{ MHD_OPTION_END, 0, NULL },
	};
	int sock = *fd;

	*fd = -1;
	return MHD_start_daemon(MHD_USE_TLS | MHD_USE_EPOLL_INTERNAL_THREAD |
		MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC,
	    0, on_accept, srv, on_request, ep,
	    MHD_OPTION_LISTEN_SOCKET, sock,
	    MHD_OPTION_THREAD_POOL_SIZE, threads,
	    MHD_OPTION_HTTPS_CERT_CALLBACK, &api_tls_retrieve,
	    MHD_OPTION_HTTPS_PRIORITIES, cfg->tls_priorities,
	    MHD_OPTION_ARRAY, ep->mtls ? trust : trust + 1,
	    MHD_OPTION_CONNECTION_LIMIT,
	    threads * (cfg->max_conns + CONN_SLACK),
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_conns_per_ip,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, cfg->conn_memory,
	    MHD_OPTION_CONNECTION_TIMEOUT, cfg->conn_timeout,
	    MHD_OPTION_STRICT_FOR_CLIENT, 1,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
	    MHD_OPTION_END);
}

/* Loads certificate, key and admin token; refuses unsafe permissions. */
static int
load_secrets(struct api_server *srv, char *errbuf, size_t errcap)
{
	char path[BROKER_PATH_MAX];
	int rc;

	if ((rc = api_tls_load(srv, errbuf, errcap)) != 0)
		return rc;
	if (broker_path(path, srv->cfg.data_dir, "admin.token") != 0 ||
	    (rc = certs_file_read_private(path, &srv->admin_token,
		 &srv->admin_token_len)) != 0) {
		errmsg(errbuf, errcap, path, certs_strerror(rc));
		return API_E_CONFIG;
	}
	while (srv->admin_token_len > 0 &&
	    (srv->admin_token[srv->admin_token_len - 1] == '\n' ||
		srv->admin_token[srv->admin_token_len - 1] == '\r'))
		srv->admin_token[--srv->admin_token_len] = '\0';
	if (srv->admin_token_len < 16 || srv->admin_token_len > ADMIN_TOKEN_MAX) {
		errmsg(errbuf, errcap, path, "admin token has a bad length");
		return API_E_CONFIG;
	}
	return 0;
}

static int
set_issuer(struct api_server *srv, char *errbuf, size_t errcap)
{
	int n;

	if (srv->cfg.issuer != NULL)
		n = snprintf(srv->issuer, sizeof(srv->issuer), "%s",
		    srv->cfg.issuer);
	else if (broker_meta_issuer(srv->store, srv->issuer,
		     sizeof(srv->issuer)) == 0)
		n = (int)strlen(srv->issuer);
	else
		n = snprintf(srv->issuer, sizeof(srv->issuer),
		    "https://localhost:%u", srv->port);
	if (n < 0 || (size_t)n >= sizeof(srv->issuer) ||
	    strncmp(srv->issuer, "https://", 8) != 0) {
		errmsg(errbuf, errcap, "issuer", "must be an https URL");
		return API_E_CONFIG;
	}
	/* Every URL derives from the issuer: no trailing slash. */
	while (n > 8 && srv->issuer[n - 1] == '/')
		srv->issuer[--n] = '\0';
	return 0;
}

static void
server_free(struct api_server *srv)
{
	if (srv->mtls != NULL)
		MHD_stop_daemon(srv->mtls);
	if (srv->mhd != NULL)
		MHD_stop_daemon(srv->mhd);
	broker_kdf_close(srv->kdf);
	broker_audit_close(srv->audit);
	broker_store_close(srv->store);
	api_throttle_free(srv->throttle);
	api_throttle_free(srv->quota);
	api_cache_free(srv->tokens);
	api_cache_free(srv->projections);
	api_keyring_free(atomic_load(&srv->keys));
	pthread_mutex_destroy(&srv->keys_lock);
	certs_wipe(srv->pairwise, sizeof(srv->pairwise));
	api_accesslog_close();
	api_metrics_shutdown();
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	if (srv->mtls_fd >= 0)
		close(srv->mtls_fd);
	if (srv->inert_fd >= 0)
		close(srv->inert_fd);
	free(srv->ca_pem);
	api_tls_free();
	certs_free_secret(srv->admin_token, srv->admin_token_len);
	free(srv);
}

int
api_server_start(const struct api_config *cfg, struct api_server **out,
    char *errbuf, size_t errcap)
{
	struct api_server *srv;
	unsigned threads, workers;
	long ncpu;
	int rc;

	*out = NULL;
	if (errcap > 0)
		errbuf[0] = '\0';
	if ((srv = calloc(1, sizeof(*srv))) == NULL)
		return API_E_NOMEM;
	srv->cfg = *cfg;
	srv->listen_fd = -1;
	srv->mtls_fd = -1;
	srv->inert_fd = -1;
	pthread_mutex_init(&srv->keys_lock, NULL);
	if ((rc = load_secrets(srv, errbuf, errcap)) != 0)
		goto fail;
	if ((rc = broker_store_open(cfg->data_dir, &cfg->store,
		 &srv->store)) != 0) {
		errmsg(errbuf, errcap, "store", broker_strerror(rc));
		rc = API_E_CONFIG;
		goto fail;
	}
	if ((rc = broker_kdf_open(&cfg->kdf, &srv->kdf)) != 0) {
		errmsg(errbuf, errcap, "password hashing", broker_strerror(rc));
		rc = API_E_CONFIG;
		goto fail;
	}
	if ((rc = api_throttle_new(65536, cfg->throttle_window,
		 &srv->throttle)) != 0 ||
	    (rc = api_throttle_new(65536, cfg->throttle_window,
		 &srv->quota)) != 0) {
		errmsg(errbuf, errcap, "throttle", api_strerror(rc));
		goto fail;
	}
	{
		struct broker_audit_opts ao = {
			.flush_ms = cfg->audit_flush_ms,
			.fold_ms = cfg->audit_fold_ms,
			.wait_ms = cfg->audit_wait_ms,
			.queue = cfg->audit_queue,
			.retention_days = cfg->audit_retention,
			.maintain = maintain,
			.maintain_arg = srv,
		};

		if ((rc = broker_audit_open(srv->store, &ao, &srv->audit)) != 0) {
			errmsg(errbuf, errcap, "audit", broker_strerror(rc));
			rc = API_E_CONFIG;
			goto fail;
		}
	}
	{
		struct api_keyring *ring = NULL;

		if ((rc = api_keyring_load(srv, &ring, errbuf, errcap)) != 0)
			goto fail;
		atomic_store(&srv->keys, ring);
		/* For ccx-admin: when a rotated key may sign, a retired stop. */
		(void)broker_meta_lifetimes_set(srv->store, cfg->jwks_max_age,
		    cfg->token_lifetime);
	}
	if (
	    (rc = api_pairwise_load(srv, errbuf, errcap)) != 0 ||
	    (rc = api_cache_new(cfg->token_cache, 0, &srv->tokens)) != 0 ||
	    (rc = api_cache_new(cfg->projection_cache,
		 cfg->projection_cache_bytes, &srv->projections)) != 0)
		goto fail;
	if ((rc = api_listener_bind(cfg->listen, &srv->listen_fd, &srv->port,
		 errbuf, errcap)) != 0 ||
	    (rc = set_issuer(srv, errbuf, errcap)) != 0)
		goto fail;
	if (cfg->mtls_listen != NULL) {
		char ca[BROKER_PATH_MAX];

		if (broker_path(ca, cfg->data_dir, "certs/ca.pem") != 0 ||
		    certs_file_read(ca, &srv->ca_pem, &srv->ca_len) != 0) {
			errmsg(errbuf, errcap, ca, "cannot read the CA");
			rc = API_E_CONFIG;
			goto fail;
		}
		if ((rc = api_listener_bind(cfg->mtls_listen, &srv->mtls_fd,
			 &srv->mtls_port, errbuf, errcap)) != 0)
			goto fail;
	}
	if ((rc = api_accesslog_open(cfg->access_log, cfg->log_flush_ms)) != 0) {
		errmsg(errbuf, errcap, cfg->access_log, "cannot open access log");
		goto fail;
	}
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	threads = cfg->threads ? cfg->threads : (ncpu > 0 ? (unsigned)ncpu : 1);
	workers = srv->mtls_fd >= 0 ? 2 * threads : threads;
	api_affinity_init(&srv->affinity, workers, cfg->worker_affinity);
	if (api_listener_fd_budget(&srv->cfg.max_conns, workers) != 0 ||
	    (srv->inert_fd = api_listener_inert()) < 0) {
		errmsg(errbuf, errcap, "open files", "too few allowed for the "
		    "server threads (ulimit -n)");
		rc = API_E_CONFIG;
		goto fail;
	}
	srv->ep_main = (struct api_endpoint){ srv, 0 };
	srv->ep_mtls = (struct api_endpoint){ srv, 1 };
	srv->mhd = start_daemon(srv, &srv->ep_main, &srv->listen_fd, threads);
	if (srv->mhd != NULL && cfg->mtls_listen != NULL &&
	    (srv->mtls = start_daemon(srv, &srv->ep_mtls, &srv->mtls_fd,
		 threads)) == NULL) {
		errmsg(errbuf, errcap, "mutual TLS", "libmicrohttpd refused to "
		    "start");
		rc = API_E_CONFIG;
		goto fail;
	}
	if (srv->mhd == NULL) {
		errmsg(errbuf, errcap, "https", "libmicrohttpd refused to start "
		    "(TLS priorities, certificate or limits)");
		rc = API_E_CONFIG;
		goto fail;
	}
	*out = srv;
	return 0;
fail:
	server_free(srv);
	return rc;
}

int
api_server_reload(struct api_server *srv, char *errbuf, size_t errcap)
{
	return api_tls_load(srv, errbuf, errcap);
}

const char *
api_server_issuer(const struct api_server *srv)
{
	return srv->issuer;
}

unsigned
api_server_port(const struct api_server *srv)
{
	return srv->port;
}

unsigned
api_server_mtls_port(const struct api_server *srv)
{
	return srv->mtls != NULL ? srv->mtls_port : 0;
}

/* Waits up to deadline for the requests let in to finish. */
static void
drain_requests(struct api_server *srv, uint64_t deadline)
{
	while (atomic_load(&srv->inflight) > 0 && api_now_usec() < deadline)
		usleep(10000);
}

/*
 * A stream's response outlives its handler: a slow client may still be
 * taking an export at the shutdown timeout.  Its reads count themselves
 * in, then look at the closing flag (both sequentially consistent, as
 * for requests); once the drain is over, the stop waits for those under
 * way before it closes the store, and every later one is refused.
 */
int
api_late_enter(struct api_server *srv)
{
	atomic_fetch_add(&srv->late, 1);
	if (atomic_load(&srv->closing)) {
		atomic_fetch_sub(&srv->late, 1);
		return -1;
	}
	return 0;
}

void
api_late_leave(struct api_server *srv)
{
	atomic_fetch_sub(&srv->late, 1);
}

static void
close_listener(struct api_server *srv, struct MHD_Daemon *d)
{
	const union MHD_DaemonInfo *info;

	if (d != NULL &&
	    (info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_LISTEN_FD)) != NULL)
		api_listener_close(info->listen_fd, srv->inert_fd);
}

void
api_server_stop(struct api_server *srv)
{
	uint64_t deadline;

	if (srv == NULL)
		return;
	deadline = api_now_usec() +
	    (uint64_t)srv->cfg.shutdown_timeout * 1000000u;
	/*
	 * Requests arriving on open connections from now on get 503 before
	 * they touch the store, and new connections are turned away; those
	 * already let in finish first, or the store, the audit trail and the
	 * hash pool would close under them.  The listeners close at once, so
	 * that clients are refused rather than accepted and dropped.
	 */
	atomic_store(&srv->stopping, 1);
	close_listener(srv, srv->mhd);
	close_listener(srv, srv->mtls);
	drain_requests(srv, deadline);
	if (atomic_load(&srv->inflight) > 0)
		fprintf(stderr, "ccx-broker: %ld request(s) still in progress "
		    "at the shutdown timeout\n", atomic_load(&srv->inflight));
	/* A page's read is short; none starts from now on. */
	atomic_store(&srv->closing, 1);
	while (atomic_load(&srv->late) > 0)
		usleep(1000);
	/* Hashes still queued finish and hand their requests back. */
	broker_kdf_close(srv->kdf);
	srv->kdf = NULL;
	/* Read records still queued reach the disk before the store closes. */
	broker_audit_close(srv->audit);
	srv->audit = NULL;
	/*
	 * Closing the store commits every queued write and resumes its
	 * request while the daemon can still answer it; then the last
	 * answers go out before the daemon stops.
	 */
	broker_store_close(srv->store);
	srv->store = NULL;
	drain_requests(srv, deadline);
	server_free(srv);
}
