//! Anomalies (SPEC §13) in the table: raised and withdrawn by every loader
//! as a function of the stored events, whatever order files arrive in and
//! however many Lambdas load at once.
//!
//! After a file's ledger commit, each user and account it stored events for
//! is *evaluated*: the anomalies their baselines now imply — first uses
//! (`FS#…`) judged from the user's first event (the catalog), spikes of the
//! hourly counters over the hours the file added to and the week after —
//! are compared with those recorded in the scope's index partition
//! (`AN#U#user`, `AN#A#account`: one item per anomaly ever raised, withdrawn
//! or not), and the difference is written: a new anomaly (its alert, its
//! index item, its deliveries), a withdrawn one (`withdrawn` set on both, a
//! pending delivery set aside), a restored or revised one. The decisions are
//! SQLite's writer's: the same pure functions ([`first_anomalies`],
//! [`spiking_hours`]). Reads are `Query`s and `GetItem`s; no `Scan`.
//!
//! * **Concurrent evaluations** of one scope: each first bumps the scope's
//!   generation (`AV#…`, `ADD gen 1`), reads after it, and writes in
//!   transactions that each check the generation is still its own. A later
//!   evaluation read everything committed before its bump; the earlier one's
//!   writes are refused and it starts again (it may cover other hours).
//! * **A crash** between a file's commit and its evaluation: a marker (`AP`,
//!   the file's key and version, its scopes) is put before the commit and
//!   deleted after the evaluation; loads evaluate markers older than
//!   [`STALE`] (longer than a Lambda runs) and delete them.
//! * **A spike's event** (the hour's `nth` call) is read from the `by_user`
//!   index, which lags the table: read again until it holds at least the
//!   hour's exact count (the counters are committed with the ledger).
//! * **Notifications**: a new anomaly's deliveries are put in its
//!   transaction; a withdrawn one's pending deliveries are set aside
//!   (`state = withdrawn`), pending again if it is restored. A sent delivery
//!   is gone from the outbox, and only an anomaly without an index item is
//!   new: nothing is sent twice.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, ReturnValue, TransactWriteItem, Update,
};
use chrono::Utc;
use ctt_core::anomaly::{AnomalyKind, AnomalySettings, Baseline};
use ctt_core::time::{from_seconds, parse_event_time, to_seconds};
use ctt_store::baseline::{FirstKind, WEEK, account_of, first_anomalies, spiking_hours};
use ctt_store::hourly::{HOUR, HourlyKind, hour_of};
use ctt_store::{Alert, IndexedEvent, RecordJson};
use futures_util::{StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};

use super::expr::Expr;
use super::items::{self, Item, get_n, get_s, n, s};
use super::keys::{self, EventIndex};
use super::retry::{self, MAX_ATTEMPTS};
use super::{DynamoError, Inner, alerts, baselines, item_key, outbox, read, write};

/// Scopes evaluated at once.
const CONCURRENCY: usize = 8;
/// Actions of one transaction besides its generation check.
const ACTIONS_PER_TRANSACTION: usize = 99;
/// Bytes of items in one transaction: DynamoDB takes 4 MB at most.
const BYTES_PER_TRANSACTION: usize = 3 << 20;
/// A marker this old was left by a load that died (a Lambda runs 15 min at most).
pub const STALE: Duration = Duration::from_secs(20 * 60);

/// The partition of the markers of files committed but not evaluated yet.
const MARKER_PK: &str = "AP";
const GENERATION_SK: &str = "G";
const GENERATION: &str = "gen";

/// What a file's stored events ask to evaluate.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scopes {
    /// Per user: the first and the last hour (starts) of their events.
    pub users: BTreeMap<String, (i64, i64)>,
    /// The accounts of their events that name a region.
    pub accounts: BTreeSet<String>,
}

impl Scopes {
    pub fn of(events: &[&IndexedEvent]) -> Self {
        let mut scopes = Scopes::default();
        for indexed in events {
            let e = &indexed.event;
            let hour = hour_of(to_seconds(e.event_time));
            let span = scopes.users.entry(e.user.clone()).or_insert((hour, hour));
            span.0 = span.0.min(hour);
            span.1 = span.1.max(hour);
            if e.aws_region.is_some() {
                scopes.accounts.insert(account_of(e).to_owned());
            }
        }
        scopes
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.accounts.is_empty()
    }
}

fn marker_key(file_key: &str, version: &str) -> Item {
    item_key(MARKER_PK, format!("{file_key}\n{version}"))
}

/// Records that a file's `scopes` are to be evaluated (before its commit).
pub async fn mark(
    inner: &Inner,
    file_key: &str,
    version: &str,
    scopes: &Scopes,
) -> Result<(), DynamoError> {
    let mut item = marker_key(file_key, version);
    let json = serde_json::to_string(scopes).unwrap_or_default();
    item.insert("scopes".into(), s(json));
    item.insert("since".into(), n(Utc::now().timestamp_millis()));
    inner
        .client
        .put_item()
        .table_name(&inner.table)
        .set_item(Some(item))
        .send()
        .await
        .map_err(|e| inner.error("PutItem", e))?;
    Ok(())
}

/// The file's scopes were evaluated (or another writer committed it).
pub async fn unmark(inner: &Inner, file_key: &str, version: &str) -> Result<(), DynamoError> {
    delete(inner, marker_key(file_key, version)).await
}

async fn delete(inner: &Inner, key: Item) -> Result<(), DynamoError> {
    inner
        .client
        .delete_item()
        .table_name(&inner.table)
        .set_key(Some(key))
        .send()
        .await
        .map_err(|e| inner.error("DeleteItem", e))?;
    Ok(())
}

/// Evaluates the scopes of the markers older than `older_than` — left by
/// loads that died between a commit and its evaluation — and deletes them.
/// One `Query`; returns how many were evaluated.
pub async fn sweep(
    inner: &Inner,
    settings: &AnomalySettings,
    older_than: Duration,
) -> Result<usize, DynamoError> {
    let before = Utc::now().timestamp_millis() - older_than.as_millis() as i64;
    let markers = read::query_partition(inner, None, keys::PK, MARKER_PK, None).await?;
    let mut evaluated = 0;
    for marker in markers {
        if get_n::<i64>(&marker, "since").is_none_or(|since| since > before) {
            continue;
        }
        let scopes: Scopes = get_s(&marker, "scopes")
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default();
        evaluate(inner, settings, &scopes).await?;
        let sk = get_s(&marker, keys::SK).unwrap_or_default();
        delete(inner, item_key(MARKER_PK, sk)).await?;
        evaluated += 1;
    }
    Ok(evaluated)
}

/// A scope whose anomalies are evaluated together.
#[derive(Debug, Clone)]
enum Scope {
    /// A user's first uses, and their spikes from the hour `lo` to the week
    /// after the hour `hi`.
    User { name: String, lo: i64, hi: i64 },
    /// An account's first regions.
    Account(String),
}

impl Scope {
    fn tag(&self) -> String {
        match self {
            Scope::User { name, .. } => format!("U#{name}"),
            Scope::Account(account) => format!("A#{account}"),
        }
    }

    fn generation_key(&self) -> Item {
        item_key(format!("AV#{}", self.tag()), GENERATION_SK)
    }

    fn index_pk(&self) -> String {
        format!("AN#{}", self.tag())
    }

    /// Whether a recorded anomaly is this evaluation's to judge.
    fn judges(&self, kind: AnomalyKind, time: i64) -> bool {
        use AnomalyKind::*;
        match (self, kind) {
            (Scope::Account(_), AccountNewRegion) => true,
            (Scope::User { .. }, NewRegion | NewService) => true,
            (Scope::User { lo, hi, .. }, RateSpike | ErrorSpike) => {
                (*lo..*hi + WEEK + HOUR).contains(&time)
            }
            _ => false,
        }
    }
}

/// Evaluates every scope of `scopes`.
pub async fn evaluate(
    inner: &Inner,
    settings: &AnomalySettings,
    scopes: &Scopes,
) -> Result<(), DynamoError> {
    let users = scopes.users.iter().map(|(name, (lo, hi))| Scope::User {
        name: name.clone(),
        lo: *lo,
        hi: *hi,
    });
    let accounts = scopes.accounts.iter().cloned().map(Scope::Account);
    let all: Vec<Scope> = users.chain(accounts).collect();
    let evaluations: Vec<_> = all
        .iter()
        .map(|scope| evaluate_scope(inner, settings, scope))
        .collect();
    stream::iter(evaluations)
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

async fn evaluate_scope(
    inner: &Inner,
    settings: &AnomalySettings,
    scope: &Scope,
) -> Result<(), DynamoError> {
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 0 {
            retry::back_off(attempt).await;
        }
        let generation = bump(inner, scope).await?;
        let (wanted, recorded) =
            tokio::try_join!(wanted(inner, settings, scope), recorded(inner, scope))?;
        let changes = diff(settings, &wanted, &recorded);
        if changes.is_empty() || write(inner, settings, scope, generation, changes).await? {
            return Ok(());
        }
        tracing::debug!(scope = %scope.tag(), attempt, "overtaken by a later evaluation");
    }
    Err(DynamoError::Unfinished {
        table: inner.table.clone(),
        operation: "TransactWriteItems",
        attempts: MAX_ATTEMPTS,
    })
}

/// Takes the scope's next generation.
async fn bump(inner: &Inner, scope: &Scope) -> Result<u64, DynamoError> {
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 0 {
            retry::back_off(attempt).await;
        }
        let result = inner
            .client
            .update_item()
            .table_name(&inner.table)
            .set_key(Some(scope.generation_key()))
            .update_expression("ADD #g :one")
            .expression_attribute_names("#g", GENERATION)
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                return Ok(out
                    .attributes()
                    .and_then(|a| get_n(a, GENERATION))
                    .unwrap_or(0));
            }
            // An evaluation's transaction is checking it: again.
            Err(e) if retry::is_conflict(e.code()) => {}
            Err(e) => return Err(inner.error("UpdateItem", e)),
        }
    }
    Err(DynamoError::Unfinished {
        table: inner.table.clone(),
        operation: "UpdateItem",
        attempts: MAX_ATTEMPTS,
    })
}

/// An anomaly: its kind, its event, what it was judged against.
#[derive(Debug, Clone, PartialEq)]
struct Anomaly {
    kind: AnomalyKind,
    event_id: String,
    /// The event's time (seconds).
    time: i64,
    baseline: Baseline,
}

/// What the index records of an anomaly.
#[derive(Debug, Clone, PartialEq)]
struct Recorded {
    anomaly: Anomaly,
    level: String,
    withdrawn: bool,
}

/// The anomalies the scope's baselines imply now.
async fn wanted(
    inner: &Inner,
    settings: &AnomalySettings,
    scope: &Scope,
) -> Result<Vec<Anomaly>, DynamoError> {
    let (name, lo, hi) = match scope {
        Scope::Account(account) => {
            return firsts(inner, settings, FirstKind::AccountRegion, account, None).await;
        }
        Scope::User { name, lo, hi } => (name.as_str(), *lo, *hi),
    };
    let since = user_since(inner, name).await?;
    let mut found = Vec::new();
    for kind in [FirstKind::UserRegion, FirstKind::UserService] {
        found.extend(firsts(inner, settings, kind, name, since).await?);
    }
    for errors in [false, true] {
        found.extend(spikes(inner, settings, name, errors, lo, hi).await?);
    }
    Ok(found)
}

/// The user's first event (seconds), from the catalog.
async fn user_since(inner: &Inner, user: &str) -> Result<Option<i64>, DynamoError> {
    let out = inner
        .client
        .get_item()
        .table_name(&inner.table)
        .set_key(Some(item_key(keys::Catalog::Users.pk(), user)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| inner.error("GetItem", e))?;
    Ok(out
        .item()
        .and_then(items::catalog_entry)
        .map(|entry| to_seconds(entry.first_seen)))
}

async fn firsts(
    inner: &Inner,
    settings: &AnomalySettings,
    kind: FirstKind,
    scope: &str,
    since: Option<i64>,
) -> Result<Vec<Anomaly>, DynamoError> {
    if !settings.enabled(kind.anomaly()) {
        return Ok(Vec::new());
    }
    let uses = baselines::first_uses(inner, kind, scope).await?;
    let times: HashMap<&str, i64> = uses
        .iter()
        .map(|u| (u.event_id.as_str(), u.time.timestamp()))
        .collect();
    Ok(first_anomalies(settings, kind, scope, since, &uses)
        .into_iter()
        .map(|(event_id, baseline)| Anomaly {
            kind: kind.anomaly(),
            time: times.get(event_id.as_str()).copied().unwrap_or_default(),
            event_id,
            baseline,
        })
        .collect())
}

/// The user's spiking hours from `lo` to the week after `hi`, each on its
/// `nth` event.
async fn spikes(
    inner: &Inner,
    settings: &AnomalySettings,
    user: &str,
    errors: bool,
    lo: i64,
    hi: i64,
) -> Result<Vec<Anomaly>, DynamoError> {
    let (kind, series) = if errors {
        (AnomalyKind::ErrorSpike, HourlyKind::UserErrors)
    } else {
        (AnomalyKind::RateSpike, HourlyKind::User)
    };
    if !settings.enabled(kind) {
        return Ok(Vec::new());
    }
    let items = read::query_range(
        inner,
        None,
        (keys::PK, &keys::hourly_pk(series, user)),
        (
            keys::SK,
            &keys::hour_sk(lo - WEEK),
            &keys::hour_sk(hi + WEEK),
        ),
        Some(&[keys::SK, keys::EVENTS]),
    )
    .await?;
    let counts: BTreeMap<i64, u64> = items
        .iter()
        .filter_map(|item| {
            let hour = keys::parse_hour_sk(get_s(item, keys::SK)?)?;
            Some((hour, get_n::<i64>(item, keys::EVENTS)?.max(0) as u64))
        })
        .collect();
    let mut found = Vec::new();
    for (hour, spike) in spiking_hours(settings, errors, &counts, lo, hi + WEEK) {
        let count = counts.get(&hour).copied().unwrap_or_default();
        if let Some((event_id, time)) =
            nth_event(inner, user, hour, errors, spike.nth, count).await?
        {
            found.push(Anomaly {
                kind,
                event_id,
                time,
                baseline: Baseline::spike(user, errors, from_seconds(hour), &spike),
            });
        }
    }
    Ok(found)
}

/// The `nth` (1-based) of the user's events (or failed calls) in the hour
/// from `hour`, in (time, eventID) order, once the `by_user` index holds at
/// least the `count` the counters have.
async fn nth_event(
    inner: &Inner,
    user: &str,
    hour: i64,
    errors: bool,
    nth: u64,
    count: u64,
) -> Result<Option<(String, i64)>, DynamoError> {
    let index = EventIndex::ByUser;
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 0 {
            retry::back_off(attempt).await;
        }
        let items = read::query_range(
            inner,
            Some(index.name()),
            (index.name(), &index.partition(user)),
            (
                keys::AT,
                &keys::at_lowest(from_seconds(hour)),
                &keys::at_highest(from_seconds(hour + HOUR - 1)),
            ),
            Some(&[keys::AT, "event_id", "event_time", "error_code"]),
        )
        .await?;
        let matching: Vec<&Item> = items
            .iter()
            .filter(|item| !errors || item.contains_key("error_code"))
            .collect();
        if matching.len() as u64 >= count {
            return Ok(nth
                .checked_sub(1)
                .and_then(|i| matching.get(i as usize))
                .and_then(|item| {
                    let time = get_s(item, "event_time").and_then(parse_event_time)?;
                    Some((get_s(item, "event_id")?.to_owned(), to_seconds(time)))
                }));
        }
        tracing::debug!(user, hour, attempt, "the by_user index lags its counters");
    }
    Err(DynamoError::Unfinished {
        table: inner.table.clone(),
        operation: "Query",
        attempts: MAX_ATTEMPTS,
    })
}

fn index_sk(kind: AnomalyKind, time: i64, event_id: &str) -> String {
    format!(
        "{}#{}",
        kind.as_str(),
        keys::at(from_seconds(time), event_id)
    )
}

fn index_item(index_pk: String, a: &Anomaly, level: &str) -> Item {
    let mut item = item_key(index_pk, index_sk(a.kind, a.time, &a.event_id));
    item.insert("kind".into(), s(a.kind.as_str()));
    item.insert("event_id".into(), s(&a.event_id));
    item.insert("t".into(), n(a.time));
    item.insert("level".into(), s(level));
    item.insert("baseline".into(), s(baseline_json(&a.baseline)));
    item
}

fn baseline_json(baseline: &Baseline) -> String {
    serde_json::to_string(baseline).unwrap_or_default()
}

fn recorded_of(item: &Item) -> Option<Recorded> {
    let kind = get_s(item, "kind")?;
    let kind = AnomalyKind::ALL.into_iter().find(|k| k.as_str() == kind)?;
    Some(Recorded {
        anomaly: Anomaly {
            kind,
            event_id: get_s(item, "event_id")?.to_owned(),
            time: get_n(item, "t")?,
            baseline: serde_json::from_str(get_s(item, "baseline")?).ok()?,
        },
        level: get_s(item, "level").unwrap_or_default().to_owned(),
        withdrawn: item.get(alerts::WITHDRAWN).and_then(|w| w.as_bool().ok()) == Some(&true),
    })
}

/// What the scope's index records that this evaluation judges.
async fn recorded(inner: &Inner, scope: &Scope) -> Result<Vec<Recorded>, DynamoError> {
    let items = read::query_partition(inner, None, keys::PK, &scope.index_pk(), None).await?;
    Ok(items
        .iter()
        .filter_map(recorded_of)
        .filter(|r| scope.judges(r.anomaly.kind, r.anomaly.time))
        .collect())
}

/// A difference between what is wanted and what is recorded.
#[derive(Debug, Clone, PartialEq)]
enum Change {
    New(Anomaly),
    /// Withdrawn before, wanted again.
    Restore(Anomaly),
    /// Wanted with another baseline or level.
    Revise(Anomaly),
    Withdraw(Anomaly),
}

fn diff(settings: &AnomalySettings, wanted: &[Anomaly], recorded: &[Recorded]) -> Vec<Change> {
    let by_key: HashMap<(AnomalyKind, &str), &Recorded> = recorded
        .iter()
        .map(|r| ((r.anomaly.kind, r.anomaly.event_id.as_str()), r))
        .collect();
    let mut changes = Vec::new();
    for w in wanted {
        let level = &settings.kind(w.kind).level;
        match by_key.get(&(w.kind, w.event_id.as_str())) {
            None => changes.push(Change::New(w.clone())),
            Some(r) if r.withdrawn => changes.push(Change::Restore(w.clone())),
            Some(r) if r.anomaly.baseline != w.baseline || r.level != *level => {
                changes.push(Change::Revise(w.clone()));
            }
            Some(_) => {}
        }
    }
    let keep: HashSet<(AnomalyKind, &str)> = wanted
        .iter()
        .map(|w| (w.kind, w.event_id.as_str()))
        .collect();
    changes.extend(
        recorded
            .iter()
            .filter(|r| {
                !r.withdrawn && !keep.contains(&(r.anomaly.kind, r.anomaly.event_id.as_str()))
            })
            .map(|r| Change::Withdraw(r.anomaly.clone())),
    );
    changes
}

/// One action of a transaction; an optional one is dropped when its
/// condition fails (a delivery already sent, or never queued).
struct Action {
    item: TransactWriteItem,
    optional: bool,
    /// About how many bytes its item holds.
    bytes: usize,
}

/// About how many bytes `item` holds (names and values).
fn size_of(item: &Item) -> usize {
    item.iter()
        .map(|(name, value)| {
            name.len()
                + match value {
                    AttributeValue::S(text) => text.len(),
                    AttributeValue::B(blob) => blob.as_ref().len(),
                    _ => 16,
                }
        })
        .sum()
}

/// Writes `changes` in transactions that each check the scope's generation
/// is still `generation`. `false`: overtaken by a later evaluation.
async fn write(
    inner: &Inner,
    settings: &AnomalySettings,
    scope: &Scope,
    generation: u64,
    changes: Vec<Change>,
) -> Result<bool, DynamoError> {
    let now = Utc::now();
    let destinations: Vec<&str> = inner
        .outbox
        .get()
        .map(|(routes, _)| routes.iter().map(|r| r.destination.as_str()).collect())
        .unwrap_or_default();
    let mut finders = Vec::new();
    let mut groups: Vec<Vec<Action>> = Vec::new();
    for change in changes {
        let mut group = Vec::new();
        let restore = matches!(change, Change::Restore(_));
        match change {
            Change::New(a) => {
                let Some(alert) = alert_of(inner, settings, &a).await? else {
                    tracing::warn!(event = %a.event_id, "an anomaly's event is not stored");
                    continue;
                };
                finders.extend(alerts::finders(&alert));
                let level = &settings.kind(a.kind).level;
                group.push(put(inner, alerts::alert_item(&alert))?);
                group.push(put(inner, index_item(scope.index_pk(), &a, level))?);
                if let Some((routes, max_age)) = inner.outbox.get() {
                    for delivery in outbox::deliveries_of(&alert, routes, *max_age, now) {
                        group.push(put(inner, delivery)?);
                    }
                }
            }
            Change::Restore(a) | Change::Revise(a) => {
                let level = s(&settings.kind(a.kind).level);
                let baseline = s(baseline_json(&a.baseline));
                let title = s(a.baseline.title());
                let remove = restore.then_some(alerts::WITHDRAWN);
                group.push(update(
                    inner,
                    alerts::key_of(&a.kind.rule_id(), &a.event_id, from_seconds(a.time)),
                    &[
                        ("title", title),
                        ("level", level.clone()),
                        ("baseline", baseline.clone()),
                    ],
                    remove,
                    None,
                )?);
                group.push(update(
                    inner,
                    index_key(scope, &a),
                    &[("level", level), ("baseline", baseline)],
                    remove,
                    None,
                )?);
                if restore {
                    // A delivery set aside waits no more.
                    for destination in &destinations {
                        group.push(delivery_state(
                            inner,
                            destination,
                            &a,
                            outbox::WITHDRAWN,
                            outbox::PENDING,
                        )?);
                    }
                }
            }
            Change::Withdraw(a) => {
                let withdrawn = [(alerts::WITHDRAWN, AttributeValue::Bool(true))];
                let rule = a.kind.rule_id();
                let key = alerts::key_of(&rule, &a.event_id, from_seconds(a.time));
                group.push(update(inner, key, &withdrawn, None, None)?);
                group.push(update(inner, index_key(scope, &a), &withdrawn, None, None)?);
                // Not sent yet: set aside (one sent stays sent).
                for destination in &destinations {
                    group.push(delivery_state(
                        inner,
                        destination,
                        &a,
                        outbox::PENDING,
                        outbox::WITHDRAWN,
                    )?);
                }
            }
        }
        groups.push(group);
    }
    write::put_all(inner, finders).await?;
    let check = generation_check(inner, scope, generation)?;
    for chunk in pack(groups) {
        if !transact(inner, &check, chunk).await? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The alert of anomaly `a`, from its event's item.
async fn alert_of(
    inner: &Inner,
    settings: &AnomalySettings,
    a: &Anomaly,
) -> Result<Option<Alert>, DynamoError> {
    let out = inner
        .client
        .get_item()
        .table_name(&inner.table)
        .set_key(Some(item_key(keys::event_pk(&a.event_id), keys::EVENT_SK)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| inner.error("GetItem", e))?;
    let Some(item) = out.item() else {
        return Ok(None);
    };
    let text = |name: &str| get_s(item, name).unwrap_or_default().to_owned();
    let rule_id = a.kind.rule_id();
    Ok(Some(Alert {
        id: Alert::key(&rule_id, &a.event_id),
        title: a.baseline.title(),
        level: settings.kind(a.kind).level.clone(),
        tags: Vec::new(),
        event_id: a.event_id.clone(),
        event_time: from_seconds(a.time),
        user: text("user"),
        service: text("service"),
        event_name: text("event_name"),
        record: RecordJson::new(items::record_text(item).unwrap_or_default()),
        baseline: Some(a.baseline.clone()),
        rule_id,
    }))
}

fn index_key(scope: &Scope, a: &Anomaly) -> Item {
    item_key(scope.index_pk(), index_sk(a.kind, a.time, &a.event_id))
}

fn put(inner: &Inner, item: Item) -> Result<Action, DynamoError> {
    let bytes = size_of(&item);
    Put::builder()
        .table_name(&inner.table)
        .set_item(Some(item))
        .build()
        .map(|p| Action {
            item: TransactWriteItem::builder().put(p).build(),
            optional: false,
            bytes,
        })
        .map_err(|e| inner.error("TransactWriteItems", e))
}

/// `SET` each of `sets` (and `REMOVE` `remove`) on `key`; only if its
/// `only_if` attribute holds that value (then the action is optional).
fn update(
    inner: &Inner,
    key: Item,
    sets: &[(&str, AttributeValue)],
    remove: Option<&str>,
    only_if: Option<(&str, AttributeValue)>,
) -> Result<Action, DynamoError> {
    let bytes = size_of(&key)
        + sets
            .iter()
            .map(|(attribute, value)| {
                size_of(&Item::from([((*attribute).to_owned(), value.clone())]))
            })
            .sum::<usize>();
    let mut e = Expr::default();
    let sets: Vec<String> = sets
        .iter()
        .map(|(attribute, value)| format!("{} = {}", e.name(attribute), e.value(value.clone())))
        .collect();
    let mut expression = format!("SET {}", sets.join(", "));
    if let Some(attribute) = remove {
        expression.push_str(&format!(" REMOVE {}", e.name(attribute)));
    }
    let optional = only_if.is_some();
    let condition =
        only_if.map(|(attribute, value)| format!("{} = {}", e.name(attribute), e.value(value)));
    Update::builder()
        .table_name(&inner.table)
        .set_key(Some(key))
        .update_expression(expression)
        .set_condition_expression(condition)
        .set_expression_attribute_names(e.names_or_none())
        .set_expression_attribute_values(e.values_or_none())
        .build()
        .map(|u| Action {
            item: TransactWriteItem::builder().update(u).build(),
            optional,
            bytes,
        })
        .map_err(|e| inner.error("TransactWriteItems", e))
}

/// Moves the anomaly's delivery to `destination` from state `from` to `to`,
/// if it is there in that state.
fn delivery_state(
    inner: &Inner,
    destination: &str,
    a: &Anomaly,
    from: &str,
    to: &str,
) -> Result<Action, DynamoError> {
    let id = Alert::key(&a.kind.rule_id(), &a.event_id);
    update(
        inner,
        outbox::delivery_key(destination, &id),
        &[("state", s(to))],
        None,
        Some(("state", s(from))),
    )
}

/// The check every transaction of an evaluation starts with: the scope's
/// generation is still its own.
fn generation_check(
    inner: &Inner,
    scope: &Scope,
    generation: u64,
) -> Result<TransactWriteItem, DynamoError> {
    ConditionCheck::builder()
        .table_name(&inner.table)
        .set_key(Some(scope.generation_key()))
        .condition_expression("#g = :g")
        .expression_attribute_names("#g", GENERATION)
        .expression_attribute_values(":g", n(generation))
        .build()
        .map(|c| TransactWriteItem::builder().condition_check(c).build())
        .map_err(|e| inner.error("TransactWriteItems", e))
}

/// The groups (each one anomaly's actions, kept together) in transactions
/// of at most [`ACTIONS_PER_TRANSACTION`] actions and
/// [`BYTES_PER_TRANSACTION`] bytes.
fn pack(groups: Vec<Vec<Action>>) -> Vec<Vec<Action>> {
    let bytes = |actions: &[Action]| actions.iter().map(|a| a.bytes).sum::<usize>();
    let mut chunks: Vec<Vec<Action>> = Vec::new();
    for group in groups {
        match chunks.last_mut() {
            Some(chunk)
                if chunk.len() + group.len() <= ACTIONS_PER_TRANSACTION
                    && bytes(chunk) + bytes(&group) <= BYTES_PER_TRANSACTION =>
            {
                chunk.extend(group);
            }
            _ => chunks.push(group),
        }
    }
    chunks
}

/// Runs `check` and `actions` as one transaction. `false`: the check
/// failed (overtaken). Optional actions whose condition failed are dropped
/// and the rest run again.
async fn transact(
    inner: &Inner,
    check: &TransactWriteItem,
    actions: Vec<Action>,
) -> Result<bool, DynamoError> {
    let optional = std::iter::once(false)
        .chain(actions.iter().map(|a| a.optional))
        .collect();
    let items = std::iter::once(check.clone())
        .chain(actions.into_iter().map(|a| a.item))
        .collect();
    Ok(matches!(
        write::transact(inner, items, optional).await?,
        write::Transacted::Committed
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(event_id: &str, known: &[&str]) -> Anomaly {
        Anomaly {
            kind: AnomalyKind::NewRegion,
            event_id: event_id.to_owned(),
            time: 0,
            baseline: Baseline::First {
                who: "ana".into(),
                what: "eu-central-1".into(),
                since: from_seconds(0),
                known: known.iter().map(|k| (*k).to_owned()).collect(),
            },
        }
    }

    fn recorded(anomaly: Anomaly, withdrawn: bool) -> Recorded {
        Recorded {
            anomaly,
            level: "medium".into(),
            withdrawn,
        }
    }

    /// What is wanted and not recorded is new; recorded and not wanted,
    /// withdrawn (once); withdrawn and wanted, restored; wanted with another
    /// baseline, revised; the same, untouched.
    #[test]
    fn the_difference_raises_withdraws_restores_and_revises() {
        let settings = AnomalySettings::default();
        let wanted = [
            first("new", &[]),
            first("back", &[]),
            first("moved", &["us-east-1"]),
            first("same", &[]),
        ];
        let stored = [
            recorded(first("back", &[]), true),
            recorded(first("moved", &[]), false),
            recorded(first("same", &[]), false),
            recorded(first("gone", &[]), false),
            recorded(first("gone-before", &[]), true),
        ];
        assert_eq!(
            diff(&settings, &wanted, &stored),
            [
                Change::New(first("new", &[])),
                Change::Restore(first("back", &[])),
                Change::Revise(first("moved", &["us-east-1"])),
                Change::Withdraw(first("gone", &[])),
            ]
        );
        // Another level is a revision too.
        let mut high = settings.clone();
        high.new_region.level = "high".into();
        assert_eq!(
            diff(&high, &wanted[3..], &stored[2..3]),
            [Change::Revise(first("same", &[]))]
        );
    }

    /// Transactions hold whole groups, at most 99 actions and 3 MiB each.
    #[test]
    fn groups_are_packed_whole_within_the_transaction_limits() {
        let action = |bytes: usize| Action {
            item: TransactWriteItem::builder().build(),
            optional: false,
            bytes,
        };
        let group = |n: usize, bytes: usize| (0..n).map(|_| action(bytes)).collect::<Vec<_>>();
        let sizes = |chunks: &[Vec<Action>]| chunks.iter().map(Vec::len).collect::<Vec<_>>();
        // 40 groups of 3 small actions: 33 groups (99 actions), then 7.
        let small = pack((0..40).map(|_| group(3, 100)).collect());
        assert_eq!(sizes(&small), [99, 21]);
        // Groups of 1 MiB: three to a transaction.
        let large = pack((0..4).map(|_| group(2, 512 << 10)).collect());
        assert_eq!(sizes(&large), [6, 2]);
    }

    /// A user's evaluation judges their first uses and their spikes from
    /// the first hour it covers to the week after the last.
    #[test]
    fn a_scope_judges_its_kinds_and_hours() {
        let user = Scope::User {
            name: "ana".into(),
            lo: 10 * HOUR,
            hi: 12 * HOUR,
        };
        assert!(user.judges(AnomalyKind::NewService, 0));
        assert!(!user.judges(AnomalyKind::AccountNewRegion, 10 * HOUR));
        assert!(!user.judges(AnomalyKind::RateSpike, 10 * HOUR - 1));
        assert!(user.judges(AnomalyKind::ErrorSpike, 10 * HOUR));
        assert!(user.judges(AnomalyKind::RateSpike, 12 * HOUR + WEEK + HOUR - 1));
        assert!(!user.judges(AnomalyKind::RateSpike, 12 * HOUR + WEEK + HOUR));
        assert!(Scope::Account("1".into()).judges(AnomalyKind::AccountNewRegion, 0));
    }
}
