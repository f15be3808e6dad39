//! The minimal writer (issue "Scale"): what storing the same events costs
//! with nothing else. Lists, fetches, decompresses and parses every record
//! on all cores but one, keeps those the default filter keeps (normalised and
//! redacted like `ctt ingest`'s), and one thread inserts them into a fresh
//! SQLite file: the same `events` columns and the same record text in
//! `records`, compressed as ctt compresses it (ctt's zstd level with a
//! dictionary of ctt's size trained on the first 4,000 records, one byte
//! naming it before each frame; by the parsing threads once the dictionary
//! is trained, as ctt's are, and by the writer before), the eventID index
//! kept while loading (for idempotence: of the eventID's hash, each event
//! looked up before it is stored, as ctt does)
//! and the four query indexes built at the end — as `ctt ingest`'s bulk load
//! does — with its pragmas. No parameters, catalog, counters, resources,
//! anomalies, rules or ledger. `bench/scale.py` compares `ctt ingest` with it.
//!
//! `cargo run --release -p ctt-ingest --example minimal_writer -- DB DIR…`
//! prints one JSON line.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{OnceLock, mpsc};
use std::time::Instant;

use ctt_core::{Filter, RecordHead, normalise};
use ctt_ingest::read::{DEFAULT_MAX_FILE_BYTES, decompress, parse};
use ctt_ingest::{FileKind, LocalSource, Source};
use ctt_store::sqlite::{self, DICTIONARY_BYTES, RECORD_LEVEL};
use rusqlite::{Connection, params};

const SCHEMA: &str = "
PRAGMA page_size = 16384;
PRAGMA journal_mode = TRUNCATE;
PRAGMA synchronous = OFF;
PRAGMA cache_size = -262144;
PRAGMA temp_store = MEMORY;
CREATE TABLE events (
    seq                  INTEGER PRIMARY KEY,
    event_id             TEXT NOT NULL,
    event_time           INTEGER NOT NULL,
    event_name           INTEGER NOT NULL,
    event_source         TEXT NOT NULL,
    service              INTEGER NOT NULL,
    user                 INTEGER NOT NULL,
    identity_type        TEXT,
    role                 INTEGER,
    account_id           TEXT,
    recipient_account_id TEXT,
    aws_region           TEXT,
    source_ip_address    TEXT,
    user_agent           TEXT,
    error_code           TEXT,
    error_message        TEXT,
    read_only            INTEGER,
    event_type           TEXT,
    user_agent_id        INTEGER,
    account_ref          INTEGER
);
CREATE INDEX events_by_id ON events (ctt_key_hash(event_id));
CREATE TABLE user_agents (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
CREATE TABLE accounts (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
CREATE TABLE user_names (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
CREATE TABLE service_names (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
CREATE TABLE event_names (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
CREATE TABLE records (seq INTEGER PRIMARY KEY, record TEXT NOT NULL);
";

const QUERY_INDEXES: &str = "
CREATE INDEX events_by_time ON events (event_time);
CREATE INDEX events_by_user ON events (user, event_time);
CREATE INDEX events_by_service ON events (service, event_time);
CREATE INDEX events_by_name ON events (event_name, event_time, ctt_id_bytes(event_id), service, user, error_code);
";

/// Events per transaction.
const BATCH: usize = 20_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let db = PathBuf::from(args.next().ok_or("usage: minimal_writer DB DIR…")?);
    let roots: Vec<PathBuf> = args.map(PathBuf::from).collect();
    let started = Instant::now();
    let files: Vec<_> = LocalSource::list(&roots, None, None)?
        .into_iter()
        .filter(|f| f.kind == FileKind::Log)
        .collect();
    let filter = Filter::default();
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (sender, receiver) = mpsc::sync_channel::<Vec<(ctt_core::Event, Record)>>(256);
    // Trained by the writer on its first batch; the parsing threads compress
    // with it from then on.
    let dictionary = OnceLock::<Vec<u8>>::new();
    let mut conn = Connection::open(&db)?;
    sqlite::register_key_functions(&conn)?;
    conn.execute_batch(SCHEMA)?;
    let stored = std::thread::scope(|scope| -> rusqlite::Result<u64> {
        for _ in 0..workers {
            let sender = sender.clone();
            let (files, next, filter, dictionary) = (&files, &next, &filter, &dictionary);
            scope.spawn(move || {
                let mut compressor = None;
                while let Some(file) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if compressor.is_none()
                        && let Some(dictionary) = dictionary.get()
                    {
                        compressor = Some(compressor_of(dictionary));
                    }
                    let Ok(data) = LocalSource.fetch(file) else {
                        continue;
                    };
                    let Ok(text) = decompress(&data, DEFAULT_MAX_FILE_BYTES) else {
                        continue;
                    };
                    let Ok(parsed) = parse(&text) else { continue };
                    let mut kept = Vec::new();
                    for record in parsed.records {
                        if RecordHead::parse(record.get()).is_some_and(|h| filter.drops_head(&h)) {
                            continue;
                        }
                        let Ok(value) = serde_json::from_str(record.get()) else {
                            continue;
                        };
                        if !filter.keeps_record(&value) {
                            continue;
                        }
                        let Ok(mut event) = normalise(value) else {
                            continue;
                        };
                        let mut record = std::mem::take(&mut event.record);
                        // Without what the columns hold, as ctt stores it.
                        ctt_store::held::leave_out(&mut record, &event);
                        let Ok(json) = serde_json::to_string(&record) else {
                            continue;
                        };
                        let record = match &mut compressor {
                            Some(compressor) => Record::Compressed(compress(compressor, &json)),
                            None => Record::Text(json),
                        };
                        kept.push((event, record));
                    }
                    if sender.send(kept).is_err() {
                        return;
                    }
                }
            });
        }
        drop(sender);
        let mut stored = 0;
        let mut pending = Vec::new();
        let mut compressor: Option<zstd::bulk::Compressor<'static>> = None;
        let mut write = |batch: &mut Vec<(ctt_core::Event, Record)>| -> rusqlite::Result<u64> {
            let compressor = match &mut compressor {
                Some(compressor) => compressor,
                None => {
                    let samples: Vec<&str> = batch
                        .iter()
                        .filter_map(|(_, r)| match r {
                            Record::Text(json) => Some(json.as_str()),
                            Record::Compressed(_) => None,
                        })
                        .take(4_000)
                        .collect();
                    let total = samples.iter().map(|s| s.len()).sum::<usize>();
                    let trained = zstd::dict::from_samples(&samples, total.min(DICTIONARY_BYTES))
                        .unwrap_or_else(|_| samples.concat().into_bytes());
                    compressor.insert(compressor_of(dictionary.get_or_init(|| trained)))
                }
            };
            let tx = conn.transaction()?;
            let mut inserted = 0;
            {
                let mut find = tx.prepare_cached(sqlite::FIND_EVENT)?;
                let mut event = tx.prepare_cached(
                    "INSERT INTO events (event_id, event_time, event_name, event_source,
                        service, user, identity_type, role, account_ref, recipient_account_id,
                        aws_region, source_ip_address, user_agent_id, error_code, error_message,
                        read_only, event_type)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
                )?;
                let mut record =
                    tx.prepare_cached("INSERT INTO records (seq, record) VALUES (?1, ?2)")?;
                // User agents, accounts and names kept once each, as ctt keeps them.
                let mut agents = sqlite::Interned::new(&tx, "user_agents")?;
                let mut accounts = sqlite::Interned::new(&tx, "accounts")?;
                let mut users = sqlite::Interned::new(&tx, "user_names")?;
                let mut services = sqlite::Interned::new(&tx, "service_names")?;
                let mut names = sqlite::Interned::new(&tx, "event_names")?;
                for (e, stored) in batch.drain(..) {
                    if find.exists(params![sqlite::key_hash(&e.event_id), e.event_id])? {
                        continue;
                    }
                    let agent = e.user_agent.as_deref().map(|a| agents.id(a)).transpose()?;
                    let account = e
                        .account_id
                        .as_deref()
                        .map(|a| accounts.id(a))
                        .transpose()?;
                    let role = sqlite::stored_role(&e.user, e.role.as_deref(), |r| users.id(r))?;
                    event.execute(params![
                        sqlite::id_bytes(&e.event_id),
                        e.event_time.timestamp(),
                        names.id(&e.event_name)?,
                        // As ctt stores it.
                        sqlite::stored_event_source(&e.event_source, &e.service),
                        services.id(&e.service)?,
                        users.id(&e.user)?,
                        sqlite::coded(e.identity_type.as_deref(), sqlite::IDENTITY_TYPES),
                        role,
                        account,
                        sqlite::stored_recipient(
                            e.account_id.as_deref(),
                            e.recipient_account_id.as_deref()
                        ),
                        sqlite::coded(e.aws_region.as_deref(), sqlite::REGIONS),
                        sqlite::stored_ip(e.source_ip_address.as_deref()),
                        agent,
                        e.error_code,
                        e.error_message,
                        e.read_only,
                        sqlite::coded(e.event_type.as_deref(), sqlite::EVENT_TYPES),
                    ])?;
                    let blob = match stored {
                        Record::Compressed(blob) => blob,
                        Record::Text(json) => compress(compressor, &json),
                    };
                    record.execute(params![tx.last_insert_rowid(), blob])?;
                    inserted += 1;
                }
            }
            tx.commit()?;
            Ok(inserted)
        };
        for kept in receiver {
            pending.extend(kept);
            if pending.len() >= BATCH {
                stored += write(&mut pending)?;
            }
        }
        stored += write(&mut pending)?;
        Ok(stored)
    })?;
    conn.execute_batch(QUERY_INDEXES)?;
    println!(
        "{{\"files\":{},\"stored\":{},\"seconds\":{:.3}}}",
        files.len(),
        stored,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A kept record's text, or the store's form of it once compressed.
enum Record {
    Text(String),
    Compressed(Vec<u8>),
}

fn compressor_of(dictionary: &[u8]) -> zstd::bulk::Compressor<'static> {
    let mut c =
        zstd::bulk::Compressor::with_dictionary(RECORD_LEVEL, dictionary).expect("dictionary");
    let _ = c.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(false));
    let _ = c.set_parameter(zstd::zstd_safe::CParameter::DictIdFlag(false));
    c
}

/// The dictionary's byte (1), then one zstd frame.
fn compress(compressor: &mut zstd::bulk::Compressor<'static>, json: &str) -> Vec<u8> {
    let mut blob = vec![0; 1 + zstd::zstd_safe::compress_bound(json.len())];
    blob[0] = 1;
    let n = compressor
        .compress_to_buffer(json.as_bytes(), &mut blob[1..])
        .expect("compress");
    blob.truncate(1 + n);
    blob
}
