//! Notifications (SPEC §12): alerts sent to webhooks (JSON with a
//! Slack-compatible `text`) and by SMTP email, from the store's outbox.
//!
//! * [`DestinationConfig`]: one `[[alerts.notify]]` entry of the
//!   configuration, checked into a [`Destination`].
//! * [`message`]: what a destination receives — the alert as text (escaped
//!   for Slack: event strings are attacker-controlled) and as JSON.
//! * [`Sender`]: sends one alert; [`webhook`] and [`email`] here, SNS in
//!   `ctt-aws`.
//! * [`Notifier`]: moves new alerts into the outbox and delivers them, one
//!   loop per destination, apart from the load: a destination that hangs or
//!   fails only delays its own deliveries, never ingestion.

mod config;
pub mod email;
pub mod message;
mod notifier;
pub mod webhook;

pub use config::{ConfigError, Destination, DestinationConfig, Kind, check_all, parse_age};
pub use notifier::{Notifier, Policy, SenderFactory, Target};

use async_trait::async_trait;
use ctt_store::Alert;

/// Sends one alert to one destination. An `Err` is retried later (with
/// backoff); its text is kept in the outbox as the last error.
#[async_trait]
pub trait Sender: Send + Sync {
    async fn send(&self, alert: &Alert) -> Result<(), String>;
}
