/*
 * api_int.h - declarations shared by the api/ files only.
 */
#ifndef CCX_API_INT_H
#define CCX_API_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <microhttpd.h>

#include "api/api.h"
#include "certs/certs.h"
#include "policy/policy.h"

/* A handler returns 0 (response set), API_SUSPENDED, or an error code. */
#define API_SUSPENDED 1

#define API_MAX_PARAMS 4
#define API_DETAIL_MAX 256

struct api_request;
typedef int (*api_handler_fn)(struct api_request *r);

enum api_auth {
	API_AUTH_NONE,	/* public */
	API_AUTH_ADMIN, /* Authorization: Bearer <admin.token> */
	API_AUTH_SESSION, /* a customer's session token */
	API_AUTH_CLIENT,  /* a company: client_secret_basic */
	API_AUTH_BEARER,  /* a company's access token (checked by the handler) */
};

/* How errors are written (DESIGN section 3, by endpoint family). */
enum api_errfmt {
	API_ERR_PROBLEM, /* RFC 9457 application/problem+json */
	API_ERR_OAUTH,	 /* RFC 6749 5.2 {"error", "error_description"} */
	API_ERR_BEARER,	 /* problem+json plus RFC 6750 WWW-Authenticate */
};

enum api_body_kind {
	API_BODY_NONE, /* a body is refused */
	API_BODY_JSON, /* application/json, parsed under policy limits */
	API_BODY_MERGE_PATCH, /* application/merge-patch+json (RFC 7396) */
	API_BODY_FORM, /* application/x-www-form-urlencoded (OAuth) */
};

struct api_route {
	const char *method;
	const char *pattern; /* "/v1/me/grants/{id}": {x} is one segment */
	api_handler_fn handler;
	enum api_auth auth;
	enum api_body_kind body;
	enum api_errfmt fmt;
	const char *name; /* metrics label */
};

/* The route table and its size (routes.c). */
extern const struct api_route api_routes[];
extern const size_t api_n_routes;

/*
 * Finds the route for method and path.  0 and *route set; API_E_NOTFOUND
 * when no pattern matches the path; API_E_METHOD when one does but not for
 * this method (allow then lists the methods, comma-separated).  HEAD is
 * served by GET routes.  Captured {params} are stored in params as
 * pointers into path with their lengths.
 */
struct api_param {
	const char *s;
	size_t len;
};
int api_route_match(const char *method, const char *path,
    const struct api_route **route, struct api_param params[API_MAX_PARAMS],
    size_t *n_params, char *allow, size_t allowcap);

/* ---- request bodies (body.c) ------------------------------------------ */

/* A growable buffer with a hard cap fixed at creation. */
struct api_body {
	char *data;
	size_t len;
	size_t cap;   /* allocated */
	size_t limit; /* never grows past this */
};

void api_body_init(struct api_body *b, size_t limit);

/* Appends; API_E_TOOBIG the moment limit would be crossed (nothing added). */
int api_body_append(struct api_body *b, const void *data, size_t len);

/* Releases the buffer, wiping it: bodies carry passwords.  */
void api_body_free(struct api_body *b);

/* ---- JSON (json.c) ---------------------------------------------------- */

/*
 * Parses a request body: depth pre-scan, json_loadb with
 * JSON_REJECT_DUPLICATES, then the limits of lim.  Caller owns *out
 * (json_decref).  API_E_JSON, or the POLICY_E_* code of a crossed limit,
 * with a human-readable reason in detail.
 */
int api_json_parse(const char *buf, size_t len,
    const struct policy_json_limits *lim, json_t **out, char *detail,
    size_t detailcap);

/*
 * Checks that the parsed body is an object whose members are all named in
 * fields (a NULL-terminated list) and that each of them is a string; the
 * first n_required must be present.  API_E_BADREQ with detail otherwise.
 */
int api_json_strings(struct api_request *r, const char *const *fields,
    size_t n_required);

/* A string member of the body (after api_json_strings): borrowed. */
const char *api_json_str(struct api_request *r, const char *name,
    size_t *len);

/* ---- form bodies (form.c) ------------------------------------------- */

#define API_FORM_MAX 16

struct api_form {
	size_t n;
	char *name[API_FORM_MAX];
	char *value[API_FORM_MAX];
	size_t vlen[API_FORM_MAX];
	char *buf; /* owns the decoded text; wiped on release */
	size_t cap;
};

/*
 * The paging parameters of a list's query: limit (1 to max, dflt when
 * absent; API_E_BADREQ with detail otherwise) and cursor (borrowed, NULL
 * when absent; the caller checks its form).
 */
int api_page_args(struct api_request *r, size_t dflt, size_t max,
    size_t *limit, const char **cursor);

/* Parses a urlencoded body; API_E_BADREQ with detail when malformed. */
int api_form_parse(const char *body, size_t len, struct api_form *f,
    char *detail, size_t detailcap);

/* The decoded value of name (borrowed from f), or NULL. */
const char *api_form_get(const struct api_form *f, const char *name,
    size_t *len);

void api_form_free(struct api_form *f);

/*
 * Decodes len bytes of form-urlencoded text into dst ("+" is a space,
 * %XX a byte; dst may be s: it never grows) and NUL-terminates it.
 * Returns the decoded length, or -1 for a bad escape or a NUL byte.
 */
long api_form_decode(char *dst, const char *s, size_t len);

/* ---- keys (keys.c) --------------------------------------------------- */

#define API_MAX_KEYS 16
#define API_SUB_LEN 43 /* base64url of an HMAC-SHA256 */

struct certs_signkey;

/*
 * Immutable once built: every published (not retired) key, with its
 * private half when its file is here, and the JWKS document.  The ring of
 * a newer key generation replaces it; old rings live until shutdown, so a
 * request holding one never sees it freed.
 */
struct api_keyring {
	struct api_keyring *older; /* the rings this one replaced */
	uint64_t gen;		   /* the store's key generation */
	size_t n;
	char kid[API_MAX_KEYS][64];
	int64_t activates[API_MAX_KEYS];
	int64_t seq[API_MAX_KEYS]; /* publication order */
	struct certs_signkey *key[API_MAX_KEYS];  /* public halves */
	struct certs_signkey *priv[API_MAX_KEYS]; /* NULL: cannot sign */
	char *jwks;				  /* the JWKS document */
	size_t jwks_len;
};

/* Builds a ring from the store and the key files.  Caller frees. */
int api_keyring_load(struct api_server *srv, struct api_keyring **out,
    char *errbuf, size_t errcap);

/* Frees a ring and every older one.  NULL ok. */
void api_keyring_free(struct api_keyring *k);

/*
 * The current ring, rebuilt first when the store's key generation (read
 * in t) has moved: a key rotated or retired with ccx-admin takes effect
 * without a restart.  Borrowed until the server stops.
 */
const struct api_keyring *api_keys(struct api_server *srv,
    struct broker_txn *t);

/* The key that signs at now: the latest activated one. NULL: none. */
const struct certs_signkey *api_keyring_signer(const struct api_keyring *k,
    int64_t now);

/* certs_jwt_key_fn over a ring (arg is the ring). */
const struct certs_signkey *api_keyring_find(void *arg, const char *kid);

/* Loads the pairwise-subject secret into srv->pairwise. */
int api_pairwise_load(struct api_server *srv, char *errbuf, size_t errcap);

/* sub = base64url(HMAC-SHA256(pairwise secret, customer || company)). */
int api_pairwise_sub(const struct api_server *srv, const char *customer,
    const char *company, char out[API_SUB_LEN + 1]);

/* ---- bounded caches (cache.c) ------------------------------------------ */

#define API_CACHE_KEY 32

/* The head every cached entry starts with. */
struct api_cached {
	_Atomic int refs;
	size_t cost; /* bytes it holds, for a cache with a byte budget */
	uint8_t key[API_CACHE_KEY];
	void (*destroy)(struct api_cached *e);
	struct api_cached *hnext, *prev, *next; /* the cache's links */
};

/*
 * A cache of at most entries entries and, when max_bytes is not 0, of
 * entries whose costs add up to at most max_bytes.
 */
struct api_cache;
int api_cache_new(size_t entries, size_t max_bytes, struct api_cache **out);
void api_cache_free(struct api_cache *c);

/* The entry stored under key, with a reference for the caller, or NULL. */
struct api_cached *api_cache_get(struct api_cache *c,
    const uint8_t key[API_CACHE_KEY]);

/*
 * Stores e (refs already counting the caller's), evicting the least
 * recently used entries of its shard while that is over either cap - if
 * its key was offered once before recently; a first offer is only
 * remembered.  An entry that alone costs more than a shard's share of the
 * byte budget is not stored.
 */
void api_cache_insert(struct api_cache *c, struct api_cached *e);

/* Drops a reference; the last one destroys the entry.  NULL ok. */
void api_cached_release(struct api_cached *e);

/* What the cache holds now: entries, and the sum of their costs. */
void api_cache_size(struct api_cache *c, size_t *entries, size_t *bytes);

/* ---- verified access tokens (tokcache.c) ----------------------------- */

#define API_CLOCK_LEEWAY 5 /* seconds of clock skew tolerated */

/*
 * What the last full check of a token's access found: its grant, live, as
 * it stood at access generation gen (broker_access_generation).  While
 * the store's generation is still gen, the grant, its company, the
 * token's jti and its certificate are as they were then; only the
 * grant's expiry, a matter of time, must be checked again.  Immutable
 * and shared.
 */
struct api_seen {
	_Atomic int refs;
	uint64_t gen;
	int64_t expires; /* the grant's */
	char customer[BROKER_ID_LEN + 1];
	char scopes[]; /* the grant's */
};

/* What a verified access token says; shared, reference counted. */
struct api_tok {
	struct api_cached base; /* first: the cache's view of it */
	int64_t exp, iat;
	char grant[BROKER_ID_LEN + 1];
	char client[BROKER_CLIENT_ID_MAX + 1];
	char jti[64];
	char sub[64];
	char kid[64];
	char cnf[CERTS_THUMB_LEN + 1]; /* x5t#S256 it is bound to, or "" */
	char *scope_text; /* scopes, normalised text */
	pthread_mutex_t seen_lock; /* guards the pointer, not what it holds */
	struct api_seen *seen;
};

/* The token's last full check if made at gen, else NULL; release the
 * result with api_seen_put. */
struct api_seen *api_tok_seen(struct api_tok *t, uint64_t gen);

/* Records a full check that found grant g live at gen; returns it as
 * api_tok_seen would (NULL without memory). */
struct api_seen *api_tok_saw(struct api_tok *t, uint64_t gen,
    const struct broker_grant *g);
void api_seen_put(struct api_seen *s);

/*
 * The full check of a verified token's access in snapshot t: its grant
 * belongs to its company, the grant and the company are live, its jti
 * is not revoked, and the certificate it is bound to (if any) is still
 * registered.  0 fills *g (broker_grant_clear it either way).
 * BROKER_E_REVOKED, BROKER_E_DISABLED or BROKER_E_NOTFOUND: access is
 * gone, and *why says why; anything else is the store's failure.
 */
int api_tok_access(struct broker_txn *t, const struct api_tok *tk,
    int64_t now, struct broker_grant *g, const char **why);

/*
 * The verified facts of a bearer token, from the cache or by verifying
 * its signature and claims now; expiry is checked either way.  0 and *out
 * (release with api_tok_put), or API_E_INVALID_TOKEN with detail.  The
 * rest of its access (api_tok_access) is the caller's to check.
 */
int api_token_check(struct api_request *r, struct broker_txn *t,
    const char *tok, size_t len, struct api_tok **out);
void api_tok_put(struct api_tok *t);

/* ---- projections of profiles (projcache.c) ------------------------- */

/* A computed answer to a fetch; shared, reference counted, immutable. */
struct api_proj {
	struct api_cached base; /* first: the cache's view of it */
	size_t len; /* of the body: the projected profile, JSON */
	char etag[BROKER_ETAG_LEN + 1];
	/* The paths that had data, for the audit trail. */
	struct broker_audit_fields *fields;
	struct MHD_Response *resp; /* the 200 answer, sent as is */
};


/*
 * The projection of a stored profile (json, with its ETag) on the grant's
 * scopes (text) intersected with the token's, from the cache or computed
 * now.  Release *out with api_proj_put.
 */
int api_projection(struct api_request *r, const char *profile_etag,
    const char *json, size_t len, const char *gscopes,
    const struct api_tok *tok, struct api_proj **out);
void api_proj_put(struct api_proj *p);

/* ---- per-thread statistics (metrics.c) ------------------------------ */

#define API_LAT_BUCKETS 12
enum { API_CLASS_1XX, API_CLASS_2XX, API_CLASS_3XX, API_CLASS_4XX,
	API_CLASS_5XX, API_N_CLASSES };

/* Records one finished request on this thread's counters (no shared lock). */
void api_metrics_request(size_t route_idx, unsigned status, uint64_t usec,
    size_t bytes);
void api_metrics_connection(int opened);

/* Business events, counted per thread like requests. */
enum api_event {
	API_EV_TOKEN_ISSUED,	/* access tokens signed */
	API_EV_FETCH,		/* profiles served to companies (200 or 304) */
	API_EV_GRANT_REVOKED,	/* grants revoked by customers */
	API_EV_TOKEN_REVOKED,	/* tokens revoked by companies */
	API_N_EVENTS
};
void api_metrics_event(enum api_event ev);

/* What a fetch found already done, counted per thread as hit or miss. */
enum api_cache_kind {
	API_CACHE_TOKEN,      /* a verified token (tokcache.c) */
	API_CACHE_PROJECTION, /* a computed answer (projcache.c) */
	API_CACHE_ACCESS,     /* a check of access still current (resource.c) */
	API_N_CACHES
};
void api_metrics_cache(enum api_cache_kind k, int hit);

/* Connections open now, summed over every thread. */
uint64_t api_metrics_open_connections(void);

/* Renders every counter in Prometheus text format.  Caller frees. */
char *api_metrics_render(const struct api_server *srv, size_t *len);

/* Frees every thread's counters; only once no worker runs. */
void api_metrics_shutdown(void);

/* ---- access log (accesslog.c) -------------------------------------- */

/* Starts the writer thread; path "-" is stdout. */
int api_accesslog_open(const char *path, unsigned flush_ms);

/* Queues one line on this thread's ring; never blocks (drops if full). */
void api_accesslog_line(const char *ip, const char *method, const char *path,
    unsigned status, size_t bytes, uint64_t usec);

/* Lines dropped because a ring was full. */
uint64_t api_accesslog_dropped(void);

/* Flushes everything queued and stops the writer. */
void api_accesslog_close(void);

/* ---- the server and its requests (server.c, respond.c) ----------- */

/* A listener: the main one, or the mutual-TLS one (RFC 8705). */
struct api_endpoint {
	struct api_server *srv;
	int mtls;
};

/* ---- listening sockets (listener.c) ---------------------------------- */

/* Binds and listens on HOST:PORT ("[::1]:0" too); reports the port. */
int api_listener_bind(const char *listen_spec, int *out_fd,
    unsigned *out_port, char *errbuf, size_t errcap);

/*
 * Raises the open-files limit for max_conns connections and workers
 * server threads, or lowers *max_conns to fit (with a warning).
 */
int api_listener_fd_budget(unsigned *max_conns, unsigned workers);

/* A descriptor for api_listener_close(): an eventfd, or -1. */
int api_listener_inert(void);

/*
 * Closes a listening socket a running daemon was given, leaving the
 * daemon a harmless descriptor of the same number (inert's) to close at
 * its stop.
 */
void api_listener_close(int fd, int inert);

/* ---- server threads on cores (affinity.c) ---------------------------- */

struct api_affinity {
	int cpus[1024]; /* the cores the process may run on (CPU_SETSIZE) */
	unsigned n;	/* 0: nothing is pinned */
	_Atomic unsigned next;
};

/* Notes the cores; pins nothing when !enabled or threads outnumber them. */
void api_affinity_init(struct api_affinity *a, unsigned threads,
    int enabled);

/* Pins the calling worker to a core of its own, once. */
void api_affinity_pin(struct api_affinity *a);

struct api_server {
	struct api_config cfg;
	struct MHD_Daemon *mhd;
	struct MHD_Daemon *mtls;
	struct api_endpoint ep_main, ep_mtls;
	int mtls_fd; /* until the daemon takes it */
	unsigned mtls_port;
	char *ca_pem; /* trust anchor of client certificates */
	size_t ca_len;
	struct broker_store *store;
	int listen_fd; /* until the daemon takes it */
	int inert_fd;  /* put in the listeners' place at the stop */
	unsigned port;
	char issuer[512];
	char *admin_token;
	size_t admin_token_len;
	struct broker_kdf *kdf;
	struct api_throttle *throttle; /* failures and sign-ups */
	/*
	 * Rates of making records (grants, tokens): apart, so that busy
	 * legitimate traffic never pushes a failure count out of its slot.
	 */
	struct api_throttle *quota;
	struct broker_audit *audit;
	_Atomic(struct api_keyring *) keys;
	pthread_mutex_t keys_lock; /* serialises rebuilds, not readers */
	_Atomic uint64_t keys_bad_gen; /* a generation that failed to load */
	struct api_cache *tokens;      /* verified access tokens */
	struct api_cache *projections; /* computed fetch answers */
	unsigned char pairwise[32];
	_Atomic int stopping;
	_Atomic long inflight; /* requests let in before the stop */
	_Atomic int closing;   /* the drain is over: the store goes next */
	struct api_affinity affinity;
	_Atomic long late;     /* streams' reads under way (api_late_enter) */
};

struct api_request {
	struct api_server *srv;
	struct MHD_Connection *conn;
	const struct api_route *route;
	size_t route_idx; /* api_n_routes when none matched */
	const char *method;
	const char *path; /* borrowed from MHD: valid until completion */
	struct api_param params[API_MAX_PARAMS];
	size_t n_params;
	struct api_body body;
	json_t *json; /* the parsed body, for API_BODY_JSON routes */
	struct api_form form; /* the parsed body, for API_BODY_FORM routes */
	int form_parsed;
	int early;    /* an error found before the body was read */
	int has_body; /* the request announced a body */
	size_t discarded; /* body bytes dropped after an early error */
	int counted;  /* in srv->inflight until completed */
	int queued;   /* a response has been queued */
	int suspended;
	int write_rc; /* set by the committer before resuming */
	unsigned status;
	size_t resp_bytes;
	uint64_t t0_usec;
	char allow[64];
	char ip[48];			   /* the client's address, as text */
	char customer_id[BROKER_ID_LEN + 1]; /* API_AUTH_SESSION routes */
	const char *token;		   /* the bearer token, borrowed */
	size_t token_len;
	unsigned retry_after;		   /* seconds, for 429 and 503 */
	int bearer_presented;		   /* a bearer token came with it */
	int via_cookie;			   /* session came in the cookie */
	int mtls;			   /* arrived on the mutual-TLS listener */
	int tls_client_auth;		   /* company to authenticate by cert */
	int peer_checked;		   /* peer certificate looked at */
	char peer_thumb[CERTS_THUMB_LEN + 1]; /* its x5t#S256, "" if none */
	int bound;			   /* tokens get cnf: peer_thumb */
	char csrf[BROKER_ID_LEN + 1];	   /* the session's CSRF token */
	char *problem_redirect;		   /* a "redirect" for the problem */
	const char *write_notfound;	   /* detail when a write finds nothing */
	const char *write_limit;	   /* detail when it meets a quota */
	int64_t session_expires;
	char client_id[BROKER_CLIENT_ID_MAX + 1]; /* API_AUTH_CLIENT routes */
	char detail[API_DETAIL_MAX];
	struct MHD_Response *resp;
	struct api_cached *resp_owner; /* resp is shared: this owns it */
	void *state; /* a handler's own state across a suspension */
	void (*state_free)(void *);
};

/* Monotonic microseconds. */
uint64_t api_now_usec(void);

/* Sets r's response to JSON (takes ownership of body). */
int api_respond_json(struct api_request *r, unsigned status, json_t *body);

/*
 * Sets r's response to a stream of unknown length (sent chunked): fn
 * fills buffers as the client takes them; free_fn(cls) runs once the
 * response is done with, or at once if this fails.  fn may run after the
 * shutdown timeout: it reads the store only between api_late_enter (0)
 * and api_late_leave.
 */
int api_respond_stream(struct api_request *r, unsigned status,
    const char *ctype, MHD_ContentReaderCallback fn, void *cls,
    MHD_ContentReaderFreeCallback free_fn);
int api_late_enter(struct api_server *srv);
void api_late_leave(struct api_server *srv);

/* Sets r's response to raw bytes of a content type (copied). */
int api_respond_bytes(struct api_request *r, unsigned status,
    const char *ctype, const void *data, size_t len);

/* Adds a header to the response already set; API_E_NOMEM on failure. */
int api_add_header(struct api_request *r, const char *name,
    const char *value);

/*
 * A broker_grants_of_customer callback: appends g's JSON form to the
 * json_t array arr.
 */
int api_grant_append(void *arr, const struct broker_grant *g);

/*
 * Admits a new grant of r's customer (POST /v1/me/grants, consent alike):
 * counts it against the rate of making grants (429 past it) and sets the
 * quota gn's commit enforces.  0, or the error already described in r.
 */
int api_grant_admit(struct api_request *r, struct broker_grant_new *gn);

/* Adds the ETag header for an unquoted BROKER_ETAG_LEN tag. */
int api_add_etag(struct api_request *r, const char *etag);

/*
 * Responses built once and sent many times (a cached fetch answer): new
 * builds one with the usual headers and an ETag, copying data.
 * respond_shared answers r with it, taking over the caller's reference to
 * owner, the cache entry that keeps it; a shared response is never
 * changed (api_add_header refuses).  release_response drops r's response,
 * shared or not.
 */
int api_response_new(const char *ctype, const void *data, size_t len,
    const char *etag, struct MHD_Response **out);
void api_respond_shared(struct api_request *r, unsigned status,
    struct MHD_Response *resp, size_t len, struct api_cached *owner);
void api_release_response(struct api_request *r);

/*
 * Does an If-Match or If-None-Match value name etag (unquoted)?  weak_ok
 * selects the weak comparison.
 */
int api_etag_listed(const char *hdr, const char *etag, int weak_ok);

/*
 * Sets r's response to the problem+json for err (any module's code),
 * with r->detail as detail when set.
 */
int api_respond_problem(struct api_request *r, int err);

/* Formats r->detail; returns err so handlers can `return api_fail(...)`. */
int api_fail(struct api_request *r, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The HTTP status and problem type slug for an error code (errors.c). */
struct api_error_info {
	unsigned status;
	const char *type;  /* slug under <issuer>/problems/ */
	const char *title;
	const char *oauth; /* RFC 6749 "error", NULL: derived from status */
};
const struct api_error_info *api_error_lookup(int err);

/* The RFC 6749 5.2 "error" value for an error on the OAuth endpoints. */
const char *api_oauth_error(const struct api_error_info *e);

/* Copies s as an error_description may hold it (others become '). */
void api_oauth_text(char *out, size_t cap, const char *s);

/* A time in JSON: integer seconds, or "YYYY-MM-DDTHH:MM:SSZ".  0 or -1. */
int api_parse_time(const json_t *v, int64_t *out);

/*
 * Runs fn in the next shared commit and suspends the connection until it
 * is durable; the handler is then called again with r->write_rc set.
 */
int api_write(struct api_request *r, broker_write_fn fn, void *arg);

/*
 * Runs a password-hashing job on the KDF pool and suspends the connection
 * until it is done; the handler is then called again (job->rc set).
 * job must live in the handler's state.
 */
int api_kdf(struct api_request *r, struct broker_kdf_job *job);

/* Wall-clock seconds (records and expiries; not for durations). */
int64_t api_wall_now(void);

/* ---- throttling (throttle.c) --------------------------------------- */

/*
 * Counts events (failed log-ins, sign-ups) per key over a fixed window in
 * a bounded table; never grows, never blocks the fetch path.
 */
struct api_throttle;
int api_throttle_new(size_t slots, unsigned window, struct api_throttle **out);
void api_throttle_free(struct api_throttle *t);

/* Seconds to wait before key may try again (0: go ahead). */
unsigned api_throttle_check(struct api_throttle *t, const char *key,
    unsigned max, int64_t now);

/*
 * The usual pair, an account (or client) and an address: seconds to wait
 * when either is over its max.
 */
unsigned api_throttle_check_pair(struct api_throttle *t, const char *key,
    unsigned max, const char *addr_key, unsigned addr_max, int64_t now);

/*
 * Checks and counts at once, under one lock: 0 and the event counted
 * (a failure, a sign-up) until given back, or the seconds to wait
 * (nothing counted).  Concurrent attempts cannot all pass the check
 * before any is counted.  The pair takes from both or from neither.
 */
unsigned api_throttle_take(struct api_throttle *t, const char *key,
    unsigned max, int64_t now);
unsigned api_throttle_take_pair(struct api_throttle *t, const char *key,
    unsigned max, const char *addr_key, unsigned addr_max, int64_t now);
/*
 * The key "<prefix><id>", cut to API_THROTTLE_KEY - 1 bytes: every taker,
 * checker and give-back of one limit builds its key here, so that all
 * cut it alike.
 */
#define API_THROTTLE_KEY 80
void api_throttle_key(char out[API_THROTTLE_KEY], const char *prefix,
    const char *id);
/*
 * Takes one event of api_throttle_key(prefix, id) from t: 0, or
 * API_E_THROTTLED with r's Retry-After set and why as the detail.
 */
int api_throttle_admit(struct api_request *r, struct api_throttle *t,
    const char *prefix, const char *id, unsigned max, const char *why);

/* Uncounts one taken attempt that turned out not to be a failure. */
void api_throttle_give_back(struct api_throttle *t, const char *key);

/* Forgets key (a successful log-in clears its failures). */
void api_throttle_clear(struct api_throttle *t, const char *key);

/* ---- customer handlers (accounts.c, profile.c) ------------------------ */
/*
 * Authenticates a customer's session from the Authorization header value:
 * sets r->customer_id and r->token, or returns API_E_UNAUTH with detail.
 */
int api_session_auth(struct api_request *r, const char *authz);

#define API_SESSION_COOKIE "__Host-ccx"

/* Adds Set-Cookie for the session token (token "" with 0: forget it). */
int api_session_cookie(struct api_request *r, const char *token,
    int64_t max_age);

int api_h_session(struct api_request *r);

/*
 * Authenticates a company by client_secret_basic (RFC 6749 2.3.1): sets
 * r->client_id, or returns API_E_INVALID_CLIENT / API_E_THROTTLED.
 */
int api_client_auth(struct api_request *r, const char *authz);

/*
 * tls_client_auth (RFC 8705 2.1): the form's client_id and the verified
 * certificate of the connection must belong together.  Sets client_id and
 * marks tokens to be bound, or API_E_INVALID_CLIENT.
 */
int api_client_tls_auth(struct api_request *r);

/*
 * The x5t#S256 of the connection's client certificate, verified against
 * the local CA, or NULL when there is none (or it does not verify).
 */
const char *api_peer_thumb(struct api_request *r);

int api_h_register(struct api_request *r);
int api_h_login(struct api_request *r);
int api_h_logout(struct api_request *r);
int api_h_logout_all(struct api_request *r);
int api_h_password(struct api_request *r);
int api_h_profile_get(struct api_request *r);
int api_h_profile_put(struct api_request *r);

/* ---- company handlers (oauth.c, resource.c, grants.c, wellknown.c) ---- */
int api_h_token(struct api_request *r);
int api_h_introspect(struct api_request *r);
int api_h_revoke(struct api_request *r);
int api_h_resource(struct api_request *r);
int api_h_companies(struct api_request *r);
int api_h_company_grants(struct api_request *r);
int api_h_grant_create(struct api_request *r);
int api_h_grants(struct api_request *r);
int api_h_grant_get(struct api_request *r);
int api_h_grant_revoke(struct api_request *r);
int api_h_audit(struct api_request *r);
int api_h_export(struct api_request *r);
int api_h_delete_me(struct api_request *r);
int api_h_metadata(struct api_request *r);
int api_h_authorize(struct api_request *r);
int api_h_consent(struct api_request *r);
int api_h_decide(struct api_request *r);
int api_h_asset(struct api_request *r);
int api_h_scopes(struct api_request *r);

/* ---- the server certificate (tls.c) ---------------------------------- */

/*
 * Loads certs/server.pem and server.key, checks they match and are valid
 * now, and makes them the certificate of new handshakes.  On failure the
 * previous one stays and errbuf says why.
 */
int api_tls_load(const struct api_server *srv, char *errbuf, size_t errcap);

/* The GnuTLS certificate-retrieve callback, for MHD: the current identity. */
int api_tls_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn,
    int nreqs, const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
    gnutls_pcert_st **pcert, unsigned int *pcert_length,
    gnutls_privkey_t *privkey);

/* Frees every identity loaded; only once the daemon has stopped. */
void api_tls_free(void);

/* ---- the TLS transport (tlsio.c) -------------------------------------- */

struct api_tlsio;

/* A new connection reads and writes through tlsio.c, its state in the
 * socket context; detach frees it once the connection is gone. */
void api_tlsio_attach(struct MHD_Connection *conn, void **socket_ctx);
void api_tlsio_detach(void **socket_ctx);

/* Before queueing an answer: its header waits for its body. */
void api_tlsio_hold(struct MHD_Connection *conn, const char *method,
    unsigned status, size_t body_len);

/* ---- the web page (static.c) ------------------------------------------- */

/* One embedded file of web/ (generated into web_assets.c at build). */
struct api_asset {
	const char *path; /* "/index.html" */
	const char *ctype;
	const unsigned char *data;
	size_t len;
};
extern const struct api_asset api_assets[]; /* ends with a NULL path */

/* Answers with an embedded page or file, with the page security headers. */
int api_page(struct api_request *r, const char *path);

/* Answers with a small HTML error page (never a redirect). */
int api_page_error(struct api_request *r, unsigned status, const char *title,
    const char *detail);
int api_h_jwks(struct api_request *r);

/* ---- handlers (ops.c) ------------------------------------------------ */
int api_h_healthz(struct api_request *r);
int api_h_metrics(struct api_request *r);

#endif /* CCX_API_INT_H */
