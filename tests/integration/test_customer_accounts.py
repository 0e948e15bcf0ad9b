"""Customer accounts over TLS: sign-up, log-in, sessions, log-out,
password change, throttling, and that one customer's session never
reaches another's data."""

import json
import time
import unittest

from harness import Broker, problem

# The test-only KDF cost: the production cost is ~70 ms a hash.
FAST = ["--kdf-memory", "64", "--kdf-time", "1"]
JSON = {"Content-Type": "application/json"}
PASSWORD = "correct horse battery"


def body(obj):
    return json.dumps(obj).encode()


class Customer:
    """Helpers bound to one broker."""

    def __init__(self, broker):
        self.b = broker

    def register(self, login, password=PASSWORD):
        return self.b.request("POST", "/v1/customers", headers=JSON,
                              body=body({"login": login, "password": password}))

    def login(self, login, password=PASSWORD):
        return self.b.request("POST", "/v1/sessions", headers=JSON,
                              body=body({"login": login, "password": password}))

    def token(self, login, password=PASSWORD):
        status, _, data = self.login(login, password)
        assert status == 201, (status, data)
        return json.loads(data)["session"]

    def as_(self, token, method, path, headers=None, data=None):
        h = {"Authorization": "Bearer " + token}
        h.update(headers or {})
        return self.b.request(method, path, headers=h, body=data)


class AccountTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.broker = Broker(flags=FAST + ["--login-max-failures", "3",
                                          "--signup-max", "1000",
                                          "--ip-max-failures", "1000"])
        cls.c = Customer(cls.broker)

    @classmethod
    def tearDownClass(cls):
        cls.broker.cleanup()

    def assertProblem(self, resp, status, slug):
        st, headers, data = resp
        self.assertEqual(st, status, data)
        self.assertEqual(headers.get("Content-Type"),
                         "application/problem+json")
        p = problem(data)
        self.assertEqual(p["status"], status)
        self.assertTrue(p["type"].endswith("/problems/" + slug), p)
        return p

    # ---- sign-up -----------------------------------------------------------

    def test_register_creates_account(self):
        st, h, data = self.c.register("Reg.One@Example.com")
        self.assertEqual(st, 201, data)
        doc = json.loads(data)
        self.assertEqual(doc["login"], "reg.one@example.com")
        self.assertEqual(len(doc["id"]), 22)
        self.assertNotIn(PASSWORD, data.decode())
        self.assertEqual(h.get("Cache-Control"), "no-store")

    def test_register_taken_login_is_409(self):
        self.assertEqual(self.c.register("dup-user")[0], 201)
        self.assertProblem(self.c.register("dup-user"), 409, "conflict")
        # Logins are case-insensitive.
        self.assertProblem(self.c.register("DUP-User"), 409, "conflict")

    def test_register_bad_input(self):
        b = self.broker
        cases = [
            (body({"login": "ab", "password": PASSWORD}), 400,
             "invalid-login"),
            (body({"login": "has space", "password": PASSWORD}), 400,
             "invalid-login"),
            (body({"login": "weakling", "password": "short"}), 400,
             "weak-password"),
            (body({"login": "weakling", "password": "password1234"}), 400,
             "weak-password"),
            (body({"login": "weakling", "password": "i am weakling!!"}), 400,
             "weak-password"),
            (body({"login": "nopass"}), 400, "bad-request"),
            (body({"login": "extra", "password": PASSWORD, "admin": "1"}),
             400, "bad-request"),
            (body({"login": 12345, "password": PASSWORD}), 400,
             "bad-request"),
            (body(["login", "password"]), 400, "bad-request"),
            (b'{"login":"x1x","login":"x2x","password":"pw pw pw pw pw"}',
             400, "invalid-json"),
            (b'{"login": "trunc', 400, "invalid-json"),
            (b'', 400, "invalid-json"),
        ]
        for data, status, slug in cases:
            with self.subTest(data=data):
                self.assertProblem(b.request("POST", "/v1/customers",
                                             headers=JSON, body=data),
                                   status, slug)
        self.assertProblem(b.request("POST", "/v1/customers",
                                     headers={"Content-Type": "text/plain"},
                                     body=body({"login": "textplain",
                                                "password": PASSWORD})),
                           415, "unsupported-media-type")
        # Nothing of the refused sign-ups exists.
        self.assertProblem(self.c.login("weakling", "short"), 401,
                           "unauthorized")

    # ---- log-in ------------------------------------------------------------

    def test_login_returns_session(self):
        self.c.register("login-ok")
        st, _, data = self.c.login("LOGIN-OK")
        self.assertEqual(st, 201, data)
        doc = json.loads(data)
        self.assertEqual(len(doc["session"]), 43)
        self.assertGreater(doc["expires_at"], time.time())
        self.assertIn("idle_timeout", doc)
        # Two log-ins, two different sessions.
        self.assertNotEqual(doc["session"], self.c.token("login-ok"))

    def test_unknown_login_and_wrong_password_look_the_same(self):
        self.c.register("same-answer")
        a = self.c.login("same-answer", "not the password at all")
        b = self.c.login("no-such-user", "not the password at all")
        self.assertEqual(a[0], 401)
        self.assertEqual(b[0], 401)
        self.assertEqual(a[2], b[2])
        self.assertEqual(sorted(k.lower() for k, _ in a[1].items()
                                if k.lower() != "date"),
                         sorted(k.lower() for k, _ in b[1].items()
                                if k.lower() != "date"))

    def test_failed_logins_are_throttled_per_account(self):
        self.c.register("throttled")
        self.c.register("bystander")
        for _ in range(3):
            self.assertEqual(self.c.login("throttled", "wrong password!!")[0],
                             401)
        st, h, data = self.c.login("throttled")  # even the right password
        self.assertProblem((st, h, data), 429, "too-many-requests")
        self.assertGreater(int(h.get("Retry-After")), 0)
        # Another account from the same address is not affected.
        self.assertEqual(self.c.login("bystander")[0], 201)

    def test_password_guesses_at_the_change_are_throttled(self):
        # A wrong current password is a failed log-in of that account: the
        # same counter, the same 429, for the change and the log-in alike.
        # A right one is not counted, and another account is unaffected.
        self.c.register("pw-guessed")
        self.c.register("pw-bystander")
        tok = self.c.token("pw-guessed")
        other = self.c.token("pw-bystander")

        def change(token, cur, new="an entirely new passphrase"):
            return self.c.as_(token, "PUT", "/v1/me/password", JSON,
                              body({"current": cur, "new": new}))

        self.assertEqual(change(tok, PASSWORD, PASSWORD + " 2")[0], 204)
        for _ in range(3):
            self.assertProblem(change(tok, "wrong current pw"), 403,
                               "wrong-password")
        st, h, data = change(tok, PASSWORD + " 2")  # even the right one
        self.assertProblem((st, h, data), 429, "too-many-requests")
        self.assertGreater(int(h.get("Retry-After")), 0)
        self.assertProblem(self.c.login("pw-guessed", PASSWORD + " 2"), 429,
                           "too-many-requests")
        self.assertEqual(change(other, PASSWORD)[0], 204)

    def test_concurrent_failed_logins_are_throttled_too(self):
        # Wrong passwords sent all at once: each attempt is counted before
        # its password is checked, so no more than the limit get checked.
        import threading
        self.c.register("racer")
        seen, lock = [], threading.Lock()

        def attempt():
            st = self.c.login("racer", "wrong password!!")[0]
            with lock:
                seen.append(st)

        threads = [threading.Thread(target=attempt) for _ in range(12)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual(sorted(set(seen)), [401, 429], seen)
        self.assertEqual(seen.count(401), 3, seen)
        self.assertProblem(self.c.login("racer"), 429, "too-many-requests")

    # ---- sessions ----------------------------------------------------------

    def test_profile_needs_a_live_session(self):
        b = self.broker
        st, h, _ = b.request("GET", "/v1/me/profile")
        self.assertEqual(st, 401)
        self.assertIn("Bearer", h.get("WWW-Authenticate"))
        for bad in ["", "Bearer", "Bearer ", "Bearer nope", "Basic abc",
                    "Bearer " + "A" * 43, "Bearer " + "x" * 300]:
            with self.subTest(authorization=bad):
                self.assertProblem(b.request(
                    "GET", "/v1/me/profile",
                    headers={"Authorization": bad}), 401, "unauthorized")

    def test_logout_current_ends_only_that_session(self):
        self.c.register("logout-one")
        t1 = self.c.token("logout-one")
        t2 = self.c.token("logout-one")
        st, _, data = self.c.as_(t1, "DELETE", "/v1/sessions/current")
        self.assertEqual(st, 204, data)
        self.assertEqual(data, b"")
        self.assertProblem(self.c.as_(t1, "GET", "/v1/me/profile"), 401,
                           "unauthorized")
        self.assertProblem(self.c.as_(t1, "DELETE", "/v1/sessions/current"),
                           401, "unauthorized")
        self.assertEqual(self.c.as_(t2, "GET", "/v1/me/profile")[0], 200)

    def test_logout_everywhere(self):
        self.c.register("logout-all")
        self.c.register("logout-other")
        t1 = self.c.token("logout-all")
        t2 = self.c.token("logout-all")
        other = self.c.token("logout-other")
        self.assertEqual(self.c.as_(t1, "DELETE", "/v1/sessions")[0], 204)
        for t in (t1, t2):
            self.assertProblem(self.c.as_(t, "GET", "/v1/me/profile"), 401,
                               "unauthorized")
        # Another customer's session lives on.
        self.assertEqual(self.c.as_(other, "GET", "/v1/me/profile")[0], 200)
        # Logging in again works.
        self.assertEqual(self.c.login("logout-all")[0], 201)

    def test_password_change(self):
        self.c.register("pw-change")
        keep = self.c.token("pw-change")
        other = self.c.token("pw-change")
        new = "an entirely new passphrase"

        def change(cur, nw, token=keep):
            return self.c.as_(token, "PUT", "/v1/me/password", JSON,
                              body({"current": cur, "new": nw}))

        self.assertProblem(change("wrong current pw", new), 403, "wrong-password")
        self.assertProblem(change(PASSWORD, "short"), 400, "weak-password")
        self.assertProblem(change(PASSWORD, "my pw-change is"), 400,
                           "weak-password")
        self.assertProblem(self.c.as_(keep, "PUT", "/v1/me/password", JSON,
                                      body({"current": PASSWORD})),
                           400, "bad-request")
        # Refused attempts changed nothing.
        self.assertEqual(self.c.as_(other, "GET", "/v1/me/profile")[0], 200)
        st, _, data = change(PASSWORD, new)
        self.assertEqual(st, 204, data)
        # This session stays, every other one ends.
        self.assertEqual(self.c.as_(keep, "GET", "/v1/me/profile")[0], 200)
        self.assertProblem(self.c.as_(other, "GET", "/v1/me/profile"), 401,
                           "unauthorized")
        self.assertProblem(self.c.login("pw-change"), 401, "unauthorized")
        self.assertEqual(self.c.login("pw-change", new)[0], 201)
        # Without a session there is no password change at all.
        self.assertProblem(self.broker.request(
            "PUT", "/v1/me/password", headers=JSON,
            body=body({"current": new, "new": PASSWORD + "!"})),
            401, "unauthorized")

    def test_session_routes_refuse_other_methods(self):
        st, h, _ = self.broker.request("GET", "/v1/sessions")
        self.assertEqual(st, 405)
        self.assertIn("POST", h.get("Allow"))
        self.assertIn("DELETE", h.get("Allow"))


class ThrottleTests(unittest.TestCase):
    """Limits per address, each with its own daemon (all tests share
    127.0.0.1)."""

    def tearDown(self):
        self.broker.cleanup()

    def test_signups_per_address(self):
        self.broker = Broker(flags=FAST + ["--signup-max", "2"])
        c = Customer(self.broker)
        self.assertEqual(c.register("first-one")[0], 201)
        self.assertEqual(c.register("second-one")[0], 201)
        st, h, data = c.register("third-one")
        self.assertEqual(st, 429, data)
        self.assertGreater(int(h.get("Retry-After")), 0)
        self.assertEqual(c.login("third-one")[0], 401)

    def test_logins_per_account(self):
        # Each log-in makes a session and an audit record: even with the
        # right password, an account makes only so many per window.
        self.broker = Broker(flags=FAST + ["--session-create-max", "3"])
        c = Customer(self.broker)
        for login in ("busy-one", "calm-one"):
            self.assertEqual(c.register(login)[0], 201)
        tokens = [c.token("busy-one") for _ in range(3)]
        st, h, data = c.login("busy-one")
        self.assertEqual(st, 429, data)
        p = problem(data)
        self.assertTrue(p["type"].endswith("/problems/too-many-requests"), p)
        self.assertIn("this account", p["detail"])
        self.assertGreater(int(h.get("Retry-After")), 0)
        # A wrong password is still just wrong, and says nothing more.
        self.assertEqual(c.login("busy-one", "not the password")[0], 401)
        # No session was made; those made before still work.
        st, _, data = self.broker.request(
            "GET", "/v1/me/audit", headers={
                "Authorization": "Bearer " + tokens[0]})
        self.assertEqual(st, 200, data)
        kinds = [i["kind"] for i in json.loads(data)["items"]]
        self.assertEqual(kinds.count("session.created"), 3)
        # Another account is not held back.
        self.assertEqual(c.login("calm-one")[0], 201)

    def test_concurrent_signups_per_address(self):
        # Sent all at once: each sign-up is counted as it is checked, so
        # no more than the limit pass.
        import threading
        self.broker = Broker(flags=FAST + ["--signup-max", "2"])
        c = Customer(self.broker)
        seen, lock = [], threading.Lock()

        def attempt(i):
            st = c.register("racer-%d" % i)[0]
            with lock:
                seen.append(st)

        threads = [threading.Thread(target=attempt, args=(i,))
                   for i in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual(sorted(seen), [201] * 2 + [429] * 6, seen)

    def test_failed_logins_per_address(self):
        self.broker = Broker(flags=FAST + ["--ip-max-failures", "2",
                                           "--login-max-failures", "100"])
        c = Customer(self.broker)
        c.register("ip-victim")
        self.assertEqual(c.login("guess-one", "wrong password!!")[0], 401)
        self.assertEqual(c.login("guess-two", "wrong password!!")[0], 401)
        self.assertEqual(c.login("ip-victim")[0], 429)

    def test_window_expires(self):
        # Three seconds: the refusal must come inside the window even
        # when a login is slow (under valgrind it takes about a second).
        window = 3
        self.broker = Broker(flags=FAST + ["--login-max-failures", "1",
                                           "--throttle-window", str(window)])
        c = Customer(self.broker)
        c.register("window")
        failed = time.monotonic()
        self.assertEqual(c.login("window", "wrong password!!")[0], 401)
        self.assertEqual(c.login("window")[0], 429)
        time.sleep(max(0, failed + window + 0.2 - time.monotonic()))
        self.assertEqual(c.login("window")[0], 201)


class ExpiryTests(unittest.TestCase):
    def tearDown(self):
        self.broker.cleanup()

    def test_idle_session_expires(self):
        self.broker = Broker(flags=FAST + ["--session-idle", "2"])
        c = Customer(self.broker)
        c.register("idler")
        t = c.token("idler")
        self.assertEqual(c.as_(t, "GET", "/v1/me/profile")[0], 200)
        time.sleep(2.3)
        self.assertEqual(c.as_(t, "GET", "/v1/me/profile")[0], 401)

    def test_absolute_lifetime(self):
        # Two seconds: with one, the clock may tick between log-in and use.
        self.broker = Broker(flags=FAST + ["--session-lifetime", "2"])
        c = Customer(self.broker)
        c.register("shortlived")
        t = c.token("shortlived")
        self.assertEqual(c.as_(t, "GET", "/v1/me/profile")[0], 200)
        time.sleep(2.3)
        self.assertEqual(c.as_(t, "GET", "/v1/me/profile")[0], 401)

    def test_sessions_survive_restart(self):
        self.broker = Broker(flags=FAST)
        c = Customer(self.broker)
        c.register("restarter")
        t = c.token("restarter")
        self.broker.restart()
        self.assertEqual(c.as_(t, "GET", "/v1/me/profile")[0], 200)


if __name__ == "__main__":
    unittest.main()
