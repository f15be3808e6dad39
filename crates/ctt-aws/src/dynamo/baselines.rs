//! What anomalies are judged against (SPEC §13), kept by every loader:
//! each user's first event per region and per service and each account's per
//! region (`FS#…` items, a minimum kept by conditional updates, so concurrent
//! loaders and out-of-order files never lose one), beside the failed calls'
//! hourly counters (`H#E#user`, added in the file's commit with the others).
//! A user's baseline is read with `Query`s of those partitions only.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use ctt_core::time::{from_seconds, to_seconds};
use ctt_store::IndexedEvent;
use ctt_store::baseline::{FirstKind, FirstUse, UserBaseline, firsts_of};
use ctt_store::hourly::HourlyKind;
use futures_util::{StreamExt, TryStreamExt, stream};

use super::items::{self, get_n, get_s, n, s};
use super::keys::{self, Catalog};
use super::write::{Conditional, conditional_update};
use super::{DynamoError, Inner, item_key, read};

/// Conditional updates in flight.
const CONCURRENCY: usize = 16;
const TIME: &str = "t";
const EVENT_ID: &str = "event_id";

/// A first use's item: (kind, scope, region or service).
pub type FirstKey = (FirstKind, String, String);

/// The least (time, eventID) of `events` per first-seen key.
pub fn firsts(events: &[&IndexedEvent]) -> HashMap<FirstKey, (i64, String)> {
    let mut least: HashMap<FirstKey, (i64, String)> = HashMap::new();
    for indexed in events {
        let e = &indexed.event;
        let t = to_seconds(e.event_time);
        for (kind, scope, key) in firsts_of(e) {
            let slot = least
                .entry((kind, scope.to_owned(), key.to_owned()))
                .or_insert_with(|| (t, e.event_id.clone()));
            if (t, e.event_id.as_str()) < (slot.0, slot.1.as_str()) {
                *slot = (t, e.event_id.clone());
            }
        }
    }
    least
}

/// Lowers each `FS#` item to the file's first event where that is earlier:
/// `SET` only if absent, later, or as late with a greater eventID. Retried
/// on a conflicting transaction; a failed condition means already as early
/// (and returns what is stored). What this process knows already to be as
/// early is not sent.
pub async fn keep_firsts(
    inner: &Inner,
    mut firsts: HashMap<FirstKey, (i64, String)>,
) -> Result<(), DynamoError> {
    if let Ok(known) = inner.known_firsts.lock() {
        firsts.retain(|key, (t, id)| {
            known
                .get(key)
                .is_none_or(|(kt, kid)| (*t, id.as_str()) < (*kt, kid.as_str()))
        });
    }
    let updates = firsts.into_iter().map(|(key, (t, event_id))| async move {
        let (kind, scope, name) = &key;
        let request = || {
            inner
                .client
                .update_item()
                .table_name(&inner.table)
                .set_key(Some(item_key(keys::first_pk(*kind, scope), name.as_str())))
                .update_expression("SET #t = :t, #e = :e")
                .condition_expression(
                    "attribute_not_exists(#t) OR #t > :t OR (#t = :t AND #e > :e)",
                )
                .expression_attribute_names("#t", TIME)
                .expression_attribute_names("#e", EVENT_ID)
                .expression_attribute_values(":t", n(t))
                .expression_attribute_values(":e", s(&event_id))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
        };
        let kept = match conditional_update(inner, request).await? {
            Conditional::Applied => (t, event_id.clone()),
            // Already as early: what is stored.
            Conditional::Refused(old) => old
                .and_then(|old| {
                    Some((get_n::<i64>(&old, TIME)?, get_s(&old, EVENT_ID)?.to_owned()))
                })
                .unwrap_or((t, event_id.clone())),
        };
        Ok::<_, DynamoError>((key, kept))
    });
    let written: Vec<(FirstKey, (i64, String))> = stream::iter(updates)
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    if let Ok(mut known) = inner.known_firsts.lock() {
        known.extend(written);
    }
    Ok(())
}

/// One scope's first uses, in the order of first use.
pub(super) async fn first_uses(
    inner: &Inner,
    kind: FirstKind,
    scope: &str,
) -> Result<Vec<FirstUse>, DynamoError> {
    let items =
        read::query_partition(inner, None, keys::PK, &keys::first_pk(kind, scope), None).await?;
    let mut uses: Vec<FirstUse> = items
        .iter()
        .filter_map(|item| {
            Some(FirstUse {
                name: get_s(item, keys::SK)?.to_owned(),
                time: from_seconds(get_n(item, TIME)?),
                event_id: get_s(item, EVENT_ID)?.to_owned(),
            })
        })
        .collect();
    uses.sort_by(|a, b| (a.time, &a.event_id).cmp(&(b.time, &b.event_id)));
    Ok(uses)
}

/// A series of hourly counters: (hour start, events), in time order.
async fn hours(inner: &Inner, kind: HourlyKind, key: &str) -> Result<Vec<(i64, u64)>, DynamoError> {
    let items = read::query_partition(
        inner,
        None,
        keys::PK,
        &keys::hourly_pk(kind, key),
        Some(&[keys::SK, keys::EVENTS]),
    )
    .await?;
    Ok(items
        .iter()
        .filter_map(|item| {
            let hour = keys::parse_hour_sk(get_s(item, keys::SK)?)?;
            Some((hour, get_n::<i64>(item, keys::EVENTS)?.max(0) as u64))
        })
        .collect())
}

/// `user`'s baseline: their catalog entry, their `FS#` partitions and their
/// hourly counters — `Query`s (and one `GetItem`), no `Scan`.
pub async fn user_baseline(inner: &Inner, user: &str) -> Result<Option<UserBaseline>, DynamoError> {
    let entry = inner
        .client
        .get_item()
        .table_name(&inner.table)
        .set_key(Some(item_key(Catalog::Users.pk(), user)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| inner.error("GetItem", e))?;
    let Some(since) = entry
        .item()
        .and_then(items::catalog_entry)
        .map(|e| e.first_seen)
    else {
        return Ok(None);
    };
    let (regions, services, calls, failed) = tokio::try_join!(
        first_uses(inner, FirstKind::UserRegion, user),
        first_uses(inner, FirstKind::UserService, user),
        hours(inner, HourlyKind::User, user),
        hours(inner, HourlyKind::UserErrors, user),
    )?;
    Ok(Some(UserBaseline::from_parts(
        to_seconds(since),
        regions,
        services,
        &calls,
        &failed,
    )))
}
