#!/usr/bin/python3
"""sample.py - the benchmark's view of the broker from outside wrk.

  sample.py PID PORT CA_FILE ADMIN_TOKEN_FILE PHASE_FILE

Every 200 ms, until process PID exits, prints one line:

  PHASE TIME CPU_TICKS RSS_ANON_KIB ANSWERED

PHASE is the run under way (read from PHASE_FILE), CPU_TICKS the broker's
utime + stime, RSS_ANON_KIB its private memory (RssAnon, which leaves out
the LMDB map, a shared file mapping), and ANSWERED the requests it has
answered so far by its own count (ccx_requests_total, every route but
/metrics), read over one keep-alive connection: a sample costs the broker
one small request.

The broker's own count is what the report divides by: wrk runs each of
its threads as soon as that thread's script is set up, but starts its
clock only when all are, so a script that reads a large token file (the
cold run's 400,000 tokens take seconds) makes wrk's requests/s too high.
"""
import http.client
import re
import ssl
import sys
import time

COUNT = re.compile(r'^ccx_requests_total\{route="([^"]*)",[^}]*\} (\d+)$', re.M)


def stat(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    rss = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("RssAnon:"):
                rss = int(line.split()[1])
    return ticks, rss


class Counter:
    def __init__(self, port, ca, token):
        self.port, self.token = port, token
        self.ctx = ssl.create_default_context(cafile=ca)
        self.conn = None

    def answered(self):
        for _ in range(2):  # once more on a fresh connection
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPSConnection(
                        "localhost", self.port, context=self.ctx, timeout=5)
                self.conn.request("GET", "/metrics", headers={
                    "Authorization": "Bearer " + self.token})
                r = self.conn.getresponse()
                text = r.read().decode()
                if r.status != 200:
                    return -1
                return sum(int(n) for route, n in COUNT.findall(text)
                           if route != "metrics")
            except (OSError, http.client.HTTPException):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
        return -1


def main(pid, port, ca, token_file, phase_file):
    with open(token_file) as f:
        counter = Counter(port, ca, f.read().strip())
    out = sys.stdout
    while True:
        with open(phase_file) as f:
            phase = f.read().strip() or "start"
        n = counter.answered()
        try:
            ticks, rss = stat(pid)
        except OSError:
            return
        out.write("%s %.3f %d %d %d\n" % (phase, time.time(), ticks, rss, n))
        out.flush()
        time.sleep(0.2)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
