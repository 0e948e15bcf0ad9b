/*
 * errors.c - the one table that turns module error codes into HTTP.
 *
 * Every error a client can see passes through api_error_lookup: a status,
 * a problem type (a slug under <issuer>/problems/) and a title.  Raw LMDB,
 * OpenSSL or GnuTLS codes never get here; unknown codes become 500.
 */
#include <stddef.h>

#include "api/api_int.h"
#include "certs/certs.h"

struct row {
	int code;
	struct api_error_info info;
};

static const struct row table[] = {
	/* api/ */
	{ API_E_BADREQ,       { 400, "bad-request", "Malformed request", NULL } },
	{ API_E_SMUGGLE,      { 400, "ambiguous-framing", "Ambiguous message framing", NULL } },
	{ API_E_JSON,         { 400, "invalid-json", "Request body is not valid JSON", NULL } },
	{ API_E_UNAUTH,       { 401, "unauthorized", "Authentication required", NULL } },
	{ API_E_FORBIDDEN,    { 403, "forbidden", "Not allowed", NULL } },
	{ API_E_NOTFOUND,     { 404, "not-found", "Not found", NULL } },
	{ API_E_METHOD,       { 405, "method-not-allowed", "Method not allowed", NULL } },
	{ API_E_CONFLICT,     { 409, "conflict", "Conflict", NULL } },
	{ API_E_LENGTH,       { 411, "length-required", "Content-Length required", NULL } },
	{ API_E_PRECOND_FAIL, { 412, "precondition-failed", "The resource has changed", NULL } },
	{ API_E_TOOBIG,       { 413, "body-too-large", "Request body too large", NULL } },
	{ API_E_MEDIA,        { 415, "unsupported-media-type", "Unsupported Content-Type", NULL } },
	{ API_E_PRECOND_REQ,  { 428, "precondition-required", "If-Match required", NULL } },
	{ API_E_THROTTLED,    { 429, "too-many-requests", "Too many requests", NULL } },
	{ API_E_NOMEM,        { 500, "internal-error", "Internal error", NULL } },
	{ API_E_INTERNAL,     { 500, "internal-error", "Internal error", NULL } },
	{ API_E_CONFIG,       { 500, "internal-error", "Internal error", NULL } },
	{ API_E_TLS,          { 500, "internal-error", "Internal error", NULL } },
	{ API_E_UNAVAILABLE,  { 503, "unavailable", "Service unavailable", NULL } },
	/* OAuth 2.0 (RFC 6749 5.2, RFC 6750 3.1): the last column is the
	 * "error" value the OAuth endpoints answer with. */
	{ API_E_INVALID_CLIENT,      { 401, "invalid-client", "Client authentication failed", "invalid_client" } },
	{ API_E_INVALID_GRANT,       { 400, "invalid-grant", "Invalid grant", "invalid_grant" } },
	{ API_E_UNSUPPORTED_GRANT,   { 400, "unsupported-grant-type", "Unsupported grant type", "unsupported_grant_type" } },
	{ API_E_INVALID_SCOPE,       { 400, "invalid-scope", "Invalid scope", "invalid_scope" } },
	{ API_E_INVALID_TOKEN,       { 401, "invalid-token", "Invalid token", "invalid_token" } },
	{ API_E_WRONG_PASSWORD,      { 403, "wrong-password", "The current password is wrong", NULL } },
	{ API_E_UNAUTHORIZED_CLIENT, { 400, "unauthorized-client", "Unauthorized client", "unauthorized_client" } },
	{ POLICY_E_SCOPE,            { 400, "invalid-scope", "Invalid scope", "invalid_scope" } },
	/* policy/: limits on documents */
	{ POLICY_E_DEPTH,     { 400, "json-limit", "JSON document exceeds a limit", NULL } },
	{ POLICY_E_MEMBERS,   { 400, "json-limit", "JSON document exceeds a limit", NULL } },
	{ POLICY_E_TOTAL,     { 400, "json-limit", "JSON document exceeds a limit", NULL } },
	{ POLICY_E_STRING,    { 400, "json-limit", "JSON document exceeds a limit", NULL } },
	{ POLICY_E_KEY,       { 400, "json-limit", "JSON document exceeds a limit", NULL } },
	{ POLICY_E_INVAL,     { 400, "bad-request", "Malformed request", NULL } },
	{ POLICY_E_LOGIN,     { 400, "invalid-login", "Login not acceptable", NULL } },
	{ POLICY_E_WEAKPW,    { 400, "weak-password", "Password too weak", NULL } },
	{ POLICY_E_PROFILE,   { 400, "invalid-profile", "Profile not acceptable", NULL } },
	{ POLICY_E_NOMEM,     { 500, "internal-error", "Internal error", NULL } },
	/* broker/ */
	{ BROKER_E_NOTFOUND,  { 404, "not-found", "Not found", NULL } },
	{ BROKER_E_EXISTS,    { 409, "conflict", "Already exists", NULL } },
	{ BROKER_E_INVAL,     { 400, "bad-request", "Malformed request", NULL } },
	{ BROKER_E_BADPASS,   { 401, "unauthorized", "Authentication required", NULL } },
	{ BROKER_E_EXPIRED,   { 401, "unauthorized", "Authentication required", NULL } },
	{ BROKER_E_DISABLED,  { 403, "forbidden", "The company is disabled", NULL } },
	{ BROKER_E_REVOKED,   { 404, "not-found", "Revoked or expired", NULL } },
	{ BROKER_E_STALE,     { 412, "precondition-failed", "The resource has changed", NULL } },
	{ BROKER_E_LIMIT,     { 409, "quota-exceeded", "Quota exceeded", NULL } },
	{ BROKER_E_FULL,      { 507, "insufficient-storage", "Storage is full", NULL } },
	{ BROKER_E_BUSY,      { 503, "unavailable", "Too many pending writes", NULL } },
	{ BROKER_E_STOPPED,   { 503, "unavailable", "Service is shutting down", NULL } },
	{ BROKER_E_STORAGE,   { 500, "internal-error", "Internal error", NULL } },
	{ BROKER_E_CORRUPT,   { 500, "internal-error", "Internal error", NULL } },
	{ BROKER_E_NOMEM,     { 500, "internal-error", "Internal error", NULL } },
};

static const struct api_error_info internal = { 500, "internal-error",
	"Internal error", NULL };

const struct api_error_info *
api_error_lookup(int err)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].code == err)
			return &table[i].info;
	return &internal;
}

const char *
api_oauth_error(const struct api_error_info *e)
{
	if (e->oauth != NULL)
		return e->oauth;
	/* Everything else by status: RFC 6749 5.2 has no finer words. */
	switch (e->status) {
	case 401: return "invalid_client";
	case 429:
	case 503: return "temporarily_unavailable";
	default: return e->status >= 500 ? "server_error" : "invalid_request";
	}
}

void
api_oauth_text(char *out, size_t cap, const char *s)
{
	size_t i;

	if (cap == 0)
		return;
	/* RFC 6749 5.2 and 4.1.2.1: %x20-21 / %x23-5B / %x5D-7E only. */
	for (i = 0; s[i] != '\0' && i + 1 < cap; i++)
		out[i] = s[i] == '"' || s[i] == '\\' ||
			(unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e
		    ? '\''
		    : s[i];
	out[i] = '\0';
}

const char *
api_strerror(int err)
{
	switch (err) {
	case API_OK: return "success";
	case API_E_BADREQ: return "malformed request";
	case API_E_SMUGGLE: return "ambiguous message framing";
	case API_E_NOTFOUND: return "not found";
	case API_E_METHOD: return "method not allowed";
	case API_E_UNAUTH: return "authentication required";
	case API_E_FORBIDDEN: return "forbidden";
	case API_E_LENGTH: return "length required";
	case API_E_TOOBIG: return "body too large";
	case API_E_MEDIA: return "unsupported media type";
	case API_E_JSON: return "invalid JSON";
	case API_E_PRECOND_REQ: return "precondition required";
	case API_E_PRECOND_FAIL: return "precondition failed";
	case API_E_CONFLICT: return "conflict";
	case API_E_THROTTLED: return "too many requests";
	case API_E_NOMEM: return "out of memory";
	case API_E_INTERNAL: return "internal error";
	case API_E_UNAVAILABLE: return "service unavailable";
	case API_E_CONFIG: return "bad configuration";
	case API_E_TLS: return "certificate or key unusable";
	case API_E_INVALID_CLIENT: return "client authentication failed";
	case API_E_INVALID_GRANT: return "invalid grant";
	case API_E_UNSUPPORTED_GRANT: return "unsupported grant type";
	case API_E_INVALID_SCOPE: return "invalid scope";
	case API_E_INVALID_TOKEN: return "invalid token";
	case API_E_UNAUTHORIZED_CLIENT: return "unauthorized client";
	case API_E_WRONG_PASSWORD: return "wrong current password";
	default: return "unknown api error";
	}
}
