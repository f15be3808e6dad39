//! The write path: a batch of files in one transaction, and the ledger.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use ctt_core::time::{from_seconds, to_seconds};
use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OptionalExtension, Row, params};
use rustc_hash::{FxHashMap, FxHashSet};
use sha2::{Digest, Sha256};

use crate::hourly::{HourlyKind, SPANS, hour_of, span_kind};
use crate::{
    FileCounts, FileOutcome, FlaggedFile, IntegritySummary, LedgerEntry, LedgerFilter, LoadedFile,
    Verdict,
};

const INDEXED_KEY: &str = "indexed_parameters";

/// The indexed parameters of this database: stored at creation, read afterwards.
pub fn indexed_parameters(conn: &Connection, wanted: &[String]) -> rusqlite::Result<Vec<String>> {
    if let Some(list) = super::meta::get(conn, INDEXED_KEY)? {
        return Ok(list
            .split('\n')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect());
    }
    super::meta::set(conn, INDEXED_KEY, &wanted.join("\n"))?;
    Ok(wanted.to_vec())
}

/// The ids of indexed parameters' names (schema 28, `param_names`) or
/// values (schema 35, `param_values`) in a writer's transaction: each looked
/// up (or added) once a batch.
struct ParamIds<'c, 'n> {
    ids: FxHashMap<&'n str, i64>,
    add: rusqlite::CachedStatement<'c>,
    find: rusqlite::CachedStatement<'c>,
}

impl<'c, 'n> ParamIds<'c, 'n> {
    /// `table` is `param_names` (texts in `name`) or `param_values` (in
    /// `value`, schema 35).
    fn new(tx: &'c Connection, table: &str, column: &str) -> rusqlite::Result<Self> {
        Ok(Self {
            ids: FxHashMap::default(),
            add: tx.prepare_cached(&format!(
                "INSERT OR IGNORE INTO {table} ({column}) VALUES (?1)"
            ))?,
            find: tx.prepare_cached(&format!("SELECT id FROM {table} WHERE {column} = ?1"))?,
        })
    }

    fn id(&mut self, name: &'n str) -> rusqlite::Result<i64> {
        if let Some(&id) = self.ids.get(name) {
            return Ok(id);
        }
        self.add.execute([name])?;
        let id = self.find.query_row([name], |r| r.get(0))?;
        self.ids.insert(name, id);
        Ok(id)
    }
}

#[derive(Default)]
struct CatalogDelta {
    events: u64,
    first: i64,
    last: i64,
}

impl CatalogDelta {
    fn add(&mut self, t: i64) {
        if self.events == 0 || t < self.first {
            self.first = t;
        }
        if self.events == 0 || t > self.last {
            self.last = t;
        }
        self.events += 1;
    }
}

/// Stores a batch: ledger entries, events, parameters and catalog, atomically.
///
/// `known_names` caches the parameter names already in the catalog, so the
/// thousands of names a batch repeats cost no statement; it is updated only once
/// the transaction commits; `known_rules` the same for the rules' titles and
/// tags (see [`super::alerts::RuleTexts`]).
pub fn load(
    conn: &mut Connection,
    files: &[LoadedFile],
    known_names: &mut HashSet<String>,
    known_rules: &mut super::alerts::KnownRules,
    anomalies: Option<&ctt_core::anomaly::AnomalySettings>,
    encoder: &mut super::records::Encoder,
) -> rusqlite::Result<Vec<FileCounts>> {
    // Keyed by the batch's own strings, hashed with FxHash: these maps see
    // every stored event, and SipHash's resistance to chosen keys buys
    // nothing for a batch the writer throws away at its end.
    let mut new_names: FxHashSet<&str> = FxHashSet::default();
    // Immediate: the write lock is taken (or waited for) before the first
    // lookup. An event is looked up before it is stored (`FIND_EVENT`); a
    // deferred transaction would read first, and another process's commit
    // in between would make its first write fail (SQLITE_BUSY_SNAPSHOT).
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut results = Vec::with_capacity(files.len());
    let mut users: FxHashMap<&str, CatalogDelta> = FxHashMap::default();
    let mut services: FxHashMap<&str, CatalogDelta> = FxHashMap::default();
    let mut hourly: FxHashMap<(HourlyKind, &str, i64), i64> = FxHashMap::default();
    let mut touched = std::collections::BTreeSet::new();
    // During a bulk load the states are rebuilt at its end from all the
    // touches: the resources a batch touched are not gathered.
    let states_kept = super::resources::states_current(&tx)?;
    let mut changes = super::anomalies::Changes::new(&tx)?;
    let added_rules = {
        // A key is in the ledger once: its row is updated, or inserted.
        let mut update_file = tx.prepare_cached(
            "UPDATE files SET size = ?3, version = ?4, outcome = ?5, reason = ?6, records = ?7,
                stored = ?8, filtered = ?9, duplicate = ?10, rejected = ?11, loaded_at = ?12,
                integrity = NULL, sha256 = ?14
             WHERE key_hash = ?13 AND dir = ?1 AND name = ?2",
        )?;
        let mut insert_file = tx.prepare_cached(
            "INSERT INTO files (dir, name, size, version, outcome, reason, records, stored,
                                filtered, duplicate, rejected, loaded_at, key_hash, sha256)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )?;
        let mut dirs = Interned::new(&tx, "file_dirs")?;
        // An event is stored once: `events_by_id` indexes its eventID's hash
        // (schema 37), which a duplicate's lookup confirms on the eventID.
        let mut find_event = tx.prepare_cached(FIND_EVENT)?;
        let mut insert_event = tx.prepare_cached(
            "INSERT INTO events (event_id, event_time, event_name, event_source, service,
                user, identity_type, role, account_ref, recipient_account_id, aws_region,
                source_ip_address, user_agent_id, error_code, error_message, read_only, event_type)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
        )?;
        let mut user_names = Interned::new(&tx, "user_names")?;
        let mut service_names = Interned::new(&tx, "service_names")?;
        let mut event_names = Interned::new(&tx, "event_names")?;
        let mut user_agents = Interned::new(&tx, "user_agents")?;
        let mut accounts = Interned::new(&tx, "accounts")?;
        let mut insert_record =
            tx.prepare_cached("INSERT INTO records (seq, record) VALUES (?1, ?2)")?;
        let mut insert_param = tx.prepare_cached(
            "INSERT OR IGNORE INTO event_params (seq, name_id, value_id) VALUES (?1, ?2, ?3)",
        )?;
        let mut param_ids = ParamIds::new(&tx, "param_names", "name")?;
        let mut value_ids = ParamIds::new(&tx, "param_values", "value")?;
        let mut insert_name =
            tx.prepare_cached("INSERT OR IGNORE INTO parameters (name) VALUES (?1)")?;
        let mut insert_alert = tx.prepare_cached(super::alerts::INSERT)?;
        let mut insert_alert_record = tx.prepare_cached(super::alerts::INSERT_RECORD)?;
        let mut rule_texts = super::alerts::RuleTexts::new(&tx, known_rules)?;
        let mut insert_touch = tx.prepare_cached(super::resources::INSERT)?;
        for file in files {
            let entry = &file.entry;
            let mut counts = FileCounts {
                stored: 0,
                duplicate: 0,
                ..entry.counts
            };
            for indexed in &file.events {
                let e = &indexed.event;
                let t = to_seconds(e.event_time);
                if find_event.exists(params![key_hash(&e.event_id), e.event_id])? {
                    counts.duplicate += 1;
                    continue;
                }
                let user = user_names.id(&e.user)?;
                let role = super::stored_role(&e.user, e.role.as_deref(), |r| user_names.id(r))?;
                insert_event.execute(params![
                    id_bytes(&e.event_id),
                    t,
                    event_names.id(&e.event_name)?,
                    super::stored_event_source(&e.event_source, &e.service),
                    service_names.id(&e.service)?,
                    user,
                    super::coded(e.identity_type.as_deref(), super::IDENTITY_TYPES),
                    role,
                    e.account_id
                        .as_deref()
                        .map(|a| accounts.id(a))
                        .transpose()?,
                    super::stored_recipient(
                        e.account_id.as_deref(),
                        e.recipient_account_id.as_deref()
                    ),
                    super::coded(e.aws_region.as_deref(), super::REGIONS),
                    super::stored_ip(e.source_ip_address.as_deref()),
                    e.user_agent
                        .as_deref()
                        .map(|a| user_agents.id(a))
                        .transpose()?,
                    e.error_code,
                    e.error_message,
                    e.read_only,
                    super::coded(e.event_type.as_deref(), super::EVENT_TYPES),
                ])?;
                counts.stored += 1;
                let seq = tx.last_insert_rowid();
                insert_record.execute(params![seq, encoder.encode_record(&indexed.record)])?;
                super::resources::insert(&mut insert_touch, e, user, &indexed.touches)?;
                if states_kept {
                    touched.extend(super::resources::touch_keys(e, &indexed.touches));
                }
                for (name, value) in &indexed.params {
                    let name_id = param_ids.id(name)?;
                    let value_id = value_ids.id(value)?;
                    insert_param.execute(params![seq, name_id, value_id])?;
                }
                users.entry(e.user.as_str()).or_default().add(t);
                services.entry(e.service.as_str()).or_default().add(t);
                let hour = hour_of(t);
                for key in [
                    (HourlyKind::All, "", hour),
                    (HourlyKind::User, e.user.as_str(), hour),
                    (HourlyKind::Service, e.service.as_str(), hour),
                    (HourlyKind::EventName, e.event_name.as_str(), hour),
                    (
                        HourlyKind::ErrorCode,
                        e.error_code.as_deref().unwrap_or_default(),
                        hour,
                    ),
                    (
                        HourlyKind::Region,
                        e.aws_region.as_deref().unwrap_or_default(),
                        hour,
                    ),
                ] {
                    *hourly.entry(key).or_default() += 1;
                }
                if e.error_code.is_some() {
                    *hourly
                        .entry((HourlyKind::UserErrors, e.user.as_str(), hour))
                        .or_default() += 1;
                }
                changes.add(e);
            }
            // The ledger entry, with its final counts, in the events' transaction.
            let sha256 = entry.sha256.as_deref().and_then(|h| hex::decode(h).ok());
            let (dir, name) = split_key(&entry.key);
            let ledger_row = params![
                dirs.id(dir)?,
                stored_name(dir, name),
                entry.size as i64,
                stored_version(entry.size as i64, &entry.version),
                entry.outcome.as_str(),
                entry.reason,
                counts.records as i64,
                counts.stored as i64,
                counts.filtered as i64,
                counts.duplicate as i64,
                counts.rejected as i64,
                entry.loaded_at.timestamp(),
                key_hash(&entry.key),
                sha256,
            ];
            if update_file.execute(ledger_row)? == 0 {
                insert_file.execute(ledger_row)?;
            }
            // The file's kept events are stored now, or were (duplicates):
            // their alerts' records are theirs.
            let kept: FxHashSet<&str> = if file.alerts.is_empty() {
                FxHashSet::default()
            } else {
                file.events
                    .iter()
                    .map(|e| e.event.event_id.as_str())
                    .collect()
            };
            for alert in &file.alerts {
                let stored = kept.contains(alert.event_id.as_str());
                super::alerts::insert(
                    &mut insert_alert,
                    &mut insert_alert_record,
                    &mut rule_texts,
                    &mut super::alerts::InternedNames {
                        users: &mut user_names,
                        services: &mut service_names,
                        event_names: &mut event_names,
                    },
                    alert,
                    stored,
                    encoder,
                )?;
            }
            for name in &file.parameter_names {
                if !known_names.contains(name) && new_names.insert(name) {
                    insert_name.execute([name])?;
                }
            }
            results.push(counts);
        }
        for (table, deltas) in [("users", &users), ("services", &services)] {
            let mut upsert = tx.prepare_cached(&format!(
                "INSERT INTO {table} (name, events, first_time, last_time) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET events = events + excluded.events,
                    first_time = min(first_time, excluded.first_time),
                    last_time = max(last_time, excluded.last_time)"
            ))?;
            for (name, d) in deltas {
                upsert.execute(params![name, d.events as i64, d.first, d.last])?;
            }
        }
        rule_texts.into_added()
    };
    // By day, 8 and 64 days too, for what `/stats` groups everyone's events
    // by (see `hourly::SPANS`).
    let mut daily: FxHashMap<(i64, &str, i64), i64> = FxHashMap::default();
    for ((kind, key, hour), n) in &hourly {
        if kind.has_daily_counts() {
            for (level, span) in SPANS.iter().enumerate() {
                *daily
                    .entry((span_kind(*kind, level), key, hour.div_euclid(*span) * span))
                    .or_default() += n;
            }
        }
    }
    // Upserted in the tables' key order: one batch adds tens of thousands
    // of rows (every user's hours), which in the maps' order would land on
    // pages all over the tables, each one sought from the root.
    {
        let mut upsert = tx.prepare_cached(
            "INSERT INTO hourly_counts (kind, key, hour, events) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (kind, key, hour) DO UPDATE SET events = events + excluded.events",
        )?;
        let mut rows: Vec<_> = hourly
            .iter()
            .map(|((kind, key, start), n)| (*kind as i64, *key, *start, *n))
            .collect();
        rows.sort_unstable();
        for (kind, key, start, n) in rows {
            upsert.execute(params![kind, key, start, n])?;
        }
        let mut upsert = tx.prepare_cached(
            "INSERT INTO daily_counts (kind, key, day, events) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (kind, key, day) DO UPDATE SET events = events + excluded.events",
        )?;
        let mut rows: Vec<_> = daily.into_iter().collect();
        rows.sort_unstable();
        for ((kind, key, start), n) in rows {
            upsert.execute(params![kind, key, start, n])?;
        }
    }
    // Each resource touched, refolded from all its touches (SPEC §11).
    super::resources::refresh_states(&tx, &touched)?;
    // The anomalies the batch's events change (SPEC §13).
    super::anomalies::apply(&tx, &changes, anomalies)?;
    tx.commit()?;
    known_names.extend(new_names.into_iter().map(str::to_owned));
    known_rules.extend(added_rules);
    Ok(results)
}

const LEDGER_COLUMNS: &str = "key, size, version, outcome, reason, records, stored, filtered, duplicate, rejected, loaded_at, integrity, sha256";

fn ledger_row(r: &Row<'_>) -> rusqlite::Result<LedgerEntry> {
    let count = |i: usize| r.get::<_, i64>(i).map(|n| n as u64);
    Ok(LedgerEntry {
        key: r.get(0)?,
        size: count(1)?,
        version: r.get(2)?,
        outcome: FileOutcome::parse(&r.get::<_, String>(3)?),
        reason: r.get(4)?,
        counts: FileCounts {
            records: count(5)?,
            stored: count(6)?,
            filtered: count(7)?,
            duplicate: count(8)?,
            rejected: count(9)?,
        },
        loaded_at: from_seconds(r.get(10)?),
        integrity: r.get(11)?,
        sha256: r.get::<_, Option<Vec<u8>>>(12)?.map(hex::encode),
    })
}

/// Sets the integrity of the ledger's files among `verdicts`, flags those
/// that are not valid with their events, and clears the flags of those that
/// are; returns how many files it held. Files the ledger does not hold are
/// left out.
pub fn record_integrity(conn: &mut Connection, verdicts: &[Verdict]) -> rusqlite::Result<u64> {
    let tx = conn.transaction()?;
    let mut recorded = 0;
    {
        let mut update = tx.prepare_cached(
            "UPDATE files SET integrity = ?1
                 WHERE key_hash = ?2 AND name = ?4
                   AND dir = (SELECT id FROM file_dirs WHERE path = ?3)",
        )?;
        let mut unflag = tx.prepare_cached("DELETE FROM integrity_flags WHERE file_key = ?1")?;
        let mut unmark = tx.prepare_cached("DELETE FROM integrity_marks WHERE file_key = ?1")?;
        let mut flag = tx.prepare_cached(
            "INSERT INTO integrity_flags (file_key, status, events) VALUES (?1, ?2, ?3)",
        )?;
        let mut mark = tx.prepare_cached(
            "INSERT OR IGNORE INTO integrity_marks (event_id, file_key) VALUES (?1, ?2)",
        )?;
        for verdict in verdicts {
            let (dir, name) = split_key(&verdict.key);
            let held = params![
                verdict.status,
                key_hash(&verdict.key),
                dir,
                stored_name(dir, name)
            ];
            if update.execute(held)? == 0 {
                continue;
            }
            recorded += 1;
            unflag.execute([&verdict.key])?;
            unmark.execute([&verdict.key])?;
            if !verdict.is_valid() {
                flag.execute(params![
                    verdict.key,
                    verdict.status,
                    verdict.event_ids.len() as i64
                ])?;
                for id in &verdict.event_ids {
                    mark.execute(params![id, verdict.key])?;
                }
            }
        }
        if recorded > 0 {
            let now = Utc::now().timestamp().to_string();
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('integrity_recorded_at', ?1), ('integrity_recorded_files', ?2)",
                params![now, recorded.to_string()],
            )?;
        }
    }
    tx.commit()?;
    Ok(recorded)
}

/// What the recorded verifications found.
pub fn integrity(conn: &Connection) -> rusqlite::Result<IntegritySummary> {
    let meta = |key: &str| -> rusqlite::Result<Option<i64>> {
        Ok(super::meta::get(conn, key)?.and_then(|v| v.parse().ok()))
    };
    let mut stmt =
        conn.prepare("SELECT file_key, status, events FROM integrity_flags ORDER BY file_key")?;
    let flagged = stmt
        .query_map([], |r| {
            Ok(FlaggedFile {
                key: r.get(0)?,
                status: r.get(1)?,
                events: r.get::<_, i64>(2)? as u64,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(IntegritySummary {
        last_recorded_at: meta("integrity_recorded_at")?.map(from_seconds),
        last_recorded_files: meta("integrity_recorded_files")?.unwrap_or(0) as u64,
        flagged,
    })
}

/// Of `event_ids`, those that came from a flagged file, with its status.
pub fn integrity_marks(
    conn: &Connection,
    event_ids: &[String],
) -> rusqlite::Result<HashMap<String, String>> {
    let mut marks = HashMap::new();
    let mut stmt = conn.prepare_cached(
        "SELECT f.status FROM integrity_marks m JOIN integrity_flags f ON f.file_key = m.file_key WHERE m.event_id = ?1 LIMIT 1",
    )?;
    for id in event_ids {
        if let Some(status) = stmt.query_row([id], |r| r.get::<_, String>(0)).optional()? {
            marks.insert(id.clone(), status);
        }
    }
    Ok(marks)
}

pub fn ledger(conn: &Connection, filter: LedgerFilter) -> rusqlite::Result<Vec<LedgerEntry>> {
    let sql = match filter {
        LedgerFilter::All => format!("SELECT {LEDGER_COLUMNS} FROM files_keyed ORDER BY id"),
        LedgerFilter::Failed => {
            format!("SELECT {LEDGER_COLUMNS} FROM files_keyed WHERE outcome = 'failed' ORDER BY id")
        }
    };
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([], ledger_row)?;
    rows.collect()
}

pub fn ledger_entry(conn: &Connection, key: &str) -> rusqlite::Result<LedgerEntry> {
    conn.query_row(
        &format!("SELECT {LEDGER_COLUMNS} FROM files_keyed WHERE key_hash = ?2 AND key = ?1"),
        params![key, key_hash(key)],
        ledger_row,
    )
}

/// For each `(key, version)`, whether the ledger holds it as loaded with that
/// version: one lookup by key each, through the ledger's index of key hashes.
///
/// The lookups visit the whole ledger once, scattered through the file: they
/// read through SQLite's bounded page cache rather than the reader's memory map,
/// which would leave hundreds of MB of the file mapped into the process.
pub fn loaded_already(
    conn: &Connection,
    files: &[(String, String)],
) -> rusqlite::Result<Vec<bool>> {
    let empty: bool =
        conn.query_row("SELECT NOT EXISTS (SELECT 1 FROM files)", [], |r| r.get(0))?;
    if empty {
        return Ok(vec![false; files.len()]);
    }
    let mmap: i64 = conn.query_row("PRAGMA mmap_size", [], |r| r.get(0))?;
    conn.execute_batch("PRAGMA mmap_size = 0")?;
    let found = {
        let mut stmt = conn.prepare_cached(
            "SELECT version = ?2 AND outcome = 'loaded' FROM files_keyed
             WHERE key_hash = ?3 AND key = ?1",
        )?;
        files
            .iter()
            .map(|(key, version)| {
                stmt.query_row(params![key, version, key_hash(key)], |r| {
                    r.get::<_, bool>(0)
                })
                .optional()
                .map(|found| found.unwrap_or(false))
            })
            .collect()
    };
    conn.execute_batch(&format!("PRAGMA mmap_size = {mmap}"))?;
    found
}

/// For each `(key, version)`, in order, the SHA-256 (hex) of the file's
/// content the ledger keeps for that version (schema 27: kept when `ctt ingest
/// --verify` loaded it), if any. Looked up one by one, as
/// [`loaded_already`] does.
pub fn file_hashes(
    conn: &Connection,
    files: &[(String, String)],
) -> rusqlite::Result<Vec<Option<String>>> {
    let mut stmt = conn.prepare_cached(
        "SELECT sha256 FROM files_keyed WHERE key_hash = ?3 AND key = ?1 AND version = ?2",
    )?;
    files
        .iter()
        .map(|(key, version)| {
            stmt.query_row(params![key, version, key_hash(key)], |r| {
                r.get::<_, Option<Vec<u8>>>(0)
            })
            .optional()
            .map(|found| found.flatten().map(hex::encode))
        })
        .collect()
}

/// Whether the event of an eventID (`?2`, its [`key_hash`] `?1`) is stored.
pub const FIND_EVENT: &str =
    "SELECT 1 FROM events WHERE ctt_key_hash(event_id) = ?1 AND ctt_id_text(event_id) = ?2";

/// The ledger's hash of a file's key (schema 26), by which `files` finds it:
/// the first 8 bytes of its SHA-256, big-endian; and of an eventID, by which
/// `events_by_id` finds its event (schema 37). Fixed for good: stored rows
/// and indexes were hashed with it.
pub fn key_hash(key: &str) -> i64 {
    let digest = Sha256::digest(key.as_bytes());
    i64::from_be_bytes(
        digest[..8]
            .try_into()
            .expect("a SHA-256 digest has 32 bytes"),
    )
}

/// An eventID as `events`, `events_by_name` and a resource's touches hold
/// it (schemas 44, 40 and 41): a canonical one — a UUID in lowercase hex
/// with its four hyphens, as CloudTrail writes them — as its 16 bytes (a
/// BLOB); any other as its text. [`id_text`] (SQL's `ctt_id_text`) and
/// [`StoredId`] read it back. A canonical UUID's bytes sort as its text
/// does, but SQLite sorts any text before any BLOB: what orders events by
/// eventID orders them by `ctt_id_text(event_id)`.
pub fn id_bytes(event_id: &str) -> rusqlite::types::ToSqlOutput<'_> {
    use rusqlite::types::{ToSqlOutput, Value, ValueRef};
    // `Uuid` also reads upper case, braces and no hyphens: those stay text,
    // so that the text read back is the text stored.
    let canonical = event_id.len() == 36 && !event_id.bytes().any(|b| b.is_ascii_uppercase());
    match uuid::Uuid::try_parse(event_id) {
        Ok(uuid) if canonical => ToSqlOutput::Owned(Value::Blob(uuid.as_bytes().to_vec())),
        _ => ToSqlOutput::Borrowed(ValueRef::Text(event_id.as_bytes())),
    }
}

/// An eventID as [`id_bytes`] stored it, as its text.
pub fn id_text(
    stored: rusqlite::types::ValueRef<'_>,
) -> rusqlite::types::FromSqlResult<std::borrow::Cow<'_, str>> {
    use rusqlite::types::{FromSqlError, ValueRef};
    use std::borrow::Cow;
    match stored {
        ValueRef::Text(text) => std::str::from_utf8(text)
            .map(Cow::Borrowed)
            .map_err(|e| FromSqlError::Other(Box::new(e))),
        ValueRef::Blob(bytes) => uuid::Uuid::from_slice(bytes)
            .map(|uuid| Cow::Owned(uuid.hyphenated().to_string()))
            .map_err(|e| FromSqlError::Other(Box::new(e))),
        _ => Err(FromSqlError::InvalidType),
    }
}

/// An eventID as [`id_bytes`] stored it, read back whole: `row.get::<_,
/// StoredId>(i)?.0`.
pub struct StoredId(pub String);

impl rusqlite::types::FromSql for StoredId {
    fn column_result(
        stored: rusqlite::types::ValueRef<'_>,
    ) -> rusqlite::types::FromSqlResult<Self> {
        id_text(stored).map(|id| Self(id.into_owned()))
    }
}

/// Registers on `conn`: `ctt_key_hash(key)` ([`key_hash`], for migration
/// 26 and `events_by_id`, which every write to `events` keeps; of an
/// eventID's text, whichever form the row holds), `ctt_id_bytes(event_id)`
/// ([`id_bytes`], for `events_by_name`; a BLOB stays as it is),
/// `ctt_id_text(event_id)` ([`id_text`]),
/// `ctt_key_dir(key)` ([`split_key`]'s folder, for migration 29),
/// `ctt_stored_name(folder, name)` and `ctt_stored_version(size, version)`
/// (for migration 32), and `ctt_file_name(folder, stored)` ([`full_name`])
/// and `ctt_file_version(size, stored)` ([`full_version`]), which the
/// `files_keyed` view reads keys and versions with.
pub fn register_key_functions(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    fn text_of<'a>(
        ctx: &'a rusqlite::functions::Context<'_>,
    ) -> rusqlite::Result<std::borrow::Cow<'a, str>> {
        id_text(ctx.get_raw(0)).map_err(|e| rusqlite::Error::UserFunctionError(Box::new(e)))
    }
    conn.create_scalar_function("ctt_key_hash", 1, flags, |ctx| Ok(key_hash(&text_of(ctx)?)))?;
    conn.create_scalar_function("ctt_id_bytes", 1, flags, |ctx| {
        use rusqlite::types::{ToSqlOutput, Value, ValueRef};
        Ok(match ctx.get_raw(0) {
            ValueRef::Blob(bytes) => Value::Blob(bytes.to_vec()),
            stored => match id_bytes(stored.as_str()?) {
                ToSqlOutput::Owned(value) => value,
                _ => Value::Text(ctx.get(0)?),
            },
        })
    })?;
    conn.create_scalar_function(
        "ctt_id_text",
        1,
        flags,
        |ctx| Ok(text_of(ctx)?.into_owned()),
    )?;
    conn.create_scalar_function("ctt_key_dir", 1, flags, |ctx| {
        Ok(split_key(&ctx.get::<String>(0)?).0.to_owned())
    })?;
    conn.create_scalar_function("ctt_stored_name", 2, flags, |ctx| {
        let (dir, name) = (ctx.get::<String>(0)?, ctx.get::<String>(1)?);
        Ok(stored_name(&dir, &name).into_owned())
    })?;
    conn.create_scalar_function("ctt_stored_version", 2, flags, |ctx| {
        let (size, version) = (ctx.get::<i64>(0)?, ctx.get::<String>(1)?);
        Ok(stored_version(size, &version))
    })?;
    conn.create_scalar_function("ctt_file_version", 2, flags, |ctx| {
        full_version(ctx.get::<i64>(0)?, ctx.get_raw(1))
    })?;
    conn.create_scalar_function("ctt_file_name", 2, flags, |ctx| {
        let (dir, stored) = (ctx.get::<String>(0)?, ctx.get::<String>(1)?);
        Ok(full_name(&dir, &stored).into_owned())
    })
}

/// A file's name as the ledger stores it (schema 32): a CloudTrail log's name
/// without what its folder `…/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/` already
/// says — `ACCOUNT_CloudTrail_REGION_YYYYMMDD` before, `.json.gz` after —
/// behind a `/`, which no file name holds (~49 bytes a log); any other name
/// as it is. [`full_name`] reads it back.
pub fn stored_name<'a>(dir: &str, name: &'a str) -> std::borrow::Cow<'a, str> {
    let middle = cloudtrail_prefix(dir).and_then(|prefix| {
        name.strip_prefix(prefix.as_str())?
            .strip_suffix(".json.gz")
            .map(|middle| format!("/{middle}"))
    });
    middle.map_or(std::borrow::Cow::Borrowed(name), std::borrow::Cow::Owned)
}

/// A name [`stored_name`] kept in folder `dir`, whole again.
pub fn full_name<'a>(dir: &str, stored: &'a str) -> std::borrow::Cow<'a, str> {
    match (stored.strip_prefix('/'), cloudtrail_prefix(dir)) {
        (Some(middle), Some(prefix)) => format!("{prefix}{middle}.json.gz").into(),
        _ => stored.into(),
    }
}

/// `ACCOUNT_CloudTrail_REGION_YYYYMMDD`, the start of the names of the logs
/// a folder `…/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/` holds.
fn cloudtrail_prefix(dir: &str) -> Option<String> {
    let mut up = dir.strip_suffix('/')?.rsplit('/');
    let (d, m, y) = (up.next()?, up.next()?, up.next()?);
    let (region, trail, account) = (up.next()?, up.next()?, up.next()?);
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let named = !account.is_empty() && !region.is_empty() && !region.contains('_');
    (trail == "CloudTrail" && named && digits(y, 4) && digits(m, 2) && digits(d, 2))
        .then(|| format!("{account}_CloudTrail_{region}_{y}{m}{d}"))
}

/// A file's version as the ledger stores it (schema 32): a local file's
/// `SIZE:MTIME_NANOS` whose size is the entry's own as the number after the
/// colon, in 8 bytes (a BLOB: the column's text affinity would turn an
/// integer back into text; ~15 bytes a file saved); any other (an S3 ETag)
/// as it is. [`full_version`] reads it back.
pub fn stored_version(size: i64, version: &str) -> rusqlite::types::Value {
    let mtime = version
        .strip_prefix(&format!("{size}:"))
        .and_then(|rest| rest.parse::<i64>().ok().filter(|n| n.to_string() == rest));
    match mtime {
        Some(n) => rusqlite::types::Value::Blob(n.to_be_bytes().to_vec()),
        None => rusqlite::types::Value::Text(version.to_owned()),
    }
}

/// A version [`stored_version`] kept for an entry of `size` bytes, whole.
pub fn full_version(size: i64, stored: rusqlite::types::ValueRef<'_>) -> rusqlite::Result<String> {
    use rusqlite::types::ValueRef;
    match stored {
        ValueRef::Blob(bytes) => {
            let mtime = <[u8; 8]>::try_from(bytes)
                .map(i64::from_be_bytes)
                .map_err(|_| {
                    rusqlite::Error::UserFunctionError("a version blob holds 8 bytes".into())
                })?;
            Ok(format!("{size}:{mtime}"))
        }
        other => Ok(other.as_str()?.to_owned()),
    }
}

/// A file's key as the ledger keeps it (schema 29): its folder, up to and
/// including the last `/` (empty without one), and its name.
pub fn split_key(key: &str) -> (&str, &str) {
    key.split_at(key.rfind('/').map_or(0, |slash| slash + 1))
}

/// The ids of the texts a table keeps once each (`file_dirs`' folders,
/// `user_agents`, `accounts`, and the names of schema 46), each added when first seen: a writer's transaction's
/// cache.
pub struct Interned<'c> {
    ids: FxHashMap<String, i64>,
    add: rusqlite::CachedStatement<'c>,
    find: rusqlite::CachedStatement<'c>,
}

impl<'c> Interned<'c> {
    /// `table` is `file_dirs` (texts in `path`), or one whose texts are in
    /// `text`: `user_agents`, `accounts`, `user_names`, `service_names`,
    /// `event_names`.
    pub fn new(tx: &'c Connection, table: &str) -> rusqlite::Result<Self> {
        let column = if table == "file_dirs" { "path" } else { "text" };
        Ok(Self {
            ids: FxHashMap::default(),
            add: tx.prepare_cached(&format!(
                "INSERT OR IGNORE INTO {table} ({column}) VALUES (?1)"
            ))?,
            find: tx.prepare_cached(&format!("SELECT id FROM {table} WHERE {column} = ?1"))?,
        })
    }

    pub fn id(&mut self, text: &str) -> rusqlite::Result<i64> {
        if let Some(&id) = self.ids.get(text) {
            return Ok(id);
        }
        self.add.execute([text])?;
        let id = self.find.query_row([text], |r| r.get(0))?;
        self.ids.insert(text.to_owned(), id);
        Ok(id)
    }
}

#[cfg(test)]
mod name_tests {
    use super::*;

    /// Issue "Scale" (disk): a stored name reads back as the name it was,
    /// whatever the name and its folder.
    #[test]
    fn a_stored_name_reads_back_whole() {
        let log = "/t/AWSLogs/111122223333/CloudTrail/us-east-1/2018/03/01/";
        let org = "s3://b/AWSLogs/o-abc/111122223333/CloudTrail/us-east-1/2018/03/01/";
        let cases = [
            (
                log,
                "111122223333_CloudTrail_us-east-1_20180301T1005Z_abcdEFGH.json.gz",
                "/T1005Z_abcdEFGH",
            ),
            (
                org,
                "111122223333_CloudTrail_us-east-1_20180301T1005Z_x.json.gz",
                "/T1005Z_x",
            ),
            (
                log,
                "111122223333_CloudTrail_us-east-1_20180301.json.gz",
                "/",
            ),
            (
                log,
                "111122223333_CloudTrail_us-east-1_20180302T1005Z_a.json.gz",
                "",
            ),
            (
                log,
                "111122223333_CloudTrail_us-east-1_20180301T1005Z_a.json",
                "",
            ),
            (log, "notes.txt", ""),
            (
                "/t/AWSLogs/1/CloudTrail-Digest/us-east-1/2018/03/01/",
                "1_CloudTrail-Digest_x.json.gz",
                "",
            ),
            ("/t/2018/03/01/", "a.json.gz", ""),
            ("", "a.json.gz", ""),
        ];
        for (dir, name, short) in cases {
            let stored = stored_name(dir, name);
            let expected = if short.is_empty() { name } else { short };
            assert_eq!(stored, expected, "{dir}{name}");
            assert_eq!(full_name(dir, &stored), name, "{dir}{name}");
        }
    }

    #[test]
    fn a_local_version_is_stored_as_its_modification_time() {
        use rusqlite::types::Value;
        let stored = stored_version(120, "120:1519900000123456789");
        assert_eq!(
            stored,
            Value::Blob(1519900000123456789i64.to_be_bytes().to_vec())
        );
        let read = full_version(120, rusqlite::types::ValueRef::from(&stored)).expect("read");
        assert_eq!(read, "120:1519900000123456789");
        for (size, version) in [
            (120, "121:1"),
            (120, "120:007"),
            (120, "120:x"),
            (1, "\"etag\""),
            (1, "1:"),
        ] {
            assert_eq!(
                stored_version(size, version),
                Value::Text(version.to_owned())
            );
        }
    }
}
