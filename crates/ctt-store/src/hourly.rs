//! Hourly counters: events per hour for everyone, for each user and for each
//! service, which every store keeps in the transaction that stores the events
//! (so each new event is counted once, a duplicate never). A count with no
//! eventName or parameter condition then sums the whole hours of its window from
//! the counters and reads events only for the partial hours at either end.
//!
//! This module says which series answers a query ([`series`]) and how a window
//! splits ([`split`]); each store keeps its counters in its own way (SQLite's
//! `hourly_counts` table, DynamoDB's `H#…` items).

use std::ops::RangeInclusive;

use std::collections::BTreeMap;

use ctt_core::time::{format_event_time, from_seconds};
use ctt_core::{EventQuery, GroupBy, Scope};

use crate::GroupCount;

/// Seconds in an hour.
pub const HOUR: i64 = 3600;

/// Which events a series of counters counts. The discriminant is SQLite's
/// `hourly_counts.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HourlyKind {
    All = 0,
    User = 1,
    Service = 2,
    /// A user's failed calls (`errorCode`): the error-spike baseline (SPEC §13).
    UserErrors = 3,
    /// Everyone's events by eventName, by error code (`""`: none) and by
    /// region (`""`: none): `/stats` by those over long windows (SQLite).
    EventName = 4,
    ErrorCode = 5,
    Region = 6,
}

/// `/stats` groups as both stores sum them: from counters, then from the
/// events at the window's edges (or from the events alone).
#[derive(Debug, Default)]
pub struct Groups(BTreeMap<String, u64>);

impl Groups {
    pub fn add(&mut self, key: String, count: u64) {
        *self.0.entry(key).or_default() += count;
    }

    /// Adds the `events` of the hour from `hour` to its hour's or its day's
    /// group (`group_by` is `Hour` or `Day`), keyed by the period's start.
    pub fn add_hour(&mut self, group_by: GroupBy, hour: i64, events: u64) {
        let bucket = if group_by == GroupBy::Day { DAY } else { HOUR };
        let start = hour.div_euclid(bucket) * bucket;
        self.add(format_event_time(from_seconds(start)), events);
    }

    /// In `/stats` order — periods in time order, any other key most first,
    /// then by name — at most `limit`, empty groups left out.
    pub fn into_counts(self, group_by: GroupBy, limit: u32) -> Vec<GroupCount> {
        let mut groups: Vec<GroupCount> = self
            .0
            .into_iter()
            .filter(|(_, count)| *count > 0)
            .map(|(key, count)| GroupCount { key, count })
            .collect();
        if !matches!(group_by, GroupBy::Hour | GroupBy::Day) {
            groups.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        }
        groups.truncate(limit as usize);
        groups
    }
}

impl HourlyKind {
    /// Whether SQLite also counts this kind per day (`daily_counts`): the
    /// keys `/stats` groups everyone's events by.
    pub fn has_daily_counts(self) -> bool {
        matches!(
            self,
            HourlyKind::User
                | HourlyKind::Service
                | HourlyKind::EventName
                | HourlyKind::ErrorCode
                | HourlyKind::Region
        )
    }
}

/// The start of the hour holding `t` (seconds; floored, negative times too).
pub fn hour_of(t: i64) -> i64 {
    t.div_euclid(HOUR) * HOUR
}

/// The series whose sums answer `query`'s count — everyone's, one user's or
/// one service's — or `None` when the count needs the events themselves (an
/// eventName or parameter condition, or a service seen through a `self` role).
pub fn series(query: &EventQuery) -> Option<(HourlyKind, &str)> {
    if query.event_name.is_some() || !query.params.is_empty() {
        return None;
    }
    let user = match (&query.scope, query.only_user.as_deref()) {
        (Scope::All, None) => return Some((HourlyKind::All, "")),
        (Scope::Service(service), None) => return Some((HourlyKind::Service, service)),
        (Scope::All, Some(user)) => user,
        (Scope::User(user), None) => user.as_str(),
        (Scope::User(user), Some(only)) if user == only => user.as_str(),
        _ => return None,
    };
    Some((HourlyKind::User, user))
}

/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// The periods SQLite's `daily_counts` sums each kind by: days, then blocks
/// of 8 and 64 days from 1970-01-01 (kind `k`'s sums by `SPANS[level]` are
/// kind `k + 100 × level`, see [`span_kind`]). A window's whole days are
/// summed from the fewest rows: a year is about 5 blocks of 64 days, up to
/// 7 + 7 blocks of 8 and 7 + 7 days — 30 rows per key at most instead of
/// 365 ([`whole_spans`]).
pub const SPANS: [i64; 3] = [DAY, 8 * DAY, 64 * DAY];

/// `daily_counts.kind` of `kind`'s sums by `SPANS[level]`.
pub fn span_kind(kind: HourlyKind, level: usize) -> i64 {
    kind as i64 + 100 * level as i64
}

/// The whole days from `first` to `last` (both day starts, seconds) as the
/// fewest [`SPANS`]: each `(level, starts)` covers the spans of that level
/// starting in `starts`, and together they cover each day once.
pub fn whole_spans(first: i64, last: i64) -> Vec<(usize, RangeInclusive<i64>)> {
    fn cover(first: i64, last: i64, level: usize, out: &mut Vec<(usize, RangeInclusive<i64>)>) {
        if first > last {
            return;
        }
        if level == 0 {
            out.push((0, first..=last));
            return;
        }
        let span = SPANS[level];
        // The first span starting in the range, and the last one ending in it.
        let start = (first + span - 1).div_euclid(span) * span;
        let end = (last + DAY).div_euclid(span) * span - span;
        if start > end {
            return cover(first, last, level - 1, out);
        }
        cover(first, start - DAY, level - 1, out);
        out.push((level, start..=end));
        cover(end + span, last, level - 1, out);
    }
    let mut out = Vec::new();
    cover(first, last, SPANS.len() - 1, &mut out);
    out
}

/// A count's window `from..=to` (seconds) split into whole hours (or days)
/// and the seconds at either end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// The first and last whole hour or day (their starts), both in the window.
    pub whole: RangeInclusive<i64>,
    /// The seconds before the first whole one, and after the last one, when
    /// there are any: counted from the events.
    pub edges: Vec<RangeInclusive<i64>>,
}

/// How `from..=to` splits into whole hours, or `None` when it holds no whole
/// hour (then the events are counted, as cheaply).
pub fn split(from: i64, to: i64) -> Option<Split> {
    split_by(from, to, HOUR)
}

/// How `from..=to` splits into whole days (UTC), or `None` when it holds none.
pub fn split_days(from: i64, to: i64) -> Option<Split> {
    split_by(from, to, DAY)
}

fn split_by(from: i64, to: i64, unit: i64) -> Option<Split> {
    let start_of = |t: i64| t.div_euclid(unit) * unit;
    let first = start_of(from.saturating_add(unit - 1));
    let end = start_of(to.saturating_add(1)); // the first unit not wholly in
    if first >= end {
        return None;
    }
    let edges = [from..=first - 1, end..=to]
        .into_iter()
        .filter(|edge| edge.start() <= edge.end())
        .collect();
    Some(Split {
        whole: first..=end - unit,
        edges,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_split_into_whole_hours_and_edges() {
        let h = HOUR;
        let cases = [
            // Whole hours exactly: no edge.
            (0, 2 * h - 1, Some((0..=h, vec![]))),
            // Partial at both ends.
            (
                17,
                3 * h + 5,
                Some((h..=2 * h, vec![17..=h - 1, 3 * h..=3 * h + 5])),
            ),
            // Starts on an hour, ends inside one.
            (h, 2 * h + 1, Some((h..=h, vec![2 * h..=2 * h + 1]))),
            // Ends on an hour's last second, starts inside one.
            (h - 1, 2 * h - 1, Some((h..=h, vec![h - 1..=h - 1]))),
            // Inside one hour, or across one boundary with no whole hour.
            (17, 456, None),
            (h - 10, h + 10, None),
            (0, h - 2, None),
            // Before 1970.
            (-h, -1, Some((-h..=-h, vec![]))),
            (5, 4, None),
        ];
        for (from, to, expected) in cases {
            let got = split(from, to).map(|s| (s.whole, s.edges));
            assert_eq!(got, expected, "{from}..={to}");
        }
    }

    /// Spans cover every whole day of the window once, at most 30 rows per
    /// key for a year, and a window of whole 64-day blocks is one row each.
    #[test]
    fn whole_spans_cover_each_day_once_with_few_spans() {
        let d = DAY;
        for (first, last) in [
            (0, 0),
            (0, 63 * d),
            (3 * d, 9 * d),
            (5 * d, 400 * d),
            (17_000 * d, 17_364 * d),
            (-100 * d, 30 * d),
            (64 * d, 64 * d - d),
        ] {
            let spans = whole_spans(first, last);
            let mut days = Vec::new();
            for (level, starts) in &spans {
                let span = SPANS[*level];
                assert_eq!(starts.start().rem_euclid(span), 0, "{spans:?}");
                let mut s = *starts.start();
                while s <= *starts.end() {
                    days.extend((0..span / d).map(|i| s + i * d));
                    s += span;
                }
            }
            days.sort_unstable();
            let expected: Vec<i64> = (0..=(last - first) / d).map(|i| first + i * d).collect();
            assert_eq!(
                days,
                if last < first { vec![] } else { expected },
                "{first}..={last}"
            );
            let rows: i64 = spans
                .iter()
                .map(|(level, s)| (s.end() - s.start()) / SPANS[*level] + 1)
                .sum();
            assert!(rows <= 30, "{rows} rows for {first}..={last}: {spans:?}");
        }
        assert_eq!(whole_spans(0, 127 * d), [(2, 0..=64 * d)]);
    }

    #[test]
    fn edges_and_hours_cover_the_window_once() {
        for (from, to) in [
            (17, 10 * HOUR + 3),
            (-7 * HOUR + 1, HOUR),
            (0, 5 * HOUR - 1),
        ] {
            let Some(s) = split(from, to) else {
                panic!("{from}..={to} has whole hours")
            };
            let hours = s.whole.end() - s.whole.start() + HOUR;
            let edges: i64 = s.edges.iter().map(|e| e.end() - e.start() + 1).sum();
            assert_eq!(hours + edges, to - from + 1, "{from}..={to}");
        }
    }

    #[test]
    fn windows_split_into_whole_days_and_edges() {
        let d = DAY;
        assert_eq!(
            split_days(0, d - 1),
            Some(Split {
                whole: 0..=0,
                edges: vec![]
            })
        );
        assert_eq!(
            split_days(5, 3 * d + 7),
            Some(Split {
                whole: d..=2 * d,
                edges: vec![5..=d - 1, 3 * d..=3 * d + 7],
            })
        );
        assert_eq!(split_days(5, 2 * d - 2), None);
    }

    #[test]
    fn a_series_answers_only_scope_and_time() {
        let mut q = EventQuery::between(Default::default(), Default::default());
        assert_eq!(series(&q), Some((HourlyKind::All, "")));
        q.only_user = Some("alu".into());
        assert_eq!(series(&q), Some((HourlyKind::User, "alu")));
        q.scope = Scope::User("other".into());
        assert_eq!(series(&q), None, "nothing matches: counted from the events");
        q.scope = Scope::Service("ec2".into());
        assert_eq!(series(&q), None, "a user's events of a service");
        q.only_user = None;
        assert_eq!(series(&q), Some((HourlyKind::Service, "ec2")));
        q.event_name = Some(ctt_core::NameMatch {
            name: "Run".into(),
            prefix: true,
        });
        assert_eq!(series(&q), None);
    }
}
