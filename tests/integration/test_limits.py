"""Limits: connections (per address and total), idle timeout, per-connection
memory and request bodies.

A connection over a connection limit gets no HTTP response at all: the
broker never spends a request on it.
"""

import http.client
import json
import resource
import shutil
import ssl
import subprocess
import time
import unittest

from harness import (VALGRIND, Broker, BrokerTestCase, ClosedError, t,
                     wait_until)

GET_HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
KDF_FAST = ["--kdf-memory", "64", "--kdf-time", "1"]


class ConnectionLimitMixin:

    def setUp(self):
        # Connections of the previous test may not be reaped yet (slowly,
        # under valgrind): start from a daemon with only our probe open.
        def idle():
            try:
                return self.b.metrics()["ccx_connections_open"] == 1
            except (OSError, ssl.SSLError, AssertionError, KeyError,
                    http.client.HTTPException):
                return False
        self.assertTrue(wait_until(idle, timeout=5.0, interval=0.05),
                        "connections of an earlier test are still open")

    def open_with_request(self, n):
        """n TLS connections, each having completed one request."""
        conns = []
        for i in range(n):
            c = self.b.tls(timeout=5)
            self.addCleanup(c.close)
            c.send(GET_HEALTHZ)
            self.assertEqual(c.read_response()[0], 200, "connection %d" % (i + 1))
            conns.append(c)
        return conns

    def over_limit_outcome(self, wait=1.5):
        """Tries one more connection and a request on it: "closed" when the
        server hung up, "no-answer" when nothing came within `wait`, or the
        HTTP status it got."""
        try:
            c = self.b.tls(timeout=wait)
        except (ssl.SSLError, ConnectionError):
            return "closed"
        except TimeoutError:
            return "no-answer"
        self.addCleanup(c.close)
        try:
            c.send(GET_HEALTHZ)
            return c.read_response(timeout=wait)[0]
        except (ClosedError, ConnectionError, ssl.SSLError):
            return "closed"
        except TimeoutError:
            return "no-answer"

    def assertSlotFreed(self, conns):
        conns[0].close()

        def works():
            try:
                return self.over_limit_outcome(wait=1.0) == 200
            except OSError:
                return False
        self.assertTrue(wait_until(works, timeout=5.0, interval=0.1),
                        "no new connection accepted after one was closed")


class PerIpLimitTests(ConnectionLimitMixin, BrokerTestCase):

    broker_flags = ["--max-connections-per-ip", "3"]

    def test_fourth_connection_refused_without_response(self):
        conns = self.open_with_request(3)
        self.assertEqual(self.over_limit_outcome(), "closed")
        # The three are still served.
        for c in conns:
            c.send(GET_HEALTHZ)
            self.assertEqual(c.read_response()[0], 200)
        self.assertSlotFreed(conns)


class TotalLimitTests(ConnectionLimitMixin, BrokerTestCase):

    broker_flags = ["--max-connections", "3", "--threads", "2"]

    def test_fourth_connection_gets_no_response(self):
        conns = self.open_with_request(3)
        self.assertIn(self.over_limit_outcome(), ("closed", "no-answer"))
        for c in conns:
            c.send(GET_HEALTHZ)
            self.assertEqual(c.read_response()[0], 200)
        self.assertSlotFreed(conns)

    def test_fourth_connection_closed_not_left_waiting(self):
        # "A connection over the limits is closed" (DESIGN section 3): the
        # client must learn at once, not wait out its own timeout.
        conns = self.open_with_request(3)
        self.assertEqual(self.over_limit_outcome(wait=2.0), "closed",
                         "over-limit connection was left hanging instead of "
                         "being closed")
        self.assertSlotFreed(conns)


@unittest.skipIf(VALGRIND, "valgrind keeps descriptors of its own")
@unittest.skipUnless(shutil.which("prlimit"), "needs prlimit")
class OpenFilesTests(unittest.TestCase):
    # Every connection the limit lets in needs a descriptor: the broker
    # raises its open-files limit for them, or lowers the connection
    # limit to what the hard limit allows.  2 threads: 2 x 4 + 128 spare.

    def start(self, nofile, maxconn):
        b = Broker(flags=["--threads", "2", "--max-connections", maxconn],
                   prefix=["prlimit", "--nofile=" + nofile, "--"])
        self.addCleanup(b.cleanup)
        return b

    def open_files(self, b):
        with open("/proc/%d/limits" % b.proc.pid) as f:
            for line in f:
                if line.startswith("Max open files"):
                    return [int(v) for v in line.split()[3:5]]
        self.fail("no open-files line")

    def test_soft_limit_raised(self):
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        if hard != resource.RLIM_INFINITY and hard < 5000:
            self.skipTest("hard open-files limit %d, below 5000" % hard)
        b = self.start("200:5000", "1000")
        self.assertEqual(self.open_files(b), [1136, 5000])
        self.assertNotIn("lowered", b.stderr())
        self.assertEqual(b.request("GET", "/healthz")[0], 200)

    def test_connection_limit_lowered_to_the_hard_limit(self):
        b = self.start("200:200", "1000")
        self.assertIn("warning: --max-connections 1000 lowered to 64: the "
                      "open-files limit is 200", b.stderr())
        conns = []
        for i in range(64):
            c = b.tls(timeout=5)
            self.addCleanup(c.close)
            c.send(GET_HEALTHZ)
            self.assertEqual(c.read_response()[0], 200, "connection %d" % i)
            conns.append(c)
        self.b = b
        self.assertEqual(ConnectionLimitMixin.over_limit_outcome(self, 2.0),
                         "closed", "65th connection let in")
        rc, err = b.stop()
        self.assertEqual(rc, 0, err)

    def test_too_few_for_the_threads(self):
        b = Broker(start=False)
        self.addCleanup(b.cleanup)
        p = subprocess.run(["prlimit", "--nofile=100:100", "--"] +
                           b.command(["--threads", "2"]),
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=t(30))
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("open files: too few allowed", p.stderr)


class IdleTimeoutTests(BrokerTestCase):

    broker_flags = ["--connection-timeout", "1"]

    def test_idle_keep_alive_connection_closed(self):
        c = self.b.tls()
        self.addCleanup(c.close)
        c.send(GET_HEALTHZ)
        self.assertEqual(c.read_response()[0], 200)
        t0 = time.monotonic()
        self.assertFalse(c.closed_within(0.3, scaled=False),
                         "closed at once, not on timeout")
        self.assertTrue(c.closed_within(4.0), "idle connection still open")
        self.assertLess(time.monotonic() - t0, t(4.5))
        self.assertFalse(c.reset, "idle connection was reset, not closed")

    def test_handshake_only_connection_closed(self):
        c = self.b.tls()
        self.addCleanup(c.close)
        self.assertTrue(c.closed_within(4.0))

    def test_silent_tcp_connection_closed(self):
        from harness import RawConnection
        c = RawConnection(self.b.tcp())
        self.addCleanup(c.close)
        self.assertTrue(c.closed_within(4.0), "a TCP connection that never "
                        "starts TLS is kept open")

    def test_active_connection_kept(self):
        # The timeout measures inactivity: a connection in use stays open.
        c = self.b.tls()
        self.addCleanup(c.close)
        for _ in range(5):
            c.send(GET_HEALTHZ)
            self.assertEqual(c.read_response()[0], 200)
            time.sleep(0.35)

    def test_partial_request_then_idle_closed(self):
        c = self.b.tls()
        self.addCleanup(c.close)
        c.send(b"GET /healthz HTTP/1.1\r\nHost: local")
        self.assertTrue(c.closed_within(4.0))


class ConnectionMemoryTests(BrokerTestCase):

    broker_flags = ["--connection-memory", "4096"]

    def test_6k_header_431(self):
        c = self.b.tls()
        self.addCleanup(c.close)
        c.send(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: " +
               b"a" * 6000 + b"\r\n\r\n")
        status, _, _ = c.read_response()
        self.assertEqual(status, 431)
        self.assertTrue(c.closed_within(2.0))

    def test_6k_over_many_headers_431(self):
        c = self.b.tls()
        self.addCleanup(c.close)
        hdrs = b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 90) for i in range(64))
        c.send(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n" + hdrs + b"\r\n")
        self.assertEqual(c.read_response()[0], 431)

    def test_small_header_fine(self):
        status, _, _ = self.b.request("GET", "/healthz",
                                      headers={"X-Small": "a" * 1000})
        self.assertEqual(status, 200)


class BodyLimitTests(BrokerTestCase):
    """Bodies of POST /v1/customers under --max-body 1024."""

    broker_flags = ["--max-body", "1024"] + KDF_FAST

    def setUp(self):
        self.skipIfRouteMissing(self.b, "POST", "/v1/customers")

    def big_body(self, size=2048):
        doc = {"login": "big-body-user", "password": "correct horse battery 1",
               "pad": "x" * size}
        return json.dumps(doc).encode()

    def assertAnswerThenClean(self, c):
        """After a refusal the connection is closed or still in step."""
        if c.closed_within(0.5):
            return
        c.send(GET_HEALTHZ)
        try:
            status = c.read_response()[0]
        except ClosedError:
            return
        self.assertEqual(status, 200, "connection out of step after refusal")

    def test_413_content_length(self):
        body = self.big_body()
        c = self.b.tls()
        self.addCleanup(c.close)
        c.send(b"POST /v1/customers HTTP/1.1\r\nHost: localhost\r\n"
               b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
               % len(body) + body)
        try:
            resp = c.read_response()
        except ClosedError:
            self.fail("connection closed without a 413")
        self.assertProblem(self.b, resp, 413, "body-too-large")
        self.assertAnswerThenClean(c)

    def test_413_via_http_client(self):
        r = self.b.request("POST", "/v1/customers",
                           headers={"Content-Type": "application/json"},
                           body=self.big_body())
        self.assertProblem(self.b, r, 413, "body-too-large")

    def test_413_chunked(self):
        body = self.big_body()
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 300]), body[i:i + 300])
                          for i in range(0, len(body), 300))
        c = self.b.tls()
        self.addCleanup(c.close)
        c.send(b"POST /v1/customers HTTP/1.1\r\nHost: localhost\r\n"
               b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
               + chunks + b"0\r\n\r\n")
        try:
            resp = c.read_response()
        except ClosedError:
            self.fail("connection closed without a 413")
        self.assertProblem(self.b, resp, 413, "body-too-large")
        self.assertAnswerThenClean(c)

    def test_415_text_plain(self):
        body = json.dumps({"login": "plain-user",
                           "password": "correct horse battery 2"}).encode()
        r = self.b.request("POST", "/v1/customers",
                           headers={"Content-Type": "text/plain"}, body=body)
        self.assertProblem(self.b, r, 415, "unsupported-media-type")

    def test_415_missing_content_type(self):
        c = self.b.tls()
        self.addCleanup(c.close)
        body = b'{"login":"no-type-user","password":"correct horse battery 3"}'
        c.send(b"POST /v1/customers HTTP/1.1\r\nHost: localhost\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.assertProblem(self.b, c.read_response(), 415, "unsupported-media-type")

    def test_411_without_length(self):
        c = self.b.tls()
        self.addCleanup(c.close)
        c.send(b"POST /v1/customers HTTP/1.1\r\nHost: localhost\r\n"
               b"Content-Type: application/json\r\n\r\n")
        try:
            resp = c.read_response()
        except ClosedError:
            self.fail("connection closed without a 411")
        self.assertProblem(self.b, resp, 411, "length-required")
