//! The read path: an [`EventQuery`] becomes a [`Plan`] — one event index, the
//! partitions to read in order, the `at` range and a filter — answered with
//! `Query` alone (never `Scan`).
//!
//! The index is the narrowest the query names: a user (`by_user`), else an exact
//! eventName (`by_name`), else a service (`by_service`), else the day buckets of
//! `by_day` that the time range covers. Every other condition is a filter on
//! projected attributes: typed attributes, `begins_with` for an eventName prefix,
//! and indexed parameters (`params.<name>`). A parameter that is neither is
//! checked on the stored record of the candidates (`BatchGetItem`), after
//! dropping the spellings of it that the catalog has never seen — exact either way.
//! Counts with no name or parameter condition sum hourly counters (`H#…`
//! items) for the window's whole hours and count the index only at its
//! partial-hour edges; other counts use `Select=COUNT` on the index when no
//! record check is needed.

use std::collections::{HashMap, HashSet};
use std::ops::RangeInclusive;

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ReturnConsumedCapacity, Select};
use chrono::{DateTime, NaiveDate, Utc};
use ctt_core::attributes::{AttributeType, parse_bool, typed_attribute};
use ctt_core::params::{candidate_names, has_value};
use ctt_core::query::Cursor;
use ctt_core::time::{format_event_time, from_seconds, parse_event_time, to_seconds};
use ctt_core::{EventQuery, EventSummary, GroupBy, Scope};
use ctt_store::hourly::{self, HourlyKind};
use ctt_store::{
    CatalogEntry, EventDetail, EventPage, FileOutcome, GroupCount, LedgerEntry, LedgerFilter,
    StoreStatus,
};
use futures_util::{StreamExt, TryStreamExt, future, stream};

use super::expr::Expr;
use super::items::{self, Item, get_n, get_s, s};
use super::keys::{self, Catalog, EventIndex};
use super::retry::{self, MAX_ATTEMPTS};
use super::{DynamoError, Inner, item_key};

/// Partitions read at once.
const PARTITION_CONCURRENCY: usize = 8;
/// Partitions read ahead while filling a page (they may be wasted).
const PAGE_READ_AHEAD: usize = 4;
/// `BatchGetItem` takes at most 100 keys.
const BATCH_GET_MAX: usize = 100;
/// Day buckets beyond which the range is first clamped to the stored events' span.
const CLAMP_AFTER_DAYS: usize = 7;
/// Up to this many files, `loaded_already` reads their own ledger entries
/// (`BatchGetItem`, a read unit each); beyond, the whole ledger in one `Query`
/// (about 20 entries a read unit) costs less.
const LEDGER_LOOKUPS_MAX: usize = 1_000;

/// The typed attribute a parameter name stands for, if any.
pub fn attribute_of(param: &str) -> Option<&'static str> {
    typed_attribute(param).map(|a| a.column)
}

/// One partition of an event index, and (for `by_day`) its day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub key: String,
    pub day: Option<NaiveDate>,
}

/// How a query is answered.
#[derive(Debug, Clone)]
pub struct Plan {
    pub index: EventIndex,
    /// Read in this order; events of one come before those of the next.
    pub partitions: Vec<Partition>,
    /// The `at` range, inclusive.
    pub lo: String,
    pub hi: String,
    pub filter: Expr,
    /// Each group must have one `(parameter, value)` the stored record matches.
    pub record_checks: Vec<Vec<(String, String)>>,
}

/// The parameter names whose presence in the catalog the plan depends on.
pub fn names_to_look_up(query: &EventQuery) -> Vec<String> {
    query
        .params
        .iter()
        .filter(|p| attribute_of(&p.name).is_none())
        .flat_map(|p| candidate_names(&p.name))
        .collect()
}

/// Plans `query`, or `None` when nothing can match. `seen` holds the parameter
/// names of [`names_to_look_up`] that the catalog has.
pub fn plan(query: &EventQuery, indexed: &[String], seen: &HashSet<String>) -> Option<Plan> {
    if query.from > query.to {
        return None;
    }
    let mut equal: Vec<(&'static str, AttributeValue)> = Vec::new();
    match &query.scope {
        Scope::All => {}
        Scope::User(user) => equal.push(("user", s(user))),
        Scope::Service(service) => equal.push(("service", s(service))),
    }
    if let Some(user) = &query.only_user {
        equal.push(("user", s(user)));
    }
    let mut prefix = None;
    match &query.event_name {
        Some(name) if name.prefix => prefix = Some(name.name.clone()),
        Some(name) => equal.push(("event_name", s(&name.name))),
        None => {}
    }
    let mut indexed_params: Vec<(Vec<String>, String)> = Vec::new();
    let mut record_checks = Vec::new();
    for param in &query.params {
        if let Some(typed) = typed_attribute(&param.name) {
            let value = match typed.kind {
                AttributeType::Bool => AttributeValue::Bool(parse_bool(&param.value)?),
                AttributeType::Text => s(&param.value),
            };
            equal.push((typed.column, value));
            continue;
        }
        let names: Vec<String> = candidate_names(&param.name)
            .into_iter()
            .filter(|name| seen.contains(name))
            .collect();
        if names.is_empty() {
            return None; // no stored event has this parameter
        }
        if names.iter().all(|name| indexed.contains(name)) {
            indexed_params.push((names, param.value.clone()));
        } else {
            record_checks.push(
                names
                    .into_iter()
                    .map(|name| (name, param.value.clone()))
                    .collect(),
            );
        }
    }
    let mut distinct: Vec<(&'static str, AttributeValue)> = Vec::new();
    for (attribute, value) in equal {
        match distinct.iter().find(|(a, _)| *a == attribute) {
            Some((_, known)) if *known != value => return None, // contradiction
            Some(_) => {}
            None => distinct.push((attribute, value)),
        }
    }
    let key_value = |attribute: &str| {
        distinct
            .iter()
            .find(|(a, _)| *a == attribute)
            .and_then(|(_, v)| v.as_s().ok().cloned())
    };
    let (index, key_attribute, key) = if let Some(user) = key_value("user") {
        (EventIndex::ByUser, "user", Some(user))
    } else if let Some(name) = key_value("event_name") {
        (EventIndex::ByName, "event_name", Some(name))
    } else if let Some(service) = key_value("service") {
        (EventIndex::ByService, "service", Some(service))
    } else {
        (EventIndex::ByDay, "", None)
    };
    let partitions = match key {
        Some(value) => vec![Partition {
            key: index.partition(&value),
            day: None,
        }],
        None => day_partitions(&keys::days(query.from, query.to)),
    };
    let mut filter = Expr::default();
    for (attribute, value) in distinct {
        if attribute == key_attribute {
            continue;
        }
        let (name, value) = (filter.name(attribute), filter.value(value));
        filter.and(format!("{name} = {value}"));
    }
    if let Some(prefix) = prefix {
        let (name, value) = (filter.name("event_name"), filter.value(s(prefix)));
        filter.and(format!("begins_with({name}, {value})"));
    }
    for (names, value) in indexed_params {
        let params = filter.name("params");
        let value = filter.value(s(value));
        let alternatives: Vec<String> = names
            .iter()
            .map(|n| format!("{params}.{} = {value}", filter.name(n)))
            .collect();
        filter.and(alternatives.join(" OR "));
    }
    Some(Plan {
        index,
        partitions,
        lo: keys::at_lowest(query.from),
        hi: keys::at_highest(query.to),
        filter,
        record_checks,
    })
}

fn day_partitions(days: &[NaiveDate]) -> Vec<Partition> {
    days.iter()
        .map(|day| Partition {
            key: EventIndex::ByDay.partition(&day.format("%Y-%m-%d").to_string()),
            day: Some(*day),
        })
        .collect()
}

impl Plan {
    /// Keeps only the day buckets within `first..=last` (the stored events' span).
    pub fn clamp_days(&mut self, first: NaiveDate, last: NaiveDate) {
        self.partitions
            .retain(|p| p.day.is_none_or(|d| first <= d && d <= last));
    }

    /// Where reading `partition` starts for a page after `cursor`: `None` when
    /// the partition lies wholly before the cursor.
    pub fn start(&self, partition: &Partition, cursor: Option<&Cursor>) -> Option<Option<Item>> {
        let Some(cursor) = cursor else {
            return Some(None);
        };
        let after = keys::at_of_cursor(cursor.event_time, &cursor.event_id);
        if after < self.lo {
            return Some(None);
        }
        if after >= self.hi {
            return None;
        }
        if let Some(day) = partition.day {
            let cursor_day = from_seconds(cursor.event_time).date_naive();
            if day < cursor_day {
                return None;
            }
            if day > cursor_day {
                return Some(None);
            }
        }
        let mut start = item_key(keys::event_pk(&cursor.event_id), keys::EVENT_SK);
        start.insert(self.index.name().to_owned(), s(&partition.key));
        start.insert(keys::AT.to_owned(), s(after));
        Some(Some(start))
    }

    /// A `Query` of one partition with this plan's range and filter.
    fn request(
        &self,
        inner: &Inner,
        partition: &Partition,
        projection: Option<&[&str]>,
    ) -> QueryFluentBuilder {
        let mut e = self.filter.clone();
        let key = format!(
            "{} = {} AND {} BETWEEN {} AND {}",
            e.name(self.index.name()),
            e.value(s(&partition.key)),
            e.name(keys::AT),
            e.value(s(&self.lo)),
            e.value(s(&self.hi)),
        );
        let projection = projection.map(|attributes| {
            attributes
                .iter()
                .map(|a| e.name(a))
                .collect::<Vec<_>>()
                .join(", ")
        });
        inner
            .client
            .query()
            .table_name(&inner.table)
            .index_name(self.index.name())
            .key_condition_expression(key)
            .set_filter_expression(self.filter.condition())
            .set_projection_expression(projection)
            .set_expression_attribute_names(e.names_or_none())
            .set_expression_attribute_values(e.values_or_none())
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
    }
}

/// Plans `query` against the catalog: which parameter names exist, and (for long
/// ranges over day buckets) the span of stored events.
async fn make_plan(inner: &Inner, query: &EventQuery) -> Result<Option<Plan>, DynamoError> {
    let wanted = names_to_look_up(query);
    let seen = if wanted.is_empty() {
        HashSet::new()
    } else {
        known_parameters(inner, wanted).await?
    };
    let Some(mut plan) = plan(query, &inner.indexed, &seen) else {
        return Ok(None);
    };
    if plan.index == EventIndex::ByDay && plan.partitions.len() > CLAMP_AFTER_DAYS {
        match span(inner).await? {
            Some((first, last)) => plan.clamp_days(first.date_naive(), last.date_naive()),
            None => return Ok(None),
        }
    }
    Ok(Some(plan))
}

/// Which of `names` are in the catalog of parameter names.
async fn known_parameters(
    inner: &Inner,
    names: Vec<String>,
) -> Result<HashSet<String>, DynamoError> {
    let unique: HashSet<String> = names.into_iter().collect();
    let keys: Vec<Item> = unique
        .iter()
        .map(|name| item_key(Catalog::Parameters.pk(), name))
        .collect();
    let found = batch_get(inner, keys, &[keys::SK], true).await?;
    Ok(found
        .iter()
        .filter_map(|item| get_s(item, keys::SK).map(str::to_owned))
        .collect())
}

/// The first and last event time stored, from the catalog of services.
async fn span(inner: &Inner) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>, DynamoError> {
    let services = catalog(inner, Catalog::Services).await?;
    let first = services.iter().map(|s| s.first_seen).min();
    let last = services.iter().map(|s| s.last_seen).max();
    Ok(first.zip(last))
}

/// Up to `want` matching items of one partition, in order, from `start`.
async fn fetch(
    inner: &Inner,
    plan: &Plan,
    partition: &Partition,
    start: Option<Item>,
    want: Option<usize>,
    projection: Option<&[&str]>,
) -> Result<Vec<Item>, DynamoError> {
    let mut found = Vec::new();
    let mut start = start;
    loop {
        let left = want.map(|w| w.saturating_sub(found.len()));
        let limit = left.map(|left| {
            if plan.filter.is_empty() && plan.record_checks.is_empty() {
                left.clamp(1, 10_000)
            } else {
                left.saturating_mul(2).clamp(100, 2_000)
            }
        });
        let out = plan
            .request(inner, partition, projection)
            .set_limit(limit.map(|l| l as i32))
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| inner.error("Query", e))?;
        inner.usage.read(
            out.scanned_count(),
            out.count(),
            out.consumed_capacity().and_then(|c| c.capacity_units()),
        );
        let next = out.last_evaluated_key().cloned();
        let mut page = out.items.unwrap_or_default();
        if !plan.record_checks.is_empty() {
            page = check_records(inner, &plan.record_checks, page).await?;
        }
        found.extend(page);
        if let Some(want) = want
            && found.len() >= want
        {
            found.truncate(want);
            return Ok(found);
        }
        match next {
            Some(key) => start = Some(key),
            None => return Ok(found),
        }
    }
}

/// The exact number of matching items of one partition (`Select=COUNT`).
async fn count_partition(
    inner: &Inner,
    plan: &Plan,
    partition: &Partition,
) -> Result<u64, DynamoError> {
    let mut total = 0;
    let mut start = None;
    loop {
        let out = plan
            .request(inner, partition, None)
            .select(Select::Count)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| inner.error("Query", e))?;
        inner.usage.read(
            out.scanned_count(),
            out.count(),
            out.consumed_capacity().and_then(|c| c.capacity_units()),
        );
        total += out.count().max(0) as u64;
        match out.last_evaluated_key() {
            Some(key) => start = Some(key.clone()),
            None => return Ok(total),
        }
    }
}

/// Keeps the items whose stored record passes every check, in order.
async fn check_records(
    inner: &Inner,
    checks: &[Vec<(String, String)>],
    candidates: Vec<Item>,
) -> Result<Vec<Item>, DynamoError> {
    if candidates.is_empty() {
        return Ok(candidates);
    }
    let keys: Vec<Item> = candidates
        .iter()
        .filter_map(|c| {
            let pk = get_s(c, keys::PK)?;
            Some(item_key(pk, keys::EVENT_SK))
        })
        .collect();
    let records: HashMap<String, serde_json::Value> =
        batch_get(inner, keys, &[keys::PK, "record", "record_gz"], false)
            .await?
            .iter()
            .filter_map(|item| Some((get_s(item, keys::PK)?.to_owned(), items::record(item)?)))
            .collect();
    Ok(candidates
        .into_iter()
        .filter(|c| {
            get_s(c, keys::PK)
                .and_then(|pk| records.get(pk))
                .is_some_and(|record| {
                    checks.iter().all(|group| {
                        group
                            .iter()
                            .any(|(name, value)| has_value(record, name, value))
                    })
                })
        })
        .collect())
}

/// `BatchGetItem` of `keys` (any number), retrying `UnprocessedKeys`.
async fn batch_get(
    inner: &Inner,
    keys: Vec<Item>,
    projection: &[&str],
    consistent: bool,
) -> Result<Vec<Item>, DynamoError> {
    let mut e = Expr::default();
    let projection = projection
        .iter()
        .map(|a| e.name(a))
        .collect::<Vec<_>>()
        .join(", ");
    let mut found = Vec::new();
    for chunk in keys.chunks(BATCH_GET_MAX) {
        let mut pending = chunk.to_vec();
        let mut attempt = 0;
        while !pending.is_empty() {
            if attempt >= MAX_ATTEMPTS {
                return Err(DynamoError::Unfinished {
                    table: inner.table.clone(),
                    operation: "BatchGetItem",
                    attempts: MAX_ATTEMPTS,
                });
            }
            if attempt > 0 {
                retry::back_off(attempt).await;
            }
            attempt += 1;
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .projection_expression(&projection)
                .set_expression_attribute_names(e.names_or_none())
                .consistent_read(consistent)
                .build()
                .map_err(|e| inner.error("BatchGetItem", e))?;
            let out = inner
                .client
                .batch_get_item()
                .request_items(&inner.table, request)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(|e| inner.error("BatchGetItem", e))?;
            let units = out
                .consumed_capacity()
                .iter()
                .filter_map(|c| c.capacity_units())
                .sum();
            let mut out = out;
            let responses = out
                .responses
                .take()
                .and_then(|mut r| r.remove(&inner.table))
                .unwrap_or_default();
            inner
                .usage
                .read(responses.len() as i32, responses.len() as i32, Some(units));
            found.extend(responses);
            pending = out
                .unprocessed_keys()
                .and_then(|u| u.get(&inner.table))
                .map(|k| k.keys().to_vec())
                .unwrap_or_default();
        }
    }
    Ok(found)
}

/// The candidate partitions of `plan` for a page after `cursor`.
fn partitions_from<'p>(
    plan: &'p Plan,
    cursor: Option<&Cursor>,
) -> Vec<(&'p Partition, Option<Item>)> {
    plan.partitions
        .iter()
        .filter_map(|p| plan.start(p, cursor).map(|start| (p, start)))
        .collect()
}

pub async fn events(
    inner: &Inner,
    query: &EventQuery,
    limit: u32,
    cursor: Option<&Cursor>,
) -> Result<EventPage, DynamoError> {
    let empty = EventPage {
        events: Vec::new(),
        next: None,
    };
    let Some(plan) = make_plan(inner, query).await? else {
        return Ok(empty);
    };
    // One more than a page tells whether another page follows.
    let want = limit as usize + 1;
    let mut found: Vec<Item> = Vec::new();
    {
        let fetches: Vec<_> = partitions_from(&plan, cursor)
            .into_iter()
            .map(|(partition, start)| fetch(inner, &plan, partition, start, Some(want), None))
            .collect();
        let mut pages = stream::iter(fetches).buffered(PAGE_READ_AHEAD);
        while let Some(items) = pages.next().await {
            found.extend(items?);
            if found.len() >= want {
                break;
            }
        }
    }
    let mut events: Vec<EventSummary> = found.iter().filter_map(items::summary).collect();
    let next = if events.len() > limit as usize {
        events.truncate(limit as usize);
        events.last().map(|last| Cursor {
            event_time: parse_event_time(&last.event_time)
                .map(to_seconds)
                .unwrap_or_default(),
            event_id: last.event_id.clone(),
        })
    } else {
        None
    };
    Ok(EventPage { events, next })
}

/// The exact count. Without name or parameter conditions (and on a table with
/// hourly counters), whole hours are summed from the counters and only the
/// partial hours at either end are counted from the index.
pub async fn count(inner: &Inner, query: &EventQuery) -> Result<u64, DynamoError> {
    let (from, to) = (to_seconds(query.from), to_seconds(query.to));
    let (true, Some((kind, key)), Some(split)) = (
        inner.hourly_counts,
        hourly::series(query),
        hourly::split(from, to),
    ) else {
        return count_from_index(inner, query).await;
    };
    let edges = split.edges.iter().map(|edge| {
        let mut part = query.clone();
        part.from = from_seconds(*edge.start());
        part.to = from_seconds(*edge.end());
        async move { count_from_index(inner, &part).await }
    });
    let (hours, edges) = future::try_join(
        sum_hours(inner, kind, key, &split.whole),
        future::try_join_all(edges),
    )
    .await?;
    Ok(hours + edges.iter().sum::<u64>())
}

/// The events of one series of hourly counters in the hours `hours` (their
/// starts, inclusive): one `Query` of its partition, strongly consistent,
/// reading one small item per hour that has events.
async fn sum_hours(
    inner: &Inner,
    kind: HourlyKind,
    key: &str,
    hours: &RangeInclusive<i64>,
) -> Result<u64, DynamoError> {
    let mut e = Expr::default();
    let condition = format!(
        "{} = {} AND {} BETWEEN {} AND {}",
        e.name(keys::PK),
        e.value(s(keys::hourly_pk(kind, key))),
        e.name(keys::SK),
        e.value(s(keys::hour_sk(*hours.start()))),
        e.value(s(keys::hour_sk(*hours.end()))),
    );
    let projection = e.name(keys::EVENTS);
    let mut total = 0;
    let mut start = None;
    loop {
        let out = inner
            .client
            .query()
            .table_name(&inner.table)
            .key_condition_expression(&condition)
            .projection_expression(&projection)
            .set_expression_attribute_names(e.names_or_none())
            .set_expression_attribute_values(e.values_or_none())
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| inner.error("Query", e))?;
        inner.usage.read_counters(
            out.scanned_count(),
            out.consumed_capacity().and_then(|c| c.capacity_units()),
        );
        total += out
            .items()
            .iter()
            .map(|item| get_n::<i64>(item, keys::EVENTS).unwrap_or(0).max(0) as u64)
            .sum::<u64>();
        match out.last_evaluated_key() {
            Some(key) => start = Some(key.clone()),
            None => return Ok(total),
        }
    }
}

/// The exact count from the event indexes alone: every matching entry is
/// read (`Select=COUNT`), or, with a record check, every candidate's record.
pub async fn count_from_index(inner: &Inner, query: &EventQuery) -> Result<u64, DynamoError> {
    let Some(plan) = make_plan(inner, query).await? else {
        return Ok(0);
    };
    let plan = &plan;
    let counts: Vec<_> = plan
        .partitions
        .iter()
        .map(|partition| async move {
            if plan.record_checks.is_empty() {
                count_partition(inner, plan, partition).await
            } else {
                let keys_only = [keys::PK, keys::SK];
                fetch(inner, plan, partition, None, None, Some(&keys_only))
                    .await
                    .map(|items| items.len() as u64)
            }
        })
        .collect();
    stream::iter(counts)
        .buffer_unordered(PARTITION_CONCURRENCY)
        .try_fold(0, |total, n| async move { Ok(total + n) })
        .await
}

/// The key of an item in a `/stats` grouping.
fn group_key(item: &Item, group_by: GroupBy) -> String {
    let text = |name: &str| get_s(item, name).unwrap_or_default().to_owned();
    let truncated = |seconds_per_bucket: i64| {
        get_s(item, "event_time")
            .and_then(parse_event_time)
            .map(|t| {
                let seconds = to_seconds(t);
                format_event_time(from_seconds(
                    seconds - seconds.rem_euclid(seconds_per_bucket),
                ))
            })
            .unwrap_or_default()
    };
    match group_by {
        GroupBy::User => text("user"),
        GroupBy::Service => text("service"),
        GroupBy::EventName => text("event_name"),
        GroupBy::AwsRegion => text("aws_region"),
        GroupBy::ErrorCode => text("error_code"),
        GroupBy::Hour => truncated(3600),
        GroupBy::Day => truncated(86_400),
    }
}

/// `/stats`: by hour or day of a series (everyone's, a user's, a
/// service's events), its hourly counters over the window's whole hours and
/// the index only at its partial edges, as counts; the rest from the index.
pub async fn stats(
    inner: &Inner,
    query: &EventQuery,
    group_by: GroupBy,
    limit: u32,
) -> Result<Vec<GroupCount>, DynamoError> {
    let (from, to) = (to_seconds(query.from), to_seconds(query.to));
    let (true, true, Some((kind, key)), Some(split)) = (
        matches!(group_by, GroupBy::Hour | GroupBy::Day),
        inner.hourly_counts,
        hourly::series(query),
        hourly::split(from, to),
    ) else {
        return stats_from_index(inner, query, group_by, limit).await;
    };
    let counters = query_range(
        inner,
        None,
        (keys::PK, &keys::hourly_pk(kind, key)),
        (
            keys::SK,
            &keys::hour_sk(*split.whole.start()),
            &keys::hour_sk(*split.whole.end()),
        ),
        Some(&[keys::SK, keys::EVENTS]),
    )
    .await?;
    let mut groups = hourly::Groups::default();
    for item in &counters {
        if let (Some(hour), Some(events)) = (
            get_s(item, keys::SK).and_then(keys::parse_hour_sk),
            get_n::<i64>(item, keys::EVENTS),
        ) {
            groups.add_hour(group_by, hour, events.max(0) as u64);
        }
    }
    for edge in split.edges {
        let mut part = query.clone();
        part.from = from_seconds(*edge.start());
        part.to = from_seconds(*edge.end());
        for g in stats_from_index(inner, &part, group_by, u32::MAX).await? {
            groups.add(g.key, g.count);
        }
    }
    Ok(groups.into_counts(group_by, limit))
}

/// `/stats` from the event indexes alone.
pub async fn stats_from_index(
    inner: &Inner,
    query: &EventQuery,
    group_by: GroupBy,
    limit: u32,
) -> Result<Vec<GroupCount>, DynamoError> {
    let Some(plan) = make_plan(inner, query).await? else {
        return Ok(Vec::new());
    };
    let plan = &plan;
    let projection = [
        keys::PK,
        keys::SK,
        "event_time",
        "user",
        "service",
        "event_name",
        "aws_region",
        "error_code",
    ];
    let projection = &projection;
    let reads: Vec<_> = plan
        .partitions
        .iter()
        .map(|partition| async move {
            let items = fetch(inner, plan, partition, None, None, Some(projection)).await?;
            Ok::<_, DynamoError>(items.iter().map(|item| group_key(item, group_by)).collect())
        })
        .collect();
    let groups = stream::iter(reads)
        .buffer_unordered(PARTITION_CONCURRENCY)
        .try_fold(
            hourly::Groups::default(),
            |mut all, keys: Vec<String>| async move {
                for key in keys {
                    all.add(key, 1);
                }
                Ok(all)
            },
        )
        .await?;
    Ok(groups.into_counts(group_by, limit))
}

pub async fn event(inner: &Inner, event_id: &str) -> Result<Option<EventDetail>, DynamoError> {
    let out = inner
        .client
        .get_item()
        .table_name(&inner.table)
        .set_key(Some(item_key(keys::event_pk(event_id), keys::EVENT_SK)))
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .map_err(|e| inner.error("GetItem", e))?;
    Ok(out.item().and_then(items::detail))
}

/// Every item of one partition of the table (`index: None`) or of an index,
/// paginated.
pub(crate) async fn query_partition(
    inner: &Inner,
    index: Option<&str>,
    key_attribute: &str,
    key: &str,
    projection: Option<&[&str]>,
) -> Result<Vec<Item>, DynamoError> {
    query_items(inner, index, key_attribute, key, None, projection).await
}

/// Every item of the table's partition `pk` whose sort key begins with
/// `prefix`, paginated.
pub(crate) async fn query_prefix(
    inner: &Inner,
    pk: &str,
    prefix: &str,
) -> Result<Vec<Item>, DynamoError> {
    query_items(
        inner,
        None,
        keys::PK,
        pk,
        Some(SortKey::Prefix(prefix)),
        None,
    )
    .await
}

/// Every item of one partition (`key_attribute` = `key`) of the table or of
/// an index whose sort key (`sort.0`) lies between `sort.1` and `sort.2`
/// (inclusive), paginated.
pub(crate) async fn query_range(
    inner: &Inner,
    index: Option<&str>,
    (key_attribute, key): (&str, &str),
    (attribute, low, high): (&str, &str, &str),
    projection: Option<&[&str]>,
) -> Result<Vec<Item>, DynamoError> {
    let sort = SortKey::Between {
        attribute,
        low,
        high,
    };
    query_items(inner, index, key_attribute, key, Some(sort), projection).await
}

/// A `Query`'s condition on the sort key.
enum SortKey<'a> {
    /// `sk` begins with it.
    Prefix(&'a str),
    Between {
        attribute: &'a str,
        low: &'a str,
        high: &'a str,
    },
}

async fn query_items(
    inner: &Inner,
    index: Option<&str>,
    key_attribute: &str,
    key: &str,
    sort: Option<SortKey<'_>>,
    projection: Option<&[&str]>,
) -> Result<Vec<Item>, DynamoError> {
    let mut e = Expr::default();
    let mut condition = format!("{} = {}", e.name(key_attribute), e.value(s(key)));
    match sort {
        Some(SortKey::Prefix(prefix)) => {
            let sk = e.name(keys::SK);
            let value = e.value(s(prefix));
            condition.push_str(&format!(" AND begins_with({sk}, {value})"));
        }
        Some(SortKey::Between {
            attribute,
            low,
            high,
        }) => {
            let name = e.name(attribute);
            let (low, high) = (e.value(s(low)), e.value(s(high)));
            condition.push_str(&format!(" AND {name} BETWEEN {low} AND {high}"));
        }
        None => {}
    }
    let projection = projection.map(|p| p.iter().map(|a| e.name(a)).collect::<Vec<_>>().join(", "));
    let mut found = Vec::new();
    let mut start = None;
    loop {
        let out = inner
            .client
            .query()
            .table_name(&inner.table)
            .set_index_name(index.map(str::to_owned))
            .key_condition_expression(&condition)
            .set_projection_expression(projection.clone())
            .set_expression_attribute_names(e.names_or_none())
            .set_expression_attribute_values(e.values_or_none())
            .consistent_read(index.is_none())
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| inner.error("Query", e))?;
        let next = out.last_evaluated_key().cloned();
        found.extend(out.items.unwrap_or_default());
        match next {
            Some(key) => start = Some(key),
            None => return Ok(found),
        }
    }
}

pub async fn catalog(inner: &Inner, list: Catalog) -> Result<Vec<CatalogEntry>, DynamoError> {
    let items = query_partition(inner, None, keys::PK, list.pk(), None).await?;
    Ok(items.iter().filter_map(items::catalog_entry).collect())
}

pub async fn parameters(inner: &Inner) -> Result<Vec<String>, DynamoError> {
    let items = query_partition(
        inner,
        None,
        keys::PK,
        Catalog::Parameters.pk(),
        Some(&[keys::SK]),
    )
    .await?;
    let names: Vec<String> = items
        .iter()
        .filter_map(|item| get_s(item, keys::SK).map(str::to_owned))
        .collect();
    if let Ok(mut known) = inner.known_parameters.lock() {
        known.extend(names.iter().cloned());
    }
    Ok(names)
}

async fn ledger_items(inner: &Inner, loaded: bool) -> Result<Vec<Item>, DynamoError> {
    query_partition(
        inner,
        Some(keys::LEDGER_INDEX),
        keys::LEDGER_PK,
        keys::ledger_partition(loaded),
        None,
    )
    .await
}

pub async fn ledger(inner: &Inner, filter: LedgerFilter) -> Result<Vec<LedgerEntry>, DynamoError> {
    let mut items = ledger_items(inner, false).await?;
    if filter == LedgerFilter::All {
        items.extend(ledger_items(inner, true).await?);
    }
    items.sort_by_key(|item| get_n::<u64>(item, keys::LEDGER_SEQ).unwrap_or(0));
    Ok(items.iter().filter_map(items::ledger_entry).collect())
}

pub async fn ledger_entry(inner: &Inner, key: &str) -> Result<Option<LedgerEntry>, DynamoError> {
    Ok(ledger_item(inner, key)
        .await?
        .as_ref()
        .and_then(items::ledger_entry))
}

/// For each `(key, version)`, whether the ledger holds it as loaded with that
/// version. A few files (a poll of a followed bucket) are looked up one by
/// one; many (a re-run of `ctt ingest`) through the whole ledger.
pub async fn loaded_already(
    inner: &Inner,
    files: Vec<(String, String)>,
) -> Result<Vec<bool>, DynamoError> {
    let entries = if files.len() > LEDGER_LOOKUPS_MAX {
        ledger(inner, LedgerFilter::All).await?
    } else {
        own_ledger_entries(inner, &files, &["key", "version", "outcome"]).await?
    };
    let loaded: HashMap<String, String> = entries
        .into_iter()
        .filter(|e| e.outcome == FileOutcome::Loaded)
        .map(|e| (e.key, e.version))
        .collect();
    Ok(files
        .iter()
        .map(|(key, version)| loaded.get(key) == Some(version))
        .collect())
}

/// For each `(key, version)`, in order, the SHA-256 (hex) of the file's
/// content the ledger keeps for that version (a load by `ctt ingest --verify`
/// keeps it), if any. Asked a week of logs at a time (`ctt ingest
/// --verify`): always their own entries, never the whole ledger for each week.
pub async fn file_hashes(
    inner: &Inner,
    files: Vec<(String, String)>,
) -> Result<Vec<Option<String>>, DynamoError> {
    let entries = own_ledger_entries(inner, &files, &["key", "version", "sha256"]).await?;
    let hashes: HashMap<String, (String, Option<String>)> = entries
        .into_iter()
        .map(|e| (e.key, (e.version, e.sha256)))
        .collect();
    Ok(files
        .iter()
        .map(|(key, version)| {
            hashes
                .get(key)
                .filter(|(kept, _)| kept == version)
                .and_then(|(_, hash)| hash.clone())
        })
        .collect())
}

/// The ledger entries of the keys of `files` (`BatchGetItem`, strongly
/// consistent), with the attributes of `projection`.
async fn own_ledger_entries(
    inner: &Inner,
    files: &[(String, String)],
    projection: &[&str],
) -> Result<Vec<LedgerEntry>, DynamoError> {
    let keys: HashSet<&str> = files.iter().map(|(key, _)| key.as_str()).collect();
    let keys = keys
        .into_iter()
        .map(|key| item_key(keys::ledger_pk(key), keys::LEDGER_SK))
        .collect();
    Ok(batch_get(inner, keys, projection, true)
        .await?
        .iter()
        .filter_map(items::ledger_entry)
        .collect())
}

/// The ledger item of a file (strongly consistent).
pub async fn ledger_item(inner: &Inner, key: &str) -> Result<Option<Item>, DynamoError> {
    let out = inner
        .client
        .get_item()
        .table_name(&inner.table)
        .set_key(Some(item_key(keys::ledger_pk(key), keys::LEDGER_SK)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| inner.error("GetItem", e))?;
    Ok(out.item)
}

/// The latest ledger entry with one outcome.
async fn latest_ledger_item(inner: &Inner, loaded: bool) -> Result<Option<Item>, DynamoError> {
    let mut e = Expr::default();
    let condition = format!(
        "{} = {}",
        e.name(keys::LEDGER_PK),
        e.value(s(keys::ledger_partition(loaded)))
    );
    let out = inner
        .client
        .query()
        .table_name(&inner.table)
        .index_name(keys::LEDGER_INDEX)
        .key_condition_expression(condition)
        .set_expression_attribute_names(e.names_or_none())
        .set_expression_attribute_values(e.values_or_none())
        .scan_index_forward(false)
        .limit(1)
        .send()
        .await
        .map_err(|e| inner.error("Query", e))?;
    Ok(out.items.and_then(|mut items| items.pop()))
}

/// Files loaded and failed, summed over the counter shards.
async fn file_counters(inner: &Inner) -> Result<(u64, u64), DynamoError> {
    let mut e = Expr::default();
    let condition = format!(
        "{} = {} AND begins_with({}, {})",
        e.name(keys::PK),
        e.value(s(keys::META_PK)),
        e.name(keys::SK),
        e.value(s(keys::FILES_COUNTER_PREFIX)),
    );
    let out = inner
        .client
        .query()
        .table_name(&inner.table)
        .key_condition_expression(condition)
        .set_expression_attribute_names(e.names_or_none())
        .set_expression_attribute_values(e.values_or_none())
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| inner.error("Query", e))?;
    let sum = |name: &str| {
        out.items()
            .iter()
            .map(|item| get_n::<i64>(item, name).unwrap_or(0).max(0) as u64)
            .sum()
    };
    Ok((
        sum(FileOutcome::Loaded.as_str()),
        sum(FileOutcome::Failed.as_str()),
    ))
}

pub async fn status(inner: &Inner) -> Result<StoreStatus, DynamoError> {
    let services = catalog(inner, Catalog::Services).await?;
    let (files_loaded, files_failed) = file_counters(inner).await?;
    let last_loaded = latest_ledger_item(inner, true).await?;
    let last_failed = latest_ledger_item(inner, false).await?;
    let seq = |item: &Option<Item>| {
        item.as_ref()
            .and_then(|i| get_n::<u64>(i, keys::LEDGER_SEQ))
            .unwrap_or(0)
    };
    let last = if seq(&last_failed) > seq(&last_loaded) {
        last_failed
    } else {
        last_loaded
    };
    let last = last.as_ref().and_then(items::ledger_entry);
    Ok(StoreStatus {
        events: services.iter().map(|s| s.events).sum(),
        files_loaded,
        files_failed,
        last_file_at: last.as_ref().map(|e| e.loaded_at),
        last_file: last.map(|e| e.key),
        last_event_time: services
            .iter()
            .filter(|s| s.events > 0)
            .map(|s| s.last_seen)
            .max(),
        database_bytes: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctt_core::{NameMatch, ParamFilter};

    fn at(raw: &str) -> DateTime<Utc> {
        parse_event_time(raw).unwrap_or_default()
    }

    fn query() -> EventQuery {
        EventQuery::between(at("2018-03-01T00:00:00Z"), at("2018-03-03T23:59:59Z"))
    }

    fn indexed() -> Vec<String> {
        vec!["requestParameters_instanceType".to_owned()]
    }

    fn seen(names: &[&str]) -> HashSet<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    fn param(name: &str, value: &str) -> ParamFilter {
        ParamFilter {
            name: name.to_owned(),
            value: value.to_owned(),
        }
    }

    /// (index, partitions, filter, record checks) of a plan, or `None`.
    fn shape(
        q: &EventQuery,
        seen_names: &[&str],
    ) -> Option<(EventIndex, Vec<String>, String, usize)> {
        plan(q, &indexed(), &seen(seen_names)).map(|p| {
            let mut filter = p.filter.condition().unwrap_or_default();
            let mut names: Vec<_> = p.filter.names.iter().collect();
            names.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
            for (placeholder, name) in names {
                filter = filter.replace(placeholder.as_str(), name);
            }
            (
                p.index,
                p.partitions.into_iter().map(|p| p.key).collect(),
                filter,
                p.record_checks.len(),
            )
        })
    }

    #[test]
    fn plans_pick_the_narrowest_index() {
        let days = || {
            vec![
                "D#2018-03-01".to_owned(),
                "D#2018-03-02".into(),
                "D#2018-03-03".into(),
            ]
        };
        let mut by_user = query();
        by_user.scope = Scope::User("alu".into());
        let mut by_service = query();
        by_service.scope = Scope::Service("ec2".into());
        let mut service_and_name = by_service.clone();
        service_and_name.event_name = Some(NameMatch {
            name: "RunInstances".into(),
            prefix: false,
        });
        let mut prefix = query();
        prefix.event_name = Some(NameMatch {
            name: "Run".into(),
            prefix: true,
        });
        let mut self_role = by_service.clone();
        self_role.only_user = Some("alu".into());
        let mut user_param = query();
        user_param.params = vec![param("userIdentity_userName", "alu")];
        let cases = [
            (query(), (EventIndex::ByDay, days(), String::new(), 0)),
            (
                by_user,
                (EventIndex::ByUser, vec!["U#alu".into()], String::new(), 0),
            ),
            (
                by_service,
                (
                    EventIndex::ByService,
                    vec!["S#ec2".into()],
                    String::new(),
                    0,
                ),
            ),
            (
                service_and_name,
                (
                    EventIndex::ByName,
                    vec!["N#RunInstances".into()],
                    "(service = :v0)".into(),
                    0,
                ),
            ),
            (
                prefix,
                (
                    EventIndex::ByDay,
                    days(),
                    "(begins_with(event_name, :v0))".into(),
                    0,
                ),
            ),
            (
                self_role,
                (
                    EventIndex::ByUser,
                    vec!["U#alu".into()],
                    "(service = :v0)".into(),
                    0,
                ),
            ),
            (
                user_param,
                (EventIndex::ByUser, vec!["U#alu".into()], String::new(), 0),
            ),
        ];
        for (q, expected) in cases {
            assert_eq!(shape(&q, &[]), Some(expected), "{q:?}");
        }
    }

    #[test]
    fn parameters_become_filters_or_record_checks() {
        let with = |params: Vec<ParamFilter>| {
            let mut q = query();
            q.params = params;
            q
        };
        // Indexed, and the only spelling ever seen: a filter on the projection.
        assert_eq!(
            shape(
                &with(vec![param("instanceType", "t2.micro")]),
                &["requestParameters_instanceType"]
            )
            .map(|s| (s.2, s.3)),
            Some(("(params.requestParameters_instanceType = :v0)".into(), 0))
        );
        // Another spelling was seen too and is not indexed: checked on the record.
        assert_eq!(
            shape(
                &with(vec![param("instanceType", "t2.micro")]),
                &["requestParameters_instanceType", "instanceType"]
            )
            .map(|s| (s.2, s.3)),
            Some((String::new(), 1))
        );
        // Never seen: nothing matches, nothing is read.
        assert!(shape(&with(vec![param("noSuchParameter", "x")]), &[]).is_none());
        // Typed attributes, booleans, contradictions.
        assert_eq!(
            shape(
                &with(vec![
                    param("awsRegion", "eu-west-1"),
                    param("readOnly", "true")
                ]),
                &[]
            )
            .map(|s| s.2),
            Some("(aws_region = :v0) AND (read_only = :v1)".into())
        );
        assert!(shape(&with(vec![param("readOnly", "maybe")]), &[]).is_none());
        let mut contradiction = with(vec![param("user", "b")]);
        contradiction.scope = Scope::User("a".into());
        assert!(shape(&contradiction, &[]).is_none());
        let mut reversed = query();
        reversed.from = at("2018-03-04T00:00:00Z");
        assert!(shape(&reversed, &[]).is_none());
    }

    #[test]
    fn a_cursor_skips_the_days_before_it_and_resumes_inside_its_own() {
        let p = plan(&query(), &[], &HashSet::new()).unwrap_or_else(|| panic!("a plan"));
        let cursor = Cursor {
            event_time: to_seconds(at("2018-03-02T10:00:00Z")),
            event_id: "id-9".into(),
        };
        let starts: Vec<Option<Option<String>>> = p
            .partitions
            .iter()
            .map(|part| {
                p.start(part, Some(&cursor))
                    .map(|s| s.and_then(|k| get_s(&k, keys::AT).map(str::to_owned)))
            })
            .collect();
        assert_eq!(
            starts,
            [
                None,
                Some(Some("2018-03-02T10:00:00Z#id-9".into())),
                Some(None)
            ]
        );
        let before = Cursor {
            event_time: to_seconds(at("2018-02-01T00:00:00Z")),
            event_id: "x".into(),
        };
        assert_eq!(p.start(&p.partitions[0], Some(&before)), Some(None));
        let after = Cursor {
            event_time: to_seconds(at("2018-03-04T00:00:00Z")),
            event_id: "x".into(),
        };
        assert_eq!(p.start(&p.partitions[2], Some(&after)), None);
    }

    #[test]
    fn stats_buckets_truncate_to_the_hour_and_day() {
        let item: Item = HashMap::from([("event_time".to_owned(), s("2018-03-01T10:59:59Z"))]);
        assert_eq!(group_key(&item, GroupBy::Hour), "2018-03-01T10:00:00Z");
        assert_eq!(group_key(&item, GroupBy::Day), "2018-03-01T00:00:00Z");
        assert_eq!(group_key(&item, GroupBy::ErrorCode), "");
    }
}
