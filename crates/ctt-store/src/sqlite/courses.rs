//! The `courses` table (schema migration 7), and the few columns of `events`
//! that scoring a course reads.

use ctt_core::course::{Candidates, Hit};
use ctt_core::time::{from_seconds, to_seconds};

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::names::{NameCache, Names};
use crate::StoredCourse;

pub fn put(conn: &Connection, course: &StoredCourse) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO courses (id, source, added_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET source = excluded.source, added_at = excluded.added_at",
        params![course.id, course.source, to_seconds(course.added_at)],
    )?;
    Ok(())
}

fn course(r: &Row) -> rusqlite::Result<StoredCourse> {
    Ok(StoredCourse {
        id: r.get(0)?,
        source: r.get(1)?,
        added_at: from_seconds(r.get(2)?),
    })
}

pub fn list(conn: &Connection) -> rusqlite::Result<Vec<StoredCourse>> {
    let mut stmt = conn.prepare_cached("SELECT id, source, added_at FROM courses ORDER BY id")?;
    let rows = stmt.query_map([], course)?;
    rows.collect()
}

pub fn get(conn: &Connection, id: &str) -> rusqlite::Result<Option<StoredCourse>> {
    conn.prepare_cached("SELECT id, source, added_at FROM courses WHERE id = ?1")?
        .query_row([id], course)
        .optional()
}

pub fn remove(conn: &Connection, id: &str) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM courses WHERE id = ?1", [id])? > 0)
}

/// A hit's columns, all in `events_by_name` (the eventID as it holds it:
/// `ctt_id_bytes`; the ids of the user, the service and the name, named by
/// [`NameCache`]).
const COLUMNS: &str = "SELECT user, event_time, ctt_id_bytes(event_id), service, event_name,
        error_code IS NOT NULL FROM events";

/// One student's events in a window (user, from, to).
fn student_sql() -> String {
    format!(
        "{COLUMNS} WHERE {} AND event_time BETWEEN ? AND ?",
        user_is!()
    )
}

/// The events of a name in a window: `exact` (name, from, to [, service]),
/// read from `events_by_name` = (event_name, event_time, …) for the window
/// only; else the longer names it starts — versioned ones,
/// `CreateFunction20150331` — (name, name + U+10FFFF, from, to [, service]):
/// the ids of those names (schema 46), each read for the window only.
fn class_sql(exact: bool, with_service: bool) -> String {
    let service = if with_service {
        " AND +service = (SELECT id FROM service_names WHERE text = ?)"
    } else {
        ""
    };
    if exact {
        format!(
            "{COLUMNS} WHERE {} AND event_time BETWEEN ? AND ?{service}",
            named_is!("event_names", "event_name")
        )
    } else {
        format!(
            "{COLUMNS} WHERE event_name IN (SELECT id FROM event_names WHERE text > ? AND text < ?)
               AND event_time BETWEEN ? AND ?{service}"
        )
    }
}

/// A student: one range of `events_by_user` (their events in the window,
/// a few hundred in a year), kept when a candidate name starts their name.
/// A class: per candidate name, its range of `events_by_name` in the window,
/// and the range of the longer names it starts; the `+` before the other
/// columns keeps SQLite from preferring `events_by_service` (every event of
/// the service in the window) over the name's few.
pub fn hits(conn: &Connection, candidates: &Candidates) -> rusqlite::Result<Vec<Hit>> {
    let from = SqlValue::Integer(to_seconds(candidates.window.from));
    let to = SqlValue::Integer(to_seconds(candidates.window.to));
    let mut names = NameCache::default();
    let mut row = |r: &Row| -> rusqlite::Result<Hit> {
        Ok(Hit {
            user: names.named(conn, Names::User, r.get(0)?)?,
            time: r.get(1)?,
            event_id: r.get::<_, super::write::StoredId>(2)?.0,
            service: names.named(conn, Names::Service, r.get(3)?)?,
            event_name: names.named(conn, Names::EventName, r.get(4)?)?,
            failed: r.get(5)?,
        })
    };
    let mut hits = Vec::new();
    if let Some(user) = &candidates.user {
        let mut stmt = conn.prepare_cached(&student_sql())?;
        let mut rows = stmt.query(params_from_iter([SqlValue::Text(user.clone()), from, to]))?;
        while let Some(r) = rows.next()? {
            let hit = row(r)?;
            let wanted = candidates.names.iter().any(|(service, name)| {
                hit.event_name.starts_with(name.as_str())
                    && service.as_deref().is_none_or(|s| s == &*hit.service)
            });
            if wanted {
                hits.push(hit);
            }
        }
        return Ok(hits);
    }
    for (service, name) in &candidates.names {
        for exact in [true, false] {
            let mut values = vec![SqlValue::Text(name.clone())];
            if !exact {
                values.push(SqlValue::Text(format!("{name}\u{10FFFF}")));
            }
            values.extend([from.clone(), to.clone()]);
            if let Some(service) = service {
                values.push(SqlValue::Text(service.clone()));
            }
            let mut stmt = conn.prepare_cached(&class_sql(exact, service.is_some()))?;
            let mut rows = stmt.query(params_from_iter(values))?;
            while let Some(r) = rows.next()? {
                hits.push(row(r)?);
            }
        }
    }
    // Ranges overlap only when a name starts another (or one name comes with
    // and without a service): only then can an event be read twice.
    let overlap = candidates.names.iter().enumerate().any(|(i, (_, a))| {
        candidates
            .names
            .iter()
            .enumerate()
            .any(|(j, (_, b))| i != j && b.starts_with(a.as_str()))
    });
    if overlap {
        hits.sort_by(|a, b| a.event_id.cmp(&b.event_id));
        hits.dedup_by(|a, b| a.event_id == b.event_id);
    }
    Ok(hits)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plans the docs promise: a name's range for a class, the user's
    /// range for a student — never every event of a service.
    #[test]
    fn a_class_reads_names_and_a_student_their_own_events() {
        let dir = tempfile::tempdir().expect("dir");
        let store =
            crate::SqliteStore::open(dir.path().join("t.db"), Default::default()).expect("store");
        let conn = Connection::open(dir.path().join("t.db")).expect("open");
        super::super::write::register_key_functions(&conn).expect("functions");
        drop(store);
        let plan = |sql: &str, values: usize| -> String {
            let values = vec![SqlValue::Integer(1); values];
            let mut stmt = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .expect("plan");
            let rows = stmt
                .query_map(params_from_iter(values), |r| r.get::<_, String>(3))
                .expect("rows");
            rows.map(|r| r.unwrap_or_default())
                .collect::<Vec<_>>()
                .join("; ")
        };
        for with_service in [true, false] {
            let exact = plan(
                &class_sql(true, with_service),
                3 + usize::from(with_service),
            );
            assert!(
                exact.contains(
                    "COVERING INDEX events_by_name (event_name=? AND event_time>? AND event_time<?)"
                ),
                "{exact}"
            );
            let longer = plan(
                &class_sql(false, with_service),
                4 + usize::from(with_service),
            );
            assert!(longer.contains("COVERING INDEX events_by_name"), "{longer}");
        }
        let student = plan(&student_sql(), 3);
        assert!(student.contains("events_by_user"), "{student}");
    }
}
