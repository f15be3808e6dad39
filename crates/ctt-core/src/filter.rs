//! The filter: which events are stored (SPEC §3).
//!
//! By default an event whose `eventName`, lower-cased, starts with one of the
//! original system's read-only prefixes is dropped. The prefixes are configurable,
//! everything can be kept, and events can also be dropped by `readOnly`,
//! `eventSource`, `eventType` or identity type. Every ingestion path applies it.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::Event;

/// The original system's list of read-only `eventName` prefixes.
pub const DEFAULT_DROP_PREFIXES: &[&str] = &[
    "get", "describe", "list", "info", "decrypt", "checkmfa", "head",
];

/// The `[filter]` section of the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilterConfig {
    /// Store every event with an `eventName`, ignoring every rule below.
    pub keep_all: bool,
    /// Drop events whose `eventName`, lower-cased, starts with one of these.
    pub drop_event_name_prefixes: Vec<String>,
    /// Drop events whose `readOnly` is `true`.
    pub drop_read_only: bool,
    /// Drop events from these `eventSource`s (e.g. `kms.amazonaws.com`).
    pub drop_event_sources: Vec<String>,
    /// Drop events of these `eventType`s (e.g. `AwsServiceEvent`).
    pub drop_event_types: Vec<String>,
    /// Drop events of these `userIdentity.type`s (e.g. `AWSService`).
    pub drop_identity_types: Vec<String>,
}

impl Default for FilterConfig {
    fn default() -> Self {
        Self {
            keep_all: false,
            drop_event_name_prefixes: DEFAULT_DROP_PREFIXES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            drop_read_only: false,
            drop_event_sources: Vec::new(),
            drop_event_types: Vec::new(),
            drop_identity_types: Vec::new(),
        }
    }
}

/// The attributes of a record the filter, the checks and detection's
/// shortcut need, borrowed: what is known of a record before it is parsed
/// whole. Any other shape (a number where a string should be…) fails to
/// parse, and the record takes the full path.
#[derive(serde::Deserialize)]
pub struct RecordHead<'a> {
    #[serde(rename = "eventID", borrow, default)]
    event_id: Option<Cow<'a, str>>,
    #[serde(rename = "eventTime", borrow, default)]
    event_time: Option<Cow<'a, str>>,
    #[serde(rename = "eventName", borrow, default)]
    event_name: Option<Cow<'a, str>>,
    #[serde(rename = "eventSource", borrow, default)]
    event_source: Option<Cow<'a, str>>,
    #[serde(rename = "eventType", borrow, default)]
    event_type: Option<Cow<'a, str>>,
    #[serde(rename = "userAgent", borrow, default)]
    user_agent: Option<Cow<'a, str>>,
    #[serde(rename = "awsRegion", borrow, default)]
    aws_region: Option<Cow<'a, str>>,
    #[serde(rename = "sourceIPAddress", borrow, default)]
    source_ip_address: Option<Cow<'a, str>>,
    #[serde(rename = "readOnly", default)]
    read_only: Option<bool>,
    #[serde(rename = "userIdentity", borrow, default)]
    user_identity: Option<IdentityHead<'a>>,
}

#[derive(serde::Deserialize)]
struct IdentityHead<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    arn: Option<Cow<'a, str>>,
}

impl<'a> RecordHead<'a> {
    /// The fields [`RecordHead::field`] answers for, as dotted paths.
    pub const FIELDS: [&'static str; 8] = [
        "eventName",
        "eventSource",
        "eventType",
        "userAgent",
        "awsRegion",
        "sourceIPAddress",
        "userIdentity.type",
        "userIdentity.arn",
    ];

    /// The head of a record given as JSON text; `None` when it is not an
    /// object or one of the head's fields has another shape than expected.
    pub fn parse(record_json: &'a str) -> Option<Self> {
        serde_json::from_str(record_json).ok()
    }

    /// The record's text at `path`, one of [`RecordHead::FIELDS`]; `None`
    /// when absent or null (or for another path).
    pub fn field(&self, path: &str) -> Option<&str> {
        match path {
            "eventName" => self.event_name.as_deref(),
            "eventSource" => self.event_source.as_deref(),
            "eventType" => self.event_type.as_deref(),
            "userAgent" => self.user_agent.as_deref(),
            "awsRegion" => self.aws_region.as_deref(),
            "sourceIPAddress" => self.source_ip_address.as_deref(),
            "userIdentity.type" => self.user_identity.as_ref()?.kind.as_deref(),
            "userIdentity.arn" => self.user_identity.as_ref()?.arn.as_deref(),
            _ => None,
        }
    }
}

/// What the filter looks at.
struct FilterView<'a> {
    event_name: &'a str,
    read_only: Option<bool>,
    event_source: &'a str,
    event_type: Option<&'a str>,
    identity_type: Option<&'a str>,
}

/// A [`FilterConfig`] made ready for the hot path.
#[derive(Debug, Clone)]
pub struct Filter {
    config: FilterConfig,
}

impl Filter {
    pub fn new(mut config: FilterConfig) -> Self {
        for prefix in &mut config.drop_event_name_prefixes {
            *prefix = prefix.to_lowercase();
        }
        Self { config }
    }

    /// Whether the event is stored.
    pub fn keeps(&self, event: &Event) -> bool {
        self.keeps_view(&FilterView {
            event_name: &event.event_name,
            read_only: event.read_only,
            event_source: &event.event_source,
            event_type: event.event_type.as_deref(),
            identity_type: event.identity_type.as_deref(),
        })
    }

    /// Whether a record would be stored, read straight from the record (the
    /// pipeline asks before normalising: most records are dropped).
    pub fn keeps_record(&self, record: &serde_json::Value) -> bool {
        fn text(v: Option<&serde_json::Value>) -> Option<&str> {
            v.and_then(serde_json::Value::as_str)
        }
        self.keeps_view(&FilterView {
            event_name: text(record.get("eventName")).unwrap_or_default(),
            read_only: crate::record::bool_field(record, "readOnly"),
            event_source: text(record.get("eventSource")).unwrap_or_default(),
            event_type: text(record.get("eventType")),
            identity_type: text(record.get("userIdentity").and_then(|u| u.get("type"))),
        })
    }

    /// The fast path of ingestion: whether a record, given as JSON text, is valid
    /// (it would pass [`crate::check`]) and dropped by this filter — decided by
    /// reading only the few attributes involved, borrowed, without building a
    /// `serde_json::Value`. `false` means "not sure": take the full path.
    pub fn drops_raw(&self, record_json: &str) -> bool {
        RecordHead::parse(record_json).is_some_and(|head| self.drops_head(&head))
    }

    /// [`Filter::drops_raw`], given the record's head (which detection
    /// reads too).
    pub fn drops_head(&self, head: &RecordHead<'_>) -> bool {
        let valid = head.event_id.as_deref().is_some_and(|s| !s.is_empty())
            && head
                .event_time
                .as_deref()
                .and_then(crate::time::parse_event_time)
                .is_some()
            && head.event_name.as_deref().is_some_and(|s| !s.is_empty());
        valid
            && !self.keeps_view(&FilterView {
                event_name: head.event_name.as_deref().unwrap_or_default(),
                read_only: head.read_only,
                event_source: head.event_source.as_deref().unwrap_or_default(),
                event_type: head.event_type.as_deref(),
                identity_type: head.user_identity.as_ref().and_then(|u| u.kind.as_deref()),
            })
    }

    fn keeps_view(&self, event: &FilterView<'_>) -> bool {
        let c = &self.config;
        if c.keep_all {
            return true;
        }
        // Event names are ASCII; compare without allocating.
        let name = event.event_name.as_bytes();
        let dropped_name = c
            .drop_event_name_prefixes
            .iter()
            .any(|p| name.len() >= p.len() && name[..p.len()].eq_ignore_ascii_case(p.as_bytes()));
        if dropped_name {
            return false;
        }
        if c.drop_read_only && event.read_only == Some(true) {
            return false;
        }
        if c.drop_event_sources.iter().any(|s| s == event.event_source) {
            return false;
        }
        let listed = |list: &[String], value: Option<&str>| {
            value.is_some_and(|v| list.iter().any(|l| l == v))
        };
        !(listed(&c.drop_event_types, event.event_type)
            || listed(&c.drop_identity_types, event.identity_type))
    }
}

impl Default for Filter {
    fn default() -> Self {
        Self::new(FilterConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalise;
    use serde_json::json;

    fn event(name: &str) -> Event {
        normalise(
            json!({"eventID": "1", "eventTime": "2018-01-01T00:00:00Z", "eventName": name,
            "eventSource": "ec2.amazonaws.com", "readOnly": true, "eventType": "AwsApiCall",
            "userIdentity": {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}}),
        )
        .expect("valid record")
    }

    #[test]
    fn default_filter_drops_the_originals_read_only_prefixes() {
        let filter = Filter::default();
        for name in [
            "GetObject",
            "DescribeInstances",
            "ListBuckets",
            "InfoX",
            "Decrypt",
            "CheckMfa",
            "HeadBucket",
            "describeX",
        ] {
            assert!(!filter.keeps(&event(name)), "{name}");
        }
        for name in [
            "RunInstances",
            "AssumeRole",
            "CreateTags",
            "ConsoleLogin",
            "PutObject",
        ] {
            assert!(filter.keeps(&event(name)), "{name}");
        }
    }

    #[test]
    fn the_fast_path_drops_only_valid_records_the_full_path_drops() {
        let filter = Filter::default();
        let t = r#""eventTime": "2018-01-01T00:00:00Z""#;
        let cases = [
            (
                format!(r#"{{"eventID": "1", {t}, "eventName": "DescribeX"}}"#),
                true,
            ),
            (
                format!(r#"{{"eventID": "1", {t}, "eventName": "RunInstances"}}"#),
                false,
            ),
            (format!(r#"{{{t}, "eventName": "DescribeX"}}"#), false),
            (
                r#"{"eventID": "1", "eventTime": "bad", "eventName": "DescribeX"}"#.to_owned(),
                false,
            ),
            (
                format!(r#"{{"eventID": 1, {t}, "eventName": "DescribeX"}}"#),
                false,
            ),
            (
                format!(r#"{{"eventID": "1", {t}, "eventName": "DescribeX", "readOnly": "true"}}"#),
                false,
            ),
            (
                format!(
                    r#"{{"eventID": "1", {t}, "eventName": "Describe\u0058",
                        "userIdentity": {{"type": "IAMUser", "extra": [1, {{"a": null}}]}}}}"#
                ),
                true,
            ),
            ("[1, 2]".to_owned(), false),
        ];
        for (text, dropped) in &cases {
            assert_eq!(filter.drops_raw(text), *dropped, "{text}");
            let record: serde_json::Value = serde_json::from_str(text).expect("test JSON");
            if *dropped {
                assert!(
                    crate::check(&record).is_ok() && !filter.keeps_record(&record),
                    "{text}"
                );
            }
        }
    }

    #[test]
    fn record_and_event_views_agree() {
        let filter = Filter::new(FilterConfig {
            drop_identity_types: vec!["AWSService".into()],
            ..Default::default()
        });
        for name in ["GetObject", "RunInstances"] {
            let record = json!({"eventID": "1", "eventTime": "2018-01-01T00:00:00Z", "eventName": name,
                "userIdentity": {"type": "IAMUser", "userName": "u"}});
            let event = normalise(record.clone()).expect("valid record");
            assert_eq!(filter.keeps_record(&record), filter.keeps(&event), "{name}");
        }
        assert!(!filter.keeps_record(&json!({"eventName": "RunInstances",
            "userIdentity": {"type": "AWSService"}})));
    }

    #[test]
    fn configurable_rules_drop_by_attribute() {
        let keep_all = Filter::new(FilterConfig {
            keep_all: true,
            ..Default::default()
        });
        assert!(keep_all.keeps(&event("DescribeInstances")));

        let no_prefixes = FilterConfig {
            drop_event_name_prefixes: vec![],
            ..Default::default()
        };
        assert!(Filter::new(no_prefixes.clone()).keeps(&event("DescribeInstances")));
        for config in [
            FilterConfig {
                drop_read_only: true,
                ..no_prefixes.clone()
            },
            FilterConfig {
                drop_event_sources: vec!["ec2.amazonaws.com".into()],
                ..no_prefixes.clone()
            },
            FilterConfig {
                drop_event_types: vec!["AwsApiCall".into()],
                ..no_prefixes.clone()
            },
            FilterConfig {
                drop_identity_types: vec!["AWSService".into()],
                ..no_prefixes.clone()
            },
            FilterConfig {
                drop_event_name_prefixes: vec!["RUN".into()],
                ..Default::default()
            },
        ] {
            let name = if config.drop_event_name_prefixes.is_empty() {
                "DescribeInstances"
            } else {
                "RunInstances"
            };
            assert!(
                !Filter::new(config.clone()).keeps(&event(name)),
                "{config:?}"
            );
        }
    }
}
