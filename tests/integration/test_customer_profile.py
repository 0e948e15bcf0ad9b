"""The customer's profile over TLS: ETags, If-Match/If-None-Match, PUT,
RFC 7396 merge patch, validation, isolation between customers,
durability across kill -9, and a full map answering 507 with earlier data
intact."""

import json
import threading
import unittest

from harness import Broker, problem
from test_customer_accounts import FAST, JSON, Customer

MERGE = {"Content-Type": "application/merge-patch+json"}


def dump(obj):
    return json.dumps(obj).encode()


class ProfileTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.broker = Broker(flags=FAST + ["--signup-max", "1000"])
        cls.c = Customer(cls.broker)

    @classmethod
    def tearDownClass(cls):
        cls.broker.cleanup()

    def session(self, login):
        self.assertEqual(self.c.register(login)[0], 201)
        return self.c.token(login)

    def get(self, tok, headers=None):
        return self.c.as_(tok, "GET", "/v1/me/profile", headers)

    def put(self, tok, doc, etag, method="PUT", ctype=JSON):
        h = dict(ctype)
        if etag is not None:
            h["If-Match"] = etag
        data = doc if isinstance(doc, bytes) else dump(doc)
        return self.c.as_(tok, method, "/v1/me/profile", h, data)

    def etag(self, tok):
        st, h, _ = self.get(tok)
        self.assertEqual(st, 200)
        return h.get("ETag")

    def assertProblem(self, resp, status, slug):
        st, _, data = resp
        self.assertEqual(st, status, data)
        p = problem(data)
        self.assertTrue(p["type"].endswith("/problems/" + slug), p)
        return p

    def test_new_profile_is_empty_with_strong_etag(self):
        tok = self.session("p-empty")
        st, h, data = self.get(tok)
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(data), {})
        etag = h.get("ETag")
        self.assertTrue(etag.startswith('"') and etag.endswith('"'), etag)
        self.assertEqual(h.get("Content-Type"), "application/json")
        st, h2, data = self.get(tok, {"If-None-Match": etag})
        self.assertEqual(st, 304)
        self.assertEqual(data, b"")
        self.assertEqual(h2.get("ETag"), etag)
        self.assertEqual(self.get(tok, {"If-None-Match": '"other"'})[0], 200)

    def test_put_requires_current_if_match(self):
        tok = self.session("p-ifmatch")
        etag = self.etag(tok)
        doc = {"language": "en-GB"}
        self.assertProblem(self.put(tok, doc, None), 428,
                           "precondition-required")
        self.assertProblem(self.put(tok, doc, '"stale"'), 412,
                           "precondition-failed")
        # A weak tag never satisfies If-Match.
        self.assertProblem(self.put(tok, doc, "W/" + etag), 412,
                           "precondition-failed")
        st, h, data = self.put(tok, doc, etag)
        self.assertEqual(st, 200, data)
        self.assertEqual(json.loads(data), doc)
        new = h.get("ETag")
        self.assertNotEqual(new, etag)
        # The old tag is stale now.
        self.assertProblem(self.put(tok, {"language": "fr"}, etag), 412,
                           "precondition-failed")
        st, h, data = self.get(tok)
        self.assertEqual(json.loads(data), doc)
        self.assertEqual(h.get("ETag"), new)

    def test_merge_patch(self):
        tok = self.session("p-patch")
        full = {"identity": {"name": "Ada Lovelace", "pronouns": "she/her"},
                "communication": {"channels": ["email", "sms"],
                                  "quiet_hours": {"start": "22:00",
                                                  "end": "07:00",
                                                  "tz": "Europe/London"}},
                "diet": {"vegetarian": True, "allergies": ["peanuts"]},
                "hobbies": {"chess": True}}
        st, h, _ = self.put(tok, full, self.etag(tok))
        self.assertEqual(st, 200)
        patch = {"identity": {"pronouns": None},
                 "communication": {"channels": ["post"]},
                 "hobbies": None, "language": "en"}
        st, h, data = self.put(tok, patch, h.get("ETag"), "PATCH", MERGE)
        self.assertEqual(st, 200, data)
        want = {"identity": {"name": "Ada Lovelace"},
                "communication": {"channels": ["post"],
                                  "quiet_hours": {"start": "22:00",
                                                  "end": "07:00",
                                                  "tz": "Europe/London"}},
                "diet": {"vegetarian": True, "allergies": ["peanuts"]},
                "language": "en"}
        self.assertEqual(json.loads(data), want)
        self.assertEqual(json.loads(self.get(tok)[2]), want)
        # PATCH wants the merge-patch media type; PUT plain JSON.
        self.assertProblem(self.put(tok, {"language": "de"},
                                    h.get("ETag"), "PATCH", JSON),
                           415, "unsupported-media-type")
        self.assertProblem(self.put(tok, {"language": "de"}, self.etag(tok),
                                    "PUT", MERGE),
                           415, "unsupported-media-type")

    def test_invalid_profiles_change_nothing(self):
        tok = self.session("p-invalid")
        good = {"contact": {"email": "ada@example.org"}}
        st, h, _ = self.put(tok, good, self.etag(tok))
        self.assertEqual(st, 200)
        etag = h.get("ETag")
        cases = [
            ({"contact": {"email": "not-an-email"}}, "contact.email"),
            ({"contact": {"phone": "0044 20 7946"}}, "contact.phone"),
            ({"communication": {"channels": ["fax"]}}, "channels"),
            ({"communication": {"frequency": "hourly"}}, "frequency"),
            ({"communication": {"quiet_hours": {"start": "25:00",
                                                "end": "07:00",
                                                "tz": "UTC"}}},
             "quiet_hours"),
            ({"language": "english"}, "language"),
            ({"diet": {"vegan": "yes"}}, "diet.vegan"),
            ({"identity": {"nickname": "x"}}, "identity"),
            ({"Bad-Key": 1}, "Bad-Key"),
            ({"custom": [{"nested": "object"}]}, "custom"),
            ({"custom": None}, "custom"),
        ]
        for doc, where in cases:
            with self.subTest(doc=doc):
                p = self.assertProblem(self.put(tok, doc, etag), 400,
                                       "invalid-profile")
                self.assertIn(where, p["detail"])
        self.assertProblem(self.put(tok, b"[1,2]", etag), 400,
                           "invalid-profile")
        self.assertProblem(self.put(tok, b'{"a":1,"a":2}', etag), 400,
                           "invalid-json")
        deep = b'{"a":' * 40 + b'1' + b'}' * 40
        self.assertProblem(self.put(tok, deep, etag), 400, "json-limit")
        # A patch that makes the result invalid is refused whole.
        self.assertProblem(self.put(tok, {"contact": {"email": "x@"},
                                          "language": "en"},
                                    etag, "PATCH", MERGE),
                           400, "invalid-profile")
        st, h, data = self.get(tok)
        self.assertEqual(json.loads(data), good)
        self.assertEqual(h.get("ETag"), etag)

    def test_customers_never_see_each_other(self):
        alice = self.session("p-alice")
        bob = self.session("p-bob")
        secret = {"contact": {"email": "alice@example.org"}}
        st, h, _ = self.put(alice, secret, self.etag(alice))
        self.assertEqual(st, 200)
        alice_etag = h.get("ETag")
        st, _, data = self.get(bob)
        self.assertEqual(json.loads(data), {})
        # Bob cannot write Alice's profile even with her ETag.
        self.assertEqual(self.put(bob, {"language": "en"}, alice_etag)[0],
                         412)
        self.assertEqual(json.loads(self.get(alice)[2]), secret)

    def test_racing_writers_one_wins(self):
        tok = self.session("p-race")
        etag = self.etag(tok)
        results = []

        def writer(i):
            results.append(self.put(tok, {"language": "en", "n": {"i": i}},
                                    etag)[0])

        threads = [threading.Thread(target=writer, args=(i,))
                   for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(sorted(results), [200] + [412] * 7)


class LimitTests(unittest.TestCase):
    def tearDown(self):
        self.broker.cleanup()

    def test_body_cap(self):
        self.broker = Broker(flags=FAST + ["--max-body", "1024"])
        c = Customer(self.broker)
        c.register("p-cap")
        tok = c.token("p-cap")
        st, h, _ = c.as_(tok, "GET", "/v1/me/profile")
        big = dump({"notes": {"text": "x" * 2000}})
        st, _, data = c.as_(tok, "PUT", "/v1/me/profile",
                             dict(JSON, **{"If-Match": h.get("ETag")}), big)
        self.assertEqual(st, 413, data)
        self.assertEqual(json.loads(c.as_(tok, "GET", "/v1/me/profile")[2]),
                         {})

    def test_acknowledged_write_survives_kill_9(self):
        self.broker = Broker(flags=FAST)
        c = Customer(self.broker)
        c.register("p-durable")
        tok = c.token("p-durable")
        doc = {"language": "nl", "interests": ["sailing", "chess"]}
        st, h, _ = c.as_(tok, "GET", "/v1/me/profile")
        st, h, _ = c.as_(tok, "PUT", "/v1/me/profile",
                         dict(JSON, **{"If-Match": h.get("ETag")}), dump(doc))
        self.assertEqual(st, 200)
        etag = h.get("ETag")
        self.broker.kill9()
        self.broker.start()
        st, h, data = c.as_(tok, "GET", "/v1/me/profile")
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(data), doc)
        self.assertEqual(h.get("ETag"), etag)

    def test_full_map_answers_507_and_keeps_data(self):
        self.broker = Broker(flags=FAST + ["--map-size", "1048576",
                                           "--signup-max", "1000"])
        c = Customer(self.broker)
        section = {"k%03d" % i: "v" * 1000 for i in range(60)}
        stored = {}
        status = None
        for n in range(40):
            login = "full-%02d" % n
            st = c.register(login)[0]
            if st != 201:
                status = st
                break
            tok = c.token(login)
            st, h, _ = c.as_(tok, "GET", "/v1/me/profile")
            st, h, data = c.as_(tok, "PUT", "/v1/me/profile",
                                dict(JSON, **{"If-Match": h.get("ETag")}),
                                dump({"notes": section}))
            if st != 200:
                status = st
                p = problem(data)
                self.assertTrue(p["type"].endswith("/insufficient-storage"))
                break
            stored[login] = tok
        self.assertEqual(status, 507)
        self.assertGreater(len(stored), 3)
        # Reads go on, and every acknowledged profile is intact.
        self.assertEqual(self.broker.request("GET", "/healthz")[0], 200)
        for login, tok in stored.items():
            st, _, data = c.as_(tok, "GET", "/v1/me/profile")
            self.assertEqual(st, 200)
            self.assertEqual(json.loads(data), {"notes": section})


if __name__ == "__main__":
    unittest.main()
