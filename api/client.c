/*
 * client.c - authenticating companies: HTTP Basic with the client id and
 * secret, each form-urlencoded first (RFC 6749 2.3.1).
 *
 * Failures are counted per client and per address, and past the limit
 * answered 429 like customer log-ins; an unknown client, a wrong secret
 * and a disabled company all get the same invalid_client answer.
 * Unlike a log-in, valid credentials pass whatever the counts: a secret
 * of 256 random bits, or a registered certificate, cannot be guessed, so
 * refusing them would only let anyone who knows a client id (they are
 * public) lock that company out with a few wrong attempts.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_int.h"
#include "certs/certs.h"

#define CRED_MAX 512

static int
b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Standard base64 with padding (RFC 4648 4), as Basic uses. */
static long
b64_decode(const char *s, size_t len, char *out, size_t cap)
{
	size_t o = 0, pad = 0;

	if (len == 0 || len % 4 != 0)
		return -1;
	if (s[len - 1] == '=')
		pad = s[len - 2] == '=' ? 2 : 1;
	if ((len / 4) * 3 - pad >= cap)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];

		for (int k = 0; k < 4; k++) {
			int last = i + 4 == len;

			v[k] = last && k >= 4 - (int)pad ? 0 : b64val(s[i + k]);
			if (v[k] < 0)
				return -1;
		}
		out[o++] = (char)(v[0] << 2 | v[1] >> 4);
		if (!(i + 4 == len && pad == 2))
			out[o++] = (char)((v[1] & 15) << 4 | v[2] >> 2);
		if (!(i + 4 == len && pad >= 1))
			out[o++] = (char)((v[2] & 3) << 6 | v[3]);
	}
	out[o] = '\0';
	return (long)o;
}

/* Form-urldecodes s in place (RFC 6749 appendix B); -1 when malformed. */
static int
urldecode(char *s)
{
	return api_form_decode(s, s, strlen(s)) < 0 ? -1 : 0;
}

/*
 * Turns the store's verdict on client id's credentials into the
 * request's: 0 (r->client_id set), or invalid_client, counted per client
 * and per address, and 429 once either count is past its limit.
 */
static int
outcome(struct api_request *r, int rc, const char *id, int64_t now)
{
	char ckey[API_THROTTLE_KEY], ikey[API_THROTTLE_KEY];
	unsigned wait;

	if (rc == 0) {
		memcpy(r->client_id, id, strlen(id) + 1);
		return 0;
	}
	if (rc != BROKER_E_BADPASS && rc != BROKER_E_DISABLED)
		return rc;
	/* id passed broker_client_id_check: at most 64 bytes, not cut. */
	api_throttle_key(ckey, "k:", id);
	api_throttle_key(ikey, "i:", r->ip);
	/* A wrong credential is counted; a disabled company's is not. */
	wait = (rc == BROKER_E_BADPASS ? api_throttle_take_pair
				       : api_throttle_check_pair)(
	    r->srv->throttle, ckey, r->srv->cfg.login_max_failures, ikey,
	    r->srv->cfg.ip_max_failures, now);
	if (wait > 0) {
		r->retry_after = wait;
		return api_fail(r, API_E_THROTTLED,
		    "too many failed client authentications; retry later");
	}
	return api_fail(r, API_E_INVALID_CLIENT, "client authentication failed");
}

int
api_client_auth(struct api_request *r, const char *authz)
{
	char cred[CRED_MAX], *colon;
	struct broker_txn *t = NULL;
	int64_t now = api_wall_now();
	size_t n;
	long len;
	int rc;

	if (authz == NULL || strncasecmp(authz, "Basic ", 6) != 0)
		return api_fail(r, API_E_INVALID_CLIENT,
		    "client authentication (HTTP Basic) required");
	authz += 6;
	n = strlen(authz);
	if ((len = b64_decode(authz, n, cred, sizeof(cred))) < 0 ||
	    (size_t)len != strlen(cred) ||
	    (colon = strchr(cred, ':')) == NULL) {
		certs_wipe(cred, sizeof(cred));
		return api_fail(r, API_E_INVALID_CLIENT,
		    "malformed Basic credentials");
	}
	*colon = '\0';
	if (urldecode(cred) != 0 || urldecode(colon + 1) != 0 ||
	    broker_client_id_check(cred) != 0) {
		certs_wipe(cred, sizeof(cred));
		return api_fail(r, API_E_INVALID_CLIENT,
		    "client authentication failed");
	}
	if ((rc = broker_read_begin(r->srv->store, &t)) == 0) {
		rc = broker_company_auth(t, cred, colon + 1, strlen(colon + 1),
		    now);
		broker_read_end(t);
	}
	/* The secret is done with; cred keeps the client id. */
	certs_wipe(colon + 1, strlen(colon + 1));
	rc = outcome(r, rc, cred, now);
	certs_wipe(cred, sizeof(cred));
	return rc;
}

/* ---- certificates (RFC 8705) ---------------------------------------- */

const char *
api_peer_thumb(struct api_request *r)
{
	const union MHD_ConnectionInfo *ci;
	const gnutls_datum_t *chain;
	unsigned int n = 0;

	if (r->peer_checked)
		return r->peer_thumb[0] ? r->peer_thumb : NULL;
	r->peer_checked = 1;
	if (!r->mtls || r->srv->ca_pem == NULL)
		return NULL;
	ci = MHD_get_connection_info(r->conn,
	    MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci == NULL || ci->tls_session == NULL)
		return NULL;
	chain = gnutls_certificate_get_peers(
	    (gnutls_session_t)ci->tls_session, &n);
	/* GnuTLS asked for it but checked nothing: verify it here. */
	if (chain == NULL || n == 0 ||
	    certs_client_verify(r->srv->ca_pem, r->srv->ca_len, chain[0].data,
		chain[0].size, r->peer_thumb) != 0) {
		r->peer_thumb[0] = '\0';
		return NULL;
	}
	return r->peer_thumb;
}

int
api_client_tls_auth(struct api_request *r)
{
	const char *id = api_form_get(&r->form, "client_id", NULL);
	const char *thumb = api_peer_thumb(r);
	struct broker_txn *t = NULL;
	int64_t now = api_wall_now();
	int rc;

	if (id == NULL || broker_client_id_check(id) != 0)
		return api_fail(r, API_E_INVALID_CLIENT, "client authentication "
		    "required: HTTP Basic, or client_id with a certificate");
	if (thumb == NULL)
		return api_fail(r, API_E_INVALID_CLIENT,
		    "no valid client certificate on this connection");
	if ((rc = broker_read_begin(r->srv->store, &t)) != 0)
		return rc;
	rc = broker_company_auth_cert(t, id, thumb);
	broker_read_end(t);
	if ((rc = outcome(r, rc, id, now)) == 0)
		r->bound = 1;
	return rc;
}
