"""TLS: versions, cipher suites, the certificate and its names.

The broker speaks TLS 1.2 and 1.3 only, with AEAD suites only (AES-GCM,
ChaCha20-Poly1305) and an ECDSA P-256 certificate issued by the
deployment's own CA.  Refusals are checked two ways: with the ssl module
(and `openssl s_client` when the local OpenSSL will not even offer an old
protocol) and with a hand-made ClientHello, whose answer is read byte by
byte so nothing on the client side can hide what the server chose.
"""

import os
import shutil
import socket
import ssl
import struct
import subprocess
import warnings

from harness import Broker, BrokerTestCase, HOST, t

warnings.filterwarnings("ignore", category=DeprecationWarning,
                        message=".*TLSVersion.*")

# Cipher suite code points (IANA).
ECDHE_ECDSA_AES128_GCM_SHA256 = 0xC02B
ECDHE_ECDSA_AES256_GCM_SHA384 = 0xC02C
ECDHE_ECDSA_CHACHA20_POLY1305 = 0xCCA9
ECDHE_ECDSA_AES128_CBC_SHA = 0xC009
ECDHE_ECDSA_AES256_CBC_SHA = 0xC00A
ECDHE_ECDSA_AES128_CBC_SHA256 = 0xC023
ECDHE_RSA_AES128_CBC_SHA = 0xC013
RSA_AES128_CBC_SHA = 0x002F
RSA_AES128_GCM_SHA256 = 0x009C
ECDHE_ECDSA_AES128_CCM = 0xC0AC

# OID 1.2.840.10045.3.1.7 (prime256v1 / P-256), DER encoded.
P256_OID = bytes.fromhex("06082A8648CE3D030107")
# OID 1.2.840.10045.2.1 (id-ecPublicKey), DER encoded.
EC_PUBKEY_OID = bytes.fromhex("06072A8648CE3D0201")


def _ext(kind, data):
    return struct.pack("!HH", kind, len(data)) + data


def client_hello(version, suites, server_name="localhost"):
    """A ClientHello record offering `suites` at `version` (0x0301 = TLS
    1.0 ... 0x0303 = TLS 1.2), with the extensions an ECDHE-ECDSA server
    needs (SNI, groups, point formats, signature algorithms)."""
    name = server_name.encode()
    sni = struct.pack("!HBH", len(name) + 3, 0, len(name)) + name
    groups = struct.pack("!H3H", 6, 0x001D, 0x0017, 0x0018)
    sigalgs = struct.pack("!H4H", 8, 0x0403, 0x0503, 0x0804, 0x0401)
    exts = (_ext(0x0000, sni) + _ext(0x000A, groups) + _ext(0x000B, b"\x01\x00") +
            _ext(0x000D, sigalgs) + _ext(0xFF01, b"\x00"))
    body = (struct.pack("!H", version) + os.urandom(32) + b"\x20" + os.urandom(32) +
            struct.pack("!H", 2 * len(suites)) +
            b"".join(struct.pack("!H", s) for s in suites) + b"\x01\x00" +
            struct.pack("!H", len(exts)) + exts)
    hs = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16" + struct.pack("!HH", 0x0301, len(hs)) + hs


def server_answer(port, hello, timeout=3.0):
    """Sends a ClientHello; returns ("hello", version, suite) for a
    ServerHello, ("alert", level, description) for an alert, ("closed",)
    when the server hung up without either."""
    with socket.create_connection((HOST, port), timeout=t(timeout)) as s:
        s.sendall(hello)
        data = b""
        try:
            while len(data) < 5 or len(data) < 5 + struct.unpack("!H", data[3:5])[0]:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        except socket.timeout:
            raise AssertionError("server neither answered nor closed within "
                                 "%.1fs (got %r)" % (t(timeout), data[:20]))
    if len(data) < 5:
        return ("closed",)
    if data[0] == 0x15 and len(data) >= 7:
        return ("alert", data[5], data[6])
    if data[0] == 0x16 and len(data) >= 9 and data[5] == 0x02:
        version = struct.unpack("!H", data[9:11])[0]
        sid_len = data[43]
        suite = struct.unpack("!H", data[44 + sid_len:46 + sid_len])[0]
        return ("hello", version, suite)
    return ("other", data[:16])


class TlsTests(BrokerTestCase):

    broker_flags = []

    def ctx(self, minv=None, maxv=None, ciphers=None):
        c = self.b.ssl_context()
        if ciphers:
            c.set_ciphers(ciphers)
        if minv is not None:
            c.minimum_version = minv
        if maxv is not None:
            c.maximum_version = maxv
        return c

    def handshake(self, ctx, server_hostname="localhost"):
        """(version, cipher) of a finished handshake, after one request."""
        with self.b.tls(context=ctx, server_hostname=server_hostname) as c:
            c.send(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            status, _, _ = c.read_response()
            self.assertEqual(status, 200)
            return c.sock.version(), c.sock.cipher()[0]

    def assertHandshakeRefused(self, ctx):
        try:
            with self.b.tls(context=ctx) as c:
                self.fail("handshake succeeded: %s %s" %
                          (c.sock.version(), c.sock.cipher()))
        except ssl.SSLCertVerificationError:
            raise
        except (ssl.SSLError, ConnectionError) as e:
            return e

    def assertNotNegotiated(self, answer, what):
        self.assertIn(answer[0], ("closed", "alert"),
                      "%s: the server answered %r" % (what, answer))
        if answer[0] == "alert":
            self.assertEqual(answer[1], 2, "a refusal is a fatal alert")

    def _local_refusal(self, e):
        """True when OpenSSL here refused to offer the protocol at all."""
        text = str(e).upper()
        return any(w in text for w in ("NO_PROTOCOLS_AVAILABLE",
                                       "NO PROTOCOLS AVAILABLE",
                                       "NO_CIPHERS_AVAILABLE",
                                       "UNSUPPORTED_PROTOCOL"))

    def _old_protocol_refused(self, version, sclient_flag):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(self.b.ca)
        try:
            ctx.set_ciphers("ALL:@SECLEVEL=0")
            ctx.minimum_version = version
            ctx.maximum_version = version
        except (ssl.SSLError, ValueError):
            ctx = None
        e = self.assertHandshakeRefused(ctx) if ctx else None
        if ctx is None or self._local_refusal(e):
            # The local OpenSSL would not offer it: ask s_client instead.
            if shutil.which("openssl") is None:
                self.skipTest("neither ssl nor openssl s_client offers %s" %
                              sclient_flag)
            p = subprocess.run(
                ["openssl", "s_client", "-connect", "%s:%d" % (HOST, self.b.port),
                 sclient_flag, "-cipher", "ALL:@SECLEVEL=0", "-CAfile", self.b.ca],
                input=b"", capture_output=True, timeout=t(15))
            out = p.stdout.decode(errors="replace")
            self.assertNotEqual(p.returncode, 0, out[-500:])
            self.assertRegex(out, r"Cipher is \(NONE\)|Cipher\s*:\s*0000")

    def test_tls10_refused(self):
        self._old_protocol_refused(ssl.TLSVersion.TLSv1, "-tls1")

    def test_tls11_refused(self):
        self._old_protocol_refused(ssl.TLSVersion.TLSv1_1, "-tls1_1")

    def test_tls10_and_11_hello_not_answered(self):
        suites = [ECDHE_ECDSA_AES128_CBC_SHA, ECDHE_ECDSA_AES256_CBC_SHA,
                  ECDHE_RSA_AES128_CBC_SHA, RSA_AES128_CBC_SHA]
        for version in (0x0301, 0x0302):
            with self.subTest(version=hex(version)):
                self.assertNotNegotiated(
                    server_answer(self.b.port, client_hello(version, suites)),
                    "TLS %s hello" % hex(version))

    def test_tls12_gcm_hello_answered(self):
        # The raw hello is good enough to be answered when it offers an
        # acceptable suite: the refusals above are the server's choice.
        ans = server_answer(self.b.port, client_hello(
            0x0303, [ECDHE_ECDSA_AES128_CBC_SHA, ECDHE_ECDSA_AES128_GCM_SHA256]))
        self.assertEqual(ans, ("hello", 0x0303, ECDHE_ECDSA_AES128_GCM_SHA256))

    def test_tls12_cbc_refused(self):
        for suites in ("ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES128-SHA",
                       "ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-AES256-SHA"):
            with self.subTest(suites=suites):
                self.assertHandshakeRefused(self.ctx(
                    maxv=ssl.TLSVersion.TLSv1_2,
                    ciphers=suites + ":@SECLEVEL=0"))
        self.assertNotNegotiated(server_answer(self.b.port, client_hello(
            0x0303, [ECDHE_ECDSA_AES128_CBC_SHA256, ECDHE_ECDSA_AES128_CBC_SHA,
                     ECDHE_ECDSA_AES256_CBC_SHA])), "TLS 1.2 CBC-only hello")

    def test_tls12_non_ecdhe_and_ccm_refused(self):
        self.assertNotNegotiated(server_answer(self.b.port, client_hello(
            0x0303, [RSA_AES128_GCM_SHA256, RSA_AES128_CBC_SHA])),
            "static-RSA hello")
        self.assertNotNegotiated(server_answer(self.b.port, client_hello(
            0x0303, [ECDHE_ECDSA_AES128_CCM])), "AES-CCM hello")

    def test_tls12_aes128_gcm_accepted(self):
        self.assertEqual(self.handshake(self.ctx(
            maxv=ssl.TLSVersion.TLSv1_2, ciphers="ECDHE-ECDSA-AES128-GCM-SHA256")),
            ("TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256"))

    def test_tls12_aes256_gcm_accepted(self):
        self.assertEqual(self.handshake(self.ctx(
            maxv=ssl.TLSVersion.TLSv1_2, ciphers="ECDHE-ECDSA-AES256-GCM-SHA384")),
            ("TLSv1.2", "ECDHE-ECDSA-AES256-GCM-SHA384"))

    def test_tls12_chacha20_accepted(self):
        self.assertEqual(self.handshake(self.ctx(
            maxv=ssl.TLSVersion.TLSv1_2, ciphers="ECDHE-ECDSA-CHACHA20-POLY1305")),
            ("TLSv1.2", "ECDHE-ECDSA-CHACHA20-POLY1305"))

    def test_tls13_accepted(self):
        version, cipher = self.handshake(self.ctx(minv=ssl.TLSVersion.TLSv1_3))
        self.assertEqual(version, "TLSv1.3")
        self.assertIn(cipher, ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                               "TLS_CHACHA20_POLY1305_SHA256"))

    def test_default_client_gets_tls13(self):
        self.assertEqual(self.handshake(self.b.ssl_context())[0], "TLSv1.3")

    def test_tls13_ccm_refused(self):
        if shutil.which("openssl") is None:
            self.skipTest("openssl not installed")
        p = subprocess.run(
            ["openssl", "s_client", "-connect", "%s:%d" % (HOST, self.b.port),
             "-tls1_3", "-ciphersuites", "TLS_AES_128_CCM_SHA256",
             "-CAfile", self.b.ca], input=b"", capture_output=True, timeout=t(15))
        out = p.stdout.decode(errors="replace")
        self.assertNotEqual(p.returncode, 0, out[-500:])
        self.assertIn("Cipher is (NONE)", out)

    # ---- the certificate ------------------------------------------------------

    def test_verifies_for_localhost(self):
        self.assertEqual(self.handshake(self.b.ssl_context(), "localhost")[0],
                         "TLSv1.3")

    def test_verifies_for_127_0_0_1(self):
        self.handshake(self.b.ssl_context(), "127.0.0.1")

    def test_names_in_certificate(self):
        with self.b.tls() as c:
            cert = c.sock.getpeercert()
        sans = cert["subjectAltName"]
        self.assertIn(("DNS", "localhost"), sans)
        self.assertIn(("IP Address", "127.0.0.1"), sans)
        self.assertTrue(("IP Address", "0:0:0:0:0:0:0:1") in sans or
                        ("IP Address", "::1") in sans, sans)

    def test_wrong_name_fails(self):
        with self.assertRaises(ssl.SSLCertVerificationError):
            with self.b.tls(server_hostname="ccx.example.com"):
                pass

    def test_ecdsa_p256_certificate(self):
        with self.b.tls() as c:
            der = c.sock.getpeercert(binary_form=True)
        self.assertIn(EC_PUBKEY_OID, der, "not an EC public key")
        self.assertIn(P256_OID, der, "not a P-256 key")

    def test_system_cas_do_not_trust_it(self):
        ctx = ssl.create_default_context()
        with self.assertRaises(ssl.SSLCertVerificationError):
            with socket.create_connection((HOST, self.b.port), timeout=t(5)) as s:
                with ctx.wrap_socket(s, server_hostname="localhost"):
                    pass

    def test_plain_http_gets_no_http_response(self):
        with self.b.tcp(timeout=3) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            data = b""
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except (socket.timeout, ConnectionResetError):
                pass
        self.assertFalse(data.startswith(b"HTTP/"), data[:80])
        self.assertNotIn(b"200 OK", data)
        self.assertNotIn(b'"status":"ok"', data)

    def test_daemon_healthy_after_refusals(self):
        self.assertHandshakeRefused(self.ctx(maxv=ssl.TLSVersion.TLSv1_2,
                                             ciphers="ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0"))
        self.assertEqual(self.b.request("GET", "/healthz")[0], 200)


class HostnameTests(BrokerTestCase):
    """--hostname adds names to the server certificate."""

    broker_flags = []
    broker_init_args = ("--hostname", "ccx.example.test",
                        "--hostname", "broker.internal.test")

    def test_extra_names_verify(self):
        for name in ("ccx.example.test", "broker.internal.test", "localhost",
                     "127.0.0.1"):
            with self.subTest(name=name):
                with self.b.tls(server_hostname=name) as c:
                    c.send(b"GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n" % name.encode())
                    self.assertEqual(c.read_response()[0], 200)

    def test_other_names_still_fail(self):
        with self.assertRaises(ssl.SSLCertVerificationError):
            with self.b.tls(server_hostname="other.example.test"):
                pass

    def test_other_deployments_ca_does_not_verify(self):
        other = Broker(start=False)
        self.addCleanup(other.cleanup)
        ctx = other.ssl_context()
        with self.assertRaises(ssl.SSLCertVerificationError):
            with self.b.tls(context=ctx):
                pass
