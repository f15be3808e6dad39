//! The ingest Lambda: each new log file announced by S3 (directly, through SQS,
//! or by EventBridge) is read, normalised, filtered and stored with the same
//! code as `ctt ingest` (`ctt_ingest::pipeline::process_file`), exactly once —
//! by [`ObjectLoader`].
//!
//! Exactly once, as for local loads: a file whose ledger entry has this version
//! and outcome `loaded` is not read again (a notification delivered twice), and
//! the store counts a file's events once even when two invocations race on it
//! (see `dynamo::write`). Digest files and other non-log objects are ignored.
//!
//! Failures: a file that cannot be fetched or stored fails the invocation (or
//! its SQS message alone — the batch reports partial failures, so one bad file
//! never blocks the rest) and AWS retries it; a corrupt file is recorded as
//! failed in the ledger (`ctt files --failed`) and reported failed too, so it
//! ends in the queue's dead-letter queue rather than vanishing.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse};
use ctt_ingest::{IngestOptions, error_chain};
use ctt_store::EventStore;
use serde_json::{Value, json};

use crate::notification::load::ObjectLoader;
pub use crate::notification::load::{ObjectError, ObjectOutcome};
use crate::notification::{Invocation, ObjectRef, read_invocation};
use crate::s3::{S3Source, S3Uri};

/// Loads the objects of ingest invocations.
pub struct IngestHandler {
    loader: ObjectLoader,
    /// Sends the outbox's alerts (SNS) after each invocation's loads.
    notifier: Option<(Arc<ctt_notify::Notifier>, std::time::Duration)>,
}

impl IngestHandler {
    pub fn new(store: Arc<dyn EventStore>, source: S3Source, options: IngestOptions) -> Self {
        Self {
            loader: ObjectLoader::new(store, source, options),
            notifier: None,
        }
    }

    /// After each invocation, sends what is due for up to `grace`; a
    /// destination that fails is retried by a later invocation (a file or
    /// the schedule), never failing this one: the alerts are stored.
    pub fn with_notifier(
        mut self,
        notifier: Arc<ctt_notify::Notifier>,
        grace: std::time::Duration,
    ) -> Self {
        self.notifier = Some((notifier, grace));
        self
    }

    async fn notify(&self) {
        if let Some((notifier, grace)) = &self.notifier
            && let Err(error) = notifier.flush(*grace).await
        {
            tracing::warn!(error = %error_chain(&error), "cannot work on the notification outbox");
        }
    }

    /// Loads one object, exactly once.
    pub async fn load_object(&self, object: &ObjectRef) -> Result<ObjectOutcome, ObjectError> {
        self.loader.load(object).await
    }

    /// Loads every object; the reasons of those that failed, if any.
    async fn load_all(&self, objects: &[ObjectRef]) -> (Vec<Value>, Vec<String>) {
        let mut done = Vec::new();
        let mut failures = Vec::new();
        for object in objects {
            let key = S3Uri::new(&object.bucket, &object.key).to_string();
            match self.load_object(object).await {
                Ok(ObjectOutcome::Failed(reason)) => failures.push(format!("{key}: {reason}")),
                Ok(outcome) => done.push(json!({"key": key, "outcome": format!("{outcome:?}")})),
                Err(error) => {
                    let reason = error_chain(&error);
                    tracing::error!(%key, %reason, "cannot load a log file");
                    failures.push(reason);
                }
            }
        }
        (done, failures)
    }

    /// Handles one invocation: S3 and EventBridge events fail as a whole when a
    /// file fails (AWS retries them; loaded files are not read again); SQS
    /// batches answer the ids of the messages to retry.
    pub async fn handle(&self, payload: Value) -> Result<Value, lambda_runtime::Error> {
        let answer = self.load(payload).await;
        self.notify().await;
        answer
    }

    async fn load(&self, payload: Value) -> Result<Value, lambda_runtime::Error> {
        match read_invocation(payload)? {
            Invocation::Schedule => Ok(json!({"files": []})),
            Invocation::S3(objects) | Invocation::EventBridge(objects) => {
                let (done, failures) = self.load_all(&objects).await;
                if failures.is_empty() {
                    Ok(json!({"files": done}))
                } else {
                    Err(failures.join("; ").into())
                }
            }
            Invocation::Sqs(messages) => {
                let mut response = SqsBatchResponse::default();
                for (id, objects) in messages {
                    let failed = match objects {
                        Err(reason) => {
                            tracing::error!(message = %id, %reason, "unreadable message");
                            true
                        }
                        Ok(objects) => !self.load_all(&objects).await.1.is_empty(),
                    };
                    if failed {
                        let mut failure = BatchItemFailure::default();
                        failure.item_identifier = id;
                        response.batch_item_failures.push(failure);
                    }
                }
                Ok(serde_json::to_value(response)?)
            }
        }
    }
}
