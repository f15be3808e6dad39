//! Following a bucket through an SQS queue that receives its notifications
//! (`ctt serve --follow s3://bucket/prefix --sqs-queue-url URL`): the queue the
//! deployment's ingest Lambda reads (`deploy/template.yaml`), or any queue a
//! bucket notification or an EventBridge rule sends to.
//!
//! Each [`QueueFollower::receive`] long-polls for up to 10 messages, reads each
//! body with the Lambda's parser ([`crate::notification::objects_of_message`]:
//! an S3 notification, S3's test event, or an EventBridge "Object Created"),
//! loads each announced log file under the followed location through
//! [`ObjectLoader`] (the ledger makes it exactly once), and deletes a message
//! only once every file it announces is stored. A message whose file failed
//! (unreadable, or S3 or the store unavailable) is left in the queue: SQS
//! delivers it again after the queue's visibility timeout, and its redrive
//! policy moves it to a dead-letter queue after a few attempts. A message
//! delivered twice, or two messages for one file, load it once.
//!
//! Objects of other buckets, or outside the followed prefix, are not loaded;
//! their messages are deleted like those of digest files: the queue is meant
//! for this follower.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use ctt_ingest::error_chain;

use crate::notification::load::{ObjectLoader, ObjectOutcome};
use crate::notification::{ObjectRef, objects_of_message};
use crate::s3::S3Uri;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The longest long poll SQS allows.
pub const MAX_WAIT: Duration = Duration::from_secs(20);
/// The most messages one receive returns.
const MAX_MESSAGES: i32 = 10;

/// An SQS client for `sdk` (its endpoint, or `AWS_ENDPOINT_URL_SQS`).
pub fn client(sdk: &SdkConfig) -> Client {
    Client::new(sdk)
}

/// Why the queue could not be used.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("cannot receive messages from {queue_url}")]
    Receive {
        queue_url: String,
        #[source]
        source: BoxError,
    },
    #[error("cannot delete messages from {queue_url}")]
    Delete {
        queue_url: String,
        #[source]
        source: BoxError,
    },
}

/// What one receive did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueBatch {
    /// Messages received.
    pub messages: usize,
    /// Messages deleted: every file they announce is stored (or not to be loaded).
    pub deleted: usize,
    /// Messages left for redelivery: unreadable, or a file of theirs failed.
    pub kept: usize,
    pub files_loaded: u64,
    pub files_already_loaded: u64,
    pub files_failed: u64,
    pub events_stored: u64,
}

/// Reads a queue of notifications and loads the files they announce.
pub struct QueueFollower {
    client: Client,
    queue_url: String,
    location: S3Uri,
    loader: ObjectLoader,
    wait: Duration,
}

impl QueueFollower {
    /// Follows `location` (`s3://bucket/prefix`) through the queue at
    /// `queue_url`, long-polling [`MAX_WAIT`].
    pub fn new(client: Client, queue_url: &str, location: S3Uri, loader: ObjectLoader) -> Self {
        Self {
            client,
            queue_url: queue_url.to_owned(),
            location,
            loader,
            wait: MAX_WAIT,
        }
    }

    /// How long a receive waits for a message (at most 20 s; 0 is a short poll).
    pub fn with_wait(mut self, wait: Duration) -> Self {
        self.wait = wait.min(MAX_WAIT);
        self
    }

    /// How long a receive waits for a message.
    pub fn wait(&self) -> Duration {
        self.wait
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Whether an announced object is under the followed location.
    fn followed(&self, object: &ObjectRef) -> bool {
        object.bucket == self.location.bucket && object.key.starts_with(&self.location.key)
    }

    /// Receives up to 10 messages (waiting for one up to the long-poll time),
    /// loads what they announce, and deletes those done.
    pub async fn receive(&self) -> Result<QueueBatch, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(MAX_MESSAGES)
            .wait_time_seconds(self.wait.as_secs() as i32)
            .send()
            .await
            .map_err(|e| QueueError::Receive {
                queue_url: self.queue_url.clone(),
                source: Box::new(e),
            })?;
        let mut batch = QueueBatch {
            messages: out.messages().len(),
            ..QueueBatch::default()
        };
        let mut done = Vec::new();
        for message in out.messages() {
            let id = message.message_id().unwrap_or_default();
            let objects = match message.body().map(objects_of_message) {
                Some(Ok(objects)) => objects,
                Some(Err(reason)) => {
                    tracing::warn!(message = %id, %reason, "unreadable message: left in the queue");
                    continue;
                }
                None => {
                    tracing::warn!(message = %id, "message without a body: left in the queue");
                    continue;
                }
            };
            if self.load_all(id, &objects, &mut batch).await
                && let Some(handle) = message.receipt_handle()
            {
                done.push(handle.to_owned());
            }
        }
        batch.deleted = self.delete(done).await?;
        batch.kept = batch.messages - batch.deleted;
        Ok(batch)
    }

    /// Loads the followed objects of one message; whether all are done.
    async fn load_all(&self, message: &str, objects: &[ObjectRef], batch: &mut QueueBatch) -> bool {
        let mut all_done = true;
        for object in objects {
            if !self.followed(object) {
                tracing::info!(message, bucket = %object.bucket, key = %object.key,
                    followed = %self.location, "ignoring an object outside the followed location");
                continue;
            }
            match self.loader.load(object).await {
                Ok(ObjectOutcome::Loaded(counts)) => {
                    batch.files_loaded += 1;
                    batch.events_stored += counts.stored;
                }
                Ok(ObjectOutcome::AlreadyLoaded) => batch.files_already_loaded += 1,
                Ok(ObjectOutcome::Skipped) => {}
                Ok(ObjectOutcome::Failed(_)) => {
                    batch.files_failed += 1;
                    all_done = false;
                }
                Err(error) => {
                    tracing::warn!(message, error = %error_chain(&error),
                        "cannot load an announced file: its message is left for redelivery");
                    batch.files_failed += 1;
                    all_done = false;
                }
            }
        }
        all_done
    }

    /// Deletes the messages of `handles`; how many were deleted.
    async fn delete(&self, handles: Vec<String>) -> Result<usize, QueueError> {
        if handles.is_empty() {
            return Ok(0);
        }
        let entries = handles
            .into_iter()
            .enumerate()
            .map(|(n, handle)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(n.to_string())
                    .receipt_handle(handle)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| QueueError::Delete {
                queue_url: self.queue_url.clone(),
                source: Box::new(e),
            })?;
        let out = self
            .client
            .delete_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| QueueError::Delete {
                queue_url: self.queue_url.clone(),
                source: Box::new(e),
            })?;
        for failed in out.failed() {
            tracing::warn!(
                code = failed.code(),
                reason = failed.message().unwrap_or_default(),
                "cannot delete a message: it will be delivered again (and loaded once)"
            );
        }
        Ok(out.successful().len())
    }
}
