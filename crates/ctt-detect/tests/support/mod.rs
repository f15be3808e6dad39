//! The shared corpus (`../shared/corpus/`), read as the other tests read it.

use std::path::PathBuf;

use serde_json::Value;

pub fn shared(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(path)
}

/// The records of a corpus file: `{"Records": [...]}`, a JSON array, or NDJSON.
pub fn records(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(shared(&format!("corpus/{file}")))
        .unwrap_or_else(|e| panic!("corpus/{file}: {e}"));
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(mut map)) => match map.remove("Records") {
            Some(Value::Array(records)) => records,
            _ => Vec::new(),
        },
        Ok(Value::Array(records)) => records,
        _ => text
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect(),
    }
}

/// The records of `file` with this `eventID` (some corpus files repeat IDs).
pub fn with_id(file: &str, event_id: &str) -> Vec<Value> {
    let found: Vec<Value> = records(file)
        .into_iter()
        .filter(|r| r["eventID"] == event_id)
        .collect();
    assert!(!found.is_empty(), "no record {event_id} in {file}");
    found
}
