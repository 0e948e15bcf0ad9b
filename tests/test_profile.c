/*
 * test_profile.c - unit tests of the profile rules of policy/: validation
 * of whole profile documents (policy_profile_validate), generic rules and
 * every standard section with its formats, and the RFC 7396 merge patch
 * (policy_merge_patch), including every failed allocation it can meet.
 *
 * Table-driven: each validation row is a JSON text, the expected code and
 * a piece of the reason expected for rejected rows; each merge row is a
 * target, a patch and the expected result of RFC 7396 Appendix A.  Every
 * document is released; valgrind and ASan see no leak.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy/policy.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define WHYCAP 512

static json_t *
load(const char *text)
{
	json_error_t err;
	json_t *doc = json_loads(text,
	    JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &err);

	if (doc == NULL)
		fail_msg("test document does not parse: %s: %s", text,
		    err.text);
	return doc;
}

/* Counts accepted and rejected rows: rejected ones must not be fewer. */
static void
assert_balanced(size_t accepted, size_t rejected)
{
	assert_true(accepted > 0);
	assert_true(rejected >= accepted);
}

/* Validates doc, checking the code and that why contains want. */
static void
expect_verdict(const json_t *doc, int expect, const char *want,
    const char *label)
{
	char why[WHYCAP];
	int rc;

	memcpy(why, "stale", 6);
	rc = policy_profile_validate(doc, why, sizeof(why));
	if (rc != expect)
		fail_msg("%s: rc %d, expected %d (why: \"%s\")", label, rc,
		    expect, why);
	if (expect == 0 && why[0] != '\0')
		fail_msg("%s: accepted but why is \"%s\"", label, why);
	if (expect != 0 && strstr(why, want) == NULL)
		fail_msg("%s: why \"%s\" lacks \"%s\"", label, why, want);
}

/* ---- validation table ------------------------------------------------- */

struct vrow {
	const char *json;
	int expect;
	const char *why; /* a substring of the reason, for rejected rows */
};

#define OK(j) { (j), 0, NULL }
#define NO(j, w) { (j), POLICY_E_PROFILE, (w) }

#define K64 "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz01"
#define EMAIL_BAD "not a valid e-mail address (addr-spec)"
#define PHONE_BAD "not an E.164 number"
#define HHMM_BAD "not a time of day HH:MM"
#define TZ_BAD "not an IANA time-zone name"
#define LANG_BAD "language: not a well-formed BCP 47 language tag"

static const struct vrow vrows[] = {
	/* ---- accepted ---- */
	OK("{}"),
	/* identity */
	OK("{\"identity\":{\"name\":\"Ada Lovelace\",\"preferred_name\":"
	   "\"Ada\",\"pronouns\":\"she/her\"}}"),
	OK("{\"identity\":{}}"),
	OK("{\"identity\":{\"name\":\"Zo\\u00eb \\ud83d\\ude80 \\u5f20\"}}"),
	OK("{\"identity\":{\"name\":\"\"}}"),
	/* contact.email */
	OK("{\"contact\":{\"email\":\"ada@example.com\"}}"),
	OK("{\"contact\":{\"email\":\"first.last+tag@mail.example.co.uk\"}}"),
	OK("{\"contact\":{\"email\":\"!#$%&'*+-/=?^_`{|}~@example.org\"}}"),
	OK("{\"contact\":{\"email\":\"\\\"john doe\\\"@example.com\"}}"),
	OK("{\"contact\":{\"email\":\"\\\"a\\\\\\\"b@c\\\"@example.com\"}}"),
	OK("{\"contact\":{\"email\":\"USER@Sub-Domain.Example.COM\"}}"),
	OK("{\"contact\":{\"email\":\"x@xn--80ak6aa92e.xn--p1ai\"}}"),
	OK("{\"contact\":{\"email\":\"a@b.c\"}}"),
	OK("{\"contact\":{\"email\":\"a@1.example\"}}"),
	/* contact.phone */
	OK("{\"contact\":{\"phone\":\"+14155550123\"}}"),
	OK("{\"contact\":{\"phone\":\"+442079460000\"}}"),
	OK("{\"contact\":{\"phone\":\"+12\"}}"),
	OK("{\"contact\":{\"phone\":\"+123456789012345\"}}"),
	/* contact.postal */
	OK("{\"contact\":{\"postal\":{\"street\":\"1 Main St\",\"city\":"
	   "\"Springfield\",\"postcode\":\"12345\",\"country\":\"US\"}}}"),
	OK("{\"contact\":{\"postal\":{}}}"),
	OK("{\"contact\":{\"email\":\"a@example.com\",\"phone\":\"+33142"
	   "685300\",\"postal\":{\"lines\":\"2 rue X\\n75001 Paris\"}}}"),
	/* communication */
	OK("{\"communication\":{\"channels\":[\"email\",\"sms\",\"phone\","
	   "\"post\",\"push\"],\"frequency\":\"weekly\",\"quiet_hours\":"
	   "{\"start\":\"22:00\",\"end\":\"07:30\",\"tz\":\"Europe/Paris\"},"
	   "\"do_not_contact\":false}}"),
	OK("{\"communication\":{\"channels\":[]}}"),
	OK("{\"communication\":{\"frequency\":\"never\"}}"),
	OK("{\"communication\":{\"frequency\":\"daily\"}}"),
	OK("{\"communication\":{\"frequency\":\"monthly\"}}"),
	OK("{\"communication\":{\"do_not_contact\":true}}"),
	OK("{\"communication\":{\"quiet_hours\":{\"start\":\"00:00\","
	   "\"end\":\"23:59\",\"tz\":\"UTC\"}}}"),
	OK("{\"communication\":{\"quiet_hours\":{\"tz\":\"America/Argentina/"
	   "Buenos_Aires\",\"start\":\"12:00\",\"end\":\"13:00\"}}}"),
	OK("{\"communication\":{\"quiet_hours\":{\"start\":\"20:00\","
	   "\"end\":\"08:00\",\"tz\":\"Etc/GMT+5\"}}}"),
	OK("{\"communication\":{\"quiet_hours\":{\"start\":\"20:00\","
	   "\"end\":\"08:00\",\"tz\":\"Etc/GMT-14\"}}}"),
	OK("{\"communication\":{\"quiet_hours\":{\"start\":\"20:00\","
	   "\"end\":\"08:00\",\"tz\":\"America/Port-au-Prince\"}}}"),
	/* language */
	OK("{\"language\":\"en\"}"),
	OK("{\"language\":\"en-GB\"}"),
	OK("{\"language\":\"zh-Hant-TW\"}"),
	OK("{\"language\":\"sr-Latn-RS\"}"),
	OK("{\"language\":\"de-CH-1996\"}"),
	OK("{\"language\":\"es-419\"}"),
	OK("{\"language\":\"x-private\"}"),
	OK("{\"language\":\"EN-gb\"}"),
	OK("{\"language\":\"ast\"}"),
	OK("{\"language\":\"zh-yue-HK\"}"),
	OK("{\"language\":\"sl-rozaj-biske\"}"),
	OK("{\"language\":\"de-DE-u-co-phonebk\"}"),
	OK("{\"language\":\"en-US-x-twain\"}"),
	OK("{\"language\":\"i-klingon\"}"),
	OK("{\"language\":\"en-GB-oed\"}"),
	OK("{\"language\":\"zh-min-nan\"}"),
	/* interests */
	OK("{\"interests\":[\"jazz\",\"cycling\",\"Jazz\"]}"),
	OK("{\"interests\":[]}"),
	/* sizes */
	OK("{\"sizes\":{\"shoe_eu\":42,\"shirt\":\"M\",\"waist_in\":32.5}}"),
	OK("{\"sizes\":{}}"),
	/* diet */
	OK("{\"diet\":{\"vegetarian\":true,\"vegan\":false,\"halal\":false,"
	   "\"kosher\":true,\"allergies\":[\"peanuts\",\"shellfish\"]}}"),
	OK("{\"diet\":{\"allergies\":[]}}"),
	/* accessibility */
	OK("{\"accessibility\":{\"large_text\":true,\"screen_reader\":false,"
	   "\"captions\":true,\"notes\":\"tab\\there, line\\nthere\"}}"),
	OK("{\"accessibility\":{\"high_contrast\":true}}"),
	/* custom sections and keys */
	OK("{\"pets\":{\"dog\":\"Rex\",\"count\":2,\"names\":[\"a\",1,true,"
	   "2.5],\"details\":{\"vet\":{\"city\":\"Lyon\"}}}}"),
	OK("{\"x\":1,\"y\":false,\"z\":\"text\",\"w\":[],\"v\":{}}"),
	OK("{\"" K64 "\":1}"),
	OK("{\"a1_b\":{\"c_2\":\"_\"}}"),
	OK("{\"custom\":{\"identity\":{\"anything\":1}}}"),
	/* depth: the top-level object is level 1 */
	OK("{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":1}}}}}}}}"),
	OK("{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":[1]}}}}}}}"),

	/* ---- rejected ---- */
	/* the top level */
	NO("[]", "profile: must be a JSON object"),
	NO("\"profile\"", "profile: must be a JSON object"),
	NO("42", "profile: must be a JSON object"),
	NO("null", "profile: must be a JSON object"),
	/* keys */
	NO("{\"Identity\":{}}", "Identity: key must start with a letter"),
	NO("{\"1abc\":1}", "1abc: key must start with a letter"),
	NO("{\"_a\":1}", "_a: key must start"),
	NO("{\"a-b\":1}", "a-b: key may hold only a-z, 0-9 and _"),
	NO("{\"aB\":1}", "aB: key may hold only"),
	NO("{\"a b\":1}", "a?b: key may hold only"),
	NO("{\"\":1}", "\"\": empty key"),
	NO("{\"custom\":{\"\":1}}", "custom.\"\": empty key"),
	NO("{\"" K64 "2\":1}", "key longer than 64 bytes"),
	NO("{\"pets\":{\"Dog\":\"Rex\"}}", "pets.Dog: key must start"),
	NO("{\"contact\":{\"postal\":{\"Street\":\"x\"}}}",
	    "contact.postal.Street: key must start"),
	NO("{\"sizes\":{\"shoe-eu\":42}}", "sizes.shoe-eu: key may hold"),
	NO("{\"identity\":{\"Name\":\"x\"}}", "identity.Name: key must"),
	/* nulls */
	NO("{\"custom\":null}", "custom: null is not allowed"),
	NO("{\"custom\":{\"a\":null}}", "custom.a: null is not allowed"),
	NO("{\"custom\":[1,null]}", "custom[1]: null is not allowed"),
	NO("{\"identity\":{\"pronouns\":null}}",
	    "identity.pronouns: null is not allowed"),
	NO("{\"sizes\":{\"shoe\":null}}", "sizes.shoe: null is not allowed"),
	NO("{\"language\":null}", "language: null is not allowed"),
	/* arrays are leaves */
	NO("{\"custom\":[{\"a\":1}]}", "custom[0]: arrays are leaves"),
	NO("{\"custom\":[1,[2]]}", "custom[1]: arrays are leaves"),
	NO("{\"custom\":{\"list\":[\"a\",{}]}}", "custom.list[1]: arrays"),
	/* depth */
	NO("{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{\"i\":1}"
	   "}}}}}}}}", "a.b.c.d.e.f.g.h: nested deeper than 8 levels"),
	NO("{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":[1]}}}}}"
	   "}}}", "a.b.c.d.e.f.g.h: nested deeper than 8 levels"),
	/* control characters */
	NO("{\"note\":\"a\\u0001b\"}", "note: string holds a control char"),
	NO("{\"note\":\"line\\r\\n\"}", "note: string holds a control char"),
	NO("{\"note\":\"\\u001b[31mred\"}", "note: string holds a control"),
	NO("{\"note\":\"a\\u0000b\"}", "note: string holds a control char"),
	NO("{\"note\":\"del\\u007f\"}", "note: string holds a control char"),
	NO("{\"note\":\"nel\\u0085\"}", "note: string holds a control char"),
	NO("{\"note\":[\"ok\",\"\\u0007\"]}", "note[1]: string holds a"),
	NO("{\"identity\":{\"name\":\"A\\rB\"}}", "identity.name: string"),
	/* identity */
	NO("{\"identity\":\"Ada\"}", "identity: must be an object"),
	NO("{\"identity\":[\"Ada\"]}", "identity: must be an object"),
	NO("{\"identity\":{\"name\":1}}", "identity.name: must be a string"),
	NO("{\"identity\":{\"preferred_name\":true}}",
	    "identity.preferred_name: must be a string"),
	NO("{\"identity\":{\"pronouns\":[\"she\",\"her\"]}}",
	    "identity.pronouns: must be a string"),
	NO("{\"identity\":{\"nickname\":\"x\"}}",
	    "identity.nickname: unknown member of a standard section"),
	/* contact.email */
	NO("{\"contact\":{\"email\":\"a@b\"}}", "contact.email: " EMAIL_BAD),
	NO("{\"contact\":{\"email\":\"a..b@c.d\"}}", EMAIL_BAD),
	NO("{\"contact\":{\"email\":\"@x.y\"}}", EMAIL_BAD),
	NO("{\"contact\":{\"email\":\"x@\"}}", EMAIL_BAD),
	NO("{\"contact\":{\"email\":\"x\"}}", EMAIL_BAD),
	NO("{\"contact\":{\"email\":\"\"}}", EMAIL_BAD),
	NO("{\"contact\":{\"email\":\".a@b.cd\"}}", EMAIL_BAD),
	NO("{\"contact\":{\"email\":\"a.@b.cd\"}}", EMAIL_BAD),
	NO("{\"contact\":{\"email\":\"a b@c.de\"}}", EMAIL_BAD),
	NO("{\"contact\":{\"email\":\"a@@b.cd\"}}", EMAIL_BAD),
	NO("{\"contact\":{\"email\":\"a@b@c.de\"}}", EMAIL_BAD),
	NO("{\"contact\":{\"email\":\"\\\"open@b.cd\"}}", EMAIL_BAD),
	NO("{\"contact\":{\"email\":\"\\\"a\\\"b@c.de\"}}", EMAIL_BAD),
	NO("{\"contact\":{\"email\":\"\\\"a\\tb\\\"@c.de\"}}", EMAIL_BAD),
	NO("{\"contact\":{\"email\":\"a@-b.cd\"}}", EMAIL_BAD),
	NO("{\"contact\":{\"email\":\"a@b-.cd\"}}", EMAIL_BAD),
	NO("{\"contact\":{\"email\":\"a@b..cd\"}}", EMAIL_BAD),
	NO("{\"contact\":{\"email\":\"a@b.cd.\"}}", EMAIL_BAD),
	NO("{\"contact\":{\"email\":\"a@b_c.de\"}}", EMAIL_BAD),
	NO("{\"contact\":{\"email\":\"a@192.0.2.1\"}}", EMAIL_BAD),
	NO("{\"contact\":{\"email\":\"a@[192.0.2.1]\"}}", EMAIL_BAD),
	NO("{\"contact\":{\"email\":\"zo\\u00eb@example.com\"}}", EMAIL_BAD),
	NO("{\"contact\":{\"email\":\"Ada <ada@example.com>\"}}", EMAIL_BAD),
	NO("{\"contact\":{\"email\":\"a@" K64 ".com\"}}", EMAIL_BAD),
	NO("{\"contact\":{\"email\":42}}", "contact.email: must be a string"),
	/* contact.phone */
	NO("{\"contact\":{\"phone\":\"004420794600\"}}",
	    "contact.phone: " PHONE_BAD),
	NO("{\"contact\":{\"phone\":\"+04420794600\"}}", PHONE_BAD),
	NO("{\"contact\":{\"phone\":\"+1\"}}", PHONE_BAD),
	NO("{\"contact\":{\"phone\":\"+\"}}", PHONE_BAD),
	NO("{\"contact\":{\"phone\":\"+1234567890123456\"}}", PHONE_BAD),
	NO("{\"contact\":{\"phone\":\"+1 415 555 0123\"}}", PHONE_BAD),
	NO("{\"contact\":{\"phone\":\"+1-415-555-0123\"}}", PHONE_BAD),
	NO("{\"contact\":{\"phone\":\"14155550123\"}}", PHONE_BAD),
	NO("{\"contact\":{\"phone\":\"+1415555012a\"}}", PHONE_BAD),
	NO("{\"contact\":{\"phone\":14155550123}}",
	    "contact.phone: must be a string"),
	/* contact.postal and unknown members */
	NO("{\"contact\":{\"postal\":\"1 Main St\"}}",
	    "contact.postal: must be an object"),
	NO("{\"contact\":{\"postal\":{\"number\":1}}}",
	    "contact.postal.number: must be a string"),
	NO("{\"contact\":{\"postal\":{\"lines\":[\"a\"]}}}",
	    "contact.postal.lines: must be a string"),
	NO("{\"contact\":{\"postal\":{\"geo\":{\"lat\":1}}}}",
	    "contact.postal.geo: must be a string"),
	NO("{\"contact\":{\"fax\":\"+14155550123\"}}",
	    "contact.fax: unknown member of a standard section"),
	NO("{\"contact\":\"ada@example.com\"}", "contact: must be an object"),
	/* communication.channels */
	NO("{\"communication\":{\"channels\":\"email\"}}",
	    "communication.channels: must be an array"),
	NO("{\"communication\":{\"channels\":[\"fax\"]}}",
	    "communication.channels[0]: not a channel"),
	NO("{\"communication\":{\"channels\":[\"EMAIL\"]}}",
	    "communication.channels[0]: not a channel"),
	NO("{\"communication\":{\"channels\":[\"sms\",1]}}",
	    "communication.channels[1]: not a channel"),
	NO("{\"communication\":{\"channels\":[\"email\",\"sms\",\"email\"]}}",
	    "communication.channels[2]: channel listed twice"),
	/* communication.frequency */
	NO("{\"communication\":{\"frequency\":\"hourly\"}}",
	    "communication.frequency: must be one of never, daily, weekly"),
	NO("{\"communication\":{\"frequency\":\"Weekly\"}}",
	    "communication.frequency: must be one of"),
	NO("{\"communication\":{\"frequency\":7}}",
	    "communication.frequency: must be one of"),
	/* communication.quiet_hours */
	NO("{\"communication\":{\"quiet_hours\":{\"start\":\"24:00\","
	   "\"end\":\"07:00\",\"tz\":\"UTC\"}}}",
	    "communication.quiet_hours.start: " HHMM_BAD),
	NO("{\"communication\":{\"quiet_hours\":{\"start\":\"9:00\","
	   "\"end\":\"07:00\",\"tz\":\"UTC\"}}}", HHMM_BAD),
	NO("{\"communication\":{\"quiet_hours\":{\"start\":\"22:00\","
	   "\"end\":\"23:60\",\"tz\":\"UTC\"}}}",
	    "communication.quiet_hours.end: " HHMM_BAD),
	NO("{\"communication\":{\"quiet_hours\":{\"start\":\"22:00\","
	   "\"end\":\"07-00\",\"tz\":\"UTC\"}}}", HHMM_BAD),
	NO("{\"communication\":{\"quiet_hours\":{\"start\":\"22:00:00\","
	   "\"end\":\"07:00\",\"tz\":\"UTC\"}}}", HHMM_BAD),
	NO("{\"communication\":{\"quiet_hours\":{\"start\":\" 2:00\","
	   "\"end\":\"07:00\",\"tz\":\"UTC\"}}}", HHMM_BAD),
	NO("{\"communication\":{\"quiet_hours\":{\"start\":2200,"
	   "\"end\":\"07:00\",\"tz\":\"UTC\"}}}", HHMM_BAD),
	NO("{\"communication\":{\"quiet_hours\":{\"start\":\"22:00\","
	   "\"end\":\"07:00\"}}}",
	    "communication.quiet_hours.tz: missing: start, end and tz"),
	NO("{\"communication\":{\"quiet_hours\":{\"start\":\"22:00\","
	   "\"tz\":\"UTC\"}}}", "communication.quiet_hours.end: missing"),
	NO("{\"communication\":{\"quiet_hours\":{}}}",
	    "communication.quiet_hours.start: missing"),
	NO("{\"communication\":{\"quiet_hours\":{\"start\":\"22:00\","
	   "\"end\":\"22:00\",\"tz\":\"UTC\"}}}",
	    "communication.quiet_hours: start and end are equal"),
	NO("{\"communication\":{\"quiet_hours\":{\"start\":\"22:00\","
	   "\"end\":\"07:00\",\"tz\":\"UTC\",\"days\":\"mon\"}}}",
	    "communication.quiet_hours.days: unknown member"),
	NO("{\"communication\":{\"quiet_hours\":\"22:00-07:00\"}}",
	    "communication.quiet_hours: must be an object"),
	/* communication.quiet_hours.tz */
	NO("{\"communication\":{\"quiet_hours\":{\"start\":\"22:00\","
	   "\"end\":\"07:00\",\"tz\":\"Europe/\"}}}",
	    "communication.quiet_hours.tz: " TZ_BAD),
	NO("{\"communication\":{\"quiet_hours\":{\"start\":\"22:00\","
	   "\"end\":\"07:00\",\"tz\":\"/UTC\"}}}", TZ_BAD),
	NO("{\"communication\":{\"quiet_hours\":{\"start\":\"22:00\","
	   "\"end\":\"07:00\",\"tz\":\"Europe//Paris\"}}}", TZ_BAD),
	NO("{\"communication\":{\"quiet_hours\":{\"start\":\"22:00\","
	   "\"end\":\"07:00\",\"tz\":\"../../etc/passwd\"}}}", TZ_BAD),
	NO("{\"communication\":{\"quiet_hours\":{\"start\":\"22:00\","
	   "\"end\":\"07:00\",\"tz\":\"Europe/Paris \"}}}", TZ_BAD),
	NO("{\"communication\":{\"quiet_hours\":{\"start\":\"22:00\","
	   "\"end\":\"07:00\",\"tz\":\"Etc/+5\"}}}", TZ_BAD),
	NO("{\"communication\":{\"quiet_hours\":{\"start\":\"22:00\","
	   "\"end\":\"07:00\",\"tz\":\"1Europe/Paris\"}}}", TZ_BAD),
	NO("{\"communication\":{\"quiet_hours\":{\"start\":\"22:00\","
	   "\"end\":\"07:00\",\"tz\":\"\"}}}", TZ_BAD),
	NO("{\"communication\":{\"quiet_hours\":{\"start\":\"22:00\","
	   "\"end\":\"07:00\",\"tz\":\"A" K64 "\"}}}", TZ_BAD),
	NO("{\"communication\":{\"quiet_hours\":{\"start\":\"22:00\","
	   "\"end\":\"07:00\",\"tz\":\"Europe/Par.is\"}}}", TZ_BAD),
	/* communication, other members */
	NO("{\"communication\":{\"do_not_contact\":\"yes\"}}",
	    "communication.do_not_contact: must be true or false"),
	NO("{\"communication\":{\"do_not_contact\":0}}",
	    "communication.do_not_contact: must be true or false"),
	NO("{\"communication\":{\"newsletter\":true}}",
	    "communication.newsletter: unknown member"),
	NO("{\"communication\":[]}", "communication: must be an object"),
	/* language */
	NO("{\"language\":\"english\"}", LANG_BAD),
	NO("{\"language\":\"en_GB\"}", LANG_BAD),
	NO("{\"language\":\"e\"}", LANG_BAD),
	NO("{\"language\":\"en-\"}", LANG_BAD),
	NO("{\"language\":\"-en\"}", LANG_BAD),
	NO("{\"language\":\"123\"}", LANG_BAD),
	NO("{\"language\":\"\"}", LANG_BAD),
	NO("{\"language\":\"en--GB\"}", LANG_BAD),
	NO("{\"language\":\"abcd\"}", LANG_BAD),
	NO("{\"language\":\"x\"}", LANG_BAD),
	NO("{\"language\":\"x-\"}", LANG_BAD),
	NO("{\"language\":\"en-x\"}", LANG_BAD),
	NO("{\"language\":\"en-a\"}", LANG_BAD),
	NO("{\"language\":\"en-a-b-cd\"}", LANG_BAD),
	NO("{\"language\":\"en-Latn-Latn\"}", LANG_BAD),
	NO("{\"language\":\"en-GB-US\"}", LANG_BAD),
	NO("{\"language\":\"en-123456789\"}", LANG_BAD),
	NO("{\"language\":\"fra-fr-abc\"}", LANG_BAD),
	NO("{\"language\":\"en-GB-x-abcdefghi\"}", LANG_BAD),
	NO("{\"language\":\"en gb\"}", LANG_BAD),
	NO("{\"language\":\"en-US-u-ca-gregory-nu-latn-x-private\"}", LANG_BAD),
	NO("{\"language\":[\"en\"]}", "language: must be a string"),
	NO("{\"language\":{\"tag\":\"en\"}}", "language: must be a string"),
	/* interests */
	NO("{\"interests\":\"jazz\"}", "interests: must be an array of str"),
	NO("{\"interests\":[\"\"]}", "interests[0]: must be a non-empty"),
	NO("{\"interests\":[\"jazz\",\"golf\",\"jazz\"]}",
	    "interests[2]: listed twice"),
	NO("{\"interests\":[1]}", "interests[0]: must be a non-empty string"),
	NO("{\"interests\":[true]}", "interests[0]: must be a non-empty"),
	NO("{\"interests\":[{\"a\":1}]}", "interests[0]: must be a non-empty"),
	NO("{\"interests\":[\"ok\",\"\\u0002\"]}",
	    "interests[1]: string holds a control character"),
	/* sizes */
	NO("{\"sizes\":{\"shoe\":true}}",
	    "sizes.shoe: must be a number or a string"),
	NO("{\"sizes\":{\"shoe\":{\"eu\":42}}}", "sizes.shoe: must be a num"),
	NO("{\"sizes\":{\"shoe\":[42]}}", "sizes.shoe: must be a number"),
	NO("{\"sizes\":[42]}", "sizes: must be an object"),
	/* diet */
	NO("{\"diet\":{\"vegan\":\"yes\"}}", "diet.vegan: must be true or fa"),
	NO("{\"diet\":{\"halal\":1}}", "diet.halal: must be true or false"),
	NO("{\"diet\":{\"paleo\":true}}", "diet.paleo: unknown member"),
	NO("{\"diet\":{\"allergies\":\"nuts\"}}",
	    "diet.allergies: must be an array"),
	NO("{\"diet\":{\"allergies\":[\"\"]}}", "diet.allergies[0]: must be"),
	NO("{\"diet\":{\"allergies\":[\"nuts\",\"nuts\"]}}",
	    "diet.allergies[1]: listed twice"),
	NO("{\"diet\":true}", "diet: must be an object"),
	/* accessibility */
	NO("{\"accessibility\":{\"captions\":1}}",
	    "accessibility.captions: must be true, false or a string"),
	NO("{\"accessibility\":{\"notes\":[\"a\"]}}",
	    "accessibility.notes: must be true, false or a string"),
	NO("{\"accessibility\":{\"x\":{\"y\":true}}}",
	    "accessibility.x: must be true"),
	NO("{\"accessibility\":{\"notes\":null}}",
	    "accessibility.notes: null is not allowed"),
	NO("{\"accessibility\":\"large text\"}",
	    "accessibility: must be an object"),
	/* the first offence is reported, with its own path */
	NO("{\"identity\":{\"name\":\"Ada\"},\"contact\":{\"email\":\"x\"},"
	   "\"language\":\"english\"}", "contact.email: " EMAIL_BAD),
};

static void
test_validate_table(void **state)
{
	size_t accepted = 0, rejected = 0;
	char label[64];

	(void)state;
	for (size_t i = 0; i < NELEM(vrows); i++) {
		json_t *doc = load(vrows[i].json);

		(void)snprintf(label, sizeof(label), "row %zu", i);
		expect_verdict(doc, vrows[i].expect, vrows[i].why, label);
		json_decref(doc);
		if (vrows[i].expect == 0)
			accepted++;
		else
			rejected++;
	}
	assert_balanced(accepted, rejected);
}

/* ---- validation, documents built in code ---------------------------------- */

/* A string of n copies of ch; caller frees. */
static char *
repeat(char ch, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, ch, n);
	s[n] = '\0';
	return s;
}

/* {"section": {"member": value}}, or {"section": value} when member NULL. */
static json_t *
doc_with(const char *section, const char *member, json_t *value)
{
	json_t *doc = json_object(), *inner = value;

	assert_non_null(doc);
	assert_non_null(value);
	if (member != NULL) {
		inner = json_object();
		assert_non_null(inner);
		assert_int_equal(json_object_set_new(inner, member, value), 0);
	}
	assert_int_equal(json_object_set_new(doc, section, inner), 0);
	return doc;
}

static void
expect_text(const char *section, const char *member, const char *s,
    int expect, const char *want)
{
	json_t *doc = doc_with(section, member, json_string(s));

	expect_verdict(doc, expect, want, s);
	json_decref(doc);
}

static void
test_validate_string_length(void **state)
{
	char *s = repeat('a', POLICY_PROFILE_MAX_STRING + 1);

	(void)state;
	expect_text("note", NULL, s, POLICY_E_PROFILE,
	    "note: string longer than 1024 bytes");
	expect_text("identity", "name", s, POLICY_E_PROFILE,
	    "identity.name: string longer than 1024 bytes");
	expect_text("accessibility", "notes", s, POLICY_E_PROFILE,
	    "accessibility.notes: string longer than 1024 bytes");
	s[POLICY_PROFILE_MAX_STRING] = '\0';
	expect_text("note", NULL, s, 0, NULL);
	expect_text("identity", "name", s, 0, NULL);
	expect_text("sizes", "shirt", s, 0, NULL);
	free(s);
}

/* The addr-spec limits: 64 bytes of local part, 254 in all. */
static void
test_validate_email_length(void **state)
{
	char buf[300];
	char *local = repeat('l', 65);
	/* 63 + 1 + 63 + 1 + 63 + 1 + 58 = 250 bytes of domain */
	char *label = repeat('d', 63);

	(void)state;
	local[64] = '\0';
	(void)snprintf(buf, sizeof(buf), "%s@example.com", local);
	expect_text("contact", "email", buf, 0, NULL);
	local[64] = 'l';
	(void)snprintf(buf, sizeof(buf), "%s@example.com", local);
	expect_text("contact", "email", buf, POLICY_E_PROFILE,
	    "contact.email: not a valid e-mail address");
	local[3] = '\0';
	(void)snprintf(buf, sizeof(buf), "%s@%s.%s.%s.%.58s", local, label,
	    label, label, label);
	assert_int_equal(strlen(buf), 254);
	expect_text("contact", "email", buf, 0, NULL);
	(void)snprintf(buf, sizeof(buf), "l%s@%s.%s.%s.%.58s", local, label,
	    label, label, label);
	assert_int_equal(strlen(buf), 255);
	expect_text("contact", "email", buf, POLICY_E_PROFILE,
	    "contact.email: not a valid e-mail address");
	/* a quoted local part counts its quotes */
	local[3] = 'l';
	local[62] = '\0';
	(void)snprintf(buf, sizeof(buf), "\"%s\"@example.com", local);
	expect_text("contact", "email", buf, 0, NULL);
	local[62] = 'l';
	local[63] = '\0';
	(void)snprintf(buf, sizeof(buf), "\"%s\"@example.com", local);
	expect_text("contact", "email", buf, POLICY_E_PROFILE,
	    "not a valid e-mail address");
	free(local);
	free(label);
}

/* A 64-byte zone name is the longest accepted. */
static void
test_validate_tz_length(void **state)
{
	char *name = repeat('A', 65);
	json_t *qh, *doc;

	(void)state;
	for (size_t len = 64; len <= 65; len++) {
		name[len] = '\0';
		qh = json_pack("{s:s,s:s,s:s}", "start", "22:00", "end",
		    "07:00", "tz", name);
		doc = doc_with("communication", "quiet_hours", qh);
		expect_verdict(doc, len == 64 ? 0 : POLICY_E_PROFILE,
		    "communication.quiet_hours.tz: not an IANA", "tz length");
		json_decref(doc);
		name[len] = 'A';
	}
	free(name);
}

static void
test_validate_tags_count(void **state)
{
	json_t *list = json_array(), *doc;
	char item[16];

	(void)state;
	assert_non_null(list);
	for (int i = 0; i < 100; i++) {
		(void)snprintf(item, sizeof(item), "tag%d", i);
		assert_int_equal(json_array_append_new(list,
		    json_string(item)), 0);
	}
	doc = doc_with("interests", NULL, json_incref(list));
	expect_verdict(doc, 0, NULL, "100 interests");
	json_decref(doc);
	assert_int_equal(json_array_append_new(list, json_string("one more")),
	    0);
	doc = doc_with("interests", NULL, json_incref(list));
	expect_verdict(doc, POLICY_E_PROFILE, "interests: more than 100 items",
	    "101 interests");
	json_decref(doc);
	doc = doc_with("diet", "allergies", list);
	expect_verdict(doc, POLICY_E_PROFILE,
	    "diet.allergies: more than 100 items", "101 allergies");
	json_decref(doc);
}

/* What the parser never produces, another caller could build. */
static void
test_validate_built_values(void **state)
{
	json_t *doc = json_object();

	(void)state;
	assert_non_null(doc);
	/* a key with an embedded NUL: "ab\0c" */
	assert_int_equal(json_object_setn_new(doc, "ab\0c", 4,
	    json_integer(1)), 0);
	expect_verdict(doc, POLICY_E_PROFILE, "ab?c: key may hold only",
	    "NUL in key");
	json_decref(doc);

	/* a string that is not UTF-8 */
	doc = doc_with("note", NULL, json_stringn_nocheck("a\xff", 2));
	expect_verdict(doc, POLICY_E_PROFILE, "note: string is not valid UTF-8",
	    "bad UTF-8");
	json_decref(doc);
	doc = doc_with("note", NULL, json_stringn_nocheck("\xed\xa0\x80", 3));
	expect_verdict(doc, POLICY_E_PROFILE, "not valid UTF-8", "surrogate");
	json_decref(doc);
	doc = doc_with("note", NULL, json_stringn_nocheck("\xc0\xaf", 2));
	expect_verdict(doc, POLICY_E_PROFILE, "not valid UTF-8", "overlong");
	json_decref(doc);
	doc = doc_with("note", NULL, json_stringn_nocheck("\xe2\x82", 2));
	expect_verdict(doc, POLICY_E_PROFILE, "not valid UTF-8", "truncated");
	json_decref(doc);

	/* NaN cannot be a jansson real; a large integer is a number. */
	doc = doc_with("sizes", "big", json_integer(INT64_MAX));
	expect_verdict(doc, 0, NULL, "large integer");
	json_decref(doc);
}

/* An untrusted key is shown cut short and with its bytes made printable. */
static void
test_validate_path_sanitised(void **state)
{
	char *key = repeat('K', 200);
	char why[WHYCAP];
	json_t *doc;

	(void)state;
	key[1] = '\x1b';
	doc = doc_with(key, NULL, json_integer(1));
	assert_int_equal(policy_profile_validate(doc, why, sizeof(why)),
	    POLICY_E_PROFILE);
	assert_null(strchr(why, '\x1b'));
	assert_non_null(strstr(why, "K?KKK"));
	assert_non_null(strstr(why, "...: key longer than 64 bytes"));
	assert_true(strlen(why) < 200);
	json_decref(doc);
	free(key);
}

static void
test_validate_args(void **state)
{
	char why[8];
	json_t *bad = load("{\"identity\":1}");
	json_t *good = load("{\"identity\":{}}");

	(void)state;
	/* why is optional */
	assert_int_equal(policy_profile_validate(bad, NULL, 0),
	    POLICY_E_PROFILE);
	assert_int_equal(policy_profile_validate(bad, why, 0),
	    POLICY_E_PROFILE);
	assert_int_equal(policy_profile_validate(good, NULL, 0), 0);
	/* a short buffer holds a truncated, terminated reason */
	assert_int_equal(policy_profile_validate(bad, why, sizeof(why)),
	    POLICY_E_PROFILE);
	assert_string_equal(why, "identit");
	/* cleared on success */
	assert_int_equal(policy_profile_validate(good, why, sizeof(why)), 0);
	assert_string_equal(why, "");
	/* no document */
	assert_int_equal(policy_profile_validate(NULL, why, sizeof(why)),
	    POLICY_E_PROFILE);
	assert_string_equal(why, "profile");
	/* the document is not modified */
	{
		json_t *before = json_deep_copy(bad);

		assert_non_null(before);
		(void)policy_profile_validate(bad, NULL, 0);
		assert_true(json_equal(before, bad));
		json_decref(before);
	}
	json_decref(bad);
	json_decref(good);
}

/* ---- merge patch --------------------------------------------------------- */

struct mrow {
	const char *target;
	const char *patch;
	const char *result;
};

/* RFC 7396 Appendix A, row by row, then the example of section 3. */
static const struct mrow mrows[] = {
	{ "{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}" },
	{ "{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}" },
	{ "{\"a\":\"b\"}", "{\"a\":null}", "{}" },
	{ "{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}" },
	{ "{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}" },
	{ "{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}" },
	{ "{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}",
	    "{\"a\":{\"b\":\"d\"}}" },
	{ "{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}" },
	{ "[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]" },
	{ "{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]" },
	{ "{\"a\":\"foo\"}", "null", "null" },
	{ "{\"a\":\"foo\"}", "\"bar\"", "\"bar\"" },
	{ "{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}" },
	{ "[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}" },
	{ "{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}" },
	{ "{\"title\":\"Goodbye!\",\"author\":{\"givenName\":\"John\","
	  "\"familyName\":\"Doe\"},\"tags\":[\"example\",\"sample\"],"
	  "\"content\":\"This will be unchanged\"}",
	  "{\"title\":\"Hello!\",\"phoneNumber\":\"+01-123-456-7890\","
	  "\"author\":{\"familyName\":null},\"tags\":[\"example\"]}",
	  "{\"title\":\"Hello!\",\"author\":{\"givenName\":\"John\"},"
	  "\"tags\":[\"example\"],\"content\":\"This will be unchanged\","
	  "\"phoneNumber\":\"+01-123-456-7890\"}" },
	/* beyond the RFC: arrays in a patch are copied verbatim, nulls too */
	{ "{\"a\":1}", "{\"a\":[{\"b\":null}],\"c\":{\"d\":[null]}}",
	  "{\"a\":[{\"b\":null}],\"c\":{\"d\":[null]}}" },
	{ "{\"a\":{\"b\":1}}", "{}", "{\"a\":{\"b\":1}}" },
	{ "{\"a\":{\"b\":{\"c\":1,\"d\":2}}}", "{\"a\":{\"b\":{\"c\":null,"
	  "\"e\":{\"f\":null,\"g\":3}}}}", "{\"a\":{\"b\":{\"d\":2,\"e\":"
	  "{\"g\":3}}}}" },
	{ "\"text\"", "{\"a\":1}", "{\"a\":1}" },
	{ "{\"a\":1}", "{\"a\":{\"b\":2}}", "{\"a\":{\"b\":2}}" },
};

static void
dump_mismatch(const struct mrow *r, const json_t *got)
{
	char *text = json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT);
	char buf[512];

	/* copied out: fail_msg() does not return to free the dump */
	(void)snprintf(buf, sizeof(buf), "%s", text != NULL ? text : "(none)");
	free(text);
	fail_msg("merge %s with %s: got %s, expected %s", r->target, r->patch,
	    buf, r->result);
}

static void
test_merge_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(mrows); i++) {
		json_t *target = load(mrows[i].target);
		json_t *patch = load(mrows[i].patch);
		json_t *expect = load(mrows[i].result);
		json_t *patch_before = json_deep_copy(patch);
		json_t *target_before = json_deep_copy(target);
		/* a second reference, as a caller might hold on the old root */
		json_t *old = json_incref(target);

		assert_non_null(patch_before);
		assert_non_null(target_before);
		assert_int_equal(policy_merge_patch(&target, patch), 0);
		if (!json_equal(target, expect))
			dump_mismatch(&mrows[i], target);
		/* the patch is borrowed, and the old document never written */
		assert_true(json_equal(patch, patch_before));
		assert_true(json_equal(old, target_before));
		json_decref(old);
		json_decref(target);
		json_decref(patch);
		json_decref(expect);
		json_decref(patch_before);
		json_decref(target_before);
	}
}

/* The result owns no part of the patch: changing the patch later is safe. */
static void
test_merge_result_independent(void **state)
{
	json_t *target = load("{\"a\":1}");
	json_t *patch = load("{\"b\":{\"c\":[1,2]},\"d\":\"x\"}");
	json_t *expect = load("{\"a\":1,\"b\":{\"c\":[1,2]},\"d\":\"x\"}");

	(void)state;
	assert_int_equal(policy_merge_patch(&target, patch), 0);
	assert_int_equal(json_array_append_new(json_object_get(
	    json_object_get(patch, "b"), "c"), json_integer(3)), 0);
	assert_int_equal(json_string_set(json_object_get(patch, "d"), "y"), 0);
	assert_true(json_equal(target, expect));
	json_decref(target);
	json_decref(patch);
	json_decref(expect);
}

static void
test_merge_args(void **state)
{
	json_t *patch = load("{\"a\":{\"b\":null,\"c\":1}}");
	json_t *expect = load("{\"a\":{\"c\":1}}");
	json_t *target = NULL;

	(void)state;
	assert_int_equal(policy_merge_patch(NULL, patch), POLICY_E_INVAL);
	assert_int_equal(policy_merge_patch(&target, NULL), POLICY_E_INVAL);
	assert_null(target);
	/* no target at all is an absent value, as for a missing member */
	assert_int_equal(policy_merge_patch(&target, patch), 0);
	assert_true(json_equal(target, expect));
	json_decref(target);
	json_decref(patch);
	json_decref(expect);
}

/* A profile edited by merge patch, then validated as the broker would. */
static void
test_merge_then_validate(void **state)
{
	json_t *profile = load("{\"contact\":{\"email\":\"ada@example.com\","
	    "\"phone\":\"+14155550123\"},\"interests\":[\"jazz\"]}");
	json_t *p1 = load("{\"contact\":{\"phone\":null},\"language\":\"en\"}");
	json_t *p2 = load("{\"interests\":[\"jazz\",null]}");
	json_t *expect = load("{\"contact\":{\"email\":\"ada@example.com\"},"
	    "\"interests\":[\"jazz\"],\"language\":\"en\"}");
	char why[WHYCAP];

	(void)state;
	assert_int_equal(policy_merge_patch(&profile, p1), 0);
	assert_true(json_equal(profile, expect));
	assert_int_equal(policy_profile_validate(profile, why, sizeof(why)),
	    0);
	/* null inside an array is a value, not a deletion */
	assert_int_equal(policy_merge_patch(&profile, p2), 0);
	assert_int_equal(policy_profile_validate(profile, why, sizeof(why)),
	    POLICY_E_PROFILE);
	assert_non_null(strstr(why, "interests[1]"));
	json_decref(profile);
	json_decref(p1);
	json_decref(p2);
	json_decref(expect);
}

/* ---- merge patch under failing allocations -------------------------------- */

static int alloc_limited;
static size_t alloc_budget;
static size_t alloc_refused;

static void *
limited_malloc(size_t n)
{
	if (alloc_limited) {
		if (alloc_budget == 0) {
			alloc_refused++;
			return NULL;
		}
		alloc_budget--;
	}
	return malloc(n);
}

/*
 * Lets the n-th allocation and all after it fail, for n = 0, 1, ... until
 * the merge no longer meets a failure; every failure must answer
 * POLICY_E_NOMEM and leave *target the very document it was.
 */
static void
test_merge_nomem(void **state)
{
	static const struct mrow rows[] = {
		{ "{\"a\":{\"b\":\"c\",\"x\":[1]},\"k\":\"v\"}",
		  "{\"a\":{\"b\":\"d\",\"c\":null,\"n\":{\"m\":[1,\"s\",{}]}},"
		  "\"k\":null,\"z\":\"new\"}",
		  "{\"a\":{\"b\":\"d\",\"x\":[1],\"n\":{\"m\":[1,\"s\",{}]}},"
		  "\"z\":\"new\"}" },
		{ "{\"a\":1}", "[\"x\",{\"y\":[true,2.5,\"z\"]}]",
		  "[\"x\",{\"y\":[true,2.5,\"z\"]}]" },
		{ "[1]", "{\"a\":{\"b\":{\"c\":null,\"d\":\"e\"}}}",
		  "{\"a\":{\"b\":{\"d\":\"e\"}}}" },
	};

	(void)state;
	for (size_t r = 0; r < NELEM(rows); r++) {
		json_t *expect = load(rows[r].result);
		size_t failures = 0;
		int rc;

		for (size_t budget = 0;; budget++) {
			json_t *target = load(rows[r].target);
			json_t *patch = load(rows[r].patch);
			json_t *before = json_deep_copy(target);
			json_t *orig = target;

			assert_non_null(before);
			alloc_budget = budget;
			alloc_refused = 0;
			alloc_limited = 1;
			rc = policy_merge_patch(&target, patch);
			alloc_limited = 0;
			if (alloc_refused > 0) {
				assert_int_equal(rc, POLICY_E_NOMEM);
				assert_ptr_equal(target, orig);
				assert_true(json_equal(target, before));
				failures++;
			} else {
				assert_int_equal(rc, 0);
				if (!json_equal(target, expect))
					dump_mismatch(&rows[r], target);
			}
			json_decref(target);
			json_decref(patch);
			json_decref(before);
			if (rc == 0)
				break;
			assert_true(budget < 1000);
		}
		assert_true(failures > 0);
		json_decref(expect);
	}
}

static int
group_setup(void **state)
{
	(void)state;
	json_set_alloc_funcs(limited_malloc, free);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	alloc_limited = 0;
	json_set_alloc_funcs(malloc, free);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validate_table),
		cmocka_unit_test(test_validate_string_length),
		cmocka_unit_test(test_validate_email_length),
		cmocka_unit_test(test_validate_tz_length),
		cmocka_unit_test(test_validate_tags_count),
		cmocka_unit_test(test_validate_built_values),
		cmocka_unit_test(test_validate_path_sanitised),
		cmocka_unit_test(test_validate_args),
		cmocka_unit_test(test_merge_table),
		cmocka_unit_test(test_merge_result_independent),
		cmocka_unit_test(test_merge_args),
		cmocka_unit_test(test_merge_then_validate),
		cmocka_unit_test(test_merge_nomem),
	};

	return cmocka_run_group_tests_name("profile", tests, group_setup,
	    group_teardown);
}
