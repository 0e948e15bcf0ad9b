"""ccx-admin backup while the daemon serves writes, and restore into an
empty directory giving a broker that answers exactly as before: same
sessions, same tokens, same keys, same profile; refusals for a used
directory, an existing backup file and a damaged backup."""

import json
import os
import shutil
import stat
import tempfile
import threading
import time
import unittest

from harness import Broker
from test_customer_accounts import FAST, JSON, Customer


class BackupTests(unittest.TestCase):
    def setUp(self):
        self.b = Broker(flags=FAST + ["--signup-max", "1000"])
        self.tmp = tempfile.mkdtemp(prefix="ccx-backup-")

    def tearDown(self):
        self.b.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_backup_under_writes_and_restore(self):
        c = Customer(self.b)
        self.assertEqual(c.register("backed-up")[0], 201)
        tok = c.token("backed-up")
        st, h, _ = c.as_(tok, "GET", "/v1/me/profile")
        doc = {"language": "fi", "interests": ["saunas"]}
        st, h, _ = c.as_(tok, "PUT", "/v1/me/profile",
                         dict(JSON, **{"If-Match": h.get("ETag")}),
                         json.dumps(doc).encode())
        self.assertEqual(st, 200)
        etag = h.get("ETag")
        jwks = self.b.request("GET", "/.well-known/jwks.json")[2]

        # Writers keep going while the copy is taken.
        stop, errors, n = threading.Event(), [], [0]

        def writer():
            while not stop.is_set():
                n[0] += 1
                if c.register("w-%d" % n[0])[0] != 201:
                    errors.append(n[0])

        th = threading.Thread(target=writer)
        th.start()
        try:
            time.sleep(0.2)
            path = os.path.join(self.tmp, "backup.ccx")
            out = json.loads(self.b.admin("backup", path).stdout)
            self.assertEqual(out["backup"], path)
        finally:
            stop.set()
            th.join()
        self.assertEqual(errors, [])
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        # Never over an existing file.
        p = self.b.admin("backup", path, check=False)
        self.assertEqual(p.returncode, 1)

        # Restore into an empty directory and start a second broker there.
        target = os.path.join(self.tmp, "restored")
        r = Broker(flags=FAST, start=False)
        try:
            shutil.rmtree(r.data)
            p = r.admin("restore", path)
            self.assertEqual(json.loads(p.stdout)["data_dir"], r.data)
            for rel in ("certs/server.key", "keys", "pairwise.key",
                        "admin.token"):
                mode = stat.S_IMODE(os.stat(os.path.join(r.data,
                                                         rel)).st_mode)
                self.assertEqual(mode & 0o077, 0, rel)
            r.start()
            c2 = Customer(r)
            # The same session token, the same profile and ETag.
            st, h, data = c2.as_(tok, "GET", "/v1/me/profile")
            self.assertEqual(st, 200)
            self.assertEqual(json.loads(data), doc)
            self.assertEqual(h.get("ETag"), etag)
            self.assertEqual(r.request("GET", "/.well-known/jwks.json")[2],
                             jwks)
            self.assertEqual(c2.login("backed-up")[0], 201)
            # A restore never lands on a directory in use.
            p = r.admin("restore", path, check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn("not empty", p.stderr)
        finally:
            r.cleanup()
        del target

    def test_damaged_backups_restore_nothing(self):
        path = os.path.join(self.tmp, "b.ccx")
        self.b.admin("backup", path)
        with open(path, "rb") as f:
            good = f.read()
        cases = {
            "truncated": good[: len(good) // 2],
            "flipped": good[:100] + bytes([good[100] ^ 1]) + good[101:],
            "not a backup": b"hello world" * 10,
            "empty": b"",
        }
        for name, data in cases.items():
            with self.subTest(case=name):
                bad = os.path.join(self.tmp, name.replace(" ", "_"))
                with open(bad, "wb") as f:
                    f.write(data)
                target = os.path.join(self.tmp, "t-" + name.replace(" ", "_"))
                r = Broker(start=False)
                try:
                    shutil.rmtree(r.data)
                    p = r.admin("restore", bad, check=False)
                    self.assertEqual(p.returncode, 1, p.stderr)
                    self.assertFalse(os.path.exists(r.data))
                finally:
                    r.cleanup()
                del target


if __name__ == "__main__":
    unittest.main()
