"""A company's fetch of the profile (GET /v1/profile) and what stops it.

The projection on the grant's and the token's scopes, exactly, for nested
and missing fields; ETags and 304; revocation of a grant taking effect on
the very next fetch (cached and fresh tokens); disabling a company; the
revocation and introspection endpoints (RFC 7009, RFC 7662) and what one
company can learn or do about another's tokens; tampered, foreign and
expired tokens (RFC 6750 errors).
"""

import json
import time

import jwt

from harness import Broker, t as scaled
from test_oauth_common import (BASE_FLAGS, MAX_LEEWAY, PROFILE, OAuthTestCase,
                               b64url, b64url_decode, fetch, jwt_parts,
                               project, signing_key, verify_access_token,
                               World)

DAY = 86400

# Encodings RFC 7515 does not allow that PyJWT nevertheless decodes (the
# broker refuses them; PyJWT is not asked about them).
LENIENT = {"padded signature", "standard base64 alphabet"}


def leaves(doc, prefix=""):
    """Every dotted path to a non-object value."""
    out = set()
    for k, v in doc.items():
        p = prefix + k
        if isinstance(v, dict) and v:
            out |= leaves(v, p + ".")
        else:
            out.add(p)
    return out


class FetchTests(OAuthTestCase):
    broker_flags = BASE_FLAGS

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.acme = cls.w.company("acme")
        cls.globex = cls.w.company("globex")

    def setUp(self):
        self.alice = self.w.customer("alice", profile=PROFILE)

    def token_for(self, scopes, company=None, scope=None, customer=None):
        company = company or self.acme
        g = (customer or self.alice).grant(company, scopes)
        return g, company.tokens(g["id"], scope)

    def get_profile(self, token, headers=None):
        st, h, data = fetch(self.b, token, headers)
        self.assertEqual(st, 200, data)
        self.assertEqual(h.get("Content-Type", "").split(";")[0],
                         "application/json")
        self.assertEqual(h.get("Cache-Control"), "no-store")
        return json.loads(data), h

    # ---- the projection -----------------------------------------------

    def test_projection_is_exact(self):
        cases = [
            ["read:contact.email"],
            ["read:communication"],
            ["read:communication.quiet_hours.tz", "read:contact.postal.city"],
            ["read:contact.postal"],
            ["read:diet", "read:sizes.shoe_eu"],
            ["read:language", "read:interests", "read:identity.pronouns"],
            ["read:communication.do_not_contact"],   # a false value
            ["read:contact", "read:contact.email"],   # the broader wins
            ["read:contact.fax"],                    # missing field
            ["read:hobbies"],                        # missing section
            ["read:hobbies.chess", "read:language"],
            ["read:language.tag"],                   # path through a string
            ["read:interests.first"],                # path through an array
            ["read:contac", "read:contactx"],        # no prefix matching
            ["read:identity", "read:contact", "read:communication",
             "read:language", "read:interests", "read:sizes", "read:diet",
             "read:accessibility"],                  # everything
        ]
        for scopes in cases:
            with self.subTest(scopes=scopes):
                _, tok = self.token_for(scopes)
                got, _ = self.get_profile(tok["access_token"])
                want = project(PROFILE, [s[len("read:"):] for s in scopes])
                self.assertEqual(got, want)
                granted = [s[len("read:"):] for s in scopes]
                for leaf in leaves(got):
                    self.assertTrue(any(leaf == p or leaf.startswith(p + ".")
                                        for p in granted), leaf)

    def test_token_scope_narrows_the_projection(self):
        g, whole = self.token_for(["read:contact", "read:language"])
        cases = [
            (None, ["contact", "language"]),
            ("read:contact.email", ["contact.email"]),
            ("read:language", ["language"]),
            ("read:contact.postal.city read:language",
             ["contact.postal.city", "language"]),
            ("read:contact.fax", []),
        ]
        for scope, paths in cases:
            with self.subTest(scope=scope):
                tok = self.acme.tokens(g["id"], scope)
                got, _ = self.get_profile(tok["access_token"])
                self.assertEqual(got, project(PROFILE, paths))
        # A refresh with a narrower scope narrows the same way.
        narrowed = json.loads(self.acme.refresh(whole["refresh_token"],
                                                scope="read:contact.phone")[2])
        got, _ = self.get_profile(narrowed["access_token"])
        self.assertEqual(got, {"contact": {"phone": PROFILE["contact"]["phone"]}})

    def test_profile_changes_show_at_once(self):
        _, tok = self.token_for(["read:contact.email"])
        self.assertEqual(self.get_profile(tok["access_token"])[0],
                         {"contact": {"email": "alice@example.com"}})
        doc = json.loads(json.dumps(PROFILE))
        doc["contact"]["email"] = "new@example.com"
        self.alice.set_profile(doc)
        self.assertEqual(self.get_profile(tok["access_token"])[0],
                         {"contact": {"email": "new@example.com"}})
        del doc["contact"]["email"]
        self.alice.set_profile(doc)
        self.assertEqual(self.get_profile(tok["access_token"])[0], {})

    def test_etag_and_not_modified(self):
        g, tok = self.token_for(["read:contact.email", "read:language"])
        at = tok["access_token"]
        body, h = self.get_profile(at)
        etag = h.get("ETag")
        self.assertRegex(etag, r'^"[^"]+"$')   # strong
        for inm in (etag, "W/" + etag, '"nope", ' + etag, "*"):
            with self.subTest(if_none_match=inm):
                st, h2, data = fetch(self.b, at, {"If-None-Match": inm})
                self.assertEqual(st, 304)
                self.assertEqual(data, b"")
                self.assertEqual(h2.get("ETag"), etag)
        st, _, data = fetch(self.b, at, {"If-None-Match": '"other"'})
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(data), body)
        # A change outside the grant changes nothing the company can see,
        # not even the ETag.
        doc = json.loads(json.dumps(PROFILE))
        doc["interests"] = ["chess"]
        doc["contact"]["phone"] = "+447700900999"
        self.alice.set_profile(doc)
        st, h3, _ = fetch(self.b, at, {"If-None-Match": etag})
        self.assertEqual(st, 304)
        self.assertEqual(h3.get("ETag"), etag)
        # A granted field changes: a new representation and tag.
        doc["language"] = "fr-FR"
        self.alice.set_profile(doc)
        st, h4, data = fetch(self.b, at, {"If-None-Match": etag})
        self.assertEqual(st, 200)
        self.assertNotEqual(h4.get("ETag"), etag)
        self.assertEqual(json.loads(data)["language"], "fr-FR")
        # Two tokens with the same view share the tag.
        tok2 = self.acme.tokens(g["id"])
        self.assertEqual(fetch(self.b, tok2["access_token"])[1].get("ETag"),
                         h4.get("ETag"))

    # ---- revocation, expiry, disabling -----------------------------------

    def test_grant_revocation_takes_effect_on_the_next_fetch(self):
        g, cached = self.token_for(["read:contact.email"])
        fresh = self.acme.tokens(g["id"])
        # Fetched three times: cached from its second use (the first is
        # only remembered), and the third reuses the second's check of
        # access, so the checks below meet a cached token and a check
        # that held until the revocation.
        for _ in range(3):
            st, h, _ = fetch(self.b, cached["access_token"])
            self.assertEqual(st, 200)
        self.alice.revoke_grant(g["id"])
        # Not even a 304: the grant is gone.
        self.assertBearerError(fetch(self.b, cached["access_token"],
                                     {"If-None-Match": h.get("ETag")}))
        self.assertBearerError(fetch(self.b, cached["access_token"]))
        self.assertBearerError(fetch(self.b, fresh["access_token"]))
        self.assertBearerError(fetch(self.b, cached["access_token"]))
        for t in (cached["access_token"], cached["refresh_token"],
                  fresh["access_token"]):
            self.assertEqual(self.acme.introspect(t), {"active": False})
        self.assertOAuthError(self.acme.refresh(fresh["refresh_token"]), 400,
                              "invalid_grant")
        self.assertOAuthError(self.acme.token(g["id"]), 400, "invalid_grant")

    def test_each_token_belongs_to_one_grant(self):
        g1, t1 = self.token_for(["read:contact.email"])
        g2, t2 = self.token_for(["read:language"])
        self.assertEqual(self.get_profile(t1["access_token"])[0],
                         {"contact": {"email": "alice@example.com"}})
        self.assertEqual(self.get_profile(t2["access_token"])[0],
                         {"language": "en-GB"})
        self.alice.revoke_grant(g1["id"])
        self.assertBearerError(fetch(self.b, t1["access_token"]))
        self.assertEqual(self.get_profile(t2["access_token"])[0],
                         {"language": "en-GB"})
        # A token cannot ask for another grant's scope.
        self.assertOAuthError(self.acme.token(g2["id"], "read:contact.email"),
                              400, "invalid_scope")

    def test_grant_expiry(self):
        expires = int(time.time()) + int(scaled(2))
        g = self.alice.grant(self.acme, ["read:language"], expires_at=expires)
        tok = self.acme.tokens(g["id"])
        _, claims = verify_access_token(self.b, tok["access_token"])
        self.assertEqual(claims["exp"], expires)
        self.assertEqual(self.get_profile(tok["access_token"])[0],
                         {"language": "en-GB"})
        time.sleep(max(0.0, expires - time.time()) + 0.1)
        self.assertBearerError(fetch(self.b, tok["access_token"]))
        self.assertOAuthError(self.acme.refresh(tok["refresh_token"]), 400,
                              "invalid_grant")
        self.assertOAuthError(self.acme.token(g["id"]), 400, "invalid_grant")
        self.assertEqual(self.acme.introspect(tok["access_token"]),
                         {"active": False})
        self.assertEqual(self.alice.get_json("/v1/me/grants/" + g["id"])
                         ["state"], "expired")
        states = {x["id"]: x["state"] for x in self.acme.grants()}
        self.assertEqual(states[g["id"]], "expired")

    def test_company_disable_and_enable(self):
        co = self.w.company("flaky")
        g = self.alice.grant(co, ["read:language"])
        tok = co.tokens(g["id"])
        self.assertEqual(fetch(self.b, tok["access_token"])[0], 200)
        self.b.admin("company", "disable", co.id)
        self.assertBearerError(fetch(self.b, tok["access_token"]))
        self.assertOAuthError(co.token(g["id"]), 401, "invalid_client")
        self.assertOAuthError(co.refresh(tok["refresh_token"]), 401,
                              "invalid_client")
        self.assertOAuthError(co.post("/oauth/introspect",
                                      {"token": tok["access_token"]}),
                              401, "invalid_client")
        st, _, data = self.b.request("GET", "/v1/companies")
        self.assertNotIn(co.id, [c["id"] for c in
                                 json.loads(data)["companies"]])
        st, _, data = self.alice.grant_raw({
            "company": co.id, "scopes": ["read:language"],
            "purpose": "service", "expires_at": int(time.time()) + DAY})
        self.assertEqual(st, 404, data)
        # Other companies are not affected.
        _, other = self.token_for(["read:language"])
        self.assertEqual(fetch(self.b, other["access_token"])[0], 200)
        self.b.admin("company", "enable", co.id)
        self.assertEqual(fetch(self.b, tok["access_token"])[0], 200)
        self.assertEqual(co.introspect(tok["access_token"])["active"], True)
        self.assertTokenResponse(co.refresh(tok["refresh_token"]))

    # ---- the revocation endpoint ------------------------------------------

    def test_revoke_access_token(self):
        g, tok = self.token_for(["read:language"])
        sibling = self.acme.tokens(g["id"])
        at = tok["access_token"]
        self.assertEqual(fetch(self.b, at)[0], 200)
        st, h, _ = self.acme.revoke(at)
        self.assertEqual(st, 200)
        self.assertEqual(h.get("Cache-Control"), "no-store")
        self.assertBearerError(fetch(self.b, at))
        self.assertEqual(self.acme.introspect(at), {"active": False})
        # Only that token (its jti): the grant and other tokens live on.
        self.assertEqual(fetch(self.b, sibling["access_token"])[0], 200)
        self.assertTokenResponse(self.acme.token(g["id"]))
        # Revoking again, or garbage, is still 200 (RFC 7009 2.2).
        for t in (at, "garbage", "a.b.c", "x" * 300):
            with self.subTest(token=t[:20]):
                self.assertEqual(self.acme.revoke(t)[0], 200)

    def test_revoke_with_a_wrong_hint(self):
        """RFC 7009 2.1: a wrong token_type_hint must not stop revocation."""
        _, tok = self.token_for(["read:language"])
        self.assertEqual(self.acme.revoke(tok["access_token"],
                                          hint="refresh_token")[0], 200)
        self.assertBearerError(fetch(self.b, tok["access_token"]))
        self.assertEqual(self.acme.revoke(tok["refresh_token"],
                                          hint="access_token")[0], 200)
        self.assertOAuthError(self.acme.refresh(tok["refresh_token"]), 400,
                              "invalid_grant")

    def test_revoke_refresh_token_kills_its_family(self):
        g, tok = self.token_for(["read:language"])
        rt0 = tok["refresh_token"]
        rt1 = json.loads(self.acme.refresh(rt0)[2])["refresh_token"]
        other = self.acme.tokens(g["id"])  # another family of the grant
        # Revoking the spent ancestor kills the live descendant.
        self.assertEqual(self.acme.revoke(rt0)[0], 200)
        self.assertOAuthError(self.acme.refresh(rt1), 400, "invalid_grant")
        self.assertEqual(self.acme.introspect(rt1), {"active": False})
        # A live one, directly.
        self.assertEqual(self.acme.revoke(other["refresh_token"])[0], 200)
        self.assertOAuthError(self.acme.refresh(other["refresh_token"]), 400,
                              "invalid_grant")
        # The grant is not revoked: a new exchange works.
        self.assertTokenResponse(self.acme.token(g["id"]))

    def test_revoke_and_introspect_need_a_token(self):
        for path in ("/oauth/revoke", "/oauth/introspect"):
            with self.subTest(path=path):
                self.assertOAuthError(self.acme.post(path, {}), 400,
                                      "invalid_request")
                self.assertOAuthError(self.acme.post(
                    path, [("token", "a"), ("token", "b")]), 400,
                    "invalid_request")
                self.assertOAuthError(self.acme.post(
                    path, '{"token": "a"}', ctype="application/json"), 415,
                    "invalid_request")

    # ---- introspection ------------------------------------------------

    def test_introspection(self):
        g, tok = self.token_for(["read:contact.email", "read:language"])
        _, claims = verify_access_token(self.b, tok["access_token"])
        info = self.acme.introspect(tok["access_token"])
        self.assertIs(info["active"], True)
        self.assertEqual(info["token_type"], "Bearer")
        for k in ("scope", "client_id", "sub", "exp", "iat", "iss", "aud",
                  "jti", "grant_id"):
            self.assertEqual(info[k], claims[k], k)
        info = self.acme.introspect(tok["refresh_token"])
        self.assertIs(info["active"], True)
        self.assertEqual(info["token_type"], "refresh_token")
        self.assertEqual(info["client_id"], self.acme.id)
        self.assertEqual(info["grant_id"], g["id"])
        self.assertEqual(info["scope"], "read:contact.email read:language")
        self.assertLessEqual(info.get("exp", g["expires_at"]), g["expires_at"])
        for t in ("", "garbage", "a.b.c", tok["access_token"] + "x",
                  tok["refresh_token"] + "x", "x" * 5000):
            with self.subTest(token=t[:20]):
                self.assertEqual(self.acme.introspect(t), {"active": False})

    def test_companies_cannot_touch_each_others_tokens(self):
        g, mine = self.token_for(["read:contact.email"])
        _, theirs = self.token_for(["read:language"], company=self.globex)
        # Another company learns nothing.
        for t in (mine["access_token"], mine["refresh_token"]):
            self.assertEqual(self.globex.introspect(t), {"active": False})
        for t in (theirs["access_token"], theirs["refresh_token"]):
            self.assertEqual(self.acme.introspect(t), {"active": False})
        # Nor can it revoke, refresh or exchange.
        self.assertEqual(self.globex.revoke(mine["access_token"])[0], 200)
        self.assertEqual(self.globex.revoke(mine["refresh_token"])[0], 200)
        self.assertOAuthError(self.globex.refresh(mine["refresh_token"]), 400,
                              "invalid_grant")
        self.assertOAuthError(self.globex.token(g["id"]), 400, "invalid_grant")
        # The owner's tokens are untouched.
        self.assertEqual(fetch(self.b, mine["access_token"])[0], 200)
        self.assertEqual(self.acme.introspect(mine["access_token"])["active"],
                         True)
        self.assertTokenResponse(self.acme.refresh(mine["refresh_token"]))

    # ---- bad tokens -----------------------------------------------------

    def tampered(self, token):
        """Variants of a valid token, none signed anew."""
        h64, p64, s64 = token.split(".")
        header, claims = jwt_parts(token)
        sig = bytearray(b64url_decode(s64))

        def enc(obj):
            return b64url(json.dumps(obj, separators=(",", ":")).encode())

        def with_header(**kw):
            return ".".join([enc(dict(header, **kw)), p64, s64])

        def with_claims(**kw):
            return ".".join([h64, enc(dict(claims, **kw)), s64])

        flipped = bytearray(sig)
        flipped[10] ^= 0x01
        flipped_last = bytearray(sig)
        flipped_last[-1] ^= 0x80
        hdr_none = {"alg": "none", "typ": "at+jwt", "kid": header["kid"]}
        hdr_nokid = {k: v for k, v in header.items() if k != "kid"}
        return [
            ("flipped signature byte",
             ".".join([h64, p64, b64url(bytes(flipped))])),
            ("flipped last signature byte",
             ".".join([h64, p64, b64url(bytes(flipped_last))])),
            ("no signature", h64 + "." + p64 + "."),
            ("signature of zeros", ".".join([h64, p64, b64url(bytes(64))])),
            ("short signature", ".".join([h64, p64, b64url(bytes(sig[:63]))])),
            ("alg none, no signature", enc(hdr_none) + "." + p64 + "."),
            ("alg none, old signature", ".".join([enc(hdr_none), p64, s64])),
            ("alg HS256", with_header(alg="HS256")),
            ("alg RS256", with_header(alg="RS256")),
            ("alg ES256", with_header(alg="ES256")),
            ("unknown kid", with_header(kid="unknown-kid")),
            ("no kid", ".".join([enc(hdr_nokid), p64, s64])),
            ("crit header", with_header(crit=["exp"])),
            ("typ JWT", with_header(typ="JWT")),
            ("embedded jwk", with_header(jwk={"kty": "OKP", "crv": "Ed25519",
                                              "x": b64url(bytes(32))})),
            ("wrong audience", with_claims(aud="https://evil.example")),
            ("audience list", with_claims(aud=["https://evil.example"])),
            ("wrong issuer", with_claims(iss="https://evil.example")),
            ("later expiry", with_claims(exp=claims["exp"] + 86400)),
            ("wider scope", with_claims(scope="read:identity read:contact")),
            ("other client", with_claims(client_id=self.globex.id)),
            ("other subject", with_claims(sub="x" * 43)),
            ("two parts", h64 + "." + p64),
            ("four parts", token + "." + s64),
            ("padded signature", token + "=="),
            ("trailing byte", token + "A"),
            ("leading space", " " + token),
            ("empty", ""),
            ("not base64", "###.###.###"),
            ("standard base64 alphabet",
             token.replace("-", "+").replace("_", "/")
             if ("-" in token or "_" in token) else token + "+"),
        ]

    def test_tampered_tokens_are_refused(self):
        _, tok = self.token_for(["read:contact.email"])
        at = tok["access_token"]
        # Verified and cached before the copies arrive.
        self.assertEqual(fetch(self.b, at)[0], 200)
        key = signing_key(self.b, at)
        for name, bad in self.tampered(at):
            with self.subTest(name):
                self.assertNotEqual(bad, at)
                self.assertBearerError(fetch(self.b, bad))
                self.assertEqual(self.acme.introspect(bad), {"active": False})
                if name in LENIENT:
                    continue
                # PyJWT agrees that none of them is a valid token.
                with self.assertRaises(jwt.PyJWTError):
                    jwt.decode(bad, key, algorithms=["EdDSA"],
                               audience=self.b.issuer, issuer=self.b.issuer)
        self.assertEqual(fetch(self.b, at)[0], 200)

    def test_no_token_and_other_credentials(self):
        _, tok = self.token_for(["read:language"])
        # No credentials: a challenge without an error code (RFC 6750 3.1).
        for headers in ({}, {"Authorization": self.acme.authz}):
            with self.subTest(headers=list(headers)):
                st, h, data = self.b.request("GET", "/v1/profile",
                                             headers=headers)
                self.assertEqual(st, 401, data)
                self.assertEqual(h.get("WWW-Authenticate"),
                                 'Bearer realm="ccx"')
                self.assertProblem(self.b, (st, h, data), 401, "unauthorized")
        # A customer session is not an access token, nor the reverse.
        self.assertBearerError(fetch(self.b, self.alice.session))
        st, _, _ = self.b.request("GET", "/v1/me/profile", headers={
            "Authorization": "Bearer " + tok["access_token"]})
        self.assertEqual(st, 401)
        # Nor is a refresh token.
        self.assertBearerError(fetch(self.b, tok["refresh_token"]))
        # The scheme name is case-insensitive (RFC 9110 11.1).
        st, _, _ = self.b.request("GET", "/v1/profile", headers={
            "Authorization": "bearer " + tok["access_token"]})
        self.assertEqual(st, 200)
        # A token in the query string is not accepted.
        st, _, _ = self.b.request(
            "GET", "/v1/profile?access_token=" + tok["access_token"])
        self.assertEqual(st, 401)

    def test_a_token_of_another_deployment_is_refused(self):
        other = Broker(flags=BASE_FLAGS)
        try:
            w = World(other)
            co = w.company(self.acme.id)  # a different id, another broker
            foreign = co.tokens(w.customer("x").grant(co, ["read:language"])
                                ["id"])
            self.assertEqual(fetch(other, foreign["access_token"])[0], 200)
            self.assertBearerError(fetch(self.b, foreign["access_token"]))
        finally:
            other.cleanup()


class ExpiryTests(OAuthTestCase):
    """--token-lifetime 1: a token stops working once it has expired."""

    broker_flags = BASE_FLAGS + ["--token-lifetime", "1"]

    def test_expired_access_token(self):
        co = self.w.company("shortlived")
        cust = self.w.customer("shortlived", profile=PROFILE)
        g = cust.grant(co, ["read:language"])
        tok = co.tokens(g["id"])
        self.assertEqual(tok["expires_in"], 1)
        _, claims = verify_access_token(self.b, tok["access_token"],
                                        leeway=2)
        self.assertEqual(claims["exp"] - claims["iat"], 1)
        at = tok["access_token"]
        self.assertEqual(fetch(self.b, at)[0], 200)  # and now it is cached
        # Refused once expired; a verifier may allow a few seconds of
        # clock skew (RFC 7519 4.1.4), no more.
        deadline = claims["exp"] + MAX_LEEWAY + scaled(1.0)
        while time.time() < deadline and fetch(self.b, at)[0] == 200:
            time.sleep(0.25)
        refused_at = time.time()
        self.assertBearerError(fetch(self.b, at))
        self.assertLess(refused_at, deadline,
                        "expired token still honoured %.1fs after exp"
                        % (refused_at - claims["exp"]))
        self.assertEqual(co.introspect(at), {"active": False})
        with self.assertRaises(jwt.ExpiredSignatureError):
            verify_access_token(self.b, at)
        # The refresh token outlives it and gets a working token.
        new = json.loads(co.refresh(tok["refresh_token"])[2])
        self.assertEqual(fetch(self.b, new["access_token"])[0], 200)


class FullStoreTests(OAuthTestCase):
    """A store that refuses the log of reads (its map full): a fetch is
    never served without its audit record, and never hangs."""

    # No fold in the test's time: folding would free the log's pages.
    broker_flags = BASE_FLAGS + ["--map-size", "1048576", "--audit-queue",
                                 "16", "--audit-wait-ms", "100",
                                 "--audit-fold-ms", "60000"]

    def fill(self, accounts):
        """Profiles of ever smaller size, one per account, until even one
        of a few hundred bytes gets 507."""
        size = 60000
        for a in accounts:
            doc = {"k%03d" % i: "v" * min(size, 1000)
                   for i in range(max(1, size // 1000))}
            st, _, data = a.call("PUT", "/v1/me/profile", {"notes": doc},
                                 {"If-Match": "*"})
            if st == 507:
                size //= 4
                if size < 250:
                    return
            else:
                self.assertEqual(st, 200, data)
        self.fail("the store never filled")

    def test_full_store_refuses_fetches_with_503_not_data(self):
        alice = self.w.customer("fullalice", profile=PROFILE)
        acme = self.w.company("fullco")
        g = alice.grant(acme, ["read:contact.email"])
        at = acme.tokens(g["id"])["access_token"]
        self.assertEqual(fetch(self.b, at)[0], 200)
        # Their sessions first: signing in is a write too.
        self.fill([self.w.customer("filler") for _ in range(60)])
        answers = []
        for _ in range(1000):
            st, h, data = fetch(self.b, at)
            answers.append(st)
            if st != 200:
                break
        self.assertEqual(answers[-1], 503, answers)
        self.assertEqual(set(answers[:-1]), {200})
        doc = self.assertProblem(self.b, (st, h, data), 503, "unavailable")
        self.assertNotIn(b"alice", data)
        self.assertIn("audit trail", doc["detail"])
        m = self.b.metrics()
        self.assertGreaterEqual(m["ccx_audit_reads_refused_total"], 1)
        self.assertGreaterEqual(m["ccx_audit_commit_failures_total"], 1)
        # Another customer's session, and the broker itself, still answer.
        self.assertEqual(self.b.request("GET", "/healthz")[0], 200)
