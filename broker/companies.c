/*
 * companies.c - companies: the OAuth clients an admin registers.
 *
 * A company record holds its public description, its exact redirect URIs
 * and the SHA-256 of each live client secret (secrets are 256 random bits,
 * so a fast hash is enough; the plaintext is shown once, at creation, and
 * never stored).  Disabling a company is one flag every token, grant and
 * credential check reads, so it takes effect on the next request.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "broker/broker_int.h"
#include "certs/certs.h"

#define TEXT_MAX 1024 /* bytes of a name, description or site */

int
broker_client_id_check(const char *id)
{
	size_t n = id != NULL ? strlen(id) : 0;

	if (n < 3 || n > BROKER_CLIENT_ID_MAX)
		return BROKER_E_INVAL;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    (i > 0 && (c == '.' || c == '_' || c == '-'));

		if (!ok)
			return BROKER_E_INVAL;
	}
	return 0;
}

/* Printable text of bounded length (no control characters). */
static int
text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/*
 * Redirect URIs are compared exactly, so they must be absolute, without a
 * fragment (RFC 6749 3.1.2), https - or http only for a loopback host
 * (RFC 8252 7.3, native apps).
 */
/* After a loopback host: nothing, a path, or a port then a path. */
static int
loopback_rest_ok(const char *p)
{
	if (*p == ':') {
		size_t n = 0;

		while (p[1 + n] >= '0' && p[1 + n] <= '9')
			n++;
		if (n == 0 || n > 5)
			return 0;
		p += 1 + n;
	}
	return *p == '\0' || *p == '/';
}

static int
redirect_ok(const char *u)
{
	const char *host, *end;

	if (!text_ok(u, 2048) || strchr(u, '#') != NULL ||
	    strpbrk(u, " \t\"<>\\") != NULL)
		return 0;
	if (strncmp(u, "https://", 8) == 0) {
		host = u + 8;
		end = host + strcspn(host, "/?");
		/* No userinfo: "https://good@evil/" goes to evil. */
		return end > host && memchr(host, '@', (size_t)(end - host)) == NULL;
	}
	if (strncmp(u, "http://127.0.0.1", 16) == 0)
		return loopback_rest_ok(u + 16);
	if (strncmp(u, "http://[::1]", 12) == 0)
		return loopback_rest_ok(u + 12);
	if (strncmp(u, "http://localhost", 16) == 0)
		return loopback_rest_ok(u + 16);
	return 0;
}

static int
site_ok(const char *s)
{
	return text_ok(s, TEXT_MAX) && (strncmp(s, "https://", 8) == 0 ||
					   strncmp(s, "http://", 7) == 0);
}

/*
 * Record formats.  Version 1, which older stores hold, is the JSON object.
 * Version 2, written since, puts one state byte (1: disabled) before it,
 * so that the company check of every fetch reads a byte instead of
 * parsing JSON.  A JSON text starts with '{', never with 0 or 1, so the
 * payload alone says which it is.
 */
#define COMPANY_V2 2

/* The state byte of a version-2 payload (0 or 1), or -1: plain JSON. */
static int
state_byte(const void *val, size_t len)
{
	const unsigned char *p = val;

	return len > 0 && p[0] <= 1 ? p[0] : -1;
}

static int
company_load(const void *val, size_t len, json_t **rec)
{
	if (state_byte(val, len) >= 0)
		return broker_rec_load((const char *)val + 1, len - 1, rec);
	return broker_rec_load(val, len, rec);
}

static int
company_put(struct broker_txn *t, const char *id, const json_t *rec,
    int insert)
{
	char *text = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS), *buf;
	size_t n;
	int rc;

	if (text == NULL)
		return BROKER_E_NOMEM;
	n = strlen(text);
	if ((buf = malloc(n + 1)) == NULL) {
		free(text);
		return BROKER_E_NOMEM;
	}
	buf[0] = json_is_true(json_object_get(rec, "disabled")) ? 1 : 0;
	memcpy(buf + 1, text, n);
	rc = (insert ? broker_txn_insert : broker_txn_put)(t,
	    BROKER_DB_COMPANIES, id, strlen(id), buf, n + 1, COMPANY_V2);
	free(buf);
	free(text);
	return rc;
}

/* The stored payload of a company; an id that cannot exist is unknown. */
static int
company_raw(struct broker_txn *t, const char *id, const void **val,
    size_t *len)
{
	if (broker_client_id_check(id) != 0)
		return BROKER_E_NOTFOUND;
	return broker_txn_get(t, BROKER_DB_COMPANIES, id, strlen(id), val, len,
	    NULL);
}

int
broker_company_get(struct broker_txn *t, const char *id, json_t **out)
{
	const void *val;
	size_t len;
	int rc;

	*out = NULL;
	if ((rc = company_raw(t, id, &val, &len)) != 0)
		return rc;
	return company_load(val, len, out);
}

int
broker_company_live(struct broker_txn *t, const char *id)
{
	const void *val;
	size_t len;
	json_t *rec = NULL;
	int rc, state;

	if ((rc = company_raw(t, id, &val, &len)) != 0)
		return rc;
	/* Older records have no state byte: their JSON says. */
	if ((state = state_byte(val, len)) < 0) {
		if ((rc = broker_rec_load(val, len, &rec)) != 0)
			return rc;
		state = json_is_true(json_object_get(rec, "disabled"));
		json_decref(rec);
	}
	return state == 1 ? BROKER_E_DISABLED : 0;
}

static int
secret_hash(const char *secret, size_t len, char out[BROKER_SECRET_LEN + 1])
{
	uint8_t d[CERTS_SHA256_LEN];

	if (certs_sha256(secret, len, d) != 0 ||
	    certs_b64url_encode(d, sizeof(d), out, BROKER_SECRET_LEN + 1) != 0)
		return BROKER_E_STORAGE;
	return 0;
}

int
broker_company_auth(struct broker_txn *t, const char *id, const char *secret,
    size_t len, int64_t now)
{
	char want[BROKER_SECRET_LEN + 1];
	json_t *rec = NULL, *s;
	size_t i;
	int rc, match = 0;

	/* Hash before looking: an unknown id costs the same work. */
	if ((rc = secret_hash(secret, len, want)) != 0)
		return rc;
	rc = broker_company_get(t, id, &rec);
	if (rc == BROKER_E_NOTFOUND)
		return BROKER_E_BADPASS;
	if (rc != 0)
		return rc;
	json_array_foreach(json_object_get(rec, "secrets"), i, s) {
		const char *h = json_string_value(json_object_get(s, "hash"));
		json_int_t exp = json_integer_value(json_object_get(s,
		    "expires"));

		if (h != NULL && strlen(h) == BROKER_SECRET_LEN &&
		    (exp == 0 || now < exp))
			match |= certs_ct_equal(h, want, BROKER_SECRET_LEN);
	}
	if (!match)
		rc = BROKER_E_BADPASS;
	else if (json_is_true(json_object_get(rec, "disabled")))
		rc = BROKER_E_DISABLED;
	json_decref(rec);
	return rc;
}

struct each {
	int (*fn)(void *arg, const char *id, json_t *rec);
	void *arg;
};

static int
each_one(void *arg, const void *key, size_t klen, const void *val, size_t len)
{
	struct each *e = arg;
	char id[BROKER_CLIENT_ID_MAX + 1];
	json_t *rec = NULL;
	int rc;

	if (klen > BROKER_CLIENT_ID_MAX)
		return BROKER_E_CORRUPT;
	memcpy(id, key, klen);
	id[klen] = '\0';
	if ((rc = company_load(val, len, &rec)) != 0)
		return rc;
	rc = e->fn(e->arg, id, rec);
	json_decref(rec);
	return rc;
}

int
broker_company_each(struct broker_txn *t,
    int (*fn)(void *arg, const char *id, json_t *rec), void *arg)
{
	struct each e = { fn, arg };

	return broker_txn_scan(t, BROKER_DB_COMPANIES, NULL, 0, each_one, &e);
}

/* Validates and applies the descriptive fields of a change to rec. */
static int
apply_fields(json_t *rec, const struct broker_company_change *c)
{
	json_t *uris;

	if (c->name != NULL) {
		if (!text_ok(c->name, 128))
			return BROKER_E_INVAL;
		json_object_set_new(rec, "name", json_string(c->name));
	}
	if (c->description != NULL) {
		if (c->description[0] != '\0' &&
		    !text_ok(c->description, TEXT_MAX))
			return BROKER_E_INVAL;
		json_object_set_new(rec, "description",
		    json_string(c->description));
	}
	if (c->site != NULL) {
		if (c->site[0] != '\0' && !site_ok(c->site))
			return BROKER_E_INVAL;
		json_object_set_new(rec, "site", json_string(c->site));
	}
	if (c->n_redirects > 0 || c->clear_redirects) {
		if (c->n_redirects > BROKER_MAX_REDIRECTS)
			return BROKER_E_INVAL;
		if ((uris = json_array()) == NULL)
			return BROKER_E_NOMEM;
		for (size_t i = 0; i < c->n_redirects; i++) {
			if (!redirect_ok(c->redirect_uris[i]) ||
			    json_array_append_new(uris,
				json_string(c->redirect_uris[i])) != 0) {
				json_decref(uris);
				return BROKER_E_INVAL;
			}
		}
		json_object_set_new(rec, "redirect_uris", uris);
	}
	return 0;
}

/* A new secret: the plaintext goes to c->secret, its hash into secrets. */
static int
add_secret(json_t *secrets, struct broker_company_change *c)
{
	char hash[BROKER_SECRET_LEN + 1];
	int rc;

	if (certs_random_token(c->secret, sizeof(c->secret), 32) != 0)
		return BROKER_E_STORAGE;
	if ((rc = secret_hash(c->secret, strlen(c->secret), hash)) != 0)
		return rc;
	return json_array_append_new(secrets, json_pack("{s:s, s:I, s:I}",
	    "hash", hash, "created", (json_int_t)c->now, "expires",
	    (json_int_t)0)) == 0 ? 0 : BROKER_E_NOMEM;
}

int
broker_company_add(struct broker_txn *t, void *arg)
{
	struct broker_company_change *c = arg;
	json_t *rec = NULL, *secrets;
	int rc;

	if (broker_client_id_check(c->id) != 0 || c->name == NULL)
		return BROKER_E_INVAL;
	rec = json_pack("{s:s, s:s, s:s, s:[], s:b, s:I, s:[]}", "name", "",
	    "description", "", "site", "", "redirect_uris", "disabled", 0,
	    "created", (json_int_t)c->now, "secrets");
	if (rec == NULL)
		return BROKER_E_NOMEM;
	secrets = json_object_get(rec, "secrets");
	if ((rc = apply_fields(rec, c)) == 0 && (rc = add_secret(secrets, c)) == 0)
		rc = company_put(t, c->id, rec, 1);
	json_decref(rec);
	if (rc != 0)
		certs_wipe(c->secret, sizeof(c->secret));
	return rc;
}

/* Loads, lets change() edit, stores: the shape of every update. */
static int
modify(struct broker_txn *t, struct broker_company_change *c,
    int (*change)(json_t *rec, struct broker_company_change *c))
{
	json_t *rec = NULL;
	int rc;

	if ((rc = broker_company_get(t, c->id, &rec)) != 0)
		return rc;
	if ((rc = change(rec, c)) == 0)
		rc = company_put(t, c->id, rec, 0);
	json_decref(rec);
	return rc;
}

static int
change_fields(json_t *rec, struct broker_company_change *c)
{
	return apply_fields(rec, c);
}

static int
change_disabled(json_t *rec, struct broker_company_change *c)
{
	return json_object_set_new(rec, "disabled",
		   json_boolean(c->disabled)) == 0 ? 0 : BROKER_E_NOMEM;
}

static int
change_secret(json_t *rec, struct broker_company_change *c)
{
	json_t *old = json_object_get(rec, "secrets"), *keep, *s;
	size_t i;
	int rc;

	if ((keep = json_array()) == NULL)
		return BROKER_E_NOMEM;
	/* Old secrets live on for the overlap, then die; expired ones go. */
	json_array_foreach(old, i, s) {
		json_int_t exp = json_integer_value(json_object_get(s,
		    "expires"));

		if (c->overlap <= 0 || (exp != 0 && exp <= c->now))
			continue;
		if (exp == 0 || exp > c->now + c->overlap)
			json_object_set_new(s, "expires",
			    json_integer(c->now + c->overlap));
		json_array_append(keep, s);
	}
	if ((rc = add_secret(keep, c)) != 0) {
		json_decref(keep);
		return rc;
	}
	return json_object_set_new(rec, "secrets", keep) == 0 ? 0
							       : BROKER_E_NOMEM;
}

int
broker_company_update(struct broker_txn *t, void *arg)
{
	return modify(t, arg, change_fields);
}

int
broker_company_set_disabled(struct broker_txn *t, void *arg)
{
	return modify(t, arg, change_disabled);
}

int
broker_company_new_secret(struct broker_txn *t, void *arg)
{
	struct broker_company_change *c = arg;
	int rc = modify(t, c, change_secret);

	if (rc != 0)
		certs_wipe(c->secret, sizeof(c->secret));
	return rc;
}


/* ---- client certificates (RFC 8705) ------------------------------------ */

/*
 * The entry of rec's "certs" whose x5t is thumb, or NULL.  Were a
 * thumbprint ever listed twice, a revoked entry wins.
 */
static json_t *
find_cert(json_t *rec, const char *thumb)
{
	json_t *c, *found = NULL;
	size_t i, n = strlen(thumb);

	json_array_foreach(json_object_get(rec, "certs"), i, c) {
		const char *x = json_string_value(json_object_get(c, "x5t"));

		if (x != NULL && strlen(x) == n &&
		    certs_ct_equal(x, thumb, n) &&
		    (found == NULL || json_object_get(c, "revoked") != NULL))
			found = c;
	}
	return found;
}

/*
 * 0 when company id registered the certificate thumb and has not revoked
 * it, else BROKER_E_REVOKED (BROKER_E_NOTFOUND: no such company);
 * *disabled receives the company's state.
 */
static int
cert_state(struct broker_txn *t, const char *id, const char *thumb,
    int *disabled)
{
	json_t *rec = NULL, *c;
	int rc;

	*disabled = 0;
	if ((rc = broker_company_get(t, id, &rec)) != 0)
		return rc;
	c = find_cert(rec, thumb);
	rc = c == NULL || json_object_get(c, "revoked") != NULL
	    ? BROKER_E_REVOKED
	    : 0;
	*disabled = json_is_true(json_object_get(rec, "disabled"));
	json_decref(rec);
	return rc;
}

int
broker_company_auth_cert(struct broker_txn *t, const char *id,
    const char *thumb)
{
	int disabled, rc = cert_state(t, id, thumb, &disabled);

	/* Only a holder of a registered certificate learns the state. */
	if (rc == BROKER_E_NOTFOUND || rc == BROKER_E_REVOKED)
		return BROKER_E_BADPASS;
	return rc != 0 ? rc : disabled ? BROKER_E_DISABLED : 0;
}

int
broker_company_cert_live(struct broker_txn *t, const char *id,
    const char *thumb)
{
	int disabled, rc = cert_state(t, id, thumb, &disabled);

	return rc == BROKER_E_NOTFOUND ? BROKER_E_REVOKED : rc;
}

static int
change_cert(json_t *rec, struct broker_company_change *c)
{
	json_t *list = json_object_get(rec, "certs");

	if (!json_is_array(list)) {
		if ((list = json_array()) == NULL ||
		    json_object_set_new(rec, "certs", list) != 0)
			return BROKER_E_NOMEM;
	}
	return json_array_append_new(list, json_pack("{s:s, s:I}", "x5t",
		   c->thumb, "created", (json_int_t)c->now)) == 0
		   ? 0
		   : BROKER_E_NOMEM;
}

static int
register_cert(struct broker_txn *t, void *arg)
{
	return modify(t, arg, change_cert);
}

/* The entry stays, stamped: company show keeps the history. */
static int
change_revoke(json_t *rec, struct broker_company_change *c)
{
	json_t *cert = find_cert(rec, c->thumb);

	if (cert == NULL)
		return BROKER_E_INVAL;
	if (json_object_get(cert, "revoked") != NULL)
		return BROKER_E_REVOKED;
	return json_object_set_new(cert, "revoked", json_integer(c->now)) == 0
	    ? 0
	    : BROKER_E_NOMEM;
}

int
broker_company_cert_revoke(struct broker_txn *t, void *arg)
{
	const struct broker_company_change *c = arg;

	if (c->thumb == NULL)
		return BROKER_E_INVAL;
	return modify(t, arg, change_revoke);
}

int
broker_company_cert(const char *data_dir, struct broker_store *s,
    const char *id, const char *csr_pem, size_t csr_len,
    char cert[BROKER_PATH_MAX], char key[BROKER_PATH_MAX], char thumb[64])
{
	char ca[BROKER_PATH_MAX], cakey[BROKER_PATH_MAX], dir[BROKER_PATH_MAX];
	char rel[BROKER_CLIENT_ID_MAX + 64], tag[17];
	struct broker_txn *t = NULL;
	struct broker_company_change g = { .id = id, .thumb = thumb };
	uint8_t rnd[8];
	int rc;

	cert[0] = key[0] = thumb[0] = '\0';
	if ((rc = broker_read_begin(s, &t)) != 0)
		return rc;
	rc = broker_company_live(t, id);
	broker_read_end(t);
	if (rc != 0)
		return rc;
	if ((rc = broker_path(ca, data_dir, "certs/ca.pem")) != 0 ||
	    (rc = broker_path(cakey, data_dir, "certs/ca.key")) != 0 ||
	    (rc = broker_path(dir, data_dir, "certs/clients")) != 0)
		return rc;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return BROKER_E_IO;
	/* A random tag: several certificates of one company may coexist. */
	if (certs_random(rnd, sizeof(rnd)) != 0)
		return BROKER_E_STORAGE;
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(tag + 2 * i, 3, "%02x", rnd[i]);
	snprintf(rel, sizeof(rel), "certs/clients/%s-%s.pem", id, tag);
	if ((rc = broker_path(cert, data_dir, rel)) != 0)
		return rc;
	if (csr_pem == NULL) {
		snprintf(rel, sizeof(rel), "certs/clients/%s-%s.key", id, tag);
		if ((rc = broker_path(key, data_dir, rel)) != 0)
			return rc;
	}
	rc = certs_client_issue(ca, cakey, id, csr_pem, csr_len, 397, cert,
	    csr_pem == NULL ? key : NULL, thumb);
	if (rc != 0) {
		cert[0] = key[0] = '\0';
		return rc == CERTS_E_FORMAT ? BROKER_E_INVAL
		    : rc == CERTS_E_EXISTS  ? BROKER_E_EXISTS
					    : BROKER_E_STORAGE;
	}
	g.now = (int64_t)time(NULL);
	return broker_write(s, register_cert, &g);
}
