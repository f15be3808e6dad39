//! SPEC §11 from the command line: `ctt resources` lists what each person
//! created, its state and who deleted it — the same whatever order the log
//! files were loaded in, and after a load killed with `kill -9` and re-run.

use std::path::{Path, PathBuf};

use crate::support::{Workspace, ctt_with_db, describe, generate_small, run};

/// A time after everything generated: every running hour counts up to it.
const AT: &str = "2018-07-01T00:00:00Z";

const HEADER: &str =
    "type,id,region,account,owner,state,created,deleted,deleted_by,running_hours,estimated_cost";

/// `ctt resources --at AT --format csv` on `db`.
pub fn resources_csv(db: &Path, extra: &[&str]) -> String {
    let out = run(ctt_with_db(db)
        .args(["resources", "--at", AT, "--format", "csv"])
        .args(extra));
    assert!(out.status.success(), "{}", describe(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The tree's log files (not its digests), sorted.
fn log_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(".json.gz")
                && !path.to_string_lossy().contains("CloudTrail-Digest")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn resources_are_the_same_in_any_load_order() {
    let work = Workspace::new();
    let logs = work.path("logs");
    generate_small(&logs, 5);
    let (report, code) = work.ingest(&[&logs], &[]);
    assert_eq!(code, 0, "{report}");
    let reference = resources_csv(&work.db(), &[]);
    let mut lines = reference.lines();
    assert_eq!(lines.next(), Some(HEADER));
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    assert!(rows.len() > 5, "{reference}");
    let states: Vec<&str> = rows.iter().map(|r| r[5].as_str()).collect();
    assert!(states.contains(&"running"), "{reference}");
    assert!(states.contains(&"deleted"), "{reference}");
    // Sorted by type, then id.
    let keys: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    // An instance created by a user is owned by them; a deleted one says who
    // deleted it and when; an estimate is there for what has a price.
    for row in &rows {
        if row[5] == "deleted" {
            assert!(!row[7].is_empty() && !row[8].is_empty(), "{row:?}");
        }
        if row[0] == "ec2:instance" && !row[6].is_empty() {
            assert!(!row[4].is_empty() && !row[10].is_empty(), "{row:?}");
        }
    }
    // `--state open` and `--user`: subsets of the whole.
    let open = resources_csv(&work.db(), &["--state", "open"]);
    assert!(open.lines().skip(1).all(|l| reference.contains(l)));
    assert!(
        open.lines()
            .skip(1)
            .all(|l| l.contains(",running,") || l.contains(",stopped,")),
        "{open}"
    );
    let owner = rows
        .iter()
        .find(|r| !r[4].is_empty())
        .map(|r| r[4].clone())
        .expect("an owner");
    let theirs = resources_csv(&work.db(), &["--user", &owner]);
    assert!(theirs.lines().count() > 1);
    assert!(
        theirs
            .lines()
            .skip(1)
            .all(|l| l.split(',').nth(4) == Some(owner.as_str())),
        "{theirs}"
    );

    // The same files in other orders: in four loads, the last quarter first.
    let files = log_files(&logs);
    assert!(files.len() > 20, "{} files", files.len());
    for (round, rotate) in [3, 1].into_iter().enumerate() {
        let db = work.path(&format!("order-{round}.db"));
        let quarter = files.len().div_ceil(4);
        let chunks: Vec<&[PathBuf]> = files.chunks(quarter).collect();
        for i in 0..chunks.len() {
            let chunk = chunks[(i + rotate) % chunks.len()];
            let mut cmd = ctt_with_db(&db);
            cmd.args(["ingest", "--no-progress"]);
            // Within a chunk too, the later files first.
            cmd.args(chunk.iter().rev());
            let out = run(&mut cmd);
            assert!(out.status.success(), "{}", describe(&out));
        }
        assert_eq!(resources_csv(&db, &[]), reference, "load order {round}");
    }
}

#[test]
fn bad_resource_filters_are_refused_by_name() {
    let work = Workspace::new();
    for (args, named) in [
        (&["--state", "gone"][..], "--state gone"),
        (&["--type", "ec2:rocket"][..], "--type ec2:rocket"),
        (&["--at", "yesterday-ish"][..], "--at"),
    ] {
        let out = run(work.ctt().arg("resources").args(args));
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(named),
            "{}",
            describe(&out)
        );
    }
    let types = run(work.ctt().args(["resources", "--types", "--format", "csv"]));
    assert!(types.status.success(), "{}", describe(&types));
    let text = String::from_utf8_lossy(&types.stdout);
    assert!(
        text.contains("ec2:instance,EC2 instance,ec2.amazonaws.com"),
        "{text}"
    );
    assert!(text.lines().count() > 20);
}
