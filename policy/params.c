/*
 * params.c - the vocabulary and syntax of request parameters: the purposes
 * a grant may name, and PKCE verifiers and challenges.
 *
 * Pure: a company asks for access "for" one of these purposes, and the
 * customer sees it in plain words on every grant.
 */
#include <string.h>

#include "policy/policy.h"

static const char *const purposes[] = {
	"service",	   /* to provide a service the customer asked for */
	"marketing",	   /* to promote products or offers */
	"personalization", /* to tailor content or products */
	"analytics",	   /* to measure and improve */
	"research",	   /* studies and surveys */
};

int
policy_purpose_check(const char *purpose)
{
	if (purpose == NULL)
		return POLICY_E_INVAL;
	for (size_t i = 0; i < sizeof(purposes) / sizeof(purposes[0]); i++)
		if (strcmp(purpose, purposes[i]) == 0)
			return 0;
	return POLICY_E_INVAL;
}

int
policy_pkce_check(const char *s, size_t len)
{
	if (s == NULL || len < 43 || len > 128)
		return POLICY_E_INVAL;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			(c >= '0' && c <= '9') || c == '-' || c == '.' ||
			c == '_' || c == '~'))
			return POLICY_E_INVAL;
	}
	return 0;
}
