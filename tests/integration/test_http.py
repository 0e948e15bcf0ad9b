"""HTTP behaviour at the edge: errors, keep-alive, framing, header limits.

Request smuggling needs two parsers that disagree on where a body ends.
Every ambiguous shape must be refused with a 400 and must not leave the
connection in a state where bytes of the refused request are read as the
next request: after such a refusal the connection is closed.
"""

import json
import socket
import ssl
import time

from harness import BrokerTestCase, ClosedError, parse_responses, t

HOST = b"Host: localhost\r\n"


def req(method, path, *headers, body=b""):
    head = "%s %s HTTP/1.1\r\n" % (method, path)
    return (head.encode() + HOST + b"".join(h + b"\r\n" for h in headers) +
            b"\r\n" + body)


class HttpTests(BrokerTestCase):

    broker_flags = []

    # ---- helpers -----------------------------------------------------------

    def exchange(self, data, timeout=3.0, head=False):
        """Sends raw bytes on a fresh TLS connection; returns the first
        response and the connection (still open, for further checks)."""
        c = self.b.tls(timeout=timeout)
        self.addCleanup(c.close)
        c.send(data)
        try:
            resp = c.read_response(timeout=timeout, head=head)
        except ClosedError as e:
            self.fail("connection closed without an HTTP response (%s)" % e)
        except TimeoutError as e:
            self.fail("no HTTP response: %s" % e)
        return resp, c

    def assertRefusedAndClosed(self, data, slug, status=400):
        """The request is refused with a problem, nothing after it is
        processed, and the connection is closed."""
        resp, c = self.exchange(data)
        self.assertProblem(self.b, resp, status, slug)
        if not c.closed_within(1.0):
            rest, _ = parse_responses(c.buf)
            self.fail("connection left open after a %d %s, so the next "
                      "request would be read from the refused one's bytes; "
                      "answered since: %r" % (status, slug,
                                              [r[0] for r in rest] or c.buf))
        rest, _ = parse_responses(c.buf)
        self.assertEqual(rest, [], "a further response followed the refusal")

    # ---- routing errors ------------------------------------------------------

    def test_404_problem(self):
        r = self.b.request("GET", "/no/such/path")
        doc = self.assertProblem(self.b, r, 404, "not-found")
        self.assertEqual(doc["title"], "Not found")
        self.assertEqual(set(doc), {"type", "title", "status", "detail"})
        self.assertEqual(int(r[1]["Content-Length"]), len(r[2]))

    def test_404_for_prefix_and_suffix_of_known_path(self):
        # "/" is the customer web page.
        for path in ("/health", "/healthz/", "/healthz/x", "/HEALTHZ",
                     "//healthz", "/metricsx"):
            with self.subTest(path=path):
                self.assertProblem(self.b, self.b.request("GET", path), 404,
                                   "not-found")

    def test_405_problem_with_allow(self):
        for method, path in (("POST", "/healthz"), ("DELETE", "/healthz"),
                             ("PUT", "/metrics"), ("DELETE", "/metrics")):
            with self.subTest(method=method, path=path):
                r = self.b.request(method, path)
                doc = self.assertProblem(self.b, r, 405, "method-not-allowed")
                self.assertEqual(doc["title"], "Method not allowed")
                allow = [m.strip() for m in r[1].get("Allow", "").split(",")]
                self.assertEqual(sorted(allow), ["GET", "HEAD"])

    def test_405_needs_no_token(self):
        # The method is refused before authentication is looked at.
        r = self.b.request("POST", "/metrics")
        self.assertProblem(self.b, r, 405, "method-not-allowed")
        self.assertNotIn("WWW-Authenticate", r[1])

    def test_404_with_a_request_body(self):
        # A body sent to an unknown path is drained or the connection is
        # closed, but the client gets its 404 either way.
        body = json.dumps({"login": "x", "password": "y"}).encode()
        resp, _ = self.exchange(req(
            "POST", "/no/such/path", b"Content-Type: application/json",
            b"Content-Length: %d" % len(body), body=body))
        self.assertProblem(self.b, resp, 404, "not-found")

    # ---- HEAD, keep-alive, pipelining ---------------------------------------

    def test_head_has_headers_but_no_body(self):
        resp, c = self.exchange(req("HEAD", "/healthz"), head=True)
        status, headers, _ = resp
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("Content-Type"), "application/json")
        self.assertSecurityHeaders(headers)
        # No body bytes follow: the next request on the connection is
        # answered cleanly right after the head.
        c.send(req("GET", "/healthz"))
        status, _, body = c.read_response()
        self.assertEqual((status, body), (200, b'{"status":"ok"}'))
        self.assertEqual(c.buf, b"")

    def test_head_via_http_client(self):
        with self.b.connection() as c:
            status, headers, body = c.request("HEAD", "/healthz")
            self.assertEqual((status, body), (200, b""))
            status, _, body = c.request("GET", "/healthz")
            self.assertEqual(json.loads(body), {"status": "ok"})

    def test_keep_alive_several_requests_one_connection(self):
        with self.b.connection() as c:
            first_sock = None
            for i in range(5):
                path = "/healthz" if i % 2 == 0 else "/nope"
                status, headers, body = c.request("GET", path)
                self.assertEqual(status, 200 if path == "/healthz" else 404)
                if status == 200:
                    self.assertNotEqual(
                        headers.get("Connection", "").lower(), "close",
                        "a 200 asked to close the connection")
                self.assertFalse(c.last_response.will_close,
                                 "response %d would close the connection" % i)
                if first_sock is None:
                    first_sock = c.sock
                self.assertIs(c.sock, first_sock, "connection was replaced")

    def test_answers_of_every_size_arrive_whole_and_at_once(self):
        # An answer's header waits in the kernel for its body, so that
        # both leave in one segment.  A header with no body to follow
        # (HEAD) must not wait: the kernel would send it only after
        # 200 ms.  Five HEADs of the page take a few milliseconds.
        c = self.b.tls(timeout=t(5.0))
        self.addCleanup(c.close)
        t0 = time.monotonic()
        for _ in range(5):
            c.send(req("HEAD", "/"))
            status, headers, body = c.read_response(timeout=t(5.0),
                                                    head=True)
            self.assertEqual((status, body), (200, b""))
            self.assertGreater(int(headers["Content-Length"]), 1400)
        took = time.monotonic() - t0
        self.assertLess(took, t(0.5), "five HEADs took %.2f s" % took)
        page = None
        for method, path in [("GET", "/"), ("HEAD", "/"), ("GET", "/"),
                             ("HEAD", "/healthz"), ("GET", "/healthz"),
                             ("GET", "/v1/scopes"), ("HEAD", "/v1/scopes"),
                             ("HEAD", "/nope"), ("GET", "/nope"),
                             ("GET", "/")]:
            c.send(req(method, path))
            status, headers, body = c.read_response(
                timeout=t(5.0), head=method == "HEAD")
            self.assertEqual(status, 404 if path == "/nope" else 200,
                             "%s %s" % (method, path))
            if method == "HEAD":
                self.assertEqual(body, b"")
            else:
                self.assertEqual(len(body), int(headers["Content-Length"]))
            if path == "/" and method == "GET":
                self.assertTrue(page is None or body == page)
                page = body
        self.assertEqual(c.buf, b"")

    def test_tls_bytes_trickled_one_at_a_time(self):
        # The transport reads ahead into a buffer of its own: TLS records
        # that arrive a byte at a time, in the handshake and in two
        # pipelined requests, must still make whole requests, and a
        # record bigger than that buffer (a 20 KB header) must too.
        sock = self.b.tcp(timeout=t(10.0))
        self.addCleanup(sock.close)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self.b.ssl_context().wrap_bio(inc, out,
                                            server_hostname="localhost")

        def trickle():
            data = out.read()
            for i in range(len(data)):
                sock.sendall(data[i:i + 1])
                if i % 64 == 0:
                    time.sleep(0.001)

        def pump():
            chunk = sock.recv(65536)
            if not chunk:
                raise ClosedError("closed")
            inc.write(chunk)

        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                trickle()
                pump()
        big = b"X-Filler: " + b"f" * 20000
        tls.write(req("GET", "/healthz") + req("GET", "/nope", big))
        trickle()
        got = b""
        deadline = time.monotonic() + t(10.0)
        while got.count(b"HTTP/1.1 ") < 2 or not got.endswith(b"}"):
            self.assertLess(time.monotonic(), deadline, got)
            try:
                got += tls.read(65536)
            except ssl.SSLWantReadError:
                pump()
        responses, rest = parse_responses(got)
        self.assertEqual([r[0] for r in responses], [200, 404])
        self.assertEqual(rest, b"")

    def test_keep_alive_counted_as_one_connection(self):
        before = self.b.metrics()["ccx_connections_total"]
        with self.b.connection() as c:
            for _ in range(4):
                self.assertEqual(c.request("GET", "/healthz")[0], 200)
        after = self.b.metrics()["ccx_connections_total"]
        # The keep-alive connection, plus the one that read `before`.
        self.assertEqual(after - before, 2)

    def test_pipelined_requests_answered_in_order(self):
        c = self.b.tls()
        self.addCleanup(c.close)
        c.send(req("GET", "/healthz") + req("GET", "/nope") +
               req("POST", "/healthz") + req("GET", "/healthz"))
        statuses = [c.read_response()[0] for _ in range(4)]
        self.assertEqual(statuses, [200, 404, 405, 200])

    def test_http10_request_is_answered_and_closed(self):
        data = self.b.raw_tls(b"GET /healthz HTTP/1.0\r\n\r\n")
        responses, rest = parse_responses(data)
        self.assertEqual([(s, b) for s, _, b in responses],
                         [(200, b'{"status":"ok"}')])
        self.assertEqual(rest, b"")
        c = self.b.tls()
        self.addCleanup(c.close)
        c.send(b"GET /healthz HTTP/1.0\r\n\r\n")
        self.assertEqual(c.read_response()[0], 200)
        self.assertTrue(c.closed_within(2.0))

    # ---- framing and smuggling ---------------------------------------------

    def test_smuggling_content_length_with_transfer_encoding(self):
        self.assertRefusedAndClosed(req(
            "GET", "/healthz", b"Content-Length: 5",
            b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
            "ambiguous-framing")

    def test_smuggling_cl_te_does_not_desync(self):
        # A front end that trusts Content-Length sees one request whose body
        # ends with "GET /nope ..."; the broker must not answer that as a
        # second request on the same connection.
        smuggled = b"GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n"
        body = b"0\r\n\r\n" + smuggled
        resp, c = self.exchange(req(
            "GET", "/healthz", b"Content-Length: %d" % len(body),
            b"Transfer-Encoding: chunked", body=body))
        self.assertProblem(self.b, resp, 400, "ambiguous-framing")
        c.closed_within(2.0)
        extra, _ = parse_responses(c.buf)
        self.assertEqual([r[0] for r in extra], [],
                         "the smuggled request was answered")

    def test_smuggling_transfer_encoding_with_content_length_on_post(self):
        self.assertRefusedAndClosed(req(
            "POST", "/healthz", b"Content-Type: application/json",
            b"Transfer-Encoding: chunked", b"Content-Length: 4",
            body=b"0\r\n\r\n"), "ambiguous-framing")

    def test_smuggling_duplicate_content_length_different(self):
        # Whichever value a front end picks, the broker must not pick the
        # other one and answer the body as a request of its own.
        smuggled = b"GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n"
        self.assertRefusedAndClosed(req(
            "GET", "/healthz", b"Content-Length: 0",
            b"Content-Length: %d" % len(smuggled), body=smuggled),
            "ambiguous-framing")

    def test_smuggling_duplicate_content_length_same(self):
        self.assertRefusedAndClosed(req(
            "GET", "/healthz", b"Content-Length: 0", b"Content-Length: 0"),
            "ambiguous-framing")

    def test_smuggling_duplicate_transfer_encoding(self):
        self.assertRefusedAndClosed(req(
            "GET", "/healthz", b"Transfer-Encoding: chunked",
            b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
            "ambiguous-framing")

    def test_smuggling_unknown_transfer_encoding(self):
        # No body follows the head: the refusal must not wait for one.
        self.assertRefusedAndClosed(req(
            "GET", "/healthz", b"Transfer-Encoding: gzip"),
            "ambiguous-framing")

    def test_smuggling_transfer_encoding_list(self):
        self.assertRefusedAndClosed(req(
            "GET", "/healthz", b"Transfer-Encoding: gzip, chunked",
            body=b"0\r\n\r\n"), "ambiguous-framing")

    def test_smuggling_whitespace_before_colon(self):
        # RFC 9112 section 5.1: whitespace between a field name and the
        # colon MUST be answered with 400 (a proxy may read it as
        # Transfer-Encoding while the broker ignores it).
        resp, c = self.exchange(req(
            "GET", "/healthz", b"Transfer-Encoding : chunked",
            b"Content-Length: 0"))
        self.assertEqual(resp[0], 400, "accepted 'Transfer-Encoding :' "
                         "(whitespace before the colon): %r" % (resp[2],))
        self.assertTrue(c.closed_within(2.0))

    def test_bad_content_length_refused_by_http_layer(self):
        # libmicrohttpd refuses these before the broker sees the request:
        # a 400 and a closed connection.
        for value in (b"-1", b"+0", b"abc", b"1 2"):
            with self.subTest(value=value):
                c = self.b.tls()
                self.addCleanup(c.close)
                c.send(req("GET", "/healthz", b"Content-Length: " + value))
                data = c.read_until_close(timeout=3.0)
                self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data[:80])
                self.assertNotIn(b" 200 OK", data)

    def test_missing_host_refused(self):
        c = self.b.tls()
        self.addCleanup(c.close)
        c.send(b"GET /healthz HTTP/1.1\r\n\r\n")
        data = c.read_until_close(timeout=3.0)
        self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data[:80])

    def test_body_on_get_refused(self):
        resp, _ = self.exchange(req("GET", "/healthz", b"Content-Length: 5",
                                    body=b"hello"))
        self.assertProblem(self.b, resp, 400, "bad-request")

    def test_body_on_get_refused_via_http_client(self):
        with self.b.connection() as c:
            try:
                r = c.request("GET", "/healthz", body=b"hello")
            except ConnectionError as e:
                self.fail("connection dropped without a response: %r" % e)
            self.assertProblem(self.b, r, 400, "bad-request")

    def test_empty_chunked_body_on_get_refused(self):
        resp, _ = self.exchange(req("GET", "/healthz",
                                    b"Transfer-Encoding: chunked",
                                    body=b"0\r\n\r\n"))
        self.assertProblem(self.b, resp, 400, "bad-request")

    def test_zero_content_length_on_get_allowed(self):
        resp, _ = self.exchange(req("GET", "/healthz", b"Content-Length: 0"))
        self.assertEqual(resp[0], 200)

    # ---- header limits and security headers -------------------------------

    def test_oversized_header_431(self):
        # Larger than the default per-connection memory (32 KiB):
        # libmicrohttpd answers 431 itself and closes.
        c = self.b.tls()
        self.addCleanup(c.close)
        c.send(req("GET", "/healthz", b"X-Big: " + b"a" * 40000))
        status, headers, _ = c.read_response()
        self.assertEqual(status, 431)
        self.assertTrue(c.closed_within(2.0))
        self.assertEqual(self.b.request("GET", "/healthz")[0], 200)

    def test_header_below_limit_accepted(self):
        resp, _ = self.exchange(req("GET", "/healthz",
                                    b"X-Big: " + b"a" * 8000))
        self.assertEqual(resp[0], 200)

    def test_security_headers_on_every_response(self):
        cases = [("GET", "/healthz", {}, 200), ("GET", "/nope", {}, 404),
                 ("POST", "/healthz", {}, 405), ("GET", "/metrics", {}, 401),
                 ("GET", "/metrics", self.b.admin_headers(), 200),
                 ("HEAD", "/healthz", {}, 200)]
        for method, path, headers, status in cases:
            with self.subTest(method=method, path=path, status=status):
                r = self.b.request(method, path, headers=headers)
                self.assertEqual(r[0], status)
                self.assertSecurityHeaders(r[1])

    def test_healthz_body(self):
        status, headers, body = self.b.request("GET", "/healthz")
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("Content-Type"), "application/json")
        self.assertEqual(json.loads(body), {"status": "ok"})
