//! The `courses` table (schema migration 7), and the few columns of `events`
//! that scoring a course reads.

use ctt_core::course::{Candidates, Hit};
use ctt_core::time::{from_seconds, to_seconds};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

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

/// One range read per candidate name, on `events_by_name` (or on
/// `events_by_user` for one user), of the six columns scoring needs.
pub fn hits(conn: &Connection, candidates: &Candidates) -> rusqlite::Result<Vec<Hit>> {
    let mut hits = Vec::new();
    for (service, name) in &candidates.names {
        let mut sql = String::from(
            "SELECT user, event_time, event_id, service, event_name, error_code IS NOT NULL
             FROM events
             WHERE event_name >= ? AND event_name < ? AND event_time BETWEEN ? AND ?",
        );
        let mut values = vec![
            SqlValue::Text(name.clone()),
            SqlValue::Text(format!("{name}\u{10FFFF}")),
            SqlValue::Integer(to_seconds(candidates.window.from)),
            SqlValue::Integer(to_seconds(candidates.window.to)),
        ];
        if let Some(service) = service {
            sql.push_str(" AND service = ?");
            values.push(SqlValue::Text(service.clone()));
        }
        if let Some(user) = &candidates.user {
            sql.push_str(" AND user = ?");
            values.push(SqlValue::Text(user.clone()));
        }
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(values), |r| {
            Ok(Hit {
                user: r.get(0)?,
                time: r.get(1)?,
                event_id: r.get(2)?,
                service: r.get(3)?,
                event_name: r.get(4)?,
                failed: r.get(5)?,
            })
        })?;
        for row in rows {
            hits.push(row?);
        }
    }
    if candidates.names.len() > 1 {
        hits.sort_by(|a, b| a.event_id.cmp(&b.event_id));
        hits.dedup_by(|a, b| a.event_id == b.event_id);
    }
    Ok(hits)
}
