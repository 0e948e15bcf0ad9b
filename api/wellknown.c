/*
 * wellknown.c - what OAuth clients discover: the RFC 8414 metadata and
 * the JWKS with the public halves of every key that may still verify a
 * live token.  Every URL derives from the issuer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"

static json_t *
url(const struct api_server *srv, const char *path)
{
	char buf[700];
	int n = snprintf(buf, sizeof(buf), "%s%s", srv->issuer, path);

	return n > 0 && (size_t)n < sizeof(buf) ? json_string(buf) : NULL;
}

/* The issuer's scheme and host with another port: the mTLS listener. */
static json_t *
mtls_url(const struct api_server *s, const char *path)
{
	const char *host = s->issuer + 8, *end;
	char buf[700];
	size_t hl;
	int n;

	/* After "https://": up to the port or the path. */
	if (host[0] == '[')
		end = strchr(host, ']') != NULL ? strchr(host, ']') + 1 : NULL;
	else
		end = host + strcspn(host, ":/");
	if (end == NULL)
		return NULL;
	hl = (size_t)(end - host);
	n = snprintf(buf, sizeof(buf), "https://%.*s:%u%s", (int)hl, host,
	    s->mtls_port, path);
	return n > 0 && (size_t)n < sizeof(buf) ? json_string(buf) : NULL;
}

/* Adds RFC 8705's metadata when the mutual-TLS listener runs. */
static json_t *
with_mtls(json_t *m, const struct api_server *s)
{
	if (m == NULL || s->mtls == NULL)
		return m;
	static const char *const lists[] = {
		"token_endpoint_auth_methods_supported",
		"introspection_endpoint_auth_methods_supported",
		"revocation_endpoint_auth_methods_supported",
	};

	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		json_array_append_new(json_object_get(m, lists[i]),
		    json_string("tls_client_auth"));
	json_object_set_new(m, "tls_client_certificate_bound_access_tokens",
	    json_true());
	json_object_set_new(m, "mtls_endpoint_aliases", json_pack("{s:o, s:o, "
	    "s:o, s:o}", "token_endpoint", mtls_url(s, "/oauth/token"),
	    "introspection_endpoint", mtls_url(s, "/oauth/introspect"),
	    "revocation_endpoint", mtls_url(s, "/oauth/revoke"),
	    "profile_endpoint", mtls_url(s, "/v1/profile")));
	return m;
}

/* GET /.well-known/oauth-authorization-server */
int
api_h_metadata(struct api_request *r)
{
	const struct api_server *s = r->srv;

	return api_respond_json(r, 200, with_mtls(json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, "
	    "s:[s,s,s], s:[s], s:[s], s:[s], s:[s], s:[s], s:b, s:o}",
	    "issuer", s->issuer,
	    "authorization_endpoint", url(s, "/oauth/authorize"),
	    "token_endpoint", url(s, "/oauth/token"),
	    "introspection_endpoint", url(s, "/oauth/introspect"),
	    "revocation_endpoint", url(s, "/oauth/revoke"),
	    "jwks_uri", url(s, "/.well-known/jwks.json"),
	    "grant_types_supported", "authorization_code", "refresh_token",
	    "urn:ccx:params:oauth:grant-type:grant",
	    "token_endpoint_auth_methods_supported", "client_secret_basic",
	    "introspection_endpoint_auth_methods_supported",
	    "client_secret_basic",
	    "revocation_endpoint_auth_methods_supported", "client_secret_basic",
	    "response_types_supported", "code",
	    "code_challenge_methods_supported", "S256",
	    "authorization_response_iss_parameter_supported", 1,
	    "service_documentation", url(s, "/")), s));
}

/* GET /.well-known/jwks.json, cacheable for the JWKS lifetime. */
int
api_h_jwks(struct api_request *r)
{
	const struct api_keyring *k;
	struct broker_txn *t = NULL;
	char cc[48];
	int rc;

	if ((rc = broker_read_begin(r->srv->store, &t)) != 0)
		return rc;
	k = api_keys(r->srv, t);
	broker_read_end(t);
	rc = api_respond_bytes(r, 200, "application/jwk-set+json", k->jwks,
	    k->jwks_len);
	if (rc != 0)
		return rc;
	snprintf(cc, sizeof(cc), "public, max-age=%u", r->srv->cfg.jwks_max_age);
	/* Public keys may be cached: replace the default no-store. */
	MHD_del_response_header(r->resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-store");
	return api_add_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cc);
}
