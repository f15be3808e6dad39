//! The read path: an [`EventQuery`] becomes one SQL statement.
//!
//! The scope picks the index (user+time, service+time, or eventName+time, else
//! time); every other condition narrows the range. A parameter is answered from
//! its typed column, from `event_params` when indexed, or else by
//! `ctt_has_param(record, name, value)` on the stored record (table `records`) —
//! exact either way.

use std::borrow::Cow;
use std::sync::Arc;

use super::names::{NameCache, Names};
use ctt_core::attributes::{AttributeType, parse_bool, typed_attribute};
use ctt_core::params::{candidate_names, has_value};
use ctt_core::query::Cursor;
use ctt_core::time::{format_event_time, from_seconds, to_seconds, write_event_seconds};
use ctt_core::{EventQuery, EventSummary, GroupBy, Scope};
use rusqlite::functions::FunctionFlags;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params_from_iter};

use super::records::Decoder;
use crate::hourly;
use crate::{
    CatalogEntry, EventDetail, EventPage, GroupCount, PageLayout, StoreStatus, WrittenPage,
};

/// How many stored records one read may examine to match a parameter no
/// index answers (`ctt_has_param`): the work a request can ask for stays
/// bounded (issue "Scale"), and a broader one is refused, naming the
/// parameter, rather than scanning for seconds.
pub mod scan_budget {
    use std::cell::{Cell, RefCell};

    thread_local! {
        static LEFT: Cell<Option<u64>> = const { Cell::new(None) };
        static SPENT_ON: RefCell<Option<String>> = const { RefCell::new(None) };
    }

    /// The budget of the read running on this thread, until dropped.
    pub struct Budget;

    impl Budget {
        pub fn start(records: u64) -> Self {
            LEFT.set(Some(records));
            SPENT_ON.take();
            Budget
        }

        /// The parameter being matched when the budget ran out, if it did.
        pub fn spent_on(&self) -> Option<String> {
            SPENT_ON.take()
        }
    }

    impl Drop for Budget {
        fn drop(&mut self) {
            LEFT.set(None);
        }
    }

    /// Takes one record from the budget (always granted outside a read);
    /// `false`, remembering `parameter`, once it is spent.
    pub(super) fn take(parameter: &str) -> bool {
        match LEFT.get() {
            None => true,
            Some(0) => {
                SPENT_ON.with(|s| {
                    s.borrow_mut().get_or_insert_with(|| parameter.to_owned());
                });
                false
            }
            Some(n) => {
                LEFT.set(Some(n - 1));
                true
            }
        }
    }
}

/// Registers `ctt_record(stored)`, a stored record's text (see
/// `records.rs`), `ctt_event_record(stored, event_id, event_time,
/// source_ip_address)`, a stored event's whole record (see [`crate::held`]),
/// `ctt_has_param(stored, event_id, event_time, source_ip_address, name,
/// value)`, and the ledger's
/// key functions ([`super::write::register_key_functions`]).
pub fn register_functions(conn: &Connection, decoder: &Arc<Decoder>) -> rusqlite::Result<()> {
    // `files_keyed` reads the ledger's keys with `ctt_file_name`.
    super::write::register_key_functions(conn)?;
    fn text_of<'a>(
        decoder: &Decoder,
        stored: rusqlite::types::ValueRef<'a>,
    ) -> rusqlite::Result<Option<std::borrow::Cow<'a, str>>> {
        decoder
            .text(stored)
            .map_err(|e| rusqlite::Error::UserFunctionError(Box::new(e)))
    }
    let records = Arc::clone(decoder);
    conn.create_scalar_function(
        "ctt_record",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        move |ctx| Ok(text_of(&records, ctx.get_raw(0))?.map(|t| t.into_owned())),
    )?;
    let records = Arc::clone(decoder);
    conn.create_scalar_function(
        "ctt_event_record",
        4,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        move |ctx| {
            let Some(record) = text_of(&records, ctx.get_raw(0))? else {
                return Ok(None);
            };
            crate::held::whole(
                &record,
                &super::write::id_text(ctx.get_raw(1))?,
                ctx.get(2)?,
                super::ip_text(ctx.get_raw(3))?.as_deref(),
            )
            .map(Some)
            .map_err(|e| rusqlite::Error::UserFunctionError(Box::new(e)))
        },
    )?;
    let records = Arc::clone(decoder);
    conn.create_scalar_function(
        "ctt_has_param",
        6,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        move |ctx| {
            let record = text_of(&records, ctx.get_raw(0))?.unwrap_or_default();
            let name: String = ctx.get(4)?;
            let value: String = ctx.get(5)?;
            if !scan_budget::take(&name) {
                return Err(rusqlite::Error::UserFunctionError(
                    "ctt: the read's budget of records to examine is spent".into(),
                ));
            }
            let mut record: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&record)
                    .map_err(|e| rusqlite::Error::UserFunctionError(Box::new(e)))?;
            crate::held::put_back(
                &mut record,
                &super::write::id_text(ctx.get_raw(1))?,
                ctx.get(2)?,
                super::ip_text(ctx.get_raw(3))?.as_deref(),
            );
            Ok(has_value(&serde_json::Value::Object(record), &name, &value))
        },
    )
}

/// A `WHERE` clause and its bound values.
struct Filter {
    sql: String,
    values: Vec<SqlValue>,
}

impl Filter {
    fn and(&mut self, clause: &str, values: impl IntoIterator<Item = SqlValue>) {
        self.sql.push_str(if self.sql.is_empty() {
            " WHERE "
        } else {
            " AND "
        });
        self.sql.push_str(clause);
        self.values.extend(values);
    }
}

fn text(s: &str) -> SqlValue {
    SqlValue::Text(s.to_owned())
}

fn build_filter(query: &EventQuery, indexed: &[String], cursor: Option<&Cursor>) -> Filter {
    let mut f = Filter {
        sql: String::new(),
        values: Vec::new(),
    };
    match &query.scope {
        Scope::All => {}
        Scope::User(user) => f.and(user_is!(), [text(user)]),
        Scope::Service(service) => f.and(named_is!("service_names", "service"), [text(service)]),
    }
    if let Some(user) = &query.only_user {
        f.and(user_is!(), [text(user)]);
    }
    // From the cursor's second on, not the window's start: the row value
    // below only skips that second's first events, and the index's range
    // must start there — a page deep in an export would otherwise step
    // over every entry before it (each page costing more than the last).
    let from = match cursor {
        Some(cursor) => to_seconds(query.from).max(cursor.event_time),
        None => to_seconds(query.from),
    };
    f.and(
        "event_time BETWEEN ? AND ?",
        [
            SqlValue::Integer(from),
            SqlValue::Integer(to_seconds(query.to)),
        ],
    );
    if let Some(name) = &query.event_name {
        if name.prefix {
            // Each name's range of `events_by_name` (schema 46: the ids
            // of the names in the range of texts).
            f.and(
                "event_name IN (SELECT id FROM event_names WHERE text >= ? AND text < ?)",
                [
                    text(&name.name),
                    SqlValue::Text(format!("{}\u{10FFFF}", name.name)),
                ],
            );
        } else {
            f.and(named_is!("event_names", "event_name"), [text(&name.name)]);
        }
    }
    for param in &query.params {
        if let Some(typed) = typed_attribute(&param.name) {
            let value = text(&param.value);
            match (typed.kind, typed.column) {
                (AttributeType::Bool, column) => match parse_bool(&param.value) {
                    Some(value) => {
                        f.and(&format!("{column} = ?"), [SqlValue::Integer(value.into())])
                    }
                    None => f.and("0", []),
                },
                // Its 16 bytes or its text (schema 44), found through
                // `events_by_id` as the writer finds it.
                (AttributeType::Text, "event_id") => f.and(
                    "(ctt_key_hash(event_id) = ? AND ctt_id_text(event_id) = ?)",
                    [SqlValue::Integer(super::write::key_hash(&param.value)), value],
                ),
                // Ids of their texts (schema 46).
                (AttributeType::Text, "user") => f.and(user_is!(), [value]),
                (AttributeType::Text, "service") => {
                    f.and(named_is!("service_names", "service"), [value])
                }
                (AttributeType::Text, "event_name") => {
                    f.and(named_is!("event_names", "event_name"), [value])
                }
                // A role that is its user's name is held as an empty BLOB
                // (schema 39).
                (AttributeType::Text, "role") => f.and(concat!("(", role!(), ") = ?"), [value]),
                // The text (rows stored before schema 42) or the id.
                (AttributeType::Text, "account_id") => f.and(
                    "(account_id = ? OR account_ref = (SELECT id FROM accounts WHERE text = ?))",
                    [value.clone(), value],
                ),
                // NULL when it is the caller's own account; none is an
                // empty BLOB, which no text equals (`stored_recipient`).
                (AttributeType::Text, "recipient_account_id") => f.and(
                    concat!("coalesce(recipient_account_id, ", account_id!(), ") = ?"),
                    [value],
                ),
                (AttributeType::Text, "event_source") => f.and(
                    concat!("(", event_source!(), ") = ?"),
                    [value],
                ),
                // The code or the text (schema 34: rows stored before, and
                // values without a code, hold the text).
                (AttributeType::Text, column @ ("identity_type" | "event_type" | "aws_region")) => {
                    let codes = match column {
                        "event_type" => super::EVENT_TYPES,
                        "aws_region" => super::REGIONS,
                        _ => super::IDENTITY_TYPES,
                    };
                    use rusqlite::types::{ToSqlOutput, ValueRef};
                    match super::coded(Some(&param.value), codes) {
                        Some(ToSqlOutput::Borrowed(ValueRef::Blob(code))) => f.and(
                            &format!("{column} IN (?, ?)"),
                            [SqlValue::Blob(code.to_vec()), value],
                        ),
                        _ => f.and(&format!("{column} = ?"), [value]),
                    }
                }
                // Rows of either form (schema 30); the id is looked up once,
                // not for every row the filter reads.
                (AttributeType::Text, "user_agent") => f.and(
                    "(user_agent = ? OR user_agent_id = (SELECT id FROM user_agents WHERE text = ?))",
                    [value.clone(), value],
                ),
                // Its bytes or its text (schema 45: rows stored before, and
                // values not written as an address, hold the text).
                (AttributeType::Text, "source_ip_address") => {
                    use rusqlite::types::{ToSqlOutput, Value};
                    match super::stored_ip(Some(&param.value)) {
                        Some(ToSqlOutput::Owned(Value::Blob(bytes))) => f.and(
                            "source_ip_address IN (?, ?)",
                            [SqlValue::Blob(bytes), value],
                        ),
                        _ => f.and("source_ip_address = ?", [value]),
                    }
                }
                (AttributeType::Text, column) => f.and(&format!("{column} = ?"), [value]),
            }
            continue;
        }
        let mut alternatives = Vec::new();
        let mut values = Vec::new();
        for name in candidate_names(&param.name) {
            if indexed.contains(&name) {
                alternatives.push(
                    "seq IN (SELECT seq FROM event_params
                     WHERE name_id = (SELECT id FROM param_names WHERE name = ?)
                       AND value_id = (SELECT id FROM param_values WHERE value = ?))"
                        .to_owned(),
                );
            } else {
                alternatives.push(
                    "ctt_has_param((SELECT record FROM records r WHERE r.seq = events.seq),
                        events.event_id, events.event_time, events.source_ip_address, ?, ?)"
                        .to_owned(),
                );
            }
            values.extend([SqlValue::Text(name), text(&param.value)]);
        }
        f.and(&format!("({})", alternatives.join(" OR ")), values);
    }
    if let Some(cursor) = cursor {
        f.and(
            "(event_time, ctt_id_text(event_id)) > (?, ?)",
            [SqlValue::Integer(cursor.event_time), text(&cursor.event_id)],
        );
    }
    f
}

/// The index that serves the query's order best.
fn index_hint(query: &EventQuery) -> &'static str {
    match (&query.scope, &query.only_user, &query.event_name) {
        (Scope::User(_), _, _) | (_, Some(_), _) => "INDEXED BY events_by_user",
        (Scope::Service(_), _, _) => "INDEXED BY events_by_service",
        (Scope::All, None, Some(_)) => "INDEXED BY events_by_name",
        (Scope::All, None, None) => "INDEXED BY events_by_time",
    }
}

/// A page's columns. The eventName, eventSource, user, service and role are
/// the row's own (ids, and an `eventSource` empty when it is the service's
/// own: see [`stored_event_source`](super::stored_event_source)), named by
/// [`SummaryRef::read`] through a [`NameCache`].
const SUMMARY_COLUMNS: &str = concat!(
    "ctt_id_text(event_id), event_time, event_name, event_source, user, service, ",
    identity_type!(),
    ", role, ",
    aws_region!(),
    ", source_ip_address, ",
    user_agent!(),
    ", error_code, error_message, read_only, ",
    event_type!()
);

fn summary_row(
    conn: &Connection,
    names: &mut NameCache,
    r: &Row<'_>,
) -> rusqlite::Result<EventSummary> {
    Ok(SummaryRef::read(r, conn, &mut TimeText::new(), names)?.to_owned())
}

/// The statement of one page: [`SUMMARY_COLUMNS`] in answer order, one row more
/// than `limit` (to know whether another page follows), and its parameters.
fn page_statement(
    query: &EventQuery,
    indexed: &[String],
    limit: u32,
    cursor: Option<&Cursor>,
) -> (String, Vec<SqlValue>) {
    let f = build_filter(query, indexed, cursor);
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM events {}{} ORDER BY event_time, ctt_id_text(event_id) LIMIT {}",
        index_hint(query),
        f.sql,
        limit as u64 + 1
    );
    (sql, f.values)
}

/// Whether splitting a page of `query` between two readers pays: its filter
/// is answered by the index alone, so finding the middle of a page costs
/// little next to writing it.
pub fn split_pays(query: &EventQuery) -> bool {
    query.params.is_empty()
        && query.event_name.is_none()
        && !matches!(
            (&query.scope, &query.only_user),
            (Scope::Service(_), Some(_))
        )
}

/// The position (`eventTime`, `eventID`) of the matching event after `cursor`
/// with `n` before it (0: the first), if there is one.
pub fn nth_position(
    conn: &Connection,
    indexed: &[String],
    query: &EventQuery,
    cursor: Option<&Cursor>,
    n: u32,
) -> rusqlite::Result<Option<Cursor>> {
    let f = build_filter(query, indexed, cursor);
    let sql = format!(
        "SELECT event_time, ctt_id_text(event_id) FROM events {}{}
         ORDER BY event_time, ctt_id_text(event_id) LIMIT 1 OFFSET {n}",
        index_hint(query),
        f.sql
    );
    conn.prepare_cached(&sql)?
        .query_row(params_from_iter(f.values), |r| {
            Ok(Cursor {
                event_time: r.get(0)?,
                event_id: r.get(1)?,
            })
        })
        .optional()
}

/// [`EventSummary`] borrowed from a row: written as the same JSON without
/// copying a string (the conformance suite checks both agree byte for byte).
/// Texts stay bytes: the JSON writer checks UTF-8 only for non-ASCII values.
struct SummaryRef<'a> {
    event_id: &'a [u8],
    event_name: &'a [u8],
    event_source: &'a [u8],
    event_time: &'a [u8],
    user_identity_user_name: &'a [u8],
    user: &'a [u8],
    service: &'a [u8],
    identity_type: Option<&'a [u8]>,
    role: Option<&'a [u8]>,
    aws_region: Option<&'a [u8]>,
    /// Its text, or the text of the address the row holds as bytes.
    source_ip_address: Option<std::borrow::Cow<'a, str>>,
    user_agent: Option<&'a [u8]>,
    error_code: Option<&'a [u8]>,
    error_message: Option<&'a [u8]>,
    read_only: Option<bool>,
    event_type: Option<&'a [u8]>,
}

/// A TEXT column's bytes (`None` for NULL); any other type is an error.
fn column_text_or_null<'r>(r: &'r Row<'_>, i: usize) -> rusqlite::Result<Option<&'r [u8]>> {
    use rusqlite::types::ValueRef;
    match r.get_ref(i)? {
        ValueRef::Text(bytes) => Ok(Some(bytes)),
        ValueRef::Null => Ok(None),
        other => Err(rusqlite::Error::InvalidColumnType(
            i,
            String::new(),
            other.data_type(),
        )),
    }
}

/// A TEXT column's bytes; NULL is an error.
fn column_text<'r>(r: &'r Row<'_>, i: usize) -> rusqlite::Result<&'r [u8]> {
    column_text_or_null(r, i)?.ok_or_else(|| {
        rusqlite::Error::InvalidColumnType(i, String::new(), rusqlite::types::Type::Null)
    })
}

/// The `eventTime` text of one second, kept while rows share it.
struct TimeText {
    seconds: Option<i64>,
    text: [u8; 20],
}

impl TimeText {
    fn new() -> Self {
        Self {
            seconds: None,
            text: [0; 20],
        }
    }

    fn of(&mut self, seconds: i64) -> &[u8] {
        if self.seconds != Some(seconds) {
            write_event_seconds(seconds, &mut self.text);
            self.seconds = Some(seconds);
        }
        &self.text
    }
}

impl<'a> SummaryRef<'a> {
    /// The [`SUMMARY_COLUMNS`] of `r`, borrowed; `time` formats `eventTime`
    /// and `names` names the ids (looking up those it has not met).
    fn read(
        r: &'a Row<'_>,
        conn: &Connection,
        time: &'a mut TimeText,
        names: &'a mut NameCache,
    ) -> rusqlite::Result<Self> {
        use rusqlite::types::ValueRef;
        let (name, source) = (r.get::<_, i64>(2)?, column_text(r, 3)?);
        let (user, service) = (r.get::<_, i64>(4)?, r.get::<_, i64>(5)?);
        let role = r.get_ref(7)?;
        let name = names.ensure(conn, Names::EventName, name)?;
        let user_met = names.ensure(conn, Names::User, user)?;
        let service_met = names.ensure(conn, Names::Service, service)?;
        let own_source = if source.is_empty() {
            Some(names.ensure_source(conn, service)?)
        } else {
            None
        };
        let role_met = match role {
            ValueRef::Integer(role) => Some(names.ensure(conn, Names::User, role)?),
            _ => None,
        };
        let names: &'a NameCache = names;
        let user = names.text(user_met).as_bytes();
        // As `role!` reads it: the user's own name, or a name's id.
        let role = match (role, role_met) {
            (_, Some(met)) => Some(names.text(met).as_bytes()),
            (ValueRef::Null, _) => None,
            (ValueRef::Blob([]), _) => Some(user),
            (ValueRef::Text(role), _) => Some(role),
            (other, None) => {
                return Err(rusqlite::Error::InvalidColumnType(
                    7,
                    "role".to_owned(),
                    other.data_type(),
                ));
            }
        };
        Ok(Self {
            event_id: column_text(r, 0)?,
            event_time: time.of(r.get(1)?),
            event_name: names.text(name).as_bytes(),
            event_source: own_source.map_or(source, |met| names.text(met).as_bytes()),
            user_identity_user_name: user,
            user,
            service: names.text(service_met).as_bytes(),
            identity_type: column_text_or_null(r, 6)?,
            role,
            aws_region: column_text_or_null(r, 8)?,
            source_ip_address: super::ip_text(r.get_ref(9)?)?,
            user_agent: column_text_or_null(r, 10)?,
            error_code: column_text_or_null(r, 11)?,
            error_message: column_text_or_null(r, 12)?,
            read_only: r.get(13)?,
            event_type: column_text_or_null(r, 14)?,
        })
    }

    /// Writes what `serde_json` writes for [`EventSummary`]: the same keys in
    /// the same order, `null` for absent values, the same escaping. The keys are
    /// constants, so only values are scanned for characters to escape.
    fn write_json(&self, out: &mut Vec<u8>) {
        let strings: [(&[u8], Option<&[u8]>); 14] = [
            (br#"{"eventID":"#, Some(self.event_id)),
            (br#","eventName":"#, Some(self.event_name)),
            (br#","eventSource":"#, Some(self.event_source)),
            (br#","eventTime":"#, Some(self.event_time)),
            (
                br#","userIdentity_userName":"#,
                Some(self.user_identity_user_name),
            ),
            (br#","user":"#, Some(self.user)),
            (br#","service":"#, Some(self.service)),
            (br#","identityType":"#, self.identity_type),
            (br#","role":"#, self.role),
            (br#","awsRegion":"#, self.aws_region),
            (
                br#","sourceIPAddress":"#,
                self.source_ip_address.as_deref().map(str::as_bytes),
            ),
            (br#","userAgent":"#, self.user_agent),
            (br#","errorCode":"#, self.error_code),
            (br#","errorMessage":"#, self.error_message),
        ];
        for (key, value) in strings {
            out.extend_from_slice(key);
            json_value(out, value);
        }
        out.extend_from_slice(br#","readOnly":"#);
        out.extend_from_slice(match self.read_only {
            Some(true) => b"true",
            Some(false) => b"false",
            None => b"null",
        });
        out.extend_from_slice(br#","eventType":"#);
        json_value(out, self.event_type);
        out.push(b'}');
    }

    /// Writes the row [`EventSummary::row`] gives, as
    /// [`ctt_core::write_csv_row`] does (the same cells, the same quoting).
    fn write_csv(&self, csv: &mut csv::Writer<&mut Vec<u8>>) {
        // Text from SQLite is nearly always valid UTF-8: borrowed as it is,
        // the rest copied lossily (as `to_owned` does).
        let text = |s: &'a [u8]| {
            std::str::from_utf8(s).map_or_else(|_| String::from_utf8_lossy(s), Cow::Borrowed)
        };
        let opt = |s: Option<&'a [u8]>| s.map_or(Cow::Borrowed(""), text);
        let cells = [
            text(self.event_id),
            text(self.event_time),
            text(self.event_name),
            text(self.event_source),
            text(self.user_identity_user_name),
            text(self.user),
            text(self.service),
            opt(self.identity_type),
            opt(self.role),
            opt(self.aws_region),
            Cow::Borrowed(self.source_ip_address.as_deref().unwrap_or_default()),
            opt(self.user_agent),
            opt(self.error_code),
            opt(self.error_message),
            Cow::Borrowed(match self.read_only {
                Some(true) => "true",
                Some(false) => "false",
                None => "",
            }),
            opt(self.event_type),
        ];
        // Writing to a Vec cannot fail.
        let _ = ctt_core::write_csv_row(csv, cells);
    }

    fn to_owned(&self) -> EventSummary {
        // `from_utf8` validates several times faster than `from_utf8_lossy`
        // walks its chunks (6% of a CSV export); SQLite's text is nearly
        // always valid, and the lossy copy is for the rest.
        let owned = |s: &[u8]| {
            std::str::from_utf8(s)
                .map_or_else(|_| String::from_utf8_lossy(s).into_owned(), str::to_owned)
        };
        let opt = |s: Option<&[u8]>| s.map(owned);
        EventSummary {
            event_id: owned(self.event_id),
            event_time: owned(self.event_time),
            event_name: owned(self.event_name),
            event_source: owned(self.event_source),
            user_identity_user_name: owned(self.user_identity_user_name),
            user: owned(self.user),
            service: owned(self.service),
            identity_type: opt(self.identity_type),
            role: opt(self.role),
            aws_region: opt(self.aws_region),
            source_ip_address: self.source_ip_address.as_deref().map(str::to_owned),
            user_agent: opt(self.user_agent),
            error_code: opt(self.error_code),
            error_message: opt(self.error_message),
            read_only: self.read_only,
            event_type: opt(self.event_type),
        }
    }
}

/// Whether `bytes` are all printable ASCII but `"` and `\` — copied into JSON
/// as they are. Eight bytes at a time (SWAR).
fn plain_ascii(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A high bit for a zero byte; exact as to whether there is one.
    let zero = |w: u64| w.wrapping_sub(ONES) & !w & HIGH;
    let special = |w: u64| {
        // Bytes below 0x20 (exact for words without high bytes, which the last
        // term catches), `"`, `\`, and bytes of 0x80 and above.
        (w.wrapping_sub(ONES * 0x20) & !w & HIGH)
            | zero(w ^ (ONES * u64::from(b'"')))
            | zero(w ^ (ONES * u64::from(b'\\')))
            | (w & HIGH)
    };
    let word = |chunk: &[u8]| u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
    let Some(last) = bytes.len().checked_sub(8) else {
        // Shorter than a word: byte by byte (copying into a word costs more).
        return bytes.iter().fold(true, |plain, &b| {
            plain & (0x20..0x80).contains(&b) & (b != b'"') & (b != b'\\')
        });
    };
    // The last word overlaps the whole words before it: no tail to copy.
    let mut found = special(word(&bytes[last..]));
    for chunk in bytes.chunks_exact(8) {
        found |= special(word(chunk));
    }
    found == 0
}

/// A JSON string or `null`, as `serde_json` writes it: copied whole when it is
/// printable ASCII without `"` or `\` (the usual case), else checked as UTF-8
/// and escaped by `serde_json` (invalid UTF-8, which ctt never writes, is
/// replaced by U+FFFD).
fn json_value(out: &mut Vec<u8>, value: Option<&[u8]>) {
    let Some(bytes) = value else {
        out.extend_from_slice(b"null");
        return;
    };
    if plain_ascii(bytes) {
        out.reserve(bytes.len() + 2);
        out.push(b'"');
        out.extend_from_slice(bytes);
        out.push(b'"');
    } else {
        let text = String::from_utf8_lossy(bytes);
        serde_json::to_writer(&mut *out, text.as_ref()).expect("writing JSON to a Vec cannot fail");
    }
}

/// The bytes to reserve for a page of `limit` events (a summary is ~430).
pub fn page_capacity(limit: u32) -> usize {
    limit.min(10_000) as usize * 512
}

/// [`events`], written as JSON or CSV straight from the rows into `out`
/// (empty; give it [`page_capacity`] or more).
pub fn events_written(
    conn: &Connection,
    indexed: &[String],
    query: &EventQuery,
    limit: u32,
    cursor: Option<&Cursor>,
    layout: PageLayout,
    mut out: Vec<u8>,
) -> rusqlite::Result<WrittenPage> {
    let (sql, values) = page_statement(query, indexed, limit, cursor);
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(values))?;
    let (events, next) = if layout == PageLayout::Csv {
        // One writer for the page: its buffer serves row after row.
        let mut csv = ctt_core::csv_writer(&mut out);
        let read = each_summary(conn, &mut rows, limit, |summary, _| {
            summary.write_csv(&mut csv)
        })?;
        // Writing to a Vec cannot fail.
        let _ = csv.flush();
        read
    } else {
        out.extend_from_slice(layout.open());
        let read = each_summary(conn, &mut rows, limit, |summary, first| {
            if !first {
                out.extend_from_slice(layout.separator());
            }
            summary.write_json(&mut out);
        })?;
        out.extend_from_slice(layout.close(read.0));
        read
    };
    Ok(WrittenPage {
        bytes: out,
        events,
        next,
    })
}

/// Calls `write` with each of the first `limit` rows' summary (and whether
/// it is the first); returns how many, and the cursor of the page after
/// them if there are more rows.
fn each_summary(
    conn: &Connection,
    rows: &mut rusqlite::Rows<'_>,
    limit: u32,
    mut write: impl FnMut(&SummaryRef<'_>, bool),
) -> rusqlite::Result<(usize, Option<Cursor>)> {
    let mut events = 0usize;
    let mut time = TimeText::new();
    let mut names = NameCache::default();
    let (mut last_time, mut last_id) = (0, String::new());
    let mut more = false;
    while let Some(r) = rows.next()? {
        if events == limit as usize {
            more = true;
            break;
        }
        let summary = SummaryRef::read(r, conn, &mut time, &mut names)?;
        write(&summary, events == 0);
        events += 1;
        if events == limit as usize {
            last_time = r.get(1)?;
            last_id = String::from_utf8_lossy(summary.event_id).into_owned();
        }
    }
    let next = more.then_some(Cursor {
        event_time: last_time,
        event_id: last_id,
    });
    Ok((events, next))
}

pub fn events(
    conn: &Connection,
    indexed: &[String],
    query: &EventQuery,
    limit: u32,
    cursor: Option<&Cursor>,
) -> rusqlite::Result<EventPage> {
    let (sql, values) = page_statement(query, indexed, limit, cursor);
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut events = stmt
        .query_map(params_from_iter(values), {
            let mut names = NameCache::default();
            move |r| summary_row(conn, &mut names, r)
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let next = if events.len() > limit as usize {
        events.truncate(limit as usize);
        events.last().map(|last| Cursor {
            event_time: ctt_core::time::parse_event_time(&last.event_time)
                .map(to_seconds)
                .unwrap_or_default(),
            event_id: last.event_id.clone(),
        })
    } else {
        None
    };
    Ok(EventPage { events, next })
}

/// The exact count. Without name or parameter conditions, whole hours come from
/// `hourly_counts` and only the partial hours at either end from the index;
/// everyone's events of one eventName (or prefix), whole days from
/// `daily_counts` ([`count_by_name`]).
pub fn count(conn: &Connection, indexed: &[String], query: &EventQuery) -> rusqlite::Result<u64> {
    if let Some(total) = count_by_name(conn, indexed, query)? {
        return Ok(total);
    }
    let (from, to) = (to_seconds(query.from), to_seconds(query.to));
    let (Some((kind, key)), Some(split)) = (hourly::series(query), hourly::split(from, to)) else {
        return count_exact(conn, indexed, query);
    };
    let mut total: i64 = conn
        .prepare_cached(
            "SELECT coalesce(sum(events), 0) FROM hourly_counts
             WHERE kind = ?1 AND key = ?2 AND hour BETWEEN ?3 AND ?4",
        )?
        .query_row(
            rusqlite::params![kind as i64, key, split.whole.start(), split.whole.end()],
            |r| r.get(0),
        )?;
    total += count_edges(conn, indexed, query, &split.edges)?;
    Ok(total as u64)
}

/// Everyone's events with an eventName (exactly, or by prefix — the
/// dashboard's `CreateFunction…`) and no other condition: the window's whole
/// days summed from `daily_counts` by the fewest days, 8-day and 64-day
/// blocks (≤ 30 rows per name for a year, each found by its key), the
/// partial days at either end counted from the index. `None` when the query
/// has another condition or no whole day.
fn count_by_name(
    conn: &Connection,
    indexed: &[String],
    query: &EventQuery,
) -> rusqlite::Result<Option<u64>> {
    let Some(name) = &query.event_name else {
        return Ok(None);
    };
    if query.scope != Scope::All || query.only_user.is_some() || !query.params.is_empty() {
        return Ok(None);
    }
    let (from, to) = (to_seconds(query.from), to_seconds(query.to));
    let Some(split) = hourly::split_days(from, to) else {
        return Ok(None);
    };
    // The same bounds as the events' filter (`build_filter`).
    let mut stmt = conn.prepare_cached(if name.prefix {
        "SELECT coalesce(sum(events), 0) FROM daily_counts
         WHERE kind = ?1 AND day = ?2 AND key >= ?3 AND key < ?4"
    } else {
        "SELECT sum(events) FROM daily_counts WHERE kind = ?1 AND day = ?2 AND key = ?3"
    })?;
    let prefix_end = format!("{}\u{10FFFF}", name.name);
    let mut total: i64 = 0;
    let (first, last) = (*split.whole.start(), *split.whole.end());
    for (level, starts) in hourly::whole_spans(first, last) {
        let kind = hourly::span_kind(hourly::HourlyKind::EventName, level);
        let span = hourly::SPANS[level];
        for day in (*starts.start()..=*starts.end()).step_by(span as usize) {
            let events: Option<i64> = if name.prefix {
                stmt.query_row(rusqlite::params![kind, day, name.name, prefix_end], |r| {
                    r.get(0)
                })?
            } else {
                stmt.query_row(rusqlite::params![kind, day, name.name], |r| r.get(0))?
            };
            total += events.unwrap_or(0);
        }
    }
    total += count_edges(conn, indexed, query, &split.edges)?;
    Ok(Some(total as u64))
}

/// The events of `query` in a window's partial `edges` (see
/// [`hourly::Split`]), counted from the index.
fn count_edges(
    conn: &Connection,
    indexed: &[String],
    query: &EventQuery,
    edges: &[std::ops::RangeInclusive<i64>],
) -> rusqlite::Result<i64> {
    let mut total = 0;
    for edge in edges {
        let mut part = query.clone();
        part.from = from_seconds(*edge.start());
        part.to = from_seconds(*edge.end());
        total += count_exact(conn, indexed, &part)? as i64;
    }
    Ok(total)
}

/// The count from the events' index, event by event.
pub fn count_exact(
    conn: &Connection,
    indexed: &[String],
    query: &EventQuery,
) -> rusqlite::Result<u64> {
    let f = build_filter(query, indexed, None);
    let sql = format!("SELECT count(*) FROM events {}{}", index_hint(query), f.sql);
    let n: i64 = conn
        .prepare_cached(&sql)?
        .query_row(params_from_iter(f.values), |r| r.get(0))?;
    Ok(n as u64)
}

/// `/stats`: from the hourly counters where they answer (see
/// [`stats_from_counters`]), else from the events.
pub fn stats(
    conn: &Connection,
    indexed: &[String],
    query: &EventQuery,
    group_by: GroupBy,
    limit: u32,
) -> rusqlite::Result<Vec<GroupCount>> {
    match stats_from_counters(conn, indexed, query, group_by, limit)? {
        Some(groups) => Ok(groups),
        None => stats_exact(conn, indexed, query, group_by, limit),
    }
}

/// Groups summed from counters the writer keeps over the window's whole
/// hours or days, and counted from the events only in the partial ones at
/// either end — as counts are (issue #19: a year's dashboard must not read
/// every event). Per hour or per day of one series (everyone's, a user's, a
/// service's — [`hourly::series`]): `hourly_counts` of that series. Per user,
/// service, eventName, error code or region of everyone's events:
/// `daily_counts`, whose rows for a window are contiguous whatever the number
/// of keys, summed by the fewest days, 8-day and 64-day blocks
/// ([`hourly::whole_spans`]). `None` for the rest (an eventName or parameter condition, a `self`
/// role, a user's or a service's events by another key), or a window without
/// a whole hour (day).
fn stats_from_counters(
    conn: &Connection,
    indexed: &[String],
    query: &EventQuery,
    group_by: GroupBy,
    limit: u32,
) -> rusqlite::Result<Option<Vec<GroupCount>>> {
    let (from, to) = (to_seconds(query.from), to_seconds(query.to));
    let Some((kind, key)) = hourly::series(query) else {
        return Ok(None);
    };
    let mut groups = hourly::Groups::default();
    let edges = match group_by {
        GroupBy::Hour | GroupBy::Day => {
            let Some(split) = hourly::split(from, to) else {
                return Ok(None);
            };
            let mut stmt = conn.prepare_cached(
                "SELECT hour, events FROM hourly_counts
                 WHERE kind = ?1 AND key = ?2 AND hour BETWEEN ?3 AND ?4",
            )?;
            let (first, last) = (*split.whole.start(), *split.whole.end());
            let rows = stmt.query_map(rusqlite::params![kind as i64, key, first, last], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })?;
            for row in rows {
                let (hour, events) = row?;
                groups.add_hour(group_by, hour, events as u64);
            }
            split.edges
        }
        GroupBy::User
        | GroupBy::Service
        | GroupBy::EventName
        | GroupBy::ErrorCode
        | GroupBy::AwsRegion
            if kind == hourly::HourlyKind::All =>
        {
            let Some(split) = hourly::split_days(from, to) else {
                return Ok(None);
            };
            let by = match group_by {
                GroupBy::User => hourly::HourlyKind::User,
                GroupBy::Service => hourly::HourlyKind::Service,
                GroupBy::EventName => hourly::HourlyKind::EventName,
                GroupBy::ErrorCode => hourly::HourlyKind::ErrorCode,
                _ => hourly::HourlyKind::Region,
            };
            let mut stmt = conn.prepare_cached(
                "SELECT key, sum(events) FROM daily_counts
                 WHERE kind = ?1 AND day BETWEEN ?2 AND ?3 GROUP BY key",
            )?;
            let (first, last) = (*split.whole.start(), *split.whole.end());
            for (level, starts) in hourly::whole_spans(first, last) {
                let kind = hourly::span_kind(by, level);
                let rows = stmt
                    .query_map(rusqlite::params![kind, starts.start(), starts.end()], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                    })?;
                for row in rows {
                    let (name, events) = row?;
                    groups.add(name, events as u64);
                }
            }
            split.edges
        }
        _ => return Ok(None),
    };
    for edge in edges {
        let mut part = query.clone();
        part.from = from_seconds(*edge.start());
        part.to = from_seconds(*edge.end());
        for g in stats_exact(conn, indexed, &part, group_by, u32::MAX)? {
            groups.add(g.key, g.count);
        }
    }
    Ok(Some(groups.into_counts(group_by, limit)))
}

/// `/stats` from the events themselves, group by group.
pub fn stats_exact(
    conn: &Connection,
    indexed: &[String],
    query: &EventQuery,
    group_by: GroupBy,
    limit: u32,
) -> rusqlite::Result<Vec<GroupCount>> {
    let f = build_filter(query, indexed, None);
    // Users, services and names are grouped by their ids, each named once
    // per group (schema 46).
    let (key, order) = match group_by {
        GroupBy::User => ("user", "2 DESC, 1"),
        GroupBy::Service => ("service", "2 DESC, 1"),
        GroupBy::EventName => ("event_name", "2 DESC, 1"),
        GroupBy::AwsRegion => (concat!("coalesce(", aws_region!(), ", '')"), "2 DESC, 1"),
        GroupBy::ErrorCode => ("coalesce(error_code, '')", "2 DESC, 1"),
        GroupBy::Hour => ("event_time / 3600 * 3600", "1"),
        GroupBy::Day => ("event_time / 86400 * 86400", "1"),
    };
    let named = match group_by {
        GroupBy::User => "(SELECT text FROM user_names WHERE id = k)",
        GroupBy::Service => "(SELECT text FROM service_names WHERE id = k)",
        GroupBy::EventName => "(SELECT text FROM event_names WHERE id = k)",
        _ => "k",
    };
    let sql = format!(
        "SELECT {named}, n FROM (SELECT {key} AS k, count(*) AS n FROM events {}{} GROUP BY 1)
         ORDER BY {order} LIMIT {limit}",
        index_hint(query),
        f.sql
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(f.values), |r| {
        let key = match r.get_ref(0)? {
            rusqlite::types::ValueRef::Integer(t) => format_event_time(from_seconds(t)),
            _ => r.get::<_, String>(0)?,
        };
        Ok(GroupCount {
            key,
            count: r.get::<_, i64>(1)? as u64,
        })
    })?;
    rows.collect()
}

pub fn event(conn: &Connection, event_id: &str) -> rusqlite::Result<Option<EventDetail>> {
    conn.query_row(
        &format!(
            "SELECT {SUMMARY_COLUMNS},
                    ctt_event_record(record, event_id, event_time, source_ip_address)
             FROM events JOIN records USING (seq)
             WHERE ctt_key_hash(event_id) = ?2 AND ctt_id_text(event_id) = ?1"
        ),
        rusqlite::params![event_id, super::write::key_hash(event_id)],
        |r| {
            let record: String = r.get(15)?;
            Ok(EventDetail {
                summary: summary_row(conn, &mut NameCache::default(), r)?,
                record: serde_json::from_str(&record).unwrap_or(serde_json::Value::Null),
            })
        },
    )
    .optional()
}

pub fn catalog(conn: &Connection, table: &str) -> rusqlite::Result<Vec<CatalogEntry>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT name, events, first_time, last_time FROM {table} ORDER BY name"
    ))?;
    let rows = stmt.query_map([], |r| {
        Ok(CatalogEntry {
            name: r.get(0)?,
            events: r.get::<_, i64>(1)? as u64,
            first_seen: from_seconds(r.get(2)?),
            last_seen: from_seconds(r.get(3)?),
        })
    })?;
    rows.collect()
}

pub fn parameters(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT name FROM parameters ORDER BY name")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    rows.collect()
}

/// The store's totals without counting rows (`/health` is polled): events and
/// the latest event time from the users catalog (every event counts once for
/// its user, in the events' transaction), and ledger rows from `max(id)` — the
/// ledger is never deleted from and an upsert keeps its row's id, so its ids are
/// 1..n — less the failed files, found through `files_failed` (schema 36).
pub fn status(conn: &Connection) -> rusqlite::Result<StoreStatus> {
    let (events, last_event): (i64, Option<i64>) = conn.query_row(
        "SELECT coalesce(sum(events), 0), max(last_time) FROM users",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let (files, failed): (i64, i64) = conn.query_row(
        "SELECT coalesce((SELECT max(id) FROM files), 0),
                (SELECT count(*) FROM files WHERE outcome = 'failed')",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let loaded = files - failed;
    let bytes: i64 = conn.query_row(
        "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
        [],
        |r| r.get(0),
    )?;
    let last: Option<(String, i64)> = conn
        .query_row(
            "SELECT key, loaded_at FROM files_keyed ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(StoreStatus {
        events: events as u64,
        files_loaded: loaded as u64,
        files_failed: failed as u64,
        last_file_at: last.as_ref().map(|(_, t)| from_seconds(*t)),
        last_file: last.map(|(k, _)| k),
        last_event_time: last_event.map(from_seconds),
        database_bytes: Some(bytes.max(0) as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue "Scale" (exports at any size): a page after a cursor reads the
    /// index from the cursor's second on, whatever the window's start, so an
    /// export's last page costs what its first does. (It stepped over every
    /// entry before it: 30 days of `scale` exported at half the speed of 7.)
    #[test]
    fn a_page_after_a_cursor_reads_from_the_cursor_on() {
        let conn = super::super::migrated_in_memory();
        conn.execute_batch(
            "INSERT INTO user_names (id, text) VALUES (1, 'u0'), (2, 'u1');
             INSERT INTO service_names (id, text) VALUES (1, 'ec2');
             INSERT INTO event_names (id, text) VALUES (1, 'RunInstances');
             WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 19999)
             INSERT INTO events (event_id, event_time, event_name, event_source, service, user)
             SELECT printf('id-%05d', i), 1000 + i / 4, 1, 'ec2.amazonaws.com',
                    1, 1 + i % 2 FROM n",
        )
        .expect("events");
        let everyone = EventQuery::between(from_seconds(0), from_seconds(100_000));
        let mut one_user = everyone.clone();
        one_user.scope = Scope::User("u1".into());
        let cursor = Cursor {
            event_time: 1000 + 19_000 / 4,
            event_id: "id-19000".into(),
        };
        for (query, after) in [(&everyone, "id-19001"), (&one_user, "id-19001")] {
            let page = |cursor: Option<&Cursor>| {
                let (sql, values) = page_statement(query, &[], 10, cursor);
                super::super::first_column_and_steps(&conn, &sql, values)
            };
            let (first, first_steps) = page(None);
            assert_eq!(first.len(), 11);
            let (deep, deep_steps) = page(Some(&cursor));
            assert_eq!(
                deep.first().map(String::as_str),
                Some(after),
                "{:?}",
                query.scope
            );
            assert_eq!(deep.len(), 11);
            assert!(
                deep_steps < first_steps * 3,
                "{:?}: {deep_steps} steps for a page after 19,000 events, {first_steps} for the first",
                query.scope
            );
        }
    }

    /// SPEC §6: events sorted by eventTime, then eventID. The time indexes
    /// no longer hold the eventID (schema 31): events of the same second,
    /// stored in any order, still come in eventID order, and a cursor in
    /// the middle of such a second goes on from the next one.
    #[test]
    fn events_of_one_second_come_in_event_id_order() {
        let conn = super::super::migrated_in_memory();
        conn.execute_batch(
            "INSERT INTO user_names (id, text) VALUES (1, 'u0'), (2, 'u1');
             INSERT INTO service_names (id, text) VALUES (1, 'ec2');
             INSERT INTO event_names (id, text) VALUES (1, 'RunInstances');",
        )
        .expect("names");
        // Stored against eventID order: 8 events in second 1000, then 2 later.
        for (i, id) in ["h", "c", "f", "a", "g", "b", "e", "d"].iter().enumerate() {
            conn.execute(
                "INSERT INTO events (event_id, event_time, event_name, event_source, service, user)
                 VALUES (?1, 1000, 1, 'ec2.amazonaws.com', 1, ?2)",
                rusqlite::params![id, if i % 2 == 0 { 1 } else { 2 }],
            )
            .expect("event");
        }
        conn.execute_batch(
            "INSERT INTO events (event_id, event_time, event_name, event_source, service, user)
             VALUES ('0', 1001, 1, 'ec2.amazonaws.com', 1, 1),
                    ('1', 999, 1, 'ec2.amazonaws.com', 1, 2)",
        )
        .expect("events");
        let everyone = EventQuery::between(from_seconds(0), from_seconds(100_000));
        let mut by_service = everyone.clone();
        by_service.scope = Scope::Service("ec2".into());
        let mut one_user = everyone.clone();
        one_user.scope = Scope::User("u1".into());
        let cursor = Cursor {
            event_time: 1000,
            event_id: "c".into(),
        };
        for (query, all, after) in [
            (&everyone, "1 a b c d e f g h 0", "d e f"),
            (&by_service, "1 a b c d e f g h 0", "d e f"),
            (&one_user, "1 a b c d", "d"),
        ] {
            let page = |cursor: Option<&Cursor>, limit: u32| {
                let (sql, values) = page_statement(query, &[], limit, cursor);
                super::super::first_column_and_steps(&conn, &sql, values).0
            };
            assert_eq!(page(None, 20).join(" "), all, "{:?}", query.scope);
            assert_eq!(page(Some(&cursor), 2).join(" "), after, "{:?}", query.scope);
        }
    }

    #[test]
    fn json_values_are_written_as_serde_json_writes_them() {
        let mut cases: Vec<String> = (0u8..0x80).map(|b| format!("a{}b", b as char)).collect();
        cases.extend(
            [
                "",
                "plain-ascii_123",
                "é😀 unicode",
                "</script><script>alert(1)</script>",
                "\u{7f}\u{80}\u{2028}\u{2029}",
                "\"\\\"\\",
            ]
            .map(str::to_owned),
        );
        // Every ASCII byte at every place of strings of 1 to 17 bytes: both
        // sides of the 8-byte words and of the padded tail.
        for len in 1..=17 {
            for at in 0..len {
                for b in 0u8..0x80 {
                    let mut case = vec![b'x'; len];
                    case[at] = b;
                    cases.push(String::from_utf8(case).expect("ASCII"));
                }
                let mut wide = "x".repeat(len);
                wide.insert(at, 'é');
                cases.push(wide);
            }
        }
        for case in &cases {
            let mut ours = Vec::new();
            json_value(&mut ours, Some(case.as_bytes()));
            let theirs = serde_json::to_vec(case).expect("serialise");
            assert_eq!(ours, theirs, "{case:?}");
            let naive = case
                .bytes()
                .all(|b| (0x20..0x80).contains(&b) && b != b'"' && b != b'\\');
            assert_eq!(plain_ascii(case.as_bytes()), naive, "{case:?}");
        }
        // Bytes that are not UTF-8 (ctt never stores them) still give valid JSON.
        let mut ours = Vec::new();
        json_value(&mut ours, Some(b"ab\xffcd"));
        assert_eq!(ours, "\"ab\u{fffd}cd\"".as_bytes());
        let mut null = Vec::new();
        json_value(&mut null, None);
        assert_eq!(null, b"null");
    }
}
