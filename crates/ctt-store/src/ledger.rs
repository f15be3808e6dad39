//! The file ledger: one entry per log file ever read, with its outcome.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// What became of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileOutcome {
    /// Read; its records were stored, filtered, found duplicate or rejected.
    Loaded,
    /// Could not be read at all (corrupt gzip, invalid JSON, no `Records`, too big).
    Failed,
}

impl FileOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Loaded => "loaded",
            Self::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Self {
        if raw == "loaded" {
            Self::Loaded
        } else {
            Self::Failed
        }
    }
}

/// Counts of one file's records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FileCounts {
    /// Records in the file.
    pub records: u64,
    /// New events stored.
    pub stored: u64,
    /// Records the filter dropped.
    pub filtered: u64,
    /// Events already stored (same `eventID`).
    pub duplicate: u64,
    /// Records that could not be stored (no `eventID`, bad `eventTime`, …).
    pub rejected: u64,
}

/// One file's ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerEntry {
    /// Where the file is: a path, or `s3://bucket/key`.
    pub key: String,
    pub size: u64,
    /// What identifies this content of the key: modification time or ETag.
    pub version: String,
    pub outcome: FileOutcome,
    /// Why it failed, or which records were rejected.
    pub reason: Option<String>,
    pub counts: FileCounts,
    pub loaded_at: DateTime<Utc>,
    /// Its integrity as `ctt verify --record` last found it (SPEC §14:
    /// `valid`, `modified`, `not-covered`…); none until verified, and none
    /// again once the file is loaded anew.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrity: Option<String>,
    /// The SHA-256 (hex) of its decompressed content, kept when it was
    /// loaded by `ctt ingest --verify` (SPEC §14): the digests are checked
    /// against it without reading the file again. None otherwise, and in a
    /// store that does not keep it (DynamoDB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// One log file's verification (SPEC §14), as `ctt verify --record` and
/// `ctt ingest --verify` hand it to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The file's ledger key.
    pub key: String,
    /// `valid`, `modified`, `missing`, `not-covered`.
    pub status: String,
    /// The `eventID`s of its records, for a file that is present but not
    /// `valid`: the events the portal marks. Empty otherwise.
    pub event_ids: Vec<String>,
}

impl Verdict {
    pub fn new(key: impl Into<String>, status: impl Into<String>) -> Self {
        Verdict {
            key: key.into(),
            status: status.into(),
            event_ids: Vec::new(),
        }
    }

    pub fn is_valid(&self) -> bool {
        self.status == "valid"
    }
}

/// What the recorded verifications found: for `/health` and the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IntegritySummary {
    /// When a verification was last recorded, and how many ledger files it
    /// covered.
    pub last_recorded_at: Option<DateTime<Utc>>,
    pub last_recorded_files: u64,
    /// The ledger's files whose latest verdict is not `valid`, by key.
    pub flagged: Vec<FlaggedFile>,
}

impl IntegritySummary {
    /// How many events came from the flagged files.
    pub fn events_marked(&self) -> u64 {
        self.flagged.iter().map(|f| f.events).sum()
    }
}

/// A ledger file whose latest verdict is not `valid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlaggedFile {
    pub key: String,
    pub status: String,
    /// How many records it held when verified (0 for a missing file: its
    /// events cannot be told apart from others once it is gone).
    pub events: u64,
}
