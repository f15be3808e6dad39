//! Alerts (SPEC §12): a rule that fired on a record. Stored once per
//! (rule, eventID), in the same transaction as the file that brought the
//! record, so re-runs, re-deliveries and crashes store each exactly once.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// A rule's hit on one record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// `RULE_ID:EVENT_ID`: the alert's key in both stores and the API.
    pub id: String,
    pub rule_id: String,
    pub title: String,
    /// `informational`, `low`, `medium`, `high`, `critical`.
    pub level: String,
    pub tags: Vec<String>,
    pub event_id: String,
    pub event_time: DateTime<Utc>,
    pub user: String,
    pub service: String,
    pub event_name: String,
    /// The whole record, redacted (kept even when the event is not stored).
    pub record: serde_json::Value,
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
