//! Where events live: the [`EventStore`] trait, the embedded [`SqliteStore`], and
//! the `conformance` suite that every backend must pass (compiled only with the
//! `testsuite` feature, which tests enable and release builds do not).
//!
//! A store keeps three things: events (with their indexed parameters), the
//! catalog (users, services, parameter names) and the file ledger. Loading a batch
//! writes all three in one transaction — the basis of exactly-once ingest: a file
//! is in the ledger if and only if its events are stored.

pub mod alerts;
pub mod baseline;
#[cfg(any(test, feature = "testsuite"))]
pub mod conformance;
pub mod course;
pub mod held;
pub mod hourly;
mod ledger;
pub mod outbox;
pub mod resources;
pub mod sqlite;
pub mod tokens;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ctt_core::course::{Candidates, Hit};
use ctt_core::query::Cursor;
use ctt_core::{Event, EventQuery, EventSummary, GroupBy, NameMatch, Scope};
use serde::Serialize;

pub use alerts::{Alert, AlertQuery, RecordJson};
pub use baseline::UserBaseline;
pub use ledger::{FileCounts, FileOutcome, FlaggedFile, IntegritySummary, LedgerEntry, Verdict};
pub use outbox::{Delivery, Outbox, OutboxCounts, Route};
pub use resources::{
    Resource, ResourceFilter, ResourceKey, ResourceLife, ResourceQuery, ResourceTouches,
    RunningGroup, StateFilter,
};
pub use sqlite::{RecordCodec, RecordEncoder, SqliteStore};
pub use tokens::{Role, TokenRecord, TokenStore};

/// The parameters indexed by default (SPEC §3): the original system's kept ones.
/// Typed attributes (`eventType`, `userAgent`, `awsRegion`, …) are always indexed.
pub const DEFAULT_INDEXED_PARAMETERS: &[&str] = &[
    "requestParameters_bucketName",
    "requestParameters_instanceType",
    "requestParameters_dBInstanceIdentifier",
    "requestParameters_dBSecurityGroupName",
    "requestParameters_roleSessionName",
    "requestParameters_volumeSet_items_0_volumeId",
    "requestParameters_includeAllInstances",
    "requestParameters_includeDeleted",
    "userIdentity_principalId",
];

/// An event ready to store, with the values of the store's indexed parameters.
///
/// Built on the parsing threads so the single writer only writes: the record is
/// flattened and serialised here, compressed too for a store that hands out
/// its [`RecordCodec`], and travels as `record` (the event's `record` field is
/// left `Null`).
#[derive(Debug, Clone)]
pub struct IndexedEvent {
    pub event: Event,
    /// `(name, value)` for each indexed parameter the record has.
    pub params: Vec<(String, String)>,
    /// The redacted record, serialised, without the fields the event's
    /// columns hold ([`held`]; [`IndexedEvent::record_json`] has them).
    pub record: StoredRecord,
    /// The resources the event changes (SPEC §11).
    pub touches: Vec<ctt_core::resources::Change>,
}

/// The built-in resource catalogue, read once.
static CATALOGUE: std::sync::LazyLock<ctt_core::resources::Catalogue> =
    std::sync::LazyLock::new(ctt_core::resources::Catalogue::builtin);

impl IndexedEvent {
    /// Flattens the event's record once: picks the values of `indexed` parameters
    /// and calls `on_name` with every parameter name (for the catalog of
    /// `/parameters`; the caller de-duplicates).
    pub fn new(event: Event, indexed: &[String], on_name: &mut dyn FnMut(&str)) -> Self {
        Self::new_with(event, indexed, &CATALOGUE, on_name)
    }

    /// [`IndexedEvent::new`], the resources it changes read with `catalogue`
    /// (the configured one) rather than the built-in one.
    pub fn new_with(
        mut event: Event,
        indexed: &[String],
        catalogue: &ctt_core::resources::Catalogue,
        on_name: &mut dyn FnMut(&str),
    ) -> Self {
        let mut record = std::mem::take(&mut event.record);
        let touches = catalogue.changes(&record);
        let mut params = Vec::new();
        ctt_core::params::flatten(&record, |name, value| {
            if indexed.iter().any(|i| i == name) {
                params.push((name.to_owned(), value.to_owned()));
            }
            on_name(name);
        });
        held::leave_out(&mut record, &event);
        Self {
            event,
            params,
            // Straight into a buffer: `to_string` would go through `fmt::Write`.
            record: StoredRecord::Json(
                serde_json::to_string(&record)
                    .expect("a JSON value always serialises (its keys are strings)"),
            ),
            touches,
        }
    }

    /// The whole record's text: [`IndexedEvent::record`] with the fields its
    /// event holds put back ([`held`]).
    pub fn record_json(&self) -> String {
        let e = &self.event;
        let stored = self.record.json();
        held::whole(
            &stored,
            &e.event_id,
            e.event_time.timestamp(),
            e.source_ip_address.as_deref(),
        )
        .unwrap_or_else(|_| stored.into_owned())
    }

    /// Compresses the record with `encoder` (kept as text should that fail).
    pub fn encode_record(&mut self, encoder: &mut RecordEncoder) {
        if let StoredRecord::Json(text) = &self.record
            && let Some(blob) = encoder.encode(text)
        {
            self.record = StoredRecord::Encoded {
                codec: encoder.codec().clone(),
                blob,
            };
        }
    }
}

/// A record on its way to the store: its redacted JSON text, or that text
/// compressed on a parsing thread with the store's [`RecordCodec`] — ~7 times
/// smaller, in the batch's memory as in the database.
#[derive(Debug, Clone)]
pub enum StoredRecord {
    Json(String),
    Encoded { codec: RecordCodec, blob: Vec<u8> },
}

impl StoredRecord {
    /// The JSON text (decompressed if it was compressed; empty should that
    /// fail, which a blob this process compressed does not).
    pub fn json(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Self::Json(text) => std::borrow::Cow::Borrowed(text),
            Self::Encoded { codec, blob } => match codec.decode(blob) {
                Ok(text) => std::borrow::Cow::Owned(text),
                Err(e) => {
                    tracing::error!(error = %e, "a record compressed by this process does not decompress");
                    std::borrow::Cow::Borrowed("")
                }
            },
        }
    }
}

/// One log file's contribution to a batch: its ledger entry and its kept events.
#[derive(Debug, Clone)]
pub struct LoadedFile {
    pub entry: LedgerEntry,
    pub events: Vec<IndexedEvent>,
    /// Every parameter name seen in the file's kept events (for `/parameters`).
    pub parameter_names: Vec<String>,
    /// Bytes after decompression (for throughput reports; not stored).
    pub raw_bytes: u64,
    /// The rules its records fired (SPEC §12), stored with it, once each.
    pub alerts: Vec<Alert>,
}

/// A user or a service in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogEntry {
    pub name: String,
    pub events: u64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// One page of events, and where the next one starts.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPage {
    pub events: Vec<EventSummary>,
    pub next: Option<Cursor>,
}

/// How [`EventStore::events_written`] lays a page's events out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageLayout {
    /// One JSON array: `[{…},{…}]` (a page of the API).
    Array,
    /// NDJSON: each event's object followed by `\n` (exports). JSON escapes
    /// every newline inside strings, so each `\n` byte ends an event.
    Lines,
    /// CSV: each event's [`EventSummary::row`] as
    /// [`ctt_core::write_csv_row`] writes it, ending in `\n` (exports); no
    /// header, which an export writes once.
    Csv,
}

impl PageLayout {
    /// What comes before the first event.
    pub fn open(self) -> &'static [u8] {
        match self {
            Self::Array => b"[",
            Self::Lines | Self::Csv => b"",
        }
    }

    /// What comes between two events.
    pub fn separator(self) -> &'static [u8] {
        match self {
            Self::Array => b",",
            Self::Lines => b"\n",
            Self::Csv => b"",
        }
    }

    /// What comes after the last event (after the only ones, for no events).
    pub fn close(self, events: usize) -> &'static [u8] {
        match (self, events) {
            (Self::Array, _) => b"]",
            (Self::Lines, 0) | (Self::Csv, _) => b"",
            (Self::Lines, _) => b"\n",
        }
    }
}

/// A page of events already serialised, each event's object as
/// [`EventSummary`] serialises it (or its CSV row), laid out as asked.
#[derive(Debug, Clone, PartialEq)]
pub struct WrittenPage {
    pub bytes: Vec<u8>,
    pub events: usize,
    pub next: Option<Cursor>,
}

impl WrittenPage {
    /// This page followed by `rest`, the page that starts where it ends (both
    /// laid out as `layout`).
    pub fn followed_by(mut self, rest: WrittenPage, layout: PageLayout) -> WrittenPage {
        if rest.events == 0 {
            return WrittenPage {
                next: rest.next,
                ..self
            };
        }
        if self.events == 0 {
            return rest;
        }
        let close = layout.close(self.events).len();
        self.bytes.truncate(self.bytes.len() - close);
        self.bytes.extend_from_slice(layout.separator());
        self.bytes
            .extend_from_slice(&rest.bytes[layout.open().len()..]);
        WrittenPage {
            bytes: self.bytes,
            events: self.events + rest.events,
            next: rest.next,
        }
    }
}

/// A group of `/stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupCount {
    pub key: String,
    pub count: u64,
}

/// An event with its whole (redacted) record, for `/events/{eventID}`.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDetail {
    pub summary: EventSummary,
    pub record: serde_json::Value,
}

/// What a store holds, for `/health`, `/metrics` and `ctt status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreStatus {
    pub events: u64,
    pub files_loaded: u64,
    pub files_failed: u64,
    pub last_file: Option<String>,
    pub last_file_at: Option<DateTime<Utc>>,
    pub last_event_time: Option<DateTime<Utc>>,
    /// The database's size on disk, in bytes (SQLite: its pages, the
    /// write-ahead log aside); `None` where the store cannot tell (DynamoDB's
    /// table size is hours old).
    pub database_bytes: Option<u64>,
}

/// Which ledger entries to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerFilter {
    All,
    Failed,
}

/// What kind of failure a [`StoreError`] is, for whoever answers for it: the
/// API's status (503 and `Retry-After` for the store's own conditions, 500
/// otherwise), the CLI's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The store cannot be reached (connection refused or timed out, the
    /// service failing): retrying later may work.
    Unavailable,
    /// The store kept refusing requests for load (DynamoDB throttling), after
    /// retries with backoff: retrying later will work.
    Throttled,
    /// What holds the store does not exist (a DynamoDB table).
    Missing,
    /// Anything else: a bug, a corrupt store, a request the backend rejected.
    Internal,
}

/// Why a store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open store {location}")]
    Open {
        location: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("store {location} was written by a newer ctt (schema {found}, this ctt knows {known})")]
    NewerSchema {
        location: String,
        found: i64,
        known: i64,
    },
    /// See [`ErrorKind::Unavailable`].
    #[error("store {location} cannot be reached")]
    Unreachable {
        location: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// See [`ErrorKind::Throttled`].
    #[error(
        "store {location} is busy: its requests were throttled, and retries did not get through"
    )]
    Throttled {
        location: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// See [`ErrorKind::Missing`]. `what` names it (`table ctt-events`), for
    /// anyone to read; `remedy` says how to make it, for its operator.
    #[error("{what} does not exist: {remedy}")]
    Missing { what: String, remedy: String },
    #[error("store query failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A filter on `parameter`, which no index answers, would have the
    /// store examine more than `limit` stored records: narrow the window or
    /// the scope, or index the parameter.
    #[error(
        "matching `{parameter}` needs more than {limit} stored records read (no index answers it): \
         narrow from/to, add user, service or eventName, or index it (`[index] parameters`)"
    )]
    TooBroad { parameter: String, limit: u64 },
    /// What this store does not do (yet).
    #[error("{0} is not available on this store")]
    Unsupported(&'static str),
    #[error("store task failed")]
    Task(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn backend(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(error))
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Unreachable { .. } => ErrorKind::Unavailable,
            StoreError::Throttled { .. } => ErrorKind::Throttled,
            StoreError::Missing { .. } => ErrorKind::Missing,
            StoreError::Open { .. }
            | StoreError::NewerSchema { .. }
            | StoreError::Backend(_)
            | StoreError::Unsupported(_)
            | StoreError::TooBroad { .. }
            | StoreError::Task(_) => ErrorKind::Internal,
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A course as stored (SPEC §10): the course file as it was added (checked
/// then, and read again by whoever scores it), under its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCourse {
    pub id: String,
    /// The TOML of the course file.
    pub source: String,
    pub added_at: DateTime<Utc>,
}

/// A place events are stored and queried. SQLite here, DynamoDB on AWS.
///
/// Every implementation passes [`conformance`]. Writes are idempotent by
/// `eventID`; `load` is atomic per call: events, catalog and ledger together.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Stores a batch of files atomically. Returns, per file and in order, how many
    /// of its events were new and how many were already stored.
    async fn load(&self, files: Vec<LoadedFile>) -> StoreResult<Vec<FileCounts>>;

    /// The ledger, oldest first.
    async fn ledger(&self, filter: LedgerFilter) -> StoreResult<Vec<LedgerEntry>>;

    /// The ledger entry of one file, if it was ever loaded or failed.
    async fn ledger_entry(&self, key: &str) -> StoreResult<Option<LedgerEntry>>;

    /// Records each file's integrity (SPEC §14) on the ledger entries it
    /// holds; returns how many. Keys it does not hold (digests, files never
    /// loaded) are left out, never added. A held file that is not `valid` is
    /// flagged with its events' IDs, which [`EventStore::integrity_marks`]
    /// then finds; a `valid` verdict clears its flag. Flags outlive a reload
    /// of the file (the events it brought stay stored) until it is verified
    /// again.
    async fn record_integrity(&self, verdicts: Vec<Verdict>) -> StoreResult<u64>;

    /// What the recorded verifications found.
    async fn integrity(&self) -> StoreResult<IntegritySummary>;

    /// Alerts in time order (then eventID, then rule), as `query` selects.
    async fn alerts(&self, query: &AlertQuery) -> StoreResult<Vec<Alert>>;

    /// The alert `id` (`RULE_ID:EVENT_ID`), if stored.
    async fn alert(&self, id: &str) -> StoreResult<Option<Alert>>;

    /// What `user`'s anomalies are judged against (SPEC §13), `None` for a
    /// user never seen. Unsupported by a store that does not keep it.
    async fn user_baseline(&self, user: &str) -> StoreResult<Option<UserBaseline>> {
        let _ = user;
        Err(StoreError::Unsupported("baselines"))
    }

    /// The touches of every resource (SPEC §11); with `user`, of every
    /// resource that user touched (the caller folds them and keeps what the
    /// user owns).
    async fn resource_touches(&self, user: Option<&str>) -> StoreResult<Vec<ResourceTouches>> {
        let _ = user;
        Err(StoreError::Unsupported("resources"))
    }

    /// The page of resources `query` selects, as they stood at its time
    /// (SPEC §11). The default folds every touch of the resources concerned;
    /// SQLite reads the per-resource states its writer keeps.
    async fn resources(&self, query: &ResourceQuery) -> StoreResult<Vec<ResourceLife>> {
        let touches = self.resource_touches(query.filter.user.as_deref()).await?;
        Ok(resources::fold_page(touches, query))
    }

    /// Everyone's resources running at `at`, by type and size (SPEC §11: the
    /// dashboard's "left running"). The default folds them all (through
    /// [`EventStore::resources`]); SQLite sums its per-resource states.
    async fn running_groups(&self, at: DateTime<Utc>) -> StoreResult<Vec<RunningGroup>> {
        let query = ResourceQuery::all(ResourceFilter::open_at(None, at));
        Ok(resources::running_groups(self.resources(&query).await?))
    }

    /// How many alerts `query` selects (its `after` and `limit` ignored). The
    /// default pages through them; SQLite counts with its index.
    async fn count_alerts(&self, query: &AlertQuery) -> StoreResult<u64> {
        let mut query = AlertQuery {
            after: None,
            limit: 1_000,
            ..query.clone()
        };
        let mut n = 0;
        loop {
            let page = self.alerts(&query).await?;
            n += page.len() as u64;
            match page.last() {
                Some(last) if page.len() == query.limit => {
                    query.after = Some((
                        last.event_time.timestamp(),
                        last.event_id.clone(),
                        last.rule_id.clone(),
                    ));
                }
                _ => return Ok(n),
            }
        }
    }

    /// The notification outbox this store keeps, if any (SQLite; on AWS the
    /// ingest Lambda publishes to SNS from its own).
    fn outbox(&self) -> Option<&dyn Outbox> {
        None
    }

    /// Of `event_ids`, those that came from a flagged file, with that file's
    /// status (`modified`, `not-covered`…).
    async fn integrity_marks(
        &self,
        event_ids: Vec<String>,
    ) -> StoreResult<std::collections::HashMap<String, String>>;

    /// For each `(key, version)`, in order, whether the ledger holds that file as
    /// loaded with that version: the files a load skips. The default reads the
    /// whole ledger at once; the SQLite store looks each key up instead, so a
    /// re-run over millions of files holds no ledger copy, and DynamoDB looks
    /// up a few files (a followed bucket's poll) by key and reads its ledger in
    /// one query for many.
    async fn loaded_already(&self, files: Vec<(String, String)>) -> StoreResult<Vec<bool>> {
        let ledger: std::collections::HashMap<String, LedgerEntry> = self
            .ledger(LedgerFilter::All)
            .await?
            .into_iter()
            .map(|e| (e.key.clone(), e))
            .collect();
        Ok(files
            .iter()
            .map(|(key, version)| {
                ledger
                    .get(key)
                    .is_some_and(|e| e.version == *version && e.outcome == FileOutcome::Loaded)
            })
            .collect())
    }

    /// For each `(key, version)`, in order, the SHA-256 (hex) of the file's
    /// decompressed content, when the ledger keeps it for that version (a load
    /// by `ctt ingest --verify` keeps it: [`LedgerEntry::sha256`]). The default
    /// keeps none: verification reads such files again.
    async fn file_hashes(&self, files: Vec<(String, String)>) -> StoreResult<Vec<Option<String>>> {
        Ok(vec![None; files.len()])
    }

    /// The parameters this store indexes (fixed when the store is created).
    fn indexed_parameters(&self) -> &[String];

    /// The codec a load's parsing threads compress the records they keep
    /// with, for a store that keeps them compressed once it has a dictionary
    /// (SQLite, from its first few thousand records); `None`: they travel as
    /// text, and the store does what it does with them.
    fn record_codec(&self) -> Option<RecordCodec> {
        None
    }

    /// Whether the record of an alert on an event the same load stores is
    /// read from that event (SQLite: `alerts` joins `records`), so that a
    /// load hands such alerts [`RecordJson::of_stored_event`] rather than
    /// the record's text. `false` (DynamoDB): an alert item holds its record.
    fn alerts_read_stored_records(&self) -> bool {
        false
    }

    /// For a store that will have a [`Self::record_codec`] once it has
    /// stored enough records as text: how many it trains it on (records it
    /// already holds as text count too, so a batch of this many is always
    /// enough). A load commits its first batch once it holds that many, so
    /// that the rest of the load is compressed on the parsing threads rather
    /// than stored as text and compressed again by the writer. `None`: it
    /// has its codec, or never will.
    fn records_before_codec(&self) -> Option<u64> {
        None
    }

    /// One page of matching events in `(eventTime, eventID)` order, after `cursor`.
    async fn events(
        &self,
        query: &EventQuery,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> StoreResult<EventPage>;

    /// [`events`](Self::events), serialised (pages and exports of the API). The
    /// default serialises the page; a store may write straight from its rows.
    async fn events_written(
        &self,
        query: &EventQuery,
        limit: u32,
        cursor: Option<&Cursor>,
        layout: PageLayout,
    ) -> StoreResult<WrittenPage> {
        let page = self.events(query, limit, cursor).await?;
        let mut bytes = Vec::with_capacity(page.events.len() * 400 + 2);
        if layout == PageLayout::Csv {
            let mut csv = ctt_core::csv_writer(&mut bytes);
            for event in &page.events {
                ctt_core::write_csv_row(&mut csv, event.row()).map_err(StoreError::backend)?;
            }
            csv.flush().map_err(StoreError::backend)?;
        } else {
            bytes.extend_from_slice(layout.open());
            for (i, event) in page.events.iter().enumerate() {
                if i > 0 {
                    bytes.extend_from_slice(layout.separator());
                }
                serde_json::to_writer(&mut bytes, event).map_err(StoreError::backend)?;
            }
            bytes.extend_from_slice(layout.close(page.events.len()));
        }
        Ok(WrittenPage {
            bytes,
            events: page.events.len(),
            next: page.next,
        })
    }

    /// The exact number of matching events.
    async fn count(&self, query: &EventQuery) -> StoreResult<u64>;

    /// Matching events counted by group, largest first (by time for hour/day).
    async fn stats(
        &self,
        query: &EventQuery,
        group_by: GroupBy,
        limit: u32,
    ) -> StoreResult<Vec<GroupCount>>;

    /// One event with its whole record.
    async fn event(&self, event_id: &str) -> StoreResult<Option<EventDetail>>;

    /// Users seen, by name.
    async fn users(&self) -> StoreResult<Vec<CatalogEntry>>;

    /// Services seen, by name.
    async fn services(&self) -> StoreResult<Vec<CatalogEntry>>;

    /// Parameter names seen, sorted.
    async fn parameters(&self) -> StoreResult<Vec<String>>;

    /// Totals and the latest file loaded.
    async fn status(&self) -> StoreResult<StoreStatus>;

    /// Stores a course, replacing any with the same id.
    async fn put_course(&self, course: StoredCourse) -> StoreResult<()>;

    /// Every course, by id.
    async fn courses(&self) -> StoreResult<Vec<StoredCourse>>;

    /// The course `id`, if stored.
    async fn course(&self, id: &str) -> StoreResult<Option<StoredCourse>>;

    /// Deletes the course `id`; `false` when there is none.
    async fn remove_course(&self, id: &str) -> StoreResult<bool>;

    /// The events a course's scoring looks at (SPEC §10): every event in the
    /// window whose `eventName` starts with one of the candidate names (of its
    /// service, when named), of one user or all. A store may return more (the
    /// scorer keeps what matches); the same event at most once. The default
    /// pages through [`events`](Self::events) by name prefix, on the user's
    /// index for one user; SQLite reads only the columns scoring needs.
    async fn course_hits(&self, candidates: &Candidates) -> StoreResult<Vec<Hit>> {
        let mut hits = Vec::new();
        for (service, name) in &candidates.names {
            let mut query = EventQuery::between(candidates.window.from, candidates.window.to);
            query.event_name = Some(NameMatch {
                name: name.clone(),
                prefix: true,
            });
            query.scope = match (&candidates.user, service) {
                (Some(user), _) => Scope::User(user.clone()),
                (None, Some(service)) => Scope::Service(service.clone()),
                (None, None) => Scope::All,
            };
            let mut cursor = None;
            loop {
                let page = self.events(&query, 1_000, cursor.as_ref()).await?;
                hits.extend(
                    page.events
                        .into_iter()
                        .filter(|e| service.as_ref().is_none_or(|s| *s == e.service))
                        .map(|e| Hit {
                            time: ctt_core::time::parse_event_time(&e.event_time)
                                .map_or(0, ctt_core::time::to_seconds),
                            failed: e.error_code.is_some(),
                            user: e.user.into(),
                            event_id: e.event_id,
                            service: e.service.into(),
                            event_name: e.event_name.into(),
                        }),
                );
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        hits.sort_by(|a, b| a.event_id.cmp(&b.event_id));
        hits.dedup_by(|a, b| a.event_id == b.event_id);
        Ok(hits)
    }

    /// A load of many files is about to start. A store may defer work it can do
    /// faster once at the end (SQLite builds its secondary indexes then, when it
    /// starts empty). Returns whether it deferred anything.
    async fn begin_bulk_load(&self) -> StoreResult<bool> {
        Ok(false)
    }

    /// The load that [`begin_bulk_load`](Self::begin_bulk_load) announced ended,
    /// well or not: deferred work is done now.
    async fn end_bulk_load(&self) -> StoreResult<()> {
        Ok(())
    }
}
