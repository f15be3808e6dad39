#!/usr/bin/env python3
"""Scale benchmark (issue "Scale"): a busy production account on one machine.

Generates the `scale` preset (a busy production account beside a small class,
~110,000 records a day; `--days`, a year by default: ~40 million records, ≥ 10
million stored), then measures in one run:
  * the decompress + parse ceiling (crates/ctt-ingest/examples/ceiling.rs) and
    `ctt ingest` into an empty database: wall, records/s, peak RSS;
  * the database's bytes per stored event against the gzipped logs';
  * with `ctt serve` on a free loopback port, one client: `/stats` by user,
    service and day and the portal's dashboard over the last 30 days and the
    whole history (p50 / worst of `--runs`); a count and a first page of
    `/scan` over the last 7 days and everything, and of the busiest user over
    30 days (p50 / p99 of `--requests`); NDJSON and CSV exports of the last
    `--export-days` days, events/s to the last byte.
Prints Markdown and writes it into bench/RESULTS.md (section `scale`).

    python3 bench/scale.py [--days 365] [--runs 20] [--requests 200] [--export-days 7]

Disk: the tree takes ~20 MB a day gzipped, the database a few times that.
"""
import argparse
import datetime as dt
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from disk import logs_bytes  # noqa: E402
from ingest import CPU, CTT, DATA, ROOT, machine, run, write_section  # noqa: E402
from stats import free_port  # noqa: E402

END = "2026-06-01T00:00:00Z"
CEILING = os.path.join(ROOT, "target", "release", "examples", "ceiling")
MINIMAL = os.path.join(ROOT, "target", "release", "examples", "minimal_writer")


def timed_get(url):
    start = time.perf_counter()
    with urllib.request.urlopen(url) as response:
        body = response.read()
    return (time.perf_counter() - start) * 1000, body


def cell(url, n):
    """p50 and p99 (or worst) in ms of `n` sequential requests after one to warm up."""
    timed_get(url)
    times = sorted(timed_get(url)[0] for _ in range(n))
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--runs", type=int, default=20, help="requests per /stats and dashboard cell")
    ap.add_argument("--requests", type=int, default=200, help="requests per count and page cell")
    ap.add_argument("--export-days", type=int, default=7)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "ctt", "--bin", "ctt",
                    "--no-default-features"], cwd=ROOT, check=True)
    for example in ("ceiling", "minimal_writer"):
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "ctt-ingest", "--example", example],
                       cwd=ROOT, check=True)
    tree = os.path.join(DATA, f"scale-{args.days}")
    if not os.path.isdir(tree):
        os.makedirs(DATA, exist_ok=True)
        print(f"generating {args.days} days of the scale preset into {tree} …", flush=True)
        out, wall, _ = run([CTT, "gen", tree, "--preset", "scale", "--seed", "1", "--end", END,
                            "--days", str(args.days)])
        print(out.strip(), f"({wall:.0f} s)", flush=True)
    gz, files = logs_bytes(tree)

    print("ceiling …", flush=True)
    _, ceiling_wall, _ = run([CEILING, tree])
    ceiling_cpu = CPU["last"]
    work = os.path.join(DATA, "work")
    os.makedirs(work, exist_ok=True)
    db = os.path.join(work, "scale.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    minimal_db = os.path.join(work, "minimal.db")
    for suffix in ("", "-journal"):
        if os.path.exists(minimal_db + suffix):
            os.remove(minimal_db + suffix)
    print("minimal writer …", flush=True)
    out, minimal_wall, minimal_rss = run([MINIMAL, minimal_db, tree])
    minimal_cpu = CPU["last"]
    minimal_stored = json.loads(out)["stored"]
    minimal_size = os.path.getsize(minimal_db)
    os.remove(minimal_db)
    print("ctt ingest …", flush=True)
    out, wall, rss = run([CTT, "--db", db, "ingest", tree, "--no-progress", "--format", "json"])
    cpu = CPU["last"]
    report = json.loads(out)
    records, stored = report["records_read"], report["records_stored"]
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        busiest = conn.execute(
            "SELECT name FROM users ORDER BY events DESC LIMIT 1").fetchone()[0]
    size = os.path.getsize(db)

    end = dt.datetime.fromisoformat(END.replace("Z", "+00:00"))
    day = lambda n: (end - dt.timedelta(days=n)).strftime("%Y-%m-%d")  # noqa: E731
    last = (end - dt.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    windows = [("30 days", day(30), last), (f"{args.days} days", day(args.days), last)]
    port = free_port()
    server = subprocess.Popen([CTT, "--db", db, "serve", "--listen", f"127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    quote = urllib.parse.quote
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(base + "/health").read()
                break
            except OSError:
                time.sleep(0.1)
        stats = {}
        for window, start, stop in windows:
            stats[(window, "dashboard")] = cell(f"{base}/ui?from={start}&to={stop}", args.runs)
            for group in ("user", "service", "day"):
                stats[(window, group)] = cell(
                    f"{base}/stats?group_by={group}&from={start}&to={stop}", args.runs)
        queries = [
            ("everyone, 7 days", f"/scan?from={day(7)}&to={last}"),
            (f"everyone, {args.days} days", f"/scan?from={day(args.days)}&to={last}"),
            (f"busiest user ({busiest}), 30 days",
             f"/users/{quote(busiest, safe='')}?from={day(30)}&to={last}"),
        ]
        latency = {}
        for name, path in queries:
            count = json.loads(timed_get(base + path + "&count=true")[1])
            latency[name] = (count, cell(base + path + "&count=true", args.requests),
                             cell(base + path, args.requests))
        exports = {}
        for fmt in ("ndjson", "csv"):
            url = f"{base}/scan?from={day(args.export_days)}&to={last}&format={fmt}"
            # Received by curl: urllib's chunked decoding tops out near 75 MB/s,
            # about the server's speed, and would measure the client.
            body = subprocess.run(["curl", "-sS", "--fail", url], capture_output=True,
                                  check=True).stdout
            events = body.count(b"\n") - (1 if fmt == "csv" else 0)
            walls = [float(subprocess.run(
                ["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{time_total}", url],
                capture_output=True, check=True, text=True).stdout) for _ in range(5)]
            exports[fmt] = (events, statistics.median(walls))
    finally:
        server.terminate()
        server.wait()

    text = "\n".join([
        f"## Scale — {dt.date.today().isoformat()}",
        "",
        f"Machine: {machine()}. Input: `ctt gen --preset scale --seed 1 --end {END} --days {args.days}`: "
        f"{files:,} log files, {records:,} records, {stored:,} stored ({stored / records:.0%}), "
        f"{gz / 1e9:.2f} GB gzipped. `python3 bench/scale.py --days {args.days} "
        f"--export-days {args.export_days}`.",
        "",
        "| load | wall s | records/s | CPU s (cores busy) | peak RSS MiB |",
        "|---|---:|---:|---:|---:|",
        f"| decompress + parse ceiling (all cores, nothing stored) | {ceiling_wall:.1f} "
        f"| {records / ceiling_wall:,.0f} | {ceiling_cpu:.0f} ({ceiling_cpu / ceiling_wall:.2f}) | |",
        f"| minimal writer (the same events and indexes, nothing else; {minimal_stored:,} stored, "
        f"{minimal_size / 1e9:.2f} GB) | {minimal_wall:.1f} | {records / minimal_wall:,.0f} "
        f"| {minimal_cpu:.0f} ({minimal_cpu / minimal_wall:.2f}) | {minimal_rss:.0f} |",
        f"| `ctt ingest` into an empty database | {wall:.1f} | {records / wall:,.0f} "
        f"| {cpu:.0f} ({cpu / wall:.2f}) | {rss:.0f} |",
        "",
        f"`ctt ingest` runs at **{minimal_wall / wall:.0%} of the minimal writer's speed** (target ≥ 80%) "
        f"and {ceiling_wall / wall:.0%} of the ceiling (same run, one run each). Database: "
        f"{size / 1e9:.2f} GB, **{size / stored:,.0f} bytes per stored event**, "
        f"{size / gz:.2f}× the gzipped logs it came from ({gz / stored:,.0f} bytes per stored event).",
        "",
        f"Served by `ctt serve`, one client; `/stats` and the dashboard: p50 / worst of {args.runs}:",
        "",
        "| window | dashboard | /stats user | /stats service | /stats day |",
        "|---|---:|---:|---:|---:|",
        *[f"| {w} | " + " | ".join(f"{stats[(w, g)][0]:.1f} / {stats[(w, g)][1]:.1f}"
                                   for g in ("dashboard", "user", "service", "day")) + " |"
          for w, _, _ in windows],
        "",
        f"Counts and first pages (the default page: 1,000 events), p50 / p99 of {args.requests} sequential requests, ms:",
        "",
        "| query | events | count | first page |",
        "|---|---:|---:|---:|",
        *[f"| {name} | {n:,} | {c[0]:.1f} / {c[1]:.1f} | {p[0]:.1f} / {p[1]:.1f} |"
          for name, (n, c, p) in latency.items()],
        "",
        f"Exports of the last {args.export_days} days (median of 5, received by curl, to the last byte): "
        + "; ".join(f"{fmt.upper()} {n:,} events in {w:.2f} s, **{n / w:,.0f} events/s**"
                    for fmt, (n, w) in exports.items()) + ".",
        "",
    ])
    print(text)
    write_section("scale", text)


if __name__ == "__main__":
    main()
