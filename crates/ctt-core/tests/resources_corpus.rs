//! The resource catalogue (SPEC §11) on real records: every successful whole
//! record of `../shared/corpus/` that the catalogue says changes a resource
//! yields its id by the catalogue's paths, a failed one changes nothing, and
//! the types, kinds and events the corpus has are all covered.

use std::collections::BTreeSet;
use std::path::PathBuf;

use ctt_core::resources::{Catalogue, ChangeKind};
use serde_json::Value;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
}

/// Every record of the corpus with its file: `{"Records": [...]}`, a JSON
/// array, or NDJSON.
fn records() -> Vec<(String, Value)> {
    let root = corpus();
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("the shared corpus") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let name = path
            .strip_prefix(&root)
            .expect("under")
            .display()
            .to_string();
        let text = std::fs::read_to_string(&path).expect("read");
        let records = match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(mut map)) => match map.remove("Records") {
                Some(Value::Array(records)) => records,
                _ => Vec::new(),
            },
            Ok(Value::Array(records)) => records,
            _ => text
                .lines()
                .filter_map(|line| serde_json::from_str(line).ok())
                .collect(),
        };
        out.extend(records.into_iter().map(|r| (name.clone(), r)));
    }
    out
}

#[test]
fn every_catalogue_path_the_corpus_exercises_finds_its_ids() {
    let catalogue = Catalogue::builtin();
    let mut covered = BTreeSet::new();
    let mut failed_calls = 0;
    for (file, record) in records() {
        let text = |k: &str| record.get(k).and_then(Value::as_str).unwrap_or_default();
        if !catalogue.concerns(text("eventSource"), text("eventName")) {
            continue;
        }
        let changes = catalogue.changes(&record);
        if record.get("errorCode").is_some_and(|e| !e.is_null()) {
            assert!(
                changes.is_empty(),
                "{file}: a failed call changed {changes:?}"
            );
            failed_calls += 1;
            continue;
        }
        // Two sources carry only part of each record (shared/corpus/README.md):
        // panther-analysis's rule fixtures hold the fields their rule reads,
        // permiso's sessions ten fields. There a missing id is the record's.
        let partial = file.starts_with("panther-analysis/") || file.starts_with("permiso/");
        if changes.is_empty() && partial {
            continue;
        }
        assert!(
            !changes.is_empty(),
            "{file}: {} {} {}: no id found by the catalogue's paths",
            text("eventSource"),
            text("eventName"),
            text("eventID")
        );
        for change in changes {
            assert!(!change.id.is_empty() && !change.id.starts_with("arn:aws:cloudformation"));
            covered.insert((change.kind, change.change, text("eventName").to_owned()));
        }
    }
    // What the corpus holds today (see shared/corpus/README.md): these must
    // stay covered; a new corpus record of another type only adds to them.
    let expected = [
        (
            "autoscaling:group",
            ChangeKind::Create,
            "CreateAutoScalingGroup",
        ),
        ("ec2:instance", ChangeKind::Create, "RunInstances"),
        ("ec2:instance", ChangeKind::Delete, "TerminateInstances"),
        ("ec2:instance", ChangeKind::Stop, "StopInstances"),
        ("ec2:instance", ChangeKind::Start, "StartInstances"),
        ("ec2:volume", ChangeKind::Create, "CreateVolume"),
        ("rds:db-instance", ChangeKind::Create, "CreateDBInstance"),
        ("rds:db-instance", ChangeKind::Delete, "DeleteDBInstance"),
        ("rds:db-instance", ChangeKind::Start, "StartDBInstance"),
        ("rds:db-cluster", ChangeKind::Delete, "DeleteDBCluster"),
        ("dynamodb:table", ChangeKind::Delete, "DeleteTable"),
        ("lambda:function", ChangeKind::Delete, "DeleteFunction"),
        ("s3:bucket", ChangeKind::Delete, "DeleteBucket"),
        ("ecs:cluster", ChangeKind::Create, "CreateCluster"),
        ("eks:cluster", ChangeKind::Create, "CreateCluster"),
        ("opensearch:domain", ChangeKind::Create, "CreateDomain"),
        (
            "opensearch:domain",
            ChangeKind::Create,
            "CreateElasticsearchDomain",
        ),
    ];
    for (kind, change, event) in expected {
        assert!(
            covered.contains(&(kind.to_owned(), change, event.to_owned())),
            "{kind} {change:?} by {event} not exercised: {covered:?}"
        );
    }
    assert!(failed_calls > 0, "the corpus has failed creations too");
}
