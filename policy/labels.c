/*
 * labels.c - what each standard scope means, in the words a customer
 * reads on the consent screen and in the access log.
 *
 * A pure table, matching the standard sections of DESIGN section 5.
 */
#include <string.h>

#include "policy/policy.h"

static const struct policy_field_label identity[] = {
	{ "read:identity.name", "Your name" },
	{ "read:identity.preferred_name", "The name you prefer to be called" },
	{ "read:identity.pronouns", "Your pronouns" },
	{ NULL, NULL },
};

static const struct policy_field_label contact[] = {
	{ "read:contact.email", "Your e-mail address" },
	{ "read:contact.phone", "Your phone number" },
	{ "read:contact.postal", "Your postal address" },
	{ NULL, NULL },
};

static const struct policy_field_label communication[] = {
	{ "read:communication.channels", "How you want to be contacted" },
	{ "read:communication.frequency", "How often you want to hear from them" },
	{ "read:communication.quiet_hours", "Your quiet hours" },
	{ "read:communication.do_not_contact", "Whether you wish not to be contacted" },
	{ NULL, NULL },
};

static const struct policy_field_label diet[] = {
	{ "read:diet.vegetarian", "Whether you are vegetarian" },
	{ "read:diet.vegan", "Whether you are vegan" },
	{ "read:diet.halal", "Whether you eat halal" },
	{ "read:diet.kosher", "Whether you eat kosher" },
	{ "read:diet.allergies", "Your food allergies" },
	{ NULL, NULL },
};

static const struct policy_field_label accessibility[] = {
	{ "read:accessibility.large_text", "Whether you need large text" },
	{ "read:accessibility.screen_reader", "Whether you use a screen reader" },
	{ "read:accessibility.captions", "Whether you need captions" },
	{ "read:accessibility.notes", "Your accessibility notes" },
	{ NULL, NULL },
};

static const struct policy_field_label none[] = { { NULL, NULL } };

const struct policy_section_label policy_catalog[] = {
	{ "read:identity", "Your name and pronouns", identity },
	{ "read:contact", "Your contact details", contact },
	{ "read:communication", "Your communication preferences", communication },
	{ "read:language", "Your language", none },
	{ "read:interests", "Your interests", none },
	{ "read:sizes", "Your clothing and shoe sizes", none },
	{ "read:diet", "Your dietary needs", diet },
	{ "read:accessibility", "Your accessibility needs", accessibility },
	{ NULL, NULL, NULL },
};

const char *
policy_scope_label(const char *scope)
{
	if (scope == NULL)
		return NULL;
	for (const struct policy_section_label *s = policy_catalog;
	     s->scope != NULL; s++) {
		if (strcmp(s->scope, scope) == 0)
			return s->label;
		for (const struct policy_field_label *f = s->fields;
		     f->scope != NULL; f++)
			if (strcmp(f->scope, scope) == 0)
				return f->label;
	}
	return NULL;
}
