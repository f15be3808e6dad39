//! Following a bucket (`ctt serve --follow s3://bucket/prefix`): each poll
//! lists today's day prefix of every account and region (and yesterday's, early
//! in the day, for late deliveries) and returns the files not seen before.
//! [`S3Follower`] implements [`Follow`], so `ctt_ingest::follow::follow` drives
//! it like a folder: polls, loads, retries.
//!
//! Day prefixes hold a few hundred keys, so a poll costs one `ListObjectsV2` per
//! region; the regions are discovered again every hour with delimiter listings
//! (a region used for the first time appears within the hour). Keys
//! are compared with a set of those seen rather than `StartAfter`: CloudTrail
//! does not deliver keys in name order. The ledger still decides what is loaded,
//! so following is exactly once like every other path; it is asked about each
//! poll's new files only, never read whole. A poll whose load was interrupted
//! (the store failed) forgets its files, so the next poll returns them again. On
//! AWS, the ingest Lambda (`docs/deploy-aws.md`) is the cheaper way to follow a
//! bucket.

use std::collections::{HashMap, HashSet};

use std::sync::Arc;

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use ctt_ingest::follow::{Follow, Outcome};
use ctt_ingest::{Source, SourceFile};

use super::layout::{self, Position};
use super::{S3Error, S3Source, S3Uri};

/// Until this time of day (UTC), yesterday's prefixes are listed too.
const LATE_DELIVERY_HOURS: u32 = 2;
/// How long the accounts and regions found are trusted.
const REDISCOVER_AFTER: Duration = Duration::hours(1);
/// The shortest interval between two polls: each costs a `ListObjectsV2` per
/// region.
pub const MIN_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// Polls a bucket for new log files.
pub struct S3Follower {
    source: S3Source,
    location: S3Uri,
    /// `location` as text, for logs.
    shown: String,
    /// Where days live: region prefixes (`…/CloudTrail/REGION/`), or prefixes
    /// outside the layout, listed whole.
    regions: Vec<String>,
    others: Vec<String>,
    discovered_at: Option<NaiveDateTime>,
    /// Keys (and versions) seen, by day.
    seen: HashMap<NaiveDate, HashSet<(String, String)>>,
    /// The files of the last poll, until [`Follow::done`].
    pending: Vec<SourceFile>,
}

/// The days whose prefixes a poll at `now` lists.
pub fn days_to_poll(now: NaiveDateTime) -> Vec<NaiveDate> {
    let today = now.date();
    let early = now.time() < NaiveTime::from_hms_opt(LATE_DELIVERY_HOURS, 0, 0).unwrap_or_default();
    if early {
        vec![today - Duration::days(1), today]
    } else {
        vec![today]
    }
}

/// The region prefix of a day prefix (`…/REGION/YYYY/MM/DD/` → `…/REGION/`).
fn region_of(day_prefix: &str) -> Option<String> {
    match layout::position(day_prefix) {
        Position::Days { region } => Some(region),
        _ => None,
    }
}

impl S3Follower {
    pub fn new(source: S3Source, location: S3Uri) -> Self {
        Self {
            source,
            shown: location.to_string(),
            location,
            regions: Vec::new(),
            others: Vec::new(),
            discovered_at: None,
            seen: HashMap::new(),
            pending: Vec::new(),
        }
    }

    /// Finds the accounts' regions with logs today.
    async fn discover(&mut self, now: NaiveDateTime) -> Result<(), S3Error> {
        let today = now.date();
        let prefix = layout::normalise(&self.location.key);
        let (prefixes, _) = self
            .source
            .plan(&self.location.bucket, &prefix, today, today)
            .await?;
        let mut regions = HashSet::new();
        let mut others = HashSet::new();
        for p in prefixes {
            match region_of(&p) {
                Some(region) => regions.insert(region),
                None => others.insert(p),
            };
        }
        self.regions = regions.into_iter().collect();
        self.regions.sort();
        self.others = others.into_iter().collect();
        self.others.sort();
        self.discovered_at = Some(now);
        Ok(())
    }

    /// The log files that appeared since the last poll (all of today's on the
    /// first), in key order, as of `now`. A poll that fails marks nothing seen.
    pub async fn poll_at(&mut self, now: NaiveDateTime) -> Result<Vec<SourceFile>, S3Error> {
        let days = days_to_poll(now);
        let stale = self
            .discovered_at
            .is_none_or(|at| at.date() != now.date() || now - at >= REDISCOVER_AFTER);
        if stale {
            self.discover(now).await?;
        }
        let bucket = self.location.bucket.clone();
        let mut listed_by_day = Vec::new();
        for day in &days {
            let mut listed = Vec::new();
            for region in &self.regions {
                let day_prefix = format!("{region}{}/", day.format("%Y/%m/%d"));
                listed.extend(self.source.list_all(&bucket, &day_prefix).await?);
            }
            for other in &self.others {
                listed.extend(
                    self.source
                        .list_all(&bucket, other)
                        .await?
                        .into_iter()
                        .filter(|f| ctt_ingest::source::key_date(&f.key).is_none_or(|d| d == *day)),
                );
            }
            listed_by_day.push((*day, listed));
        }
        let mut new = Vec::new();
        for (day, listed) in listed_by_day {
            let seen = self.seen.entry(day).or_default();
            new.extend(
                listed
                    .into_iter()
                    .filter(|f| seen.insert((f.key.clone(), f.version.clone()))),
            );
        }
        self.seen.retain(|day, _| days.contains(day));
        new.sort_by(|a, b| a.key.cmp(&b.key));
        new.dedup_by(|a, b| a.key == b.key && a.version == b.version);
        Ok(new)
    }

    /// Forgets `files`, so the next poll returns them again (their load failed).
    pub fn forget(&mut self, files: &[SourceFile]) {
        for seen in self.seen.values_mut() {
            for file in files {
                seen.remove(&(file.key.clone(), file.version.clone()));
            }
        }
    }
}

impl Follow for S3Follower {
    type Error = S3Error;

    fn location(&self) -> &str {
        &self.shown
    }

    fn source(&self) -> Arc<dyn Source> {
        Arc::new(self.source.clone())
    }

    async fn poll(&mut self) -> Result<Vec<SourceFile>, S3Error> {
        let new = self.poll_at(Utc::now().naive_utc()).await?;
        self.pending.clone_from(&new);
        Ok(new)
    }

    async fn done(&mut self, outcome: &Outcome) -> Result<(), S3Error> {
        let pending = std::mem::take(&mut self.pending);
        if !outcome.is_complete() {
            self.forget(&pending);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(raw: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M").unwrap_or_default()
    }

    #[test]
    fn early_polls_also_list_yesterday() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default();
        assert_eq!(
            days_to_poll(at("2018-03-01 00:10")),
            [d("2018-02-28"), d("2018-03-01")]
        );
        assert_eq!(
            days_to_poll(at("2018-03-01 01:59")),
            [d("2018-02-28"), d("2018-03-01")]
        );
        assert_eq!(days_to_poll(at("2018-03-01 02:00")), [d("2018-03-01")]);
    }

    #[test]
    fn day_prefixes_lead_to_their_region() {
        assert_eq!(
            region_of("AWSLogs/974349055189/CloudTrail/us-east-1/2018/03/01/").as_deref(),
            Some("AWSLogs/974349055189/CloudTrail/us-east-1/")
        );
        assert_eq!(region_of("exports/"), None);
    }
}
