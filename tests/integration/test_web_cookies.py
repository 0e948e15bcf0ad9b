"""Cookie sessions for the customer's web page.

Log-in with "cookie": true sets `__Host-ccx` (Secure, HttpOnly,
SameSite=Lax, Path=/, no Domain, Max-Age = the session lifetime) and never
puts the token in the body; the cookie authenticates reads; every
state-changing request made with the cookie needs the session's own
X-CSRF-Token, and a refused one changes nothing; bearer requests need no
CSRF token and win over a cookie; log-out, log-out everywhere and account
deletion clear the cookie and end the session.
"""

import json
import re

from harness import problem
from test_customer_accounts import PASSWORD
from test_oauth_common import BASE_FLAGS, OAuthTestCase, PROFILE
from test_web_common import (B64URL, COOKIE, CSRF_HEADER, JSON, CodeFlow,
                             WebWorld, cookie_login, now, parse_set_cookie,
                             qs, random_id, session_cookie)

LIFETIME = 7200
NEW_PASSWORD = "another horse staple"
REDIRECT = "https://web.example/cb"

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32,256}$")
CSRF_RE = re.compile(r"^[%s]{22}$" % re.escape(B64URL))


class CookieTests(OAuthTestCase):
    broker_flags = BASE_FLAGS + ["--session-lifetime", str(LIFETIME)]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.w = WebWorld(cls.b)
        cls.co = cls.w.company("webco", extra=["--redirect-uri", REDIRECT])
        cls.flow = CodeFlow(cls.co, REDIRECT)

    # ---- helpers -----------------------------------------------------------

    def assertCookieAttrs(self, attrs, max_age):
        """The attributes a __Host- session cookie must carry, each once."""
        names = [k for k, _ in attrs]
        self.assertEqual(sorted(names), sorted(set(names)),
                         "an attribute is repeated: %r" % attrs)
        got = dict(attrs)
        self.assertNotIn("domain", got, "a __Host- cookie has no Domain")
        self.assertEqual(got.get("path"), "/", attrs)
        self.assertIn("secure", got, attrs)
        self.assertIsNone(got["secure"])
        self.assertIn("httponly", got, attrs)
        self.assertIsNone(got["httponly"])
        self.assertEqual((got.get("samesite") or "").lower(), "lax", attrs)
        self.assertEqual(got.get("max-age"), str(max_age), attrs)
        self.assertLessEqual(set(got), {"path", "secure", "httponly",
                                        "samesite", "max-age", "expires"},
                             attrs)

    def assertCookieCleared(self, headers):
        """The response tells the browser to forget the session cookie."""
        cookies = headers.get_all("Set-Cookie")
        self.assertEqual(len(cookies), 1, headers)
        name, value, attrs = parse_set_cookie(cookies[0])
        self.assertEqual(name, COOKIE)
        self.assertEqual(value, "")
        self.assertCookieAttrs(attrs, 0)

    def assertNoCookie(self, headers):
        self.assertEqual(headers.get_all("Set-Cookie"), [], headers)

    def assertLive(self, acct, cookie=True, bearer=True):
        if cookie:
            st, _, data = acct.ccall("GET", "/v1/sessions/current", csrf=None)
            self.assertEqual(st, 200, data)
        if bearer:
            st, _, data = acct.call("GET", "/v1/sessions/current")
            self.assertEqual(st, 200, data)

    def assertDead(self, acct, cookie=True, bearer=True):
        if cookie:
            resp = acct.ccall("GET", "/v1/sessions/current", csrf=None)
            self.assertProblem(self.b, resp, 401, "unauthorized")
        if bearer:
            resp = acct.call("GET", "/v1/sessions/current")
            self.assertProblem(self.b, resp, 401, "unauthorized")

    # ---- log-in ------------------------------------------------------------

    def test_cookie_login_sets_host_cookie_and_hides_token(self):
        acct = self.w.web_customer("ck")
        t0 = now()
        st, h, data = cookie_login(self.b, acct.login)
        self.assertEqual(st, 201, data)
        self.assertEqual(h.get("Cache-Control"), "no-store")
        self.assertSecurityHeaders(h)
        cookies = h.get_all("Set-Cookie")
        self.assertEqual(len(cookies), 1, cookies)
        name, token, attrs = parse_set_cookie(cookies[0])
        self.assertEqual(name, COOKIE)
        self.assertRegex(token, TOKEN_RE)
        self.assertCookieAttrs(attrs, LIFETIME)
        doc = json.loads(data)
        self.assertEqual(set(doc), {"customer_id", "expires_at",
                                    "idle_timeout", "csrf"})
        self.assertEqual(doc["customer_id"], acct.id)
        self.assertRegex(doc["csrf"], CSRF_RE)
        self.assertIsInstance(doc["idle_timeout"], int)
        self.assertGreater(doc["idle_timeout"], 0)
        self.assertTrue(t0 + LIFETIME - 2 <= doc["expires_at"]
                        <= now() + LIFETIME + 2, doc)
        self.assertNotIn(token.encode(), data)
        # Each session has its own CSRF token.
        self.assertNotEqual(doc["csrf"], acct.csrf)
        self.assertNotEqual(doc["csrf"], acct.bearer_csrf)
        # The cookie is a working session.
        st, _, data = acct.ccall("GET", "/v1/sessions/current", csrf=None,
                                 cookie=token)
        self.assertEqual(st, 200, data)
        self.assertEqual(json.loads(data)["csrf"], doc["csrf"])

    def test_login_without_cookie_sets_none(self):
        acct = self.w.web_customer("nock")
        for extra in ({}, {"cookie": False}):
            with self.subTest(extra=extra):
                body = {"login": acct.login, "password": PASSWORD}
                body.update(extra)
                st, h, data = self.b.request("POST", "/v1/sessions",
                                             headers=JSON,
                                             body=json.dumps(body))
                self.assertEqual(st, 201, data)
                self.assertNoCookie(h)
                doc = json.loads(data)
                self.assertRegex(doc["session"], TOKEN_RE)
                self.assertRegex(doc["csrf"], CSRF_RE)
        for bad in ("true", 1, None, [True]):
            with self.subTest(cookie=bad):
                resp = cookie_login(self.b, acct.login, extra={"cookie": bad})
                self.assertProblem(self.b, resp, 400, "bad-request")
                self.assertNoCookie(resp[1])
        resp = cookie_login(self.b, acct.login, password="wrong password 123")
        self.assertProblem(self.b, resp, 401, "unauthorized")
        self.assertNoCookie(resp[1])

    def test_cookie_authenticates_reads(self):
        acct = self.w.web_customer("reader", profile=PROFILE)
        doc = acct.cget_json("/v1/sessions/current")
        self.assertEqual(doc, {"customer_id": acct.id, "login": acct.login,
                               "expires_at": acct.login_doc["expires_at"],
                               "csrf": acct.csrf})
        self.assertEqual(acct.cget_json("/v1/me/profile"), PROFILE)
        self.assertEqual(acct.cget_json("/v1/me/grants"), {"grants": []})
        self.assertEqual(acct.cget_json("/v1/me/export")["customer"]["id"],
                         acct.id)
        self.assertIn("items", acct.cget_json("/v1/me/audit"))
        # A read needs no CSRF token, and one sent along does no harm.
        st, _, _ = acct.ccall("GET", "/v1/me/profile", csrf=True)
        self.assertEqual(st, 200)
        # Among other cookies.
        st, _, data = self.b.request("GET", "/v1/sessions/current", headers={
            "Cookie": "theme=dark; %s=%s; lang=en" % (COOKIE, acct.cookie)})
        self.assertEqual(st, 200, data)
        self.assertEqual(json.loads(data)["customer_id"], acct.id)
        # Only the __Host- cookie counts, and only a live token in it.
        for cookie in ("ccx=%s" % acct.cookie, "%s=" % COOKIE,
                       "%s=%s" % (COOKIE, random_id(43)),
                       "Host-ccx=%s" % acct.cookie):
            with self.subTest(cookie=cookie):
                resp = self.b.request("GET", "/v1/sessions/current",
                                      headers={"Cookie": cookie})
                self.assertProblem(self.b, resp, 401, "unauthorized")

    def test_cookie_name_is_case_sensitive(self):
        """Browsers enforce the __Host- rules (Secure, Path=/, no Domain,
        set over HTTPS by this very host) only on a cookie whose name has
        that exact prefix.  A sibling subdomain or a plain-HTTP response
        can set "__host-ccx" or "__HOST-ccx" (with Path=/v1 so that it is
        sent first): if the broker reads cookie names without regard to
        case, the prefix protects nothing and an attacker can fixate its
        own session on the victim's browser (RFC 6265bis 4.1.3; cookie
        names are case-sensitive, RFC 6265 5.4)."""
        victim = self.w.web_customer("victim")
        attacker = self.w.web_customer("attacker")
        for name in ("__host-ccx", "__HOST-ccx", "__Host-CCX"):
            with self.subTest(name=name, alone=True):
                resp = self.b.request("GET", "/v1/sessions/current", headers={
                    "Cookie": "%s=%s" % (name, attacker.cookie)})
                self.assertProblem(self.b, resp, 401, "unauthorized")
            # With the victim's real cookie after it: the real one counts.
            with self.subTest(name=name, alone=False):
                st, _, data = self.b.request(
                    "GET", "/v1/sessions/current", headers={
                        "Cookie": "%s=%s; %s=%s" % (name, attacker.cookie,
                                                    COOKIE, victim.cookie)})
                self.assertEqual(st, 200, data)
                self.assertEqual(json.loads(data)["customer_id"], victim.id)

    def test_two_session_cookies_are_refused(self):
        """A __Host- cookie can only be set by this host with Path=/, so a
        browser never holds two: two in one request mean one was planted,
        and neither is used."""
        victim = self.w.web_customer("twice")
        attacker = self.w.web_customer("planter")
        for cookie in ("%s=%s; %s=%s" % (COOKIE, attacker.cookie, COOKIE,
                                         victim.cookie),
                       "%s=%s; %s=%s" % (COOKIE, victim.cookie, COOKIE,
                                         attacker.cookie),
                       "%s=%s; %s=%s" % (COOKIE, victim.cookie, COOKIE,
                                         victim.cookie)):
            with self.subTest(cookie=cookie):
                resp = self.b.request("GET", "/v1/sessions/current",
                                      headers={"Cookie": cookie})
                self.assertProblem(self.b, resp, 401, "unauthorized")
        self.assertLive(victim)

    # ---- CSRF --------------------------------------------------------------

    def bad_csrf_values(self, acct, other):
        values = [
            ("no header", None),
            ("empty", ""),
            ("random", random_id()),
            ("the customer's other session's", acct.bearer_csrf),
            ("another customer's", other.csrf),
            ("truncated", acct.csrf[:-1]),
            ("extended", acct.csrf + "A"),
            ("case-changed", acct.csrf.swapcase()),
            ("the session token", acct.cookie),
        ]
        self.assertNotEqual(acct.csrf.swapcase(), acct.csrf)
        return values

    def csrf_case(self, prepare, send, unchanged, applied):
        """Every bad CSRF variant is a 403 that changes nothing (unchanged
        is checked after each); the right token is then accepted."""
        acct = self.w.web_customer("csrf", profile=PROFILE)
        other = self.w.web_customer("csrfother")
        ctx = prepare(acct)
        for label, value in self.bad_csrf_values(acct, other):
            with self.subTest(csrf=label):
                resp = send(acct, ctx, value)
                p = self.assertProblem(self.b, resp, 403, "forbidden")
                self.assertNoCookie(resp[1])
                self.assertNotIn(acct.csrf, json.dumps(p))
                unchanged(acct, ctx)
        # The other customer was not touched either.
        self.assertLive(other)
        resp = send(acct, ctx, True)
        applied(acct, ctx, resp)

    def test_csrf_put_profile(self):
        def prepare(acct):
            return acct.profile()

        def send(acct, ctx, csrf):
            return acct.ccall("PUT", "/v1/me/profile", {"language": "fr-FR"},
                              csrf=csrf, headers={"If-Match": ctx[0]})

        def unchanged(acct, ctx):
            self.assertEqual(acct.profile(), ctx)

        def applied(acct, ctx, resp):
            self.assertEqual(resp[0], 200, resp[2])
            self.assertEqual(acct.profile()[1], {"language": "fr-FR"})
        self.csrf_case(prepare, send, unchanged, applied)

    def test_csrf_patch_profile(self):
        def prepare(acct):
            return acct.profile()

        def send(acct, ctx, csrf):
            return acct.ccall("PATCH", "/v1/me/profile", csrf=csrf,
                              raw=json.dumps({"language": None}).encode(),
                              headers={"If-Match": ctx[0],
                                       "Content-Type":
                                       "application/merge-patch+json"})

        def unchanged(acct, ctx):
            self.assertEqual(acct.profile(), ctx)

        def applied(acct, ctx, resp):
            self.assertEqual(resp[0], 200, resp[2])
            expect = dict(PROFILE)
            del expect["language"]
            self.assertEqual(acct.profile()[1], expect)
        self.csrf_case(prepare, send, unchanged, applied)

    def test_csrf_post_grant(self):
        def prepare(acct):
            return {"company": self.co.id, "scopes": ["read:language"],
                    "purpose": "service", "expires_at": now() + 3600}

        def send(acct, ctx, csrf):
            return acct.ccall("POST", "/v1/me/grants", ctx, csrf=csrf)

        def unchanged(acct, ctx):
            self.assertEqual(acct.grants_list(), [])

        def applied(acct, ctx, resp):
            self.assertEqual(resp[0], 201, resp[2])
            grants = acct.grants_list()
            self.assertEqual(len(grants), 1)
            self.assertEqual(grants[0]["id"], json.loads(resp[2])["id"])
        self.csrf_case(prepare, send, unchanged, applied)

    def test_csrf_delete_grant(self):
        def prepare(acct):
            return acct.grant(self.co, ["read:language"])["id"]

        def send(acct, ctx, csrf):
            return acct.ccall("DELETE", "/v1/me/grants/" + ctx, csrf=csrf)

        def unchanged(acct, ctx):
            self.assertEqual(acct.get_json("/v1/me/grants/" + ctx)["state"],
                             "active")

        def applied(acct, ctx, resp):
            self.assertEqual(resp[0], 204, resp[2])
            self.assertEqual(acct.get_json("/v1/me/grants/" + ctx)["state"],
                             "revoked")
        self.csrf_case(prepare, send, unchanged, applied)

    def test_csrf_put_password(self):
        def prepare(acct):
            return None

        def send(acct, ctx, csrf):
            return acct.ccall("PUT", "/v1/me/password",
                              {"current": PASSWORD, "new": NEW_PASSWORD},
                              csrf=csrf)

        def unchanged(acct, ctx):
            self.assertLive(acct)
            self.assertEqual(self.w.c.login(acct.login)[0], 201)

        def applied(acct, ctx, resp):
            self.assertEqual(resp[0], 204, resp[2])
            # The session that made the change carries on; the others end.
            self.assertLive(acct, bearer=False)
            self.assertDead(acct, cookie=False)
            self.assertProblem(self.b, self.w.c.login(acct.login), 401,
                               "unauthorized")
            self.assertEqual(self.w.c.login(acct.login, NEW_PASSWORD)[0], 201)
        self.csrf_case(prepare, send, unchanged, applied)

    def test_csrf_logout(self):
        def prepare(acct):
            return None

        def send(acct, ctx, csrf):
            return acct.ccall("DELETE", "/v1/sessions/current", csrf=csrf)

        def unchanged(acct, ctx):
            self.assertLive(acct)

        def applied(acct, ctx, resp):
            self.assertEqual(resp[0], 204, resp[2])
            self.assertCookieCleared(resp[1])
            self.assertDead(acct, bearer=False)
            # Only that session ended.
            self.assertLive(acct, cookie=False)
        self.csrf_case(prepare, send, unchanged, applied)

    def test_csrf_logout_everywhere(self):
        def prepare(acct):
            return None

        def send(acct, ctx, csrf):
            return acct.ccall("DELETE", "/v1/sessions", csrf=csrf)

        def unchanged(acct, ctx):
            self.assertLive(acct)

        def applied(acct, ctx, resp):
            self.assertEqual(resp[0], 204, resp[2])
            self.assertCookieCleared(resp[1])
            self.assertDead(acct)
            # The account itself lives on.
            self.assertEqual(self.w.c.login(acct.login)[0], 201)
        self.csrf_case(prepare, send, unchanged, applied)

    def test_csrf_delete_me(self):
        def prepare(acct):
            return None

        def send(acct, ctx, csrf):
            return acct.ccall("DELETE", "/v1/me", csrf=csrf)

        def unchanged(acct, ctx):
            self.assertLive(acct)
            self.assertEqual(acct.profile()[1], PROFILE)

        def applied(acct, ctx, resp):
            self.assertEqual(resp[0], 204, resp[2])
            self.assertCookieCleared(resp[1])
            self.assertDead(acct)
            self.assertProblem(self.b, self.w.c.login(acct.login), 401,
                               "unauthorized")
        self.csrf_case(prepare, send, unchanged, applied)

    def test_csrf_post_authorize(self):
        def prepare(acct):
            pairs, _ = self.flow.params("read:language read:interests")
            return qs(pairs)

        def send(acct, ctx, csrf):
            return acct.ccall("POST", "/v1/authorize",
                              {"query": ctx, "decision": "approve",
                               "scopes": ["read:language"]}, csrf=csrf)

        def unchanged(acct, ctx):
            self.assertEqual(acct.grants_list(), [])

        def applied(acct, ctx, resp):
            self.assertEqual(resp[0], 200, resp[2])
            self.assertIn("code=", json.loads(resp[2])["redirect"])
            grants = acct.grants_list()
            self.assertEqual(len(grants), 1)
            self.assertEqual(grants[0]["scopes"], ["read:language"])
        self.csrf_case(prepare, send, unchanged, applied)

    def test_csrf_deny_is_state_changing_too(self):
        """A denial changes nothing stored, but it is a POST made with the
        cookie: it needs the token like any other."""
        acct = self.w.web_customer("deny")
        pairs, _ = self.flow.params("read:language")
        body = {"query": qs(pairs), "decision": "deny"}
        self.assertProblem(self.b, acct.ccall("POST", "/v1/authorize", body,
                                              csrf=None), 403, "forbidden")
        st, _, data = acct.ccall("POST", "/v1/authorize", body)
        self.assertEqual(st, 200, data)
        self.assertIn("error=access_denied", json.loads(data)["redirect"])

    # ---- bearer sessions ---------------------------------------------------

    def test_bearer_needs_no_csrf(self):
        acct = self.w.web_customer("bearer", profile=PROFILE)
        etag, _ = acct.profile()
        st, _, data = acct.call("PUT", "/v1/me/profile", {"language": "de"},
                                headers={"If-Match": etag})
        self.assertEqual(st, 200, data)
        etag, doc = acct.profile()
        self.assertEqual(doc, {"language": "de"})
        st, _, data = acct.call("PATCH", "/v1/me/profile", raw=b'{"interests":'
                                b'["x"]}', headers={
                                    "If-Match": etag, "Content-Type":
                                    "application/merge-patch+json"})
        self.assertEqual(st, 200, data)
        g = acct.grant(self.co, ["read:language"])
        # A wrong token in the header is not looked at either.
        st, _, data = acct.call("DELETE", "/v1/me/grants/" + g["id"],
                                headers={CSRF_HEADER: random_id()})
        self.assertEqual(st, 204, data)
        pairs, _ = self.flow.params("read:language")
        st, _, data = acct.call("POST", "/v1/authorize", {
            "query": qs(pairs), "decision": "approve",
            "scopes": ["read:language"]})
        self.assertEqual(st, 200, data)
        # Log-out with the bearer token: 204, and no cookie is touched.
        st, h, data = acct.call("DELETE", "/v1/sessions/current")
        self.assertEqual(st, 204, data)
        self.assertNoCookie(h)
        self.assertDead(acct, cookie=False)
        self.assertLive(acct, bearer=False)

    def test_bearer_wins_over_cookie(self):
        a = self.w.web_customer("cookieside", profile=PROFILE)
        b = self.w.web_customer("bearerside", profile=PROFILE)
        both = {"Cookie": "%s=%s" % (COOKIE, a.cookie),
                "Authorization": "Bearer " + b.session}
        st, _, data = self.b.request("GET", "/v1/sessions/current",
                                     headers=both)
        self.assertEqual(st, 200, data)
        doc = json.loads(data)
        self.assertEqual(doc["customer_id"], b.id)
        self.assertEqual(doc["csrf"], b.bearer_csrf)
        # A change: no CSRF token needed (the bearer token is used), and it
        # lands on the bearer's account only.
        etag_a, _ = a.profile()
        etag_b, _ = b.profile()
        h = dict(both, **{"If-Match": etag_b})
        h.update(JSON)
        st, _, data = self.b.request("PUT", "/v1/me/profile", headers=h,
                                     body=json.dumps({"language": "nl"}))
        self.assertEqual(st, 200, data)
        self.assertEqual(b.profile()[1], {"language": "nl"})
        self.assertEqual(a.profile(), (etag_a, PROFILE))
        # A bad bearer token is refused: no falling back to the cookie.
        for authz in ("Bearer " + random_id(43), "Bearer "):
            with self.subTest(authz=authz):
                resp = self.b.request("GET", "/v1/sessions/current", headers={
                    "Cookie": "%s=%s" % (COOKIE, a.cookie),
                    "Authorization": authz})
                self.assertProblem(self.b, resp, 401, "unauthorized")
        # Log-out with both: the bearer's session ends, the cookie's lives,
        # and the response does not clear the cookie it did not use.
        st, h, data = self.b.request("DELETE", "/v1/sessions/current",
                                     headers=both)
        self.assertEqual(st, 204, data)
        self.assertNoCookie(h)
        self.assertDead(b, cookie=False)
        self.assertLive(a)

    # ---- log-out -----------------------------------------------------------

    def test_logout_clears_cookie_and_ends_session(self):
        acct = self.w.web_customer("out")
        old = acct.cookie
        st, h, data = acct.ccall("DELETE", "/v1/sessions/current")
        self.assertEqual(st, 204, data)
        self.assertEqual(data, b"")
        self.assertCookieCleared(h)
        # The old cookie, sent again by a browser that kept it: refused,
        # for reads and for writes with the right CSRF token alike.
        self.assertProblem(self.b, acct.ccall("GET", "/v1/me/profile",
                                              csrf=None, cookie=old),
                           401, "unauthorized")
        self.assertProblem(self.b, acct.ccall("DELETE", "/v1/sessions/current",
                                              cookie=old), 401,
                           "unauthorized")
        # A new log-in gets a new cookie and a new CSRF token.
        old_csrf = acct.csrf
        acct.cookie_login()
        self.assertNotEqual(acct.cookie, old)
        self.assertNotEqual(acct.csrf, old_csrf)
        self.assertLive(acct)

    def test_logout_everywhere_ends_every_session(self):
        acct = self.w.web_customer("outall")
        second = cookie_login(self.b, acct.login)
        second_cookie = session_cookie(second[1])[0]
        st, h, data = acct.ccall("DELETE", "/v1/sessions")
        self.assertEqual(st, 204, data)
        self.assertCookieCleared(h)
        self.assertDead(acct)
        self.assertProblem(self.b, acct.ccall("GET", "/v1/sessions/current",
                                              csrf=None, cookie=second_cookie),
                           401, "unauthorized")

    def test_password_change_with_cookie_keeps_cookie(self):
        acct = self.w.web_customer("pwck")
        st, h, data = acct.ccall("PUT", "/v1/me/password",
                                 {"current": PASSWORD, "new": NEW_PASSWORD})
        self.assertEqual(st, 204, data)
        self.assertNoCookie(h)
        self.assertLive(acct, bearer=False)
        self.assertDead(acct, cookie=False)
        # A wrong current password: 403, nothing changes.
        resp = acct.ccall("PUT", "/v1/me/password",
                          {"current": PASSWORD, "new": "yet another staple"})
        self.assertProblem(self.b, resp, 403, "wrong-password")
        self.assertEqual(self.w.c.login(acct.login, NEW_PASSWORD)[0], 201)

    def test_deleted_account_cookie_is_dead(self):
        acct = self.w.web_customer("gone", profile=PROFILE)
        st, h, data = acct.ccall("DELETE", "/v1/me")
        self.assertEqual(st, 204, data)
        self.assertCookieCleared(h)
        self.assertDead(acct)
        resp = cookie_login(self.b, acct.login)
        self.assertProblem(self.b, resp, 401, "unauthorized")
        self.assertNoCookie(resp[1])
        self.assertIsNotNone(problem(resp[2]))
