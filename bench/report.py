"""report.py - the table and JSON file of a `make bench` run.

Reads the runs file written by bench/run.sh (one line per wrk run: name,
req/s, p50 us, p99 us, requests, non-2xx, token wraps, broker CPU cores)
and the loader's output; the rest comes from BENCH_* environment
variables.  Prints the table and writes BENCH_OUT.
"""
import glob
import json
import os
import platform
import re
import sys

E = os.environ


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def merge_rounds(rows):
    """nginx.1, warm.1, nginx.2 ... become nginx and warm, each the
    median of its rounds (every figure on its own), with the rounds kept
    under "rounds"; also returns the (nginx, warm) pairs of each round."""
    out = {k: v for k, v in rows.items() if "." not in k}
    for base in ("nginx", "warm"):
        rs = [rows[k] for k in sorted((k for k in rows if k.startswith(base + ".")),
                                      key=lambda k: int(k.split(".")[1]))]
        if not rs:
            continue
        m = {f: median([r[f] for r in rs]) for f in
             ("requests_per_s", "p50_us", "p99_us", "broker_cpu_cores",
              "served_per_s", "cpu_us_per_request") if all(f in r for r in rs)}
        m.update({"requests": sum(r["requests"] for r in rs),
                  "non_2xx": sum(r["non_2xx"] for r in rs),
                  "token_wraps": sum(r["token_wraps"] for r in rs),
                  "rounds": rs})
        out[base] = m
    pairs = []
    i = 1
    while "nginx.%d" % i in rows and "warm.%d" % i in rows:
        pairs.append((rows["nginx.%d" % i], rows["warm.%d" % i]))
        i += 1
    return out, pairs


def steady(ss, hz):
    """The middle half of a run's samples while requests were answered:
    the broker's rate by its own count, the CPU it used, and that CPU per
    request."""
    live = [b for a, b in zip(ss, ss[1:]) if a[3] >= 0 and b[3] > a[3]]
    mid = live[len(live) // 4: len(live) - len(live) // 4]
    if len(mid) < 3 or mid[-1][0] <= mid[0][0]:
        return {}
    dt = mid[-1][0] - mid[0][0]
    n = mid[-1][3] - mid[0][3]
    cpu = (mid[-1][1] - mid[0][1]) / hz
    return {"served_per_s": round(n / dt, 1),
            "broker_cpu_cores": round(cpu / dt, 3),
            "cpu_us_per_request": round(cpu * 1e6 / n, 1) if n else None}


def main(runs_path, load_path):
    rows = {}
    for line in open(runs_path):
        name, rps, p50, p99, reqs, bad, wraps = line.split()
        rows[name] = {"requests_per_s": float(rps), "p50_us": float(p50),
                      "p99_us": float(p99), "requests": int(reqs),
                      "non_2xx": int(bad), "token_wraps": int(wraps),
                      "broker_cpu_cores": 0.0}
    samples = {}
    for line in open(E["BENCH_SAMPLES"]):
        f = line.split()
        if len(f) == 5:
            samples.setdefault(f[0], []).append(
                (float(f[1]), int(f[2]), int(f[3]), int(f[4])))
    hz = float(E.get("BENCH_HZ") or 100)
    rss_phases = {}
    for phase, ss in samples.items():
        base = re.sub(r"\.\d+$", "", phase)
        rss_phases[base] = max(rss_phases.get(base, 0), max(x[2] for x in ss))
        if phase in rows:
            rows[phase].update(steady(ss, hz))
    # wrk starts each thread as soon as its script is set up but its
    # clock only when all are: with a large token file (cold) its
    # requests/s counts seconds of requests it does not time.  The
    # broker's own count over the steady middle of the run is the rate,
    # except for the warm rounds, compared with nginx's as wrk times
    # both (their scripts are set up in milliseconds; served_per_s
    # stays in the file as a check).
    for name, r in rows.items():
        if r.get("served_per_s") and name.split(".")[0] not in ("nginx", "warm"):
            r["wrk_requests_per_s"] = r["requests_per_s"]
            r["requests_per_s"] = r["served_per_s"]
    rows, rounds = merge_rounds(rows)
    model = "unknown"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    ng = rows["nginx"]
    ratios = {}
    for w in ("warm", "cold"):
        r = rows[w]
        ratios[w] = {"rps": round(r["requests_per_s"] / ng["requests_per_s"], 3),
                     "p50": round(r["p50_us"] / ng["p50_us"], 3),
                     "p99": round(r["p99_us"] / ng["p99_us"], 3)}
    # Warm against nginx round by round (each pair ran back to back),
    # then the median of those ratios.
    # Each round's ratios are kept too: on a 2-core machine they spread
    # widely (p99 most), and the spread says how far to trust the median.
    if rounds:
        by_round = [{k: round(w[f] / n[f], 3) for k, f in
                     (("rps", "requests_per_s"), ("p50", "p50_us"),
                      ("p99", "p99_us"))} for n, w in rounds]
        ratios["warm"] = {k: round(median([r[k] for r in by_round]), 3)
                          for k in ("rps", "p50", "p99")}
        ratios["warm_rounds"] = by_round
    notes = []
    if rows["cold"]["token_wraps"] or rows["cold"]["requests"] > int(E["BENCH_COLD"]):
        notes.append("cold tokens exhausted: tokens were reused, raise BENCH_COLD_TOKENS")
    for name, r in rows.items():
        if r["non_2xx"]:
            notes.append("%s: %d non-2xx responses" % (name, r["non_2xx"]))

    # Cold: what Ed25519 verification alone allows on the CPU the broker
    # used in that run (openssl speed's single-core rate times the cores).
    verify = float(E.get("BENCH_VERIFY") or 0)
    cores = rows["cold"]["broker_cpu_cores"]
    ceiling = verify * cores
    cold_vs_verify = round(rows["cold"]["requests_per_s"] / ceiling, 3) if ceiling else None

    # The most cold can reach against openssl speed's rate: a cold fetch
    # does what a warm one does, plus the token's signature check (on its
    # own bytes: a longer message than openssl speed signs) and the rest of
    # the token check, both timed by tokencheck.c.
    check_us = float(E.get("BENCH_CHECK_US") or 0)
    sig_us = float(E.get("BENCH_SIG_US") or 0)
    beyond_us = round(check_us - sig_us, 2) if check_us and sig_us else None
    warm_cpu = rows["warm"].get("cpu_us_per_request")
    cold_bound = None
    if verify and beyond_us is not None and warm_cpu:
        cold_bound = round(1e6 / verify / (sig_us + warm_cpu + beyond_us), 3)

    w1, w32 = rows["write1"], rows["write32"]
    write_ratio = round(w32["requests_per_s"] / w1["requests_per_s"], 2) if w1["requests_per_s"] else None
    rss_kib = max(rss_phases.values()) if rss_phases else 0

    # p99 against the latest earlier run at another size, if any.
    n = int(E["BENCH_N"])
    other = None
    for path in sorted(glob.glob("bench/results/*.json"), reverse=True):
        try:
            d = json.load(open(path))
        except (OSError, ValueError):
            continue
        if d.get("customers") not in (None, n) and "broker_warm" in d.get("results", {}):
            other = {"file": path, "customers": d["customers"],
                     "warm_p99_us": d["results"]["broker_warm"]["p99_us"]}
            other["this_over_that"] = round(rows["warm"]["p99_us"] / other["warm_p99_us"], 3)
            break

    doc = {
        "date": E["BENCH_STAMP"],
        "customers": n,
        "load_seconds": float(E["BENCH_LOAD_S"]),
        "load_output": open(load_path).read().strip().splitlines(),
        "response_bytes": int(E["BENCH_BYTES"]),
        "broker_flags": E.get("BENCH_FLAGS", ""),
        "wrk": {"duration": E["BENCH_DUR"], "warmup": E.get("BENCH_WARMUP", ""),
                "rounds": len(rounds),
                "threads": int(E["BENCH_T"]),
                "connections": int(E["BENCH_C"]), "keep_alive": True,
                "tls": "same cert, TLSv1.2+1.3"},
        "tokens": {"warm": int(E["BENCH_WARM"]), "cold": int(E["BENCH_COLD"])},
        "results": {"nginx_static": ng, "broker_warm": rows["warm"],
                    "broker_cold": rows["cold"], "token_issuance": rows["issue"],
                    "profile_writes_1": w1, "profile_writes_32": w32},
        "ratio_broker_over_nginx": ratios,
        "cold_vs_verify": {"ed25519_verify_per_core": verify, "broker_cpu_cores": cores,
                           "verify_ceiling_per_s": round(ceiling), "ratio": cold_vs_verify,
                           "token_check_us": check_us or None,
                           "signature_only_us": sig_us or None,
                           "token_check_beyond_signature_us": beyond_us,
                           "bound_signature_plus_warm_plus_check": cold_bound},
        "writes_32_over_1": write_ratio,
        "peak_rss_anon_kib": rss_kib,
        "peak_rss_anon_kib_by_run": rss_phases,
        "warm_p99_vs_other_size": other,
        "notes": notes,
        "machine": {"nproc": os.cpu_count(), "kernel": platform.release(), "cpu": model},
        "versions": {"broker_commit": E["BENCH_GIT"], "nginx": E["BENCH_NGINX_V"],
                     "wrk": E["BENCH_WRK_V"],
                     "libs": dict(kv.split("=", 1) for kv in E["BENCH_LIBS"].split())},
    }
    with open(E["BENCH_OUT"], "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")

    def ms(us):
        return "%.2f ms" % (us / 1000)

    print()
    print("%d customers, %d-byte body, %s per run, wrk -t%s -c%s, %s, %d CPUs"
          % (n, doc["response_bytes"], E["BENCH_DUR"], E["BENCH_T"], E["BENCH_C"],
             model, os.cpu_count()))
    print("nginx and warm: medians of %d alternating rounds, after a %s warm-up each;"
          " their x columns: median of the rounds' ratios"
          % (len(rounds), E.get("BENCH_WARMUP", "?")))
    head = "%-30s %10s %10s %10s %7s %7s %7s %6s"
    line = "%-30s %10.0f %10s %10s %7s %7s %7s %6.2f"
    print(head % ("", "req/s", "p50", "p99", "x rps", "x p50", "x p99", "cores"))
    print(line % ("GET nginx static (TLS)", ng["requests_per_s"], ms(ng["p50_us"]),
                  ms(ng["p99_us"]), "1.00", "1.00", "1.00", ng["broker_cpu_cores"]))
    for w, label in (("warm", "GET broker warm (10k tokens)"),
                     ("cold", "GET broker cold (new tokens)")):
        r, q = rows[w], ratios[w]
        print(line % (label, r["requests_per_s"], ms(r["p50_us"]), ms(r["p99_us"]),
                      "%.2f" % q["rps"], "%.2f" % q["p50"], "%.2f" % q["p99"],
                      r["broker_cpu_cores"]))
    for key, label in (("issue", "POST /oauth/token (issuance)"),
                       ("write1", "PATCH profile, 1 writer"),
                       ("write32", "PATCH profile, 32 writers")):
        r = rows[key]
        print(line % (label, r["requests_per_s"], ms(r["p50_us"]), ms(r["p99_us"]),
                      "", "", "", r["broker_cpu_cores"]))
    print()
    print("ratios x are broker/nginx; cores: CPU the broker used (nginx row: the broker idle)")
    print("req/s of cold, issuance and writes: the broker's own count over the middle of"
          " the run (wrk's figure for cold: %.0f)" % rows["cold"].get("wrk_requests_per_s", 0))
    per = ["%s %.1f" % (k, rows[k]["cpu_us_per_request"]) for k in ("warm", "cold")
           if rows[k].get("cpu_us_per_request")]
    if per:
        print("broker CPU per request, us: " + ", ".join(per) +
              ("; one Ed25519 verify alone: %.1f" % (1e6 / verify) if verify else ""))
    if ceiling:
        print("cold vs Ed25519 verify alone: %.0f verify/s per core x %.2f cores = %.0f/s;"
              " cold/that = %.2f" % (verify, cores, ceiling, cold_vs_verify))
    if cold_bound is not None:
        print("token check: %.1f us, its signature alone %.1f (tokencheck); so cold can"
              " reach at most openssl's verify / (signature + warm + the rest of the"
              " check) = %.2f" % (check_us, sig_us, cold_bound))
    if ratios.get("warm_rounds"):
        print("warm/nginx round by round: req/s %s; p99 %s" % tuple(
            " ".join("%.2f" % r[k] for r in ratios["warm_rounds"])
            for k in ("rps", "p99")))
    if write_ratio is not None:
        print("durable writes, 32 writers / 1 writer: %.2fx" % write_ratio)
    print("peak private RSS (RssAnon, LMDB map excluded): %.1f MiB (by run, in"
          " order: %s)" % (rss_kib / 1024, ", ".join(
              "%s %.1f" % (k, v / 1024) for k, v in rss_phases.items())))
    if other:
        print("warm p99 vs %d customers (%s): %.2fx" % (other["customers"], other["file"],
                                                       other["this_over_that"]))
    for note in notes:
        print("WARNING: " + note)
    print("written to " + E["BENCH_OUT"])


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
