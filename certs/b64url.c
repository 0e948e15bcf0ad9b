/*
 * b64url.c - unpadded base64url (RFC 4648 section 5), the encoding of JWS
 * segments, kids and random tokens.
 *
 * Decoding is strict: one alphabet, no padding, no whitespace, and the
 * unused low bits of the last character must be zero, so that every byte
 * string has exactly one accepted encoding (a token or signature cannot be
 * re-spelled to dodge a lookup).  It must never read past len or write
 * past outcap, and never leaves a partial result behind on failure.
 */
#include <stdint.h>

#include "certs/certs.h"

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/*
 * Each character's 6-bit value plus one, 0 for a character outside the
 * url alphabet: one load per character on the fetch path, where a chain
 * of range tests mispredicts on every change of character class.
 */
static const uint8_t b64url_dec[256] = {
	['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6,
	['G'] = 7, ['H'] = 8, ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12,
	['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17,
	['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22,
	['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27,
	['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
	['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37,
	['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
	['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47,
	['v'] = 48, ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52,
	['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56, ['4'] = 57,
	['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62,
	['-'] = 63, ['_'] = 64
};

/* The 6-bit value of c, or -1 when c is not in the url alphabet. */
static int
b64url_value(unsigned char c)
{
	return (int)b64url_dec[c] - 1;
}

/*
 * Saturates at SIZE_MAX when the length is not representable, so that a
 * capacity check against it always fails instead of wrapping.
 */
size_t
certs_b64url_len(size_t n)
{
	size_t groups = n / 3, rem = n % 3;

	/* reject before arithmetic: groups * 4 + 3 may wrap */
	if (groups > (SIZE_MAX - 3) / 4)
		return SIZE_MAX;
	return groups * 4 + (rem != 0 ? rem + 1 : 0);
}

int
certs_b64url_encode(const void *in, size_t len, char *out, size_t outcap)
{
	const unsigned char *p = in;
	size_t need, i, o = 0;

	if (out == NULL || outcap == 0)
		return CERTS_E_INVAL;
	out[0] = '\0';
	if (in == NULL && len > 0)
		return CERTS_E_INVAL;
	need = certs_b64url_len(len);
	if (need == SIZE_MAX || outcap < need + 1)
		return CERTS_E_INVAL;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 |
		    p[i + 2];

		out[o++] = b64url_alphabet[(v >> 18) & 0x3f];
		out[o++] = b64url_alphabet[(v >> 12) & 0x3f];
		out[o++] = b64url_alphabet[(v >> 6) & 0x3f];
		out[o++] = b64url_alphabet[v & 0x3f];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;

		out[o++] = b64url_alphabet[(v >> 18) & 0x3f];
		out[o++] = b64url_alphabet[(v >> 12) & 0x3f];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;

		out[o++] = b64url_alphabet[(v >> 18) & 0x3f];
		out[o++] = b64url_alphabet[(v >> 12) & 0x3f];
		out[o++] = b64url_alphabet[(v >> 6) & 0x3f];
	}
	out[o] = '\0';
	return CERTS_OK;
}

int
certs_b64url_decode(const char *in, size_t len, void *out, size_t outcap,
    size_t *outlen)
{
	unsigned char *q = out;
	size_t rem, need, i, o = 0;
	int last;

	if (outlen == NULL)
		return CERTS_E_INVAL;
	*outlen = 0;
	if (in == NULL && len > 0)
		return CERTS_E_INVAL;

	/* One leftover character carries only 6 bits: never a whole byte. */
	rem = len % 4;
	if (rem == 1)
		return CERTS_E_FORMAT;
	/* len / 4 * 3 < len: cannot wrap */
	need = len / 4 * 3 + (rem != 0 ? rem - 1 : 0);

	/* Validate everything before writing, so failure leaves no bytes. */
	for (i = 0; i < len; i++) {
		if (b64url_value((unsigned char)in[i]) < 0)
			return CERTS_E_FORMAT;
	}
	if (rem != 0) {
		/* Non-zero padding bits would give a second spelling. */
		last = b64url_value((unsigned char)in[len - 1]);
		if ((rem == 2 && (last & 0x0f) != 0) ||
		    (rem == 3 && (last & 0x03) != 0))
			return CERTS_E_FORMAT;
	}
	if (outcap < need || (need > 0 && q == NULL))
		return CERTS_E_INVAL;

	for (i = 0; i + 3 < len; i += 4) {
		uint32_t v = (uint32_t)b64url_value((unsigned char)in[i]) << 18 |
		    (uint32_t)b64url_value((unsigned char)in[i + 1]) << 12 |
		    (uint32_t)b64url_value((unsigned char)in[i + 2]) << 6 |
		    (uint32_t)b64url_value((unsigned char)in[i + 3]);

		q[o++] = (unsigned char)(v >> 16);
		q[o++] = (unsigned char)(v >> 8);
		q[o++] = (unsigned char)v;
	}
	if (rem >= 2) {
		uint32_t v = (uint32_t)b64url_value((unsigned char)in[i]) << 18 |
		    (uint32_t)b64url_value((unsigned char)in[i + 1]) << 12;

		if (rem == 3)
			v |= (uint32_t)b64url_value((unsigned char)in[i + 2])
			    << 6;
		q[o++] = (unsigned char)(v >> 16);
		if (rem == 3)
			q[o++] = (unsigned char)(v >> 8);
	}
	*outlen = o;
	return CERTS_OK;
}
