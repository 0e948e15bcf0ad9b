/*
 * accounts.c - sign-up, log-in, log-out and password change.
 *
 * Each handler is a small state machine across suspensions: validate, hash
 * or verify the password on the KDF pool, make the change durable through
 * the committer, answer.  Passwords are borrowed from the parsed body and
 * never copied, logged or echoed.  An unknown login and a wrong password
 * take the same path (a dummy verification) and get the same answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_int.h"
#include "certs/certs.h"

#define TOUCH_EVERY 60 /* seconds between recorded uses of a session */

/*
 * Uses are recorded at most every TOUCH_EVERY seconds (a write per request
 * would put the disk on every customer read), but often enough that a busy
 * session never looks idle: a quarter of the idle limit at most.
 */
static int64_t
touch_every(unsigned idle)
{
	int64_t q = idle / 4;

	return q < 1 ? 1 : q < TOUCH_EVERY ? q : TOUCH_EVERY;
}

struct acct {
	int step;
	int cookie; /* log-in: answer with a cookie session */
	struct broker_kdf_job job;
	char login[POLICY_LOGIN_MAX + 1];
	char customer_id[BROKER_ID_LEN + 1];
	uint64_t epoch;
	struct broker_customer_new cn;
	struct broker_session_new sn;
	struct broker_session_end se;
};

static void
acct_free(void *p)
{
	struct acct *a = p;

	/* Hashes and session tokens pass through here. */
	certs_free_secret(a, sizeof(*a));
}

/* The handler's state, created on the first call. */
static struct acct *
acct_get(struct api_request *r)
{
	if (r->state == NULL) {
		if ((r->state = calloc(1, sizeof(struct acct))) == NULL)
			return NULL;
		r->state_free = acct_free;
	}
	return r->state;
}

static int
respond_empty(struct api_request *r)
{
	return api_respond_bytes(r, 204, NULL, "", 0);
}

/* 204, and the browser forgets the session cookie. */
static int
respond_ended(struct api_request *r)
{
	int rc = respond_empty(r);

	return rc != 0 || !r->via_cookie ? rc : api_session_cookie(r, "", 0);
}

/*
 * Hashes (op HASH) or checks against a->job.encoded (op VERIFY) the body's
 * string member name on the KDF pool; the handler resumes at step next.
 */
static int
kdf_member(struct api_request *r, struct acct *a, enum broker_kdf_op op,
    const char *name, int next)
{
	size_t len;

	a->job.op = op;
	a->job.password = api_json_str(r, name, &len);
	a->job.password_len = len;
	a->job.rc = 0;
	a->step = next;
	return api_kdf(r, &a->job);
}

/*
 * Uncounts an attempt taken from the throttle that was not a failure: the
 * login's, and with addr the address's too.
 */
static void
give_back(struct api_request *r, const struct acct *a, int addr)
{
	char key[API_THROTTLE_KEY];

	api_throttle_key(key, "l:", a->login);
	api_throttle_give_back(r->srv->throttle, key);
	if (addr) {
		api_throttle_key(key, "i:", r->ip);
		api_throttle_give_back(r->srv->throttle, key);
	}
}

static int
check_login_and_password(struct api_request *r, struct acct *a,
    const char *pwfield)
{
	static const char *const fields[] = { "login", "password", NULL };
	const char *login, *pw, *why;
	size_t llen, plen;
	int rc;

	if ((rc = api_json_strings(r, fields, 2)) != 0)
		return rc;
	login = api_json_str(r, "login", &llen);
	pw = api_json_str(r, pwfield, &plen);
	if ((rc = policy_login_normalize(login, llen, a->login)) != 0)
		return api_fail(r, rc, "%s", policy_strerror(rc));
	if ((rc = policy_password_check(pw, plen, a->login, &why)) != 0)
		return api_fail(r, rc, "%s", why);
	return 0;
}

/* POST /v1/customers */
int
api_h_register(struct api_request *r)
{
	struct acct *a = acct_get(r);
	struct broker_customer c;
	struct broker_txn *t = NULL;
	int rc;

	if (a == NULL)
		return API_E_NOMEM;
	switch (a->step) {
	case 0:
		if ((rc = check_login_and_password(r, a, "password")) != 0)
			return rc;
		/* Sign-up reveals whether a login exists: rate-limit it. */
		if ((rc = api_throttle_admit(r, r->srv->throttle, "s:", r->ip,
			 r->srv->cfg.signup_max,
			 "too many sign-ups from this address")) != 0)
			return rc;
		/* Spare the hash when the login is visibly taken. */
		if ((rc = broker_read_begin(r->srv->store, &t)) != 0)
			return rc;
		rc = broker_customer_by_login(t, a->login, &c);
		broker_read_end(t);
		certs_wipe(&c, sizeof(c));
		if (rc == 0)
			return api_fail(r, API_E_CONFLICT,
			    "this login is already taken");
		if (rc != BROKER_E_NOTFOUND)
			return rc;
		return kdf_member(r, a, BROKER_KDF_HASH, "password", 1);
	case 1:
		if (a->job.rc != 0)
			return a->job.rc;
		a->cn.login = a->login;
		a->cn.pw = a->job.encoded;
		a->cn.now = api_wall_now();
		a->step = 2;
		return api_write(r, broker_customer_create, &a->cn);
	default:
		return api_respond_json(r, 201, json_pack("{s:s, s:s}", "id",
		    a->cn.id, "login", a->login));
	}
}

/* POST /v1/sessions */
int
api_h_login(struct api_request *r)
{
	static const char *const fields[] = { "login", "password", NULL };
	struct acct *a = acct_get(r);
	struct broker_customer c;
	struct broker_txn *t = NULL;
	char lkey[API_THROTTLE_KEY], ikey[API_THROTTLE_KEY];
	const char *login;
	size_t llen;
	unsigned wait;
	int64_t now = api_wall_now();
	int rc;

	if (a == NULL)
		return API_E_NOMEM;
	switch (a->step) {
	case 0:
		/* "cookie": true asks for a cookie session (the web page). */
		if (json_is_object(r->json) &&
		    json_object_get(r->json, "cookie") != NULL) {
			if (!json_is_boolean(json_object_get(r->json, "cookie")))
				return api_fail(r, API_E_BADREQ,
				    "'cookie' must be a boolean");
			a->cookie = json_is_true(json_object_get(r->json,
			    "cookie"));
			json_object_del(r->json, "cookie");
		}
		if ((rc = api_json_strings(r, fields, 2)) != 0)
			return rc;
		login = api_json_str(r, "login", &llen);
		/* A malformed login cannot exist; it still costs a hash. */
		if (policy_login_normalize(login, llen, a->login) != 0)
			a->login[0] = '\0';
		api_throttle_key(lkey, "l:", a->login);
		api_throttle_key(ikey, "i:", r->ip);
		/* Counted as a failure now, given back if it is not one. */
		wait = api_throttle_take_pair(r->srv->throttle, lkey,
		    r->srv->cfg.login_max_failures, ikey,
		    r->srv->cfg.ip_max_failures, now);
		if (wait > 0) {
			r->retry_after = wait;
			return api_fail(r, API_E_THROTTLED,
			    "too many failed log-ins; try again later");
		}
		a->job.encoded[0] = '\0';
		rc = 0;
		if (a->login[0] != '\0' &&
		    (rc = broker_read_begin(r->srv->store, &t)) == 0) {
			rc = broker_customer_by_login(t, a->login, &c);
			broker_read_end(t);
			if (rc == 0) {
				memcpy(a->job.encoded, c.pw, sizeof(c.pw));
				memcpy(a->customer_id, c.id, sizeof(c.id));
				a->epoch = c.epoch;
			}
			certs_wipe(&c, sizeof(c));
		}
		if (rc == 0 || rc == BROKER_E_NOTFOUND)
			rc = kdf_member(r, a, BROKER_KDF_VERIFY, "password", 1);
		if (rc != API_SUSPENDED)
			give_back(r, a, 1);
		return rc;
	case 1:
		if (a->job.rc == BROKER_E_BADPASS)
			return api_fail(r, API_E_UNAUTH,
			    "wrong login or password");
		give_back(r, a, 1);
		if (a->job.rc != 0)
			return a->job.rc;
		api_throttle_key(lkey, "l:", a->login);
		api_throttle_clear(r->srv->throttle, lkey);
		/*
		 * Each session is a record, and so is its audit entry: even
		 * with the password, an account makes only so many.
		 */
		if ((rc = api_throttle_admit(r, r->srv->quota, "n:",
			 a->customer_id, r->srv->cfg.session_create_max,
			 "too many log-ins to this account lately; try again "
			 "later")) != 0)
			return rc;
		a->sn.customer_id = a->customer_id;
		a->sn.epoch = a->epoch;
		a->sn.now = now;
		a->sn.lifetime = r->srv->cfg.session_lifetime;
		a->step = 2;
		return api_write(r, broker_session_create, &a->sn);
	default:
		if (!a->cookie)
			return api_respond_json(r, 201, json_pack("{s:s, s:s, s:I, "
			    "s:I, s:s}", "session", a->sn.token, "customer_id",
			    a->customer_id, "expires_at",
			    (json_int_t)a->sn.now + a->sn.lifetime,
			    "idle_timeout", (json_int_t)r->srv->cfg.session_idle,
			    "csrf", a->sn.csrf));
		/* The page never sees the token: it lives in the cookie. */
		rc = api_respond_json(r, 201, json_pack("{s:s, s:I, s:I, s:s}",
		    "customer_id", a->customer_id, "expires_at",
		    (json_int_t)a->sn.now + a->sn.lifetime, "idle_timeout",
		    (json_int_t)r->srv->cfg.session_idle, "csrf", a->sn.csrf));
		return rc != 0 ? rc : api_session_cookie(r, a->sn.token,
					  a->sn.lifetime);
	}
}

/* DELETE /v1/sessions/current and DELETE /v1/sessions: one handler. */
static int
end_sessions(struct api_request *r, broker_write_fn fn)
{
	struct acct *a = acct_get(r);

	if (a == NULL)
		return API_E_NOMEM;
	if (a->step == 0) {
		a->se.token = r->token;
		a->se.token_len = r->token_len;
		a->se.customer_id = r->customer_id;
		a->se.now = api_wall_now();
		if (fn == broker_session_revoke_all)
			a->se.token = NULL; /* this session goes too */
		a->step = 1;
		return api_write(r, fn, &a->se);
	}
	return respond_ended(r);
}

int
api_h_logout(struct api_request *r)
{
	return end_sessions(r, broker_session_delete);
}

int
api_h_logout_all(struct api_request *r)
{
	return end_sessions(r, broker_session_revoke_all);
}

/* PUT /v1/me/password {current, new} */
int
api_h_password(struct api_request *r)
{
	static const char *const fields[] = { "current", "new", NULL };
	struct acct *a = acct_get(r);
	struct broker_customer c;
	struct broker_txn *t = NULL;
	const char *pw, *why;
	size_t plen;
	int64_t now = api_wall_now();
	int rc;

	if (a == NULL)
		return API_E_NOMEM;
	switch (a->step) {
	case 0:
		if ((rc = api_json_strings(r, fields, 2)) != 0)
			return rc;
		if ((rc = broker_read_begin(r->srv->store, &t)) != 0)
			return rc;
		rc = broker_customer_get(t, r->customer_id, &c);
		broker_read_end(t);
		if (rc == 0) {
			memcpy(a->login, c.login, sizeof(a->login));
			memcpy(a->job.encoded, c.pw, sizeof(c.pw));
		}
		certs_wipe(&c, sizeof(c));
		if (rc != 0)
			return rc;
		pw = api_json_str(r, "new", &plen);
		if ((rc = policy_password_check(pw, plen, a->login, &why)) != 0)
			return api_fail(r, rc, "%s", why);
		/* Counted as a failure now, given back if it is not one. */
		if ((rc = api_throttle_admit(r, r->srv->throttle, "l:",
			 a->login, r->srv->cfg.login_max_failures,
			 "too many failed attempts; try again later")) != 0)
			return rc;
		rc = kdf_member(r, a, BROKER_KDF_VERIFY, "current", 1);
		if (rc != API_SUSPENDED)
			give_back(r, a, 0);
		return rc;
	case 1:
		if (a->job.rc == BROKER_E_BADPASS)
			return api_fail(r, API_E_WRONG_PASSWORD,
			    "the current password is wrong");
		give_back(r, a, 0);
		if (a->job.rc != 0)
			return a->job.rc;
		memset(&a->job, 0, sizeof(a->job));
		return kdf_member(r, a, BROKER_KDF_HASH, "new", 2);
	case 2:
		if (a->job.rc != 0)
			return a->job.rc;
		/* Every other session ends; this one carries over. */
		a->se.token = r->token;
		a->se.token_len = r->token_len;
		a->se.customer_id = r->customer_id;
		a->se.new_pw = a->job.encoded;
		a->se.now = now;
		a->step = 3;
		return api_write(r, broker_session_revoke_all, &a->se);
	default:
		return respond_empty(r);
	}
}

/* ---- session authentication --------------------------------------------- */

struct touch {
	struct broker_session_end e;
	char token[257];
	char cid[BROKER_ID_LEN + 1];
};

static void
touch_done(void *cookie, int rc)
{
	(void)rc; /* best effort: a lost touch only shortens the idle limit */
	certs_free_secret(cookie, sizeof(struct touch));
}

/* Records the session's use without making the request wait for it. */
static void
touch(struct api_request *r, int64_t now)
{
	struct touch *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return;
	memcpy(t->token, r->token, r->token_len);
	memcpy(t->cid, r->customer_id, sizeof(t->cid));
	t->e.token = t->token;
	t->e.token_len = r->token_len;
	t->e.customer_id = t->cid;
	t->e.now = now;
	if (broker_write_submit(r->srv->store, broker_session_touch, &t->e,
		touch_done, t) != 0)
		touch_done(t, 0);
}

struct cookie_scan {
	const char *value;
	int count;
};

static enum MHD_Result
cookie_one(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct cookie_scan *c = cls;

	(void)kind;
	/* Names are case-sensitive (RFC 6265): "__host-ccx" is not ours. */
	if (strcmp(key, API_SESSION_COOKIE) == 0) {
		c->value = value;
		c->count++;
	}
	return MHD_YES;
}

/*
 * The session cookie's value, or NULL.  Two cookies of that name make it
 * ambiguous which session is meant (one may have been planted): neither.
 */
static const char *
session_cookie(struct api_request *r)
{
	struct cookie_scan c = { NULL, 0 };

	MHD_get_connection_values(r->conn, MHD_COOKIE_KIND, cookie_one, &c);
	return c.count == 1 ? c.value : NULL;
}

int
api_session_auth(struct api_request *r, const char *authz)
{
	struct broker_session s;
	struct broker_txn *t = NULL;
	const char *tok;
	size_t len;
	int64_t now = api_wall_now();
	int rc;

	if (authz != NULL && strncasecmp(authz, "Bearer ", 7) == 0)
		tok = authz + 7;
	else if ((tok = session_cookie(r)) != NULL)
		r->via_cookie = 1;
	else
		return api_fail(r, API_E_UNAUTH, "a session token is required");
	len = strlen(tok);
	if (len == 0 || len > 256)
		return api_fail(r, API_E_UNAUTH, "session invalid or expired");
	if ((rc = broker_read_begin(r->srv->store, &t)) != 0)
		return rc;
	rc = broker_session_lookup(t, tok, len, now, r->srv->cfg.session_idle,
	    &s);
	broker_read_end(t);
	if (rc == BROKER_E_NOTFOUND || rc == BROKER_E_EXPIRED)
		return api_fail(r, API_E_UNAUTH, "session invalid or expired");
	if (rc != 0)
		return rc;
	/*
	 * A cookie travels with requests other sites make the browser send:
	 * a change made with one must prove it comes from the page itself.
	 */
	if (r->via_cookie && strcmp(r->method, "GET") != 0 &&
	    strcmp(r->method, "HEAD") != 0) {
		const char *x = MHD_lookup_connection_value(r->conn,
		    MHD_HEADER_KIND, "X-CSRF-Token");

		if (x == NULL || strlen(x) != BROKER_ID_LEN ||
		    !certs_ct_equal(x, s.csrf, BROKER_ID_LEN)) {
			certs_wipe(&s, sizeof(s));
			return api_fail(r, API_E_FORBIDDEN,
			    "missing or wrong X-CSRF-Token");
		}
	}
	memcpy(r->customer_id, s.customer_id, sizeof(r->customer_id));
	memcpy(r->csrf, s.csrf, sizeof(r->csrf));
	r->session_expires = s.expires;
	r->token = tok;
	r->token_len = len;
	if (now - s.seen >= touch_every(r->srv->cfg.session_idle))
		touch(r, now);
	certs_wipe(&s, sizeof(s));
	return 0;
}

int
api_session_cookie(struct api_request *r, const char *token, int64_t max_age)
{
	char v[BROKER_TOKEN_LEN + 128];
	int n;

	/*
	 * __Host-: only ever set over TLS, for this host, for every path.
	 * Lax so that a company's "Connect" link finds the customer logged in.
	 */
	n = snprintf(v, sizeof(v), "%s=%s; Path=/; Secure; HttpOnly; "
	    "SameSite=Lax; Max-Age=%lld", API_SESSION_COOKIE, token,
	    (long long)max_age);
	if (n < 0 || (size_t)n >= sizeof(v))
		return API_E_INTERNAL;
	n = api_add_header(r, MHD_HTTP_HEADER_SET_COOKIE, v);
	certs_wipe(v, sizeof(v));
	return n;
}

/* GET /v1/sessions/current */
int
api_h_session(struct api_request *r)
{
	struct broker_customer c;
	struct broker_txn *t = NULL;
	int rc;

	if ((rc = broker_read_begin(r->srv->store, &t)) != 0)
		return rc;
	rc = broker_customer_get(t, r->customer_id, &c);
	broker_read_end(t);
	if (rc == 0)
		rc = api_respond_json(r, 200, json_pack("{s:s, s:s, s:I, s:s}",
		    "customer_id", c.id, "login", c.login, "expires_at",
		    (json_int_t)r->session_expires, "csrf", r->csrf));
	certs_wipe(&c, sizeof(c));
	return rc;
}
