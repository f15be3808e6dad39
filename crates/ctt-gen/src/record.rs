//! One CloudTrail record as AWS writes it ([`Record`], serialised with the
//! field order of real log files), and the two halves it is made of: the
//! [`Call`] (what was called) and the [`Actor`] (who called, from where).

use chrono::{DateTime, Datelike, Utc};
use rand::RngExt;
use serde::Serialize;
use serde_json::{Value, json};

use crate::ids::{self, GenRng};

/// What was called: service, operation, parameters and outcome.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub source: &'static str,
    pub name: &'static str,
    pub read_only: bool,
    pub request: Value,
    pub response: Value,
    pub event_type: &'static str,
    pub additional: Option<Value>,
    pub resources: Option<Value>,
    pub error: Option<(&'static str, String)>,
    /// Recorded in `us-east-1` whatever region the caller works in (IAM, STS global endpoint, sign-in).
    pub global: bool,
}

impl Call {
    /// A read-only call: `responseElements` is `null`, as CloudTrail writes it.
    pub(crate) fn read(source: &'static str, name: &'static str, request: Value) -> Call {
        Call {
            source,
            name,
            read_only: true,
            request,
            response: Value::Null,
            event_type: "AwsApiCall",
            additional: None,
            resources: None,
            error: None,
            global: false,
        }
    }

    /// A call that changes something.
    pub(crate) fn write(
        source: &'static str,
        name: &'static str,
        request: Value,
        response: Value,
    ) -> Call {
        Call {
            read_only: false,
            response,
            ..Call::read(source, name, request)
        }
    }

    /// The same call, refused: an error code and message and no response.
    pub(crate) fn failed(mut self, code: &'static str, message: String) -> Call {
        self.error = Some((code, message));
        self.response = Value::Null;
        self
    }

    /// The same call, recorded in `us-east-1` (global services).
    pub(crate) fn global(mut self) -> Call {
        self.global = true;
        self
    }
}

/// Who calls: identity, network address and client.
#[derive(Debug, Clone)]
pub(crate) struct Actor {
    /// Index of the account in the cast.
    pub account: usize,
    pub identity: Option<Value>,
    pub source_ip: String,
    pub user_agent: String,
    /// Calls made with console credentials (`sessionCredentialFromConsole`).
    pub console: bool,
    /// AWS services do not negotiate TLS with CloudTrail-visible details.
    pub service: bool,
}

/// A CloudTrail record, fields in the order AWS writes them.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Record {
    pub event_version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_identity: Option<Value>,
    pub event_time: String,
    pub event_source: &'static str,
    pub event_name: &'static str,
    pub aws_region: &'static str,
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: String,
    pub user_agent: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    pub request_parameters: Value,
    pub response_elements: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_event_data: Option<Value>,
    #[serde(rename = "requestID")]
    pub request_id: String,
    #[serde(rename = "eventID")]
    pub event_id: String,
    pub read_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Value>,
    pub event_type: &'static str,
    pub management_event: bool,
    pub recipient_account_id: &'static str,
    pub event_category: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_details: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_credential_from_console: Option<&'static str>,
}

/// Where and when a record happened.
pub(crate) struct Place {
    pub at: i64,
    pub region: &'static str,
    pub account_id: &'static str,
}

impl Record {
    pub(crate) fn new(rng: &mut GenRng, place: &Place, actor: &Actor, call: Call) -> Record {
        let time = utc(place.at);
        let year = time.year();
        let request_id = if call.source == "s3.amazonaws.com" {
            ids::upper_hex(rng, 16)
        } else {
            ids::uuid_v4(rng)
        };
        let tls_details =
            (!actor.service && year >= 2021).then(|| tls_details(rng, call.source, place.region));
        let (error_code, error_message) = match call.error {
            Some((code, message)) => (Some(code), Some(message)),
            None => (None, None),
        };
        Record {
            event_version: event_version(year),
            user_identity: actor.identity.clone(),
            event_time: event_time(place.at),
            event_source: call.source,
            event_name: call.name,
            aws_region: place.region,
            source_ip_address: actor.source_ip.clone(),
            user_agent: actor.user_agent.clone(),
            error_code,
            error_message,
            request_parameters: call.request,
            response_elements: call.response,
            additional_event_data: call.additional,
            request_id,
            event_id: ids::uuid_v4(rng),
            read_only: call.read_only,
            resources: call.resources,
            event_type: call.event_type,
            management_event: true,
            recipient_account_id: place.account_id,
            event_category: "Management",
            tls_details,
            session_credential_from_console: actor.console.then_some("true"),
        }
    }
}

/// The `eventVersion` CloudTrail wrote in a given year.
fn event_version(year: i32) -> &'static str {
    match year {
        ..=2018 => "1.05",
        2019..=2020 => "1.07",
        2021..=2022 => "1.08",
        _ => "1.09",
    }
}

fn tls_details(rng: &mut GenRng, source: &str, region: &str) -> Value {
    let service = source.split('.').next().unwrap_or(source);
    let host = match service {
        "iam" => "iam.amazonaws.com".to_string(),
        "signin" => "signin.aws.amazon.com".to_string(),
        _ => format!("{service}.{region}.amazonaws.com"),
    };
    let (version, suite) = if rng.random_ratio(3, 4) {
        ("TLSv1.3", "TLS_AES_128_GCM_SHA256")
    } else {
        ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256")
    };
    json!({
        "tlsVersion": version,
        "cipherSuite": suite,
        "clientProvidedHostHeader": host,
    })
}

/// Seconds since the epoch as a `DateTime<Utc>` (out-of-range values clamp to the epoch).
pub(crate) fn utc(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or(DateTime::UNIX_EPOCH)
}

/// CloudTrail's `eventTime` format: `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn event_time(secs: i64) -> String {
    utc(secs).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}
