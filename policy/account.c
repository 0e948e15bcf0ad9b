/*
 * account.c - rules for logins and passwords.
 *
 * Pure functions.  The password rules follow NIST SP 800-63B: a minimum
 * length counted in code points, a generous maximum, no composition rules,
 * and a check against passwords known to be common.
 */
#include <string.h>
#include <strings.h>

#include "policy/policy.h"

int
policy_login_normalize(const char *login, size_t len,
    char out[POLICY_LOGIN_MAX + 1])
{
	out[0] = '\0';
	if (login == NULL || len < POLICY_LOGIN_MIN || len > POLICY_LOGIN_MAX)
		return POLICY_E_LOGIN;
	for (size_t i = 0; i < len; i++) {
		char c = login[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			c == '.' || c == '_' || c == '@' || c == '+' ||
			c == '-')) {
			out[0] = '\0';
			return POLICY_E_LOGIN;
		}
		out[i] = c;
	}
	out[len] = '\0';
	return 0;
}

/*
 * Counts code points of valid UTF-8 (no overlongs, no surrogates, nothing
 * past U+10FFFF); (size_t)-1 when invalid.
 */
static size_t
utf8_count(const unsigned char *s, size_t len)
{
	size_t n = 0, i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t need;
		unsigned long cp;

		if (c < 0x80) {
			if (c == 0)
				return (size_t)-1;
			i++;
			n++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
		} else
			return (size_t)-1;
		if (len - i - 1 < need)
			return (size_t)-1;
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return (size_t)-1;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return (size_t)-1;
		i += need + 1;
		n++;
	}
	return n;
}

/*
 * The most common passwords of at least the minimum length, from public
 * breach corpora; compared case-insensitively.
 */
static const char *const common[] = {
	"123456789012", "1234567890123", "12345678901234", "123456123456",
	"qwertyuiop12", "qwertyuiopasdf", "password1234", "password12345",
	"password123456", "passwordpassword", "iloveyou1234", "111111111111",
	"000000000000", "123123123123", "abcdefghijkl", "abc123abc123",
	"qwerty123456", "1q2w3e4r5t6y", "1qaz2wsx3edc", "zaq12wsxcde3",
	"letmeinletmein", "welcome12345", "administrator", "adminadmin123",
	"qwertyqwerty", "asdfghjkl123", "trustno1trustno1", "monkey123456",
	"dragon123456", "football1234", "baseball1234", "sunshine1234",
	"princess1234", "superman1234", "changeme1234", "passw0rd1234",
	"p@ssw0rd1234", "p@ssword1234", "correcthorsebatterystaple",
};

int
policy_password_check(const char *pw, size_t len, const char *login,
    const char **why)
{
	size_t cps;
	size_t i;

	*why = NULL;
	if (pw == NULL) {
		*why = "a password is required";
		return POLICY_E_WEAKPW;
	}
	if (len > POLICY_PASSWORD_MAX) {
		*why = "password longer than 256 bytes";
		return POLICY_E_WEAKPW;
	}
	if ((cps = utf8_count((const unsigned char *)pw, len)) == (size_t)-1) {
		*why = "password is not valid UTF-8 text";
		return POLICY_E_WEAKPW;
	}
	if (cps < POLICY_PASSWORD_MIN) {
		*why = "password shorter than 12 characters";
		return POLICY_E_WEAKPW;
	}
	for (i = 1; i < len && pw[i] == pw[0]; i++)
		;
	if (i == len) {
		*why = "password repeats a single character";
		return POLICY_E_WEAKPW;
	}
	for (i = 0; i < sizeof(common) / sizeof(common[0]); i++) {
		if (strlen(common[i]) == len && strncasecmp(common[i], pw, len) == 0) {
			*why = "password is on the list of commonly used passwords";
			return POLICY_E_WEAKPW;
		}
	}
	if (login != NULL && login[0] != '\0' && len >= strlen(login)) {
		size_t ll = strlen(login);

		for (i = 0; i + ll <= len; i++) {
			if (strncasecmp(pw + i, login, ll) == 0) {
				*why = "password contains the login";
				return POLICY_E_WEAKPW;
			}
		}
	}
	return 0;
}
