//! SPEC §3: `sessionToken`/`secretAccessKey` values are never stored or returned.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::support::{Workspace, corpus, generate_small, run};

/// Every string value of a field named sessionToken or secretAccessKey, at any depth.
fn secrets_in(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                match (key.as_str(), child) {
                    ("sessionToken" | "secretAccessKey", Value::String(s))
                        if s.len() >= 8 && s != "REDACTED" =>
                    {
                        out.insert(s.clone());
                    }
                    _ => secrets_in(child, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| secrets_in(i, out)),
        _ => {}
    }
}

fn secrets_in_tree(root: &Path, out: &mut BTreeSet<String>) {
    for entry in walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
    {
        if !entry.file_type().is_file() {
            continue;
        }
        let bytes = std::fs::read(entry.path()).expect("read");
        let raw = if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut raw = Vec::new();
            std::io::Read::read_to_end(
                &mut flate2::read::MultiGzDecoder::new(bytes.as_slice()),
                &mut raw,
            )
            .map(|_| raw)
            .unwrap_or_default()
        } else {
            bytes
        };
        let text = String::from_utf8_lossy(&raw);
        let values: Vec<Value> = match serde_json::from_str(&text) {
            Ok(v) => vec![v],
            Err(_) => text
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect(),
        };
        values.iter().for_each(|v| secrets_in(v, out));
    }
}

#[test]
fn no_secret_from_any_input_reaches_the_database_file() {
    let ws = Workspace::new();
    let logs = ws.path("logs");
    generate_small(&logs, 9);
    let mut secrets = BTreeSet::new();
    secrets_in_tree(&corpus(), &mut secrets);
    secrets_in_tree(&logs, &mut secrets);
    assert!(
        secrets.len() > 20,
        "the inputs do hold credentials: {}",
        secrets.len()
    );

    let config = ws.path("keep-all.toml");
    std::fs::write(&config, "[filter]\nkeep_all = true\n").expect("config");
    let config = config.to_string_lossy().into_owned();
    ws.ingest(&[&corpus(), &logs], &["--config", &config]);

    let mut cmd = ws.ctt();
    cmd.args([
        "scan",
        "--from",
        "2000-01-01",
        "--to",
        "2100-01-01",
        "--format",
        "ndjson",
    ]);
    let answer = String::from_utf8_lossy(&run(&mut cmd).stdout).into_owned();
    assert!(answer.lines().count() > 1000);

    let mut stored = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", ws.db().display());
        stored.extend(std::fs::read(&path).unwrap_or_default());
    }
    let stored = String::from_utf8_lossy(&stored);
    for secret in &secrets {
        assert!(
            !stored.contains(secret.as_str()),
            "secret {secret:.12}… found in the database file"
        );
        assert!(
            !answer.contains(secret.as_str()),
            "secret {secret:.12}… found in an answer"
        );
    }
    assert!(stored.contains("REDACTED"));
}
