//! Loading one object a notification announced, exactly once: the ingest
//! Lambda (`lambda::ingest`) loads each announced file here, with the same code
//! as `ctt ingest` (`ctt_ingest::pipeline::process_file`). (`ctt serve
//! --sqs-queue-url`, [`crate::sqs`], loads a poll's files together through the
//! pipeline, like every follower.)
//!
//! Exactly once, as for local loads: a file whose ledger entry has this version
//! and outcome `loaded` is not read again (a notification delivered twice), and
//! the store counts a file's events once even when two loaders race on it (see
//! `dynamo::write`). Only the ledger entry of the announced file is read, never
//! the whole ledger. Digest files and other non-log objects are ignored.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use ctt_ingest::pipeline::process_file;
use ctt_ingest::source::classify;
use ctt_ingest::{FileKind, IngestOptions, Source, SourceError, SourceFile};
use ctt_store::{EventStore, FileCounts, FileOutcome, StoreError};

use super::ObjectRef;
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

impl ObjectOutcome {
    /// Whether the object needs no further attempt (it is stored, or not a log).
    pub fn is_done(&self) -> bool {
        !matches!(self, Self::Failed(_))
    }
}

/// Why an object could not be handled; it is worth retrying later.
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

/// Loads announced objects into a store.
#[derive(Clone)]
pub struct ObjectLoader {
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

impl ObjectLoader {
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
    pub async fn load(&self, object: &ObjectRef) -> Result<ObjectOutcome, ObjectError> {
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
}
