#!/usr/bin/env python3
"""Resources benchmark (issue "Resources", section Speed; SPEC §11).

Measures in one run, on the same generated tree (the whole `paper` preset by
default, generated with the current `ctt gen`):
  * what deriving resources costs at ingest: `ctt ingest` with the built-in
    catalogue (the default) against `[resources] builtin = false` (no type at
    all: no event touches a resource), alternating A B A B…, the median of
    each (target: at most 10% of the throughput); both without detection rules
    (`[alerts] builtin = false`), so nothing else differs;
  * on the database with resources, served by the release `ctt serve` over one
    keep-alive connection: the open-resources list (`/resources?state=open`,
    its first page), one person's open resources (`/resources?user=U&state=open`,
    what a user's portal section asks) and that user's portal page, p50 and p99
    (target: under 10 ms p50 for the list and the section).
Prints Markdown and writes it into bench/RESULTS.md (section `resources`).

    python3 bench/resources.py [--days 0] [--repeat 3] [--requests 200]
"""
import argparse
import collections
import csv
import datetime as dt
import io
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from detect import free_port, generate, ingest  # noqa: E402
from ingest import CTT, Client, DATA, ROOT, machine, median_run, write_section  # noqa: E402


def quantiles(samples):
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000


def serve(db):
    port = free_port()
    server = subprocess.Popen([CTT, "--db", db, "serve", "--listen", f"127.0.0.1:{port}"],
                              stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server, port
        except OSError:
            time.sleep(0.1)
    server.terminate()
    sys.exit("ctt serve did not start")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=0,
                    help="days of the paper preset to generate (0: all four years)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--requests", type=int, default=200)
    args = ap.parse_args()
    # Without the `aws` feature: nothing here needs the AWS SDK.
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "ctt", "--bin", "ctt",
                    "--no-default-features"], cwd=ROOT, check=True)
    tree = generate("paper", args.days)
    work = os.path.join(DATA, "work")
    os.makedirs(work, exist_ok=True)
    without_config = os.path.join(work, "no-resources.toml")
    with open(without_config, "w") as f:
        f.write("[alerts]\nbuiltin = false\n\n[resources]\nbuiltin = false\n")
    with_config = os.path.join(work, "resources.toml")
    with open(with_config, "w") as f:
        f.write("[alerts]\nbuiltin = false\n")
    without_db = os.path.join(work, "no-resources.db")
    with_db = os.path.join(work, "resources.db")

    without, with_resources = [], []
    for _ in range(max(1, args.repeat)):
        report, wall, rss = ingest(tree, without_db, without_config)
        without.append((wall, report, rss))
        report, wall, rss = ingest(tree, with_db, with_config)
        with_resources.append((wall, report, rss))
    a_wall, a_report, a_rss = median_run(without)
    b_wall, b_report, b_rss = median_run(with_resources)
    records = a_report["records_read"]
    with sqlite3.connect(with_db) as conn:
        touches = conn.execute("SELECT count(*) FROM resource_touches").fetchone()[0]
        resources = conn.execute(
            "SELECT count(*) FROM (SELECT DISTINCT kind, account, region, id FROM resource_touches)"
        ).fetchone()[0]
    with sqlite3.connect(without_db) as conn:
        none = conn.execute("SELECT count(*) FROM resource_touches").fetchone()[0]
    if none:
        sys.exit(f"[resources] builtin = false still stored {none} touches")

    server, port = serve(with_db)
    try:
        client = Client(port)
        body, _, _ = client.get("/resources?state=open&format=csv")
        rows = list(csv.DictReader(io.StringIO(body.decode())))
        # The busiest student: a person's page, not a service's.
        owners = collections.Counter(r["owner"] for r in rows if r["owner"].startswith("alucloud"))
        user, user_open = owners.most_common(1)[0]
        quoted = urllib.parse.quote(user)
        queries = [
            (f"open resources, first page (`/resources?state=open`; {len(rows):,} open)",
             "/resources?state=open", "< 10 ms p50"),
            (f"one person's open resources (`/resources?user={user}&state=open`; {user_open})",
             f"/resources?user={quoted}&state=open", "< 10 ms p50"),
            (f"that person's portal page (`/ui/users/{user}`, with its Left open section)",
             f"/ui/users/{quoted}", "—"),
            ("every open resource as CSV (`/resources?state=open&format=csv`)",
             "/resources?state=open&format=csv", "—"),
        ]
        for _, path, _ in queries:
            client.get(path)  # warm
        results = []
        for name, path, target in queries:
            times = [client.get(path)[2] for _ in range(args.requests)]
            results.append((name, *quantiles(times), target))
    finally:
        server.terminate()
        server.wait()

    cost = b_wall / a_wall - 1
    lines = [
        f"## Resources — {dt.date.today().isoformat()}",
        "",
        f"Machine: {machine()}. Input: `ctt gen --preset paper --seed 1 --end 2018-06-01T00:00:00Z"
        + (f" --days {args.days}" if args.days else "") + f"`: {records:,} records, "
        f"{b_report['records_stored']:,} stored; {touches:,} resource touches, {resources:,} resources. "
        "`python3 bench/resources.py`.",
        "",
        "| `ctt ingest` (no detection rules) | wall s (median) | records/s | peak RSS MiB |",
        "|---|---:|---:|---:|",
        f"| no resource types (`[resources] builtin = false`) | {a_wall:.2f} | {records / a_wall:,.0f} | {a_rss:.0f} |",
        f"| the built-in catalogue (default) | {b_wall:.2f} | {records / b_wall:,.0f} | {b_rss:.0f} |",
        "",
        f"Median of {len(without)} runs each, in rotation (walls: without "
        f"{', '.join(f'{w:.1f}' for w, _, _ in without)} s; with "
        f"{', '.join(f'{w:.1f}' for w, _, _ in with_resources)} s). Deriving resources costs "
        f"**{cost:+.1%}** of the ingest time (same run; target ≤ 10%).",
        "",
        f"Release `ctt serve` on that database, one keep-alive client, {args.requests} requests each:",
        "",
        "| request | p50 ms | p99 ms | target |",
        "|---|---:|---:|---|",
        *[f"| {name} | {p50:.2f} | {p99:.2f} | {target} |" for name, p50, p99, target in results],
    ]
    text = "\n".join(lines)
    print(text)
    write_section("resources", text + "\n")


if __name__ == "__main__":
    main()
