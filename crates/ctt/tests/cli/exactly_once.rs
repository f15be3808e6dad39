//! SPEC §4 "exactly once": re-running loads nothing new, and a load killed with
//! `kill -9` at any point, then re-run, ends with exactly the events of one clean
//! load — no loss, no duplicate. The same holds for alerts (SPEC §12): one per
//! (rule, eventID), anomalies among them (SPEC §13), and for resources (SPEC §11).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use crate::resources::resources_csv;
use crate::support::{Workspace, ctt_with_db, generate_small, n, run};

/// Every stored eventID, sorted (a duplicate would show twice).
fn stored_ids(db: &Path) -> Vec<String> {
    let mut cmd = ctt_with_db(db);
    cmd.args([
        "scan",
        "--from",
        "2000-01-01",
        "--to",
        "2100-01-01",
        "--format",
        "ndjson",
    ]);
    let out = run(&mut cmd);
    assert!(out.status.success());
    let mut ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let event: serde_json::Value = serde_json::from_str(line).expect("ndjson line");
            event["eventID"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    ids.sort();
    ids
}

/// Every stored alert's id (`RULE:EVENT_ID`), sorted.
fn alert_ids(db: &Path) -> Vec<String> {
    let out = run(ctt_with_db(db).args(["alerts", "--format", "json"]));
    assert!(out.status.success());
    let alerts: serde_json::Value = serde_json::from_slice(&out.stdout).expect("alerts json");
    let mut ids: Vec<String> = alerts
        .as_array()
        .expect("a list")
        .iter()
        .map(|a| a["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    ids.sort();
    ids
}

#[test]
fn rerunning_a_load_stores_nothing_new() {
    let ws = Workspace::new();
    let logs = ws.path("logs");
    generate_small(&logs, 3);
    let (first, code) = ws.ingest(&[&logs], &[]);
    assert_eq!(code, 0, "{first}");
    assert!(n(&first, "records_stored") > 100, "{first}");
    assert!(
        n(&first, "files_skipped") > 0,
        "digest files are skipped: {first}"
    );
    let ids = stored_ids(&ws.db());
    assert_eq!(ids.len() as u64, n(&first, "records_stored"));

    let (second, code) = ws.ingest(&[&logs], &[]);
    assert_eq!(code, 0);
    assert_eq!(n(&second, "files_loaded"), 0, "{second}");
    assert_eq!(
        n(&second, "files_already_loaded"),
        n(&first, "files_loaded")
    );
    assert_eq!(n(&second, "records_stored"), 0);
    assert_eq!(stored_ids(&ws.db()), ids);
    assert!(!alert_ids(&ws.db()).is_empty(), "the built-in rules fire");
}

#[test]
fn killed_load_resumes_to_exactly_one_clean_load() {
    let ws = Workspace::new();
    let logs = ws.path("logs");
    generate_small(&logs, 11);

    let clean = ws.path("clean.db");
    let started = Instant::now();
    let mut cmd = ctt_with_db(&clean);
    cmd.args(["ingest", "--no-progress", "--batch-events", "100"])
        .arg(&logs);
    assert!(run(&mut cmd).status.success());
    let clean_time = started.elapsed();
    let reference = stored_ids(&clean);
    let alerts = alert_ids(&clean);
    let resources = resources_csv(&clean, &[]);
    assert!(resources.lines().count() > 5, "{resources}");
    assert!(alerts.len() > 10, "{} alerts", alerts.len());
    // SPEC §13: the generated tree's anomalies are among them, so a kill
    // anywhere, then a re-run, must leave exactly these too.
    assert!(
        alerts.iter().any(|id| id.starts_with("anomaly:")),
        "{alerts:?}"
    );

    let jitter = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut interrupted = 0;
    for (round, fraction) in [0.15, 0.45, 0.75].into_iter().enumerate() {
        let jittered = fraction + f64::from(jitter % 100) / 1000.0;
        let delay = clean_time.mul_f64(jittered).max(Duration::from_millis(5));
        let db = ws.path(&format!("killed-{round}.db"));
        let mut child = ctt_with_db(&db)
            .args(["ingest", "--no-progress", "--batch-events", "100"])
            .arg(&logs)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ctt ingest");
        std::thread::sleep(delay);
        let killed = child.try_wait().expect("poll child").is_none();
        child.kill().expect("kill -9"); // SIGKILL on Unix
        child.wait().expect("reap child");
        if killed {
            interrupted += 1;
            let partial = stored_ids(&db);
            assert!(partial.len() <= reference.len());
        }
        let mut rerun = ctt_with_db(&db);
        rerun.args(["ingest", "--no-progress"]).arg(&logs);
        let out = run(&mut rerun);
        assert!(out.status.success(), "re-run after kill at {delay:?}");
        assert_eq!(
            stored_ids(&db),
            reference,
            "kill at {delay:?} (round {round}) then re-run"
        );
        assert_eq!(alert_ids(&db), alerts, "alerts after a kill at {delay:?}");
        // SPEC §11: resources too, whatever the kill left half done.
        assert_eq!(
            resources_csv(&db, &[]),
            resources,
            "resources after a kill at {delay:?}"
        );
    }
    assert!(
        interrupted > 0,
        "no round killed the load mid-way (clean load took {clean_time:?})"
    );
}

#[test]
fn ingest_selects_files_by_the_date_in_their_key() {
    let ws = Workspace::new();
    let logs = ws.path("logs");
    generate_small(&logs, 5);
    let days = ["2018/06/10", "2018/06/11"];
    let expected_files = walkdir::WalkDir::new(&logs)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter(|e| {
            let path = e.path().to_string_lossy().into_owned();
            path.contains("/CloudTrail/") && days.iter().any(|d| path.contains(d))
        })
        .count() as u64;
    assert!(expected_files > 0);
    let (report, code) = ws.ingest(&[&logs], &["--from", "2018-06-10", "--to", "2018-06-11"]);
    assert_eq!(code, 0);
    assert_eq!(n(&report, "files_loaded"), expected_files, "{report}");
    let outside = ws.count(&[
        "scan",
        "--from",
        "2018-01-01",
        "--to",
        "2018-06-09T23:00:00",
    ]);
    assert_eq!(outside, 0, "no event from files before --from");
}

/// A folder listed in parts, each loaded before the next is listed (issue
/// "Scale": memory at any size), loads what one listing loads, in one bulk
/// load decided on the first `bulk_load_files` files (more than a part holds
/// here) whose indexes are built at its end; a re-run in parts loads nothing.
#[test]
fn a_load_listed_in_parts_equals_a_load_listed_whole() {
    let ws = Workspace::new();
    let logs = ws.path("logs");
    generate_small(&logs, 3);
    let (whole, code) = ws.ingest(&[&logs], &[]);
    assert_eq!(code, 0, "{whole}");

    let bulk_config = ws.path("bulk.toml");
    std::fs::write(&bulk_config, "[ingest]\nbulk_load_files = 20\n").expect("write config");
    let parts = ws.path("parts.db");
    let load_in_parts = || {
        let mut cmd = ctt_with_db(&parts);
        cmd.arg("--config").arg(&bulk_config).args([
            "-v",
            "ingest",
            "--format",
            "json",
            "--no-progress",
            "--list-part-files",
            "7",
        ]);
        let out = run(cmd.arg(&logs));
        assert!(out.status.success());
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report");
        (report, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (first, log) = load_in_parts();
    for field in [
        "files_loaded",
        "files_skipped",
        "records_read",
        "records_stored",
    ] {
        assert_eq!(n(&first, field), n(&whole, field), "{field}: {first}");
    }
    assert!(n(&first, "files_loaded") > 3 * 20, "several parts: {first}");
    assert_eq!(
        log.matches("building the store's query indexes").count(),
        1,
        "one bulk load: {log}"
    );
    assert_eq!(stored_ids(&parts), stored_ids(&ws.db()));
    assert_eq!(alert_ids(&parts), alert_ids(&ws.db()));
    assert_eq!(query_indexes(&parts), query_indexes(&ws.db()));
    assert_eq!(query_indexes(&parts).len(), 5);

    let (again, log) = load_in_parts();
    assert_eq!(n(&again, "files_loaded"), 0, "{again}");
    assert_eq!(n(&again, "files_already_loaded"), n(&first, "files_loaded"));
    assert!(!log.contains("building the store's query indexes"), "{log}");
}

/// The query indexes (of `events` and `event_params`) in the database file, read
/// with SQLite itself (opening the store would build missing ones).
fn query_indexes(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).expect("open the database");
    let mut stmt = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'index'
             AND tbl_name IN ('events', 'event_params') AND name != 'events_by_id' ORDER BY name",
        )
        .expect("prepare");
    stmt.query_map([], |r| r.get(0))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows")
}

/// The database file's journal mode, read with SQLite itself.
fn journal_mode(db: &Path) -> String {
    rusqlite::Connection::open(db)
        .expect("open the database")
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("journal mode")
}

/// A bulk load (into an empty store, many files: query indexes built once at the
/// end) stores what a row-by-row load stores, leaves every index in place, and
/// when killed half-way resumes to the same events with its indexes rebuilt.
#[test]
fn bulk_load_equals_a_row_by_row_load_and_survives_a_kill() {
    let ws = Workspace::new();
    let logs = ws.path("logs");
    generate_small(&logs, 5);
    let bulk_config = ws.path("bulk.toml");
    std::fs::write(&bulk_config, "[ingest]\nbulk_load_files = 1\n").expect("write config");

    let row_by_row = ws.path("row-by-row.db");
    let mut cmd = ctt_with_db(&row_by_row);
    cmd.args(["ingest", "--no-progress"]).arg(&logs);
    assert!(run(&mut cmd).status.success());
    let reference = stored_ids(&row_by_row);
    let indexes = query_indexes(&row_by_row);
    assert_eq!(indexes.len(), 5, "{indexes:?}");

    let bulk = ws.path("bulk.db");
    let started = Instant::now();
    let mut cmd = ctt_with_db(&bulk);
    cmd.arg("--config")
        .arg(&bulk_config)
        .args(["ingest", "--no-progress", "--batch-events", "100"])
        .arg(&logs);
    assert!(run(&mut cmd).status.success());
    let bulk_time = started.elapsed();
    assert_eq!(query_indexes(&bulk), indexes, "indexes built at the end");
    assert_eq!(
        journal_mode(&bulk),
        "wal",
        "the WAL is back after a bulk load"
    );
    assert_eq!(stored_ids(&bulk), reference);
    for args in [
        &["users", "--format", "json"][..],
        &["services", "--format", "json"][..],
        &[
            "scan",
            "--from",
            "2018-06-01",
            "--to",
            "2018-06-15",
            "--count",
        ][..],
        // An indexed parameter: answered through event_params_by_value.
        &[
            "scan",
            "--from",
            "2000-01-01",
            "--to",
            "2100-01-01",
            "--param",
            "requestParameters_instanceType=t2.micro",
            "--format",
            "json",
        ][..],
    ] {
        let answer = |db: &Path| {
            let mut cmd = ctt_with_db(db);
            cmd.args(args);
            let out = run(&mut cmd);
            assert!(out.status.success(), "{args:?}");
            out.stdout
        };
        assert_eq!(answer(&bulk), answer(&row_by_row), "{args:?}");
    }

    // Killed while its indexes are dropped: the next open builds them, the re-run
    // loads the rest.
    let killed = ws.path("killed.db");
    let mut child = ctt_with_db(&killed)
        .arg("--config")
        .arg(&bulk_config)
        .args(["ingest", "--no-progress", "--batch-events", "100"])
        .arg(&logs)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ctt ingest");
    std::thread::sleep(bulk_time.mul_f64(0.4).max(Duration::from_millis(5)));
    let interrupted = child.try_wait().expect("poll child").is_none();
    child.kill().expect("kill -9");
    child.wait().expect("reap child");
    if interrupted && killed.exists() {
        // Read-write, as SQLite itself (not the store, which would build the
        // indexes): a kill during a commit through the rollback journal left a
        // hot journal, which only a writable connection can roll back.
        let conn = rusqlite::Connection::open(&killed).expect("open");
        let stored = conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))
            .map_or(0, |n| n as usize);
        if stored > 0 && stored < reference.len() {
            assert!(
                query_indexes(&killed).is_empty(),
                "a bulk load drops its query indexes until its end"
            );
        }
    }
    let mut rerun = ctt_with_db(&killed);
    rerun.args(["ingest", "--no-progress"]).arg(&logs);
    assert!(run(&mut rerun).status.success());
    assert_eq!(query_indexes(&killed), indexes);
    assert_eq!(journal_mode(&killed), "wal");
    assert_eq!(stored_ids(&killed), reference);
}
