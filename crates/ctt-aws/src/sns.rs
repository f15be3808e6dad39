//! Alerts published to an SNS topic (SPEC §12): the subject and body of an
//! email ([`ctt_notify::message`]), the alert id and level as message
//! attributes (a subscription's filter policy can select on the level; a
//! consumer deduplicates on the id).

use async_trait::async_trait;
use aws_config::SdkConfig;
pub use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;
use ctt_notify::Sender;
use ctt_notify::message::{body, subject};
use ctt_store::Alert;

/// An SNS client for `sdk` (its endpoint, or `AWS_ENDPOINT_URL_SNS`).
pub fn client(sdk: &SdkConfig) -> Client {
    Client::new(sdk)
}

/// One topic.
pub struct Topic {
    client: Client,
    arn: String,
}

impl Topic {
    pub fn new(client: Client, arn: impl Into<String>) -> Self {
        Self {
            client,
            arn: arn.into(),
        }
    }
}

fn attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .expect("data_type is set")
}

#[async_trait]
impl Sender for Topic {
    async fn send(&self, alert: &Alert) -> Result<(), String> {
        self.client
            .publish()
            .topic_arn(&self.arn)
            .subject(subject(alert))
            .message(body(alert))
            .message_attributes("alert_id", attribute(&alert.id))
            .message_attributes("level", attribute(&alert.level))
            .message_attributes("rule", attribute(&alert.rule_id))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("sns publish: {}", ctt_ingest::error_chain(&e)))
    }
}
