//! The `meta` table: a database's fixed settings (its indexed parameters)
//! and the state of what the writer derives from the events (`pending`
//! until rebuilt, then `done`).

use rusqlite::{Connection, OptionalExtension, params};

/// The value under `key`, if any.
pub fn get(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
}

/// Sets `key` to `value`.
pub fn set(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// Whether what `key` stands for is `done` (kept up to date by the writer).
pub fn is_done(conn: &Connection, key: &str) -> rusqlite::Result<bool> {
    Ok(get(conn, key)?.as_deref() == Some("done"))
}
