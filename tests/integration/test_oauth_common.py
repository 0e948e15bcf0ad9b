"""Shared helpers for the OAuth 2.0 integration tests (test_oauth_*.py).

This module holds no tests of its own: it gives the other test_oauth_*
modules companies (OAuth clients made with `ccx-admin company add`),
customers with a profile, grants, calls to the token, introspection and
revocation endpoints, and an independent check of issued access tokens
with PyJWT (Debian's python3-jwt) against the published JWKS.

Standard library plus `jwt` (PyJWT 2.6 with cryptography) only.
"""

import base64
import hashlib
import hmac
import itertools
import json
import os
import re
import socket
import threading
import time
import urllib.parse

import jwt
from jwt.algorithms import OKPAlgorithm

from harness import HOST, BrokerTestCase, t, wait_until
from test_customer_accounts import FAST, Customer

FORM = "application/x-www-form-urlencoded"
GRANT_TYPE = "urn:ccx:params:oauth:grant-type:grant"
PURPOSES = ("service", "marketing", "personalization", "analytics",
            "research")

# Daemon flags shared by most classes: cheap password hashing, many
# sign-ups and failures allowed (all tests come from 127.0.0.1).
BASE_FLAGS = FAST + ["--signup-max", "100000", "--ip-max-failures", "100000",
                     "--login-max-failures", "1000"]

# The clock-skew leeway a verifier may grant on exp (RFC 7519 4.1.4 allows
# "some small leeway"); the broker's must stay within this bound.
MAX_LEEWAY = 5

# RFC 6749 5.2: error_description is limited to these characters.
ERROR_DESCRIPTION_RE = re.compile(r"^[\x20\x21\x23-\x5b\x5d-\x7e]*$")

# Every claim an access token carries (DESIGN 4; no cnf without mTLS).
ACCESS_CLAIMS = {"iss", "aud", "sub", "client_id", "grant_id", "scope", "iat",
                 "nbf", "exp", "jti"}

# A full profile touching every standard section and nested objects.
PROFILE = {
    "identity": {"name": "Alice Example", "preferred_name": "Al",
                 "pronouns": "she/her"},
    "contact": {"email": "alice@example.com", "phone": "+447700900123",
                "postal": {"street": "1 High Street", "city": "London",
                           "postcode": "N1 1AA"}},
    "communication": {"channels": ["email", "sms"], "frequency": "weekly",
                      "quiet_hours": {"start": "22:00", "end": "07:30",
                                      "tz": "Europe/London"},
                      "do_not_contact": False},
    "language": "en-GB",
    "interests": ["cycling", "jazz"],
    "sizes": {"shoe_eu": 39, "shirt": "M"},
    "diet": {"vegetarian": True, "vegan": False, "allergies": ["peanuts"]},
    "accessibility": {"large_text": True, "notes": "prefers email"},
}

_seq = itertools.count(1)


def uniq(prefix):
    """A name no other test of the run uses (logins, company ids)."""
    return "%s-%d" % (prefix, next(_seq))


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_parts(token):
    """(header dict, claims dict) of a compact JWS, unverified."""
    h, p, _ = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p))


def basic(client_id, secret):
    """RFC 6749 2.3.1: each part form-urlencoded, then HTTP Basic."""
    raw = "%s:%s" % (urllib.parse.quote_plus(client_id),
                     urllib.parse.quote_plus(secret))
    return "Basic " + base64.b64encode(raw.encode()).decode()


def jdump(obj):
    return json.dumps(obj).encode()


class Company:
    """An OAuth client registered with `ccx-admin company add`."""

    def __init__(self, broker, cid, secret, record):
        self.b = broker
        self.id = cid
        self.secret = secret
        self.record = record

    @property
    def authz(self):
        return basic(self.id, self.secret)

    def post(self, path, params, authz=None, ctype=FORM):
        """POSTs form parameters (a dict, a list of pairs or raw bytes)."""
        if isinstance(params, (bytes, str)):
            data = params
        else:
            data = urllib.parse.urlencode(params)
        headers = {"Content-Type": ctype} if ctype else {}
        auth = self.authz if authz is None else authz
        if auth:
            headers["Authorization"] = auth
        return self.b.request("POST", path, headers=headers, body=data)

    def token(self, grant_id, scope=None):
        params = {"grant_type": GRANT_TYPE, "grant_id": grant_id}
        if scope is not None:
            params["scope"] = scope
        return self.post("/oauth/token", params)

    def refresh(self, refresh_token, scope=None):
        params = {"grant_type": "refresh_token",
                  "refresh_token": refresh_token}
        if scope is not None:
            params["scope"] = scope
        return self.post("/oauth/token", params)

    def tokens(self, grant_id, scope=None):
        """The 200 token response as a dict (asserts success); its access
        token verified with PyJWT against the published JWKS (a second of
        leeway: with --token-lifetime 1 a token may expire in transit)."""
        st, _, data = self.token(grant_id, scope)
        assert st == 200, (st, data)
        doc = json.loads(data)
        _, claims = verify_access_token(self.b, doc["access_token"], leeway=2)
        assert claims["client_id"] == self.id, claims
        assert claims["grant_id"] == grant_id, claims
        assert claims["scope"] == doc["scope"], (claims, doc)
        return doc

    def introspect(self, token):
        st, _, data = self.post("/oauth/introspect", {"token": token})
        assert st == 200, (st, data)
        return json.loads(data)

    def revoke(self, token, hint=None):
        params = {"token": token}
        if hint:
            params["token_type_hint"] = hint
        return self.post("/oauth/revoke", params)

    def grants_page(self, query=""):
        st, _, data = self.b.request("GET", "/v1/company/grants" + query,
                                     headers={"Authorization": self.authz})
        assert st == 200, (st, data)
        return json.loads(data)

    def grants(self):
        """Every grant made to the company, following cursors."""
        out, query = [], ""
        for _ in range(1000):
            page = self.grants_page(query)
            out.extend(page["grants"])
            if page["next"] is None:
                return out
            query = "?cursor=" + page["next"]
        raise AssertionError("grant pagination never ended")


def fetch(broker, access_token, headers=None):
    """A company's GET /v1/profile with a bearer token."""
    h = {"Authorization": "Bearer " + access_token}
    h.update(headers or {})
    return broker.request("GET", "/v1/profile", headers=h)


class Account:
    """A registered customer with a live session."""

    def __init__(self, world, login):
        self.w = world
        self.b = world.b
        self.login = login
        st, _, data = world.c.register(login)
        assert st == 201, (st, data)
        self.id = json.loads(data)["id"]
        self.session = world.c.token(login)

    def call(self, method, path, obj=None, headers=None, raw=None):
        h = {"Authorization": "Bearer " + self.session}
        data = raw
        if obj is not None:
            h["Content-Type"] = "application/json"
            data = jdump(obj)
        h.update(headers or {})
        return self.b.request(method, path, headers=h, body=data)

    def get_json(self, path):
        st, _, data = self.call("GET", path)
        assert st == 200, (path, st, data)
        return json.loads(data)

    def set_profile(self, doc):
        st, h, data = self.call("GET", "/v1/me/profile")
        assert st == 200, (st, data)
        st, _, data = self.call("PUT", "/v1/me/profile", doc,
                                headers={"If-Match": h.get("ETag")})
        assert st == 200, (st, data)

    def grant_raw(self, body):
        return self.call("POST", "/v1/me/grants", body)

    def grant(self, company, scopes, purpose="service", ttl=3600,
              expires_at=None):
        """Creates a grant; returns its JSON (asserts 201)."""
        if expires_at is None:
            expires_at = int(time.time()) + ttl
        cid = company.id if isinstance(company, Company) else company
        st, _, data = self.grant_raw({"company": cid, "scopes": list(scopes),
                                      "purpose": purpose,
                                      "expires_at": expires_at})
        assert st == 201, (st, data)
        return json.loads(data)

    def revoke_grant(self, gid):
        st, _, data = self.call("DELETE", "/v1/me/grants/" + gid)
        assert st == 204, (st, data)

    def audit(self, query=""):
        return self.get_json("/v1/me/audit" + query)

    def audit_all(self, limit=None):
        """Every audit item, following cursors."""
        items, cursor = [], None
        for _ in range(1000):
            q = []
            if limit:
                q.append("limit=%d" % limit)
            if cursor:
                q.append("cursor=" + cursor)
            page = self.audit("?" + "&".join(q) if q else "")
            items.extend(page["items"])
            cursor = page["next"]
            if cursor is None:
                return items
        raise AssertionError("audit pagination never ended")

    def wait_audit(self, pred, timeout=3.0):
        """Polls the audit trail (read records are flushed in batches)
        until some item satisfies pred; returns the items."""
        found = wait_until(lambda: [i for i in self.audit_all()
                                    if pred(i)], timeout=timeout,
                           interval=0.05)
        assert found, "no matching audit record within %.1fs" % timeout
        return found


class World:
    """Companies and customers on one broker."""

    def __init__(self, broker):
        self.b = broker
        self.c = Customer(broker)

    def company(self, prefix="acme", name=None, extra=()):
        cid = uniq(prefix)
        p = self.b.admin("company", "add", cid, "--name", name or cid.title(),
                         *extra)
        rec = json.loads(p.stdout)
        assert rec["client_id"] == cid, rec
        return Company(self.b, cid, rec["client_secret"], rec)

    def customer(self, prefix="cust", profile=None):
        a = Account(self, uniq(prefix))
        if profile is not None:
            a.set_profile(profile)
        return a


def long_trail(broker, company, customer, n, threads=4):
    """Gives customer a trail of about n records of 1.7 KB each (n grant
    exchanges by company, on keep-alive connections in parallel): 3,000
    make 5 MB, more than the socket buffers between broker and client on
    loopback."""
    # Long scopes make long records.
    g = customer.grant(company, ["read:x%d_%s.%s" % (i, "a" * 58, "b" * 60)
                                 for i in range(10)])
    form = "grant_type=%s&grant_id=%s" % (urllib.parse.quote(GRANT_TYPE),
                                          g["id"])
    headers = {"Authorization": company.authz,
               "Content-Type": "application/x-www-form-urlencoded"}
    statuses = []

    def exchange(k):
        with broker.connection() as c:
            for _ in range(k):
                statuses.append(c.request("POST", "/oauth/token",
                                          headers=headers, body=form)[0])

    makers = [threading.Thread(target=exchange, args=(n // threads,))
              for _ in range(threads)]
    for th in makers:
        th.start()
    for th in makers:
        th.join()
    assert set(statuses) == {200}, set(statuses)


class Sip:
    """A GET whose answer a thread takes slowly, 16 KB per 10 ms, through
    a small receive window: the broker's stream stays open for seconds.
    `started` is set once bytes arrive; body() joins and returns them."""

    def __init__(self, broker, path, session):
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.settimeout(t(10))
        raw.connect((HOST, broker.port))
        self.conn = broker.ssl_context().wrap_socket(
            raw, server_hostname="localhost")
        self.conn.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\n"
                           "Authorization: Bearer %s\r\n\r\n"
                           % (path, session)).encode())
        self.got, self.started = [], threading.Event()
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self):
        try:
            while True:
                chunk = self.conn.recv(16384)
                if not chunk:
                    return
                self.got.append(chunk)
                self.started.set()
                time.sleep(0.01)
        except (OSError, ValueError):
            return
        finally:
            self.conn.close()

    def body(self, timeout=20):
        self.thread.join(t(timeout))
        return b"".join(self.got)


def pairwise_sub(broker, customer_id, company_id):
    """DESIGN 4: base64url(HMAC-SHA256(pairwise secret, customer ‖ company))
    computed here from the deployment's secret file."""
    with open(os.path.join(broker.data, "pairwise.key"), "rb") as f:
        key = f.read()
    mac = hmac.new(key, (customer_id + company_id).encode(),
                   hashlib.sha256).digest()
    return b64url(mac)


def jwks(broker):
    st, h, data = broker.request("GET", "/.well-known/jwks.json")
    assert st == 200, (st, data)
    return h, json.loads(data)


def signing_key(broker, token):
    """The public key the JWKS publishes for the token's kid (PyJWT)."""
    kid = jwt.get_unverified_header(token).get("kid")
    _, doc = jwks(broker)
    for k in doc["keys"]:
        if k["kid"] == kid:
            return OKPAlgorithm.from_jwk(json.dumps(k))
    raise jwt.InvalidTokenError("kid %r not in JWKS" % kid)


def verify_access_token(broker, token, leeway=0):
    """Verifies with PyJWT against the published JWKS; returns
    (header, claims).  Raises jwt exceptions when verification fails."""
    header = jwt.get_unverified_header(token)
    _, doc = jwks(broker)
    keys = {k["kid"]: k for k in doc["keys"]}
    if header.get("kid") not in keys:
        raise jwt.InvalidTokenError("kid %r not in JWKS" % header.get("kid"))
    key = OKPAlgorithm.from_jwk(json.dumps(keys[header["kid"]]))
    # Also through PyJWK, the other public way of building keys.
    pyjwk = jwt.PyJWK(keys[header["kid"]])
    assert pyjwk.key_type == "OKP", pyjwk.key_type
    claims = jwt.decode(token, key, algorithms=["EdDSA"],
                        audience=broker.issuer, issuer=broker.issuer,
                        leeway=leeway,
                        options={"require": ["exp", "iat", "nbf", "iss",
                                             "aud", "sub", "jti"]})
    again = jwt.decode(token, pyjwk.key, algorithms=["EdDSA"],
                       audience=broker.issuer, issuer=broker.issuer,
                       leeway=leeway)
    assert again == claims
    return header, claims


def parse_challenge(value):
    """'Bearer realm="x", error="y"' -> ('bearer', {'realm': 'x', ...})."""
    scheme, _, rest = value.partition(" ")
    params = dict(re.findall(r'([A-Za-z_]+)="([^"]*)"', rest))
    return scheme.lower(), params


class OAuthTestCase(BrokerTestCase):
    """Assertions for the OAuth endpoint families."""

    broker_flags = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if "b" in cls.__dict__:
            cls.w = World(cls.b)

    def assertOAuthError(self, resp, status, error):
        """An RFC 6749 5.2 error: JSON {error, error_description}, no-store,
        and for 401 a Basic challenge.  Returns the decoded body."""
        st, h, data = resp
        self.assertEqual(st, status, "expected %d %s, got %d: %r"
                         % (status, error, st, data))
        self.assertEqual(h.get("Content-Type", "").split(";")[0],
                         "application/json", h)
        self.assertEqual(h.get("Cache-Control"), "no-store")
        self.assertEqual(h.get("Pragma"), "no-cache")
        doc = json.loads(data)
        self.assertEqual(doc.get("error"), error, doc)
        self.assertLessEqual(set(doc), {"error", "error_description",
                                        "error_uri"}, doc)
        desc = doc.get("error_description")
        if desc is not None:
            self.assertIsInstance(desc, str)
            self.assertRegex(desc, ERROR_DESCRIPTION_RE,
                             "RFC 6749 5.2 forbids these characters in "
                             "error_description: %r" % desc)
        if status == 401:
            scheme, params = parse_challenge(h.get("WWW-Authenticate", ""))
            self.assertEqual(scheme, "basic", h)
            self.assertIn("realm", params, h)
        return doc

    def assertBearerError(self, resp, error="invalid_token"):
        """RFC 6750 3: 401, a Bearer challenge naming the error, and a
        problem+json body."""
        st, h, data = resp
        self.assertEqual(st, 401, "expected 401 %s, got %d: %r"
                         % (error, st, data))
        scheme, params = parse_challenge(h.get("WWW-Authenticate", ""))
        self.assertEqual(scheme, "bearer", h)
        self.assertIn("realm", params)
        self.assertEqual(params.get("error"), error, h)
        p = self.assertProblem(self.b, resp, 401, error.replace("_", "-"))
        self.assertNotIn(b'"profile"', data)
        return p

    def assertTokenResponse(self, resp, scope=None):
        """RFC 6749 5.1 success, verified with PyJWT; returns
        (body, header, claims)."""
        st, h, data = resp
        self.assertEqual(st, 200, data)
        self.assertEqual(h.get("Content-Type", "").split(";")[0],
                         "application/json")
        self.assertEqual(h.get("Cache-Control"), "no-store")
        self.assertEqual(h.get("Pragma"), "no-cache")
        doc = json.loads(data)
        self.assertEqual(set(doc), {"access_token", "token_type", "expires_in",
                                    "refresh_token", "scope", "grant_id"})
        self.assertEqual(doc["token_type"], "Bearer")
        self.assertIsInstance(doc["expires_in"], int)
        self.assertGreater(doc["expires_in"], 0)
        self.assertRegex(doc["refresh_token"], r"^[A-Za-z0-9_-]{32,}$")
        header, claims = verify_access_token(self.b, doc["access_token"])
        self.assertEqual(header, {"alg": "EdDSA", "typ": "at+jwt",
                                  "kid": header.get("kid")})
        self.assertEqual(set(claims), ACCESS_CLAIMS, claims)
        self.assertEqual(claims["iss"], self.b.issuer)
        self.assertEqual(claims["aud"], self.b.issuer)
        self.assertEqual(claims["scope"], doc["scope"])
        self.assertEqual(claims["grant_id"], doc["grant_id"])
        self.assertEqual(claims["nbf"], claims["iat"])
        self.assertLessEqual(abs(claims["iat"] - time.time()), 5)
        self.assertEqual(claims["exp"] - claims["iat"], doc["expires_in"])
        if scope is not None:
            self.assertEqual(doc["scope"], scope)
        return doc, header, claims


def project(doc, paths):
    """The reference projection: the subtrees named by dotted paths."""
    out = {}
    for path in paths:
        keys = path.split(".")
        v = doc
        for k in keys:
            if not isinstance(v, dict) or k not in v:
                break
            v = v[k]
        else:
            dst = out
            for k in keys[:-1]:
                dst = dst.setdefault(k, {})
            dst[keys[-1]] = v
    return out
