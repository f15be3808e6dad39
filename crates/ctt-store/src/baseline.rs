//! A user's baseline (SPEC §13): what their anomalies are judged against,
//! shown on their portal page beside what was unusual — the regions and
//! services they used and since when, the hours of the day they work, and
//! their hourly rate over their last week of activity.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ctt_core::anomaly::{AnomalyKind, AnomalySettings, Baseline, Spike, spike};
use ctt_core::time::from_seconds;
use serde::Serialize;

use crate::hourly::{HOUR, hour_of};

/// Which first events the stores keep: a user's per region and per service,
/// an account's per region (SQLite's `first_seen.kind`, DynamoDB's `FS#…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FirstKind {
    UserRegion = 0,
    UserService = 1,
    AccountRegion = 2,
}

impl FirstKind {
    /// The anomaly a late first use of this kind is.
    pub fn anomaly(self) -> AnomalyKind {
        match self {
            FirstKind::UserRegion => AnomalyKind::NewRegion,
            FirstKind::UserService => AnomalyKind::NewService,
            FirstKind::AccountRegion => AnomalyKind::AccountNewRegion,
        }
    }
}

/// The account an event belongs to: the one called, else the caller's.
pub fn account_of(e: &ctt_core::Event) -> &str {
    e.recipient_account_id
        .as_deref()
        .or(e.account_id.as_deref())
        .unwrap_or_default()
}

/// The first-seen keys an event counts for: (kind, scope, key).
pub fn firsts_of(e: &ctt_core::Event) -> impl Iterator<Item = (FirstKind, &str, &str)> {
    let service = (FirstKind::UserService, e.user.as_str(), e.service.as_str());
    let regions = e.aws_region.as_deref().map(|region| {
        [
            (FirstKind::UserRegion, e.user.as_str(), region),
            (FirstKind::AccountRegion, account_of(e), region),
        ]
    });
    std::iter::once(service).chain(regions.into_iter().flatten())
}

/// The first use of a region or a service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FirstUse {
    pub name: String,
    pub time: DateTime<Utc>,
    /// The event that first used it.
    #[serde(rename = "eventID")]
    pub event_id: String,
}

/// Mean and (population) standard deviation of hourly counts over a week,
/// quiet hours counted as zeros, as the spike anomalies measure them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rate {
    pub mean: f64,
    pub sigma: f64,
}

impl Rate {
    pub fn of_week(hours: &[u64]) -> Rate {
        let (mean, sigma) = ctt_core::anomaly::week_stats(hours);
        Rate { mean, sigma }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserBaseline {
    /// Their first event: they are warm (judged) from the warm-up after it.
    pub since: DateTime<Utc>,
    /// Regions, then services, in the order of first use.
    pub regions: Vec<FirstUse>,
    pub services: Vec<FirstUse>,
    /// Their events by hour of the day (UTC, 0–23), over their whole history.
    pub hours_of_day: [u64; 24],
    /// The week that ends with their last active hour (its end, exclusive):
    /// their hourly calls and failed calls in it.
    pub week_end: DateTime<Utc>,
    pub calls: Rate,
    pub failed: Rate,
}

impl UserBaseline {
    /// From the user's first event (seconds), first uses, and hourly series
    /// of calls and failed calls ((hour start, events), in time order; the
    /// failed ones may be limited to the last week).
    pub fn from_parts(
        since: i64,
        regions: Vec<FirstUse>,
        services: Vec<FirstUse>,
        calls: &[(i64, u64)],
        failed: &[(i64, u64)],
    ) -> Self {
        let mut hours_of_day = [0u64; 24];
        for (hour, n) in calls {
            hours_of_day[(hour.rem_euclid(86_400) / HOUR) as usize] += n;
        }
        // The week up to and including their last active hour.
        let last = calls.last().map_or(hour_of(since), |(h, _)| *h);
        let week_end = last + HOUR;
        let week_start = week_end - ctt_core::anomaly::WEEK_HOURS as i64 * HOUR;
        let in_week = |rows: &[(i64, u64)]| -> Vec<u64> {
            rows.iter()
                .filter(|(h, _)| (week_start..week_end).contains(h))
                .map(|(_, n)| *n)
                .collect()
        };
        UserBaseline {
            since: from_seconds(since),
            regions,
            services,
            hours_of_day,
            week_end: from_seconds(week_end),
            calls: Rate::of_week(&in_week(calls)),
            failed: Rate::of_week(&in_week(failed)),
        }
    }

    /// The hours of the day that hold most of their events: the fewest
    /// hours, busiest first, that add up to at least 80% of them, in clock
    /// order.
    pub fn usual_hours(&self) -> Vec<usize> {
        let total: u64 = self.hours_of_day.iter().sum();
        let mut by_count: Vec<usize> = (0..24).filter(|h| self.hours_of_day[*h] > 0).collect();
        by_count.sort_by_key(|h| (std::cmp::Reverse(self.hours_of_day[*h]), *h));
        let mut hours = Vec::new();
        let mut covered = 0;
        for h in by_count {
            if covered * 5 >= total * 4 {
                break;
            }
            covered += self.hours_of_day[h];
            hours.push(h);
        }
        hours.sort_unstable();
        hours
    }
}

/// The hours of the baseline before an hour, in seconds.
pub const WEEK: i64 = ctt_core::anomaly::WEEK_HOURS as i64 * HOUR;

/// The anomalies a scope's first uses imply (SPEC §13), both stores'
/// definition: each first use (`uses` in the order of first use) at least
/// the warm-up after `since` (the user's first event; for an account, its
/// first use), on its event, with what was known before it.
pub fn first_anomalies(
    settings: &AnomalySettings,
    kind: FirstKind,
    scope: &str,
    since: Option<i64>,
    uses: &[FirstUse],
) -> Vec<(String, Baseline)> {
    let since = match kind {
        FirstKind::AccountRegion => uses.first().map(|u| u.time.timestamp()),
        _ => since,
    };
    let Some(since) = since.filter(|_| settings.enabled(kind.anomaly())) else {
        return Vec::new();
    };
    let who = match kind {
        FirstKind::AccountRegion => format!("account {scope}"),
        _ => scope.to_owned(),
    };
    uses.iter()
        .enumerate()
        .filter(|(_, u)| u.time.timestamp() - since >= settings.warmup_seconds())
        .map(|(n, u)| {
            let baseline = Baseline::First {
                who: who.clone(),
                what: u.name.clone(),
                since: from_seconds(since),
                known: uses[..n].iter().map(|k| k.name.clone()).collect(),
            };
            (u.event_id.clone(), baseline)
        })
        .collect()
}

/// The spiking hours from `lo` to `hi` (hour starts) of a user's hourly
/// `counts` (which must cover `lo - WEEK` to `hi`): calls, or (`errors`)
/// failed calls. Each with its spike; the store finds its `nth` event.
pub fn spiking_hours(
    settings: &AnomalySettings,
    errors: bool,
    counts: &BTreeMap<i64, u64>,
    lo: i64,
    hi: i64,
) -> Vec<(i64, Spike)> {
    let anomaly = if errors {
        AnomalyKind::ErrorSpike
    } else {
        AnomalyKind::RateSpike
    };
    if !settings.enabled(anomaly) {
        return Vec::new();
    }
    let min_events = settings.min_events(anomaly);
    let sigmas = settings.sigmas(anomaly);
    counts
        .range(lo..=hi)
        .filter(|(_, count)| **count > min_events)
        .filter_map(|(&hour, &count)| {
            let before: Vec<u64> = counts.range(hour - WEEK..hour).map(|(_, c)| *c).collect();
            spike(&before, count, min_events, sigmas).map(|s| (hour, s))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usual_hours_cover_four_fifths_of_the_events() {
        let mut hours_of_day = [0; 24];
        hours_of_day[9] = 40;
        hours_of_day[10] = 30;
        hours_of_day[14] = 20;
        hours_of_day[23] = 10;
        let b = UserBaseline {
            since: DateTime::UNIX_EPOCH,
            regions: vec![],
            services: vec![],
            hours_of_day,
            week_end: DateTime::UNIX_EPOCH,
            calls: Rate::of_week(&[]),
            failed: Rate::of_week(&[]),
        };
        // 40 + 30 = 70 < 80; + 20 = 90: the night's 10 are unusual.
        assert_eq!(b.usual_hours(), [9, 10, 14]);
        let quiet = UserBaseline {
            hours_of_day: [0; 24],
            ..b
        };
        assert!(quiet.usual_hours().is_empty());
    }

    fn used(name: &str, time: i64, id: &str) -> FirstUse {
        FirstUse {
            name: name.to_owned(),
            time: from_seconds(time),
            event_id: id.to_owned(),
        }
    }

    /// SPEC §13: a first use is an anomaly once its scope is warm (its first
    /// event `warmup_days` earlier); it carries what was known before it.
    #[test]
    fn first_uses_are_anomalies_once_warm() {
        let settings = AnomalySettings::default();
        let day = 86_400;
        let uses = [
            used("us-east-1", 0, "a"),
            used("eu-west-1", 2 * day, "b"),
            used("eu-central-1", 7 * day, "c"),
        ];
        let found = first_anomalies(&settings, FirstKind::UserRegion, "ana", Some(0), &uses);
        assert_eq!(found.len(), 1, "only the one 7 days in: {found:?}");
        assert_eq!(found[0].0, "c");
        assert_eq!(
            found[0].1,
            Baseline::First {
                who: "ana".into(),
                what: "eu-central-1".into(),
                since: from_seconds(0),
                known: vec!["us-east-1".into(), "eu-west-1".into()],
            }
        );
        // An account is warm from its own first use; named as an account.
        let account = first_anomalies(&settings, FirstKind::AccountRegion, "1111", None, &uses);
        assert!(matches!(&account[0].1, Baseline::First { who, .. } if who == "account 1111"));
        // Off by default: new services.
        assert!(
            first_anomalies(&settings, FirstKind::UserService, "ana", Some(0), &uses).is_empty()
        );
    }

    #[test]
    fn spiking_hours_are_measured_against_the_week_before() {
        let settings = AnomalySettings::default();
        let h = |n: i64| n * HOUR;
        // Three calls an hour for a week, then 60, then 51 the hour after:
        // with the 60 in its week, mean + 4σ ≈ 20.9 stays under min_events
        // (50), so 51 is a spike too.
        let mut counts: BTreeMap<i64, u64> = (0..168).map(|n| (h(n), 3)).collect();
        counts.insert(h(168), 60);
        counts.insert(h(169), 51);
        let spikes = spiking_hours(&settings, false, &counts, h(168), h(169));
        let hours: Vec<i64> = spikes.iter().map(|(hour, _)| *hour).collect();
        assert_eq!(hours, [h(168), h(169)]);
        assert_eq!(spikes[0].1.nth, 51);
        // Failed calls: the same counts against min_events 20; off, nothing.
        assert_eq!(
            spiking_hours(&settings, true, &counts, h(168), h(169)).len(),
            2
        );
        let mut off = settings.clone();
        off.rate_spike.enabled = false;
        assert!(spiking_hours(&off, false, &counts, h(168), h(169)).is_empty());
    }
}
