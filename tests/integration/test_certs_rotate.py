"""Server certificate rotation: ccx-admin certs rotate, SIGHUP, new
handshakes get the new certificate while an open connection keeps
working, a broken or unsafe file pair is refused with a log line and the
old certificate kept, and a fetch loop sees no failure across it."""

import json
import os
import signal
import socket
import ssl
import threading
import time
import unittest

from harness import Broker, wait_until


def serial(broker):
    ctx = broker.ssl_context()
    with socket.create_connection(("127.0.0.1", broker.port), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            der = t.getpeercert(binary_form=True)
            return der, t.getpeercert()


class CertRotationTests(unittest.TestCase):
    def setUp(self):
        self.b = Broker(init_args=("--hostname", "broker.test"))

    def tearDown(self):
        self.b.cleanup()

    def hup_and_wait(self, text):
        before = self.b.stderr().count("SIGHUP")
        self.b.signal(signal.SIGHUP)
        self.assertTrue(wait_until(
            lambda: self.b.stderr().count("SIGHUP") > before, timeout=5))
        self.assertIn(text, self.b.stderr().splitlines()[-1])

    def test_rotate_then_sighup(self):
        old, _ = serial(self.b)
        out = json.loads(self.b.admin("certs", "rotate", "--hostname",
                                      "new.test").stdout)
        self.assertIn("new.test", out["names"])
        self.assertIn("broker.test", out["names"])
        # Nothing changes until the daemon is told.
        self.assertEqual(serial(self.b)[0], old)
        with self.b.connection() as open_conn:
            self.assertEqual(open_conn.request("GET", "/healthz")[0], 200)
            self.hup_and_wait("server certificate reloaded")
            new, info = serial(self.b)
            self.assertNotEqual(new, old)
            sans = [v for k, v in info["subjectAltName"]]
            self.assertIn("new.test", sans)
            self.assertIn("broker.test", sans)
            # The connection opened before the reload goes on.
            self.assertEqual(open_conn.request("GET", "/healthz")[0], 200)
        self.assertEqual(self.b.request("GET", "/healthz")[0], 200)

    def test_broken_files_are_refused_and_the_old_kept(self):
        old, _ = serial(self.b)
        key = os.path.join(self.b.data, "certs", "server.key")
        pem = os.path.join(self.b.data, "certs", "server.pem")
        # A key others can read.
        os.chmod(key, 0o644)
        self.hup_and_wait("keeping the current certificate")
        self.assertEqual(serial(self.b)[0], old)
        os.chmod(key, 0o600)
        # A certificate that is not one.
        with open(pem, "rb") as f:
            good = f.read()
        with open(pem, "wb") as f:
            f.write(b"-----BEGIN CERTIFICATE-----\nnot base64\n"
                    b"-----END CERTIFICATE-----\n")
        self.hup_and_wait("keeping the current certificate")
        self.assertEqual(serial(self.b)[0], old)
        # A certificate of another key: the CA's own.
        with open(os.path.join(self.b.data, "certs", "ca.pem"), "rb") as f:
            ca = f.read()
        with open(pem, "wb") as f:
            f.write(ca)
        self.hup_and_wait("do not match")
        self.assertEqual(serial(self.b)[0], old)
        with open(pem, "wb") as f:
            f.write(good)
        self.hup_and_wait("server certificate reloaded")
        self.assertEqual(self.b.request("GET", "/healthz")[0], 200)

    def test_no_failure_across_rotation_under_load(self):
        errors, count = [], [0]
        stop = threading.Event()

        def loop():
            while not stop.is_set():
                try:
                    if self.b.request("GET", "/healthz")[0] != 200:
                        errors.append("status")
                except (OSError, ssl.SSLError) as e:
                    errors.append(repr(e))
                count[0] += 1

        th = threading.Thread(target=loop)
        th.start()
        try:
            time.sleep(0.3)
            self.b.admin("certs", "rotate")
            self.hup_and_wait("server certificate reloaded")
            time.sleep(0.3)
        finally:
            stop.set()
            th.join()
        self.assertGreater(count[0], 10)
        self.assertEqual(errors, [])

    def test_bad_commands(self):
        for args in (("certs",), ("certs", "renew"),
                     ("certs", "rotate", "--hostname"),
                     ("certs", "rotate", "--bogus")):
            with self.subTest(args=args):
                p = self.b.admin(*args, check=False)
                self.assertEqual(p.returncode, 2)
                self.assertEqual(p.stdout, "")


if __name__ == "__main__":
    unittest.main()
