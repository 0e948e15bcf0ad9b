"""Integration test harness: runs the real ccx-broker on a free loopback port.

A Broker owns one temporary directory holding the data directory that
`ccx-admin init` created, the access log and the daemon's stderr.  It starts
`ccx-broker --listen 127.0.0.1:0`, learns the port from the daemon's
"listening on" line and talks to it over TLS, trusting only the deployment's
own CA (certs/ca.pem).

Every Broker ever created is remembered so that `cleanup_all()` (called by
run.py at exit, and by atexit) can kill daemons and remove directories even
when a test fails half-way.

Setting CCX_TEST_VALGRIND=1 (run.py --valgrind) runs every daemon under
valgrind, scales every timeout and makes stop() assert a zero exit status,
so that memory errors and definite leaks fail the suite.

Standard library only: it must run under Debian's /usr/bin/python3.
"""

import atexit
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BROKER_BIN = os.path.join(REPO, "bin", "ccx-broker")
ADMIN_BIN = os.path.join(REPO, "bin", "ccx-admin")

VALGRIND = os.environ.get("CCX_TEST_VALGRIND", "") not in ("", "0")
VALGRIND_CMD = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
                "--errors-for-leak-kinds=definite"]

# Every timeout in the suite is multiplied by this.
SCALE = 12.0 if VALGRIND else 1.0

HOST = "127.0.0.1"

_LISTEN_RE = re.compile(
    r"ccx-broker: listening on https://[^ ]*:(\d+)/ \(issuer ([^)\s]+)\)")

_all_brokers = []


def t(seconds):
    """A timeout, scaled for valgrind."""
    return seconds * SCALE


class BrokerError(AssertionError):
    """The daemon did something the harness cannot work with."""


class Headers:
    """Response headers: case-insensitive names, repeated headers kept."""

    def __init__(self, pairs=()):
        self._items = []
        for k, v in pairs:
            self._items.append((k, v))

    def add(self, name, value):
        self._items.append((name, value))

    def get(self, name, default=None):
        vals = self.get_all(name)
        return vals[0] if vals else default

    def get_all(self, name):
        n = name.lower()
        return [v for k, v in self._items if k.lower() == n]

    def __getitem__(self, name):
        vals = self.get_all(name)
        if not vals:
            raise KeyError(name)
        return vals[0]

    def __contains__(self, name):
        return bool(self.get_all(name))

    def items(self):
        return list(self._items)

    def __repr__(self):
        return "Headers(%r)" % (self._items,)


def _wait_readable(sock, timeout):
    """select() that also honours bytes already decrypted by the SSL object."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending() > 0:
        return True
    r, _, _ = select.select([sock], [], [], max(0.0, timeout))
    return bool(r)


class ClosedError(Exception):
    """The peer closed (or reset) the connection."""


class RawConnection:
    """A TLS (or plain TCP) socket for hand-made requests.

    Reads are buffered so responses can be parsed one at a time from a
    stream that may carry several (pipelining) or end in a close.
    """

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.eof = False
        self.reset = False

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        """Reads more bytes; False on timeout.  Sets eof/reset on close."""
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not _wait_readable(self.sock, remaining):
            return False
        try:
            chunk = self.sock.recv(65536)
        except ssl.SSLWantReadError:
            return True
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            chunk = b""
        except ConnectionResetError:
            self.reset = True
            chunk = b""
        except ssl.SSLError as e:
            # An alert or a truncated record: the connection is over.
            self.reset = "reset" in str(e).lower()
            chunk = b""
        except OSError:
            self.reset = True
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def read_until_close(self, timeout=2.0):
        """Everything until the peer closes, or until timeout (then raises)."""
        deadline = time.monotonic() + t(timeout)
        while not self.eof:
            if not self._fill(deadline) and not self.eof:
                raise TimeoutError("connection still open after %.1fs" %
                                   t(timeout))
        data, self.buf = self.buf, b""
        return data

    def read_available(self, quiet=0.3, timeout=2.0):
        """Bytes until the peer closes or stays silent for `quiet` seconds."""
        deadline = time.monotonic() + t(timeout)
        while not self.eof and time.monotonic() < deadline:
            step = min(deadline, time.monotonic() + t(quiet))
            if not self._fill(step):
                if self.eof:
                    break
                if time.monotonic() >= step:
                    break
        data, self.buf = self.buf, b""
        return data

    def closed_within(self, timeout, scaled=True):
        """True when the peer closes within timeout (data read meanwhile
        stays in self.buf).  scaled=False for checks that something did
        NOT happen too early, which valgrind must not stretch."""
        deadline = time.monotonic() + (t(timeout) if scaled else timeout)
        while not self.eof:
            if not self._fill(deadline) and not self.eof:
                return False
        return True

    def read_response(self, timeout=5.0, head=False):
        """Parses one HTTP/1.1 response: (status, Headers, body).

        Raises ClosedError when the connection ends before a complete
        response and TimeoutError when none arrives in time.
        """
        deadline = time.monotonic() + t(timeout)
        while b"\r\n\r\n" not in self.buf:
            if not self._fill(deadline):
                if self.eof:
                    raise ClosedError("closed after %r" % (self.buf[:200],))
                raise TimeoutError("no response head within %.1fs; got %r" %
                                   (t(timeout), self.buf[:200]))
        head_bytes, rest = self.buf.split(b"\r\n\r\n", 1)
        lines = head_bytes.decode("iso-8859-1").split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
        if not m:
            raise BrokerError("not an HTTP response: %r" % (lines[0],))
        status = int(m.group(1))
        headers = Headers()
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers.add(k.strip(), v.strip())
        self.buf = rest
        if head or status in (204, 304) or 100 <= status < 200:
            return status, headers, b""
        te = headers.get("Transfer-Encoding", "")
        if te.lower() == "chunked":
            body = self._read_chunked(deadline)
        elif "Content-Length" in headers:
            n = int(headers["Content-Length"])
            while len(self.buf) < n:
                if not self._fill(deadline):
                    raise ClosedError("body cut short: %d of %d bytes" %
                                      (len(self.buf), n))
            body, self.buf = self.buf[:n], self.buf[n:]
        else:
            while not self.eof:
                if not self._fill(deadline) and not self.eof:
                    raise TimeoutError("close-delimited body never ended")
            body, self.buf = self.buf, b""
        return status, headers, body

    def _read_chunked(self, deadline):
        body = b""
        while True:
            while b"\r\n" not in self.buf:
                if not self._fill(deadline):
                    raise ClosedError("chunked body cut short")
            line, self.buf = self.buf.split(b"\r\n", 1)
            size = int(line.split(b";")[0], 16)
            if size == 0:
                while b"\r\n" not in self.buf:
                    if not self._fill(deadline):
                        raise ClosedError("chunked trailer cut short")
                # Trailers are not used by the broker; skip to the blank line.
                while not self.buf.startswith(b"\r\n"):
                    _, self.buf = self.buf.split(b"\r\n", 1)
                    while b"\r\n" not in self.buf:
                        if not self._fill(deadline):
                            raise ClosedError("chunked trailer cut short")
                self.buf = self.buf[2:]
                return body
            while len(self.buf) < size + 2:
                if not self._fill(deadline):
                    raise ClosedError("chunk cut short")
            body += self.buf[:size]
            self.buf = self.buf[size + 2:]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Connection:
    """One keep-alive HTTPS connection (http.client) for several requests."""

    def __init__(self, broker, timeout=5.0, context=None, host=HOST):
        self.broker = broker
        self.conn = http.client.HTTPSConnection(
            host, broker.port, context=context or broker.ssl_context(),
            timeout=t(timeout))
        self.last_response = None

    def request(self, method, path, headers=None, body=None):
        hdrs = {"Host": "localhost:%d" % self.broker.port}
        hdrs.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        self.conn.request(method, path, body=body, headers=hdrs)
        resp = self.conn.getresponse()
        data = resp.read()
        self.last_response = resp
        return resp.status, Headers(resp.getheaders()), data

    @property
    def sock(self):
        return self.conn.sock

    def close(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Broker:
    """A data directory plus, while running, one ccx-broker process on it."""

    def __init__(self, flags=(), init_args=(), start=True, access_log=True,
                 log_flush_ms=20, audit_fold_ms=1000, prefix=()):
        _all_brokers.append(self)
        # A command the daemon runs under (prlimit, say): it must exec it.
        self.prefix = list(prefix)
        self.root = tempfile.mkdtemp(prefix="ccx-it-")
        self.data = os.path.join(self.root, "data")
        self.access_log = os.path.join(self.root, "access.log") \
            if access_log else None
        self.flags = list(flags)
        self.log_flush_ms = log_flush_ms
        self.audit_fold_ms = audit_fold_ms
        self.proc = None
        self.port = None
        self.issuer = None
        self.runs = 0
        self.stderr_path = None
        self._stderr_file = None
        self.init_output = self.admin("init", *init_args)
        self.init_json = json.loads(self.init_output.stdout)
        with open(os.path.join(self.data, "admin.token")) as f:
            self.admin_token = f.read().strip()
        self.ca = os.path.join(self.data, "certs", "ca.pem")
        if start:
            self.start()

    # ---- processes -------------------------------------------------------

    def admin(self, *args, check=True):
        """Runs ccx-admin --data DIR ARGS; CompletedProcess (text)."""
        p = subprocess.run([ADMIN_BIN, "--data", self.data] + list(args),
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=t(30))
        if check and p.returncode != 0:
            raise BrokerError("ccx-admin %s failed (%d): %s" %
                              (" ".join(args), p.returncode, p.stderr))
        return p

    def command(self, extra_flags=None):
        flags = list(self.flags if extra_flags is None else extra_flags)
        cmd = [BROKER_BIN, "--data", self.data, "--listen", "%s:0" % HOST]
        if self.access_log is not None and "--access-log" not in flags:
            cmd += ["--access-log", self.access_log]
        if "--log-flush-ms" not in flags and self.log_flush_ms is not None:
            cmd += ["--log-flush-ms", str(self.log_flush_ms)]
        # Reads reach the trail within a second (the default is 5 s), so
        # that tests of the trail wait less.
        if "--audit-fold-ms" not in flags and self.audit_fold_ms is not None:
            cmd += ["--audit-fold-ms", str(self.audit_fold_ms)]
        cmd += flags
        return self.prefix + ((VALGRIND_CMD + cmd) if VALGRIND else cmd)

    def start(self, flags=None, timeout=10.0):
        """Starts the daemon and waits for its "listening on" line."""
        if self.proc is not None:
            raise BrokerError("already running")
        if flags is not None:
            self.flags = list(flags)
        self.runs += 1
        self.stderr_path = os.path.join(self.root, "stderr.%d" % self.runs)
        self._stderr_file = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=self._stderr_file,
            start_new_session=True)
        deadline = time.monotonic() + t(timeout)
        while True:
            text = self.stderr()
            m = _LISTEN_RE.search(text)
            if m:
                self.port = int(m.group(1))
                self.issuer = m.group(2)
                return self
            rc = self.proc.poll()
            if rc is not None:
                self._reap()
                raise BrokerError("ccx-broker exited with %d before listening;"
                                  " stderr:\n%s" % (rc, text))
            if time.monotonic() > deadline:
                self.kill9()
                raise BrokerError("ccx-broker did not report its port within "
                                  "%.0fs; stderr:\n%s" % (t(timeout), text))
            time.sleep(0.02)

    def stderr(self):
        """The current run's stderr so far."""
        if self.stderr_path is None:
            return ""
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def _reap(self):
        if self._stderr_file is not None:
            self._stderr_file.close()
            self._stderr_file = None
        self.proc = None

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=10.0):
        """Waits for the daemon to exit; (exit code, stderr)."""
        try:
            rc = self.proc.wait(timeout=t(timeout))
        except subprocess.TimeoutExpired:
            text = self.stderr()
            self.kill9()
            raise BrokerError("ccx-broker still running after %.0fs; "
                              "stderr:\n%s" % (t(timeout), text))
        self._reap()
        return rc, self.stderr()

    def stop(self, timeout=15.0):
        """SIGTERM and wait: (exit code, stderr).  Under valgrind the exit
        code must be 0 (99 means valgrind found errors or leaks)."""
        if self.proc is None:
            raise BrokerError("not running")
        self.proc.send_signal(signal.SIGTERM)
        rc, text = self.wait(timeout)
        if VALGRIND and rc != 0:
            raise BrokerError("ccx-broker under valgrind exited %d; stderr:\n%s"
                              % (rc, text))
        return rc, text

    def kill9(self):
        if self.proc is None:
            return
        try:
            self.proc.kill()
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self._reap()

    def restart(self, flags=None, timeout=10.0):
        """Stops (if running) and starts again on the same data dir."""
        if self.proc is not None:
            self.stop()
        return self.start(flags=flags, timeout=timeout)

    def cleanup(self):
        if self.proc is not None:
            self.kill9()
        shutil.rmtree(self.root, ignore_errors=True)

    # ---- TLS and HTTP --------------------------------------------------------

    def ssl_context(self):
        """Trusts only this deployment's CA; verifies names."""
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH,
                                         cafile=self.ca)
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    def connection(self, timeout=5.0, context=None):
        """A keep-alive connection for several requests (context manager)."""
        return Connection(self, timeout=timeout, context=context)

    def request(self, method, path, headers=None, body=None, timeout=5.0):
        """One request on a new connection: (status, Headers, body bytes)."""
        with self.connection(timeout=timeout) as c:
            return c.request(method, path, headers=headers, body=body)

    def tcp(self, timeout=5.0):
        """A plain TCP socket to the daemon's port."""
        return socket.create_connection((HOST, self.port), timeout=t(timeout))

    def tls(self, context=None, server_hostname="localhost", timeout=5.0):
        """A RawConnection over a finished TLS handshake."""
        ctx = context or self.ssl_context()
        sock = self.tcp(timeout)
        try:
            ssock = ctx.wrap_socket(sock, server_hostname=server_hostname)
        except BaseException:
            sock.close()
            raise
        return RawConnection(ssock)

    def raw_tls(self, data, timeout=3.0, quiet=0.5):
        """Sends hand-made bytes over TLS and returns what comes back, up to
        the peer's close or `quiet` seconds of silence."""
        with self.tls(timeout=timeout) as c:
            c.send(data)
            return c.read_available(quiet=quiet, timeout=timeout)

    def admin_headers(self):
        return {"Authorization": "Bearer " + self.admin_token}

    def metrics(self):
        """GET /metrics with the admin token: {sample name with labels: value}."""
        status, _, body = self.request("GET", "/metrics",
                                       headers=self.admin_headers())
        if status != 200:
            raise BrokerError("GET /metrics answered %d: %r" % (status, body))
        return parse_metrics(body.decode())

    def read_access_log(self):
        if self.access_log is None or not os.path.exists(self.access_log):
            return ""
        with open(self.access_log, "rb") as f:
            return f.read().decode("utf-8", "replace")


def run_broker(args, timeout=10.0, data=None):
    """Runs ccx-broker to completion (for flags it must refuse):
    CompletedProcess with text stdout/stderr."""
    cmd = [BROKER_BIN] + (["--data", data] if data else []) + list(args)
    if VALGRIND:
        cmd = VALGRIND_CMD + cmd
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=t(timeout))


def parse_metrics(text):
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        out[name] = float(value)
    return out


def parse_responses(data):
    """Splits a byte stream into [(status, Headers, body)] (Content-Length
    framed; anything left over is returned as the second value)."""
    conn = RawConnection(None)
    conn.buf = data
    conn.eof = True
    out = []
    while b"\r\n\r\n" in conn.buf:
        try:
            out.append(conn.read_response(timeout=0))
        except (ClosedError, TimeoutError):
            break
    return out, conn.buf


def problem(body):
    """Decodes a problem+json body."""
    return json.loads(body.decode("utf-8"))


def wait_until(predicate, timeout=3.0, interval=0.02):
    """Polls predicate until true or timeout; returns its last value."""
    deadline = time.monotonic() + t(timeout)
    while True:
        v = predicate()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(interval)


SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


class BrokerTestCase(unittest.TestCase):
    """Assertions shared by the integration tests.

    A class that sets `broker_flags` (a list, possibly empty) gets one
    daemon for all its tests as `cls.b`, stopped with SIGTERM at the end:
    a non-zero exit status there fails the class.
    """

    maxDiff = None
    broker_flags = None
    broker_init_args = ()

    @classmethod
    def setUpClass(cls):
        if cls.broker_flags is not None:
            cls.b = Broker(flags=cls.broker_flags,
                           init_args=cls.broker_init_args)

    @classmethod
    def tearDownClass(cls):
        b = cls.__dict__.get("b")
        if b is None:
            return
        try:
            if b.proc is not None:
                rc, text = b.stop()
                if rc != 0:
                    raise BrokerError("ccx-broker exited %d on SIGTERM; "
                                      "stderr:\n%s" % (rc, text))
        finally:
            b.cleanup()

    def tearDown(self):
        # A class-wide daemon that died during the test is a finding of its
        # own (a crash on input): report it here, not as a string of
        # "connection refused" errors in the tests that follow.
        b = getattr(type(self), "b", None)
        if isinstance(b, Broker) and b.proc is not None:
            rc = b.proc.poll()
            if rc is not None:
                text = b.stderr()
                b._reap()
                self.fail("ccx-broker died during this test (exit %d, signal "
                          "%s); stderr:\n%s" % (rc, -rc if rc < 0 else "-", text))

    def assertSecurityHeaders(self, headers):
        for name, value in SECURITY_HEADERS.items():
            self.assertEqual(headers.get(name), value,
                             "%s header wrong in %r" % (name, headers))
        hsts = headers.get("Strict-Transport-Security")
        self.assertIsNotNone(hsts, "no Strict-Transport-Security header")
        m = re.search(r"max-age=(\d+)", hsts)
        self.assertTrue(m and int(m.group(1)) > 0, "bad HSTS: %r" % hsts)

    def assertProblem(self, broker, response, status, slug, detail=None):
        """response is (status, Headers, body): an RFC 9457 problem with
        type <issuer>/problems/<slug> and a status member equal to the
        HTTP status.  Returns the decoded problem."""
        got_status, headers, body = response
        self.assertEqual(got_status, status,
                         "expected %d, got %d: %r" % (status, got_status, body))
        ctype = headers.get("Content-Type", "")
        self.assertEqual(ctype.split(";")[0].strip(), "application/problem+json",
                         "Content-Type of a %d: %r" % (status, ctype))
        self.assertSecurityHeaders(headers)
        try:
            doc = problem(body)
        except ValueError:
            self.fail("problem body is not JSON: %r" % (body,))
        self.assertIsInstance(doc, dict)
        self.assertEqual(doc.get("type"), "%s/problems/%s" % (broker.issuer, slug),
                         "problem type: %r" % (doc,))
        self.assertEqual(doc.get("status"), status, "problem status: %r" % (doc,))
        self.assertIsInstance(doc.get("title"), str)
        self.assertTrue(doc["title"], "empty title")
        self.assertIsInstance(doc.get("detail"), str)
        self.assertTrue(doc["detail"], "empty detail")
        if detail is not None:
            self.assertEqual(doc["detail"], detail)
        return doc

    def skipIfRouteMissing(self, broker, method, path):
        """Skips while the endpoint does not exist yet (answers 404)."""
        headers = {}
        body = None
        if method in ("POST", "PUT", "PATCH"):
            headers["Content-Type"] = "application/json"
            body = b""
        status, _, _ = broker.request(method, path, headers=headers, body=body)
        if status == 404:
            self.skipTest("%s %s answers 404: endpoint not implemented yet"
                          % (method, path))


def cleanup_all():
    while _all_brokers:
        b = _all_brokers.pop()
        try:
            b.cleanup()
        except Exception:  # cleanup must go on for the others
            pass


atexit.register(cleanup_all)


def _on_signal(signum, frame):
    cleanup_all()
    raise SystemExit(128 + signum)


def install_signal_cleanup():
    """Kills daemons and removes directories when the suite is interrupted."""
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _on_signal)
