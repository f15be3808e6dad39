//! Alerts (SPEC §12): a rule that fired on a record. Stored once per
//! (rule, eventID), in the same transaction as the file that brought the
//! record, so re-runs, re-deliveries and crashes store each exactly once.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// A rule's hit on one record. Serialised as the API and `ctt alerts
/// --format json` show it: `id, rule, title, level, tags, eventID, eventTime,
/// user, service, eventName, record` (and an anomaly's `baseline`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// `RULE_ID:EVENT_ID`: the alert's key in both stores and the API.
    pub id: String,
    #[serde(rename = "rule")]
    pub rule_id: String,
    pub title: String,
    /// `informational`, `low`, `medium`, `high`, `critical`.
    pub level: String,
    pub tags: Vec<String>,
    #[serde(rename = "eventID")]
    pub event_id: String,
    #[serde(rename = "eventTime", serialize_with = "event_time")]
    pub event_time: DateTime<Utc>,
    pub user: String,
    pub service: String,
    #[serde(rename = "eventName")]
    pub event_name: String,
    /// The whole record, redacted (kept even when the event is not stored).
    pub record: RecordJson,
    /// An anomaly's baseline (SPEC §13); none for a rule's alert.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<ctt_core::anomaly::Baseline>,
}

/// A record as JSON text: written once where the record was read (a load's
/// parsing threads — a stored event's text is shared with its alerts — or
/// the store), embedded as it is when an alert is serialised (`null` if it
/// is not JSON), and parsed only to be shown. A load's parsing threads also
/// compress the record of an event not stored, as the store keeps it (see
/// [`crate::RecordCodec`]), so the writer stores it as it comes. `None`:
/// no text of its own, the record is its stored event's, which the store
/// reads ([`RecordJson::of_stored_event`]).
#[derive(Debug, Clone)]
pub struct RecordJson(Option<Arc<RecordText>>);

#[derive(Debug)]
struct RecordText {
    text: Box<str>,
    encoded: Option<(crate::RecordCodec, Box<[u8]>)>,
}

impl RecordJson {
    /// A record's JSON text, as serialised by `serde_json` or read back.
    pub fn new(text: impl Into<Box<str>>) -> Self {
        Self(Some(Arc::new(RecordText {
            text: text.into(),
            encoded: None,
        })))
    }

    /// The record of an alert on an event the same load stores, for a store
    /// that reads it from that event ([`crate::EventStore::alerts_read_stored_records`]):
    /// no text is built for it (a load spent ~3% of its time on it).
    pub fn of_stored_event() -> Self {
        Self(None)
    }

    /// Whether this is [`Self::of_stored_event`]'s: no text of its own.
    pub fn is_of_stored_event(&self) -> bool {
        self.0.is_none()
    }

    /// The JSON text of a record not stored, with its compressed form by
    /// `encoder` for its alerts (none should compression fail).
    pub fn encoded_with(text: String, encoder: &mut crate::RecordEncoder) -> Self {
        let encoded = encoder
            .encode_alert_record(&text)
            .map(|blob| (encoder.codec().clone(), blob.into_boxed_slice()));
        Self(Some(Arc::new(RecordText {
            text: text.into(),
            encoded,
        })))
    }

    /// The JSON text (empty for [`Self::of_stored_event`]'s).
    pub fn get(&self) -> &str {
        self.0.as_deref().map_or("", |record| &record.text)
    }

    /// The record as a load's parsing thread compressed it for the store,
    /// and with which codec, if it did.
    pub fn encoded(&self) -> Option<(&crate::RecordCodec, &[u8])> {
        self.0
            .as_deref()?
            .encoded
            .as_ref()
            .map(|(codec, blob)| (codec, blob.as_ref()))
    }

    /// The record, parsed.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(self.get()).unwrap_or_default()
    }
}

impl From<&serde_json::Value> for RecordJson {
    fn from(value: &serde_json::Value) -> Self {
        Self::new(serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned()))
    }
}

impl From<serde_json::Value> for RecordJson {
    fn from(value: serde_json::Value) -> Self {
        Self::from(&value)
    }
}

/// `null`: what a store holds that cannot be read as JSON.
impl Default for RecordJson {
    fn default() -> Self {
        Self::from(serde_json::Value::Null)
    }
}

/// The same text (both stores keep the text they were given).
impl PartialEq for RecordJson {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl Serialize for RecordJson {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match serde_json::from_str::<&serde_json::value::RawValue>(self.get()) {
            Ok(raw) => raw.serialize(s),
            Err(_) => s.serialize_unit(),
        }
    }
}

impl Alert {
    /// The key of the alert of `rule_id` on `event_id`.
    pub fn key(rule_id: &str, event_id: &str) -> String {
        format!("{rule_id}:{event_id}")
    }
}

/// Which alerts to list: in time order (then eventID, then rule), from a
/// cursor (the last alert's time and id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertQuery {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub rule: Option<String>,
    /// This level and above.
    pub min_level: Option<String>,
    pub user: Option<String>,
    /// Listed after this alert: (time in seconds, eventID, rule id).
    pub after: Option<(i64, String, String)>,
    pub limit: usize,
}

/// The levels, in order.
pub const LEVELS: [&str; 5] = ["informational", "low", "medium", "high", "critical"];

/// A level's rank (0 for informational), `None` if not a level.
pub fn level_rank(level: &str) -> Option<usize> {
    LEVELS.iter().position(|l| l.eq_ignore_ascii_case(level))
}

fn event_time<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&ctt_core::time::format_event_time(*t))
}

/// The opaque cursor of the page after `alert`.
pub fn cursor_after(alert: &Alert) -> String {
    use base64::Engine;
    let text = serde_json::json!([alert.event_time.timestamp(), alert.event_id, alert.rule_id]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text.to_string())
}

/// What [`cursor_after`] wrote, or `None` for anything else.
pub fn parse_cursor(raw: &str) -> Option<(i64, String, String)> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .ok()?;
    let (t, event_id, rule_id): (i64, String, String) = serde_json::from_slice(&bytes).ok()?;
    Some((t, event_id, rule_id))
}
