//! CLI answers checked against counts computed here, independently, from the
//! generated log files (SPEC §3 filter and user table, re-implemented plainly).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use serde_json::Value;

use crate::support::{Workspace, describe, generate_small, run};

/// A stored event as this test understands one.
#[derive(Debug, Clone)]
struct Expected {
    id: String,
    time: String,
    name: String,
    service: String,
    user: String,
    region: String,
    record: Value,
}

const DROP: [&str; 7] = [
    "get", "describe", "list", "info", "decrypt", "checkmfa", "head",
];

fn text(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

fn user_of(identity: &Value) -> String {
    if let Some(source) = text(&identity["sessionContext"]["sourceIdentity"]) {
        return source;
    }
    let last = |arn: Option<String>| arn.and_then(|a| a.rsplit('/').next().map(str::to_owned));
    let user = match identity["type"].as_str() {
        Some("IAMUser") => text(&identity["userName"]),
        Some("Root") => Some(text(&identity["userName"]).unwrap_or_else(|| "root".into())),
        Some("AssumedRole" | "FederatedUser") => last(text(&identity["arn"])),
        Some("AWSService") => text(&identity["invokedBy"]),
        Some("AWSAccount") => text(&identity["accountId"]),
        _ => text(&identity["userName"]),
    };
    user.unwrap_or_else(|| "no_user".into())
}

/// Reads every log file of the tree and keeps what the default filter keeps.
fn expected_events(root: &Path) -> Vec<Expected> {
    let mut seen = BTreeSet::new();
    let mut events = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.expect("walk");
        let path = entry.path().to_string_lossy().into_owned();
        if !entry.file_type().is_file()
            || path.contains("CloudTrail-Digest")
            || !path.ends_with(".json.gz")
        {
            continue;
        }
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(entry.path()).expect("open"))
            .read_to_end(&mut raw)
            .expect("gunzip");
        let file: Value = serde_json::from_slice(&raw).expect("json");
        for record in file["Records"].as_array().expect("Records") {
            let name = text(&record["eventName"]).expect("eventName");
            let lower = name.to_lowercase();
            if DROP.iter().any(|p| lower.starts_with(p)) {
                continue;
            }
            let id = text(&record["eventID"]).expect("eventID");
            if !seen.insert(id.clone()) {
                continue;
            }
            let source = text(&record["eventSource"]).unwrap_or_default();
            events.push(Expected {
                id,
                time: text(&record["eventTime"]).expect("eventTime"),
                name,
                service: source.split('.').next().unwrap_or_default().to_owned(),
                user: user_of(&record["userIdentity"]),
                region: text(&record["awsRegion"]).unwrap_or_default(),
                record: record.clone(),
            });
        }
    }
    events.sort_by(|a, b| (&a.time, &a.id).cmp(&(&b.time, &b.id)));
    events
}

fn loaded() -> (Workspace, Vec<Expected>) {
    let ws = Workspace::new();
    let logs = ws.path("logs");
    generate_small(&logs, 42);
    let (_, code) = ws.ingest(&[&logs], &[]);
    assert_eq!(code, 0);
    let expected = expected_events(&logs);
    assert!(
        expected.len() > 500,
        "the small preset stores hundreds of events"
    );
    (ws, expected)
}

const ALL: [&str; 4] = ["--from", "2000-01-01", "--to", "2100-01-01"];

#[test]
fn counts_match_the_generated_files() {
    let (ws, expected) = loaded();
    let count = |f: &dyn Fn(&Expected) -> bool| expected.iter().filter(|e| f(e)).count() as u64;

    assert_eq!(
        ws.count(&[&["scan"][..], &ALL].concat()),
        expected.len() as u64
    );

    // The busiest student, in a window given to the second, in one region.
    let mut by_user: BTreeMap<&str, u64> = BTreeMap::new();
    for e in &expected {
        *by_user.entry(&e.user).or_default() += 1;
    }
    let student = by_user
        .iter()
        .filter(|(u, _)| u.starts_with("alucloud"))
        .max_by_key(|(_, n)| **n)
        .map(|(u, _)| (*u).to_owned())
        .expect("students in the generated data");
    let (from, to) = (
        &expected[expected.len() / 4].time,
        &expected[3 * expected.len() / 4].time,
    );
    let in_window =
        |e: &Expected| e.time.as_str() >= from.as_str() && e.time.as_str() <= to.as_str();
    let want = count(&|e| e.user == student && in_window(e) && e.region == "us-east-1");
    let got = ws.count(&[
        "users",
        &student,
        "--from",
        from,
        "--to",
        to,
        "--param",
        "awsRegion=us-east-1",
    ]);
    assert_eq!(got, want, "{student} {from}..{to}");

    let want = count(&|e| e.service == "ec2" && in_window(e));
    assert_eq!(
        ws.count(&["services", "ec2", "--from", from, "--to", to]),
        want
    );

    let want = count(&|e| e.name == "RunInstances");
    assert!(want > 0);
    assert_eq!(
        ws.count(&[&["scan", "--event-name", "RunInstances"][..], &ALL].concat()),
        want
    );

    let t2 = |e: &Expected| e.record["requestParameters"]["instanceType"] == "t2.micro";
    let want = count(&|e| e.name == "RunInstances" && t2(e));
    let args = [
        &[
            "scan",
            "--event-name",
            "RunInstances",
            "--param",
            "instanceType=t2.micro",
        ][..],
        &ALL,
    ]
    .concat();
    assert_eq!(ws.count(&args), want);

    let want = count(&|e| e.name.starts_with("Create"));
    let args = [
        &["scan", "--event-name", "Create", "--begin-with"][..],
        &ALL,
    ]
    .concat();
    assert_eq!(ws.count(&args), want);

    let users: BTreeSet<&str> = expected.iter().map(|e| e.user.as_str()).collect();
    let listed = ws.json(&["users"]);
    let listed: BTreeSet<&str> = listed
        .as_array()
        .expect("list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(listed, users);

    let services: BTreeSet<&str> = expected.iter().map(|e| e.service.as_str()).collect();
    let listed = ws.json(&["services"]);
    let listed: BTreeSet<&str> = listed
        .as_array()
        .expect("list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(listed, services);
}

#[test]
fn events_come_sorted_and_every_format_agrees() {
    let (ws, expected) = loaded();
    let json = ws.json(&[&["scan"][..], &ALL].concat());
    let ids: Vec<&str> = json
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|e| e["eventID"].as_str())
        .collect();
    let want: Vec<&str> = expected.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, want, "sorted by eventTime then eventID");
    let first = &json[0];
    for key in [
        "eventID",
        "eventName",
        "eventSource",
        "eventTime",
        "userIdentity_userName",
        "user",
        "service",
        "awsRegion",
    ] {
        assert!(first.get(key).is_some(), "{key} in {first}");
    }

    let mut cmd = ws.ctt();
    cmd.args(["scan", "--format", "csv"]).args(ALL);
    let out = run(&mut cmd);
    assert!(out.status.success(), "{}", describe(&out));
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    assert_eq!(reader.headers().expect("header").get(0), Some("eventID"));
    assert_eq!(reader.records().count(), expected.len());

    let limited = ws.json(&[&["scan", "--limit", "5"][..], &ALL].concat());
    assert_eq!(limited.as_array().map(Vec::len), Some(5));
    assert_eq!(limited[4]["eventID"], json[4]["eventID"]);

    let mut cmd = ws.ctt();
    cmd.args(["scan", "--format", "table", "--limit", "3"])
        .args(ALL);
    let out = run(&mut cmd);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains(&expected[0].id[..0]) && table.contains("3 events"),
        "{table}"
    );
    assert!(table.contains(&expected[0].name), "{table}");
}

#[test]
fn bad_query_flags_name_the_flag() {
    let (ws, _) = loaded();
    for (args, flag) in [
        (vec!["scan", "--from", "yesterday"], "--from"),
        (
            vec!["scan", "--from", "2018-02-01", "--to", "2018-01-01"],
            "--from",
        ),
        (vec!["scan", "--param", "instanceType"], "--param"),
    ] {
        let mut cmd = ws.ctt();
        cmd.args(&args);
        let out = run(&mut cmd);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
    }
}

/// OWASP's CSV injection guidance: `--format csv` prefixes a cell starting with
/// `=`, `+`, `-`, `@`, tab or carriage return with `'`, in event lists and in the
/// lists of users (IAM user names may contain `+=,.@-`).
#[test]
fn csv_output_neutralises_cells_that_start_like_formulas() {
    let ws = Workspace::new();
    let logs = ws.path("logs");
    std::fs::create_dir_all(&logs).expect("logs dir");
    let hyperlink = "=HYPERLINK(\"http://evil\",\"x\")";
    let record = |id: &str, user: &str, agent: &str, error: &str| {
        serde_json::json!({
            "eventVersion": "1.08",
            "userIdentity": {"type": "IAMUser", "userName": user, "accountId": "123456789012"},
            "eventTime": "2024-05-01T10:00:00Z",
            "eventSource": "ec2.amazonaws.com",
            "eventName": "RunInstances",
            "awsRegion": "us-east-1",
            "userAgent": agent,
            "errorCode": error,
            "eventID": id,
        })
    };
    let file = serde_json::json!({"Records": [
        record("csv-1", "alice", hyperlink, "Client.Unauthorized"),
        record("csv-2", "@evil", "-1+1", "+cmd"),
    ]});
    std::fs::write(logs.join("csv.json"), file.to_string()).expect("log file");
    let (report, code) = ws.ingest(&[&logs], &[]);
    assert_eq!(code, 0, "{report}");

    let mut cmd = ws.ctt();
    cmd.args([
        "scan",
        "--from",
        "2024-05-01",
        "--to",
        "2024-05-02",
        "--format",
        "csv",
    ]);
    let out = run(&mut cmd);
    assert!(out.status.success(), "{}", describe(&out));
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    let header = reader.headers().expect("header").clone();
    let column = |name: &str| header.iter().position(|h| h == name).expect("a column");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a row")).collect();
    let row = |id: &str| {
        rows.iter()
            .find(|r| r.get(column("eventID")) == Some(id))
            .unwrap_or_else(|| panic!("{id} in {rows:?}"))
    };
    assert_eq!(&row("csv-1")[column("userAgent")], format!("'{hyperlink}"));
    assert_eq!(&row("csv-1")[column("errorCode")], "Client.Unauthorized");
    assert_eq!(&row("csv-2")[column("userAgent")], "'-1+1");
    assert_eq!(&row("csv-2")[column("errorCode")], "'+cmd");
    assert_eq!(&row("csv-2")[column("user")], "'@evil");

    let mut cmd = ws.ctt();
    cmd.args(["users", "--format", "csv"]);
    let out = run(&mut cmd);
    assert!(out.status.success(), "{}", describe(&out));
    let mut users: Vec<String> = csv::Reader::from_reader(out.stdout.as_slice())
        .records()
        .map(|r| r.expect("a row")[0].to_owned())
        .collect();
    users.sort();
    assert_eq!(users, ["'@evil", "alice"]);
}
