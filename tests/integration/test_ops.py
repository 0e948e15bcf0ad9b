"""Operations endpoints and the access log: /healthz, /metrics, log lines."""

import base64
import re
import time
import uuid

from harness import BrokerTestCase, parse_metrics, t, wait_until

LOG_LINE = re.compile(
    r'^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) (\S+) "(\S+) ([^"]*)" (\d{3}) (\d+) (\d+)$')


class HealthTests(BrokerTestCase):

    broker_flags = []

    def test_healthz(self):
        status, headers, body = self.b.request("GET", "/healthz")
        self.assertEqual(status, 200)
        self.assertEqual(body, b'{"status":"ok"}')
        self.assertEqual(headers.get("Content-Type"), "application/json")
        self.assertSecurityHeaders(headers)

    def test_healthz_needs_no_token_and_ignores_one(self):
        r = self.b.request("GET", "/healthz",
                           headers={"Authorization": "Bearer wrong"})
        self.assertEqual(r[0], 200)


class MetricsTests(BrokerTestCase):

    broker_flags = []

    def assertUnauthorized(self, headers):
        r = self.b.request("GET", "/metrics", headers=headers)
        self.assertProblem(self.b, r, 401, "unauthorized")
        www = r[1].get("WWW-Authenticate", "")
        self.assertTrue(www.startswith("Bearer"), "WWW-Authenticate: %r" % www)
        self.assertNotIn(b"ccx_requests_total", r[2])
        return r

    def test_no_token(self):
        self.assertUnauthorized({})

    def test_wrong_token_same_length(self):
        tok = self.b.admin_token
        wrong = ("A" if tok[0] != "A" else "B") + tok[1:]
        self.assertEqual(len(wrong), len(tok))
        self.assertUnauthorized({"Authorization": "Bearer " + wrong})
        # Last byte wrong too: the whole token is compared.
        wrong = tok[:-1] + ("A" if tok[-1] != "A" else "B")
        self.assertUnauthorized({"Authorization": "Bearer " + wrong})

    def test_wrong_token_different_length(self):
        tok = self.b.admin_token
        for wrong in (tok[:-1], tok + "A", tok[:16], "x"):
            with self.subTest(length=len(wrong)):
                self.assertUnauthorized({"Authorization": "Bearer " + wrong})

    def test_basic_scheme_refused(self):
        tok = self.b.admin_token
        for value in ("Basic " + base64.b64encode(("admin:" + tok).encode()).decode(),
                      "Basic " + tok, "Token " + tok, tok, "Bearer", "Bearer "):
            with self.subTest(value=value[:12]):
                self.assertUnauthorized({"Authorization": value})

    def test_token_in_query_refused(self):
        r = self.b.request("GET", "/metrics?access_token=" + self.b.admin_token)
        self.assertProblem(self.b, r, 401, "unauthorized")

    def test_scheme_is_case_insensitive(self):
        # RFC 9110 section 11.1: auth schemes are case-insensitive.
        r = self.b.request("GET", "/metrics",
                           headers={"Authorization": "bearer " + self.b.admin_token})
        self.assertEqual(r[0], 200)

    def test_metrics_with_token(self):
        status, headers, body = self.b.request("GET", "/metrics",
                                               headers=self.b.admin_headers())
        self.assertEqual(status, 200)
        self.assertTrue(headers.get("Content-Type", "").startswith("text/plain"))
        self.assertSecurityHeaders(headers)
        text = body.decode()
        for name, kind in (("ccx_requests_total", "counter"),
                           ("ccx_request_duration_seconds", "histogram"),
                           ("ccx_connections_total", "counter"),
                           ("ccx_store_commits_total", "counter"),
                           ("ccx_store_map_bytes", "gauge"),
                           ("ccx_store_file_bytes", "gauge")):
            self.assertIn("# TYPE %s %s\n" % (name, kind), text)
        # Every sample line is "name{labels} value" with a numeric value.
        for line in text.splitlines():
            if line.startswith("#") or not line:
                continue
            self.assertRegex(line, r'^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? '
                                   r'[0-9.e+-]+$')
        m = parse_metrics(text)
        self.assertEqual(m['ccx_request_duration_seconds_bucket{le="+Inf"}'],
                         m["ccx_request_duration_seconds_count"])
        # The store's size against its map: the default map is 1 GiB.
        self.assertEqual(m["ccx_store_map_bytes"], 1 << 30)
        self.assertGreater(m["ccx_store_file_bytes"], 0)
        self.assertLessEqual(m["ccx_store_file_bytes"], 1 << 30)

    def test_counters_increase(self):
        b = self.b
        key_ok = 'ccx_requests_total{route="healthz",class="2xx"}'
        key_404 = 'ccx_requests_total{route="unmatched",class="4xx"}'
        key_401 = 'ccx_requests_total{route="metrics",class="4xx"}'
        m0 = b.metrics()
        with b.connection() as c:
            for _ in range(3):
                self.assertEqual(c.request("GET", "/healthz")[0], 200)
            self.assertEqual(c.request("GET", "/nope-%s" % uuid.uuid4().hex)[0], 404)
            self.assertEqual(c.request("GET", "/metrics")[0], 401)

        # A request is counted once its answer is sent, which may come
        # after the client has read it (slowly, under valgrind): the m0
        # read's own duration among them.
        dur = "ccx_request_duration_seconds_count"

        def settled():
            m = b.metrics()
            return m if (m.get(key_ok, 0) >= m0.get(key_ok, 0) + 3 and
                         m.get(key_404, 0) >= m0.get(key_404, 0) + 1 and
                         m.get(key_401, 0) >= m0.get(key_401, 0) + 1 and
                         m[dur] >= m0[dur] + 6) else None
        m1 = wait_until(settled) or b.metrics()
        self.assertEqual(m1.get(key_ok, 0) - m0.get(key_ok, 0), 3)
        self.assertEqual(m1.get(key_404, 0) - m0.get(key_404, 0), 1)
        self.assertEqual(m1.get(key_401, 0) - m0.get(key_401, 0), 1)
        # The same, by exact status.
        for key, n in (('ccx_responses_total{route="healthz",status="200"}', 3),
                       ('ccx_responses_total{route="unmatched",status="404"}', 1),
                       ('ccx_responses_total{route="metrics",status="401"}', 1)):
            self.assertEqual(m1.get(key, 0) - m0.get(key, 0), n, key)
        # The connection above, plus the one that read m1.
        self.assertGreaterEqual(m1["ccx_connections_total"] -
                                m0["ccx_connections_total"], 2)
        self.assertGreaterEqual(m1[dur] - m0[dur], 6)
        self.assertGreater(m1["ccx_response_bytes_total"],
                           m0["ccx_response_bytes_total"])
        # A metrics read counts itself once it is done.
        self.assertGreater(
            m1.get('ccx_requests_total{route="metrics",class="2xx"}', 0),
            m0.get('ccx_requests_total{route="metrics",class="2xx"}', 0))


class AccessLogTests(BrokerTestCase):

    broker_flags = ["--log-flush-ms", "20"]

    def log_lines(self):
        return self.b.read_access_log().splitlines()

    def wait_lines(self, n_before, expect):
        wait_until(lambda: len(self.log_lines()) >= n_before + expect,
                   timeout=2.0)
        # Give a straggler one more flush interval to show up.
        time.sleep(t(0.1))
        return self.log_lines()[n_before:]

    def test_one_line_per_request(self):
        b = self.b
        n0 = len(self.log_lines())
        tag = uuid.uuid4().hex
        reqs = [("GET", "/healthz", {}, 200),
                ("GET", "/nope-" + tag, {}, 404),
                ("POST", "/healthz", {}, 405),
                ("GET", "/metrics", {}, 401),
                ("GET", "/metrics", b.admin_headers(), 200),
                ("HEAD", "/healthz", {}, 200)]
        with b.connection() as c:
            for method, path, headers, status in reqs:
                self.assertEqual(c.request(method, path, headers=headers)[0], status)
        new = self.wait_lines(n0, len(reqs))
        self.assertEqual(len(new), len(reqs), "new log lines: %r" % new)
        parsed = []
        for line in new:
            m = LOG_LINE.match(line)
            self.assertIsNotNone(m, "malformed log line: %r" % line)
            self.assertEqual(m.group(2), "127.0.0.1")
            parsed.append((m.group(3), m.group(4), int(m.group(5))))
        self.assertEqual(sorted(parsed),
                         sorted((m, p, s) for m, p, _, s in reqs))

    def test_admin_token_never_logged(self):
        b = self.b
        tok = b.admin_token
        n0 = len(self.log_lines())
        b.request("GET", "/metrics", headers=b.admin_headers())
        b.request("GET", "/metrics", headers={"Authorization": "Bearer " + tok[:-1] + "x"})
        b.request("GET", "/metrics?token=" + tok)
        self.wait_lines(n0, 3)
        text = b.read_access_log()
        self.assertNotIn(tok, text)
        self.assertNotIn(tok[:-1], text)

    def test_path_quote_and_newline_escaped(self):
        b = self.b
        n0 = len(self.log_lines())
        tag = uuid.uuid4().hex[:8]
        status, _, _ = b.request("GET", "/x%22y%0aGET%20/forged%20HTTP/1.1%5c" + tag)
        self.assertEqual(status, 404)
        status, _, _ = b.request("GET", "/raw\"q\\" + tag)
        self.assertEqual(status, 404)
        status, _, _ = b.request("GET", "/ctl%01%7f%ff" + tag)
        self.assertEqual(status, 404)
        new = self.wait_lines(n0, 3)
        self.assertEqual(len(new), 3, "a path split a log line: %r" % new)
        for line in new:
            self.assertIsNotNone(LOG_LINE.match(line), "malformed: %r" % line)
        joined = "\n".join(new)
        self.assertIn('"GET /x\\x22y\\x0aGET /forged HTTP/1.1\\x5c%s" 404' % tag,
                      joined)
        self.assertIn('/raw\\x22q\\x5c%s" 404' % tag, joined)
        self.assertIn('/ctl\\x01\\x7f\\xff%s" 404' % tag, joined)

    def test_log_flushed_within_interval(self):
        n0 = len(self.log_lines())
        self.b.request("GET", "/healthz")
        ok = wait_until(lambda: len(self.log_lines()) > n0, timeout=1.0)
        self.assertTrue(ok, "no log line within 1 s with --log-flush-ms 20")
