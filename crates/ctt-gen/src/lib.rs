//! `ctt-gen` owns the generator of realistic, deterministic CloudTrail log
//! trees: what `ctt gen OUT_DIR` writes, and what tests and benchmarks ingest.
//!
//! A tree is what the trail's S3 bucket would hold at `end`:
//!
//! ```text
//! OUT/AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_RANDOM16.json.gz
//! OUT/AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail-Digest/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail-Digest_REGION_TRAIL_REGION_YYYYMMDDTHHMMSSZ.json.gz
//! ```
//!
//! * **Log files** hold gzipped `{"Records":[…]}`. A file's name carries its
//!   delivery time `T` (a multiple of 5 minutes); its records all lie in
//!   `[T - 5 min, T)` and are sorted by `eventTime`. Busy windows are split
//!   into several files with the same `T`. Every delivery time is at most
//!   `end`, so every `eventTime` lies in `[end - days, end]`.
//! * **Digest files** (hourly per account and region, even for hours without
//!   logs) are gzipped JSON objects with `digestStartTime`, `logFiles`… and no
//!   `Records`: ingestion skips them, `ctt verify` checks them. They list the
//!   SHA-256 of each log file, chain to the previous digest and are signed
//!   with the generator's demonstration key (see `digest`), whose public key
//!   is written as `cloudtrail-public-keys.json` at the tree's root.
//! * **Accounts and regions:** account `974349055189` (alias `cloud-teaching`),
//!   plus `581392047716` in organisation mode (`o-5mf2kq9x7w`); regions
//!   `us-east-1` (dominant, and where global services record), `eu-west-1`,
//!   `eu-central-1`, and in `paper` also `us-west-2`.
//! * **Who acts:** students `alucloud001`… in lab sessions (weekday hours,
//!   from the campus network) and at home, working through the labs of the
//!   course [`course_toml`] writes (some finish, some stop part way, some never
//!   start: see `course`); the IAM user `teacher`; SSO users
//!   (`AssumedRole` of `AWSReservedSSO_AdministratorAccess_abcdef`, sessions
//!   named by e-mail); a provisioning role session with
//!   `sessionContext.sourceIdentity`; service roles (`ecsInstanceRole`,
//!   Auto Scaling, ELB, Lambda); `AWSService` principals; root, with and
//!   without `userName`; and a KMS key rotation with no `userIdentity`.
//! * **Resources** (SPEC §11): students launch instances, volumes, NAT
//!   gateways, databases, load balancers, Auto Scaling groups, buckets and
//!   functions, with the id fields real records carry. Most delete what they
//!   made before leaving (instances, NAT gateways, databases, balancers and
//!   groups always; most volumes; half their buckets and functions); two in
//!   five leave everything running, and on lab days the teacher's evening
//!   sweep terminates about half the instances left running that day (one
//!   `TerminateInstances` per region). A refused creation (`errorCode`)
//!   creates nothing, and nothing is later deleted in its name.
//! * **Anomalies** (SPEC §13), on purpose: on a rhythm of days (every 6th in
//!   `small`, every 30th in `paper`) a student's script makes 120 changes in
//!   20 minutes, then 40 refused launches in the next hour — a rate spike and
//!   an error spike; and by nature, students working in a region for the
//!   first time once warm.
//! * **Mix:** about 70% read-only calls (`Describe*`, `Get*`, `List*`,
//!   `Head*`, plus `AssumeRole`, which AWS marks `readOnly: true`), about 30%
//!   of records pass the default filter, about 3% carry an `errorCode`.
//!   `AssumeRole` and `CreateAccessKey` responses contain `sessionToken` and
//!   `secretAccessKey` values, so that redaction can be tested.
//! * **Duplicates, on purpose:** on a fixed rhythm of days (every 4th day in
//!   `small`, every 40th in `paper`), one to three records of a log file are
//!   delivered again in a second file of the same window, with the same
//!   `eventID`, as real trails sometimes do. [`GenSummary::duplicate_records`]
//!   counts them; all other `eventID`s are unique in the tree.
//!
//! **Deterministic:** the same [`GenConfig`] (seed, preset, `end`, days,
//! organisation) writes a byte-identical tree, whatever the number of threads:
//! each day is generated from its own random stream (ChaCha8 seeded from the
//! seed and the day's number) and days are written in parallel.
//!
//! Files already in the output folder are left alone (same names are overwritten).

mod activity;
mod calls;
mod cast;
mod course;
mod delivery;
mod digest;
mod ids;
mod preset;
mod record;

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::activity::{DAY_SECS, day_rng, generate_day, on_rhythm};
use crate::cast::Cast;
use crate::course::CoursePlan;
pub use crate::course::course_toml;
use crate::delivery::TreeWriter;
pub use crate::digest::PUBLIC_KEYS_FILE;
pub use crate::preset::Preset;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenConfig {
    pub seed: u64,
    pub preset: Preset,
    /// The generated history ends at this instant: every record's `eventTime`
    /// and every log file's delivery time is at most `end`.
    pub end: DateTime<Utc>,
    /// Number of days of history, overriding the preset's.
    pub days: Option<u32>,
    /// Organisation-trail layout (`AWSLogs/o-…/ACCOUNT/…`) with two accounts.
    pub organization: bool,
}

impl GenConfig {
    /// The preset's history for one account, ending at `end`.
    pub fn new(preset: Preset, seed: u64, end: DateTime<Utc>) -> Self {
        GenConfig {
            seed,
            preset,
            end,
            days: None,
            organization: false,
        }
    }

    /// Number of days of history this configuration generates.
    pub fn days(&self) -> u32 {
        self.days.unwrap_or_else(|| self.preset.default_days())
    }
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenSummary {
    /// Log files (with `Records`) written; digest files are not counted here.
    pub files: u64,
    /// Records in all log files, re-delivered duplicates included.
    pub records: u64,
    /// Total size of the log files (gzipped bytes).
    pub bytes_gz: u64,
    /// Earliest and latest `eventTime` written (both `end` when nothing was).
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    /// Digest files written.
    pub digest_files: u64,
    /// Records delivered a second time (same `eventID` in two files).
    pub duplicate_records: u64,
}

/// Progress of a generation, reported after each day is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub days_done: u64,
    pub days_total: u64,
    pub files: u64,
    pub records: u64,
}

/// Writes the tree `config` describes under `out_dir` (created if missing).
pub fn generate(out_dir: &Path, config: &GenConfig) -> anyhow::Result<GenSummary> {
    generate_with_progress(out_dir, config, &|_| {})
}

/// [`generate`], calling `progress` (from worker threads) after each day.
pub fn generate_with_progress(
    out_dir: &Path,
    config: &GenConfig,
    progress: &(dyn Fn(Progress) + Sync),
) -> anyhow::Result<GenSummary> {
    fs_create(out_dir)?;
    let plan = Plan::new(config);
    let days = plan.day_numbers();
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 8)
        .min(days.len().max(1));
    let shared = Shared {
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        totals: Mutex::new(Totals::default()),
        delivered: Mutex::new(Vec::new()),
    };
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let workers: Vec<_> = (0..threads)
            .map(|_| scope.spawn(|| plan.run_worker(out_dir, &days, &shared, progress)))
            .collect();
        for worker in workers {
            worker.join().map_err(|_| thread_panicked())??;
        }
        Ok(())
    })?;
    let mut totals = shared.totals.into_inner().map_err(|_| thread_panicked())?;
    // Digests chain through the whole history: written once every day is.
    let delivered = shared
        .delivered
        .into_inner()
        .map_err(|_| thread_panicked())?;
    let signer = digest::Signer::new()?;
    let (digests, _) = digest::write_digests(
        out_dir,
        &plan.cast,
        delivered,
        (plan.start, plan.end),
        &signer,
    )?;
    totals.digest_files = digests;
    let keys = signer.public_keys_json(plan.start, plan.end);
    std::fs::write(out_dir.join(PUBLIC_KEYS_FILE), format!("{keys:#}\n"))
        .with_context(|| format!("cannot write {}", out_dir.join(PUBLIC_KEYS_FILE).display()))?;
    Ok(totals.summary(config.end))
}

fn thread_panicked() -> anyhow::Error {
    anyhow::anyhow!("a generator thread panicked")
}

fn fs_create(out_dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create output folder {}", out_dir.display()))
}

/// The fixed inputs of a generation: cast, profile, time range.
struct Plan<'a> {
    config: &'a GenConfig,
    cast: Cast,
    course: CoursePlan,
    /// The history's time range in seconds since the epoch.
    start: i64,
    end: i64,
}

/// State the worker threads share.
struct Shared {
    /// Index of the next day to generate.
    next: AtomicUsize,
    /// Set when a worker failed: the others stop.
    stop: AtomicBool,
    totals: Mutex<Totals>,
    /// Every log file written, for the digests.
    delivered: Mutex<Vec<digest::Delivered>>,
}

impl<'a> Plan<'a> {
    fn new(config: &'a GenConfig) -> Plan<'a> {
        let profile = config.preset.profile();
        let end = config.end.timestamp();
        let cast = Cast::new(config.seed, profile, config.organization);
        Plan {
            config,
            course: CoursePlan::new(config, cast.students.len()),
            cast,
            start: end - i64::from(config.days()) * DAY_SECS,
            end,
        }
    }

    /// The numbers (days since 1970-01-01) of the days the range touches.
    fn day_numbers(&self) -> Vec<i64> {
        if self.start >= self.end {
            return Vec::new();
        }
        (self.start.div_euclid(DAY_SECS)..=self.end.div_euclid(DAY_SECS)).collect()
    }

    /// Takes days from the shared counter until none are left (or another worker failed).
    fn run_worker(
        &self,
        out_dir: &Path,
        days: &[i64],
        shared: &Shared,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> anyhow::Result<()> {
        let mut writer = TreeWriter::new(out_dir);
        while !shared.stop.load(Ordering::Relaxed) {
            let Some(&number) = days.get(shared.next.fetch_add(1, Ordering::Relaxed)) else {
                return Ok(());
            };
            let day = match self.write_day(&mut writer, number) {
                Ok((day, delivered)) => {
                    shared
                        .delivered
                        .lock()
                        .map_err(|_| thread_panicked())?
                        .extend(delivered);
                    day
                }
                Err(error) => {
                    shared.stop.store(true, Ordering::Relaxed);
                    return Err(error);
                }
            };
            let now = {
                let mut totals = shared.totals.lock().map_err(|_| thread_panicked())?;
                totals.add(&day);
                Progress {
                    days_done: totals.days,
                    days_total: days.len() as u64,
                    files: totals.files,
                    records: totals.records,
                }
            };
            progress(now);
        }
        Ok(())
    }

    /// Generates, bundles and writes one day; returns what was written, and
    /// each log file as a digest will list it.
    fn write_day(
        &self,
        writer: &mut TreeWriter,
        number: i64,
    ) -> anyhow::Result<(Totals, Vec<digest::Delivered>)> {
        let profile = self.config.preset.profile();
        let day = generate_day(&self.cast, &self.course, profile, self.config.seed, number);
        let events = day.events;
        let mut rng = day_rng(self.config.seed, number, 0x6669_6c65);
        let mut files = delivery::bundle(&mut rng, events, self.start, self.end, profile.file_cap);
        let mut totals = Totals {
            days: 1,
            ..Totals::default()
        };
        if on_rhythm(number, profile.rhythms.redelivery) {
            totals.duplicate_records = delivery::redeliver(&mut rng, &mut files) as u64;
        }
        let mut delivered = Vec::with_capacity(files.len());
        for file in &files {
            let key = delivery::log_file_key(&self.cast, file);
            let (size, sha256) = writer.write_log_file(&key, file)?;
            totals.bytes_gz += size;
            totals.add_file(file);
            delivered.push(digest::Delivered {
                account: file.account,
                region: file.region,
                delivered: file.delivered,
                object: delivery::key_string(&key),
                sha256,
                oldest: file.oldest,
                newest: file.newest,
            });
        }
        Ok((totals, delivered))
    }
}

/// Running totals of a generation (per day, then for the whole tree).
#[derive(Debug, Default)]
struct Totals {
    days: u64,
    files: u64,
    records: u64,
    bytes_gz: u64,
    digest_files: u64,
    duplicate_records: u64,
    first: Option<i64>,
    last: Option<i64>,
}

impl Totals {
    fn add_file(&mut self, file: &delivery::LogFile) {
        self.files += 1;
        self.records += file.records.len() as u64;
        self.first = Some(self.first.map_or(file.oldest, |t| t.min(file.oldest)));
        self.last = Some(self.last.map_or(file.newest, |t| t.max(file.newest)));
    }

    fn add(&mut self, other: &Totals) {
        self.days += other.days;
        self.files += other.files;
        self.records += other.records;
        self.bytes_gz += other.bytes_gz;
        self.digest_files += other.digest_files;
        self.duplicate_records += other.duplicate_records;
        self.first = [self.first, other.first].into_iter().flatten().min();
        self.last = [self.last, other.last].into_iter().flatten().max();
    }

    fn summary(&self, end: DateTime<Utc>) -> GenSummary {
        GenSummary {
            files: self.files,
            records: self.records,
            bytes_gz: self.bytes_gz,
            first: self.first.map_or(end, record::utc),
            last: self.last.map_or(end, record::utc),
            digest_files: self.digest_files,
            duplicate_records: self.duplicate_records,
        }
    }
}
