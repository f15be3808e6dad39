//! S3 notifications, read into the objects to load: what an ingest Lambda is
//! invoked with — an S3 notification (`ObjectCreated:*`) directly, the same
//! wrapped in SQS messages, or an EventBridge "Object Created" event — and the
//! bodies of the SQS messages `ctt serve --sqs-queue-url` receives
//! ([`objects_of_message`]). Pure functions, table-tested; [`load`] loads an
//! announced object exactly once.
//!
//! Quirks handled here: keys in S3 notifications are URL-encoded (`/` as `%2F`,
//! a space as `+`) and are decoded; EventBridge keys are not encoded; SQS
//! messages may hold S3's `s3:TestEvent`, which loads nothing.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::s3::S3Event;
use aws_lambda_events::event::sqs::SqsEvent;
use percent_encoding::percent_decode_str;
use serde_json::Value;

pub mod load;

/// One object to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    /// The key, decoded.
    pub key: String,
    /// The ETag the notification carries, unquoted.
    pub etag: Option<String>,
    pub size: Option<u64>,
}

/// An invocation, by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    /// S3 notifications delivered to the function directly.
    S3(Vec<ObjectRef>),
    /// SQS messages: each message's id and the objects it announces (or why
    /// it cannot be read).
    Sqs(Vec<(String, Result<Vec<ObjectRef>, String>)>),
    /// EventBridge "Object Created".
    EventBridge(Vec<ObjectRef>),
    /// An EventBridge schedule ("Scheduled Event"): nothing to load; the
    /// notification outbox is worked on (retries when no file arrives).
    Schedule,
}

/// Why an invocation cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    #[error("not an S3, SQS or EventBridge event: {0}")]
    Unknown(String),
    #[error("invalid {kind} event: {reason}")]
    Invalid { kind: &'static str, reason: String },
}

/// Decodes a key from an S3 notification: `+` is a space, `%XX` a byte.
pub fn decode_key(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

fn unquote(etag: &str) -> String {
    etag.trim_matches('"').to_owned()
}

/// The objects created in an S3 notification (other event names are ignored).
pub fn objects_of_s3_event(event: &S3Event) -> Vec<ObjectRef> {
    event
        .records
        .iter()
        .filter(|r| {
            r.event_name
                .as_deref()
                .is_none_or(|name| name.starts_with("ObjectCreated:"))
        })
        .filter_map(|r| {
            Some(ObjectRef {
                bucket: r.s3.bucket.name.clone()?,
                key: decode_key(r.s3.object.key.as_deref()?),
                etag: r.s3.object.e_tag.as_deref().map(unquote),
                size: r.s3.object.size.and_then(|s| u64::try_from(s).ok()),
            })
        })
        .collect()
}

/// The object of an EventBridge "Object Created" event.
fn object_of_eventbridge(event: &EventBridgeEvent<Value>) -> Result<Vec<ObjectRef>, String> {
    if event.detail_type != "Object Created" {
        return Ok(Vec::new());
    }
    let detail = &event.detail;
    let bucket = detail["bucket"]["name"]
        .as_str()
        .ok_or("no detail.bucket.name")?;
    let key = detail["object"]["key"]
        .as_str()
        .ok_or("no detail.object.key")?;
    Ok(vec![ObjectRef {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        etag: detail["object"]["etag"].as_str().map(unquote),
        size: detail["object"]["size"].as_u64(),
    }])
}

/// The objects an SQS message body announces: an S3 notification, S3's test
/// event (nothing), or an EventBridge event routed to SQS.
pub fn objects_of_message(body: &str) -> Result<Vec<ObjectRef>, String> {
    let value: Value =
        serde_json::from_str(body).map_err(|e| format!("message body is not JSON: {e}"))?;
    if value.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Vec::new());
    }
    if value.get("detail-type").is_some() {
        let event: EventBridgeEvent<Value> =
            serde_json::from_value(value).map_err(|e| format!("invalid EventBridge event: {e}"))?;
        return object_of_eventbridge(&event);
    }
    let event: S3Event =
        serde_json::from_value(value).map_err(|e| format!("invalid S3 notification: {e}"))?;
    Ok(objects_of_s3_event(&event))
}

/// Reads an invocation payload.
pub fn read_invocation(payload: Value) -> Result<Invocation, NotificationError> {
    let first_source = payload["Records"][0]["eventSource"]
        .as_str()
        .or_else(|| payload["Records"][0]["EventSource"].as_str())
        .map(str::to_owned);
    if payload.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event") {
        return Ok(Invocation::Schedule);
    }
    if payload.get("detail-type").is_some() {
        let event: EventBridgeEvent<Value> =
            serde_json::from_value(payload).map_err(|e| NotificationError::Invalid {
                kind: "EventBridge",
                reason: e.to_string(),
            })?;
        return object_of_eventbridge(&event)
            .map(Invocation::EventBridge)
            .map_err(|reason| NotificationError::Invalid {
                kind: "EventBridge",
                reason,
            });
    }
    match first_source.as_deref() {
        Some("aws:sqs") => {
            let event: SqsEvent =
                serde_json::from_value(payload).map_err(|e| NotificationError::Invalid {
                    kind: "SQS",
                    reason: e.to_string(),
                })?;
            Ok(Invocation::Sqs(
                event
                    .records
                    .iter()
                    .map(|m| {
                        let id = m.message_id.clone().unwrap_or_default();
                        let objects = m
                            .body
                            .as_deref()
                            .ok_or_else(|| "message has no body".to_owned())
                            .and_then(objects_of_message);
                        (id, objects)
                    })
                    .collect(),
            ))
        }
        Some("aws:s3") => {
            let event: S3Event =
                serde_json::from_value(payload).map_err(|e| NotificationError::Invalid {
                    kind: "S3",
                    reason: e.to_string(),
                })?;
            Ok(Invocation::S3(objects_of_s3_event(&event)))
        }
        other => Err(NotificationError::Unknown(format!(
            "eventSource {}",
            other.unwrap_or("absent")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn notification_keys_are_url_decoded() {
        let cases = [
            (
                "AWSLogs%2F1%2FCloudTrail%2Fx.json.gz",
                "AWSLogs/1/CloudTrail/x.json.gz",
            ),
            ("logs/sample+copy.json.gz", "logs/sample copy.json.gz"),
            ("a%2Bb%3Ac.json", "a+b:c.json"),
            ("caf%C3%A9.json", "café.json"),
            ("plain/key.json.gz", "plain/key.json.gz"),
            ("bad%ZZ", "bad%ZZ"),
        ];
        for (raw, decoded) in cases {
            assert_eq!(decode_key(raw), decoded, "{raw}");
        }
    }

    fn s3_record(bucket: &str, key: &str, name: &str) -> Value {
        json!({"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
               "eventTime": "2018-03-01T10:00:00.000Z", "eventName": name,
               "userIdentity": {"principalId": "AWS:X"}, "requestParameters": {"sourceIPAddress": "1.2.3.4"},
               "responseElements": {"x-amz-request-id": "R"},
               "s3": {"s3SchemaVersion": "1.0", "configurationId": "c",
                      "bucket": {"name": bucket, "ownerIdentity": {"principalId": "P"}, "arn": format!("arn:aws:s3:::{bucket}")},
                      "object": {"key": key, "size": 10, "eTag": "\"e1\"", "sequencer": "0A"}}})
    }

    fn object(bucket: &str, key: &str) -> ObjectRef {
        ObjectRef {
            bucket: bucket.into(),
            key: key.into(),
            etag: Some("e1".into()),
            size: Some(10),
        }
    }

    #[test]
    fn reads_each_kind_of_invocation() {
        let s3 = json!({"Records": [
            s3_record("b", "AWSLogs%2Fk+1.json.gz", "ObjectCreated:Put"),
            s3_record("b", "gone.json.gz", "ObjectRemoved:Delete"),
        ]});
        assert_eq!(
            read_invocation(s3.clone()),
            Ok(Invocation::S3(vec![object("b", "AWSLogs/k 1.json.gz")]))
        );

        let message = |id: &str, body: String| {
            json!({"messageId": id, "receiptHandle": "h", "body": body, "attributes": {},
                   "messageAttributes": {}, "eventSource": "aws:sqs",
                   "eventSourceARN": "arn:aws:sqs:us-east-1:1:q", "awsRegion": "us-east-1"})
        };
        let sqs = json!({"Records": [
            message("m1", s3.to_string()),
            message("m2", json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}).to_string()),
            message("m3", "not json".to_owned()),
        ]});
        let Ok(Invocation::Sqs(messages)) = read_invocation(sqs) else {
            panic!("an SQS invocation");
        };
        assert_eq!(
            messages[0],
            ("m1".into(), Ok(vec![object("b", "AWSLogs/k 1.json.gz")]))
        );
        assert_eq!(messages[1], ("m2".into(), Ok(vec![])));
        assert_eq!(messages[2].0, "m3");
        assert!(messages[2].1.is_err());

        let bridge = json!({"version": "0", "id": "i", "detail-type": "Object Created",
            "source": "aws.s3", "account": "1", "time": "2018-03-01T10:00:00Z", "region": "us-east-1",
            "resources": ["arn:aws:s3:::b"],
            "detail": {"version": "0", "bucket": {"name": "b"},
                       "object": {"key": "AWSLogs/k 1.json.gz", "size": 10, "etag": "e1"},
                       "request-id": "r", "requester": "1", "reason": "PutObject"}});
        assert_eq!(
            read_invocation(bridge),
            Ok(Invocation::EventBridge(vec![object(
                "b",
                "AWSLogs/k 1.json.gz"
            )]))
        );
        assert!(matches!(
            read_invocation(json!({"hello": "world"})),
            Err(NotificationError::Unknown(_))
        ));
    }

    #[test]
    fn the_originals_notification_is_read() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/corpus/grycap-cloudtrail-tracker/s3-notification-event.json"
        );
        let Ok(text) = std::fs::read_to_string(path) else {
            panic!("the shared corpus is expected at {path}");
        };
        let payload: Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(
            read_invocation(payload),
            Ok(Invocation::S3(vec![ObjectRef {
                bucket: "alucloud230".into(),
                key: "974349055189_CloudTrail_us-east-1_20170601T0635Z_FZ9CtyUC5gmNGqIG.json.gz"
                    .into(),
                etag: Some("d41d8cd98f00b204e9800998ecf8427e".into()),
                size: Some(1024),
            }]))
        );
    }
}
