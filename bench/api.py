#!/usr/bin/env python3
"""API benchmark (issue "Serve the original REST API…", section Speed).

Uses the database the ingest benchmark built from the `paper` preset
(bench/data/work/ctt.db; run bench/ingest.py first), serves it with the release
`ctt serve` on a free loopback port, and measures the original's benchmark
queries (SPEC §9) — each as count=true and as a first page — with 1 and 16
concurrent clients (wrk, from Debian), a full NDJSON export of 2 years of EC2,
and DuckDB (PyPI) answering the same questions over the same events.
Prints a Markdown table and writes it into bench/RESULTS.md.

    python3 bench/api.py [--rounds 3] [--latency-seconds 15] [--seconds 5]
"""
import argparse
import datetime as dt
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "bench", "data", "work")
DB = os.path.join(WORK, "ctt.db")
CTT = os.path.join(ROOT, "target", "release", "ctt")
QUANTILES = os.path.join(ROOT, "bench", "quantiles.lua")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ingest import machine, write_section  # noqa: E402

# The original's measured figures (its thesis, SPEC §9), in seconds.
QUERIES = [
    ("/scan, 7 days", "/scan?from=2018-05-25&to=2018-05-31", "9.2"),
    ("/scan, 6 months", "/scan?from=2017-12-01&to=2018-05-31", "29.2"),
    ("one user, 1 month", "/users/{user}?from=2018-04-01&to=2018-04-30", "0.64"),
    ("one user, 3 years", "/users/{user}?from=2015-06-01&to=2018-05-31", "~1"),
    ("ec2, 1 month", "/services/ec2?from=2018-04-01&to=2018-04-30", "4.3"),
    ("ec2, 2 years", "/services/ec2?from=2016-06-01&to=2018-05-31", "29–30 (timeout)"),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(base, path):
    with urllib.request.urlopen(base + path) as r:
        return r.read()


def wrk(url, clients, seconds):
    """p50, p99 (ms) and requests/s from wrk --latency."""
    threads = min(clients, 2)
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{clients}", f"-d{seconds}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout

    def ms(label):
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return ms("50"), ms("99"), rps


class Latencies:
    """One-client runs of one cell, pooled: each run's 10,000 quantiles
    (bench/quantiles.lua) stand for its requests in equal shares, so the pooled
    percentiles weigh every request of every run alike."""

    def __init__(self):
        self.points = []  # (latency ms, weight in requests)
        self.requests = 0
        self.seconds = 0.0
        self.run_p99s = []

    def run(self, url, seconds):
        out = subprocess.run(["wrk", "-t1", "-c1", f"-d{seconds}s", "-s", QUANTILES, url],
                             capture_output=True, text=True, check=True).stdout
        head, values = out[out.index("QUANTILES"):].splitlines()[:2]
        _, requests, duration = head.split()
        quantiles = [int(v) / 1000 for v in values.split()]
        weight = int(requests) / len(quantiles)
        self.points += [(q, weight) for q in quantiles]
        self.requests += int(requests)
        self.seconds += float(duration)
        self.run_p99s.append(quantiles[9899])

    def percentile(self, p):
        rank, total = p / 100 * self.requests, 0.0
        for value, weight in sorted(self.points):
            total += weight
            if total >= rank:
                return value
        return max(v for v, _ in self.points)

    def rps(self):
        return self.requests / self.seconds


def cpu_jitter(chunk_ms=2.5, seconds=4):
    """The machine's own noise: p50 and p99 (ms) of a fixed busy loop of about
    chunk_ms, run over and over on one thread while the server is idle. A
    request's p99 cannot beat this ratio to its p50."""
    def work(n):
        x = 0
        for i in range(n):
            x += i
        return x
    n = 1000
    while True:
        start = time.perf_counter()
        work(n)
        if time.perf_counter() - start > chunk_ms / 1000:
            break
        n = int(n * 1.2)
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        work(n)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.99)]


def duckdb_times(csv_path, user, runs=5):
    import duckdb
    con = duckdb.connect()
    con.execute(f"CREATE TABLE events AS SELECT * FROM read_csv_auto('{csv_path}')")
    con.execute("CREATE TABLE e AS SELECT *, CAST(eventTime AS TIMESTAMP) AS t FROM events")
    results = {}
    for name, path, _ in QUERIES:
        m = re.match(r"/(\w+)(?:/([^?]+))?\?from=([\d-]+)&to=([\d-]+)", path.format(user=user))
        route, who, start, end = m.groups()
        where = f"t BETWEEN '{start} 00:00:00' AND '{end} 23:59:59'"
        if route == "users":
            where += f" AND \"user\" = '{who}'"
        elif route == "services":
            where += f" AND service = '{who}'"
        for kind, sql in (("count", f"SELECT count(*) FROM e WHERE {where}"),
                          ("page", f"SELECT * FROM e WHERE {where} ORDER BY t, eventID LIMIT 1000")):
            times = []
            for _ in range(runs):
                start_t = time.perf_counter()
                con.execute(sql).fetchall()
                times.append((time.perf_counter() - start_t) * 1000)
            results[(name, kind)] = statistics.median(times)
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5, help="length of a 16-client cell")
    # A p99 rests on 1% of the requests, and this shared machine slows down in
    # bursts of 10-20 ms about once a second: one 15 s run of the same binary
    # gave a first page p99 anywhere between 4 and 11 ms. So every one-client
    # cell runs in rounds, each round going through all the queries (a noisy
    # minute is shared out rather than landing on one query), and its p50/p99
    # are those of all its requests pooled (~20,000 first pages).
    ap.add_argument("--latency-seconds", type=int, default=15,
                    help="length of one round of a one-client cell")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the one-client cells")
    args = ap.parse_args()
    if not os.path.exists(DB):
        sys.exit("run bench/ingest.py first: it builds bench/data/work/ctt.db from the paper preset")
    for tool in ("wrk", "curl"):
        if not shutil.which(tool):
            subprocess.run(["apt-get", "install", "-y", "-qq", tool], check=True)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "ctt", "--bin", "ctt"], cwd=ROOT, check=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([CTT, "--db", DB, "serve", "--listen", f"127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                get(base, "/health")
                break
            except OSError:
                time.sleep(0.1)
        stats = json.loads(get(base, "/stats?group_by=user&from=2014-01-01&to=2018-05-31"))
        user = next(g["key"] for g in stats if g["key"].startswith("alucloud"))
        lines = [
            f"# API benchmark — {dt.date.today().isoformat()}",
            "",
            f"Machine: {machine()}. Data: the `paper` preset loaded by bench/ingest.py "
            f"({json.loads(get(base, '/scan?from=2000-01-01&to=2100-01-01&count=true'))} events). "
            f"Server: release `ctt serve` on loopback; load: wrk on the same machine. One-client cells: "
            f"{args.rounds} rounds of {args.latency_seconds} s, each round going through every query; "
            f"their p50/p99 pool every request of the rounds. 16-client cells: {args.seconds} s. "
            f"User: `{user}` (the busiest student).",
            "",
            "| query | events | original | count p50 / p99 ms (1 client) | count req/s (1 → 16 clients) | first page p50 / p99 ms (1) | first page p99 of each round | first page req/s (1 → 16) | p99 ms (16, page) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        worst_p99 = 0.0
        gains = []
        jitter = cpu_jitter()
        paths = [(name, path.format(user=user), original) for name, path, original in QUERIES]
        one = {(name, kind): Latencies() for name, _, _ in paths for kind in ("count", "page")}
        for _ in range(args.rounds):
            for name, path, _ in paths:
                one[(name, "count")].run(base + path + "&count=true", args.latency_seconds)
                one[(name, "page")].run(base + path, args.latency_seconds)
        for name, path, original in paths:
            n = json.loads(get(base, path + "&count=true"))
            count, page = one[(name, "count")], one[(name, "page")]
            c50, c99, c_rps1 = count.percentile(50), count.percentile(99), count.rps()
            p50, p99, p_rps1 = page.percentile(50), page.percentile(99), page.rps()
            _, _, c_rps16 = wrk(base + path + "&count=true", 16, args.seconds)
            _, p99_16, p_rps16 = wrk(base + path, 16, args.seconds)
            worst_p99 = max(worst_p99, c99, p99)
            gains.append(p_rps16 / p_rps1)
            rounds = ", ".join(f"{v:.1f}" for v in page.run_p99s)
            lines.append(f"| {name} | {n} | {original} s | {c50:.2f} / {c99:.2f} | {c_rps1:,.0f} → {c_rps16:,.0f} | "
                         f"{p50:.2f} / {p99:.2f} | {rounds} | {p_rps1:,.0f} → {p_rps16:,.0f} | {p99_16:.1f} |")
        # The portal's dashboard for the last 15 days of the history (SPEC §6): the
        # first (cold) request, then wrk with one client.
        dashboard = base + "/ui/?from=2018-05-16T23:59:00Z&to=2018-05-31T23:59:00Z"
        start = time.perf_counter()
        page = get(base, dashboard[len(base):])
        cold_ms = (time.perf_counter() - start) * 1000
        d50, d99, _ = wrk(dashboard, 1, args.seconds)
        # The export, 5 times (the first also warms the pages it reads): the median
        # of curl's time from the request to the last byte (a C client, like
        # wrk: Python's chunked reader would be measured instead of the server).
        walls = []
        export_path = os.path.join(WORK, "export.ndjson")
        for _ in range(5):
            out = subprocess.run(["curl", "-sS", "-o", export_path, "-w", "%{time_total}",
                                  base + "/services/ec2?from=2016-06-01&to=2018-05-31&format=ndjson"],
                                 capture_output=True, text=True, check=True).stdout
            walls.append(float(out))
        with open(export_path, "rb") as f:
            exported = f.read().count(b"\n")
        os.remove(export_path)
        secs = statistics.median(walls)
        lines += [
            "",
            f"Worst single-client p99 (pooled): **{worst_p99:.2f} ms** (target < 10 ms). The machine's own noise in "
            f"this run: a {jitter[0]:.2f} ms busy loop (one thread, server idle) had a p99 of {jitter[1]:.2f} ms "
            f"({jitter[1] / jitter[0]:.1f}× its p50). First pages with 16 clients "
            f"serve {min(gains):.2f}–{max(gains):.2f}× the requests/s of one client (2 cores).",
            "",
            f"Portal dashboard for 15 days (`/ui/?from=2018-05-16T23:59:00Z&to=2018-05-31T23:59:00Z`, "
            f"{len(page) // 1000} kB of HTML with its charts): first request {cold_ms:.1f} ms, then "
            f"p50 **{d50:.2f} ms**, p99 **{d99:.2f} ms** with one client (target < 100 ms).",
            "",
            f"Export: `/services/ec2?from=2016-06-01&to=2018-05-31&format=ndjson` streamed {exported} events "
            f"in {secs:.3f} s (median of 5; all runs {', '.join(f'{w:.3f}' for w in walls)} s): "
            f"**{exported / secs:,.0f} events/s** (target > 300,000/s).",
        ]
        csv_path = os.path.join(WORK, "events.csv")
        with open(csv_path, "wb") as f:
            f.write(get(base, "/scan?from=2000-01-01&to=2100-01-01&format=csv"))
    finally:
        server.terminate()
        server.wait()

    try:
        import duckdb  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "duckdb"], check=True)
    duck = duckdb_times(csv_path, user)
    lines += ["", "DuckDB (in-process, no HTTP) over the same events (exported as CSV, loaded into a table), "
              "median of 5 runs:", "", "| query | count ms | first page ms |", "|---|---:|---:|"]
    for name, _, _ in QUERIES:
        lines.append(f"| {name} | {duck[(name, 'count')]:.2f} | {duck[(name, 'page')]:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    write_section("api", text.replace("# API benchmark", "## API", 1))


if __name__ == "__main__":
    main()
