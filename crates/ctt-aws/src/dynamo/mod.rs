//! The DynamoDB [`EventStore`]: one on-demand table, keys made for SPEC §5's
//! queries so that no route ever needs a `Scan` (see [`keys`] and
//! `docs/dynamodb.md`).
//!
//! * [`write`]: loading a batch — conditional puts keyed by eventID, catalog
//!   counts and the ledger entry committed together in one transaction per file.
//! * [`read`]: an [`EventQuery`] planned onto the narrowest index (user, eventName,
//!   service, else day buckets) and answered with `Query` only.
//! * [`table`]: creating the table and its indexes.
//! * [`tokens`]: API tokens for `ctt serve --store dynamodb://…`.
//!
//! Every request goes through the SDK client built here, which carries the
//! [`usage`] interceptor counting operations by name.

mod alerts;
mod anomalies;
mod baselines;
pub mod classify;
mod courses;
mod expr;
mod integrity;
pub mod items;
pub mod keys;
mod outbox;
pub(crate) mod read;
mod resources;
pub mod retry;
pub mod table;
pub mod tokens;
pub mod uri;
pub mod usage;
pub(crate) mod write;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::Client;
use ctt_core::query::Cursor;
use ctt_core::{EventQuery, GroupBy};
use ctt_store::{
    Alert, AlertQuery, CatalogEntry, ErrorKind, EventDetail, EventPage, EventStore, FileCounts,
    GroupCount, IntegritySummary, LedgerEntry, LedgerFilter, LoadedFile, ResourceTouches,
    StoreError, StoreResult, StoreStatus, StoredCourse, Verdict,
};

pub use table::Created;
pub use uri::{DynamoUri, UriError};
pub use usage::Usage;

use classify::Classify;
use items::s;
use usage::UsageMeter;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why DynamoDB could not do what the store asked.
#[derive(Debug, thiserror::Error)]
pub enum DynamoError {
    #[error("DynamoDB {operation} on table {table} failed")]
    Request {
        table: String,
        operation: &'static str,
        kind: ErrorKind,
        #[source]
        source: BoxError,
    },
    #[error("table {table} does not exist: create it with `ctt store create dynamodb://{table}`")]
    NoTable { table: String },
    #[error("table {table} did not become active")]
    NotActive { table: String },
    #[error("DynamoDB {operation} on table {table} left work undone after {attempts} attempts")]
    Unfinished {
        table: String,
        operation: &'static str,
        attempts: u32,
    },
}

impl DynamoError {
    /// `operation` on `table` failed with `source`: a [`DynamoError::NoTable`]
    /// when DynamoDB says the table does not exist.
    pub fn request(
        table: &str,
        operation: &'static str,
        source: impl Classify + Into<BoxError>,
    ) -> Self {
        match source.kind() {
            ErrorKind::Missing => Self::NoTable {
                table: table.to_owned(),
            },
            kind => Self::Request {
                table: table.to_owned(),
                operation,
                kind,
                source: source.into(),
            },
        }
    }

    pub fn table(&self) -> &str {
        match self {
            Self::Request { table, .. }
            | Self::NoTable { table }
            | Self::NotActive { table }
            | Self::Unfinished { table, .. } => table,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Request { kind, .. } => *kind,
            Self::NoTable { .. } => ErrorKind::Missing,
            Self::NotActive { .. } => ErrorKind::Unavailable,
            // Work DynamoDB kept handing back undone (unprocessed items,
            // transactions cancelled by throttling or conflicts).
            Self::Unfinished { .. } => ErrorKind::Throttled,
        }
    }
}

impl From<DynamoError> for StoreError {
    fn from(e: DynamoError) -> Self {
        let location = format!("{}{}", uri::SCHEME, e.table());
        match e.kind() {
            ErrorKind::Missing => StoreError::Missing {
                what: format!("table {}", e.table()),
                remedy: format!("create it with `ctt store create {location}`"),
            },
            ErrorKind::Throttled => StoreError::Throttled {
                location,
                source: Box::new(e),
            },
            ErrorKind::Unavailable => StoreError::Unreachable {
                location,
                source: Box::new(e),
            },
            ErrorKind::Internal => StoreError::backend(e),
        }
    }
}

/// How to open a DynamoDB store.
#[derive(Debug, Clone)]
pub struct DynamoOptions {
    /// Parameters to index when the table is first used; a table keeps the
    /// list it was first used with.
    pub indexed_parameters: Vec<String>,
}

impl Default for DynamoOptions {
    fn default() -> Self {
        Self {
            indexed_parameters: ctt_store::DEFAULT_INDEXED_PARAMETERS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        }
    }
}

/// Events, catalog and ledger in one DynamoDB table.
#[derive(Clone)]
pub struct DynamoStore {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub client: Client,
    pub table: String,
    pub indexed: Vec<String>,
    /// Whether the table keeps hourly counters (schema 2 on): writes add to
    /// them, counts sum them.
    pub hourly_counts: bool,
    /// The table keeps baselines (schema 3): first uses and failed calls.
    pub baselines: bool,
    pub usage: UsageMeter,
    /// Parameter names known to be in the catalog (written or read).
    pub known_parameters: Mutex<HashSet<String>>,
    /// Whether `known_parameters` was filled from the table (once per process:
    /// reading the catalog is cheaper than rewriting it).
    pub parameters_loaded: AtomicBool,
    /// Per catalog entry, an upper bound of `first_seen` and a lower bound of
    /// `last_seen` as stored: updates inside them are skipped.
    pub catalog_bounds: Mutex<HashMap<(keys::Catalog, String), (i64, i64)>>,
    /// First uses known to this process (written or read): a file's later
    /// ones are not sent again.
    pub known_firsts: Mutex<HashMap<baselines::FirstKey, (i64, String)>>,
    /// Where loads queue new alerts, and how old an event may be (SPEC §12);
    /// unset: no outbox (see [`DynamoStore::with_outbox`]).
    pub outbox: std::sync::OnceLock<(Vec<ctt_store::Route>, std::time::Duration)>,
    /// The anomalies loads raise and withdraw (SPEC §13); unset: none (see
    /// [`DynamoStore::with_anomalies`]).
    pub anomalies: std::sync::OnceLock<ctt_core::anomaly::AnomalySettings>,
}

impl Inner {
    /// The anomaly settings loads evaluate, if any kind is on and the table
    /// keeps baselines.
    pub fn anomaly_settings(&self) -> Option<&ctt_core::anomaly::AnomalySettings> {
        self.anomalies
            .get()
            .filter(|settings| self.baselines && settings.any())
    }
}

impl Inner {
    pub fn error(
        &self,
        operation: &'static str,
        source: impl Classify + Into<BoxError>,
    ) -> DynamoError {
        DynamoError::request(&self.table, operation, source)
    }
}

/// A DynamoDB client for `sdk`, with `endpoint_url` overriding its endpoint and
/// `meter` counting its operations.
pub fn client(sdk: &SdkConfig, endpoint_url: Option<&str>, meter: &UsageMeter) -> Client {
    let mut config = aws_sdk_dynamodb::config::Builder::from(sdk).interceptor(meter.interceptor());
    if let Some(endpoint) = endpoint_url {
        config = config.endpoint_url(endpoint);
    }
    Client::from_conf(config.build())
}

impl DynamoStore {
    /// Opens the store in `table`, which must exist. On first use, records the
    /// indexed parameters of `options` in the table.
    pub async fn open(
        sdk: &SdkConfig,
        table: &str,
        endpoint_url: Option<&str>,
        options: DynamoOptions,
    ) -> StoreResult<Self> {
        let meter = UsageMeter::default();
        let client = client(sdk, endpoint_url, &meter);
        let settings = write::table_settings(&client, table, &options.indexed_parameters)
            .await
            .map_err(|source| match source.kind() {
                // Missing, unreachable, throttled: say so (the API answers 503).
                ErrorKind::Internal => StoreError::Open {
                    location: format!("{}{table}", uri::SCHEME),
                    source: Box::new(source),
                },
                _ => StoreError::from(source),
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                table: table.to_owned(),
                indexed: settings.indexed.clone(),
                hourly_counts: settings.hourly_counts(),
                baselines: settings.baselines(),
                usage: meter,
                known_parameters: Mutex::new(HashSet::new()),
                parameters_loaded: AtomicBool::new(false),
                catalog_bounds: Mutex::new(HashMap::new()),
                known_firsts: Mutex::new(HashMap::new()),
                outbox: std::sync::OnceLock::new(),
                anomalies: std::sync::OnceLock::new(),
            }),
        })
    }

    /// Creates `table` with its indexes (on-demand capacity) unless it exists.
    pub async fn create_table(
        sdk: &SdkConfig,
        table: &str,
        endpoint_url: Option<&str>,
    ) -> Result<Created, DynamoError> {
        let client = client(sdk, endpoint_url, &UsageMeter::default());
        table::create(&client, table).await
    }

    /// Deletes `table` and everything in it.
    pub async fn delete_table(
        sdk: &SdkConfig,
        table: &str,
        endpoint_url: Option<&str>,
    ) -> Result<(), DynamoError> {
        let client = client(sdk, endpoint_url, &UsageMeter::default());
        table::delete(&client, table).await
    }

    pub fn table(&self) -> &str {
        &self.inner.table
    }

    /// Keeps a notification outbox: loads queue each new alert to the
    /// `routes` its level reaches unless its event is older than `max_age`
    /// (the ingest Lambda's SNS topic). Set once; later calls are ignored.
    pub fn with_outbox(self, routes: Vec<ctt_store::Route>, max_age: std::time::Duration) -> Self {
        let _ = self.inner.outbox.set((routes, max_age));
        self
    }

    /// Raises and withdraws anomalies (SPEC §13) as loads store events:
    /// after each file, for its users and accounts (`docs/dynamodb.md`).
    /// Set once; later calls are ignored.
    pub fn with_anomalies(self, settings: ctt_core::anomaly::AnomalySettings) -> Self {
        let _ = self.inner.anomalies.set(settings);
        self
    }

    /// Evaluates the anomalies of files whose load died between their commit
    /// and their evaluation (markers older than `older_than`; every load does
    /// this for those older than [`anomalies::STALE`]). How many files.
    pub async fn sweep_anomalies(&self, older_than: std::time::Duration) -> StoreResult<usize> {
        match self.inner.anomaly_settings() {
            Some(settings) => Ok(anomalies::sweep(&self.inner, settings, older_than).await?),
            None => Ok(0),
        }
    }

    fn destinations(&self) -> Vec<String> {
        self.inner
            .outbox
            .get()
            .map(|(routes, _)| routes.iter().map(|r| r.destination.clone()).collect())
            .unwrap_or_default()
    }

    /// What this store has asked of DynamoDB since it was opened (or reset).
    pub fn usage(&self) -> Usage {
        self.inner.usage.snapshot()
    }

    pub fn reset_usage(&self) {
        self.inner.usage.reset();
    }

    /// [`EventStore::count`] from the event indexes alone, never the hourly
    /// counters: what counts cost without them (the benchmark), and what the
    /// counters must agree with (tests).
    pub async fn count_from_index(&self, query: &EventQuery) -> StoreResult<u64> {
        Ok(read::count_from_index(&self.inner, query).await?)
    }

    /// [`EventStore::stats`] from the event indexes alone, never the hourly
    /// counters: what the counters' answers must agree with (tests).
    pub async fn stats_from_index(
        &self,
        query: &EventQuery,
        group_by: GroupBy,
        limit: u32,
    ) -> StoreResult<Vec<GroupCount>> {
        Ok(read::stats_from_index(&self.inner, query, group_by, limit).await?)
    }

    /// Whether this table keeps hourly counters (tables first used by a ctt
    /// before them do not, and count from the indexes).
    pub fn has_hourly_counts(&self) -> bool {
        self.inner.hourly_counts
    }
}

/// The key of the item `(pk, sk)`.
pub(crate) fn item_key(pk: impl Into<String>, sk: impl Into<String>) -> items::Item {
    HashMap::from([(keys::PK.to_owned(), s(pk)), (keys::SK.to_owned(), s(sk))])
}

#[async_trait]
impl ctt_store::Outbox for DynamoStore {
    /// Loads queue alerts as they store them: nothing to fan out.
    async fn enqueue_new(
        &self,
        _routes: &[ctt_store::Route],
        _oldest: chrono::DateTime<chrono::Utc>,
        _now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<u64> {
        Ok(0)
    }

    async fn claim_due(
        &self,
        destinations: &[String],
        now: chrono::DateTime<chrono::Utc>,
        lease: std::time::Duration,
        limit: usize,
    ) -> StoreResult<Vec<ctt_store::Delivery>> {
        Ok(outbox::claim_due(&self.inner, destinations, now, lease, limit).await?)
    }

    async fn mark_sent(
        &self,
        delivery: &ctt_store::Delivery,
        _now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()> {
        Ok(outbox::mark_sent(&self.inner, delivery).await?)
    }

    async fn mark_failed(
        &self,
        delivery: &ctt_store::Delivery,
        error: &str,
        retry_at: Option<chrono::DateTime<chrono::Utc>>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()> {
        Ok(outbox::mark_failed(&self.inner, delivery, error, retry_at, now).await?)
    }

    async fn outbox_counts(&self) -> StoreResult<ctt_store::OutboxCounts> {
        Ok(outbox::counts(&self.inner, &self.destinations()).await?)
    }

    async fn pending_for(&self, destination: &str) -> StoreResult<u64> {
        Ok(outbox::pending_for(&self.inner, destination).await?)
    }

    async fn deliveries(
        &self,
        alert_id: &str,
    ) -> StoreResult<Vec<ctt_store::outbox::DeliveryState>> {
        Ok(outbox::deliveries(&self.inner, &self.destinations(), alert_id).await?)
    }
}

#[async_trait]
impl EventStore for DynamoStore {
    async fn load(&self, files: Vec<LoadedFile>) -> StoreResult<Vec<FileCounts>> {
        Ok(write::load(&self.inner, files).await?)
    }

    fn outbox(&self) -> Option<&dyn ctt_store::Outbox> {
        self.inner
            .outbox
            .get()
            .map(|_| self as &dyn ctt_store::Outbox)
    }

    async fn ledger(&self, filter: LedgerFilter) -> StoreResult<Vec<LedgerEntry>> {
        Ok(read::ledger(&self.inner, filter).await?)
    }

    async fn ledger_entry(&self, key: &str) -> StoreResult<Option<LedgerEntry>> {
        Ok(read::ledger_entry(&self.inner, key).await?)
    }

    async fn loaded_already(&self, files: Vec<(String, String)>) -> StoreResult<Vec<bool>> {
        Ok(read::loaded_already(&self.inner, files).await?)
    }

    async fn file_hashes(&self, files: Vec<(String, String)>) -> StoreResult<Vec<Option<String>>> {
        Ok(read::file_hashes(&self.inner, files).await?)
    }

    async fn record_integrity(&self, verdicts: Vec<Verdict>) -> StoreResult<u64> {
        Ok(integrity::record(&self.inner, verdicts).await?)
    }

    async fn alerts(&self, query: &AlertQuery) -> StoreResult<Vec<Alert>> {
        Ok(alerts::list(&self.inner, query).await?)
    }

    async fn alert(&self, id: &str) -> StoreResult<Option<Alert>> {
        Ok(alerts::get(&self.inner, id).await?)
    }

    async fn user_baseline(&self, user: &str) -> StoreResult<Option<ctt_store::UserBaseline>> {
        if !self.inner.baselines {
            // A table of an earlier schema: its events were never seen.
            return Err(ctt_store::StoreError::Unsupported("baselines"));
        }
        Ok(baselines::user_baseline(&self.inner, user).await?)
    }

    async fn resource_touches(&self, user: Option<&str>) -> StoreResult<Vec<ResourceTouches>> {
        Ok(resources::touches(&self.inner, user).await?)
    }

    async fn integrity(&self) -> StoreResult<IntegritySummary> {
        Ok(integrity::summary(&self.inner).await?)
    }

    async fn integrity_marks(
        &self,
        event_ids: Vec<String>,
    ) -> StoreResult<HashMap<String, String>> {
        Ok(integrity::marks(&self.inner, event_ids).await?)
    }

    fn indexed_parameters(&self) -> &[String] {
        &self.inner.indexed
    }

    async fn events(
        &self,
        query: &EventQuery,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> StoreResult<EventPage> {
        Ok(read::events(&self.inner, query, limit, cursor).await?)
    }

    async fn count(&self, query: &EventQuery) -> StoreResult<u64> {
        Ok(read::count(&self.inner, query).await?)
    }

    async fn stats(
        &self,
        query: &EventQuery,
        group_by: GroupBy,
        limit: u32,
    ) -> StoreResult<Vec<GroupCount>> {
        Ok(read::stats(&self.inner, query, group_by, limit).await?)
    }

    async fn event(&self, event_id: &str) -> StoreResult<Option<EventDetail>> {
        Ok(read::event(&self.inner, event_id).await?)
    }

    async fn users(&self) -> StoreResult<Vec<CatalogEntry>> {
        Ok(read::catalog(&self.inner, keys::Catalog::Users).await?)
    }

    async fn services(&self) -> StoreResult<Vec<CatalogEntry>> {
        Ok(read::catalog(&self.inner, keys::Catalog::Services).await?)
    }

    async fn parameters(&self) -> StoreResult<Vec<String>> {
        Ok(read::parameters(&self.inner).await?)
    }

    async fn status(&self) -> StoreResult<StoreStatus> {
        Ok(read::status(&self.inner).await?)
    }

    async fn put_course(&self, course: StoredCourse) -> StoreResult<()> {
        Ok(courses::put(&self.inner, &course).await?)
    }

    async fn courses(&self) -> StoreResult<Vec<StoredCourse>> {
        Ok(courses::list(&self.inner).await?)
    }

    async fn course(&self, id: &str) -> StoreResult<Option<StoredCourse>> {
        Ok(courses::get(&self.inner, id).await?)
    }

    async fn remove_course(&self, id: &str) -> StoreResult<bool> {
        Ok(courses::remove(&self.inner, id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What DynamoDB left undone after retries, or could not be reached for,
    /// or has no table for, reaches the API as a store error of that kind.
    #[test]
    fn dynamo_errors_become_store_errors_of_their_kind() {
        let cases = [
            (
                DynamoError::Unfinished {
                    table: "t".into(),
                    operation: "TransactWriteItems",
                    attempts: 10,
                },
                ErrorKind::Throttled,
                "store dynamodb://t is busy: its requests were throttled, and retries did not get through",
            ),
            (
                DynamoError::NotActive { table: "t".into() },
                ErrorKind::Unavailable,
                "store dynamodb://t cannot be reached",
            ),
            (
                DynamoError::NoTable { table: "t".into() },
                ErrorKind::Missing,
                "table t does not exist: create it with `ctt store create dynamodb://t`",
            ),
            (
                DynamoError::request(
                    "t",
                    "Query",
                    aws_sdk_dynamodb::error::BuildError::missing_field("key", "a test"),
                ),
                ErrorKind::Internal,
                "store query failed",
            ),
        ];
        for (error, kind, message) in cases {
            let store = StoreError::from(error);
            assert_eq!(
                (store.kind(), store.to_string()),
                (kind, message.to_owned())
            );
        }
    }
}
