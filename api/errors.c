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
	{ API_E_BADREQ,       { 400, "bad-request", "Malformed request" } },
	{ API_E_SMUGGLE,      { 400, "ambiguous-framing", "Ambiguous message framing" } },
	{ API_E_JSON,         { 400, "invalid-json", "Request body is not valid JSON" } },
	{ API_E_UNAUTH,       { 401, "unauthorized", "Authentication required" } },
	{ API_E_FORBIDDEN,    { 403, "forbidden", "Not allowed" } },
	{ API_E_NOTFOUND,     { 404, "not-found", "Not found" } },
	{ API_E_METHOD,       { 405, "method-not-allowed", "Method not allowed" } },
	{ API_E_CONFLICT,     { 409, "conflict", "Conflict" } },
	{ API_E_LENGTH,       { 411, "length-required", "Content-Length required" } },
	{ API_E_PRECOND_FAIL, { 412, "precondition-failed", "The resource has changed" } },
	{ API_E_TOOBIG,       { 413, "body-too-large", "Request body too large" } },
	{ API_E_MEDIA,        { 415, "unsupported-media-type", "Unsupported Content-Type" } },
	{ API_E_PRECOND_REQ,  { 428, "precondition-required", "If-Match required" } },
	{ API_E_THROTTLED,    { 429, "too-many-requests", "Too many requests" } },
	{ API_E_NOMEM,        { 500, "internal-error", "Internal error" } },
	{ API_E_INTERNAL,     { 500, "internal-error", "Internal error" } },
	{ API_E_CONFIG,       { 500, "internal-error", "Internal error" } },
	{ API_E_TLS,          { 500, "internal-error", "Internal error" } },
	{ API_E_UNAVAILABLE,  { 503, "unavailable", "Service unavailable" } },
	/* policy/: limits on documents */
	{ POLICY_E_DEPTH,     { 400, "json-limit", "JSON document exceeds a limit" } },
	{ POLICY_E_MEMBERS,   { 400, "json-limit", "JSON document exceeds a limit" } },
	{ POLICY_E_TOTAL,     { 400, "json-limit", "JSON document exceeds a limit" } },
	{ POLICY_E_STRING,    { 400, "json-limit", "JSON document exceeds a limit" } },
	{ POLICY_E_KEY,       { 400, "json-limit", "JSON document exceeds a limit" } },
	{ POLICY_E_INVAL,     { 400, "bad-request", "Malformed request" } },
	{ POLICY_E_LOGIN,     { 400, "invalid-login", "Login not acceptable" } },
	{ POLICY_E_WEAKPW,    { 400, "weak-password", "Password too weak" } },
	{ POLICY_E_PROFILE,   { 400, "invalid-profile", "Profile not acceptable" } },
	{ POLICY_E_NOMEM,     { 500, "internal-error", "Internal error" } },
	/* broker/ */
	{ BROKER_E_NOTFOUND,  { 404, "not-found", "Not found" } },
	{ BROKER_E_EXISTS,    { 409, "conflict", "Already exists" } },
	{ BROKER_E_INVAL,     { 400, "bad-request", "Malformed request" } },
	{ BROKER_E_BADPASS,   { 401, "unauthorized", "Authentication required" } },
	{ BROKER_E_EXPIRED,   { 401, "unauthorized", "Authentication required" } },
	{ BROKER_E_STALE,     { 412, "precondition-failed", "The resource has changed" } },
	{ BROKER_E_FULL,      { 507, "insufficient-storage", "Storage is full" } },
	{ BROKER_E_BUSY,      { 503, "unavailable", "Too many pending writes" } },
	{ BROKER_E_STOPPED,   { 503, "unavailable", "Service is shutting down" } },
	{ BROKER_E_STORAGE,   { 500, "internal-error", "Internal error" } },
	{ BROKER_E_CORRUPT,   { 500, "internal-error", "Internal error" } },
	{ BROKER_E_NOMEM,     { 500, "internal-error", "Internal error" } },
};

static const struct api_error_info internal = { 500, "internal-error",
	"Internal error" };

const struct api_error_info *
api_error_lookup(int err)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].code == err)
			return &table[i].info;
	return &internal;
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
	default: return "unknown api error";
	}
}
