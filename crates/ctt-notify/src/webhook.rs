//! Webhooks: an HTTP POST of [`crate::message::webhook_body`], the alert id
//! also in the `X-Ctt-Alert-Id` header. Any 2xx answer is delivered; anything
//! else (an error status, a timeout, a refused connection) is retried.

use std::time::Duration;

use async_trait::async_trait;
use ctt_store::Alert;

use crate::Sender;
use crate::message::webhook_body;

pub struct Webhook {
    client: reqwest::Client,
    url: String,
}

impl Webhook {
    pub fn new(url: &str, timeout: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("cloudtrail-tracker/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(Self {
            client,
            url: url.to_owned(),
        })
    }
}

#[async_trait]
impl Sender for Webhook {
    async fn send(&self, alert: &Alert) -> Result<(), String> {
        let answer = self
            .client
            .post(&self.url)
            .header("X-Ctt-Alert-Id", &alert.id)
            .json(&webhook_body(alert))
            .send()
            .await
            // Without the URL: it is a secret (Slack's carry the token).
            .map_err(|e| {
                let what = if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "cannot connect"
                } else {
                    "request failed"
                };
                format!("webhook {what}: {}", e.without_url())
            })?;
        let status = answer.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("webhook answered {status}"))
        }
    }
}
