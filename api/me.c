/*
 * me.c - a customer's own account as a whole: the audit trail, the export
 * and the deletion.
 *
 * Deletion revokes every grant before it erases anything, in one commit,
 * so a company's next fetch fails; sessions die with the account.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"

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

/* The whole trail, page by page inside one snapshot. */
static int
export_audit(struct broker_txn *t, const char *cid, json_t *all)
{
	char cursor[CURSOR_LEN + 1] = "", next[CURSOR_LEN + 1];
	json_t *items;
	int rc;

	do {
		rc = broker_audit_list(t, cid, cursor[0] ? cursor : NULL,
		    AUDIT_PAGE_MAX, &items, next, sizeof(next));
		if (rc != 0)
			return rc;
		json_array_extend(all, items);
		json_decref(items);
		memcpy(cursor, next, sizeof(cursor));
	} while (cursor[0] != '\0');
	return 0;
}

/* GET /v1/me/export */
int
api_h_export(struct api_request *r)
{
	struct broker_customer c;
	struct broker_txn *t = NULL;
	json_t *profile = NULL, *grants = json_array(), *audit = json_array();
	const char *json;
	char etag[BROKER_ETAG_LEN + 1];
	size_t len;
	int rc;

	if (grants == NULL || audit == NULL) {
		rc = API_E_NOMEM;
		goto out;
	}
	if ((rc = broker_read_begin(r->srv->store, &t)) != 0)
		goto out;
	/* One snapshot: the document is consistent in itself. */
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
		rc = export_audit(t, r->customer_id, audit);
	broker_read_end(t);
	if (rc != 0)
		goto out;
	rc = api_respond_json(r, 200, json_pack("{s:{s:s, s:s, s:I}, s:O, s:O, "
	    "s:O, s:I}", "customer", "id", c.id, "login", c.login, "created_at",
	    (json_int_t)c.created, "profile", profile, "grants", grants,
	    "audit", audit, "exported_at", (json_int_t)api_wall_now()));
	if (rc == 0)
		rc = api_add_header(r, "Content-Disposition",
		    "attachment; filename=\"ccx-export.json\"");
out:
	memset(&c, 0, sizeof(c));
	json_decref(profile);
	json_decref(grants);
	json_decref(audit);
	return rc;
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
