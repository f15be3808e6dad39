//! The notification outbox in the table (SPEC §12), for the ingest Lambda's
//! SNS topic. A load queues each new alert its routes want — one item per
//! (destination, alert) in the destination's partition `OB#DESTINATION`,
//! sort key the alert id, put only if absent — before the file's ledger
//! entry, so a crash re-queues nothing that was sent and loses nothing. A
//! sent delivery is deleted; the partition holds what is pending (and what
//! was given up, `state = failed`), so a pass is one `Query` per
//! destination. A delivery is claimed by a conditional update of its
//! `next_attempt` (two Lambdas never both send it). No `Scan`.

use std::time::Duration;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::Select;
use chrono::{DateTime, Utc};
use ctt_store::alerts::level_rank;
use ctt_store::{Alert, Delivery, OutboxCounts, Route};

use super::items::{Item, get_n, get_s, n, s};
use super::{DynamoError, Inner, item_key, keys};

fn partition(destination: &str) -> String {
    format!("OB#{destination}")
}

/// The delivery items that queue `alert` to the routes its level reaches,
/// none if its event is older than `max_age`.
pub fn deliveries_of(
    alert: &Alert,
    routes: &[Route],
    max_age: Duration,
    now: DateTime<Utc>,
) -> Vec<Item> {
    let oldest = now - chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::MAX);
    if alert.event_time < oldest {
        return Vec::new();
    }
    let rank = level_rank(&alert.level).unwrap_or(0);
    routes
        .iter()
        .filter(|r| rank >= r.min_level)
        .map(|route| {
            let mut item = item_key(partition(&route.destination), alert.id.as_str());
            item.insert("state".into(), s(PENDING));
            item.insert("attempts".into(), n(0));
            item.insert("next_attempt".into(), n(now.timestamp_millis()));
            item
        })
        .collect()
}

/// The key of `alert_id`'s delivery to `destination`.
pub fn delivery_key(destination: &str, alert_id: &str) -> Item {
    item_key(partition(destination), alert_id)
}

/// A delivery waiting to be sent.
pub const PENDING: &str = "pending";
/// A delivery of an anomaly withdrawn before it was sent (SPEC §13): it waits,
/// and is pending again if the anomaly is restored.
pub const WITHDRAWN: &str = "withdrawn";

/// Queues `alerts` to the routes they reach, unless older than `max_age`.
pub async fn queue(
    inner: &Inner,
    alerts: &[Alert],
    routes: &[Route],
    max_age: Duration,
) -> Result<(), DynamoError> {
    let now = Utc::now();
    for item in alerts
        .iter()
        .flat_map(|alert| deliveries_of(alert, routes, max_age, now))
    {
        let put = inner
            .client
            .put_item()
            .table_name(&inner.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(PutItemError::is_conditional_check_failed_exception) => {}
            Err(e) => return Err(inner.error("PutItem", e)),
        }
    }
    Ok(())
}

async fn query(
    inner: &Inner,
    destination: &str,
    filter: &str,
    values: &[(&str, aws_sdk_dynamodb::types::AttributeValue)],
    count_only: bool,
    mut each: impl FnMut(&Item),
) -> Result<u64, DynamoError> {
    let mut start = None;
    let mut count = 0;
    loop {
        let mut request = inner
            .client
            .query()
            .table_name(&inner.table)
            .key_condition_expression("#pk = :pk")
            .filter_expression(filter)
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":pk", s(partition(destination)))
            .set_exclusive_start_key(start.take());
        for (name, value) in values {
            request = request.expression_attribute_values(*name, value.clone());
        }
        if count_only {
            request = request.select(Select::Count);
        }
        let out = request.send().await.map_err(|e| inner.error("Query", e))?;
        count += out.count() as u64;
        out.items().iter().for_each(&mut each);
        match out.last_evaluated_key() {
            Some(key) => start = Some(key.clone()),
            None => return Ok(count),
        }
    }
}

pub async fn claim_due(
    inner: &Inner,
    destinations: &[String],
    now: DateTime<Utc>,
    lease: Duration,
    limit: usize,
) -> Result<Vec<Delivery>, DynamoError> {
    let now_ms = now.timestamp_millis();
    let until = now_ms + lease.as_millis() as i64;
    let mut claimed = Vec::new();
    for destination in destinations {
        let mut due: Vec<(String, u32, i64)> = Vec::new();
        query(
            inner,
            destination,
            "#state = :pending AND next_attempt <= :now",
            &[(":pending", s("pending")), (":now", n(now_ms))],
            false,
            |item| {
                if let (Some(id), Some(attempts), Some(next)) = (
                    get_s(item, keys::SK),
                    get_n::<u32>(item, "attempts"),
                    get_n::<i64>(item, "next_attempt"),
                ) {
                    due.push((id.to_owned(), attempts, next));
                }
            },
        )
        .await?;
        due.sort_by_key(|d| d.2);
        for (id, attempts, next) in due {
            if claimed.len() == limit {
                return Ok(claimed);
            }
            let update = inner
                .client
                .update_item()
                .table_name(&inner.table)
                .set_key(Some(item_key(partition(destination), id.as_str())))
                .update_expression("SET next_attempt = :until")
                .condition_expression("#state = :pending AND next_attempt = :was")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":pending", s("pending"))
                .expression_attribute_values(":was", n(next))
                .expression_attribute_values(":until", n(until))
                .send()
                .await;
            match update {
                Ok(_) => {}
                // Another Lambda claimed it first.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(UpdateItemError::is_conditional_check_failed_exception) =>
                {
                    continue;
                }
                Err(e) => return Err(inner.error("UpdateItem", e)),
            }
            match super::alerts::get(inner, &id).await? {
                Some(alert) => claimed.push(Delivery {
                    alert,
                    destination: destination.clone(),
                    attempts,
                }),
                // An anomaly withdrawn since it was queued (or an alert
                // never stored): it waits, no longer pending.
                None => set_aside(inner, destination, &id, until).await?,
            }
        }
    }
    Ok(claimed)
}

/// Moves a delivery this process claimed (until `until`) from pending to
/// withdrawn; one restored or re-claimed meanwhile is left as it is.
async fn set_aside(
    inner: &Inner,
    destination: &str,
    alert_id: &str,
    until: i64,
) -> Result<(), DynamoError> {
    tracing::debug!(alert = %alert_id, "a queued alert is withdrawn or not stored: set aside");
    let update = inner
        .client
        .update_item()
        .table_name(&inner.table)
        .set_key(Some(delivery_key(destination, alert_id)))
        .update_expression("SET #state = :withdrawn")
        .condition_expression("#state = :pending AND next_attempt = :until")
        .expression_attribute_names("#state", "state")
        .expression_attribute_values(":pending", s(PENDING))
        .expression_attribute_values(":withdrawn", s(WITHDRAWN))
        .expression_attribute_values(":until", n(until))
        .send()
        .await;
    match update {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(UpdateItemError::is_conditional_check_failed_exception) =>
        {
            Ok(())
        }
        Err(e) => Err(inner.error("UpdateItem", e)),
    }
}

pub async fn mark_sent(inner: &Inner, delivery: &Delivery) -> Result<(), DynamoError> {
    inner
        .client
        .delete_item()
        .table_name(&inner.table)
        .set_key(Some(item_key(
            partition(&delivery.destination),
            delivery.alert.id.as_str(),
        )))
        .send()
        .await
        .map_err(|e| inner.error("DeleteItem", e))?;
    Ok(())
}

pub async fn mark_failed(
    inner: &Inner,
    delivery: &Delivery,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), DynamoError> {
    let (state, next) = match retry_at {
        Some(at) => ("pending", at.timestamp_millis()),
        None => ("failed", now.timestamp_millis()),
    };
    inner
        .client
        .update_item()
        .table_name(&inner.table)
        .set_key(Some(item_key(
            partition(&delivery.destination),
            delivery.alert.id.as_str(),
        )))
        .update_expression(
            "SET #state = :state, next_attempt = :next, last_error = :error ADD attempts :one",
        )
        .expression_attribute_names("#state", "state")
        .expression_attribute_values(":state", s(state))
        .expression_attribute_values(":next", n(next))
        .expression_attribute_values(":error", s(error))
        .expression_attribute_values(":one", n(1))
        .send()
        .await
        .map_err(|e| inner.error("UpdateItem", e))?;
    Ok(())
}

/// Pending and failed deliveries (sent ones are deleted, not counted).
pub async fn counts(inner: &Inner, destinations: &[String]) -> Result<OutboxCounts, DynamoError> {
    let mut counts = OutboxCounts::default();
    for destination in destinations {
        counts.pending += pending_for(inner, destination).await?;
        counts.failed += query(
            inner,
            destination,
            "#state = :failed",
            &[(":failed", s("failed"))],
            true,
            |_| {},
        )
        .await?;
    }
    Ok(counts)
}

/// Deliveries to `destination` waiting for an attempt: one `Query` (a count).
pub async fn pending_for(inner: &Inner, destination: &str) -> Result<u64, DynamoError> {
    query(
        inner,
        destination,
        "#state = :pending",
        &[(":pending", s("pending"))],
        true,
        |_| {},
    )
    .await
}

/// The deliveries of one alert still in the outbox.
pub async fn deliveries(
    inner: &Inner,
    destinations: &[String],
    alert_id: &str,
) -> Result<Vec<ctt_store::outbox::DeliveryState>, DynamoError> {
    let mut out = Vec::new();
    for destination in destinations {
        let item = inner
            .client
            .get_item()
            .table_name(&inner.table)
            .set_key(Some(item_key(partition(destination), alert_id)))
            .send()
            .await
            .map_err(|e| inner.error("GetItem", e))?
            .item;
        if let Some(item) = item {
            out.push(ctt_store::outbox::DeliveryState {
                destination: destination.clone(),
                state: get_s(&item, "state").unwrap_or_default().to_owned(),
                attempts: get_n(&item, "attempts").unwrap_or(0),
                last_error: get_s(&item, "last_error").map(str::to_owned),
            });
        }
    }
    Ok(out)
}
