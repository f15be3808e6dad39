//! The table's key design: one table, items told apart by their `pk` prefix, and
//! five global secondary indexes. Everything that names a key or an index lives
//! here, so `docs/dynamodb.md` can be checked against one file.
//!
//! | item | `pk` | `sk` |
//! |---|---|---|
//! | event | `E#<eventID>` | `E` |
//! | ledger entry | `F#<file key>` | `F` |
//! | ledger chunk marker | `F#<file key>` | `P#<version>#<n>` |
//! | user / service / parameter name | `C#user` / `C#service` / `C#param` | the name |
//! | table settings / ledger sequence | `META` | `META` / `SEQ` |
//! | files loaded and failed (16 shards) | `META` | `FILES#<n>` |
//! | API token (`ctt token`, hash only) | `TOKEN` | the token's name |
//! | course (SPEC §10, its TOML) | `COURSE` | the course id |
//! | flagged file / its events' IDs (SPEC §14) | `INTEGRITY` | the file's key / key, `\n`, chunk |
//! | the last verification recorded | `META` | `INTEGRITY` |
//! | events in an hour: everyone / a user / a service / a user's failed calls | `H#A` / `H#U#<user>` / `H#S#<service>` / `H#E#<user>` | `YYYY-MM-DDTHH` |
//! | first use (SPEC §13, `baselines.rs`): a user's region / service, an account's region | `FS#R#<user>` / `FS#S#<user>` / `FS#A#<account>` | the region or service |
//! | resource touch / types / a user's resources (SPEC §11, `resources.rs`) | `R#<type>` / `RTYPES` / `RU#<user>` | see `resources.rs` |
//! | anomaly recorded / a scope's generation / a file not evaluated yet (SPEC §13, `anomalies.rs`) | `AN#U#<user>`, `AN#A#<account>` / `AV#…` / `AP` | kind `#` `at` / `G` / file key `\n` version |
//!
//! Event items carry the partition keys of four indexes — `by_day` (`D#YYYY-MM-DD`),
//! `by_user` (`U#user`), `by_service` (`S#service`), `by_name` (`N#eventName`) — all
//! sorted by `at` = `YYYY-MM-DDTHH:MM:SSZ#eventID`, the `(eventTime, eventID)` order
//! of every answer. Ledger items carry `ledger` (`L#loaded` / `L#failed`) and `seq`,
//! the order files were first recorded in.

use chrono::{DateTime, NaiveDate, Utc};
use ctt_core::time::{format_event_time, from_seconds};
use ctt_store::baseline::FirstKind;
use ctt_store::hourly::HourlyKind;

pub const PK: &str = "pk";
pub const SK: &str = "sk";

/// The sort key of every event index.
pub const AT: &str = "at";

pub const EVENT_SK: &str = "E";
pub const LEDGER_SK: &str = "F";
pub const META_PK: &str = "META";
pub const META_SK: &str = "META";
pub const SEQ_SK: &str = "SEQ";

/// An event index: its name is also the name of its partition-key attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventIndex {
    ByDay,
    ByUser,
    ByService,
    ByName,
}

impl EventIndex {
    pub const ALL: [EventIndex; 4] = [
        EventIndex::ByDay,
        EventIndex::ByUser,
        EventIndex::ByService,
        EventIndex::ByName,
    ];

    /// The index name, and the attribute holding its partition key.
    pub fn name(self) -> &'static str {
        match self {
            EventIndex::ByDay => "by_day",
            EventIndex::ByUser => "by_user",
            EventIndex::ByService => "by_service",
            EventIndex::ByName => "by_name",
        }
    }

    /// The partition-key value for `value` (a day, user, service or eventName).
    pub fn partition(self, value: &str) -> String {
        let prefix = match self {
            EventIndex::ByDay => "D#",
            EventIndex::ByUser => "U#",
            EventIndex::ByService => "S#",
            EventIndex::ByName => "N#",
        };
        format!("{prefix}{value}")
    }
}

/// The ledger index: files by outcome, in the order they were first recorded.
pub const LEDGER_INDEX: &str = "ledger";
pub const LEDGER_PK: &str = "ledger";
pub const LEDGER_SEQ: &str = "seq";

/// The attributes the event indexes project besides their keys: what a list of
/// events shows and what its filters test. The record stays in the table.
pub const PROJECTED: [&str; 18] = [
    "event_id",
    "event_time",
    "event_name",
    "event_source",
    "service",
    "user",
    "identity_type",
    "role",
    "account_id",
    "recipient_account_id",
    "aws_region",
    "source_ip_address",
    "user_agent",
    "error_code",
    "error_message",
    "read_only",
    "event_type",
    "params",
];

pub fn event_pk(event_id: &str) -> String {
    format!("E#{event_id}")
}

pub fn ledger_pk(key: &str) -> String {
    format!("F#{key}")
}

/// The marker of a ledger update split over several transactions.
pub fn chunk_sk(version: &str, chunk: usize) -> String {
    format!("P#{version}#{chunk}")
}

/// Files loaded and failed are counted in this many items (`META`,
/// `FILES#<n>`), so concurrent writers rarely touch the same one.
pub const FILE_COUNTER_SHARDS: u64 = 16;

pub const FILES_COUNTER_PREFIX: &str = "FILES#";

/// The counter item a file is counted in: FNV-1a of its key, modulo the shards.
pub fn files_counter_sk(key: &str) -> String {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{FILES_COUNTER_PREFIX}{}", hash % FILE_COUNTER_SHARDS)
}

pub fn ledger_partition(loaded: bool) -> &'static str {
    if loaded { "L#loaded" } else { "L#failed" }
}

/// A catalog list: users, services or parameter names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Catalog {
    Users,
    Services,
    Parameters,
}

impl Catalog {
    pub fn pk(self) -> &'static str {
        match self {
            Catalog::Users => "C#user",
            Catalog::Services => "C#service",
            Catalog::Parameters => "C#param",
        }
    }
}

/// The partition of a series of hourly counters (one item per hour with
/// events, sorted by hour): a count over a window is one `Query` of it.
pub fn hourly_pk(kind: HourlyKind, key: &str) -> String {
    match kind {
        HourlyKind::All => "H#A".to_owned(),
        HourlyKind::User => format!("H#U#{key}"),
        HourlyKind::Service => format!("H#S#{key}"),
        HourlyKind::UserErrors => format!("H#E#{key}"),
        // Kept by SQLite only (its `/stats`); no DynamoDB item has them.
        HourlyKind::EventName => format!("H#N#{key}"),
        HourlyKind::ErrorCode => format!("H#C#{key}"),
        HourlyKind::Region => format!("H#R#{key}"),
    }
}

/// The partition of one scope's first uses (SPEC §13), one item per region
/// or service (its sort key): `FS#R#user`, `FS#S#user`, `FS#A#account`.
pub fn first_pk(kind: FirstKind, scope: &str) -> String {
    let tag = match kind {
        FirstKind::UserRegion => "R",
        FirstKind::UserService => "S",
        FirstKind::AccountRegion => "A",
    };
    format!("FS#{tag}#{scope}")
}

/// The hour start (seconds) of an hourly counter's sort key.
pub fn parse_hour_sk(sk: &str) -> Option<i64> {
    chrono::NaiveDateTime::parse_from_str(&format!("{sk}:00:00"), "%Y-%m-%dT%H:%M:%S")
        .ok()
        .map(|t| t.and_utc().timestamp())
}

/// The sort key of the counter of the hour starting at `hour` (seconds):
/// `YYYY-MM-DDTHH`, in time order.
pub fn hour_sk(hour: i64) -> String {
    from_seconds(hour).format("%Y-%m-%dT%H").to_string()
}

/// The number attribute of an hourly counter (and of a catalog entry).
pub const EVENTS: &str = "events";

/// `at` of an event: `YYYY-MM-DDTHH:MM:SSZ#eventID`.
pub fn at(event_time: DateTime<Utc>, event_id: &str) -> String {
    format!("{}#{event_id}", format_event_time(event_time))
}

/// The first `at` of a second: below every event of that second.
pub fn at_lowest(t: DateTime<Utc>) -> String {
    format!("{}#", format_event_time(t))
}

/// Above every `at` of a second (`$` sorts right after `#`).
pub fn at_highest(t: DateTime<Utc>) -> String {
    format!("{}$", format_event_time(t))
}

/// `at` of a cursor position (seconds since the epoch, eventID).
pub fn at_of_cursor(seconds: i64, event_id: &str) -> String {
    at(from_seconds(seconds), event_id)
}

/// The day buckets of `by_day` that cover `from..=to`, in order.
pub fn days(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<NaiveDate> {
    let (first, last) = (from.date_naive(), to.date_naive());
    first.iter_days().take_while(|d| *d <= last).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctt_core::time::parse_event_time;

    fn t(raw: &str) -> DateTime<Utc> {
        parse_event_time(raw).unwrap_or_default()
    }

    #[test]
    fn at_orders_by_time_then_event_id_like_the_api() {
        // (time, id) pairs in API order must give `at` values in byte order.
        let ordered = [
            ("2018-03-01T10:00:00Z", "a"),
            ("2018-03-01T10:00:00Z", "a-1"),
            ("2018-03-01T10:00:00Z", "b"),
            ("2018-03-01T10:00:01Z", "0"),
            ("2018-03-02T00:00:00Z", ""),
            ("2019-01-01T00:00:00Z", "zzz"),
        ];
        let ats: Vec<String> = ordered.iter().map(|(time, id)| at(t(time), id)).collect();
        let mut sorted = ats.clone();
        sorted.sort();
        assert_eq!(ats, sorted);
    }

    #[test]
    fn range_bounds_enclose_every_event_of_their_seconds() {
        let second = t("2018-03-01T10:00:00Z");
        for id in ["", "a", "zzzz", "~~~", "\u{10FFFF}"] {
            let key = at(second, id);
            assert!(at_lowest(second) <= key, "{id}");
            assert!(key < at_highest(second), "{id}");
        }
        assert!(at_highest(second) < at_lowest(t("2018-03-01T10:00:01Z")));
    }

    #[test]
    fn files_are_spread_over_every_counter_shard() {
        let shards: std::collections::BTreeSet<String> = (0..1000)
            .map(|i| {
                files_counter_sk(&format!(
                    "s3://b/AWSLogs/1/CloudTrail/us-east-1/{i}.json.gz"
                ))
            })
            .collect();
        assert_eq!(shards.len() as u64, FILE_COUNTER_SHARDS);
        assert_eq!(files_counter_sk("same"), files_counter_sk("same"));
    }

    #[test]
    fn indexes_project_every_typed_attribute() {
        for typed in &ctt_core::TYPED_ATTRIBUTES {
            assert!(PROJECTED.contains(&typed.column), "{}", typed.column);
        }
    }

    #[test]
    fn hourly_counters_sort_by_hour_within_their_series() {
        assert_eq!(hourly_pk(HourlyKind::All, ""), "H#A");
        assert_eq!(hourly_pk(HourlyKind::User, "a#b"), "H#U#a#b");
        assert_eq!(hourly_pk(HourlyKind::Service, "ec2"), "H#S#ec2");
        let hours: Vec<String> = [
            0i64,
            3600,
            36_000,
            86_400,
            1_520_000_400 - 1_520_000_400 % 3600,
        ]
        .iter()
        .map(|h| hour_sk(*h))
        .collect();
        assert_eq!(hours[0], "1970-01-01T00");
        assert_eq!(hours[4], "2018-03-02T14");
        let mut sorted = hours.clone();
        sorted.sort();
        assert_eq!(hours, sorted);
        // And back, as a user's baseline reads them.
        assert_eq!(
            parse_hour_sk(&hours[4]),
            Some(1_520_000_400 - 1_520_000_400 % 3600)
        );
        assert_eq!(parse_hour_sk(&hours[0]), Some(0));
        assert_eq!(parse_hour_sk("2018-03-02"), None);
    }

    #[test]
    fn days_cover_the_range_inclusively() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default();
        assert_eq!(
            days(t("2018-02-27T23:59:59Z"), t("2018-03-01T00:00:00Z")),
            [d("2018-02-27"), d("2018-02-28"), d("2018-03-01")]
        );
        assert_eq!(
            days(t("2018-03-01T10:00:00Z"), t("2018-03-01T10:00:00Z")),
            [d("2018-03-01")]
        );
        assert!(days(t("2018-03-02T00:00:00Z"), t("2018-03-01T00:00:00Z")).is_empty());
    }
}
