"""The customer's side of OAuth access: the company directory, grants
(create, list, read, revoke, validation, isolation between customers),
the grants a company sees (pairwise subjects, isolation between
companies), the audit trail and its pagination, the export, and the
deletion of an account with everything it had granted.
"""

import json
import re
import time
import urllib.parse

from harness import Connection, wait_until
from test_customer_accounts import PASSWORD
from test_oauth_common import (BASE_FLAGS, GRANT_TYPE, PROFILE, PURPOSES,
                               OAuthTestCase, Sip, fetch, long_trail,
                               pairwise_sub)
from test_web_common import CodeFlow, WebWorld, qs

REDIRECT = "https://acme.example/cb"

DAY = 86400
GRANT_KEYS = {"id", "company", "scopes", "purpose", "created_at",
              "expires_at", "state"}
COMPANY_GRANT_KEYS = {"id", "sub", "scopes", "purpose", "created_at",
                      "expires_at", "state"}


def iso(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class GrantTests(OAuthTestCase):
    broker_flags = BASE_FLAGS

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.acme = cls.w.company("acme", name="Acme Ltd", extra=(
            "--description", "Anvils and more", "--site",
            "https://acme.example", "--redirect-uri",
            "https://acme.example/cb"))
        cls.globex = cls.w.company("globex")

    def setUp(self):
        self.alice = self.w.customer("alice", profile=PROFILE)

    # ---- the directory --------------------------------------------------

    def test_directory(self):
        off = self.w.company("switched-off")
        self.b.admin("company", "disable", off.id)
        st, h, data = self.b.request("GET", "/v1/companies")
        self.assertEqual(st, 200, data)
        doc = json.loads(data)
        self.assertEqual(set(doc), {"companies"})
        by_id = {c["id"]: c for c in doc["companies"]}
        self.assertEqual(by_id[self.acme.id], {
            "id": self.acme.id, "name": "Acme Ltd",
            "description": "Anvils and more", "site": "https://acme.example"})
        self.assertIn(self.globex.id, by_id)
        self.assertNotIn(off.id, by_id)
        for c in doc["companies"]:
            self.assertEqual(set(c), {"id", "name", "description", "site"}, c)
        for secret in (self.acme.secret, self.globex.secret):
            self.assertNotIn(secret.encode(), data)
        self.assertNotIn(b"redirect", data)
        self.b.admin("company", "enable", off.id)
        st, _, data = self.b.request("GET", "/v1/companies")
        self.assertIn(off.id, [c["id"] for c in
                               json.loads(data)["companies"]])

    # ---- creating, reading, revoking -------------------------------------

    def test_create_read_list(self):
        exp = int(time.time()) + 30 * DAY
        st, h, data = self.alice.grant_raw({
            "company": self.acme.id, "purpose": "marketing",
            "scopes": ["read:language", "read:contact.email", "read:contact",
                       "read:communication.channels"],
            "expires_at": exp})
        self.assertEqual(st, 201, data)
        g = json.loads(data)
        self.assertEqual(set(g), GRANT_KEYS)
        self.assertRegex(g["id"], r"^[A-Za-z0-9_-]{22}$")
        self.assertEqual(h.get("Location"), "/v1/me/grants/" + g["id"])
        self.assertEqual(g["company"], self.acme.id)
        # Normalised: sorted, the broader path absorbs the narrower.
        self.assertEqual(g["scopes"], ["read:communication.channels",
                                       "read:contact", "read:language"])
        self.assertEqual(g["purpose"], "marketing")
        self.assertEqual(g["expires_at"], exp)
        self.assertLessEqual(abs(g["created_at"] - time.time()), 5)
        self.assertEqual(g["state"], "active")
        self.assertEqual(self.alice.get_json(h.get("Location")), g)
        listed = self.alice.get_json("/v1/me/grants")
        self.assertEqual(set(listed), {"grants"})
        self.assertEqual(listed["grants"], [g])
        # An RFC 3339 time is the same instant.
        g2 = self.alice.grant(self.globex, ["read:language"],
                              expires_at=iso(exp))
        self.assertEqual(g2["expires_at"], exp)
        ids = {x["id"] for x in self.alice.get_json("/v1/me/grants")["grants"]}
        self.assertEqual(ids, {g["id"], g2["id"]})

    def test_every_purpose(self):
        for purpose in PURPOSES:
            with self.subTest(purpose=purpose):
                g = self.alice.grant(self.acme, ["read:language"],
                                     purpose=purpose)
                self.assertEqual(g["purpose"], purpose)

    def test_validation(self):
        now = int(time.time())
        good = {"company": self.acme.id, "scopes": ["read:language"],
                "purpose": "service", "expires_at": now + DAY}

        def but(**kw):
            d = dict(good, **kw)
            return {k: v for k, v in d.items() if v is not DROP}

        DROP = object()
        cases = [
            ("unknown company", but(company="no-such-co"), 404, "not-found"),
            ("malformed company", but(company="Not A Company!"), 400,
             "bad-request"),
            ("company not a string", but(company=7), 400, "bad-request"),
            ("no company", but(company=DROP), 400, "bad-request"),
            ("write scope", but(scopes=["write:language"]), 400,
             "invalid-scope"),
            ("bare section", but(scopes=["language"]), 400, "invalid-scope"),
            ("upper case", but(scopes=["read:Language"]), 400,
             "invalid-scope"),
            ("empty path", but(scopes=["read:"]), 400, "invalid-scope"),
            ("double dot", but(scopes=["read:contact..email"]), 400,
             "invalid-scope"),
            ("wildcard", but(scopes=["read:*"]), 400, "invalid-scope"),
            ("key starting with a digit", but(scopes=["read:interests.0"]),
             400, "invalid-scope"),
            ("space inside", but(scopes=["read:contact read:language"]), 400,
             "invalid-scope"),
            ("one bad among good", but(scopes=["read:language", "nope"]), 400,
             "invalid-scope"),
            ("empty list", but(scopes=[]), 400, "invalid-scope"),
            ("not a list", but(scopes="read:language"), 400, "invalid-scope"),
            ("not strings", but(scopes=[1]), 400, "invalid-scope"),
            # 64 scopes of 67 bytes: more text than a token may carry.
            ("scope text too long", but(scopes=[
                "read:x.%s%02d" % ("k" * 60, i) for i in range(64)]), 400,
             "invalid-scope"),
            ("no scopes", but(scopes=DROP), 400, "invalid-scope"),
            ("unknown purpose", but(purpose="selling"), 400, "bad-request"),
            ("purpose case", but(purpose="Service"), 400, "bad-request"),
            ("no purpose", but(purpose=DROP), 400, "bad-request"),
            ("past expiry", but(expires_at=now - 10), 400, "bad-request"),
            ("expiry now", but(expires_at=now - 1), 400, "bad-request"),
            ("expiry in six years", but(expires_at=now + 6 * 366 * DAY), 400,
             "bad-request"),
            ("expiry as float", but(expires_at=now + DAY + 0.5), 400,
             "bad-request"),
            ("expiry as text number", but(expires_at=str(now + DAY)), 400,
             "bad-request"),
            ("expiry without zone", but(expires_at=iso(now + DAY)[:-1]), 400,
             "bad-request"),
            ("expiry with offset", but(expires_at=iso(now + DAY)[:-1] +
                                       "+02:00"), 400, "bad-request"),
            ("expiry month 13", but(expires_at="2030-13-01T00:00:00Z"), 400,
             "bad-request"),
            ("no expiry", but(expires_at=DROP), 400, "bad-request"),
            ("extra member", but(state="active"), 400, "bad-request"),
            ("customer member", but(customer="someone"), 400, "bad-request"),
        ]
        for name, body, status, slug in cases:
            with self.subTest(name):
                self.assertProblem(self.b, self.alice.grant_raw(body), status,
                                   slug)
        for name, raw, ctype, status, slug in [
                ("not an object", b'["read:language"]', "application/json",
                 400, "bad-request"),
                ("invalid JSON", b'{"company": ', "application/json", 400,
                 "invalid-json"),
                ("form body", b"company=acme", "application/x-www-form-"
                 "urlencoded", 415, "unsupported-media-type")]:
            with self.subTest(name):
                self.assertProblem(self.b, self.alice.call(
                    "POST", "/v1/me/grants", raw=raw,
                    headers={"Content-Type": ctype}), status, slug)
        # None of the refused requests made a grant.
        self.assertEqual(self.alice.get_json("/v1/me/grants"), {"grants": []})

    def test_needs_a_session(self):
        for method, path in (("GET", "/v1/me/grants"),
                             ("POST", "/v1/me/grants"),
                             ("GET", "/v1/me/grants/AAAAAAAAAAAAAAAAAAAAAA"),
                             ("DELETE", "/v1/me/grants/AAAAAAAAAAAAAAAAAAAAAA"),
                             ("GET", "/v1/me/audit"),
                             ("GET", "/v1/me/export"),
                             ("DELETE", "/v1/me")):
            for authz in (None, "Bearer nope", self.acme.authz):
                with self.subTest(method=method, path=path, authz=authz):
                    headers = {"Authorization": authz} if authz else {}
                    body = None
                    if method == "POST":
                        headers["Content-Type"] = "application/json"
                        body = b"{}"
                    self.assertProblem(self.b, self.b.request(
                        method, path, headers=headers, body=body), 401,
                        "unauthorized")

    def test_revoke(self):
        g = self.alice.grant(self.acme, ["read:language"])
        tok = self.acme.tokens(g["id"])
        st, _, data = self.alice.call("DELETE", "/v1/me/grants/" + g["id"])
        self.assertEqual(st, 204, data)
        self.assertEqual(data, b"")
        got = self.alice.get_json("/v1/me/grants/" + g["id"])
        self.assertEqual(got["state"], "revoked")
        self.assertLessEqual(abs(got.get("revoked_at", 0) - time.time()), 5)
        self.assertEqual({k: got[k] for k in GRANT_KEYS - {"state"}},
                         {k: g[k] for k in GRANT_KEYS - {"state"}})
        self.assertEqual(self.alice.get_json("/v1/me/grants")["grants"][0]
                         ["state"], "revoked")
        self.assertBearerError(fetch(self.b, tok["access_token"]))
        for gid in ("AAAAAAAAAAAAAAAAAAAAAA", "short", "x" * 200):
            with self.subTest(gid=gid[:10]):
                for method in ("GET", "DELETE"):
                    self.assertProblem(self.b, self.alice.call(
                        method, "/v1/me/grants/" + gid), 404, "not-found")

    def test_another_customers_grant_is_not_found(self):
        bob = self.w.customer("bob")
        g = self.alice.grant(self.acme, ["read:language"])
        tok = self.acme.tokens(g["id"])
        for method in ("GET", "DELETE"):
            with self.subTest(method=method):
                p = self.assertProblem(self.b, bob.call(
                    method, "/v1/me/grants/" + g["id"]), 404, "not-found")
                # Exactly what an unknown id gets.
                q = self.assertProblem(self.b, bob.call(
                    method, "/v1/me/grants/AAAAAAAAAAAAAAAAAAAAAA"), 404,
                    "not-found")
                self.assertEqual(p, q)
        self.assertEqual(bob.get_json("/v1/me/grants"), {"grants": []})
        # Bob's attempt changed nothing.
        self.assertEqual(self.alice.get_json("/v1/me/grants/" + g["id"])
                         ["state"], "active")
        self.assertEqual(fetch(self.b, tok["access_token"])[0], 200)

    # ---- what a company sees --------------------------------------------

    def test_company_grants(self):
        bob = self.w.customer("bob")
        co_a = self.w.company("lister-a")
        co_b = self.w.company("lister-b")
        self.assertEqual(co_a.grants(), [])
        ga1 = self.alice.grant(co_a, ["read:language"], purpose="analytics")
        ga2 = self.alice.grant(co_a, ["read:contact.email"])
        gb = bob.grant(co_a, ["read:diet"], purpose="research")
        other = self.alice.grant(co_b, ["read:interests"])
        self.alice.revoke_grant(ga2["id"])
        st, h, data = self.b.request("GET", "/v1/company/grants",
                                     headers={"Authorization": co_a.authz})
        self.assertEqual(st, 200, data)
        self.assertEqual(h.get("Cache-Control"), "no-store")
        listed = {g["id"]: g for g in json.loads(data)["grants"]}
        self.assertEqual(set(listed), {ga1["id"], ga2["id"], gb["id"]})
        for g in listed.values():
            self.assertLessEqual(COMPANY_GRANT_KEYS, set(g))
            self.assertLessEqual(set(g), COMPANY_GRANT_KEYS | {"revoked_at"})
        sub_alice = pairwise_sub(self.b, self.alice.id, co_a.id)
        sub_bob = pairwise_sub(self.b, bob.id, co_a.id)
        self.assertEqual(listed[ga1["id"]]["sub"], sub_alice)
        self.assertEqual(listed[ga2["id"]]["sub"], sub_alice)
        self.assertEqual(listed[gb["id"]]["sub"], sub_bob)
        self.assertEqual(listed[ga1["id"]]["scopes"], ["read:language"])
        self.assertEqual(listed[ga1["id"]]["purpose"], "analytics")
        self.assertEqual(listed[ga1["id"]]["expires_at"], ga1["expires_at"])
        self.assertEqual(listed[ga1["id"]]["state"], "active")
        self.assertEqual(listed[ga2["id"]]["state"], "revoked")
        self.assertEqual(listed[gb["id"]]["purpose"], "research")
        # Nothing that names the customer.
        for needle in (self.alice.id, bob.id, self.alice.login, bob.login):
            self.assertNotIn(needle.encode(), data)
        # The other company sees its own grant only, under another sub.
        theirs = co_b.grants()
        self.assertEqual([g["id"] for g in theirs], [other["id"]])
        self.assertNotEqual(theirs[0]["sub"], sub_alice)
        self.assertEqual(theirs[0]["sub"],
                         pairwise_sub(self.b, self.alice.id, co_b.id))


    def test_company_grants_pages(self):
        co = self.w.company("pager")
        made = [self.alice.grant(co, ["read:language"]) for _ in range(3)]
        bob = self.w.customer("bob")
        made += [bob.grant(co, ["read:diet"]) for _ in range(2)]
        ids = sorted(g["id"] for g in made)
        self.assertEqual(co.grants_page(), {"grants": co.grants_page(
            "?limit=1000")["grants"], "next": None})
        self.assertEqual([g["id"] for g in co.grants_page()["grants"]], ids)
        # Pages of two, in id order, each starting after the cursor.
        seen, query, pages = [], "?limit=2", 0
        while True:
            page = co.grants_page(query)
            pages += 1
            got = [g["id"] for g in page["grants"]]
            self.assertLessEqual(len(got), 2)
            seen += got
            if page["next"] is None:
                break
            self.assertEqual(page["next"], got[-1])
            query = "?limit=2&cursor=" + page["next"]
        self.assertEqual((seen, pages), (ids, 3))
        # A page that ends exactly at the last grant says so.
        self.assertIsNone(co.grants_page("?limit=5")["next"])
        self.assertEqual(co.grants_page("?limit=4")["next"], ids[3])
        # A cursor is a position: one past the last grant gives nothing.
        self.assertEqual(co.grants_page("?cursor=" + "z" * 22),
                         {"grants": [], "next": None})
        self.assertEqual([g["id"] for g in co.grants_page(
            "?cursor=" + "-" * 22)["grants"]], ids)
        for q in ("?limit=0", "?limit=1001", "?limit=abc", "?limit=",
                  "?limit=-1", "?limit=+2", "?limit=2x", "?cursor=short",
                  "?cursor=" + "A" * 23, "?cursor=" + "A" * 21 + "%21"):
            with self.subTest(q=q):
                self.assertProblem(self.b, self.b.request(
                    "GET", "/v1/company/grants" + q,
                    headers={"Authorization": co.authz}), 400,
                    "bad-request")
        # Paging does not reach another company's grants, not even with
        # one of their ids as the cursor: it is only a position.
        other = self.w.company("pager-other")
        theirs = self.alice.grant(other, ["read:language"])["id"]
        self.assertEqual(sorted(g["id"] for g in co.grants()), ids)
        page = co.grants_page("?cursor=" + theirs)
        self.assertEqual([g["id"] for g in page["grants"]],
                         [i for i in ids if i > theirs])
        self.assertNotIn(theirs.encode(), json.dumps(page).encode())


class GrantQuotaTests(OAuthTestCase):
    """What one account can make the store hold: at most --grant-max live
    grants, the newest --grant-max ended ones kept, and no more than
    --grant-create-max new grants within the throttle window."""

    broker_flags = BASE_FLAGS + ["--grant-max", "3",
                                 "--grant-create-max", "8"]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.w = WebWorld(cls.b)
        cls.acme = cls.w.company("acme", extra=("--redirect-uri", REDIRECT))
        cls.flow = CodeFlow(cls.acme, REDIRECT)

    def over_quota(self, resp):
        p = self.assertProblem(self.b, resp, 409, "quota-exceeded")
        self.assertIn("revoke one", p["detail"])

    def body(self, scopes=("read:language",)):
        return {"company": self.acme.id, "scopes": list(scopes),
                "purpose": "service", "expires_at": int(time.time()) + DAY}

    def test_live_grants_are_capped(self):
        alice = self.w.web_customer("alice")
        made = [alice.grant(self.acme, ["read:language"]) for _ in range(3)]
        trail = len(alice.audit_all())
        self.over_quota(alice.grant_raw(self.body()))
        # The consent screen meets the same quota, and says so.
        pairs, _ = self.flow.params("read:language")
        self.over_quota(self.flow.decide(alice, qs(pairs), "approve",
                                         ["read:language"]))
        # Refusals changed nothing.
        self.assertEqual(sorted(g["id"] for g in alice.grants_list()),
                         sorted(g["id"] for g in made))
        self.assertEqual(len(alice.audit_all()), trail)
        # Another account has its own quota.
        bob = self.w.customer("bob")
        bob.grant(self.acme, ["read:language"])
        # An ended grant frees its place, whichever way it is made.
        alice.revoke_grant(made[0]["id"])
        self.flow.code(alice, "read:language")
        self.over_quota(alice.grant_raw(self.body()))
        alice.revoke_grant(made[1]["id"])
        st, _, data = alice.grant_raw(self.body())
        self.assertEqual(st, 201, data)

    def test_concurrent_grants_cannot_pass_the_quota(self):
        import threading
        carol = self.w.customer("carol")
        seen, lock = [], threading.Lock()

        def attempt():
            st = carol.grant_raw(self.body())[0]
            with lock:
                seen.append(st)

        threads = [threading.Thread(target=attempt) for _ in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual(sorted(seen), [201] * 3 + [409] * 3, seen)
        self.assertEqual(len(carol.get_json("/v1/me/grants")["grants"]), 3)

    def test_oldest_ended_grants_are_erased(self):
        dave = self.w.customer("dave")
        first = dave.grant(self.acme, ["read:language"])
        tok = self.acme.tokens(first["id"])
        self.assertEqual(fetch(self.b, tok["access_token"])[0], 200)
        ended = [first] + [dave.grant(self.acme, ["read:diet"])
                           for _ in range(2)]
        dave.revoke_grant(first["id"])
        time.sleep(1.1)  # ends are kept to the second: make it the oldest
        for g in ended[1:]:
            dave.revoke_grant(g["id"])
        # Three ended: all kept.
        live = dave.grant(self.acme, ["read:sizes"])
        self.assertEqual(len(dave.get_json("/v1/me/grants")["grants"]), 4)
        dave.revoke_grant(live["id"])
        # A fourth ended one: the next grant erases the oldest.
        newest = dave.grant(self.acme, ["read:interests"])
        ids = [g["id"] for g in dave.get_json("/v1/me/grants")["grants"]]
        self.assertEqual(sorted(ids), sorted(
            [g["id"] for g in ended[1:]] + [live["id"], newest["id"]]))
        self.assertProblem(self.b, dave.call(
            "GET", "/v1/me/grants/" + first["id"]), 404, "not-found")
        self.assertProblem(self.b, dave.call(
            "DELETE", "/v1/me/grants/" + first["id"]), 404, "not-found")
        self.assertNotIn(first["id"], [g["id"] for g in self.acme.grants()])
        # Its tokens stay dead.
        self.assertBearerError(fetch(self.b, tok["access_token"]))
        self.assertOAuthError(self.acme.refresh(tok["refresh_token"]), 400,
                              "invalid_grant")
        # Its records in the trail stay.
        self.assertIn(first["id"], [i.get("grant") for i in dave.audit_all()])

    def test_grant_creation_is_rate_limited(self):
        erin = self.w.customer("erin")
        for _ in range(8):
            g = erin.grant(self.acme, ["read:language"])
            erin.revoke_grant(g["id"])
        resp = erin.grant_raw(self.body())
        self.assertProblem(self.b, resp, 429, "too-many-requests")
        self.assertGreater(int(resp[1].get("Retry-After")), 0)
        pairs, _ = self.flow.params("read:language")
        self.assertProblem(self.b, self.flow.decide(
            erin, qs(pairs), "approve", ["read:language"]), 429,
            "too-many-requests")
        # Others are not held back, and erin still reads and revokes.
        frank = self.w.customer("frank")
        frank.grant(self.acme, ["read:language"])
        # Three ended ones kept when the eighth was made, and the eighth.
        self.assertEqual(len(erin.get_json("/v1/me/grants")["grants"]), 4)


class AuditTests(OAuthTestCase):
    """The audit trail, the export and account deletion."""

    # A long trail comes from many token exchanges of one grant.
    broker_flags = BASE_FLAGS + ["--grant-token-max", "100000"]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.acme = cls.w.company("acme")
        cls.globex = cls.w.company("globex")

    def story(self, customer):
        """A grant, a token, a refresh, a fetch and a revocation; returns
        the grants and tokens involved."""
        g1 = customer.grant(self.acme, ["read:contact.email",
                                        "read:contact.fax"],
                            purpose="personalization")
        g2 = customer.grant(self.globex, ["read:language"])
        tok = self.acme.tokens(g1["id"])
        tok = json.loads(self.acme.refresh(tok["refresh_token"])[2])
        st, _, _ = fetch(self.b, tok["access_token"])
        assert st == 200, st
        customer.revoke_grant(g2["id"])
        return g1, g2, tok

    def test_audit_trail(self):
        cust = self.w.customer("audited", profile=PROFILE)
        g1, g2, tok = self.story(cust)
        items = cust.wait_audit(lambda i: i["kind"] == "profile.read")
        items = cust.audit_all()
        kinds = [i["kind"] for i in items]
        # Newest first.
        stamps = [i["ts"] for i in items]
        self.assertEqual(stamps, sorted(stamps, reverse=True))
        self.assertEqual(len({i["id"] for i in items}), len(items))
        self.assertEqual(kinds[-1], "session.created")
        self.assertLess(kinds.index("grant.revoked"),
                        kinds.index("grant.created"))
        self.assertLess(kinds.index("token.refreshed"),
                        kinds.index("token.issued"))

        def one(kind, **match):
            found = [i for i in items if i["kind"] == kind and
                     all(i.get(k) == v for k, v in match.items())]
            self.assertEqual(len(found), 1, (kind, match, items))
            return found[0]

        created = one("grant.created", grant=g1["id"])
        self.assertEqual(created["company"], self.acme.id)
        self.assertEqual(created["purpose"], "personalization")
        self.assertEqual(created["scopes"],
                         "read:contact.email read:contact.fax")
        one("grant.created", grant=g2["id"], company=self.globex.id)
        one("grant.revoked", grant=g2["id"], company=self.globex.id)
        issued = one("token.issued", grant=g1["id"])
        self.assertEqual(issued["company"], self.acme.id)
        one("token.refreshed", grant=g1["id"], company=self.acme.id)
        read = one("profile.read", grant=g1["id"])
        self.assertEqual(read["company"], self.acme.id)
        # The fields actually read: the missing one is not claimed.
        self.assertEqual(read["fields"], ["contact.email"])
        self.assertIsInstance(read["ts"], int)
        # No secret ever lands in the trail.
        text = json.dumps(items)
        for secret in (tok["access_token"], tok["refresh_token"],
                       self.acme.secret, cust.session, PASSWORD):
            self.assertNotIn(secret, text)

    def test_repeated_reads_are_counted(self):
        # Reads of the same fields by the same company under one grant,
        # close together, are filed as one record with their count; every
        # read is counted, none twice.
        cust = self.w.customer("repeated", profile=PROFILE)
        g = cust.grant(self.acme, ["read:contact.email"])
        tok = self.acme.tokens(g["id"])["access_token"]
        for _ in range(7):
            st, _, _ = fetch(self.b, tok)
            self.assertEqual(st, 200)

        def counted(items):
            return sum(i.get("count", 1) for i in items
                       if i["kind"] == "profile.read" and
                       i["grant"] == g["id"])

        wait_until(lambda: counted(cust.audit_all()) == 7, timeout=5.0,
                   interval=0.05)
        reads = [i for i in cust.audit_all()
                 if i["kind"] == "profile.read"]
        self.assertEqual(counted(reads), 7, reads)
        # Seven reads within a few milliseconds: at most a fold boundary
        # splits them, so some record stands for several.
        self.assertLessEqual(len(reads), 2, reads)
        many = [i for i in reads if i.get("count", 1) > 1][0]
        self.assertLessEqual(many["first_ts"], many["ts"])
        self.assertEqual(many["fields"], ["contact.email"])
        self.assertEqual(many["company"], self.acme.id)

    def test_audit_pagination(self):
        cust = self.w.customer("paged", profile=PROFILE)
        self.story(cust)
        cust.wait_audit(lambda i: i["kind"] == "profile.read")
        everything = cust.audit_all()
        self.assertGreaterEqual(len(everything), 7)
        page = cust.audit("?limit=2")
        self.assertEqual(set(page), {"items", "next"})
        self.assertEqual(page["items"], everything[:2])
        self.assertIsInstance(page["next"], str)
        pages, cursor = [], None
        while True:
            q = "?limit=2" + ("&cursor=" + cursor if cursor else "")
            p = cust.audit(q)
            self.assertLessEqual(len(p["items"]), 2)
            pages.append(p["items"])
            cursor = p["next"]
            if cursor is None:
                break
        self.assertEqual([i for p in pages for i in p], everything)
        self.assertEqual(len(pages), (len(everything) + 1) // 2)
        self.assertTrue(all(pages))
        # A page as large as the trail has no next.
        self.assertIsNone(cust.audit("?limit=%d" % len(everything))["next"])
        for q in ("?limit=0", "?limit=201", "?limit=x", "?limit=",
                  "?limit=-1", "?cursor=zz", "?cursor=" + "g" * 24):
            with self.subTest(query=q):
                self.assertProblem(self.b, cust.call("GET", "/v1/me/audit" + q),
                                   400, "bad-request")
        # Another customer's cursor reads nothing of this trail.
        other = self.w.customer("other")
        p = other.audit("?limit=200&cursor=" + page["next"])
        ids = {i["id"] for i in everything}
        self.assertFalse(ids & {i["id"] for i in p["items"]})

    def test_audit_isolation(self):
        a = self.w.customer("iso-a", profile=PROFILE)
        b = self.w.customer("iso-b")
        g1, _, _ = self.story(a)
        a.wait_audit(lambda i: i["kind"] == "profile.read")
        text = json.dumps(b.audit_all())
        self.assertNotIn(g1["id"], text)
        self.assertEqual([i["kind"] for i in b.audit_all()],
                         ["session.created"])

    def test_export(self):
        cust = self.w.customer("exported", profile=PROFILE)
        self.story(cust)
        cust.wait_audit(lambda i: i["kind"] == "profile.read")
        st, h, data = cust.call("GET", "/v1/me/export")
        self.assertEqual(st, 200, data)
        self.assertEqual(h.get("Cache-Control"), "no-store")
        self.assertIn("attachment", h.get("Content-Disposition", ""))
        doc = json.loads(data)
        self.assertEqual(set(doc), {"customer", "profile", "grants", "audit",
                                    "exported_at"})
        self.assertEqual(doc["customer"]["id"], cust.id)
        self.assertEqual(doc["customer"]["login"], cust.login)
        self.assertIsInstance(doc["customer"]["created_at"], int)
        self.assertEqual(doc["profile"], PROFILE)
        self.assertEqual(doc["grants"], cust.get_json("/v1/me/grants")["grants"])
        self.assertEqual(len(doc["grants"]), 2)
        self.assertEqual(doc["audit"], cust.audit_all())
        self.assertLessEqual(abs(doc["exported_at"] - time.time()), 5)
        for secret in (PASSWORD, cust.session, self.acme.secret):
            self.assertNotIn(secret, data.decode())
        self.assertNotIn("hash", json.dumps(doc["customer"]))

    def test_long_trail_is_streamed(self):
        # More than two pages of trail: the export streams them, chunked,
        # and the document is the trail exactly, in order.
        cust = self.w.customer("chatty", profile=PROFILE)
        g = cust.grant(self.acme, ["read:language"])
        with Connection(self.b) as c:
            for _ in range(450):
                st, _, data = c.request("POST", "/oauth/token", headers={
                    "Authorization": self.acme.authz,
                    "Content-Type": "application/x-www-form-urlencoded"},
                    body="grant_type=" + urllib.parse.quote(GRANT_TYPE) +
                    "&grant_id=" + g["id"])
                self.assertEqual(st, 200, data)
        trail = cust.audit_all()
        self.assertGreater(len(trail), 450)
        pat = re.compile(r'"GET /v1/me/export" 200 (\d+) ')
        logged = len(pat.findall(self.b.read_access_log()))
        st, h, data = cust.call("GET", "/v1/me/export")
        self.assertEqual(st, 200, data)
        self.assertEqual(h.get("Transfer-Encoding"), "chunked")
        self.assertIsNone(h.get("Content-Length"))
        doc = json.loads(data)
        self.assertEqual(doc["audit"], trail)
        self.assertEqual(doc["grants"], [cust.get_json(
            "/v1/me/grants/" + g["id"])])
        self.assertEqual(list(doc), ["customer", "profile", "grants",
                                     "audit", "exported_at"])
        # The access log counts the bytes as the stream hands them out.
        sent = wait_until(lambda: pat.findall(self.b.read_access_log())
                          [logged:], timeout=2.0)
        self.assertEqual([int(n) for n in sent or []], [len(data)])

    def test_export_cut_when_the_account_is_erased(self):
        # Deleting the account while its export is on its way: the rest of
        # the trail is gone, and the transfer must not end as if whole.
        cust = self.w.customer("vanishing")
        long_trail(self.b, self.acme, cust, 3000)
        sip = Sip(self.b, "/v1/me/export", cust.session)
        self.assertTrue(sip.started.wait(5))
        other = self.w.c.token(cust.login)  # the export's session goes too
        st, _, data = self.b.request("DELETE", "/v1/me", headers={
            "Authorization": "Bearer " + other})
        self.assertEqual(st, 204, data)
        body = sip.body()
        self.assertIn(b"200 OK", body[:64])
        self.assertGreater(len(body), 100000)
        self.assertNotIn(b"\r\n0\r\n\r\n", body)  # no last chunk

    def test_delete_account(self):
        cust = self.w.customer("leaving", profile=PROFILE)
        g1 = cust.grant(self.acme, ["read:contact.email"])
        g2 = cust.grant(self.globex, ["read:language"])
        t1 = self.acme.tokens(g1["id"])
        t2 = self.globex.tokens(g2["id"])
        for t in (t1, t2):  # verified and cached
            for _ in range(2):
                self.assertEqual(fetch(self.b, t["access_token"])[0], 200)
        other_session = self.w.c.token(cust.login)
        bystander = self.w.customer("stays", profile=PROFILE)
        gb = bystander.grant(self.acme, ["read:language"])
        tb = self.acme.tokens(gb["id"])

        st, _, data = cust.call("DELETE", "/v1/me")
        self.assertEqual(st, 204, data)
        # Every company's next fetch fails, and nothing new is issued.
        for co, t, g in ((self.acme, t1, g1), (self.globex, t2, g2)):
            with self.subTest(company=co.id):
                self.assertBearerError(fetch(self.b, t["access_token"]))
                self.assertOAuthError(co.refresh(t["refresh_token"]), 400,
                                      "invalid_grant")
                self.assertOAuthError(co.token(g["id"]), 400, "invalid_grant")
                self.assertEqual(co.introspect(t["access_token"]),
                                 {"active": False})
                self.assertEqual(co.introspect(t["refresh_token"]),
                                 {"active": False})
                for listed in co.grants():
                    if listed["id"] == g["id"]:
                        self.assertNotEqual(listed["state"], "active")
        # The sessions and the log-in are gone.
        for session in (cust.session, other_session):
            st, _, _ = self.b.request("GET", "/v1/me/profile", headers={
                "Authorization": "Bearer " + session})
            self.assertEqual(st, 401)
        self.assertEqual(self.w.c.login(cust.login)[0], 401)
        # Nobody else is affected.
        self.assertEqual(fetch(self.b, tb["access_token"])[0], 200)
        self.assertEqual(bystander.get_json("/v1/me/profile"), PROFILE)
        # The login can be taken again: a new, empty account that a
        # company cannot link to the old one.
        st, _, data = self.w.c.register(cust.login)
        self.assertEqual(st, 201, data)
        new_id = json.loads(data)["id"]
        self.assertNotEqual(new_id, cust.id)
        cust.session = self.w.c.token(cust.login)
        self.assertEqual(cust.get_json("/v1/me/profile"), {})
        self.assertEqual(cust.get_json("/v1/me/grants"), {"grants": []})
        self.assertEqual([i["kind"] for i in cust.audit_all()],
                         ["session.created"])
        self.assertNotEqual(pairwise_sub(self.b, new_id, self.acme.id),
                            pairwise_sub(self.b, cust.id, self.acme.id))
