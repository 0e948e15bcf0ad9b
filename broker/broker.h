/*
 * broker.h - accounts, profiles, grants, audit and the LMDB store under
 * them.
 *
 * This is the only module that includes lmdb.h.  It owns the data
 * directory's layout and every durable record; it never speaks HTTP and
 * never includes api headers.
 *
 * Conventions: fallible functions return 0 on success or a negative
 * BROKER_E_* code (range -300..-399); out-parameters are cleared first and
 * set only on success.
 */
#ifndef CCX_BROKER_H
#define CCX_BROKER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

enum {
	BROKER_OK = 0,
	BROKER_E_NOTFOUND = -300, /* no such record */
	BROKER_E_EXISTS = -301,	  /* record or data directory already exists */
	BROKER_E_FULL = -302,	  /* map full or disk full: nothing written */
	BROKER_E_STORAGE = -303,  /* the store failed (I/O, LMDB error) */
	BROKER_E_NOMEM = -304,	  /* allocation failed */
	BROKER_E_BUSY = -305,	  /* write queue full: try again shortly */
	BROKER_E_CORRUPT = -306,  /* a stored record fails validation */
	BROKER_E_NOTINIT = -307,  /* data directory not initialised */
	BROKER_E_INVAL = -308,	  /* bad argument */
	BROKER_E_STOPPED = -309,  /* the store is shutting down */
	BROKER_E_VERSION = -310,  /* data written by a newer format */
	BROKER_E_IO = -311,	  /* file-system error outside LMDB */
	BROKER_E_BADPASS = -312,  /* login or password wrong */
	BROKER_E_EXPIRED = -313,  /* session or token expired */
	BROKER_E_STALE = -314,	  /* If-Match does not match */
	BROKER_E_DISABLED = -315, /* the company is disabled */
	BROKER_E_REVOKED = -316,  /* grant or token revoked or expired */
	BROKER_E_LIMIT = -317,	  /* an owner's quota of records is used up */
};

/* Returns a static English description of a BROKER_E_* code. */
const char *broker_strerror(int err);

/* ---- the data directory ------------------------------------------------ */

/*
 * Layout below the data directory (mode 0700):
 *   db/                 the LMDB environment
 *   certs/ca.pem        the local CA clients trust (ca.key beside it, 0600)
 *   certs/server.pem    the server certificate (server.key beside it, 0600)
 *   keys/<kid>.key      Ed25519 token-signing keys (0600)
 *   pairwise.key        the pairwise-subject secret (0600)
 *   admin.token         the admin bearer token (0600)
 */
#define BROKER_PATH_MAX 4096

/*
 * Writes "<dir>/<rel>" into out.  BROKER_E_INVAL when it does not fit.
 */
int broker_path(char out[BROKER_PATH_MAX], const char *dir, const char *rel);

struct broker_init_opts {
	const char *data_dir;
	const char *const *hostnames; /* extra SANs beyond localhost/127.0.0.1/::1 */
	size_t n_hostnames;
	const char *issuer; /* NULL: derived from the listen address at start */
	size_t map_size;    /* LMDB map size in bytes; 0: default */
};

struct broker_init_result {
	char kid[64];	  /* the first signing key's id */
	char ca_path[BROKER_PATH_MAX];
	char token_path[BROKER_PATH_MAX];
};

/*
 * Creates and initialises a data directory: CA, server certificate, first
 * signing key, pairwise secret, admin token, LMDB environment.  Refuses a
 * directory that already holds anything (BROKER_E_EXISTS).
 */
int broker_init(const struct broker_init_opts *opts,
    struct broker_init_result *res);

/* ---- the store ------------------------------------------------------------ */

/* The named databases.  Their names are part of the on-disk format. */
enum broker_db {
	BROKER_DB_META,	     /* format version, issuer, ...            */
	BROKER_DB_CUSTOMERS, /* customer id -> account record          */
	BROKER_DB_LOGINS,    /* login -> customer id                   */
	BROKER_DB_SESSIONS,  /* hash(session token) -> session         */
	BROKER_DB_PROFILES,  /* customer id -> profile JSON            */
	BROKER_DB_COMPANIES, /* client id -> company record            */
	BROKER_DB_GRANTS,    /* grant id -> grant record               */
	BROKER_DB_REFRESH,   /* hash(refresh token) -> refresh record  */
	BROKER_DB_KEYS,	     /* kid -> key metadata and public key     */
	BROKER_DB_AUDIT,     /* time-ordered key -> audit record       */
	BROKER_DB_TOKENS,    /* revoked access-token jti -> expiry     */
	/* Added later: created when an older store is opened. */
	BROKER_DB_READLOG0,  /* the two logs of reads (audit_fold.c)   */
	BROKER_DB_READLOG1,
	BROKER_DB_CODES,     /* hash(authorization code) -> its record */
	BROKER_DB_COUNT
};

/* On-disk format of the environment; records carry their own version. */
#define BROKER_FORMAT 1

struct broker_store; /* opaque: the environment and its committer thread */
struct broker_txn;   /* opaque: a read or write transaction */

struct broker_store_opts {
	size_t map_size;       /* bytes; 0: the store's recorded size */
	unsigned max_batch;    /* writes per shared commit; 0: 256 */
	unsigned queue_cap;    /* pending writes before BROKER_E_BUSY; 0: 4096 */
};

/*
 * Opens the LMDB environment below data_dir ("db/"), runs
 * mdb_reader_check, checks the format version and starts the committer
 * thread.  BROKER_E_NOTINIT when the directory was never initialised,
 * BROKER_E_VERSION when a newer format wrote it.  Caller closes with
 * broker_store_close().
 */
int broker_store_open(const char *data_dir, const struct broker_store_opts *opts,
    struct broker_store **out);

/*
 * Stops the committer after it has committed every write already
 * submitted (their callbacks run), then closes the environment.  NULL ok.
 */
void broker_store_close(struct broker_store *store);

/* Counters for metrics; each read is a relaxed snapshot. */
struct broker_store_stats {
	uint64_t commits;	  /* successful shared commits */
	uint64_t writes;	  /* writes committed */
	uint64_t write_errors;	  /* writes that failed */
	uint64_t max_batch;	  /* largest batch seen */
	uint64_t queue_depth;	  /* writes waiting now */
	uint64_t map_bytes;	  /* the map: the most the file may grow to */
	uint64_t file_bytes;	  /* its high-water mark (free pages included) */
};
void broker_store_stats(const struct broker_store *store,
    struct broker_store_stats *out);

/*
 * Issues a new server certificate from the local CA for localhost,
 * 127.0.0.1, ::1 and the host names given at init plus hostnames (which
 * are remembered), replacing certs/server.pem and server.key atomically.
 * The daemon serves it after SIGHUP.  names receives the SAN list
 * (caller json_decrefs).
 */
int broker_certs_rotate(const char *data_dir, struct broker_store *store,
    const char *const *hostnames, size_t n, json_t **names);

/*
 * Writes one file (mode 0600, never over an existing one) holding a
 * consistent copy of the store, taken while writers go on, and every key
 * and certificate file.  It is a secret: it holds every private key.
 */
int broker_backup(struct broker_store *store, const char *data_dir,
    const char *file);

/*
 * Checks a backup's digest, then recreates the deployment in data_dir,
 * which must be empty or absent (BROKER_E_EXISTS otherwise).
 * BROKER_E_CORRUPT for a damaged or foreign file, with nothing written.
 */
int broker_restore(const char *file, const char *data_dir);

/* ---- reads ---------------------------------------------------------------- */

/* Begins a read-only snapshot.  End it with broker_read_end(). */
int broker_read_begin(struct broker_store *store, struct broker_txn **out);

/* Ends a read snapshot; every value it returned becomes invalid.  NULL ok. */
void broker_read_end(struct broker_txn *txn);

/*
 * Looks key up in db.  On success *val and *len point at the record's payload
 * (its version header already checked and stripped), borrowed from the
 * map: valid only until the transaction ends.  BROKER_E_NOTFOUND is a
 * normal result.  *version receives the record's version when non-NULL.
 */
int broker_txn_get(struct broker_txn *txn, enum broker_db db, const void *key,
    size_t klen, const void **val, size_t *len, unsigned *version);

/*
 * Iterates db in key order starting at the first key >= start (NULL:
 * from the beginning), calling fn for each record until it returns
 * non-zero (which stops the scan and is returned) or the keys run out (0).
 * Values are borrowed as for broker_txn_get.
 */
typedef int (*broker_scan_fn)(void *arg, const void *key, size_t klen,
    const void *val, size_t len);
int broker_txn_scan(struct broker_txn *txn, enum broker_db db,
    const void *start, size_t slen, broker_scan_fn fn, void *arg);

/* ---- writes (shared commits) ---------------------------------------- */

/*
 * A write runs inside the committer's transaction, in a nested
 * transaction of its own: when it returns non-zero its changes are undone
 * and that code is its result, without disturbing the other writes of the
 * batch.  It must not block and must not keep pointers into the map.
 */
typedef int (*broker_write_fn)(struct broker_txn *txn, void *arg);

/*
 * Called once per submitted write, from the committer thread, after the
 * batch holding it is durably committed (rc 0) or has failed (rc < 0, or
 * the write's own non-zero result).  Must not block.
 */
typedef void (*broker_done_fn)(void *cookie, int rc);

/*
 * Queues a write for the next shared commit and returns at once.  done is
 * called exactly once when 0 is returned; never when it fails
 * (BROKER_E_BUSY when the queue is full, BROKER_E_STOPPED when closing).
 * arg and cookie are borrowed until done runs.
 */
int broker_write_submit(struct broker_store *store, broker_write_fn fn,
    void *arg, broker_done_fn done, void *cookie);

/* Submits a write and waits until it is durable or has failed. */
int broker_write(struct broker_store *store, broker_write_fn fn, void *arg);

/*
 * Stores a record: the payload is prefixed with version.  Only valid in a
 * write transaction.  BROKER_E_FULL when the map is full.
 */
int broker_txn_put(struct broker_txn *txn, enum broker_db db, const void *key,
    size_t klen, const void *val, size_t len, unsigned version);

/*
 * Like broker_txn_put but fails with BROKER_E_EXISTS when key is present.
 */
int broker_txn_insert(struct broker_txn *txn, enum broker_db db,
    const void *key, size_t klen, const void *val, size_t len,
    unsigned version);

/*
 * Like broker_txn_insert for a key above every key of db, which it adds
 * without searching, filling pages whole where ordinary inserts at one
 * end of a B-tree leave them half empty.  BROKER_E_EXISTS, changing
 * nothing, when the key is not above the last.
 */
int broker_txn_append(struct broker_txn *txn, enum broker_db db,
    const void *key, size_t klen, const void *val, size_t len,
    unsigned version);

/* Deletes every key of db that starts with prefix (none is fine). */
int broker_txn_del_prefix(struct broker_txn *txn, enum broker_db db,
    const void *prefix, size_t plen);

/* Deletes key; BROKER_E_NOTFOUND when absent. */
int broker_txn_del(struct broker_txn *txn, enum broker_db db, const void *key,
    size_t klen);

/*
 * The same, for a record that already grants nothing (an ended grant and
 * its index entries): the access generation does not move, so the
 * checks of live tokens stand.
 */
int broker_txn_del_spent(struct broker_txn *txn, enum broker_db db,
    const void *key, size_t klen);

/*
 * A counter that moves, in the same transaction, with every write that
 * may take a company's access away: any change or deletion of a grant, a
 * company or a signing key, and any write to the table of revoked tokens
 * and authorization codes (creating a grant, a company or a key does not
 * move it).  A reader that checked a
 * token's access in a snapshot where it stood at gen, and reads gen again
 * in a later snapshot, knows that nothing it checked has changed since.
 */
int broker_access_generation(struct broker_txn *txn, uint64_t *gen);

/* ---- metadata ----------------------------------------------------------- */

/*
 * Reads the issuer stored at init into out (NUL-terminated).
 * BROKER_E_NOTFOUND when none was stored.
 */
int broker_meta_issuer(struct broker_store *store, char *out, size_t outcap);

/* ---- customers, sessions, profiles ---------------------------------- */

#define BROKER_KDF_ENCODED_MAX 128 /* bytes of a PHC hash string */

#define BROKER_ID_LEN 22     /* 16 random bytes, base64url */
#define BROKER_ETAG_LEN 22   /* 16 bytes of SHA-256, base64url */
#define BROKER_TOKEN_LEN 43  /* 32 random bytes, base64url */

struct broker_customer {
	char id[BROKER_ID_LEN + 1];
	char login[65];
	char pw[BROKER_KDF_ENCODED_MAX]; /* PHC string of the password hash */
	int64_t created;
	uint64_t epoch; /* sessions of an older epoch are dead */
};

/*
 * Looks a customer up by normalised login or by id in a snapshot.
 * BROKER_E_NOTFOUND is a normal result.
 */
int broker_customer_by_login(struct broker_txn *txn, const char *login,
    struct broker_customer *out);
int broker_customer_get(struct broker_txn *txn, const char *id,
    struct broker_customer *out);

/* Arguments of broker_customer_create (a broker_write_fn). */
struct broker_customer_new {
	const char *login;  /* normalised */
	const char *pw;	    /* PHC string */
	int64_t now;
	char id[BROKER_ID_LEN + 1]; /* out */
};

/*
 * Creates the account, its login index entry and the empty profile {}.
 * BROKER_E_EXISTS when the login is taken.
 */
int broker_customer_create(struct broker_txn *txn, void *arg);

struct broker_session {
	char customer_id[BROKER_ID_LEN + 1];
	uint64_t epoch;
	int64_t created;
	int64_t expires; /* absolute */
	int64_t seen;	 /* last use, for the idle limit */
	char csrf[BROKER_ID_LEN + 1]; /* the page's anti-forgery token */
};

/* Arguments of broker_session_create (a broker_write_fn). */
struct broker_session_new {
	const char *customer_id;
	uint64_t epoch;
	int64_t now;
	int64_t lifetime; /* seconds until the absolute expiry */
	char token[BROKER_TOKEN_LEN + 1]; /* out: shown once, stored hashed */
	char csrf[BROKER_ID_LEN + 1];	  /* out */
};
int broker_session_create(struct broker_txn *txn, void *arg);

/*
 * Finds the live session for a bearer token: BROKER_E_NOTFOUND when
 * unknown, BROKER_E_EXPIRED when past its absolute or idle limit or of an
 * older epoch than its customer's (logged out everywhere, password changed).
 */
int broker_session_lookup(struct broker_txn *txn, const char *token,
    size_t len, int64_t now, int64_t idle, struct broker_session *out);

/* Arguments of the session writes below. */
struct broker_session_end {
	const char *token;	/* the session to end, or to keep */
	size_t token_len;
	const char *customer_id;
	const char *new_pw; /* revoke_all: also replace the password hash */
	int64_t now;
};

/* Ends one session (a broker_write_fn). */
int broker_session_delete(struct broker_txn *txn, void *arg);

/*
 * Ends every session of the customer by moving to a new epoch (a
 * broker_write_fn); when token is set, that session is carried over into
 * the new epoch (a password change keeps the session that made it), and
 * when new_pw is set it replaces the password hash in the same commit.
 */
int broker_session_revoke_all(struct broker_txn *txn, void *arg);

/*
 * Housekeeping deletes in many small commits, so that writers are never
 * held up long; between two of them it calls between (when not NULL),
 * with which the audit flusher files the reads queued meanwhile.
 */
struct broker_sweep {
	int64_t now;
	void (*between)(void *arg);
	void *between_arg;
};

/*
 * Deletes ended sessions: past either limit, of an older epoch, or of a
 * deleted customer.  *n counts them.
 */
int broker_sessions_sweep(struct broker_store *store,
    const struct broker_sweep *sw, int64_t idle, size_t *n);

/* Records a session's use (a broker_write_fn; args: broker_session_end). */
int broker_session_touch(struct broker_txn *txn, void *arg);

/*
 * Reads a customer's profile: *json borrowed from the snapshot (valid
 * until it ends), etag NUL-terminated.
 */
int broker_profile_get(struct broker_txn *txn, const char *customer_id,
    const char **json, size_t *len, char etag[BROKER_ETAG_LEN + 1]);

/* Arguments of broker_profile_put (a broker_write_fn). */
struct broker_profile_put {
	const char *customer_id;
	const char *if_match; /* the ETag the change was based on */
	const char *json;     /* the new document, already validated */
	size_t len;
	char etag[BROKER_ETAG_LEN + 1]; /* out: the new ETag */
};

/* Replaces the profile if its ETag still matches (else BROKER_E_STALE). */
int broker_profile_put(struct broker_txn *txn, void *arg);

/* ---- companies (OAuth clients) ---------------------------------------- */

#define BROKER_CLIENT_ID_MAX 64
#define BROKER_SECRET_LEN 43 /* 32 random bytes, base64url */
#define BROKER_MAX_REDIRECTS 16

/*
 * Checks a client id chosen by an admin: [a-z0-9][a-z0-9._-]{2,63}.
 * 0 or BROKER_E_INVAL.
 */
int broker_client_id_check(const char *id);

/*
 * A company's stored record as JSON (caller json_decrefs): id, name,
 * description, site, redirect_uris, disabled, created, and "secrets"
 * (hashes with their expiry; never shown to anyone).
 */
int broker_company_get(struct broker_txn *txn, const char *id, json_t **out);

/* 0 when the company exists and is enabled, else NOTFOUND or DISABLED. */
int broker_company_live(struct broker_txn *txn, const char *id);

/*
 * Authenticates a client: 0 when id names an enabled company and secret
 * matches one of its live secrets (compared in constant time);
 * BROKER_E_BADPASS for an unknown id or a wrong or expired secret,
 * BROKER_E_DISABLED for a disabled company.
 */
int broker_company_auth(struct broker_txn *txn, const char *id,
    const char *secret, size_t len, int64_t now);

/*
 * Authenticates a client by its TLS certificate (RFC 8705
 * tls_client_auth): 0 when id names an enabled company that registered
 * the certificate whose x5t#S256 is thumb and has not revoked it;
 * BROKER_E_BADPASS or BROKER_E_DISABLED otherwise.
 */
int broker_company_auth_cert(struct broker_txn *txn, const char *id,
    const char *thumb);

/*
 * 0 while company id has the certificate thumb registered and not
 * revoked (what a token bound to it needs), else BROKER_E_REVOKED.
 */
int broker_company_cert_live(struct broker_txn *txn, const char *id,
    const char *thumb);

/*
 * Issues a client certificate for a company from the local CA (a new key,
 * or the public key of csr_pem), writes it (0600) below
 * certs/clients/, and registers its thumbprint with the company.  cert
 * and key receive the file paths (key "" with a CSR), thumb the x5t#S256.
 */
int broker_company_cert(const char *data_dir, struct broker_store *store,
    const char *id, const char *csr_pem, size_t csr_len,
    char cert[BROKER_PATH_MAX], char key[BROKER_PATH_MAX], char thumb[64]);

/* Calls fn for every company in id order; fn's non-zero stops the scan. */
int broker_company_each(struct broker_txn *txn,
    int (*fn)(void *arg, const char *id, json_t *rec), void *arg);

/*
 * Arguments of the company writes (broker_write_fns).  NULL fields are
 * left unchanged by update; redirect_uris replaces the list when
 * n_redirects > 0 or clear_redirects is set.
 */
struct broker_company_change {
	const char *id;
	const char *name;
	const char *description;
	const char *site;
	const char *const *redirect_uris;
	size_t n_redirects;
	int clear_redirects;
	int64_t now;
	int64_t overlap;		   /* secret: seconds the old one lives */
	int disabled;			   /* set_disabled: the new state */
	const char *thumb;		   /* cert_revoke: its x5t#S256 */
	char secret[BROKER_SECRET_LEN + 1]; /* out: add and secret */
};
int broker_company_add(struct broker_txn *txn, void *arg);
int broker_company_update(struct broker_txn *txn, void *arg);
int broker_company_set_disabled(struct broker_txn *txn, void *arg);
int broker_company_new_secret(struct broker_txn *txn, void *arg);

/*
 * Revokes the company's certificate c->thumb, at c->now: tls_client_auth
 * refuses it and tokens bound to it stop at their next use.
 * BROKER_E_NOTFOUND (no such company), BROKER_E_INVAL (no such
 * certificate of this company) or BROKER_E_REVOKED (already).
 */
int broker_company_cert_revoke(struct broker_txn *txn, void *arg);

/* ---- grants ------------------------------------------------------------- */

#define BROKER_PURPOSE_MAX 16

/*
 * A customer's grant to a company: scopes (canonical text, see policy/),
 * a purpose, an expiry; revoked_at is 0 while not revoked.
 */
struct broker_grant {
	char id[BROKER_ID_LEN + 1];
	char customer[BROKER_ID_LEN + 1];
	char company[BROKER_CLIENT_ID_MAX + 1];
	char purpose[BROKER_PURPOSE_MAX];
	char *scopes; /* owned: release with broker_grant_clear() */
	int64_t created;
	int64_t expires;
	int64_t revoked_at;
};

/* Frees what a grant owns and zeroes it; NULL ok. */
void broker_grant_clear(struct broker_grant *g);

/* Reads a grant; caller broker_grant_clear()s *out. */
int broker_grant_get(struct broker_txn *txn, const char *id,
    struct broker_grant *out);

/* "active", "revoked" or "expired" at time now. */
const char *broker_grant_state(const struct broker_grant *g, int64_t now);

/*
 * 0 when the grant is active at now and its company exists and is
 * enabled; BROKER_E_REVOKED or BROKER_E_DISABLED otherwise.
 */
int broker_grant_live(struct broker_txn *txn, const struct broker_grant *g,
    int64_t now);

/*
 * The grant as the API shows it: id, company, scopes (array), purpose,
 * created_at, expires_at, state (and revoked_at).  Caller json_decrefs.
 */
json_t *broker_grant_json(const struct broker_grant *g, int64_t now);

/*
 * Calls fn for each grant of a customer / to a company, in id order (a
 * company's from the first id after `after`, when not NULL), until fn
 * returns non-zero: 1 stops early and counts as success.
 */
int broker_grants_of_customer(struct broker_txn *txn, const char *customer,
    int (*fn)(void *arg, const struct broker_grant *g), void *arg);
int broker_grants_of_company(struct broker_txn *txn, const char *company,
    const char *after, int (*fn)(void *arg, const struct broker_grant *g),
    void *arg);

/* Arguments of broker_grant_create (a broker_write_fn). */
struct broker_grant_new {
	const char *customer;
	const char *company;
	const char *scopes; /* canonical text, already validated */
	const char *purpose;
	int64_t expires;
	int64_t now;
	/*
	 * The customer's quota, 0 for none: at most this many live grants,
	 * and this many ended ones are kept (the oldest beyond go).
	 */
	unsigned max_live;
	char id[BROKER_ID_LEN + 1]; /* out */
};

/*
 * Creates a grant (and its audit record).  BROKER_E_NOTFOUND for an
 * unknown company, BROKER_E_DISABLED for a disabled one, BROKER_E_INVAL
 * for an expiry not in the future, BROKER_E_LIMIT when the customer
 * already holds max_live live grants (nothing changed).  Ended grants
 * beyond the newest max_live are erased in the same commit.
 */
int broker_grant_create(struct broker_txn *txn, void *arg);

/* Arguments of broker_grant_revoke and broker_customer_delete. */
struct broker_grant_end {
	const char *customer; /* the owner: another customer's id is NOTFOUND */
	const char *id;
	int64_t now;
};

/* Revokes a grant at once (idempotent); records it in the audit trail. */
int broker_grant_revoke(struct broker_txn *txn, void *arg);

/*
 * Deletes a customer: revokes every grant first, then erases profile,
 * sessions, login, audit trail and the account (a broker_write_fn; uses
 * customer and now of a broker_grant_end).
 */
int broker_customer_delete(struct broker_txn *txn, void *arg);

/* ---- the audit trail --------------------------------------------------- */

/*
 * A page of a customer's trail, newest first: *items is a new array of
 * records {id, ts (microseconds since the epoch), kind, ...details}; when
 * more remain, next receives the cursor for the following page (else "").
 * cursor is NULL for the first page.
 */
int broker_audit_list(struct broker_txn *txn, const char *customer,
    const char *cursor, size_t limit, json_t **items, char *next,
    size_t nextcap);

/* Deletes records older than before (seconds); *purged counts them. */
int broker_audit_purge(struct broker_store *store, int64_t before,
    size_t *purged);

/* The read-side queue: records committed in batches off the fetch path. */
struct broker_audit;

struct broker_audit_opts {
	unsigned flush_ms;	 /* at most this long in memory; 0: 200 */
	unsigned fold_ms;	 /* reads reach the trail within; 0: 5000 */
	unsigned wait_ms;	 /* a read waits for room this long; 0: 2000 */
	unsigned queue;		 /* reads queued per thread; 0: 8192 */
	unsigned retention_days; /* purge older records; 0: never */
	/*
	 * Also run, on the flusher thread, at start and then hourly; long
	 * jobs call drain(drain_arg) between their commits.
	 */
	void (*maintain)(void *arg, void (*drain)(void *), void *drain_arg);
	void *maintain_arg;
};

int broker_audit_open(struct broker_store *store,
    const struct broker_audit_opts *opts, struct broker_audit **out);

/* Commits everything queued, then stops.  No enqueue may follow.  NULL ok. */
void broker_audit_close(struct broker_audit *audit);

/*
 * The fields a read returned, as a JSON array text (["contact.email"]):
 * immutable and shared by reference, so that queuing a read copies no
 * text.  new copies the text (NULL when it is not an array or on
 * allocation failure); put drops a reference, NULL ok.
 */
struct broker_audit_fields;
struct broker_audit_fields *broker_audit_fields_new(const char *json_array,
    size_t len);
void broker_audit_fields_put(struct broker_audit_fields *fields);

/*
 * Queues the record of a company's read of a customer's profile (kind
 * "profile.read" with company, grant and fields); takes a reference to
 * fields.  Never drops: waits while this thread's ring is full, and if it
 * stays full for wait_ms (the store refusing the log's commits) returns
 * BROKER_E_BUSY, so that the read is refused rather than made without a
 * record, and the thread is not held for good.  Lock-free otherwise.
 * BROKER_E_INVAL when an id is malformed.
 */
int broker_audit_read(struct broker_audit *audit, const char *customer,
    const char *company, const char *grant,
    struct broker_audit_fields *fields);

struct broker_audit_stats {
	uint64_t logged; /* reads committed to the log */
	uint64_t waits;	 /* times a fetch waited for room in its ring */
	uint64_t folded; /* log entries filed (or dropped) by folds */
	uint64_t filed;	 /* records those became in the trails */
	uint64_t purged; /* records removed by the retention purge */
	uint64_t failed; /* commits of the log that failed (and are retried) */
	uint64_t refused; /* reads refused: no room within wait_ms */
};
void broker_audit_stats(const struct broker_audit *audit,
    struct broker_audit_stats *out);

/* ---- refresh tokens and access-token revocation ----------------------- */

/*
 * Refresh tokens are opaque, stored under their SHA-256, single-use: each
 * use spends the token and issues its successor in the same family; using
 * a spent one revokes the whole family.  They die with their grant.
 */
struct broker_refresh_new {
	const char *grant;
	const char *company;
	const char *scopes; /* canonical text the access tokens may carry */
	const char *customer; /* for the audit trail */
	int64_t now;
	/*
	 * Live families a grant may have, 0 for no cap: a new one beyond it
	 * revokes the oldest (its holder's next refresh is invalid_grant).
	 */
	unsigned max_families;
	char token[BROKER_TOKEN_LEN + 1]; /* out */
};

/* Issues the first refresh token of a new family (a broker_write_fn). */
int broker_refresh_issue(struct broker_txn *txn, void *arg);

enum broker_refresh_outcome {
	BROKER_REFRESH_OK,	/* rotated: token holds the successor */
	BROKER_REFRESH_INVALID, /* unknown, another company's, or family dead */
	BROKER_REFRESH_REUSED,	/* spent token replayed: family now revoked */
	BROKER_REFRESH_DEAD,	/* its grant is revoked, expired or disabled */
	BROKER_REFRESH_SCOPE,	/* asked for more than the family holds */
};

struct broker_refresh_use {
	const char *presented;
	size_t len;
	const char *company;
	const char *requested;	/* a narrower scope text, or NULL */
	int64_t now;
	enum broker_refresh_outcome outcome;	/* out */
	struct broker_grant grant;		/* out (OK): caller clears */
	char *scopes;	/* out (OK): the access token's scopes; caller frees */
	char token[BROKER_TOKEN_LEN + 1];	/* out (OK): the successor */
};

/*
 * Redeems a refresh token (a broker_write_fn).  Returns 0 whenever the
 * outcome is decided, so that a reuse's family revocation is committed;
 * the outcome says what happened.
 */
int broker_refresh_redeem(struct broker_txn *txn, void *arg);

/*
 * Looks a refresh token up for introspection: 0 with grant id and scopes
 * (caller frees *scopes) when it is unspent, of this company, its family
 * alive; BROKER_E_NOTFOUND otherwise.
 */
int broker_refresh_lookup(struct broker_txn *txn, const char *presented,
    size_t len, const char *company, char grant[BROKER_ID_LEN + 1],
    char **scopes);

struct broker_token_revoke {
	const char *presented; /* refresh token */
	size_t len;
	const char *jti;       /* or access token id */
	int64_t exp;	       /* the access token's expiry */
	const char *company;   /* only the company's own tokens */
	int64_t now;
};

/*
 * Revokes a refresh token's family, or records an access token's jti as
 * revoked until it expires (a broker_write_fn).  Unknown or foreign tokens
 * are left alone and still answer 0 (RFC 7009 2.2).
 */
int broker_token_revoke(struct broker_txn *txn, void *arg);

/* ---- authorization codes (RFC 6749 4.1, PKCE RFC 7636) ----------------- */

/*
 * The customer approved a company's request: creates the grant and a
 * single-use authorization code bound to the company, the redirect URI
 * and the PKCE challenge (a broker_write_fn).
 */
struct broker_code_new {
	struct broker_grant_new grant;	   /* in, and grant.id out */
	const char *redirect_uri;
	const char *challenge;		   /* S256 code_challenge */
	int64_t lifetime;		   /* seconds the code lives */
	char code[BROKER_TOKEN_LEN + 1];   /* out: for the redirect */
};
int broker_code_issue(struct broker_txn *txn, void *arg);

enum broker_code_outcome {
	BROKER_CODE_OK,
	BROKER_CODE_INVALID, /* unknown, expired, wrong client/URI/verifier */
	BROKER_CODE_REUSED,  /* presented twice: its grant is now revoked */
};

/*
 * Redeems a code (a broker_write_fn): checks company, redirect URI, expiry
 * and that challenge equals the stored one (the caller computes
 * BASE64URL(SHA256(code_verifier))); on success spends it and issues the
 * grant's first refresh token.  Returns 0 whenever the outcome is decided
 * so that a reuse's grant revocation is committed.
 */
struct broker_code_use {
	const char *code;
	size_t len;
	const char *company;
	const char *redirect_uri;
	const char *challenge;
	int64_t now;
	enum broker_code_outcome outcome; /* out */
	struct broker_grant grant;	  /* out (OK): caller clears */
	char refresh[BROKER_TOKEN_LEN + 1]; /* out (OK) */
};
int broker_code_redeem(struct broker_txn *txn, void *arg);

/*
 * Deletes what can no longer matter: authorization codes and revoked-jti
 * records past their expiry; refresh tokens of a dead family or of an
 * ended or erased grant, with the family's record; spent refresh tokens
 * older than spent_keep seconds (their replay no longer kills the
 * family); revoked families' records.  *n counts the records deleted.
 */
int broker_tokens_sweep(struct broker_store *store,
    const struct broker_sweep *sw, int64_t spent_keep, size_t *n);

/* 1 when jti has been revoked, 0 when not, or a BROKER_E_* code. */
int broker_jti_revoked(struct broker_txn *txn, const char *jti);

/* ---- token-signing keys (public halves and metadata only) ------------ */

/*
 * Calls fn with each key record {kid, x (base64url public key), created,
 * activates, state ("active" or "retired"), retired} in kid order; fn's
 * non-zero stops the scan.
 */
int broker_keys_each(struct broker_txn *txn,
    int (*fn)(void *arg, const json_t *rec), void *arg);

/*
 * The signing key at time now: of the active keys whose activation time
 * has come, the one activated last (then created last).  kid receives it;
 * BROKER_E_NOTFOUND when there is none.
 */
int broker_key_signing(struct broker_txn *txn, int64_t now, char kid[64]);

/* A counter bumped by every key change: the daemon reloads when it moves. */
int broker_keys_generation(struct broker_txn *txn, uint64_t *gen);

/*
 * Generates a key, writes its private half to keys/<kid>.key (0600) and
 * publishes its public half; it becomes the signing key at now + delay
 * (delay 0: at once).  kid receives its id.
 */
int broker_key_rotate(const char *data_dir, struct broker_store *store,
    int64_t now, int64_t delay, char kid[64]);

/*
 * Retires a key: it leaves the JWKS and verifies nothing more.  Refused
 * with BROKER_E_BUSY while it may still verify a live token (it signs now,
 * or signed within the last token lifetime) unless force is set.
 */
int broker_key_retire(struct broker_store *store, const char *kid,
    int64_t now, int64_t token_lifetime, int force);

/*
 * What the running daemon announces for the admin CLI to read: its JWKS
 * cache lifetime and access-token lifetime (seconds).  get returns the
 * defaults 300 and 3600 until a daemon has set them.
 */
int broker_meta_lifetimes_set(struct broker_store *store, int64_t jwks_max_age,
    int64_t token_lifetime);
int broker_meta_lifetimes(struct broker_store *store, int64_t *jwks_max_age,
    int64_t *token_lifetime);

/* ---- the admin trail ------------------------------------------------- */

/*
 * Records an admin action (company changes, key and certificate
 * operations, backup, restore): action such as "company.add", its target,
 * and details (borrowed, may be NULL; never secrets).
 */
int broker_admin_record(struct broker_store *store, const char *action,
    const char *target, const json_t *detail);

/* The newest limit admin records (caller json_decrefs *items). */
int broker_admin_trail(struct broker_store *store, size_t limit,
    json_t **items);

/* ---- password hashing (argon2id on a pool of its own) ------------- */

/*
 * Hashing costs ~70 ms of CPU and 19 MiB of memory by design, so it never
 * runs on a server thread: jobs queue for a small pool whose size caps the
 * number of concurrent hashes (and so the memory they take).
 */
struct broker_kdf;

struct broker_kdf_opts {
	uint32_t m_kib;	     /* memory cost; 0: 19456 (OWASP minimum) */
	uint32_t t_cost;     /* iterations; 0: 2 */
	unsigned threads;    /* concurrent hashes; 0: 1 */
	unsigned max_queue;  /* waiting jobs before BROKER_E_BUSY; 0: 64 */
};

enum broker_kdf_op { BROKER_KDF_HASH, BROKER_KDF_VERIFY };

/*
 * One hashing job, owned by the caller until done runs.  HASH: encoded
 * receives the PHC string.  VERIFY: encoded holds the stored hash, or ""
 * to verify against a dummy hash of the same cost (so an unknown login
 * takes as long as a wrong password); rc is 0 on a match, else
 * BROKER_E_BADPASS.
 */
struct broker_kdf_job {
	enum broker_kdf_op op;
	const char *password; /* borrowed until done */
	size_t password_len;
	char encoded[BROKER_KDF_ENCODED_MAX];
	int rc;
	void (*done)(struct broker_kdf_job *job); /* on a pool thread */
	void *cookie;
	struct broker_kdf_job *next; /* the pool's */
};

/* Starts the pool.  Caller frees with broker_kdf_close(). */
int broker_kdf_open(const struct broker_kdf_opts *opts,
    struct broker_kdf **out);

/* Finishes every queued job (their done runs), then stops.  NULL ok. */
void broker_kdf_close(struct broker_kdf *kdf);

/* Queues job; BROKER_E_BUSY when the queue is full (done not called). */
int broker_kdf_submit(struct broker_kdf *kdf, struct broker_kdf_job *job);

/* Runs job on the calling thread (for the CLI and tests); returns job->rc. */
int broker_kdf_run(const struct broker_kdf_opts *opts,
    struct broker_kdf_job *job);

#endif /* CCX_BROKER_H */
