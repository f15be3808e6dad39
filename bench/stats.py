#!/usr/bin/env python3
"""`/stats` benchmark (issue "Scale", dashboards and /stats).

Serves a database of the `paper` preset with the release `ctt serve` on a free
loopback port and times `GET /stats` for each grouping the dashboard and the
catalog pages ask for, over 30 days, a year and four years: p50 and the worst of
`--runs` sequential requests; and the portal's dashboard over the same windows. Its anchor, in the same run: DuckDB (PyPI)
answering the same GROUP BY over the same events (exported with `ctt scan
--format csv`, loaded into a table), median of 5. Prints Markdown and writes it
into bench/RESULTS.md (section `stats`).

    python3 bench/stats.py [--db bench/data/work/ctt.db] [--runs 20]

The database: bench/ingest.py's (`bench/data/work/ctt.db`), or bench/disk.py's
(`disk.db`), whichever exists; both are the whole paper preset.
"""
import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ingest import CTT, ROOT, machine, write_section  # noqa: E402

WORK = os.path.join(ROOT, "bench", "data", "work")
WINDOWS = [
    ("30 days", "2018-05-01", "2018-05-30"),
    ("1 year", "2017-06-01", "2018-05-31"),
    ("4 years", "2014-06-01", "2018-05-31"),
]
# (group_by, the CSV column DuckDB groups by)
GROUPS = [
    ("user", '"user"'),
    ("service", "service"),
    ("eventName", "eventName"),
    ("errorCode", "coalesce(errorCode, '')"),
    ("awsRegion", "coalesce(awsRegion, '')"),
    ("day", "date_trunc('day', t)"),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed_get(url):
    start = time.perf_counter()
    urllib.request.urlopen(url).read()
    return (time.perf_counter() - start) * 1000


def duckdb_times(csv_path, runs=5):
    import duckdb
    con = duckdb.connect()
    con.execute(f"CREATE TABLE events AS SELECT * FROM read_csv_auto('{csv_path}')")
    con.execute("CREATE TABLE e AS SELECT *, CAST(eventTime AS TIMESTAMP) AS t FROM events")
    results = {}
    for window, start, end in WINDOWS:
        for group, column in GROUPS:
            sql = (f"SELECT {column} AS k, count(*) AS n FROM e "
                   f"WHERE t BETWEEN '{start} 00:00:00' AND '{end} 23:59:59' "
                   f"GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10000")
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                con.execute(sql).fetchall()
                times.append((time.perf_counter() - t0) * 1000)
            results[(window, group)] = statistics.median(times)
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", help="a database of the paper preset")
    ap.add_argument("--runs", type=int, default=20, help="requests per cell")
    args = ap.parse_args()
    db = args.db or next((p for p in (os.path.join(WORK, "ctt.db"), os.path.join(WORK, "disk.db"))
                          if os.path.exists(p)), None)
    if not db:
        sys.exit("no database: run bench/ingest.py (or bench/disk.py) first, or pass --db")
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "ctt", "--bin", "ctt"], cwd=ROOT, check=True)
    stored = subprocess.run([CTT, "--db", db, "scan", "--from", "2000-01-01", "--to", "2100-01-01",
                             "--count"], capture_output=True, text=True, check=True).stdout.strip()

    port = free_port()
    server = subprocess.Popen([CTT, "--db", db, "serve", "--listen", f"127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/health").read()
                break
            except OSError:
                time.sleep(0.05)
        ours = {}
        dashboard = {}
        for window, start, end in WINDOWS:
            url = f"{base}/ui?from={start}&to={end}"
            timed_get(url)  # warm
            times = sorted(timed_get(url) for _ in range(args.runs))
            dashboard[window] = (statistics.median(times), times[-1])
        for window, start, end in WINDOWS:
            for group, _ in GROUPS:
                url = f"{base}/stats?group_by={group}&from={start}&to={end}"
                timed_get(url)  # warm
                times = sorted(timed_get(url) for _ in range(args.runs))
                ours[(window, group)] = (statistics.median(times), times[-1])
    finally:
        server.terminate()
        server.wait()

    with tempfile.TemporaryDirectory() as tmp:
        csv_path = os.path.join(tmp, "events.csv")
        with open(csv_path, "w") as out:
            subprocess.run([CTT, "--db", db, "scan", "--from", "2014-06-01", "--to", "2018-05-31",
                            "--format", "csv"], stdout=out, check=True)
        duck = duckdb_times(csv_path)

    lines = [
        "# /stats",
        "",
        f"Machine: {machine()}. Database: the whole `paper` preset ({stored} stored events). "
        f"`python3 bench/stats.py`. Each cell: `GET /stats?group_by=G` over the window, "
        f"{args.runs} sequential requests after one to warm up — p50 / worst, in ms; DuckDB "
        "(in-process, no HTTP) the same GROUP BY over the same events, median of 5.",
        "",
        "| window | group_by | ctt p50 ms | ctt worst ms | DuckDB ms |",
        "|---|---|---:|---:|---:|",
    ]
    for window, _, _ in WINDOWS:
        for group, _ in GROUPS:
            p50, worst = ours[(window, group)]
            lines.append(f"| {window} | {group} | {p50:.1f} | {worst:.1f} | {duck[(window, group)]:.1f} |")
    lines += [
        "",
        "The portal's dashboard (`GET /ui?from=…&to=…`: the total, services, users, activity and "
        "error-code charts, the notable counters, the latest events, alerts, resources left running), "
        f"{args.runs} sequential requests, p50 / worst in ms:",
        "",
        "| window | dashboard p50 ms | worst ms |",
        "|---|---:|---:|",
    ]
    for window, _, _ in WINDOWS:
        p50, worst = dashboard[window]
        lines.append(f"| {window} | {p50:.1f} | {worst:.1f} |")
    lines += [
        "",
        "Groupings of everyone's events by key are summed from the daily counters the writer keeps, "
        "days from the hourly ones (docs/api.md, *Statistics*); the partial days or hours at the "
        "window's edges are counted from the events.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    write_section("stats", text.replace("# /stats", "## /stats", 1))


if __name__ == "__main__":
    main()
