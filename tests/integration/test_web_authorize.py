"""The authorization endpoint and the consent API (RFC 6749 4.1, RFC 7636,
RFC 9207).

GET /oauth/authorize: until the client and its redirect URI are known
good, every error is an HTML page and never a redirect (no open
redirector, whatever the spelling of the URI); after that, errors go back
to the registered redirect URI with error, error_description, the state
and iss.  The same table drives GET /v1/authorize (what the consent screen
shows) and POST /v1/authorize (the customer's decision), whose problems
carry the error redirect only when one is allowed.  Then the consent API
itself: authentication, labels, denial, approval of a subset, and the
grant the approval creates.
"""

import json
import re
import time

from test_oauth_common import BASE_FLAGS, ERROR_DESCRIPTION_RE, OAuthTestCase
from test_web_common import (COOKIE, DAY, CodeFlow, WebWorld, now, pkce_pair,
                             qs, random_id, split_redirect)

R1 = "https://acme.example/cb"
R2 = "https://acme.example/cb2?x=1"
R3 = "http://127.0.0.1:8400/cb"
OTHER_R = "https://other.example/cb"
SCOPE = "read:contact.email read:sizes"
STATE = "s t/a&t=e?#%\u00e9"

DEFAULT_DAYS = 90
MAX_SECONDS = 5 * 366 * DAY

CODE_RE = re.compile(r"^[A-Za-z0-9_-]{32,}$")

PAGE, REDIRECT, OK = "page", "redirect", "ok"

# Spellings of R1 (and R2, R3) that are not R1: each must be refused with
# an error page, never followed.  (The value is what the query carries
# once decoded; "\x00" travels as %00.)
NOT_R1 = [
    R1 + "/", R1 + "/x", R1[:-1], "https://acme.example/CB",
    "https://acme.example", "https://acme.example/", R1 + "?", R1 + "?x=1",
    R1 + "?next=https://evil.example/", R1 + "&x=1", R1 + "#", R1 + "#frag",
    R1 + "%23frag", R1 + ";x", "http://acme.example/cb",
    "HTTPS://acme.example/cb", "https://ACME.example/cb",
    "https://acme.example./cb", "https://acme.example:443/cb",
    "https://acme.example:8443/cb", "https://acme.example:/cb",
    "https://evil.example/cb", "https://acme.example.evil.example/cb",
    "https://evil.example/https://acme.example/cb",
    "https://evil.example/?https://acme.example/cb",
    "https://user@acme.example/cb", "https://acme.example@evil.example/cb",
    "https://acme.example%40evil.example/cb", "https://acme.example/%63b",
    "https://acme.example/c%62", "https://acme.example/cb%2F",
    "https%3A%2F%2Facme.example%2Fcb",
    "https%253A%252F%252Facme.example%252Fcb",
    "https://acme.example/./cb", "https://acme.example//cb",
    "https://acme.example/x/../cb", "//acme.example/cb", "acme.example/cb",
    "https:/acme.example/cb", "https:acme.example/cb",
    "https://acme.example\\cb", "https://acme.example\\@evil.example/cb",
    " " + R1, R1 + " ", R1 + "\t", R1 + "\n", "\n" + R1,
    R1 + "\x00", R1 + "\x00https://evil.example/",
    "javascript:alert(1)//" + R1,
    "data:text/html,<script>alert(1)</script>", OTHER_R,
    # Variants of the URI registered with a query.
    "https://acme.example/cb2", "https://acme.example/cb2?", R2 + "&y=2",
    R2 + "&", "https://acme.example/cb2?x=2", "https://acme.example/cb2?X=1",
    "https://acme.example/cb2?x=%31", "https://acme.example/cb2?x=1#",
    # Variants of the loopback one.
    R3 + "/", "https://127.0.0.1:8400/cb", "http://localhost:8400/cb",
    "http://127.0.0.2:8400/cb",
]


def row(name, expect, error=None, **over):
    """A request: the valid one with parameters replaced (None drops one);
    echo is the state expected back (by default the one sent)."""
    echo = over.pop("echo", over.get("state", STATE))
    return {"name": name, "expect": expect, "error": error, "state": echo,
            "over": over}


def repeated(name, extra_pairs, **kw):
    """A row whose query has extra pairs appended (repeated parameters)."""
    r = row(name, PAGE, **kw)
    r["extra"] = extra_pairs
    return r


class AuthorizeTests(OAuthTestCase):
    broker_flags = BASE_FLAGS

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.w = WebWorld(cls.b)
        cls.acme = cls.w.company("acme", name="Acme Stores", extra=[
            "--description", "Outdoor gear", "--site",
            "https://acme.example/", "--redirect-uri", R1, "--redirect-uri",
            R2, "--redirect-uri", R3])
        cls.other = cls.w.company("other", extra=["--redirect-uri", OTHER_R])
        cls.off = cls.w.company("off", extra=["--redirect-uri", R1])
        cls.b.admin("company", "disable", cls.off.id)
        cls.flow = CodeFlow(cls.acme, R1)
        _, cls.challenge = pkce_pair()

    # ---- helpers -----------------------------------------------------------

    def base_pairs(self, **over):
        """The valid request, with members replaced (None drops one)."""
        pairs = [("response_type", "code"), ("client_id", self.acme.id),
                 ("redirect_uri", R1), ("scope", SCOPE),
                 ("purpose", "service"), ("state", STATE),
                 ("code_challenge", self.challenge),
                 ("code_challenge_method", "S256")]
        out = []
        for k, v in pairs:
            if k in over:
                v = over.pop(k)
            if v is not None:
                out.append((k, v))
        out.extend((k, v) for k, v in over.items() if v is not None)
        return out

    def assertPageHeaders(self, h):
        self.assertSecurityHeaders(h)
        csp = h.get("Content-Security-Policy", "")
        self.assertIn("frame-ancestors 'none'", csp)
        self.assertNotIn("unsafe-inline", csp)
        self.assertNotIn("unsafe-eval", csp)
        self.assertEqual(h.get("X-Frame-Options"), "DENY")
        self.assertEqual(h.get("Referrer-Policy"), "no-referrer")

    def assertErrorPage(self, resp):
        st, h, data = resp
        self.assertEqual(st, 400, data[:300])
        self.assertNotIn("Location", h, "an error page never redirects")
        self.assertEqual(h.get("Content-Type"), "text/html; charset=utf-8")
        self.assertPageHeaders(h)
        text = data.decode("utf-8")
        self.assertTrue(text.lower().startswith("<!doctype html>"), text)
        # The page offers no way on to the URI it could not vouch for.
        self.assertNotIn("evil", text)
        self.assertNotIn("<script", text)

    def assertErrorRedirect(self, location, base_uri, error, state):
        """Location is base_uri plus error, error_description, state (when
        expected) and iss, in that order after base_uri's own query."""
        want_base, want_params = split_redirect(base_uri)
        got_base, params = split_redirect(location)
        self.assertEqual(got_base, want_base, location)
        self.assertEqual(params[:len(want_params)], want_params, location)
        params = params[len(want_params):]
        names = [k for k, _ in params]
        expect_names = ["error", "error_description"] + (
            ["state"] if state is not None else []) + ["iss"]
        self.assertEqual(names, expect_names, location)
        got = dict(params)
        self.assertEqual(got["error"], error, location)
        self.assertTrue(got["error_description"], location)
        self.assertRegex(got["error_description"], ERROR_DESCRIPTION_RE)
        if state is not None:
            self.assertEqual(got["state"], state)
        self.assertEqual(got["iss"], self.b.issuer)

    def check_row(self, r):
        """One row through the three entry points."""
        pairs = self.base_pairs(**dict(r["over"]))
        pairs += r.get("extra", [])
        query = qs(pairs)
        cust = self.cust
        # 1. The endpoint the company sends the browser to.
        resp = self.b.request("GET", "/oauth/authorize?" + query)
        location = None
        if r["expect"] == PAGE:
            self.assertErrorPage(resp)
        elif r["expect"] == REDIRECT:
            st, h, data = resp
            self.assertEqual(st, 302, data[:300])
            self.assertEqual(data, b"")
            self.assertSecurityHeaders(h)
            location = h.get("Location")
            self.assertIsNotNone(location)
            uri = dict(pairs)["redirect_uri"]
            self.assertErrorRedirect(location, uri, r["error"], r["state"])
        else:
            st, h, data = resp
            self.assertEqual(st, 200, data[:300])
            self.assertNotIn("Location", h)
            self.assertEqual(h.get("Content-Type"), "text/html; charset=utf-8")
            self.assertPageHeaders(h)
        # 2. What the consent screen asks about it.
        resp = cust.call("GET", "/v1/authorize?" + query)
        self.check_consent_answer(resp, r, location)
        # 3. The decision: a denial of the same request.
        resp = cust.call("POST", "/v1/authorize", {"query": query,
                                                   "decision": "deny"})
        self.check_consent_answer(resp, r, location, deny=True)

    def check_consent_answer(self, resp, r, location, deny=False):
        st, h, data = resp
        if r["expect"] == OK:
            self.assertEqual(st, 200, data)
            doc = json.loads(data)
            if deny:
                self.assertIn("error=access_denied", doc["redirect"])
            else:
                self.assertEqual(doc["client"]["id"], self.acme.id)
            return
        slug = "invalid-scope" if r["error"] == "invalid_scope" \
            else "bad-request"
        self.assertEqual(st, 400, data)
        doc = self.assertProblem(self.b, resp, 400, slug)
        if r["expect"] == PAGE:
            self.assertNotIn("redirect", doc,
                             "no redirect for an unvouched client or URI")
            self.assertNotIn("evil", data.decode())
        else:
            self.assertEqual(doc.get("redirect"), location)

    def run_table(self, rows):
        self.cust = self.w.web_customer("table")
        for r in rows:
            with self.subTest(r["name"]):
                self.check_row(r)
        # None of it made a grant.
        self.assertEqual(self.cust.grants_list(), [])

    # ---- the table ---------------------------------------------------------

    def test_valid_requests_show_the_page(self):
        self.run_table([
            row("the valid request", OK),
            row("the URI registered with a query", OK, redirect_uri=R2),
            row("the loopback URI", OK, redirect_uri=R3),
            row("no state", OK, state=None),
            row("state of 512 bytes", OK, state="s" * 512),
            row("an unknown parameter is ignored", OK, prompt="consent"),
            row("every purpose: marketing", OK, purpose="marketing"),
            row("research", OK, purpose="research"),
            row("nested and custom scopes", OK,
                scope="read:sizes.shoe_eu read:pets read:diet"),
        ])

    def test_client_and_redirect_errors_are_pages(self):
        rows = [
            row("no client_id", PAGE, client_id=None),
            row("empty client_id", PAGE, client_id=""),
            row("unknown client", PAGE, client_id="nobody-here"),
            row("client id in other case", PAGE,
                client_id=self.acme.id.upper()),
            row("client with an embedded NUL", PAGE,
                client_id=self.acme.id + "\x00x"),
            row("HTML in client_id", PAGE,
                client_id="<script>alert(1)</script>"),
            row("another company's client_id", PAGE,
                client_id=self.other.id),
            row("disabled company", PAGE, client_id=self.off.id),
            row("no redirect_uri", PAGE, redirect_uri=None),
            row("empty redirect_uri", PAGE, redirect_uri=""),
            # Even when something else is wrong too: the URI comes first.
            row("bad URI and bad response_type", PAGE,
                redirect_uri="https://evil.example/cb", response_type="token"),
            row("bad URI and no PKCE", PAGE,
                redirect_uri="https://evil.example/cb", code_challenge=None),
        ]
        self.run_table(rows)

    def test_open_redirect_attempts_are_pages(self):
        self.run_table([row("redirect_uri=%r" % u, PAGE, redirect_uri=u)
                        for u in NOT_R1])

    def test_repeated_parameters_are_pages(self):
        evil = "https://evil.example/cb"
        self.run_table([
            repeated("redirect_uri twice, evil second",
                     [("redirect_uri", evil)]),
            repeated("redirect_uri twice, same value", [("redirect_uri", R1)]),
            repeated("client_id twice", [("client_id", self.other.id)]),
            repeated("client_id twice, same value",
                     [("client_id", self.acme.id)]),
            repeated("state twice", [("state", "other")]),
            repeated("scope twice", [("scope", "read:diet")]),
            repeated("response_type twice", [("response_type", "code")]),
            repeated("code_challenge twice",
                     [("code_challenge", "B" * 43)]),
            repeated("purpose twice", [("purpose", "marketing")]),
        ])
        # The evil URI first and the registered one second, too.
        pairs = [("redirect_uri", evil)] + self.base_pairs()
        resp = self.b.request("GET", "/oauth/authorize?" + qs(pairs))
        self.assertErrorPage(resp)

    def test_request_errors_redirect_with_state_and_iss(self):
        rows = [
            row("no response_type", REDIRECT, "invalid_request",
                response_type=None),
            row("response_type=token", REDIRECT, "unsupported_response_type",
                response_type="token"),
            row("response_type=code id_token", REDIRECT,
                "unsupported_response_type", response_type="code id_token"),
            row("response_type=CODE", REDIRECT, "unsupported_response_type",
                response_type="CODE"),
            row("no code_challenge", REDIRECT, "invalid_request",
                code_challenge=None),
            row("challenge of 42 characters", REDIRECT, "invalid_request",
                code_challenge="A" * 42),
            # S256 challenges are BASE64URL(SHA-256): exactly 43 characters.
            row("challenge of 44 characters", REDIRECT, "invalid_request",
                code_challenge="A" * 44),
            row("challenge of 128 characters", REDIRECT, "invalid_request",
                code_challenge="A" * 128),
            row("challenge of 129 characters", REDIRECT, "invalid_request",
                code_challenge="A" * 129),
            row("challenge with '+' and '='", REDIRECT, "invalid_request",
                code_challenge="A" * 41 + "+="),
            row("challenge with a space", REDIRECT, "invalid_request",
                code_challenge="A" * 42 + " "),
            row("no code_challenge_method (plain)", REDIRECT,
                "invalid_request", code_challenge_method=None),
            row("code_challenge_method=plain", REDIRECT, "invalid_request",
                code_challenge_method="plain"),
            row("code_challenge_method=s256", REDIRECT, "invalid_request",
                code_challenge_method="s256"),
            row("no purpose", REDIRECT, "invalid_request", purpose=None),
            row("unknown purpose", REDIRECT, "invalid_request",
                purpose="sales"),
            row("purpose in capitals", REDIRECT, "invalid_request",
                purpose="Service"),
            row("no scope", REDIRECT, "invalid_scope", scope=None),
            row("empty scope", REDIRECT, "invalid_scope", scope=""),
            row("write scope", REDIRECT, "invalid_scope",
                scope="write:contact"),
            row("bare read:", REDIRECT, "invalid_scope", scope="read:"),
            row("wildcard", REDIRECT, "invalid_scope", scope="read:*"),
            row("capital key", REDIRECT, "invalid_scope",
                scope="read:Contact"),
            row("empty path segment", REDIRECT, "invalid_scope",
                scope="read:contact..email"),
            row("one bad scope among good ones", REDIRECT, "invalid_scope",
                scope="read:language openid"),
            row("error without state", REDIRECT, "invalid_request",
                state=None, purpose="sales"),
            row("state of 513 bytes is not echoed", REDIRECT,
                "invalid_request", state="s" * 513, echo=None),
            row("error to the URI with a query", REDIRECT,
                "unsupported_response_type", redirect_uri=R2,
                response_type="token"),
            row("error to the loopback URI", REDIRECT, "invalid_scope",
                redirect_uri=R3, scope="read:"),
        ]
        self.run_table(rows)

    # ---- the consent API ---------------------------------------------------

    def test_consent_api_requires_a_session(self):
        query = qs(self.base_pairs())
        for headers in ({}, {"Authorization": "Bearer " + random_id(43)},
                        {"Cookie": "%s=%s" % (COOKIE, random_id(43))}):
            with self.subTest(headers=headers):
                resp = self.b.request("GET", "/v1/authorize?" + query,
                                      headers=headers)
                self.assertProblem(self.b, resp, 401, "unauthorized")
                h = dict(headers, **{"Content-Type": "application/json"})
                resp = self.b.request("POST", "/v1/authorize", headers=h,
                                      body=json.dumps({
                                          "query": query,
                                          "decision": "approve",
                                          "scopes": ["read:sizes"]}))
                self.assertProblem(self.b, resp, 401, "unauthorized")
        # The page itself needs no session: it asks the customer to log in.
        st, _, _ = self.b.request("GET", "/oauth/authorize?" + query)
        self.assertEqual(st, 200)

    def test_consent_screen(self):
        cust = self.w.web_customer("screen")
        scope = ("read:contact.email read:sizes.shoe_eu read:diet.allergies "
                 "read:communication read:pets")
        query = qs(self.base_pairs(scope=scope, purpose="marketing"))
        t0 = now()
        # The page reads it with the cookie; a read needs no CSRF token.
        st, h, data = cust.ccall("GET", "/v1/authorize?" + query, csrf=None)
        self.assertEqual(st, 200, data)
        self.assertEqual(h.get("Cache-Control"), "no-store")
        doc = json.loads(data)
        self.assertEqual(set(doc), {"client", "purpose", "scopes",
                                    "redirect_uri", "state", "expires_at",
                                    "max_expires_at"})
        self.assertEqual(doc["client"], {
            "id": self.acme.id, "name": "Acme Stores",
            "description": "Outdoor gear", "site": "https://acme.example/"})
        self.assertEqual(doc["purpose"], "marketing")
        self.assertEqual(doc["redirect_uri"], R1)
        self.assertEqual(doc["state"], STATE)
        labels = {s["scope"]: s["label"] for s in doc["scopes"]}
        self.assertEqual(len(labels), len(doc["scopes"]))
        self.assertEqual(labels, {
            "read:contact.email": "Your e-mail address",
            "read:diet.allergies": "Your food allergies",
            "read:communication": "Your communication preferences",
            "read:pets": "pets",
            "read:sizes.shoe_eu": "sizes.shoe_eu",
        })
        for s in doc["scopes"]:
            self.assertEqual(set(s), {"scope", "label"})
        self.assertTrue(t0 + DEFAULT_DAYS * DAY - 2 <= doc["expires_at"]
                        <= now() + DEFAULT_DAYS * DAY + 2, doc)
        self.assertTrue(t0 + MAX_SECONDS - 2 <= doc["max_expires_at"]
                        <= now() + MAX_SECONDS + 2, doc)
        # A field inside a section also asked for is that section.
        q2 = qs(self.base_pairs(scope="read:sizes read:sizes.shoe_eu"))
        self.assertEqual(cust.get_json("/v1/authorize?" + q2)["scopes"],
                         [{"scope": "read:sizes",
                           "label": "Your clothing and shoe sizes"}])
        # Bearer sessions see the same.
        st, _, data2 = cust.call("GET", "/v1/authorize?" + query)
        self.assertEqual(st, 200)
        doc2 = json.loads(data2)
        for k in ("client", "purpose", "scopes", "redirect_uri", "state"):
            self.assertEqual(doc2[k], doc[k])
        # Nothing was granted by looking.
        self.assertEqual(cust.grants_list(), [])

    def test_deny_redirects_access_denied_with_state(self):
        cust = self.w.web_customer("denier")
        for uri in (R1, R2):
            with self.subTest(redirect_uri=uri):
                query = qs(self.base_pairs(redirect_uri=uri))
                st, _, data = cust.ccall("POST", "/v1/authorize", {
                    "query": query, "decision": "deny"})
                self.assertEqual(st, 200, data)
                doc = json.loads(data)
                self.assertEqual(set(doc), {"redirect"})
                self.assertErrorRedirect(doc["redirect"], uri,
                                         "access_denied", STATE)
        # Without a state, none comes back.
        query = qs(self.base_pairs(state=None))
        st, _, data = cust.call("POST", "/v1/authorize", {
            "query": query, "decision": "deny"})
        self.assertEqual(st, 200, data)
        self.assertErrorRedirect(json.loads(data)["redirect"], R1,
                                 "access_denied", None)
        self.assertEqual(cust.grants_list(), [])
        kinds = [i["kind"] for i in cust.audit_all()]
        self.assertNotIn("grant.created", kinds)

    def test_approve_subset_creates_the_grant(self):
        cust = self.w.web_customer("approver")
        scope = "read:contact.email read:sizes read:diet"
        expires = now() + 10 * DAY
        query = qs(self.base_pairs(scope=scope, purpose="personalization"))
        st, h, data = cust.ccall("POST", "/v1/authorize", {
            "query": query, "decision": "approve",
            "scopes": ["read:sizes", "read:contact.email"],
            "expires_at": expires})
        self.assertEqual(st, 200, data)
        self.assertEqual(h.get("Cache-Control"), "no-store")
        doc = json.loads(data)
        self.assertEqual(set(doc), {"redirect"})
        base, params = split_redirect(doc["redirect"])
        self.assertEqual(base, R1)
        self.assertEqual([k for k, _ in params], ["code", "state", "iss"])
        got = dict(params)
        self.assertRegex(got["code"], CODE_RE)
        self.assertEqual(got["state"], STATE)
        self.assertEqual(got["iss"], self.b.issuer)
        grants = cust.grants_list()
        self.assertEqual(len(grants), 1, grants)
        g = grants[0]
        self.assertEqual(g["company"], self.acme.id)
        self.assertEqual(sorted(g["scopes"]),
                         ["read:contact.email", "read:sizes"])
        self.assertEqual(g["purpose"], "personalization")
        self.assertEqual(g["expires_at"], expires)
        self.assertEqual(g["state"], "active")
        self.assertEqual(cust.get_json("/v1/me/grants/" + g["id"]), g)
        created = [i for i in cust.audit_all()
                   if i["kind"] == "grant.created"]
        self.assertEqual(len(created), 1, created)
        self.assertEqual(created[0]["grant"], g["id"])
        self.assertEqual(created[0]["company"], self.acme.id)
        self.assertEqual(created[0]["purpose"], "personalization")
        self.assertEqual(sorted(created[0]["scopes"].split()),
                         ["read:contact.email", "read:sizes"])
        # The company sees the grant too.
        self.assertIn(g["id"], [x.get("id") for x in self.acme.grants()])
        # The code never lands in the audit trail.
        self.assertNotIn(got["code"], json.dumps(cust.audit_all()))

    def test_approve_a_field_of_a_requested_section(self):
        cust = self.w.web_customer("narrow")
        query = qs(self.base_pairs(scope="read:contact read:language"))
        st, _, data = cust.call("POST", "/v1/authorize", {
            "query": query, "decision": "approve",
            "scopes": ["read:contact.email"]})
        self.assertEqual(st, 200, data)
        g = cust.grants_list()[0]
        self.assertEqual(g["scopes"], ["read:contact.email"])
        # No expires_at chosen: the default the screen offered.
        t = now()
        self.assertTrue(t + DEFAULT_DAYS * DAY - 5 <= g["expires_at"]
                        <= t + DEFAULT_DAYS * DAY + 1, g)

    def test_approve_refusals_change_nothing(self):
        cust = self.w.web_customer("refused")
        query = qs(self.base_pairs(scope="read:contact.email read:sizes"))
        base = {"query": query, "decision": "approve",
                "scopes": ["read:sizes"]}

        def but(**kw):
            d = dict(base)
            for k, v in kw.items():
                if v is None:
                    d.pop(k, None)
                else:
                    d[k] = v
            return d
        t = now()
        cases = [
            ("a scope not asked for", but(scopes=["read:diet"]), 400,
             "invalid-scope"),
            ("a section when a field was asked for",
             but(scopes=["read:contact"]), 400, "invalid-scope"),
            ("one good, one not asked for",
             but(scopes=["read:sizes", "read:language"]), 400,
             "invalid-scope"),
            ("no scopes", but(scopes=None), 400, "invalid-scope"),
            ("empty scopes", but(scopes=[]), 400, "invalid-scope"),
            ("scopes not strings", but(scopes=[1]), 400, "invalid-scope"),
            ("scopes as a string", but(scopes="read:sizes"), 400,
             "invalid-scope"),
            ("malformed scope", but(scopes=["write:sizes"]), 400,
             "invalid-scope"),
            ("expiry in the past", but(expires_at=t - 10), 400,
             "bad-request"),
            ("expiry now", but(expires_at=t - 1), 400, "bad-request"),
            ("expiry past five years", but(expires_at=t + MAX_SECONDS + DAY),
             400, "bad-request"),
            ("unknown decision", but(decision="maybe"), 400, "bad-request"),
            ("no decision", but(decision=None), 400, "bad-request"),
            ("no query", but(query=None), 400, "bad-request"),
            ("query not a string", but(query={"client_id": self.acme.id}),
             400, "bad-request"),
            ("malformed query", but(query="client_id=%zz"), 400,
             "bad-request"),
            ("query with a NUL", but(query=query + "&x=%00"), 400,
             "bad-request"),
        ]
        for name, body, status, slug in cases:
            with self.subTest(name):
                resp = cust.call("POST", "/v1/authorize", body)
                doc = self.assertProblem(self.b, resp, status, slug)
                self.assertNotIn("code=", json.dumps(doc))
        self.assertEqual(cust.grants_list(), [])
        kinds = [i["kind"] for i in cust.audit_all()]
        self.assertNotIn("grant.created", kinds)

    def test_chosen_expiry_is_never_silently_replaced(self):
        """The customer's chosen expiry is kept or the decision refused:
        an expiry the broker cannot read must not turn into the 90-day
        default without a word (POST /v1/me/grants refuses these too)."""
        cust = self.w.web_customer("expiry")
        t = now()
        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t + 10 * DAY))
        for value, exact in (("next week", None), (t + DAY + 0.5, None),
                             (str(t + DAY), None), (iso, t + 10 * DAY)):
            with self.subTest(expires_at=value):
                before = {g["id"] for g in cust.grants_list()}
                query = qs(self.base_pairs())
                st, _, data = cust.call("POST", "/v1/authorize", {
                    "query": query, "decision": "approve",
                    "scopes": ["read:sizes"], "expires_at": value})
                made = [g for g in cust.grants_list()
                        if g["id"] not in before]
                if exact is not None and st == 200:
                    self.assertEqual([g["expires_at"] for g in made], [exact])
                    continue
                self.assertProblem(self.b, (st, _, data), 400, "bad-request")
                self.assertEqual(made, [])

    def test_company_disabled_between_screen_and_decision(self):
        co = self.w.company("flaky", extra=["--redirect-uri", R1])
        cust = self.w.web_customer("late")
        query = qs(self.base_pairs(client_id=co.id))
        st, _, data = cust.call("GET", "/v1/authorize?" + query)
        self.assertEqual(st, 200, data)
        self.b.admin("company", "disable", co.id)
        for decision in ("approve", "deny"):
            with self.subTest(decision=decision):
                resp = cust.call("POST", "/v1/authorize", {
                    "query": query, "decision": decision,
                    "scopes": ["read:sizes"]})
                doc = self.assertProblem(self.b, resp, 400, "bad-request")
                self.assertNotIn("redirect", doc)
        self.assertEqual(cust.grants_list(), [])
        # And the endpoint itself now shows the error page.
        self.assertErrorPage(self.b.request("GET", "/oauth/authorize?" +
                                            query))
