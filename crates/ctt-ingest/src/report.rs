//! What a load did: the summary printed at its end.

use std::fmt;
use std::time::Duration;

use ctt_core::printable;
use serde::Serialize;

/// Files and records counted over one ingest run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IngestReport {
    /// Log files read and stored (their records may still be filtered or rejected).
    pub files_loaded: u64,
    /// Digest files and non-log objects, not read on purpose.
    pub files_skipped: u64,
    /// Log files that could not be read (listed by `ctt files --failed`).
    pub files_failed: u64,
    /// Log files already in the ledger with the same version.
    pub files_already_loaded: u64,
    pub records_read: u64,
    pub records_stored: u64,
    pub records_filtered: u64,
    pub records_duplicate: u64,
    pub records_rejected: u64,
    /// Bytes fetched (compressed, as stored).
    pub bytes_read: u64,
    /// Bytes after decompression.
    pub bytes_raw: u64,
    #[serde(skip)]
    pub elapsed: Duration,
    /// The first failures, `key: reason`.
    pub failures: Vec<String>,
    /// The first files skipped for what they are rather than for their name
    /// (FIFOs, sockets, devices: never opened), `key: what it is`.
    pub skips: Vec<String>,
}

/// How many failures a report keeps by name.
pub const MAX_REPORTED_FAILURES: usize = 20;

impl IngestReport {
    /// Whether every file was loaded or skipped on purpose.
    pub fn is_clean(&self) -> bool {
        self.files_failed == 0
    }
}

impl fmt::Display for IngestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        writeln!(
            f,
            "files:   {} loaded, {} skipped, {} failed, {} already loaded",
            self.files_loaded, self.files_skipped, self.files_failed, self.files_already_loaded
        )?;
        writeln!(
            f,
            "records: {} read, {} stored, {} filtered, {} duplicate, {} rejected",
            self.records_read,
            self.records_stored,
            self.records_filtered,
            self.records_duplicate,
            self.records_rejected
        )?;
        write!(
            f,
            "time:    {:.2} s, {:.0} records/s, {:.1} MB/s compressed, {:.1} MB/s raw",
            secs,
            self.records_read as f64 / secs,
            self.bytes_read as f64 / 1e6 / secs,
            self.bytes_raw as f64 / 1e6 / secs
        )?;
        // Keys and reasons are written by whoever named the files: escaped.
        for failure in &self.failures {
            write!(f, "\nfailed:  {}", printable(failure))?;
        }
        if self.files_failed as usize > self.failures.len() {
            write!(
                f,
                "\n         … and {} more (ctt files --failed)",
                self.files_failed as usize - self.failures.len()
            )?;
        }
        for skip in &self.skips {
            write!(f, "\nskipped: {}", printable(skip))?;
        }
        Ok(())
    }
}
