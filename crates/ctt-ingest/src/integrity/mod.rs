//! Integrity (SPEC §14): CloudTrail's signed digest files checked offline, as
//! `aws cloudtrail validate-logs` checks them online.
//!
//! Every hour CloudTrail writes, per account, region and trail, a digest: the
//! SHA-256 of each log file delivered in the hour (over its *decompressed*
//! bytes), the SHA-256 and signature of the previous digest, and its own
//! SHA256withRSA signature (the S3 object's `signature` metadata; a local copy
//! has lost it, so it is read from the next digest's `previousDigestSignature`).
//!
//! [`verify`] is pure: it takes what was read ([`Inventory`]) and the public
//! keys ([`PublicKeys`]) and gives each file its [`Status`]. [`check`] lists and
//! reads a source on all cores to build the inventory.
//!
//! * **Logs**: listed by a digest and present with the same hash → `valid`;
//!   another hash (or unreadable) → `modified`; absent → `missing`; present,
//!   inside a period a digest of its account and region covers, but listed by
//!   none → `not-covered`. A log outside every digest's period (delivered
//!   after the newest digest, or before the oldest) is not checked: counted
//!   as unchecked, not listed.
//! * **Digests**: `previousDigestHashValue` equal to the SHA-256 of the
//!   previous digest, else `chain-broken`; a missing link (the previous digest
//!   absent, or `null` while an older digest of the same trail exists) →
//!   `gap` (the oldest digest checked starts the chain); the signature over
//!   the signing string verified with the key of `digestPublicKeyFingerprint`,
//!   else `invalid-signature`; no signature known → `unsigned` (normal for
//!   the newest digest of a trail). The first fault in that order is the
//!   status; all are kept.

mod keys;
pub mod runs;
mod scan;
pub mod windows;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub use keys::{KeyError, PublicKeys};
pub use scan::{
    CheckOptions, WindowRead, check, check_window, flagged_events, read_window, sha256_hex,
    verify_window,
};

/// What a file was found to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Valid,
    /// The newest digest of a trail, whose signature a local copy cannot know.
    Unsigned,
    Modified,
    Missing,
    NotCovered,
    InvalidSignature,
    ChainBroken,
    Gap,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Valid => "valid",
            Status::Unsigned => "unsigned",
            Status::Modified => "modified",
            Status::Missing => "missing",
            Status::NotCovered => "not-covered",
            Status::InvalidSignature => "invalid-signature",
            Status::ChainBroken => "chain-broken",
            Status::Gap => "gap",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `log` or `digest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Log,
    Digest,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Log => "log",
            Kind::Digest => "digest",
        }
    }
}

/// A digest file's fields that verification reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DigestBody {
    pub digest_start_time: String,
    pub digest_end_time: String,
    pub digest_s3_bucket: String,
    pub digest_s3_object: String,
    #[serde(default)]
    pub digest_public_key_fingerprint: Option<String>,
    #[serde(default)]
    pub previous_digest_s3_object: Option<String>,
    #[serde(default)]
    pub previous_digest_hash_value: Option<String>,
    #[serde(default)]
    pub previous_digest_signature: Option<String>,
    #[serde(default)]
    pub log_files: Vec<ListedLog>,
}

/// A log file as a digest lists it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListedLog {
    pub s3_object: String,
    pub hash_value: String,
}

/// A log file found in the source.
#[derive(Debug, Clone)]
pub struct FoundLog {
    /// The source's key (a path, or `s3://bucket/key`).
    pub key: String,
    /// SHA-256 (hex) of the decompressed content, or why it could not be read.
    pub sha256: Result<String, String>,
}

/// A digest file found in the source.
#[derive(Debug, Clone)]
pub struct FoundDigest {
    pub key: String,
    /// SHA-256 (hex) of the decompressed content, and its fields; or why it
    /// could not be read.
    pub read: Result<(String, DigestBody), String>,
    /// Its signature (hex), when the source knows it (S3 metadata, or given).
    pub signature: Option<String>,
}

/// Everything read from a source.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub logs: Vec<FoundLog>,
    pub digests: Vec<FoundDigest>,
}

/// One file's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checked {
    pub kind: Kind,
    pub key: String,
    pub status: Status,
    /// Every fault found (a digest may have several), in order of precedence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<Status>,
    /// Why, in words, when not valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For a log: the digest that lists it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listed_by: Option<String>,
}

impl Checked {
    /// Valid, or `unsigned` with no fault (the newest digest of a trail).
    pub fn is_valid(&self) -> bool {
        self.status == Status::Valid || (self.status == Status::Unsigned && self.faults.is_empty())
    }
}

/// The verdicts, sorted by key, and the counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub files: Vec<Checked>,
    /// Count per status of logs and of digests.
    pub logs: BTreeMap<Status, u64>,
    pub digests: BTreeMap<Status, u64>,
    /// Logs no digest's period covers (delivered after the newest digest, or
    /// before the oldest): not checked.
    pub unchecked_logs: u64,
    /// Their keys, so that [`Report::within`] counts those of its days only.
    #[serde(skip)]
    unchecked: Vec<String>,
}

impl Report {
    /// Whether everything checked is valid (`unsigned` allowed for the newest
    /// digest of a trail, the only ones left unsigned when the chain is whole).
    pub fn all_valid(&self) -> bool {
        self.files.iter().all(Checked::is_valid)
    }
}

/// The file name of a key or S3 object (CloudTrail's names are unique: they
/// carry the account, region, time and a random suffix or the trail).
pub(crate) fn file_name(key: &str) -> &str {
    key.rsplit(['/', '\\']).next().unwrap_or(key)
}

/// The chain of the digest at `key` (see [`chain_of`]).
pub fn chain(key: &str) -> String {
    chain_of(file_name(key)).into_owned()
}

/// A trail's chain: a digest's file name without its time stamp
/// (`ACCOUNT_CloudTrail-Digest_REGION_TRAIL_HOMEREGION`). Backfill digests
/// (`…_TIMESTAMP_backfill.json.gz`: log files CloudTrail delivered too late
/// for their hour's digest) chain among themselves, as `aws cloudtrail
/// validate-logs` reads them: their chain ends in `_backfill`.
fn chain_of(name: &str) -> Cow<'_, str> {
    match name.strip_suffix("_backfill.json.gz") {
        Some(stem) => Cow::Owned(format!(
            "{}_backfill",
            stem.rsplit_once('_').map_or(stem, |(chain, _)| chain)
        )),
        None => Cow::Borrowed(name.rsplit_once('_').map_or(name, |(chain, _)| chain)),
    }
}

/// What `ListPublicKeys` is asked for the digests among `files`: their
/// trails' home regions (keys are regional) and the days they span.
pub fn key_request(
    files: &[crate::SourceFile],
) -> (BTreeSet<String>, Option<(NaiveDate, NaiveDate)>) {
    let mut regions = BTreeSet::new();
    let mut span: Option<(NaiveDate, NaiveDate)> = None;
    for file in files.iter().filter(|f| f.kind == crate::FileKind::Digest) {
        let name = file_name(&file.key);
        let stem = name
            .strip_suffix("_backfill.json.gz")
            .or_else(|| name.strip_suffix(".json.gz"))
            .unwrap_or(name);
        // ACCOUNT_CloudTrail-Digest_REGION_TRAIL_HOMEREGION_TIMESTAMP (a trail's
        // name may hold underscores: the home region is next to last).
        let parts: Vec<&str> = stem.split('_').collect();
        if parts.len() >= 6 && parts[1] == "CloudTrail-Digest" {
            regions.insert(parts[parts.len() - 2].to_owned());
        }
        if let Some(day) = crate::source::key_date(&file.key) {
            span = Some(span.map_or((day, day), |(a, b)| (a.min(day), b.max(day))));
        }
    }
    (regions, span)
}

/// `ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_RANDOM.json.gz` → (account, region, time).
fn log_place(name: &str) -> Option<(&str, &str, chrono::DateTime<chrono::Utc>)> {
    let mut parts = name.split('_');
    let account = parts.next()?;
    if parts.next()? != "CloudTrail" {
        return None;
    }
    let region = parts.next()?;
    let stamp = parts.next()?;
    let time = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%MZ").ok()?;
    Some((account, region, time.and_utc()))
}

/// `ACCOUNT_CloudTrail-Digest_REGION_…` → (account, region).
fn digest_place(name: &str) -> Option<(&str, &str)> {
    let mut parts = name.split('_');
    let account = parts.next()?;
    if parts.next()? != "CloudTrail-Digest" {
        return None;
    }
    Some((account, parts.next()?))
}

fn parse_time(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// The text a digest's signature signs (SPEC §14), for a digest whose
/// decompressed content hashes to `sha256_hex`.
pub fn signing_string(body: &DigestBody, sha256_hex: &str) -> String {
    ctt_core::digest::signing_string(
        &body.digest_end_time,
        &body.digest_s3_bucket,
        &body.digest_s3_object,
        sha256_hex,
        body.previous_digest_signature.as_deref(),
    )
}

/// Each digest's signature checked (`None`: no signature known): given, else
/// the successor's record of it. RSA verification is most of the work of
/// [`verify`] (~40 µs a digest), so it runs on every core.
fn check_signatures(
    inventory: &Inventory,
    successor: &HashMap<usize, usize>,
    keys: &PublicKeys,
    checked: &(dyn Fn(&str) -> bool + Sync),
) -> Vec<Option<Result<(), String>>> {
    let one = |i: usize| -> Option<Result<(), String>> {
        let digest = &inventory.digests[i];
        if !checked(&digest.key) {
            return None;
        }
        let (hash, body) = digest.read.as_ref().ok()?;
        let signature = digest.signature.as_deref().or_else(|| {
            successor.get(&i).and_then(|&next| {
                inventory.digests[next]
                    .read
                    .as_ref()
                    .ok()
                    .and_then(|(_, b)| b.previous_digest_signature.as_deref())
            })
        })?;
        Some(keys.verify(
            body.digest_public_key_fingerprint.as_deref(),
            signing_string(body, hash).as_bytes(),
            signature,
        ))
    };
    let n = inventory.digests.len();
    let threads = std::thread::available_parallelism()
        .map_or(2, |t| t.get())
        .clamp(1, n.max(1));
    let chunk = n.div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let parts: Vec<_> = (0..n)
            .step_by(chunk)
            .map(|start| {
                let end = (start + chunk).min(n);
                (
                    end - start,
                    scope.spawn(move || (start..end).map(one).collect::<Vec<_>>()),
                )
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|(len, part)| {
                part.join().unwrap_or_else(|_| {
                    vec![Some(Err("the signature check failed".to_owned())); len]
                })
            })
            .collect()
    })
}

/// A digest's period, from its start to its end.
type Span = (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>);

/// Gives every file of `inventory` its status.
pub fn verify(inventory: &Inventory, keys: &PublicKeys) -> Report {
    verify_signing(inventory, keys, &|_| true)
}

/// [`verify`], checking the signatures of only the digests whose keys
/// `signed` accepts: the others are `unsigned`. For a window of a history
/// ([`windows`]), whose verdicts on the days listed around it are not kept
/// ([`Report::within`]): an RSA check is most of a digest's price.
pub fn verify_signing(
    inventory: &Inventory,
    keys: &PublicKeys,
    signed: &(dyn Fn(&str) -> bool + Sync),
) -> Report {
    let mut files = Vec::new();
    let readable: Vec<(usize, &str, &DigestBody)> = inventory
        .digests
        .iter()
        .enumerate()
        .filter_map(|(i, d)| {
            d.read
                .as_ref()
                .ok()
                .map(|(hash, body)| (i, hash.as_str(), body))
        })
        .collect();
    let by_name: HashMap<&str, usize> = inventory
        .digests
        .iter()
        .enumerate()
        .map(|(i, d)| (file_name(&d.key), i))
        .collect();
    // Each digest's successor: the digest naming it as previous.
    let mut successor: HashMap<usize, usize> = HashMap::new();
    for &(i, _, body) in &readable {
        if let Some(&previous) = body
            .previous_digest_s3_object
            .as_deref()
            .and_then(|p| by_name.get(file_name(p)))
        {
            successor.insert(previous, i);
        }
    }
    // The oldest digest of each chain starts it.
    let mut oldest: HashMap<Cow<'_, str>, (chrono::DateTime<chrono::Utc>, usize)> = HashMap::new();
    for &(i, _, body) in &readable {
        let chain = chain_of(file_name(&inventory.digests[i].key));
        let end = parse_time(&body.digest_end_time).unwrap_or_default();
        let entry = oldest.entry(chain).or_insert((end, i));
        if end < entry.0 {
            *entry = (end, i);
        }
    }

    let signatures = check_signatures(inventory, &successor, keys, signed);
    for (i, digest) in inventory.digests.iter().enumerate() {
        let body = match &digest.read {
            Ok((_, body)) => body,
            Err(reason) => {
                files.push(Checked {
                    kind: Kind::Digest,
                    key: digest.key.clone(),
                    status: Status::InvalidSignature,
                    faults: vec![Status::InvalidSignature],
                    detail: Some(format!("unreadable: {reason}")),
                    listed_by: None,
                });
                continue;
            }
        };
        let name = file_name(&digest.key);
        let chain = chain_of(name);
        let starts_chain = oldest.get(&chain).is_some_and(|&(_, first)| first == i);
        let mut faults = Vec::new();
        let mut details = Vec::new();

        let signature = signatures[i].as_ref();
        if let Some(Err(why)) = signature {
            faults.push(Status::InvalidSignature);
            details.push(why.clone());
        }

        if let Some((fault, detail)) = previous_link_fault(body, &by_name, inventory, starts_chain)
        {
            faults.push(fault);
            details.push(detail);
        }

        let status = match faults.first() {
            Some(&first) => first,
            None if signature.is_none() => Status::Unsigned,
            None => Status::Valid,
        };
        if status == Status::Unsigned && successor.contains_key(&i) {
            details.push("the next digest does not record a signature".to_owned());
        } else if status == Status::Unsigned {
            details.push(
                "the newest digest of its trail: its signature is the S3 object's metadata"
                    .to_owned(),
            );
        }
        files.push(Checked {
            kind: Kind::Digest,
            key: digest.key.clone(),
            status,
            faults,
            detail: (!details.is_empty()).then(|| details.join("; ")),
            listed_by: None,
        });
    }

    // Logs: listed by a readable digest, or inside a covered period.
    let mut listed: HashMap<&str, (&str, usize)> = HashMap::new();
    for &(i, _, body) in &readable {
        for log in &body.log_files {
            listed
                .entry(file_name(&log.s3_object))
                .or_insert((log.hash_value.as_str(), i));
        }
    }
    let mut periods: HashMap<(&str, &str), Vec<Span>> = HashMap::new();
    for &(i, _, body) in &readable {
        let Some(place) = digest_place(file_name(&inventory.digests[i].key)) else {
            continue;
        };
        if let (Some(start), Some(end)) = (
            parse_time(&body.digest_start_time),
            parse_time(&body.digest_end_time),
        ) {
            periods.entry(place).or_default().push((start, end));
        }
    }
    let mut unchecked = Vec::new();
    let mut found: HashMap<&str, usize> = HashMap::new();
    for (i, log) in inventory.logs.iter().enumerate() {
        let name = file_name(&log.key);
        found.insert(name, i);
        let (status, detail) = match (listed.get(name), &log.sha256) {
            (Some(_), Err(reason)) => (Status::Modified, Some(format!("unreadable: {reason}"))),
            (Some((stated, _)), Ok(actual)) if stated.eq_ignore_ascii_case(actual) => {
                (Status::Valid, None)
            }
            (Some((stated, digest)), Ok(actual)) => (
                Status::Modified,
                Some(format!(
                    "SHA-256 {actual}, where {} lists {stated}",
                    file_name(&inventory.digests[*digest].key)
                )),
            ),
            (None, _) => {
                let covered = log_place(name).is_some_and(|(account, region, time)| {
                    periods.get(&(account, region)).is_some_and(|spans| {
                        spans
                            .iter()
                            .any(|(start, end)| *start <= time && time <= *end)
                    })
                });
                if !covered {
                    unchecked.push(log.key.clone());
                    continue;
                }
                (
                    Status::NotCovered,
                    Some("inside a digest's period, listed by none".to_owned()),
                )
            }
        };
        files.push(Checked {
            kind: Kind::Log,
            key: log.key.clone(),
            status,
            faults: if status == Status::Valid {
                Vec::new()
            } else {
                vec![status]
            },
            detail,
            listed_by: listed
                .get(name)
                .map(|(_, digest)| inventory.digests[*digest].key.clone()),
        });
    }
    for (name, (_, digest)) in &listed {
        if !found.contains_key(name) {
            let digest_key = &inventory.digests[*digest].key;
            let object = readable
                .iter()
                .find(|(i, _, _)| i == digest)
                .and_then(|(_, _, body)| {
                    body.log_files
                        .iter()
                        .find(|l| file_name(&l.s3_object) == *name)
                })
                .map_or_else(|| (*name).to_owned(), |l| l.s3_object.clone());
            // Reported under the key it would have in this source: the
            // digest's own key up to `AWSLogs/`, then the listed object.
            let object = match (digest_key.find("AWSLogs/"), object.find("AWSLogs/")) {
                (Some(at), Some(from)) => format!("{}{}", &digest_key[..at], &object[from..]),
                _ => object,
            };
            files.push(Checked {
                kind: Kind::Log,
                key: object,
                status: Status::Missing,
                faults: vec![Status::Missing],
                detail: Some(format!("listed by {}", file_name(digest_key))),
                listed_by: Some(digest_key.clone()),
            });
        }
    }

    Report::new(files, unchecked)
}

/// What is wrong with a digest's link to the previous one, if anything: the
/// previous digest's hash differs (`chain-broken`), it cannot be read
/// (`chain-broken`), or it is missing where the chain should go on (`gap`).
fn previous_link_fault(
    body: &DigestBody,
    by_name: &HashMap<&str, usize>,
    inventory: &Inventory,
    starts_chain: bool,
) -> Option<(Status, String)> {
    let Some(previous) = body.previous_digest_s3_object.as_deref() else {
        return (!starts_chain).then(|| {
            let why = "previousDigestS3Object is null but an older digest of this trail exists";
            (Status::Gap, why.to_owned())
        });
    };
    let Some(&p) = by_name.get(file_name(previous)) else {
        return (!starts_chain).then(|| {
            (
                Status::Gap,
                format!("the previous digest {previous} is missing"),
            )
        });
    };
    match &inventory.digests[p].read {
        Ok((previous_hash, _)) => {
            let stated = body.previous_digest_hash_value.as_deref().unwrap_or("");
            (!stated.eq_ignore_ascii_case(previous_hash)).then(|| {
                let detail = format!(
                    "previousDigestHashValue {stated} is not the SHA-256 of {} ({previous_hash})",
                    file_name(previous)
                );
                (Status::ChainBroken, detail)
            })
        }
        Err(_) => Some((
            Status::ChainBroken,
            format!("the previous digest {previous} cannot be read"),
        )),
    }
}

impl Report {
    fn new(mut files: Vec<Checked>, unchecked: Vec<String>) -> Report {
        files.sort_by(|a, b| a.key.cmp(&b.key).then(a.kind.cmp(&b.kind)));
        let mut report = Report {
            unchecked_logs: unchecked.len() as u64,
            unchecked,
            ..Report::default()
        };
        for file in &files {
            let counts = match file.kind {
                Kind::Log => &mut report.logs,
                Kind::Digest => &mut report.digests,
            };
            *counts.entry(file.status).or_default() += 1;
        }
        report.files = files;
        report
    }

    /// The part of a report about the days `from..=to` (by the dates in the
    /// keys): their digests, the logs those list, and the logs of those days.
    /// Verify a day more on each side than asked, then restrict: the day
    /// before holds the previous links, the day after the signatures.
    pub fn within(self, from: Option<NaiveDate>, to: Option<NaiveDate>) -> Report {
        if from.is_none() && to.is_none() {
            return self;
        }
        let inside = |key: &str| crate::source::in_date_range(key, from, to);
        let kept_digests: std::collections::HashSet<String> = self
            .files
            .iter()
            .filter(|f| f.kind == Kind::Digest && inside(&f.key))
            .map(|f| f.key.clone())
            .collect();
        let files = self
            .files
            .into_iter()
            .filter(|f| match f.kind {
                Kind::Digest => kept_digests.contains(&f.key),
                Kind::Log => match &f.listed_by {
                    Some(digest) => kept_digests.contains(digest),
                    None => inside(&f.key),
                },
            })
            .collect();
        let unchecked = self.unchecked.into_iter().filter(|k| inside(k)).collect();
        Report::new(files, unchecked)
    }

    /// Adds the counts of `window` (a report [`Report::within`] some days)
    /// to these, and keeps its files that are not valid (all that
    /// [`Report::all_valid`] looks at): the totals of a history verified
    /// window by window (see [`windows`]), without holding a verdict for
    /// every file. A later window's verdict on a log replaces an earlier
    /// one's: a log delivered late is `not-covered` in its own days and
    /// found by the backfill digest that lists it, days later.
    pub fn absorb(&mut self, window: Report) {
        let earlier: HashMap<&str, usize> = self
            .files
            .iter()
            .enumerate()
            .filter(|(_, f)| f.kind == Kind::Log)
            .map(|(i, f)| (f.key.as_str(), i))
            .collect();
        let mut replaced: Vec<usize> = window
            .files
            .iter()
            .filter(|f| f.kind == Kind::Log)
            .filter_map(|f| earlier.get(f.key.as_str()).copied())
            .collect();
        replaced.sort_unstable();
        for i in replaced.into_iter().rev() {
            let gone = self.files.remove(i);
            if let Some(n) = self.logs.get_mut(&gone.status) {
                *n = n.saturating_sub(1);
            }
        }
        self.logs.retain(|_, n| *n > 0);
        for (status, n) in window.logs {
            *self.logs.entry(status).or_default() += n;
        }
        for (status, n) in window.digests {
            *self.digests.entry(status).or_default() += n;
        }
        self.unchecked_logs += window.unchecked_logs;
        self.files
            .extend(window.files.into_iter().filter(|f| !f.is_valid()));
    }
}

#[cfg(test)]
mod tests;
