"""Signing-key rotation while the daemon serves: ccx-admin keys
list/rotate/retire, the JWKS, which key signs, retiring refused while a
key may verify a live token, forced retirement killing its tokens (cached
ones too), and a fetch loop that sees no failure across a rotation."""

import base64
import json
import threading
import time
import unittest

from harness import Broker, t, wait_until
from test_customer_accounts import FAST, JSON, Customer

PW = "correct horse battery"


def kid_of(token):
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"]


# How long a rotated key waits before it signs: one second, longer under
# valgrind, where a rotation and the next token take about that long.
MAX_AGE = max(1, int(t(1)))


class KeyRotationTests(unittest.TestCase):
    def setUp(self):
        self.b = Broker(flags=FAST + ["--jwks-max-age", str(MAX_AGE),
                                      "--token-lifetime", "3",
                                      "--signup-max", "1000",
                                      "--grant-token-max", "100000"])
        out = self.b.admin("company", "add", "keyco", "--name", "Key Co")
        self.secret = json.loads(out.stdout)["client_secret"]
        c = Customer(self.b)
        self.assertEqual(c.register("key-owner")[0], 201)
        sess = c.token("key-owner")
        st, _, data = c.as_(sess, "POST", "/v1/me/grants", JSON, json.dumps({
            "company": "keyco", "scopes": ["read:language"],
            "purpose": "service", "expires_at": int(time.time()) + 86400,
        }).encode())
        self.assertEqual(st, 201, data)
        self.grant = json.loads(data)["id"]

    def tearDown(self):
        self.b.cleanup()

    def token(self):
        auth = base64.b64encode(("keyco:" + self.secret).encode()).decode()
        st, _, data = self.b.request(
            "POST", "/oauth/token",
            {"Authorization": "Basic " + auth,
             "Content-Type": "application/x-www-form-urlencoded"},
            ("grant_type=urn%3Accx%3Aparams%3Aoauth%3Agrant-type%3Agrant"
             "&grant_id=" + self.grant).encode())
        self.assertEqual(st, 200, data)
        return json.loads(data)["access_token"]

    def fetch(self, token):
        return self.b.request("GET", "/v1/profile",
                              {"Authorization": "Bearer " + token})[0]

    def jwks_kids(self):
        st, h, data = self.b.request("GET", "/.well-known/jwks.json")
        self.assertEqual(st, 200)
        self.assertEqual(h.get("Cache-Control"),
                         "public, max-age=%d" % MAX_AGE)
        return [k["kid"] for k in json.loads(data)["keys"]]

    def keys(self, *args, check=True):
        return self.b.admin("keys", *args, check=check)

    def test_rotate_publishes_then_signs(self):
        first = kid_of(self.token())
        listed = json.loads(self.keys("list").stdout)
        self.assertEqual([(k["kid"], k["signing"]) for k in listed],
                         [(first, True)])
        t0 = time.time()
        new = json.loads(self.keys("rotate").stdout)["kid"]
        # Published at once, signing only once the JWKS cache lifetime
        # has passed (a second more: times are whole seconds).
        self.assertEqual(sorted(self.jwks_kids()), sorted([first, new]))
        self.assertEqual(kid_of(self.token()), first)
        self.assertTrue(wait_until(lambda: kid_of(self.token()) == new,
                                   timeout=MAX_AGE + 3, interval=0.1))
        self.assertGreaterEqual(time.time() - t0, MAX_AGE)
        rows = {k["kid"]: k for k in json.loads(self.keys("list").stdout)}
        self.assertTrue(rows[new]["signing"])
        self.assertFalse(rows[first]["signing"])

    def test_rotate_now_signs_at_once(self):
        old_token = self.token()
        new = json.loads(self.keys("rotate", "--now").stdout)["kid"]
        self.assertEqual(kid_of(self.token()), new)
        # Tokens of the previous key keep working until they expire.
        self.assertEqual(self.fetch(old_token), 200)

    def test_retire_refused_while_live_tokens_may_exist(self):
        first_token = self.token()
        first = kid_of(first_token)
        # The signing key itself.
        p = self.keys("retire", first, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("may still verify", p.stderr)
        self.keys("rotate", "--now")
        # Superseded, but its tokens live for up to the token lifetime.
        p = self.keys("retire", first, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(self.fetch(first_token), 200)
        self.assertIn(first, self.jwks_kids())
        time.sleep(3.2)
        p = self.keys("retire", first)
        self.assertEqual(json.loads(p.stdout)["state"], "retired")
        self.assertNotIn(first, self.jwks_kids())

    def test_forced_retire_kills_its_tokens_even_cached(self):
        old = self.token()
        first = kid_of(old)
        # Cached on its second use, and its check of access reused on the
        # third (test_cache_safety proves the counting).
        for _ in range(3):
            self.assertEqual(self.fetch(old), 200)
        self.keys("rotate", "--now")
        self.keys("retire", first, "--force")
        st, h, _ = self.b.request("GET", "/v1/profile",
                                  {"Authorization": "Bearer " + old})
        self.assertEqual(st, 401)
        self.assertIn('error="invalid_token"', h.get("WWW-Authenticate"))
        self.assertEqual(self.fetch(self.token()), 200)
        st, _, data = self.b.request(
            "POST", "/oauth/introspect",
            {"Authorization": "Basic " + base64.b64encode(
                ("keyco:" + self.secret).encode()).decode(),
             "Content-Type": "application/x-www-form-urlencoded"},
            ("token=" + old).encode())
        self.assertEqual(json.loads(data), {"active": False})

    def test_bad_commands(self):
        for args in (("retire",), ("retire", "no-such-kid"), ("nonsense",),
                     ("rotate", "--force"), ("list", "extra")):
            with self.subTest(args=args):
                p = self.keys(*args, check=False)
                self.assertNotEqual(p.returncode, 0)
                self.assertEqual(p.stdout, "")

    def test_no_failure_across_rotation_under_load(self):
        token = self.token()
        errors, count = [], [0]
        stop = threading.Event()

        def loop():
            tok = token
            while not stop.is_set():
                st = self.fetch(tok)
                count[0] += 1
                if st != 200:
                    errors.append(st)
                tok = self.token() if count[0] % 5 == 0 else tok

        th = threading.Thread(target=loop)
        th.start()
        try:
            time.sleep(0.3)
            self.keys("rotate")
            time.sleep(MAX_AGE + 0.5)
            self.keys("rotate", "--now")
            time.sleep(0.5)
        finally:
            stop.set()
            th.join()
        self.assertGreater(count[0], 20)
        self.assertEqual(errors, [])


if __name__ == "__main__":
    unittest.main()
