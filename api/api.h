/*
 * api.h - the HTTPS edge: the daemon's listener, the route table, request
 * bodies, errors as problem+json, the access log and metrics.
 *
 * This is the only module that includes microhttpd.h and GnuTLS headers.
 * It turns HTTP into calls on broker/ and broker results into HTTP; it
 * holds no durable state of its own.
 *
 * Conventions: fallible functions return 0 or a negative API_E_* code
 * (range -400..-499).
 */
#ifndef CCX_API_H
#define CCX_API_H

#include <stddef.h>

#include "broker/broker.h"

enum {
	API_OK = 0,
	API_E_BADREQ = -400,	   /* malformed request */
	API_E_SMUGGLE = -401,	   /* ambiguous message framing */
	API_E_NOTFOUND = -402,	   /* no such route or resource */
	API_E_METHOD = -403,	   /* route exists, method does not */
	API_E_UNAUTH = -404,	   /* missing or bad credentials */
	API_E_FORBIDDEN = -405,	   /* authenticated, not allowed */
	API_E_LENGTH = -406,	   /* body without a length */
	API_E_TOOBIG = -407,	   /* body over the cap */
	API_E_MEDIA = -408,	   /* unsupported Content-Type */
	API_E_JSON = -409,	   /* body is not acceptable JSON */
	API_E_PRECOND_REQ = -410,  /* If-Match required */
	API_E_PRECOND_FAIL = -411, /* If-Match stale */
	API_E_CONFLICT = -412,	   /* state conflict */
	API_E_THROTTLED = -413,	   /* slowed down: retry later */
	API_E_NOMEM = -414,	   /* allocation failed */
	API_E_INTERNAL = -415,	   /* a bug or an unexpected failure */
	API_E_UNAVAILABLE = -416,  /* shutting down or overloaded */
	API_E_CONFIG = -417,	   /* bad daemon configuration */
	API_E_TLS = -418,	   /* certificate or key unusable */
	API_E_INVALID_CLIENT = -419, /* client authentication failed */
	API_E_INVALID_GRANT = -420,  /* grant, code or refresh token unusable */
	API_E_UNSUPPORTED_GRANT = -421, /* unknown grant_type */
	API_E_INVALID_SCOPE = -422,  /* scope malformed or beyond the grant */
	API_E_INVALID_TOKEN = -423,  /* bearer token unusable */
	API_E_UNAUTHORIZED_CLIENT = -424, /* client may not use this grant */
	API_E_WRONG_PASSWORD = -425, /* the current password is wrong */
};

/* Returns a static English description of an API_E_* code. */
const char *api_strerror(int err);

/* Everything an operator or a test may tune; see README for the flags. */
struct api_config {
	const char *data_dir;
	const char *listen;	     /* HOST:PORT or [V6]:PORT; port 0 picks one */
	const char *mtls_listen;     /* mutual-TLS listener, or NULL */
	const char *issuer;	     /* NULL: stored one, else https://localhost:PORT */
	const char *tls_priorities;  /* GnuTLS priority string */
	const char *access_log;	     /* file path, or "-" for stdout */
	unsigned threads;	     /* worker threads; 0: one per core */
	int worker_affinity;	     /* pin each worker to a core of its own */
	unsigned max_conns;	     /* connections in total */
	unsigned max_conns_per_ip;   /* connections from one address */
	size_t conn_memory;	     /* bytes per connection (headers, buffers) */
	unsigned conn_timeout;	     /* seconds of inactivity before closing */
	size_t max_body;	     /* bytes of one request body */
	unsigned shutdown_timeout;   /* seconds to let requests finish */
	unsigned log_flush_ms;	     /* access-log flush interval */
	unsigned session_idle;	     /* seconds a session may sit unused */
	unsigned session_lifetime;   /* seconds from log-in to forced expiry */
	unsigned throttle_window;    /* seconds over which failures count */
	unsigned login_max_failures; /* per login within the window */
	unsigned ip_max_failures;    /* per address within the window */
	unsigned signup_max;	     /* sign-ups per address within the window */
	unsigned grant_create_max;   /* grants a customer makes within it */
	unsigned session_create_max; /* log-ins to one account within it */
	unsigned grant_max;	     /* live grants per customer (and ended kept) */
	unsigned grant_token_max;    /* tokens issued per grant within the window */
	unsigned refresh_families_max; /* live refresh-token families per grant */
	unsigned refresh_reuse_window; /* seconds a spent refresh token is kept */
	unsigned token_lifetime;     /* seconds an access token lives */
	unsigned code_lifetime;	     /* seconds an authorization code lives */
	unsigned jwks_max_age;	     /* Cache-Control max-age of the JWKS */
	unsigned token_cache;	     /* verified tokens remembered */
	unsigned projection_cache;   /* computed fetch answers remembered */
	size_t projection_cache_bytes; /* and the bytes they may hold */
	unsigned audit_flush_ms;     /* read records reach the disk within */
	unsigned audit_fold_ms;      /* and the customer's trail within */
	unsigned audit_wait_ms;      /* a fetch waits for its record's room */
	unsigned audit_queue;        /* reads queued per server thread */
	unsigned audit_retention;    /* days audit records are kept */
	struct broker_store_opts store;
	struct broker_kdf_opts kdf;
};

/* Fills cfg with the defaults documented in README.md. */
void api_config_defaults(struct api_config *cfg);

struct api_server; /* opaque: a running daemon */

/*
 * Opens the store, loads the certificate, key and admin token from the
 * data directory and starts serving.  Caller stops with api_server_stop().
 * On failure a reason is written to errbuf.
 */
int api_server_start(const struct api_config *cfg, struct api_server **out,
    char *errbuf, size_t errcap);

/*
 * Reloads what can change under a running daemon (SIGHUP): the server
 * certificate.  On failure the old one is kept and errbuf says why.
 */
int api_server_reload(struct api_server *srv, char *errbuf, size_t errcap);

/* The issuer URL the server answers as; borrowed until stop. */
const char *api_server_issuer(const struct api_server *srv);

/* The bound port (useful when the config asked for port 0). */
unsigned api_server_port(const struct api_server *srv);

/* The mutual-TLS listener's port, 0 when there is none. */
unsigned api_server_mtls_port(const struct api_server *srv);

/*
 * Graceful stop: stops accepting, lets in-flight requests finish (up to
 * shutdown_timeout), commits every acknowledged write, flushes the access
 * log and frees everything.  NULL ok.
 */
void api_server_stop(struct api_server *srv);

#endif /* CCX_API_H */
