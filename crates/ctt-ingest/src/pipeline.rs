//! The load: parsing threads feed one writer; the writer commits batches.
//!
//! ```text
//! files ──► N threads: fetch → read → normalise → filter → index ──► channel
//!                                                                      │
//!            store.load(batch of files: events + catalog + ledger) ◄───┘
//! ```
//!
//! Exactly once: a file's ledger entry is committed in the same transaction as its
//! events, and a file already in the ledger with the same version is not read
//! again. A run killed at any point leaves whole files stored or not at all;
//! the next run reads the rest, and `eventID` uniqueness absorbs re-deliveries.

use std::borrow::Cow;
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use ctt_core::resources::Catalogue;
use ctt_core::{Event, Filter, RecordHead, check, normalise};
use ctt_detect::{Rule, RuleSet};
use ctt_store::{
    Alert, EventStore, FileCounts, FileOutcome, IndexedEvent, LedgerEntry, LoadedFile,
    RecordEncoder, RecordJson, StoreError,
};
use thread_priority::{ThreadPriority, set_current_thread_priority};
use tokio::sync::mpsc;

use crate::budget::MemoryBudget;
use crate::read::{self, DEFAULT_MAX_FILE_BYTES};
use crate::report::{IngestReport, MAX_REPORTED_FAILURES};
use crate::source::{FileKind, Source, SourceError, SourceFile};

/// How a load runs.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Parsing threads (default: one per core).
    pub workers: usize,
    pub filter: Filter,
    /// Commit once a batch holds this many events…
    pub batch_events: usize,
    /// …or this many files…
    pub batch_files: usize,
    /// …or has waited this long.
    pub batch_wait: Duration,
    /// Size above which a file fails, as stored or decompressed.
    pub max_file_bytes: u64,
    /// File bytes (as fetched and decompressed) the parsing threads hold at
    /// once; a file larger than this is read alone ([`MemoryBudget`]).
    pub in_flight_bytes: u64,
    /// From this many files to load, the store is told a bulk load starts
    /// ([`EventStore::begin_bulk_load`]).
    pub bulk_load_files: usize,
    /// When set, the SHA-256 of each log file's decompressed content is
    /// computed as it is read and kept in its ledger entry
    /// ([`LedgerEntry::sha256`]), so `ctt ingest --verify` checks the digests
    /// without reading the logs a second time (SPEC §14).
    pub hash_files: bool,
    /// The detection rules (SPEC §12), tried on every record before the
    /// storage filter: their hits are stored with the file as alerts.
    pub rules: Option<Arc<RuleSet>>,
    /// The resource catalogue (SPEC §11): which stored events create, stop,
    /// start or delete what.
    pub catalogue: Arc<Catalogue>,
}

/// A bulk load's batches are this many times larger (events, files, wait). Each
/// commit rewrites every page its inserts touched, and the inserts into
/// `eventID`'s unique index and the hourly counts land all over them: for the
/// `paper` preset, 4× larger batches write 5.1 GB instead of 6.7 GB. Memory
/// stays bounded by two batches (one filling, one committing).
const BULK_BATCH_FACTOR: u32 = 4;

impl IngestOptions {
    /// These options with a bulk load's larger batches.
    fn with_bulk_batches(&self) -> Self {
        Self {
            batch_events: self.batch_events * BULK_BATCH_FACTOR as usize,
            batch_files: self.batch_files * BULK_BATCH_FACTOR as usize,
            batch_wait: self.batch_wait * BULK_BATCH_FACTOR,
            ..self.clone()
        }
    }
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            filter: Filter::default(),
            batch_events: 20_000,
            batch_files: 5_000,
            batch_wait: Duration::from_millis(500),
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            in_flight_bytes: DEFAULT_IN_FLIGHT_BYTES,
            bulk_load_files: 10_000,
            hash_files: false,
            rules: None,
            catalogue: Arc::new(Catalogue::builtin()),
        }
    }
}

/// The default of [`IngestOptions::in_flight_bytes`].
pub const DEFAULT_IN_FLIGHT_BYTES: u64 = 256 * 1024 * 1024;

/// Follows a load: the CLI draws a progress bar, `serve --follow` logs.
pub trait Observer: Send + Sync {
    /// Files about to be read, and their total size.
    fn planned(&self, _files: u64, _bytes: u64) {}
    /// A batch was committed; `report` holds the totals so far.
    fn committed(&self, _files: &[LedgerEntry], _report: &IngestReport) {}
}

/// An observer that does nothing.
pub struct Silent;
impl Observer for Silent {}

/// What a load could not survive: the store itself failing.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot list the files to load")]
    List(#[source] SourceError),
    #[error("cannot read the ledger")]
    Ledger(#[source] StoreError),
    #[error("cannot prepare or finish the store's bulk load")]
    BulkLoad(#[source] StoreError),
    #[error("cannot store a batch of {files} files")]
    Store {
        files: usize,
        #[source]
        source: StoreError,
    },
}

/// Loads `files` from `source` into `store`. Bad files are recorded and skipped;
/// only a failing store stops the load.
pub async fn ingest(
    store: Arc<dyn EventStore>,
    source: Arc<dyn Source>,
    files: Vec<SourceFile>,
    options: &IngestOptions,
    observer: &dyn Observer,
) -> Result<IngestReport, IngestError> {
    let parts = std::iter::once(Ok(files));
    ingest_parts(store, source, parts, options, observer).await
}

/// [`ingest`] of a listing given in parts (see
/// [`crate::LocalSource::list_in_parts`]), the next listed while one loads:
/// the load holds a part or two of the listing at a time, whatever the
/// number of files. One bulk load spans the parts, decided as [`ingest`]
/// decides it, on the first `bulk_load_files` files to load (or all there
/// are); the totals the observer is told grow with each part.
pub async fn ingest_parts<P>(
    store: Arc<dyn EventStore>,
    source: Arc<dyn Source>,
    parts: P,
    options: &IngestOptions,
    observer: &dyn Observer,
) -> Result<IngestReport, IngestError>
where
    P: Iterator<Item = Result<Vec<SourceFile>, SourceError>> + Send + 'static,
{
    let started = Instant::now();
    let mut report = IngestReport::default();
    let mut planned = (0u64, 0u64);
    let mut bulk: Option<bool> = None;
    let mut batches = options.clone();
    // Listing is system calls, off the async threads; the next part is
    // listed while this one loads.
    let list_next = |mut parts: P| {
        tokio::task::spawn_blocking(move || {
            let part = parts.next();
            (parts, part)
        })
    };
    let mut listing = Some(list_next(parts));
    // Files to load, held until the bulk load is decided: on at least
    // `bulk_load_files` of them, or on all there are.
    let mut held: Vec<SourceFile> = Vec::new();
    let loaded = loop {
        let mut ended = true;
        if let Some(next) = listing.take() {
            // A failure ends the bulk load below, as a failing part does.
            let (rest, part) = match next.await {
                Ok(listed) => listed,
                Err(e) => {
                    break Err(IngestError::List(SourceError::List {
                        location: "a listing task".to_owned(),
                        source: Box::new(e),
                    }));
                }
            };
            if let Some(part) = part {
                let todo = match part {
                    Ok(files) => to_load(store.as_ref(), files, &mut report).await,
                    Err(e) => Err(IngestError::List(e)),
                };
                match todo {
                    Ok(todo) => held.extend(todo),
                    Err(e) => break Err(e),
                }
                listing = Some(list_next(rest));
                ended = false;
            }
        }
        let threshold = options.bulk_load_files.max(1);
        if bulk.is_none() && held.len() < threshold && !ended {
            continue; // list more before deciding
        }
        if held.is_empty() {
            if ended {
                break Ok(());
            }
            continue;
        }
        planned.0 += held.len() as u64;
        planned.1 += held.iter().map(|f| f.size).sum::<u64>();
        observer.planned(planned.0, planned.1);
        if bulk.is_none() {
            let begun = held.len() >= threshold
                && store
                    .begin_bulk_load()
                    .await
                    .map_err(IngestError::BulkLoad)?;
            if begun {
                batches = options.with_bulk_batches();
            }
            bulk = Some(begun);
        }
        let todo = std::mem::take(&mut held);
        let source = Arc::clone(&source);
        if let Err(e) = load(&store, source, todo, &batches, observer, &mut report).await {
            break Err(e);
        }
        if ended {
            break Ok(());
        }
    };
    if bulk == Some(true) {
        tracing::info!("building the store's query indexes");
        let ended = store.end_bulk_load().await;
        loaded?;
        ended.map_err(IngestError::BulkLoad)?;
    } else {
        loaded?;
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// The log files of `files` the ledger does not hold yet. Entries the
/// listing could not read go on as log files: each becomes a failed ledger
/// entry with its reason. The rest is skipped and counted; files that are
/// not regular files are also named, with what they are.
async fn to_load(
    store: &dyn EventStore,
    files: Vec<SourceFile>,
    report: &mut IngestReport,
) -> Result<Vec<SourceFile>, IngestError> {
    let mut logs = Vec::new();
    for file in files {
        match &file.kind {
            FileKind::Log | FileKind::Unreadable(_) => logs.push(file),
            FileKind::Special(what) => {
                tracing::warn!(key = ?file.key, what, "skipping a file that is not a regular file");
                report.files_skipped += 1;
                if report.skips.len() < MAX_REPORTED_FAILURES {
                    report
                        .skips
                        .push(format!("{}: {what}, not a regular file", file.key));
                }
            }
            FileKind::Digest | FileKind::Other => report.files_skipped += 1,
        }
    }
    let asked = logs
        .iter()
        .map(|f| (f.key.clone(), f.version.clone()))
        .collect();
    let done = store
        .loaded_already(asked)
        .await
        .map_err(IngestError::Ledger)?;
    let mut todo = Vec::new();
    for (file, done) in logs.into_iter().zip(done) {
        if done {
            report.files_already_loaded += 1;
        } else {
            todo.push(file);
        }
    }
    Ok(todo)
}

/// The parsing threads and the writer loop of [`ingest`].
async fn load(
    store: &Arc<dyn EventStore>,
    source: Arc<dyn Source>,
    todo: Vec<SourceFile>,
    options: &IngestOptions,
    observer: &dyn Observer,
    report: &mut IngestReport,
) -> Result<(), IngestError> {
    let (sender, mut receiver) = mpsc::channel::<LoadedFile>(256);
    let todo = Arc::new(Listing::new(todo));
    let indexed: Arc<[String]> = store.indexed_parameters().into();
    let budget = Arc::new(MemoryBudget::new(options.in_flight_bytes));
    let mut workers = Vec::new();
    for _ in 0..options.workers.max(1) {
        let (todo, sender, indexed, budget) = (
            Arc::clone(&todo),
            sender.clone(),
            Arc::clone(&indexed),
            Arc::clone(&budget),
        );
        let (source, options, store) = (Arc::clone(&source), options.clone(), Arc::clone(store));
        workers.push(std::thread::spawn(move || {
            // The single writer is the load's critical path: when it is ready to
            // run, it runs, and the parsing threads take the rest of the CPU.
            // (Lowering a thread's own priority needs no privilege.)
            if let Err(e) = set_current_thread_priority(ThreadPriority::Min) {
                tracing::debug!(error = %e, "cannot lower a parsing thread's priority");
            }
            let mut seen = HashSet::new();
            let alerts_read_stored_records = store.alerts_read_stored_records();
            // The store's record compression, on this thread once it has a
            // dictionary (after its first commits): the writer then stores
            // what the parsing threads compressed, and the batches it waits
            // for hold records ~7 times smaller.
            let mut encoder: Option<RecordEncoder> = None;
            while let Some(file) = todo.take() {
                // The store's latest: it trains a second one, later.
                if let Some(codec) = store.record_codec()
                    && encoder.as_ref().is_none_or(|e| !e.codec().same(&codec))
                {
                    match codec.encoder() {
                        Ok(built) => encoder = Some(built),
                        Err(e) => tracing::warn!(error = %e, "records travel uncompressed"),
                    }
                }
                let loaded = process_file_within(
                    source.as_ref(),
                    &file,
                    &options,
                    &indexed,
                    &mut seen,
                    &budget,
                    StoreForm {
                        encoder: encoder.as_mut(),
                        alerts_read_stored_records,
                    },
                );
                if sender.blocking_send(loaded).is_err() {
                    return; // the writer stopped: the store failed
                }
            }
        }));
    }
    drop(sender);

    // One batch commits while the next one fills: the parsing threads never wait
    // for the writer unless it falls a whole batch behind.
    let mut batch: Vec<LoadedFile> = Vec::new();
    let mut batch_events = 0;
    let mut batch_started = Instant::now();
    let mut in_flight: Option<Commit> = None;
    // A store without its record codec yet gets a first batch just large
    // enough to train it on (see EventStore::records_before_codec).
    let mut first_batch_events = store.records_before_codec();
    loop {
        let deadline = options.batch_wait.saturating_sub(batch_started.elapsed());
        let received = if batch.is_empty() {
            receiver.recv().await.map(Some)
        } else {
            match tokio::time::timeout(deadline, receiver.recv()).await {
                Ok(item) => item.map(Some),
                Err(_) => Some(None),
            }
        };
        let finished = match received {
            Some(Some(file)) => {
                if batch.is_empty() {
                    batch_started = Instant::now();
                }
                batch_events += file.events.len();
                batch.push(file);
                false
            }
            Some(None) => false, // waited long enough: commit what we have
            None => true,
        };
        let full = batch_events >= options.batch_events
            || batch.len() >= options.batch_files
            || batch_started.elapsed() >= options.batch_wait
            || first_batch_events.is_some_and(|n| batch_events as u64 >= n);
        if !batch.is_empty() && (full || finished) {
            first_batch_events = None;
            if let Some(previous) = in_flight.take() {
                previous.finish(report, observer).await?;
            }
            in_flight = Some(Commit::start(store, std::mem::take(&mut batch)));
            batch_events = 0;
        }
        if finished {
            break;
        }
    }
    if let Some(last) = in_flight.take() {
        last.finish(report, observer).await?;
    }
    for worker in workers {
        let _ = worker.join();
    }
    Ok(())
}

/// The files left to load, taken one at a time by the parsing threads: each
/// is let go of once taken, and the list's storage shrinks as it empties, so
/// that what a listing holds (a few hundred bytes a file, ~130 MB for a year
/// of a busy account) is given back while the load runs, not kept to its end.
struct Listing(Mutex<VecDeque<SourceFile>>);

impl Listing {
    fn new(files: Vec<SourceFile>) -> Self {
        Self(Mutex::new(files.into()))
    }

    fn take(&self) -> Option<SourceFile> {
        let mut files = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let file = files.pop_front();
        let capacity = files.capacity();
        if capacity > 1024 && files.len() < capacity / 4 {
            files.shrink_to(capacity / 2);
        }
        file
    }

    /// How many files are left, and how many the storage holds room for.
    #[cfg(test)]
    fn held(&self) -> (usize, usize) {
        let files = self.0.lock().unwrap_or_else(|e| e.into_inner());
        (files.len(), files.capacity())
    }
}

/// A batch being committed by the store, in a task of its own.
struct Commit {
    entries: Vec<LedgerEntry>,
    raw_bytes: u64,
    task: tokio::task::JoinHandle<Result<Vec<FileCounts>, StoreError>>,
}

impl Commit {
    fn start(store: &Arc<dyn EventStore>, batch: Vec<LoadedFile>) -> Self {
        let entries = batch.iter().map(|f| f.entry.clone()).collect();
        let raw_bytes = batch.iter().map(|f| f.raw_bytes).sum();
        let store = Arc::clone(store);
        let task = tokio::spawn(async move { store.load(batch).await });
        Self {
            entries,
            raw_bytes,
            task,
        }
    }

    /// Waits for the commit, then adds its files to `report`.
    async fn finish(
        self,
        report: &mut IngestReport,
        observer: &dyn Observer,
    ) -> Result<(), IngestError> {
        let Self {
            mut entries,
            raw_bytes,
            task,
        } = self;
        let files = entries.len();
        let counts = match task.await {
            Ok(result) => result.map_err(|source| IngestError::Store { files, source })?,
            Err(join) => {
                return Err(IngestError::Store {
                    files,
                    source: StoreError::Task(Box::new(join)),
                });
            }
        };
        report.bytes_raw += raw_bytes;
        for (entry, counts) in entries.iter_mut().zip(counts) {
            entry.counts = counts;
            report.bytes_read += entry.size;
            report.records_read += counts.records;
            report.records_stored += counts.stored;
            report.records_filtered += counts.filtered;
            report.records_duplicate += counts.duplicate;
            report.records_rejected += counts.rejected;
            match entry.outcome {
                FileOutcome::Loaded => report.files_loaded += 1,
                FileOutcome::Failed => {
                    report.files_failed += 1;
                    if report.failures.len() < MAX_REPORTED_FAILURES {
                        let reason = entry.reason.as_deref().unwrap_or("unknown reason");
                        report.failures.push(format!("{}: {reason}", entry.key));
                    }
                }
            }
        }
        observer.committed(&entries, report);
        Ok(())
    }
}

/// How many rejected records a ledger reason names.
const NAMED_REJECTIONS: usize = 3;

/// The most new parameter names one record may add to the catalog of
/// `/parameters` (a record with 200,000 map keys would add 200,000). The
/// record is still stored whole, and a name past the bound still works in a
/// `param` filter: it is only not listed.
pub const MAX_NEW_NAMES_PER_RECORD: usize = 500;

/// The most new parameter names one log file may add to the catalog.
pub const MAX_NEW_NAMES_PER_FILE: usize = 5_000;

/// Fetches, reads, normalises, filters and indexes one file. Never fails: a bad
/// file becomes a `Failed` ledger entry with its reason.
///
/// `seen` holds the parameter names this thread already reported; only new ones
/// travel with the file (the store's catalog ignores names it has).
pub fn process_file(
    source: &dyn Source,
    file: &SourceFile,
    options: &IngestOptions,
    indexed: &[String],
    seen: &mut HashSet<String>,
) -> LoadedFile {
    let alone = MemoryBudget::unlimited();
    process_file_within(
        source,
        file,
        options,
        indexed,
        seen,
        &alone,
        StoreForm::default(),
    )
}

/// The form the store takes a file's records in.
#[derive(Default)]
pub struct StoreForm<'a> {
    /// Compresses the records kept, and alerts' records, as the store keeps
    /// them ([`EventStore::record_codec`]); `None`: they travel as text.
    pub encoder: Option<&'a mut RecordEncoder>,
    /// [`EventStore::alerts_read_stored_records`]: an alert on a kept event
    /// carries no text of its record.
    pub alerts_read_stored_records: bool,
}

/// [`process_file`], holding the file's bytes (fetched, then decompressed)
/// within `budget`, shared with the other threads of the load. The file's
/// records borrow its decompressed bytes, so they are held until it is done.
/// Its records are handed over in the store's `form`.
pub fn process_file_within(
    source: &dyn Source,
    file: &SourceFile,
    options: &IngestOptions,
    indexed: &[String],
    seen: &mut HashSet<String>,
    budget: &MemoryBudget,
    form: StoreForm<'_>,
) -> LoadedFile {
    let StoreForm {
        mut encoder,
        alerts_read_stored_records,
    } = form;
    let mut entry = LedgerEntry {
        key: file.key.clone(),
        size: file.size,
        version: file.version.clone(),
        outcome: FileOutcome::Loaded,
        reason: None,
        counts: FileCounts::default(),
        loaded_at: Utc::now(),
        integrity: None,
        sha256: None,
    };
    let failed = |mut entry: LedgerEntry, reason: String| {
        tracing::warn!(key = ?entry.key, %reason, "skipping unreadable log file");
        entry.outcome = FileOutcome::Failed;
        entry.reason = Some(reason);
        LoadedFile {
            entry,
            events: Vec::new(),
            parameter_names: Vec::new(),
            raw_bytes: 0,
            alerts: Vec::new(),
        }
    };
    if let FileKind::Unreadable(reason) = &file.kind {
        return failed(entry, reason.clone());
    }
    if file.size > options.max_file_bytes {
        let e = read::ReadError::FileTooLarge {
            size: file.size,
            limit: options.max_file_bytes,
        };
        return failed(entry, e.to_string());
    }
    let mut held = budget.reservation();
    held.resize(file.size);
    let bytes = match source.fetch(file) {
        Ok(bytes) => bytes,
        Err(e) => return failed(entry, error_chain(&e)),
    };
    entry.size = bytes.len() as u64;
    let fetched = entry.size;
    held.resize(fetched);
    let decompressed = read::decompress_within(&bytes, options.max_file_bytes, &mut |n| {
        held.resize(fetched + n);
    });
    let raw = match decompressed {
        Ok(Cow::Owned(raw)) => {
            // Decompressed: the fetched bytes are let go of.
            drop(bytes);
            held.resize(raw.len() as u64);
            raw
        }
        Ok(Cow::Borrowed(_)) => bytes,
        Err(e) => return failed(entry, e.to_string()),
    };
    if options.hash_files {
        entry.sha256 = Some(crate::integrity::sha256_hex(&raw));
    }
    let parsed = match read::parse(&raw) {
        Ok(parsed) => parsed,
        Err(e) => return failed(entry, e.to_string()),
    };
    let raw_bytes = raw.len() as u64;
    let mut names = Vec::new();
    let mut unlisted_names = 0usize;
    let mut events = Vec::new();
    let mut rejections = parsed.bad_lines;
    let counts = &mut entry.counts;
    counts.records = parsed.records.len() as u64 + rejections.len() as u64;
    counts.rejected = rejections.len() as u64;
    let mut alerts = Vec::new();
    let mut hits = Vec::new();
    for (index, record) in parsed.records.into_iter().enumerate() {
        // Most records are dropped by the filter: decide that from a few borrowed
        // attributes first. Only the rest, and those a rule may fire on, are
        // parsed whole, checked and normalised.
        let head = RecordHead::parse(record.get());
        let dropped = head.as_ref().is_some_and(|h| options.filter.drops_head(h));
        // A record whose head cannot be read takes the full path, rules too.
        let rules = options.rules.as_deref().filter(|rules| {
            head.as_ref()
                .is_none_or(|head| rules.may_fire(head, record.get()))
        });
        if dropped && rules.is_none() {
            counts.filtered += 1;
            continue;
        }
        let outcome = serde_json::from_str::<serde_json::Value>(record.get())
            .map_err(|e| format!("invalid JSON: {e}"))
            .and_then(|record| {
                check(&record).map_err(|e| e.to_string())?;
                let keep = !dropped && options.filter.keeps_record(&record);
                if !keep && rules.is_none() {
                    return Ok(None);
                }
                let event = match normalise(record) {
                    Ok(event) => event,
                    Err(e) if keep => return Err(e.to_string()),
                    // Filtered out anyway: not rejected for detection's sake.
                    Err(_) => return Ok(None),
                };
                hits.clear();
                if let Some(rules) = rules {
                    hits.extend(rules.matching(&event.event_name, &event.record));
                }
                if !keep && !hits.is_empty() {
                    // Serialised (and compressed) here, once for all its alerts,
                    // not by the writer.
                    let text = serde_json::to_string(&event.record)
                        .expect("a JSON value always serialises (its keys are strings)");
                    let record = match encoder.as_deref_mut() {
                        Some(encoder) => RecordJson::encoded_with(text, encoder),
                        None => RecordJson::new(text),
                    };
                    alerts.extend(alerts_of(&hits, &event, &record));
                }
                Ok(keep.then_some(event))
            });
        match outcome {
            Ok(Some(event)) => {
                let mut added = 0;
                let catalogue = &options.catalogue;
                let mut event =
                    IndexedEvent::new_with(event, indexed, catalogue, &mut |name: &str| {
                        if seen.contains(name) {
                            return;
                        }
                        if added < MAX_NEW_NAMES_PER_RECORD && names.len() < MAX_NEW_NAMES_PER_FILE
                        {
                            seen.insert(name.to_owned());
                            names.push(name.to_owned());
                            added += 1;
                        } else {
                            unlisted_names += 1;
                        }
                    });
                if !hits.is_empty() {
                    // The stored event's text serves its alerts too, if the
                    // store does not read it from the event.
                    let record = if alerts_read_stored_records {
                        RecordJson::of_stored_event()
                    } else {
                        RecordJson::new(event.record_json())
                    };
                    alerts.extend(alerts_of(&hits, &event.event, &record));
                }
                if let Some(encoder) = encoder.as_deref_mut() {
                    event.encode_record(encoder);
                }
                events.push(event);
            }
            Ok(None) => counts.filtered += 1,
            Err(rejection) => {
                counts.rejected += 1;
                rejections.push(format!("record {index}: {rejection}"));
            }
        }
    }
    if unlisted_names > 0 {
        tracing::warn!(
            key = %entry.key,
            unlisted_names,
            "parameter names past the catalog's bounds are not listed by /parameters"
        );
    }
    if !rejections.is_empty() {
        let named: Vec<_> = rejections.iter().take(NAMED_REJECTIONS).cloned().collect();
        let more = rejections.len().saturating_sub(NAMED_REJECTIONS);
        entry.reason = Some(format!(
            "{} of {} records rejected: {}{}",
            counts.rejected,
            counts.records,
            named.join("; "),
            if more > 0 {
                format!("; … {more} more")
            } else {
                String::new()
            }
        ));
    }
    LoadedFile {
        entry,
        events,
        parameter_names: names,
        raw_bytes,
        alerts,
    }
}

/// The alerts of the rules `event` fired, `record` its redacted record.
fn alerts_of<'a>(
    hits: &'a [&Rule],
    event: &'a Event,
    record: &'a RecordJson,
) -> impl Iterator<Item = Alert> + 'a {
    hits.iter().map(move |rule| Alert {
        id: Alert::key(&rule.id, &event.event_id),
        rule_id: rule.id.clone(),
        title: rule.title.clone(),
        level: rule.level.as_str().to_owned(),
        tags: rule.tags.clone(),
        event_id: event.event_id.clone(),
        event_time: event.event_time,
        user: event.user.clone(),
        service: event.service.clone(),
        event_name: event.event_name.clone(),
        record: record.clone(),
        baseline: None,
    })
}

/// `error: cause: cause`: an error and its sources on one line, for ledger
/// reasons and logs.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::LocalSource;

    /// The parsing threads take the files in order, each once, and the
    /// list's storage shrinks as it empties (issue "Scale": memory).
    #[test]
    fn a_listing_gives_its_storage_back_as_it_empties() {
        let files: Vec<SourceFile> = (0..10_000)
            .map(|i| SourceFile {
                key: format!("f{i:05}"),
                size: 1,
                version: "v".into(),
                kind: FileKind::Log,
            })
            .collect();
        let listing = Listing::new(files);
        assert!(listing.held().1 >= 10_000);
        let mut taken = Vec::new();
        while listing.held().0 > 100 {
            taken.push(listing.take().expect("a file").key);
        }
        assert_eq!(taken.len(), 9_900);
        assert!(taken.windows(2).all(|w| w[0] < w[1]), "in order, each once");
        let (left, room) = listing.held();
        assert!(room < 1_000, "{left} files left in room for {room}");
        while listing.take().is_some() {}
        assert_eq!(listing.held().0, 0);
    }

    /// A log file `name` in `dir` holding `records`, as listed.
    fn records_file(
        dir: &std::path::Path,
        name: &str,
        records: Vec<serde_json::Value>,
    ) -> SourceFile {
        let path = dir.join(name);
        let body = serde_json::json!({"Records": records}).to_string();
        std::fs::write(&path, &body).expect("write");
        SourceFile {
            key: path.display().to_string(),
            size: body.len() as u64,
            version: "1".to_owned(),
            kind: FileKind::Log,
        }
    }

    /// Issue "Scale" (a first load's writer): a store that trains its record
    /// dictionary after its first records gets a first batch of just that
    /// many, so the rest of the load comes compressed from the parsing
    /// threads instead of being stored as text and compressed again by the
    /// writer (a first batch of a bulk load holds up to 80,000 events).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_store_without_its_dictionary_gets_a_first_batch_to_train_it_on() {
        #[derive(Default)]
        struct Commits(Mutex<Vec<u64>>);
        impl Observer for Commits {
            fn committed(&self, _files: &[LedgerEntry], report: &IngestReport) {
                self.0.lock().expect("lock").push(report.records_stored);
            }
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let files: Vec<_> = (0..40)
            .map(|f| {
                let records = (0..10)
                    .map(|i| {
                        serde_json::json!({
                            "eventVersion": "1.08",
                            "eventTime": format!("2018-03-01T10:{f:02}:{i:02}Z"),
                            "eventSource": "ec2.amazonaws.com", "eventName": "CreateTags",
                            "eventID": format!("id-{f}-{i}"), "awsRegion": "us-east-1",
                            "userIdentity": {"type": "IAMUser", "userName": "alucloud001"},
                        })
                    })
                    .collect();
                records_file(dir.path(), &format!("{f:02}.json"), records)
            })
            .collect();
        let store = Arc::new(
            ctt_store::SqliteStore::open(
                dir.path().join("ctt.db"),
                ctt_store::sqlite::SqliteOptions {
                    dictionary_after: 50,
                    ..Default::default()
                },
            )
            .expect("open"),
        );
        assert_eq!(store.records_before_codec(), Some(50));
        let commits = Commits::default();
        let report = ingest(
            store.clone(),
            Arc::new(LocalSource),
            files,
            &IngestOptions::default(),
            &commits,
        )
        .await
        .expect("ingest");
        assert_eq!(report.records_stored, 400);
        let commits = commits.0.into_inner().expect("lock");
        // Whole files: the first batch is cut at the first file that brings
        // it to 50 events; the rest load in one batch.
        assert_eq!(commits, [50, 400], "stored after each commit");
        assert!(store.record_codec().is_some());
        assert_eq!(store.records_before_codec(), None, "trained");
    }

    /// Issue 13.6: one record with 200,000 map keys added 200,000 names to
    /// `/parameters`. Now at most [`MAX_NEW_NAMES_PER_RECORD`] a record and
    /// [`MAX_NEW_NAMES_PER_FILE`] a file; the records are stored whole.
    #[test]
    fn a_record_or_a_file_adds_a_bounded_number_of_parameter_names() {
        let record = |i: usize, keys: usize| {
            let tags: serde_json::Map<String, serde_json::Value> = (0..keys)
                .map(|k| (format!("r{i}k{k}"), serde_json::Value::from(k)))
                .collect();
            serde_json::json!({
                "eventVersion": "1.08", "eventTime": "2018-03-01T10:00:00Z",
                "eventSource": "ec2.amazonaws.com", "eventName": "CreateTags",
                "eventID": format!("id-{i}"), "awsRegion": "us-east-1",
                "userIdentity": {"type": "IAMUser", "userName": "alucloud001"},
                "requestParameters": {"tags": tags}
            })
        };
        let mut records = vec![record(0, 200_000)];
        records.extend((1..30).map(|i| record(i, 400)));
        let dir = tempfile::tempdir().expect("temp dir");
        let file = records_file(dir.path(), "many-keys.json", records);
        let loaded = process_file(
            &LocalSource,
            &file,
            &IngestOptions::default(),
            &[],
            &mut HashSet::new(),
        );
        assert_eq!(loaded.events.len(), 30, "{:?}", loaded.entry.reason);
        assert_eq!(loaded.parameter_names.len(), MAX_NEW_NAMES_PER_FILE);
        let from_first = loaded
            .parameter_names
            .iter()
            .filter(|n| n.starts_with("requestParameters_tags_r0k"))
            .count();
        // The first record's names come first: its bound, then the next record's.
        assert!(from_first > 0 && from_first <= MAX_NEW_NAMES_PER_RECORD);
        assert!(
            loaded.parameter_names[MAX_NEW_NAMES_PER_RECORD]
                .starts_with("requestParameters_tags_r1k"),
            "{}",
            loaded.parameter_names[MAX_NEW_NAMES_PER_RECORD]
        );
        // Stored whole: the last key of the huge record is in its JSON.
        assert!(loaded.events[0].record.json().contains("\"r0k199999\""));
    }

    /// Issue "Scale" (the writer's share, a batch's memory): given the
    /// store's codec, a parsing thread compresses the records it keeps, and
    /// the record of an alert on an event not stored, as the store keeps
    /// them — the same texts it serialises without one. Issue "Detections"
    /// (speed): for SQLite, an alert on a stored event carries no text of
    /// its record, and reads it back whole from its event.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kept_and_alerted_records_are_compressed_on_the_parsing_thread() {
        let record = |i: usize, name: &str| {
            serde_json::json!({
                "eventVersion": "1.08", "eventTime": format!("2018-03-01T10:00:{i:02}Z"),
                "eventSource": "secretsmanager.amazonaws.com", "eventName": name,
                "eventID": format!("id-{i}"), "awsRegion": "us-east-1",
                "userIdentity": {"type": "IAMUser", "userName": format!("alucloud{i:03}")},
                "requestParameters": {"secretId": format!("db-password-{i}")}
            })
        };
        // Kept (a write) and dropped by the default filter (a read) in turn:
        // the rule fires on both kinds.
        let records: Vec<_> = (0..20)
            .map(|i| {
                record(
                    i,
                    if i % 2 == 0 {
                        "PutSecretValue"
                    } else {
                        "GetSecretValue"
                    },
                )
            })
            .collect();
        let dir = tempfile::tempdir().expect("temp dir");
        let file = records_file(dir.path(), "secrets.json", records);
        let mut rules = RuleSet::default();
        let rule = Rule::from_yaml(
            "title: secrets\nid: secrets\nlogsource: {product: aws, service: cloudtrail}\n\
             detection:\n  selection:\n    eventName|endswith: 'SecretValue'\n  condition: selection\n\
             level: low\n",
        )
        .expect("rule");
        rules.add(rule, "test").expect("add");
        let options = IngestOptions {
            rules: Some(Arc::new(rules)),
            ..IngestOptions::default()
        };
        let plain = process_file(&LocalSource, &file, &options, &[], &mut HashSet::new());
        assert_eq!((plain.events.len(), plain.alerts.len()), (10, 20));

        // A store with a dictionary (trained after its first records).
        let store = ctt_store::SqliteStore::open(
            dir.path().join("ctt.db"),
            ctt_store::sqlite::SqliteOptions {
                dictionary_after: 1,
                ..Default::default()
            },
        )
        .expect("open");
        assert!(store.record_codec().is_none());
        store.load(vec![plain.clone()]).await.expect("load");
        let mut encoder = store
            .record_codec()
            .expect("a dictionary")
            .encoder()
            .expect("encoder");
        let mut process = |alerts_read_stored_records| {
            process_file_within(
                &LocalSource,
                &file,
                &options,
                &[],
                &mut HashSet::new(),
                &MemoryBudget::unlimited(),
                StoreForm {
                    encoder: Some(&mut encoder),
                    alerts_read_stored_records,
                },
            )
        };
        let compressed = process(false);
        assert_eq!(compressed.events.len(), plain.events.len());
        for (with, without) in compressed.events.iter().zip(&plain.events) {
            assert!(matches!(without.record, ctt_store::StoredRecord::Json(_)));
            assert!(
                matches!(with.record, ctt_store::StoredRecord::Encoded { .. }),
                "{:?}",
                with.record
            );
            assert_eq!(with.record.json(), without.record.json());
        }
        assert_eq!(compressed.alerts.len(), plain.alerts.len());
        for (with, without) in compressed.alerts.iter().zip(&plain.alerts) {
            assert_eq!(with.record.get(), without.record.get());
            assert!(without.record.encoded().is_none());
            // An alert on a stored event reads its event's record: only the
            // others' are compressed for the store.
            let stored = plain
                .events
                .iter()
                .any(|e| e.event.event_id == with.event_id);
            assert_eq!(
                with.record.encoded().is_some(),
                !stored,
                "{}",
                with.event_id
            );
        }

        // SQLite reads the record of an alert on a stored event from that
        // event: such alerts carry no text, and read back whole all the same.
        assert!(store.alerts_read_stored_records());
        let shared = process(true);
        for alert in &shared.alerts {
            let stored = shared
                .events
                .iter()
                .any(|e| e.event.event_id == alert.event_id);
            assert_eq!(alert.record.is_of_stored_event(), stored);
            assert_eq!(alert.record.get().is_empty(), stored);
        }
        let other = ctt_store::SqliteStore::open(
            dir.path().join("other.db"),
            ctt_store::sqlite::SqliteOptions::default(),
        )
        .expect("open");
        other.load(vec![shared]).await.expect("load");
        let query = ctt_store::AlertQuery {
            limit: 100,
            ..Default::default()
        };
        let mut read = other.alerts(&query).await.expect("alerts");
        read.sort_by(|a, b| a.id.cmp(&b.id));
        let mut expected = plain.alerts.clone();
        expected.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(read.len(), expected.len());
        for (read, expected) in read.iter().zip(&expected) {
            assert_eq!(read.id, expected.id);
            assert_eq!(
                read.record.to_value(),
                expected.record.to_value(),
                "{}",
                read.id
            );
        }
    }
}
