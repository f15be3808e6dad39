//! The fields of a record that its event's columns hold (schema 38).
//!
//! A stored record (the `record` of an [`IndexedEvent`](crate::IndexedEvent),
//! a row of SQLite's `records`) leaves out its `eventID`, its `eventTime` and
//! its `sourceIPAddress` when the event's columns say exactly the same: the
//! eventID is 36 random characters, which no dictionary compresses (~21 bytes
//! a compressed record), the other two ~5 bytes each. [`put_back`] makes the
//! record whole again from the columns. A record is serialised with its keys
//! in order (serde_json's maps are sorted), so the text read back is the text
//! that was stored, byte for byte.
//!
//! A field is left out only when the column gives it back unchanged: an
//! `eventTime` with fractions of a second, say, stays in the record. A record
//! stored whole (before schema 38, or an alert's) is read as it is: nothing
//! is missing from it.

use ctt_core::Event;
use serde_json::{Map, Value};

/// Removes from `record` the fields `event`'s columns hold the same.
pub fn leave_out(record: &mut Value, event: &Event) {
    let Some(fields) = record.as_object_mut() else {
        return;
    };
    let mut time = [0u8; 20];
    let time = ctt_core::time::write_event_seconds(event.event_time.timestamp(), &mut time);
    for (key, column) in [
        ("eventID", Some(event.event_id.as_str())),
        ("eventTime", Some(time)),
        ("sourceIPAddress", event.source_ip_address.as_deref()),
    ] {
        if column.is_some() && fields.get(key).and_then(Value::as_str) == column {
            fields.remove(key);
        }
    }
}

/// Puts back in `record` the fields [`leave_out`] removed, from the event's
/// columns: its eventID, its time (seconds since the epoch) and its source IP
/// address. A field the record has is kept as it is.
pub fn put_back(
    record: &mut Map<String, Value>,
    event_id: &str,
    event_time: i64,
    source_ip_address: Option<&str>,
) {
    if !record.contains_key("eventID") {
        record.insert("eventID".into(), event_id.into());
    }
    if !record.contains_key("eventTime") {
        let mut time = [0u8; 20];
        let time = ctt_core::time::write_event_seconds(event_time, &mut time);
        record.insert("eventTime".into(), time.into());
    }
    if let Some(ip) = source_ip_address
        && !record.contains_key("sourceIPAddress")
    {
        record.insert("sourceIPAddress".into(), ip.into());
    }
}

/// [`put_back`] on a record's text: the whole record's text.
pub fn whole(
    stored: &str,
    event_id: &str,
    event_time: i64,
    source_ip_address: Option<&str>,
) -> serde_json::Result<String> {
    let mut record: Map<String, Value> = serde_json::from_str(stored)?;
    put_back(&mut record, event_id, event_time, source_ip_address);
    serde_json::to_string(&record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event_of(record: &Value) -> Event {
        ctt_core::normalise(record.clone()).expect("a valid record")
    }

    /// What is left out comes back in its place: the text is the same.
    #[test]
    fn a_record_left_out_and_put_back_is_the_same_text() {
        let record = serde_json::json!({
            "awsRegion": "eu-west-1",
            "eventID": "85eede41-6ffb-46c9-82c6-e10dea7b0b1b",
            "eventName": "RunInstances",
            "eventSource": "ec2.amazonaws.com",
            "eventTime": "2018-03-01T10:00:00Z",
            "sourceIPAddress": "203.0.113.7",
            "userIdentity": {"type": "IAMUser", "userName": "alice"}
        });
        let event = event_of(&record);
        let mut lean = record.clone();
        leave_out(&mut lean, &event);
        let left = lean.as_object().expect("object");
        for key in ["eventID", "eventTime", "sourceIPAddress"] {
            assert!(!left.contains_key(key), "{key} left out");
        }
        let back = whole(
            &lean.to_string(),
            &event.event_id,
            event.event_time.timestamp(),
            event.source_ip_address.as_deref(),
        )
        .expect("whole");
        assert_eq!(back, record.to_string());
    }

    /// A field the column would not give back unchanged stays in the record.
    #[test]
    fn a_field_the_column_would_change_stays() {
        let record = serde_json::json!({
            "eventID": "e-1",
            "eventName": "GetObject",
            "eventSource": "s3.amazonaws.com",
            "eventTime": "2018-03-01T10:00:00.250Z",
            "userIdentity": {"type": "IAMUser", "userName": "alice"}
        });
        let event = event_of(&record);
        let mut lean = record.clone();
        leave_out(&mut lean, &event);
        let left = lean.as_object().expect("object");
        assert_eq!(left["eventTime"], "2018-03-01T10:00:00.250Z");
        assert!(!left.contains_key("eventID"));
        assert!(!left.contains_key("sourceIPAddress"), "none to begin with");
        let back =
            whole(&lean.to_string(), "e-1", event.event_time.timestamp(), None).expect("whole");
        assert_eq!(back, record.to_string());
    }
}
