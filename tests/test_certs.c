/*
 * test_certs.c - unit tests of certs/: primitives against published
 * vectors, file modes and refusals, Ed25519 keys against RFC 8037, and the
 * CA and server certificates checked independently with OpenSSL's own
 * X.509 verifier.
 *
 * Every test works in the group's fresh mkdtemp directory and frees what
 * it allocates, so the binary stays clean under valgrind and ASan.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs/certs.h"

/* ---- fixture ------------------------------------------------------------ */

static char g_dir[] = "/tmp/ccx-test-certs-XXXXXX";

struct path {
	char s[512];
};

static struct path
tpath(const char *name)
{
	struct path p;
	size_t dl = strlen(g_dir), nl = strlen(name);

	assert_true(dl + 1 + nl < sizeof(p.s));
	memcpy(p.s, g_dir, dl);
	p.s[dl] = '/';
	memcpy(p.s + dl + 1, name, nl + 1);
	return p;
}

static int
group_setup(void **state)
{
	(void)state;
	return mkdtemp(g_dir) == NULL ? -1 : 0;
}

/* The directory holds files, FIFOs and at most one level of directories. */
static void
remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char sub[1024];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		int n;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		n = snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
		if (n < 0 || (size_t)n >= sizeof(sub))
			continue;
		if (unlink(sub) != 0 && (errno == EISDIR || errno == EPERM)) {
			(void)chmod(sub, 0700);
			remove_tree(sub);
		}
	}
	closedir(d);
	(void)rmdir(dir);
}

static int
group_teardown(void **state)
{
	(void)state;
	remove_tree(g_dir);
	return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static unsigned int
nibble(char c)
{
	if (c >= '0' && c <= '9')
		return (unsigned int)(c - '0');
	if (c >= 'a' && c <= 'f')
		return (unsigned int)(c - 'a' + 10);
	fail_msg("bad hex digit %c", c);
	return 0;
}

static void
hex_to_bin(const char *hex, uint8_t *out, size_t n)
{
	size_t i;

	assert_int_equal(strlen(hex), 2 * n);
	for (i = 0; i < n; i++)
		out[i] = (uint8_t)(nibble(hex[2 * i]) << 4 |
		    nibble(hex[2 * i + 1]));
}

static mode_t
file_mode(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	return st.st_mode & 07777;
}

static int
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Temporary files are hidden ".name.<hex>.tmp": none may survive. */
static void
assert_no_temp_files(void)
{
	DIR *d = opendir(g_dir);
	struct dirent *e;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);

		assert_false(n > 4 && strcmp(e->d_name + n - 4, ".tmp") == 0);
	}
	closedir(d);
}

static void
write_raw(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

static X509 *
load_cert(const char *path)
{
	char *pem = NULL;
	size_t len = 0;
	BIO *bio;
	X509 *x;

	assert_int_equal(certs_file_read(path, &pem, &len), 0);
	bio = BIO_new_mem_buf(pem, (int)len);
	assert_non_null(bio);
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	assert_non_null(x);
	BIO_free(bio);
	free(pem);
	return x;
}

static EVP_PKEY *
load_key(const char *path)
{
	char *pem = NULL;
	size_t len = 0;
	BIO *bio;
	EVP_PKEY *k;

	assert_int_equal(certs_file_read_private(path, &pem, &len), 0);
	assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----"));
	bio = BIO_new_mem_buf(pem, (int)len);
	assert_non_null(bio);
	k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	assert_non_null(k);
	BIO_free(bio);
	certs_free_secret(pem, len);
	return k;
}

/* Standard base64 from OpenSSL, turned into unpadded base64url by hand:
 * an encoder independent of the one under test. */
static void
ref_b64url(const uint8_t *in, size_t len, char *out, size_t cap)
{
	unsigned char tmp[256];
	int n;
	size_t i, o = 0;

	assert_true(4 * ((len + 2) / 3) + 1 <= sizeof(tmp));
	n = EVP_EncodeBlock(tmp, in, (int)len);
	assert_true(n >= 0);
	for (i = 0; i < (size_t)n; i++) {
		char c = (char)tmp[i];

		if (c == '=')
			break;
		assert_true(o + 1 < cap);
		out[o++] = c == '+' ? '-' : c == '/' ? '_' : c;
	}
	out[o] = '\0';
}

/* ---- primitives ----------------------------------------------------------- */

static void
test_strerror(void **state)
{
	static const int codes[] = {CERTS_OK, CERTS_E_CRYPTO, CERTS_E_NOMEM,
	    CERTS_E_IO, CERTS_E_PERM, CERTS_E_EXISTS, CERTS_E_FORMAT,
	    CERTS_E_BADSIG, CERTS_E_INVAL, CERTS_E_MISMATCH, CERTS_E_NOTFOUND};
	const char *unknown = certs_strerror(-199);
	size_t i, j;

	(void)state;
	assert_non_null(unknown);
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		const char *s = certs_strerror(codes[i]);

		assert_non_null(s);
		assert_true(strlen(s) > 0);
		assert_string_not_equal(s, unknown);
		for (j = 0; j < i; j++)
			assert_string_not_equal(s, certs_strerror(codes[j]));
	}
	assert_string_equal(certs_strerror(12345), unknown);
}

static void
test_random_bytes(void **state)
{
	uint8_t a[32], b[32], zero[32] = {0};

	(void)state;
	assert_int_equal(certs_random(a, sizeof(a)), 0);
	assert_int_equal(certs_random(b, sizeof(b)), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_memory_not_equal(a, zero, sizeof(a));
	assert_int_equal(certs_random(NULL, 0), 0);
	assert_int_equal(certs_random(NULL, 1), CERTS_E_INVAL);
}

static void
test_random_token(void **state)
{
	char t1[64], t2[64], big[200];
	uint8_t raw[128];
	size_t i, rawlen = 0;

	(void)state;
	assert_int_equal(certs_random_token(t1, sizeof(t1), 32), 0);
	assert_int_equal(certs_random_token(t2, sizeof(t2), 32), 0);
	assert_int_equal(strlen(t1), 43);
	assert_int_equal(strlen(t2), 43);
	assert_string_not_equal(t1, t2);
	for (i = 0; t1[i] != '\0'; i++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
				       "opqrstuvwxyz0123456789-_",
		    t1[i]));

	/* exactly certs_b64url_len + 1 fits; one less does not */
	assert_int_equal(certs_random_token(t1, 44, 32), 0);
	assert_int_equal(certs_random_token(t1, 43, 32), CERTS_E_INVAL);
	assert_string_equal(t1, "");
	assert_int_equal(certs_random_token(t1, sizeof(t1), 0), CERTS_E_INVAL);
	assert_int_equal(certs_random_token(NULL, 10, 4), CERTS_E_INVAL);

	/* longer than one internal chunk: still one contiguous token */
	assert_int_equal(certs_random_token(big, sizeof(big), 100), 0);
	assert_int_equal(strlen(big), certs_b64url_len(100));
	assert_int_equal(certs_b64url_decode(big, strlen(big), raw,
			     sizeof(raw), &rawlen),
	    0);
	assert_int_equal(rawlen, 100);
}

static void
test_ct_equal(void **state)
{
	const char a[] = "0123456789abcdef", b[] = "0123456789abcdeF";

	(void)state;
	assert_int_equal(certs_ct_equal(a, a, sizeof(a)), 1);
	assert_int_equal(certs_ct_equal(a, b, sizeof(a)), 0);
	assert_int_equal(certs_ct_equal(a, b, 15), 1);
	assert_int_equal(certs_ct_equal("x", "y", 0), 1);
	assert_int_equal(certs_ct_equal(NULL, NULL, 0), 1);
	assert_int_equal(certs_ct_equal(a, NULL, 4), 0);
}

static void
test_wipe(void **state)
{
	uint8_t buf[16], zero[16] = {0};
	char *heap;

	(void)state;
	memset(buf, 0xa5, sizeof(buf));
	certs_wipe(buf, sizeof(buf));
	assert_memory_equal(buf, zero, sizeof(buf));
	certs_wipe(NULL, 10);
	certs_free_secret(NULL, 10);
	heap = malloc(8);
	assert_non_null(heap);
	memcpy(heap, "secret!", 8);
	certs_free_secret(heap, 8);
}

static void
test_sha256_vectors(void **state)
{
	static const struct {
		const char *in;
		const char *hex;
	} rows[] = {
	    {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852"
		 "b855"},
	    {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f2"
		    "0015ad"},
	    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		"248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db"
		"06c1"},
	};
	uint8_t got[CERTS_SHA256_LEN], want[CERTS_SHA256_LEN];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		hex_to_bin(rows[i].hex, want, sizeof(want));
		assert_int_equal(
		    certs_sha256(rows[i].in, strlen(rows[i].in), got), 0);
		assert_memory_equal(got, want, sizeof(want));
	}
	assert_int_equal(certs_sha256(NULL, 0, got), 0);
	hex_to_bin(rows[0].hex, want, sizeof(want));
	assert_memory_equal(got, want, sizeof(want));
	assert_int_equal(certs_sha256(NULL, 1, got), CERTS_E_INVAL);
}

static void
test_hmac_sha256_vectors(void **state)
{
	/* RFC 4231 test cases 1, 2, 3 and 6, and the empty key and data. */
	static const struct {
		const char *key;  /* NULL: key_rep copies of key_byte */
		const char *data; /* NULL: data_rep copies of data_byte */
		const char *hex;
		size_t key_rep, data_rep;
		uint8_t key_byte, data_byte;
	} rows[] = {
	    {NULL, "Hi There",
		"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32"
		"cff7",
		20, 0, 0x0b, 0},
	    {"Jefe", "what do ya want for nothing?",
		"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec"
		"3843",
		0, 0, 0, 0},
	    {NULL, NULL,
		"773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced5"
		"65fe",
		20, 50, 0xaa, 0xdd},
	    {NULL, "Test Using Larger Than Block-Size Key - Hash Key First",
		"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee3"
		"7f54",
		131, 0, 0xaa, 0},
	    {"", "",
		"b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292"
		"c5ad",
		0, 0, 0, 0},
	};
	uint8_t key[200], data[200];
	uint8_t got[CERTS_SHA256_LEN], want[CERTS_SHA256_LEN];
	size_t i, klen, dlen;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (rows[i].key != NULL) {
			klen = strlen(rows[i].key);
			memcpy(key, rows[i].key, klen);
		} else {
			klen = rows[i].key_rep;
			memset(key, rows[i].key_byte, klen);
		}
		if (rows[i].data != NULL) {
			dlen = strlen(rows[i].data);
			memcpy(data, rows[i].data, dlen);
		} else {
			dlen = rows[i].data_rep;
			memset(data, rows[i].data_byte, dlen);
		}
		hex_to_bin(rows[i].hex, want, sizeof(want));
		assert_int_equal(certs_hmac_sha256(key, klen, data, dlen, got),
		    0);
		assert_memory_equal(got, want, sizeof(want));
	}
	/* NULL with zero length is the empty key and the empty message */
	assert_int_equal(certs_hmac_sha256(NULL, 0, NULL, 0, got), 0);
	assert_memory_equal(got, want, sizeof(want));
	assert_int_equal(certs_hmac_sha256(NULL, 1, "", 0, got), CERTS_E_INVAL);
}

/* ---- base64url ------------------------------------------------------------ */

static void
test_b64url_len(void **state)
{
	static const struct {
		size_t n, len;
	} rows[] = {{0, 0}, {1, 2}, {2, 3}, {3, 4}, {4, 6}, {5, 7}, {6, 8},
	    {32, 43}, {64, 86}, {SIZE_MAX, SIZE_MAX}};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_int_equal(certs_b64url_len(rows[i].n), rows[i].len);
}

static void
test_b64url_vectors(void **state)
{
	/* RFC 4648 section 10, plus rows that exercise '-' and '_'. */
	static const struct {
		const char *raw;
		size_t rawlen;
		const char *enc;
	} rows[] = {
	    {"", 0, ""},
	    {"f", 1, "Zg"},
	    {"fo", 2, "Zm8"},
	    {"foo", 3, "Zm9v"},
	    {"foob", 4, "Zm9vYg"},
	    {"fooba", 5, "Zm9vYmE"},
	    {"foobar", 6, "Zm9vYmFy"},
	    {"\xfb\xff", 2, "-_8"},
	    {"\xfb\xef\xbe", 3, "----"},
	    {"\xff\xff\xff", 3, "____"},
	    {"\x03\xef\xff", 3, "A-__"},
	    {"\x00", 1, "AA"},
	    {"\x00\x00\x00\x00", 4, "AAAAAA"},
	};
	char enc[32];
	uint8_t dec[32];
	size_t i, declen;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(certs_b64url_encode(rows[i].raw,
				     rows[i].rawlen, enc, sizeof(enc)),
		    0);
		assert_string_equal(enc, rows[i].enc);
		/* the exact capacity is enough */
		assert_int_equal(certs_b64url_encode(rows[i].raw,
				     rows[i].rawlen, enc,
				     certs_b64url_len(rows[i].rawlen) + 1),
		    0);
		declen = 99;
		assert_int_equal(certs_b64url_decode(rows[i].enc,
				     strlen(rows[i].enc), dec, sizeof(dec),
				     &declen),
		    0);
		assert_int_equal(declen, rows[i].rawlen);
		assert_memory_equal(dec, rows[i].raw, rows[i].rawlen);
		/* the exact capacity is enough */
		assert_int_equal(certs_b64url_decode(rows[i].enc,
				     strlen(rows[i].enc), dec, rows[i].rawlen,
				     &declen),
		    0);
	}
}

static void
test_b64url_rejects(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		int rc;
	} rows[] = {
	    {"Zg==", 4, CERTS_E_FORMAT},	 /* padding */
	    {"Zg=", 3, CERTS_E_FORMAT},		 /* partial padding */
	    {"Zm9v+w", 6, CERTS_E_FORMAT},	 /* standard alphabet */
	    {"Zm9v/w", 6, CERTS_E_FORMAT},	 /* standard alphabet */
	    {"Z", 1, CERTS_E_FORMAT},		 /* 1 mod 4 */
	    {"Zm9vY", 5, CERTS_E_FORMAT},	 /* 1 mod 4 */
	    {"Zm9vYmFyZ", 9, CERTS_E_FORMAT},	 /* 1 mod 4 */
	    {"Zm 9", 4, CERTS_E_FORMAT},	 /* space */
	    {"Zm9\n", 4, CERTS_E_FORMAT},	 /* newline */
	    {"Zm\0v", 4, CERTS_E_FORMAT},	 /* embedded NUL */
	    {"Zm9v\xc3\xa9", 6, CERTS_E_FORMAT}, /* non-ASCII */
	    {"Zm9v.A", 6, CERTS_E_FORMAT},	 /* JWS separator */
	    {"Zh", 2, CERTS_E_FORMAT},		 /* non-zero spare bits */
	    {"Zm9", 3, CERTS_E_FORMAT},		 /* non-zero spare bits */
	};
	uint8_t out[16];
	size_t i, outlen;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		outlen = 77;
		assert_int_equal(certs_b64url_decode(rows[i].in, rows[i].len,
				     out, sizeof(out), &outlen),
		    rows[i].rc);
		assert_int_equal(outlen, 0);
	}
}

/* Every byte value: in the url alphabet it decodes to its index, outside
 * it the whole input is refused. */
static void
test_b64url_every_byte(void **state)
{
	static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	uint8_t out[3];
	size_t outlen;

	(void)state;
	for (int c = 0; c < 256; c++) {
		const char *at = c == 0 ? NULL : strchr(alpha, c);
		char in[4] = { 'A', 'A', 'A', (char)c };

		outlen = 77;
		if (at == NULL) {
			assert_int_equal(certs_b64url_decode(in, 4, out,
					     sizeof(out), &outlen),
			    CERTS_E_FORMAT);
			assert_int_equal(outlen, 0);
			continue;
		}
		assert_int_equal(certs_b64url_decode(in, 4, out, sizeof(out),
				     &outlen),
		    CERTS_OK);
		assert_int_equal(outlen, 3);
		assert_int_equal(out[0], 0);
		assert_int_equal(out[1], 0);
		assert_int_equal(out[2], at - alpha);
	}
}

static void
test_b64url_capacity(void **state)
{
	char enc[8];
	uint8_t dec[8];
	size_t declen = 5;

	(void)state;
	/* "foobar" needs 8 + 1 */
	assert_int_equal(certs_b64url_encode("foobar", 6, enc, 8),
	    CERTS_E_INVAL);
	assert_string_equal(enc, "");
	assert_int_equal(certs_b64url_encode("foobar", 6, NULL, 0),
	    CERTS_E_INVAL);
	assert_int_equal(certs_b64url_encode(NULL, 1, enc, sizeof(enc)),
	    CERTS_E_INVAL);
	assert_int_equal(certs_b64url_decode("Zm9vYmFy", 8, dec, 5, &declen),
	    CERTS_E_INVAL);
	assert_int_equal(declen, 0);
	assert_int_equal(certs_b64url_decode("Zm9v", 4, dec, 3, NULL),
	    CERTS_E_INVAL);
	assert_int_equal(certs_b64url_decode(NULL, 0, NULL, 0, &declen), 0);
	assert_int_equal(declen, 0);
}

/* ---- files ----------------------------------------------------------------- */

static void
test_file_private_roundtrip(void **state)
{
	struct path p = tpath("secret.key");
	const char data[] = "top\0secret";
	char *got = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(certs_file_write_private(p.s, data, sizeof(data), 0),
	    0);
	assert_int_equal(file_mode(p.s), 0600);
	assert_int_equal(certs_file_read_private(p.s, &got, &len), 0);
	assert_int_equal(len, sizeof(data));
	assert_memory_equal(got, data, sizeof(data));
	assert_int_equal(got[len], '\0');
	certs_free_secret(got, len);

	/* the public reader may read a private file too */
	assert_int_equal(certs_file_read(p.s, &got, &len), 0);
	assert_int_equal(len, sizeof(data));
	free(got);
	assert_no_temp_files();
}

static void
test_file_private_modes(void **state)
{
	static const struct {
		mode_t mode;
		int rc;
	} rows[] = {
	    {0600, 0},		    {0400, 0},		    {0700, 0},
	    {0644, CERTS_E_PERM}, {0640, CERTS_E_PERM}, {0604, CERTS_E_PERM},
	    {0620, CERTS_E_PERM}, {0602, CERTS_E_PERM}, {0610, CERTS_E_PERM},
	    {0601, CERTS_E_PERM}, {0666, CERTS_E_PERM},
	};
	struct path p = tpath("modes.key");
	static char sentinel;
	char *got;
	size_t i, len;

	(void)state;
	assert_int_equal(certs_file_write_private(p.s, "k", 1, 0), 0);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(chmod(p.s, rows[i].mode), 0);
		got = &sentinel; /* must be cleared even on failure */
		len = 99;
		assert_int_equal(certs_file_read_private(p.s, &got, &len),
		    rows[i].rc);
		if (rows[i].rc == 0) {
			assert_int_equal(len, 1);
			certs_free_secret(got, len);
		} else {
			assert_null(got);
			assert_int_equal(len, 0);
		}
	}
	/* the public reader does not care */
	assert_int_equal(chmod(p.s, 0644), 0);
	assert_int_equal(certs_file_read(p.s, &got, &len), 0);
	free(got);
}

static void
test_file_not_regular(void **state)
{
	struct path missing = tpath("missing.key");
	struct path nodir = tpath("nodir/x.key");
	struct path dir = tpath("adir");
	struct path fifo = tpath("fifo.key");
	char *got = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(certs_file_read_private(missing.s, &got, &len),
	    CERTS_E_NOTFOUND);
	assert_int_equal(certs_file_read(missing.s, &got, &len),
	    CERTS_E_NOTFOUND);
	assert_int_equal(certs_file_read_private(nodir.s, &got, &len),
	    CERTS_E_NOTFOUND);
	assert_int_equal(mkdir(dir.s, 0700), 0);
	assert_int_equal(certs_file_read_private(dir.s, &got, &len),
	    CERTS_E_PERM);
	assert_int_equal(certs_file_read(dir.s, &got, &len), CERTS_E_PERM);
	/* a FIFO must be refused, not block the reader */
	assert_int_equal(mkfifo(fifo.s, 0600), 0);
	assert_int_equal(certs_file_read_private(fifo.s, &got, &len),
	    CERTS_E_PERM);
	assert_null(got);
	assert_int_equal(certs_file_read_private(NULL, &got, &len),
	    CERTS_E_INVAL);
	assert_int_equal(certs_file_read_private(missing.s, NULL, &len),
	    CERTS_E_INVAL);
}

static void
test_file_exclusive_and_overwrite(void **state)
{
	struct path p = tpath("excl.key");
	struct path pub = tpath("excl.pem");
	struct path link = tpath("dangling.key");
	char *got = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(certs_file_write_private(p.s, "first", 5, 0), 0);
	assert_int_equal(certs_file_write_private(p.s, "second", 6, 0),
	    CERTS_E_EXISTS);
	assert_int_equal(certs_file_read_private(p.s, &got, &len), 0);
	assert_string_equal(got, "first");
	certs_free_secret(got, len);

	assert_int_equal(certs_file_write_private(p.s, "second", 6, 1), 0);
	assert_int_equal(file_mode(p.s), 0600);
	assert_int_equal(certs_file_read_private(p.s, &got, &len), 0);
	assert_string_equal(got, "second");
	certs_free_secret(got, len);

	assert_int_equal(certs_file_write_public(pub.s, "cert-1", 6, 0), 0);
	assert_int_equal(file_mode(pub.s), 0644);
	assert_int_equal(certs_file_write_public(pub.s, "cert-2", 6, 0),
	    CERTS_E_EXISTS);
	assert_int_equal(certs_file_write_public(pub.s, "cert-2", 6, 1), 0);
	assert_int_equal(file_mode(pub.s), 0644);
	assert_int_equal(certs_file_read(pub.s, &got, &len), 0);
	assert_string_equal(got, "cert-2");
	free(got);

	/* a dangling symlink counts as existing: nothing is written through
	 * it */
	assert_int_equal(symlink("/nonexistent/ccx-target", link.s), 0);
	assert_int_equal(certs_file_write_private(link.s, "x", 1, 0),
	    CERTS_E_EXISTS);
	assert_no_temp_files();
}

static void
test_file_modes_ignore_umask(void **state)
{
	struct path pub = tpath("umask.pem");
	struct path priv = tpath("umask.key");
	mode_t old;

	(void)state;
	old = umask(0077);
	assert_int_equal(certs_file_write_public(pub.s, "c", 1, 0), 0);
	(void)umask(0);
	assert_int_equal(certs_file_write_private(priv.s, "k", 1, 0), 0);
	(void)umask(old);
	assert_int_equal(file_mode(pub.s), 0644);
	assert_int_equal(file_mode(priv.s), 0600);
}

static void
test_file_edge_cases(void **state)
{
	struct path empty = tpath("empty.key");
	struct path nodir = tpath("nodir/x.key");
	struct path big = tpath("big.key");
	char *got = NULL;
	size_t len = 7;
	int fd;

	(void)state;
	assert_int_equal(certs_file_write_private(empty.s, NULL, 0, 0), 0);
	assert_int_equal(certs_file_read_private(empty.s, &got, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(got, "");
	certs_free_secret(got, len);

	assert_int_equal(certs_file_write_private(NULL, "x", 1, 0),
	    CERTS_E_INVAL);
	assert_int_equal(certs_file_write_private("", "x", 1, 0),
	    CERTS_E_INVAL);
	assert_int_equal(certs_file_write_private(empty.s, NULL, 1, 1),
	    CERTS_E_INVAL);
	assert_int_equal(certs_file_write_public("somedir/", "x", 1, 0),
	    CERTS_E_INVAL);
	assert_int_equal(certs_file_write_private(nodir.s, "x", 1, 0),
	    CERTS_E_NOTFOUND);

	/* larger than CERTS_FILE_MAX (sparse, so cheap) */
	fd = open(big.s, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)CERTS_FILE_MAX + 1), 0);
	assert_int_equal(close(fd), 0);
	assert_int_equal(certs_file_read_private(big.s, &got, &len),
	    CERTS_E_FORMAT);
	assert_null(got);
	assert_no_temp_files();
}

/* ---- Ed25519 signing keys -------------------------------------------------- */

static void
test_signkey_roundtrip(void **state)
{
	struct path p = tpath("sign1.key");
	struct certs_signkey *k = NULL, *l = NULL, *k2 = NULL;
	uint8_t pub1[CERTS_ED25519_PUB_LEN], pub2[CERTS_ED25519_PUB_LEN];
	uint8_t sig[CERTS_ED25519_SIG_LEN];
	char kid[CERTS_KID_LEN + 1];
	const char msg[] = "header.payload";

	(void)state;
	assert_int_equal(certs_signkey_generate(&k), 0);
	assert_non_null(k);
	assert_int_equal(strlen(certs_signkey_kid(k)), CERTS_KID_LEN);
	memcpy(kid, certs_signkey_kid(k), sizeof(kid));

	assert_int_equal(certs_signkey_save(k, p.s), 0);
	assert_int_equal(file_mode(p.s), 0600);
	assert_int_equal(certs_signkey_save(k, p.s), CERTS_E_EXISTS);

	assert_int_equal(certs_signkey_load(p.s, &l), 0);
	assert_string_equal(certs_signkey_kid(l), kid);
	certs_signkey_public(k, pub1);
	certs_signkey_public(l, pub2);
	assert_memory_equal(pub1, pub2, sizeof(pub1));

	/* the loaded key signs what the original verifies, and back */
	assert_int_equal(certs_sign(l, msg, strlen(msg), sig), 0);
	assert_int_equal(certs_verify(k, msg, strlen(msg), sig), 0);
	assert_int_equal(certs_sign(k, msg, strlen(msg), sig), 0);
	assert_int_equal(certs_verify(l, msg, strlen(msg), sig), 0);

	/* two generated keys differ */
	assert_int_equal(certs_signkey_generate(&k2), 0);
	assert_string_not_equal(certs_signkey_kid(k2), kid);

	certs_signkey_free(k);
	certs_signkey_free(l);
	certs_signkey_free(k2);
	certs_signkey_free(NULL);
}

static void
test_signkey_sign_verify(void **state)
{
	struct certs_signkey *k = NULL, *pubonly = NULL;
	uint8_t pub[CERTS_ED25519_PUB_LEN], sig[CERTS_ED25519_SIG_LEN];
	uint8_t sig2[CERTS_ED25519_SIG_LEN], zero[CERTS_ED25519_SIG_LEN] = {0};
	char msg[] = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0";
	size_t len = strlen(msg), i;
	struct path p = tpath("pubonly.key");

	(void)state;
	assert_int_equal(certs_signkey_generate(&k), 0);
	assert_int_equal(certs_sign(k, msg, len, sig), 0);
	assert_int_equal(certs_verify(k, msg, len, sig), 0);
	/* Ed25519 is deterministic */
	assert_int_equal(certs_sign(k, msg, len, sig2), 0);
	assert_memory_equal(sig, sig2, sizeof(sig));

	/* every flipped bit in the message and in the signature is caught;
	 * (the sig bits are checked at a few positions, all message bits) */
	for (i = 0; i < 8 * len; i++) {
		msg[i / 8] ^= (char)(1u << (i % 8));
		assert_int_equal(certs_verify(k, msg, len, sig),
		    CERTS_E_BADSIG);
		msg[i / 8] ^= (char)(1u << (i % 8));
	}
	for (i = 0; i < 8 * sizeof(sig); i += 7) {
		sig[i / 8] ^= (uint8_t)(1u << (i % 8));
		assert_int_equal(certs_verify(k, msg, len, sig),
		    CERTS_E_BADSIG);
		sig[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	assert_int_equal(certs_verify(k, msg, len - 1, sig), CERTS_E_BADSIG);
	assert_int_equal(certs_verify(k, msg, len, sig), 0);

	/* a verify-only key from the raw public key */
	certs_signkey_public(k, pub);
	assert_int_equal(certs_signkey_from_public(pub, &pubonly), 0);
	assert_string_equal(certs_signkey_kid(pubonly), certs_signkey_kid(k));
	assert_int_equal(certs_verify(pubonly, msg, len, sig), 0);
	assert_int_equal(certs_sign(pubonly, msg, len, sig2), CERTS_E_INVAL);
	assert_memory_equal(sig2, zero, sizeof(sig2));
	assert_int_equal(certs_signkey_save(pubonly, p.s), CERTS_E_INVAL);
	assert_false(exists(p.s));

	/* the empty message is a message too */
	assert_int_equal(certs_sign(k, NULL, 0, sig), 0);
	assert_int_equal(certs_verify(pubonly, "", 0, sig), 0);
	assert_int_equal(certs_verify(pubonly, "x", 1, sig), CERTS_E_BADSIG);

	assert_int_equal(certs_sign(NULL, msg, len, sig), CERTS_E_INVAL);
	assert_int_equal(certs_verify(NULL, msg, len, sig), CERTS_E_INVAL);
	assert_int_equal(certs_verify(k, NULL, 3, sig), CERTS_E_INVAL);
	certs_signkey_free(pubonly);
	pubonly = k; /* any non-NULL value: must be reset */
	assert_int_equal(certs_signkey_from_public(NULL, &pubonly),
	    CERTS_E_INVAL);
	assert_null(pubonly);

	certs_signkey_free(k);
}

/* Threads verifying with one key at once, good and bad signatures
 * interleaved: each copies the key's verifier, none disturbs another. */
struct verify_job {
	const struct certs_signkey *key;
	const char *msg;
	const uint8_t *sig;
	int good, bad; /* results as expected */
};

static void *
verify_many(void *arg)
{
	struct verify_job *j = arg;
	uint8_t wrong[CERTS_ED25519_SIG_LEN];

	memcpy(wrong, j->sig, sizeof(wrong));
	wrong[9] ^= 0x20;
	for (int i = 0; i < 100; i++) {
		j->good += certs_verify(j->key, j->msg, strlen(j->msg),
		    j->sig) == CERTS_OK;
		j->bad += certs_verify(j->key, j->msg, strlen(j->msg),
		    wrong) == CERTS_E_BADSIG;
	}
	return NULL;
}

static void
test_signkey_verify_threads(void **state)
{
	struct certs_signkey *k = NULL;
	uint8_t sig[CERTS_ED25519_SIG_LEN];
	struct verify_job jobs[4];
	pthread_t th[4];
	const char *msg = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0";

	(void)state;
	assert_int_equal(certs_signkey_generate(&k), 0);
	assert_int_equal(certs_sign(k, msg, strlen(msg), sig), 0);
	for (int i = 0; i < 4; i++) {
		jobs[i] = (struct verify_job){ k, msg, sig, 0, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, verify_many,
				     &jobs[i]),
		    0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(jobs[i].good, 100);
		assert_int_equal(jobs[i].bad, 100);
	}
	certs_signkey_free(k);
}

static void
test_signkey_load_rejects(void **state)
{
	struct path ca = tpath("rej-ca.pem"), cakey = tpath("rej-ca.key");
	struct path garbage = tpath("garbage.key");
	struct path wide = tpath("wide.key");
	struct path enc = tpath("encrypted.key");
	struct path missing = tpath("missing-sign.key");
	static char sentinel;
	/* any non-NULL value: each failure must reset it */
	struct certs_signkey *k = NULL, *l = (struct certs_signkey *)(void *)&sentinel;
	EVP_PKEY *pk = NULL;
	BIO *bio;
	char *pem = NULL;
	long pemlen;

	(void)state;
	/* a P-256 key is a valid PKCS#8 key, but not an Ed25519 one */
	assert_int_equal(certs_ca_create(ca.s, cakey.s, "Reject CA", 1), 0);
	assert_int_equal(certs_signkey_load(cakey.s, &l), CERTS_E_FORMAT);
	assert_null(l);

	write_raw(garbage.s, "-----BEGIN PRIVATE KEY-----\nAAAA\n", 33, 0600);
	assert_int_equal(certs_signkey_load(garbage.s, &l), CERTS_E_FORMAT);

	assert_int_equal(certs_signkey_generate(&k), 0);
	assert_int_equal(certs_signkey_save(k, wide.s), 0);
	assert_int_equal(chmod(wide.s, 0644), 0);
	assert_int_equal(certs_signkey_load(wide.s, &l), CERTS_E_PERM);
	assert_int_equal(certs_signkey_load(missing.s, &l), CERTS_E_NOTFOUND);
	assert_null(l);

	/* an encrypted key is refused without asking for a passphrase */
	pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(pk);
	bio = BIO_new(BIO_s_mem());
	assert_non_null(bio);
	assert_int_equal(PEM_write_bio_PKCS8PrivateKey(bio, pk,
			     EVP_aes_256_cbc(), "pass", 4, NULL, NULL),
	    1);
	pemlen = BIO_get_mem_data(bio, &pem);
	assert_true(pemlen > 0);
	write_raw(enc.s, pem, (size_t)pemlen, 0600);
	BIO_free(bio);
	EVP_PKEY_free(pk);
	assert_int_equal(certs_signkey_load(enc.s, &l), CERTS_E_FORMAT);
	assert_null(l);

	certs_signkey_free(k);
}

/*
 * RFC 8037 appendix A: the kid is the A.3 thumbprint, the A.4 signature
 * verifies, and (Ed25519 being deterministic) signing reproduces it.
 */
static void
test_signkey_rfc8037(void **state)
{
	static const char d_b64[] =
	    "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
	static const char x_b64[] =
	    "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
	static const char thumb[] =
	    "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
	static const char input[] =
	    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
	static const char sig_b64[] = "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQ"
				      "R6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_"
				      "MuM0KAg";
	struct path p = tpath("rfc8037.key");
	struct certs_signkey *pubk = NULL, *privk = NULL;
	uint8_t pub[CERTS_ED25519_PUB_LEN], d[32], sig[CERTS_ED25519_SIG_LEN];
	uint8_t mysig[CERTS_ED25519_SIG_LEN], digest[32];
	char json[128], ref[64];
	size_t n = 0;
	EVP_PKEY *pk;
	BIO *bio;
	char *pem = NULL;
	long pemlen;
	unsigned int dlen = 0;

	(void)state;
	assert_int_equal(
	    certs_b64url_decode(x_b64, strlen(x_b64), pub, sizeof(pub), &n), 0);
	assert_int_equal(n, sizeof(pub));
	assert_int_equal(certs_signkey_from_public(pub, &pubk), 0);
	assert_string_equal(certs_signkey_kid(pubk), thumb);

	/* the same thumbprint, computed without the module */
	n = (size_t)snprintf(json, sizeof(json),
	    "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", x_b64);
	assert_true(n < sizeof(json));
	assert_int_equal(EVP_Digest(json, n, digest, &dlen, EVP_sha256(), NULL),
	    1);
	ref_b64url(digest, dlen, ref, sizeof(ref));
	assert_string_equal(ref, thumb);

	assert_int_equal(certs_b64url_decode(sig_b64, strlen(sig_b64), sig,
			     sizeof(sig), &n),
	    0);
	assert_int_equal(n, sizeof(sig));
	assert_int_equal(certs_verify(pubk, input, strlen(input), sig), 0);

	/* the private key, written as PKCS#8 by OpenSSL itself */
	assert_int_equal(
	    certs_b64url_decode(d_b64, strlen(d_b64), d, sizeof(d), &n), 0);
	pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, d, sizeof(d));
	assert_non_null(pk);
	bio = BIO_new(BIO_s_mem());
	assert_non_null(bio);
	assert_int_equal(PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL,
			     NULL),
	    1);
	pemlen = BIO_get_mem_data(bio, &pem);
	assert_true(pemlen > 0);
	write_raw(p.s, pem, (size_t)pemlen, 0600);
	BIO_free(bio);
	EVP_PKEY_free(pk);

	assert_int_equal(certs_signkey_load(p.s, &privk), 0);
	assert_string_equal(certs_signkey_kid(privk), thumb);
	assert_int_equal(certs_sign(privk, input, strlen(input), mysig), 0);
	assert_memory_equal(mysig, sig, sizeof(sig));

	certs_signkey_free(pubk);
	certs_signkey_free(privk);
}

/* ---- X.509 ------------------------------------------------------------------ */

static const char *const server_names[] = {"localhost", "127.0.0.1", "::1",
    "broker.example"};

static void
assert_critical(X509 *x, int nid, int crit)
{
	int i = X509_get_ext_by_NID(x, nid, -1);

	assert_true(i >= 0);
	assert_int_equal(X509_EXTENSION_get_critical(X509_get_ext(x, i)), crit);
}

static void
assert_serial_random(X509 *x)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);

	assert_non_null(bn);
	assert_int_equal(BN_is_negative(bn), 0);
	assert_false(BN_is_zero(bn));
	/* 128 random bits: fewer than 64 significant ones is 2^-64 luck */
	assert_true(BN_num_bits(bn) <= 128);
	assert_true(BN_num_bits(bn) > 64);
	BN_free(bn);
}

static void
assert_p256(EVP_PKEY *k)
{
	char group[64];
	size_t glen = 0;

	assert_int_equal(EVP_PKEY_is_a(k, "EC"), 1);
	assert_int_equal(
	    EVP_PKEY_get_group_name(k, group, sizeof(group), &glen), 1);
	assert_string_equal(group, "prime256v1");
}

static void
assert_days_left(X509 *x, int days)
{
	int d = 0, s = 0;

	assert_int_equal(ASN1_TIME_diff(&d, &s, NULL, X509_get0_notAfter(x)),
	    1);
	assert_true(d == days || d == days - 1);
	assert_int_equal(ASN1_TIME_diff(&d, &s, NULL, X509_get0_notBefore(x)),
	    1);
	assert_int_equal(d, 0);
	assert_true(s <= 0);
}

static void
test_ca_and_server(void **state)
{
	struct path ca_p = tpath("ca.pem"), cakey_p = tpath("ca.key");
	struct path srv_p = tpath("server.pem"), srvkey_p = tpath("server.key");
	X509 *ca, *srv;
	EVP_PKEY *srvkey;
	X509_STORE *store;
	X509_STORE_CTX *ctx;
	GENERAL_NAMES *gens;
	const ASN1_OCTET_STRING *akid, *skid;
	static const uint8_t v4[4] = {127, 0, 0, 1};
	static const uint8_t v6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 1};
	char cn[80];
	int crit = -1, i;

	(void)state;
	assert_int_equal(certs_ca_create(ca_p.s, cakey_p.s, "CCX test CA", 30),
	    0);
	assert_int_equal(file_mode(ca_p.s), 0644);
	assert_int_equal(file_mode(cakey_p.s), 0600);
	assert_int_equal(certs_server_issue(ca_p.s, cakey_p.s, server_names, 4,
			     10, srv_p.s, srvkey_p.s, 0),
	    0);
	assert_int_equal(file_mode(srv_p.s), 0644);
	assert_int_equal(file_mode(srvkey_p.s), 0600);
	assert_no_temp_files();

	ca = load_cert(ca_p.s);
	srv = load_cert(srv_p.s);
	srvkey = load_key(srvkey_p.s);

	/* the CA */
	assert_int_equal(X509_get_version(ca), X509_VERSION_3);
	assert_true((X509_get_extension_flags(ca) & EXFLAG_CA) != 0);
	assert_true((X509_get_extension_flags(ca) & EXFLAG_SS) != 0);
	assert_int_equal(X509_check_ca(ca), 1);
	assert_int_equal(X509_get_pathlen(ca), 0);
	assert_critical(ca, NID_basic_constraints, 1);
	assert_critical(ca, NID_key_usage, 1);
	assert_int_equal(X509_get_key_usage(ca), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	assert_non_null(X509_get0_subject_key_id(ca));
	assert_non_null(X509_get0_authority_key_id(ca));
	assert_int_equal(X509_get_signature_nid(ca), NID_ecdsa_with_SHA256);
	assert_p256(X509_get0_pubkey(ca));
	assert_serial_random(ca);
	assert_days_left(ca, 30);
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(ca),
			NID_commonName, cn, sizeof(cn)) > 0);
	assert_string_equal(cn, "CCX test CA");

	/* the server certificate */
	assert_int_equal(X509_get_version(srv), X509_VERSION_3);
	assert_int_equal(X509_check_ca(srv), 0);
	assert_critical(srv, NID_key_usage, 1);
	assert_int_equal(X509_get_key_usage(srv), KU_DIGITAL_SIGNATURE);
	assert_true((X509_get_extension_flags(srv) & EXFLAG_XKUSAGE) != 0);
	assert_int_equal(X509_get_extended_key_usage(srv), XKU_SSL_SERVER);
	assert_int_equal(X509_get_signature_nid(srv), NID_ecdsa_with_SHA256);
	assert_p256(X509_get0_pubkey(srv));
	assert_p256(srvkey);
	assert_int_equal(X509_check_private_key(srv, srvkey), 1);
	assert_serial_random(srv);
	assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(ca),
				 X509_get0_serialNumber(srv)),
	    0);
	assert_days_left(srv, 10);
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(srv),
			NID_commonName, cn, sizeof(cn)) > 0);
	assert_string_equal(cn, "localhost");
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(srv),
			     X509_get_subject_name(ca)),
	    0);
	akid = X509_get0_authority_key_id(srv);
	skid = X509_get0_subject_key_id(ca);
	assert_non_null(akid);
	assert_non_null(skid);
	assert_int_equal(ASN1_OCTET_STRING_cmp(akid, skid), 0);

	/* subjectAltName: DNS and IP entries, in order */
	gens = X509_get_ext_d2i(srv, NID_subject_alt_name, &crit, NULL);
	assert_non_null(gens);
	assert_int_equal(crit, 0);
	assert_int_equal(sk_GENERAL_NAME_num(gens), 4);
	for (i = 0; i < 4; i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);
		const ASN1_STRING *s;

		if (i == 0 || i == 3) {
			assert_int_equal(gn->type, GEN_DNS);
			s = gn->d.dNSName;
			assert_int_equal(ASN1_STRING_length(s),
			    strlen(server_names[i]));
			assert_memory_equal(ASN1_STRING_get0_data(s),
			    server_names[i], strlen(server_names[i]));
		} else {
			assert_int_equal(gn->type, GEN_IPADD);
			s = gn->d.iPAddress;
			assert_int_equal(ASN1_STRING_length(s), i == 1 ? 4 : 16);
			assert_memory_equal(ASN1_STRING_get0_data(s),
			    i == 1 ? v4 : v6, i == 1 ? 4 : 16);
		}
	}
	GENERAL_NAMES_free(gens);
	assert_int_equal(X509_check_host(srv, "broker.example", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(srv, "other.example", 0, 0, NULL), 0);
	assert_int_equal(X509_check_ip_asc(srv, "::1", 0), 1);
	assert_int_equal(X509_check_ip_asc(srv, "127.0.0.1", 0), 1);

	/* the chain, as a TLS client would check it */
	store = X509_STORE_new();
	assert_non_null(store);
	assert_int_equal(X509_STORE_add_cert(store, ca), 1);
	ctx = X509_STORE_CTX_new();
	assert_non_null(ctx);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, srv, NULL), 1);
	assert_int_equal(X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER),
	    1);
	assert_int_equal(X509_VERIFY_PARAM_set1_host(
			     X509_STORE_CTX_get0_param(ctx), "broker.example", 0),
	    1);
	assert_int_equal(X509_verify_cert(ctx), 1);
	assert_int_equal(X509_STORE_CTX_get_error(ctx), X509_V_OK);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);

	EVP_PKEY_free(srvkey);
	X509_free(srv);
	X509_free(ca);
}

/* A self-signed P-256 certificate valid from now+nb to now+na seconds. */
static void
make_selfsigned(long nb, long na, char **cert_pem, size_t *cert_len,
    char **key_pem, size_t *key_len)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());
	char *p = NULL;
	long n;

	assert_non_null(k);
	assert_non_null(x);
	assert_non_null(cb);
	assert_non_null(kb);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 7), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), nb));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), na));
	assert_int_equal(X509_NAME_add_entry_by_txt(X509_get_subject_name(x),
			     "CN", MBSTRING_ASC, (const unsigned char *)"t", -1,
			     -1, 0),
	    1);
	assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(x)), 1);
	assert_int_equal(X509_set_pubkey(x, k), 1);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	assert_int_equal(PEM_write_bio_X509(cb, x), 1);
	assert_int_equal(PEM_write_bio_PrivateKey(kb, k, NULL, NULL, 0, NULL,
			     NULL),
	    1);
	n = BIO_get_mem_data(cb, &p);
	*cert_pem = malloc((size_t)n);
	assert_non_null(*cert_pem);
	memcpy(*cert_pem, p, (size_t)n);
	*cert_len = (size_t)n;
	n = BIO_get_mem_data(kb, &p);
	*key_pem = malloc((size_t)n);
	assert_non_null(*key_pem);
	memcpy(*key_pem, p, (size_t)n);
	*key_len = (size_t)n;
	BIO_free(cb);
	BIO_free(kb);
	X509_free(x);
	EVP_PKEY_free(k);
}

static void
test_check_pair(void **state)
{
	struct path ca_p = tpath("pair-ca.pem"), cakey_p = tpath("pair-ca.key");
	struct path srv_p = tpath("pair.pem"), srvkey_p = tpath("pair.key");
	static const char garbage[] = "-----BEGIN CERTIFICATE-----\nnope\n"
				      "-----END CERTIFICATE-----\n";
	const char *names[] = {"pair.example"};
	char *cert = NULL, *key = NULL, *cakey = NULL, *c2, *k2;
	size_t cert_len = 0, key_len = 0, cakey_len = 0, c2_len, k2_len;

	(void)state;
	assert_int_equal(certs_ca_create(ca_p.s, cakey_p.s, "Pair CA", 5), 0);
	assert_int_equal(certs_server_issue(ca_p.s, cakey_p.s, names, 1, 5,
			     srv_p.s, srvkey_p.s, 0),
	    0);
	assert_int_equal(certs_file_read(srv_p.s, &cert, &cert_len), 0);
	assert_int_equal(certs_file_read_private(srvkey_p.s, &key, &key_len),
	    0);
	assert_int_equal(
	    certs_file_read_private(cakey_p.s, &cakey, &cakey_len), 0);

	assert_int_equal(certs_pem_check_pair(cert, cert_len, key, key_len), 0);
	assert_int_equal(certs_pem_check_pair(cert, cert_len, cakey, cakey_len),
	    CERTS_E_MISMATCH);
	assert_int_equal(certs_pem_check_pair(garbage, strlen(garbage), key,
			     key_len),
	    CERTS_E_FORMAT);
	assert_int_equal(certs_pem_check_pair(cert, cert_len, garbage,
			     strlen(garbage)),
	    CERTS_E_FORMAT);
	assert_int_equal(certs_pem_check_pair("", 0, key, key_len),
	    CERTS_E_FORMAT);
	/* a truncated certificate */
	assert_int_equal(certs_pem_check_pair(cert, cert_len / 2, key, key_len),
	    CERTS_E_FORMAT);
	assert_int_equal(certs_pem_check_pair(NULL, 0, key, key_len),
	    CERTS_E_INVAL);

	/* expired, and not yet valid: refused even though the key matches */
	make_selfsigned(-2 * 86400L, -86400L, &c2, &c2_len, &k2, &k2_len);
	assert_int_equal(certs_pem_check_pair(c2, c2_len, k2, k2_len),
	    CERTS_E_MISMATCH);
	free(c2);
	free(k2);
	make_selfsigned(86400L, 2 * 86400L, &c2, &c2_len, &k2, &k2_len);
	assert_int_equal(certs_pem_check_pair(c2, c2_len, k2, k2_len),
	    CERTS_E_MISMATCH);
	free(c2);
	free(k2);
	make_selfsigned(-60L, 86400L, &c2, &c2_len, &k2, &k2_len);
	assert_int_equal(certs_pem_check_pair(c2, c2_len, k2, k2_len), 0);
	free(c2);
	free(k2);

	free(cert);
	certs_free_secret(key, key_len);
	certs_free_secret(cakey, cakey_len);
}

static void
test_ca_refuses_overwrite(void **state)
{
	struct path ca_p = tpath("ow-ca.pem"), cakey_p = tpath("ow-ca.key");
	struct path lone = tpath("lone.key"), lone_ca = tpath("lone-ca.pem");
	char *before = NULL, *after = NULL;
	size_t blen = 0, alen = 0;

	(void)state;
	assert_int_equal(certs_ca_create(ca_p.s, cakey_p.s, "OW CA", 3), 0);
	assert_int_equal(certs_file_read(ca_p.s, &before, &blen), 0);
	assert_int_equal(certs_ca_create(ca_p.s, cakey_p.s, "OW CA", 3),
	    CERTS_E_EXISTS);
	assert_int_equal(certs_file_read(ca_p.s, &after, &alen), 0);
	assert_int_equal(alen, blen);
	assert_memory_equal(after, before, blen);
	free(before);
	free(after);

	/* either file existing is enough, and nothing new is left behind */
	assert_int_equal(certs_file_write_private(lone.s, "x", 1, 0), 0);
	assert_int_equal(certs_ca_create(lone_ca.s, lone.s, "Lone CA", 3),
	    CERTS_E_EXISTS);
	assert_false(exists(lone_ca.s));
	assert_int_equal(certs_ca_create(ca_p.s, tpath("other.key").s, "X", 3),
	    CERTS_E_EXISTS);
	assert_false(exists(tpath("other.key").s));

	/* arguments */
	assert_int_equal(certs_ca_create(tpath("a.pem").s, tpath("a.key").s,
			     "", 3),
	    CERTS_E_INVAL);
	assert_int_equal(certs_ca_create(tpath("a.pem").s, tpath("a.key").s,
			     "CA", 0),
	    CERTS_E_INVAL);
	assert_int_equal(certs_ca_create(tpath("a.pem").s, tpath("a.key").s,
			     "bad\nname", 3),
	    CERTS_E_INVAL);
	assert_int_equal(certs_ca_create(tpath("a.pem").s, tpath("a.pem").s,
			     "CA", 3),
	    CERTS_E_INVAL);
	assert_int_equal(certs_ca_create(NULL, tpath("a.key").s, "CA", 3),
	    CERTS_E_INVAL);
	assert_false(exists(tpath("a.pem").s));
	assert_false(exists(tpath("a.key").s));
	assert_no_temp_files();
}

static void
test_server_issue_overwrite(void **state)
{
	struct path ca_p = tpath("re-ca.pem"), cakey_p = tpath("re-ca.key");
	struct path srv_p = tpath("re.pem"), srvkey_p = tpath("re.key");
	const char *names[] = {"re.example", "10.1.2.3"};
	X509 *first, *second;
	EVP_PKEY *key;

	(void)state;
	assert_int_equal(certs_ca_create(ca_p.s, cakey_p.s, "Re CA", 3), 0);
	assert_int_equal(certs_server_issue(ca_p.s, cakey_p.s, names, 2, 3,
			     srv_p.s, srvkey_p.s, 0),
	    0);
	first = load_cert(srv_p.s);
	assert_int_equal(certs_server_issue(ca_p.s, cakey_p.s, names, 2, 3,
			     srv_p.s, srvkey_p.s, 0),
	    CERTS_E_EXISTS);
	assert_int_equal(certs_server_issue(ca_p.s, cakey_p.s, names, 2, 3,
			     srv_p.s, srvkey_p.s, 1),
	    0);
	assert_int_equal(file_mode(srv_p.s), 0644);
	assert_int_equal(file_mode(srvkey_p.s), 0600);
	second = load_cert(srv_p.s);
	key = load_key(srvkey_p.s);
	assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(first),
				 X509_get0_serialNumber(second)),
	    0);
	assert_int_equal(X509_check_private_key(second, key), 1);
	assert_int_equal(X509_check_private_key(first, key), 0);
	/* validity is clamped to the CA's: 30 days asked, 3 given */
	assert_int_equal(certs_server_issue(ca_p.s, cakey_p.s, names, 2, 30,
			     srv_p.s, srvkey_p.s, 1),
	    0);
	X509_free(second);
	second = load_cert(srv_p.s);
	{
		X509 *ca = load_cert(ca_p.s);

		assert_true(ASN1_TIME_compare(X509_get0_notAfter(second),
				X509_get0_notAfter(ca)) <= 0);
		X509_free(ca);
	}
	assert_no_temp_files();
	EVP_PKEY_free(key);
	X509_free(first);
	X509_free(second);
}

static void
test_server_issue_errors(void **state)
{
	struct path ca_p = tpath("err-ca.pem"), cakey_p = tpath("err-ca.key");
	struct path ca2_p = tpath("err-ca2.pem"), ca2key_p = tpath("err-ca2.key");
	struct path srv_p = tpath("err.pem"), srvkey_p = tpath("err.key");
	struct path leaf_p = tpath("leaf.pem"), leafkey_p = tpath("leaf.key");
	const char *ok[] = {"ok.example"};

	(void)state;
	assert_int_equal(certs_ca_create(ca_p.s, cakey_p.s, "Err CA", 3), 0);
	assert_int_equal(certs_ca_create(ca2_p.s, ca2key_p.s, "Err CA 2", 3),
	    0);

	/* the CA key belongs to another CA */
	assert_int_equal(certs_server_issue(ca_p.s, ca2key_p.s, ok, 1, 3,
			     srv_p.s, srvkey_p.s, 0),
	    CERTS_E_MISMATCH);
	/* a leaf cannot act as CA */
	assert_int_equal(certs_server_issue(ca_p.s, cakey_p.s, ok, 1, 3,
			     leaf_p.s, leafkey_p.s, 0),
	    0);
	assert_int_equal(certs_server_issue(leaf_p.s, leafkey_p.s, ok, 1, 3,
			     srv_p.s, srvkey_p.s, 0),
	    CERTS_E_INVAL);
	/* the CA key must be private */
	assert_int_equal(chmod(cakey_p.s, 0640), 0);
	assert_int_equal(certs_server_issue(ca_p.s, cakey_p.s, ok, 1, 3,
			     srv_p.s, srvkey_p.s, 0),
	    CERTS_E_PERM);
	assert_int_equal(chmod(cakey_p.s, 0600), 0);
	/* missing CA files */
	assert_int_equal(certs_server_issue(tpath("none.pem").s, cakey_p.s, ok,
			     1, 3, srv_p.s, srvkey_p.s, 0),
	    CERTS_E_NOTFOUND);
	assert_int_equal(certs_server_issue(ca_p.s, tpath("none.key").s, ok, 1,
			     3, srv_p.s, srvkey_p.s, 0),
	    CERTS_E_NOTFOUND);
	/* bad counts and days */
	assert_int_equal(certs_server_issue(ca_p.s, cakey_p.s, ok, 0, 3,
			     srv_p.s, srvkey_p.s, 0),
	    CERTS_E_INVAL);
	assert_int_equal(certs_server_issue(ca_p.s, cakey_p.s, NULL, 1, 3,
			     srv_p.s, srvkey_p.s, 0),
	    CERTS_E_INVAL);
	assert_int_equal(certs_server_issue(ca_p.s, cakey_p.s, ok, 1, 0,
			     srv_p.s, srvkey_p.s, 0),
	    CERTS_E_INVAL);
	assert_int_equal(certs_server_issue(ca_p.s, cakey_p.s, ok, 1, -5,
			     srv_p.s, srvkey_p.s, 0),
	    CERTS_E_INVAL);
	assert_false(exists(srv_p.s));
	assert_false(exists(srvkey_p.s));
	assert_no_temp_files();
}

static void
test_server_issue_names(void **state)
{
	static const struct {
		const char *name;
		int rc;
	} rows[] = {
	    {"localhost", 0},
	    {"a-b.example", 0},
	    {"*.example.org", 0},
	    {"under_score.internal", 0},
	    {"192.168.0.1", 0},
	    {"fe80::1", 0},
	    {"", CERTS_E_INVAL},
	    {"bad name", CERTS_E_INVAL},
	    {"-lead.example", CERTS_E_INVAL},
	    {"trail-.example", CERTS_E_INVAL},
	    {"a..b", CERTS_E_INVAL},
	    {".a", CERTS_E_INVAL},
	    {"a.", CERTS_E_INVAL},
	    {"*.", CERTS_E_INVAL},
	    {"*a.example", CERTS_E_INVAL},
	    {"a.*.example", CERTS_E_INVAL},
	    {"1.2.3.256", CERTS_E_INVAL},
	    {"fe80::1%eth0", CERTS_E_INVAL},
	    {"host/evil", CERTS_E_INVAL},
	    {"host,DNS:evil", CERTS_E_INVAL},
	    {"caf\xc3\xa9.example", CERTS_E_INVAL},
	};
	struct path ca_p = tpath("nm-ca.pem"), cakey_p = tpath("nm-ca.key");
	struct path srv_p = tpath("nm.pem"), srvkey_p = tpath("nm.key");
	char longname[300];
	const char *names[2];
	size_t i;

	(void)state;
	assert_int_equal(certs_ca_create(ca_p.s, cakey_p.s, "Names CA", 3), 0);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		/* second position, so the CN rule does not interfere */
		names[0] = "ok.example";
		names[1] = rows[i].name;
		assert_int_equal(certs_server_issue(ca_p.s, cakey_p.s, names,
				     2, 3, srv_p.s, srvkey_p.s, 1),
		    rows[i].rc);
	}
	/* NULL entry */
	names[1] = NULL;
	assert_int_equal(certs_server_issue(ca_p.s, cakey_p.s, names, 2, 3,
			     srv_p.s, srvkey_p.s, 1),
	    CERTS_E_INVAL);

	/* labels hold 63 characters, not 64 */
	memset(longname, 'a', 64);
	memcpy(longname + 64, ".example", sizeof(".example"));
	names[1] = longname;
	assert_int_equal(certs_server_issue(ca_p.s, cakey_p.s, names, 2, 3,
			     srv_p.s, srvkey_p.s, 1),
	    CERTS_E_INVAL);
	names[1] = longname + 1;
	assert_int_equal(certs_server_issue(ca_p.s, cakey_p.s, names, 2, 3,
			     srv_p.s, srvkey_p.s, 1),
	    0);

	/* 254 characters of valid labels: too long for DNS */
	for (i = 0; i < 254; i++)
		longname[i] = (i % 10 == 9) ? '.' : 'a';
	longname[254] = '\0';
	names[1] = longname;
	assert_int_equal(certs_server_issue(ca_p.s, cakey_p.s, names, 2, 3,
			     srv_p.s, srvkey_p.s, 1),
	    CERTS_E_INVAL);
	/* a valid 79-character name cannot be names[0]: CN holds 64 */
	longname[79] = '\0';
	names[0] = longname;
	names[1] = "ok.example";
	assert_int_equal(certs_server_issue(ca_p.s, cakey_p.s, names, 2, 3,
			     srv_p.s, srvkey_p.s, 1),
	    CERTS_E_INVAL);
	/* but it is fine as another entry */
	names[0] = "ok.example";
	names[1] = longname;
	assert_int_equal(certs_server_issue(ca_p.s, cakey_p.s, names, 2, 3,
			     srv_p.s, srvkey_p.s, 1),
	    0);
	assert_no_temp_files();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_strerror),
	    cmocka_unit_test(test_random_bytes),
	    cmocka_unit_test(test_random_token),
	    cmocka_unit_test(test_ct_equal),
	    cmocka_unit_test(test_wipe),
	    cmocka_unit_test(test_sha256_vectors),
	    cmocka_unit_test(test_hmac_sha256_vectors),
	    cmocka_unit_test(test_b64url_len),
	    cmocka_unit_test(test_b64url_vectors),
	    cmocka_unit_test(test_b64url_rejects),
	    cmocka_unit_test(test_b64url_every_byte),
	    cmocka_unit_test(test_b64url_capacity),
	    cmocka_unit_test(test_file_private_roundtrip),
	    cmocka_unit_test(test_file_private_modes),
	    cmocka_unit_test(test_file_not_regular),
	    cmocka_unit_test(test_file_exclusive_and_overwrite),
	    cmocka_unit_test(test_file_modes_ignore_umask),
	    cmocka_unit_test(test_file_edge_cases),
	    cmocka_unit_test(test_signkey_roundtrip),
	    cmocka_unit_test(test_signkey_sign_verify),
	    cmocka_unit_test(test_signkey_verify_threads),
	    cmocka_unit_test(test_signkey_load_rejects),
	    cmocka_unit_test(test_signkey_rfc8037),
	    cmocka_unit_test(test_ca_and_server),
	    cmocka_unit_test(test_check_pair),
	    cmocka_unit_test(test_ca_refuses_overwrite),
	    cmocka_unit_test(test_server_issue_overwrite),
	    cmocka_unit_test(test_server_issue_errors),
	    cmocka_unit_test(test_server_issue_names),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
