//! Stored records, compressed with a dictionary trained on the account's own
//! records (schema 21).
//!
//! A stored record (table `records`, and `alert_records`) is the redacted
//! JSON text until the store has stored [`SqliteOptions::dictionary_after`]
//! records. Then a zstd dictionary is trained on the latest of them and kept
//! in `record_dictionaries`, and every record stored afterwards is a BLOB:
//! one byte naming its dictionary, then one zstd frame (its size recorded; no
//! checksum, no dictionary id — the byte names it). CloudTrail records repeat
//! their keys, ARNs, account ids and user agents from one record to the next
//! but a single record is too short to find them in itself: with the
//! dictionary a record of ~1.6 KB takes ~230 bytes, without one ~870.
//!
//! A load into a store without a dictionary commits a first batch of
//! `dictionary_after` records (`EventStore::records_before_codec`), so the
//! dictionary is trained early and the parsing threads compress the rest.
//! Those first records are the account's first days: once the store holds
//! [`SqliteOptions::dictionary_again_after`] more, it trains a second and
//! last dictionary on records spread over those it holds, for the records after.
//!
//! Dictionaries are never changed nor deleted, so a row is readable by any
//! connection that can see it. Readers see text either way: in SQL through
//! `ctt_record(record)` (every statement that reads a record does), in Rust
//! through [`Decoder::text`]. The records stored as text before the
//! dictionary are compressed with it when they are few (a new store's first
//! batches); a store upgraded from schema 20 keeps its older records as text.
//!
//! [`SqliteOptions::dictionary_after`]: super::SqliteOptions::dictionary_after
//! [`SqliteOptions::dictionary_again_after`]: super::SqliteOptions::dictionary_again_after

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, OpenFlags, params};
use zstd::dict::DecoderDictionary;
use zstd::zstd_safe;

use crate::{RecordJson, StoredRecord};

/// [`SqliteOptions::dictionary_after`](super::SqliteOptions::dictionary_after)'s
/// default: enough records to learn from (the training reads the latest
/// [`SAMPLES`] of them), few enough that nearly all of a store is compressed.
pub const DEFAULT_DICTIONARY_AFTER: u64 = 4_000;

/// [`SqliteOptions::dictionary_again_after`](super::SqliteOptions::dictionary_again_after)'s
/// default. A first load commits a first batch of just
/// [`DEFAULT_DICTIONARY_AFTER`] records to train on (`records_before_codec`),
/// and those are a store's first days: on the four years of the `paper`
/// preset, a dictionary of them alone kept 340 bytes a record where one of
/// later records keeps 269. So a store trains a second dictionary once, on
/// records spread over those it holds, when it holds this many more.
pub const DEFAULT_DICTIONARY_AGAIN_AFTER: u64 = 80_000;

/// Records a dictionary is trained on, spread evenly over those stored
/// (every `max(seq) / SAMPLES`th): the first dictionary's are a first load's
/// first records; the second's span the store's first ~84,000. The latest
/// 4,000 (a few days of an account) gave a second dictionary that kept 215 to
/// 253 bytes a record on the `paper` preset from one load to the next, as its
/// batches fell; spread, 229 and 232.
const SAMPLES: i64 = 4_000;

/// The dictionary's size at most, with [`LEVEL`]. Measured on records of
/// both presets (a dictionary trained as a store trains its second, the
/// records after compressed one by one): level 5 with 128 KiB keeps 160
/// bytes a record on `scale` and 143 on `paper`, where level 3 with 64 KiB
/// (before 2026-12-05) kept 180 and 159 — for ~5 µs more a record, spent on
/// the parsing threads. At level 5, 256 KiB keeps 164 and 145; at level 4,
/// 128 KiB keeps 166 and 147; level 6 gains ~1% more for twice the time.
pub const DICTIONARY_BYTES: usize = 128 * 1024;

/// zstd's level of a record's compression (see [`DICTIONARY_BYTES`]).
pub const LEVEL: i32 = 5;

/// zstd's level for the record of an alert on an event not stored
/// ([`RecordEncoder::encode_alert_record`]): detection's own cost, which
/// SigmaHQ's two hunting rules pay on a quarter of the `paper` preset's
/// records, where level 5 would take ~5 µs more each for ~16 bytes.
const ALERT_LEVEL: i32 = 3;

/// A new dictionary compresses the records stored as text before it when
/// there are at most this many: a new store's first batches (a bulk load
/// commits ~20,000 records before the first look). A store upgraded from
/// schema 20 keeps its older records as text: rewriting millions of them
/// would stall its first load for minutes.
const RECOMPRESS_AT_MOST: i64 = 100_000;

/// A frame that says it inflates to more than this is refused rather than
/// allocated (no record the loader accepts is near it).
const LARGEST_RECORD: u64 = 1 << 30;

thread_local! {
    /// Each thread's decompression context, reused from one record to the
    /// next (creating one allocates ~100 KiB).
    static CONTEXT: RefCell<zstd_safe::DCtx<'static>> = RefCell::new(zstd_safe::DCtx::create());
}

/// Turns stored records back into text. Shared by the store's connections:
/// it loads each dictionary once, from the database, when a record first
/// needs it.
pub struct Decoder {
    path: PathBuf,
    dictionaries: RwLock<HashMap<u8, Arc<DecoderDictionary<'static>>>>,
}

impl Decoder {
    /// The decoder of the database at `path`.
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            dictionaries: RwLock::new(HashMap::new()),
        }
    }

    /// A stored record's text (`None` for SQL NULL).
    pub fn text<'a>(&self, stored: ValueRef<'a>) -> io::Result<Option<Cow<'a, str>>> {
        match stored {
            ValueRef::Null => Ok(None),
            ValueRef::Text(text) => std::str::from_utf8(text)
                .map(|t| Some(Cow::Borrowed(t)))
                .map_err(invalid),
            ValueRef::Blob(blob) => self.inflate(blob).map(|t| Some(Cow::Owned(t))),
            other => Err(invalid(format!(
                "a stored record is {:?}, not text or compressed text",
                other.data_type()
            ))),
        }
    }

    fn inflate(&self, blob: &[u8]) -> io::Result<String> {
        let (&id, frame) = blob
            .split_first()
            .ok_or_else(|| invalid("an empty compressed record"))?;
        inflate(frame, &*self.dictionary(id)?)
    }

    fn dictionary(&self, id: u8) -> io::Result<Arc<DecoderDictionary<'static>>> {
        if let Some(found) = self.read_lock().get(&id) {
            return Ok(Arc::clone(found));
        }
        // Not loaded yet: read them all, on a connection of our own (this may
        // run inside a statement of another).
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(io::Error::other)?;
        // As patient as the store's own connections with a writer's lock.
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(io::Error::other)?;
        let loaded = read_dictionaries(&conn).map_err(io::Error::other)?;
        let mut dictionaries = self
            .dictionaries
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for (loaded_id, bytes) in loaded {
            dictionaries
                .entry(loaded_id)
                .or_insert_with(|| Arc::new(DecoderDictionary::copy(&bytes)));
        }
        dictionaries.get(&id).cloned().ok_or_else(|| {
            invalid(format!(
                "record dictionary {id} is not in the database: the record cannot be read"
            ))
        })
    }

    fn read_lock(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, HashMap<u8, Arc<DecoderDictionary<'static>>>> {
        self.dictionaries
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One frame of a compressed record back to text, with its dictionary.
fn inflate(frame: &[u8], dictionary: &DecoderDictionary<'_>) -> io::Result<String> {
    let size = match zstd_safe::get_frame_content_size(frame) {
        Ok(Some(size)) if size <= LARGEST_RECORD => size as usize,
        Ok(Some(size)) => {
            return Err(invalid(format!(
                "a compressed record says it holds {size} bytes"
            )));
        }
        _ => return Err(invalid("a compressed record has no valid frame header")),
    };
    let mut text = Vec::with_capacity(size);
    CONTEXT
        .with_borrow_mut(|context| {
            context.decompress_using_ddict(&mut text, frame, dictionary.as_ddict())
        })
        .map_err(|code| invalid(zstd_safe::get_error_name(code)))?;
    String::from_utf8(text).map_err(invalid)
}

fn read_dictionaries(conn: &Connection) -> rusqlite::Result<Vec<(u8, Vec<u8>)>> {
    let mut stmt = conn.prepare("SELECT id, dictionary FROM record_dictionaries ORDER BY id")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

fn invalid(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// A store's record dictionary, handed to the threads that parse a load's
/// records: each compresses the records it keeps with a [`RecordEncoder`] of
/// its own, and the single writer stores what they compressed (a load's
/// writer is its critical path, the parsing threads are many).
#[derive(Clone)]
pub struct RecordCodec(Arc<Dictionary>);

struct Dictionary {
    id: u8,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for RecordCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RecordCodec").field(&self.0.id).finish()
    }
}

impl RecordCodec {
    fn new(id: u8, bytes: Vec<u8>) -> Self {
        Self(Arc::new(Dictionary { id, bytes }))
    }

    /// A compressor of this dictionary, for one thread (building one digests
    /// the dictionary: a thread keeps its own for the whole load).
    pub fn encoder(&self) -> io::Result<RecordEncoder> {
        Ok(RecordEncoder {
            codec: self.clone(),
            compressor: self.compressor(LEVEL)?,
            alerts: None,
        })
    }

    fn compressor(&self, level: i32) -> io::Result<zstd::bulk::Compressor<'static>> {
        let mut compressor = zstd::bulk::Compressor::with_dictionary(level, &self.0.bytes)?;
        compressor.set_parameter(zstd_safe::CParameter::ChecksumFlag(false))?;
        compressor.set_parameter(zstd_safe::CParameter::DictIdFlag(false))?;
        compressor.set_parameter(zstd_safe::CParameter::ContentSizeFlag(true))?;
        Ok(compressor)
    }

    /// Whether `other` is this very codec (the same dictionary in memory).
    pub fn same(&self, other: &RecordCodec) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The text of a record this codec compressed (stored form: the
    /// dictionary's byte, then the frame).
    pub fn decode(&self, blob: &[u8]) -> io::Result<String> {
        match blob.split_first() {
            Some((&id, frame)) if id == self.0.id => {
                inflate(frame, &DecoderDictionary::copy(&self.0.bytes))
            }
            Some((&id, _)) => Err(invalid(format!(
                "a record compressed with dictionary {id}, not {}",
                self.0.id
            ))),
            None => Err(invalid("an empty compressed record")),
        }
    }
}

/// One thread's compressor of a [`RecordCodec`]'s dictionary.
pub struct RecordEncoder {
    codec: RecordCodec,
    compressor: zstd::bulk::Compressor<'static>,
    /// At [`ALERT_LEVEL`], made when first needed.
    alerts: Option<zstd::bulk::Compressor<'static>>,
}

impl std::fmt::Debug for RecordEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RecordEncoder").field(&self.codec).finish()
    }
}

impl RecordEncoder {
    /// The codec this encoder compresses with.
    pub fn codec(&self) -> &RecordCodec {
        &self.codec
    }

    /// `text` as the store keeps it: the dictionary's byte, then one zstd
    /// frame; `None` should compression fail (the text is kept then).
    pub fn encode(&mut self, text: &str) -> Option<Vec<u8>> {
        compress(self.codec.0.id, &mut self.compressor, text)
    }

    /// [`encode`](Self::encode) at [`ALERT_LEVEL`], for the record of an
    /// alert on an event not stored (read back alike).
    pub fn encode_alert_record(&mut self, text: &str) -> Option<Vec<u8>> {
        let compressor = match &mut self.alerts {
            Some(compressor) => compressor,
            None => match self.codec.compressor(ALERT_LEVEL) {
                Ok(built) => self.alerts.insert(built),
                Err(e) => {
                    tracing::warn!(error = %e, "no compressor for alerts' records: stored as text");
                    return None;
                }
            },
        };
        compress(self.codec.0.id, compressor, text)
    }
}

/// Compresses the records the writer stores, once the store has a
/// dictionary; trains it when enough records are stored as text.
pub struct Encoder {
    current: Option<RecordEncoder>,
    /// The dictionaries handed out before `current`: records the parsing
    /// threads compressed with one are stored as they come.
    earlier: Vec<RecordCodec>,
    /// Records stored as text since the last look (or, at open, up to
    /// `train_after` of those in the database).
    uncompressed: u64,
    train_after: u64,
    /// Records stored with the store's first dictionary, while it is its
    /// only one; `None` once it has its second.
    with_first: Option<u64>,
    train_again_after: u64,
}

impl Encoder {
    /// The writer's encoder: the database's latest dictionary, if any.
    pub fn open(
        conn: &Connection,
        train_after: u64,
        train_again_after: u64,
    ) -> rusqlite::Result<Self> {
        let mut encoder = Self {
            current: None,
            earlier: Vec::new(),
            uncompressed: 0,
            train_after,
            with_first: None,
            train_again_after,
        };
        let mut dictionaries = read_dictionaries(conn)?;
        let only_one = dictionaries.len() == 1;
        match dictionaries.pop() {
            Some((id, bytes)) => {
                encoder.current = Some(encoder_of(RecordCodec::new(id, bytes))?);
                if only_one {
                    // The records stored so far, by the highest `seq` (one
                    // lookup: counting them would read the table at every
                    // open of a store that no longer loads).
                    encoder.with_first = Some(conn.query_row(
                        "SELECT coalesce(max(seq), 0) FROM records",
                        [],
                        |r| r.get::<_, i64>(0),
                    )? as u64);
                }
            }
            None => {
                encoder.uncompressed = conn.query_row(
                    "SELECT count(*) FROM (SELECT 1 FROM records LIMIT ?1)",
                    [train_after as i64],
                    |r| r.get::<_, i64>(0),
                )? as u64;
            }
        }
        Ok(encoder)
    }

    /// The store's dictionary, once it has one.
    pub fn codec(&self) -> Option<&RecordCodec> {
        self.current.as_ref().map(RecordEncoder::codec)
    }

    /// What to store for a record's text: compressed when there is a
    /// dictionary (the text itself should compression fail: nothing is lost).
    pub fn encode<'a>(&mut self, text: &'a str) -> ToSqlOutput<'a> {
        let Some(encoder) = &mut self.current else {
            self.uncompressed += 1;
            return ToSqlOutput::from(text);
        };
        match encoder.encode(text) {
            Some(blob) => ToSqlOutput::from(blob),
            None => ToSqlOutput::from(text),
        }
    }

    /// What to store for `record`: as a parsing thread compressed it, with
    /// this store's dictionary; else its text as [`Encoder::encode`] stores
    /// it — a record compressed with another dictionary (not one this store
    /// handed out) is compressed again, never stored unreadable.
    pub fn encode_record<'a>(&mut self, record: &'a StoredRecord) -> ToSqlOutput<'a> {
        if let Some(stored) = &mut self.with_first {
            *stored += 1;
        }
        match record {
            StoredRecord::Json(text) => self.encode(text),
            StoredRecord::Encoded { codec, blob } if self.is_own(codec) => {
                ToSqlOutput::from(blob.as_slice())
            }
            other => self.encode_owned(other.json().into_owned()),
        }
    }

    /// What to store for an alert's record (see [`Encoder::encode_record`]).
    pub fn encode_alert_record<'a>(&mut self, record: &'a RecordJson) -> ToSqlOutput<'a> {
        match record.encoded() {
            Some((codec, blob)) if self.is_own(codec) => ToSqlOutput::from(blob),
            _ => self.encode(record.get()),
        }
    }

    /// Whether `codec` is one this store handed out (the same dictionary
    /// in memory): its latest, or one before.
    fn is_own(&self, codec: &RecordCodec) -> bool {
        self.codec()
            .into_iter()
            .chain(&self.earlier)
            .any(|own| own.same(codec))
    }

    /// [`Encoder::encode`] of a text it owns.
    fn encode_owned(&mut self, text: String) -> ToSqlOutput<'static> {
        let blob = match &mut self.current {
            Some(encoder) => encoder.encode(&text),
            None => {
                self.uncompressed += 1;
                None
            }
        };
        match blob {
            Some(blob) => ToSqlOutput::Owned(Value::Blob(blob)),
            None => ToSqlOutput::Owned(Value::Text(text)),
        }
    }

    /// After a commit: trains the store's dictionary, in a transaction of its
    /// own, if there is none and enough records were stored as text. A
    /// failure is logged and the records stay text (tried again after as
    /// many more).
    ///
    /// Once the store holds [`DEFAULT_DICTIONARY_AGAIN_AFTER`] records more
    /// (its option), trains its second and last dictionary on records spread
    /// over those it holds, for the records after (see the constant).
    pub fn train_if_due(&mut self, conn: &mut Connection) {
        if let Some(current) = &self.current {
            if self
                .with_first
                .is_some_and(|stored| stored >= self.train_again_after)
            {
                self.with_first = None;
                let first = current.codec().clone();
                match train(conn) {
                    Ok(Some(trained)) => {
                        self.earlier.push(first);
                        self.current = Some(trained);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "no second record dictionary: the first is kept");
                    }
                }
            }
            return;
        }
        if self.uncompressed < self.train_after {
            return;
        }
        self.uncompressed = 0;
        match train(conn) {
            Ok(Some(trained)) => {
                self.current = Some(trained);
                self.with_first = Some(0);
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "no record dictionary: records stay uncompressed"),
        }
    }
}

/// The writer's encoder of `codec`.
fn encoder_of(codec: RecordCodec) -> rusqlite::Result<RecordEncoder> {
    codec
        .encoder()
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

/// Compresses `table`'s records stored as text with `encoder`, unless
/// there are more than [`RECOMPRESS_AT_MOST`]; a thousand at a time, each
/// read, deleted and inserted again (an `UPDATE` to a smaller row would
/// leave its page mostly empty: SQLite merges pages on deletes only).
fn recompress(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    key: &str,
    encoder: &mut RecordEncoder,
) -> rusqlite::Result<()> {
    let text_rows: i64 = tx.query_row(
        &format!(
            "SELECT count(*) FROM (SELECT 1 FROM {table} WHERE typeof(record) = 'text' LIMIT ?1)"
        ),
        [RECOMPRESS_AT_MOST + 1],
        |r| r.get(0),
    )?;
    if text_rows > RECOMPRESS_AT_MOST {
        return Ok(());
    }
    let mut select = tx.prepare(&format!(
        "SELECT {key}, record FROM {table} WHERE typeof(record) = 'text' AND {key} > ?1
         ORDER BY {key} LIMIT 1000"
    ))?;
    let mut delete = tx.prepare(&format!("DELETE FROM {table} WHERE {key} = ?1"))?;
    let mut insert = tx.prepare(&format!(
        "INSERT INTO {table} ({key}, record) VALUES (?1, ?2)"
    ))?;
    let mut after = i64::MIN;
    loop {
        let chunk: Vec<(i64, String)> = select
            .query_map([after], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let Some((last, _)) = chunk.last() else {
            return Ok(());
        };
        after = *last;
        for (row, _) in &chunk {
            delete.execute([row])?;
        }
        for (row, text) in &chunk {
            match encoder.encode(text) {
                Some(blob) => insert.execute(params![row, blob])?,
                None => insert.execute(params![row, text])?,
            };
        }
    }
}

/// `text` as stored compressed: the dictionary's id, then the zstd frame.
fn compress(
    id: u8,
    compressor: &mut zstd::bulk::Compressor<'static>,
    text: &str,
) -> Option<Vec<u8>> {
    let mut blob = vec![0; 1 + zstd_safe::compress_bound(text.len())];
    blob[0] = id;
    match compressor.compress_to_buffer(text.as_bytes(), &mut blob[1..]) {
        Ok(n) => {
            blob.truncate(1 + n);
            Some(blob)
        }
        Err(e) => {
            tracing::warn!(error = %e, "a record could not be compressed: stored as text");
            None
        }
    }
}

/// Trains a dictionary on [`SAMPLES`] records spread over those stored and
/// stores it (the writer's connection reads them through `ctt_record`,
/// compressed or not).
fn train(conn: &mut Connection) -> rusqlite::Result<Option<RecordEncoder>> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let samples: Vec<String> = {
        let last: i64 = tx.query_row("SELECT coalesce(max(seq), 0) FROM records", [], |r| {
            r.get(0)
        })?;
        let step = (last / SAMPLES).max(1);
        let mut stmt = tx.prepare(
            "SELECT ctt_record(record) FROM records WHERE seq % ?2 = 0 ORDER BY seq DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([SAMPLES, step], |r| r.get::<_, String>(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let total: usize = samples.iter().map(String::len).sum();
    if samples.is_empty() {
        return Ok(None);
    }
    let capacity = DICTIONARY_BYTES.min(total);
    let dictionary = zstd::dict::from_samples(&samples, capacity).unwrap_or_else(|e| {
        // Too few or too alike to train on: their text itself is a
        // dictionary zstd can use (a "raw content" one).
        tracing::debug!(error = %e, "record dictionary kept as raw content");
        samples.concat().as_bytes()[..capacity].to_vec()
    });
    let next: i64 = tx.query_row(
        "SELECT coalesce(max(id), 0) + 1 FROM record_dictionaries",
        [],
        |r| r.get(0),
    )?;
    let Ok(id) = u8::try_from(next) else {
        return Ok(None);
    };
    let mut encoder = encoder_of(RecordCodec::new(id, dictionary.clone()))?;
    for (table, key) in [("records", "seq"), ("alert_records", "alert")] {
        recompress(&tx, table, key, &mut encoder)?;
    }
    tx.execute(
        "INSERT INTO record_dictionaries (id, dictionary, samples, trained_at)
         VALUES (?1, ?2, ?3, ?4)",
        params![
            id,
            dictionary,
            samples.len() as i64,
            chrono::Utc::now().timestamp()
        ],
    )?;
    tx.commit()?;
    tracing::debug!(
        id,
        bytes = dictionary.len(),
        samples = samples.len(),
        "record dictionary trained"
    );
    Ok(Some(encoder))
}
