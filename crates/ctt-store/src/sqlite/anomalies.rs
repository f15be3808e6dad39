//! Anomalies (SPEC §13) in SQLite: kept by the writer as a function of the
//! stored events, whatever order they arrive in.
//!
//! The writer keeps, from every stored event, each user's first event in
//! each region and of each service and each account's first event in each
//! region (`first_seen`, the least (time, eventID): a minimum, so an earlier
//! event loaded later simply replaces it) and each user's hourly count of
//! failed calls (`hourly_counts` kind 3, next to their hourly count of all
//! calls). After a batch it recomputes, for the users and accounts the batch
//! touched, the anomalies those baselines now imply — over the hours the
//! batch added to and the week after each — and reconciles them with the
//! stored ones: an anomaly no longer implied is *withdrawn* (kept, hidden,
//! `withdrawn = 1`: its id stays taken, so a delivery already queued or
//! sent is never queued again), a new one inserted or a withdrawn one
//! restored. No rescan of events: baselines come from those tables; only a
//! spiking hour's triggering event is looked up in `events_by_user`.
//!
//! During a bulk load into an empty store nothing is evaluated (`meta`
//! `anomalies` = `pending`), only `first_seen` kept; its end (or the next
//! open, if it was killed) evaluates every user and account. A database of
//! an older schema has `first_seen` built from its events once.

use std::collections::{BTreeMap, BTreeSet};

use ctt_core::anomaly::{AnomalyKind, AnomalySettings, Baseline};
use ctt_core::time::{from_seconds, to_seconds};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use rustc_hash::FxHashMap;

use super::meta;
use crate::baseline::{
    FirstKind as First, FirstUse, UserBaseline, WEEK, first_anomalies, firsts_of, spiking_hours,
};
use crate::hourly::{HOUR, HourlyKind, hour_of};

const STATE_KEY: &str = "anomalies";
/// `done` once `first_seen` holds the first events of every stored event
/// (the writer keeps it from then on).
const FIRSTS_KEY: &str = "first_seen";

/// What a batch of newly stored events changes, gathered by the writer:
/// borrowed from the batch's events (no key allocated per event).
#[derive(Debug, Default)]
pub struct Changes<'a> {
    /// The least (time, eventID) of the batch per (kind, scope, key).
    firsts: FxHashMap<(First, &'a str, &'a str), (i64, &'a str)>,
    /// Whether the users' hours are gathered: only when the stored
    /// anomalies are current, the only time [`apply`] reconciles them.
    per_user: bool,
    /// Per user: the hours the batch added events to, and its earliest time.
    hours: BTreeMap<&'a str, BTreeSet<i64>>,
    earliest: FxHashMap<&'a str, i64>,
}

impl<'a> Changes<'a> {
    /// What a batch written in `tx` changes. During a bulk load (anomalies
    /// pending: its end evaluates every user) only the first events are
    /// gathered, not each stored event's user and hour.
    pub fn new(tx: &Connection) -> rusqlite::Result<Self> {
        Ok(Self {
            per_user: current(tx)?,
            ..Self::default()
        })
    }

    pub fn add(&mut self, e: &'a ctt_core::Event) {
        let t = to_seconds(e.event_time);
        let event_id = e.event_id.as_str();
        for (kind, scope, key) in firsts_of(e) {
            let slot = self
                .firsts
                .entry((kind, scope, key))
                .or_insert((t, event_id));
            if (t, event_id) < *slot {
                *slot = (t, event_id);
            }
        }
        if !self.per_user {
            return;
        }
        self.hours.entry(&e.user).or_default().insert(hour_of(t));
        let earliest = self.earliest.entry(&e.user).or_insert(t);
        *earliest = (*earliest).min(t);
    }
}

/// Whether the stored anomalies are those of the stored events.
fn current(conn: &Connection) -> rusqlite::Result<bool> {
    meta::is_done(conn, STATE_KEY)
}

/// Marks the anomalies to be rebuilt (a bulk load, a load without them).
pub fn pending(conn: &Connection) -> rusqlite::Result<()> {
    meta::set(conn, STATE_KEY, "pending")
}

/// The writer's part, in the batch's transaction: keeps `first_seen`, then,
/// with `settings` and current anomalies, reconciles those the batch
/// changes. Without `settings` (or while pending) they are left to a
/// rebuild.
pub fn apply(
    tx: &Transaction<'_>,
    changes: &Changes,
    settings: Option<&AnomalySettings>,
) -> rusqlite::Result<()> {
    // `first_seen` is always kept (a minimum per key: a few upserts a batch),
    // so a rebuild never has to rescan the events for it.
    let mut changed_scopes: BTreeSet<(First, String)> = BTreeSet::new();
    {
        let mut upsert = tx.prepare_cached(
            "INSERT INTO first_seen (kind, scope, key, time, event_id) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (kind, scope, key) DO UPDATE
                SET time = excluded.time, event_id = excluded.event_id
                WHERE (excluded.time, excluded.event_id) < (first_seen.time, first_seen.event_id)",
        )?;
        for ((kind, scope, key), (t, event_id)) in &changes.firsts {
            if upsert.execute(params![*kind as i64, scope, key, t, event_id])? > 0 {
                changed_scopes.insert((*kind, (*scope).to_owned()));
            }
        }
    }
    if !changes.per_user {
        return Ok(()); // not current: a rebuild will evaluate it all
    }
    let Some(settings) = settings.filter(|s| s.any()) else {
        return pending(tx);
    };
    // A user whose first event moved (or who is new) is warm from another
    // time: each of their first events is judged again.
    for (user, earliest) in &changes.earliest {
        let first: Option<i64> = tx
            .query_row(
                "SELECT first_time FROM users WHERE name = ?1",
                [user],
                |r| r.get(0),
            )
            .optional()?;
        if first == Some(*earliest) {
            changed_scopes.insert((First::UserRegion, (*user).to_owned()));
            changed_scopes.insert((First::UserService, (*user).to_owned()));
        }
    }
    for (kind, scope) in &changed_scopes {
        reconcile_firsts(tx, settings, *kind, scope)?;
    }
    for (user, hours) in &changes.hours {
        let (Some(lo), Some(hi)) = (hours.first(), hours.last()) else {
            continue;
        };
        for errors in [false, true] {
            reconcile_spikes(tx, settings, errors, user, *lo, *hi + WEEK)?;
        }
    }
    Ok(())
}

/// Rebuilds `first_seen` from the events and reconciles every anomaly, if
/// they are pending and `settings` has any kind on (at open, at a bulk
/// load's end).
pub fn rebuild_if_pending(
    conn: &mut Connection,
    settings: Option<&AnomalySettings>,
) -> rusqlite::Result<()> {
    let Some(settings) = settings.filter(|s| s.any()) else {
        return Ok(());
    };
    if current(conn)? {
        return Ok(());
    }
    let tx = conn.transaction()?;
    // Events stored before `first_seen` existed (schema 15): read once.
    if !meta::is_done(&tx, FIRSTS_KEY)? {
        tx.execute_batch(concat!(
            "DELETE FROM first_seen;
         INSERT INTO first_seen (kind, scope, key, time, event_id)
         SELECT kind, scope, key, event_time, event_id FROM (
             SELECT kind, scope, key, event_time, event_id, row_number() OVER
                 (PARTITION BY kind, scope, key ORDER BY event_time, event_id) AS n
             FROM (
                 SELECT 0 AS kind, ",
            user!(),
            " AS scope, ",
            aws_region!(),
            " AS key, event_time, ctt_id_text(event_id) AS event_id
                     FROM events WHERE aws_region IS NOT NULL
                 UNION ALL
                 SELECT 1, ",
            user!(),
            ", ",
            service!(),
            ", event_time, ctt_id_text(event_id) FROM events
                 UNION ALL
                 SELECT 2, coalesce(nullif(recipient_account_id, x''), ",
            account_id!(),
            ", ''), ",
            aws_region!(),
            ",
                        event_time, ctt_id_text(event_id)
                     FROM events WHERE aws_region IS NOT NULL))
         WHERE n = 1;"
        ))?;
        meta::set(&tx, FIRSTS_KEY, "done")?;
    }
    let scopes: Vec<(i64, String)> = tx
        .prepare("SELECT DISTINCT kind, scope FROM first_seen")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (kind, scope) in scopes {
        let kind = match kind {
            0 => First::UserRegion,
            1 => First::UserService,
            _ => First::AccountRegion,
        };
        reconcile_firsts(&tx, settings, kind, &scope)?;
    }
    let users: Vec<(String, i64, i64)> = tx
        .prepare(
            "SELECT key, min(hour), max(hour) FROM hourly_counts WHERE kind = ?1 GROUP BY key",
        )?
        .query_map([HourlyKind::User as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (user, lo, hi) in users {
        for errors in [false, true] {
            reconcile_spikes(&tx, settings, errors, &user, lo, hi + WEEK)?;
        }
    }
    meta::set(&tx, STATE_KEY, "done")?;
    tx.commit()
}

/// The anomalies of rule `?1` stored on user `?2`'s events, not withdrawn,
/// as [`Stored`] rows.
macro_rules! users_anomalies {
    () => {
        concat!(
            "SELECT rowid, ",
            alert_id!(),
            ", ctt_id_text(event_id) FROM alerts WHERE ",
            alert_rule_is!("?1"),
            " AND ",
            user_is!("?2"),
            " AND withdrawn = 0"
        )
    };
}

/// An anomaly alert stored: its row, its id (`RULE:EVENT`) and its eventID.
struct Stored {
    rowid: i64,
    id: String,
    event_id: String,
}

fn stored_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Stored> {
    Ok(Stored {
        rowid: r.get(0)?,
        id: r.get(1)?,
        event_id: r.get(2)?,
    })
}

/// An anomaly the baselines imply: on which event, with which sentence.
#[derive(Debug, Clone, PartialEq)]
struct Wanted {
    event_id: String,
    baseline: Baseline,
}

/// The first events of `scope` (a user, or an account) that are anomalies
/// of `kind`: those at least the warm-up after the scope's first event.
fn reconcile_firsts(
    tx: &Transaction<'_>,
    settings: &AnomalySettings,
    kind: First,
    scope: &str,
) -> rusqlite::Result<()> {
    let anomaly = kind.anomaly();
    let rule = anomaly.rule_id();
    let uses = first_uses(tx, kind, scope)?;
    let since: Option<i64> = match kind {
        // A user's first event: the catalog's.
        First::UserRegion | First::UserService => tx
            .query_row(
                "SELECT first_time FROM users WHERE name = ?1",
                [scope],
                |r| r.get(0),
            )
            .optional()?,
        First::AccountRegion => None,
    };
    let wanted: Vec<Wanted> = first_anomalies(settings, kind, scope, since, &uses)
        .into_iter()
        .map(|(event_id, baseline)| Wanted { event_id, baseline })
        .collect();
    // What is stored for this scope: by user, or by the events' account.
    let stored: Vec<Stored> = match kind {
        First::AccountRegion => tx
            .prepare_cached(concat!(
                "SELECT a.rowid, ",
                alert_id!("a"),
                ", ctt_id_text(a.event_id) FROM alerts a JOIN events e
                   ON ctt_key_hash(e.event_id) = ctt_key_hash(a.event_id) AND e.event_id = a.event_id
                 WHERE a.",
                alert_rule_is!("?1"),
                " AND a.withdrawn = 0
                   AND coalesce(nullif(e.recipient_account_id, x''), ",
                account_id!(),
                ", '') = ?2"
            ))?
            .query_map(params![rule, scope], stored_row)?
            .collect::<rusqlite::Result<_>>()?,
        _ => tx
            .prepare_cached(users_anomalies!())?
            .query_map(params![rule, scope], stored_row)?
            .collect::<rusqlite::Result<_>>()?,
    };
    reconcile(tx, settings, anomaly, &wanted, &stored)
}

/// The spiking hours of `user` from `lo` to `hi` (hour starts): over all
/// their calls, or (`errors`) their failed ones.
fn reconcile_spikes(
    tx: &Transaction<'_>,
    settings: &AnomalySettings,
    errors: bool,
    user: &str,
    lo: i64,
    hi: i64,
) -> rusqlite::Result<()> {
    let (anomaly, series) = if errors {
        (AnomalyKind::ErrorSpike, HourlyKind::UserErrors)
    } else {
        (AnomalyKind::RateSpike, HourlyKind::User)
    };
    let rule = anomaly.rule_id();
    let k = settings.kind(anomaly);
    let mut wanted = Vec::new();
    if k.enabled {
        let counts: BTreeMap<i64, u64> = tx
            .prepare_cached(
                "SELECT hour, events FROM hourly_counts
                 WHERE kind = ?1 AND key = ?2 AND hour BETWEEN ?3 AND ?4",
            )?
            .query_map(params![series as i64, user, lo - WEEK, hi], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)? as u64))
            })?
            .collect::<rusqlite::Result<_>>()?;
        for (hour, s) in spiking_hours(settings, errors, &counts, lo, hi) {
            let nth: Option<String> = tx
                .prepare_cached(if errors {
                    concat!(
                        "SELECT ctt_id_text(event_id) FROM events WHERE ",
                        user_is!("?1"),
                        " AND event_time >= ?2 AND event_time < ?3 AND error_code IS NOT NULL
                         ORDER BY event_time, ctt_id_text(event_id) LIMIT 1 OFFSET ?4"
                    )
                } else {
                    concat!(
                        "SELECT ctt_id_text(event_id) FROM events WHERE ",
                        user_is!("?1"),
                        " AND event_time >= ?2 AND event_time < ?3
                         ORDER BY event_time, ctt_id_text(event_id) LIMIT 1 OFFSET ?4"
                    )
                })?
                .query_row(params![user, hour, hour + HOUR, s.nth as i64 - 1], |r| {
                    r.get(0)
                })
                .optional()?;
            if let Some(event_id) = nth {
                wanted.push(Wanted {
                    event_id,
                    baseline: Baseline::spike(user, errors, from_seconds(hour), &s),
                });
            }
        }
    }
    let stored: Vec<Stored> = tx
        .prepare_cached(concat!(
            users_anomalies!(),
            " AND event_time BETWEEN ?3 AND ?4"
        ))?
        .query_map(params![rule, user, lo, hi + HOUR - 1], stored_row)?
        .collect::<rusqlite::Result<_>>()?;
    reconcile(tx, settings, anomaly, &wanted, &stored)
}

/// Withdraws the `stored` anomalies not `wanted`; stores (or restores) the
/// `wanted` ones, each on its event, with its record.
fn reconcile(
    tx: &Transaction<'_>,
    settings: &AnomalySettings,
    anomaly: AnomalyKind,
    wanted: &[Wanted],
    stored: &[Stored],
) -> rusqlite::Result<()> {
    let rule = anomaly.rule_id();
    let keep: BTreeSet<&str> = wanted.iter().map(|w| w.event_id.as_str()).collect();
    for Stored {
        rowid,
        id,
        event_id,
    } in stored
    {
        if !keep.contains(event_id.as_str()) {
            tx.execute("UPDATE alerts SET withdrawn = 1 WHERE rowid = ?1", [rowid])?;
            // Not sent yet: it waits (one sent stays sent).
            tx.execute(
                "UPDATE outbox SET state = 'withdrawn' WHERE alert_id = ?1 AND state = 'pending'",
                [id],
            )?;
        }
    }
    let level = &settings.kind(anomaly).level;
    // On a stored event: its record is the event's (no `alert_records` row).
    // The rule's row (schema 50); each anomaly alert keeps its own title.
    if !wanted.is_empty() {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO alert_rules (rule_id, title, tags) VALUES (?1, ?1, '[]')",
        )?
        .execute([&rule])?;
    }
    // The event's names and eventID are in the forms an alert holds.
    let mut upsert = tx.prepare_cached(
        "INSERT INTO alerts (rule, title, level, tags, event_id, event_time, user,
                             service, event_name, withdrawn, baseline)
         SELECT (SELECT id FROM alert_rules WHERE rule_id = ?1), ?2, ?3, '[]', event_id,
                event_time, user, service, event_name, 0, ?5
         FROM events WHERE ctt_key_hash(event_id) = ctt_key_hash(?4) AND ctt_id_text(event_id) = ?4
         ON CONFLICT (rule, event_id) DO UPDATE SET withdrawn = 0, title = excluded.title,
            level = excluded.level, baseline = excluded.baseline",
    )?;
    for w in wanted {
        let id = crate::Alert::key(&rule, &w.event_id);
        let baseline = serde_json::to_string(&w.baseline).unwrap_or_default();
        upsert.execute(params![
            rule,
            w.baseline.title(),
            level,
            w.event_id,
            baseline
        ])?;
        tx.execute(
            "UPDATE outbox SET state = 'pending' WHERE alert_id = ?1 AND state = 'withdrawn'",
            [&id],
        )?;
    }
    Ok(())
}

/// `user`'s baseline, from what the writer keeps: the catalog's first event,
/// `first_seen` and the hourly counts (a few index ranges, no event read).
pub fn user_baseline(conn: &Connection, user: &str) -> rusqlite::Result<Option<UserBaseline>> {
    let Some(since) = conn
        .query_row(
            "SELECT first_time FROM users WHERE name = ?1",
            [user],
            |r| r.get::<_, i64>(0),
        )
        .optional()?
    else {
        return Ok(None);
    };
    let series = |kind: HourlyKind, lo: i64, hi: i64| -> rusqlite::Result<Vec<(i64, u64)>> {
        conn.prepare_cached(
            "SELECT hour, events FROM hourly_counts
             WHERE kind = ?1 AND key = ?2 AND hour BETWEEN ?3 AND ?4 ORDER BY hour",
        )?
        .query_map(params![kind as i64, user, lo, hi], |r| {
            Ok((r.get(0)?, r.get::<_, i64>(1)? as u64))
        })?
        .collect()
    };
    let calls = series(HourlyKind::User, i64::MIN, i64::MAX)?;
    let last = calls.last().map_or(hour_of(since), |(h, _)| *h);
    let failed = series(HourlyKind::UserErrors, last + HOUR - WEEK, last)?;
    Ok(Some(UserBaseline::from_parts(
        since,
        first_uses(conn, First::UserRegion, user)?,
        first_uses(conn, First::UserService, user)?,
        &calls,
        &failed,
    )))
}

/// A scope's first uses, in the order of first use.
fn first_uses(conn: &Connection, kind: First, scope: &str) -> rusqlite::Result<Vec<FirstUse>> {
    conn.prepare_cached(
        "SELECT key, time, event_id FROM first_seen WHERE kind = ?1 AND scope = ?2
         ORDER BY time, event_id",
    )?
    .query_map(params![kind as i64, scope], |r| {
        Ok(FirstUse {
            name: r.get(0)?,
            time: from_seconds(r.get(1)?),
            event_id: r.get(2)?,
        })
    })?
    .collect()
}
