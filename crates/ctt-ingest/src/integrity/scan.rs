//! Reading a source for verification: every log and digest file listed,
//! fetched, decompressed and hashed, on all cores.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_lc_rs::digest::{SHA256, digest};
use chrono::NaiveDate;

use super::{
    DigestBody, FoundDigest, FoundLog, Inventory, Kind, PublicKeys, Report, Status, verify,
    verify_signing,
};
use crate::read::{DEFAULT_MAX_FILE_BYTES, decompress};
use crate::source::{FileKind, Source, SourceFile};

/// How to check.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Largest decompressed file read (bigger ones are `modified`).
    pub max_file_bytes: u64,
    /// Signatures (hex) given for digests, by file name: the newest digest of
    /// a trail is `unsigned` otherwise, on a local copy.
    pub signatures: HashMap<String, String>,
    /// Threads reading and hashing (at least 1).
    pub threads: usize,
    /// A window's days (`Some`), whose verdicts are kept
    /// ([`Report::within`](super::Report::within)): the logs of other days
    /// listed are read only when a digest of these days lists them, and only
    /// these days' digests have their signatures checked. `None`: every file.
    pub window_days: Option<(Option<NaiveDate>, Option<NaiveDate>)>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            signatures: HashMap::new(),
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            window_days: None,
        }
    }
}

/// SHA-256 of `bytes`, in lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(digest(&SHA256, bytes).as_ref())
}

/// Reads and hashes the log and digest files among `files` (others are
/// ignored), then [`verify`]s them.
pub fn check(
    source: &dyn Source,
    files: &[SourceFile],
    keys: &PublicKeys,
    options: &CheckOptions,
) -> Report {
    check_window(source, files, keys, options, HashMap::new(), &[]).0
}

/// [`check`] for one window of a history verified window by window
/// ([`super::windows`]), with the SHA-256 of some logs already `known` by key
/// (a load computed them as it read the files: not read again), and `carried`: the newest digest of each
/// trail that earlier windows read, added when not listed. So the window's
/// first digest finds its previous link even across a pause of days (or
/// reports the `gap`: it does not start its chain), and a carried digest
/// whose successor the window holds has its signature checked. Also returns
/// the digests the window read (carried ones included), for the next
/// window's. [`read_window`] then [`verify_window`].
pub fn check_window(
    source: &dyn Source,
    files: &[SourceFile],
    keys: &PublicKeys,
    options: &CheckOptions,
    known: HashMap<String, String>,
    carried: &[FoundDigest],
) -> (Report, Vec<FoundDigest>) {
    let read = read_window(source, files, options, known);
    verify_window(read, keys, options, carried)
}

/// A window's files, read and hashed: [`check_window`]'s first half, which
/// needs nothing from the windows before (the next window can be read while
/// this one is verified).
#[derive(Debug, Default)]
pub struct WindowRead {
    inventory: Inventory,
    /// Logs whose hashes were known (not read).
    known: usize,
    read: std::time::Duration,
}

/// Reads and hashes the digests and logs among `files`, but the logs whose
/// SHA-256 is `known` by key (a load computed them as it read the files).
pub fn read_window(
    source: &dyn Source,
    files: &[SourceFile],
    options: &CheckOptions,
    mut known: HashMap<String, String>,
) -> WindowRead {
    let mut inventory = Inventory::default();
    let wanted: Vec<&SourceFile> = files
        .iter()
        .filter(|f| match f.kind {
            FileKind::Digest => true,
            FileKind::Log => match known.remove(&f.key) {
                Some(hash) => {
                    inventory.logs.push(FoundLog {
                        key: f.key.clone(),
                        sha256: Ok(hash),
                    });
                    false
                }
                None => true,
            },
            _ => false,
        })
        .collect();
    let already = inventory.logs.len();
    let started = std::time::Instant::now();
    let (digests, mut logs): (Vec<&SourceFile>, Vec<&SourceFile>) =
        wanted.into_iter().partition(|f| f.kind == FileKind::Digest);
    let read_digests = read_all(source, &digests, options);
    inventory.digests = read_digests.digests;
    if let Some((from, to)) = options.window_days {
        // The days around a window are listed for their digests: their logs
        // are read only when a digest of the window lists them.
        let listed: std::collections::HashSet<&str> = inventory
            .digests
            .iter()
            .filter(|d| crate::source::in_date_range(&d.key, from, to))
            .filter_map(|d| d.read.as_ref().ok())
            .flat_map(|(_, body)| body.log_files.iter())
            .map(|log| super::file_name(&log.s3_object))
            .collect();
        logs.retain(|f| {
            crate::source::in_date_range(&f.key, from, to)
                || listed.contains(super::file_name(&f.key))
        });
    }
    inventory.logs.extend(read_all(source, &logs, options).logs);
    WindowRead {
        inventory,
        known: already,
        read: started.elapsed(),
    }
}

/// [`check_window`]'s second half: the window `read`, with the digests
/// `carried` from the windows before, verified.
pub fn verify_window(
    read: WindowRead,
    keys: &PublicKeys,
    options: &CheckOptions,
    carried: &[FoundDigest],
) -> (Report, Vec<FoundDigest>) {
    let WindowRead {
        mut inventory,
        known,
        read,
    } = read;
    let started = std::time::Instant::now();
    let listed: std::collections::HashSet<&str> =
        inventory.digests.iter().map(|d| d.key.as_str()).collect();
    let unlisted: Vec<FoundDigest> = carried
        .iter()
        .filter(|d| !listed.contains(d.key.as_str()))
        .cloned()
        .collect();
    inventory.digests.extend(unlisted);
    let report = match options.window_days {
        Some((from, to)) => verify_signing(&inventory, keys, &|key| {
            crate::source::in_date_range(key, from, to)
        }),
        None => verify(&inventory, keys),
    };
    tracing::info!(
        logs = inventory.logs.len(),
        hashed_by_the_load = known,
        digests = inventory.digests.len(),
        read_secs = read.as_secs_f64(),
        verify_secs = started.elapsed().as_secs_f64(),
        "verified"
    );
    (report, inventory.digests)
}

/// Reads and hashes `files` on `options.threads` threads.
fn read_all(source: &dyn Source, files: &[&SourceFile], options: &CheckOptions) -> Inventory {
    let next = AtomicUsize::new(0);
    let inventory = Mutex::new(Inventory::default());
    std::thread::scope(|scope| {
        for _ in 0..options.threads.max(1).min(files.len().max(1)) {
            scope.spawn(|| {
                let mut mine = Inventory::default();
                while let Some(file) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                    read_one(source, file, options, &mut mine);
                }
                if let Ok(mut all) = inventory.lock() {
                    all.logs.append(&mut mine.logs);
                    all.digests.append(&mut mine.digests);
                }
            });
        }
    });
    inventory.into_inner().unwrap_or_default()
}

fn read_one(source: &dyn Source, file: &SourceFile, options: &CheckOptions, into: &mut Inventory) {
    let is_digest = file.kind == FileKind::Digest;
    let fetched = if is_digest {
        source.fetch_with_signature(file)
    } else {
        source.fetch(file).map(|bytes| (bytes, None))
    };
    let (bytes, signature) = match fetched {
        Ok(fetched) => fetched,
        Err(e) => {
            let reason = crate::error_chain(&e);
            return push_unreadable(file, is_digest, reason, into);
        }
    };
    let raw = match decompress(&bytes, options.max_file_bytes) {
        Ok(raw) => raw,
        Err(e) => return push_unreadable(file, is_digest, e.to_string(), into),
    };
    let hash = sha256_hex(&raw);
    if is_digest {
        let read = serde_json::from_slice::<DigestBody>(&raw)
            .map(|body| (hash, body))
            .map_err(|e| format!("not a digest: {e}"));
        let given = options.signatures.get(super::file_name(&file.key)).cloned();
        into.digests.push(FoundDigest {
            key: file.key.clone(),
            read,
            signature: given.or(signature),
        });
    } else {
        into.logs.push(FoundLog {
            key: file.key.clone(),
            sha256: Ok(hash),
        });
    }
}

fn push_unreadable(file: &SourceFile, is_digest: bool, reason: String, into: &mut Inventory) {
    if is_digest {
        into.digests.push(FoundDigest {
            key: file.key.clone(),
            read: Err(reason),
            signature: None,
        });
    } else {
        into.logs.push(FoundLog {
            key: file.key.clone(),
            sha256: Err(reason),
        });
    }
}

/// The `eventID`s in each log of `files` that `report` finds present but
/// not valid (`modified`, `not-covered`), by key: the events to mark. Such
/// files are few; a file that cannot be read again has none.
pub fn flagged_events(
    source: &dyn Source,
    files: &[SourceFile],
    report: &Report,
    max_file_bytes: u64,
) -> HashMap<String, Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Log {
        #[serde(rename = "Records", default)]
        records: Vec<Record>,
    }
    #[derive(serde::Deserialize)]
    struct Record {
        #[serde(rename = "eventID")]
        event_id: Option<String>,
    }
    let flagged: std::collections::HashSet<&str> = report
        .files
        .iter()
        .filter(|f| {
            f.kind == Kind::Log && matches!(f.status, Status::Modified | Status::NotCovered)
        })
        .map(|f| f.key.as_str())
        .collect();
    let mut events = HashMap::new();
    for file in files.iter().filter(|f| flagged.contains(f.key.as_str())) {
        let ids = source
            .fetch(file)
            .ok()
            .and_then(|bytes| {
                let raw = decompress(&bytes, max_file_bytes).ok()?;
                serde_json::from_slice::<Log>(&raw).ok()
            })
            .map(|log| log.records.into_iter().filter_map(|r| r.event_id).collect())
            .unwrap_or_default();
        events.insert(file.key.clone(), ids);
    }
    events
}
