//! The notifier: one loop moves new alerts into the outbox, one loop per
//! destination claims what is due to it, sends, and records the outcome.
//! Nothing here runs on the load's path: the load stores alerts and goes on.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ctt_store::{Delivery, EventStore, Route, StoreResult};
use futures_util::future::join_all;
use tokio_util::sync::CancellationToken;

use crate::email::Email;
use crate::webhook::Webhook;
use crate::{Destination, DestinationConfig, Kind, Sender};

/// When to send and how to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Alerts on events older than this when first seen are stored, not sent.
    pub max_age: Duration,
    /// The wait after the first failure; doubled after each, up to `max_retry`.
    pub first_retry: Duration,
    pub max_retry: Duration,
    /// Attempts before a delivery is given up (`failed`).
    pub max_attempts: u32,
    /// How often the outbox is looked at when idle.
    pub poll: Duration,
    /// Deliveries one destination sends at once.
    pub batch: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(24 * 3600),
            first_retry: Duration::from_secs(30),
            max_retry: Duration::from_secs(3600),
            max_attempts: 12,
            poll: Duration::from_secs(1),
            batch: 20,
        }
    }
}

impl Policy {
    /// The wait after `failures` failed attempts (1 or more), ±10% jitter so
    /// a destination back up is not hit by every retry at once.
    pub fn retry_delay(&self, failures: u32) -> Duration {
        let doubled = self
            .first_retry
            .saturating_mul(1_u32 << failures.saturating_sub(1).min(20));
        let base = doubled.min(self.max_retry).as_secs_f64();
        Duration::from_secs_f64(base * (0.9 + 0.2 * fastrand::f64()))
    }
}

/// Builds the sender of a destination of a kind this crate does not send
/// (SNS, in ctt-aws).
pub type SenderFactory = dyn Fn(&Destination) -> Result<Arc<dyn Sender>, String>;

/// A destination and what sends to it.
pub struct Target {
    pub destination: Destination,
    pub sender: Arc<dyn Sender>,
}

/// Sends the alerts of one store to its destinations.
pub struct Notifier {
    store: Arc<dyn EventStore>,
    targets: Vec<Target>,
    policy: Policy,
}

impl Notifier {
    /// A notifier for `store` (which must keep an outbox) and `targets`.
    pub fn new(
        store: Arc<dyn EventStore>,
        targets: Vec<Target>,
        policy: Policy,
    ) -> Result<Self, String> {
        if store.outbox().is_none() {
            return Err(
                "this store keeps no notification outbox: [[alerts.notify]] \
                 works with the SQLite store (on AWS, the ingest Lambda's SNS topic)"
                    .into(),
            );
        }
        Ok(Self {
            store,
            targets,
            policy,
        })
    }

    /// Webhooks and email from their configuration; `sns` needs `extra`
    /// (ctt-aws), which is asked for any kind this crate does not send.
    pub fn senders(
        configs: &[DestinationConfig],
        extra: &SenderFactory,
    ) -> Result<Vec<Target>, String> {
        let destinations = crate::config::check_all(configs).map_err(|e| e.to_string())?;
        destinations
            .into_iter()
            .map(|destination| {
                let c = &destination.config;
                let sender: Arc<dyn Sender> = match c.kind {
                    Kind::Webhook => Arc::new(Webhook::new(
                        c.url.as_deref().unwrap_or_default(),
                        destination.timeout,
                    )?),
                    Kind::Email => Arc::new(Email::new(
                        c.smtp.as_deref().unwrap_or_default(),
                        c.from.as_deref().unwrap_or_default(),
                        &c.to,
                        destination.timeout,
                    )?),
                    Kind::Sns => extra(&destination)?,
                };
                Ok(Target {
                    destination,
                    sender,
                })
            })
            .collect::<Result<_, String>>()
            .map_err(|e: String| format!("[[alerts.notify]]: {e}"))
    }

    fn outbox(&self) -> &dyn ctt_store::Outbox {
        self.store.outbox().expect("checked in Notifier::new")
    }

    /// Queues the alerts stored since the last call; how many deliveries.
    pub async fn enqueue(&self) -> StoreResult<u64> {
        let routes: Vec<Route> = self
            .targets
            .iter()
            .map(|t| Route {
                destination: t.destination.name.clone(),
                min_level: t.destination.min_level,
            })
            .collect();
        let now = Utc::now();
        let oldest =
            now - chrono::Duration::from_std(self.policy.max_age).unwrap_or(chrono::Duration::MAX);
        self.outbox().enqueue_new(&routes, oldest, now).await
    }

    /// One pass for target `index`: claims what is due, sends it at once,
    /// records each outcome. A send still waiting when `stop` is cancelled
    /// is recorded as an interrupted attempt, due again at once (never left
    /// claimed). Returns how many were claimed.
    pub async fn deliver(&self, index: usize, stop: &CancellationToken) -> StoreResult<usize> {
        let target = &self.targets[index];
        let name = target.destination.name.clone();
        // Long enough for every send of the batch to time out first.
        let lease = target.destination.timeout + Duration::from_secs(60);
        let claimed = self
            .outbox()
            .claim_due(
                std::slice::from_ref(&name),
                Utc::now(),
                lease,
                self.policy.batch,
            )
            .await?;
        let n = claimed.len();
        let sends = claimed.into_iter().map(|delivery| async move {
            let limit = target.destination.timeout + Duration::from_secs(5);
            let send = tokio::time::timeout(limit, target.sender.send(&delivery.alert));
            let outcome = tokio::select! {
                outcome = send => match outcome {
                    Ok(outcome) => outcome,
                    Err(_) => Err(format!("no answer in {} s", limit.as_secs())),
                },
                _ = stop.cancelled() => {
                    let error = "interrupted: stopped before an answer";
                    return self
                        .outbox()
                        .mark_failed(&delivery, error, Some(Utc::now()), Utc::now())
                        .await;
                }
            };
            self.record(&delivery, outcome).await
        });
        for result in join_all(sends).await {
            result?;
        }
        Ok(n)
    }

    async fn record(&self, delivery: &Delivery, outcome: Result<(), String>) -> StoreResult<()> {
        let now = Utc::now();
        match outcome {
            Ok(()) => {
                tracing::debug!(alert = %delivery.alert.id, destination = %delivery.destination, "notification sent");
                self.outbox().mark_sent(delivery, now).await
            }
            Err(error) => {
                let failures = delivery.attempts + 1;
                let retry_at = (failures < self.policy.max_attempts).then(|| {
                    now + chrono::Duration::from_std(self.policy.retry_delay(failures))
                        .unwrap_or(chrono::Duration::MAX)
                });
                match retry_at {
                    Some(at) => tracing::warn!(
                        alert = %delivery.alert.id, destination = %delivery.destination,
                        attempt = failures, retry_at = %at, "notification failed: {error}"
                    ),
                    None => tracing::error!(
                        alert = %delivery.alert.id, destination = %delivery.destination,
                        attempt = failures, "notification given up: {error}"
                    ),
                }
                self.outbox()
                    .mark_failed(delivery, &error, retry_at, now)
                    .await
            }
        }
    }

    /// Runs until `stop` is cancelled: the queueing loop and one loop per
    /// destination, each waking every `poll` (at once while it has work).
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut loops = Vec::new();
        let me = Arc::clone(&self);
        let stop_q = stop.clone();
        loops.push(tokio::spawn(async move {
            loop {
                if let Err(e) = me.enqueue().await {
                    tracing::warn!("cannot queue notifications: {e}");
                }
                if wait(&stop_q, me.policy.poll).await {
                    return;
                }
            }
        }));
        for index in 0..self.targets.len() {
            let me = Arc::clone(&self);
            let stop_d = stop.clone();
            loops.push(tokio::spawn(async move {
                loop {
                    let busy = match me.deliver(index, &stop_d).await {
                        Ok(n) => n == me.policy.batch,
                        Err(e) => {
                            tracing::warn!("cannot read the notification outbox: {e}");
                            false
                        }
                    };
                    if stop_d.is_cancelled() || (!busy && wait(&stop_d, me.policy.poll).await) {
                        return;
                    }
                }
            }));
        }
        for task in loops {
            let _ = task.await;
        }
    }

    /// Queues and sends until nothing is pending or `grace` has passed (`ctt
    /// ingest` before it exits, each Lambda invocation): retries that come
    /// due within it are made; sends still waiting at its end are recorded
    /// as interrupted. What is left waits for the next run.
    pub async fn flush(&self, grace: Duration) -> StoreResult<()> {
        let stop = CancellationToken::new();
        let timer = {
            let stop = stop.clone();
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                stop.cancel();
            })
        };
        let result = async {
            while !stop.is_cancelled() {
                self.enqueue().await?;
                let passes = (0..self.targets.len()).map(|index| {
                    let stop = &stop;
                    async move {
                        while !stop.is_cancelled() && self.deliver(index, stop).await? > 0 {}
                        StoreResult::Ok(())
                    }
                });
                for result in join_all(passes).await {
                    result?;
                }
                // Deliveries to destinations no longer configured wait for
                // a configuration that names them again: not for this flush.
                let mut pending = 0;
                for target in &self.targets {
                    pending += self.outbox().pending_for(&target.destination.name).await?;
                }
                if pending == 0 {
                    break;
                }
                wait(&stop, self.policy.poll).await;
            }
            StoreResult::Ok(())
        }
        .await;
        timer.abort();
        result
    }
}

/// Waits `poll` or until `stop` is cancelled; whether it was.
async fn wait(stop: &CancellationToken, poll: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(poll) => stop.is_cancelled(),
        _ = stop.cancelled() => true,
    }
}
