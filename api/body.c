/*
 * body.c - request bodies in a buffer with a hard cap.
 *
 * The cap is fixed when the request starts, so a client can never make the
 * broker hold more than it allows; crossing it is reported at once and the
 * buffer is not grown.  Bodies may carry passwords: they are wiped.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "certs/certs.h"

void
api_body_init(struct api_body *b, size_t limit)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->limit = limit;
}

int
api_body_append(struct api_body *b, const void *data, size_t len)
{
	size_t need, ncap;
	char *n;

	/* Reject before arithmetic: len + b->len (+ 1 for the NUL) may wrap. */
	if (len >= SIZE_MAX - b->len || len > b->limit ||
	    b->len > b->limit - len)
		return API_E_TOOBIG;
	need = b->len + len;
	if (need + 1 > b->cap) {
		ncap = b->cap ? b->cap : 1024;
		while (ncap < need + 1)
			ncap = ncap > SIZE_MAX / 2 ? need + 1 : ncap * 2;
		/* limit + 1 would wrap for an unbounded (SIZE_MAX) limit. */
		if (b->limit < SIZE_MAX && ncap > b->limit + 1)
			ncap = b->limit + 1;
		/* Not realloc: the old copy would be freed unwiped. */
		if ((n = malloc(ncap)) == NULL)
			return API_E_NOMEM;
		if (b->len > 0)
			memcpy(n, b->data, b->len);
		certs_free_secret(b->data, b->cap);
		b->data = n;
		b->cap = ncap;
	}
	memcpy(b->data + b->len, data, len);
	b->len = need;
	b->data[b->len] = '\0';
	return 0;
}

void
api_body_free(struct api_body *b)
{
	certs_free_secret(b->data, b->cap);
	b->data = NULL;
	b->len = b->cap = 0;
}
