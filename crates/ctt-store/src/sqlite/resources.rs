//! The `resource_touches` table (schema migration 13, SPEC §11): written
//! with each stored event, read grouped by resource.

use ctt_core::Event;
use ctt_core::resources::{Catalogue, Change, ChangeKind, Touch};
use ctt_core::time::{from_seconds, to_seconds};
use rusqlite::{Connection, Statement, params};

use crate::ResourceTouches;
use crate::resources::place;

pub const INSERT: &str = "INSERT OR IGNORE INTO resource_touches
    (kind, account, region, id, event_time, event_id, user, change, size)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// Stores `event`'s touches.
pub fn insert(stmt: &mut Statement<'_>, event: &Event, touches: &[Change]) -> rusqlite::Result<()> {
    let made_by = MadeBy {
        place: place(event),
        time: to_seconds(event.event_time),
        event_id: &event.event_id,
        user: &event.user,
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
    user: &'a str,
}

fn insert_one(stmt: &mut Statement<'_>, by: &MadeBy<'_>, touch: &Change) -> rusqlite::Result<()> {
    stmt.execute(params![
        touch.kind,
        by.place.0,
        by.place.1,
        touch.id,
        by.time,
        by.event_id,
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
    let pending: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = ?1",
            [BACKFILL_KEY],
            |r| r.get(0),
        )
        .ok();
    if pending.as_deref() != Some("pending") {
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
        let mut select = tx.prepare(
            "SELECT e.event_id, e.event_time, e.user, e.account_id, e.recipient_account_id,
                    e.aws_region, r.record
             FROM events e JOIN records r ON r.seq = e.seq
             WHERE e.event_name = ?1 AND e.event_source = ?2",
        )?;
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
                let (event_id, time, user): (String, i64, String) =
                    (row.get(0)?, row.get(1)?, row.get(2)?);
                let made_by = MadeBy {
                    place: (
                        account.as_deref().unwrap_or_default(),
                        region.as_deref().unwrap_or_default(),
                    ),
                    time,
                    event_id: &event_id,
                    user: &user,
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
    const COLUMNS: &str = "kind, account, region, id, event_time, event_id, user, change, size";
    let sql = match user {
        None => {
            format!("SELECT {COLUMNS} FROM resource_touches ORDER BY kind, account, region, id")
        }
        Some(_) => format!(
            "SELECT {COLUMNS} FROM resource_touches WHERE (kind, account, region, id) IN
                 (SELECT kind, account, region, id FROM resource_touches WHERE user = ?1)
             ORDER BY kind, account, region, id"
        ),
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = match user {
        None => stmt.query([])?,
        Some(u) => stmt.query([u])?,
    };
    let mut out: Vec<ResourceTouches> = Vec::new();
    while let Some(row) = rows.next()? {
        let (kind, account, region, id): (String, String, String, String) =
            (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
        let Some(change) = ChangeKind::parse(&row.get::<_, String>(7)?) else {
            continue; // not written by this ctt
        };
        let touch = Touch {
            time: from_seconds(row.get(4)?),
            event_id: row.get(5)?,
            user: row.get(6)?,
            change,
            size: row.get(8)?,
        };
        match out.last_mut() {
            Some(last)
                if last.kind == kind
                    && last.account == account
                    && last.region == region
                    && last.id == id =>
            {
                last.touches.push(touch);
            }
            _ => out.push(ResourceTouches {
                kind,
                account,
                region,
                id,
                touches: vec![touch],
            }),
        }
    }
    Ok(out)
}
