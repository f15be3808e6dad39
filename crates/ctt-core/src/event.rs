//! The stored event: a record normalised per SPEC §3.
//!
//! [`normalise`] resolves the user and service, reads the typed attributes,
//! removes secrets from the whole record and rejects — with a reason — a record
//! that cannot be stored (no `eventID`, no valid `eventTime`, no `eventName`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::record::{bool_field, string_field};
use crate::{redact, time, user};

/// One stored CloudTrail event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub event_id: String,
    pub event_time: DateTime<Utc>,
    pub event_name: String,
    pub event_source: String,
    /// `eventSource` up to its first dot: `ec2.amazonaws.com` → `ec2`.
    pub service: String,
    pub user: String,
    pub identity_type: Option<String>,
    pub role: Option<String>,
    pub account_id: Option<String>,
    pub recipient_account_id: Option<String>,
    pub aws_region: Option<String>,
    pub source_ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub read_only: Option<bool>,
    pub event_type: Option<String>,
    /// The whole record, secrets redacted.
    pub record: Value,
}

/// Why a record was not turned into an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordRejection {
    #[error("record is not a JSON object")]
    NotAnObject,
    #[error("record has no eventID")]
    MissingEventId,
    #[error("record {event_id} has no eventTime")]
    MissingEventTime { event_id: String },
    #[error("record {event_id} has an invalid eventTime `{raw}`")]
    InvalidEventTime { event_id: String, raw: String },
    #[error("record {event_id} has no eventName")]
    MissingEventName { event_id: String },
}

/// `eventSource` up to its first dot.
pub fn service_of(event_source: &str) -> &str {
    event_source.split('.').next().unwrap_or(event_source)
}

/// Says why a record cannot be stored, if it cannot: the checks of [`normalise`],
/// without building the event (the pipeline checks every record, and normalises
/// only those the filter keeps).
pub fn check(record: &Value) -> Result<(), RecordRejection> {
    if !record.is_object() {
        return Err(RecordRejection::NotAnObject);
    }
    let event_id = || string_field(record, "eventID").unwrap_or_default();
    if crate::record::str_field(record, "eventID").is_none() {
        return Err(RecordRejection::MissingEventId);
    }
    match record.get("eventTime") {
        None | Some(Value::Null) => {
            return Err(RecordRejection::MissingEventTime {
                event_id: event_id(),
            });
        }
        Some(raw) => {
            if raw.as_str().and_then(time::parse_event_time).is_none() {
                let raw = raw.as_str().map_or_else(|| raw.to_string(), str::to_owned);
                return Err(RecordRejection::InvalidEventTime {
                    event_id: event_id(),
                    raw,
                });
            }
        }
    }
    if crate::record::str_field(record, "eventName").is_none() {
        return Err(RecordRejection::MissingEventName {
            event_id: event_id(),
        });
    }
    Ok(())
}

/// Turns a record into an event, or says why it cannot be stored.
pub fn normalise(mut record: Value) -> Result<Event, RecordRejection> {
    if !record.is_object() {
        return Err(RecordRejection::NotAnObject);
    }
    let event_id = string_field(&record, "eventID").ok_or(RecordRejection::MissingEventId)?;
    let event_time = match record.get("eventTime") {
        None | Some(Value::Null) => {
            return Err(RecordRejection::MissingEventTime { event_id });
        }
        Some(raw) => match raw.as_str().and_then(time::parse_event_time) {
            Some(t) => t,
            None => {
                let raw = raw.as_str().map_or_else(|| raw.to_string(), str::to_owned);
                return Err(RecordRejection::InvalidEventTime { event_id, raw });
            }
        },
    };
    let Some(event_name) = string_field(&record, "eventName") else {
        return Err(RecordRejection::MissingEventName { event_id });
    };
    redact::redact(&mut record);
    let identity = record.get("userIdentity");
    let resolved = user::resolve(identity);
    let event_source = string_field(&record, "eventSource").unwrap_or_default();
    Ok(Event {
        service: service_of(&event_source).to_owned(),
        account_id: identity.and_then(|i| string_field(i, "accountId")),
        recipient_account_id: string_field(&record, "recipientAccountId"),
        aws_region: string_field(&record, "awsRegion"),
        source_ip_address: string_field(&record, "sourceIPAddress"),
        user_agent: string_field(&record, "userAgent"),
        error_code: string_field(&record, "errorCode"),
        error_message: string_field(&record, "errorMessage"),
        read_only: bool_field(&record, "readOnly"),
        event_type: string_field(&record, "eventType"),
        user: resolved.user,
        identity_type: resolved.identity_type,
        role: resolved.role,
        event_id,
        event_time,
        event_name,
        event_source,
        record,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run_instances() -> Value {
        json!({
            "eventVersion": "1.05",
            "userIdentity": {"type": "IAMUser", "userName": "alucloud230", "accountId": "974349055189"},
            "eventTime": "2018-03-01T10:00:00Z",
            "eventSource": "ec2.amazonaws.com",
            "eventName": "RunInstances",
            "awsRegion": "us-east-1",
            "sourceIPAddress": "1.2.3.4",
            "userAgent": "console.ec2.amazonaws.com",
            "requestParameters": {"instanceType": "t2.micro"},
            "responseElements": {"credentials": {"sessionToken": "tok", "secretAccessKey": "key"}},
            "eventID": "e-1",
            "readOnly": false,
            "eventType": "AwsApiCall",
            "recipientAccountId": "974349055189",
            "someFieldAwsAddsLater": {"nested": [1, "two", null]}
        })
    }

    #[test]
    fn normalises_typed_attributes() {
        let event = normalise(run_instances()).expect("valid record");
        assert_eq!(event.event_id, "e-1");
        assert_eq!(
            time::format_event_time(event.event_time),
            "2018-03-01T10:00:00Z"
        );
        assert_eq!(event.service, "ec2");
        assert_eq!(event.user, "alucloud230");
        assert_eq!(event.identity_type.as_deref(), Some("IAMUser"));
        assert_eq!(event.account_id.as_deref(), Some("974349055189"));
        assert_eq!(event.aws_region.as_deref(), Some("us-east-1"));
        assert_eq!(event.read_only, Some(false));
        assert_eq!(event.record["someFieldAwsAddsLater"]["nested"][1], "two");
    }

    #[test]
    fn normalised_record_has_no_secrets() {
        let event = normalise(run_instances()).expect("valid record");
        let text = event.record.to_string();
        assert!(
            !text.contains("\"tok\"") && !text.contains("\"key\""),
            "{text}"
        );
        assert!(text.contains(redact::REDACTED));
    }

    #[test]
    fn rejects_records_that_cannot_be_stored_with_a_reason() {
        let mut no_id = run_instances();
        no_id.as_object_mut().map(|o| o.remove("eventID"));
        assert_eq!(normalise(no_id), Err(RecordRejection::MissingEventId));

        let mut bad_time = run_instances();
        bad_time["eventTime"] = json!("eventTime");
        assert_eq!(
            normalise(bad_time).map_err(|e| e.to_string()),
            Err("record e-1 has an invalid eventTime `eventTime`".into())
        );

        let mut numeric_time = run_instances();
        numeric_time["eventTime"] = json!(1514764800);
        assert!(matches!(
            normalise(numeric_time),
            Err(RecordRejection::InvalidEventTime { .. })
        ));

        let mut no_name = run_instances();
        no_name["eventName"] = Value::Null;
        assert!(matches!(
            normalise(no_name),
            Err(RecordRejection::MissingEventName { .. })
        ));

        assert_eq!(normalise(json!([1])), Err(RecordRejection::NotAnObject));
    }

    #[test]
    fn check_agrees_with_normalise() {
        let mut cases = vec![run_instances(), json!([1]), json!({"eventID": "x"})];
        for (field, value) in [
            ("eventID", Value::Null),
            ("eventTime", json!("bad")),
            ("eventTime", json!(3)),
            ("eventTime", Value::Null),
            ("eventName", json!({})),
        ] {
            let mut record = run_instances();
            record[field] = value;
            cases.push(record);
        }
        for record in cases {
            assert_eq!(
                check(&record),
                normalise(record.clone()).map(|_| ()),
                "{record}"
            );
        }
    }

    #[test]
    fn service_is_event_source_up_to_first_dot() {
        assert_eq!(service_of("ec2.amazonaws.com"), "ec2");
        assert_eq!(
            service_of("elasticloadbalancing.amazonaws.com"),
            "elasticloadbalancing"
        );
        assert_eq!(service_of(""), "");
    }
}

/// An event as lists return it (SPEC §5): the original's attribute names, with the
/// resolved user under `userIdentity_userName` as the original stored it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct EventSummary {
    #[serde(rename = "eventID")]
    pub event_id: String,
    #[serde(rename = "eventName")]
    pub event_name: String,
    #[serde(rename = "eventSource")]
    pub event_source: String,
    /// `YYYY-MM-DDTHH:MM:SSZ`, UTC.
    #[serde(rename = "eventTime")]
    pub event_time: String,
    #[serde(rename = "userIdentity_userName")]
    pub user_identity_user_name: String,
    pub user: String,
    pub service: String,
    #[serde(rename = "identityType")]
    pub identity_type: Option<String>,
    pub role: Option<String>,
    #[serde(rename = "awsRegion")]
    pub aws_region: Option<String>,
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: Option<String>,
    #[serde(rename = "userAgent")]
    pub user_agent: Option<String>,
    #[serde(rename = "errorCode")]
    pub error_code: Option<String>,
    #[serde(rename = "errorMessage")]
    pub error_message: Option<String>,
    #[serde(rename = "readOnly")]
    pub read_only: Option<bool>,
    #[serde(rename = "eventType")]
    pub event_type: Option<String>,
}

impl EventSummary {
    /// The column names, in order, for CSV exports and tables.
    pub const COLUMNS: [&'static str; 16] = [
        "eventID",
        "eventTime",
        "eventName",
        "eventSource",
        "userIdentity_userName",
        "user",
        "service",
        "identityType",
        "role",
        "awsRegion",
        "sourceIPAddress",
        "userAgent",
        "errorCode",
        "errorMessage",
        "readOnly",
        "eventType",
    ];

    /// The values of [`Self::COLUMNS`], absent values empty, borrowed (an
    /// export writes millions of rows: nothing is copied for them).
    pub fn row(&self) -> [&str; 16] {
        fn opt(v: &Option<String>) -> &str {
            v.as_deref().unwrap_or_default()
        }
        [
            &self.event_id,
            &self.event_time,
            &self.event_name,
            &self.event_source,
            &self.user_identity_user_name,
            &self.user,
            &self.service,
            opt(&self.identity_type),
            opt(&self.role),
            opt(&self.aws_region),
            opt(&self.source_ip_address),
            opt(&self.user_agent),
            opt(&self.error_code),
            opt(&self.error_message),
            match self.read_only {
                Some(true) => "true",
                Some(false) => "false",
                None => "",
            },
            opt(&self.event_type),
        ]
    }
}

impl From<&Event> for EventSummary {
    fn from(e: &Event) -> Self {
        Self {
            event_id: e.event_id.clone(),
            event_name: e.event_name.clone(),
            event_source: e.event_source.clone(),
            event_time: time::format_event_time(e.event_time),
            user_identity_user_name: e.user.clone(),
            user: e.user.clone(),
            service: e.service.clone(),
            identity_type: e.identity_type.clone(),
            role: e.role.clone(),
            aws_region: e.aws_region.clone(),
            source_ip_address: e.source_ip_address.clone(),
            user_agent: e.user_agent.clone(),
            error_code: e.error_code.clone(),
            error_message: e.error_message.clone(),
            read_only: e.read_only,
            event_type: e.event_type.clone(),
        }
    }
}
