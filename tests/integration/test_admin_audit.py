"""The admin trail: every admin action (company changes, key and
certificate operations, backup, restore) is recorded and `ccx-admin audit`
prints it newest first, without any secret."""

import json
import os
import shutil
import tempfile
import unittest

from harness import Broker


class AdminAuditTests(unittest.TestCase):
    def setUp(self):
        self.b = Broker(start=False)
        self.tmp = tempfile.mkdtemp(prefix="ccx-audit-")

    def tearDown(self):
        self.b.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def trail(self, b=None, *args):
        return json.loads((b or self.b).admin("audit", *args).stdout)

    def test_actions_are_recorded_newest_first(self):
        b = self.b
        added = json.loads(b.admin("company", "add", "acme", "--name",
                                   "Acme").stdout)
        b.admin("company", "update", "acme", "--description", "Gear")
        b.admin("company", "disable", "acme")
        b.admin("company", "enable", "acme")
        rotated = json.loads(b.admin("company", "secret", "acme",
                                     "--overlap", "10m").stdout)
        kid = json.loads(b.admin("keys", "rotate").stdout)["kid"]
        b.admin("certs", "rotate", "--hostname", "h.test")
        path = os.path.join(self.tmp, "b.ccx")
        b.admin("backup", path)
        rows = self.trail()
        self.assertEqual([r["action"] for r in rows], [
            "backup", "certs.rotate", "keys.rotate", "company.secret",
            "company.enable", "company.disable", "company.update",
            "company.add"])
        self.assertEqual(rows[2]["target"], kid)
        self.assertEqual(rows[3]["overlap"], 600)
        self.assertIn("h.test", rows[1]["names"])
        self.assertTrue(all(rows[i]["ts"] >= rows[i + 1]["ts"]
                            for i in range(len(rows) - 1)))
        text = b.admin("audit").stdout
        for secret in (added["client_secret"], rotated["client_secret"]):
            self.assertNotIn(secret, text)
        self.assertEqual(len(self.trail(None, "--limit", "2")), 2)
        for bad in (("--limit", "0"), ("--limit", "x"), ("extra",)):
            self.assertEqual(b.admin("audit", *bad, check=False).returncode,
                             2)
        # A restored deployment carries the trail and records the restore.
        r = Broker(start=False)
        try:
            shutil.rmtree(r.data)
            r.admin("restore", path)
            actions = [x["action"] for x in self.trail(r)]
            self.assertEqual(actions[0], "restore")
            self.assertIn("company.add", actions)
        finally:
            r.cleanup()


if __name__ == "__main__":
    unittest.main()
