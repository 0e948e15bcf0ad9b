/*
 * keys.c - the daemon's view of the token-signing keys and the pairwise
 * secret.
 *
 * A key ring holds every published key (public halves, from the store) for
 * verification and the JWKS document, and the newest active key's private
 * half (from its 0600 file) for signing.  Rings are immutable once built,
 * so readers need no lock.  Private material is wiped when a ring is freed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "certs/certs.h"

struct build {
	struct api_server *srv;
	struct api_keyring *ring;
	json_t *jwks;
	int rc;
	char err[160];
};

static int
add_key(void *arg, const json_t *rec)
{
	struct build *b = arg;
	struct api_keyring *k = b->ring;
	const char *kid = json_string_value(json_object_get(rec, "kid"));
	const char *x = json_string_value(json_object_get(rec, "x"));
	const char *state = json_string_value(json_object_get(rec, "state"));
	uint8_t pub[CERTS_ED25519_PUB_LEN];
	char rel[96], path[BROKER_PATH_MAX];
	size_t len;
	int rc;

	if (kid == NULL || x == NULL || state == NULL ||
	    strlen(kid) >= sizeof(k->kid[0]) ||
	    certs_b64url_decode(x, strlen(x), pub, sizeof(pub), &len) != 0 ||
	    len != sizeof(pub))
		return b->rc = BROKER_E_CORRUPT;
	if (strcmp(state, "retired") == 0)
		return 0;
	if (k->n == API_MAX_KEYS)
		return b->rc = API_E_CONFIG;
	if (certs_signkey_from_public(pub, &k->key[k->n]) != 0)
		return b->rc = BROKER_E_CORRUPT;
	memcpy(k->kid[k->n], kid, strlen(kid) + 1);
	k->activates[k->n] = json_integer_value(json_object_get(rec,
	    "activates"));
	k->seq[k->n] = json_integer_value(json_object_get(rec, "seq"));
	/* The private half, when this host has it (0600, else refused). */
	snprintf(rel, sizeof(rel), "keys/%s.key", kid);
	if (broker_path(path, b->srv->cfg.data_dir, rel) == 0 &&
	    (rc = certs_signkey_load(path, &k->priv[k->n])) != 0 &&
	    rc != CERTS_E_NOTFOUND) {
		snprintf(b->err, sizeof(b->err), "%s: %s", rel,
		    certs_strerror(rc));
		k->n++;
		return b->rc = API_E_CONFIG;
	}
	k->n++;
	if (json_array_append_new(json_object_get(b->jwks, "keys"),
		json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "OKP", "crv",
		    "Ed25519", "x", x, "kid", kid, "use", "sig", "alg",
		    "EdDSA")) != 0)
		return b->rc = API_E_NOMEM;
	return 0;
}

int
api_keyring_load(struct api_server *srv, struct api_keyring **out,
    char *errbuf, size_t errcap)
{
	struct build b = { .srv = srv };
	struct broker_txn *t = NULL;
	int rc;

	*out = NULL;
	if ((b.ring = calloc(1, sizeof(*b.ring))) == NULL ||
	    (b.jwks = json_pack("{s:[]}", "keys")) == NULL) {
		rc = API_E_NOMEM;
		goto out;
	}
	if ((rc = broker_read_begin(srv->store, &t)) != 0)
		goto out;
	rc = broker_keys_generation(t, &b.ring->gen);
	if (rc == 0)
		rc = broker_keys_each(t, add_key, &b);
	broker_read_end(t);
	if (rc == 0)
		rc = b.rc;
	if (rc != 0) {
		snprintf(errbuf, errcap, "signing keys: %s", b.err[0] ? b.err
		    : rc < -299 && rc > -400 ? broker_strerror(rc)
					     : api_strerror(rc));
		goto out;
	}
	if (api_keyring_signer(b.ring, INT64_MAX) == NULL) {
		snprintf(errbuf, errcap, "signing keys: no key with its private "
		    "half in keys/");
		rc = API_E_CONFIG;
		goto out;
	}
	b.ring->jwks = json_dumps(b.jwks, JSON_COMPACT);
	if (b.ring->jwks == NULL) {
		rc = API_E_NOMEM;
		goto out;
	}
	b.ring->jwks_len = strlen(b.ring->jwks);
	*out = b.ring;
	b.ring = NULL;
out:
	json_decref(b.jwks);
	api_keyring_free(b.ring);
	return rc;
}

void
api_keyring_free(struct api_keyring *k)
{
	while (k != NULL) {
		struct api_keyring *older = k->older;

		for (size_t i = 0; i < k->n; i++) {
			certs_signkey_free(k->key[i]);
			certs_signkey_free(k->priv[i]);
		}
		free(k->jwks);
		free(k);
		k = older;
	}
}

const struct certs_signkey *
api_keyring_signer(const struct api_keyring *k, int64_t now)
{
	const struct certs_signkey *best = NULL;
	int64_t at = INT64_MIN, seq = INT64_MIN;

	/* As broker_key_signing: latest activation, then latest published. */
	for (size_t i = 0; i < k->n; i++) {
		if (k->priv[i] == NULL || k->activates[i] > now)
			continue;
		if (k->activates[i] > at ||
		    (k->activates[i] == at && k->seq[i] > seq)) {
			best = k->priv[i];
			at = k->activates[i];
			seq = k->seq[i];
		}
	}
	return best;
}

const struct api_keyring *
api_keys(struct api_server *srv, struct broker_txn *t)
{
	struct api_keyring *cur = atomic_load(&srv->keys), *fresh = NULL;
	char err[200];
	uint64_t gen;

	if (t == NULL || broker_keys_generation(t, &gen) != 0 ||
	    gen == cur->gen ||
	    gen == atomic_load_explicit(&srv->keys_bad_gen,
		       memory_order_relaxed))
		return cur;
	pthread_mutex_lock(&srv->keys_lock);
	cur = atomic_load(&srv->keys);
	if (gen != cur->gen) {
		if (api_keyring_load(srv, &fresh, err, sizeof(err)) == 0) {
			fresh->older = cur;
			atomic_store(&srv->keys, fresh);
			cur = fresh;
		} else {
			/* Said once per generation, not once per request. */
			atomic_store(&srv->keys_bad_gen, gen);
			fprintf(stderr, "ccx-broker: keeping the current keys: "
			    "%s\n", err);
		}
	}
	pthread_mutex_unlock(&srv->keys_lock);
	return cur;
}

const struct certs_signkey *
api_keyring_find(void *arg, const char *kid)
{
	const struct api_keyring *k = arg;

	for (size_t i = 0; i < k->n; i++)
		if (strcmp(k->kid[i], kid) == 0)
			return k->key[i];
	return NULL;
}

int
api_pairwise_load(struct api_server *srv, char *errbuf, size_t errcap)
{
	char path[BROKER_PATH_MAX], *data = NULL;
	size_t len = 0;
	int rc;

	if (broker_path(path, srv->cfg.data_dir, "pairwise.key") != 0)
		return API_E_CONFIG;
	if ((rc = certs_file_read_private(path, &data, &len)) != 0 ||
	    len != sizeof(srv->pairwise)) {
		snprintf(errbuf, errcap, "%s: %s", path,
		    rc ? certs_strerror(rc) : "wrong length");
		certs_free_secret(data, len);
		return API_E_CONFIG;
	}
	memcpy(srv->pairwise, data, len);
	certs_free_secret(data, len);
	return 0;
}

int
api_pairwise_sub(const struct api_server *srv, const char *customer,
    const char *company, char out[API_SUB_LEN + 1])
{
	uint8_t mac[CERTS_SHA256_LEN];
	char msg[BROKER_ID_LEN + BROKER_CLIENT_ID_MAX + 1];
	size_t cl = strlen(customer), ol = strlen(company);

	/* The customer id has a fixed length: customer || company is
	 * unambiguous without a separator. */
	if (cl != BROKER_ID_LEN || ol > BROKER_CLIENT_ID_MAX)
		return API_E_INTERNAL;
	memcpy(msg, customer, cl);
	memcpy(msg + cl, company, ol);
	if (certs_hmac_sha256(srv->pairwise, sizeof(srv->pairwise), msg,
		cl + ol, mac) != 0 ||
	    certs_b64url_encode(mac, sizeof(mac), out, API_SUB_LEN + 1) != 0)
		return API_E_INTERNAL;
	return 0;
}
