/*
 * load.c - the benchmark's bulk loader.
 *
 * Fills an initialised data directory through the broker's own storage
 * code: N customers ("user0".."user<N-1>"), each with a ~1.5 KB profile
 * (every standard section plus a custom "loyalty" section) and a grant to
 * the company "bench" covering every top-level section, purpose service,
 * expiring in a year.  Then mints access tokens offline, exactly as the
 * token endpoint does (same claims, pairwise subject and signing key), and
 * writes them one per line:
 *
 *   WARM file: one token for each of the first WARM customers;
 *   WARM file + ".grants": those customers' grant ids (for issuance);
 *   COLD file: COLD distinct tokens (customer i mod N, fresh jti each).
 *
 * Every customer shares one password hash computed once at the test-only
 * KDF cost (64 KiB, 1 pass): the benchmark never logs in.
 *
 * usage: load DATA_DIR ISSUER KID N WARM_FILE WARM COLD_FILE COLD
 *        [MAP_SIZE_BYTES]
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "bench/clock.h"
#include "broker/broker.h"
#include "certs/certs.h"
#include "policy/policy.h"

#define COMPANY "bench"
#define BATCH 1000
#define TOKEN_TTL 3600
#define SUB_LEN 43 /* base64url of 32 bytes */

static const char *const sections[] = { "identity", "contact",
	"communication", "language", "interests", "sizes", "diet",
	"accessibility", "loyalty" };

struct cust {
	char id[BROKER_ID_LEN + 1];
	char grant[BROKER_ID_LEN + 1];
	char sub[SUB_LEN + 1];
};

static struct cust *custs;
static char pw_hash[BROKER_KDF_ENCODED_MAX];
static char *scope_text;
static const char *issuer;
static struct certs_signkey *signer;
static int64_t now;

static void
die(const char *what, int rc)
{
	fprintf(stderr, "load: %s failed (%d)\n", what, rc);
	exit(1);
}

static const char *const first[] = { "Ada", "Grace", "Alan", "Edsger",
	"Barbara", "Donald", "Frances", "Ken", "Margaret", "Dennis" };
static const char *const last[] = { "Lovelace", "Hopper", "Turing",
	"Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton",
	"Ritchie" };
static const char *const cities[] = { "London", "Bath", "York", "Leeds",
	"Bristol", "Norwich", "Exeter" };
static const char *const freqs[] = { "never", "daily", "weekly", "monthly" };
static const char *const shirts[] = { "XS", "S", "M", "L", "XL" };
static const char *const tiers[] = { "bronze", "silver", "gold",
	"platinum" };

/* A realistic profile of about 1.5 KB, varied by i; compact, sorted keys. */
static char *
profile_json(size_t i)
{
	char name[64], email[96], phone[32], street[64], postcode[16];
	char why[256] = "";
	const char *fn = first[i % 10], *ln = last[(i / 10) % 10];
	json_t *doc;
	char *text;
	int rc;

	snprintf(name, sizeof(name), "%s %s", fn, ln);
	snprintf(email, sizeof(email), "user%zu@example.org", i);
	snprintf(phone, sizeof(phone), "+4416329%05zu", i % 100000);
	snprintf(street, sizeof(street), "%zu Analytical Row", 1 + i % 250);
	snprintf(postcode, sizeof(postcode), "N%zu 9GU", 1 + i % 20);
	doc = json_pack("{s:{s:s, s:s, s:s},"
			" s:{s:s, s:s, s:{s:s, s:s, s:s, s:s}},"
			" s:{s:[s, s], s:s, s:{s:s, s:s, s:s}, s:b},"
			" s:s,"
			" s:[s, s, s, s, s, s, s, s],"
			" s:{s:i, s:s, s:i, s:s},"
			" s:{s:b, s:b, s:b, s:b, s:[s, s]},"
			" s:{s:b, s:b, s:b, s:s},"
			" s:{s:s, s:s, s:[s, s, s], s:i, s:s,"
			"  s:{s:[s, s, s, s], s:s, s:b, s:s, s:s}}}",
	    "identity", "name", name, "preferred_name", fn, "pronouns",
	    i % 3 == 0 ? "she/her" : i % 3 == 1 ? "he/him" : "they/them",
	    "contact", "email", email, "phone", phone, "postal", "street",
	    street, "city", cities[i % 7], "postcode", postcode, "country",
	    "GB",
	    "communication", "channels", "email", i % 2 ? "post" : "sms",
	    "frequency", freqs[i % 4], "quiet_hours", "start", "21:00", "end",
	    "08:00", "tz", "Europe/London", "do_not_contact", (int)(i % 17 == 0),
	    "language", i % 5 == 0 ? "fr-FR" : "en-GB",
	    "interests", "mathematics", "poetry", "engines", "music", "horses",
	    "astronomy", "weaving", i % 2 ? "chess" : "go",
	    "sizes", "shoe_eu", (int)(36 + i % 11), "shirt", shirts[i % 5],
	    "dress_uk", (int)(8 + 2 * (i % 6)), "glove", "6.5",
	    "diet", "vegetarian", (int)(i % 4 == 0), "vegan", (int)(i % 8 == 0),
	    "halal", (int)(i % 9 == 0), "kosher", (int)(i % 11 == 0),
	    "allergies", "peanuts", "shellfish",
	    "accessibility", "large_text", (int)(i % 6 == 0), "screen_reader",
	    (int)(i % 13 == 0), "captions", 1, "notes",
	    "Prefers written summaries after phone calls; quiet rooms for "
	    "appointments; no calls before ten in the morning, please. Step-free "
	    "access needed at the London store: use the side entrance.",
	    "loyalty", "member_since", "2019-04-01", "tier", tiers[i % 4],
	    "stores", "london-1", "bath-2", "york-1", "points",
	    (int)((i * 37) % 50000), "notes",
	    "Collects limited prints; notify about exhibitions in the north "
	    "of England and about members' evenings at the London store.",
	    "preferences", "newsletter_topics", "new-arrivals", "events",
	    "workshops", i % 2 ? "sale-previews" : "artist-talks",
	    "store_pickup", i % 3 ? "london-1" : "bath-2", "gift_wrap",
	    (int)(i % 2), "delivery_notes",
	    "Leave parcels with the concierge at the front desk; ring the "
	    "bell twice and wait, the flat is on the fourth floor.",
	    "referral_code", i % 7 ? "SPRING-FRIENDS" : "MEMBER-GUEST");
	if (doc == NULL)
		die("json_pack(profile)", -1);
	if ((rc = policy_profile_validate(doc, why, sizeof(why))) != 0) {
		fprintf(stderr, "load: profile invalid: %s\n", why);
		exit(1);
	}
	text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS |
	    JSON_REAL_PRECISION(15));
	json_decref(doc);
	if (text == NULL)
		die("json_dumps(profile)", -1);
	return text;
}

struct batch {
	size_t from, to;
};

/* One shared commit: customer, profile and grant for [from, to). */
static int
load_batch(struct broker_txn *t, void *arg)
{
	const struct batch *b = arg;
	char login[32], etag[BROKER_ETAG_LEN + 1];
	const char *cur;
	size_t len, i;
	int rc;

	for (i = b->from; i < b->to; i++) {
		struct broker_customer_new cn = { 0 };
		struct broker_profile_put pp = { 0 };
		struct broker_grant_new gn = { 0 };
		char *json;

		snprintf(login, sizeof(login), "user%zu", i);
		cn.login = login;
		cn.pw = pw_hash;
		cn.now = now;
		if ((rc = broker_customer_create(t, &cn)) != 0)
			return rc;
		if ((rc = broker_profile_get(t, cn.id, &cur, &len, etag)) != 0)
			return rc;
		json = profile_json(i);
		pp.customer_id = cn.id;
		pp.if_match = etag;
		pp.json = json;
		pp.len = strlen(json);
		rc = broker_profile_put(t, &pp);
		free(json);
		if (rc != 0)
			return rc;
		gn.customer = cn.id;
		gn.company = COMPANY;
		gn.scopes = scope_text;
		gn.purpose = "service";
		gn.expires = now + 365 * 86400;
		gn.now = now;
		if ((rc = broker_grant_create(t, &gn)) != 0)
			return rc;
		memcpy(custs[i].id, cn.id, sizeof(cn.id));
		memcpy(custs[i].grant, gn.id, sizeof(gn.id));
	}
	return 0;
}

/* The pairwise subject, as api_pairwise_sub computes it. */
static void
pairwise_sub(const char *key, size_t keylen, struct cust *c)
{
	char msg[BROKER_ID_LEN + sizeof(COMPANY)];
	uint8_t mac[CERTS_SHA256_LEN];

	memcpy(msg, c->id, BROKER_ID_LEN);
	memcpy(msg + BROKER_ID_LEN, COMPANY, sizeof(COMPANY) - 1);
	if (certs_hmac_sha256(key, keylen, msg,
		BROKER_ID_LEN + sizeof(COMPANY) - 1, mac) != 0 ||
	    certs_b64url_encode(mac, sizeof(mac), c->sub, sizeof(c->sub)) != 0)
		die("pairwise subject", -1);
}

/* An access token for customer c, as sign_access in api/oauth.c makes it. */
static char *
mint(const struct cust *c)
{
	char jti[32], *jwt = NULL;
	size_t len;
	json_t *claims;
	int rc;

	if (certs_random_token(jti, sizeof(jti), 16) != 0)
		die("certs_random_token", -1);
	claims = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s}",
	    "iss", issuer, "aud", issuer, "sub", c->sub, "client_id", COMPANY,
	    "grant_id", c->grant, "scope", scope_text, "iat", (json_int_t)now,
	    "nbf", (json_int_t)now, "exp", (json_int_t)(now + TOKEN_TTL), "jti",
	    jti);
	if (claims == NULL)
		die("json_pack(claims)", -1);
	if ((rc = certs_jwt_sign(signer, claims, &jwt, &len)) != 0)
		die("certs_jwt_sign", rc);
	json_decref(claims);
	return jwt;
}

struct mint_job {
	size_t from, to, n_custs;
	char *buf;
	size_t len, cap;
};

static void *
mint_range(void *arg)
{
	struct mint_job *j = arg;
	size_t i;

	for (i = j->from; i < j->to; i++) {
		char *jwt = mint(&custs[i % j->n_custs]);
		size_t l = strlen(jwt);

		if (j->len + l + 1 > j->cap) {
			j->cap = j->cap * 2 + l + 1 + 65536;
			if ((j->buf = realloc(j->buf, j->cap)) == NULL)
				die("realloc", -1);
		}
		memcpy(j->buf + j->len, jwt, l);
		j->buf[j->len + l] = '\n';
		j->len += l + 1;
		free(jwt);
	}
	return NULL;
}

/* Writes count tokens (customer i mod n_custs) to path, minted in parallel. */
static void
mint_file(const char *path, size_t count, size_t n_custs)
{
	long np = sysconf(_SC_NPROCESSORS_ONLN);
	size_t nt = np < 1 ? 1 : np > 32 ? 32 : (size_t)np, k;
	struct mint_job jobs[32];
	pthread_t th[32];
	FILE *f;

	if (count < nt)
		nt = count ? count : 1;
	for (k = 0; k < nt; k++) {
		jobs[k] = (struct mint_job){ .from = count * k / nt,
			.to = count * (k + 1) / nt, .n_custs = n_custs };
		if (pthread_create(&th[k], NULL, mint_range, &jobs[k]) != 0)
			die("pthread_create", -1);
	}
	if ((f = fopen(path, "w")) == NULL) {
		fprintf(stderr, "load: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	for (k = 0; k < nt; k++) {
		pthread_join(th[k], NULL);
		if (jobs[k].len && fwrite(jobs[k].buf, 1, jobs[k].len, f) !=
			jobs[k].len)
			die("fwrite", -1);
		free(jobs[k].buf);
	}
	if (fclose(f) != 0)
		die("fclose", -1);
}

/* The grant ids of the first count customers, to path + ".grants". */
static void
grants_file(const char *path, size_t count)
{
	char name[BROKER_PATH_MAX];
	FILE *f;

	snprintf(name, sizeof(name), "%s.grants", path);
	if ((f = fopen(name, "w")) == NULL) {
		fprintf(stderr, "load: %s: %s\n", name, strerror(errno));
		exit(1);
	}
	for (size_t i = 0; i < count; i++)
		fprintf(f, "%s\n", custs[i].grant);
	if (fclose(f) != 0)
		die("fclose", -1);
}

int
main(int argc, char **argv)
{
	struct broker_store_opts so = { 0 };
	struct broker_kdf_opts ko = { .m_kib = 64, .t_cost = 1 };
	struct broker_kdf_job kj = { 0 };
	struct broker_store *store = NULL;
	struct policy_scopes *sc;
	char path[BROKER_PATH_MAX], rel[128], *pkey = NULL;
	size_t n, warm, cold, pklen, i, k;
	double t0, t1, t2, t3;
	int rc;

	if (argc < 9 || argc > 10) {
		fprintf(stderr, "usage: load DATA_DIR ISSUER KID N WARM_FILE WARM"
				" COLD_FILE COLD [MAP_SIZE_BYTES]\n");
		return 2;
	}
	issuer = argv[2];
	n = strtoull(argv[4], NULL, 10);
	warm = strtoull(argv[6], NULL, 10);
	cold = strtoull(argv[8], NULL, 10);
	if (argc == 10)
		so.map_size = strtoull(argv[9], NULL, 10);
	if (n == 0 || warm > n)
		die("arguments (need 0 < WARM <= N)", -1);
	now = (int64_t)time(NULL);
	if ((custs = calloc(n, sizeof(*custs))) == NULL)
		die("calloc", -1);

	/* Scopes: every top-level section, in canonical form. */
	if ((sc = policy_scopes_new()) == NULL)
		die("policy_scopes_new", -1);
	for (k = 0; k < sizeof(sections) / sizeof(sections[0]); k++) {
		char s[64];

		snprintf(s, sizeof(s), "read:%s", sections[k]);
		if ((rc = policy_scopes_add(sc, s, strlen(s), NULL, 0)) != 0)
			die("policy_scopes_add", rc);
	}
	if ((scope_text = policy_scopes_format(sc)) == NULL)
		die("policy_scopes_format", -1);
	policy_scopes_free(sc);

	/* One password hash shared by every customer. */
	kj.op = BROKER_KDF_HASH;
	kj.password = "correct horse battery staple";
	kj.password_len = strlen(kj.password);
	if ((rc = broker_kdf_run(&ko, &kj)) != 0)
		die("broker_kdf_run", rc);
	memcpy(pw_hash, kj.encoded, sizeof(pw_hash));

	/* Keys. */
	snprintf(rel, sizeof(rel), "keys/%s.key", argv[3]);
	if (broker_path(path, argv[1], rel) != 0 ||
	    (rc = certs_signkey_load(path, &signer)) != 0)
		die("certs_signkey_load", rc);
	if (broker_path(path, argv[1], "pairwise.key") != 0 ||
	    (rc = certs_file_read_private(path, &pkey, &pklen)) != 0)
		die("reading pairwise.key", rc);

	if ((rc = broker_store_open(argv[1], &so, &store)) != 0) {
		fprintf(stderr, "load: broker_store_open: %s\n",
		    broker_strerror(rc));
		return 1;
	}
	{
		char *sample = profile_json(0);

		printf("profile: %zu bytes stored (customer 0)\n",
		    strlen(sample));
		free(sample);
	}
	t0 = bench_seconds();
	for (i = 0; i < n; i += BATCH) {
		struct batch b = { i, i + BATCH < n ? i + BATCH : n };

		if ((rc = broker_write(store, load_batch, &b)) != 0) {
			fprintf(stderr, "load: batch at %zu: %s\n", i,
			    broker_strerror(rc));
			return 1;
		}
	}
	t1 = bench_seconds();
	broker_store_close(store);
	printf("customers: %zu loaded in %.2f s (%.0f/s)\n", n, t1 - t0,
	    (double)n / (t1 - t0));

	for (i = 0; i < n; i++)
		pairwise_sub(pkey, pklen, &custs[i]);
	certs_free_secret(pkey, pklen);
	t2 = bench_seconds();
	mint_file(argv[5], warm, warm ? warm : 1);
	grants_file(argv[5], warm);
	mint_file(argv[7], cold, n);
	t3 = bench_seconds();
	printf("tokens: %zu warm + %zu cold minted in %.2f s\n", warm, cold,
	    t3 - t2);
	certs_signkey_free(signer);
	free(scope_text);
	free(custs);
	return 0;
}
