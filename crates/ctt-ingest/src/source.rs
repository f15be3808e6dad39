//! Sources of log files, and what a key says about its file.
//!
//! A [`Source`] fetches the bytes of a [`SourceFile`]; listing is the source's own
//! business (walking a folder, listing a bucket by day prefixes). Classifying keys
//! (digest, log, other) and reading the date in a key are pure functions shared by
//! every source.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::NaiveDate;

/// What a key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A log file (`.json.gz`, `.json`, `.jsonl`, `.ndjson`, `.gz`).
    Log,
    /// A digest file (signed hash chain under `CloudTrail-Digest/`): no events.
    Digest,
    /// Anything else (a README, `.DS_Store`, a console export in another format).
    Other,
}

/// Classifies a key by its path and name.
pub fn classify(key: &str) -> FileKind {
    let name = key.rsplit(['/', '\\']).next().unwrap_or(key);
    if key
        .split(['/', '\\'])
        .any(|part| part == "CloudTrail-Digest")
        || name.contains("_CloudTrail-Digest_")
    {
        return FileKind::Digest;
    }
    let lower = name.to_ascii_lowercase();
    let is_log = !lower.starts_with('.')
        && [
            ".json.gz",
            ".json",
            ".jsonl",
            ".ndjson",
            ".jsonl.gz",
            ".ndjson.gz",
            ".gz",
        ]
        .iter()
        .any(|ext| lower.ends_with(ext));
    if is_log {
        FileKind::Log
    } else {
        FileKind::Other
    }
}

/// The day a key was written for: `_YYYYMMDDTHHMMZ_` in the file name, else a
/// `YYYY/MM/DD` run of folders.
pub fn key_date(key: &str) -> Option<NaiveDate> {
    let parts: Vec<&str> = key.split(['/', '\\']).collect();
    let name = parts.last().copied().unwrap_or(key);
    let from_name = name.split('_').find_map(|token| {
        let bytes = token.as_bytes();
        let stamp =
            bytes.len() >= 9 && bytes[8] == b'T' && bytes[..8].iter().all(u8::is_ascii_digit);
        stamp
            .then(|| NaiveDate::parse_from_str(&token[..8], "%Y%m%d").ok())
            .flatten()
    });
    from_name.or_else(|| {
        parts.windows(3).rev().find_map(|w| {
            let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
            (digits(w[0], 4) && digits(w[1], 2) && digits(w[2], 2))
                .then(|| {
                    NaiveDate::parse_from_str(&format!("{}-{}-{}", w[0], w[1], w[2]), "%Y-%m-%d")
                        .ok()
                })
                .flatten()
        })
    })
}

/// Whether a key is selected by `--from`/`--to` (whole days, inclusive). Keys
/// without a date are always selected: nothing says they are outside the range.
pub fn in_date_range(key: &str, from: Option<NaiveDate>, to: Option<NaiveDate>) -> bool {
    match key_date(key) {
        None => true,
        Some(day) => from.is_none_or(|f| day >= f) && to.is_none_or(|t| day <= t),
    }
}

/// A file a source can fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// The ledger key: a path, or `s3://bucket/key`.
    pub key: String,
    pub size: u64,
    /// What identifies this content: modification time, or the S3 ETag.
    pub version: String,
    pub kind: FileKind,
}

/// Why a file could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {key}")]
    Read {
        key: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot list {location}")]
    List {
        location: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot fetch {key}")]
    Fetch {
        key: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Fetches the bytes of listed files. Called from many threads at once.
pub trait Source: Send + Sync {
    fn fetch(&self, file: &SourceFile) -> Result<Vec<u8>, SourceError>;
}

/// Files and folders on the local disk.
#[derive(Debug, Default, Clone)]
pub struct LocalSource;

impl LocalSource {
    /// Lists the files under each path (folders recursively), in key order,
    /// keeping those whose key date lies in `from..=to`.
    ///
    /// Listing is mostly system calls: the top of each tree is read first, then
    /// its folders (CloudTrail's months or days) are walked on several threads.
    pub fn list(
        paths: &[PathBuf],
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<Vec<SourceFile>, SourceError> {
        let mut files = Vec::new();
        let mut folders = Vec::new();
        for root in paths {
            // Entries are joined to their root: an absolute root makes absolute keys.
            let root = std::path::absolute(root).unwrap_or_else(|_| root.clone());
            let mut level = vec![root];
            for _ in 0..SPLIT_DEPTH {
                if level.len() >= SPLIT_FOLDERS {
                    break;
                }
                let mut next = Vec::new();
                for path in level {
                    let meta = std::fs::metadata(&path).map_err(|e| list_error(&path, e))?;
                    if !meta.is_dir() {
                        files.extend(source_file(&path, &meta, from, to));
                        continue;
                    }
                    let entries = std::fs::read_dir(&path).map_err(|e| list_error(&path, e))?;
                    for entry in entries {
                        let entry = entry.map_err(|e| list_error(&path, e))?.path();
                        if !folder_outside(&entry, from, to) {
                            next.push(entry);
                        }
                    }
                }
                level = next;
            }
            folders.extend(level);
        }
        let next = AtomicUsize::new(0);
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(2, 8);
        let walked: Vec<Result<Vec<SourceFile>, SourceError>> = std::thread::scope(|scope| {
            let walkers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut found = Vec::new();
                        while let Some(folder) = folders.get(next.fetch_add(1, Ordering::Relaxed)) {
                            walk(folder, from, to, &mut found)?;
                        }
                        Ok(found)
                    })
                })
                .collect();
            walkers
                .into_iter()
                .map(|w| {
                    w.join().unwrap_or_else(|_| {
                        Err(SourceError::List {
                            location: "a listing thread".to_owned(),
                            source: Box::new(std::io::Error::other("panicked")),
                        })
                    })
                })
                .collect()
        });
        for part in walked {
            files.extend(part?);
        }
        // Sorting once is much cheaper than sorting every folder by name.
        files.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        files.dedup_by(|a, b| a.key == b.key);
        Ok(files)
    }
}

/// Folders are split until this many are found…
const SPLIT_FOLDERS: usize = 64;
/// …or this deep (CloudTrail: `AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM`).
const SPLIT_DEPTH: usize = 6;

fn list_error(
    path: &std::path::Path,
    error: impl std::error::Error + Send + Sync + 'static,
) -> SourceError {
    SourceError::List {
        location: path.display().to_string(),
        source: Box::new(error),
    }
}

/// Whether `path` is a folder named by date — `…/YYYY`, `…/YYYY/MM` or
/// `…/YYYY/MM/DD`, as CloudTrail names them — whose days all lie outside
/// `from..=to`, with a day's margin on each side (a file's own date, in its name,
/// is the one that selects it). Such folders are not walked, so loading a few days
/// of a long history does not list the whole tree.
fn folder_outside(path: &std::path::Path, from: Option<NaiveDate>, to: Option<NaiveDate>) -> bool {
    if from.is_none() && to.is_none() {
        return false;
    }
    // The last three names, last first, as numbers of the given width.
    let names: Vec<&str> = path
        .components()
        .rev()
        .take(3)
        .map(|c| c.as_os_str().to_str().unwrap_or_default())
        .collect();
    let number = |at: usize, digits: usize| {
        let name = names.get(at)?;
        (name.len() == digits && name.bytes().all(|b| b.is_ascii_digit()))
            .then(|| name.parse::<u32>().ok())?
    };
    let ymd = |y: u32, m: u32, d: u32| NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, d);
    let span = if let (Some(y), Some(m), Some(d)) = (number(2, 4), number(1, 2), number(0, 2)) {
        ymd(y, m, d).map(|day| (day, day))
    } else if let (Some(y), Some(m)) = (number(1, 4), number(0, 2)) {
        let first = ymd(y, m, 1);
        let last = first
            .and_then(|f| f.checked_add_months(chrono::Months::new(1)))
            .and_then(|next| next.pred_opt());
        first.zip(last)
    } else {
        number(0, 4).and_then(|y| ymd(y, 1, 1).zip(ymd(y, 12, 31)))
    };
    let Some((first, last)) = span else {
        return false;
    };
    let margin = chrono::Days::new(1);
    let before = from.is_some_and(|f| last.checked_add_days(margin).is_some_and(|l| l < f));
    let after = to.is_some_and(|t| first.checked_sub_days(margin).is_some_and(|f| f > t));
    before || after
}

/// Everything under `root` (a file or a folder), into `found`.
fn walk(
    root: &std::path::Path,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    found: &mut Vec<SourceFile>,
) -> Result<(), SourceError> {
    let entries = walkdir::WalkDir::new(root)
        .follow_links(true)
        .into_iter()
        .filter_entry(|e| !(e.file_type().is_dir() && folder_outside(e.path(), from, to)));
    for entry in entries {
        let entry = entry.map_err(|e| list_error(root, e))?;
        // The date in the key first: a file outside the range costs no `stat`.
        if !entry.file_type().is_file() || !in_date_range(&entry.path().to_string_lossy(), from, to)
        {
            continue;
        }
        let meta = entry.metadata().map_err(|e| list_error(entry.path(), e))?;
        found.extend(source_file(entry.path(), &meta, from, to));
    }
    Ok(())
}

/// The file at `path`, if its key date lies in `from..=to`.
fn source_file(
    path: &std::path::Path,
    meta: &std::fs::Metadata,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Option<SourceFile> {
    if !meta.is_file() {
        return None;
    }
    let key = path.to_string_lossy().into_owned();
    if !in_date_range(&key, from, to) {
        return None;
    }
    let modified = meta
        .modified()
        .ok()
        .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Some(SourceFile {
        kind: classify(&key),
        size: meta.len(),
        version: format!("{}:{modified}", meta.len()),
        key,
    })
}

impl Source for LocalSource {
    fn fetch(&self, file: &SourceFile) -> Result<Vec<u8>, SourceError> {
        use std::io::Read;
        let read = || -> std::io::Result<Vec<u8>> {
            // Sized by the listing. `fs::read` (and `File::read_to_end`) would
            // ask the file for its size and position first, a `statx` and an
            // `lseek` per file; through `take` the generic `read_to_end` reads
            // into the capacity given, and still reads a file that grew whole.
            let mut bytes = Vec::with_capacity(usize::try_from(file.size).unwrap_or(0) + 1);
            std::fs::File::open(&file.key)?
                .take(u64::MAX)
                .read_to_end(&mut bytes)?;
            Ok(bytes)
        };
        read().map_err(|source| SourceError::Read {
            key: file.key.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "AWSLogs/974349055189/CloudTrail/us-east-1/2018/03/01/974349055189_CloudTrail_us-east-1_20180301T1005Z_abcdEFGH12345678.json.gz";

    #[test]
    fn classifies_keys() {
        let cases = [
            (LOG, FileKind::Log),
            (
                "AWSLogs/o-abc/1/CloudTrail/eu-west-1/2018/03/01/1_CloudTrail_eu-west-1_20180301T1005Z_x.json.gz",
                FileKind::Log,
            ),
            (
                "AWSLogs/1/CloudTrail-Digest/us-east-1/2018/03/01/1_CloudTrail-Digest_us-east-1_trail_us-east-1_20180301T100000Z.json.gz",
                FileKind::Digest,
            ),
            ("exports/events.json", FileKind::Log),
            ("exports/events.ndjson", FileKind::Log),
            ("exports/events.jsonl", FileKind::Log),
            ("AWSLogs/.DS_Store", FileKind::Other),
            ("README.md", FileKind::Other),
            (
                "AWSLogs/1/CloudTrail/us-east-1/2018/03/01/",
                FileKind::Other,
            ),
        ];
        for (key, kind) in cases {
            assert_eq!(classify(key), kind, "{key}");
        }
    }

    #[test]
    fn reads_the_date_in_a_key() {
        let day = NaiveDate::from_ymd_opt(2018, 3, 1);
        assert_eq!(key_date(LOG), day);
        assert_eq!(key_date("logs/2018/03/01/anything.json"), day);
        assert_eq!(key_date("x/1_CloudTrail_r_20180301T2359Z_y.json.gz"), day);
        assert_eq!(key_date("logs/2018/13/01/x.json"), None);
        assert_eq!(key_date("events.json"), None);
    }

    #[test]
    fn date_range_is_whole_days_inclusive() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        assert!(in_date_range(LOG, d("2018-03-01"), d("2018-03-01")));
        assert!(!in_date_range(LOG, d("2018-03-02"), None));
        assert!(!in_date_range(LOG, None, d("2018-02-28")));
        assert!(in_date_range("events.json", d("2018-03-02"), None));
    }

    #[test]
    fn lists_deep_trees_on_several_threads_like_one_walk() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        std::fs::write(root.join("top.json.gz"), b"x").expect("write");
        for day in 1..=28 {
            for region in ["us-east-1", "eu-west-1", "ap-south-1"] {
                let folder = root.join(format!(
                    "AWSLogs/111122223333/CloudTrail/{region}/2018/02/{day:02}"
                ));
                std::fs::create_dir_all(&folder).expect("mkdir");
                let name =
                    format!("111122223333_CloudTrail_{region}_201802{day:02}T1005Z_abc.json.gz");
                std::fs::write(folder.join(name), b"xy").expect("write");
            }
        }
        std::fs::create_dir_all(root.join("empty/a/b")).expect("mkdir");
        let mut expected: Vec<String> = walkdir::WalkDir::new(root)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(|e| e.path().to_string_lossy().into_owned())
            .collect();
        expected.sort();
        let listed = LocalSource::list(&[root.to_path_buf(), root.join("top.json.gz")], None, None)
            .expect("list");
        let keys: Vec<&str> = listed.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(keys, expected, "every file once, in key order");
        assert_eq!(listed.len(), 28 * 3 + 1);
        assert!(listed.iter().all(|f| f.size >= 1 && !f.version.is_empty()));
        let february_2nd = NaiveDate::from_ymd_opt(2018, 2, 2);
        let one_day =
            LocalSource::list(&[root.to_path_buf()], february_2nd, february_2nd).expect("list");
        // The three files of that day, and the one whose key holds no date.
        assert_eq!(one_day.len(), 4, "{one_day:?}");
    }

    #[test]
    fn fetch_reads_the_whole_file_whatever_its_listed_size() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.json");
        let content: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &content).expect("write");
        for size in [0, 1, 9_999, 10_000, 10_001, 50_000] {
            let file = SourceFile {
                key: path.to_string_lossy().into_owned(),
                size,
                version: String::new(),
                kind: FileKind::Log,
            };
            assert_eq!(LocalSource.fetch(&file).expect("fetch"), content, "{size}");
        }
        let missing = SourceFile {
            key: dir.path().join("gone.json").to_string_lossy().into_owned(),
            size: 1,
            version: String::new(),
            kind: FileKind::Log,
        };
        assert!(matches!(
            LocalSource.fetch(&missing),
            Err(SourceError::Read { .. })
        ));
    }

    #[test]
    fn folders_named_by_days_outside_the_range_are_not_walked() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        let outside =
            |p: &str, from: &str, to: &str| folder_outside(std::path::Path::new(p), d(from), d(to));
        let trail = "/logs/AWSLogs/1/CloudTrail/us-east-1";
        // (folder under the trail, from, to, outside)
        let cases = [
            // A day's margin on each side of the range.
            ("2018/03/01", "2018-03-03", "2018-03-04", true),
            ("2018/03/02", "2018-03-03", "2018-03-04", false),
            ("2018/03/05", "2018-03-03", "2018-03-04", false),
            ("2018/03/06", "2018-03-03", "2018-03-04", true),
            // Months and years, whole; December ends the year.
            ("2018/01", "2018-03-03", "2018-03-04", true),
            ("2018/02", "2018-03-01", "2018-03-04", false),
            ("2017/12", "2018-01-01", "", false),
            ("2017/11", "2018-01-01", "", true),
            ("2016", "2018-01-01", "", true),
            ("2018", "2018-06-01", "2018-06-01", false),
            ("2019", "", "2018-06-01", true),
            // Not dates, or no range: walked.
            ("2018/13", "2019-01-01", "", false),
            ("2016", "", "", false),
        ];
        for (folder, from, to, expected) in cases {
            assert_eq!(
                outside(&format!("{trail}/{folder}"), from, to),
                expected,
                "{folder} {from}..{to}"
            );
        }
        assert!(!outside("/logs/AWSLogs/123456789012", "2019-01-01", ""));
        assert!(!outside("/logs/2018/ab", "2019-01-01", ""));
    }

    #[test]
    fn listing_a_range_skips_the_other_days_folders() {
        let dir = tempfile::tempdir().expect("temp dir");
        let trail = dir.path().join("AWSLogs/111122223333/CloudTrail/us-east-1");
        for (y, m, day) in [
            (2017, 12, 31),
            (2018, 1, 30),
            (2018, 2, 1),
            (2018, 2, 2),
            (2018, 2, 5),
        ] {
            let folder = trail.join(format!("{y}/{m:02}/{day:02}"));
            std::fs::create_dir_all(&folder).expect("mkdir");
            let name =
                format!("111122223333_CloudTrail_us-east-1_{y}{m:02}{day:02}T1005Z_a.json.gz");
            std::fs::write(folder.join(name), b"x").expect("write");
        }
        // A symbolic link loop in a folder outside the range: walking it would
        // fail the listing, so listing the range proves it was not walked.
        #[cfg(unix)]
        std::os::unix::fs::symlink(trail.join("2017"), trail.join("2017/12/31/loop"))
            .expect("symlink");
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        let listed = LocalSource::list(
            &[dir.path().to_path_buf()],
            d("2018-02-01"),
            d("2018-02-02"),
        )
        .expect("list");
        let days: Vec<String> = listed
            .iter()
            .filter_map(|f| key_date(&f.key).map(|d| d.to_string()))
            .collect();
        assert_eq!(days, ["2018-02-01", "2018-02-02"]);
        #[cfg(unix)]
        assert!(
            LocalSource::list(&[dir.path().to_path_buf()], None, None).is_err(),
            "the whole tree does walk into the loop"
        );
    }
}
