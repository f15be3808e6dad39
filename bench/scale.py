#!/usr/bin/env python3
"""Scale benchmark (issue "Scale"): a busy production account on one machine.

Generates the `scale` preset (a busy production account beside a small class,
~110,000 records a day; `--days`, a year by default: ~40 million records, ≥ 10
million stored), or with `--preset write-heavy` the issue's write-heavy tree (a
month of that account with half of the records kept, ~15 records a file), then
measures in one run:
  * the decompress + parse ceiling (crates/ctt-ingest/examples/ceiling.rs), the
    minimal writer (crates/ctt-ingest/examples/minimal_writer.rs) and `ctt
    ingest` into an empty database: wall, records/s, CPU, peak RSS; with
    `--rounds N`, N rounds of the three in rotation and the medians, with
    each round's own ctt / minimal writer ratio;
  * the database's bytes per stored event against the gzipped logs';
  * with `ctt serve` on a free loopback port, one client: `/stats` by user,
    service and day and the portal's dashboard over the last 30 days and the
    whole history (p50 / worst of `--runs`); a count and a first page of
    `/scan` over the last 7 days and everything, and of the busiest user over
    30 days (p50 / p99 of `--requests`); NDJSON and CSV exports of the last
    `--export-days` days, events/s to the last byte;
  * their anchor: DuckDB (PyPI) over the same events (all stored events
    exported with `ctt scan --format csv` into a table), the same groupings,
    counts, first 1,000 rows and export rows written to a file.
Prints Markdown and writes it into bench/RESULTS.md (section `scale` for the
year of `scale`, `scale-PRESET-DAYS` otherwise).

    python3 bench/scale.py [--preset scale|write-heavy] [--days 365] [--rounds 1]
                           [--runs 20] [--requests 200] [--export-days 7]

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
import tempfile
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
PRESET_DAYS = {"scale": 365, "write-heavy": 30}


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


def within(start, stop):
    """DuckDB's WHERE for the API's `from=start&to=stop` (a day, an instant)."""
    return (f"t >= TIMESTAMP '{start}' AND "
            f"t <= TIMESTAMP '{stop.replace('T', ' ').rstrip('Z')}'")


def duckdb_anchor(db, work, windows, queries, export_where, runs):
    """DuckDB on the same events: every stored event exported by `ctt scan
    --format csv` and loaded into a table; then the /stats groupings over
    `windows`, each query's count and first 1,000 rows, and the exports'
    rows written to a file — median of `runs` (3 for the exports), ms (the
    exports: seconds). Also the export's and the table's seconds."""
    try:
        import duckdb  # PyPI, installed when missing, as bench/ingest.py does
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "duckdb"], check=True)
        import duckdb
    result = {"version": duckdb.__version__}
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        csv_path = os.path.join(tmp, "events.csv")
        start = time.perf_counter()
        with open(csv_path, "w") as out:
            subprocess.run([CTT, "--db", db, "scan", "--from", "2000-01-01", "--to", "2100-01-01",
                            "--format", "csv"], stdout=out, check=True)
        result["load"] = time.perf_counter() - start
        con = duckdb.connect()
        start = time.perf_counter()
        con.execute(f"CREATE TABLE e AS SELECT *, CAST(eventTime AS TIMESTAMP) AS t "
                    f"FROM read_csv('{csv_path}', header = true, quote = '\"', "
                    "escape = '\"', all_varchar = true)")
        result["table"] = time.perf_counter() - start

        def median_ms(sql, n=runs):
            times = []
            for _ in range(n):
                t0 = time.perf_counter()
                con.execute(sql).fetchall()
                times.append((time.perf_counter() - t0) * 1000)
            return statistics.median(times)

        columns = {"user": '"user"', "service": "service", "day": "date_trunc('day', t)"}
        for window, start_day, stop in windows:
            for group, column in columns.items():
                result[(window, group)] = median_ms(
                    f"SELECT {column} AS k, count(*) FROM e WHERE {within(start_day, stop)} "
                    "GROUP BY 1 ORDER BY 2 DESC, 1")
        for name, (_, where) in queries.items():
            result[(name, "count")] = median_ms(f"SELECT count(*) FROM e WHERE {where}")
            result[(name, "page")] = median_ms(
                f"SELECT * EXCLUDE (t) FROM e WHERE {where} ORDER BY t, eventID LIMIT 1000")
        for fmt, options in (("ndjson", "FORMAT JSON"), ("csv", "FORMAT CSV, HEADER")):
            target = os.path.join(tmp, f"export.{fmt}")
            walls = []
            for _ in range(3):
                t0 = time.perf_counter()
                con.execute(f"COPY (SELECT * EXCLUDE (t) FROM e WHERE {export_where} "
                            f"ORDER BY t, eventID) TO '{target}' ({options})")
                walls.append(time.perf_counter() - t0)
            result[("export", fmt)] = statistics.median(walls)
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", choices=list(PRESET_DAYS), default="scale")
    ap.add_argument("--days", type=int, help="days of the preset [scale: 365, write-heavy: 30]")
    ap.add_argument("--rounds", type=int, default=1,
                    help="rounds of the three loads (ceiling, minimal writer, ctt ingest), in rotation")
    ap.add_argument("--runs", type=int, default=20, help="requests per /stats and dashboard cell")
    ap.add_argument("--requests", type=int, default=200, help="requests per count and page cell")
    ap.add_argument("--export-days", type=int, default=7)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "ctt", "--bin", "ctt",
                    "--no-default-features"], cwd=ROOT, check=True)
    for example in ("ceiling", "minimal_writer"):
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "ctt-ingest", "--example", example],
                       cwd=ROOT, check=True)
    days = args.days if args.days is not None else PRESET_DAYS[args.preset]
    tree = os.path.join(DATA, f"{args.preset}-{days}")
    if not os.path.isdir(tree):
        os.makedirs(DATA, exist_ok=True)
        print(f"generating {days} days of the {args.preset} preset into {tree} …", flush=True)
        out, wall, _ = run([CTT, "gen", tree, "--preset", args.preset, "--seed", "1", "--end", END,
                            "--days", str(days)])
        print(out.strip(), f"({wall:.0f} s)", flush=True)
    gz, files = logs_bytes(tree)

    work = os.path.join(DATA, "work")
    os.makedirs(work, exist_ok=True)
    db = os.path.join(work, "scale.db")
    minimal_db = os.path.join(work, "minimal.db")

    def remove(path, suffixes):
        for suffix in suffixes:
            if os.path.exists(path + suffix):
                os.remove(path + suffix)

    def ceiling():
        _, wall, _ = run([CEILING, tree])
        return {"wall": wall, "cpu": CPU["last"]}

    def minimal():
        remove(minimal_db, ("", "-journal"))
        out, wall, rss = run([MINIMAL, minimal_db, tree])
        result = {"wall": wall, "cpu": CPU["last"], "rss": rss,
                  "stored": json.loads(out)["stored"], "size": os.path.getsize(minimal_db)}
        remove(minimal_db, ("", "-journal"))
        return result

    def ingest():
        remove(db, ("", "-wal", "-shm"))
        out, wall, rss = run([CTT, "--db", db, "ingest", tree, "--no-progress", "--format", "json"])
        return {"wall": wall, "cpu": CPU["last"], "rss": rss, "report": json.loads(out)}

    # In rotation, each round starting one load later than the one before, so
    # that no load always runs first (or right after another's disk writes);
    # the last `ctt ingest` leaves the database the queries run on.
    loads = {"ceiling": ceiling, "minimal": minimal, "ctt": ingest}
    order = list(loads)
    runs = {name: [] for name in loads}
    for round_ in range(args.rounds):
        names = order[round_ % 3:] + order[:round_ % 3]
        if round_ == args.rounds - 1:
            names = [n for n in names if n != "ctt"] + ["ctt"]
        for name in names:
            print(f"round {round_ + 1}/{args.rounds}: {name} …", flush=True)
            runs[name].append(loads[name]())
            print(f"  {runs[name][-1]['wall']:.1f} s", flush=True)
    med = {name: statistics.median(r["wall"] for r in rs) for name, rs in runs.items()}
    med_cpu = {name: statistics.median(r["cpu"] for r in rs) for name, rs in runs.items()}
    paired = sorted(m["wall"] / c["wall"] for m, c in zip(runs["minimal"], runs["ctt"]))
    report = runs["ctt"][-1]["report"]
    records, stored = report["records_read"], report["records_stored"]
    minimal_stored = runs["minimal"][-1]["stored"]
    minimal_size = runs["minimal"][-1]["size"]
    rss = max(r["rss"] for r in runs["ctt"])
    minimal_rss = max(r["rss"] for r in runs["minimal"])
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        busiest = conn.execute(
            "SELECT name FROM users ORDER BY events DESC LIMIT 1").fetchone()[0]
    size = os.path.getsize(db)

    end = dt.datetime.fromisoformat(END.replace("Z", "+00:00"))
    day = lambda n: (end - dt.timedelta(days=n)).strftime("%Y-%m-%d")  # noqa: E731
    last = (end - dt.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    windows = [("30 days", day(30), last)]
    if days != 30:
        windows.append((f"{days} days", day(days), last))
    # Each query as the API asks it, and the same question's WHERE for DuckDB.
    queries = {"everyone, 7 days": (f"/scan?from={day(7)}&to={last}", within(day(7), last))}
    if days != 7:
        queries[f"everyone, {days} days"] = (f"/scan?from={day(days)}&to={last}",
                                              within(day(days), last))
    queries[f"busiest user ({busiest}), 30 days"] = (
        f"/users/{urllib.parse.quote(busiest, safe='')}?from={day(30)}&to={last}",
        within(day(30), last) + " AND \"user\" = '" + busiest.replace("'", "''") + "'")
    port = free_port()
    server = subprocess.Popen([CTT, "--db", db, "serve", "--listen", f"127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
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
        latency = {}
        for name, (path, _) in queries.items():
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

    print("DuckDB …", flush=True)
    duck = duckdb_anchor(db, work, windows, queries, within(day(args.export_days), last),
                         args.runs)

    def load_row(name, label):
        rs = runs[name]
        wall, cpu = med[name], med_cpu[name]
        rss_cell = f"{max(r['rss'] for r in rs):.0f}" if "rss" in rs[0] else ""
        return (f"| {label} | {wall:.1f} | {records / wall:,.0f} | {cpu:.0f} ({cpu / wall:.2f}) "
                f"| {rss_cell} |")

    title = ("Scale" if (args.preset, days) == ("scale", 365) else
             f"Scale, {days} days of `scale`" if args.preset == "scale" else
             "Scale, the write-heavy tree")
    several = args.rounds > 1
    text = "\n".join([
        f"## {title} — {dt.date.today().isoformat()}",
        "",
        f"Machine: {machine()}. Input: `ctt gen --preset {args.preset} --seed 1 --end {END} --days {days}`: "
        f"{files:,} log files ({records / files:.1f} records a file), {records:,} records, "
        f"{stored:,} stored ({stored / records:.0%}), "
        f"{gz / 1e9:.2f} GB gzipped. `python3 bench/scale.py --preset {args.preset} --days {days} "
        f"--rounds {args.rounds} --export-days {args.export_days}`.",
        "",
        (f"Loads: the median of {args.rounds} rounds, in rotation (each round starts with the "
         "next load)." if several else "Loads: one run each."),
        "",
        "| load | wall s | records/s | CPU s (cores busy) | peak RSS MiB |",
        "|---|---:|---:|---:|---:|",
        load_row("ceiling", "decompress + parse ceiling (all cores, nothing stored)"),
        load_row("minimal", f"minimal writer (the same events and indexes, nothing else; "
                 f"{minimal_stored:,} stored, {minimal_size / 1e9:.2f} GB)"),
        load_row("ctt", "`ctt ingest` into an empty database"),
        "",
        f"`ctt ingest` runs at **{med['minimal'] / med['ctt']:.0%} of the minimal writer's speed** "
        "(target ≥ 80%; the ratio of the median walls"
        + (f"; each round's own ratio: {', '.join(f'{r:.0%}' for r in paired)}, median "
           f"**{statistics.median(paired):.0%}**" if several else ", one run each")
        + f") and {med['ceiling'] / med['ctt']:.0%} of the ceiling. Walls of every run, s: "
        + "; ".join(name + " " + ", ".join(f"{r['wall']:.1f}" for r in rs) for name, rs in runs.items())
        + f". Database: {size / 1e9:.2f} GB, **{size / stored:,.0f} bytes per stored event**, "
        f"{size / gz:.2f}× the gzipped logs it came from ({gz / stored:,.0f} bytes per stored event).",
        "",
        f"Served by `ctt serve`, one client; `/stats` and the dashboard: p50 / worst of {args.runs}, "
        f"ms. The anchor, in the same run: DuckDB {duck['version']} (PyPI, in-process, no HTTP) "
        f"answering the same GROUP BY over the same events (all of them exported with `ctt scan "
        f"--format csv`, {duck['load']:.0f} s, and loaded into a table, {duck['table']:.0f} s), "
        f"median of {args.runs}:",
        "",
        "| window | dashboard | /stats user (DuckDB) | /stats service (DuckDB) | /stats day (DuckDB) |",
        "|---|---:|---:|---:|---:|",
        *[f"| {w} | {stats[(w, 'dashboard')][0]:.1f} / {stats[(w, 'dashboard')][1]:.1f} | "
          + " | ".join(f"{stats[(w, g)][0]:.1f} / {stats[(w, g)][1]:.1f} ({duck[(w, g)]:.1f})"
                       for g in ("user", "service", "day")) + " |"
          for w, _, _ in windows],
        "",
        f"Counts and first pages (the default page: 1,000 events), p50 / p99 of {args.requests} "
        f"sequential requests, ms; DuckDB's `count(*)` and first 1,000 rows by (time, eventID), "
        f"median of {args.runs}:",
        "",
        "| query | events | count (DuckDB) | first page (DuckDB) |",
        "|---|---:|---:|---:|",
        *[f"| {name} | {n:,} | {c[0]:.1f} / {c[1]:.1f} ({duck[(name, 'count')]:.1f}) "
          f"| {p[0]:.1f} / {p[1]:.1f} ({duck[(name, 'page')]:.1f}) |"
          for name, (n, c, p) in latency.items()],
        "",
        f"Exports of the last {args.export_days} days (median of 5, received by curl, to the last byte): "
        + "; ".join(f"{fmt.upper()} {n:,} events in {w:.2f} s, **{n / w:,.0f} events/s** "
                    f"(DuckDB writing the same rows to a file: {n / duck[('export', fmt)]:,.0f} events/s)"
                    for fmt, (n, w) in exports.items()) + ".",
        "",
    ])
    print(text)
    write_section("scale" if (args.preset, days) == ("scale", 365) else f"scale-{args.preset}-{days}", text)


if __name__ == "__main__":
    main()
