/*
 * me.c - a customer's own account as a whole: the audit trail, the export
 * and the deletion.
 *
 * Deletion revokes every grant before it erases anything, in one commit,
 * so a company's next fetch fails; sessions die with the account.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "certs/certs.h"

#define AUDIT_PAGE 50
#define AUDIT_PAGE_MAX 200
#define CURSOR_LEN 24

/* GET /v1/me/audit?limit=N&cursor=C */
int
api_h_audit(struct api_request *r)
{
	const char *cursor;
	struct broker_txn *t = NULL;
	json_t *items = NULL;
	char next[CURSOR_LEN + 1];
	size_t limit;
	int rc;

	if ((rc = api_page_args(r, AUDIT_PAGE, AUDIT_PAGE_MAX, &limit,
		 &cursor)) != 0)
		return rc;
	if (cursor != NULL && strlen(cursor) != CURSOR_LEN)
		return api_fail(r, API_E_BADREQ, "malformed cursor");
	if ((rc = broker_read_begin(r->srv->store, &t)) != 0)
		return rc;
	rc = broker_audit_list(t, r->customer_id, cursor, limit,
	    &items, next, sizeof(next));
	broker_read_end(t);
	if (rc == BROKER_E_INVAL)
		return api_fail(r, API_E_BADREQ, "malformed cursor");
	if (rc != 0)
		return rc;
	return api_respond_json(r, 200, json_pack("{s:o, s:s?}", "items",
	    items, "next", next[0] ? next : NULL));
}

/*
 * GET /v1/me/export, streamed: the account, profile and grants and the
 * first page of the trail come from one snapshot, rendered at once; the
 * rest of the trail follows a page per read, each its own snapshot, as
 * the client takes the bytes.  Pages run from newest to oldest from that
 * first snapshot's cursor, so records made during the download are not
 * in it; memory stays one page, however long the trail.
 */
struct export {
	struct api_server *srv;
	struct api_request *r; /* for the bytes sent; outlives every read */
	char cid[BROKER_ID_LEN + 1];
	char cursor[CURSOR_LEN + 1]; /* "" once the trail is read */
	int64_t at;
	int any;  /* a record was written: the next takes a comma */
	int done; /* the closing text is in buf */
	char *buf;
	size_t len, off, cap;
};

static void
export_free(void *cls)
{
	struct export *x = cls;

	free(x->buf);
	free(x);
}

static int
put(struct export *x, const char *s, size_t n)
{
	if (n == 0)
		return 0;
	if (x->len + n > x->cap) {
		size_t cap = x->cap ? x->cap : 16384;
		char *p;

		while (cap < x->len + n)
			cap *= 2;
		if ((p = realloc(x->buf, cap)) == NULL)
			return API_E_NOMEM;
		x->buf = p;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, s, n);
	x->len += n;
	return 0;
}

/* Appends a page of records (taking items) and notes the next cursor. */
static int
put_page(struct export *x, json_t *items, const char *next)
{
	size_t i;
	json_t *v;
	char *text;
	int rc = 0;

	json_array_foreach(items, i, v) {
		if ((text = json_dumps(v, JSON_COMPACT |
			 JSON_REAL_PRECISION(15))) == NULL) {
			rc = API_E_NOMEM;
			break;
		}
		if ((x->any && (rc = put(x, ",", 1)) != 0) ||
		    (rc = put(x, text, strlen(text))) != 0) {
			free(text);
			break;
		}
		free(text);
		x->any = 1;
	}
	json_decref(items);
	memcpy(x->cursor, next, sizeof(x->cursor));
	return rc;
}

/* Refills buf: the next page, or the end of the document. */
static int
export_more(struct export *x)
{
	struct broker_customer c;
	struct broker_txn *t = NULL;
	json_t *items = NULL;
	char next[CURSOR_LEN + 1], tail[64];
	int rc, n;

	x->len = x->off = 0;
	if (x->cursor[0] == '\0') {
		n = snprintf(tail, sizeof(tail), "],\"exported_at\":%lld}",
		    (long long)x->at);
		x->done = 1;
		return put(x, tail, (size_t)n);
	}
	/* The store may be closing: a slow client outlives the drain. */
	if (api_late_enter(x->srv) != 0)
		return BROKER_E_STOPPED;
	if ((rc = broker_read_begin(x->srv->store, &t)) == 0) {
		/* An account erased meanwhile has no trail left to read:
		 * the rest must not pass for its end. */
		if ((rc = broker_customer_get(t, x->cid, &c)) == 0)
			rc = broker_audit_list(t, x->cid, x->cursor,
			    AUDIT_PAGE_MAX, &items, next, sizeof(next));
		certs_wipe(&c, sizeof(c));
		broker_read_end(t);
	}
	api_late_leave(x->srv);
	return rc != 0 ? rc : put_page(x, items, next);
}

static ssize_t
export_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct export *x = cls;
	size_t n;

	(void)pos;
	while (x->off == x->len) {
		if (x->done)
			return MHD_CONTENT_READER_END_OF_STREAM;
		/* Cut short (the account erased meanwhile, a store error):
		 * the client sees a broken transfer, never a whole one. */
		if (export_more(x) != 0)
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	n = x->len - x->off < max ? x->len - x->off : max;
	memcpy(out, x->buf + x->off, n);
	x->off += n;
	x->r->resp_bytes += n;
	return (ssize_t)n;
}

/* The first snapshot: everything but the older pages of the trail. */
static int
export_head(struct api_request *r, struct export *x)
{
	struct broker_customer c;
	struct broker_txn *t = NULL;
	json_t *profile = NULL, *grants = json_array(), *items = NULL;
	json_t *head = NULL;
	const char *json;
	char etag[BROKER_ETAG_LEN + 1], next[CURSOR_LEN + 1], *text = NULL;
	size_t len;
	int rc;

	memset(&c, 0, sizeof(c));
	if (grants == NULL)
		return API_E_NOMEM;
	if ((rc = broker_read_begin(r->srv->store, &t)) != 0)
		goto out;
	if ((rc = broker_customer_get(t, r->customer_id, &c)) == 0 &&
	    (rc = broker_profile_get(t, r->customer_id, &json, &len,
		 etag)) == 0) {
		if ((profile = json_loadb(json, len, 0, NULL)) == NULL)
			rc = BROKER_E_CORRUPT;
	}
	if (rc == 0)
		rc = broker_grants_of_customer(t, r->customer_id,
		    api_grant_append, grants);
	if (rc == 0)
		rc = broker_audit_list(t, r->customer_id, NULL, AUDIT_PAGE_MAX,
		    &items, next, sizeof(next));
	broker_read_end(t);
	if (rc != 0)
		goto out;
	head = json_pack("{s:{s:s, s:s, s:I}, s:O, s:O}", "customer", "id",
	    c.id, "login", c.login, "created_at", (json_int_t)c.created,
	    "profile", profile, "grants", grants);
	if (head == NULL || (text = json_dumps(head, JSON_COMPACT |
				 JSON_REAL_PRECISION(15))) == NULL) {
		rc = API_E_NOMEM;
		goto out;
	}
	/* The object without its closing brace, then the trail's start. */
	if ((rc = put(x, text, strlen(text) - 1)) == 0 &&
	    (rc = put(x, ",\"audit\":[", 10)) == 0) {
		rc = put_page(x, items, next);
		items = NULL;
	}
out:
	certs_wipe(&c, sizeof(c));
	free(text);
	json_decref(head);
	json_decref(items);
	json_decref(profile);
	json_decref(grants);
	return rc;
}

/* GET /v1/me/export */
int
api_h_export(struct api_request *r)
{
	struct export *x = calloc(1, sizeof(*x));
	int rc;

	if (x == NULL)
		return API_E_NOMEM;
	x->srv = r->srv;
	x->r = r;
	x->at = api_wall_now();
	memcpy(x->cid, r->customer_id, sizeof(x->cid));
	if ((rc = export_head(r, x)) != 0) {
		export_free(x);
		return rc;
	}
	/* Owns x from here, failure included. */
	if ((rc = api_respond_stream(r, 200, "application/json", export_read,
		 x, export_free)) != 0)
		return rc;
	return api_add_header(r, "Content-Disposition",
	    "attachment; filename=\"ccx-export.json\"");
}

/* DELETE /v1/me */
int
api_h_delete_me(struct api_request *r)
{
	struct broker_grant_end *e = r->state;

	if (e != NULL) {
		int rc = api_respond_bytes(r, 204, NULL, "", 0);

		return rc != 0 || !r->via_cookie ? rc
						  : api_session_cookie(r, "", 0);
	}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return API_E_NOMEM;
	r->state = e;
	r->state_free = free;
	e->customer = r->customer_id;
	e->now = api_wall_now();
	return api_write(r, broker_customer_delete, e);
}
