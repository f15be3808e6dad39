//! SPEC §4: bad input never stops a load; each bad file or record is counted and
//! reported with its key and a clear reason, and the rest is loaded.

use std::fs;

use serde_json::{Value, json};

use crate::support::{Workspace, describe, gzip, n, run};

fn record(id: &str, name: &str) -> Value {
    json!({"eventVersion": "1.08", "eventID": id, "eventTime": "2018-03-01T10:00:00Z",
           "eventName": name, "eventSource": "ec2.amazonaws.com", "awsRegion": "us-east-1",
           "userIdentity": {"type": "IAMUser", "userName": "alucloud001"}})
}

fn log(records: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({ "Records": records })).expect("json")
}

#[test]
fn each_bad_input_is_reported_and_the_rest_loads() {
    let ws = Workspace::new();
    let logs = ws.path("logs");
    fs::create_dir_all(logs.join("nested/deeper")).expect("mkdir");
    let good = gzip(&log(&[
        record("good-1", "RunInstances"),
        record("good-2", "DescribeInstances"),
    ]));
    let truncated = good[..good.len() / 2].to_vec();
    let mut corrupt = good.clone();
    let middle = corrupt.len() / 2;
    corrupt[middle..].iter_mut().for_each(|b| *b = !*b);
    let mut bad_records = vec![record("ok-3", "CreateTags")];
    let mut no_id = record("x", "CreateTags");
    no_id.as_object_mut().map(|o| o.remove("eventID"));
    let mut no_time = record("no-time", "CreateTags");
    no_time.as_object_mut().map(|o| o.remove("eventTime"));
    let mut bad_time = record("bad-time", "CreateTags");
    bad_time["eventTime"] = json!("yesterday");
    bad_records.extend([no_id, no_time, bad_time, json!("not an object")]);
    let bomb = gzip(&vec![b' '; 3 * 1024 * 1024]);

    let files: [(&str, Vec<u8>); 9] = [
        ("good.json.gz", good),
        ("nested/truncated.json.gz", truncated),
        ("nested/corrupt.json.gz", corrupt),
        (
            "nested/invalid.json",
            b"{\"Records\": [{\"eventID\": ".to_vec(),
        ),
        (
            "nested/no-records.json",
            b"{\"digestStartTime\": \"2018-03-01T10:00:00Z\"}".to_vec(),
        ),
        ("nested/deeper/empty.json.gz", Vec::new()),
        ("nested/deeper/bomb.json.gz", bomb),
        ("nested/deeper/bad-records.json", log(&bad_records)),
        ("README.txt", b"not a log".to_vec()),
    ];
    for (name, bytes) in &files {
        fs::write(logs.join(name), bytes).expect("write");
    }
    let config = ws.path("ctt.toml");
    fs::write(&config, "[ingest]\nmax_file_mib = 1\n").expect("config");

    let (report, code) = ws.ingest(
        &[&logs],
        &["--config", config.to_str().expect("utf-8 path")],
    );
    assert_eq!(code, 3, "some files failed: exit 3 ({report})");
    assert_eq!(n(&report, "files_loaded"), 2, "{report}");
    assert_eq!(n(&report, "files_failed"), 6, "{report}");
    assert_eq!(n(&report, "files_skipped"), 1, "README.txt: {report}");
    assert_eq!(n(&report, "records_stored"), 2, "good-1 and ok-3: {report}");
    assert_eq!(n(&report, "records_filtered"), 1);
    assert_eq!(n(&report, "records_rejected"), 4);

    let failed = ws.json(&["files", "--failed"]);
    let reasons: Vec<(String, String)> = failed
        .as_array()
        .expect("a list")
        .iter()
        .map(|f| {
            let key = f["key"].as_str().unwrap_or_default();
            let name = key.rsplit('/').next().unwrap_or_default().to_owned();
            (name, f["reason"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    let reason_of = |name: &str| {
        reasons
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("{name} not among failed files {reasons:?}"))
    };
    assert!(
        reason_of("truncated.json.gz").contains("gzip"),
        "{reasons:?}"
    );
    assert!(reason_of("corrupt.json.gz").contains("gzip"), "{reasons:?}");
    assert!(
        reason_of("invalid.json").starts_with("invalid JSON"),
        "{reasons:?}"
    );
    assert!(
        reason_of("no-records.json").contains("without `Records`"),
        "{reasons:?}"
    );
    assert_eq!(reason_of("empty.json.gz"), "file is empty");
    assert!(reason_of("bomb.json.gz").contains("limit"), "{reasons:?}");

    // Rejected records are named in the loaded file's ledger entry.
    let all = ws.json(&["files"]);
    let bad_records = all
        .as_array()
        .expect("a list")
        .iter()
        .find(|f| {
            f["key"]
                .as_str()
                .is_some_and(|k| k.ends_with("bad-records.json"))
        })
        .expect("bad-records.json in the ledger")
        .clone();
    assert_eq!(bad_records["outcome"], "loaded");
    let reason = bad_records["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("4 of 5 records rejected"), "{reason}");
    assert!(reason.contains("has no eventID"), "{reason}");

    let mut cmd = ws.ctt();
    cmd.args(["files", "--failed", "--format", "table"]);
    let out = run(&mut cmd);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("truncated.json.gz"),
        "{}",
        describe(&out)
    );
}

#[test]
fn plain_json_bare_lists_and_ndjson_load() {
    let ws = Workspace::new();
    let logs = ws.path("logs");
    fs::create_dir_all(&logs).expect("mkdir");
    let list = serde_json::to_vec(&[record("l-1", "CreateTags"), record("l-2", "RunInstances")])
        .expect("json");
    let ndjson = [record("n-1", "CreateTags"), record("n-2", "StopInstances")]
        .iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    fs::write(logs.join("export.json"), list).expect("write");
    fs::write(logs.join("export.ndjson"), ndjson).expect("write");
    fs::write(logs.join("log.json"), log(&[record("p-1", "CreateTags")])).expect("write");
    let (report, code) = ws.ingest(&[&logs], &[]);
    assert_eq!((code, n(&report, "records_stored")), (0, 5), "{report}");
}

#[test]
fn missing_source_is_a_clear_error() {
    let ws = Workspace::new();
    let mut cmd = ws.ctt();
    cmd.args(["ingest", "/no/such/folder"]);
    let out = run(&mut cmd);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/no/such/folder") && stderr.contains("no such file"),
        "{stderr}"
    );
}
