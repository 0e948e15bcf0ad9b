"""ccx-admin company update/list/show against a running daemon: changes
show in the directory and in the authorization endpoint at once, and bad
values change nothing."""

import json
import unittest
import urllib.parse

from harness import Broker

CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


class CompanyAdminTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.b = Broker()
        cls.b.admin("company", "add", "shop", "--name", "Shop",
                    "--redirect-uri", "https://shop.example/cb")

    @classmethod
    def tearDownClass(cls):
        cls.b.cleanup()

    def directory(self):
        st, _, data = self.b.request("GET", "/v1/companies")
        self.assertEqual(st, 200)
        return {c["id"]: c for c in json.loads(data)["companies"]}

    def authorize(self, redirect):
        q = urllib.parse.urlencode({
            "response_type": "code", "client_id": "shop",
            "redirect_uri": redirect, "scope": "read:language",
            "purpose": "service", "state": "s",
            "code_challenge": CHALLENGE, "code_challenge_method": "S256"})
        return self.b.request("GET", "/oauth/authorize?" + q)[0]

    def test_update_shows_at_once(self):
        out = json.loads(self.b.admin(
            "company", "update", "shop", "--name", "Shop & Co",
            "--description", "Everything", "--site",
            "https://shop.example").stdout)
        self.assertEqual(out["name"], "Shop & Co")
        self.assertNotIn("client_secret", out)
        self.assertNotIn("secrets", out)
        d = self.directory()["shop"]
        self.assertEqual((d["name"], d["description"], d["site"]),
                         ("Shop & Co", "Everything", "https://shop.example"))
        # Redirect URIs are replaced as a list.
        self.assertEqual(self.authorize("https://shop.example/cb"), 200)
        self.b.admin("company", "update", "shop", "--redirect-uri",
                     "https://shop.example/new")
        self.assertEqual(self.authorize("https://shop.example/cb"), 400)
        self.assertEqual(self.authorize("https://shop.example/new"), 200)
        shown = json.loads(self.b.admin("company", "show", "shop").stdout)
        self.assertEqual(shown["redirect_uris"], ["https://shop.example/new"])
        listed = json.loads(self.b.admin("company", "list").stdout)
        self.assertIn("shop", [c["client_id"] for c in listed])

    def test_bad_updates_change_nothing(self):
        before = json.loads(self.b.admin("company", "show", "shop").stdout)
        for args in (("--site", "ftp://x"), ("--redirect-uri", "http://evil/"),
                     ("--redirect-uri", "https://a@evil.example/"),
                     ("--name", ""), ("--bogus", "x"), ("--overlap", "1h")):
            with self.subTest(args=args):
                p = self.b.admin("company", "update", "shop", *args,
                                 check=False)
                self.assertNotEqual(p.returncode, 0)
                self.assertEqual(p.stdout, "")
        p = self.b.admin("company", "update", "nobody", "--name", "x",
                         check=False)
        self.assertEqual(p.returncode, 1)
        after = json.loads(self.b.admin("company", "show", "shop").stdout)
        self.assertEqual(before, after)

    def test_disabled_company_leaves_the_directory(self):
        self.b.admin("company", "add", "gone", "--name", "Gone")
        self.assertIn("gone", self.directory())
        self.b.admin("company", "disable", "gone")
        self.assertNotIn("gone", self.directory())
        self.b.admin("company", "enable", "gone")
        self.assertIn("gone", self.directory())


if __name__ == "__main__":
    unittest.main()
