"""Access is checked on every fetch, even for a token already verified,
cached, and checked before.

A token's signature is verified once (the token cache), and the check of
its grant, company and jti is reused while the store's access generation
stands still; every write that may take access away moves it.  Each test
fetches GET /v1/profile with a token until /metrics shows that the fetch
was answered from both (ccx_cache_lookups_total: one more hit of
cache="token" and of cache="access_check", no miss).  It then changes
something: the company is disabled and enabled again, the token's jti is
revoked at the revocation endpoint (RFC 7009), a certificate-bound token
(RFC 8705) is presented without its certificate or with another
company's, its certificate is revoked, or the grant expires.  The very next fetch must be refused
with 401 invalid_token (RFC 6750 3.1), and that fetch must itself be a
token-cache hit, so the refusal comes from the checks and not from a
fresh verification.

Two cases are covered elsewhere with a token fetched until cached:
revoking the grant, in
test_oauth_fetch.FetchTests.test_grant_revocation_takes_effect_on_the_next_fetch,
and forced key retirement, in
test_keys.KeyRotationTests.test_forced_retire_kills_its_tokens_even_cached.
"""

import json
import re
import time
import urllib.parse

import test_mtls
from harness import Headers
from test_oauth_common import (BASE_FLAGS, GRANT_TYPE, PROFILE, OAuthTestCase,
                               fetch, jwt_parts)
from test_web_common import CodeFlow

HIT = 'ccx_cache_lookups_total{cache="token",result="hit"}'
MISS = 'ccx_cache_lookups_total{cache="token",result="miss"}'
REUSED = 'ccx_cache_lookups_total{cache="access_check",result="hit"}'
CHECKED = 'ccx_cache_lookups_total{cache="access_check",result="miss"}'


class CachedTokenLivenessTests(OAuthTestCase):
    broker_flags = BASE_FLAGS + ["--mtls-listen", "127.0.0.1:0"]

    # The mutual-TLS client of test_mtls: it needs self.b, self.mport and
    # self.companies (company id -> `ccx-admin company cert` output).
    ctx = test_mtls.MtlsTests.ctx
    mtls = test_mtls.MtlsTests.mtls

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        m = re.search(r"mutual TLS on https://127\.0\.0\.1:(\d+)/",
                      cls.b.stderr())
        assert m, cls.b.stderr()
        cls.mport = int(m.group(1))
        cls.acme = cls.w.company("cacheco")
        cls.other = cls.w.company("cacheother")
        cls.companies = {
            co.id: json.loads(cls.b.admin("company", "cert", co.id).stdout)
            for co in (cls.acme, cls.other)}
        cls.alice = cls.w.customer("cachecust", profile=PROFILE)

    # ---- helpers -----------------------------------------------------------

    def lookups(self):
        """Token-cache hits and misses, access checks reused and made in
        full, from /metrics."""
        m = self.b.metrics()
        return m[HIT], m[MISS], m[REUSED], m[CHECKED]

    def assertCacheHit(self, call, check="reused"):
        """Runs call(), one fetch, and asserts the token cache answered it
        (one more hit, no miss) and that its check of access was `check`:
        "reused" (the token's last check still held), "full", or None
        (refused before any).  Returns call()'s response."""
        before = self.lookups()
        resp = call()
        after = self.lookups()
        want = (1, 0) + {"reused": (1, 0), "full": (0, 1), None: (0, 0)}[check]
        self.assertEqual(tuple(a - b for a, b in zip(after, before)), want,
                         "(token hits, token misses, checks reused, full "
                         "checks) went from %r to %r" % (before, after))
        return resp

    def cache(self, call):
        """Fetches until the answer comes from the token cache and the
        token's last check of access (a token is cached on its second
        use, the first is only remembered, and that use checks in full),
        all with 200.  Returns the ETag of the answer."""
        for _ in range(2):
            st, _, data = call()
            self.assertEqual(st, 200, data)
        st, h, data = self.assertCacheHit(call)
        self.assertEqual(st, 200, data)
        self.assertEqual(json.loads(data), {"language": "en-GB"})
        self.assertTrue(h.get("ETag"), h)
        return h.get("ETag")

    def bound_fetch(self, token, company):
        """GET /v1/profile on the mutual-TLS listener, with company's
        certificate (None: none)."""
        st, h, data = self.mtls("GET", "/v1/profile",
                                {"Authorization": "Bearer " + token},
                                company=company)
        return st, Headers(h.items()), data

    # ---- tests -------------------------------------------------------------

    def test_company_disable_and_enable_with_a_cached_token(self):
        co = self.w.company("cacheflaky")
        kept = self.alice.grant(co, ["read:language"])
        dropped = self.alice.grant(co, ["read:language"])
        at = co.tokens(kept["id"])["access_token"]
        at2 = co.tokens(dropped["id"])["access_token"]
        etag = self.cache(lambda: fetch(self.b, at))
        self.cache(lambda: fetch(self.b, at2))
        self.b.admin("company", "disable", co.id)
        try:
            # Not even a 304 for the answer the company already holds.
            self.assertBearerError(self.assertCacheHit(
                lambda: fetch(self.b, at, {"If-None-Match": etag}), "full"))
            self.assertBearerError(self.assertCacheHit(
                lambda: fetch(self.b, at), "full"))
            self.assertBearerError(self.assertCacheHit(
                lambda: fetch(self.b, at2), "full"))
            # Meanwhile the customer revokes one of the two grants.
            self.alice.revoke_grant(dropped["id"])
        finally:
            self.b.admin("company", "enable", co.id)
        # Enabled again: the same cached token of the live grant works,
        # checked in full once and then by its check ...
        st, _, data = self.assertCacheHit(lambda: fetch(self.b, at), "full")
        self.assertEqual(st, 200, data)
        self.assertEqual(json.loads(data), {"language": "en-GB"})
        st, _, data = self.assertCacheHit(lambda: fetch(self.b, at))
        self.assertEqual(st, 200, data)
        # ... and the one of the grant revoked meanwhile stays refused.
        self.assertBearerError(self.assertCacheHit(
            lambda: fetch(self.b, at2), "full"))

    def test_jti_revocation_with_a_cached_token(self):
        g = self.alice.grant(self.acme, ["read:language"])
        at = self.acme.tokens(g["id"])["access_token"]
        sibling = self.acme.tokens(g["id"])["access_token"]
        self.assertNotEqual(jwt_parts(at)[1]["jti"],
                            jwt_parts(sibling)[1]["jti"])
        etag = self.cache(lambda: fetch(self.b, at))
        self.cache(lambda: fetch(self.b, sibling))
        st, _, data = self.acme.revoke(at)
        self.assertEqual(st, 200, data)
        self.assertBearerError(self.assertCacheHit(
            lambda: fetch(self.b, at, {"If-None-Match": etag}), "full"))
        self.assertBearerError(self.assertCacheHit(
            lambda: fetch(self.b, at), "full"))
        # Only that jti: the other cached token of the same grant lives on.
        st, _, data = self.assertCacheHit(lambda: fetch(self.b, sibling),
                                          "full")
        self.assertEqual(st, 200, data)
        st, _, data = self.assertCacheHit(lambda: fetch(self.b, sibling))
        self.assertEqual(st, 200, data)

    def test_certificate_binding_with_a_cached_token(self):
        g = self.alice.grant(self.acme, ["read:language"])
        form = urllib.parse.urlencode({"grant_type": GRANT_TYPE,
                                       "grant_id": g["id"],
                                       "client_id": self.acme.id}).encode()
        st, _, data = self.mtls("POST", "/oauth/token", test_mtls.FORM, form,
                                company=self.acme.id)
        self.assertEqual(st, 200, data)
        at = json.loads(data)["access_token"]
        thumb = self.companies[self.acme.id]["x5t#S256"]
        self.assertEqual(jwt_parts(at)[1]["cnf"], {"x5t#S256": thumb})
        self.cache(lambda: self.bound_fetch(at, self.acme.id))
        for name, call in (
                ("main listener, no certificate",
                 lambda: fetch(self.b, at)),
                ("mutual-TLS listener, no certificate",
                 lambda: self.bound_fetch(at, None)),
                ("mutual-TLS listener, another company's certificate",
                 lambda: self.bound_fetch(at, self.other.id))):
            with self.subTest(name):
                self.assertBearerError(self.assertCacheHit(call, None))
        # With its own certificate the cached token still works.
        st, _, data = self.assertCacheHit(
            lambda: self.bound_fetch(at, self.acme.id))
        self.assertEqual(st, 200, data)
        self.assertEqual(json.loads(data), {"language": "en-GB"})

    def test_certificate_revocation_with_a_cached_token(self):
        # A second certificate of the company, so that revoking it leaves
        # the first one (and the other tests) alone.
        cert = json.loads(self.b.admin("company", "cert",
                                       self.acme.id).stdout)
        self.companies["cacheco-second"] = cert
        g = self.alice.grant(self.acme, ["read:language"])
        form = urllib.parse.urlencode({"grant_type": GRANT_TYPE,
                                       "grant_id": g["id"],
                                       "client_id": self.acme.id}).encode()
        tokens = {}
        for name in ("cacheco-second", self.acme.id):
            st, _, data = self.mtls("POST", "/oauth/token", test_mtls.FORM,
                                    form, company=name)
            self.assertEqual(st, 200, data)
            tokens[name] = json.loads(data)["access_token"]
            self.cache(lambda: self.bound_fetch(tokens[name], name))
        self.b.admin("company", "cert", self.acme.id, "--revoke",
                     cert["x5t#S256"])
        st, h, data = self.assertCacheHit(
            lambda: self.bound_fetch(tokens["cacheco-second"],
                                     "cacheco-second"), "full")
        self.assertBearerError((st, h, data))
        self.assertEqual(json.loads(data)["detail"],
                         "the certificate the token is bound to was revoked")
        # The token bound to the company's other certificate carries on.
        st, _, data = self.assertCacheHit(
            lambda: self.bound_fetch(tokens[self.acme.id], self.acme.id),
            "full")
        self.assertEqual(st, 200, data)

    def test_grant_expiry_with_a_reused_check(self):
        # Time is the one thing the access generation does not see.
        st, _, data = self.alice.grant_raw({
            "company": self.acme.id, "scopes": ["read:language"],
            "purpose": "service", "expires_at": int(time.time()) + 3})
        self.assertEqual(st, 201, data)
        g = json.loads(data)
        at = self.acme.tokens(g["id"])["access_token"]
        self.cache(lambda: fetch(self.b, at))
        time.sleep(max(0, g["expires_at"] - time.time()) + 0.2)
        self.assertBearerError(self.assertCacheHit(
            lambda: fetch(self.b, at), "full"))

    def test_creations_leave_checks_standing_and_changes_move_them(self):
        g = self.alice.grant(self.acme, ["read:language"])
        at = self.acme.tokens(g["id"])["access_token"]
        self.cache(lambda: fetch(self.b, at))
        # A new customer, company, grant and token take nothing away ...
        bob = self.w.customer("cachebob", profile=PROFILE)
        newco = self.w.company("cachenewco")
        g2 = bob.grant(newco, ["read:language"])
        newco.tokens(g2["id"])
        st, _, data = self.assertCacheHit(lambda: fetch(self.b, at))
        self.assertEqual(st, 200, data)
        # ... nor does the authorization-code flow: a code issued on the
        # customer's consent, exchanged, and its token used ...
        shop = self.w.company("cacheshop", extra=[
            "--redirect-uri", "https://shop.example/cb"])
        flow = CodeFlow(shop, "https://shop.example/cb")
        code, verifier, _ = flow.code(bob, "read:language")
        st, _, data = flow.exchange(code, verifier)
        self.assertEqual(st, 200, data)
        st, _, data = fetch(self.b, json.loads(data)["access_token"])
        self.assertEqual(st, 200, data)
        st, _, data = self.assertCacheHit(lambda: fetch(self.b, at))
        self.assertEqual(st, 200, data)
        # ... revoking someone else's grant might have: one full check,
        # which passes, and the new check is reused after it.
        bob.revoke_grant(g2["id"])
        st, _, data = self.assertCacheHit(lambda: fetch(self.b, at), "full")
        self.assertEqual(st, 200, data)
        st, _, data = self.assertCacheHit(lambda: fetch(self.b, at))
        self.assertEqual(st, 200, data)


PHIT = 'ccx_cache_lookups_total{cache="projection",result="hit"}'
PMISS = 'ccx_cache_lookups_total{cache="projection",result="miss"}'


class ProjectionBudgetTests(OAuthTestCase):
    """--projection-cache-bytes bounds the cache of ready answers in bytes:
    an answer larger than a shard's share (1/64 of the budget) is never
    kept, and is computed afresh, correctly, every time."""

    broker_flags = BASE_FLAGS + ["--projection-cache-bytes", "1048576"]

    def test_large_answers_are_not_kept(self):
        co = self.w.company("budget")
        big = {"k%02d" % i: chr(ord("a") + i % 26) * 1000
               for i in range(24)}
        cust = self.w.customer("budget", profile=dict(PROFILE, notes=big))
        g = cust.grant(co, ["read:notes", "read:language"])
        large = co.tokens(g["id"], "read:notes")["access_token"]
        small = co.tokens(g["id"], "read:language")["access_token"]

        def lookups(token, n):
            m0 = self.b.metrics()
            for _ in range(n):
                st, _, data = fetch(self.b, token)
                self.assertEqual(st, 200, data)
            m1 = self.b.metrics()
            return (m1.get(PHIT, 0) - m0.get(PHIT, 0),
                    m1.get(PMISS, 0) - m0.get(PMISS, 0), json.loads(data))

        entries = 'ccx_cache_entries{cache="projection"}'
        held = 'ccx_cache_bytes{cache="projection"}'
        m0 = self.b.metrics()
        self.assertEqual(m0['ccx_cache_max_bytes{cache="projection"}'],
                         1048576)
        self.assertEqual(m0['ccx_cache_max_entries{cache="projection"}'],
                         11264)
        self.assertEqual(m0['ccx_cache_max_entries{cache="token"}'], 12288)
        # 24 KB: more than 16 KiB, never kept, always right.
        hits, misses, doc = lookups(large, 4)
        self.assertEqual((hits, misses), (0, 4))
        self.assertEqual(doc, {"notes": big})
        m1 = self.b.metrics()
        self.assertEqual(m1[entries], m0[entries])
        self.assertEqual(m1[held], m0[held])
        # A small answer is kept from its second fetch on, and counted
        # as at least its own bytes.
        hits, misses, doc = lookups(small, 4)
        self.assertEqual((hits, misses), (2, 2))
        self.assertEqual(doc, {"language": PROFILE["language"]})
        m2 = self.b.metrics()
        self.assertEqual(m2[entries], m1[entries] + 1)
        self.assertGreater(m2[held] - m1[held], len(json.dumps(doc)))
        self.assertLess(m2[held] - m1[held], 16384)
        self.assertGreaterEqual(m2['ccx_cache_entries{cache="token"}'], 2)
