/*
 * json.c - parsing untrusted JSON request bodies.
 *
 * jansson alone accepts duplicate keys and nests 2048 deep; here every body
 * goes through the broker's own depth pre-scan, JSON_REJECT_DUPLICATES and
 * the policy limits before a handler sees it.  json_loadb, not json_loads:
 * the latter would stop at an embedded NUL and accept a truncated document.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api_int.h"

int
api_json_parse(const char *buf, size_t len,
    const struct policy_json_limits *lim, json_t **out, char *detail,
    size_t detailcap)
{
	json_error_t jerr;
	json_t *doc;
	char where[128];
	int rc;

	*out = NULL;
	detail[0] = '\0';
	if ((rc = policy_json_depth(buf, len, lim->max_depth)) != 0) {
		snprintf(detail, detailcap, "JSON nested deeper than %u levels",
		    lim->max_depth);
		return rc;
	}
	doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL) {
		snprintf(detail, detailcap, "invalid JSON at line %d column %d: %s",
		    jerr.line, jerr.column, jerr.text);
		return API_E_JSON;
	}
	if ((rc = policy_json_check(doc, lim, where, sizeof(where))) != 0) {
		snprintf(detail, detailcap, "%s at '%s'", policy_strerror(rc),
		    where[0] ? where : "/");
		json_decref(doc);
		return rc;
	}
	*out = doc;
	return 0;
}

int
api_json_strings(struct api_request *r, const char *const *fields,
    size_t n_required)
{
	const char *key;
	json_t *v;
	size_t i;

	if (!json_is_object(r->json))
		return api_fail(r, API_E_BADREQ, "expected a JSON object");
	json_object_foreach(r->json, key, v) {
		for (i = 0; fields[i] != NULL; i++)
			if (strcmp(fields[i], key) == 0)
				break;
		if (fields[i] == NULL)
			return api_fail(r, API_E_BADREQ,
			    "unexpected member '%.64s'", key);
		if (!json_is_string(v))
			return api_fail(r, API_E_BADREQ,
			    "'%s' must be a string", key);
	}
	for (i = 0; i < n_required; i++)
		if (json_object_get(r->json, fields[i]) == NULL)
			return api_fail(r, API_E_BADREQ, "'%s' is required",
			    fields[i]);
	return 0;
}

const char *
api_json_str(struct api_request *r, const char *name, size_t *len)
{
	json_t *v = json_object_get(r->json, name);

	*len = json_is_string(v) ? json_string_length(v) : 0;
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* n decimal digits at s, or -1. */
static int
digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* expires_at: seconds since the epoch, or RFC 3339 "YYYY-MM-DDTHH:MM:SSZ". */
int
api_parse_time(const json_t *v, int64_t *out)
{
	struct tm tm = { 0 };
	const char *s;

	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':' ||
	    (strcmp(s + 19, "Z") != 0 && strcmp(s + 19, "+00:00") != 0))
		return -1;
	tm.tm_year = digits(s, 4);
	tm.tm_mon = digits(s + 5, 2);
	tm.tm_mday = digits(s + 8, 2);
	tm.tm_hour = digits(s + 11, 2);
	tm.tm_min = digits(s + 14, 2);
	tm.tm_sec = digits(s + 17, 2);
	if (tm.tm_year < 1970 || tm.tm_mon < 1 || tm.tm_mon > 12 ||
	    tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour < 0 ||
	    tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 ||
	    tm.tm_sec < 0 || tm.tm_sec > 60)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	{
		struct tm back;
		time_t t = timegm(&tm);
		int mday = tm.tm_mday, mon = tm.tm_mon;

		/* timegm normalises 31 February into March: refuse it. */
		if (gmtime_r(&t, &back) == NULL || back.tm_mday != mday ||
		    back.tm_mon != mon)
			return -1;
		*out = (int64_t)t;
	}
	return 0;
}

