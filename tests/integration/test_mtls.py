"""Mutual TLS for companies (RFC 8705): the --mtls-listen listener, client
certificates issued by ccx-admin company cert, tls_client_auth at the
token endpoint, certificate-bound access tokens (cnf x5t#S256) honoured
only with their certificate, the metadata aliases, and what disabling a
company or revoking one of its certificates does."""

import base64
import hashlib
import json
import re
import ssl
import subprocess
import time
import unittest
import urllib.parse

from harness import Broker
from test_customer_accounts import FAST, JSON, Customer

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_of(jwt):
    part = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


class MtlsTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.b = Broker(flags=FAST + ["--mtls-listen", "127.0.0.1:0",
                                     "--signup-max", "1000"])
        m = re.search(r"mutual TLS on https://127\.0\.0\.1:(\d+)/",
                      cls.b.stderr())
        assert m, cls.b.stderr()
        cls.mport = int(m.group(1))
        cls.companies = {}
        for cid in ("acme", "other"):
            sec = json.loads(cls.b.admin("company", "add", cid, "--name",
                                         cid).stdout)["client_secret"]
            cert = json.loads(cls.b.admin("company", "cert", cid).stdout)
            cls.companies[cid] = dict(cert, secret=sec)
        c = cls.customer = Customer(cls.b)
        assert c.register("mtls-owner")[0] == 201
        sess = cls.session = c.token("mtls-owner")
        st, h, _ = c.as_(sess, "GET", "/v1/me/profile")
        c.as_(sess, "PUT", "/v1/me/profile",
              dict(JSON, **{"If-Match": h.get("ETag")}),
              b'{"language":"pt","interests":["surf"]}')
        st, _, data = c.as_(sess, "POST", "/v1/me/grants", JSON, json.dumps({
            "company": "acme", "scopes": ["read:language"],
            "purpose": "service", "expires_at": int(time.time()) + 86400,
        }).encode())
        assert st == 201, data
        cls.grant = json.loads(data)["id"]

    @classmethod
    def tearDownClass(cls):
        cls.b.cleanup()

    def ctx(self, company=None):
        ctx = self.b.ssl_context()
        if company is not None:
            c = self.companies[company]
            ctx.load_cert_chain(c["certificate"], c["private_key"])
        return ctx

    def mtls(self, method, path, headers=None, body=None, company=None):
        import http.client
        conn = http.client.HTTPSConnection("localhost", self.mport, timeout=5,
                                           context=self.ctx(company))
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()

    def token_form(self, cid="acme", grant=None):
        return urllib.parse.urlencode({
            "grant_type": "urn:ccx:params:oauth:grant-type:grant",
            "grant_id": grant or self.grant, "client_id": cid}).encode()

    def bound_token(self):
        st, _, data = self.mtls("POST", "/oauth/token", FORM,
                                self.token_form(), company="acme")
        self.assertEqual(st, 200, data)
        return json.loads(data)["access_token"]

    def test_cert_files_and_thumbprint(self):
        c = self.companies["acme"]
        for path in (c["certificate"], c["private_key"]):
            self.assertEqual(oct(__import__("os").stat(path).st_mode & 0o777),
                             "0o600")
        pem = open(c["certificate"]).read()
        der = ssl.PEM_cert_to_DER_cert(pem)
        self.assertEqual(c["x5t#S256"], b64(hashlib.sha256(der).digest()))
        out = subprocess.run(["openssl", "x509", "-noout", "-subject",
                              "-ext", "extendedKeyUsage"], input=pem,
                             capture_output=True, text=True).stdout
        self.assertIn("acme", out)
        self.assertIn("TLS Web Client Authentication", out)

    def test_metadata_advertises_the_aliases(self):
        meta = json.loads(self.b.request(
            "GET", "/.well-known/oauth-authorization-server")[2])
        aliases = meta["mtls_endpoint_aliases"]
        self.assertEqual(aliases["token_endpoint"],
                         "https://localhost:%d/oauth/token" % self.mport)
        self.assertIn("tls_client_auth",
                      meta["token_endpoint_auth_methods_supported"])
        self.assertTrue(meta["tls_client_certificate_bound_access_tokens"])
        # The main listener's own endpoints are unchanged.
        self.assertEqual(meta["token_endpoint"],
                         self.b.issuer + "/oauth/token")

    def test_tls_client_auth_binds_the_token(self):
        tok = self.bound_token()
        self.assertEqual(claims_of(tok)["cnf"],
                         {"x5t#S256": self.companies["acme"]["x5t#S256"]})
        # Honoured with its certificate only.
        st, _, data = self.mtls("GET", "/v1/profile",
                                {"Authorization": "Bearer " + tok},
                                company="acme")
        self.assertEqual((st, json.loads(data)), (200, {"language": "pt"}))
        for where, company in (("main", None), ("mtls", None),
                               ("mtls", "other")):
            with self.subTest(where=where, company=company):
                if where == "main":
                    st, h, _ = self.b.request(
                        "GET", "/v1/profile", {"Authorization": "Bearer " + tok})
                else:
                    st, h, _ = self.mtls("GET", "/v1/profile",
                                         {"Authorization": "Bearer " + tok},
                                         company=company)
                self.assertEqual(st, 401)
                self.assertIn('error="invalid_token"',
                              h.get("WWW-Authenticate"))
        # Introspection shows the binding.
        auth = base64.b64encode(("acme:" + self.companies["acme"]["secret"])
                                .encode()).decode()
        st, _, data = self.b.request(
            "POST", "/oauth/introspect",
            dict(FORM, Authorization="Basic " + auth),
            ("token=" + tok).encode())
        self.assertEqual(json.loads(data)["cnf"]["x5t#S256"],
                         self.companies["acme"]["x5t#S256"])

    def test_tls_client_auth_failures(self):
        cases = [
            ("no certificate", None, "acme"),
            ("another company's certificate", "other", "acme"),
            ("no client_id", "acme", None),
        ]
        for name, company, cid in cases:
            with self.subTest(case=name):
                form = {"grant_type": "urn:ccx:params:oauth:grant-type:grant",
                        "grant_id": self.grant}
                if cid:
                    form["client_id"] = cid
                st, h, data = self.mtls(
                    "POST", "/oauth/token", FORM,
                    urllib.parse.urlencode(form).encode(), company=company)
                self.assertEqual(st, 401, data)
                self.assertEqual(json.loads(data)["error"], "invalid_client")

    def test_a_certificate_the_broker_did_not_issue(self):
        # Self-signed, with acme's name in every place the broker reads it:
        # only the chain to the broker's CA can tell it apart.
        import os
        import shutil
        import tempfile
        d = tempfile.mkdtemp(prefix="ccx-forged-")
        self.addCleanup(shutil.rmtree, d, True)
        key, crt = os.path.join(d, "k.pem"), os.path.join(d, "c.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", key, "-out", crt, "-days", "2",
                        "-subj", "/CN=acme",
                        "-addext", "subjectAltName=URI:urn:ccx:client:acme",
                        "-addext", "extendedKeyUsage=clientAuth"],
                       check=True, capture_output=True)
        ctx = self.b.ssl_context()
        ctx.load_cert_chain(crt, key)
        tok = self.bound_token()
        import http.client
        for path, headers, body, want in (
                ("/oauth/token", FORM, self.token_form(), "invalid_client"),
                ("/v1/profile", {"Authorization": "Bearer " + tok}, None,
                 "invalid_token")):
            with self.subTest(path=path):
                conn = http.client.HTTPSConnection(
                    "localhost", self.mport, timeout=5, context=ctx)
                try:
                    conn.request("POST" if body else "GET", path, body=body,
                                 headers=headers)
                    r = conn.getresponse()
                    data = r.read()
                    self.assertEqual(r.status, 401, data)
                    if want == "invalid_client":
                        self.assertEqual(json.loads(data)["error"], want)
                    else:
                        self.assertIn('error="invalid_token"',
                                      r.getheader("WWW-Authenticate"))
                finally:
                    conn.close()

    def test_basic_on_the_mtls_listener_is_unbound(self):
        auth = base64.b64encode(("acme:" + self.companies["acme"]["secret"])
                                .encode()).decode()
        st, _, data = self.mtls(
            "POST", "/oauth/token", dict(FORM, Authorization="Basic " + auth),
            self.token_form(), company="acme")
        self.assertEqual(st, 200, data)
        tok = json.loads(data)["access_token"]
        self.assertNotIn("cnf", claims_of(tok))
        self.assertEqual(self.b.request("GET", "/v1/profile",
                                        {"Authorization": "Bearer " + tok})[0],
                         200)

    def test_disabling_the_company_stops_its_certificate(self):
        tok = self.bound_token()
        self.b.admin("company", "disable", "acme")
        try:
            st, _, data = self.mtls("POST", "/oauth/token", FORM,
                                    self.token_form(), company="acme")
            self.assertEqual(st, 401, data)
            self.assertEqual(self.mtls("GET", "/v1/profile",
                                       {"Authorization": "Bearer " + tok},
                                       company="acme")[0], 401)
        finally:
            self.b.admin("company", "enable", "acme")
        self.assertEqual(self.mtls("GET", "/v1/profile",
                                   {"Authorization": "Bearer " + tok},
                                   company="acme")[0], 200)

    def test_revoking_a_certificate(self):
        # A company of its own, with two certificates and a grant.
        cid = "revoker"
        sec = json.loads(self.b.admin("company", "add", cid, "--name",
                                      cid).stdout)["client_secret"]
        for name in ("revoker-1", "revoker-2"):
            self.companies[name] = json.loads(
                self.b.admin("company", "cert", cid).stdout)
        x1 = self.companies["revoker-1"]["x5t#S256"]
        x2 = self.companies["revoker-2"]["x5t#S256"]
        st, _, data = self.customer.as_(
            self.session, "POST", "/v1/me/grants", JSON, json.dumps({
                "company": cid, "scopes": ["read:language"],
                "purpose": "service", "expires_at": int(time.time()) + 86400,
            }).encode())
        self.assertEqual(st, 201, data)
        form = self.token_form(cid, json.loads(data)["id"])
        st, _, data = self.mtls("POST", "/oauth/token", FORM, form,
                                company="revoker-1")
        self.assertEqual(st, 200, data)
        tok = json.loads(data)["access_token"]
        refresh = json.loads(data)["refresh_token"]
        self.assertEqual(claims_of(tok)["cnf"], {"x5t#S256": x1})
        bearer = {"Authorization": "Bearer " + tok}
        # Fetched twice: verified, cached, its access checked and reused.
        for _ in range(2):
            self.assertEqual(self.mtls("GET", "/v1/profile", bearer,
                                       company="revoker-1")[0], 200)

        out = json.loads(self.b.admin("company", "cert", cid, "--revoke",
                                      x1).stdout)
        self.assertEqual(out["client_id"], cid)
        self.assertEqual(out["x5t#S256"], x1)
        self.assertLessEqual(abs(out["revoked"] - time.time()), 60)

        # The cached bound token stops at its next use ...
        st, h, data = self.mtls("GET", "/v1/profile", bearer,
                                company="revoker-1")
        self.assertEqual(st, 401, data)
        self.assertIn('error="invalid_token"', h.get("WWW-Authenticate"))
        self.assertIn("certificate the token is bound to was revoked",
                      json.loads(data)["detail"])
        # ... introspection calls it inactive ...
        auth = base64.b64encode((cid + ":" + sec).encode()).decode()
        st, _, data = self.b.request(
            "POST", "/oauth/introspect",
            dict(FORM, Authorization="Basic " + auth),
            ("token=" + tok).encode())
        self.assertEqual((st, json.loads(data)), (200, {"active": False}))
        # ... and the certificate authenticates no more, anywhere.
        for path, body in (
                ("/oauth/token", form),
                ("/oauth/token", urllib.parse.urlencode({
                    "grant_type": "refresh_token", "client_id": cid,
                    "refresh_token": refresh}).encode()),
                ("/oauth/introspect", urllib.parse.urlencode({
                    "client_id": cid, "token": tok}).encode()),
                ("/oauth/revoke", urllib.parse.urlencode({
                    "client_id": cid, "token": tok}).encode())):
            with self.subTest(path=path, body=body[:40]):
                st, _, data = self.mtls("POST", path, FORM, body,
                                        company="revoker-1")
                self.assertEqual(st, 401, data)
                self.assertEqual(json.loads(data)["error"], "invalid_client")
        # The refresh token is not bound: the company's secret renews it.
        st, _, data = self.b.request(
            "POST", "/oauth/token", dict(FORM, Authorization="Basic " + auth),
            urllib.parse.urlencode({"grant_type": "refresh_token",
                                    "refresh_token": refresh}).encode())
        self.assertEqual(st, 200, data)
        self.assertNotIn("cnf", claims_of(json.loads(data)["access_token"]))

        # The company's other certificate, and its secret, still work.
        st, _, data = self.mtls("POST", "/oauth/token", FORM, form,
                                company="revoker-2")
        self.assertEqual(st, 200, data)
        tok2 = json.loads(data)["access_token"]
        self.assertEqual(claims_of(tok2)["cnf"], {"x5t#S256": x2})
        self.assertEqual(self.mtls("GET", "/v1/profile",
                                   {"Authorization": "Bearer " + tok2},
                                   company="revoker-2")[0], 200)
        st, _, data = self.b.request(
            "POST", "/oauth/token", dict(FORM, Authorization="Basic " + auth),
            form)
        self.assertEqual(st, 200, data)
        # Other companies' certificates are untouched.
        self.assertEqual(self.mtls("POST", "/oauth/token", FORM,
                                   self.token_form(), company="acme")[0], 200)

        # company show keeps the history; the admin trail has the act.
        certs = {c["x5t"]: c for c in json.loads(
            self.b.admin("company", "show", cid).stdout)["certs"]}
        self.assertEqual(certs[x1]["revoked"], out["revoked"])
        self.assertNotIn("revoked", certs[x2])
        last = json.loads(self.b.admin("audit", "--limit", "1").stdout)[0]
        self.assertEqual((last["action"], last["target"], last["x5t#S256"]),
                         ("company.cert.revoke", cid, x1))

        # Refusals change nothing.
        acme = self.companies["acme"]["x5t#S256"]
        for args, code, text in (
                ([cid, "--revoke", x1], 1, "already revoked"),
                ([cid, "--revoke", acme], 1, "has no certificate"),
                (["nobody", "--revoke", x2], 1, "not found"),
                ([cid, "--revoke", "short"], 2, "not an x5t#S256"),
                ([cid, "--revoke"], 2, "usage")):
            with self.subTest(args=args):
                p = self.b.admin("company", "cert", *args, check=False)
                self.assertEqual(p.returncode, code, p.stderr)
                self.assertIn(text, p.stderr)
        self.assertEqual(self.mtls("GET", "/v1/profile",
                                   {"Authorization": "Bearer " + tok2},
                                   company="revoker-2")[0], 200)

    def test_company_cert_from_a_csr(self):
        import os
        import shutil
        import tempfile
        d = tempfile.mkdtemp(prefix="ccx-csr-")
        self.addCleanup(shutil.rmtree, d, True)
        key, csr = os.path.join(d, "k.pem"), os.path.join(d, "r.csr")
        subprocess.run(["openssl", "req", "-new", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", key, "-out", csr, "-subj", "/CN=ignored"],
                       check=True, capture_output=True)
        out = json.loads(self.b.admin("company", "cert", "other", "--csr",
                                      csr).stdout)
        self.assertNotIn("private_key", out)
        ctx = self.b.ssl_context()
        ctx.load_cert_chain(out["certificate"], key)
        import http.client
        conn = http.client.HTTPSConnection("localhost", self.mport, timeout=5,
                                           context=ctx)
        conn.request("POST", "/oauth/token", body=self.token_form("other"),
                     headers=FORM)
        r = conn.getresponse()
        # Authenticated as "other" (the grant is acme's: invalid_grant).
        self.assertEqual(r.status, 400)
        self.assertEqual(json.loads(r.read())["error"], "invalid_grant")
        conn.close()
        p = self.b.admin("company", "cert", "other", "--csr", key, check=False)
        self.assertEqual(p.returncode, 1)
        p = self.b.admin("company", "cert", "nobody", check=False)
        self.assertEqual(p.returncode, 1)


if __name__ == "__main__":
    unittest.main()
