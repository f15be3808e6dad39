//! The `tokens` table (schema migration 2): hashes of API tokens and their roles.

use ctt_core::time::{from_seconds, to_seconds};
use rusqlite::{Connection, ErrorCode, params};

use crate::tokens::TokenRecord;

pub fn create(conn: &Connection, token: &TokenRecord) -> rusqlite::Result<bool> {
    let inserted = conn.execute(
        "INSERT INTO tokens (name, hash, role, user, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            token.name,
            token.hash,
            token.role.as_str(),
            token.user,
            to_seconds(token.created_at)
        ],
    );
    match inserted {
        Ok(_) => Ok(true),
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == ErrorCode::ConstraintViolation => {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

pub fn list(conn: &Connection) -> rusqlite::Result<Vec<TokenRecord>> {
    let mut stmt =
        conn.prepare_cached("SELECT name, hash, role, user, created_at FROM tokens ORDER BY name")?;
    let rows = stmt.query_map([], |r| {
        let role: String = r.get(2)?;
        Ok(TokenRecord {
            name: r.get(0)?,
            hash: r.get(1)?,
            role: role.parse().map_err(|e: String| {
                rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, e.into())
            })?,
            user: r.get(3)?,
            created_at: from_seconds(r.get(4)?),
        })
    })?;
    rows.collect()
}

pub fn revoke(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM tokens WHERE name = ?1", [name])? > 0)
}
