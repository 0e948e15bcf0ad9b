/*
 * routes.c - the route table and the dispatcher's matcher.
 *
 * Every endpoint is one row here: method, path pattern, handler, the
 * authentication it needs and the body it takes.  Anything not listed is
 * denied (404, or 405 with Allow when only the method is wrong); there is
 * no other way for a request to reach a handler.
 */
#include <stdio.h>
#include <string.h>

#include "api/api_int.h"

const struct api_route api_routes[] = {
	/* method    path                     handler              auth              body                  errors           metrics name */
	{ "GET",    "/healthz",              api_h_healthz,       API_AUTH_NONE,    API_BODY_NONE,       API_ERR_PROBLEM, "healthz"          }, /* liveness: the store answers */
	{ "GET",    "/metrics",              api_h_metrics,       API_AUTH_ADMIN,   API_BODY_NONE,       API_ERR_PROBLEM, "metrics"          }, /* Prometheus text */
	{ "POST",   "/v1/customers",         api_h_register,      API_AUTH_NONE,    API_BODY_JSON,       API_ERR_PROBLEM, "customers"        }, /* sign up */
	{ "POST",   "/v1/sessions",          api_h_login,         API_AUTH_NONE,    API_BODY_JSON,       API_ERR_PROBLEM, "sessions"         }, /* log in */
	{ "DELETE", "/v1/sessions",          api_h_logout_all,    API_AUTH_SESSION, API_BODY_NONE,       API_ERR_PROBLEM, "sessions_all"     }, /* log out everywhere */
	{ "DELETE", "/v1/sessions/current",  api_h_logout,        API_AUTH_SESSION, API_BODY_NONE,       API_ERR_PROBLEM, "session_current"  }, /* log out */
	{ "PUT",    "/v1/me/password",       api_h_password,      API_AUTH_SESSION, API_BODY_JSON,       API_ERR_PROBLEM, "password"         }, /* change password */
	{ "GET",    "/v1/me/profile",        api_h_profile_get,   API_AUTH_SESSION, API_BODY_NONE,       API_ERR_PROBLEM, "profile"          }, /* read, with ETag */
	{ "PUT",    "/v1/me/profile",        api_h_profile_put,   API_AUTH_SESSION, API_BODY_JSON,       API_ERR_PROBLEM, "profile_put"      }, /* replace, If-Match */
	{ "PATCH",  "/v1/me/profile",        api_h_profile_put,   API_AUTH_SESSION, API_BODY_MERGE_PATCH,API_ERR_PROBLEM, "profile_patch"    }, /* RFC 7396, If-Match */
{ "GET",    "/.well-known/oauth-authorization-server", api_h_metadata, API_AUTH_NONE, API_BODY_NONE, API_ERR_PROBLEM, "oauth_metadata" }, /* RFC 8414 */
	{ "GET",    "/.well-known/jwks.json", api_h_jwks,     API_AUTH_NONE,    API_BODY_NONE,       API_ERR_PROBLEM, "jwks"             }, /* public keys */
	{ "POST",   "/oauth/token",          api_h_token,         API_AUTH_CLIENT,  API_BODY_FORM,       API_ERR_OAUTH,   "token"            }, /* RFC 6749 */
	{ "POST",   "/oauth/introspect",     api_h_introspect,    API_AUTH_CLIENT,  API_BODY_FORM,       API_ERR_OAUTH,   "introspect"       }, /* RFC 7662 */
	{ "POST",   "/oauth/revoke",         api_h_revoke,        API_AUTH_CLIENT,  API_BODY_FORM,       API_ERR_OAUTH,   "revoke"           }, /* RFC 7009 */
	{ "GET",    "/v1/profile",           api_h_resource,      API_AUTH_BEARER,  API_BODY_NONE,       API_ERR_BEARER,  "fetch"            }, /* granted fields */
	{ "GET",    "/v1/company/grants",    api_h_company_grants, API_AUTH_CLIENT, API_BODY_NONE,       API_ERR_PROBLEM, "company_grants"   }, /* grants to caller */
	{ "GET",    "/v1/companies",         api_h_companies,     API_AUTH_NONE,    API_BODY_NONE,       API_ERR_PROBLEM, "companies"        }, /* directory */
	{ "POST",   "/v1/me/grants",         api_h_grant_create,  API_AUTH_SESSION, API_BODY_JSON,       API_ERR_PROBLEM, "grant_create"     }, /* grant access */
	{ "GET",    "/v1/me/grants",         api_h_grants,        API_AUTH_SESSION, API_BODY_NONE,       API_ERR_PROBLEM, "grants"           }, /* list */
	{ "GET",    "/v1/me/grants/{id}",    api_h_grant_get,     API_AUTH_SESSION, API_BODY_NONE,       API_ERR_PROBLEM, "grant"            }, /* one */
	{ "DELETE", "/v1/me/grants/{id}",    api_h_grant_revoke,  API_AUTH_SESSION, API_BODY_NONE,       API_ERR_PROBLEM, "grant_revoke"     }, /* revoke now */
	{ "GET",    "/v1/me/audit",          api_h_audit,         API_AUTH_SESSION, API_BODY_NONE,       API_ERR_PROBLEM, "audit"            }, /* access log */
	{ "GET",    "/v1/me/export",         api_h_export,        API_AUTH_SESSION, API_BODY_NONE,       API_ERR_PROBLEM, "export"           }, /* everything */
	{ "DELETE", "/v1/me",                api_h_delete_me,     API_AUTH_SESSION, API_BODY_NONE,       API_ERR_PROBLEM, "delete_me"        }, /* erase account */
	{ "GET",    "/v1/sessions/current",  api_h_session,       API_AUTH_SESSION, API_BODY_NONE,       API_ERR_PROBLEM, "session"          }, /* who, and CSRF */
	{ "GET",    "/v1/scopes",            api_h_scopes,        API_AUTH_NONE,    API_BODY_NONE,       API_ERR_PROBLEM, "scopes"           }, /* plain words */
	{ "GET",    "/oauth/authorize",      api_h_authorize,     API_AUTH_NONE,    API_BODY_NONE,       API_ERR_PROBLEM, "authorize"        }, /* RFC 6749 4.1 */
	{ "GET",    "/v1/authorize",         api_h_consent,       API_AUTH_SESSION, API_BODY_NONE,       API_ERR_PROBLEM, "consent"          }, /* consent screen */
	{ "POST",   "/v1/authorize",         api_h_decide,        API_AUTH_SESSION, API_BODY_JSON,       API_ERR_PROBLEM, "decide"           }, /* approve or deny */
	{ "GET",    "/",                     api_h_asset,         API_AUTH_NONE,    API_BODY_NONE,       API_ERR_PROBLEM, "page"             }, /* the web page */
	{ "GET",    "/{asset}",              api_h_asset,         API_AUTH_NONE,    API_BODY_NONE,       API_ERR_PROBLEM, "asset"            }, /* its files: last */
};
const size_t api_n_routes = sizeof(api_routes) / sizeof(api_routes[0]);

/* Is the segment (len bytes at s) the name of an embedded page file? */
static int
is_asset(const char *s, size_t len)
{
	for (const struct api_asset *a = api_assets; a->path != NULL; a++)
		if (strlen(a->path) == len + 1 && memcmp(a->path + 1, s, len) == 0)
			return 1;
	return 0;
}

/*
 * Matches path against pattern segment by segment, capturing {params};
 * {asset} matches only the name of a file the page is made of, so that
 * any other path is simply not found, whatever the method.
 */
static int
pattern_match(const char *pat, const char *path, struct api_param *params,
    size_t *n)
{
	*n = 0;
	while (*pat != '\0' && *path != '\0') {
		if (*pat != '/' || *path != '/')
			return 0;
		pat++;
		path++;
		if (*pat == '{') {
			const char *end = strchr(path, '/');
			size_t len = end ? (size_t)(end - path) : strlen(path);

			if (len == 0 || *n >= API_MAX_PARAMS ||
			    (strncmp(pat, "{asset}", 7) == 0 &&
				!is_asset(path, len)))
				return 0;
			params[*n].s = path;
			params[*n].len = len;
			(*n)++;
			path += len;
			pat = strchr(pat, '}');
			if (pat == NULL)
				return 0;
			pat++;
			continue;
		}
		while (*pat != '\0' && *pat != '/' && *pat == *path) {
			pat++;
			path++;
		}
		if ((*pat != '\0' && *pat != '/') || (*path != '\0' && *path != '/'))
			return 0;
	}
	return *pat == '\0' && *path == '\0';
}

static void
allow_add(char *allow, size_t cap, const char *method)
{
	size_t used = strlen(allow);
	int n;

	if (strstr(allow, method) != NULL)
		return;
	n = snprintf(allow + used, cap - used, "%s%s", used ? ", " : "",
	    method);
	if (n < 0 || (size_t)n >= cap - used)
		allow[used] = '\0';
}

int
api_route_match(const char *method, const char *path,
    const struct api_route **route, struct api_param params[API_MAX_PARAMS],
    size_t *n_params, char *allow, size_t allowcap)
{
	struct api_param p[API_MAX_PARAMS];
	size_t n, i;
	int path_found = 0, head = strcmp(method, "HEAD") == 0;

	*route = NULL;
	*n_params = 0;
	if (allowcap > 0)
		allow[0] = '\0';
	for (i = 0; i < api_n_routes; i++) {
		const struct api_route *rt = &api_routes[i];

		if (!pattern_match(rt->pattern, path, p, &n))
			continue;
		path_found = 1;
		if (allowcap > 0) {
			allow_add(allow, allowcap, rt->method);
			if (strcmp(rt->method, "GET") == 0)
				allow_add(allow, allowcap, "HEAD");
		}
		if (strcmp(rt->method, method) == 0 ||
		    (head && strcmp(rt->method, "GET") == 0)) {
			*route = rt;
			memcpy(params, p, n * sizeof(p[0]));
			*n_params = n;
			return 0;
		}
	}
	return path_found ? API_E_METHOD : API_E_NOTFOUND;
}
