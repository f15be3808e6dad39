//! Delivery: how CloudTrail turns records into objects. Records are grouped
//! per account, region and 5-minute window; each window becomes one log file
//! (several when busy) named with its delivery time, the end of the window.
//! Also the re-delivered duplicates, the digest files, the object keys, and
//! writing gzipped files to disk.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use flate2::Compression;
use flate2::write::GzEncoder;
use rand::RngExt;
use serde::Serialize;

use crate::activity::Event;
use crate::cast::Cast;
use crate::ids::{self, GenRng};
use crate::record::{Record, utc};

/// Seconds in a delivery window.
pub(crate) const WINDOW_SECS: i64 = 300;
/// The trail's name, as it appears in digest file names.
const TRAIL_NAME: &str = "management-events";
/// The bucket digests say the logs are in.
pub(crate) const BUCKET: &str = "cloudtrail-logs-974349055189";

/// One log file to write.
#[derive(Debug)]
pub(crate) struct LogFile {
    pub account: usize,
    pub region: usize,
    /// Delivery time (seconds since the epoch, a multiple of 5 minutes): the
    /// end of the window its records come from.
    pub delivered: i64,
    pub suffix: String,
    pub records: Vec<Record>,
    /// The first and last `eventTime`, in seconds.
    pub oldest: i64,
    pub newest: i64,
}

/// Groups events into log files. Only windows entirely inside `[start, end]`
/// (delivery time at most `end`) are kept; a window with more records than a
/// cap drawn in `cap` becomes several files with the same delivery time.
pub(crate) fn bundle(
    rng: &mut GenRng,
    mut events: Vec<Event>,
    start: i64,
    end: i64,
    cap: (usize, usize),
) -> Vec<LogFile> {
    let window_of = |e: &Event| (e.account, e.region, e.at.div_euclid(WINDOW_SECS));
    events.sort_by_key(|e| (e.account, e.region, e.at));
    let mut files = Vec::new();
    let mut events = events.into_iter().peekable();
    while let Some(first) = events.next() {
        let (account, region, window) = window_of(&first);
        let mut records = vec![first];
        while let Some(next) = events.next_if(|e| window_of(e) == (account, region, window)) {
            records.push(next);
        }
        let delivered = (window + 1) * WINDOW_SECS;
        if delivered > end || delivered - WINDOW_SECS < start {
            continue;
        }
        let limit = rng.random_range(cap.0..=cap.1).max(1);
        let size = records.len().div_ceil(records.len().div_ceil(limit));
        let mut records = records.into_iter();
        loop {
            let chunk: Vec<Event> = records.by_ref().take(size).collect();
            if chunk.is_empty() {
                break;
            }
            files.push(log_file(rng, account, region, delivered, chunk));
        }
    }
    files
}

fn log_file(
    rng: &mut GenRng,
    account: usize,
    region: usize,
    delivered: i64,
    events: Vec<Event>,
) -> LogFile {
    let oldest = events.first().map_or(delivered, |e| e.at);
    let newest = events.last().map_or(delivered, |e| e.at);
    let records = events.into_iter().map(|e| e.record).collect();
    LogFile {
        account,
        region,
        delivered,
        suffix: ids::file_suffix(rng),
        records,
        oldest,
        newest,
    }
}

/// Re-delivers one to three records of one of `files` in a second file of the
/// same window (same eventIDs), as CloudTrail occasionally does. Returns the
/// number of duplicated records.
pub(crate) fn redeliver(rng: &mut GenRng, files: &mut Vec<LogFile>) -> usize {
    if files.is_empty() {
        return 0;
    }
    let original = &files[rng.random_range(0..files.len())];
    let count = rng.random_range(1..=original.records.len().min(3));
    let first = rng.random_range(0..=original.records.len() - count);
    let records: Vec<Record> = original.records[first..first + count].to_vec();
    let copy = LogFile {
        account: original.account,
        region: original.region,
        delivered: original.delivered,
        suffix: ids::file_suffix(rng),
        oldest: original.oldest,
        newest: original.newest,
        records,
    };
    files.push(copy);
    count
}

/// The `AWSLogs/[o-ORG/]ACCOUNT` prefix of an account's objects.
fn account_prefix(cast: &Cast, account: usize) -> PathBuf {
    let mut path = PathBuf::from("AWSLogs");
    if let Some(org) = cast.organization {
        path.push(org);
    }
    path.push(cast.accounts[account].id);
    path
}

/// `AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_RANDOM.json.gz`.
pub(crate) fn log_file_key(cast: &Cast, file: &LogFile) -> PathBuf {
    let account = cast.accounts[file.account].id;
    let region = cast.regions[file.region];
    let time = utc(file.delivered);
    let mut path = account_prefix(cast, file.account);
    path.push("CloudTrail");
    path.push(region);
    path.push(time.format("%Y/%m/%d").to_string());
    path.push(format!(
        "{account}_CloudTrail_{region}_{}_{}.json.gz",
        time.format("%Y%m%dT%H%MZ"),
        file.suffix
    ));
    path
}

/// `AWSLogs/[o-ORG/]ACCOUNT/CloudTrail-Digest/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail-Digest_REGION_TRAIL_REGION_YYYYMMDDTHHMMSSZ.json.gz`.
pub(crate) fn digest_key(cast: &Cast, account: usize, region: usize, end: i64) -> PathBuf {
    let account_id = cast.accounts[account].id;
    let region = cast.regions[region];
    let time = utc(end);
    let mut path = account_prefix(cast, account);
    path.push("CloudTrail-Digest");
    path.push(region);
    path.push(time.format("%Y/%m/%d").to_string());
    path.push(format!(
        "{account_id}_CloudTrail-Digest_{region}_{TRAIL_NAME}_{region}_{}.json.gz",
        time.format("%Y%m%dT%H%M%SZ")
    ));
    path
}

/// An object key with `/` separators whatever the platform.
pub(crate) fn key_string(key: &Path) -> String {
    key.iter()
        .map(|part| part.to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// The body of a log file: `{"Records":[...]}`.
#[derive(Serialize)]
struct LogFileBody<'a> {
    #[serde(rename = "Records")]
    records: &'a [Record],
}

/// Writes gzipped objects under the output folder, creating folders once.
pub(crate) struct TreeWriter<'a> {
    root: &'a Path,
    made: HashSet<PathBuf>,
    /// Reused buffers: the serialised JSON and its gzipped form.
    json: Vec<u8>,
    gzipped: Vec<u8>,
}

impl<'a> TreeWriter<'a> {
    pub(crate) fn new(root: &'a Path) -> TreeWriter<'a> {
        TreeWriter {
            root,
            made: HashSet::new(),
            json: Vec::new(),
            gzipped: Vec::new(),
        }
    }

    /// Writes a log file; returns its size in bytes (gzipped) and the SHA-256
    /// (hex) of its content before compression.
    pub(crate) fn write_log_file(
        &mut self,
        key: &Path,
        file: &LogFile,
    ) -> anyhow::Result<(u64, String)> {
        self.write_json(
            key,
            &LogFileBody {
                records: &file.records,
            },
        )
    }

    /// Writes `body` as gzipped JSON; returns its size in bytes (gzipped) and
    /// the SHA-256 (hex) of the JSON before compression.
    pub(crate) fn write_json(
        &mut self,
        key: &Path,
        body: &impl Serialize,
    ) -> anyhow::Result<(u64, String)> {
        let path = self.root.join(key);
        self.json.clear();
        serde_json::to_writer(&mut self.json, body)
            .with_context(|| format!("cannot serialise {}", path.display()))?;
        self.gzipped.clear();
        let mut gz = GzEncoder::new(std::mem::take(&mut self.gzipped), Compression::new(6));
        gz.write_all(&self.json)
            .with_context(|| format!("cannot compress {}", path.display()))?;
        self.gzipped = gz
            .finish()
            .with_context(|| format!("cannot compress {}", path.display()))?;
        let folder = path.parent().unwrap_or(self.root);
        if !self.made.contains(folder) {
            fs::create_dir_all(folder)
                .with_context(|| format!("cannot create folder {}", folder.display()))?;
            self.made.insert(folder.to_path_buf());
        }
        fs::write(&path, &self.gzipped)
            .with_context(|| format!("cannot write {}", path.display()))?;
        let sha256 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &self.json);
        Ok((self.gzipped.len() as u64, hex::encode(sha256.as_ref())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Actor, Call, Place};
    use rand::SeedableRng;
    use serde_json::json;

    fn event(rng: &mut GenRng, at: i64, region: usize) -> Event {
        let actor = Actor {
            account: 0,
            identity: None,
            source_ip: "192.0.2.1".to_string(),
            user_agent: "test".to_string(),
            console: false,
            service: true,
        };
        let place = Place {
            at,
            region: "us-east-1",
            account_id: "974349055189",
        };
        let call = Call::read("ec2.amazonaws.com", "DescribeInstances", json!({}));
        Event {
            at,
            account: 0,
            region,
            record: Record::new(rng, &place, &actor, call),
        }
    }

    #[test]
    fn bundle_groups_by_window_and_names_files_by_window_end() {
        let mut rng = GenRng::seed_from_u64(1);
        let events = vec![
            event(&mut rng, 610, 0),
            event(&mut rng, 601, 0),
            event(&mut rng, 900, 0),
            event(&mut rng, 605, 1),
        ];
        let files = bundle(&mut rng, events, 0, 10_000, (40, 40));
        let shape: Vec<(usize, i64, usize)> = files
            .iter()
            .map(|f| (f.region, f.delivered, f.records.len()))
            .collect();
        assert_eq!(shape, [(0, 900, 2), (0, 1200, 1), (1, 900, 1)]);
        assert_eq!((files[0].oldest, files[0].newest), (601, 610));
    }

    #[test]
    fn bundle_keeps_only_windows_inside_the_range() {
        let mut rng = GenRng::seed_from_u64(2);
        let events = vec![
            event(&mut rng, 250, 0),
            event(&mut rng, 310, 0),
            event(&mut rng, 890, 0),
        ];
        // [250, 890]: the window [0, 300) starts before 250, [600, 900) is delivered after 890.
        let files = bundle(&mut rng, events, 250, 890, (40, 40));
        let delivered: Vec<i64> = files.iter().map(|f| f.delivered).collect();
        assert_eq!(delivered, [600]);
    }

    #[test]
    fn bundle_splits_busy_windows_evenly() {
        let mut rng = GenRng::seed_from_u64(3);
        let events = (0..90).map(|i| event(&mut rng, 300 + i, 0)).collect();
        let files = bundle(&mut rng, events, 0, 10_000, (40, 40));
        let sizes: Vec<usize> = files.iter().map(|f| f.records.len()).collect();
        assert_eq!(sizes, [30, 30, 30]);
        assert!(files.iter().all(|f| f.delivered == 600));
    }

    #[test]
    fn redelivered_records_keep_their_event_ids() {
        let mut rng = GenRng::seed_from_u64(4);
        let events = (0..5).map(|i| event(&mut rng, 300 + i, 0)).collect();
        let mut files = bundle(&mut rng, events, 0, 10_000, (40, 40));
        let copied = redeliver(&mut rng, &mut files);
        assert_eq!(files.len(), 2);
        assert_eq!(files[1].records.len(), copied);
        assert_ne!(files[0].suffix, files[1].suffix);
        let ids: HashSet<&str> = files[0]
            .records
            .iter()
            .map(|r| r.event_id.as_str())
            .collect();
        assert!(
            files[1]
                .records
                .iter()
                .all(|r| ids.contains(r.event_id.as_str()))
        );
    }
}
