"""Shared helpers for the web-facing integration tests (test_web_*.py).

This module holds no tests of its own.  It adds to test_oauth_common what
the customer's web page and the authorization-code flow need: cookie
sessions (the `__Host-ccx` cookie and its CSRF token), PKCE pairs,
authorization requests, the consent decision and the code exchange.

Standard library plus `jwt` (through test_oauth_common) only.
"""

import hashlib
import json
import secrets
import string
import time
import urllib.parse

from test_customer_accounts import PASSWORD
from test_oauth_common import Account, World, b64url, jdump, uniq

COOKIE = "__Host-ccx"
CSRF_HEADER = "X-CSRF-Token"
JSON = {"Content-Type": "application/json"}

# RFC 7636 4.1: the characters a code verifier is made of.
UNRESERVED = string.ascii_letters + string.digits + "-._~"

# The characters the broker's identifiers and CSRF tokens are made of.
B64URL = string.ascii_letters + string.digits + "-_"

DAY = 86400


def parse_set_cookie(value):
    """'n=v; A; B=c' -> (name, value, [(attr lowercased, value or None)])."""
    parts = [p.strip() for p in value.split(";")]
    name, _, val = parts[0].partition("=")
    attrs = []
    for p in parts[1:]:
        if not p:
            continue
        k, eq, v = p.partition("=")
        attrs.append((k.strip().lower(), v.strip() if eq else None))
    return name.strip(), val.strip(), attrs


def cookie_login(broker, login, password=PASSWORD, extra=None):
    """POST /v1/sessions with "cookie": true: (status, headers, body)."""
    doc = {"login": login, "password": password, "cookie": True}
    doc.update(extra or {})
    return broker.request("POST", "/v1/sessions", headers=JSON,
                          body=jdump(doc))


def session_cookie(headers):
    """The session cookie a response sets: (value, attrs) or None."""
    for v in headers.get_all("Set-Cookie"):
        name, val, attrs = parse_set_cookie(v)
        if name == COOKIE:
            return val, attrs
    return None


def random_id(n=22):
    return "".join(secrets.choice(B64URL) for _ in range(n))


def pkce_pair(length=64):
    """(verifier, challenge): a random verifier of unreserved characters and
    its S256 challenge, BASE64URL(SHA256(ASCII(verifier)))."""
    verifier = "".join(secrets.choice(UNRESERVED) for _ in range(length))
    challenge = b64url(hashlib.sha256(verifier.encode("ascii")).digest())
    return verifier, challenge


def qs(pairs):
    """A query string from (name, value) pairs, every reserved character
    percent-encoded (spaces as %20).  Values None are left out."""
    if isinstance(pairs, dict):
        pairs = list(pairs.items())
    return "&".join("%s=%s" % (urllib.parse.quote(k, safe=""),
                               urllib.parse.quote(v, safe=""))
                    for k, v in pairs if v is not None)


def split_redirect(url):
    """A redirect URL -> (URL without query, [(name, value)] of its query).
    Raises when the URL carries a fragment."""
    parts = urllib.parse.urlsplit(url)
    assert parts.fragment == "", url
    base = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path,
                                    "", ""))
    return base, urllib.parse.parse_qsl(parts.query, keep_blank_values=True,
                                        strict_parsing=bool(parts.query))


class WebAccount(Account):
    """A registered customer with two live sessions: the bearer session of
    Account (self.session, self.bearer_csrf) and a cookie session as the
    web page has it (self.cookie, self.csrf, self.login_doc)."""

    def __init__(self, world, login):
        super().__init__(world, login)
        st, _, data = self.call("GET", "/v1/sessions/current")
        assert st == 200, (st, data)
        self.bearer_csrf = json.loads(data)["csrf"]
        self.cookie_login()

    def cookie_login(self):
        st, h, data = cookie_login(self.b, self.login)
        assert st == 201, (st, data)
        got = session_cookie(h)
        assert got is not None, h
        self.cookie = got[0]
        self.login_doc = json.loads(data)
        self.csrf = self.login_doc["csrf"]
        return self.cookie

    def ccall(self, method, path, obj=None, csrf=True, headers=None,
              raw=None, cookie=None):
        """A request with the session cookie.  csrf: True sends the right
        X-CSRF-Token, None none, a string that value."""
        h = {"Cookie": "%s=%s" % (COOKIE, cookie or self.cookie)}
        if csrf is True:
            h[CSRF_HEADER] = self.csrf
        elif csrf is not None:
            h[CSRF_HEADER] = csrf
        data = raw
        if obj is not None:
            h["Content-Type"] = "application/json"
            data = jdump(obj)
        h.update(headers or {})
        return self.b.request(method, path, headers=h, body=data)

    def cget_json(self, path):
        st, _, data = self.ccall("GET", path, csrf=None)
        assert st == 200, (path, st, data)
        return json.loads(data)

    def profile(self):
        """(ETag, document) of the customer's own profile (bearer)."""
        st, h, data = self.call("GET", "/v1/me/profile")
        assert st == 200, (st, data)
        return h.get("ETag"), json.loads(data)

    def grants_list(self):
        doc = self.get_json("/v1/me/grants")
        return doc["grants"] if isinstance(doc, dict) else doc


class WebWorld(World):
    def web_customer(self, prefix="web", profile=None):
        a = WebAccount(self, uniq(prefix))
        if profile is not None:
            a.set_profile(profile)
        return a


class CodeFlow:
    """The authorization-code flow for one company and redirect URI."""

    def __init__(self, company, redirect_uri):
        self.co = company
        self.b = company.b
        self.redirect_uri = redirect_uri

    def params(self, scope, purpose="service", state=None, challenge=None):
        """The authorization request as ordered pairs, and its verifier."""
        verifier, ch = pkce_pair()
        if state is None:
            state = "st-" + random_id(10)
        pairs = [("response_type", "code"), ("client_id", self.co.id),
                 ("redirect_uri", self.redirect_uri), ("scope", scope),
                 ("purpose", purpose), ("state", state),
                 ("code_challenge", challenge or ch),
                 ("code_challenge_method", "S256")]
        return pairs, verifier

    def decide(self, customer, query, decision="approve", scopes=None,
               expires_at=None, cookie=False):
        body = {"query": query, "decision": decision}
        if scopes is not None:
            body["scopes"] = list(scopes)
        if expires_at is not None:
            body["expires_at"] = expires_at
        if cookie:
            return customer.ccall("POST", "/v1/authorize", body)
        return customer.call("POST", "/v1/authorize", body)

    def code(self, customer, scope, chosen=None, purpose="service",
             state=None, expires_at=None):
        """Approves a fresh request: (code, verifier, redirect params)."""
        pairs, verifier = self.params(scope, purpose, state)
        chosen = scope.split() if chosen is None else chosen
        st, _, data = self.decide(customer, qs(pairs), "approve", chosen,
                                  expires_at)
        assert st == 200, (st, data)
        base, params = split_redirect(json.loads(data)["redirect"])
        got = dict(params)
        assert "code" in got, data
        return got["code"], verifier, got

    def exchange(self, code, verifier, redirect_uri=None, company=None,
                 extra=None):
        params = {"grant_type": "authorization_code", "code": code,
                  "redirect_uri": redirect_uri or self.redirect_uri,
                  "code_verifier": verifier}
        params.update(extra or {})
        params = {k: v for k, v in params.items() if v is not None}
        return (company or self.co).post("/oauth/token", params)


def now():
    return int(time.time())
