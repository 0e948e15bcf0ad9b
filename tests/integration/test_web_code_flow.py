"""The authorization-code flow end to end (RFC 6749 4.1, RFC 7636 PKCE
S256), as a company's OAuth client library runs it.

Discovery, the authorization request, the customer's consent (cookie and
CSRF token, as the page does it), the code exchange with a real PKCE pair
(client_secret_basic), the token verified with PyJWT against the JWKS, and
the fetch returning only the fields the customer chose.  Then every way a
code exchange can fail (invalid_grant and no token), a code presented
twice revoking its grant, and an expired code.
"""

import hashlib
import json
import time
import urllib.parse

from harness import t as scaled
from test_oauth_common import (BASE_FLAGS, OAuthTestCase, PROFILE, b64url,
                               basic, fetch, pairwise_sub, project)
from test_web_common import (DAY, CodeFlow, WebWorld, now, pkce_pair, qs,
                             random_id, split_redirect)

R1 = "https://shop.example/callback"
R2 = "https://shop.example/other?app=1"
REQUESTED = "read:contact.email read:sizes read:diet read:language"
CHOSEN = ["read:contact.email", "read:sizes"]


class CodeFlowTests(OAuthTestCase):
    broker_flags = BASE_FLAGS

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.w = WebWorld(cls.b)
        cls.shop = cls.w.company("shop", name="Shop", extra=[
            "--redirect-uri", R1, "--redirect-uri", R2])
        cls.rival = cls.w.company("rival", extra=["--redirect-uri", R1])
        cls.flow = CodeFlow(cls.shop, R1)

    def assertNoToken(self, resp, status, error):
        doc = self.assertOAuthError(resp, status, error)
        self.assertNotIn("access_token", doc)
        self.assertNotIn(b"refresh_token", resp[2])
        return doc

    # ---- the happy path ----------------------------------------------------

    def test_code_flow_end_to_end(self):
        cust = self.w.web_customer("e2e", profile=PROFILE)
        # Discovery, as a client library starts.
        st, _, data = self.b.request(
            "GET", "/.well-known/oauth-authorization-server")
        self.assertEqual(st, 200)
        meta = json.loads(data)
        authz_url = urllib.parse.urlsplit(meta["authorization_endpoint"])
        token_url = urllib.parse.urlsplit(meta["token_endpoint"])
        # The authorization request with a real PKCE pair.
        verifier, challenge = pkce_pair(64)
        self.assertEqual(len(verifier), 64)
        state = "csrf-" + random_id(16)
        query = qs([("response_type", "code"), ("client_id", self.shop.id),
                    ("redirect_uri", R1), ("scope", REQUESTED),
                    ("purpose", "personalization"), ("state", state),
                    ("code_challenge", challenge),
                    ("code_challenge_method", "S256")])
        st, h, page = self.b.request("GET", authz_url.path + "?" + query)
        self.assertEqual(st, 200, page[:200])
        self.assertEqual(h.get("Content-Type"), "text/html; charset=utf-8")
        # The page asks what to show, then sends the customer's choice.
        screen = cust.cget_json("/v1/authorize?" + query)
        self.assertEqual(screen["client"]["id"], self.shop.id)
        self.assertEqual(sorted(s["scope"] for s in screen["scopes"]),
                         sorted(REQUESTED.split()))
        expires = now() + 30 * DAY
        st, _, data = cust.ccall("POST", "/v1/authorize", {
            "query": query, "decision": "approve", "scopes": CHOSEN,
            "expires_at": expires})
        self.assertEqual(st, 200, data)
        base, params = split_redirect(json.loads(data)["redirect"])
        self.assertEqual(base, R1)
        got = dict(params)
        self.assertEqual(got["state"], state)
        self.assertEqual(got["iss"], meta["issuer"])
        code = got["code"]
        # The company's back end exchanges the code.
        st, h, data = self.b.request("POST", token_url.path, headers={
            "Authorization": basic(self.shop.id, self.shop.secret),
            "Content-Type": "application/x-www-form-urlencoded"},
            body=urllib.parse.urlencode({
                "grant_type": "authorization_code", "code": code,
                "redirect_uri": R1, "code_verifier": verifier}))
        doc, header, claims = self.assertTokenResponse((st, h, data))
        self.assertEqual(sorted(doc["scope"].split()), sorted(CHOSEN))
        self.assertEqual(claims["client_id"], self.shop.id)
        self.assertEqual(claims["sub"],
                         pairwise_sub(self.b, cust.id, self.shop.id))
        self.assertLessEqual(claims["exp"], expires)
        grants = cust.grants_list()
        self.assertEqual(len(grants), 1)
        g = grants[0]
        self.assertEqual(claims["grant_id"], g["id"])
        self.assertEqual(g["purpose"], "personalization")
        self.assertEqual(g["expires_at"], expires)
        self.assertEqual(sorted(g["scopes"]), sorted(CHOSEN))
        # The fetch returns exactly the chosen fields.
        st, _, data = fetch(self.b, doc["access_token"])
        self.assertEqual(st, 200, data)
        self.assertEqual(json.loads(data), project(PROFILE, [s[len("read:"):] for s in CHOSEN]))
        self.assertEqual(json.loads(data), {
            "contact": {"email": PROFILE["contact"]["email"]},
            "sizes": PROFILE["sizes"]})
        # The refresh token works and keeps to the same fields.
        st, h, data = self.shop.refresh(doc["refresh_token"])
        doc2, _, claims2 = self.assertTokenResponse((st, h, data))
        self.assertEqual(claims2["grant_id"], g["id"])
        st, _, data = fetch(self.b, doc2["access_token"])
        self.assertEqual(json.loads(data), project(PROFILE, [s[len("read:"):] for s in CHOSEN]))
        # The company sees the grant, by the customer's pairwise subject.
        mine = [x for x in self.shop.grants() if x["id"] == g["id"]]
        self.assertEqual(len(mine), 1)
        self.assertEqual(mine[0]["sub"], claims["sub"])
        # The customer's audit trail tells the story.
        items = cust.audit_all()
        kinds = [i["kind"] for i in items]
        self.assertIn("grant.created", kinds)
        self.assertIn("token.issued", kinds)
        text = json.dumps(items)
        for secret in (code, verifier, doc["access_token"],
                       doc["refresh_token"]):
            self.assertNotIn(secret, text)

    def test_redirect_uri_with_query(self):
        cust = self.w.web_customer("q", profile=PROFILE)
        flow = CodeFlow(self.shop, R2)
        pairs, verifier = flow.params("read:language")
        st, _, data = cust.call("POST", "/v1/authorize", {
            "query": qs(pairs), "decision": "approve",
            "scopes": ["read:language"]})
        self.assertEqual(st, 200, data)
        url = json.loads(data)["redirect"]
        self.assertTrue(url.startswith(R2 + "&code="), url)
        base, params = split_redirect(url)
        self.assertEqual(base, "https://shop.example/other")
        self.assertEqual([k for k, _ in params],
                         ["app", "code", "state", "iss"])
        code = dict(params)["code"]
        doc, _, _ = self.assertTokenResponse(flow.exchange(code, verifier))
        st, _, data = fetch(self.b, doc["access_token"])
        self.assertEqual(json.loads(data), {"language": PROFILE["language"]})

    # ---- failures ----------------------------------------------------------

    def test_code_failures(self):
        cust = self.w.web_customer("fail", profile=PROFILE)
        other_verifier, _ = pkce_pair()
        rows = [
            # name, change(code, verifier) -> request, status, error
            ("wrong verifier", lambda c, v: self.flow.exchange(
                c, other_verifier), 400, "invalid_grant"),
            ("verifier of another length", lambda c, v: self.flow.exchange(
                c, v + "A"), 400, "invalid_grant"),
            ("verifier with a character changed", lambda c, v:
             self.flow.exchange(c, ("B" if v[0] != "B" else "C") + v[1:]),
             400, "invalid_grant"),
            ("the challenge as verifier (plain)", lambda c, v:
             self.flow.exchange(c, s256(v)), 400,
             "invalid_grant"),
            ("another registered redirect_uri", lambda c, v:
             self.flow.exchange(c, v, redirect_uri=R2), 400,
             "invalid_grant"),
            ("redirect_uri with a trailing slash", lambda c, v:
             self.flow.exchange(c, v, redirect_uri=R1 + "/"), 400,
             "invalid_grant"),
            ("redirect_uri in capitals", lambda c, v:
             self.flow.exchange(c, v, redirect_uri=R1.upper()), 400,
             "invalid_grant"),
            ("another client's code", lambda c, v: self.flow.exchange(
                c, v, company=self.rival), 400, "invalid_grant"),
            ("unknown code", lambda c, v: self.flow.exchange(
                random_id(43), v), 400, "invalid_grant"),
            ("code with a character changed", lambda c, v:
             self.flow.exchange(("A" if c[0] != "A" else "B") + c[1:], v),
             400, "invalid_grant"),
            ("code truncated", lambda c, v: self.flow.exchange(c[:-1], v),
             400, "invalid_grant"),
            ("code as a refresh token", lambda c, v: self.shop.refresh(c),
             400, "invalid_grant"),
            ("code as a grant id", lambda c, v: self.shop.token(c), 400,
             "invalid_grant"),
            ("redirect_uri with a NUL after it", lambda c, v:
             self.flow.exchange(c, v, redirect_uri=R1 + "\x00x"), 400,
             "invalid_request"),
            ("no code_verifier", lambda c, v: self.flow.exchange(c, None),
             400, "invalid_request"),
            ("verifier too short", lambda c, v: self.flow.exchange(
                c, v[:42]), 400, "invalid_request"),
            ("no redirect_uri", lambda c, v: self.shop.post("/oauth/token", {
                "grant_type": "authorization_code", "code": c,
                "code_verifier": v}), 400, "invalid_request"),
            ("no code", lambda c, v: self.shop.post("/oauth/token", {
                "grant_type": "authorization_code", "redirect_uri": R1,
                "code_verifier": v}), 400, "invalid_request"),
            ("repeated code", lambda c, v: self.shop.post(
                "/oauth/token", [("grant_type", "authorization_code"),
                                 ("code", c), ("code", c),
                                 ("redirect_uri", R1),
                                 ("code_verifier", v)]), 400,
             "invalid_request"),
            ("wrong client secret", lambda c, v: self.shop.post(
                "/oauth/token", {"grant_type": "authorization_code",
                                 "code": c, "redirect_uri": R1,
                                 "code_verifier": v},
                authz=basic(self.shop.id, "not-the-secret")), 401,
             "invalid_client"),
            ("no client authentication", lambda c, v: self.shop.post(
                "/oauth/token", {"grant_type": "authorization_code",
                                 "code": c, "redirect_uri": R1,
                                 "code_verifier": v}, authz=""), 401,
             "invalid_client"),
        ]
        for name, send, status, error in rows:
            with self.subTest(name):
                code, verifier, _ = self.flow.code(cust, "read:language")
                self.assertNoToken(send(code, verifier), status, error)
        # None of the grants those codes made was ever given a token.
        items = cust.audit_all()
        self.assertNotIn("token.issued", [i["kind"] for i in items])

    def test_code_reuse_revokes_the_grant(self):
        cust = self.w.web_customer("reuse", profile=PROFILE)
        code, verifier, _ = self.flow.code(cust, "read:language read:sizes")
        doc, _, claims = self.assertTokenResponse(
            self.flow.exchange(code, verifier))
        st, _, _ = fetch(self.b, doc["access_token"])
        self.assertEqual(st, 200)
        # The same code again, exactly as before: refused...
        self.assertNoToken(self.flow.exchange(code, verifier), 400,
                           "invalid_grant")
        # ...and what the first exchange gave no longer works.
        self.assertBearerError(fetch(self.b, doc["access_token"]))
        self.assertNoToken(self.shop.refresh(doc["refresh_token"]), 400,
                           "invalid_grant")
        self.assertEqual(self.shop.introspect(doc["access_token"]),
                         {"active": False})
        self.assertEqual(self.shop.introspect(doc["refresh_token"]),
                         {"active": False})
        g = cust.get_json("/v1/me/grants/" + claims["grant_id"])
        self.assertEqual(g["state"], "revoked")
        self.assertIn("grant.revoked", [i["kind"] for i in cust.audit_all()])
        # A third time, with a wrong verifier: still refused.
        self.assertNoToken(self.flow.exchange(code, pkce_pair()[0]), 400,
                           "invalid_grant")

    def test_code_reuse_by_another_client_revokes_nothing(self):
        """Another company presenting a code it was never given learns
        nothing and cannot revoke the rightful holder's grant."""
        cust = self.w.web_customer("foreign", profile=PROFILE)
        code, verifier, _ = self.flow.code(cust, "read:language")
        doc, _, _ = self.assertTokenResponse(
            self.flow.exchange(code, verifier))
        for _ in range(2):
            self.assertNoToken(self.flow.exchange(code, verifier,
                                                  company=self.rival),
                               400, "invalid_grant")
        st, _, data = fetch(self.b, doc["access_token"])
        self.assertEqual(st, 200, data)
        self.assertEqual(json.loads(data), {"language": PROFILE["language"]})

    def test_revoked_grant_code_is_refused(self):
        """The customer revokes the grant before the company exchanges."""
        cust = self.w.web_customer("early", profile=PROFILE)
        code, verifier, _ = self.flow.code(cust, "read:language")
        gid = cust.grants_list()[0]["id"]
        cust.revoke_grant(gid)
        self.assertNoToken(self.flow.exchange(code, verifier), 400,
                           "invalid_grant")

    def test_disabled_company_cannot_exchange(self):
        co = self.w.company("gone", extra=["--redirect-uri", R1])
        cust = self.w.web_customer("late", profile=PROFILE)
        flow = CodeFlow(co, R1)
        code, verifier, _ = flow.code(cust, "read:language")
        self.b.admin("company", "disable", co.id)
        self.assertNoToken(flow.exchange(code, verifier), 401,
                           "invalid_client")


def s256(verifier):
    return b64url(hashlib.sha256(verifier.encode()).digest())


class CodeLifetimeTests(OAuthTestCase):
    broker_flags = BASE_FLAGS + ["--code-lifetime", "1"]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.w = WebWorld(cls.b)
        cls.shop = cls.w.company("brief", extra=["--redirect-uri", R1])
        cls.flow = CodeFlow(cls.shop, R1)

    def test_expired_code_is_refused(self):
        cust = self.w.web_customer("slow", profile=PROFILE)
        code, verifier, _ = self.flow.code(cust, "read:language")
        time.sleep(scaled(2.0))
        doc = self.assertOAuthError(self.flow.exchange(code, verifier), 400,
                                    "invalid_grant")
        self.assertNotIn("access_token", doc)
        self.assertNotIn("token.issued",
                         [i["kind"] for i in cust.audit_all()])
