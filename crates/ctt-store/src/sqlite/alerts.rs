//! The `alerts` table (schema migration 11): written with the file that
//! brought the record, read in the API's order.
//!
//! Since schema 50 a row holds ids, as an event's does: its rule's in
//! `alert_rules`, its user's, service's and eventName's in the names
//! tables, and its eventID as `events` holds one ([`id_bytes`]). An alert's
//! id, `RULE:EVENT`, is read as [`alert_id!`] and found through
//! `alerts_by_id` on (rule, event_id).

use std::collections::HashMap;

use ctt_core::time::{from_seconds, to_seconds};
use rusqlite::types::Value as SqlValue;
use rusqlite::{
    CachedStatement, Connection, OptionalExtension, Row, Statement, params, params_from_iter,
};

use super::names::{NameCache, Names};
use super::records::Encoder;
use super::write::{Interned, id_bytes};
use crate::alerts::{LEVELS, level_rank};
use crate::{Alert, AlertQuery, RecordJson};

pub const INSERT: &str = "INSERT OR IGNORE INTO alerts (rule, title, level, tags, event_id,
    event_time, user, service, event_name, baseline)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/// The record of an alert whose event is not stored, beside it (schema 19).
/// Replacing: a rowid can be reused once the alerts of the highest ones are
/// gone.
pub const INSERT_RECORD: &str =
    "INSERT OR REPLACE INTO alert_records (alert, record) VALUES (last_insert_rowid(), ?1)";

/// A rule's key, title and tags as `alert_rules` holds them (schema 25;
/// its key, schema 50): the title and tags its first alert was stored with.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleText {
    id: i64,
    title: String,
    tags: Vec<String>,
}

/// The rules' texts known to be in `alert_rules`, by rule id: a writer's
/// cache, so that an alert costs no statement to find its rule's.
pub type KnownRules = HashMap<String, RuleText>;

/// The rules' texts for a writer's transaction. An alert whose title and
/// tags are its rule's stores neither (NULL), and is read with its rule's;
/// the first alert of a rule unknown to the store registers its own as the
/// rule's. An alert whose rule was edited since (another title or tags)
/// stores its own: each alert is read as it was raised.
pub struct RuleTexts<'c> {
    known: &'c KnownRules,
    /// Found or registered in this transaction: known once it commits.
    added: KnownRules,
    find: CachedStatement<'c>,
    register: CachedStatement<'c>,
    tx: &'c Connection,
}

impl<'c> RuleTexts<'c> {
    pub fn new(tx: &'c Connection, known: &'c KnownRules) -> rusqlite::Result<Self> {
        Ok(Self {
            known,
            added: KnownRules::new(),
            find: tx
                .prepare_cached("SELECT id, title, tags FROM alert_rules WHERE rule_id = ?1")?,
            register: tx.prepare_cached(
                "INSERT INTO alert_rules (rule_id, title, tags) VALUES (?1, ?2, ?3)",
            )?,
            tx,
        })
    }

    /// The key of `alert`'s rule, and whether its title and tags are the
    /// rule's; the first alert of a rule unknown to the store registers it.
    fn rule(&mut self, alert: &Alert) -> rusqlite::Result<(i64, bool)> {
        let same = |text: &RuleText| {
            (
                text.id,
                text.title == alert.title && text.tags == alert.tags,
            )
        };
        if let Some(text) = self
            .known
            .get(&alert.rule_id)
            .or_else(|| self.added.get(&alert.rule_id))
        {
            return Ok(same(text));
        }
        let stored = self
            .find
            .query_row([&alert.rule_id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .optional()?;
        let text = match stored {
            Some((id, title, tags)) => RuleText {
                id,
                title,
                tags: serde_json::from_str(&tags).unwrap_or_default(),
            },
            None => {
                self.register.execute(params![
                    alert.rule_id,
                    alert.title,
                    tags_json(&alert.tags)
                ])?;
                RuleText {
                    id: self.tx.last_insert_rowid(),
                    title: alert.title.clone(),
                    tags: alert.tags.clone(),
                }
            }
        };
        let rule = same(&text);
        self.added.insert(alert.rule_id.clone(), text);
        Ok(rule)
    }

    /// The texts found or registered: known once the transaction commits.
    pub fn into_added(self) -> KnownRules {
        self.added
    }
}

fn tags_json(tags: &[String]) -> String {
    serde_json::to_string(tags).unwrap_or_default()
}

/// The writer's names of users, services and eventNames (schema 46), which
/// an alert's row holds the ids of as an event's does.
pub struct InternedNames<'a, 'c> {
    pub users: &'a mut Interned<'c>,
    pub services: &'a mut Interned<'c>,
    pub event_names: &'a mut Interned<'c>,
}

/// Stores `alert` unless it is stored already (`insert` is [`INSERT`],
/// `insert_record` [`INSERT_RECORD`]), with its rule's key, and its title
/// and tags by reference when they are the rule's (`rules`); its record
/// too, unless its event is stored (`event_stored`), whose record it is, or
/// the record is [`RecordJson::of_stored_event`]: read from its event in
/// any case.
pub fn insert(
    insert: &mut Statement<'_>,
    insert_record: &mut Statement<'_>,
    rules: &mut RuleTexts<'_>,
    names: &mut InternedNames<'_, '_>,
    alert: &Alert,
    event_stored: bool,
    encoder: &mut Encoder,
) -> rusqlite::Result<()> {
    let (rule, shared) = rules.rule(alert)?;
    let (title, tags) = if shared {
        (None, None)
    } else {
        (Some(alert.title.as_str()), Some(tags_json(&alert.tags)))
    };
    let inserted = insert.execute(params![
        rule,
        title,
        alert.level,
        tags,
        id_bytes(&alert.event_id),
        to_seconds(alert.event_time),
        names.users.id(&alert.user)?,
        names.services.id(&alert.service)?,
        names.event_names.id(&alert.event_name)?,
        alert
            .baseline
            .as_ref()
            .and_then(|b| serde_json::to_string(b).ok()),
    ])?;
    if inserted > 0 && !event_stored && !alert.record.is_of_stored_event() {
        insert_record.execute([encoder.encode_alert_record(&alert.record)])?;
    }
    Ok(())
}

/// Alerts with their rule's row (`ar`), read once for the id, the rule id,
/// the title and the tags. Alerts first: a page reads them in time order.
const FROM: &str = "FROM alerts CROSS JOIN alert_rules ar ON ar.id = alerts.rule";

/// An alert's title and tags: its own, or its rule's; its record: its own,
/// or its stored event's (whose eventID `events` holds in the same form).
/// Read [`FROM`].
const COLUMNS: &str = "ar.rule_id || ':' || ctt_id_text(alerts.event_id), ar.rule_id,
    coalesce(alerts.title, ar.title, ''),
    level,
    coalesce(alerts.tags, ar.tags, '[]'),
    ctt_id_text(event_id), event_time, user, service, event_name,
    coalesce(ctt_record((SELECT record FROM alert_records WHERE alert = alerts.rowid)),
             (SELECT ctt_event_record(r.record, e.event_id, e.event_time, e.source_ip_address)
              FROM events e JOIN records r ON r.seq = e.seq
              WHERE ctt_key_hash(e.event_id) = ctt_key_hash(alerts.event_id)
                AND e.event_id = alerts.event_id)),
    baseline";

/// The API's order of alerts (SPEC §12): by time, then eventID, then rule
/// id, as texts. The index gives the time's; the few alerts of one second
/// are sorted by their texts. Read [`FROM`].
const ORDER: &str = "ORDER BY event_time, ctt_id_text(event_id), ar.rule_id";

/// An alert of [`COLUMNS`], its user's, service's and eventName's ids named
/// through `names` (each looked up once a read: a subquery a column a row
/// took ~15% of an export).
fn row(r: &Row<'_>, conn: &Connection, names: &mut NameCache) -> rusqlite::Result<Alert> {
    let mut named = |column: usize, table: Names| -> rusqlite::Result<String> {
        let met = names.ensure(conn, table, r.get(column)?)?;
        Ok(names.text(met).to_owned())
    };
    let (user, service, event_name) = (
        named(7, Names::User)?,
        named(8, Names::Service)?,
        named(9, Names::EventName)?,
    );
    Ok(Alert {
        id: r.get(0)?,
        rule_id: r.get(1)?,
        title: r.get(2)?,
        level: r.get(3)?,
        tags: serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or_default(),
        event_id: r.get(5)?,
        event_time: from_seconds(r.get(6)?),
        user,
        service,
        event_name,
        record: RecordJson::new(r.get::<_, Option<String>>(10)?.unwrap_or_default()),
        baseline: r
            .get::<_, Option<String>>(11)?
            .and_then(|b| serde_json::from_str(&b).ok()),
    })
}

/// `WHERE …` of `query`, and its values.
fn filter(query: &AlertQuery) -> (String, Vec<SqlValue>) {
    // A withdrawn anomaly (SPEC §13) is no alert.
    filter_withdrawn(query, Some(false))
}

/// [`filter`]'s conditions, the alerts withdrawn or not as `withdrawn` says
/// (`None`: both).
fn filter_withdrawn(query: &AlertQuery, withdrawn: Option<bool>) -> (String, Vec<SqlValue>) {
    let mut clauses: Vec<String> = withdrawn
        .map(|w| format!("withdrawn = {}", u8::from(w)))
        .into_iter()
        .collect();
    let mut values: Vec<SqlValue> = Vec::new();
    let mut bind = |clause: &str, value: SqlValue, clauses: &mut Vec<String>| {
        values.push(value);
        clauses.push(clause.replace('?', &format!("?{}", values.len())));
    };
    // From the cursor's second on (as events' pages): the index's range
    // starts there, not at the window's start. Always a range: without one,
    // SQLite sorted every alert for a first page (the order's eventID and
    // rule are texts read through functions, which no index holds), ~30 ms
    // for 80,000 alerts where a range reads the page's seconds alone.
    let from = match (query.from, &query.after) {
        (from, Some((t, _, _))) => from.map_or(*t, |f| to_seconds(f).max(*t)),
        (from, None) => from.map_or(i64::MIN, to_seconds),
    };
    bind("event_time >= ?", from.into(), &mut clauses);
    if let Some(to) = query.to {
        bind("event_time <= ?", to_seconds(to).into(), &mut clauses);
    }
    if let Some(rule) = &query.rule {
        match rule.strip_suffix('*') {
            // `anomaly:*`: every rule id with that prefix (both `?` one value).
            // Not through `alerts_by_id` (`+rule`), which would have every
            // alert of the rule sorted for a page: along the time's index,
            // which holds the rule, as the other filters.
            Some(prefix) => bind(
                "+rule IN (SELECT id FROM alert_rules WHERE substr(rule_id, 1, length(?)) = ?)",
                prefix.to_owned().into(),
                &mut clauses,
            ),
            None => bind(
                concat!("+", alert_rule_is!()),
                rule.clone().into(),
                &mut clauses,
            ),
        }
    }
    if let Some(user) = &query.user {
        bind(user_is!(), user.clone().into(), &mut clauses);
    }
    if let Some(rank) = query.min_level.as_deref().and_then(level_rank) {
        let levels: Vec<String> = LEVELS[rank..].iter().map(|l| format!("'{l}'")).collect();
        clauses.push(format!("level IN ({})", levels.join(", ")));
    }
    if let Some((t, event_id, rule_id)) = &query.after {
        values.push((*t).into());
        values.push(event_id.clone().into());
        values.push(rule_id.clone().into());
        let n = values.len();
        // (A page's: its statement reads [`FROM`].)
        clauses.push(format!(
            "(event_time, ctt_id_text(event_id), ar.rule_id) > (?{}, ?{}, ?{n})",
            n - 2,
            n - 1
        ));
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    (filter, values)
}

/// The statement of one page of alerts, and its values.
fn list_statement(query: &AlertQuery) -> (String, Vec<SqlValue>) {
    let (filter, values) = filter(query);
    let sql = format!(
        "SELECT {COLUMNS} {FROM} {filter} {ORDER} LIMIT {}",
        query.limit.max(1)
    );
    (sql, values)
}

pub fn list(conn: &Connection, query: &AlertQuery) -> rusqlite::Result<Vec<Alert>> {
    let (sql, values) = list_statement(query);
    let mut stmt = conn.prepare(&sql)?;
    let mut names = NameCache::default();
    let mut rows = stmt.query(params_from_iter(values))?;
    let mut alerts = Vec::new();
    while let Some(r) = rows.next()? {
        alerts.push(row(r, conn, &mut names)?);
    }
    Ok(alerts)
}

/// The matching alerts, withdrawn or not, less the withdrawn ones: the first
/// count reads only index entries (`alerts_by_time`, `alerts_by_user` hold
/// time, user and rule), the second the few in `alerts_withdrawn` (schema
/// 24) — where `withdrawn = 0` would read every matching alert's row.
pub fn count(conn: &Connection, query: &AlertQuery) -> rusqlite::Result<u64> {
    let query = AlertQuery {
        after: None,
        ..query.clone()
    };
    let count = |withdrawn: Option<bool>| {
        let (filter, values) = filter_withdrawn(&query, withdrawn);
        conn.prepare_cached(&format!("SELECT count(*) FROM alerts {filter}"))?
            .query_row(params_from_iter(values), |r| r.get::<_, i64>(0))
    };
    // Not `INDEXED BY`: a bulk load drops the query indexes until its end,
    // and counts must still answer meanwhile. Both in one snapshot: an
    // anomaly withdrawn between them would be subtracted without being in
    // the first.
    let snapshot = conn.unchecked_transaction()?;
    let all = count(None)?;
    let withdrawn = count(Some(true))?;
    snapshot.commit()?;
    Ok((all - withdrawn).max(0) as u64)
}

/// The alert of id `RULE:EVENT`. A rule id may hold a `:` (`anomaly:…`),
/// an eventID too: the id is tried with each rule whose id it starts with
/// (and a `:`), the shortest first — a few lookups, however many `:` the id
/// holds.
pub fn get(conn: &Connection, id: &str) -> rusqlite::Result<Option<Alert>> {
    let rules: Vec<(i64, usize)> = conn
        .prepare_cached(
            "SELECT id, length(CAST(rule_id AS BLOB)) FROM alert_rules
             WHERE substr(CAST(?1 AS BLOB), 1, length(CAST(rule_id AS BLOB)) + 1)
                   = CAST(rule_id || ':' AS BLOB)
             ORDER BY 2",
        )?
        .query_map([id], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as usize)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut find = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} {FROM} WHERE rule = ?1 AND event_id = ctt_id_bytes(?2) AND withdrawn = 0"
    ))?;
    for (rule, length) in rules {
        let Some(event_id) = id.get(length + 1..) else {
            continue;
        };
        let mut rows = find.query(params![rule, event_id])?;
        if let Some(r) = rows.next()? {
            return row(r, conn, &mut NameCache::default()).map(Some);
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An alert count reads index entries only: the matching alerts from
    /// `alerts_by_time` or `alerts_by_user` (covering), the withdrawn ones
    /// from `alerts_withdrawn` — never the table's rows.
    #[test]
    fn counts_read_only_indexes() {
        let conn = super::super::migrated_in_memory();
        let window = AlertQuery {
            from: Some(from_seconds(0)),
            to: Some(from_seconds(1_000)),
            ..AlertQuery::default()
        };
        let user = AlertQuery {
            user: Some("alice".into()),
            ..window.clone()
        };
        for (query, withdrawn, index) in [
            (&window, None, "COVERING INDEX alerts_by_time"),
            (&user, None, "COVERING INDEX alerts_by_user"),
            (&window, Some(true), "alerts_withdrawn"),
        ] {
            let (filter, values) = filter_withdrawn(query, withdrawn);
            let plan: String = conn
                .query_row(
                    &format!("EXPLAIN QUERY PLAN SELECT count(*) FROM alerts {filter}"),
                    params_from_iter(values),
                    |r| r.get(3),
                )
                .expect("plan");
            assert!(plan.contains(index), "{filter}: {plan}");
        }
    }

    /// A page after a cursor reads from the cursor's second on, with or
    /// without a window (as events' pages do), and a first page reads the
    /// page's seconds, not every alert (with or without a window or a rule).
    #[test]
    fn a_page_after_a_cursor_reads_from_the_cursor_on() {
        let conn = super::super::migrated_in_memory();
        let decoder = std::sync::Arc::new(super::super::records::Decoder::new("unused".into()));
        super::super::query::register_functions(&conn, &decoder).expect("functions");
        conn.execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 19999)
             INSERT INTO alerts (rule, title, level, tags, event_id, event_time, user,
                                 service, event_name)
             SELECT 1, 't', 'low', '[]', printf('id-%05d', i), 1000 + i / 4, 1 + i % 2, 1, 1
             FROM n;
             INSERT INTO alert_rules (id, rule_id, title, tags) VALUES (1, 'r', 't', '[]');
             INSERT INTO user_names (id, text) VALUES (1, 'u0'), (2, 'u1');
             INSERT INTO service_names (id, text) VALUES (1, 'iam');
             INSERT INTO event_names (id, text) VALUES (1, 'GetUser');",
        )
        .expect("alerts");
        let window = AlertQuery {
            from: Some(from_seconds(0)),
            to: Some(from_seconds(100_000)),
            limit: 10,
            ..AlertQuery::default()
        };
        let unbounded = AlertQuery {
            limit: 10,
            ..AlertQuery::default()
        };
        let one_user = AlertQuery {
            user: Some("u1".into()),
            ..window.clone()
        };
        let unbounded_rule = AlertQuery {
            rule: Some("r".into()),
            ..unbounded.clone()
        };
        let rules = AlertQuery {
            rule: Some("r*".into()),
            ..window.clone()
        };
        for query in [&window, &unbounded, &one_user, &unbounded_rule, &rules] {
            let page = |after: Option<(i64, String, String)>| {
                let (sql, values) = list_statement(&AlertQuery {
                    after,
                    ..query.clone()
                });
                super::super::first_column_and_steps(&conn, &sql, values)
            };
            let (first, first_steps) = page(None);
            assert_eq!(first.len(), 10);
            // Along the time's index, not every alert sorted (schema 50's
            // first pages without a window, or of one rule, did).
            assert!(
                first_steps < 5_000,
                "{query:?}: {first_steps} steps for a first page of 10 among 20,000"
            );
            let (deep, deep_steps) = page(Some((5750, "id-19000".into(), "r".into())));
            assert_eq!(
                deep.first().map(String::as_str),
                Some("r:id-19001"),
                "{query:?}"
            );
            assert!(
                deep_steps < first_steps * 3,
                "{query:?}: {deep_steps} steps after 19,000 alerts, {first_steps} for the first"
            );
        }
    }
}
