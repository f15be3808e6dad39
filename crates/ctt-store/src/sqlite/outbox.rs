//! The outbox tables (schema migration 12): deliveries keyed (alert,
//! destination), fanned out from `alerts` in rowid order. Outbox times are
//! in milliseconds (retries may be sub-second apart); alert times, seconds. Rowids only grow:
//! SQLite writes one transaction at a time, each new alert taking the largest
//! rowid plus one, and alerts are never deleted.

use std::time::Duration;

use chrono::{DateTime, Utc};
use ctt_core::time::to_seconds;
use rusqlite::{Connection, OptionalExtension, params};

use super::alerts;
use crate::alerts::level_rank;
use crate::outbox::{Delivery, OutboxCounts, Route};

/// Alerts looked at per transaction when fanning out.
const FAN_OUT_BATCH: usize = 5_000;

pub fn enqueue_new(
    conn: &mut Connection,
    routes: &[Route],
    oldest: DateTime<Utc>,
    now: DateTime<Utc>,
) -> rusqlite::Result<u64> {
    let oldest = to_seconds(oldest);
    let now = now.timestamp_millis();
    let mut queued = 0;
    loop {
        let tx = conn.transaction()?;
        let cursor: i64 =
            tx.query_row("SELECT alert_rowid FROM outbox_cursor", [], |r| r.get(0))?;
        let batch: Vec<(i64, String, String, i64, bool)> = tx
            .prepare_cached(concat!(
                "SELECT rowid, ",
                alert_id!(),
                ", level, event_time, withdrawn FROM alerts WHERE rowid > ?1
                 ORDER BY rowid LIMIT ?2"
            ))?
            .query_map(params![cursor, FAN_OUT_BATCH as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let Some(last) = batch.last().map(|a| a.0) else {
            return Ok(queued);
        };
        let mut too_old = 0_i64;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO outbox
                 (alert_id, destination, state, attempts, next_attempt, updated_at)
                 VALUES (?1, ?2, ?4, 0, ?3, ?3)",
            )?;
            for (_, id, level, event_time, withdrawn) in &batch {
                // A withdrawn anomaly's delivery waits, unsent, in case an
                // event loaded later restores it (SPEC §13).
                let state = if *withdrawn { "withdrawn" } else { "pending" };
                if *event_time < oldest {
                    too_old += 1;
                    continue;
                }
                let rank = level_rank(level).unwrap_or(0);
                for route in routes.iter().filter(|r| rank >= r.min_level) {
                    queued += insert.execute(params![id, route.destination, now, state])? as u64;
                }
            }
        }
        tx.execute(
            "UPDATE outbox_cursor SET alert_rowid = ?1, too_old = too_old + ?2",
            params![last, too_old],
        )?;
        tx.commit()?;
        if batch.len() < FAN_OUT_BATCH {
            return Ok(queued);
        }
    }
}

pub fn claim_due(
    conn: &mut Connection,
    destinations: &[String],
    now: DateTime<Utc>,
    lease: Duration,
    limit: usize,
) -> rusqlite::Result<Vec<Delivery>> {
    let now_s = now.timestamp_millis();
    let until = now_s + lease.as_millis().max(1) as i64;
    let tx = conn.transaction()?;
    let mut claimed = Vec::new();
    for destination in destinations {
        let due: Vec<(String, u32)> = tx
            .prepare_cached(
                "SELECT alert_id, attempts FROM outbox
                 WHERE state = 'pending' AND destination = ?1 AND next_attempt <= ?2
                 ORDER BY next_attempt LIMIT ?3",
            )?
            .query_map(
                params![destination, now_s, (limit - claimed.len()) as i64],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?
            .collect::<rusqlite::Result<_>>()?;
        for (alert_id, attempts) in due {
            let Some(alert) = alerts::get(&tx, &alert_id)? else {
                continue;
            };
            tx.prepare_cached(
                "UPDATE outbox SET next_attempt = ?3, updated_at = ?4
                 WHERE alert_id = ?1 AND destination = ?2",
            )?
            .execute(params![alert_id, destination, until, now_s])?;
            claimed.push(Delivery {
                alert,
                destination: destination.clone(),
                attempts,
            });
        }
        if claimed.len() >= limit {
            break;
        }
    }
    tx.commit()?;
    Ok(claimed)
}

pub fn mark_sent(
    conn: &Connection,
    delivery: &Delivery,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE outbox SET state = 'sent', attempts = attempts + 1, last_error = NULL,
         updated_at = ?3 WHERE alert_id = ?1 AND destination = ?2",
    )?
    .execute(params![
        delivery.alert.id,
        delivery.destination,
        now.timestamp_millis()
    ])?;
    Ok(())
}

pub fn mark_failed(
    conn: &Connection,
    delivery: &Delivery,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    let (state, next) = match retry_at {
        Some(at) => ("pending", at.timestamp_millis()),
        None => ("failed", now.timestamp_millis()),
    };
    conn.prepare_cached(
        "UPDATE outbox SET state = ?3, attempts = attempts + 1, next_attempt = ?4,
         last_error = ?5, updated_at = ?6 WHERE alert_id = ?1 AND destination = ?2",
    )?
    .execute(params![
        delivery.alert.id,
        delivery.destination,
        state,
        next,
        error,
        now.timestamp_millis()
    ])?;
    Ok(())
}

pub fn counts(conn: &Connection) -> rusqlite::Result<OutboxCounts> {
    let mut counts = OutboxCounts {
        too_old: conn
            .query_row("SELECT too_old FROM outbox_cursor", [], |r| {
                r.get::<_, i64>(0)
            })
            .optional()?
            .unwrap_or(0) as u64,
        ..OutboxCounts::default()
    };
    let mut stmt = conn.prepare_cached("SELECT state, COUNT(*) FROM outbox GROUP BY state")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (state, n) = row?;
        let n = n as u64;
        match state.as_str() {
            "pending" => counts.pending = n,
            "sent" => counts.sent = n,
            _ => counts.failed += n,
        }
    }
    Ok(counts)
}

pub fn pending_for(conn: &Connection, destination: &str) -> rusqlite::Result<u64> {
    conn.prepare_cached("SELECT COUNT(*) FROM outbox WHERE destination = ?1 AND state = 'pending'")?
        .query_row([destination], |r| r.get::<_, i64>(0))
        .map(|n| n as u64)
}

pub fn deliveries(
    conn: &Connection,
    alert_id: &str,
) -> rusqlite::Result<Vec<crate::outbox::DeliveryState>> {
    conn.prepare_cached(
        "SELECT destination, state, attempts, last_error FROM outbox
         WHERE alert_id = ?1 ORDER BY destination",
    )?
    .query_map([alert_id], |r| {
        Ok(crate::outbox::DeliveryState {
            destination: r.get(0)?,
            state: r.get(1)?,
            attempts: r.get(2)?,
            last_error: r.get(3)?,
        })
    })?
    .collect()
}
