//! Loading a batch of files, exactly once, with concurrent writers.
//!
//! ## Design note: exact counts without a transaction per event
//!
//! Per file, in this order:
//!
//! 1. New parameter names go into the catalog (idempotent puts), *before* any
//!    event that has them is visible — queries rely on it to skip names never seen.
//! 2. Each event is a conditional `PutItem` (`attribute_not_exists(pk)`) that also
//!    records which file wrote it (`file_key`, `file_version`). A put that fails
//!    returns the stored item: if it was written by this same file and version, it
//!    is this file's own event from an earlier attempt that crashed before step 4,
//!    and still counts as stored; otherwise it is a duplicate.
//! 3. `first_seen`/`last_seen` of each user and service are widened by
//!    conditional updates (`first_seen > :t`): min/max are idempotent, so no
//!    update is lost and none needs to be undone.
//! 4. One `TransactWriteItems` commits the ledger entry together with `ADD events
//!    :n` for each user and service, and for each hourly counter (everyone's,
//!    the user's, the service's, per hour) the file's stored events fall in.
//!    The ledger update is conditional on this version of the file not being
//!    recorded as loaded already, so a retried or doubly-delivered file adds its
//!    counts once: the losing transaction is cancelled whole. (More than 98
//!    counter updates are split over transactions, in a fixed order, each made
//!    idempotent by a marker item.)
//!
//! A load killed anywhere leaves the file out of the ledger; the next attempt
//! finds its events already stored *by itself* and commits their counts then.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, PutRequest, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update, WriteRequest,
};
use ctt_core::time::to_seconds;
use ctt_store::hourly::{HourlyKind, hour_of};
use ctt_store::{FileCounts, FileOutcome, IndexedEvent, LoadedFile};
use futures_util::{StreamExt, TryStreamExt, stream};

use super::expr::Expr;
use super::items::{self, get_n, get_s, n, s};
use super::keys::{self, Catalog};
use super::retry::{self, MAX_ATTEMPTS};
use super::{DynamoError, Inner, anomalies, baselines, item_key, read};

/// Files of a batch written at once.
const FILE_CONCURRENCY: usize = 4;
/// Event puts in flight per file.
const PUT_CONCURRENCY: usize = 16;
/// `BatchWriteItem` takes at most 25 requests.
const BATCH_WRITE_MAX: usize = 25;
/// `TransactWriteItems` takes at most 100 actions: besides the catalog and
/// hourly counter updates, the ledger update and the file counter (or a chunk
/// marker).
const COUNTER_UPDATES_PER_TRANSACTION: usize = 98;

const INDEXED_ATTRIBUTE: &str = "indexed_parameters";
const SCHEMA_ATTRIBUTE: &str = "schema";

/// The schema a table first used by this ctt gets: 3, hourly counters (`H#…`)
/// and baselines (`FS#…`, `H#E#…`). Tables of schema 1 (earlier ctt) hold
/// events their counters never counted, so they get no counters and keep
/// counting from the indexes; tables of schema 2, events their baselines never
/// saw, so they keep none.
pub const SCHEMA: u32 = 3;
/// The first schema with hourly counters.
pub const SCHEMA_HOURLY_COUNTS: u32 = 2;
/// The first schema with baselines (SPEC §13).
pub const SCHEMA_BASELINES: u32 = 3;

/// What the table's `META` item fixes on first use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSettings {
    pub indexed: Vec<String>,
    pub schema: u32,
}

impl TableSettings {
    fn of(item: &items::Item) -> Option<TableSettings> {
        let indexed = item.get(INDEXED_ATTRIBUTE)?.as_l().ok()?;
        Some(TableSettings {
            indexed: indexed
                .iter()
                .filter_map(|v| v.as_s().ok().cloned())
                .collect(),
            schema: get_n(item, SCHEMA_ATTRIBUTE).unwrap_or(1),
        })
    }

    pub fn hourly_counts(&self) -> bool {
        self.schema >= SCHEMA_HOURLY_COUNTS
    }

    pub fn baselines(&self) -> bool {
        self.schema >= SCHEMA_BASELINES
    }
}

/// The table's settings: recorded on first use (with the indexed parameters
/// `wanted`), read afterwards.
pub async fn table_settings(
    client: &Client,
    table: &str,
    wanted: &[String],
) -> Result<TableSettings, DynamoError> {
    let read = || async {
        client
            .get_item()
            .table_name(table)
            .set_key(Some(item_key(keys::META_PK, keys::META_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| DynamoError::request(table, "GetItem", e))
            .map(|out| out.item().and_then(TableSettings::of))
    };
    if let Some(stored) = read().await? {
        return Ok(stored);
    }
    let mut item = item_key(keys::META_PK, keys::META_SK);
    item.insert(
        INDEXED_ATTRIBUTE.to_owned(),
        AttributeValue::L(wanted.iter().map(s).collect()),
    );
    item.insert(SCHEMA_ATTRIBUTE.to_owned(), n(SCHEMA));
    let put = client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await;
    match put {
        Ok(_) => Ok(TableSettings {
            indexed: wanted.to_vec(),
            schema: SCHEMA,
        }),
        Err(e)
            if e.as_service_error()
                .is_some_and(PutItemError::is_conditional_check_failed_exception) =>
        {
            // Another process recorded its settings first: they hold.
            Ok(read().await?.unwrap_or(TableSettings {
                indexed: Vec::new(),
                schema: 1,
            }))
        }
        Err(e) => Err(DynamoError::request(table, "PutItem", e)),
    }
}

/// Stores a batch; per file, in order, how many of its events were new.
pub async fn load(inner: &Inner, files: Vec<LoadedFile>) -> Result<Vec<FileCounts>, DynamoError> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    if let Some(settings) = inner.anomaly_settings() {
        // Files committed by a load that died before evaluating them.
        if let Err(e) = anomalies::sweep(inner, settings, anomalies::STALE).await {
            tracing::warn!(error = %e, "anomalies of an earlier load left unevaluated; later");
        }
    }
    let first_seq = allocate_sequence(inner, files.len() as u64).await?;
    let names: HashSet<&String> = files.iter().flat_map(|f| &f.parameter_names).collect();
    register_parameters(inner, names.into_iter().cloned().collect()).await?;
    // Alerts first (SPEC §12): their keys are theirs alone, so a put repeated
    // by a re-run stores nothing twice; the ledger entry comes last.
    let alerts: Vec<ctt_store::Alert> = files.iter().flat_map(|f| f.alerts.clone()).collect();
    super::alerts::put(inner, &alerts).await?;
    if let Some((routes, max_age)) = inner.outbox.get() {
        super::outbox::queue(inner, &alerts, routes, *max_age).await?;
    }
    // Resource touches (SPEC §11) likewise: keyed by event and resource.
    let events: Vec<&IndexedEvent> = files.iter().flat_map(|f| &f.events).collect();
    super::resources::put(inner, &events).await?;

    // The same event in two files of one batch belongs to the first.
    let mut claimed: HashSet<String> = HashSet::new();
    let mut work = Vec::with_capacity(files.len());
    for (index, file) in files.into_iter().enumerate() {
        let mut mine = Vec::with_capacity(file.events.len());
        let mut duplicates = 0;
        for event in file.events {
            if claimed.insert(event.event.event_id.clone()) {
                mine.push(event);
            } else {
                duplicates += 1;
            }
        }
        work.push((file.entry, mine, duplicates, first_seq + index as u64));
    }
    let loads: Vec<_> = work
        .into_iter()
        .map(|(entry, events, duplicates, seq)| load_file(inner, entry, events, duplicates, seq))
        .collect();
    stream::iter(loads)
        .buffered(FILE_CONCURRENCY)
        .try_collect()
        .await
}

/// Reserves `count` ledger sequence numbers; returns the first.
async fn allocate_sequence(inner: &Inner, count: u64) -> Result<u64, DynamoError> {
    let out = inner
        .client
        .update_item()
        .table_name(&inner.table)
        .set_key(Some(item_key(keys::META_PK, keys::SEQ_SK)))
        .update_expression("ADD #next :n")
        .expression_attribute_names("#next", "next")
        .expression_attribute_values(":n", n(count))
        .return_values(ReturnValue::UpdatedNew)
        .send()
        .await
        .map_err(|e| inner.error("UpdateItem", e))?;
    let last: u64 = out
        .attributes()
        .and_then(|a| get_n(a, "next"))
        .unwrap_or(count);
    Ok(last + 1 - count)
}

/// Adds parameter names not known yet to the catalog.
async fn register_parameters(inner: &Inner, names: Vec<String>) -> Result<(), DynamoError> {
    if !inner.parameters_loaded.load(Ordering::Relaxed) {
        read::parameters(inner).await?;
        inner.parameters_loaded.store(true, Ordering::Relaxed);
    }
    let new: Vec<String> = match inner.known_parameters.lock() {
        Ok(known) => names.into_iter().filter(|n| !known.contains(n)).collect(),
        Err(_) => names,
    };
    if new.is_empty() {
        return Ok(());
    }
    let items = new
        .iter()
        .map(|name| item_key(Catalog::Parameters.pk(), name))
        .collect();
    put_all(inner, items).await?;
    if let Ok(mut known) = inner.known_parameters.lock() {
        known.extend(new);
    }
    Ok(())
}

/// `items` with each key once, the first item of a key kept (a
/// `BatchWriteItem` must not name an item twice).
pub fn unique_keys(mut items: Vec<items::Item>) -> Vec<items::Item> {
    let mut seen = HashSet::new();
    items.retain(|item| {
        seen.insert((
            get_s(item, keys::PK).unwrap_or_default().to_owned(),
            get_s(item, keys::SK).unwrap_or_default().to_owned(),
        ))
    });
    items
}

/// Puts `items` in `BatchWriteItem`s of at most 25, each key once.
pub async fn put_all(inner: &Inner, items: Vec<items::Item>) -> Result<(), DynamoError> {
    let requests = unique_keys(items)
        .into_iter()
        .map(|item| {
            PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map(|put| WriteRequest::builder().put_request(put).build())
                .map_err(|e| inner.error("BatchWriteItem", e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    for chunk in requests.chunks(BATCH_WRITE_MAX) {
        batch_write(inner, chunk.to_vec()).await?;
    }
    Ok(())
}

/// `BatchWriteItem`, retrying `UnprocessedItems` with backoff and jitter.
pub async fn batch_write(inner: &Inner, requests: Vec<WriteRequest>) -> Result<(), DynamoError> {
    let mut pending = requests;
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 0 {
            retry::back_off(attempt).await;
        }
        let out = inner
            .client
            .batch_write_item()
            .request_items(&inner.table, pending)
            .send()
            .await
            .map_err(|e| inner.error("BatchWriteItem", e))?;
        pending = out
            .unprocessed_items()
            .and_then(|u| u.get(&inner.table))
            .cloned()
            .unwrap_or_default();
        if pending.is_empty() {
            return Ok(());
        }
        tracing::debug!(left = pending.len(), attempt, "retrying unprocessed items");
    }
    Err(DynamoError::Unfinished {
        table: inner.table.clone(),
        operation: "BatchWriteItem",
        attempts: MAX_ATTEMPTS,
    })
}

/// What a conditional put of an event found.
enum PutOutcome {
    /// Stored now, or by an earlier attempt of this same file.
    Stored,
    /// Already stored by another file.
    Duplicate,
}

/// The catalog change one file makes for one user or service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Delta {
    events: u64,
    first: i64,
    last: i64,
}

impl Delta {
    fn add(&mut self, t: i64) {
        if self.events == 0 || t < self.first {
            self.first = t;
        }
        if self.events == 0 || t > self.last {
            self.last = t;
        }
        self.events += 1;
    }
}

async fn load_file(
    inner: &Inner,
    entry: ctt_store::LedgerEntry,
    events: Vec<IndexedEvent>,
    batch_duplicates: u64,
    seq: u64,
) -> Result<FileCounts, DynamoError> {
    let mut counts = FileCounts {
        stored: 0,
        duplicate: batch_duplicates,
        ..entry.counts
    };
    let key = entry.key.as_str();
    let version = entry.version.as_str();
    let puts: Vec<_> = events
        .iter()
        .map(|event| async move {
            Ok::<_, DynamoError>((put_event(inner, event, key, version).await?, event))
        })
        .collect();
    let outcomes: Vec<(PutOutcome, &IndexedEvent)> = stream::iter(puts)
        .buffer_unordered(PUT_CONCURRENCY)
        .try_collect()
        .await?;
    let mut deltas: BTreeMap<(Catalog, String), Delta> = BTreeMap::new();
    let mut hourly: BTreeMap<(HourlyKind, String, i64), u64> = BTreeMap::new();
    let mut stored: Vec<&IndexedEvent> = Vec::new();
    for (outcome, indexed) in outcomes {
        match outcome {
            PutOutcome::Duplicate => counts.duplicate += 1,
            PutOutcome::Stored => {
                counts.stored += 1;
                let e = &indexed.event;
                let t = to_seconds(e.event_time);
                for entry_key in [
                    (Catalog::Users, e.user.clone()),
                    (Catalog::Services, e.service.clone()),
                ] {
                    deltas
                        .entry(entry_key)
                        .or_insert(Delta {
                            events: 0,
                            first: t,
                            last: t,
                        })
                        .add(t);
                }
                if inner.hourly_counts {
                    let hour = hour_of(t);
                    for (kind, key) in [
                        (HourlyKind::All, ""),
                        (HourlyKind::User, e.user.as_str()),
                        (HourlyKind::Service, e.service.as_str()),
                    ] {
                        *hourly.entry((kind, key.to_owned(), hour)).or_default() += 1;
                    }
                }
                if inner.baselines {
                    if e.error_code.is_some() {
                        *hourly
                            .entry((HourlyKind::UserErrors, e.user.clone(), hour_of(t)))
                            .or_default() += 1;
                    }
                    stored.push(indexed);
                }
            }
        }
    }
    // Anomalies (SPEC §13) are evaluated after the commit; the marker says
    // so until then, should this load die in between.
    let scopes = inner
        .anomaly_settings()
        .map(|settings| (settings, anomalies::Scopes::of(&stored)))
        .filter(|(_, scopes)| !scopes.is_empty());
    if let Some((_, scopes)) = &scopes {
        anomalies::mark(inner, key, version, scopes).await?;
    }
    widen_catalog(inner, &deltas).await?;
    // Before the commit, like the catalog: a retried file lowers them again.
    baselines::keep_firsts(inner, baselines::firsts(&stored)).await?;
    let committed = commit_file(inner, &entry, &counts, &deltas, &hourly, seq).await?;
    if !committed {
        // This version of the file was recorded by another writer in the meantime:
        // its counts hold, and what this attempt stored was that writer's too.
        counts.duplicate += counts.stored;
        counts.stored = 0;
    }
    // A file another writer committed is that writer's to evaluate; the
    // marker (the same item) stays, should that writer die before: its
    // evaluation deletes it, or a later load's sweep evaluates it.
    if let Some((settings, scopes)) = scopes.filter(|_| committed) {
        match anomalies::evaluate(inner, settings, &scopes).await {
            Ok(()) => anomalies::unmark(inner, key, version).await?,
            // The file is loaded; its marker stays for a later load's sweep.
            Err(e) => tracing::warn!(file = key, error = %e, "anomalies left to a later load"),
        }
    }
    Ok(counts)
}

async fn put_event(
    inner: &Inner,
    event: &IndexedEvent,
    file_key: &str,
    file_version: &str,
) -> Result<PutOutcome, DynamoError> {
    let result = inner
        .client
        .put_item()
        .table_name(&inner.table)
        .set_item(Some(items::event_item(event, file_key, file_version)))
        .condition_expression("attribute_not_exists(pk)")
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await;
    match result {
        Ok(_) => Ok(PutOutcome::Stored),
        Err(e) => match e.as_service_error() {
            Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                let own = failed.item().is_some_and(|old| {
                    get_s(old, items::FILE_KEY) == Some(file_key)
                        && get_s(old, items::FILE_VERSION) == Some(file_version)
                });
                Ok(if own {
                    PutOutcome::Stored
                } else {
                    PutOutcome::Duplicate
                })
            }
            _ => Err(inner.error("PutItem", e)),
        },
    }
}

/// Moves `first_seen` earlier and `last_seen` later where this file's events
/// lie outside them. Conditional, so concurrent writers never move them back.
async fn widen_catalog(
    inner: &Inner,
    deltas: &BTreeMap<(Catalog, String), Delta>,
) -> Result<(), DynamoError> {
    let mut updates = Vec::new();
    {
        let bounds = inner.catalog_bounds.lock().ok();
        for (entry, delta) in deltas {
            let known = bounds.as_ref().and_then(|b| b.get(entry)).copied();
            if known.is_none_or(|(first, _)| delta.first < first) {
                updates.push((entry, "first_seen", ">", delta.first));
            }
            if known.is_none_or(|(_, last)| delta.last > last) {
                updates.push((entry, "last_seen", "<", delta.last));
            }
        }
    }
    let requests: Vec<_> = updates
        .into_iter()
        .map(|((catalog, name), attribute, comparison, t)| async move {
            let request = || {
                inner
                    .client
                    .update_item()
                    .table_name(&inner.table)
                    .set_key(Some(item_key(catalog.pk(), name)))
                    .update_expression("SET #a = :t")
                    .condition_expression(format!("attribute_not_exists(#a) OR #a {comparison} :t"))
                    .expression_attribute_names("#a", attribute)
                    .expression_attribute_values(":t", n(t))
            };
            // Refused: already as wide.
            conditional_update(inner, request).await.map(|_| ())
        })
        .collect();
    stream::iter(requests)
        .buffer_unordered(PUT_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    if let Ok(mut bounds) = inner.catalog_bounds.lock() {
        for (entry, delta) in deltas {
            let known = bounds
                .entry(entry.clone())
                .or_insert((delta.first, delta.last));
            known.0 = known.0.min(delta.first);
            known.1 = known.1.max(delta.last);
        }
    }
    Ok(())
}

/// What a conditional `UpdateItem` came to.
pub(super) enum Conditional {
    Applied,
    /// Its condition refused it: the stored item, when the request asked for
    /// it (`ReturnValuesOnConditionCheckFailure`).
    Refused(Option<items::Item>),
}

/// Sends the conditional update `request` builds until it is applied or its
/// condition refuses it, retrying (with backoff) while a transaction holds
/// the item — the SDK does not retry that by itself.
pub(super) async fn conditional_update(
    inner: &Inner,
    request: impl Fn() -> UpdateItemFluentBuilder,
) -> Result<Conditional, DynamoError> {
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 0 {
            retry::back_off(attempt).await;
        }
        match request().send().await {
            Ok(_) => return Ok(Conditional::Applied),
            Err(e) => {
                if let Some(UpdateItemError::ConditionalCheckFailedException(refused)) =
                    e.as_service_error()
                {
                    return Ok(Conditional::Refused(refused.item().cloned()));
                }
                if !retry::is_conflict(e.code()) {
                    return Err(inner.error("UpdateItem", e));
                }
            }
        }
    }
    Err(DynamoError::Unfinished {
        table: inner.table.clone(),
        operation: "UpdateItem",
        attempts: MAX_ATTEMPTS,
    })
}

/// What the ledger held for a file before this commit: its version and outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Previous {
    version: String,
    outcome: FileOutcome,
}

impl Previous {
    fn of(item: &items::Item) -> Option<Previous> {
        Some(Previous {
            version: get_s(item, "version")?.to_owned(),
            outcome: FileOutcome::parse(get_s(item, "outcome")?),
        })
    }
}

/// Commits the ledger entry with the catalog counts, the hourly counters and
/// the file counters. `false` when this version of the file was already
/// recorded as loaded (by a concurrent or earlier writer): then nothing is
/// counted again.
async fn commit_file(
    inner: &Inner,
    entry: &ctt_store::LedgerEntry,
    counts: &FileCounts,
    deltas: &BTreeMap<(Catalog, String), Delta>,
    hourly: &BTreeMap<(HourlyKind, String, i64), u64>,
    seq: u64,
) -> Result<bool, DynamoError> {
    let add = |pk: String, sk: String, events: u64| {
        Update::builder()
            .table_name(&inner.table)
            .set_key(Some(item_key(pk, sk)))
            .update_expression("ADD #events :n")
            .expression_attribute_names("#events", keys::EVENTS)
            .expression_attribute_values(":n", n(events))
            .build()
            .map(|u| TransactWriteItem::builder().update(u).build())
            .map_err(|e| inner.error("TransactWriteItems", e))
    };
    // In a fixed order: a commit split over transactions splits the same way
    // when retried, so each chunk's marker stands for the same additions.
    let additions: Vec<TransactWriteItem> = deltas
        .iter()
        .filter(|(_, d)| d.events > 0)
        .map(|((catalog, name), delta)| add(catalog.pk().to_owned(), name.clone(), delta.events))
        .chain(hourly.iter().map(|((kind, key, hour), events)| {
            add(keys::hourly_pk(*kind, key), keys::hour_sk(*hour), *events)
        }))
        .collect::<Result<_, _>>()?;
    let mut chunks: Vec<&[TransactWriteItem]> =
        additions.chunks(COUNTER_UPDATES_PER_TRANSACTION).collect();
    let last = chunks.pop().unwrap_or(&[]);
    for (index, chunk) in chunks.into_iter().enumerate() {
        let mut actions = vec![chunk_marker(inner, entry, index)?];
        actions.extend(chunk.iter().cloned());
        // A marker already there: an earlier attempt applied this chunk.
        transact(inner, actions, Vec::new()).await?;
    }
    // Optimistic: first as a new file; if the ledger knew it, as a transition
    // from what it held, which also moves the file counters between outcomes.
    let mut previous = None;
    for _ in 0..MAX_ATTEMPTS {
        if let Some(Previous { version, outcome }) = &previous
            && *version == entry.version
            && *outcome == FileOutcome::Loaded
        {
            return Ok(false);
        }
        let mut actions = vec![ledger_update(inner, entry, counts, seq, previous.as_ref())?];
        actions.extend(file_counter_update(inner, entry, previous.as_ref())?);
        actions.extend(last.iter().cloned());
        match transact(inner, actions, Vec::new()).await? {
            Transacted::Committed => return Ok(true),
            Transacted::GuardFailed(Some(old)) => previous = Previous::of(&old),
            Transacted::GuardFailed(None) => {
                previous = read::ledger_item(inner, &entry.key)
                    .await?
                    .as_ref()
                    .and_then(Previous::of);
            }
        }
    }
    Err(DynamoError::Unfinished {
        table: inner.table.clone(),
        operation: "TransactWriteItems",
        attempts: MAX_ATTEMPTS,
    })
}

/// The conditional ledger update: records the file if the ledger still holds
/// `previous` for it (nothing, when `None`). Keeps the position (`seq`) of a
/// file seen before.
fn ledger_update(
    inner: &Inner,
    entry: &ctt_store::LedgerEntry,
    counts: &FileCounts,
    seq: u64,
    previous: Option<&Previous>,
) -> Result<TransactWriteItem, DynamoError> {
    let mut e = Expr::default();
    let mut sets = Vec::new();
    let mut set = |e: &mut Expr, attribute: &str, value: AttributeValue| {
        let (name, value) = (e.name(attribute), e.value(value));
        sets.push(format!("{name} = {value}"));
    };
    set(&mut e, "key", s(&entry.key));
    set(&mut e, "size", n(entry.size));
    set(&mut e, "version", s(&entry.version));
    set(&mut e, "outcome", s(entry.outcome.as_str()));
    set(&mut e, "records", n(counts.records));
    set(&mut e, "stored", n(counts.stored));
    set(&mut e, "filtered", n(counts.filtered));
    set(&mut e, "duplicate", n(counts.duplicate));
    set(&mut e, "rejected", n(counts.rejected));
    set(&mut e, "loaded_at", n(entry.loaded_at.timestamp()));
    set(
        &mut e,
        keys::LEDGER_PK,
        s(keys::ledger_partition(entry.outcome == FileOutcome::Loaded)),
    );
    // The content's SHA-256, when the load hashed it (`ctt ingest --verify`):
    // 32 bytes, for this version only.
    let sha256 = entry.sha256.as_deref().and_then(|h| hex::decode(h).ok());
    let hashed = sha256.is_some();
    if let Some(bytes) = sha256 {
        set(&mut e, "sha256", AttributeValue::B(Blob::new(bytes)));
    }
    let seq_name = e.name(keys::LEDGER_SEQ);
    let seq_value = e.value(n(seq));
    sets.push(format!(
        "{seq_name} = if_not_exists({seq_name}, {seq_value})"
    ));
    let reason = e.name("reason");
    // A file loaded anew has no known integrity (SPEC §14) until verified
    // again, nor a hash unless this load kept one.
    let mut removed = vec![e.name("integrity")];
    if !hashed {
        removed.push(e.name("sha256"));
    }
    let mut update = format!("SET {}", sets.join(", "));
    match &entry.reason {
        Some(text) => {
            let value = e.value(s(text));
            update.push_str(&format!(", {reason} = {value}"));
        }
        None => removed.insert(0, reason),
    }
    update.push_str(&format!(" REMOVE {}", removed.join(", ")));
    let condition = match previous {
        None => format!("attribute_not_exists({})", e.name(keys::PK)),
        Some(previous) => format!(
            "{} = {} AND {} = {}",
            e.name("version"),
            e.value(s(&previous.version)),
            e.name("outcome"),
            e.value(s(previous.outcome.as_str())),
        ),
    };
    Update::builder()
        .table_name(&inner.table)
        .set_key(Some(item_key(keys::ledger_pk(&entry.key), keys::LEDGER_SK)))
        .update_expression(update)
        .condition_expression(condition)
        .set_expression_attribute_names(e.names_or_none())
        .set_expression_attribute_values(e.values_or_none())
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map(|u| TransactWriteItem::builder().update(u).build())
        .map_err(|e| inner.error("TransactWriteItems", e))
}

/// Counts the file under its new outcome (and no longer under its old one).
fn file_counter_update(
    inner: &Inner,
    entry: &ctt_store::LedgerEntry,
    previous: Option<&Previous>,
) -> Result<Option<TransactWriteItem>, DynamoError> {
    let mut e = Expr::default();
    let mut adds = vec![format!(
        "{} {}",
        e.name(entry.outcome.as_str()),
        e.value(n(1))
    )];
    match previous {
        Some(p) if p.outcome == entry.outcome => return Ok(None),
        Some(p) => adds.push(format!("{} {}", e.name(p.outcome.as_str()), e.value(n(-1)))),
        None => {}
    }
    Update::builder()
        .table_name(&inner.table)
        .set_key(Some(item_key(
            keys::META_PK,
            keys::files_counter_sk(&entry.key),
        )))
        .update_expression(format!("ADD {}", adds.join(", ")))
        .set_expression_attribute_names(e.names_or_none())
        .set_expression_attribute_values(e.values_or_none())
        .build()
        .map(|u| Some(TransactWriteItem::builder().update(u).build()))
        .map_err(|e| inner.error("TransactWriteItems", e))
}

/// A marker making one early chunk of a split commit idempotent.
fn chunk_marker(
    inner: &Inner,
    entry: &ctt_store::LedgerEntry,
    chunk: usize,
) -> Result<TransactWriteItem, DynamoError> {
    Put::builder()
        .table_name(&inner.table)
        .set_item(Some(item_key(
            keys::ledger_pk(&entry.key),
            keys::chunk_sk(&entry.version, chunk),
        )))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .map(|p| TransactWriteItem::builder().put(p).build())
        .map_err(|e| inner.error("TransactWriteItems", e))
}

/// How a transaction ended.
pub(super) enum Transacted {
    Committed,
    /// Its first action's condition failed (nothing applied); the item as it
    /// was, when DynamoDB returned it.
    GuardFailed(Option<items::Item>),
}

/// Runs a transaction whose first action is its guard. The actions marked
/// `optional` (by position; none if empty) are dropped when their own
/// condition fails, and the rest run again. Conflicts and throttling are
/// retried with backoff.
pub(super) async fn transact(
    inner: &Inner,
    mut actions: Vec<TransactWriteItem>,
    mut optional: Vec<bool>,
) -> Result<Transacted, DynamoError> {
    optional.resize(actions.len(), false);
    let mut attempt = 0;
    while attempt < MAX_ATTEMPTS {
        let result = inner
            .client
            .transact_write_items()
            .set_transact_items(Some(actions.clone()))
            .send()
            .await;
        let error = match result {
            Ok(_) => return Ok(Transacted::Committed),
            Err(error) => error,
        };
        match error.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                let reasons = cancelled.cancellation_reasons();
                let refused = |code: Option<&str>| code == Some("ConditionalCheckFailed");
                if let Some(guard) = reasons.first()
                    && refused(guard.code())
                {
                    return Ok(Transacted::GuardFailed(guard.item().cloned()));
                }
                let dropped: Vec<usize> = (0..reasons.len())
                    .filter(|i| refused(reasons[*i].code()))
                    .collect();
                if !dropped.is_empty() && dropped.iter().all(|i| optional[*i]) {
                    for i in dropped.into_iter().rev() {
                        actions.remove(i);
                        optional.remove(i);
                    }
                    continue;
                }
                let codes: Vec<&str> = reasons.iter().map(|r| r.code().unwrap_or("None")).collect();
                if !codes.iter().any(|c| retry::is_retryable_cancellation(c)) {
                    return Err(inner.error("TransactWriteItems", error));
                }
                tracing::debug!(?codes, attempt, "retrying a cancelled transaction");
            }
            Some(e) if e.is_transaction_in_progress_exception() => {}
            _ => return Err(inner.error("TransactWriteItems", error)),
        }
        attempt += 1;
        retry::back_off(attempt).await;
    }
    Err(DynamoError::Unfinished {
        table: inner.table.clone(),
        operation: "TransactWriteItems",
        attempts: MAX_ATTEMPTS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delta_spans_its_events() {
        let mut d = Delta {
            events: 0,
            first: 50,
            last: 50,
        };
        for t in [50, 10, 90, 40] {
            d.add(t);
        }
        assert_eq!(
            d,
            Delta {
                events: 4,
                first: 10,
                last: 90
            }
        );
    }
}
