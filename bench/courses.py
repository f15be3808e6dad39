#!/usr/bin/env python3
"""Course benchmark (issue 14, "Speed"): the paper preset's class graded against
its 13-lab course (SPEC §10), on SQLite.

Uses the paper preset of bench/ingest.py (bench/data/paper, `--seed 1`) and its
database (bench/data/work/ctt.db; ingested here if missing), adds the course
examples/courses/cloud-computing.toml (13 labs over the 2017/18 academic year of
that history), serves it with
the release `ctt serve` on a free loopback port and measures, over one
keep-alive connection:

- the class progress (`/courses/{id}/progress`), one student's page
  (`/courses/{id}/students/{user}`, every student in turn) and the timeline
  (`/courses/{id}/timeline`): p50 and p99;
- the original's way, on the same data: one `/users/{user}` request per student
  over the course window (every page, following `Link`), then counting the
  required calls of each lab client-side, as its portal did in the browser.

Prints a Markdown table and writes it into bench/RESULTS.md.

    python3 bench/courses.py [--requests 50]
"""
import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import tomllib
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ingest import CTT, Client, DATA, build, ctt_ingest, generate, machine, write_section  # noqa: E402

WORK = os.path.join(DATA, "work")
DB = os.path.join(WORK, "ctt.db")
VERSION = re.compile(r"^(\d{8}|\d{4}_\d{2}_\d{2})(v\d+)?$")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def quantiles(samples):
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000


def matches(requirement, service, name):
    wanted_service, _, wanted = requirement.rpartition(":")
    if wanted_service and wanted_service != service:
        return False
    if not name.startswith(wanted):
        return False
    rest = name[len(wanted):]
    return rest == "" or bool(VERSION.match(rest))


def original_way(client, course, students):
    """One /users/{user} per student over the course window, then counting in
    the client: per lab, min(count, matching events in the lab's window)."""
    window = f"from={course['from']}&to={course['to']}"
    fetched = 0
    for student in students:
        path = f"/users/{urllib.parse.quote(student)}?{window}&limit=10000"
        events = []
        while path:
            body, link, _ = client.get(path)
            events.extend(json.loads(body))
            path = None
            if link and 'rel="next"' in link:
                url = link.split(";")[0].strip("<> ")
                parsed = urllib.parse.urlsplit(url)
                path = parsed.path + "?" + parsed.query
        fetched += len(events)
        for lab in course["lab"]:
            for requirement in lab["requires"]:
                sum(1 for e in events if not e.get("errorCode")
                    and matches(requirement["event"], e["service"], e["eventName"]))
    return fetched


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--db", help="an ingested database [default: the paper preset's, bench/data/work/ctt.db]")
    parser.add_argument("--course", default=os.path.join(ROOT, "examples", "courses", "cloud-computing.toml"),
                        help="a course file [default: examples/courses/cloud-computing.toml]")
    args = parser.parse_args()
    build()
    db = args.db or DB
    course_file = args.course
    if not os.path.exists(db):
        tree = generate("paper")
        os.makedirs(WORK, exist_ok=True)
        print("ingesting the paper preset (once)…", flush=True)
        ctt_ingest(tree, db)
    course = tomllib.load(open(course_file, "rb"))
    subprocess.run([CTT, "--db", db, "course", "add", course_file], check=True)
    port = free_port()
    server = subprocess.Popen([CTT, "--db", db, "serve", "--listen", f"127.0.0.1:{port}"],
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        client = Client(port)
        cid = course["id"]
        progress_body, _, _ = client.get(f"/courses/{cid}/progress")
        progress = json.loads(progress_body)
        students = [s["student"] for s in progress["students"]]
        credited = sum(1 for s in progress["students"] if s["status"] != "not started")
        rows = []
        timings = [client.get(f"/courses/{cid}/progress")[2] for _ in range(args.requests)]
        p50, p99 = quantiles(timings)
        rows.append(("class progress (`/progress`)", p50, p99, "< 100 ms p50"))
        timings = [client.get(f"/courses/{cid}/students/{urllib.parse.quote(s)}")[2]
                   for s in (students * (1 + 4 * args.requests // max(1, len(students))))[: 4 * args.requests]]
        p50, p99 = quantiles(timings)
        rows.append(("one student (`/students/{user}`)", p50, p99, "< 10 ms p50"))
        timings = [client.get(f"/courses/{cid}/timeline")[2] for _ in range(max(3, args.requests // 5))]
        p50, p99 = quantiles(timings)
        days = len(json.loads(client.get(f"/courses/{cid}/timeline")[0])["days"])
        rows.append((f"timeline ({days} days)", p50, p99, "< 1 s"))
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            fetched = original_way(client, course, students)
            runs.append(time.perf_counter() - start)
        original = statistics.median(runs)
    finally:
        server.terminate()
        server.wait()

    labs = len(course["lab"])
    text = (
        f"## Courses — {time.strftime('%Y-%m-%d')}\n\n"
        f"`python3 bench/courses.py --requests {args.requests}` on {machine()}: the paper preset "
        f"(`--seed 1`), its course `{cid}` ({labs} labs, {len(students)} students, "
        f"{course['from']} to {course['to']}, {credited} of them started), release `ctt serve` on "
        "SQLite, one keep-alive client.\n\n"
        "| request | p50 (ms) | p99 (ms) | target |\n|---|---:|---:|---|\n"
        + "".join(f"| {name} | {p50:.1f} | {p99:.1f} | {target} |\n" for name, p50, p99, target in rows)
        + f"\nThe original's way on the same data — one `/users/{{user}}` per student over the "
        f"course window ({fetched} events fetched), counted client-side: **{original * 1000:.0f} ms** "
        f"for the class (median of 3), **{original / (rows[0][1] / 1000):.0f}×** the class progress "
        "in one request.\n"
    )
    print(text)
    write_section("courses", text)


if __name__ == "__main__":
    main()
