/*
 * tokencheck.c - what checking a token costs beyond its signature, on the
 * bench's own cold tokens: the broker's whole check (certs_jwt_verify:
 * split, decode, header, claims, signature) against the bare Ed25519
 * verification of the same bytes (certs_verify), one thread, medians of
 * rounds.  The difference is what a cold fetch must pay on top of the
 * verification and of everything a warm fetch does.
 *
 * usage: tokencheck DATA-DIR KID ISSUER TOKENS-FILE
 * prints: tokencheck: check_us=<median> signature_us=<median> tokens=<n>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/clock.h"
#include "broker/broker.h"
#include "certs/certs.h"

#define TOKENS 2000
#define ROUNDS 5

static struct certs_signkey *key;

static const struct certs_signkey *
find(void *arg, const char *kid)
{
	(void)arg;
	return strcmp(kid, certs_signkey_kid(key)) == 0 ? key : NULL;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	static char line[TOKENS][CERTS_JWT_MAX + 2];
	char path[BROKER_PATH_MAX], rel[128];
	struct certs_jwt_expect ex;
	double check[ROUNDS], sig[ROUNDS];
	size_t n = 0;
	FILE *f;
	int rc;

	if (argc != 5) {
		fprintf(stderr, "usage: tokencheck DATA-DIR KID ISSUER "
				"TOKENS-FILE\n");
		return 2;
	}
	snprintf(rel, sizeof(rel), "keys/%s.key", argv[2]);
	if (broker_path(path, argv[1], rel) != 0 ||
	    (rc = certs_signkey_load(path, &key)) != 0) {
		fprintf(stderr, "tokencheck: cannot load the signing key\n");
		return 1;
	}
	if ((f = fopen(argv[4], "r")) == NULL) {
		perror(argv[4]);
		return 1;
	}
	while (n < TOKENS && fgets(line[n], sizeof(line[n]), f) != NULL) {
		line[n][strcspn(line[n], "\n")] = '\0';
		n += line[n][0] != '\0';
	}
	fclose(f);
	if (n == 0) {
		fprintf(stderr, "tokencheck: no tokens in %s\n", argv[4]);
		return 1;
	}
	ex = (struct certs_jwt_expect){ argv[3], argv[3], (int64_t)time(NULL),
		60 };
	for (int r = 0; r < ROUNDS; r++) {
		double t0 = bench_seconds();

		for (size_t i = 0; i < n; i++) {
			json_t *claims = NULL;

			if ((rc = certs_jwt_verify(line[i], strlen(line[i]),
				 find, NULL, &ex, &claims)) != 0) {
				fprintf(stderr, "tokencheck: token %zu: %s\n",
				    i, certs_strerror(rc));
				return 1;
			}
			json_decref(claims);
		}
		check[r] = (bench_seconds() - t0) / (double)n * 1e6;
		t0 = bench_seconds();
		for (size_t i = 0; i < n; i++) {
			const char *dot = strrchr(line[i], '.');
			uint8_t s[CERTS_ED25519_SIG_LEN];
			size_t sl = 0;

			if (certs_b64url_decode(dot + 1, strlen(dot + 1), s,
				sizeof(s), &sl) != 0 ||
			    certs_verify(key, line[i], (size_t)(dot - line[i]),
				s) != 0) {
				fprintf(stderr, "tokencheck: token %zu: bad "
						"signature\n", i);
				return 1;
			}
		}
		sig[r] = (bench_seconds() - t0) / (double)n * 1e6;
	}
	qsort(check, ROUNDS, sizeof(check[0]), cmp);
	qsort(sig, ROUNDS, sizeof(sig[0]), cmp);
	printf("tokencheck: check_us=%.2f signature_us=%.2f tokens=%zu\n",
	    check[ROUNDS / 2], sig[ROUNDS / 2], n);
	certs_signkey_free(key);
	return 0;
}
