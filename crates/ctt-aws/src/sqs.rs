//! Following a bucket through an SQS queue that receives its notifications
//! (`ctt serve --follow s3://bucket/prefix --sqs-queue-url URL`): the queue the
//! deployment's ingest Lambda reads (`deploy/template.yaml`), or any queue a
//! bucket notification or an EventBridge rule sends to.
//!
//! [`QueueFollower`] implements [`Follow`], so `ctt_ingest::follow::follow`
//! drives it like a folder or a bucket listing. Each poll long-polls for up to
//! 10 messages, reads each body with the Lambda's parser
//! ([`crate::notification::objects_of_message`]: an S3 notification, S3's test
//! event, or an EventBridge "Object Created") and returns the announced log
//! files under the followed location, each once, versioned by the ETag the
//! message carries (or a `HeadObject`'s). The driver loads them through the
//! pipeline (the ledger makes it exactly once: a file delivered twice, or
//! announced twice, is read once) and then calls [`Follow::done`], which deletes
//! a message only once every file it announces is stored. A message whose file
//! failed (unreadable, or S3 or the store unavailable) is left in the queue: SQS
//! delivers it again after the queue's visibility timeout, and its redrive
//! policy moves it to a dead-letter queue after a few attempts. So is a message
//! that cannot be read.
//!
//! Objects of other buckets, or outside the followed prefix, are not loaded;
//! their messages are deleted like those of digest files: the queue is meant
//! for this follower.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use ctt_ingest::follow::{Follow, Outcome};
use ctt_ingest::source::classify;
use ctt_ingest::{FileKind, Source, SourceFile, error_chain};

use crate::notification::{ObjectRef, objects_of_message};
use crate::s3::{S3Source, S3Uri};

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

/// A message received, until its files are loaded.
struct Received {
    id: String,
    receipt_handle: String,
    /// The ledger keys of the log files it announces.
    keys: Vec<String>,
}

/// Reads a queue of notifications: what is new is what its messages announce.
pub struct QueueFollower {
    client: Client,
    queue_url: String,
    location: S3Uri,
    /// `location` and the queue, for logs.
    shown: String,
    source: S3Source,
    wait: Duration,
    /// The messages of the last poll that may be deleted once their files are
    /// stored, and how many were received in all.
    pending: Vec<Received>,
    received: usize,
}

impl QueueFollower {
    /// Follows `location` (`s3://bucket/prefix`) through the queue at
    /// `queue_url`, long-polling [`MAX_WAIT`]; `source` fetches the files.
    pub fn new(client: Client, queue_url: &str, location: S3Uri, source: S3Source) -> Self {
        Self {
            client,
            queue_url: queue_url.to_owned(),
            shown: format!("{location} through {queue_url}"),
            location,
            source,
            wait: MAX_WAIT,
            pending: Vec::new(),
            received: 0,
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

    /// The log files of one message's objects, into `files` (by key, each
    /// once); their keys, or `None` if one's version cannot be read (the
    /// message is then kept, to be delivered again).
    async fn files_of(
        &self,
        message: &str,
        objects: Vec<ObjectRef>,
        files: &mut HashMap<String, SourceFile>,
    ) -> Option<Vec<String>> {
        let mut keys = Vec::new();
        let mut complete = true;
        for object in objects {
            if !self.followed(&object) {
                tracing::info!(message, bucket = %object.bucket, key = %object.key,
                    followed = %self.location, "ignoring an object outside the followed location");
                continue;
            }
            let location = S3Uri::new(&object.bucket, &object.key);
            let key = location.to_string();
            if classify(&key) != FileKind::Log {
                tracing::info!(message, %key, "ignoring an object that is not a log file");
                continue;
            }
            if !files.contains_key(&key) {
                let version = match object.etag {
                    Some(etag) => etag,
                    None => match self.source.version(&location).await {
                        Ok(version) => version,
                        Err(error) => {
                            tracing::warn!(message, %key, error = %error_chain(&error),
                                "cannot read an announced file's version: its message is left for redelivery");
                            complete = false;
                            continue;
                        }
                    },
                };
                let file = SourceFile {
                    key: key.clone(),
                    size: object.size.unwrap_or(0),
                    version,
                    kind: FileKind::Log,
                };
                files.insert(key.clone(), file);
            }
            keys.push(key);
        }
        complete.then_some(keys)
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

impl Follow for QueueFollower {
    type Error = QueueError;

    fn location(&self) -> &str {
        &self.shown
    }

    fn source(&self) -> Arc<dyn Source> {
        Arc::new(self.source.clone())
    }

    /// Receives up to 10 messages (waiting for one up to the long-poll time):
    /// the log files they announce.
    async fn poll(&mut self) -> Result<Vec<SourceFile>, QueueError> {
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
        let mut files = HashMap::new();
        let mut pending = Vec::new();
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
            let keys = self.files_of(id, objects, &mut files).await;
            if let (Some(keys), Some(handle)) = (keys, message.receipt_handle()) {
                pending.push(Received {
                    id: id.to_owned(),
                    receipt_handle: handle.to_owned(),
                    keys,
                });
            }
        }
        self.received = out.messages().len();
        self.pending = pending;
        let mut files: Vec<SourceFile> = files.into_values().collect();
        files.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(files)
    }

    /// Deletes the messages whose files are all stored; the others are left
    /// for redelivery.
    async fn done(&mut self, outcome: &Outcome) -> Result<(), QueueError> {
        let received = std::mem::take(&mut self.received);
        let (done, left): (Vec<Received>, Vec<Received>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|m| m.keys.iter().all(|key| outcome.is_stored(key)));
        for message in &left {
            tracing::warn!(message = %message.id,
                "a file it announces is not stored: the message is left for redelivery");
        }
        let deleted = self
            .delete(done.into_iter().map(|m| m.receipt_handle).collect())
            .await?;
        if received > 0 {
            tracing::info!(queue = %self.queue_url, messages = received, deleted,
                kept = received - deleted, "handled the messages received");
        }
        Ok(())
    }
}
