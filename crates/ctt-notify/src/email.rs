//! Email over SMTP (lettre): one plain-text message per alert, its
//! `Message-ID` made from the alert id so a mail system can deduplicate.

use std::time::Duration;

use async_trait::async_trait;
use ctt_store::Alert;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::Sender;
use crate::message::{body, subject};

pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl Email {
    /// `smtp` as [`crate::DestinationConfig::smtp`] says.
    pub fn new(smtp: &str, from: &str, to: &[String], timeout: Duration) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp)
            .map_err(|e| format!("smtp: {e}"))?
            .timeout(Some(timeout))
            .build();
        let from = from
            .parse()
            .map_err(|e| format!("from {from:?} is not an address: {e}"))?;
        let to = to
            .iter()
            .map(|t| {
                t.parse()
                    .map_err(|e| format!("to {t:?} is not an address: {e}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            transport,
            from,
            to,
        })
    }
}

/// `<alert-id@cloudtrail-tracker>` with only the characters a Message-ID
/// may hold (an eventID is whatever the record said).
fn message_id(alert: &Alert) -> String {
    let id: String = alert
        .id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '.'
            }
        })
        .take(200)
        .collect();
    format!("<{id}@cloudtrail-tracker>")
}

#[async_trait]
impl Sender for Email {
    async fn send(&self, alert: &Alert) -> Result<(), String> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(subject(alert))
            .message_id(Some(message_id(alert)))
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        let message = builder
            .body(body(alert))
            .map_err(|e| format!("cannot build the email: {e}"))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("smtp: {e}"))
    }
}
