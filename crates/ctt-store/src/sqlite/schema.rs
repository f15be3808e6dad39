//! Versioned schema migrations, applied in order; `PRAGMA user_version` is the
//! version. A database written by a newer ctt is refused rather than misread.
//!
//! Design (SPEC §5's queries): events are a rowid table with one index per way the
//! API narrows a query — time, user+time, service+time, eventName+time — each
//! ending in `(event_time, event_id)`, the order of every answer, so a page is an
//! index range read. Indexed parameters live in `event_params`, keyed
//! `(seq, name, value)` so loads append, and found by `(name, value, seq)`. The
//! whole records sit in `records` (migration 5). The catalog tables are maintained by the writer; the
//! ledger (`files`) is written in the same transaction as the file's events.
//! API tokens (`tokens`, migration 2) are stored as hashes only. Migration 3 drops
//! `events.file_id`, which nothing read; migration 4 adds `hourly_counts`, events
//! per hour for all, per user and per service, for fast counts.

use rusqlite::Connection;

/// Each migration, in order; migration `i` brings the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE files (
    id        INTEGER PRIMARY KEY,
    key       TEXT NOT NULL UNIQUE,
    size      INTEGER NOT NULL,
    version   TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    reason    TEXT,
    records   INTEGER NOT NULL,
    stored    INTEGER NOT NULL,
    filtered  INTEGER NOT NULL,
    duplicate INTEGER NOT NULL,
    rejected  INTEGER NOT NULL,
    loaded_at INTEGER NOT NULL
);
CREATE INDEX files_by_outcome ON files (outcome, id);

CREATE TABLE events (
    seq                  INTEGER PRIMARY KEY,
    event_id             TEXT NOT NULL,
    event_time           INTEGER NOT NULL,
    event_name           TEXT NOT NULL,
    event_source         TEXT NOT NULL,
    service              TEXT NOT NULL,
    user                 TEXT NOT NULL,
    identity_type        TEXT,
    role                 TEXT,
    account_id           TEXT,
    recipient_account_id TEXT,
    aws_region           TEXT,
    source_ip_address    TEXT,
    user_agent           TEXT,
    error_code           TEXT,
    error_message        TEXT,
    read_only            INTEGER,
    event_type           TEXT,
    file_id              INTEGER NOT NULL,
    record               TEXT NOT NULL
);
CREATE UNIQUE INDEX events_by_id ON events (event_id);
CREATE INDEX events_by_time ON events (event_time, event_id);
CREATE INDEX events_by_user ON events (user, event_time, event_id);
CREATE INDEX events_by_service ON events (service, event_time, event_id);
CREATE INDEX events_by_name ON events (event_name, event_time, event_id);

CREATE TABLE event_params (
    name  TEXT NOT NULL,
    value TEXT NOT NULL,
    seq   INTEGER NOT NULL,
    PRIMARY KEY (name, value, seq)
) WITHOUT ROWID;

CREATE TABLE users (
    name       TEXT PRIMARY KEY,
    events     INTEGER NOT NULL,
    first_time INTEGER NOT NULL,
    last_time  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE services (
    name       TEXT PRIMARY KEY,
    events     INTEGER NOT NULL,
    first_time INTEGER NOT NULL,
    last_time  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE parameters (
    name TEXT PRIMARY KEY
) WITHOUT ROWID;
"#,
    // 2: API tokens (SPEC §7). Only the SHA-256 of a token is kept; the token
    // itself is shown once, when it is created.
    r#"
CREATE TABLE tokens (
    name       TEXT PRIMARY KEY,
    hash       TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL,
    user       TEXT,
    created_at INTEGER NOT NULL
);
"#,
    // 3: events no longer name their file (the ledger counts them), which saves a
    // statement per file on load.
    r#"
ALTER TABLE events DROP COLUMN file_id;
"#,
    // 4: events per hour for everyone (kind 0), each user (1) and each service
    // (2), kept by the writer: a count over a long period sums hours instead of
    // walking an index entry per event. Hours are floored (negative times too).
    r#"
CREATE TABLE hourly_counts (
    kind   INTEGER NOT NULL,
    key    TEXT NOT NULL,
    hour   INTEGER NOT NULL,
    events INTEGER NOT NULL,
    PRIMARY KEY (kind, key, hour)
) WITHOUT ROWID;
INSERT INTO hourly_counts
    SELECT 0, '', event_time - (event_time % 3600 + 3600) % 3600, count(*) FROM events GROUP BY 3;
INSERT INTO hourly_counts
    SELECT 1, user, event_time - (event_time % 3600 + 3600) % 3600, count(*) FROM events GROUP BY 2, 3;
INSERT INTO hourly_counts
    SELECT 2, service, event_time - (event_time % 3600 + 3600) % 3600, count(*) FROM events GROUP BY 2, 3;
"#,
    // 5: the whole records move to their own table. They are about 80% of the
    // bytes of `events` and only `/events/{id}` and unindexed parameters read
    // them; without them a range of events (a page, an export, an index build)
    // reads about 5 times fewer pages.
    r#"
CREATE TABLE records (
    seq    INTEGER PRIMARY KEY,
    record TEXT NOT NULL
);
INSERT INTO records (seq, record) SELECT seq, record FROM events;
ALTER TABLE events DROP COLUMN record;
"#,
    // 6: indexed parameters are keyed by event (`seq` first), so a load appends
    // to them, and looked up through `event_params_by_value`, one of the
    // QUERY_INDEXES a bulk load builds at its end. Keyed by value, every batch
    // rewrote most of the table's pages (a CloudTrail principal ID is spread
    // over the whole history).
    r#"
CREATE TABLE event_params_by_seq (
    seq   INTEGER NOT NULL,
    name  TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (seq, name, value)
) WITHOUT ROWID;
INSERT INTO event_params_by_seq (seq, name, value) SELECT seq, name, value FROM event_params ORDER BY seq;
DROP TABLE event_params;
ALTER TABLE event_params_by_seq RENAME TO event_params;
CREATE INDEX event_params_by_value ON event_params (name, value, seq);
"#,
    // 7: courses (SPEC §10), as the TOML their teacher wrote.
    r#"
CREATE TABLE courses (
    id       TEXT PRIMARY KEY,
    source   TEXT NOT NULL,
    added_at INTEGER NOT NULL
) WITHOUT ROWID;
"#,
    // 8: `events_by_name` also holds each event's service, user and errorCode,
    // so scoring a course (SPEC §10) reads a name's range of the index alone,
    // without a row lookup per event; the same number of index entries.
    r#"
DROP INDEX IF EXISTS events_by_name;
CREATE INDEX events_by_name ON events (event_name, event_time, event_id, service, user, error_code);
"#,
    // 9: each file's integrity (SPEC §14) as `ctt verify --record` found it;
    // NULL until verified, and again once the file is loaded anew.
    r#"
ALTER TABLE files ADD COLUMN integrity TEXT;
"#,
    // 10: files whose latest verdict is not `valid`, and the events they
    // held, which the portal marks (SPEC §14). Both stay small: only files
    // found not valid are here.
    r#"
CREATE TABLE integrity_flags (
    file_key TEXT PRIMARY KEY,
    status   TEXT NOT NULL,
    events   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE integrity_marks (
    event_id TEXT NOT NULL,
    file_key TEXT NOT NULL,
    PRIMARY KEY (event_id, file_key)
) WITHOUT ROWID;
CREATE INDEX integrity_marks_by_file ON integrity_marks (file_key);
"#,
    // 11: alerts (SPEC §12), one per (rule, eventID), in the API's order:
    // time, then eventID, then rule; and by user for user pages and `self`.
    r#"
CREATE TABLE alerts (
    id         TEXT NOT NULL UNIQUE,
    rule_id    TEXT NOT NULL,
    title      TEXT NOT NULL,
    level      TEXT NOT NULL,
    tags       TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    event_time INTEGER NOT NULL,
    user       TEXT NOT NULL,
    service    TEXT NOT NULL,
    event_name TEXT NOT NULL,
    record     TEXT NOT NULL
);
CREATE INDEX alerts_by_time ON alerts (event_time, event_id, rule_id);
CREATE INDEX alerts_by_user ON alerts (user, event_time, event_id, rule_id);
"#,
    // 12: the notification outbox (SPEC §12): one delivery per (alert,
    // destination), fanned out from `alerts` in rowid order (the cursor is
    // the last alert rowid looked at), claimed by a lease, kept once sent.
    r#"
CREATE TABLE outbox (
    alert_id     TEXT NOT NULL,
    destination  TEXT NOT NULL,
    state        TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    next_attempt INTEGER NOT NULL, -- milliseconds
    last_error   TEXT,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (alert_id, destination)
) WITHOUT ROWID;
CREATE INDEX outbox_due ON outbox (destination, next_attempt) WHERE state = 'pending';
CREATE TABLE outbox_cursor (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    alert_rowid INTEGER NOT NULL,
    too_old     INTEGER NOT NULL
);
INSERT INTO outbox_cursor (id, alert_rowid, too_old) VALUES (1, 0, 0);
"#,
    // 13: resources (SPEC §11): every touch (create, stop, start, delete) of
    // every resource, written with its event; a resource's lifecycle is the
    // fold of its touches in time order, so it is keyed resource first, then
    // time. Events stored before this version are read for their touches
    // once, when the store is opened (`backfill_resource_touches`).
    r#"
CREATE TABLE resource_touches (
    kind       TEXT NOT NULL,
    account    TEXT NOT NULL,
    region     TEXT NOT NULL,
    id         TEXT NOT NULL,
    event_time INTEGER NOT NULL,
    event_id   TEXT NOT NULL,
    user       TEXT NOT NULL,
    change     TEXT NOT NULL,
    size       TEXT,
    PRIMARY KEY (kind, account, region, id, event_time, event_id)
) WITHOUT ROWID;
CREATE INDEX resource_touches_by_user ON resource_touches (user);
INSERT INTO meta (key, value) VALUES ('resource_touches_backfill', 'pending')
    ON CONFLICT (key) DO UPDATE SET value = 'pending';
"#,
    // 14: each resource's lifecycle folded at its last touch, kept by the
    // writer (refolded from its touches whenever one is added, so it never
    // depends on load order) and keyed in list order, so a page of
    // `/resources` is a range of it. `pending` in meta: to be rebuilt from
    // the touches (at open, or at a bulk load's end) and not read till then.
    r#"
CREATE TABLE resource_states (
    kind            TEXT NOT NULL,
    id              TEXT NOT NULL,
    region          TEXT NOT NULL,
    account         TEXT NOT NULL,
    first_time      INTEGER NOT NULL,
    last_time       INTEGER NOT NULL,
    state           TEXT NOT NULL,
    owner           TEXT,
    created         INTEGER,
    deleted         INTEGER,
    deleted_by      TEXT,
    size            TEXT,
    running_seconds INTEGER NOT NULL,
    PRIMARY KEY (kind, id, region, account)
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('resource_states', 'pending')
    ON CONFLICT (key) DO UPDATE SET value = 'pending';
"#,
    // 15: anomalies (SPEC §13): each user's first event in each region and
    // of each service, each account's in each region (the least (time,
    // eventID), kept by the writer); each user's failed calls per hour
    // (hourly kind 3); alerts can be withdrawn (an anomaly an earlier event
    // loaded later no longer implies). `first_seen` is filled from the
    // events already stored once (`first_seen` = `pending`; `done` in a new
    // database, whose writer keeps it from its first event), and every
    // anomaly evaluated, by the rebuild `anomalies` = `pending` asks for.
    r#"
CREATE TABLE first_seen (
    kind     INTEGER NOT NULL,
    scope    TEXT NOT NULL,
    key      TEXT NOT NULL,
    time     INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (kind, scope, key)
) WITHOUT ROWID;
ALTER TABLE alerts ADD COLUMN withdrawn INTEGER NOT NULL DEFAULT 0;
INSERT INTO hourly_counts
    SELECT 3, user, event_time - (event_time % 3600 + 3600) % 3600, count(*) FROM events
    WHERE error_code IS NOT NULL GROUP BY 2, 3;
INSERT INTO meta (key, value) VALUES ('anomalies', 'pending')
    ON CONFLICT (key) DO UPDATE SET value = 'pending';
INSERT INTO meta (key, value)
    SELECT 'first_seen', CASE WHEN EXISTS (SELECT 1 FROM events) THEN 'pending' ELSE 'done' END
    WHERE true
    ON CONFLICT (key) DO UPDATE SET value = excluded.value;
"#,
    // 16: an anomaly's baseline (SPEC §13), structured (JSON), beside its
    // title; the anomalies already stored get theirs from a re-evaluation.
    r#"
ALTER TABLE alerts ADD COLUMN baseline TEXT;
INSERT INTO meta (key, value) VALUES ('anomalies', 'pending')
    ON CONFLICT (key) DO UPDATE SET value = 'pending';
"#,
    // 17: everyone's events per hour by eventName (kind 4), by error code
    // (5; '' for none) and by region (6; '' for none), so that `/stats` by
    // those sums hours rather than reading every event of a long window.
    r#"
INSERT INTO hourly_counts
    SELECT 4, event_name, event_time - (event_time % 3600 + 3600) % 3600, count(*) FROM events
    GROUP BY 2, 3;
INSERT INTO hourly_counts
    SELECT 5, coalesce(error_code, ''), event_time - (event_time % 3600 + 3600) % 3600, count(*)
    FROM events GROUP BY 2, 3;
INSERT INTO hourly_counts
    SELECT 6, coalesce(aws_region, ''), event_time - (event_time % 3600 + 3600) % 3600, count(*)
    FROM events GROUP BY 2, 3;
"#,
    // 18: the same counts per day (UTC) for the kinds `/stats` groups
    // everyone's events by (users, services, eventNames, error codes,
    // regions), keyed day first: a window's rows are one range, however
    // many users or names there are.
    r#"
CREATE TABLE daily_counts (
    kind   INTEGER NOT NULL,
    day    INTEGER NOT NULL,
    key    TEXT NOT NULL,
    events INTEGER NOT NULL,
    PRIMARY KEY (kind, day, key)
) WITHOUT ROWID;
INSERT INTO daily_counts
    SELECT kind, hour - (hour % 86400 + 86400) % 86400, key, sum(events) FROM hourly_counts
    WHERE kind IN (1, 2, 4, 5, 6) GROUP BY 1, 2, 3;
"#,
    // 19: alerts slimmed for the load, whose critical path is the writer:
    // their uniqueness by id is an index of its own rather than the column's
    // constraint, so that a bulk load builds it at its end like the other
    // QUERY_INDEXES (three index entries a row were most of what storing an
    // alert cost), and each alert's record is in `alert_records`, keyed by
    // the alert's rowid, so that building those indexes reads rows of a few
    // hundred bytes, not whole records. An alert on a stored event has no
    // record there: it is the event's, read from `records` (the same text,
    // not kept twice). Rowids are kept: the outbox's cursor is one.
    r#"
CREATE TABLE alerts_19 (
    id         TEXT NOT NULL,
    rule_id    TEXT NOT NULL,
    title      TEXT NOT NULL,
    level      TEXT NOT NULL,
    tags       TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    event_time INTEGER NOT NULL,
    user       TEXT NOT NULL,
    service    TEXT NOT NULL,
    event_name TEXT NOT NULL,
    withdrawn  INTEGER NOT NULL DEFAULT 0,
    baseline   TEXT
);
CREATE TABLE alert_records (
    alert  INTEGER PRIMARY KEY,
    record TEXT NOT NULL
);
INSERT INTO alerts_19 (rowid, id, rule_id, title, level, tags, event_id, event_time, user,
                       service, event_name, withdrawn, baseline)
    SELECT rowid, id, rule_id, title, level, tags, event_id, event_time, user, service,
           event_name, withdrawn, baseline FROM alerts;
INSERT INTO alert_records (alert, record) SELECT rowid, record FROM alerts a
    WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = a.event_id);
DROP TABLE alerts;
ALTER TABLE alerts_19 RENAME TO alerts;
CREATE UNIQUE INDEX alerts_by_id ON alerts (id);
CREATE INDEX alerts_by_time ON alerts (event_time, event_id, rule_id);
CREATE INDEX alerts_by_user ON alerts (user, event_time, event_id, rule_id);
"#,
    // 20: the dashboard's "left running" (SPEC §11) summed from an index of
    // the running resources, in (type, size) order, holding what the sum
    // needs; and the states' last change, so that "did anything change
    // after T" is one lookup. Without them, summing read every state
    // (433,000 running of 613,000 at 120 days of the `scale` preset: 0.4 s).
    r#"
CREATE INDEX resource_states_running ON resource_states
    (kind, size, first_time, last_time, running_seconds) WHERE state = 'running';
CREATE INDEX resource_states_by_last ON resource_states (last_time);
"#,
    // 21: the zstd dictionaries records are compressed with (see
    // `records.rs`): a record stored afterwards is a BLOB whose first byte
    // is its dictionary's id. Records stored before stay text.
    r#"
CREATE TABLE record_dictionaries (
    id         INTEGER PRIMARY KEY,
    dictionary BLOB NOT NULL,
    samples    INTEGER NOT NULL,
    trained_at INTEGER NOT NULL
);
"#,
    // 22: `daily_counts` also sums each kind by blocks of 8 and 64 days
    // (kind + 100, kind + 200; `hourly::SPANS`), so that `/stats` by user
    // over a year sums ~30 rows per user instead of 365.
    r#"
INSERT INTO daily_counts (kind, day, key, events)
    SELECT kind + 100, day - (day % 691200 + 691200) % 691200, key, sum(events)
    FROM daily_counts WHERE kind < 100 GROUP BY 1, 2, 3;
INSERT INTO daily_counts (kind, day, key, events)
    SELECT kind + 200, day - (day % 5529600 + 5529600) % 5529600, key, sum(events)
    FROM daily_counts WHERE kind < 100 GROUP BY 1, 2, 3;
"#,
    // 23: the running resources' sums by type and size (size '' for none),
    // kept by the writer with the states (`resources.rs`): the dashboard's
    // "left running" reads a row per group instead of every running
    // resource (433,000 at 120 days of the `scale` preset), and migration
    // 20's index of the running states, which it read, goes.
    r#"
DROP INDEX resource_states_running;
CREATE TABLE running_totals (
    kind            TEXT NOT NULL,
    size            TEXT NOT NULL,
    resources       INTEGER NOT NULL,
    running_seconds INTEGER NOT NULL,
    last_times      INTEGER NOT NULL,
    PRIMARY KEY (kind, size)
) WITHOUT ROWID;
INSERT INTO running_totals (kind, size, resources, running_seconds, last_times)
    SELECT kind, coalesce(size, ''), count(*), sum(running_seconds), sum(last_time)
    FROM resource_states WHERE state = 'running' GROUP BY 1, 2;
"#,
    // 24: the withdrawn alerts by time (few: anomalies a later event undid),
    // so an alert count is two counts of index entries — all the matching
    // ones, less the withdrawn ones — instead of reading every matching
    // alert's row for its `withdrawn` flag (588,013 in a year of the `scale`
    // preset: 170 ms for the dashboard's counter).
    r#"
CREATE INDEX alerts_withdrawn ON alerts (event_time) WHERE withdrawn = 1;
"#,
    // 25: alerts slimmed again (a hunting rule raises one on a quarter of
    // the records, and their rows were most of what the load wrote beside
    // the events): the id is computed (`RULE_ID:EVENT_ID`, a virtual column
    // its unique index still holds), and a rule's title and tags are kept
    // once, in `alert_rules`, as its first alert had them; an alert with the
    // same stores neither (NULL), one raised by an edited rule its own.
    // Rowids are kept: the outbox's cursor is one.
    r#"
CREATE TABLE alert_rules (
    rule_id TEXT PRIMARY KEY,
    title   TEXT NOT NULL,
    tags    TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE alerts_25 (
    rule_id    TEXT NOT NULL,
    level      TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    event_time INTEGER NOT NULL,
    user       TEXT NOT NULL,
    service    TEXT NOT NULL,
    event_name TEXT NOT NULL,
    withdrawn  INTEGER NOT NULL DEFAULT 0,
    baseline   TEXT,
    title      TEXT,
    tags       TEXT,
    id         TEXT GENERATED ALWAYS AS (rule_id || ':' || event_id) VIRTUAL
);
INSERT INTO alerts_25 (rowid, rule_id, level, event_id, event_time, user, service, event_name,
                       withdrawn, baseline, title, tags)
    SELECT rowid, rule_id, level, event_id, event_time, user, service, event_name, withdrawn,
           baseline, title, tags FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_25 RENAME TO alerts;
CREATE UNIQUE INDEX alerts_by_id ON alerts (id);
CREATE INDEX alerts_by_time ON alerts (event_time, event_id, rule_id);
CREATE INDEX alerts_by_user ON alerts (user, event_time, event_id, rule_id);
CREATE INDEX alerts_withdrawn ON alerts (event_time) WHERE withdrawn = 1;
"#,
    // 26: the ledger's keys are found by their hash (`ctt_key_hash`, see
    // `write::key_hash`) instead of a unique index on the key itself: a
    // CloudTrail key is ~100–150 bytes, and the `paper` preset's 420,000
    // small files held it twice (the table and its index, 236 of the 1,425
    // bytes a stored event took). The writer keeps a key unique.
    r#"
CREATE TABLE files_26 (
    id        INTEGER PRIMARY KEY,
    key       TEXT NOT NULL,
    key_hash  INTEGER NOT NULL,
    size      INTEGER NOT NULL,
    version   TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    reason    TEXT,
    records   INTEGER NOT NULL,
    stored    INTEGER NOT NULL,
    filtered  INTEGER NOT NULL,
    duplicate INTEGER NOT NULL,
    rejected  INTEGER NOT NULL,
    loaded_at INTEGER NOT NULL,
    integrity TEXT
);
INSERT INTO files_26 (id, key, key_hash, size, version, outcome, reason, records, stored,
                      filtered, duplicate, rejected, loaded_at, integrity)
    SELECT id, key, ctt_key_hash(key), size, version, outcome, reason, records, stored,
           filtered, duplicate, rejected, loaded_at, integrity FROM files;
DROP TABLE files;
ALTER TABLE files_26 RENAME TO files;
CREATE INDEX files_by_key ON files (key_hash);
CREATE INDEX files_by_outcome ON files (outcome, id);
"#,
    // 27: the SHA-256 of a file's decompressed content (32 bytes), kept when
    // `ctt ingest --verify` loaded it: the digests are checked against the
    // ledger window by window, without the load holding every file's hash.
    r#"
ALTER TABLE files ADD COLUMN sha256 BLOB;
"#,
    // 28: an indexed parameter's name is stored once, in `param_names`, and
    // each of its values by the name's id: the name (26 bytes on average,
    // `userIdentity_principalId`) was repeated in every row of
    // `event_params` and of its index.
    r#"
CREATE TABLE param_names (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
INSERT INTO param_names (name) SELECT DISTINCT name FROM event_params ORDER BY name;
CREATE TABLE event_params_28 (
    seq     INTEGER NOT NULL,
    name_id INTEGER NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (seq, name_id, value)
) WITHOUT ROWID;
INSERT INTO event_params_28 (seq, name_id, value)
    SELECT p.seq, n.id, p.value FROM event_params p JOIN param_names n ON n.name = p.name;
DROP TABLE event_params;
ALTER TABLE event_params_28 RENAME TO event_params;
CREATE INDEX event_params_by_value ON event_params (name_id, value, seq);
"#,
    // 29: a file's key is stored as its folder's id (`file_dirs`, each
    // folder once) and its name: the folder (`AWSLogs/ACCOUNT/CloudTrail/
    // REGION/YYYY/MM/DD/`, after the root given) was most of each key — ~95
    // of its 165 bytes on `paper`'s 420,000 small files, ~50 bytes a stored
    // event. `files_keyed` reads the keys whole.
    r#"
CREATE TABLE file_dirs (
    id   INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE
);
INSERT INTO file_dirs (path) SELECT DISTINCT ctt_key_dir(key) FROM files ORDER BY 1;
CREATE TABLE files_29 (
    id        INTEGER PRIMARY KEY,
    dir       INTEGER NOT NULL,
    name      TEXT NOT NULL,
    key_hash  INTEGER NOT NULL,
    size      INTEGER NOT NULL,
    version   TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    reason    TEXT,
    records   INTEGER NOT NULL,
    stored    INTEGER NOT NULL,
    filtered  INTEGER NOT NULL,
    duplicate INTEGER NOT NULL,
    rejected  INTEGER NOT NULL,
    loaded_at INTEGER NOT NULL,
    integrity TEXT,
    sha256    BLOB
);
INSERT INTO files_29 (id, dir, name, key_hash, size, version, outcome, reason, records,
                      stored, filtered, duplicate, rejected, loaded_at, integrity, sha256)
    SELECT f.id, d.id, substr(f.key, length(d.path) + 1), f.key_hash, f.size, f.version,
           f.outcome, f.reason, f.records, f.stored, f.filtered, f.duplicate, f.rejected,
           f.loaded_at, f.integrity, f.sha256
    FROM files f JOIN file_dirs d ON d.path = ctt_key_dir(f.key);
DROP TABLE files;
ALTER TABLE files_29 RENAME TO files;
CREATE INDEX files_by_key ON files (key_hash);
CREATE INDEX files_by_outcome ON files (outcome, id);
CREATE VIEW files_keyed AS
    SELECT f.*, d.path || f.name AS key FROM files f JOIN file_dirs d ON d.id = f.dir;
"#,
    // 30: an event's `userAgent` is stored once in `user_agents`, and each
    // event stored from now on holds its id (`user_agent_id`, `user_agent`
    // left NULL): ~46 bytes a stored event on `paper`, whose 757,000 events
    // have 14 user agents. Rows stored before keep their text, and are read
    // as they are (`user_agent!`): no row is rewritten.
    r#"
CREATE TABLE user_agents (
    id   INTEGER PRIMARY KEY,
    text TEXT NOT NULL UNIQUE
);
ALTER TABLE events ADD COLUMN user_agent_id INTEGER;
"#,
    // 31: `events_by_time`, `events_by_user` and `events_by_service` no
    // longer repeat each event's `eventID` (37 bytes an entry, ~110 bytes a
    // stored event over the three): they end with the event's row id, as
    // every index does, and a page's ties within a second are put in
    // `eventID` order from the rows it reads anyway. `events_by_name` keeps
    // it: a class's progress reads its hits from that index alone. Dropped
    // here, built by [`build_query_indexes`] as every open does (sorting on
    // disk: a migration's transaction would sort them in memory).
    r#"
DROP INDEX IF EXISTS events_by_time;
DROP INDEX IF EXISTS events_by_user;
DROP INDEX IF EXISTS events_by_service;
"#,
    // 32: the ledger keeps a CloudTrail log's name without what its folder
    // says (`ctt_stored_name`: `ACCOUNT_CloudTrail_REGION_YYYYMMDD` and
    // `.json.gz`, ~49 bytes a log) and a local file's version
    // `SIZE:MTIME_NANOS` as the number after the colon, 8 bytes, when the
    // size is the entry's own (`ctt_stored_version`, ~15 bytes);
    // `files_keyed` reads both back whole. Rows are rewritten in place: the space they free is reused
    // by later rows (`VACUUM` returns it to the file system).
    r#"
UPDATE files SET
    name = ctt_stored_name((SELECT path FROM file_dirs WHERE id = files.dir), name),
    version = ctt_stored_version(size, version);
DROP VIEW files_keyed;
CREATE VIEW files_keyed AS
    SELECT f.id, f.dir, f.key_hash, f.size,
           ctt_file_version(f.size, f.version) AS version,
           f.outcome, f.reason, f.records, f.stored, f.filtered, f.duplicate, f.rejected,
           f.loaded_at, f.integrity, f.sha256,
           d.path || ctt_file_name(d.path, f.name) AS key
    FROM files f JOIN file_dirs d ON d.id = f.dir;
"#,
    // 33: the resources a user touched are kept once per user and resource
    // (`resource_users`, kept by triggers on `resource_touches`), not as an
    // index of every touch by user: an index of a table without row ids
    // holds its whole key, the touch's time and eventID included (~44 bytes
    // a stored event on `paper`, against ~9).
    r#"
CREATE TABLE resource_users (
    user    TEXT NOT NULL,
    kind    TEXT NOT NULL,
    account TEXT NOT NULL,
    region  TEXT NOT NULL,
    id      TEXT NOT NULL,
    PRIMARY KEY (user, kind, account, region, id)
) WITHOUT ROWID;
INSERT OR IGNORE INTO resource_users (user, kind, account, region, id)
    SELECT user, kind, account, region, id FROM resource_touches ORDER BY 1, 2, 3, 4, 5;
DROP INDEX resource_touches_by_user;
CREATE TRIGGER resource_users_added AFTER INSERT ON resource_touches BEGIN
    INSERT OR IGNORE INTO resource_users (user, kind, account, region, id)
        VALUES (new.user, new.kind, new.account, new.region, new.id);
END;
CREATE TRIGGER resource_users_removed AFTER DELETE ON resource_touches BEGIN
    DELETE FROM resource_users
     WHERE user = old.user AND kind = old.kind AND account = old.account
       AND region = old.region AND id = old.id
       AND NOT EXISTS (SELECT 1 FROM resource_touches t
                        WHERE t.kind = old.kind AND t.account = old.account
                          AND t.region = old.region AND t.id = old.id AND t.user = old.user);
END;
"#,
    // 34: an event's `eventType` and `userIdentity.type` are stored as a
    // one-byte code when they are among the known ones (`EVENT_TYPES`,
    // `IDENTITY_TYPES`: a BLOB, ~16 bytes a stored event); rows stored
    // before keep their text, and are read as they are (`event_type!`).
    "",
    // 35: an indexed parameter's value is stored once, in `param_values`,
    // and each event's by the value's id: the values repeat (on `paper`,
    // 979,000 rows hold 42,000 values; `userIdentity_principalId`, 26 bytes,
    // in nearly every event), and each was in a row of `event_params` and
    // in its index (~94 → ~30 bytes a stored event). The index, dropped
    // with the table, is built by the open ([`build_query_indexes`]).
    r#"
CREATE TABLE param_values (
    id    INTEGER PRIMARY KEY,
    value TEXT NOT NULL UNIQUE
);
INSERT INTO param_values (value) SELECT DISTINCT value FROM event_params;
CREATE TABLE event_params_35 (
    seq      INTEGER NOT NULL,
    name_id  INTEGER NOT NULL,
    value_id INTEGER NOT NULL,
    PRIMARY KEY (seq, name_id, value_id)
) WITHOUT ROWID;
INSERT OR IGNORE INTO event_params_35 (seq, name_id, value_id)
    SELECT p.seq, p.name_id, v.id FROM event_params p JOIN param_values v ON v.value = p.value;
DROP TABLE event_params;
ALTER TABLE event_params_35 RENAME TO event_params;
"#,
    // 36: the ledger finds its failed files through an index of those
    // alone, not of every file's outcome (`loaded`, nearly all of them: ~12
    // bytes a stored event on `paper`).
    r#"
DROP INDEX files_by_outcome;
CREATE INDEX files_failed ON files (id) WHERE outcome = 'failed';
"#,
    // 37: `events_by_id` indexes the 8-byte hash of an event's eventID
    // (`ctt_key_hash`, the ledger's), not its 36 characters (~30 bytes a
    // stored event); a lookup confirms the eventID on the row it finds
    // (`write::FIND_EVENT`). The index is not unique: the writer looks an
    // event up before storing it.
    r#"
DROP INDEX events_by_id;
CREATE INDEX events_by_id ON events (ctt_key_hash(event_id));
"#,
    // 38: an event's record is stored without the `eventID`, `eventTime`
    // and `sourceIPAddress` its columns hold (`held`: ~30 bytes a stored
    // event); `ctt_event_record` puts them back. Records stored before are
    // whole and read as they are; a build before 38 would read the new ones
    // without those fields, hence the version.
    "",
    // 39: an event whose role is its user's name stores an empty BLOB as its
    // role (`stored_role`, read back by `role!`); rows stored before keep
    // the text.
    "",
    // 40: `events_by_name` holds a canonical eventID as its 16 bytes
    // (`ctt_id_bytes`: ~19 bytes a stored event), which a class's progress
    // reads from the index alone as before. Dropped here, built by the open
    // ([`build_query_indexes`]).
    "DROP INDEX IF EXISTS events_by_name;",
    // 41: a resource's touch holds a canonical eventID as its 16 bytes
    // (`write::id_bytes`, ~19 bytes a touch); touches stored before keep
    // their text, and are read either way (a touch's order within a second
    // is the fold's own, by eventID text: SPEC §11).
    "",
    // 42: an event's `userIdentity.accountId` is stored once in `accounts`,
    // and each event stored from now on holds its id (`account_ref`, read
    // through `account_id!`: ~11 bytes a stored event); rows stored before
    // keep their text, read as they are.
    r#"
CREATE TABLE accounts (
    id   INTEGER PRIMARY KEY,
    text TEXT NOT NULL UNIQUE
);
ALTER TABLE events ADD COLUMN account_ref INTEGER;
"#,
    // 43: an event's `awsRegion` is stored as a one-byte code when it is one
    // of `REGIONS` (~8 bytes a stored event), read back by `aws_region!`;
    // rows stored before keep their text, read as they are.
    "",
    // 44: an event's canonical eventID is stored as its 16 bytes
    // (`write::id_bytes`, ~19 bytes a stored event), as `events_by_name`
    // and touches hold it; `ctt_id_text` reads either form, and
    // `ctt_key_hash` hashes the text of either, so `events_by_id` is the
    // same. Rows stored before keep their text.
    "",
    // 45: an event's `sourceIPAddress`, when it is an address written as
    // Rust writes it back, is stored as its 4 or 16 bytes (`stored_ip`,
    // read by `ip_text`: ~8 bytes a stored event); rows stored before keep
    // their text.
    "",
    // 46: an event's user, role, service and eventName are each stored
    // once, in `user_names` (users and roles), `service_names` and
    // `event_names`, and each event holds their ids (`user!`, `role!`,
    // `service!` and `event_name!` read the texts): ~16 bytes in the row and
    // as many in `events_by_user` and `events_by_name` for the user, ~15
    // for the name, ~10 for the role, ~5 in each of three places for the
    // service (~100 bytes a stored event on the write-heavy tree, whose 1.6
    // million events have 4,700 users and 46 names). Every row is
    // rewritten: a user's events must be one range of `events_by_user`,
    // whatever version stored them. The table is copied in `seq` order
    // (the columns' types change); the query indexes, dropped with it, are
    // built by the open ([`build_query_indexes`]). A role that is its
    // user's name stays an empty BLOB (schema 39).
    r#"
CREATE TABLE user_names (
    id   INTEGER PRIMARY KEY,
    text TEXT NOT NULL UNIQUE
);
CREATE TABLE service_names (
    id   INTEGER PRIMARY KEY,
    text TEXT NOT NULL UNIQUE
);
CREATE TABLE event_names (
    id   INTEGER PRIMARY KEY,
    text TEXT NOT NULL UNIQUE
);
INSERT INTO user_names (text)
    SELECT user FROM events UNION SELECT role FROM events WHERE typeof(role) = 'text';
INSERT INTO service_names (text) SELECT DISTINCT service FROM events ORDER BY 1;
INSERT INTO event_names (text) SELECT DISTINCT event_name FROM events ORDER BY 1;
CREATE TABLE events_46 (
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
INSERT INTO events_46
    SELECT e.seq, e.event_id, e.event_time,
           (SELECT id FROM event_names WHERE text = e.event_name), e.event_source,
           (SELECT id FROM service_names WHERE text = e.service),
           (SELECT id FROM user_names WHERE text = e.user),
           e.identity_type,
           CASE typeof(e.role) WHEN 'text' THEN (SELECT id FROM user_names WHERE text = e.role)
                ELSE e.role END,
           e.account_id, e.recipient_account_id, e.aws_region,
           e.source_ip_address, e.user_agent, e.error_code, e.error_message, e.read_only,
           e.event_type, e.user_agent_id, e.account_ref
    FROM events e ORDER BY e.seq;
DROP TABLE events;
ALTER TABLE events_46 RENAME TO events;
CREATE INDEX events_by_id ON events (ctt_key_hash(event_id));
"#,
    // 47: an event whose record has no `recipientAccountId` but names the
    // caller's account stores an empty BLOB as its recipient, where NULL
    // also meant "the caller's own" (`stored_recipient`): the
    // `recipientAccountId` filter is exact on the rows stored from now on.
    // Readers take the BLOB for no recipient; a build before 47 would not.
    "",
    // 48: the latest `last_time` of the resource states is kept in a row of
    // its own (`resource_states_latest`, kept with the states), not found
    // through an index of every state's (`resource_states_by_last`: ~12
    // bytes a stored event on the write-heavy tree) — the one question
    // that index answered.
    r#"
DROP INDEX IF EXISTS resource_states_by_last;
CREATE TABLE resource_states_latest (
    only      INTEGER PRIMARY KEY CHECK (only = 1),
    last_time INTEGER NOT NULL
);
INSERT INTO resource_states_latest (only, last_time)
    SELECT 1, max(last_time) FROM resource_states HAVING max(last_time) IS NOT NULL;
"#,
    // 49: a resource's touch, and `resource_users`, hold the id of the
    // user's name in `user_names`, as the touch's event does (schema 46),
    // not the name: ~16 bytes a touch and a user's resource (~11 bytes a
    // stored event on the write-heavy tree). Both tables are copied in key
    // order (the column's type changes); the triggers that keep
    // `resource_users` (schema 33), dropped with `resource_touches`, are
    // made again.
    r#"
INSERT OR IGNORE INTO user_names (text) SELECT DISTINCT user FROM resource_touches;
CREATE TABLE resource_touches_49 (
    kind       TEXT NOT NULL,
    account    TEXT NOT NULL,
    region     TEXT NOT NULL,
    id         TEXT NOT NULL,
    event_time INTEGER NOT NULL,
    event_id   TEXT NOT NULL,
    user       INTEGER NOT NULL,
    change     TEXT NOT NULL,
    size       TEXT,
    PRIMARY KEY (kind, account, region, id, event_time, event_id)
) WITHOUT ROWID;
INSERT INTO resource_touches_49
    SELECT t.kind, t.account, t.region, t.id, t.event_time, t.event_id, u.id, t.change, t.size
    FROM resource_touches t JOIN user_names u ON u.text = t.user
    ORDER BY t.kind, t.account, t.region, t.id, t.event_time, t.event_id;
DROP TABLE resource_touches;
ALTER TABLE resource_touches_49 RENAME TO resource_touches;
CREATE TABLE resource_users_49 (
    user    INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    account TEXT NOT NULL,
    region  TEXT NOT NULL,
    id      TEXT NOT NULL,
    PRIMARY KEY (user, kind, account, region, id)
) WITHOUT ROWID;
INSERT INTO resource_users_49
    SELECT DISTINCT u.id, r.kind, r.account, r.region, r.id
    FROM resource_users r JOIN user_names u ON u.text = r.user ORDER BY 1, 2, 3, 4, 5;
DROP TABLE resource_users;
ALTER TABLE resource_users_49 RENAME TO resource_users;
CREATE TRIGGER resource_users_added AFTER INSERT ON resource_touches BEGIN
    INSERT OR IGNORE INTO resource_users (user, kind, account, region, id)
        VALUES (new.user, new.kind, new.account, new.region, new.id);
END;
CREATE TRIGGER resource_users_removed AFTER DELETE ON resource_touches BEGIN
    DELETE FROM resource_users
     WHERE user = old.user AND kind = old.kind AND account = old.account
       AND region = old.region AND id = old.id
       AND NOT EXISTS (SELECT 1 FROM resource_touches t
                        WHERE t.kind = old.kind AND t.account = old.account
                          AND t.region = old.region AND t.id = old.id AND t.user = old.user);
END;
"#,
    // 50: an alert holds ids, as its event does (schema 46), not texts: its
    // rule's in `alert_rules` (which gains an integer key), its user's,
    // service's and eventName's in `user_names`, `service_names` and
    // `event_names`, and its eventID as `events` holds one (a canonical
    // UUID's 16 bytes, `write::id_bytes`). The id `RULE:EVENT` is no column
    // any more: `alerts_by_id` is on (rule, event_id), and the id is read as
    // `rule_id || ':' || ctt_id_text(event_id)`. A hunting rule raises an
    // alert on a quarter of the records: its rows and their three indexes
    // were ~420 bytes an alert, more than a stored event's. Rowids are kept
    // (the outbox's cursor and `alert_records` are theirs).
    r#"
INSERT OR IGNORE INTO user_names (text) SELECT DISTINCT user FROM alerts;
INSERT OR IGNORE INTO service_names (text) SELECT DISTINCT service FROM alerts;
INSERT OR IGNORE INTO event_names (text) SELECT DISTINCT event_name FROM alerts;
CREATE TABLE alert_rules_50 (
    id      INTEGER PRIMARY KEY,
    rule_id TEXT NOT NULL UNIQUE,
    title   TEXT NOT NULL,
    tags    TEXT NOT NULL
);
INSERT INTO alert_rules_50 (rule_id, title, tags)
    SELECT rule_id, title, tags FROM alert_rules ORDER BY rule_id;
INSERT OR IGNORE INTO alert_rules_50 (rule_id, title, tags)
    SELECT rule_id, coalesce(title, ''), coalesce(tags, '[]') FROM alerts
     GROUP BY rule_id ORDER BY rule_id;
CREATE TABLE alerts_50 (
    rule       INTEGER NOT NULL,
    level      TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    event_time INTEGER NOT NULL,
    user       INTEGER NOT NULL,
    service    INTEGER NOT NULL,
    event_name INTEGER NOT NULL,
    withdrawn  INTEGER NOT NULL DEFAULT 0,
    baseline   TEXT,
    title      TEXT,
    tags       TEXT
);
INSERT INTO alerts_50 (rowid, rule, level, event_id, event_time, user, service, event_name,
                       withdrawn, baseline, title, tags)
    SELECT a.rowid, r.id, a.level, ctt_id_bytes(a.event_id), a.event_time, u.id, s.id, n.id,
           a.withdrawn, a.baseline, a.title, a.tags
    FROM alerts a JOIN alert_rules_50 r ON r.rule_id = a.rule_id
    JOIN user_names u ON u.text = a.user JOIN service_names s ON s.text = a.service
    JOIN event_names n ON n.text = a.event_name
    ORDER BY a.rowid;
DROP TABLE alerts;
DROP TABLE alert_rules;
ALTER TABLE alert_rules_50 RENAME TO alert_rules;
ALTER TABLE alerts_50 RENAME TO alerts;
CREATE UNIQUE INDEX alerts_by_id ON alerts (rule, event_id);
CREATE INDEX alerts_by_time ON alerts (event_time, event_id, rule);
CREATE INDEX alerts_by_user ON alerts (user, event_time, event_id, rule);
CREATE INDEX alerts_withdrawn ON alerts (event_time) WHERE withdrawn = 1;
"#,
];

/// One of the [`QUERY_INDEXES`]: its name, the SQL that builds it, and for a
/// unique one the SQL that removes the rows its build found twice, run
/// before building again.
pub struct QueryIndex {
    pub name: &'static str,
    pub build: &'static str,
    pub on_duplicate: Option<&'static str>,
}

/// The indexes that only queries need (the load needs only `events_by_id`, for
/// idempotence), each with the SQL that builds it. A bulk load into an empty
/// store drops them and builds them at the end, which is several times faster
/// than maintaining them row by row; every open builds any that are missing,
/// so a load killed before its end loses nothing but time.
///
/// `alerts_by_id` is one of them: while it is missing, `INSERT OR IGNORE`
/// finds no conflict and a bulk load may store an alert twice (the same
/// event in two files). When its build finds such a pair, the build keeps
/// each id's first row (the one an index would have kept,
/// [`KEEP_FIRST_ALERTS`]) and makes the index again; a load without one
/// (nearly every load) does not pay that sort of every alert.
pub const QUERY_INDEXES: &[QueryIndex] = &[
    QueryIndex {
        name: "events_by_time",
        build: "CREATE INDEX events_by_time ON events (event_time)",
        on_duplicate: None,
    },
    QueryIndex {
        name: "events_by_user",
        build: "CREATE INDEX events_by_user ON events (user, event_time)",
        on_duplicate: None,
    },
    QueryIndex {
        name: "events_by_service",
        build: "CREATE INDEX events_by_service ON events (service, event_time)",
        on_duplicate: None,
    },
    QueryIndex {
        name: "events_by_name",
        build: "CREATE INDEX events_by_name
            ON events (event_name, event_time, ctt_id_bytes(event_id), service, user, error_code)",
        on_duplicate: None,
    },
    QueryIndex {
        name: "event_params_by_value",
        build: "CREATE INDEX event_params_by_value ON event_params (name_id, value_id, seq)",
        on_duplicate: None,
    },
    QueryIndex {
        name: "alerts_by_id",
        build: "CREATE UNIQUE INDEX alerts_by_id ON alerts (rule, event_id)",
        on_duplicate: Some(KEEP_FIRST_ALERTS),
    },
    QueryIndex {
        name: "alerts_by_time",
        build: "CREATE INDEX alerts_by_time ON alerts (event_time, event_id, rule)",
        on_duplicate: None,
    },
    QueryIndex {
        name: "alerts_by_user",
        build: "CREATE INDEX alerts_by_user ON alerts (user, event_time, event_id, rule)",
        on_duplicate: None,
    },
    QueryIndex {
        name: "alerts_withdrawn",
        build: "CREATE INDEX alerts_withdrawn ON alerts (event_time) WHERE withdrawn = 1",
        on_duplicate: None,
    },
];

/// Keeps the first row of each alert stored twice (see [`QUERY_INDEXES`]),
/// with its record, and drops the others: what `alerts_by_id`'s build runs
/// when it found an alert twice, before building again.
pub const KEEP_FIRST_ALERTS: &str = "CREATE TEMP TABLE alerts_twice AS SELECT rowid AS alert
        FROM alerts WHERE rowid NOT IN (SELECT min(rowid) FROM alerts GROUP BY rule, event_id);
    DELETE FROM alerts WHERE rowid IN (SELECT alert FROM alerts_twice);
    DELETE FROM alert_records WHERE alert IN (SELECT alert FROM alerts_twice);
    DROP TABLE alerts_twice;";

/// Builds the [`QUERY_INDEXES`] that are missing, each in a transaction
/// (immediate: another connection may be committing a load). An open finds
/// them all present and writes nothing.
pub fn build_query_indexes(conn: &mut Connection) -> rusqlite::Result<()> {
    let exists = |conn: &Connection, name: &str| -> rusqlite::Result<bool> {
        conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?1)",
            [name],
            |r| r.get(0),
        )
    };
    let mut missing = Vec::new();
    for index in QUERY_INDEXES {
        if !exists(conn, index.name)? {
            missing.push(index);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    // Sorting a large table's entries for an index: the writer's temporary
    // storage is memory, where the sorter's overflow would hold them all (the
    // peak of a large bulk load, past 1 GiB at 3.6 million events); on disk
    // it is bounded by the cache whatever the size.
    conn.execute_batch("PRAGMA temp_store = FILE")?;
    let built = (|| {
        for index in missing {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            if !exists(&tx, index.name)? {
                match (tx.execute_batch(index.build), index.on_duplicate) {
                    // A row twice (only the statement is undone).
                    (Err(rusqlite::Error::SqliteFailure(e, _)), Some(repair))
                        if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                    {
                        tx.execute_batch(repair)?;
                        tx.execute_batch(index.build)?;
                    }
                    (built, _) => built?,
                }
            }
            tx.commit()?;
        }
        Ok(())
    })();
    conn.execute_batch("PRAGMA temp_store = MEMORY")?;
    built
}

/// Drops the [`QUERY_INDEXES`] when the store holds no event and no alert;
/// whether it did.
pub fn drop_query_indexes_if_empty(conn: &mut Connection) -> rusqlite::Result<bool> {
    let tx = conn.transaction()?;
    let empty: bool = tx.query_row(
        "SELECT NOT EXISTS (SELECT 1 FROM events) AND NOT EXISTS (SELECT 1 FROM alerts)",
        [],
        |r| r.get(0),
    )?;
    if empty {
        for index in QUERY_INDEXES {
            tx.execute_batch(&format!("DROP INDEX IF EXISTS {};", index.name))?;
        }
    }
    tx.commit()?;
    Ok(empty)
}

/// The schema version this build writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database to [`VERSION`]; returns the version found before.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<Result<i64, i64>> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > VERSION {
        return Ok(Err(found));
    }
    super::write::register_key_functions(conn)?;
    // A migration that builds an index sorts on disk (see
    // [`build_query_indexes`]), whatever the connection's setting was.
    let temp_store: i64 = conn.query_row("PRAGMA temp_store", [], |r| r.get(0))?;
    conn.execute_batch("PRAGMA temp_store = FILE")?;
    let migrated = (|| {
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", index as i64 + 1)?;
            tx.commit()?;
        }
        Ok(())
    })();
    conn.pragma_update(None, "temp_store", temp_store)?;
    migrated.map(|()| Ok(found))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::OptionalExtension;

    #[test]
    fn a_version_1_database_migrates_to_the_latest_keeping_its_data() {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.execute_batch(MIGRATIONS[0]).expect("migration 1");
        conn.pragma_update(None, "user_version", 1)
            .expect("version");
        conn.execute("INSERT INTO parameters (name) VALUES ('eventName')", [])
            .expect("insert");
        assert_eq!(migrate(&mut conn).expect("migrate"), Ok(1));
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(version, VERSION);
        let kept: i64 = conn
            .query_row("SELECT count(*) FROM parameters", [], |r| r.get(0))
            .expect("count");
        assert_eq!(kept, 1);
        let tokens: i64 = conn
            .query_row("SELECT count(*) FROM tokens", [], |r| r.get(0))
            .expect("tokens table");
        assert_eq!(tokens, 0);
        assert_eq!(migrate(&mut conn).expect("migrate again"), Ok(VERSION));
    }

    #[test]
    fn migrations_4_17_18_and_22_count_the_events_already_stored_by_hour_day_and_block() {
        let mut conn = at_version(3);
        for (id, time, user, service) in [
            ("a", 7200, "alice", "ec2"),
            ("b", 7201, "alice", "s3"),
            ("c", 10799, "bob", "ec2"),
            ("d", 10800, "bob", "ec2"),
            ("e", -1, "carol", "iam"),
        ] {
            conn.execute(
                "INSERT INTO events (event_id, event_time, event_name, event_source, service, user, record)
                 VALUES (?1, ?2, 'X', 'x.amazonaws.com', ?4, ?3, '{}')",
                rusqlite::params![id, time, user, service],
            )
            .expect("insert");
        }
        assert_eq!(migrate(&mut conn).expect("migrate"), Ok(3));
        let rows: Vec<(i64, String, i64, i64)> = conn
            .prepare("SELECT kind, key, hour, events FROM hourly_counts ORDER BY 1, 2, 3")
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        let expected = [
            (0, "", -3600, 1),
            (0, "", 7200, 3),
            (0, "", 10800, 1),
            (1, "alice", 7200, 2),
            (1, "bob", 7200, 1),
            (1, "bob", 10800, 1),
            (1, "carol", -3600, 1),
            (2, "ec2", 7200, 2),
            (2, "ec2", 10800, 1),
            (2, "iam", -3600, 1),
            (2, "s3", 7200, 1),
            // Migration 17: by eventName, error code and region ('' for none).
            (4, "X", -3600, 1),
            (4, "X", 7200, 3),
            (4, "X", 10800, 1),
            (5, "", -3600, 1),
            (5, "", 7200, 3),
            (5, "", 10800, 1),
            (6, "", -3600, 1),
            (6, "", 7200, 3),
            (6, "", 10800, 1),
        ];
        let expected: Vec<(i64, String, i64, i64)> = expected
            .iter()
            .map(|(k, key, h, n)| (*k, (*key).to_owned(), *h, *n))
            .collect();
        assert_eq!(rows, expected);
        // Migration 18: the kinds `/stats` groups by, per day.
        let days: Vec<(i64, i64, String, i64)> = conn
            .prepare("SELECT kind, day, key, events FROM daily_counts WHERE kind IN (1, 4) ORDER BY 1, 2, 3")
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        let expected_days = [
            (1, -86_400, "carol", 1),
            (1, 0, "alice", 2),
            (1, 0, "bob", 2),
            (4, -86_400, "X", 1),
            (4, 0, "X", 4),
        ];
        let expected_days: Vec<(i64, i64, String, i64)> = expected_days
            .iter()
            .map(|(k, d, key, n)| (*k, *d, (*key).to_owned(), *n))
            .collect();
        assert_eq!(days, expected_days);
        // Migration 22: and per 8 and 64 days (kinds + 100, + 200), from 1970.
        let blocks: Vec<(i64, i64, String, i64)> = conn
            .prepare("SELECT kind, day, key, events FROM daily_counts WHERE kind IN (101, 201) ORDER BY 1, 2, 3")
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        let expected_blocks = [
            (101, -8 * 86_400, "carol", 1),
            (101, 0, "alice", 2),
            (101, 0, "bob", 2),
            (201, -64 * 86_400, "carol", 1),
            (201, 0, "alice", 2),
            (201, 0, "bob", 2),
        ];
        let expected_blocks: Vec<(i64, i64, String, i64)> = expected_blocks
            .iter()
            .map(|(k, d, key, n)| (*k, *d, (*key).to_owned(), *n))
            .collect();
        assert_eq!(blocks, expected_blocks);
    }

    /// A database in memory as the first `version` migrations left it.
    fn at_version(version: usize) -> Connection {
        let conn = Connection::open_in_memory().expect("open");
        super::super::write::register_key_functions(&conn).expect("key functions");
        for (index, sql) in MIGRATIONS.iter().take(version).enumerate() {
            conn.execute_batch(sql).expect("migration");
            conn.pragma_update(None, "user_version", index as i64 + 1)
                .expect("version");
        }
        conn
    }

    #[test]
    fn migration_19_keeps_every_alert_its_rowid_its_record_and_its_uniqueness() {
        let mut conn = at_version(18);
        for (rowid, id, event, withdrawn) in [(7, "r:a", "a", 0), (3, "r:b", "b", 1)] {
            conn.execute(
                "INSERT INTO alerts (rowid, id, rule_id, title, level, tags, event_id, event_time,
                    user, service, event_name, record, withdrawn, baseline)
                 VALUES (?1, ?2, 'r', 't', 'low', '[]', ?3, 5, 'alice', 'ec2', 'X', ?2, ?4, 'b')",
                rusqlite::params![rowid, id, event, withdrawn],
            )
            .expect("insert");
        }
        assert_eq!(migrate(&mut conn).expect("migrate"), Ok(18));
        let rows: Vec<(i64, String, i64, Option<String>, String)> = conn
            .prepare(concat!(
                "SELECT a.rowid, ",
                alert_id!("a"),
                ", withdrawn, baseline, record
                 FROM alerts a JOIN alert_records r ON r.alert = a.rowid ORDER BY a.rowid"
            ))
            .expect("prepare")
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(
            rows,
            [
                (3, "r:b".into(), 1, Some("b".into()), "r:b".into()),
                (7, "r:a".into(), 0, Some("b".into()), "r:a".into())
            ]
        );
        let duplicate = conn.execute(
            "INSERT OR IGNORE INTO alerts (rule, title, level, tags, event_id, event_time,
                user, service, event_name)
             SELECT id, 't', 'low', '[]', 'a', 5, 1, 1, 1 FROM alert_rules WHERE rule_id = 'r'",
            [],
        );
        assert_eq!(duplicate.expect("insert"), 0);
    }

    /// Issue "Scale" (disk): the ledger found by key hashes keeps every
    /// file's row, id (the load order) and verdict, and finds each by key.
    #[test]
    fn migration_26_finds_every_file_by_its_key_hash_without_a_second_copy_of_the_key() {
        let mut conn = at_version(25);
        for (id, key, outcome, integrity) in [
            (
                3,
                "AWSLogs/1/CloudTrail/us-east-1/2018/03/01/a.json.gz",
                "loaded",
                Some("valid"),
            ),
            (
                7,
                "AWSLogs/1/CloudTrail/us-east-1/2018/03/01/b.json.gz",
                "failed",
                None,
            ),
        ] {
            conn.execute(
                "INSERT INTO files (id, key, size, version, outcome, reason, records, stored,
                    filtered, duplicate, rejected, loaded_at, integrity)
                 VALUES (?1, ?2, 10, 'v1', ?3, NULL, 4, 3, 1, 0, 0, 100, ?4)",
                rusqlite::params![id, key, outcome, integrity],
            )
            .expect("insert");
        }
        assert_eq!(migrate(&mut conn).expect("migrate"), Ok(25));
        let entry = super::super::write::ledger_entry(
            &conn,
            "AWSLogs/1/CloudTrail/us-east-1/2018/03/01/a.json.gz",
        )
        .expect("found by key");
        assert_eq!((entry.version.as_str(), entry.counts.stored), ("v1", 3));
        let rows: Vec<(i64, String, Option<String>)> = conn
            .prepare("SELECT id, outcome, integrity FROM files ORDER BY id")
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(
            rows,
            [
                (3, "loaded".into(), Some("valid".into())),
                (7, "failed".into(), None)
            ]
        );
        let other = super::super::write::ledger_entry(
            &conn,
            "AWSLogs/1/CloudTrail/us-east-1/2018/03/01/b.json.gz",
        )
        .expect("found by key");
        assert_eq!(other.outcome.as_str(), "failed");
        // The key itself is stored once: no index holds it.
        let indexes: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'files' ORDER BY name")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        // (Failed files by an index of their own since migration 36.)
        assert_eq!(indexes, ["files_by_key", "files_failed"]);
        // …and the hash is computed as the writer computes it.
        let hash: i64 = conn
            .query_row("SELECT key_hash FROM files WHERE id = 7", [], |r| r.get(0))
            .expect("hash");
        assert_eq!(
            hash,
            super::super::write::key_hash("AWSLogs/1/CloudTrail/us-east-1/2018/03/01/b.json.gz")
        );
    }

    /// Issue "Scale" (disk): from schema 31 the time indexes end with the
    /// row id, not the eventID; an open builds them again on a store that
    /// had them, and each still finds its events.
    #[test]
    fn migration_31_leaves_the_event_id_out_of_the_time_indexes() {
        let mut conn = at_version(30);
        conn.execute_batch(
            "INSERT INTO events (event_id, event_time, event_name, event_source, service, user)
             VALUES ('e1', 1000, 'RunInstances', 'ec2.amazonaws.com', 'ec2', 'alice'),
                    ('e2', 1001, 'PutObject', 's3.amazonaws.com', 's3', 'bob')",
        )
        .expect("events");
        assert_eq!(migrate(&mut conn).expect("migrate"), Ok(30));
        build_query_indexes(&mut conn).expect("build");
        for (index, columns) in [
            ("events_by_time", "(event_time)"),
            ("events_by_user", "(user, event_time)"),
            ("events_by_service", "(service, event_time)"),
        ] {
            let sql: String = conn
                .query_row(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1",
                    [index],
                    |r| r.get(0),
                )
                .expect("index");
            assert!(sql.ends_with(columns), "{sql}");
        }
        let found = |sql: &str| -> String { conn.query_row(sql, [], |r| r.get(0)).expect("found") };
        assert_eq!(
            found(
                "SELECT event_id FROM events INDEXED BY events_by_user
                 WHERE user = (SELECT id FROM user_names WHERE text = 'bob')"
            ),
            "e2"
        );
        assert_eq!(
            found(
                "SELECT event_id FROM events INDEXED BY events_by_service
                 WHERE service = (SELECT id FROM service_names WHERE text = 'ec2')"
            ),
            "e1"
        );
        assert_eq!(
            found("SELECT event_id FROM events INDEXED BY events_by_time WHERE event_time > 1000"),
            "e2"
        );
    }

    /// Issue "Scale" (disk), schema 46: every event's user, role, service
    /// and eventName is rewritten as the id of its text, each text stored
    /// once; every row reads back as it did, the eventSource derived from
    /// the service included.
    #[test]
    fn migration_46_keeps_each_users_name_once_and_every_row_whole() {
        let mut conn = at_version(45);
        conn.execute_batch(
            "INSERT INTO events (seq, event_id, event_time, event_name, event_source, service, user,
                                 role, account_id, error_code, read_only, user_agent_id)
             VALUES (3, 'e1', 1000, 'RunInstances', '', 'ec2', 'alice', 'deploy', '1', NULL, 0, 7),
                    (5, x'00112233445566778899aabbccddeeff', 1001, 'PutObject',
                     's3.amazonaws.com', 's3', 'bob@example.com', 'admin', NULL, 'AccessDenied',
                     1, NULL),
                    (9, 'e3', 999, 'RunInstances', '', 'ec2', 'alice', x'', '2', NULL, NULL,
                     NULL)",
        )
        .expect("events");
        let rows = |conn: &Connection, [name, source, service, user, role]: [&str; 5]| {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT seq, quote(event_id), event_time, {name}, {source}, {service},
                            {user}, {role}, account_id, error_code, read_only, user_agent_id
                     FROM events ORDER BY seq"
                ))
                .expect("select");
            stmt.query_map([], |r| {
                Ok((0..12)
                    .map(|i| format!("{:?}", r.get_ref(i).expect("column")))
                    .collect::<Vec<_>>()
                    .join("|"))
            })
            .expect("rows")
            .collect::<rusqlite::Result<Vec<String>>>()
            .expect("rows")
        };
        // As schema 45 read them.
        let source_before = "CASE WHEN event_source = '' AND service <> '' \
                             THEN service || '.amazonaws.com' ELSE event_source END";
        let role_before = "CASE WHEN role = x'' THEN user ELSE role END";
        let before = rows(
            &conn,
            ["event_name", source_before, "service", "user", role_before],
        );
        assert_eq!(migrate(&mut conn).expect("migrate"), Ok(45));
        let after = rows(
            &conn,
            [event_name!(), event_source!(), service!(), user!(), role!()],
        );
        assert_eq!(after, before);
        let kinds: Vec<String> = conn
            .prepare(
                "SELECT typeof(event_name) || typeof(service) || typeof(user) || typeof(role)
                 FROM events ORDER BY seq",
            )
            .expect("select")
            .query_map([], |r| r.get(0))
            .expect("rows")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(
            kinds,
            [
                "integerintegerintegerinteger",
                "integerintegerintegerinteger",
                "integerintegerintegerblob"
            ]
        );
        for (table, count) in [("user_names", 4), ("service_names", 2), ("event_names", 2)] {
            let names: i64 = conn
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
                .expect("names");
            assert_eq!(names, count, "{table}");
        }
        let found: i64 = conn
            .query_row(
                "SELECT seq FROM events WHERE ctt_key_hash(event_id) = ctt_key_hash('e3')",
                [],
                |r| r.get(0),
            )
            .expect("events_by_id is back");
        assert_eq!(found, 9);
    }

    /// Issue "Scale" (disk), schema 48: the states' latest `last_time` is
    /// kept in a row of its own, from the states there are, and the index of
    /// every state's is gone.
    #[test]
    fn migration_48_keeps_the_latest_state_time_without_an_index() {
        for (states, latest) in [(&[][..], None), (&[100, 300, 200][..], Some(300))] {
            let mut conn = at_version(47);
            for (i, last) in states.iter().enumerate() {
                conn.execute(
                    "INSERT INTO resource_states (kind, id, region, account, first_time,
                        last_time, state, running_seconds)
                     VALUES ('ec2:instance', ?1, 'us-east-1', '1', 0, ?2, 'running', 0)",
                    rusqlite::params![format!("i-{i}"), last],
                )
                .expect("state");
            }
            assert_eq!(migrate(&mut conn).expect("migrate"), Ok(47));
            let kept: Option<i64> = conn
                .query_row("SELECT last_time FROM resource_states_latest", [], |r| {
                    r.get(0)
                })
                .optional()
                .expect("latest");
            assert_eq!(kept, latest);
            let index: bool = conn
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'resource_states_by_last')",
                    [],
                    |r| r.get(0),
                )
                .expect("index");
            assert!(!index);
        }
    }

    /// Issue "Detections" (disk): an alert kept as ids reads back whole —
    /// id, rule, title and tags (its own or its rule's), level, eventID (a
    /// UUID's 16 bytes, any other as text), names, baseline and record —
    /// listed in the API's order, found by its id (a rule's or an eventID's
    /// `:` too), counted by user and rule, and stored once.
    #[test]
    fn migration_50_keeps_every_alert_whole_as_ids() {
        let mut conn = at_version(49);
        let uuid = |n: u8| format!("aaaaaaaa-0000-4000-8000-00000000000{n}");
        conn.execute(
            "INSERT INTO alert_rules (rule_id, title, tags)
             VALUES ('r1', 'Root used', '[\"attack.t1078\"]')",
            [],
        )
        .expect("rule");
        for (rowid, rule, title, tags, level, event, time, user, withdrawn, baseline) in [
            (4, "r1", None, None, "high", uuid(1), 100, "alice", 0, None),
            (
                2,
                "r1",
                Some("Old title"),
                Some("[\"x\"]"),
                "high",
                "odd:id".to_owned(),
                100,
                "bob",
                0,
                None,
            ),
            (
                7,
                "anomaly:new-region",
                Some("New region"),
                Some("[]"),
                "medium",
                uuid(2),
                50,
                "bob",
                0,
                Some("{\"b\":1}"),
            ),
            (9, "r1", None, None, "high", uuid(3), 200, "carol", 1, None),
        ] {
            conn.execute(
                "INSERT INTO alerts (rowid, rule_id, title, tags, level, event_id, event_time,
                    user, service, event_name, withdrawn, baseline)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'iam', 'GetUser', ?9, ?10)",
                rusqlite::params![
                    rowid, rule, title, tags, level, event, time, user, withdrawn, baseline
                ],
            )
            .expect("alert");
        }
        conn.execute(
            "INSERT INTO alert_records (alert, record) VALUES (4, '{\"eventID\":\"one\"}')",
            [],
        )
        .expect("record");
        assert_eq!(migrate(&mut conn).expect("migrate"), Ok(49));
        let decoder = std::sync::Arc::new(super::super::records::Decoder::new("unused".into()));
        super::super::query::register_functions(&conn, &decoder).expect("functions");
        let all = crate::AlertQuery {
            limit: 10,
            ..crate::AlertQuery::default()
        };
        let listed = super::super::alerts::list(&conn, &all).expect("list");
        let ids: Vec<&str> = listed.iter().map(|a| a.id.as_str()).collect();
        let (one, two) = (
            format!("r1:{}", uuid(1)),
            format!("anomaly:new-region:{}", uuid(2)),
        );
        assert_eq!(ids, [two.as_str(), one.as_str(), "r1:odd:id"]);
        let seen: Vec<_> = listed
            .iter()
            .map(|a| {
                (
                    a.rule_id.as_str(),
                    a.title.as_str(),
                    a.tags.clone(),
                    a.level.as_str(),
                    a.event_id.as_str(),
                    a.user.as_str(),
                    a.service.as_str(),
                    a.event_name.as_str(),
                    a.record.get(),
                )
            })
            .collect();
        let u2 = uuid(2);
        let u1 = uuid(1);
        assert_eq!(
            seen,
            [
                (
                    "anomaly:new-region",
                    "New region",
                    vec![],
                    "medium",
                    u2.as_str(),
                    "bob",
                    "iam",
                    "GetUser",
                    ""
                ),
                (
                    "r1",
                    "Root used",
                    vec!["attack.t1078".to_owned()],
                    "high",
                    u1.as_str(),
                    "alice",
                    "iam",
                    "GetUser",
                    r#"{"eventID":"one"}"#
                ),
                (
                    "r1",
                    "Old title",
                    vec!["x".to_owned()],
                    "high",
                    "odd:id",
                    "bob",
                    "iam",
                    "GetUser",
                    ""
                ),
            ]
        );
        let baseline: Option<String> = conn
            .query_row("SELECT baseline FROM alerts WHERE rowid = 7", [], |r| {
                r.get(0)
            })
            .expect("baseline");
        assert_eq!(baseline.as_deref(), Some(r#"{"b":1}"#));
        for alert in &listed {
            let found = super::super::alerts::get(&conn, &alert.id)
                .expect("get")
                .expect("found by id");
            assert_eq!(
                (found.id.as_str(), found.title.as_str()),
                (alert.id.as_str(), alert.title.as_str())
            );
        }
        // A rule whose id is another's and a `:` does not hide the other's
        // alert; an id of nothing but `:` finds nothing.
        conn.execute(
            "INSERT INTO alert_rules (rule_id, title, tags) VALUES ('r1:odd', 't', '[]')",
            [],
        )
        .expect("rule");
        let odd = super::super::alerts::get(&conn, "r1:odd:id")
            .expect("get")
            .expect("found");
        assert_eq!(
            (odd.rule_id.as_str(), odd.event_id.as_str()),
            ("r1", "odd:id")
        );
        assert!(
            super::super::alerts::get(&conn, &":".repeat(2_000))
                .expect("get")
                .is_none()
        );
        let withdrawn = format!("r1:{}", uuid(3));
        assert!(
            super::super::alerts::get(&conn, &withdrawn)
                .expect("get")
                .is_none()
        );
        let count =
            |query: crate::AlertQuery| super::super::alerts::count(&conn, &query).expect("count");
        assert_eq!(
            count(crate::AlertQuery {
                user: Some("bob".into()),
                ..all.clone()
            }),
            2
        );
        assert_eq!(
            count(crate::AlertQuery {
                rule: Some("anomaly:*".into()),
                ..all.clone()
            }),
            1
        );
        assert_eq!(
            count(crate::AlertQuery {
                rule: Some("r1".into()),
                ..all.clone()
            }),
            2
        );
        let kept: Vec<(i64, String)> = conn
            .prepare("SELECT rowid, typeof(event_id) FROM alerts ORDER BY rowid")
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        let kinds: Vec<(i64, &str)> = kept.iter().map(|(r, t)| (*r, t.as_str())).collect();
        assert_eq!(kinds, [(2, "text"), (4, "blob"), (7, "blob"), (9, "blob")]);
        let again = conn.execute(
            "INSERT OR IGNORE INTO alerts (rule, level, event_id, event_time, user, service,
                event_name)
             SELECT id, 'low', ctt_id_bytes(?1), 1, 1, 1, 1 FROM alert_rules WHERE rule_id = 'r1'",
            [uuid(1)],
        );
        assert_eq!(again.expect("insert"), 0, "stored once");
    }

    /// Issue "Scale" (disk): a key is kept as its folder's id and its name;
    /// every key reads back whole, each folder is stored once, and an entry
    /// is found by its key as before (keys without a folder, and names that
    /// are not ASCII, too).
    #[test]
    fn migration_29_keeps_each_key_as_its_folder_and_its_name() {
        let mut conn = at_version(28);
        let keys = [
            "/data/AWSLogs/1/CloudTrail/us-east-1/2018/03/01/a.json.gz",
            "/data/AWSLogs/1/CloudTrail/us-east-1/2018/03/01/b.json.gz",
            "/data/AWSLogs/1/CloudTrail/eu-west-1/2018/03/01/é-ü.json.gz",
            "loose.json.gz",
        ];
        for (id, key) in keys.iter().enumerate() {
            conn.execute(
                "INSERT INTO files (id, key, key_hash, size, version, outcome, reason, records,
                    stored, filtered, duplicate, rejected, loaded_at, integrity, sha256)
                 VALUES (?1, ?2, ctt_key_hash(?2), 10, 'v1', 'loaded', NULL, 4, ?1, 1, 0, 0,
                         100, 'valid', x'00ff')",
                rusqlite::params![id as i64 + 1, key],
            )
            .expect("insert");
        }
        assert_eq!(migrate(&mut conn).expect("migrate"), Ok(28));
        let read: Vec<String> = conn
            .prepare("SELECT key FROM files_keyed ORDER BY id")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(read, keys);
        let dirs: i64 = conn
            .query_row("SELECT count(*) FROM file_dirs", [], |r| r.get(0))
            .expect("dirs");
        assert_eq!(dirs, 3, "two folders and none");
        for (id, key) in keys.iter().enumerate() {
            let entry = super::super::write::ledger_entry(&conn, key).expect("found by key");
            assert_eq!(
                (
                    entry.key.as_str(),
                    entry.counts.stored,
                    entry.integrity.as_deref()
                ),
                (*key, id as u64 + 1, Some("valid"))
            );
            assert_eq!(entry.sha256.as_deref(), Some("00ff"));
        }
    }

    /// Issue "Scale" (disk): from schema 33 the resources a user touched are
    /// one row per user and resource, kept by triggers as touches come and
    /// go; the migration gathers them from the touches stored before.
    #[test]
    fn migration_33_keeps_each_users_resources_once() {
        let mut conn = at_version(32);
        // The user's name, then (schema 49) its id.
        let touch = |conn: &Connection, id: &str, time: i64, user: &str, named: bool| {
            let user_sql = if named {
                "(SELECT id FROM user_names WHERE text = ?4)"
            } else {
                "?4"
            };
            conn.execute(
                &format!(
                    "INSERT INTO resource_touches (kind, account, region, id, event_time,
                        event_id, user, change, size) VALUES ('ec2:instance', '1', 'eu-west-1',
                        ?1, ?2, ?3, {user_sql}, 'create', NULL)"
                ),
                rusqlite::params![id, time, format!("e{time}"), user],
            )
            .expect("touch");
        };
        touch(&conn, "i-1", 1, "alice", false);
        touch(&conn, "i-1", 2, "alice", false);
        touch(&conn, "i-1", 3, "bob", false);
        assert_eq!(migrate(&mut conn).expect("migrate"), Ok(32));
        touch(&conn, "i-2", 4, "bob", true);
        let users = |conn: &Connection| -> Vec<(String, String)> {
            conn.prepare(
                "SELECT (SELECT text FROM user_names WHERE id = user), id FROM resource_users
                 ORDER BY 1, 2",
            )
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows")
        };
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(u, i)| (u.to_string(), i.to_string()))
                .collect()
        };
        assert_eq!(
            users(&conn),
            pairs(&[("alice", "i-1"), ("bob", "i-1"), ("bob", "i-2")])
        );
        // One of alice's two touches of i-1 gone: she still touched it; both: not.
        conn.execute("DELETE FROM resource_touches WHERE event_id = 'e1'", [])
            .expect("delete");
        assert_eq!(users(&conn).len(), 3);
        conn.execute("DELETE FROM resource_touches WHERE event_id = 'e2'", [])
            .expect("delete");
        assert_eq!(users(&conn), pairs(&[("bob", "i-1"), ("bob", "i-2")]));
    }

    /// Issue "Scale" (disk): schema 32 shortens a CloudTrail log's name and a
    /// local file's version in place; every entry reads back whole, and is
    /// found by its key and its version as before.
    #[test]
    fn migration_32_keeps_every_key_and_version_whole() {
        let mut conn = at_version(31);
        let dir = "/data/AWSLogs/111122223333/CloudTrail/eu-west-1/2018/03/01/";
        let entries = [
            (
                format!("{dir}111122223333_CloudTrail_eu-west-1_20180301T1005Z_abcd.json.gz"),
                120,
                "120:1519900000123456789",
            ),
            // Another day's name in this folder, a name without `.json.gz`,
            // an S3 ETag, a version whose size is not the entry's own.
            (
                format!("{dir}111122223333_CloudTrail_eu-west-1_20180302T1005Z_abcd.json.gz"),
                7,
                "\"9b2cf535f27731c974343645a3985328\"",
            ),
            (
                format!("{dir}111122223333_CloudTrail_eu-west-1_20180301T1005Z_abcd.json"),
                8,
                "9:1519900000123456789",
            ),
            ("loose.json.gz".to_owned(), 9, "9:007"),
        ];
        for (id, (key, size, version)) in entries.iter().enumerate() {
            let (folder, name) = super::super::write::split_key(key);
            conn.execute(
                "INSERT OR IGNORE INTO file_dirs (path) VALUES (?1)",
                [folder],
            )
            .expect("folder");
            conn.execute(
                "INSERT INTO files (id, dir, name, key_hash, size, version, outcome, reason,
                    records, stored, filtered, duplicate, rejected, loaded_at)
                 VALUES (?1, (SELECT id FROM file_dirs WHERE path = ?2), ?3, ctt_key_hash(?4),
                         ?5, ?6, 'loaded', NULL, 1, 1, 0, 0, 0, 100)",
                rusqlite::params![id as i64 + 1, folder, name, key, size, version],
            )
            .expect("insert");
        }
        assert_eq!(migrate(&mut conn).expect("migrate"), Ok(31));
        let stored: Vec<(String, String)> = conn
            .prepare("SELECT name, typeof(version) FROM files ORDER BY id")
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(stored[0], ("/T1005Z_abcd".to_owned(), "blob".to_owned()));
        assert_eq!(stored[3], ("loose.json.gz".to_owned(), "text".to_owned()));
        for (key, _, version) in &entries {
            let entry = super::super::write::ledger_entry(&conn, key).expect("found by key");
            assert_eq!(
                (entry.key.as_str(), entry.version.as_str()),
                (key.as_str(), *version)
            );
        }
        // As a load looks an entry up: by key and version.
        for (key, _, version) in &entries {
            let same: bool = conn
                .query_row(
                    "SELECT version = ?2 FROM files_keyed WHERE key_hash = ctt_key_hash(?1) AND key = ?1",
                    rusqlite::params![key, version],
                    |r| r.get(0),
                )
                .expect("found");
            assert!(same, "{key}");
        }
    }

    /// Issue "Scale" (disk): every indexed value keeps its event and is
    /// found by its parameter's name through the name's id.
    #[test]
    fn migration_28_keeps_every_indexed_value_under_its_names_id() {
        let mut conn = at_version(27);
        for (seq, name, value) in [
            (1, "userIdentity_principalId", "AIDA1"),
            (1, "requestParameters_bucketName", "logs"),
            (2, "userIdentity_principalId", "AIDA2"),
        ] {
            conn.execute(
                "INSERT INTO event_params (seq, name, value) VALUES (?1, ?2, ?3)",
                rusqlite::params![seq, name, value],
            )
            .expect("insert");
        }
        assert_eq!(migrate(&mut conn).expect("migrate"), Ok(27));
        let rows: Vec<(i64, String, String)> = conn
            .prepare(
                "SELECT p.seq, n.name, v.value FROM event_params p
                 JOIN param_names n ON n.id = p.name_id JOIN param_values v ON v.id = p.value_id
                 ORDER BY 1, 2",
            )
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(
            rows,
            [
                (1, "requestParameters_bucketName".into(), "logs".into()),
                (1, "userIdentity_principalId".into(), "AIDA1".into()),
                (2, "userIdentity_principalId".into(), "AIDA2".into()),
            ]
        );
        let names: i64 = conn
            .query_row("SELECT count(*) FROM param_names", [], |r| r.get(0))
            .expect("names");
        assert_eq!(names, 2, "each name stored once");
    }

    /// Issue "Scale" (disk): from schema 37 `events_by_id` holds the
    /// eventID's 8-byte hash. An event stored before is found by its
    /// eventID through the index, and the writer's lookup tells a stored
    /// eventID from another one.
    #[test]
    fn migration_37_finds_events_by_the_hash_of_their_event_id() {
        let mut conn = at_version(36);
        for (id, time) in [("e-1", 10), ("e-2", 20)] {
            conn.execute(
                "INSERT INTO events (event_id, event_time, event_name, event_source, service, user)
                 VALUES (?1, ?2, 'X', '', 'ec2', 'alice')",
                rusqlite::params![id, time],
            )
            .expect("insert");
        }
        assert_eq!(migrate(&mut conn).expect("migrate"), Ok(36));
        let plan: Vec<String> = conn
            .prepare(&format!(
                "EXPLAIN QUERY PLAN {}",
                super::super::write::FIND_EVENT
            ))
            .expect("plan")
            .query_map(rusqlite::params![0, ""], |r| r.get(3))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert!(
            plan.iter().any(|p| p.contains("USING INDEX events_by_id")),
            "{plan:?}"
        );
        let key = super::super::write::key_hash;
        let stored = |id: &str, hash: i64| -> bool {
            conn.prepare(super::super::write::FIND_EVENT)
                .expect("prepare")
                .exists(rusqlite::params![hash, id])
                .expect("find")
        };
        assert!(stored("e-1", key("e-1")));
        assert!(stored("e-2", key("e-2")));
        assert!(!stored("e-3", key("e-3")));
        // A hash alone is not the eventID: its row must hold the same id.
        assert!(!stored("e-3", key("e-1")));
        let index: String = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = 'events_by_id'",
                [],
                |r| r.get(0),
            )
            .expect("index");
        assert!(index.ends_with("(ctt_key_hash(event_id))"), "{index}");
    }

    /// Issue "Scale" (disk): from schema 36 the failed files have an index
    /// of their own; the status's count and the failed files' list use it.
    #[test]
    fn migration_36_finds_the_failed_files_by_an_index_of_them_alone() {
        let mut conn = at_version(35);
        conn.execute_batch(
            "INSERT INTO file_dirs (id, path) VALUES (1, 'a/');
             INSERT INTO files (id, dir, name, key_hash, size, version, outcome, records,
                stored, filtered, duplicate, rejected, loaded_at)
             VALUES (1, 1, 'x', 1, 1, 'v', 'loaded', 0, 0, 0, 0, 0, 0),
                    (2, 1, 'y', 2, 1, 'v', 'failed', 0, 0, 0, 0, 0, 0),
                    (3, 1, 'z', 3, 1, 'v', 'loaded', 0, 0, 0, 0, 0, 0);",
        )
        .expect("files");
        assert_eq!(migrate(&mut conn).expect("migrate"), Ok(35));
        for sql in [
            "SELECT count(*) FROM files WHERE outcome = 'failed'",
            "SELECT key FROM files_keyed WHERE outcome = 'failed' ORDER BY id",
        ] {
            let plan: Vec<String> = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .expect("plan")
                .query_map([], |r| r.get(3))
                .expect("query")
                .collect::<rusqlite::Result<_>>()
                .expect("rows");
            assert!(
                plan.iter().any(|p| p.contains("files_failed")),
                "{sql}: {plan:?}"
            );
        }
        let failed: Vec<String> = conn
            .prepare("SELECT key FROM files_keyed WHERE outcome = 'failed' ORDER BY id")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(failed, ["a/y"]);
    }

    /// Issue "Scale" (disk): from schema 35 each indexed value is stored
    /// once; every event keeps its values, and a value is found by its
    /// name's and its own id through the index.
    #[test]
    fn migration_35_keeps_each_indexed_value_once() {
        let mut conn = at_version(34);
        conn.execute_batch(
            "INSERT INTO param_names (id, name) VALUES (1, 'userIdentity_principalId'), (2, 'b');
             INSERT INTO event_params (seq, name_id, value) VALUES
                (1, 1, 'AIDA1'), (1, 2, 'AIDA1'), (2, 1, 'AIDA1'), (2, 1, 'AIDA2'), (3, 2, 'x');",
        )
        .expect("rows");
        assert_eq!(migrate(&mut conn).expect("migrate"), Ok(34));
        build_query_indexes(&mut conn).expect("indexes");
        let rows: Vec<(i64, i64, String)> = conn
            .prepare(
                "SELECT p.seq, p.name_id, v.value FROM event_params p
                 JOIN param_values v ON v.id = p.value_id ORDER BY 1, 2, 3",
            )
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        let expected: Vec<(i64, i64, String)> = [
            (1, 1, "AIDA1"),
            (1, 2, "AIDA1"),
            (2, 1, "AIDA1"),
            (2, 1, "AIDA2"),
            (3, 2, "x"),
        ]
        .iter()
        .map(|(s, n, v)| (*s, *n, (*v).to_owned()))
        .collect();
        assert_eq!(rows, expected, "every row kept");
        let values: i64 = conn
            .query_row("SELECT count(*) FROM param_values", [], |r| r.get(0))
            .expect("values");
        assert_eq!(values, 3, "each value stored once");
        let found: Vec<i64> = conn
            .prepare(
                "SELECT seq FROM event_params WHERE name_id = 1
                 AND value_id = (SELECT id FROM param_values WHERE value = 'AIDA1') ORDER BY seq",
            )
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(found, [1, 2]);
    }

    #[test]
    fn migration_25_computes_every_alerts_id_and_keeps_its_title_and_tags() {
        let mut conn = at_version(24);
        conn.execute(
            "INSERT INTO alerts (rowid, id, rule_id, title, level, tags, event_id, event_time,
                user, service, event_name, withdrawn)
             VALUES (9, 'r:e', 'r', 'Old title', 'high', '[\"a\"]', 'e', 5, 'alice', 'ec2',
                     'X', 0)",
            [],
        )
        .expect("insert");
        assert_eq!(migrate(&mut conn).expect("migrate"), Ok(24));
        let decoder = std::sync::Arc::new(super::super::records::Decoder::new("unused".into()));
        super::super::query::register_functions(&conn, &decoder).expect("functions");
        let alert = super::super::alerts::get(&conn, "r:e")
            .expect("get")
            .expect("kept");
        assert_eq!(
            (alert.title.as_str(), alert.tags, alert.level.as_str()),
            ("Old title", vec!["a".to_owned()], "high")
        );
        let rowid: i64 = conn
            .query_row("SELECT rowid FROM alerts", [], |r| r.get(0))
            .expect("rowid");
        assert_eq!(rowid, 9);
    }

    #[test]
    fn migration_5_moves_every_record_to_its_own_table() {
        let mut conn = at_version(4);
        for (id, record) in [("a", r#"{"eventID":"a"}"#), ("b", r#"{"eventID":"b"}"#)] {
            conn.execute(
                "INSERT INTO events (event_id, event_time, event_name, event_source, service, user, record)
                 VALUES (?1, 0, 'X', 'x.amazonaws.com', 'x', 'alice', ?2)",
                rusqlite::params![id, record],
            )
            .expect("insert");
        }
        assert_eq!(migrate(&mut conn).expect("migrate"), Ok(4));
        let moved: Vec<(String, String)> = conn
            .prepare(
                "SELECT e.event_id, r.record FROM events e JOIN records r USING (seq) ORDER BY 1",
            )
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(
            moved,
            [
                ("a".to_owned(), r#"{"eventID":"a"}"#.to_owned()),
                ("b".to_owned(), r#"{"eventID":"b"}"#.to_owned())
            ]
        );
        let columns: i64 = conn
            .query_row(
                "SELECT count(*) FROM pragma_table_info('events') WHERE name = 'record'",
                [],
                |r| r.get(0),
            )
            .expect("columns");
        assert_eq!(columns, 0, "events keeps no record column");
    }

    #[test]
    fn migration_6_keys_parameters_by_event_and_indexes_them_by_value() {
        let mut conn = at_version(5);
        for (name, value, seq) in [("a", "x", 2), ("a", "x", 1), ("b", "y", 1)] {
            conn.execute(
                "INSERT INTO event_params (name, value, seq) VALUES (?1, ?2, ?3)",
                rusqlite::params![name, value, seq],
            )
            .expect("insert");
        }
        assert_eq!(migrate(&mut conn).expect("migrate"), Ok(5));
        let rows: Vec<(i64, String, String)> = conn
            .prepare(
                "SELECT seq, n.name, v.value FROM event_params
                 JOIN param_names n ON n.id = name_id JOIN param_values v ON v.id = value_id
                 ORDER BY 1, 2, 3",
            )
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        let expected = [(1, "a", "x"), (1, "b", "y"), (2, "a", "x")];
        let expected: Vec<(i64, String, String)> = expected
            .iter()
            .map(|(s, n, v)| (*s, (*n).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(rows, expected, "every row kept");
        let table: String = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = 'event_params'",
                [],
                |r| r.get(0),
            )
            .expect("table");
        // (By the name's id since migration 28, the value's since 35.)
        assert!(
            table.contains("PRIMARY KEY (seq, name_id, value_id)"),
            "{table}"
        );
        build_query_indexes(&mut conn).expect("indexes");
        let plan: String = conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT seq FROM event_params WHERE name_id = 1 AND value_id = 1",
                [],
                |r| r.get(3),
            )
            .expect("plan");
        assert!(plan.contains("event_params_by_value"), "{plan}");
    }

    fn index_names(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'index'
                 AND tbl_name IN ('events', 'event_params', 'alerts') ORDER BY name",
            )
            .expect("prepare");
        stmt.query_map([], |r| r.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows")
    }

    #[test]
    fn query_indexes_are_dropped_only_from_an_empty_store_and_built_again() {
        let mut conn = Connection::open_in_memory().expect("open");
        assert_eq!(migrate(&mut conn).expect("migrate"), Ok(0));
        build_query_indexes(&mut conn).expect("build");
        let all = index_names(&conn);
        assert_eq!(all.len(), QUERY_INDEXES.len() + 1, "{all:?}");
        assert!(drop_query_indexes_if_empty(&mut conn).expect("drop"));
        assert_eq!(index_names(&conn), ["events_by_id"]);
        // Without `alerts_by_id`, a bulk load may store an alert twice (the
        // same event in two files): the build keeps the first.
        conn.execute_batch(
            "INSERT INTO alert_rules (id, rule_id, title, tags) VALUES (1, 'r', 't', '[]');",
        )
        .expect("rule");
        for (title, event) in [("first", "e1"), ("other", "e2"), ("second", "e1")] {
            conn.execute(
                "INSERT OR IGNORE INTO alerts (rule, title, level, tags, event_id,
                    event_time, user, service, event_name)
                 VALUES (1, ?2, 'low', '[]', ?1, 0, 1, 1, 1)",
                [event, title],
            )
            .expect("insert alert");
            conn.execute(
                "INSERT INTO alert_records (alert, record) VALUES (last_insert_rowid(), ?1)",
                [format!("{{\"title\":\"{title}\"}}")],
            )
            .expect("insert record");
        }
        conn.execute_batch("PRAGMA temp_store = MEMORY")
            .expect("temp store");
        build_query_indexes(&mut conn).expect("build");
        assert_eq!(index_names(&conn), all);
        // Built with temporary files on disk, the writer's setting back after.
        let temp_store: i64 = conn
            .query_row("PRAGMA temp_store", [], |r| r.get(0))
            .expect("temp store");
        assert_eq!(temp_store, 2, "MEMORY again");
        let titles: Vec<(String, String)> = conn
            .prepare(concat!(
                "SELECT ",
                alert_id!(),
                ", title FROM alerts ORDER BY rowid"
            ))
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(
            titles,
            [
                ("r:e1".into(), "first".into()),
                ("r:e2".into(), "other".into())
            ]
        );
        let records: Vec<String> = conn
            .prepare("SELECT record FROM alert_records ORDER BY alert")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(records, [r#"{"title":"first"}"#, r#"{"title":"other"}"#]);
        let again = conn.execute(
            "INSERT OR IGNORE INTO alerts (rule, title, level, tags, event_id, event_time,
                user, service, event_name)
             VALUES (1, 'third', 'low', '[]', 'e1', 0, 1, 1, 1)",
            [],
        );
        assert_eq!(again.expect("insert"), 0, "unique again once built");
        conn.execute_batch("DELETE FROM alerts; DELETE FROM alert_records;")
            .expect("empty the alerts");
        conn.execute(
            "INSERT INTO events (event_id, event_time, event_name, event_source, service, user)
             VALUES ('e1', 0, 'RunInstances', 'ec2.amazonaws.com', 'ec2', 'alice')",
            [],
        )
        .expect("insert");
        assert!(!drop_query_indexes_if_empty(&mut conn).expect("no drop"));
        assert_eq!(index_names(&conn), all);
    }
}
