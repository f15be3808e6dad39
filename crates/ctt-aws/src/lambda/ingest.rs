//! The ingest Lambda: each new log file announced by S3 (directly, through SQS,
//! or by EventBridge) is read, normalised, filtered and stored with the same
//! code as `ctt ingest` (`ctt_ingest::pipeline::process_file`), exactly once.
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

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse};
use chrono::Utc;
use ctt_ingest::pipeline::process_file;
use ctt_ingest::source::classify;
use ctt_ingest::{FileKind, IngestOptions, Source, SourceError, SourceFile};
use ctt_store::{EventStore, FileCounts, FileOutcome, StoreError};
use serde_json::{Value, json};

use super::notification::{Invocation, ObjectRef, read_invocation};
use crate::s3::{S3Error, S3Source, S3Uri};

/// What became of one announced object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectOutcome {
    /// Read and stored (its records may still be filtered or duplicates).
    Loaded(FileCounts),
    /// Already in the ledger with this version: not read again.
    AlreadyLoaded,
    /// A digest file or another non-log object: not read.
    Skipped,
    /// Unreadable (corrupt gzip, invalid JSON…): recorded in the ledger as failed.
    Failed(String),
}

/// Why an object could not be handled; AWS retries the invocation or message.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("cannot fetch {key}")]
    Fetch {
        key: String,
        #[source]
        source: S3Error,
    },
    #[error("cannot store {key}")]
    Store {
        key: String,
        #[source]
        source: StoreError,
    },
    #[error("reading {key} was interrupted")]
    Task {
        key: String,
        #[source]
        source: tokio::task::JoinError,
    },
}

/// Loads the objects of ingest invocations.
pub struct IngestHandler {
    store: Arc<dyn EventStore>,
    source: S3Source,
    options: IngestOptions,
}

/// Bytes already fetched, handed to the pipeline's `process_file` once.
struct Fetched(Mutex<Option<Vec<u8>>>);

impl Source for Fetched {
    fn fetch(&self, file: &SourceFile) -> Result<Vec<u8>, SourceError> {
        self.0
            .lock()
            .ok()
            .and_then(|mut bytes| bytes.take())
            .ok_or_else(|| SourceError::Fetch {
                key: file.key.clone(),
                source: "the file's bytes were already used".into(),
            })
    }
}

impl IngestHandler {
    pub fn new(store: Arc<dyn EventStore>, source: S3Source, options: IngestOptions) -> Self {
        Self {
            store,
            source,
            options,
        }
    }

    /// Whether the ledger has this version of `key` as loaded.
    async fn already_loaded(&self, key: &str, version: &str) -> Result<bool, ObjectError> {
        let entry = self
            .store
            .ledger_entry(key)
            .await
            .map_err(|source| ObjectError::Store {
                key: key.to_owned(),
                source,
            })?;
        Ok(entry.is_some_and(|e| e.version == version && e.outcome == FileOutcome::Loaded))
    }

    /// Loads one object, exactly once.
    pub async fn load_object(&self, object: &ObjectRef) -> Result<ObjectOutcome, ObjectError> {
        let location = S3Uri::new(&object.bucket, &object.key);
        let key = location.to_string();
        if classify(&key) != FileKind::Log {
            tracing::info!(%key, "ignoring an object that is not a log file");
            return Ok(ObjectOutcome::Skipped);
        }
        if let Some(etag) = &object.etag
            && self.already_loaded(&key, etag).await?
        {
            tracing::info!(%key, "already loaded");
            return Ok(ObjectOutcome::AlreadyLoaded);
        }
        let (bytes, version) = self
            .source
            .get_with_version(&location)
            .await
            .map_err(|source| ObjectError::Fetch {
                key: key.clone(),
                source,
            })?;
        let version = version
            .or_else(|| object.etag.clone())
            .unwrap_or_else(|| format!("{}:{}", bytes.len(), Utc::now().timestamp()));
        if object.etag.as_deref() != Some(version.as_str())
            && self.already_loaded(&key, &version).await?
        {
            return Ok(ObjectOutcome::AlreadyLoaded);
        }
        let file = SourceFile {
            key: key.clone(),
            size: bytes.len() as u64,
            version,
            kind: FileKind::Log,
        };
        let (options, indexed) = (
            self.options.clone(),
            self.store.indexed_parameters().to_vec(),
        );
        let source = Fetched(Mutex::new(Some(bytes)));
        let loaded = tokio::task::spawn_blocking(move || {
            // Every parameter name travels with the file: the store's
            // catalog ignores those it has.
            process_file(&source, &file, &options, &indexed, &mut HashSet::new())
        })
        .await
        .map_err(|source| ObjectError::Task {
            key: key.clone(),
            source,
        })?;
        let failed = (loaded.entry.outcome == FileOutcome::Failed)
            .then(|| loaded.entry.reason.clone().unwrap_or_default());
        let counts = self
            .store
            .load(vec![loaded])
            .await
            .map_err(|source| ObjectError::Store {
                key: key.clone(),
                source,
            })?;
        Ok(match failed {
            Some(reason) => {
                tracing::warn!(%key, %reason, "log file recorded as failed");
                ObjectOutcome::Failed(reason)
            }
            None => {
                let counts = counts.first().copied().unwrap_or_default();
                tracing::info!(%key, stored = counts.stored, duplicate = counts.duplicate,
                    filtered = counts.filtered, "log file loaded");
                ObjectOutcome::Loaded(counts)
            }
        })
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
        match read_invocation(payload)? {
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

/// `error: cause: cause`.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
