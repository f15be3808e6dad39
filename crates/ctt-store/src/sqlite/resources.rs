//! The `resource_touches` table (schema migration 13, SPEC §11): written
//! with each stored event, read grouped by resource; and `resource_states`
//! (migration 14): each resource folded at its last touch, refolded by the
//! writer whenever a touch is added, read a page at a time.

use std::collections::{BTreeSet, HashMap};

use ctt_core::Event;
use ctt_core::resources::{Catalogue, Change, ChangeKind, Lifecycle, State, Touch};
use ctt_core::time::{from_seconds, to_seconds};
use rusqlite::{Connection, OptionalExtension, Statement, Transaction, params};

use super::meta;
use super::names::{NameCache, Names};
use crate::ResourceTouches;
use crate::resources::{ResourceKey, ResourceLife, ResourceQuery, StateFilter, place};

pub const INSERT: &str = "INSERT OR IGNORE INTO resource_touches
    (kind, account, region, id, event_time, event_id, user, change, size)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// Stores `event`'s touches; `user` is the id of its user's name (schema
/// 49: a touch holds it as the event does).
pub fn insert(
    stmt: &mut Statement<'_>,
    event: &Event,
    user: i64,
    touches: &[Change],
) -> rusqlite::Result<()> {
    let made_by = MadeBy {
        place: place(event),
        time: to_seconds(event.event_time),
        event_id: &event.event_id,
        user,
    };
    for touch in touches {
        insert_one(stmt, &made_by, touch)?;
    }
    Ok(())
}

/// The event a touch comes from: where, when, which, by whom.
struct MadeBy<'a> {
    place: (&'a str, &'a str),
    time: i64,
    event_id: &'a str,
    /// Its id in `user_names`.
    user: i64,
}

fn insert_one(stmt: &mut Statement<'_>, by: &MadeBy<'_>, touch: &Change) -> rusqlite::Result<()> {
    stmt.execute(params![
        touch.kind,
        by.place.0,
        by.place.1,
        touch.id,
        by.time,
        // A canonical eventID as its 16 bytes (schema 41, ~19 bytes a touch);
        // `touch_of` reads either form.
        super::write::id_bytes(by.event_id),
        by.user,
        touch.change.as_str(),
        touch.size,
    ])?;
    Ok(())
}

const BACKFILL_KEY: &str = "resource_touches_backfill";

/// Reads the touches of the events stored before migration 13, once: the
/// events the catalogue concerns, found by `(eventName, eventSource)`.
pub fn backfill(conn: &mut Connection) -> rusqlite::Result<()> {
    if meta::get(conn, BACKFILL_KEY)?.as_deref() != Some("pending") {
        return Ok(());
    }
    let catalogue = Catalogue::builtin();
    let mut pairs: Vec<(String, String)> = Vec::new();
    for t in catalogue.types() {
        for spec in t
            .create
            .iter()
            .chain(&t.delete)
            .chain(&t.stop)
            .chain(&t.start)
        {
            for name in &spec.events {
                let pair = (name.clone(), t.source.clone());
                if !pairs.contains(&pair) {
                    pairs.push(pair);
                }
            }
        }
    }
    let tx = conn.transaction()?;
    {
        let mut select = tx.prepare(concat!(
            "SELECT ctt_id_text(e.event_id), e.event_time, e.user, ",
            account_id!(),
            ", nullif(e.recipient_account_id, x''), ",
            aws_region!(),
            ",
                    ctt_event_record(r.record, e.event_id, e.event_time, e.source_ip_address)
             FROM events e JOIN records r ON r.seq = e.seq
             WHERE e.",
            named_is!("event_names", "event_name", "?1"),
            " AND (",
            event_source!(),
            ") = ?2"
        ))?;
        let mut insert_touch = tx.prepare(INSERT)?;
        for (name, source) in &pairs {
            let mut rows = select.query(params![name, source])?;
            while let Some(row) = rows.next()? {
                let record: String = row.get(6)?;
                let Ok(record) = serde_json::from_str::<serde_json::Value>(&record) else {
                    continue;
                };
                let account: Option<String> = row.get::<_, Option<String>>(4)?.or(row.get(3)?);
                let region: Option<String> = row.get(5)?;
                let (event_id, time, user): (String, i64, i64) =
                    (row.get(0)?, row.get(1)?, row.get(2)?);
                let made_by = MadeBy {
                    place: (
                        account.as_deref().unwrap_or_default(),
                        region.as_deref().unwrap_or_default(),
                    ),
                    time,
                    event_id: &event_id,
                    user,
                };
                for touch in catalogue.changes(&record) {
                    insert_one(&mut insert_touch, &made_by, &touch)?;
                }
            }
        }
    }
    tx.execute(
        "UPDATE meta SET value = 'done' WHERE key = ?1",
        [BACKFILL_KEY],
    )?;
    tx.commit()
}

/// Every touch, or those of the resources `user` touched, grouped by
/// resource.
pub fn touches(conn: &Connection, user: Option<&str>) -> rusqlite::Result<Vec<ResourceTouches>> {
    let mut out = Vec::new();
    each_resource(conn, user, |r| {
        out.push(r);
        Ok(())
    })?;
    Ok(out)
}

/// [`touches`], one resource at a time: what a rebuild holds in memory is
/// one resource's touches, not the whole history's (a year of the `scale`
/// preset has millions).
fn each_resource(
    conn: &Connection,
    user: Option<&str>,
    mut each: impl FnMut(ResourceTouches) -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    const COLUMNS: &str = "kind, account, region, id, event_time, event_id, user, change, size";
    let sql = match user {
        None => {
            format!("SELECT {COLUMNS} FROM resource_touches ORDER BY kind, account, region, id")
        }
        Some(_) => format!(
            "SELECT {COLUMNS} FROM resource_touches WHERE (kind, account, region, id) IN
                 (SELECT kind, account, region, id FROM resource_users WHERE {})
             ORDER BY kind, account, region, id",
            user_is!("?1")
        ),
    };
    let mut names = NameCache::default();
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = match user {
        None => stmt.query([])?,
        Some(u) => stmt.query([u])?,
    };
    let mut current: Option<ResourceTouches> = None;
    while let Some(row) = rows.next()? {
        let (kind, account, region, id): (String, String, String, String) =
            (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
        let Some(touch) = touch_of(conn, &mut names, row, 4)? else {
            continue;
        };
        match &mut current {
            Some(last)
                if last.kind == kind
                    && last.account == account
                    && last.region == region
                    && last.id == id =>
            {
                last.touches.push(touch);
            }
            _ => {
                let next = ResourceTouches {
                    kind,
                    account,
                    region,
                    id,
                    touches: vec![touch],
                };
                if let Some(done) = current.replace(next) {
                    each(done)?;
                }
            }
        }
    }
    match current {
        Some(last) => each(last),
        None => Ok(()),
    }
}

/// The meta key saying whether `resource_states` is current (`done`) or to
/// be rebuilt from the touches (`pending`).
const STATES_KEY: &str = "resource_states";

/// A resource as `resource_touches` keys it: type, account, region, id.
pub type TouchKey = (String, String, String, String);

/// The key of each touch `event` adds (for [`refresh_states`]).
pub fn touch_keys<'a>(
    event: &'a Event,
    touches: &'a [Change],
) -> impl Iterator<Item = TouchKey> + 'a {
    let (account, region) = place(event);
    touches.iter().map(move |t| {
        (
            t.kind.clone(),
            account.to_owned(),
            region.to_owned(),
            t.id.clone(),
        )
    })
}

/// Whether `resource_states` can be read and must be kept.
pub fn states_current(conn: &Connection) -> rusqlite::Result<bool> {
    meta::is_done(conn, STATES_KEY)
}

/// Marks `resource_states` to be rebuilt (a bulk load stops keeping it).
pub fn states_pending(conn: &Connection) -> rusqlite::Result<()> {
    meta::set(conn, STATES_KEY, "pending")
}

const UPSERT_STATE: &str = "INSERT OR REPLACE INTO resource_states
    (kind, id, region, account, first_time, last_time, state, owner, created, deleted,
     deleted_by, size, running_seconds)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";

/// What a running resource adds to `running_totals`: its type and size
/// (`""`: none), its running seconds at its last touch, and that touch's time.
type RunningPart = ((String, String), i64, i64);

/// Stores the state of resource `key`, folded from `touches` at the last;
/// what it adds to `running_totals` if it is running. `None` when there is
/// nothing to fold (the state, if any, is left as it was).
fn put_state(
    stmt: &mut Statement<'_>,
    key: &TouchKey,
    touches: &[Touch],
) -> rusqlite::Result<Option<Option<RunningPart>>> {
    let (Some(first), Some(last)) = (
        touches.iter().map(|t| t.time).min(),
        touches.iter().map(|t| t.time).max(),
    ) else {
        return Ok(None);
    };
    let Some(life) = Lifecycle::of(touches, last) else {
        return Ok(None);
    };
    let (kind, account, region, id) = key;
    let running = (life.state == State::Running).then(|| {
        (
            (kind.clone(), life.size.clone().unwrap_or_default()),
            life.running_seconds,
            to_seconds(last),
        )
    });
    stmt.execute(params![
        kind,
        id,
        region,
        account,
        to_seconds(first),
        to_seconds(last),
        life.state.as_str(),
        life.owner,
        life.created.map(to_seconds),
        life.deleted.map(to_seconds),
        life.deleted_by,
        life.size,
        life.running_seconds,
    ])?;
    Ok(Some(running))
}

/// The running part of resource `key`'s stored state, if it is running.
const RUNNING_PART: &str = "SELECT coalesce(size, ''), running_seconds, last_time
    FROM resource_states WHERE kind = ?1 AND id = ?2 AND region = ?3 AND account = ?4
    AND state = 'running'";

/// Applies what changed in the running resources to `running_totals`.
fn apply_running_deltas(
    tx: &Transaction<'_>,
    deltas: &HashMap<(String, String), (i64, i64, i64)>,
) -> rusqlite::Result<()> {
    let mut upsert = tx.prepare_cached(
        "INSERT INTO running_totals (kind, size, resources, running_seconds, last_times)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (kind, size) DO UPDATE SET resources = resources + excluded.resources,
            running_seconds = running_seconds + excluded.running_seconds,
            last_times = last_times + excluded.last_times",
    )?;
    for ((kind, size), (n, seconds, lasts)) in deltas {
        if (*n, *seconds, *lasts) != (0, 0, 0) {
            upsert.execute(params![kind, size, n, seconds, lasts])?;
        }
    }
    Ok(())
}

/// `running_totals` from the states themselves.
const RECOUNT_RUNNING: &str = "DELETE FROM running_totals;
    INSERT INTO running_totals (kind, size, resources, running_seconds, last_times)
        SELECT kind, coalesce(size, ''), count(*), sum(running_seconds), sum(last_time)
        FROM resource_states WHERE state = 'running' GROUP BY 1, 2;";

/// A touch from its columns (from `first` on: time, eventID, user, change,
/// size); the user's id named through `names` (schema 49).
fn touch_of(
    conn: &Connection,
    names: &mut NameCache,
    row: &rusqlite::Row<'_>,
    first: usize,
) -> rusqlite::Result<Option<Touch>> {
    let Some(change) = ChangeKind::parse(&row.get::<_, String>(first + 3)?) else {
        return Ok(None); // not written by this ctt
    };
    Ok(Some(Touch {
        time: from_seconds(row.get(first)?),
        event_id: row.get::<_, super::write::StoredId>(first + 1)?.0,
        user: names
            .named(conn, Names::User, row.get(first + 2)?)?
            .to_string(),
        change,
        size: row.get(first + 4)?,
    }))
}

/// The touches of one resource (`stmt` is [`TOUCHES_OF`] on `conn`).
fn touches_of(
    conn: &Connection,
    names: &mut NameCache,
    stmt: &mut Statement<'_>,
    key: &TouchKey,
) -> rusqlite::Result<Vec<Touch>> {
    let mut rows = stmt.query(params![key.0, key.1, key.2, key.3])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.extend(touch_of(conn, names, row, 0)?);
    }
    Ok(out)
}

const TOUCHES_OF: &str = "SELECT event_time, event_id, user, change, size FROM resource_touches
    WHERE kind = ?1 AND account = ?2 AND region = ?3 AND id = ?4";

/// Refolds the resources `keys` names from all their touches (the writer,
/// after adding touches in the same transaction), if the states are kept.
pub fn refresh_states(tx: &Transaction<'_>, keys: &BTreeSet<TouchKey>) -> rusqlite::Result<()> {
    if keys.is_empty() || !states_current(tx)? {
        return Ok(());
    }
    let mut select = tx.prepare_cached(TOUCHES_OF)?;
    let mut upsert = tx.prepare_cached(UPSERT_STATE)?;
    let mut was_running = tx.prepare_cached(RUNNING_PART)?;
    // (resources, running seconds, last times) by type and size.
    let mut deltas: HashMap<(String, String), (i64, i64, i64)> = HashMap::new();
    let mut latest = None;
    let mut names = NameCache::default();
    for key in keys {
        let touches = touches_of(tx, &mut names, &mut select, key)?;
        let (kind, account, region, id) = key;
        let before = was_running
            .query_row(params![kind, id, region, account], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .optional()?;
        let Some(after) = put_state(&mut upsert, key, &touches)? else {
            continue;
        };
        latest = latest.max(touches.iter().map(|t| to_seconds(t.time)).max());
        if let Some((size, seconds, last)) = before {
            let d = deltas.entry((kind.clone(), size)).or_default();
            *d = (d.0 - 1, d.1 - seconds, d.2 - last);
        }
        if let Some((group, seconds, last)) = after {
            let d = deltas.entry(group).or_default();
            *d = (d.0 + 1, d.1 + seconds, d.2 + last);
        }
    }
    keep_latest(tx, latest)?;
    apply_running_deltas(tx, &deltas)
}

/// Keeps `last_time` as the states' latest if it is later (schema 48).
/// States are refolded only when touches are added, so the latest never
/// goes back but at a rebuild, which starts it again.
fn keep_latest(tx: &Transaction<'_>, last_time: Option<i64>) -> rusqlite::Result<()> {
    if let Some(last_time) = last_time {
        tx.prepare_cached(
            "INSERT INTO resource_states_latest (only, last_time) VALUES (1, ?1)
             ON CONFLICT (only) DO UPDATE SET last_time = max(last_time, excluded.last_time)",
        )?
        .execute([last_time])?;
    }
    Ok(())
}

/// Rebuilds `resource_states` from every touch if it is pending (at open,
/// after the touches' backfill; at a bulk load's end).
pub fn rebuild_states_if_pending(conn: &mut Connection) -> rusqlite::Result<()> {
    if states_current(conn)? {
        return Ok(());
    }
    let tx = conn.transaction()?;
    tx.execute_batch("DELETE FROM resource_states; DELETE FROM resource_states_latest;")?;
    {
        let mut upsert = tx.prepare(UPSERT_STATE)?;
        each_resource(&tx, None, |r| {
            let key = (r.kind, r.account, r.region, r.id);
            put_state(&mut upsert, &key, &r.touches).map(|_| ())
        })?;
    }
    tx.execute_batch(
        "INSERT INTO resource_states_latest (only, last_time)
             SELECT 1, max(last_time) FROM resource_states HAVING max(last_time) IS NOT NULL",
    )?;
    tx.execute_batch(RECOUNT_RUNNING)?;
    meta::set(&tx, STATES_KEY, "done")?;
    tx.commit()
}

/// Everyone's resources running at `at` by type and size, summed from
/// `running_totals` (schema 23: the running states' sums by type and size,
/// kept with the states), each extended to `at` as [`page`] does — a read of
/// one row per group however many run; `None` when the states
/// cannot answer alone — being rebuilt, or a state past `at` (a time in
/// the past), which only its touches can tell.
pub fn running_groups(
    conn: &Connection,
    at: chrono::DateTime<chrono::Utc>,
) -> rusqlite::Result<Option<Vec<crate::RunningGroup>>> {
    let at = to_seconds(at);
    let later: bool = conn.query_row(
        "SELECT coalesce((SELECT last_time FROM resource_states_latest) > ?1, 0)",
        [at],
        |r| r.get(0),
    )?;
    if later || !states_current(conn)? {
        return Ok(None);
    }
    // No state is past `at`: each running one runs from its last touch to
    // `at`, and the group's sum is its sum at the last touches plus
    // resources × at − their last touches' times.
    let mut stmt = conn.prepare_cached(
        "SELECT kind, nullif(size, ''), resources,
                running_seconds + resources * ?1 - last_times
         FROM running_totals WHERE resources > 0 ORDER BY kind, size",
    )?;
    let groups = stmt
        .query_map([at], |r| {
            Ok(crate::RunningGroup {
                kind: r.get(0)?,
                size: r.get(1)?,
                resources: r.get::<_, i64>(2)? as u64,
                running_seconds: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some(groups))
}

/// A page of resources from `resource_states` (no `user` filter: that one is
/// answered from the user's touches), or `None` while the states are being
/// rebuilt. A resource changed after the query's time is refolded from its
/// touches at that time; every other is its state at its last touch, its
/// running clock moved on to the query's time.
pub fn page(
    conn: &Connection,
    query: &ResourceQuery,
) -> rusqlite::Result<Option<Vec<ResourceLife>>> {
    let filter = &query.filter;
    if filter.user.is_some() || !states_current(conn)? {
        return Ok(None);
    }
    let at = to_seconds(filter.at);
    let mut sql = String::from(
        "SELECT kind, id, region, account, last_time, state, owner, created, deleted,
                deleted_by, size, running_seconds
         FROM resource_states WHERE first_time <= :at",
    );
    if filter.kind.is_some() {
        sql.push_str(" AND kind = :kind");
    }
    if query.after.is_some() {
        sql.push_str(" AND (kind, id, region, account) > (:k, :i, :r, :a)");
    }
    match filter.state {
        None => {}
        Some(StateFilter::Open) => {
            sql.push_str(" AND (last_time > :at OR state IN ('running', 'stopped'))");
        }
        Some(StateFilter::Is(state)) => {
            sql.push_str(&format!(
                " AND (last_time > :at OR state = '{}')",
                state.as_str()
            ));
        }
    }
    sql.push_str(" ORDER BY kind, id, region, account");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut touches_stmt = conn.prepare_cached(TOUCHES_OF)?;
    let mut names = NameCache::default();
    let empty = String::new();
    let after: (&str, &str, &str, &str) = match &query.after {
        Some((k, i, r, a)) => (k, i, r, a),
        None => (&empty, &empty, &empty, &empty),
    };
    let mut named: Vec<(&str, &dyn rusqlite::ToSql)> = vec![(":at", &at)];
    if let Some(kind) = &filter.kind {
        named.push((":kind", kind));
    }
    if query.after.is_some() {
        named.extend([
            (":k", &after.0 as &dyn rusqlite::ToSql),
            (":i", &after.1),
            (":r", &after.2),
            (":a", &after.3),
        ]);
    }
    let mut rows = stmt.query(named.as_slice())?;
    let mut out = Vec::new();
    while out.len() < query.limit {
        let Some(row) = rows.next()? else { break };
        let key: ResourceKey = (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
        let last: i64 = row.get(4)?;
        let life = if last <= at {
            let Some(state) = State::parse(&row.get::<_, String>(5)?) else {
                continue;
            };
            Lifecycle {
                state,
                owner: row.get(6)?,
                created: row.get::<_, Option<i64>>(7)?.map(from_seconds),
                deleted: row.get::<_, Option<i64>>(8)?.map(from_seconds),
                deleted_by: row.get(9)?,
                size: row.get(10)?,
                running_seconds: row.get(11)?,
                last_change: from_seconds(last),
            }
            .extended_to(filter.at)
        } else {
            let touch_key = (key.0.clone(), key.3.clone(), key.2.clone(), key.1.clone());
            let touches = touches_of(conn, &mut names, &mut touches_stmt, &touch_key)?;
            match Lifecycle::of(&touches, filter.at) {
                Some(life) => life,
                None => continue,
            }
        };
        if !filter.admits(&key.0, &life) {
            continue;
        }
        let (kind, id, region, account) = key;
        out.push(ResourceLife {
            kind,
            id,
            region,
            account,
            life,
        });
    }
    Ok(Some(out))
}
