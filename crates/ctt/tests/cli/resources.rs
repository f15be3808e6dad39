//! SPEC §11 from the command line: `ctt resources` lists what each person
//! created, its state and who deleted it — the same whatever order the log
//! files were loaded in, and after a load killed with `kill -9` and re-run.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{Workspace, ctt_with_db, describe, generate_small, gzip, run};

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

/// SPEC §11: the catalogue is extendable and the prices overridable in the
/// configuration; a bad type is refused, naming it.
#[test]
fn the_catalogue_and_the_prices_come_from_the_configuration() {
    let work = Workspace::new();
    let record = |id: &str, time: &str, user: &str, source: &str, name: &str, extra: Value| {
        let mut r = serde_json::json!({
            "eventVersion": "1.08", "eventID": id, "eventTime": time,
            "eventSource": source, "eventName": name, "awsRegion": "eu-west-1",
            "recipientAccountId": "111122223333",
            "userIdentity": {"type": "IAMUser", "userName": user, "accountId": "111122223333"},
        });
        for (k, v) in extra.as_object().expect("object") {
            r[k] = v.clone();
        }
        r
    };
    let records = vec![
        record(
            "e1",
            "2026-10-05T08:00:00Z",
            "alice",
            "apprunner.amazonaws.com",
            "CreateService",
            serde_json::json!({"responseElements": {"service": {"serviceName": "shop"}}}),
        ),
        record(
            "e2",
            "2026-10-05T08:00:00Z",
            "bob",
            "ec2.amazonaws.com",
            "RunInstances",
            serde_json::json!({
                "requestParameters": {"instanceType": "t2.micro"},
                "responseElements": {"instancesSet": {"items": [{"instanceId": "i-0b0b"}]}}
            }),
        ),
    ];
    let logs = work.path("logs");
    std::fs::create_dir_all(&logs).expect("dir");
    let body = serde_json::json!({"Records": records}).to_string();
    std::fs::write(logs.join("one.json.gz"), gzip(body.as_bytes())).expect("write");
    let config = work.path("ctt.toml");
    std::fs::write(
        &config,
        r#"
[[resources.types]]
type = "apprunner:service"
name = "App Runner service"
source = "apprunner.amazonaws.com"
create = [{ events = ["CreateService"], ids = ["responseElements.service.serviceName"] }]
delete = [{ events = ["DeleteService"], ids = ["responseElements.service.serviceName"] }]

[resources.prices]
region = "eu-west-1"
[resources.prices.hourly."ec2:instance"]
"t2.micro" = 0.5
[resources.prices.hourly."apprunner:service"]
default = 0.064
"#,
    )
    .expect("config");
    let config = config.to_string_lossy().into_owned();
    let (report, code) = work.ingest(&[&logs], &[]);
    assert_eq!(code, 0, "{report}");
    // Loaded with the configuration: the added type is a resource.
    let db = work.path("configured.db");
    let out = run(ctt_with_db(&db)
        .args(["--config", &config, "ingest", "--no-progress"])
        .arg(&logs));
    assert!(out.status.success(), "{}", describe(&out));
    let out = run(ctt_with_db(&db).args([
        "--config",
        &config,
        "resources",
        "--at",
        "2026-10-05T18:00:00Z",
        "--format",
        "csv",
    ]));
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("apprunner:service,shop,eu-west-1,111122223333,alice,running,2026-10-05T08:00:00Z,,,10.00,0.64"),
        "{text}"
    );
    // Ten hours of a t2.micro at the configured 0.5 an hour.
    assert!(text.contains("ec2:instance,i-0b0b,eu-west-1,111122223333,bob,running,2026-10-05T08:00:00Z,,,10.00,5.00"), "{text}");
    // Without the configuration, the App Runner call is no resource.
    let plain = resources_csv(&work.db(), &[]);
    assert!(!plain.contains("apprunner"), "{plain}");
    // `builtin = false`: the configured types alone (the instance is none).
    let only = work.path("only.toml");
    let text_of = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&only, format!("[resources]\nbuiltin = false\n{text_of}")).expect("config");
    let only = only.to_string_lossy().into_owned();
    let db = work.path("only.db");
    let out = run(ctt_with_db(&db)
        .args(["--config", &only, "ingest", "--no-progress"])
        .arg(&logs));
    assert!(out.status.success(), "{}", describe(&out));
    let out = run(ctt_with_db(&db).args([
        "--config",
        &only,
        "resources",
        "--at",
        "2026-10-05T18:00:00Z",
        "--format",
        "csv",
    ]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("apprunner:service,shop"), "{text}");
    assert!(!text.contains("ec2:instance"), "{text}");

    let bad = work.path("bad.toml");
    std::fs::write(
        &bad,
        "[[resources.types]]\ntype = \"x:thing\"\nname = \"x\"\nsource = \"x.amazonaws.com\"\n",
    )
    .expect("config");
    let out = run(ctt_with_db(&db)
        .arg("--config")
        .arg(&bad)
        .args(["resources", "--types"]));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("x:thing"),
        "{}",
        describe(&out)
    );
}
