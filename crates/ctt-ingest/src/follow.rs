//! Following a place for new log files (`ctt serve --follow`): one driver,
//! [`follow`], for every kind of place, over the [`Follow`] trait each kind
//! implements — a local folder here ([`FolderFollower`]); a bucket's listing
//! and an SQS queue of its notifications in `ctt-aws`.
//!
//! The driver loops until it is cancelled: it asks the follower what is new
//! ([`Follow::poll`]), loads those files through the pipeline ([`ingest`]),
//! tells the follower what became of them ([`Follow::done`]: a queue deletes
//! the messages whose files are stored), logs the outcome and waits for the
//! next poll. A poll or a load that fails is logged and retried after a pause
//! that grows up to a minute: following never stops by itself. [`FollowStatus`]
//! keeps how it goes (the last success, the last error) for whoever asks.
//!
//! Exactly once, as for `ctt ingest`: the ledger decides what is read (a file it
//! holds with the same version is not read again), and a follower only keeps
//! each poll small. The ledger is asked about the polled files only
//! ([`EventStore::loaded_already`]), never read whole. Cancelling drops the step
//! in progress, which the ledger also makes safe: a file is stored whole or not
//! at all, and a queue message not yet deleted is delivered again.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ctt_store::{EventStore, FileOutcome, LedgerEntry};
use tokio::sync::Notify;
pub use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::pipeline::{IngestError, IngestOptions, Observer, error_chain, ingest};
use crate::report::IngestReport;
use crate::source::{Source, SourceFile};

mod folder;
pub use folder::{FolderFollower, PART_FILES};

/// The longest pause before retrying a poll or a load that failed (unless
/// the polls themselves are further apart).
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(60);
/// The first pause after a failure, when polls follow each other at once (a
/// queue's long polls).
const FIRST_RETRY_PAUSE: Duration = Duration::from_secs(1);

/// A place followed for new log files.
///
/// The driver calls [`poll`](Self::poll), loads the files it returns, then
/// calls [`done`](Self::done) with what became of them, before the next poll.
pub trait Follow: Send {
    /// Why a poll or an acknowledgement failed.
    type Error: std::error::Error + Send + Sync + 'static;

    /// What is followed, for logs: a folder, `s3://bucket/prefix`, a queue URL.
    fn location(&self) -> &str;

    /// Fetches the bytes of the files [`poll`](Self::poll) returns.
    fn source(&self) -> Arc<dyn Source>;

    /// The files new since the last poll (on the first, all there are). It may
    /// wait for some (a long poll). A file returned again is not read again if
    /// the ledger has it with the same version.
    fn poll(&mut self) -> impl Future<Output = Result<Vec<SourceFile>, Self::Error>> + Send;

    /// What became of the files of the last poll that succeeded; called after
    /// each one, even when it found nothing.
    fn done(&mut self, outcome: &Outcome) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Woken when something may have changed (a file written in a followed
    /// folder), so the next poll need not wait its interval: a new file is
    /// loaded, and its alerts raised, within a second of landing.
    fn wake(&self) -> Option<Arc<Notify>> {
        None
    }

    /// Whether the next poll has files to return at once (a listing in
    /// parts in progress): the driver then polls again without a pause.
    fn has_more(&self) -> bool {
        false
    }
}

/// The shortest time between two polls, woken or not: a burst of writes
/// does not turn into a listing per file.
const MIN_GAP: Duration = Duration::from_millis(250);

/// What became of a poll's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The load ran to its end: each file is in the ledger, as loaded or as
    /// failed (`failed`: their keys), or was skipped on purpose (not a log).
    Loaded { failed: HashSet<String> },
    /// The load stopped (the store failed): any file of the poll may be
    /// missing from the ledger. Poll them again.
    Interrupted,
}

impl Outcome {
    /// Nothing to load, nothing failed.
    pub fn nothing() -> Self {
        Self::Loaded {
            failed: HashSet::new(),
        }
    }

    /// Whether every file is in the ledger (loaded or failed) or skipped.
    pub fn is_complete(&self) -> bool {
        matches!(self, Self::Loaded { .. })
    }

    /// Whether the file `key` of the poll needs no further attempt: it is
    /// stored (by this load or an earlier one) or skipped on purpose.
    pub fn is_stored(&self, key: &str) -> bool {
        matches!(self, Self::Loaded { failed } if !failed.contains(key))
    }
}

/// How following goes, as of the last poll; see [`FollowStatus`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FollowState {
    /// Polls that succeeded, their files loaded (or recorded as failed).
    pub polls: u64,
    /// Polls, loads or acknowledgements that failed.
    pub errors: u64,
    /// When the last poll that succeeded ended.
    pub last_success_at: Option<DateTime<Utc>>,
    /// Why the last poll failed; `None` once one succeeds again.
    pub last_error: Option<String>,
    /// Files loaded, failed (unreadable) and already in the ledger, and events
    /// stored, since following started.
    pub files_loaded: u64,
    pub files_failed: u64,
    pub files_already_loaded: u64,
    pub events_stored: u64,
}

/// A shared view of [`FollowState`]: the driver updates it after each poll; a
/// clone can be read from anywhere (a health check, a test).
#[derive(Debug, Clone, Default)]
pub struct FollowStatus(Arc<Mutex<FollowState>>);

impl FollowStatus {
    pub fn get(&self) -> FollowState {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn update(&self, change: impl FnOnce(&mut FollowState)) {
        if let Ok(mut state) = self.0.lock() {
            change(&mut state);
        }
    }

    fn succeeded(&self, report: Option<&IngestReport>) {
        self.update(|s| {
            s.polls += 1;
            s.last_success_at = Some(Utc::now());
            s.last_error = None;
            if let Some(r) = report {
                s.files_loaded += r.files_loaded;
                s.files_failed += r.files_failed;
                s.files_already_loaded += r.files_already_loaded;
                s.events_stored += r.records_stored;
            }
        });
    }

    fn failed(&self, error: String) {
        self.update(|s| {
            s.errors += 1;
            s.last_error = Some(error);
        });
    }
}

/// How the driver follows.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// How each poll's files are loaded. Following never bulk-loads (queries
    /// run meanwhile): `bulk_load_files` is ignored.
    pub ingest: IngestOptions,
    /// The shortest time from one poll to the next. Zero when the poll itself
    /// waits (a queue's long poll).
    pub every: Duration,
}

/// Why one step of the driver failed.
enum Failure<E> {
    Poll(E),
    Load(IngestError),
    Done(E),
}

impl<E: std::error::Error + 'static> Failure<E> {
    /// What failed and why, in one line.
    fn describe(&self) -> String {
        match self {
            Self::Poll(e) => format!("cannot poll for new log files: {}", error_chain(e)),
            Self::Load(e) => format!("cannot load new log files: {}", error_chain(e)),
            Self::Done(e) => format!("cannot acknowledge loaded files: {}", error_chain(e)),
        }
    }
}

/// Follows `follower` into `store` until `shutdown` is cancelled: polls, loads
/// what is new exactly once, reports to the follower, logs, and waits
/// `options.every` from one poll's start to the next. Failures are logged,
/// kept in `status` and retried after a growing pause.
pub async fn follow<F: Follow>(
    store: Arc<dyn EventStore>,
    mut follower: F,
    options: FollowOptions,
    status: FollowStatus,
    shutdown: CancellationToken,
) {
    let ingest_options = IngestOptions {
        bulk_load_files: usize::MAX,
        ..options.ingest
    };
    let location = follower.location().to_owned();
    let wake = follower.wake();
    let mut retry = Retry::new(options.every);
    loop {
        let started = Instant::now();
        let step = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            step = step(&store, &mut follower, &ingest_options) => step,
        };
        let pause = match step {
            Ok(report) => {
                retry.reset();
                log_loaded(&location, report.as_ref());
                status.succeeded(report.as_ref());
                if follower.has_more() {
                    Duration::ZERO
                } else {
                    options.every.saturating_sub(started.elapsed())
                }
            }
            Err(failure) => {
                let pause = retry.next_pause();
                let retry_in_secs = pause.as_secs_f64();
                match &failure {
                    Failure::Poll(e) => warn!(%location, error = %error_chain(e), retry_in_secs,
                        "cannot poll for new log files; will retry"),
                    Failure::Load(e) => warn!(%location, error = %error_chain(e), retry_in_secs,
                        "cannot load new log files; will retry"),
                    Failure::Done(e) => warn!(%location, error = %error_chain(e), retry_in_secs,
                        "cannot acknowledge loaded files; will retry"),
                }
                status.failed(failure.describe());
                pause
            }
        };
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(pause) => {}
            () = woken(wake.as_deref()) => {
                tokio::time::sleep(MIN_GAP.saturating_sub(started.elapsed())).await;
            }
        }
    }
    info!(%location, "stopped following");
}

/// Completes when `wake` is notified; never without one.
async fn woken(wake: Option<&Notify>) {
    match wake {
        Some(wake) => wake.notified().await,
        None => std::future::pending().await,
    }
}

/// One poll, its load and its acknowledgement; the load's report, if there
/// was anything to load.
async fn step<F: Follow>(
    store: &Arc<dyn EventStore>,
    follower: &mut F,
    options: &IngestOptions,
) -> Result<Option<IngestReport>, Failure<F::Error>> {
    let files = follower.poll().await.map_err(Failure::Poll)?;
    if files.is_empty() {
        follower
            .done(&Outcome::nothing())
            .await
            .map_err(Failure::Done)?;
        return Ok(None);
    }
    let failed = FailedFiles::default();
    let loaded = ingest(store.clone(), follower.source(), files, options, &failed).await;
    let outcome = match &loaded {
        Ok(_) => Outcome::Loaded {
            failed: failed.take(),
        },
        Err(_) => Outcome::Interrupted,
    };
    let done = follower.done(&outcome).await;
    let report = match loaded {
        Ok(report) => report,
        Err(error) => {
            if let Err(e) = done {
                warn!(location = %follower.location(), error = %error_chain(&e),
                    "cannot acknowledge an interrupted load");
            }
            return Err(Failure::Load(error));
        }
    };
    done.map_err(Failure::Done)?;
    Ok(Some(report))
}

/// Logs what a poll loaded: a line when files were read, one per failure.
fn log_loaded(location: &str, report: Option<&IngestReport>) {
    let Some(report) = report else {
        debug!(%location, "no new log files");
        return;
    };
    if report.files_loaded + report.files_failed == 0 {
        debug!(%location, files_already_loaded = report.files_already_loaded,
            "no new log files");
        return;
    }
    info!(
        %location,
        files_loaded = report.files_loaded,
        files_failed = report.files_failed,
        files_already_loaded = report.files_already_loaded,
        events_stored = report.records_stored,
        "loaded new log files"
    );
    for failure in &report.failures {
        warn!(%location, %failure, "a followed file could not be loaded");
    }
}

/// Collects the keys of the files a load recorded as failed.
#[derive(Default)]
struct FailedFiles(Mutex<HashSet<String>>);

impl FailedFiles {
    fn take(&self) -> HashSet<String> {
        self.0
            .lock()
            .map(|mut keys| std::mem::take(&mut *keys))
            .unwrap_or_default()
    }
}

impl Observer for FailedFiles {
    fn committed(&self, files: &[LedgerEntry], _report: &IngestReport) {
        if let Ok(mut keys) = self.0.lock() {
            keys.extend(
                files
                    .iter()
                    .filter(|f| f.outcome == FileOutcome::Failed)
                    .map(|f| f.key.clone()),
            );
        }
    }
}

/// The pause before retrying: from the poll interval (or a second), doubling
/// after each failure in a row, up to a minute (or the poll interval).
struct Retry {
    first: Duration,
    next: Duration,
    max: Duration,
}

impl Retry {
    fn new(every: Duration) -> Self {
        let first = if every.is_zero() {
            FIRST_RETRY_PAUSE
        } else {
            every
        };
        Self {
            first,
            next: first,
            max: every.max(MAX_RETRY_PAUSE),
        }
    }

    fn next_pause(&mut self) -> Duration {
        let pause = self.next;
        self.next = (pause * 2).min(self.max);
        pause
    }

    fn reset(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_longer_up_to_a_minute() {
        let mut retry = Retry::new(Duration::from_secs(5));
        let pauses: Vec<u64> = (0..6).map(|_| retry.next_pause().as_secs()).collect();
        assert_eq!(pauses, [5, 10, 20, 40, 60, 60]);
        retry.reset();
        assert_eq!(retry.next_pause(), Duration::from_secs(5));
        // A queue's long polls: from a second.
        let mut retry = Retry::new(Duration::ZERO);
        assert_eq!(retry.next_pause(), Duration::from_secs(1));
        assert_eq!(retry.next_pause(), Duration::from_secs(2));
        // Polls further apart than a minute: retried at that pace.
        let mut retry = Retry::new(Duration::from_secs(300));
        assert_eq!(retry.next_pause(), Duration::from_secs(300));
        assert_eq!(retry.next_pause(), Duration::from_secs(300));
    }

    #[test]
    fn an_interrupted_load_stores_nothing_for_sure() {
        let outcome = Outcome::Loaded {
            failed: HashSet::from(["bad".to_owned()]),
        };
        assert!(outcome.is_complete());
        assert!(outcome.is_stored("good"));
        assert!(!outcome.is_stored("bad"));
        assert!(!Outcome::Interrupted.is_complete());
        assert!(!Outcome::Interrupted.is_stored("good"));
    }
}
