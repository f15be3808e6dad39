//! Item shapes: an [`IndexedEvent`] as an event item and back to an
//! [`EventSummary`]/[`EventDetail`]; a [`LedgerEntry`] and a [`CatalogEntry`] from
//! their items. Pure functions over attribute maps.

use std::collections::HashMap;
use std::io::{Read, Write};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use ctt_core::time::{format_event_time, from_seconds, parse_event_time};
use ctt_core::{EventSummary, TYPED_ATTRIBUTES, TypedValue};
use ctt_store::{CatalogEntry, EventDetail, FileCounts, FileOutcome, IndexedEvent, LedgerEntry};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use super::keys::{self, EventIndex};

pub type Item = HashMap<String, AttributeValue>;

/// Records longer than this are stored gzip-compressed (`record_gz`): an item
/// may not exceed 400 KB.
const RECORD_INLINE_LIMIT: usize = 256 * 1024;
/// A compressed record is never inflated beyond this when read back.
const RECORD_MAX_BYTES: u64 = 64 * 1024 * 1024;

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

pub fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Option<T> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn get_bool(item: &Item, name: &str) -> Option<bool> {
    item.get(name).and_then(|v| v.as_bool().ok()).copied()
}

pub(crate) fn opt_s(item: &Item, name: &str) -> Option<String> {
    get_s(item, name).map(str::to_owned)
}

/// Who stored an event: the file (and version) whose conditional put created it.
/// A retried load of that file recognises its own events by it.
pub const FILE_KEY: &str = "file_key";
pub const FILE_VERSION: &str = "file_version";

/// The event item for `indexed`, written by the file `(file_key, file_version)`.
pub fn event_item(indexed: &IndexedEvent, file_key: &str, file_version: &str) -> Item {
    let e = &indexed.event;
    let mut item = Item::new();
    item.insert(keys::PK.into(), s(keys::event_pk(&e.event_id)));
    item.insert(keys::SK.into(), s(keys::EVENT_SK));
    item.insert(keys::AT.into(), s(keys::at(e.event_time, &e.event_id)));
    let day = e.event_time.format("%Y-%m-%d").to_string();
    for (index, value) in [
        (EventIndex::ByDay, day.as_str()),
        (EventIndex::ByUser, e.user.as_str()),
        (EventIndex::ByService, e.service.as_str()),
        (EventIndex::ByName, e.event_name.as_str()),
    ] {
        item.insert(index.name().into(), s(index.partition(value)));
    }
    item.insert("event_time".into(), s(format_event_time(e.event_time)));
    for typed in &TYPED_ATTRIBUTES {
        let value = match e.typed(typed) {
            Some(TypedValue::Text(text)) => s(text),
            Some(TypedValue::Bool(flag)) => AttributeValue::Bool(flag),
            None => continue, // absent values are not written
        };
        item.insert(typed.column.into(), value);
    }
    let params: HashMap<String, AttributeValue> = indexed
        .params
        .iter()
        .map(|(name, value)| (name.clone(), s(value)))
        .collect();
    item.insert("params".into(), AttributeValue::M(params));
    let record = match indexed.record_json() {
        text if text.is_empty() => e.record.to_string(),
        text => text,
    };
    match compress_if_large(&record) {
        None => item.insert("record".into(), s(record)),
        Some(gz) => item.insert("record_gz".into(), AttributeValue::B(Blob::new(gz))),
    };
    item.insert(FILE_KEY.into(), s(file_key));
    item.insert(FILE_VERSION.into(), s(file_version));
    item
}

pub(crate) fn compress_if_large(record: &str) -> Option<Vec<u8>> {
    if record.len() <= RECORD_INLINE_LIMIT {
        return None;
    }
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(record.as_bytes()).ok()?;
    encoder.finish().ok()
}

/// The summary of an event item (table or index projection).
pub fn summary(item: &Item) -> Option<EventSummary> {
    let user = opt_s(item, "user")?;
    let event_time = get_s(item, "event_time")
        .and_then(parse_event_time)
        .map(format_event_time)?;
    Some(EventSummary {
        event_id: opt_s(item, "event_id")?,
        event_name: opt_s(item, "event_name")?,
        event_source: opt_s(item, "event_source").unwrap_or_default(),
        event_time,
        user_identity_user_name: user.clone(),
        user,
        service: opt_s(item, "service").unwrap_or_default(),
        identity_type: opt_s(item, "identity_type"),
        role: opt_s(item, "role"),
        aws_region: opt_s(item, "aws_region"),
        source_ip_address: opt_s(item, "source_ip_address"),
        user_agent: opt_s(item, "user_agent"),
        error_code: opt_s(item, "error_code"),
        error_message: opt_s(item, "error_message"),
        read_only: get_bool(item, "read_only"),
        event_type: opt_s(item, "event_type"),
    })
}

/// The stored (redacted) record of an event item.
pub fn record(item: &Item) -> Option<serde_json::Value> {
    serde_json::from_str(&record_text(item)?).ok()
}

/// The stored (redacted) record of an item, as its JSON text.
pub fn record_text(item: &Item) -> Option<String> {
    if let Some(text) = get_s(item, "record") {
        return Some(text.to_owned());
    }
    let gz = item.get("record_gz").and_then(|v| v.as_b().ok())?;
    let mut text = String::new();
    GzDecoder::new(gz.as_ref())
        .take(RECORD_MAX_BYTES)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

pub fn detail(item: &Item) -> Option<EventDetail> {
    Some(EventDetail {
        summary: summary(item)?,
        record: record(item).unwrap_or(serde_json::Value::Null),
    })
}

/// The ledger entry of a ledger item.
pub fn ledger_entry(item: &Item) -> Option<LedgerEntry> {
    let count = |name: &str| get_n::<u64>(item, name).unwrap_or(0);
    Some(LedgerEntry {
        key: opt_s(item, "key")?,
        size: count("size"),
        version: opt_s(item, "version").unwrap_or_default(),
        outcome: FileOutcome::parse(get_s(item, "outcome").unwrap_or_default()),
        reason: opt_s(item, "reason"),
        counts: FileCounts {
            records: count("records"),
            stored: count("stored"),
            filtered: count("filtered"),
            duplicate: count("duplicate"),
            rejected: count("rejected"),
        },
        loaded_at: from_seconds(get_n(item, "loaded_at").unwrap_or(0)),
        integrity: opt_s(item, "integrity"),
        sha256: item
            .get("sha256")
            .and_then(|v| v.as_b().ok())
            .map(|b| hex::encode(b.as_ref())),
    })
}

/// A user or service of the catalog.
pub fn catalog_entry(item: &Item) -> Option<CatalogEntry> {
    Some(CatalogEntry {
        name: opt_s(item, keys::SK)?,
        events: get_n(item, "events").unwrap_or(0),
        first_seen: from_seconds(get_n(item, "first_seen").unwrap_or(0)),
        last_seen: from_seconds(get_n(item, "last_seen").unwrap_or(0)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctt_core::normalise;
    use serde_json::json;

    fn indexed(record: serde_json::Value) -> IndexedEvent {
        let event = normalise(record).unwrap_or_else(|e| panic!("valid record: {e}"));
        let indexed = ["requestParameters_instanceType".to_owned()];
        IndexedEvent::new(event, &indexed, &mut |_| {})
    }

    fn redacted(record: serde_json::Value) -> serde_json::Value {
        normalise(record).map(|e| e.record).unwrap_or_default()
    }

    fn sample() -> serde_json::Value {
        json!({"eventID": "e-1", "eventTime": "2018-03-01T10:00:00Z", "eventName": "RunInstances",
               "eventSource": "ec2.amazonaws.com", "awsRegion": "us-east-1", "readOnly": false,
               "userIdentity": {"type": "IAMUser", "userName": "alucloud001"},
               "requestParameters": {"instanceType": "t2.micro"}})
    }

    #[test]
    fn an_event_item_reads_back_as_its_summary_and_record() {
        let e = indexed(sample());
        let item = event_item(&e, "s3://b/k", "etag");
        assert_eq!(summary(&item), Some(EventSummary::from(&e.event)));
        assert_eq!(record(&item), Some(redacted(sample())));
        assert_eq!(
            item.get("params")
                .and_then(|p| p.as_m().ok())
                .map(|p| p.len()),
            Some(1)
        );
        assert_eq!(get_s(&item, "by_user"), Some("U#alucloud001"));
        assert_eq!(get_s(&item, "by_day"), Some("D#2018-03-01"));
        assert_eq!(get_s(&item, "at"), Some("2018-03-01T10:00:00Z#e-1"));
        assert!(
            !item.contains_key("error_code"),
            "absent values are not stored"
        );
    }

    #[test]
    fn huge_records_are_stored_compressed() {
        let mut big = sample();
        big["requestParameters"]["policy"] = json!("x".repeat(RECORD_INLINE_LIMIT + 1));
        let e = indexed(big.clone());
        let item = event_item(&e, "k", "v");
        assert!(!item.contains_key("record"));
        let gz = item.get("record_gz").and_then(|v| v.as_b().ok());
        assert!(gz.is_some_and(|b| b.as_ref().len() < 10_000));
        assert_eq!(record(&item), Some(redacted(big)));
    }
}
