/*
 * purpose.c - the fixed vocabulary of purposes a grant may name.
 *
 * A pure table: a company asks for access "for" one of these, and the
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
