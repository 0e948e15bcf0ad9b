"""The OAuth 2.0 token endpoint and discovery, over TLS.

The grant exchange (urn:ccx:params:oauth:grant-type:grant) and refresh
token rotation with reuse detection, scope narrowing and invalid_scope,
unsupported grant types, form and client-authentication errors (RFC 6749
5.2), throttling of failed client authentications, client secret
rotation, the RFC 8414 metadata, the JWKS and its cache lifetime, and the
issuer flag.  Every access token issued here is verified independently
with PyJWT against the published JWKS: header, exact claim set, pairwise
subject, expiry never past the grant's.
"""

import base64
import json
import threading
import time
import urllib.parse

import jwt

from harness import Broker, BrokerTestCase, t as scaled, wait_until
from test_oauth_common import (BASE_FLAGS, FAST, GRANT_TYPE, OAuthTestCase,
                               World, basic, fetch, jwks, jwt_parts,
                               pairwise_sub, signing_key)


class TokenEndpointTests(OAuthTestCase):
    broker_flags = BASE_FLAGS

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.acme = cls.w.company("acme")
        cls.globex = cls.w.company("globex")

    def setUp(self):
        self.alice = self.w.customer("alice")
        self.grant = self.alice.grant(self.acme, ["read:contact",
                                                  "read:language"])

    # ---- the grant exchange -------------------------------------------

    def test_grant_exchange_issues_verifiable_token(self):
        # A grant of a day: one of an hour would cap the token's
        # lifetime once a second has passed since it was made.
        g = self.alice.grant(self.acme, ["read:contact.email",
                                         "read:communication"], ttl=86400)
        doc, header, claims = self.assertTokenResponse(
            self.acme.token(g["id"]),
            scope="read:communication read:contact.email")
        self.assertEqual(doc["grant_id"], g["id"])
        self.assertEqual(doc["expires_in"], 3600)  # the default lifetime
        self.assertEqual(claims["client_id"], self.acme.id)
        self.assertEqual(claims["grant_id"], g["id"])
        self.assertEqual(claims["sub"],
                         pairwise_sub(self.b, self.alice.id, self.acme.id))
        self.assertRegex(claims["jti"], r"^[A-Za-z0-9_-]{16,}$")
        _, keys = jwks(self.b)
        self.assertIn(header["kid"], [k["kid"] for k in keys["keys"]])
        # Each issue is a new token with its own id and refresh token.
        again, _, claims2 = self.assertTokenResponse(self.acme.token(g["id"]))
        self.assertNotEqual(claims2["jti"], claims["jti"])
        self.assertNotEqual(again["refresh_token"], doc["refresh_token"])
        self.assertNotEqual(again["access_token"], doc["access_token"])
        # The token is what the resource server honours.
        self.assertEqual(fetch(self.b, doc["access_token"])[0], 200)

    def test_pairwise_subject(self):
        """sub: stable per (customer, company) across grants, tokens and
        refreshes; different across companies and across customers;
        base64url(HMAC-SHA256(pairwise secret, customer id || company id))."""
        bob = self.w.customer("bob")
        g2 = self.alice.grant(self.acme, ["read:language"])
        g3 = self.alice.grant(self.globex, ["read:language"])
        g4 = bob.grant(self.acme, ["read:language"])

        def sub_of(company, gid):
            doc, _, claims = self.assertTokenResponse(company.token(gid))
            return doc, claims["sub"]

        doc1, s1 = sub_of(self.acme, self.grant["id"])
        _, s2 = sub_of(self.acme, g2["id"])
        _, s3 = sub_of(self.globex, g3["id"])
        _, s4 = sub_of(self.acme, g4["id"])
        refreshed, _, rclaims = self.assertTokenResponse(
            self.acme.refresh(doc1["refresh_token"]))
        self.assertEqual(s1, s2)
        self.assertEqual(s1, rclaims["sub"])
        self.assertNotEqual(s1, s3)
        self.assertNotEqual(s1, s4)
        self.assertEqual(s1, pairwise_sub(self.b, self.alice.id, self.acme.id))
        self.assertEqual(s3, pairwise_sub(self.b, self.alice.id,
                                          self.globex.id))
        self.assertEqual(s4, pairwise_sub(self.b, bob.id, self.acme.id))
        for s in (s1, s3, s4):
            self.assertNotIn(self.alice.id, s)
            self.assertNotIn(bob.id, s)
        # The same subject in introspection and the company's grant list.
        self.assertEqual(self.acme.introspect(refreshed["access_token"])["sub"],
                         s1)
        subs = {g["id"]: g["sub"] for g in self.acme.grants()}
        self.assertEqual(subs[self.grant["id"]], s1)
        self.assertEqual(subs[g2["id"]], s1)
        self.assertEqual(subs[g4["id"]], s4)

    def test_expiry_never_past_the_grant(self):
        g = self.alice.grant(self.acme, ["read:language"], ttl=100)
        doc, _, claims = self.assertTokenResponse(self.acme.token(g["id"]))
        self.assertEqual(claims["exp"], g["expires_at"])
        self.assertLessEqual(doc["expires_in"], 100)
        doc, _, claims = self.assertTokenResponse(
            self.acme.refresh(doc["refresh_token"]))
        self.assertEqual(claims["exp"], g["expires_at"])
        # A long grant gets the full token lifetime (a day: a grant of
        # exactly the token lifetime would cap it once a second passed).
        long = self.alice.grant(self.acme, ["read:language"], ttl=86400)
        doc, _, claims = self.assertTokenResponse(self.acme.token(long["id"]))
        self.assertEqual(claims["exp"] - claims["iat"], 3600)
        self.assertLess(claims["exp"], long["expires_at"])

    # ---- scopes -------------------------------------------------------

    def test_scope_narrowing(self):
        cases = [
            ("read:contact.email", "read:contact.email"),
            ("read:language", "read:language"),
            ("read:language read:contact.email",
             "read:contact.email read:language"),
            ("read:contact read:contact.email", "read:contact"),
            ("read:contact.postal.city read:contact.phone",
             "read:contact.phone read:contact.postal.city"),
            ("read:contact read:language", "read:contact read:language"),
        ]
        for asked, granted in cases:
            with self.subTest(scope=asked):
                doc, _, claims = self.assertTokenResponse(
                    self.acme.token(self.grant["id"], scope=asked),
                    scope=granted)
                self.assertEqual(claims["scope"], granted)

    def test_invalid_scope(self):
        cases = [
            "read:identity",                 # beyond the grant
            "read:contact read:identity",    # partly beyond
            "read:contactx",                 # a different key, not a prefix
            "read:contac",
            "read:Contact",                  # malformed keys
            "read:contact..email",
            "read:contact.",
            "read:",
            "read:*",
            "write:contact",                 # only read: exists
            "contact",
            "read:contact  read:language",   # two spaces
            " read:contact",
            "read:contact ",
            "read:contact\tread:language",
            'read:"contact"',
            "",
        ]
        for scope in cases:
            with self.subTest(scope=scope):
                self.assertOAuthError(
                    self.acme.token(self.grant["id"], scope=scope), 400,
                    "invalid_scope")
        # Nothing was spoilt: the grant still exchanges.
        self.assertTokenResponse(self.acme.token(self.grant["id"]))

    def test_invalid_grant(self):
        other = self.w.customer("other").grant(self.globex, ["read:contact"])
        revoked = self.alice.grant(self.acme, ["read:language"])
        self.alice.revoke_grant(revoked["id"])
        cases = [
            ("unknown", "AAAAAAAAAAAAAAAAAAAAAA"),
            ("malformed", "not-a-grant"),
            ("empty", ""),
            ("another company's", other["id"]),
            ("revoked", revoked["id"]),
            ("refresh token as grant", self.acme.tokens(
                self.grant["id"])["refresh_token"]),
        ]
        for name, gid in cases:
            with self.subTest(name):
                self.assertOAuthError(self.acme.token(gid), 400,
                                      "invalid_grant")
        # The other company's grant is untouched by the attempt.
        self.assertTokenResponse(self.globex.token(other["id"]))

    def test_unsupported_grant_type(self):
        for gt in ("password", "client_credentials", "implicit", "token",
                   "urn:ietf:params:oauth:grant-type:jwt-bearer",
                   GRANT_TYPE.upper(), GRANT_TYPE + "x", "refresh-token"):
            with self.subTest(grant_type=gt):
                self.assertOAuthError(
                    self.acme.post("/oauth/token", {
                        "grant_type": gt, "grant_id": self.grant["id"],
                        "refresh_token": "x", "username": "a",
                        "password": "b"}),
                    400, "unsupported_grant_type")

    # ---- the form -----------------------------------------------------

    def test_form_errors(self):
        gid = self.grant["id"]
        cases = [
            ("no grant_type", [("grant_id", gid)]),
            ("no grant_id", [("grant_type", GRANT_TYPE)]),
            ("no refresh_token", [("grant_type", "refresh_token")]),
            ("empty body", b""),
            ("repeated grant_type", [("grant_type", GRANT_TYPE),
                                     ("grant_type", GRANT_TYPE),
                                     ("grant_id", gid)]),
            ("repeated grant_id", [("grant_type", GRANT_TYPE),
                                   ("grant_id", gid), ("grant_id", gid)]),
            ("repeated scope", [("grant_type", GRANT_TYPE), ("grant_id", gid),
                                ("scope", "read:language"),
                                ("scope", "read:language")]),
            ("bad escape", ("grant_type=%s&grant_id=%s%%zz"
                            % (urllib.parse.quote(GRANT_TYPE), gid))),
            ("truncated escape", "grant_type=refresh_token&refresh_token=%4"),
            ("NUL byte", ("grant_type=%s&grant_id=%s%%00"
                          % (urllib.parse.quote(GRANT_TYPE), gid))),
            ("pair without =", ("grant_type=%s&grant_id"
                                % urllib.parse.quote(GRANT_TYPE))),
        ]
        for name, params in cases:
            with self.subTest(name):
                self.assertOAuthError(self.acme.post("/oauth/token", params),
                                      400, "invalid_request")

    def test_content_type(self):
        params = {"grant_type": GRANT_TYPE, "grant_id": self.grant["id"]}
        for ctype in ("application/json", "text/plain", "multipart/form-data",
                      None):
            with self.subTest(ctype=ctype):
                data = (json.dumps(params) if ctype == "application/json"
                        else urllib.parse.urlencode(params))
                self.assertOAuthError(
                    self.acme.post("/oauth/token", data, ctype=ctype), 415,
                    "invalid_request")
        # Parameters of the media type are fine.
        self.assertTokenResponse(self.acme.post(
            "/oauth/token", params,
            ctype="application/x-www-form-urlencoded; charset=UTF-8"))
        st, h, _ = self.b.request("GET", "/oauth/token",
                                  headers={"Authorization": self.acme.authz})
        self.assertEqual(st, 405)
        self.assertIn("POST", h.get("Allow", ""))

    # ---- client authentication ----------------------------------------

    def test_client_authentication_failures(self):
        good = {"grant_type": GRANT_TYPE, "grant_id": self.grant["id"]}
        creds = [
            ("none", ""),
            ("wrong secret", basic(self.acme.id, self.globex.secret)),
            ("unknown client", basic("no-such-company", self.acme.secret)),
            ("other company's id", basic(self.globex.id, self.acme.secret)),
            ("empty secret", basic(self.acme.id, "")),
            ("secret with a byte more", basic(self.acme.id,
                                              self.acme.secret + "A")),
            ("secret cut short", basic(self.acme.id, self.acme.secret[:-1])),
            ("no colon", "Basic " + base64.b64encode(
                (self.acme.id + self.acme.secret).encode()).decode()),
            ("not base64", "Basic %%%notbase64"),
            ("bearer scheme", "Bearer " + self.acme.secret),
            ("secret alone", self.acme.secret),
        ]
        endpoints = [("/oauth/token", good),
                     ("/oauth/introspect", {"token": "x"}),
                     ("/oauth/revoke", {"token": "x"})]
        for path, params in endpoints:
            for name, authz in creds:
                with self.subTest(path=path, creds=name):
                    self.assertOAuthError(
                        self.acme.post(path, params, authz=authz), 401,
                        "invalid_client")
        # client_secret_post is not a method the broker offers.
        self.assertOAuthError(
            self.acme.post("/oauth/token", dict(
                good, client_id=self.acme.id, client_secret=self.acme.secret),
                authz=""), 401, "invalid_client")
        # The company grant list answers a problem, with the same challenge.
        for name, authz in creds[:3]:
            with self.subTest(path="/v1/company/grants", creds=name):
                resp = self.b.request("GET", "/v1/company/grants",
                                      headers={"Authorization": authz}
                                      if authz else {})
                self.assertProblem(self.b, resp, 401, "invalid-client")
                self.assertTrue(resp[1].get("WWW-Authenticate", "")
                                .lower().startswith("basic "), resp[1])
        # None of it stops the right credentials.
        self.assertTokenResponse(self.acme.post("/oauth/token", good))

    def test_credentials_are_form_urlencoded(self):
        """RFC 6749 2.3.1: id and secret are form-urlencoded before Basic;
        an encoder may escape characters that need no escaping."""
        odd = self.w.company("odd.co_x")
        g = self.alice.grant(odd, ["read:language"])
        params = urllib.parse.urlencode({"grant_type": GRANT_TYPE,
                                         "grant_id": g["id"]})
        enc_id = "".join("%%%02X" % ord(ch) for ch in odd.id)
        enc_secret = "".join("%%%02X" % ord(ch) for ch in odd.secret)
        for cid, secret in ((odd.id, odd.secret), (enc_id, odd.secret),
                            (odd.id, enc_secret), (enc_id, enc_secret)):
            with self.subTest(id=cid[:12], secret=secret[:12]):
                raw = ("%s:%s" % (cid, secret)).encode()
                authz = "Basic " + base64.b64encode(raw).decode()
                self.assertTokenResponse(odd.post("/oauth/token", params,
                                                  authz=authz))

    def test_secret_rotation(self):
        co = self.w.company("rotor")
        g = self.alice.grant(co, ["read:language"])
        old = co.secret
        tok = co.tokens(g["id"])
        # Without an overlap the old secret stops at once.
        rec = json.loads(self.b.admin("company", "secret", co.id).stdout)
        new = rec["client_secret"]
        self.assertNotEqual(new, old)
        self.assertNotIn("secrets", rec)
        self.assertOAuthError(co.post("/oauth/token", {
            "grant_type": GRANT_TYPE, "grant_id": g["id"]},
            authz=basic(co.id, old)), 401, "invalid_client")
        co.secret = new
        self.assertTokenResponse(co.token(g["id"]))
        # Tokens issued before a rotation stay good.
        self.assertEqual(fetch(self.b, tok["access_token"])[0], 200)
        self.assertTokenResponse(co.refresh(tok["refresh_token"]))
        # With an overlap both work.
        rec = json.loads(self.b.admin("company", "secret", co.id,
                                      "--overlap", "1h").stdout)
        newer = rec["client_secret"]
        for secret in (new, newer):
            with self.subTest(secret=secret[:6]):
                self.assertTokenResponse(co.post("/oauth/token", {
                    "grant_type": GRANT_TYPE, "grant_id": g["id"]},
                    authz=basic(co.id, secret)))

    # ---- refresh tokens -----------------------------------------------

    def test_refresh_rotation_and_reuse_detection(self):
        first = self.acme.tokens(self.grant["id"])
        rt0 = first["refresh_token"]
        second, _, c2 = self.assertTokenResponse(
            self.acme.refresh(rt0), scope="read:contact read:language")
        rt1 = second["refresh_token"]
        self.assertNotEqual(rt1, rt0)
        self.assertNotEqual(c2["jti"], jwt_parts(first["access_token"])[1]
                            ["jti"])
        self.assertEqual(second["grant_id"], self.grant["id"])
        # The spent token introspects inactive; the new one active.
        self.assertEqual(self.acme.introspect(rt0), {"active": False})
        live = self.acme.introspect(rt1)
        self.assertIs(live["active"], True)
        self.assertEqual(live["token_type"], "refresh_token")
        self.assertEqual(live["client_id"], self.acme.id)
        self.assertEqual(live["grant_id"], self.grant["id"])
        self.assertEqual(live["scope"], "read:contact read:language")
        third, _, _ = self.assertTokenResponse(self.acme.refresh(rt1))
        rt2 = third["refresh_token"]
        # Presenting a spent token again is reuse: the family dies, the
        # newest member included.
        self.assertOAuthError(self.acme.refresh(rt1), 400, "invalid_grant")
        self.assertOAuthError(self.acme.refresh(rt2), 400, "invalid_grant")
        self.assertEqual(self.acme.introspect(rt2), {"active": False})
        self.assertOAuthError(self.acme.refresh(rt0), 400, "invalid_grant")
        # The grant itself lives on: a new exchange starts a new family.
        fresh = self.acme.tokens(self.grant["id"])
        self.assertTokenResponse(self.acme.refresh(fresh["refresh_token"]))

    def test_concurrent_refresh_is_single_use(self):
        """The same refresh token presented by several requests at once:
        exactly one succeeds; the others are reuse and kill the family."""
        rt = self.acme.tokens(self.grant["id"])["refresh_token"]
        results = [None] * 6
        start = threading.Barrier(len(results))

        def go(i):
            start.wait()
            results[i] = self.acme.refresh(rt)

        threads = [threading.Thread(target=go, args=(i,))
                   for i in range(len(results))]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        ok = [r for r in results if r[0] == 200]
        self.assertEqual(len(ok), 1, [r[0] for r in results])
        for r in results:
            if r[0] != 200:
                self.assertOAuthError(r, 400, "invalid_grant")
        winner = json.loads(ok[0][2])["refresh_token"]
        self.assertOAuthError(self.acme.refresh(winner), 400, "invalid_grant")

    def test_reuse_with_a_scope_is_still_reuse(self):
        """A spent refresh token presented again is a replay whatever else
        the request says: the family dies."""
        rt0 = self.acme.tokens(self.grant["id"])["refresh_token"]
        rt1, _, _ = self.assertTokenResponse(self.acme.refresh(rt0))
        rt1 = rt1["refresh_token"]
        # The replay asks for more than the grant holds.
        st, _, data = self.acme.refresh(rt0, scope="read:identity")
        self.assertEqual(st, 400, data)
        self.assertOAuthError(self.acme.refresh(rt1), 400, "invalid_grant")

    def test_refresh_scope(self):
        doc = self.acme.tokens(self.grant["id"])
        narrowed, _, claims = self.assertTokenResponse(
            self.acme.refresh(doc["refresh_token"], scope="read:contact.email"),
            scope="read:contact.email")
        self.assertEqual(claims["scope"], "read:contact.email")
        for scope in ("read:identity", "read:contact read:diet",
                      "read:Contact", ""):
            with self.subTest(scope=scope):
                self.assertOAuthError(
                    self.acme.refresh(narrowed["refresh_token"], scope=scope),
                    400, "invalid_scope")

    def test_refresh_errors(self):
        mine = self.acme.tokens(self.grant["id"])
        theirs = self.globex.tokens(self.w.customer("carol").grant(
            self.globex, ["read:language"])["id"])
        cases = [
            ("unknown", "A" * 43),
            ("empty", ""),
            ("an access token", mine["access_token"]),
            ("another company's", theirs["refresh_token"]),
            ("very long", "A" * 5000),
        ]
        for name, rt in cases:
            with self.subTest(name):
                self.assertOAuthError(self.acme.refresh(rt), 400,
                                      "invalid_grant")
        # The other company's token was not harmed by the attempt.
        self.assertTokenResponse(self.globex.refresh(theirs["refresh_token"]))
        self.assertTokenResponse(self.acme.refresh(mine["refresh_token"]))

    def test_refresh_dies_with_its_grant(self):
        doc = self.acme.tokens(self.grant["id"])
        self.alice.revoke_grant(self.grant["id"])
        self.assertOAuthError(self.acme.refresh(doc["refresh_token"]), 400,
                              "invalid_grant")
        self.assertEqual(self.acme.introspect(doc["refresh_token"]),
                         {"active": False})
        self.assertOAuthError(self.acme.token(self.grant["id"]), 400,
                              "invalid_grant")

    # ---- discovery ----------------------------------------------------

    def test_metadata(self):
        st, h, data = self.b.request(
            "GET", "/.well-known/oauth-authorization-server")
        self.assertEqual(st, 200, data)
        self.assertEqual(h.get("Content-Type", "").split(";")[0],
                         "application/json")
        md = json.loads(data)
        iss = self.b.issuer
        self.assertEqual(md["issuer"], iss)
        u = urllib.parse.urlsplit(iss)
        self.assertEqual(u.scheme, "https")
        self.assertEqual((u.query, u.fragment), ("", ""))
        self.assertFalse(iss.endswith("/"))
        self.assertEqual(md["token_endpoint"], iss + "/oauth/token")
        self.assertEqual(md["introspection_endpoint"], iss + "/oauth/introspect")
        self.assertEqual(md["revocation_endpoint"], iss + "/oauth/revoke")
        self.assertEqual(md["jwks_uri"], iss + "/.well-known/jwks.json")
        self.assertIn(GRANT_TYPE, md["grant_types_supported"])
        self.assertIn("refresh_token", md["grant_types_supported"])
        self.assertNotIn("password", md["grant_types_supported"])
        self.assertNotIn("client_credentials", md["grant_types_supported"])
        self.assertIn("response_types_supported", md)  # REQUIRED
        for k in ("token_endpoint_auth_methods_supported",
                  "introspection_endpoint_auth_methods_supported",
                  "revocation_endpoint_auth_methods_supported"):
            self.assertEqual(md[k], ["client_secret_basic"], k)
        for k, v in md.items():
            if k.endswith("_endpoint") or k.endswith("_uri"):
                self.assertTrue(v.startswith(iss + "/"), (k, v))
        # The advertised endpoints are the ones that answer.
        path = urllib.parse.urlsplit(md["jwks_uri"]).path
        self.assertEqual(self.b.request("GET", path)[0], 200)
        for k in ("token_endpoint", "introspection_endpoint",
                  "revocation_endpoint"):
            path = urllib.parse.urlsplit(md[k]).path
            self.assertOAuthError(self.acme.post(path, {"token": "x"},
                                                 authz=""),
                                  401, "invalid_client")

    def test_jwks(self):
        h, doc = jwks(self.b)
        self.assertIn(h.get("Content-Type", "").split(";")[0],
                      ("application/jwk-set+json", "application/json"))
        self.assertEqual(h.get_all("Cache-Control"), ["public, max-age=300"])
        self.assertEqual(set(doc), {"keys"})
        self.assertGreaterEqual(len(doc["keys"]), 1)
        kids = [k["kid"] for k in doc["keys"]]
        self.assertEqual(len(kids), len(set(kids)))
        for k in doc["keys"]:
            with self.subTest(kid=k.get("kid")):
                self.assertEqual(k["kty"], "OKP")
                self.assertEqual(k["crv"], "Ed25519")
                self.assertEqual(len(base64.urlsafe_b64decode(
                    k["x"] + "=" * (-len(k["x"]) % 4))), 32)
                self.assertEqual(k.get("alg", "EdDSA"), "EdDSA")
                self.assertEqual(k.get("use", "sig"), "sig")
                # Public halves only.
                self.assertFalse({"d", "p", "q", "k"} & set(k), k)
                self.assertEqual(jwt.PyJWK(k).key_type, "OKP")
        # The signing key of a fresh token is in the set.
        doc2 = self.acme.tokens(self.grant["id"])
        self.assertIn(jwt_parts(doc2["access_token"])[0]["kid"], kids)


class IssuerTests(OAuthTestCase):
    """--issuer: every URL in the metadata and every token claim derives
    from it; changing it invalidates outstanding tokens."""

    ISSUER = "https://ccx.example.test:9443"
    OTHER = "https://other.example.test"
    broker_flags = BASE_FLAGS + ["--issuer", ISSUER, "--jwks-max-age", "60"]

    def test_metadata_and_tokens_follow_the_issuer(self):
        self.assertEqual(self.b.issuer, self.ISSUER)
        st, _, data = self.b.request(
            "GET", "/.well-known/oauth-authorization-server")
        md = json.loads(data)
        self.assertEqual(md["issuer"], self.ISSUER)
        for k in ("token_endpoint", "introspection_endpoint",
                  "revocation_endpoint", "jwks_uri"):
            self.assertTrue(md[k].startswith(self.ISSUER + "/"), md[k])
        h, _ = jwks(self.b)
        self.assertEqual(h.get_all("Cache-Control"), ["public, max-age=60"])
        co = self.w.company("issuer-co")
        cust = self.w.customer("issuer-cust")
        g = cust.grant(co, ["read:language"])
        doc, _, claims = self.assertTokenResponse(co.token(g["id"]))
        self.assertEqual((claims["iss"], claims["aud"]),
                         (self.ISSUER, self.ISSUER))
        # PyJWT refuses it for any other issuer or audience.
        key = signing_key(self.b, doc["access_token"])
        with self.assertRaises(jwt.InvalidIssuerError):
            jwt.decode(doc["access_token"], key, algorithms=["EdDSA"],
                       audience=self.ISSUER, issuer=self.OTHER)
        with self.assertRaises(jwt.InvalidAudienceError):
            jwt.decode(doc["access_token"], key, algorithms=["EdDSA"],
                       audience=self.OTHER, issuer=self.ISSUER)

    def test_changing_the_issuer_invalidates_tokens(self):
        co = self.w.company("reissue")
        cust = self.w.customer("reissue")
        g = cust.grant(co, ["read:language"])
        old = co.tokens(g["id"])
        self.assertEqual(fetch(self.b, old["access_token"])[0], 200)
        self.b.restart(flags=BASE_FLAGS + ["--issuer", self.OTHER])
        try:
            self.assertEqual(self.b.issuer, self.OTHER)
            self.assertBearerError(fetch(self.b, old["access_token"]))
            self.assertEqual(co.introspect(old["access_token"]),
                             {"active": False})
            doc, _, claims = self.assertTokenResponse(co.token(g["id"]))
            self.assertEqual(claims["iss"], self.OTHER)
            self.assertEqual(fetch(self.b, doc["access_token"])[0], 200)
        finally:
            self.b.restart(flags=self.broker_flags)


class GrantIssuanceTests(OAuthTestCase):
    """What a company can make the store hold for one grant: at most
    --grant-token-max tokens issued within the throttle window (exchanges
    and refreshes together), and --refresh-families-max live families."""

    broker_flags = BASE_FLAGS + ["--grant-token-max", "6",
                                 "--refresh-families-max", "2"]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.acme = cls.w.company("acme")

    def setUp(self):
        self.cust = self.w.customer("issued")
        self.grant = self.cust.grant(self.acme, ["read:language"])

    def assertSlowedDown(self, resp):
        doc = self.assertOAuthError(resp, 429, "temporarily_unavailable")
        self.assertIn("this grant", doc["error_description"])
        self.assertGreater(int(resp[1].get("Retry-After")), 0)

    def test_issuance_per_grant(self):
        gid = self.grant["id"]
        rt = [self.acme.tokens(gid)["refresh_token"]]
        for _ in range(2):
            rt.append(self.assertTokenResponse(
                self.acme.refresh(rt[-1]))[0]["refresh_token"])
        self.acme.tokens(gid)
        for _ in range(2):
            rt.append(self.assertTokenResponse(
                self.acme.refresh(rt[-1]))[0]["refresh_token"])
        # Six issued: the seventh waits, exchange or refresh alike, and
        # the refresh token held back is not spent.
        self.assertSlowedDown(self.acme.token(gid))
        self.assertSlowedDown(self.acme.refresh(rt[-1]))
        self.assertIs(self.acme.introspect(rt[-1])["active"], True)
        # A replay is still judged, and still kills its family.
        self.assertOAuthError(self.acme.refresh(rt[0]), 400,
                              "invalid_grant")
        self.assertEqual(self.acme.introspect(rt[-1]), {"active": False})
        # Another grant of the same customer and company is not held up.
        other = self.cust.grant(self.acme, ["read:language"])
        self.assertTokenResponse(self.acme.token(other["id"]))

    def test_families_per_grant(self):
        gid = self.grant["id"]
        first, second, third = (self.acme.tokens(gid) for _ in range(3))
        # The third family ended the first, whose access token lives on.
        self.assertOAuthError(self.acme.refresh(first["refresh_token"]),
                              400, "invalid_grant")
        self.assertEqual(self.acme.introspect(first["refresh_token"]),
                         {"active": False})
        self.assertEqual(fetch(self.b, first["access_token"])[0], 200)
        for t in (second, third):
            self.assertTokenResponse(self.acme.refresh(t["refresh_token"]))


class ThrottleTests(BrokerTestCase):
    """Failed client authentications are counted per client id and per
    address within --throttle-window; past the limit: 429, Retry-After."""

    WINDOW = int(scaled(2))
    FLAGS = FAST + ["--signup-max", "1000", "--login-max-failures", "3",
                    "--ip-max-failures", "6", "--throttle-window", str(WINDOW)]

    def setUp(self):
        self.b = Broker(flags=self.FLAGS)
        self.w = World(self.b)
        self.acme = self.w.company("thr")
        self.other = self.w.company("bystander")
        cust = self.w.customer("thr")
        self.g_acme = cust.grant(self.acme, ["read:language"])
        self.g_other = cust.grant(self.other, ["read:language"])

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            self.b.cleanup()

    def assertThrottled(self, resp):
        st, h, data = resp
        self.assertEqual(st, 429, data)
        ra = h.get("Retry-After")
        self.assertIsNotNone(ra, h)
        self.assertTrue(ra.isdigit() and 1 <= int(ra) <= self.WINDOW, ra)
        self.assertEqual(h.get("Content-Type", "").split(";")[0],
                         "application/json")
        self.assertIsInstance(json.loads(data).get("error"), str)
        return int(ra)

    def test_per_client(self):
        wrong = basic(self.acme.id, self.other.secret)
        for _ in range(3):
            st, _, _ = self.acme.post("/oauth/token", {
                "grant_type": GRANT_TYPE, "grant_id": self.g_acme["id"]},
                authz=wrong)
            self.assertEqual(st, 401)
        # Now wrong secrets wait, on every client endpoint ...
        retry = self.assertThrottled(self.acme.post("/oauth/token", {
            "grant_type": GRANT_TYPE, "grant_id": self.g_acme["id"]},
            authz=wrong))
        for path in ("/oauth/introspect", "/oauth/revoke"):
            self.assertThrottled(self.acme.post(path, {"token": "x"},
                                                authz=wrong))
        # ... but the right one passes: whoever knows a client id (they
        # are public) cannot lock the company out.
        self.assertEqual(self.acme.token(self.g_acme["id"])[0], 200)
        self.assertEqual(self.acme.post("/oauth/introspect",
                                        {"token": "x"})[0], 200)
        # Another company from the same address is not affected.
        self.assertEqual(self.other.token(self.g_other["id"])[0], 200)
        # The window ends when Retry-After said: wrong secrets are
        # answered 401 again.
        time.sleep(retry + 0.1)
        ok = wait_until(lambda: self.acme.post("/oauth/token", {
            "grant_type": GRANT_TYPE, "grant_id": self.g_acme["id"]},
            authz=wrong)[0] == 401, timeout=1.5, interval=0.2)
        self.assertTrue(ok, "still throttled after Retry-After")

    def test_per_address(self):
        for i in range(6):
            st, _, _ = self.acme.post("/oauth/token", {
                "grant_type": GRANT_TYPE, "grant_id": "x"},
                authz=basic("guess-%d" % i, "nope"))
            self.assertEqual(st, 401)
        # Six failures over six client ids: the address is throttled,
        # for any further guess, while the right secrets still pass.
        self.assertThrottled(self.acme.post("/oauth/token", {
            "grant_type": GRANT_TYPE, "grant_id": "x"},
            authz=basic("guess-7", "nope")))
        self.assertThrottled(self.acme.post("/oauth/token", {
            "grant_type": GRANT_TYPE, "grant_id": "x"},
            authz=basic(self.other.id, "nope")))
        self.assertEqual(self.other.token(self.g_other["id"])[0], 200)

    def test_successes_do_not_count(self):
        for _ in range(8):
            self.assertEqual(self.acme.token(self.g_acme["id"])[0], 200)
        self.assertEqual(self.acme.post("/oauth/introspect",
                                        {"token": "x"})[0], 200)
