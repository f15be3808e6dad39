//! Alerts (SPEC §12) in the table. One partition per day of event time,
//! sorted like the API (`sk` = time, eventID, rule), so a window is one
//! `Query` per day that has alerts; the days are listed under `ALDAYS`; a
//! pointer item per alert id finds one alert by id. Every key is a function
//! of the alert, so writing it again (a re-run, a re-delivery, a crash before
//! the ledger commit) stores it once: plain puts, before the file's ledger
//! entry. No `Scan`.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_types::Blob;
use chrono::{DateTime, Utc};
use ctt_core::time::{format_event_time, parse_event_time};
use ctt_store::alerts::{LEVELS, level_rank};
use ctt_store::{Alert, AlertQuery, RecordJson};

use super::expr::Expr;
use super::items::{self, Item, get_s, s};
use super::write::put_all;
use super::{DynamoError, Inner, item_key, keys};

/// The partition of one day's alerts.
fn day_pk(day: &str) -> String {
    format!("AL#{day}")
}
/// The partition listing the days that have alerts.
const DAYS_PK: &str = "ALDAYS";
/// The pointer from an alert's id to its item.
fn pointer_pk(id: &str) -> String {
    format!("AI#{id}")
}
const POINTER_SK: &str = "A";

fn sort_key(alert: &Alert) -> String {
    format!(
        "{}#{}#{}",
        format_event_time(alert.event_time),
        alert.event_id,
        alert.rule_id
    )
}

fn day_of(alert: &Alert) -> String {
    alert.event_time.format("%Y-%m-%d").to_string()
}

/// Set on an anomaly no longer implied by the stored events (SPEC §13): the
/// item stays (its id is taken), but it is no alert.
pub const WITHDRAWN: &str = "withdrawn";

/// The key of the item of the alert of `rule_id` on the event
/// (`event_time`, `event_id`).
pub fn key_of(rule_id: &str, event_id: &str, event_time: DateTime<Utc>) -> Item {
    item_key(
        day_pk(&event_time.format("%Y-%m-%d").to_string()),
        format!("{}#{event_id}#{rule_id}", format_event_time(event_time)),
    )
}

/// The items that find an alert besides its own: its id's pointer and its
/// day's entry in the list of days.
pub fn finders(alert: &Alert) -> [Item; 2] {
    let mut pointer = item_key(pointer_pk(&alert.id), POINTER_SK);
    pointer.insert("day".into(), s(day_of(alert)));
    pointer.insert("at".into(), s(sort_key(alert)));
    [pointer, item_key(DAYS_PK, day_of(alert))]
}

pub fn alert_item(alert: &Alert) -> Item {
    let mut item = item_key(day_pk(&day_of(alert)), sort_key(alert));
    item.insert("id".into(), s(&alert.id));
    item.insert("rule_id".into(), s(&alert.rule_id));
    item.insert("title".into(), s(&alert.title));
    item.insert("level".into(), s(&alert.level));
    item.insert(
        "tags".into(),
        AttributeValue::L(alert.tags.iter().map(s).collect()),
    );
    item.insert("event_id".into(), s(&alert.event_id));
    item.insert("event_time".into(), s(format_event_time(alert.event_time)));
    item.insert("user".into(), s(&alert.user));
    item.insert("service".into(), s(&alert.service));
    item.insert("event_name".into(), s(&alert.event_name));
    let record = alert.record.get();
    match items::compress_if_large(record) {
        None => item.insert("record".into(), s(record)),
        Some(gz) => item.insert("record_gz".into(), AttributeValue::B(Blob::new(gz))),
    };
    if let Some(json) = alert
        .baseline
        .as_ref()
        .and_then(|b| serde_json::to_string(b).ok())
    {
        item.insert("baseline".into(), s(json));
    }
    item
}

fn from_item(item: &Item) -> Option<Alert> {
    if item.get(WITHDRAWN).and_then(|w| w.as_bool().ok()) == Some(&true) {
        return None;
    }
    Some(Alert {
        id: get_s(item, "id")?.to_owned(),
        rule_id: get_s(item, "rule_id")?.to_owned(),
        title: get_s(item, "title").unwrap_or_default().to_owned(),
        level: get_s(item, "level").unwrap_or_default().to_owned(),
        tags: item
            .get("tags")
            .and_then(|t| t.as_l().ok())
            .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
            .unwrap_or_default(),
        event_id: get_s(item, "event_id")?.to_owned(),
        event_time: get_s(item, "event_time").and_then(parse_event_time)?,
        user: get_s(item, "user").unwrap_or_default().to_owned(),
        service: get_s(item, "service").unwrap_or_default().to_owned(),
        event_name: get_s(item, "event_name").unwrap_or_default().to_owned(),
        record: items::record_text(item)
            .map(RecordJson::new)
            .unwrap_or_default(),
        baseline: get_s(item, "baseline").and_then(|b| serde_json::from_str(b).ok()),
    })
}

/// Stores `alerts`: each alert, its pointer, its day.
pub async fn put(inner: &Inner, alerts: &[Alert]) -> Result<(), DynamoError> {
    if alerts.is_empty() {
        return Ok(());
    }
    let mut items: Vec<Item> = Vec::new();
    for alert in alerts {
        items.push(alert_item(alert));
        items.extend(finders(alert));
    }
    // The same alert (or day) from two files is put once.
    put_all(inner, items).await
}

/// Alerts as `query` selects, in order: the days with alerts in its window,
/// one `Query` each (from the cursor's), until `limit`.
pub async fn list(inner: &Inner, query: &AlertQuery) -> Result<Vec<Alert>, DynamoError> {
    let day = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d").to_string();
    let after = query.after.as_ref().map(|(t, event_id, rule_id)| {
        let time = format_event_time(ctt_core::time::from_seconds(*t));
        (
            day(ctt_core::time::from_seconds(*t)),
            format!("{time}#{event_id}#{rule_id}"),
        )
    });
    let first_day = match (&after, query.from) {
        (Some((d, _)), Some(from)) => d.clone().max(day(from)),
        (Some((d, _)), None) => d.clone(),
        (None, Some(from)) => day(from),
        (None, None) => String::new(),
    };
    let last_day = query.to.map(day);
    let days: Vec<String> =
        super::read::query_partition(inner, None, keys::PK, DAYS_PK, Some(&[keys::SK]))
            .await?
            .iter()
            .filter_map(|i| get_s(i, keys::SK).map(str::to_owned))
            .filter(|d| *d >= first_day && last_day.as_ref().is_none_or(|last| d <= last))
            .collect();
    let limit = query.limit.max(1);
    let mut found = Vec::new();
    for day in days {
        let mut e = Expr::default();
        let mut condition = format!("{} = {}", e.name(keys::PK), e.value(s(day_pk(&day))));
        // After a cursor: the least key above it is the cursor's key and a
        // NUL, so every bound is inclusive.
        let low = match &after {
            Some((d, at)) if *d == day => Some(format!("{at}\u{0}")),
            _ => query.from.map(format_event_time),
        };
        let high = query
            .to
            .map(|t| format!("{}#\u{10FFFF}", format_event_time(t)));
        // Only a bound names the sort key: an unused name is refused.
        match (low, high) {
            (Some(low), Some(high)) => {
                let sk = e.name(keys::SK);
                let (low, high) = (e.value(s(low)), e.value(s(high)));
                condition.push_str(&format!(" AND {sk} BETWEEN {low} AND {high}"));
            }
            (Some(low), None) => {
                let sk = e.name(keys::SK);
                let low = e.value(s(low));
                condition.push_str(&format!(" AND {sk} >= {low}"));
            }
            (None, Some(high)) => {
                let sk = e.name(keys::SK);
                let high = e.value(s(high));
                condition.push_str(&format!(" AND {sk} <= {high}"));
            }
            (None, None) => {}
        }
        let mut filters = vec![format!("attribute_not_exists({})", e.name(WITHDRAWN))];
        if let Some(rule) = &query.rule {
            let name = e.name("rule_id");
            filters.push(match rule.strip_suffix('*') {
                // `anomaly:*`: every rule id with that prefix.
                Some(prefix) => format!("begins_with({name}, {})", e.value(s(prefix))),
                None => format!("{name} = {}", e.value(s(rule))),
            });
        }
        if let Some(user) = &query.user {
            filters.push(format!("{} = {}", e.name("user"), e.value(s(user))));
        }
        if let Some(rank) = query.min_level.as_deref().and_then(level_rank) {
            let levels: Vec<String> = LEVELS[rank..].iter().map(|l| e.value(s(*l))).collect();
            filters.push(format!("{} IN ({})", e.name("level"), levels.join(", ")));
        }
        let filter = Some(filters.join(" AND "));
        let mut start = None;
        loop {
            let out = inner
                .client
                .query()
                .table_name(&inner.table)
                .key_condition_expression(&condition)
                .set_filter_expression(filter.clone())
                .set_expression_attribute_names(e.names_or_none())
                .set_expression_attribute_values(e.values_or_none())
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|err| inner.error("Query", err))?;
            found.extend(out.items().iter().filter_map(from_item));
            if found.len() >= limit {
                found.truncate(limit);
                return Ok(found);
            }
            match out.last_evaluated_key() {
                Some(key) => start = Some(key.clone()),
                None => break,
            }
        }
    }
    Ok(found)
}

/// The alert `id`: its pointer, then its item.
pub async fn get(inner: &Inner, id: &str) -> Result<Option<Alert>, DynamoError> {
    let get = |key: Item| async move {
        inner
            .client
            .get_item()
            .table_name(&inner.table)
            .set_key(Some(key))
            .send()
            .await
            .map(|out| out.item)
            .map_err(|e| inner.error("GetItem", e))
    };
    let Some(pointer) = get(item_key(pointer_pk(id), POINTER_SK)).await? else {
        return Ok(None);
    };
    let (Some(day), Some(at)) = (get_s(&pointer, "day"), get_s(&pointer, "at")) else {
        return Ok(None);
    };
    Ok(get(item_key(day_pk(day), at))
        .await?
        .as_ref()
        .and_then(from_item))
}
