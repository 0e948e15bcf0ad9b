/*
 * json.c - parsing untrusted JSON request bodies.
 *
 * jansson alone accepts duplicate keys and nests 2048 deep; here every body
 * goes through the broker's own depth pre-scan, JSON_REJECT_DUPLICATES and
 * the policy limits before a handler sees it.  json_loadb, not json_loads:
 * the latter would stop at an embedded NUL and accept a truncated document.
 */
#include <stdio.h>

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
