//! The notification outbox (SPEC §12). Alerts are stored by the load; the
//! notifier moves the new ones into the outbox — one delivery per destination
//! whose minimum level the alert reaches, unless its event is older than
//! `notify_max_age` — and sends them apart from the load, so a slow or failing
//! destination never slows or stops ingestion. A delivery is claimed for a
//! lease before it is sent (two notifiers on one store do not both send it),
//! then marked sent, or retried later, or given up; all of it is in the store,
//! so retries survive a restart. At least once: a crash between sending and
//! marking sends again, with the same alert id for deduplication.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{Alert, StoreResult};

/// Where alerts of at least one level go. `destination` names it in the
/// outbox; it must not change while deliveries are pending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub destination: String,
    /// The lowest level sent (`crate::alerts::level_rank`).
    pub min_level: usize,
}

/// One alert to send to one destination.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub alert: Alert,
    pub destination: String,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// One delivery of an alert as the outbox holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryState {
    pub destination: String,
    /// `pending`, `sent` (SQLite keeps sent ones), `failed` (given up), or
    /// `withdrawn` (an anomaly withdrawn before it was sent, SPEC §13).
    pub state: String,
    /// Attempts made.
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// What the outbox holds, for `/health` and the logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutboxCounts {
    /// Waiting for their first attempt or a retry.
    pub pending: u64,
    pub sent: u64,
    /// Given up after the last retry.
    pub failed: u64,
    /// Alerts never queued: their event was older than `notify_max_age`.
    pub too_old: u64,
}

/// A store's outbox (SQLite; the ingest Lambda keeps its own for SNS).
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Queues the alerts stored since the last call, each to the `routes`
    /// its level reaches, unless its event is before `oldest`. Returns how
    /// many deliveries were queued.
    async fn enqueue_new(
        &self,
        routes: &[Route],
        oldest: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<u64>;

    /// Up to `limit` deliveries due at `now` to one of `destinations`, oldest
    /// first, each claimed until `now + lease` (not handed out again before).
    async fn claim_due(
        &self,
        destinations: &[String],
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>>;

    /// Marks a delivery sent.
    async fn mark_sent(&self, delivery: &Delivery, now: DateTime<Utc>) -> StoreResult<()>;

    /// Records a failed attempt: retried at `retry_at`, or given up (`None`).
    async fn mark_failed(
        &self,
        delivery: &Delivery,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    async fn outbox_counts(&self) -> StoreResult<OutboxCounts>;

    /// Deliveries to `destination` waiting for an attempt (a flush waits
    /// for those of the destinations it has, not for others').
    async fn pending_for(&self, destination: &str) -> StoreResult<u64>;

    /// The deliveries of one alert, by destination.
    async fn deliveries(&self, alert_id: &str) -> StoreResult<Vec<DeliveryState>>;
}
