/*
 * grants.c - the company directory, a customer's grants, and the grants a
 * company holds.
 *
 * A customer sees and revokes only their own grants (another customer's
 * id answers 404, exactly like an unknown one); a company sees only the
 * grants made to it, each with the customer's pairwise subject, never the
 * customer's id or login.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_int.h"

#define GRANT_MAX_DAYS (5 * 366) /* the longest grant a customer can give */

/* ---- GET /v1/companies ------------------------------------------------ */

static int
directory_one(void *arg, const char *id, json_t *rec)
{
	if (json_is_true(json_object_get(rec, "disabled")))
		return 0;
	return json_array_append_new(arg, json_pack("{s:s, s:O, s:O, s:O}",
	    "id", id, "name", json_object_get(rec, "name"), "description",
	    json_object_get(rec, "description"), "site",
	    json_object_get(rec, "site"))) == 0 ? 0 : API_E_NOMEM;
}

int
api_h_companies(struct api_request *r)
{
	struct broker_txn *t = NULL;
	json_t *list = json_array();
	int rc;

	if (list == NULL)
		return API_E_NOMEM;
	if ((rc = broker_read_begin(r->srv->store, &t)) == 0) {
		rc = broker_company_each(t, directory_one, list);
		broker_read_end(t);
	}
	if (rc != 0) {
		json_decref(list);
		return rc;
	}
	return api_respond_json(r, 200, json_pack("{s:o}", "companies", list));
}

/* ---- the customer's grants -------------------------------------------- */

struct grant_state {
	int step;
	struct broker_grant_new gn;
	struct broker_grant_end ge;
	char company[BROKER_CLIENT_ID_MAX + 1];
	char purpose[BROKER_PURPOSE_MAX];
	char *scopes;
};

static void
grant_state_free(void *p)
{
	struct grant_state *s = p;

	free(s->scopes);
	free(s);
}

static struct grant_state *
grant_state(struct api_request *r)
{
	if (r->state == NULL) {
		if ((r->state = calloc(1, sizeof(struct grant_state))) == NULL)
			return NULL;
		r->state_free = grant_state_free;
	}
	return r->state;
}

/* Validates the body of POST /v1/me/grants into s. */
static int
grant_input(struct api_request *r, struct grant_state *s, int64_t now)
{
	static const char *const known[] = { "company", "scopes", "purpose",
		"expires_at", NULL };
	const json_t *scopes = json_object_get(r->json, "scopes"), *v;
	const char *company, *purpose, *key;
	struct policy_scopes *set = NULL;
	char why[160];
	int64_t exp;
	size_t i;
	json_t *val;

	if (!json_is_object(r->json))
		return api_fail(r, API_E_BADREQ, "expected a JSON object");
	json_object_foreach(r->json, key, val) {
		for (i = 0; known[i] != NULL && strcmp(known[i], key) != 0; i++)
			;
		if (known[i] == NULL)
			return api_fail(r, API_E_BADREQ,
			    "unexpected member '%.64s'", key);
	}
	company = json_string_value(json_object_get(r->json, "company"));
	purpose = json_string_value(json_object_get(r->json, "purpose"));
	if (company == NULL || broker_client_id_check(company) != 0)
		return api_fail(r, API_E_BADREQ, "'company' must be a company id");
	if (purpose == NULL || policy_purpose_check(purpose) != 0)
		return api_fail(r, API_E_BADREQ, "'purpose' must be one of "
		    "service, marketing, personalization, analytics, research");
	if (api_parse_time(json_object_get(r->json, "expires_at"), &exp) != 0)
		return api_fail(r, API_E_BADREQ, "'expires_at' must be seconds "
		    "since the epoch or an RFC 3339 UTC time");
	if (exp <= now)
		return api_fail(r, API_E_BADREQ, "'expires_at' is not in the "
		    "future");
	if (exp > now + (int64_t)GRANT_MAX_DAYS * 86400)
		return api_fail(r, API_E_BADREQ, "'expires_at' is more than "
		    "five years away");
	if (!json_is_array(scopes) || json_array_size(scopes) == 0)
		return api_fail(r, API_E_INVALID_SCOPE,
		    "'scopes' must be a non-empty array of scope strings");
	if ((set = policy_scopes_new()) == NULL)
		return API_E_NOMEM;
	json_array_foreach(scopes, i, v) {
		const char *sc = json_string_value(v);

		if (sc == NULL || policy_scopes_add(set, sc, strlen(sc), why,
				      sizeof(why)) != 0) {
			policy_scopes_free(set);
			return api_fail(r, API_E_INVALID_SCOPE, "%s",
			    sc == NULL ? "scopes must be strings" : why);
		}
	}
	s->scopes = policy_scopes_format(set);
	policy_scopes_free(set);
	if (s->scopes == NULL)
		return API_E_NOMEM;
	memcpy(s->company, company, strlen(company) + 1);
	memcpy(s->purpose, purpose, strlen(purpose) + 1);
	s->gn.customer = r->customer_id;
	s->gn.company = s->company;
	s->gn.scopes = s->scopes;
	s->gn.purpose = s->purpose;
	s->gn.expires = exp;
	s->gn.now = now;
	return 0;
}

/* Answers with one grant of this customer, or 404. */
static int
respond_grant(struct api_request *r, const char *id, unsigned status)
{
	struct broker_grant g = { 0 };
	struct broker_txn *t = NULL;
	char loc[64];
	int rc;

	if ((rc = broker_read_begin(r->srv->store, &t)) != 0)
		return rc;
	rc = broker_grant_get(t, id, &g);
	broker_read_end(t);
	if (rc == 0 && strcmp(g.customer, r->customer_id) != 0)
		rc = BROKER_E_NOTFOUND;
	if (rc == BROKER_E_NOTFOUND)
		rc = api_fail(r, API_E_NOTFOUND, "no such grant");
	if (rc == 0)
		rc = api_respond_json(r, status,
		    broker_grant_json(&g, api_wall_now()));
	if (rc == 0 && status == 201) {
		snprintf(loc, sizeof(loc), "/v1/me/grants/%s", g.id);
		rc = api_add_header(r, MHD_HTTP_HEADER_LOCATION, loc);
	}
	broker_grant_clear(&g);
	return rc;
}

/*
 * What every new grant passes, made here or on the consent page: the
 * customer's rate of making them now, the quota of live ones in the
 * commit (where concurrent requests cannot both take the last place).
 */
int
api_grant_admit(struct api_request *r, struct broker_grant_new *gn)
{
	int rc = api_throttle_admit(r, r->srv->quota, "g:", r->customer_id,
	    r->srv->cfg.grant_create_max,
	    "too many grants made lately; try again later");

	if (rc != 0)
		return rc;
	gn->max_live = r->srv->cfg.grant_max;
	r->write_limit = "you hold as many live grants as an account may; "
			 "revoke one first";
	return 0;
}

/* POST /v1/me/grants */
int
api_h_grant_create(struct api_request *r)
{
	struct grant_state *s = grant_state(r);
	struct broker_txn *t = NULL;
	int rc;

	if (s == NULL)
		return API_E_NOMEM;
	if (s->step == 1)
		return respond_grant(r, s->gn.id, 201);
	if ((rc = grant_input(r, s, api_wall_now())) != 0)
		return rc;
	/* A clear answer now; the commit checks again, atomically. */
	if ((rc = broker_read_begin(r->srv->store, &t)) != 0)
		return rc;
	rc = broker_company_live(t, s->company);
	broker_read_end(t);
	if (rc == BROKER_E_NOTFOUND || rc == BROKER_E_DISABLED)
		return api_fail(r, API_E_NOTFOUND, "no such company: %s",
		    s->company);
	if (rc != 0 || (rc = api_grant_admit(r, &s->gn)) != 0)
		return rc;
	s->step = 1;
	return api_write(r, broker_grant_create, &s->gn);
}

int
api_grant_append(void *arr, const struct broker_grant *g)
{
	json_t *o = broker_grant_json(g, api_wall_now());

	return o != NULL && json_array_append_new(arr, o) == 0 ? 0
							      : API_E_NOMEM;
}

/* GET /v1/me/grants */
int
api_h_grants(struct api_request *r)
{
	struct broker_txn *t = NULL;
	json_t *list = json_array();
	int rc;

	if (list == NULL)
		return API_E_NOMEM;
	if ((rc = broker_read_begin(r->srv->store, &t)) == 0) {
		rc = broker_grants_of_customer(t, r->customer_id,
		    api_grant_append, list);
		broker_read_end(t);
	}
	if (rc != 0) {
		json_decref(list);
		return rc;
	}
	return api_respond_json(r, 200, json_pack("{s:o}", "grants", list));
}

/* The {id} path parameter as a NUL-terminated grant id, or "" if bad. */
static void
path_id(const struct api_request *r, char out[BROKER_ID_LEN + 1])
{
	out[0] = '\0';
	if (r->n_params == 1 && r->params[0].len == BROKER_ID_LEN) {
		memcpy(out, r->params[0].s, BROKER_ID_LEN);
		out[BROKER_ID_LEN] = '\0';
	}
}

/* GET /v1/me/grants/{id} */
int
api_h_grant_get(struct api_request *r)
{
	char id[BROKER_ID_LEN + 1];

	path_id(r, id);
	return respond_grant(r, id, 200);
}

/* DELETE /v1/me/grants/{id}: revocation, effective at once. */
int
api_h_grant_revoke(struct api_request *r)
{
	struct grant_state *s = grant_state(r);
	char id[BROKER_ID_LEN + 1];

	if (s == NULL)
		return API_E_NOMEM;
	if (s->step == 1) {
		api_metrics_event(API_EV_GRANT_REVOKED);
		return api_respond_bytes(r, 204, NULL, "", 0);
	}
	path_id(r, s->gn.id);
	memcpy(id, s->gn.id, sizeof(id));
	if (id[0] == '\0')
		return api_fail(r, API_E_NOTFOUND, "no such grant");
	s->ge.customer = r->customer_id;
	s->ge.id = s->gn.id;
	s->ge.now = api_wall_now();
	s->step = 1;
	r->write_notfound = "no such grant";
	return api_write(r, broker_grant_revoke, &s->ge);
}

/* ---- GET /v1/company/grants ------------------------------------------ */

/* A grant id: BROKER_ID_LEN base64url characters. */
static int
is_id(const char *s)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			     "0123456789-_");

	return n == BROKER_ID_LEN && s[n] == '\0';
}

#define COMPANY_PAGE 100
#define COMPANY_PAGE_MAX 1000

struct company_list {
	struct api_request *r;
	json_t *list;
	size_t limit;
	char next[BROKER_ID_LEN + 1]; /* "" when the page is the last */
};

static int
company_one(void *arg, const struct broker_grant *g)
{
	struct company_list *c = arg;
	char sub[API_SUB_LEN + 1];
	json_t *o;
	int rc;

	if (json_array_size(c->list) == c->limit) {
		/* One more exists: the page ends at the one before. */
		const char *last = json_string_value(json_object_get(
		    json_array_get(c->list, c->limit - 1), "id"));

		memcpy(c->next, last, BROKER_ID_LEN + 1);
		return 1;
	}
	if ((rc = api_pairwise_sub(c->r->srv, g->customer, g->company,
		 sub)) != 0)
		return rc;
	if ((o = broker_grant_json(g, api_wall_now())) == NULL)
		return API_E_NOMEM;
	/* The company knows its customers only by their pairwise subject. */
	json_object_del(o, "company");
	json_object_set_new(o, "sub", json_string(sub));
	return json_array_append_new(c->list, o) == 0 ? 0 : API_E_NOMEM;
}

/* GET /v1/company/grants?limit=N&cursor=C: in grant id order. */
int
api_h_company_grants(struct api_request *r)
{
	struct company_list c = { r, NULL, 0, "" };
	struct broker_txn *t = NULL;
	const char *cursor;
	int rc;

	if ((rc = api_page_args(r, COMPANY_PAGE, COMPANY_PAGE_MAX, &c.limit,
		 &cursor)) != 0)
		return rc;
	if (cursor != NULL && !is_id(cursor))
		return api_fail(r, API_E_BADREQ, "malformed cursor");
	if ((c.list = json_array()) == NULL)
		return API_E_NOMEM;
	if ((rc = broker_read_begin(r->srv->store, &t)) == 0) {
		rc = broker_grants_of_company(t, r->client_id, cursor,
		    company_one, &c);
		broker_read_end(t);
	}
	if (rc != 0) {
		json_decref(c.list);
		return rc;
	}
	return api_respond_json(r, 200, json_pack("{s:o, s:s?}", "grants",
	    c.list, "next", c.next[0] ? c.next : NULL));
}
