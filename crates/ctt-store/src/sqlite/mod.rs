//! The embedded store: one SQLite file (WAL), one writer, a pool of readers.
//!
//! Every call runs on tokio's blocking pool. The writer connection is behind a
//! mutex (SQLite has one writer anyway); readers never wait for it thanks to WAL.

/// `eventSource` read back whole from `events.event_source`, which is empty
/// when it is its service's own (`SERVICE.amazonaws.com`: nearly every
/// event; see [`stored_event_source`]). Exact: an `eventSource` that is
/// itself empty has an empty service.
macro_rules! event_source {
    () => {
        "CASE WHEN event_source = '' THEN (SELECT CASE WHEN text <> '' \
         THEN text || '.amazonaws.com' ELSE '' END FROM service_names WHERE id = service) \
         ELSE event_source END"
    };
}

/// An event's `userAgent`: its text in the row (rows stored before schema
/// 30), or the text of its id in `user_agents`; NULL for none.
macro_rules! user_agent {
    () => {
        "coalesce(user_agent, (SELECT text FROM user_agents WHERE id = user_agent_id))"
    };
}

/// An event's `userIdentity.accountId`: the text of its id in `accounts`
/// (schema 42: rows hold `account_ref`), or the text in the row (rows
/// stored before); NULL for none.
macro_rules! account_id {
    () => {
        "coalesce(account_id, (SELECT text FROM accounts WHERE id = account_ref))"
    };
}

/// The text of an id an event holds (schema 46): `named!("user_names",
/// "user")` is the name of the row's user.
macro_rules! named {
    ($names:literal, $column:literal) => {
        concat!("(SELECT text FROM ", $names, " WHERE id = ", $column, ")")
    };
}

/// An event's user's name (schema 46: the row holds its id in
/// `user_names`).
macro_rules! user {
    () => {
        named!("user_names", "user")
    };
}

/// An event's service (its id in `service_names`, schema 46).
macro_rules! service {
    () => {
        named!("service_names", "service")
    };
}

/// An event's `eventName` (its id in `event_names`, schema 46). The readers
/// name eventNames in Rust (`NameCache`); the tests read rows with it.
#[cfg_attr(not(test), allow(unused_macros))]
macro_rules! event_name {
    () => {
        named!("event_names", "event_name")
    };
}

/// The rule id of the alert of the row named `alias`: its text in
/// `alert_rules` (schema 50).
macro_rules! alert_rule {
    ($alias:literal) => {
        concat!(
            "(SELECT rule_id FROM alert_rules r WHERE r.id = ",
            $alias,
            ".rule)"
        )
    };
}

/// The id (`RULE:EVENT`) of the alert of row `alerts` (or the alias named).
macro_rules! alert_id {
    () => {
        alert_id!("alerts")
    };
    ($alias:literal) => {
        concat!(
            alert_rule!($alias),
            " || ':' || ctt_id_text(",
            $alias,
            ".event_id)"
        )
    };
}

/// The condition that an alert's rule is the one named by the next
/// parameter (or the one named): its id looked up once. A page's filter
/// reads it behind a `+` (not through `alerts_by_id`: see `alerts::filter`).
macro_rules! alert_rule_is {
    () => {
        "rule = (SELECT id FROM alert_rules WHERE rule_id = ?)"
    };
    ($param:literal) => {
        concat!(
            "rule = (SELECT id FROM alert_rules WHERE rule_id = ",
            $param,
            ")"
        )
    };
}

/// The condition that an event's `column` holds the id of the text bound
/// to the next parameter (`?`, or the one named) in `names`: the id is
/// looked up once, not for every row, and an index on the column is used.
macro_rules! named_is {
    ($names:literal, $column:literal) => {
        concat!($column, " = (SELECT id FROM ", $names, " WHERE text = ?)")
    };
    ($names:literal, $column:literal, $param:literal) => {
        concat!(
            $column,
            " = (SELECT id FROM ",
            $names,
            " WHERE text = ",
            $param,
            ")"
        )
    };
}

/// The condition that an event's user is the one named by the next
/// parameter (or the one named).
macro_rules! user_is {
    () => {
        named_is!("user_names", "user")
    };
    ($param:literal) => {
        named_is!("user_names", "user", $param)
    };
}

/// An event's role: the user's name when the row holds an empty BLOB (its
/// role is its user's name: see [`stored_role`]), else the name of the id
/// the row holds (in `user_names`, schema 46).
macro_rules! role {
    () => {
        concat!(
            "CASE WHEN role = x'' THEN ",
            user!(),
            " ELSE ",
            named!("user_names", "role"),
            " END"
        )
    };
}

/// An event's `eventType`: the value of its one-byte code (a BLOB, from
/// schema 34: see [`EVENT_TYPES`]), or the text the row holds.
macro_rules! event_type {
    () => {
        "CASE event_type WHEN x'01' THEN 'AwsApiCall' WHEN x'02' THEN 'AwsServiceEvent' \
         WHEN x'03' THEN 'AwsConsoleSignIn' WHEN x'04' THEN 'AwsConsoleAction' \
         WHEN x'05' THEN 'AwsCloudTrailInsight' WHEN x'06' THEN 'AwsVpceEvent' \
         ELSE event_type END"
    };
}

/// An event's `userIdentity.type`, as [`event_type!`] reads its column (see
/// [`IDENTITY_TYPES`]).
macro_rules! identity_type {
    () => {
        "CASE identity_type WHEN x'01' THEN 'IAMUser' WHEN x'02' THEN 'AssumedRole' \
         WHEN x'03' THEN 'AWSService' WHEN x'04' THEN 'Root' WHEN x'05' THEN 'FederatedUser' \
         WHEN x'06' THEN 'AWSAccount' WHEN x'07' THEN 'Role' WHEN x'08' THEN 'Directory' \
         WHEN x'09' THEN 'SAMLUser' WHEN x'0a' THEN 'WebIdentityUser' \
         WHEN x'0b' THEN 'IdentityCenterUser' WHEN x'0c' THEN 'Unknown' \
         ELSE identity_type END"
    };
}

/// An event's `awsRegion`, as [`event_type!`] reads its column (schema 43:
/// see [`REGIONS`]).
macro_rules! aws_region {
    () => {
        "CASE aws_region WHEN x'01' THEN 'us-east-1' WHEN x'02' THEN 'us-west-2' \
        WHEN x'03' THEN 'eu-west-1' WHEN x'04' THEN 'us-east-2' WHEN x'05' THEN 'us-west-1' \
        WHEN x'06' THEN 'eu-central-1' WHEN x'07' THEN 'ap-southeast-1' \
        WHEN x'08' THEN 'ap-southeast-2' WHEN x'09' THEN 'ap-northeast-1' \
        WHEN x'0a' THEN 'ap-northeast-2' WHEN x'0b' THEN 'ap-south-1' \
        WHEN x'0c' THEN 'sa-east-1' WHEN x'0d' THEN 'ca-central-1' \
        WHEN x'0e' THEN 'eu-west-2' WHEN x'0f' THEN 'eu-west-3' WHEN x'10' THEN 'eu-north-1' \
        WHEN x'11' THEN 'ap-northeast-3' WHEN x'12' THEN 'ap-east-1' \
        WHEN x'13' THEN 'me-south-1' WHEN x'14' THEN 'af-south-1' \
        WHEN x'15' THEN 'eu-south-1' WHEN x'16' THEN 'ap-southeast-3' \
        WHEN x'17' THEN 'me-central-1' WHEN x'18' THEN 'eu-central-2' \
        WHEN x'19' THEN 'eu-south-2' WHEN x'1a' THEN 'ap-south-2' \
        WHEN x'1b' THEN 'ap-southeast-4' WHEN x'1c' THEN 'il-central-1' \
        WHEN x'1d' THEN 'ca-west-1' WHEN x'1e' THEN 'ap-southeast-5' \
        WHEN x'1f' THEN 'ap-southeast-7' WHEN x'20' THEN 'mx-central-1' \
        WHEN x'21' THEN 'ap-east-2' WHEN x'22' THEN 'ap-southeast-6' \
        WHEN x'23' THEN 'us-gov-west-1' WHEN x'24' THEN 'us-gov-east-1' \
        WHEN x'25' THEN 'cn-north-1' WHEN x'26' THEN 'cn-northwest-1' \
         ELSE aws_region END"
    };
}

/// The `eventType`s stored as one byte, the first as 1 (schema 34; ~9 bytes
/// a stored event). Fixed for good, as [`event_type!`] reads them: a new
/// one goes at the end, in both.
pub const EVENT_TYPES: &[&str] = &[
    "AwsApiCall",
    "AwsServiceEvent",
    "AwsConsoleSignIn",
    "AwsConsoleAction",
    "AwsCloudTrailInsight",
    "AwsVpceEvent",
];

/// The `userIdentity.type`s stored as one byte, as [`EVENT_TYPES`] (~7
/// bytes a stored event); [`identity_type!`] reads them.
pub const IDENTITY_TYPES: &[&str] = &[
    "IAMUser",
    "AssumedRole",
    "AWSService",
    "Root",
    "FederatedUser",
    "AWSAccount",
    "Role",
    "Directory",
    "SAMLUser",
    "WebIdentityUser",
    "IdentityCenterUser",
    "Unknown",
];

/// The AWS regions stored as one byte, as [`EVENT_TYPES`] (schema 43; ~8
/// bytes a stored event), most used first: [`aws_region!`] compares a code
/// with each in turn. A region missing here is stored as its text.
pub const REGIONS: &[&str] = &[
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "us-east-2",
    "us-west-1",
    "eu-central-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-south-1",
    "sa-east-1",
    "ca-central-1",
    "eu-west-2",
    "eu-west-3",
    "eu-north-1",
    "ap-northeast-3",
    "ap-east-1",
    "me-south-1",
    "af-south-1",
    "eu-south-1",
    "ap-southeast-3",
    "me-central-1",
    "eu-central-2",
    "eu-south-2",
    "ap-south-2",
    "ap-southeast-4",
    "il-central-1",
    "ca-west-1",
    "ap-southeast-5",
    "ap-southeast-7",
    "mx-central-1",
    "ap-east-2",
    "ap-southeast-6",
    "us-gov-west-1",
    "us-gov-east-1",
    "cn-north-1",
    "cn-northwest-1",
];

/// What a coded column holds for `value`: the one-byte code of its place in
/// `codes` (a BLOB, which the column's text affinity keeps as it is), or
/// the text itself. Borrowed either way: the writer asks it of every event.
pub fn coded<'a>(
    value: Option<&'a str>,
    codes: &[&str],
) -> Option<rusqlite::types::ToSqlOutput<'a>> {
    /// Each code's byte, the first 1.
    const CODES: [u8; 64] = {
        let mut codes = [0; 64];
        let mut i = 0;
        while i < codes.len() {
            codes[i] = i as u8 + 1;
            i += 1;
        }
        codes
    };
    // Every list of codes fits (a longer one would panic below).
    const _: () = assert!(
        REGIONS.len() <= CODES.len()
            && EVENT_TYPES.len() <= CODES.len()
            && IDENTITY_TYPES.len() <= CODES.len()
    );
    let value = value?;
    use rusqlite::types::{ToSqlOutput, ValueRef};
    Some(ToSqlOutput::Borrowed(
        match codes.iter().position(|c| *c == value) {
            Some(i) => ValueRef::Blob(&CODES[i..=i]),
            None => ValueRef::Text(value.as_bytes()),
        },
    ))
}

/// What `events.role` holds (schemas 39 and 46): an empty BLOB, no byte,
/// when the role is the user's own name (a role session named after its
/// role, as services' roles are: ~21 bytes a stored event on the `scale`
/// preset); else the id of its name in `user_names` (`id_of`). Read back
/// by [`role!`].
pub fn stored_role(
    user: &str,
    role: Option<&str>,
    id_of: impl FnOnce(&str) -> rusqlite::Result<i64>,
) -> rusqlite::Result<Option<rusqlite::types::Value>> {
    use rusqlite::types::Value;
    Ok(match role {
        None => None,
        Some(role) if role == user => Some(Value::Blob(Vec::new())),
        Some(role) => Some(Value::Integer(id_of(role)?)),
    })
}

/// What `events.recipient_account_id` holds: NULL when the recipient is the
/// caller's own account (13 bytes a stored event), an empty BLOB when the
/// record has none but names the caller's account (schema 47: before, NULL
/// too), else the recipient. Where the event happened is
/// `coalesce(nullif(recipient_account_id, x''), account_id)` (the
/// resources, the anomalies: [`crate::resources::place`]); the
/// `recipientAccountId` filter compares `coalesce(recipient_account_id,
/// account_id)`, which no BLOB equals.
pub fn stored_recipient<'a>(
    account: Option<&str>,
    recipient: Option<&'a str>,
) -> Option<rusqlite::types::ToSqlOutput<'a>> {
    use rusqlite::types::{ToSqlOutput, ValueRef};
    match (account, recipient) {
        (Some(account), Some(recipient)) if account == recipient => None,
        (_, Some(recipient)) => Some(ToSqlOutput::Borrowed(ValueRef::Text(recipient.as_bytes()))),
        (Some(_), None) => Some(ToSqlOutput::Borrowed(ValueRef::Blob(&[]))),
        (None, None) => None,
    }
}

/// What `events.source_ip_address` holds (schema 45): an IP address as Rust
/// writes it back (dotted IPv4; IPv6 compressed, in lower case) as its 4 or
/// 16 bytes (a BLOB: ~8 bytes a stored event on the `scale` preset), read
/// back by [`ip_text`]; anything else (`AWS Internal`, a service's name, an
/// address written otherwise) as its text, so that the text read back is
/// the text stored.
pub fn stored_ip(ip: Option<&str>) -> Option<rusqlite::types::ToSqlOutput<'_>> {
    use rusqlite::types::{ToSqlOutput, Value, ValueRef};
    use std::net::IpAddr;
    let text = ip?;
    Some(match text.parse::<IpAddr>() {
        Ok(addr) if addr.to_string() == text => ToSqlOutput::Owned(Value::Blob(match addr {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        })),
        _ => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
    })
}

/// `events.source_ip_address` as [`stored_ip`] stored it, as text (`None`
/// for NULL).
pub fn ip_text(
    stored: rusqlite::types::ValueRef<'_>,
) -> rusqlite::types::FromSqlResult<Option<std::borrow::Cow<'_, str>>> {
    use rusqlite::types::{FromSqlError, ValueRef};
    use std::borrow::Cow;
    use std::net::{Ipv4Addr, Ipv6Addr};
    match stored {
        ValueRef::Null => Ok(None),
        ValueRef::Text(text) => std::str::from_utf8(text)
            .map(|t| Some(Cow::Borrowed(t)))
            .map_err(|e| FromSqlError::Other(Box::new(e))),
        ValueRef::Blob(bytes) => {
            if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
                Ok(Some(Cow::Owned(Ipv4Addr::from(v4).to_string())))
            } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
                Ok(Some(Cow::Owned(Ipv6Addr::from(v6).to_string())))
            } else {
                Err(FromSqlError::InvalidBlobSize {
                    expected_size: 4,
                    blob_size: bytes.len(),
                })
            }
        }
        _ => Err(FromSqlError::InvalidType),
    }
}

/// What `events.event_source` holds for an event: nothing (empty) when the
/// `eventSource` is its service's own, `SERVICE.amazonaws.com` (~19 bytes
/// a stored event saved), which [`event_source!`] reads back; else the
/// `eventSource` itself. Rows stored whole before are read as they are.
pub fn stored_event_source<'a>(event_source: &'a str, service: &str) -> &'a str {
    let own = !service.is_empty()
        && event_source
            .strip_prefix(service)
            .is_some_and(|rest| rest == OWN_SOURCE_SUFFIX);
    if own { "" } else { event_source }
}

/// What follows a service's name in the `eventSource` of its own calls.
const OWN_SOURCE_SUFFIX: &str = ".amazonaws.com";

/// The `eventSource` of a service's own calls, `SERVICE.amazonaws.com`
/// (none for no service): what an empty `events.event_source` stands for
/// (read in SQL by [`event_source!`], which says the same).
pub fn own_event_source(service: &str) -> String {
    if service.is_empty() {
        String::new()
    } else {
        format!("{service}{OWN_SOURCE_SUFFIX}")
    }
}

mod alerts;
mod anomalies;
mod courses;
mod meta;
mod names;
mod outbox;
mod query;
mod records;
mod resources;
mod schema;
mod tokens;
mod write;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ctt_core::course::{Candidates, Hit};
use ctt_core::query::Cursor;
use ctt_core::{EventQuery, GroupBy};
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::{
    Alert, AlertQuery, CatalogEntry, EventDetail, EventPage, EventStore, FileCounts, GroupCount,
    IntegritySummary, LedgerEntry, LedgerFilter, LoadedFile, PageLayout, StoreError, StoreResult,
    StoreStatus, StoredCourse, TokenRecord, TokenStore, Verdict, WrittenPage,
};

pub use records::{DICTIONARY_BYTES, LEVEL as RECORD_LEVEL, RecordCodec, RecordEncoder};
pub use schema::VERSION as SCHEMA_VERSION;
pub use write::{FIND_EVENT, Interned, id_bytes, key_hash, register_key_functions};

/// How to open a SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Parameters to index when the database is created; an existing database
    /// keeps the list it was created with.
    pub indexed_parameters: Vec<String>,
    /// SQLite page cache of the writer, in MiB.
    pub cache_mib: u32,
    /// Anomalies to keep (SPEC §13); `None`: none (left to a rebuild when a
    /// store is opened with them).
    pub anomalies: Option<ctt_core::anomaly::AnomalySettings>,
    /// Stored records one read may examine to match a parameter no index
    /// answers; beyond, it is refused ([`StoreError::TooBroad`]).
    pub scan_limit: u64,
    /// Records stored as text before the store trains the dictionary it
    /// compresses the next ones with (see `records.rs`).
    pub dictionary_after: u64,
    /// Records stored with the first dictionary before the store trains its
    /// second, on records spread over those it holds (see `records.rs`).
    pub dictionary_again_after: u64,
}

/// [`SqliteOptions::scan_limit`]'s default: about half a second of work.
pub const DEFAULT_SCAN_LIMIT: u64 = 100_000;

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            indexed_parameters: crate::DEFAULT_INDEXED_PARAMETERS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            cache_mib: 256,
            anomalies: None,
            scan_limit: DEFAULT_SCAN_LIMIT,
            dictionary_after: records::DEFAULT_DICTIONARY_AFTER,
            dictionary_again_after: records::DEFAULT_DICTIONARY_AGAIN_AFTER,
        }
    }
}

/// New databases use 16 KiB pages: a load writes ~10% less CPU's worth of B-tree
/// and WAL work than with 4 KiB pages, and ranges read fewer pages. (The writer
/// does not memory-map the file: its mapped pages would count as the loader's
/// resident memory.)
///
/// Reader connections: a page cache of their own, and the file memory-mapped
/// (up to SQLite's 2 GiB limit) so reading a page is a memory access, not a
/// `pread` copy.
const READER_PRAGMAS: &str =
    "PRAGMA busy_timeout = 10000; PRAGMA cache_size = -65536; PRAGMA mmap_size = 2147418112;";

/// Checkpoint the WAL at this many pages (128 MiB of 16 KiB pages).
const WAL_AUTOCHECKPOINT_PAGES: u32 = 8192;

/// The embedded event store.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    /// Parameter names known to be in the catalog (see `write::load`).
    known_names: Mutex<std::collections::HashSet<String>>,
    /// Rules' titles and tags known to be in `alert_rules` (see `write::load`).
    known_rules: Mutex<alerts::KnownRules>,
    readers: Mutex<Vec<Connection>>,
    indexed: Vec<String>,
    anomalies: Option<ctt_core::anomaly::AnomalySettings>,
    /// Records one read may examine for a parameter no index answers.
    scan_limit: u64,
    /// Reads running or queued on the blocking pool (see [`ReadGuard`]).
    reads_in_flight: AtomicUsize,
    /// Pages written by two readers at once (see `events_written`).
    pages_split: AtomicU64,
    /// Stored records back to text, for every connection.
    decoder: Arc<records::Decoder>,
    /// The writer's record compression (locked after `writer`).
    encoder: Mutex<records::Encoder>,
    /// The dictionary of `encoder`, once there is one, for the parsing
    /// threads (without the writer's lock).
    codec: std::sync::RwLock<Option<RecordCodec>>,
    /// [`SqliteOptions::dictionary_after`].
    dictionary_after: u64,
}

/// Counts a read in [`Inner::reads_in_flight`] from its start until the
/// blocking task that runs it ends (not when its caller stops waiting).
struct ReadGuard(Arc<Inner>);

impl ReadGuard {
    fn new(inner: &Arc<Inner>) -> Self {
        inner.reads_in_flight.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(inner))
    }
}

impl Drop for ReadGuard {
    fn drop(&mut self) {
        self.0.reads_in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A first page of at least this many events is split between two readers
/// when no other read is running (see `events_written`).
const SPLIT_PAGE_MIN: u32 = 200;

impl SqliteStore {
    /// Opens (creating and migrating if needed) the database file at `path`.
    pub fn open(path: impl AsRef<Path>, options: SqliteOptions) -> StoreResult<Self> {
        let path = path.as_ref().to_path_buf();
        let open_error = |e: rusqlite::Error| StoreError::Open {
            location: path.display().to_string(),
            source: Box::new(e),
        };
        let mut writer = Connection::open(&path).map_err(open_error)?;
        writer
            .execute_batch(&format!(
                "PRAGMA page_size = 16384;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA busy_timeout = 10000;
                 PRAGMA temp_store = MEMORY;
                 PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES};
                 PRAGMA cache_size = -{};",
                options.cache_mib as i64 * 1024
            ))
            .map_err(open_error)?;
        if !set_journal_mode(&writer, "wal").map_err(open_error)? {
            // Another process is committing a bulk load through a rollback
            // journal (see begin_bulk_load); it switches back to the WAL at its
            // end, and until then this store reads between its commits.
            tracing::warn!(
                database = %path.display(),
                "another process is bulk-loading this database: reads wait for its commits until it ends"
            );
        }
        match schema::migrate(&mut writer).map_err(open_error)? {
            Ok(_) => {}
            Err(found) => {
                return Err(StoreError::NewerSchema {
                    location: path.display().to_string(),
                    found,
                    known: schema::VERSION,
                });
            }
        }
        let decoder = Arc::new(records::Decoder::new(path.clone()));
        query::register_functions(&writer, &decoder).map_err(open_error)?;
        let encoder = records::Encoder::open(
            &writer,
            options.dictionary_after,
            options.dictionary_again_after,
        )
        .map_err(open_error)?;
        // A bulk load killed before its end left its query indexes to build.
        schema::build_query_indexes(&mut writer).map_err(open_error)?;
        // Events stored before resources were kept: their touches, once.
        resources::backfill(&mut writer).map_err(open_error)?;
        // …and each resource's state, if a migration or a bulk load left it to do.
        resources::rebuild_states_if_pending(&mut writer).map_err(open_error)?;
        anomalies::rebuild_if_pending(&mut writer, options.anomalies.as_ref())
            .map_err(open_error)?;
        let indexed =
            write::indexed_parameters(&writer, &options.indexed_parameters).map_err(open_error)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(writer),
                known_names: Mutex::new(std::collections::HashSet::new()),
                known_rules: Mutex::new(alerts::KnownRules::new()),
                readers: Mutex::new(Vec::new()),
                indexed,
                anomalies: options.anomalies.clone(),
                scan_limit: options.scan_limit,
                reads_in_flight: AtomicUsize::new(0),
                pages_split: AtomicU64::new(0),
                decoder,
                codec: std::sync::RwLock::new(encoder.codec().cloned()),
                encoder: Mutex::new(encoder),
                dictionary_after: options.dictionary_after,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` with the writer connection on the blocking pool.
    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.writer.lock().map_err(poisoned)?;
            f(&mut conn).map_err(StoreError::backend)
        })
        .await
        .map_err(|e| StoreError::Task(Box::new(e)))?
    }

    /// Runs `f` with a reader connection on the blocking pool.
    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &[String]) -> rusqlite::Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let guard = ReadGuard::new(&inner);
        tokio::task::spawn_blocking(move || {
            let _guard = guard;
            inner.with_reader(|conn| f(conn, &inner.indexed))
        })
        .await
        .map_err(|e| StoreError::Task(Box::new(e)))?
    }
}

impl SqliteStore {
    /// How many pages were written by two readers at once, since opening.
    pub fn pages_split(&self) -> u64 {
        self.inner.pages_split.load(Ordering::Relaxed)
    }

    /// A page written by two readers at once, each on its own core: this
    /// thread finds the event in the middle of the page (from the index alone)
    /// and writes the first half, while a blocking task writes the second half
    /// from that event on. Only when no other read runs: with other requests in
    /// flight the cores are busy anyway, and one reader per page does less
    /// work in all.
    ///
    /// The first half runs in place (`block_in_place`), not on the blocking
    /// pool: every hand-over between threads costs a wake-up, which on a
    /// virtual machine's idle core often takes a few hundred microseconds, so
    /// the page waits for one hand-over (the second half's) instead of three.
    ///
    /// Exactly once still holds: the middle and the first half are read in one
    /// transaction, and the second half reads a snapshot at least as recent,
    /// so every event stored when the page began is in one half or in the
    /// pages after. Events are never deleted.
    ///
    /// `read(conn, indexed, query, limit, cursor, room)` reads a half of
    /// `limit` events from `cursor`, with room for `room` (the first half's
    /// for the whole page); `join` puts the halves together.
    async fn split_page<T: Send + 'static>(
        &self,
        query: EventQuery,
        limit: u32,
        cursor: Option<Cursor>,
        read: impl Fn(
            &Connection,
            &[String],
            &EventQuery,
            u32,
            Option<&Cursor>,
            u32,
        ) -> rusqlite::Result<T>
        + Copy
        + Send
        + 'static,
        join: impl FnOnce(T, T) -> T,
    ) -> StoreResult<T> {
        let half = limit / 2;
        let inner = &self.inner;
        let _guard = ReadGuard::new(inner);
        let (first, second) = tokio::task::block_in_place(|| {
            inner.with_reader(|conn| {
                let snapshot = conn.unchecked_transaction()?;
                let middle =
                    query::nth_position(conn, &inner.indexed, &query, cursor.as_ref(), half - 1)?;
                // `None`: the first half holds every event there is.
                let second = middle.map(|middle| {
                    let (inner, query) = (Arc::clone(inner), query.clone());
                    let guard = ReadGuard::new(&inner);
                    tokio::task::spawn_blocking(move || {
                        let _guard = guard;
                        inner.with_reader(|conn| {
                            let rest = limit - half;
                            read(conn, &inner.indexed, &query, rest, Some(&middle), rest)
                        })
                    })
                });
                let first = read(conn, &inner.indexed, &query, half, cursor.as_ref(), limit)?;
                snapshot.commit()?;
                Ok((first, second))
            })
        })?;
        let Some(second) = second else {
            return Ok(first);
        };
        let second = second.await.map_err(|e| StoreError::Task(Box::new(e)))??;
        self.inner.pages_split.fetch_add(1, Ordering::Relaxed);
        Ok(join(first, second))
    }

    /// Whether a page of `limit` events of `query` is read by two readers
    /// ([`split_page`](Self::split_page)).
    fn splits(&self, query: &EventQuery, limit: u32) -> bool {
        // block_in_place needs a runtime with worker threads to hand over to.
        limit >= SPLIT_PAGE_MIN
            && query::split_pays(query)
            && self.inner.reads_in_flight.load(Ordering::SeqCst) == 0
            && tokio::runtime::Handle::current().runtime_flavor()
                == tokio::runtime::RuntimeFlavor::MultiThread
    }
}

impl Inner {
    /// Runs `f` with a reader connection of the pool (on the calling thread).
    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> StoreResult<T> {
        let conn = self.take_reader()?;
        let budget = query::scan_budget::Budget::start(self.scan_limit);
        let result = f(&conn).map_err(|e| match budget.spent_on() {
            Some(parameter) => StoreError::TooBroad {
                parameter,
                limit: self.scan_limit,
            },
            None => StoreError::backend(e),
        });
        drop(budget);
        self.give_back(conn);
        result
    }

    fn take_reader(&self) -> StoreResult<Connection> {
        if let Some(conn) = self.readers.lock().map_err(poisoned)?.pop() {
            return Ok(conn);
        }
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(StoreError::backend)?;
        conn.execute_batch(READER_PRAGMAS)
            .map_err(StoreError::backend)?;
        query::register_functions(&conn, &self.decoder).map_err(StoreError::backend)?;
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut readers) = self.readers.lock() {
            readers.push(conn);
        }
    }
}

/// Sets the journal mode (lower case, as SQLite reports it); whether it took.
/// SQLite does not wait to change it: while another connection holds a lock
/// that forbids the change, it answers "busy" at once, and this says `false`.
fn set_journal_mode(conn: &Connection, mode: &str) -> rusqlite::Result<bool> {
    match conn.query_row(&format!("PRAGMA journal_mode = {mode}"), [], |r| {
        r.get::<_, String>(0)
    }) {
        Ok(now) => Ok(now == mode),
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => Ok(false),
        Err(e) => Err(e),
    }
}

fn poisoned<T>(_: std::sync::PoisonError<T>) -> StoreError {
    StoreError::Task("a store connection lock was poisoned by a panic".into())
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn load(&self, files: Vec<LoadedFile>) -> StoreResult<Vec<FileCounts>> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.writer.lock().map_err(poisoned)?;
            let mut known_names = inner.known_names.lock().map_err(poisoned)?;
            let mut known_rules = inner.known_rules.lock().map_err(poisoned)?;
            let mut encoder = inner.encoder.lock().map_err(poisoned)?;
            let counts = write::load(
                &mut conn,
                &files,
                &mut known_names,
                &mut known_rules,
                inner.anomalies.as_ref(),
                &mut encoder,
            )
            .map_err(StoreError::backend)?;
            encoder.train_if_due(&mut conn);
            if let Some(codec) = encoder.codec()
                && let Ok(mut handed) = inner.codec.write()
                && handed.as_ref().is_none_or(|h| !h.same(codec))
            {
                // A new dictionary (a store trains two): the parsing
                // threads take it for their next files.
                *handed = Some(codec.clone());
            }
            Ok(counts)
        })
        .await
        .map_err(|e| StoreError::Task(Box::new(e)))?
    }

    async fn ledger(&self, filter: LedgerFilter) -> StoreResult<Vec<LedgerEntry>> {
        self.read(move |conn, _| write::ledger(conn, filter)).await
    }

    async fn ledger_entry(&self, key: &str) -> StoreResult<Option<LedgerEntry>> {
        let key = key.to_owned();
        self.read(move |conn, _| write::ledger_entry(conn, &key).optional())
            .await
    }

    async fn record_integrity(&self, verdicts: Vec<Verdict>) -> StoreResult<u64> {
        self.write(move |conn| write::record_integrity(conn, &verdicts))
            .await
    }

    async fn resource_touches(
        &self,
        user: Option<&str>,
    ) -> StoreResult<Vec<crate::ResourceTouches>> {
        let user = user.map(str::to_owned);
        self.read(move |conn, _| resources::touches(conn, user.as_deref()))
            .await
    }

    async fn resources(
        &self,
        query: &crate::ResourceQuery,
    ) -> StoreResult<Vec<crate::ResourceLife>> {
        let query = query.clone();
        self.read(move |conn, _| match resources::page(conn, &query)? {
            Some(page) => Ok(page),
            // A user's, or states being rebuilt: from the touches.
            None => {
                let touches = resources::touches(conn, query.filter.user.as_deref())?;
                Ok(crate::resources::fold_page(touches, &query))
            }
        })
        .await
    }

    async fn running_groups(
        &self,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<crate::RunningGroup>> {
        let summed = self
            .read(move |conn, _| resources::running_groups(conn, at))
            .await?;
        match summed {
            Some(groups) => Ok(groups),
            None => {
                let query = crate::ResourceQuery::all(crate::ResourceFilter::open_at(None, at));
                Ok(crate::resources::running_groups(
                    EventStore::resources(self, &query).await?,
                ))
            }
        }
    }

    async fn alerts(&self, query: &AlertQuery) -> StoreResult<Vec<Alert>> {
        let query = query.clone();
        self.read(move |conn, _| alerts::list(conn, &query)).await
    }

    async fn count_alerts(&self, query: &AlertQuery) -> StoreResult<u64> {
        let query = query.clone();
        self.read(move |conn, _| alerts::count(conn, &query)).await
    }

    async fn alert(&self, id: &str) -> StoreResult<Option<Alert>> {
        let id = id.to_owned();
        self.read(move |conn, _| alerts::get(conn, &id)).await
    }

    async fn user_baseline(&self, user: &str) -> StoreResult<Option<crate::UserBaseline>> {
        let user = user.to_owned();
        self.read(move |conn, _| anomalies::user_baseline(conn, &user))
            .await
    }

    async fn integrity(&self) -> StoreResult<IntegritySummary> {
        self.read(|conn, _| write::integrity(conn)).await
    }

    fn outbox(&self) -> Option<&dyn crate::Outbox> {
        Some(self)
    }

    async fn integrity_marks(
        &self,
        event_ids: Vec<String>,
    ) -> StoreResult<HashMap<String, String>> {
        self.read(move |conn, _| write::integrity_marks(conn, &event_ids))
            .await
    }

    async fn loaded_already(&self, files: Vec<(String, String)>) -> StoreResult<Vec<bool>> {
        self.read(move |conn, _| write::loaded_already(conn, &files))
            .await
    }

    async fn file_hashes(&self, files: Vec<(String, String)>) -> StoreResult<Vec<Option<String>>> {
        self.read(move |conn, _| write::file_hashes(conn, &files))
            .await
    }

    fn indexed_parameters(&self) -> &[String] {
        &self.inner.indexed
    }

    fn record_codec(&self) -> Option<RecordCodec> {
        self.inner.codec.read().ok().and_then(|codec| codec.clone())
    }

    fn alerts_read_stored_records(&self) -> bool {
        true
    }

    fn records_before_codec(&self) -> Option<u64> {
        match self.record_codec() {
            Some(_) => None,
            None => Some(self.inner.dictionary_after),
        }
    }

    async fn events(
        &self,
        query: &EventQuery,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> StoreResult<EventPage> {
        let (query, cursor) = (query.clone(), cursor.cloned());
        // A large page of summaries (the CLI's exports): two readers, as
        // written pages.
        if self.splits(&query, limit) {
            let read =
                |conn: &Connection,
                 indexed: &[String],
                 query: &EventQuery,
                 limit: u32,
                 cursor: Option<&Cursor>,
                 _room: u32| query::events(conn, indexed, query, limit, cursor);
            let join = |mut first: EventPage, second: EventPage| {
                first.events.extend(second.events);
                EventPage {
                    events: first.events,
                    next: second.next,
                }
            };
            return self.split_page(query, limit, cursor, read, join).await;
        }
        self.read(move |conn, indexed| query::events(conn, indexed, &query, limit, cursor.as_ref()))
            .await
    }

    async fn events_written(
        &self,
        query: &EventQuery,
        limit: u32,
        cursor: Option<&Cursor>,
        layout: PageLayout,
    ) -> StoreResult<WrittenPage> {
        let (query, cursor) = (query.clone(), cursor.cloned());
        if self.splits(&query, limit) {
            // Room for the whole page in the first half's buffer: the second
            // half is appended without moving the first.
            let read = move |conn: &Connection,
                             indexed: &[String],
                             query: &EventQuery,
                             limit: u32,
                             cursor: Option<&Cursor>,
                             room: u32| {
                let json = Vec::with_capacity(query::page_capacity(room));
                query::events_written(conn, indexed, query, limit, cursor, layout, json)
            };
            return self
                .split_page(query, limit, cursor, read, |first: WrittenPage, second| {
                    first.followed_by(second, layout)
                })
                .await;
        }
        self.read(move |conn, indexed| {
            let json = Vec::with_capacity(query::page_capacity(limit));
            query::events_written(conn, indexed, &query, limit, cursor.as_ref(), layout, json)
        })
        .await
    }

    async fn count(&self, query: &EventQuery) -> StoreResult<u64> {
        let query = query.clone();
        self.read(move |conn, indexed| query::count(conn, indexed, &query))
            .await
    }

    async fn stats(
        &self,
        query: &EventQuery,
        group_by: GroupBy,
        limit: u32,
    ) -> StoreResult<Vec<GroupCount>> {
        let query = query.clone();
        self.read(move |conn, indexed| query::stats(conn, indexed, &query, group_by, limit))
            .await
    }

    async fn event(&self, event_id: &str) -> StoreResult<Option<EventDetail>> {
        let event_id = event_id.to_owned();
        self.read(move |conn, _| query::event(conn, &event_id))
            .await
    }

    async fn users(&self) -> StoreResult<Vec<CatalogEntry>> {
        self.read(|conn, _| query::catalog(conn, "users")).await
    }

    async fn put_course(&self, course: StoredCourse) -> StoreResult<()> {
        self.write(move |conn| courses::put(conn, &course)).await
    }

    async fn courses(&self) -> StoreResult<Vec<StoredCourse>> {
        self.read(|conn, _| courses::list(conn)).await
    }

    async fn course(&self, id: &str) -> StoreResult<Option<StoredCourse>> {
        let id = id.to_owned();
        self.read(move |conn, _| courses::get(conn, &id)).await
    }

    async fn remove_course(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        self.write(move |conn| courses::remove(conn, &id)).await
    }

    async fn course_hits(&self, candidates: &Candidates) -> StoreResult<Vec<Hit>> {
        let candidates = candidates.clone();
        self.read(move |conn, _| courses::hits(conn, &candidates))
            .await
    }

    async fn services(&self) -> StoreResult<Vec<CatalogEntry>> {
        self.read(|conn, _| query::catalog(conn, "services")).await
    }

    async fn parameters(&self) -> StoreResult<Vec<String>> {
        self.read(|conn, _| query::parameters(conn)).await
    }

    async fn status(&self) -> StoreResult<StoreStatus> {
        self.read(|conn, _| query::status(conn)).await
    }

    async fn begin_bulk_load(&self) -> StoreResult<bool> {
        // This process's idle readers would keep the journal from changing.
        if let Ok(mut readers) = self.inner.readers.lock() {
            readers.clear();
        }
        self.write(|conn| {
            let deferred = schema::drop_query_indexes_if_empty(conn)?;
            if deferred {
                // Resource states too are built once, at the end.
                resources::states_pending(conn)?;
                anomalies::pending(conn)?;
                // The first load of a store does not wait for the disk: a
                // killed load loses nothing (the OS has the writes; tested),
                // only a power loss during it could, and the store held
                // nothing before. end_bulk_load syncs it all.
                //
                // It also writes each page once, straight into the file, with
                // a rollback journal for the pages a commit changes: the WAL
                // writes a page to the log, reads it back and writes it again
                // at each checkpoint (the paper preset: 2.4 GB written instead
                // of 3.6 GB, 0.8 GB read instead of 2.4 GB). The journal can
                // only change while no other connection has the file open;
                // else the load keeps the WAL, checkpointing every 1 GiB.
                let switched = set_journal_mode(conn, "truncate")?;
                tracing::debug!(rollback_journal = switched, "bulk load");
                conn.execute_batch("PRAGMA synchronous = OFF; PRAGMA wal_autocheckpoint = 65536;")?;
            }
            Ok(deferred)
        })
        .await
    }

    async fn end_bulk_load(&self) -> StoreResult<()> {
        let path = self.inner.path.clone();
        let anomaly_settings = self.inner.anomalies.clone();
        self.write(move |conn| {
            let started = std::time::Instant::now();
            schema::build_query_indexes(conn)?;
            let indexes = started.elapsed();
            resources::rebuild_states_if_pending(conn)?;
            let resources = started.elapsed() - indexes;
            anomalies::rebuild_if_pending(conn, anomaly_settings.as_ref())?;
            let anomalies = started.elapsed() - indexes - resources;
            tracing::debug!(?indexes, ?resources, ?anomalies, "bulk load ended");
            conn.execute_batch(&format!(
                "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES};"
            ))?;
            let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
            if mode == "wal" {
                conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            } else if !set_journal_mode(conn, "wal")? {
                // A reader of another process holds the file: the next open
                // switches it back.
                tracing::warn!("the database stays in rollback-journal mode until it is opened again");
            }
            // Everything written without syncing reaches the disk now.
            std::fs::File::open(&path)
                .and_then(|file| file.sync_all())
                .map_err(|e| {
                    rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
                        Some(format!("cannot sync {}: {e}", path.display())),
                    )
                })
        })
        .await
    }
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn create_token(&self, token: TokenRecord) -> StoreResult<bool> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let conn = inner.writer.lock().map_err(poisoned)?;
            tokens::create(&conn, &token).map_err(StoreError::backend)
        })
        .await
        .map_err(|e| StoreError::Task(Box::new(e)))?
    }

    async fn tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        self.read(|conn, _| tokens::list(conn)).await
    }

    async fn revoke_token(&self, name: &str) -> StoreResult<bool> {
        let (inner, name) = (Arc::clone(&self.inner), name.to_owned());
        tokio::task::spawn_blocking(move || {
            let conn = inner.writer.lock().map_err(poisoned)?;
            tokens::revoke(&conn, &name).map_err(StoreError::backend)
        })
        .await
        .map_err(|e| StoreError::Task(Box::new(e)))?
    }
}

#[async_trait]
impl crate::Outbox for SqliteStore {
    async fn enqueue_new(
        &self,
        routes: &[crate::Route],
        oldest: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<u64> {
        let routes = routes.to_vec();
        self.write(move |conn| outbox::enqueue_new(conn, &routes, oldest, now))
            .await
    }

    async fn claim_due(
        &self,
        destinations: &[String],
        now: chrono::DateTime<chrono::Utc>,
        lease: std::time::Duration,
        limit: usize,
    ) -> StoreResult<Vec<crate::Delivery>> {
        let destinations = destinations.to_vec();
        self.write(move |conn| outbox::claim_due(conn, &destinations, now, lease, limit))
            .await
    }

    async fn mark_sent(
        &self,
        delivery: &crate::Delivery,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()> {
        let delivery = delivery.clone();
        self.write(move |conn| outbox::mark_sent(conn, &delivery, now))
            .await
    }

    async fn mark_failed(
        &self,
        delivery: &crate::Delivery,
        error: &str,
        retry_at: Option<chrono::DateTime<chrono::Utc>>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()> {
        let (delivery, error) = (delivery.clone(), error.to_owned());
        self.write(move |conn| outbox::mark_failed(conn, &delivery, &error, retry_at, now))
            .await
    }

    async fn outbox_counts(&self) -> StoreResult<crate::OutboxCounts> {
        self.read(|conn, _| outbox::counts(conn)).await
    }

    async fn pending_for(&self, destination: &str) -> StoreResult<u64> {
        let destination = destination.to_owned();
        self.read(move |conn, _| outbox::pending_for(conn, &destination))
            .await
    }

    async fn deliveries(&self, alert_id: &str) -> StoreResult<Vec<crate::outbox::DeliveryState>> {
        let alert_id = alert_id.to_owned();
        self.read(move |conn, _| outbox::deliveries(conn, &alert_id))
            .await
    }
}

/// A database in memory with the current schema and its indexes, as an
/// open leaves it (for tests of statements).
#[cfg(test)]
fn migrated_in_memory() -> Connection {
    let mut conn = Connection::open_in_memory().expect("open");
    schema::migrate(&mut conn)
        .expect("migrate")
        .expect("current");
    schema::build_query_indexes(&mut conn).expect("indexes");
    conn
}

/// The first column of every row `sql` returns, as text, and the virtual
/// machine steps it took (for tests of how much a statement reads).
#[cfg(test)]
fn first_column_and_steps(
    conn: &Connection,
    sql: &str,
    values: Vec<rusqlite::types::Value>,
) -> (Vec<String>, i32) {
    let mut stmt = conn.prepare(sql).expect("prepare");
    let column = stmt
        .query_map(rusqlite::params_from_iter(values), |r| {
            r.get::<_, String>(0)
        })
        .expect("query")
        .collect::<rusqlite::Result<Vec<_>>>()
        .expect("rows");
    (column, stmt.get_status(rusqlite::StatementStatus::VmStep))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{file, record, written_pages_match_the_page};
    use ctt_core::time::{format_event_time, from_seconds};
    use ctt_core::{NameMatch, Scope};
    use std::collections::BTreeSet;

    /// The ids of a row as schema 46 stores it, for rows written by hand.
    const RUN_INSTANCES: &str = "(SELECT id FROM event_names WHERE text = 'RunInstances')";
    const EC2: &str = "(SELECT id FROM service_names WHERE text = 'ec2')";
    const ALICE: &str = "(SELECT id FROM user_names WHERE text = 'alice')";

    /// A store in a new folder, with three events of `alice` (ids
    /// `{prefix}-1`…, a second apart) as `edit` leaves their records.
    async fn store_of_three(
        prefix: &str,
        edit: impl FnOnce(&mut [serde_json::Value]),
    ) -> (tempfile::TempDir, PathBuf, SqliteStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ctt.db");
        let store = SqliteStore::open(&path, SqliteOptions::default()).expect("open");
        let mut records: Vec<serde_json::Value> = (1..=3)
            .map(|i| {
                let time = format!("2018-03-02T10:00:0{i}Z");
                record(
                    &format!("{prefix}-{i}"),
                    &time,
                    "alice",
                    "ec2",
                    "RunInstances",
                )
            })
            .collect();
        edit(&mut records);
        let loaded = file(&store, "a.json.gz", records);
        assert_eq!(loaded.events.len(), 3, "none rejected");
        store.load(vec![loaded]).await.expect("load");
        (dir, path, store)
    }

    fn every_event() -> EventQuery {
        EventQuery::between(from_seconds(0), from_seconds(i64::from(u32::MAX)))
    }

    /// The ids of the events whose parameter `name` is `value`.
    async fn ids_where(store: &SqliteStore, name: &str, value: &str) -> Vec<String> {
        let query = EventQuery {
            params: vec![ctt_core::ParamFilter {
                name: name.into(),
                value: value.into(),
            }],
            ..every_event()
        };
        let page = store.events(&query, 10, None).await.expect("page");
        page.events.into_iter().map(|e| e.event_id).collect()
    }

    /// One column of every row of `events`, in the order they were stored.
    fn stored_column<T: rusqlite::types::FromSql>(path: &Path, column: &str) -> Vec<T> {
        Connection::open(path)
            .expect("open")
            .prepare(&format!("SELECT {column} FROM events ORDER BY seq"))
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows")
    }

    /// Issue "Scale" (disk), schema 38: a record is stored without the
    /// `eventID`, `eventTime` and `sourceIPAddress` its columns hold, and
    /// read whole: by its event and through a parameter filter on those
    /// fields (as an alert's record:
    /// `an_alert_keeps_its_record_only_when_its_event_is_not_stored`). A
    /// time the column would change stays in the row.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_record_is_stored_without_what_its_columns_hold_and_read_whole() {
        let (_dir, path, store) = store_of_three("h", |records| {
            records[2]["eventTime"] = "2018-03-02T10:00:03.500Z".into();
        })
        .await;
        let rows: Vec<String> = Connection::open(&path)
            .expect("open")
            .prepare("SELECT record FROM records ORDER BY seq")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows (text: no dictionary yet)");
        for (row, id) in rows.iter().zip(["h-1", "h-2", "h-3"]) {
            assert!(!row.contains(&format!("\"{id}\"")), "{row}");
            assert!(!row.contains("192.0.2.1"), "{row}");
        }
        assert!(!rows[0].contains("eventTime"), "{}", rows[0]);
        assert!(rows[2].contains("10:00:03.500Z"), "{}", rows[2]);
        for (i, id) in ["h-1", "h-2", "h-3"].iter().enumerate() {
            let mut expected = crate::conformance::record(
                id,
                &format!("2018-03-02T10:00:0{}Z", i + 1),
                "alice",
                "ec2",
                "RunInstances",
            );
            if i == 2 {
                expected["eventTime"] = "2018-03-02T10:00:03.500Z".into();
            }
            let detail = store.event(id).await.expect("event").expect("stored");
            assert_eq!(detail.record["eventID"], *id);
            assert_eq!(detail.record["sourceIPAddress"], "192.0.2.1");
            assert_eq!(detail.record["eventTime"], expected["eventTime"]);
        }
        assert_eq!(ids_where(&store, "eventID", "h-2").await, ["h-2"]);
        assert_eq!(
            ids_where(&store, "sourceIPAddress", "192.0.2.1")
                .await
                .len(),
            3
        );
        assert_eq!(
            ids_where(&store, "eventTime", "2018-03-02T10:00:01Z").await,
            ["h-1"]
        );
    }

    /// Issue "Scale" (disk), schema 40: `events_by_name` holds a canonical
    /// eventID as 16 bytes; a class's hits, read from it alone, give every
    /// eventID back as it was, canonical or not.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_class_reads_each_event_id_whole_from_the_name_index() {
        let ids = [
            "85eede41-6ffb-46c9-82c6-e10dea7b0b1b",
            "85EEDE41-6FFB-46C9-82C6-E10DEA7B0B1B",
            "85eede41-6ffb-46c9-82c6-e10dea7b0b1",
        ];
        let (_dir, path, store) = store_of_three("x", |records| {
            for (record, id) in records.iter_mut().zip(ids) {
                record["eventID"] = id.into();
            }
        })
        .await;
        let candidates = Candidates {
            window: ctt_core::course::Window {
                from: from_seconds(0),
                to: from_seconds(i64::from(u32::MAX)),
            },
            names: vec![(None, "RunInstances".into())],
            user: None,
        };
        let mut read: Vec<String> = store
            .course_hits(&candidates)
            .await
            .expect("hits")
            .into_iter()
            .map(|h| h.event_id)
            .collect();
        read.sort();
        let mut expected = ids.map(String::from).to_vec();
        expected.sort();
        assert_eq!(read, expected);
        let conn = Connection::open(&path).expect("open");
        register_key_functions(&conn).expect("functions");
        let kinds: Vec<String> = conn
            .prepare("SELECT typeof(ctt_id_bytes(event_id)) FROM events ORDER BY seq")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(kinds, ["blob", "text", "text"]);
    }

    /// Issue "Scale" (disk), schema 39: a role that is its user's own name
    /// (a session named after its role) is stored as an empty BLOB and read
    /// back as the name; another role as its name's id, and none as NULL.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_role_named_as_its_user_is_stored_empty_and_read_whole() {
        let assumed = |role: &str, session: &str| {
            serde_json::json!({"type": "AssumedRole", "accountId": "111122223333",
                "arn": format!("arn:aws:sts::111122223333:assumed-role/{role}/{session}"),
                "sessionContext": {"sessionIssuer": {"type": "Role", "userName": role}}})
        };
        let (_dir, path, store) = store_of_three("ro", |records| {
            records[0]["userIdentity"] = assumed("svc-ingest", "svc-ingest");
            records[1]["userIdentity"] = assumed("Dev", "alice");
        })
        .await;
        // Another role is its name's id (schema 46).
        let kinds: Vec<String> = stored_column(&path, "typeof(role)");
        assert_eq!(kinds, ["blob", "integer", "null"]);
        let page = store.events(&every_event(), 10, None).await.expect("page");
        let roles: Vec<(String, Option<String>)> =
            page.events.into_iter().map(|e| (e.user, e.role)).collect();
        assert_eq!(
            roles,
            [
                ("svc-ingest".into(), Some("svc-ingest".into())),
                ("alice".into(), Some("Dev".into())),
                ("alice".into(), None),
            ]
        );
    }

    /// Issue "Scale" (disk): an `eventSource` that is its service's own
    /// (`SERVICE.amazonaws.com`) is stored empty and read back whole; any
    /// other, an empty one too, is stored as it is; an `eventSource` filter
    /// finds each.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_event_source_that_is_its_services_own_is_stored_empty_and_read_whole() {
        let (_dir, path, store) = store_of_three("s", |records| {
            records[1]["eventSource"] = "ec2.example.com".into();
            records[2]["eventSource"] = "".into();
        })
        .await;
        let stored: Vec<String> = stored_column(&path, "event_source");
        assert_eq!(stored, ["", "ec2.example.com", ""]);
        let page = store.events(&every_event(), 10, None).await.expect("page");
        let sources: Vec<&str> = page
            .events
            .iter()
            .map(|e| e.event_source.as_str())
            .collect();
        assert_eq!(sources, ["ec2.amazonaws.com", "ec2.example.com", ""]);
        for (value, id) in [
            ("ec2.amazonaws.com", "s-1"),
            ("ec2.example.com", "s-2"),
            ("", "s-3"),
        ] {
            assert_eq!(
                ids_where(&store, "eventSource", value).await,
                [id],
                "eventSource={value}"
            );
        }
    }

    /// Issue "Scale" (disk): a `recipientAccountId` that is the caller's own
    /// account is stored NULL (13 bytes a stored event), none as an empty
    /// BLOB (schema 47), and the place of each is read back as
    /// `coalesce(nullif(recipient_account_id, x''), account_id)` by the
    /// resources and the anomalies; another account's is kept.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_recipient_account_that_is_the_callers_own_is_stored_null() {
        let (_dir, path, _store) = store_of_three("r", |records| {
            records[1]["recipientAccountId"] = "444455556666".into();
            records[2]
                .as_object_mut()
                .expect("object")
                .remove("recipientAccountId");
        })
        .await;
        let stored: Vec<String> = stored_column(&path, "quote(recipient_account_id)");
        assert_eq!(stored, ["NULL", "'444455556666'", "X''"]);
        let read: Vec<Option<String>> = stored_column(
            &path,
            concat!(
                "coalesce(nullif(recipient_account_id, x''), ",
                account_id!(),
                ")"
            ),
        );
        let read: Vec<&str> = read.iter().flatten().map(String::as_str).collect();
        assert_eq!(read, ["111122223333", "444455556666", "111122223333"]);
    }

    /// Issue "Scale" (disk), schema 42: the caller's account is stored once,
    /// in `accounts`, each event holding its id; `account_id!` reads it, and
    /// the text of a row stored before as it is.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_account_is_stored_once_and_read_with_each_event() {
        let (_dir, path, _store) = store_of_three("a", |records| {
            records[1]["userIdentity"]["accountId"] = "444455556666".into();
            records[2]["userIdentity"]
                .as_object_mut()
                .expect("object")
                .remove("accountId");
        })
        .await;
        let conn = Connection::open(&path).expect("open");
        register_key_functions(&conn).expect("events_by_id's function");
        conn.execute(
            &format!(
                "INSERT INTO events (event_id, event_time, event_name, event_source, service, user,
                account_id) VALUES ('a-0', 1519984800, {RUN_INSTANCES}, '', {EC2}, {ALICE},
                '777788889999')"
            ),
            [],
        )
        .expect("a row as an earlier version stored it");
        let in_rows: Vec<Option<String>> = stored_column(&path, "account_id");
        assert_eq!(in_rows, [None, None, None, Some("777788889999".into())]);
        let read: Vec<Option<String>> = stored_column(&path, account_id!());
        assert_eq!(
            read,
            [
                Some("111122223333".into()),
                Some("444455556666".into()),
                None,
                Some("777788889999".into())
            ]
        );
        let accounts: i64 = conn
            .query_row("SELECT count(*) FROM accounts", [], |r| r.get(0))
            .expect("accounts");
        assert_eq!(accounts, 2);
    }

    /// Issue "Scale" (disk), schemas 34 and 43: each known `eventType`,
    /// `userIdentity.type` and `awsRegion` is stored as its one-byte code and
    /// read back as itself; pages, filters and `/stats` read codes, unknown
    /// values and rows stored before with their text alike.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn event_and_identity_types_and_regions_are_stored_as_codes_and_read_whole() {
        let conn = migrated_in_memory();
        for (codes, read, column) in [
            (EVENT_TYPES, event_type!(), "event_type"),
            (IDENTITY_TYPES, identity_type!(), "identity_type"),
            (REGIONS, aws_region!(), "aws_region"),
        ] {
            for value in codes.iter().chain(&["SomethingNew"]) {
                let stored = coded(Some(value), codes).expect("a value");
                let back: String = conn
                    .query_row(
                        &format!("SELECT {read} FROM (SELECT ?1 AS {column})"),
                        [stored],
                        |r| r.get(0),
                    )
                    .expect("read");
                assert_eq!(&back, value);
            }
        }
        let (_dir, path, store) = store_of_three("t", |records| {
            records[1]["eventType"] = "AwsConsoleSignIn".into();
            records[1]["userIdentity"]["type"] = "AssumedRole".into();
            records[2]["eventType"] = "SomethingNew".into();
            records[1]["awsRegion"] = "eu-west-1".into();
            records[2]["awsRegion"] = "xx-moon-1".into();
        })
        .await;
        let kinds: Vec<String> = stored_column(&path, "typeof(event_type)");
        assert_eq!(kinds, ["blob", "blob", "text"]);
        let regions: Vec<String> = stored_column(&path, "typeof(aws_region)");
        assert_eq!(regions, ["blob", "blob", "text"]);
        // A row as an earlier version stored it: the text.
        let conn = Connection::open(&path).expect("open");
        register_key_functions(&conn).expect("events_by_id's function");
        conn.execute(
            &format!(
                "INSERT INTO events (event_id, event_time, event_name, event_source, service, user,
                    identity_type, event_type, aws_region) VALUES ('t-0', 1519984800,
                    {RUN_INSTANCES}, '', {EC2}, {ALICE}, 'AssumedRole', 'AwsConsoleSignIn',
                    'eu-west-1')"
            ),
            [],
        )
        .expect("insert");
        let page = store.events(&every_event(), 10, None).await.expect("page");
        type Read<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<&'a str>);
        let read: Vec<Read> = page
            .events
            .iter()
            .map(|e| {
                (
                    e.event_id.as_str(),
                    e.event_type.as_deref(),
                    e.identity_type.as_deref(),
                    e.aws_region.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            read,
            [
                (
                    "t-0",
                    Some("AwsConsoleSignIn"),
                    Some("AssumedRole"),
                    Some("eu-west-1")
                ),
                (
                    "t-1",
                    Some("AwsApiCall"),
                    Some("IAMUser"),
                    Some("us-east-1")
                ),
                (
                    "t-2",
                    Some("AwsConsoleSignIn"),
                    Some("AssumedRole"),
                    Some("eu-west-1")
                ),
                (
                    "t-3",
                    Some("SomethingNew"),
                    Some("IAMUser"),
                    Some("xx-moon-1")
                ),
            ]
        );
        assert_eq!(
            ids_where(&store, "awsRegion", "eu-west-1").await,
            ["t-0", "t-2"]
        );
        assert_eq!(ids_where(&store, "awsRegion", "xx-moon-1").await, ["t-3"]);
        // `/stats` by region from the rows themselves (a window's edges).
        let groups =
            query::stats_exact(&conn, &[], &every_event(), GroupBy::AwsRegion, 10).expect("stats");
        let groups: Vec<(&str, u64)> = groups.iter().map(|g| (g.key.as_str(), g.count)).collect();
        assert_eq!(
            groups,
            [("eu-west-1", 2), ("us-east-1", 1), ("xx-moon-1", 1)]
        );
        assert_eq!(
            ids_where(&store, "eventType", "AwsConsoleSignIn").await,
            ["t-0", "t-2"]
        );
        assert_eq!(
            ids_where(&store, "eventType", "SomethingNew").await,
            ["t-3"]
        );
        assert_eq!(
            ids_where(&store, "userIdentity_type", "AssumedRole").await,
            ["t-0", "t-2"]
        );
    }

    /// Issue "Scale" (disk), schema 45: a `sourceIPAddress` written as an
    /// address is stored as its 4 or 16 bytes, anything else as its text;
    /// pages, the event's record and the `sourceIPAddress` filter read both,
    /// and rows stored before with their text.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_source_ip_is_stored_as_its_bytes_and_read_whole() {
        let ips = ["10.1.2.3", "2001:db8::1", "2001:DB8::1"];
        let (_dir, path, store) = store_of_three("ip", |records| {
            for (record, ip) in records.iter_mut().zip(ips) {
                record["sourceIPAddress"] = ip.into();
            }
        })
        .await;
        let kinds: Vec<String> = stored_column(&path, "typeof(source_ip_address)");
        assert_eq!(kinds, ["blob", "blob", "text"]);
        let sizes: Vec<i64> = stored_column(&path, "length(source_ip_address)");
        assert_eq!(sizes[..2], [4, 16]);
        let page = store.events(&every_event(), 10, None).await.expect("page");
        let read: Vec<Option<&str>> = page
            .events
            .iter()
            .map(|e| e.source_ip_address.as_deref())
            .collect();
        assert_eq!(read, ips.map(Some));
        let json = store
            .events_written(&every_event(), 10, None, PageLayout::Array)
            .await
            .expect("json page");
        let json: Vec<serde_json::Value> = serde_json::from_slice(&json.bytes).expect("json");
        let read: Vec<&str> = json
            .iter()
            .filter_map(|e| e["sourceIPAddress"].as_str())
            .collect();
        assert_eq!(read, ips);
        for (i, ip) in ips.iter().enumerate() {
            let detail = store
                .event(&format!("ip-{}", i + 1))
                .await
                .expect("event")
                .expect("found");
            assert_eq!(detail.record["sourceIPAddress"], *ip, "the record whole");
        }
        // A row as an earlier version stored it: the text.
        let conn = Connection::open(&path).expect("open");
        register_key_functions(&conn).expect("events_by_id's function");
        conn.execute(
            &format!(
                "INSERT INTO events (event_id, event_time, event_name, event_source, service, user,
                    source_ip_address) VALUES ('ip-0', 1519984800, {RUN_INSTANCES}, '', {EC2},
                    {ALICE}, '10.1.2.3')"
            ),
            [],
        )
        .expect("insert");
        assert_eq!(
            ids_where(&store, "sourceIPAddress", "10.1.2.3").await,
            ["ip-0", "ip-1"]
        );
        assert_eq!(
            ids_where(&store, "sourceIPAddress", "2001:db8::1").await,
            ["ip-2"]
        );
        assert_eq!(
            ids_where(&store, "sourceIPAddress", "2001:DB8::1").await,
            ["ip-3"]
        );
    }

    /// Issue "Scale" (disk), schema 30: a `userAgent` is stored once, each
    /// event holding its id; pages and the `userAgent` filter read it, and
    /// rows stored before with their text are read as they are.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_user_agent_is_stored_once_and_read_with_each_event() {
        let (_dir, path, store) = store_of_three("u", |records| {
            records[1]["userAgent"] = "Boto3/1.9 Python/3.6".into();
            records[2]
                .as_object_mut()
                .expect("object")
                .remove("userAgent");
        })
        .await;
        // A row as an earlier version stored it: the text in the row.
        let conn = Connection::open(&path).expect("open");
        register_key_functions(&conn).expect("events_by_id's function");
        conn.execute(
            &format!(
                "INSERT INTO events (event_id, event_time, event_name, event_source, service, user,
                user_agent) VALUES ('u-0', 1519984800, {RUN_INSTANCES}, 'ec2.amazonaws.com',
                {EC2}, {ALICE}, 'aws-cli/1.0')"
            ),
            [],
        )
        .expect("insert");
        let texts: Vec<Option<String>> = stored_column(&path, "user_agent");
        assert_eq!(texts, [None, None, None, Some("aws-cli/1.0".to_owned())]);
        let ids: Vec<Option<i64>> = stored_column(&path, "user_agent_id");
        assert!(ids[..2].iter().all(Option::is_some), "{ids:?}");
        assert_eq!(ids[2], None, "no user agent, no id");
        let kept: i64 = conn
            .query_row("SELECT count(*) FROM user_agents", [], |r| r.get(0))
            .expect("count");
        assert_eq!(kept, 2);
        let page = store.events(&every_event(), 10, None).await.expect("page");
        let agents: Vec<(&str, Option<&str>)> = page
            .events
            .iter()
            .map(|e| (e.event_id.as_str(), e.user_agent.as_deref()))
            .collect();
        assert_eq!(
            agents,
            [
                ("u-0", Some("aws-cli/1.0")),
                ("u-1", Some("aws-cli/2.0 (x, y)")),
                ("u-2", Some("Boto3/1.9 Python/3.6")),
                ("u-3", None)
            ]
        );
        for (value, id) in [("Boto3/1.9 Python/3.6", "u-2"), ("aws-cli/1.0", "u-0")] {
            assert_eq!(
                ids_where(&store, "userAgent", value).await,
                [id],
                "userAgent={value}"
            );
        }
    }

    fn journal_mode(path: &Path) -> String {
        Connection::open(path)
            .expect("open")
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("journal mode")
    }

    /// `n` events of one user at one time, ids `{prefix}-0`…
    fn events_file(store: &SqliteStore, key: &str, prefix: &str, n: usize) -> LoadedFile {
        let records = (0..n)
            .map(|i| {
                record(
                    &format!("{prefix}-{i}"),
                    "2018-03-02T10:00:00Z",
                    "alucloud001",
                    "ec2",
                    "RunInstances",
                )
            })
            .collect();
        file(store, key, records)
    }

    /// Schema 19: an alert on a stored event keeps no copy of its record
    /// (it reads the event's); one on a record not stored keeps its own.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_alert_keeps_its_record_only_when_its_event_is_not_stored() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("alerts.db");
        let store = SqliteStore::open(&path, SqliteOptions::default()).expect("open");
        let mut loaded = events_file(&store, "a.json.gz", "e", 1);
        let event = &loaded.events[0];
        let alert = |event_id: &str, record: crate::RecordJson| crate::Alert {
            id: crate::Alert::key("r", event_id),
            rule_id: "r".into(),
            title: "t".into(),
            level: "low".into(),
            tags: vec![],
            event_id: event_id.into(),
            event_time: event.event.event_time,
            user: "alucloud001".into(),
            service: "ec2".into(),
            event_name: "RunInstances".into(),
            record,
            baseline: None,
        };
        let on_event = alert("e-0", crate::RecordJson::new(event.record_json()));
        let on_read = alert("read-1", crate::RecordJson::new(r#"{"eventID":"read-1"}"#));
        loaded.alerts = vec![on_event.clone(), on_read.clone()];
        store.load(vec![loaded]).await.expect("load");
        let conn = Connection::open(&path).expect("open");
        let kept: Vec<String> = conn
            .prepare(
                // (Its eventIDs are not UUIDs: the rows hold them as text.)
                "SELECT (SELECT rule_id FROM alert_rules WHERE id = a.rule) || ':' || a.event_id
                 FROM alert_records r JOIN alerts a ON a.rowid = r.alert",
            )
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(kept, ["r:read-1"]);
        for expected in [on_event, on_read] {
            let read = store
                .alert(&expected.id)
                .await
                .expect("alert")
                .expect("stored");
            assert_eq!(read.record.get(), expected.record.get());
        }
    }

    /// Schema 25 (issue "Detections", speed): a rule's title and tags are
    /// stored once, as its first alert had them, and every alert with the
    /// same reads them from there; an alert of an edited rule (another title
    /// or tags) keeps its own, and the earlier ones theirs — also through a
    /// store opened afterwards, whose writer does not know the rule yet.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rules_title_and_tags_are_stored_once_and_each_alert_reads_its_own() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("rules.db");
        let alert = |event_id: &str, title: &str, tags: &[&str]| crate::Alert {
            id: crate::Alert::key("rule-1", event_id),
            rule_id: "rule-1".into(),
            title: title.into(),
            level: "high".into(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            event_id: event_id.into(),
            event_time: ctt_core::time::from_seconds(1_520_000_000),
            user: "alucloud001".into(),
            service: "sts".into(),
            event_name: "AssumeRole".into(),
            record: crate::RecordJson::new(format!(r#"{{"eventID":"{event_id}"}}"#)),
            baseline: None,
        };
        let first = [
            alert("read-1", "Root used", &["attack.t1078"]),
            alert("read-2", "Root used", &["attack.t1078"]),
        ];
        let edited = [
            alert("read-3", "Root account used", &["attack.t1078"]),
            alert("read-4", "Root used", &["attack.t1078", "cis"]),
            alert("read-5", "Root used", &["attack.t1078"]),
        ];
        for (batch, alerts) in [("a.json.gz", &first[..]), ("b.json.gz", &edited[..])] {
            // A store opened for each file: the second knows nothing yet.
            let store = SqliteStore::open(&path, SqliteOptions::default()).expect("open");
            let mut loaded = events_file(&store, batch, batch, 0);
            loaded.alerts = alerts.to_vec();
            store.load(vec![loaded]).await.expect("load");
        }
        let store = SqliteStore::open(&path, SqliteOptions::default()).expect("open");
        for expected in first.iter().chain(&edited) {
            let read = store
                .alert(&expected.id)
                .await
                .expect("alert")
                .expect("stored");
            assert_eq!(
                (read.id.as_str(), &read.title, &read.tags),
                (expected.id.as_str(), &expected.title, &expected.tags)
            );
        }
        let conn = Connection::open(&path).expect("open");
        let own: Vec<(String, Option<String>, Option<String>)> = conn
            .prepare("SELECT event_id, title, tags FROM alerts ORDER BY event_id")
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        let none = |id: &str| (id.to_owned(), None, None);
        assert_eq!(
            own,
            [
                none("read-1"),
                none("read-2"),
                (
                    "read-3".into(),
                    Some("Root account used".into()),
                    Some(r#"["attack.t1078"]"#.into())
                ),
                (
                    "read-4".into(),
                    Some("Root used".into()),
                    Some(r#"["attack.t1078","cis"]"#.into())
                ),
                none("read-5"),
            ]
        );
        let rules: i64 = conn
            .query_row("SELECT count(*) FROM alert_rules", [], |r| r.get(0))
            .expect("count");
        assert_eq!(rules, 1);
    }

    /// Issue "Scale" (disk): a store trains a second dictionary (on records
    /// spread over it) once it holds `dictionary_again_after` more (its first
    /// is trained on a load's first batch: the account's first days), hands
    /// it to the parsing threads, still stores as they come the records they
    /// compressed with the first, and trains no third, reopened or not.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_store_trains_a_second_dictionary_on_later_records_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("retrained.db");
        let options = SqliteOptions {
            dictionary_after: 300,
            dictionary_again_after: 500,
            ..SqliteOptions::default()
        };
        let store = SqliteStore::open(&path, options.clone()).expect("open");
        let base = 1_520_000_000;
        let mut files: Vec<LoadedFile> = (0..6)
            .map(|i| {
                file(
                    &store,
                    &format!("{i}.json.gz"),
                    spread_records(i * 400, 400, base),
                )
            })
            .collect();
        let expected: HashMap<String, serde_json::Value> = files
            .iter()
            .flat_map(|f| &f.events)
            .map(|e| {
                let record = serde_json::from_str(&e.record_json()).expect("json");
                (e.event.event_id.clone(), record)
            })
            .collect();
        let mut files = files.drain(..).map(|f| vec![f]);
        store.load(files.next().expect("0")).await.expect("load 0");
        let first = store.record_codec().expect("a first dictionary");
        store.load(files.next().expect("1")).await.expect("load 1");
        assert!(
            first.same(&store.record_codec().expect("codec")),
            "400 < 500"
        );
        store.load(files.next().expect("2")).await.expect("load 2");
        let second = store.record_codec().expect("codec");
        assert!(
            !second.same(&first),
            "800 records with the first: trained again"
        );
        // A parsing thread that compressed with the first while the store
        // trained its second: stored as it came.
        let mut late = files.next().expect("3");
        let mut encoder = first.encoder().expect("encoder");
        for event in &mut late[0].events {
            event.encode_record(&mut encoder);
        }
        store.load(late).await.expect("load 3");
        store.load(files.next().expect("4")).await.expect("load 4");
        // Read by the store that knew only the first dictionary when it
        // last read: it finds the second.
        let read = store
            .event("id-01999")
            .await
            .expect("event")
            .expect("stored");
        assert_eq!(Some(&read.record), expected.get("id-01999"));
        drop(store);
        let store = SqliteStore::open(&path, options).expect("reopen");
        assert_eq!(store.records_before_codec(), None);
        store.load(files.next().expect("5")).await.expect("load 5");

        let conn = Connection::open(&path).expect("raw open");
        let dictionaries: Vec<i64> = conn
            .prepare("SELECT id FROM record_dictionaries ORDER BY id")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(dictionaries, [1, 2], "two, never a third");
        // Which dictionary each file's records name (their first byte).
        let by_file: Vec<(i64, String, i64)> = conn
            .prepare(
                "SELECT (CAST(substr(e.event_id, 4) AS INTEGER)) / 400 AS f,
                        group_concat(DISTINCT hex(substr(r.record, 1, 1))), count(*)
                 FROM events e JOIN records r USING (seq) GROUP BY f ORDER BY f",
            )
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        let named: Vec<(i64, &str)> = by_file
            .iter()
            .map(|(f, d, n)| {
                assert_eq!(*n, 400, "file {f}");
                (*f, d.as_str())
            })
            .collect();
        assert_eq!(
            named,
            [
                (0, "01"),
                (1, "01"),
                (2, "01"),
                (3, "01"),
                (4, "02"),
                (5, "02")
            ]
        );
        for (id, record) in &expected {
            let detail = store.event(id).await.expect("event").expect("stored");
            assert_eq!(&detail.record, record, "{id}");
        }
    }

    /// Schema 21 (issue "Scale", disk): once the store has stored
    /// `dictionary_after` records as text it trains a dictionary on them,
    /// compresses them with it, and the records stored after (events' and
    /// alerts') too, or hands it to a load's parsing threads, whose compressed
    /// records it stores as they are;
    /// every one reads back as stored, through every path that reads records,
    /// from this store and from a store opened afterwards, which compresses
    /// with the same dictionary. A damaged record is an error, not a panic.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_are_compressed_with_a_dictionary_once_enough_are_stored() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("compressed.db");
        let options = SqliteOptions {
            dictionary_after: 300,
            ..SqliteOptions::default()
        };
        let store = SqliteStore::open(&path, options.clone()).expect("open");
        let base = 1_520_000_000;
        let mut files = Vec::new();
        for (i, first) in [0, 400, 800].into_iter().enumerate() {
            files.push(file(
                &store,
                &format!("{i}.json.gz"),
                spread_records(first, 400, base),
            ));
        }
        let text_bytes: usize = files
            .iter()
            .flat_map(|f| &f.events)
            .map(|e| e.record.json().len())
            .sum();
        let expected: HashMap<String, serde_json::Value> = files
            .iter()
            .flat_map(|f| &f.events)
            .map(|e| {
                (
                    e.event.event_id.clone(),
                    serde_json::from_str(&e.record_json()).expect("json"),
                )
            })
            .collect();
        let mut later = files.split_off(1);
        assert!(store.record_codec().is_none(), "no dictionary yet");
        store.load(files).await.expect("first load");
        // An alert on a record the filter dropped keeps that record.
        let dropped = record(
            "dropped-1",
            "2018-03-02T10:00:00Z",
            "root",
            "iam",
            "GetUser",
        );
        let on_dropped = |event_id: &str, record: crate::RecordJson| crate::Alert {
            id: crate::Alert::key("r", event_id),
            rule_id: "r".into(),
            title: "t".into(),
            level: "low".into(),
            tags: vec![],
            event_id: event_id.into(),
            event_time: from_seconds(base),
            user: "root".into(),
            service: "iam".into(),
            event_name: "GetUser".into(),
            record,
            baseline: None,
        };
        let dropped_text = serde_json::to_string(&dropped).expect("json");
        later[0].alerts.push(on_dropped(
            "dropped-1",
            crate::RecordJson::new(dropped_text.as_str()),
        ));
        store
            .load(later.drain(..1).collect())
            .await
            .expect("second load");
        // Opened again: the same dictionary, not a second one.
        drop(store);
        let store = SqliteStore::open(&path, options).expect("reopen");
        // The last file's records compressed as a load's parsing threads do,
        // with the dictionary the store hands out: stored as they come.
        let mut encoder = store
            .record_codec()
            .expect("the store's dictionary")
            .encoder()
            .expect("encoder");
        for event in &mut later[0].events {
            let text = event.record_json();
            event.encode_record(&mut encoder);
            assert!(
                matches!(event.record, crate::StoredRecord::Encoded { .. }),
                "not compressed: {:?}",
                event.record
            );
            assert_eq!(event.record_json(), text);
        }
        // …and an alert's record of an event not stored.
        let record = crate::RecordJson::encoded_with(dropped_text.clone(), &mut encoder);
        assert!(record.encoded().is_some());
        later[0].alerts.push(on_dropped("dropped-2", record));
        store.load(later).await.expect("third load");

        let conn = Connection::open(&path).expect("raw open");
        let kinds: Vec<(String, i64, i64)> = conn
            .prepare(
                "SELECT typeof(record), count(*), sum(length(CAST(record AS BLOB))) FROM records
                 GROUP BY 1",
            )
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        let [(kind, compressed, blob_bytes)] = kinds.as_slice() else {
            panic!("{kinds:?}");
        };
        assert_eq!(
            (kind.as_str(), *compressed),
            ("blob", 1200),
            "the first ones too"
        );
        assert!(
            (*blob_bytes as usize) * 3 < text_bytes,
            "{blob_bytes} B for {compressed} records of {text_bytes} B"
        );
        let dictionaries: i64 = conn
            .query_row("SELECT count(*) FROM record_dictionaries", [], |r| r.get(0))
            .expect("dictionaries");
        assert_eq!(dictionaries, 1);
        let alert_records: String = conn
            .query_row(
                "SELECT group_concat(typeof(record)) FROM alert_records",
                [],
                |r| r.get(0),
            )
            .expect("alert records");
        assert_eq!(alert_records, "blob,blob");

        // Read back: by id, through an unindexed parameter, and the alert.
        for (id, record) in &expected {
            let detail = store.event(id).await.expect("event").expect("stored");
            assert_eq!(&detail.record, record, "{id}");
        }
        let mut query = EventQuery::between(from_seconds(base - 10), from_seconds(base + 5000));
        query.params.push(ctt_core::query::ParamFilter {
            name: "eventID".into(),
            value: "id-01000".into(),
        });
        let page = store.events(&query, 10, None).await.expect("events");
        let ids: Vec<&str> = page.events.iter().map(|e| e.event_id.as_str()).collect();
        assert_eq!(ids, ["id-01000"]);
        for event_id in ["dropped-1", "dropped-2"] {
            let alert = store
                .alert(&crate::Alert::key("r", event_id))
                .await
                .expect("alert")
                .expect("stored");
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(alert.record.get()).expect("json"),
                dropped,
                "{event_id}"
            );
        }

        // A damaged record: the read fails and says why.
        conn.execute(
            "UPDATE records SET record = X'01FFFFFFFF' WHERE seq = (SELECT max(seq) FROM records)",
            [],
        )
        .expect("damage");
        let damaged: String = conn
            .query_row(
                "SELECT event_id FROM events WHERE seq = (SELECT max(seq) FROM records)",
                [],
                |r| r.get(0),
            )
            .expect("damaged id");
        let error = store.event(&damaged).await.expect_err("damaged");
        let mut chain = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            chain.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        assert!(chain.contains("frame"), "{chain}");
    }

    /// Issue "Scale": the status reports the database's size, as on disk
    /// once the write-ahead log is checkpointed, growing with what it holds.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn status_reports_the_database_size() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("size.db");
        let store = SqliteStore::open(&path, SqliteOptions::default()).expect("open");
        let empty = store.status().await.expect("status").database_bytes;
        store
            .load(vec![events_file(&store, "a.json.gz", "s", 2_000)])
            .await
            .expect("load");
        let full = store.status().await.expect("status").database_bytes;
        assert!(full > empty && empty > Some(0), "{empty:?} then {full:?}");
        let conn = Connection::open(&path).expect("raw open");
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .expect("checkpoint");
        let on_disk = std::fs::metadata(&path).expect("metadata").len();
        assert_eq!(full, Some(on_disk));
    }

    /// SPEC §11: the writer keeps each stored event's resource touches (a
    /// duplicate event adds none), read back grouped by resource; a store
    /// whose events were stored before resources were kept reads their
    /// touches once, when it is opened.
    /// Schema 37: an event is looked up before it is stored. Two stores on
    /// one file (two processes loading the same folder) loading the same
    /// files at once: every load succeeds and every event is stored once.
    #[test]
    fn two_stores_loading_the_same_files_at_once_store_each_event_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ctt.db");
        let stores: Vec<SqliteStore> = (0..2)
            .map(|_| SqliteStore::open(&path, SqliteOptions::default()).expect("open"))
            .collect();
        let batches: Vec<Vec<LoadedFile>> = (0..40)
            .map(|i| {
                let records = (0..5)
                    .map(|j| {
                        record(
                            &format!("c-{i}-{j}"),
                            &format!("2018-03-02T10:{:02}:{:02}Z", i % 60, j),
                            "alice",
                            "ec2",
                            "RunInstances",
                        )
                    })
                    .collect();
                vec![file(&stores[0], &format!("{i}.json.gz"), records)]
            })
            .collect();
        std::thread::scope(|scope| {
            for store in &stores {
                let batches = &batches;
                scope.spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .expect("runtime");
                    for batch in batches {
                        runtime
                            .block_on(store.load(batch.clone()))
                            .expect("a load beside another");
                    }
                });
            }
        });
        let ids: Vec<String> = stored_column(&path, "event_id");
        assert_eq!(ids.len(), 200);
        let unique: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), 200);
    }

    /// Issue "Scale" (disk), schema 41: a touch holds a canonical eventID as
    /// 16 bytes and any other as text; both come back whole, and a
    /// resource's touches of one second in eventID order (SPEC §11).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_touch_keeps_its_event_id_in_16_bytes_and_gives_it_back_whole() {
        let ids = [
            "Zz-not-a-uuid",
            "0f000000-0000-4000-8000-000000000001",
            "a-1",
        ];
        let (_dir, path, store) = store_of_three("t", |records| {
            for (i, (record, id)) in records.iter_mut().zip(ids).enumerate() {
                record["eventID"] = id.into();
                record["userIdentity"]["userName"] = format!("u{i}").into();
                record["eventTime"] = "2018-03-02T10:00:00Z".into();
                record["eventSource"] = "lambda.amazonaws.com".into();
                record["eventName"] = "CreateFunction20150331".into();
                record["requestParameters"]["functionName"] = "resize".into();
            }
        })
        .await;
        let touches = store.resource_touches(None).await.expect("touches");
        let [resource] = touches.as_slice() else {
            panic!("{touches:?}");
        };
        let mut read: Vec<&str> = resource
            .touches
            .iter()
            .map(|t| t.event_id.as_str())
            .collect();
        read.sort();
        let mut expected = ids.to_vec();
        expected.sort();
        assert_eq!(read, expected);
        let kinds: Vec<String> = Connection::open(&path)
            .expect("open")
            .prepare("SELECT typeof(event_id) FROM resource_touches ORDER BY event_time, user")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        let mut kinds = kinds;
        kinds.sort();
        assert_eq!(kinds, ["blob", "text", "text"]);
        // The first by eventID text is the canonical one (stored as a BLOB,
        // which SQLite sorts after every text): its user owns the resource.
        let life =
            ctt_core::resources::Lifecycle::of(&resource.touches, from_seconds(4_000_000_000))
                .expect("a lifecycle");
        assert_eq!(life.owner.as_deref(), Some("u1"));
    }

    /// Issue "Scale" (disk), schema 44: an event holds a canonical eventID
    /// as its 16 bytes and any other as text. Both come back whole — in
    /// pages, JSON pages, a cursor's next page, the event's own page and its
    /// record — in eventID text order within a second (SPEC §6), though
    /// SQLite sorts every text before every BLOB; a second load of the file
    /// finds each event stored, and an event stored before as text is found
    /// as well.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_event_keeps_its_event_id_in_16_bytes_and_gives_it_back_whole() {
        // In text order; the canonical one first, the upper-case UUID (text:
        // `id_bytes` keeps it so that it reads back as written) second.
        let ids = [
            "0f000000-0000-4000-8000-000000000001",
            "AB000000-0000-4000-8000-000000000002",
            "zz-not-a-uuid",
        ];
        let edit = |records: &mut [serde_json::Value]| {
            for (record, id) in records.iter_mut().zip(ids).rev() {
                record["eventID"] = id.into();
                record["eventTime"] = "2018-03-02T10:00:00Z".into();
            }
        };
        let (_dir, path, store) = store_of_three("t", edit).await;
        let kinds: Vec<String> = stored_column(&path, "typeof(event_id)");
        assert_eq!(kinds, ["blob", "text", "text"]);

        let page = store.events(&every_event(), 10, None).await.expect("page");
        let read: Vec<&str> = page.events.iter().map(|e| e.event_id.as_str()).collect();
        assert_eq!(read, ids);
        let json = store
            .events_written(&every_event(), 10, None, PageLayout::Array)
            .await
            .expect("json page");
        let json: Vec<serde_json::Value> = serde_json::from_slice(&json.bytes).expect("json");
        let read: Vec<&str> = json.iter().filter_map(|e| e["eventID"].as_str()).collect();
        assert_eq!(read, ids);
        // One event a page: each cursor goes on from the one before.
        let mut cursor = None;
        let mut paged = Vec::new();
        loop {
            let page = store
                .events(&every_event(), 1, cursor.as_ref())
                .await
                .expect("page");
            paged.extend(page.events.into_iter().map(|e| e.event_id));
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(paged, ids);
        for id in ids {
            let detail = store.event(id).await.expect("event").expect("found");
            assert_eq!(detail.summary.event_id, id);
            assert_eq!(detail.record["eventID"], id, "the record whole");
        }
        assert!(
            store
                .event("0f000000-0000-4000-8000-000000000009")
                .await
                .expect("event")
                .is_none()
        );

        // The same records in another file: each found, none stored twice.
        let mut again: Vec<serde_json::Value> = (1..=3)
            .map(|i| {
                record(
                    &format!("t-{i}"),
                    "2018-03-02T10:00:01Z",
                    "alice",
                    "ec2",
                    "RunInstances",
                )
            })
            .collect();
        edit(&mut again);
        let loaded = file(&store, "b.json.gz", again);
        let counts = store.load(vec![loaded]).await.expect("load");
        assert_eq!(counts[0].duplicate, 3, "{counts:?}");
        assert_eq!(stored_column::<String>(&path, "typeof(event_id)").len(), 3);

        // An event stored as text by a build before schema 44.
        let canonical = "0f000000-0000-4000-8000-000000000000";
        let conn = Connection::open(&path).expect("open");
        register_key_functions(&conn).expect("events_by_id's function");
        conn.execute(
            &format!(
                "INSERT INTO events (event_id, event_time, event_name, event_source, service, user)
             VALUES (?1, 1519984800, {RUN_INSTANCES}, '', {EC2}, {ALICE})"
            ),
            [canonical],
        )
        .expect("insert");
        let found: bool = conn
            .query_row(
                FIND_EVENT,
                rusqlite::params![key_hash(canonical), canonical],
                |_| Ok(true),
            )
            .expect("found by the writer's lookup");
        assert!(found);
        let page = store.events(&every_event(), 10, None).await.expect("page");
        let read: Vec<&str> = page.events.iter().map(|e| e.event_id.as_str()).collect();
        assert_eq!(read, [canonical, ids[0], ids[1], ids[2]]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn resource_touches_are_written_with_their_events_and_backfilled_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("resources.db");
        let store = SqliteStore::open(&path, SqliteOptions::default()).expect("open");
        let mut create = record(
            "c1",
            "2018-03-02T10:00:00Z",
            "alice",
            "lambda",
            "CreateFunction20150331",
        );
        create["requestParameters"]["functionName"] = serde_json::json!("resize");
        let mut delete = record(
            "d1",
            "2018-03-02T12:00:00Z",
            "teacher",
            "lambda",
            "DeleteFunction20150331",
        );
        delete["requestParameters"]["functionName"] =
            serde_json::json!("arn:aws:lambda:us-east-1:111122223333:function:resize");
        let mut other = record(
            "c2",
            "2018-03-02T11:00:00Z",
            "bob",
            "lambda",
            "CreateFunction20150331",
        );
        other["requestParameters"]["functionName"] = serde_json::json!("thumbs");
        // The delete arrives first, in a file of its own; then the rest, twice.
        store
            .load(vec![file(&store, "b.json.gz", vec![delete.clone()])])
            .await
            .expect("load");
        for key in ["a.json.gz", "a-again.json.gz"] {
            store
                .load(vec![file(
                    &store,
                    key,
                    vec![create.clone(), other.clone(), delete.clone()],
                )])
                .await
                .expect("load");
        }
        let all = store.resource_touches(None).await.expect("touches");
        let summary: Vec<(String, String, Vec<String>)> = all
            .iter()
            .map(|r| {
                (
                    r.kind.clone(),
                    r.id.clone(),
                    r.touches.iter().map(|t| t.event_id.clone()).collect(),
                )
            })
            .collect();
        let expected = vec![
            (
                "lambda:function".to_owned(),
                "resize".to_owned(),
                vec!["c1".to_owned(), "d1".to_owned()],
            ),
            (
                "lambda:function".to_owned(),
                "thumbs".to_owned(),
                vec!["c2".to_owned()],
            ),
        ];
        assert_eq!(summary, expected);
        assert_eq!(all[0].account, "111122223333");
        assert_eq!(all[0].region, "us-east-1");
        // Bob's: only what he touched.
        let bobs = store.resource_touches(Some("bob")).await.expect("touches");
        assert_eq!(bobs.len(), 1);
        assert_eq!(bobs[0].id, "thumbs");
        // A teacher's delete makes the resource one they touched, too.
        let teachers = store
            .resource_touches(Some("teacher"))
            .await
            .expect("touches");
        assert_eq!(teachers.len(), 1);
        assert_eq!(teachers[0].touches.len(), 2);
        drop(store);

        // As if stored before migration 13: no touches, the backfill pending.
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(
            "DELETE FROM resource_touches;
             UPDATE meta SET value = 'pending' WHERE key = 'resource_touches_backfill';",
        )
        .expect("forget");
        drop(conn);
        let store = SqliteStore::open(&path, SqliteOptions::default()).expect("reopen");
        assert_eq!(store.resource_touches(None).await.expect("touches"), all);
        drop(store);
        // Once: a touch deleted now stays deleted at the next open.
        let conn = Connection::open(&path).expect("open");
        conn.execute("DELETE FROM resource_touches WHERE id = 'thumbs'", [])
            .expect("delete");
        drop(conn);
        let store = SqliteStore::open(&path, SqliteOptions::default()).expect("reopen");
        assert_eq!(
            store.resource_touches(None).await.expect("touches").len(),
            1
        );
    }

    /// SPEC §11: the writer refolds a resource's state whenever one of its
    /// touches arrives, whatever the order (a delete loaded before the
    /// create); while the states are pending (a bulk load, a migration) the
    /// pages come from the touches, and the states are rebuilt at the bulk
    /// load's end or the next open.
    #[tokio::test]
    async fn resource_states_follow_their_touches_and_are_rebuilt_when_pending() {
        use crate::resources::{ResourceFilter, ResourceQuery};

        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("states.db");
        let function = |id: &str, time: &str, user: &str, name: &str, function: &str| {
            let mut r = record(id, time, user, "lambda", name);
            r["requestParameters"]["functionName"] = serde_json::json!(function);
            r
        };
        let create = function(
            "c1",
            "2018-03-02T10:00:00Z",
            "alice",
            "CreateFunction20150331",
            "resize",
        );
        let delete = function(
            "d1",
            "2018-03-02T12:00:00Z",
            "teacher",
            "DeleteFunction20150331",
            "resize",
        );
        let other = function(
            "c2",
            "2018-03-02T11:00:00Z",
            "bob",
            "CreateFunction20150331",
            "thumbs",
        );
        let states = |path: &Path| -> Vec<(String, String, Option<String>, Option<String>)> {
            let conn = Connection::open(path).expect("open");
            let mut stmt = conn
                .prepare("SELECT id, state, owner, deleted_by FROM resource_states ORDER BY id")
                .expect("prepare");
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows")
        };
        let every = ResourceQuery::all(ResourceFilter {
            user: None,
            state: None,
            kind: None,
            at: ctt_core::time::parse_event_time("2018-04-01T00:00:00Z").expect("a time"),
        });

        let store = SqliteStore::open(&path, SqliteOptions::default()).expect("open");
        store
            .load(vec![file(&store, "b.json.gz", vec![delete.clone()])])
            .await
            .expect("load");
        let row = |id: &str, state: &str, owner: Option<&str>, by: Option<&str>| {
            (
                id.to_owned(),
                state.to_owned(),
                owner.map(str::to_owned),
                by.map(str::to_owned),
            )
        };
        assert_eq!(
            states(&path),
            [row("resize", "deleted", None, Some("teacher"))]
        );
        store
            .load(vec![file(
                &store,
                "a.json.gz",
                vec![create.clone(), other.clone()],
            )])
            .await
            .expect("load");
        let expected = vec![
            row("resize", "deleted", Some("alice"), Some("teacher")),
            row("thumbs", "running", Some("bob"), None),
        ];
        assert_eq!(states(&path), expected, "refolded with the earlier create");
        let listed = store.resources(&every).await.expect("resources");
        // Schema 23: what is left running, from the sums the writer keeps,
        // is the resources' own grouping — kept row by row, and rebuilt
        // with the states (below).
        let at = every.filter.at;
        let running_as_listed = |store: SqliteStore| {
            let listed = listed.clone();
            async move {
                let groups = crate::resources::running_groups(listed);
                assert_eq!(groups.len(), 1, "{groups:?}");
                assert_eq!(store.running_groups(at).await.expect("running"), groups);
            }
        };
        running_as_listed(store.clone()).await;
        drop(store);

        // Pending (as a migration leaves it): read from the touches, then rebuilt.
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(
            "DELETE FROM resource_states;
             UPDATE meta SET value = 'pending' WHERE key = 'resource_states';",
        )
        .expect("forget");
        let pending = SqliteStore::open(&path, SqliteOptions::default()).expect("reopen");
        assert_eq!(states(&path), expected, "rebuilt at open");
        assert_eq!(pending.resources(&every).await.expect("resources"), listed);
        running_as_listed(pending.clone()).await;
        conn.execute_batch(
            "DELETE FROM resource_states;
             UPDATE meta SET value = 'pending' WHERE key = 'resource_states';",
        )
        .expect("forget");
        assert_eq!(
            pending.resources(&every).await.expect("resources"),
            listed,
            "while pending, from the touches"
        );
        drop(pending);

        // A bulk load into an empty store builds them once, at its end.
        let bulk_path = dir.path().join("bulk.db");
        let bulk = SqliteStore::open(&bulk_path, SqliteOptions::default()).expect("open");
        assert!(bulk.begin_bulk_load().await.expect("begin"));
        bulk.load(vec![file(&bulk, "a.json.gz", vec![delete, create, other])])
            .await
            .expect("load");
        assert!(states(&bulk_path).is_empty(), "not kept during a bulk load");
        assert_eq!(bulk.resources(&every).await.expect("resources"), listed);
        bulk.end_bulk_load().await.expect("end");
        assert_eq!(states(&bulk_path), expected);
        assert_eq!(bulk.resources(&every).await.expect("resources"), listed);
        running_as_listed(bulk).await;
    }

    /// The [`schema::QUERY_INDEXES`] present in the file.
    fn query_indexes_present(path: &Path) -> usize {
        let conn = Connection::open(path).expect("open");
        schema::QUERY_INDEXES
            .iter()
            .map(|index| index.name)
            .filter(|name| {
                conn.query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?1",
                    [name],
                    |r| r.get::<_, i64>(0),
                )
                .expect("index")
                    == 1
            })
            .count()
    }

    /// A bulk load writes through a rollback journal when it has the file to
    /// itself, keeps the WAL when another connection reads it, and leaves the
    /// store in WAL mode either way, with every event and index.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bulk_loads_switch_the_journal_only_when_alone_and_end_in_wal_mode() {
        for other_reader in [false, true] {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("bulk.db");
            let store = SqliteStore::open(&path, SqliteOptions::default()).expect("open");
            assert_eq!(journal_mode(&path), "wal");
            let reader = other_reader.then(|| {
                let conn = Connection::open(&path).expect("open");
                conn.query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))
                    .expect("read");
                conn
            });
            // An idle reader of the store itself does not count.
            store.status().await.expect("status");
            assert!(store.begin_bulk_load().await.expect("begin"));
            let during: String = store
                .write(|conn| conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)))
                .await
                .expect("mode");
            assert_eq!(during, if other_reader { "wal" } else { "truncate" });
            let one = events_file(&store, "one.json.gz", "id", 50);
            store.load(vec![one]).await.expect("load");
            store.end_bulk_load().await.expect("end");
            drop(reader);
            assert_eq!(journal_mode(&path), "wal");
            assert_eq!(store.status().await.expect("status").events, 50);
            assert_eq!(
                query_indexes_present(&path),
                schema::QUERY_INDEXES.len(),
                "other reader: {other_reader}"
            );
        }
    }

    /// Another store opening the file during a bulk load: between two commits
    /// it switches the file back to the WAL (the load goes on through it); during
    /// a commit it cannot, opens anyway and reads once the commit is done. Either
    /// way the load ends with every event, every index, in WAL mode.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_store_opens_while_another_bulk_loads_it() {
        for during_a_commit in [false, true] {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("shared.db");
            let loader = SqliteStore::open(&path, SqliteOptions::default()).expect("open");
            assert!(loader.begin_bulk_load().await.expect("begin"));
            let first = events_file(&loader, "one.json.gz", "a", 20);
            loader.load(vec![first]).await.expect("load");
            // (A rollback journal's mode is each connection's own: not "wal".)
            assert_ne!(journal_mode(&path), "wal");
            // A commit in progress: a write lock held for a moment, as the
            // loader holds it while it writes a batch.
            let committing = during_a_commit.then(|| {
                let conn = Connection::open(&path).expect("open");
                conn.execute_batch("BEGIN IMMEDIATE").expect("lock");
                std::thread::spawn(move || {
                    std::thread::sleep(std::time::Duration::from_millis(300));
                    conn.execute_batch("COMMIT").expect("commit");
                })
            });
            let beside = SqliteStore::open(&path, SqliteOptions::default()).expect("open beside");
            if let Some(commit) = committing {
                commit.join().expect("commit thread");
                assert_ne!(
                    journal_mode(&path),
                    "wal",
                    "the switch waits for the load's end"
                );
            } else {
                assert_eq!(journal_mode(&path), "wal", "switched back between commits");
            }
            assert_eq!(beside.status().await.expect("status").events, 20);
            let second = events_file(&loader, "two.json.gz", "b", 20);
            loader.load(vec![second]).await.expect("load on");
            loader.end_bulk_load().await.expect("end");
            assert_eq!(beside.status().await.expect("status").events, 40);
            drop(beside);
            assert_eq!(
                journal_mode(&path),
                "wal",
                "during a commit: {during_a_commit}"
            );
            assert_eq!(query_indexes_present(&path), schema::QUERY_INDEXES.len());
        }
    }

    /// `n` events from `first` on, spread over users, services and times
    /// (several per second, so pages end inside a second).
    /// A record compressed with another store's dictionary (not the one
    /// this store hands out; both stores number theirs 1) is compressed again
    /// with this store's, never stored unreadable: events' and alerts'
    /// records alike.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_record_compressed_for_another_store_is_stored_readable() {
        let dir = tempfile::tempdir().expect("temp dir");
        let options = SqliteOptions {
            dictionary_after: 1,
            ..SqliteOptions::default()
        };
        let open = |name: &str| SqliteStore::open(dir.path().join(name), options.clone());
        let (ours, theirs) = (
            open("ours.db").expect("open"),
            open("theirs.db").expect("open"),
        );
        let base = 1_520_000_000;
        for (store, first) in [(&ours, 0), (&theirs, 500)] {
            let trained = file(store, "first.json.gz", spread_records(first, 50, base));
            store.load(vec![trained]).await.expect("first load");
        }
        let mut foreign = theirs
            .record_codec()
            .expect("their dictionary")
            .encoder()
            .expect("encoder");
        let mut loaded = file(&ours, "second.json.gz", spread_records(100, 20, base));
        let mut expected = Vec::new();
        for event in &mut loaded.events {
            let text = event.record_json();
            event.encode_record(&mut foreign);
            assert!(matches!(event.record, crate::StoredRecord::Encoded { .. }));
            expected.push((event.event.event_id.clone(), text));
        }
        let dropped = serde_json::to_string(&record(
            "dropped-1",
            "2018-03-02T10:00:00Z",
            "root",
            "iam",
            "GetUser",
        ))
        .expect("json");
        loaded.alerts.push(crate::Alert {
            id: crate::Alert::key("r", "dropped-1"),
            rule_id: "r".into(),
            title: "t".into(),
            level: "low".into(),
            tags: vec![],
            event_id: "dropped-1".into(),
            event_time: from_seconds(base),
            user: "root".into(),
            service: "iam".into(),
            event_name: "GetUser".into(),
            record: crate::RecordJson::encoded_with(dropped.clone(), &mut foreign),
            baseline: None,
        });
        ours.load(vec![loaded]).await.expect("second load");
        for (id, text) in &expected {
            let detail = ours.event(id).await.expect("event").expect("stored");
            let text: serde_json::Value = serde_json::from_str(text).expect("json");
            assert_eq!(detail.record, text, "{id}");
        }
        let alert = ours
            .alert(&crate::Alert::key("r", "dropped-1"))
            .await
            .expect("alert")
            .expect("stored");
        assert_eq!(alert.record.get(), dropped);
    }

    fn spread_records(first: usize, n: usize, base: i64) -> Vec<serde_json::Value> {
        let users = ["alucloud001", "alucloud002", "root"];
        (first..first + n)
            .map(|i| {
                let t = base + ((i * 7919) % 5000) as i64 / 3;
                let (source, name) = if i % 4 == 0 {
                    ("s3", "PutObject")
                } else {
                    ("ec2", "RunInstances")
                };
                record(
                    &format!("id-{i:05}"),
                    &format_event_time(from_seconds(t)),
                    users[i % 3],
                    source,
                    name,
                )
            })
            .collect()
    }

    /// A new store holding `n` [`spread_records`] (and the folder it lives in).
    async fn spread_store(n: usize, base: i64) -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(dir.path().join("spread.db"), SqliteOptions::default())
            .expect("open");
        let records = spread_records(0, n, base);
        store
            .load(vec![file(&store, "first.json.gz", records)])
            .await
            .expect("load");
        (dir, store)
    }

    /// Pages of at least SPLIT_PAGE_MIN events, written by two readers when no
    /// other read runs, are the pages one reader writes, byte for byte, with
    /// the same cursors — JSON pages and `events`' own (a CSV export's) —;
    /// pages of filtered queries are not split.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn split_pages_equal_pages_written_by_one_reader() {
        let base = 1_520_000_000;
        let (_dir, store) = spread_store(1500, base).await;
        let all = EventQuery::between(from_seconds(base - 10), from_seconds(base + 5000));
        let mut by_user = all.clone();
        by_user.scope = Scope::User("alucloud002".into());
        let mut by_service = all.clone();
        by_service.scope = Scope::Service("ec2".into());
        let mut by_name = all.clone();
        by_name.event_name = Some(NameMatch {
            name: "Put".into(),
            prefix: true,
        });
        let cases = [
            (all.clone(), 200, true),
            (all.clone(), 333, true),
            (all.clone(), 1499, true),
            (all.clone(), 1500, true),
            (all.clone(), 3000, true),
            (by_user, 201, true),
            (by_service, 400, true),
            (by_name, 250, false),
            (all, 199, false),
        ];
        for (query, limit, split) in cases {
            let before = store.pages_split();
            store.events(&query, limit, None).await.expect("page");
            assert_eq!(
                store.pages_split() - before,
                u64::from(split),
                "{query:?} limit {limit}: `events` split"
            );
            let before = store.pages_split();
            let (mut cursor, mut seen) = (None, 0);
            loop {
                let page =
                    written_pages_match_the_page(&store, &query, limit, cursor.as_ref()).await;
                let one_reader = store
                    .inner
                    .with_reader(|conn| {
                        query::events(conn, &store.inner.indexed, &query, limit, cursor.as_ref())
                    })
                    .expect("one reader's page");
                assert_eq!(page.events, one_reader.events, "{query:?} limit {limit}");
                assert_eq!(page.next, one_reader.next, "{query:?} limit {limit}");
                seen += page.events.len();
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            let expected = store.count(&query).await.expect("count");
            assert_eq!(seen as u64, expected, "{query:?} limit {limit}");
            // Each page was asked for four times: as summaries, as lines, as
            // an array and as CSV rows.
            let split_pages = store.pages_split() - before;
            if split {
                assert!(
                    split_pages >= 4,
                    "{query:?} limit {limit}: {split_pages} split"
                );
            } else {
                assert_eq!(split_pages, 0, "{query:?} limit {limit}");
            }
        }
    }

    /// A runtime without worker threads (where pages cannot be split in
    /// place) writes every page with one reader.
    #[tokio::test(flavor = "current_thread")]
    async fn pages_are_not_split_on_a_current_thread_runtime() {
        let base = 1_520_000_000;
        let (_dir, store) = spread_store(600, base).await;
        let query = EventQuery::between(from_seconds(base - 10), from_seconds(base + 5000));
        let page = store
            .events_written(&query, 400, None, PageLayout::Array)
            .await
            .expect("page");
        assert_eq!(page.events, 400);
        assert!(page.next.is_some());
        assert_eq!(store.pages_split(), 0);
    }

    /// Paging through a result with split pages while other events are
    /// loaded, some of them inside the pages still to come and some before
    /// the cursor: every event stored at the start comes exactly once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn split_pages_return_every_event_once_while_loading() {
        let base = 1_520_000_000;
        let (_dir, store) = spread_store(1200, base).await;
        let query = EventQuery::between(from_seconds(base - 10), from_seconds(base + 5000));
        let initial: BTreeSet<String> = store
            .events(&query, 10_000, None)
            .await
            .expect("all")
            .events
            .into_iter()
            .map(|e| e.event_id)
            .collect();
        let loader = {
            let store = store.clone();
            tokio::spawn(async move {
                for batch in 0..40 {
                    let first = 10_000 + batch * 25;
                    let key = format!("more-{batch}.json.gz");
                    store
                        .load(vec![file(&store, &key, spread_records(first, 25, base))])
                        .await
                        .expect("load more");
                    tokio::task::yield_now().await;
                }
            })
        };
        let (mut cursor, mut returned) = (None, Vec::new());
        loop {
            let page = store
                .events_written(&query, 200, cursor.as_ref(), PageLayout::Array)
                .await
                .expect("page");
            let events: Vec<ctt_core::EventSummary> =
                serde_json::from_slice(&page.bytes).expect("a JSON array");
            returned.extend(events.into_iter().map(|e| e.event_id));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        loader.await.expect("loader");
        let unique: BTreeSet<&String> = returned.iter().collect();
        assert_eq!(unique.len(), returned.len(), "an event came twice");
        for id in &initial {
            assert!(unique.contains(id), "{id} never came");
        }
        assert!(store.pages_split() > 0);
    }

    /// Counts and stats that sum `hourly_counts` equal counting every event,
    /// whatever the range's alignment, scope and role restriction; re-delivered
    /// events count once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hourly_counts_equal_counting_every_event() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(dir.path().join("counts.db"), SqliteOptions::default())
            .expect("open");
        let base = 1_520_000_000i64; // 2018-03-02T14:13:20Z, not on an hour
        let users = ["alucloud001", "alucloud002", "root"];
        let mut records = Vec::new();
        for i in 0..400i64 {
            let t = base + (i * 7919) % (3 * 86_400);
            let (source, name) = if i % 15 == 0 {
                ("s3", "PutObjectAcl")
            } else if i % 3 == 0 {
                ("s3", "PutObject")
            } else {
                ("ec2", "RunInstances")
            };
            let mut r = record(
                &format!("id-{i}"),
                &format_event_time(from_seconds(t)),
                users[(i % 3) as usize],
                source,
                name,
            );
            if i % 7 == 0 {
                r["errorCode"] = if i % 2 == 0 {
                    "AccessDenied"
                } else {
                    "Throttling"
                }
                .into();
            }
            if i % 11 == 0 {
                r["awsRegion"] = "ap-south-1".into();
            }
            records.push(r);
        }
        let again = records[..50].to_vec();
        // And the 300 days before, for the 8- and 64-day sums (schema 22).
        let days = 86_400;
        let earlier: Vec<serde_json::Value> = (0..300i64)
            .map(|i| {
                let t = base - days - (i * 7919 * 13) % (300 * days);
                record(
                    &format!("early-{i}"),
                    &format_event_time(from_seconds(t)),
                    users[(i % 3) as usize],
                    "ec2",
                    "RunInstances",
                )
            })
            .collect();
        store
            .load(vec![
                file(&store, "one.json.gz", records),
                file(&store, "two.json.gz", again),
                file(&store, "early.json.gz", earlier),
            ])
            .await
            .expect("load");
        let conn = store.inner.take_reader().expect("reader");
        let hour = 3600;
        let start = base - base % hour;
        let ranges = [
            (start - 290 * days + 12_345, start - 2 * days),
            (start - 300 * days, start + 3 * days),
            (start - 129 * days - 7, start - 64 * days + 3),
            (start, start + 3 * 86_400),
            (start + 1, start + 2 * hour - 1),
            (start + hour, start + 2 * hour - 1),
            (start + 17, start + hour + 5),
            (start + 123, start + 456),
            (base, base + 86_400),
            (start - 10 * hour, start + 40 * hour + 1),
        ];
        let scopes = [
            Scope::All,
            Scope::User("alucloud001".into()),
            Scope::Service("ec2".into()),
        ];
        let mut compared = 0;
        for (from, to) in ranges {
            for scope in &scopes {
                for only_user in [None, Some("alucloud001"), Some("root")] {
                    let mut query = EventQuery::between(from_seconds(from), from_seconds(to));
                    query.scope = scope.clone();
                    query.only_user = only_user.map(str::to_owned);
                    let fast = query::count(&conn, &[], &query).expect("count");
                    let exact = query::count_exact(&conn, &[], &query).expect("exact");
                    assert_eq!(fast, exact, "{from}..={to} {scope:?} {only_user:?}");
                    compared += u64::from(exact > 0);
                    // By eventName, exactly or by prefix: `daily_counts`
                    // for everyone's (the dashboard's counters).
                    for (name, prefix) in [
                        ("PutObject", false),
                        ("PutObject", true),
                        ("RunInstances", false),
                        ("Run", true),
                        ("Nothing", false),
                    ] {
                        let mut named = query.clone();
                        named.event_name = Some(NameMatch {
                            name: name.into(),
                            prefix,
                        });
                        assert_eq!(
                            query::count(&conn, &[], &named).expect("count"),
                            query::count_exact(&conn, &[], &named).expect("exact"),
                            "{from}..={to} {scope:?} {only_user:?} {name} {prefix}"
                        );
                    }
                    // `/stats` from the counters too (issue #19), whatever
                    // the grouping, and cut at the limit the same way.
                    for group_by in [
                        GroupBy::Hour,
                        GroupBy::Day,
                        GroupBy::User,
                        GroupBy::Service,
                        GroupBy::EventName,
                        GroupBy::ErrorCode,
                        GroupBy::AwsRegion,
                    ] {
                        for limit in [1, 2, 1000] {
                            assert_eq!(
                                query::stats(&conn, &[], &query, group_by, limit).expect("stats"),
                                query::stats_exact(&conn, &[], &query, group_by, limit)
                                    .expect("exact"),
                                "{from}..={to} {scope:?} {only_user:?} {group_by:?} {limit}"
                            );
                        }
                    }
                }
            }
        }
        assert!(compared > 20, "most ranges hold events");
        let mut all =
            EventQuery::between(from_seconds(start - hour), from_seconds(start + 4 * 86_400));
        assert_eq!(query::count(&conn, &[], &all).expect("count"), 400);
        all.event_name = Some(NameMatch {
            name: "Put".into(),
            prefix: true,
        });
        assert_eq!(
            query::count(&conn, &[], &all).expect("count"),
            query::count_exact(&conn, &[], &all).expect("exact")
        );
    }
}
