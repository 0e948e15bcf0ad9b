"""The customer's web page as the broker serves it, and what OAuth clients
discover.

GET / and GET /{asset}: the embedded files with a strict
Content-Security-Policy (nothing inline, nothing from elsewhere, no
framing), X-Frame-Options DENY, Referrer-Policy no-referrer, HSTS and
nosniff; the page itself is written so that such a policy does not break
it, and every file it loads is served.  Unknown files are a 404 problem.
RFC 8414 metadata for the authorization-code flow.
"""

import json
import re
from html.parser import HTMLParser

from harness import BrokerTestCase
from test_oauth_common import BASE_FLAGS

HTML = "text/html; charset=utf-8"
TYPES = {".html": HTML, ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


def csp_directives(value):
    """'a x y; b z' -> {'a': ['x', 'y'], 'b': ['z']}."""
    out = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            out[words[0].lower()] = words[1:]
    return out


class PageScan(HTMLParser):
    """What a strict CSP cares about in an HTML document."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.scripts = []           # (attrs, inline text)
        self.styles = 0             # <style> elements
        self.inline_handlers = []   # on*= attributes
        self.style_attrs = []       # style= attributes
        self.urls = []              # (tag, attribute, value)
        self._in_script = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k, v in attrs:
            if k.startswith("on"):
                self.inline_handlers.append((tag, k, v))
            if k == "style":
                self.style_attrs.append((tag, v))
            if k in ("src", "href", "action", "formaction") and v:
                self.urls.append((tag, k, v))
        if tag == "script":
            self._in_script = [a, ""]
            self.scripts.append(self._in_script)
        if tag == "style":
            self.styles += 1

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = None

    def handle_data(self, data):
        if self._in_script is not None:
            self._in_script[1] += data


# Module specifiers: import/export ... from "x", import "x", import("x").
IMPORT_RE = re.compile(
    r"""(?:^|[;\s])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]"""
    r"""|(?:^|[;\s])import\s*['"]([^'"]+)['"]"""
    r"""|import\(\s*['"]([^'"]+)['"]\s*\)""", re.M)


class PageTests(BrokerTestCase):
    broker_flags = BASE_FLAGS

    def assertPageHeaders(self, h, ctype):
        self.assertEqual(h.get("Content-Type"), ctype)
        self.assertSecurityHeaders(h)      # no-store, nosniff, HSTS
        csp = h.get("Content-Security-Policy")
        self.assertIsNotNone(csp, "no Content-Security-Policy")
        d = csp_directives(csp)
        self.assertNotIn("'unsafe-inline'", csp)
        self.assertNotIn("'unsafe-eval'", csp)
        self.assertNotIn("'unsafe-hashes'", csp)
        self.assertEqual(d.get("default-src"), ["'none'"], csp)
        self.assertEqual(d.get("frame-ancestors"), ["'none'"], csp)
        self.assertIn(d.get("base-uri"), (["'none'"], ["'self'"]), csp)
        self.assertIn(d.get("form-action"), (["'none'"], ["'self'"]), csp)
        for name in ("script-src", "style-src", "connect-src"):
            self.assertEqual(d.get(name), ["'self'"], csp)
        for name, sources in d.items():
            for s in sources:
                self.assertNotIn(s, ("*", "http:", "https:", "blob:"),
                                 "%s allows %s" % (name, s))
        self.assertEqual(h.get("X-Frame-Options"), "DENY")
        self.assertEqual(h.get("Referrer-Policy"), "no-referrer")

    def page(self):
        """GET /: skips when the page is not there yet."""
        st, h, data = self.b.request("GET", "/")
        if st == 404:
            self.skipTest("GET / answers 404: the page is not built in yet")
        return st, h, data

    # ---- headers -----------------------------------------------------------

    def test_root_and_index_headers(self):
        st, h, data = self.page()
        self.assertEqual(st, 200, data[:200])
        self.assertPageHeaders(h, HTML)
        st2, h2, data2 = self.b.request("GET", "/index.html")
        self.assertEqual(st2, 200)
        self.assertPageHeaders(h2, HTML)
        self.assertEqual(data2, data)
        # HEAD: the same head, no body.
        st, h, data = self.b.request("HEAD", "/")
        self.assertEqual(st, 200)
        self.assertEqual(data, b"")
        self.assertPageHeaders(h, HTML)

    def test_error_page_headers(self):
        """The page /oauth/authorize shows instead of redirecting is
        served under the same policy, and escapes what it shows."""
        st, h, data = self.b.request(
            "GET", "/oauth/authorize?client_id=%3Cscript%3Ealert(1)%3C%2F"
            "script%3E&redirect_uri=https%3A%2F%2Fevil.example%2F%22%3E")
        self.assertEqual(st, 400)
        self.assertNotIn("Location", h)
        self.assertPageHeaders(h, HTML)
        text = data.decode()
        self.assertNotIn("<script", text)
        self.assertNotIn("evil.example", text)
        self.assertTrue(text.lower().startswith("<!doctype html>"))

    def test_unknown_files_are_404_problems(self):
        for path in ("/nope.js", "/nope.css", "/index.htm", "/INDEX.HTML",
                     "/app.JS", "/index.html/", "/web/index.html",
                     "/embed.sh", "/.env", "/..%2fMakefile", "/%2e%2e",
                     "/favicon.ico"):
            with self.subTest(path=path):
                resp = self.b.request("GET", path)
                self.assertProblem(self.b, resp, 404, "not-found")
                self.assertNotIn("Content-Security-Policy", resp[1])

    def test_page_methods(self):
        st, h, data = self.b.request("POST", "/", headers={
            "Content-Type": "application/json"}, body=b"{}")
        self.assertProblem(self.b, (st, h, data), 405, "method-not-allowed")
        self.assertEqual({m.strip() for m in h.get("Allow", "").split(",")},
                         {"GET", "HEAD"})
        st, h, data = self.b.request("DELETE", "/index.html")
        self.assertProblem(self.b, (st, h, data), 405, "method-not-allowed")

    # ---- content ---------------------------------------------------------

    def test_page_works_under_its_policy(self):
        """Nothing inline (scripts, handlers, styles) that the CSP would
        block; nothing loaded from elsewhere; every local file the page
        loads, and every module those import, is served with its type and
        the same headers."""
        st, h, data = self.page()
        self.assertEqual(st, 200)
        scan = PageScan()
        scan.feed(data.decode("utf-8"))
        self.assertTrue(scan.scripts, "the page loads no script")
        for attrs, text in scan.scripts:
            self.assertIn("src", attrs, "inline <script>: %r" % text[:80])
            self.assertEqual(text.strip(), "", "inline script text")
        self.assertEqual(scan.inline_handlers, [])
        self.assertEqual(scan.style_attrs, [])
        self.assertEqual(scan.styles, 0, "<style> element")
        local = []
        for tag, attr, url in scan.urls:
            if url.startswith("#") or url.startswith("data:"):
                continue
            self.assertFalse(re.match(r"^[a-z][a-z0-9+.-]*:|^//", url, re.I)
                             and tag in ("script", "link"),
                             "loads from elsewhere: %s %s=%s" % (tag, attr,
                                                                 url))
            if tag in ("script", "link") and url.startswith("/"):
                local.append(url)
        seen, todo = set(), list(local)
        while todo:
            path = todo.pop()
            if path in seen:
                continue
            seen.add(path)
            with self.subTest(asset=path):
                st, h, body = self.b.request("GET", path)
                self.assertEqual(st, 200, "%s: %d" % (path, st))
                ext = path[path.rfind("."):]
                self.assertPageHeaders(h, TYPES.get(ext, h.get(
                    "Content-Type")))
                if ext == ".js":
                    src = body.decode("utf-8")
                    self.assertNotRegex(src, r"\beval\s*\(")
                    self.assertNotRegex(src, r"\bnew\s+Function\s*\(")
                    for m in IMPORT_RE.finditer(src):
                        spec = next(g for g in m.groups() if g)
                        if spec.startswith("./"):
                            todo.append("/" + spec[2:])
                        elif spec.startswith("/"):
                            todo.append(spec)
                        else:
                            self.fail("%s imports %r from elsewhere"
                                      % (path, spec))
        self.assertTrue(any(p.endswith(".js") for p in seen), seen)

    # ---- metadata --------------------------------------------------------

    def test_metadata_for_the_code_flow(self):
        st, h, data = self.b.request(
            "GET", "/.well-known/oauth-authorization-server")
        self.assertEqual(st, 200)
        self.assertEqual(h.get("Content-Type"), "application/json")
        m = json.loads(data)
        iss = self.b.issuer
        self.assertEqual(m["issuer"], iss)
        self.assertEqual(m["authorization_endpoint"], iss + "/oauth/authorize")
        self.assertEqual(m["token_endpoint"], iss + "/oauth/token")
        self.assertEqual(m["jwks_uri"], iss + "/.well-known/jwks.json")
        self.assertEqual(m["response_types_supported"], ["code"])
        self.assertEqual(m["code_challenge_methods_supported"], ["S256"])
        self.assertIs(m["authorization_response_iss_parameter_supported"],
                      True)
        self.assertIn("authorization_code", m["grant_types_supported"])
        self.assertIn("refresh_token", m["grant_types_supported"])
        self.assertNotIn("implicit", m["grant_types_supported"])
        self.assertEqual(m["token_endpoint_auth_methods_supported"],
                         ["client_secret_basic"])
        # Every URL it names answers (the authorization endpoint with its
        # error page when called bare, and never a redirect).
        st, h, _ = self.b.request("GET", "/oauth/authorize")
        self.assertEqual(st, 400)
        self.assertNotIn("Location", h)
        st, _, _ = self.b.request("GET", "/.well-known/jwks.json")
        self.assertEqual(st, 200)
