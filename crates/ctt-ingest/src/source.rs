//! Sources of log files, and what a key says about its file.
//!
//! A [`Source`] fetches the bytes of a [`SourceFile`]; listing is the source's own
//! business (walking a folder, listing a bucket by day prefixes). Classifying keys
//! (digest, log, other) and reading the date in a key are pure functions shared by
//! every source.

use std::path::PathBuf;
use std::sync::Mutex;

use chrono::NaiveDate;

/// What a key holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileKind {
    /// A log file (`.json.gz`, `.json`, `.jsonl`, `.ndjson`, `.gz`).
    Log,
    /// A digest file (signed hash chain under `CloudTrail-Digest/`): no events.
    Digest,
    /// Anything else (a README, `.DS_Store`, a console export in another format).
    Other,
    /// Not a regular file — a FIFO, a socket, a device; says which. Skipped,
    /// counted and reported, never opened: opening a FIFO blocks until someone
    /// writes to it, and a device can be read forever.
    Special(&'static str),
    /// An entry the listing could not read — a dangling symbolic link, a link
    /// loop, a folder it may not open, a name that is not UTF-8 — and why. It
    /// becomes a failed ledger entry with that reason; the rest is listed.
    Unreadable(String),
}

/// Classifies a key by its path and name (`cloudtrail-public-keys.json`, which
/// `ctt gen` writes at a tree's root for `ctt verify`, is not a log).
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
    // The public keys `ctt gen` writes beside its digests: JSON, not a log.
    if lower == "cloudtrail-public-keys.json" {
        return FileKind::Other;
    }
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
/// `YYYY/MM/DD` run of folders. Read without allocating: listings and
/// verification ask it of every key, several times.
pub fn key_date(key: &str) -> Option<NaiveDate> {
    let name = key.rsplit(['/', '\\']).next().unwrap_or(key);
    let from_name = name.split('_').find_map(|token| {
        let b = token.as_bytes();
        (b.len() >= 9 && b[8] == b'T')
            .then(|| ymd(&b[..4], &b[4..6], &b[6..8]))
            .flatten()
    });
    from_name.or_else(|| {
        let mut folders = key.rsplit(['/', '\\']);
        let (mut d, mut m) = (folders.next()?, folders.next()?);
        for y in folders {
            if (y.len(), m.len(), d.len()) == (4, 2, 2)
                && let Some(day) = ymd(y.as_bytes(), m.as_bytes(), d.as_bytes())
            {
                return Some(day);
            }
            (d, m) = (m, y);
        }
        None
    })
}

/// The date of ASCII digits `y`, `m`, `d`, if they are digits and a date.
fn ymd(y: &[u8], m: &[u8], d: &[u8]) -> Option<NaiveDate> {
    let number = |s: &[u8]| {
        s.iter().try_fold(0u32, |n, b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    NaiveDate::from_ymd_opt(i32::try_from(number(y)?).ok()?, number(m)?, number(d)?)
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

    /// A digest file's bytes and, where the source keeps it (S3's object
    /// metadata), its signature in hex. A local copy has lost it.
    fn fetch_with_signature(
        &self,
        file: &SourceFile,
    ) -> Result<(Vec<u8>, Option<String>), SourceError> {
        Ok((self.fetch(file)?, None))
    }
}

/// Files and folders on the local disk.
#[derive(Debug, Default, Clone)]
pub struct LocalSource;

impl LocalSource {
    /// Lists the files under each path (folders recursively, symbolic links
    /// followed), in key order, keeping those whose key date lies in `from..=to`.
    ///
    /// Only a root that cannot be read is an error. Below it, one bad entry never
    /// stops the listing: a dangling symbolic link, a link loop, a folder that
    /// cannot be opened or a name that is not UTF-8 is listed as
    /// [`FileKind::Unreadable`] with its reason, and a FIFO, socket or device as
    /// [`FileKind::Special`], so that the load reports each of them.
    ///
    /// Listing is mostly system calls: the top of each tree is read first, then
    /// its folders (CloudTrail's months or days) are walked on several threads.
    pub fn list(
        paths: &[PathBuf],
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<Vec<SourceFile>, SourceError> {
        whole(Self::list_in_parts(paths, from, to, usize::MAX)?)
    }

    /// [`LocalSource::list`] in parts of at least `part_files` files each
    /// (but the last), listed one after the other as the parts are asked for,
    /// so that a load of any size holds one part's listing at a time. The
    /// parts follow the folders the top of each tree splits into (CloudTrail's
    /// regions' months or days), each part sorted by key; together they list
    /// what [`LocalSource::list`] does (a key listed under two roots given is
    /// in a part for each). A root that cannot be read is an error here, before
    /// any part.
    pub fn list_in_parts(
        paths: &[PathBuf],
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        part_files: usize,
    ) -> Result<ListingParts, SourceError> {
        let scope = Scope {
            from,
            to,
            metadata: true,
        };
        Self::parts(paths, scope, part_files)
    }

    /// [`LocalSource::list`] by name only: no file is asked for its size and
    /// modification time (a `statx` each), so each file's `size` is 0 and its
    /// `version` empty. For what keeps no ledger entry and reads every file
    /// whole anyway: `ctt verify`'s weeks.
    pub fn list_names(
        paths: &[PathBuf],
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<Vec<SourceFile>, SourceError> {
        whole(Self::names_in_parts(paths, from, to, usize::MAX)?)
    }

    /// [`LocalSource::list_in_parts`] by name only, as
    /// [`LocalSource::list_names`]: the days a listing spans, say.
    pub fn names_in_parts(
        paths: &[PathBuf],
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        part_files: usize,
    ) -> Result<ListingParts, SourceError> {
        let scope = Scope {
            from,
            to,
            metadata: false,
        };
        Self::parts(paths, scope, part_files)
    }

    fn parts(
        paths: &[PathBuf],
        scope: Scope,
        part_files: usize,
    ) -> Result<ListingParts, SourceError> {
        let Scope { from, to, .. } = scope;
        let mut files = Vec::new();
        let mut folders = Vec::new();
        for root in paths {
            // Entries are joined to their root: an absolute root makes absolute keys.
            let root = std::path::absolute(root).unwrap_or_else(|_| root.clone());
            let meta = std::fs::metadata(&root).map_err(|e| list_error(&root, e))?;
            let Some(key) = root.to_str() else {
                return Err(list_error(&root, std::io::Error::other(NOT_UTF8)));
            };
            if !meta.is_dir() {
                files.extend(root_file(key, &meta, from, to));
                continue;
            }
            let root = Folder {
                ancestors: file_id(&meta).into_iter().collect(),
                path: root,
            };
            // The top of the tree is read first, a level at a time, to split
            // it into folders to walk on several threads; a folder too large
            // for one part is left partly read.
            let mut level = vec![Task::Folder(root)];
            for depth in 0..SPLIT_DEPTH {
                if level.len() >= SPLIT_FOLDERS || files.len() >= part_files {
                    break;
                }
                let mut next = Vec::new();
                for task in level {
                    if files.len() >= part_files {
                        next.push(task);
                        continue;
                    }
                    match task.open() {
                        Ok((folder, entries)) => {
                            let budget = part_files - files.len();
                            let rest =
                                list_folder(folder, entries, scope, &mut files, &mut next, budget);
                            next.extend(rest);
                        }
                        // The root itself must be readable: that is an error, not an entry.
                        Err((folder, e)) if depth == 0 => return Err(list_error(&folder.path, e)),
                        Err((folder, e)) => files.push(unreadable_folder(&folder.path, &e)),
                    }
                }
                level = next;
            }
            folders.extend(level);
        }
        // In key order: a part holds a range of keys, but for a folder
        // larger than a part, listed over several.
        folders.sort_unstable_by(|a, b| a.path().cmp(b.path()));
        Ok(ListingParts {
            found: files,
            folders: folders.into(),
            scope,
            part_files: part_files.max(1),
        })
    }
}

/// A listing in one part of unbounded size: everything, sorted once.
fn whole(mut parts: ListingParts) -> Result<Vec<SourceFile>, SourceError> {
    Ok(parts.next().transpose()?.unwrap_or_default())
}

/// The parts of a listing ([`LocalSource::list_in_parts`]): each walks the
/// next folders until it holds enough files.
#[derive(Debug)]
pub struct ListingParts {
    /// Found above the folders: in the first part.
    found: Vec<SourceFile>,
    folders: std::collections::VecDeque<Task>,
    scope: Scope,
    part_files: usize,
}

/// What a listing keeps: the files whose key date lies in `from..=to`, each
/// with its size and version if `metadata`.
#[derive(Debug, Clone, Copy)]
struct Scope {
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    metadata: bool,
}

impl ListingParts {
    /// Whether every part has been listed: the next is `None`.
    pub fn is_finished(&self) -> bool {
        self.found.is_empty() && self.folders.is_empty()
    }
}

impl Iterator for ListingParts {
    type Item = Result<Vec<SourceFile>, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.found.is_empty() && self.folders.is_empty() {
            return None;
        }
        let mut files = std::mem::take(&mut self.found);
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(2, 8);
        // A folder per thread at a time: a part ends once it holds enough
        // files, leaving the folders it is in partly read for the next.
        while files.len() < self.part_files && !self.folders.is_empty() {
            let take = if self.part_files == usize::MAX {
                self.folders.len() // one part: every folder in one pool
            } else {
                self.folders.len().min(threads)
            };
            let round: Vec<Task> = self.folders.drain(..take).collect();
            let limit = self.part_files - files.len();
            match walk_folders(round, threads, self.scope, limit) {
                Ok((found, left)) => {
                    files.extend(found);
                    for task in left.into_iter().rev() {
                        self.folders.push_front(task);
                    }
                }
                Err(e) => return Some(Err(e)),
            }
        }
        in_key_order(&mut files);
        Some(Ok(files))
    }
}

/// Sorts a listing (or a part of one) by key, each key once. Sorting once
/// is much cheaper than sorting every folder by name.
pub fn in_key_order(files: &mut Vec<SourceFile>) {
    files.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    files.dedup_by(|a, b| a.key == b.key);
}

/// Files found, and what is left to list.
type Walked = (Vec<SourceFile>, Vec<Task>);

/// Everything under `tasks`, walked on `threads` threads, each until it
/// has found `limit` files.
fn walk_folders(
    tasks: Vec<Task>,
    threads: usize,
    listing: Scope,
    limit: usize,
) -> Result<Walked, SourceError> {
    let walkers = threads.min(tasks.len());
    let queue = Mutex::new(std::collections::VecDeque::from(tasks));
    let next = || queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
    let walked: Vec<Result<Walked, SourceError>> = std::thread::scope(|scope| {
        let walkers: Vec<_> = (0..walkers)
            .map(|_| {
                scope.spawn(|| {
                    let mut found = Vec::new();
                    let mut left = Vec::new();
                    while found.len() < limit {
                        let Some(task) = next() else { break };
                        left.extend(walk(task, listing, &mut found, limit));
                    }
                    (found, left)
                })
            })
            .collect();
        walkers
            .into_iter()
            .map(|w| {
                w.join().map_err(|_| SourceError::List {
                    location: "a listing thread".to_owned(),
                    source: Box::new(std::io::Error::other("panicked")),
                })
            })
            .collect()
    });
    let mut files = Vec::new();
    let mut left = Vec::new();
    for part in walked {
        let (found, rest) = part?;
        files.extend(found);
        left.extend(rest);
    }
    left.extend(queue.into_inner().unwrap_or_else(|e| e.into_inner()));
    Ok((files, left))
}

/// Folders are split until this many are found…
const SPLIT_FOLDERS: usize = 64;
/// …or this deep (CloudTrail: `AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM`).
const SPLIT_DEPTH: usize = 6;

/// Why an entry whose path is not UTF-8 is not read: keys (ledger entries,
/// API answers) are text, and a lossy key would name another file.
const NOT_UTF8: &str = "its name is not valid UTF-8: rename it to load it";

fn list_error(
    path: &std::path::Path,
    error: impl std::error::Error + Send + Sync + 'static,
) -> SourceError {
    SourceError::List {
        location: path.display().to_string(),
        source: Box::new(error),
    }
}

/// A folder to list, and the identities of the folders from its root down to
/// itself: a symbolic link to one of them is a loop.
#[derive(Debug, Clone)]
struct Folder {
    path: PathBuf,
    ancestors: Vec<FileId>,
}

/// A folder's entries as they are read; peeked at, so that a folder read
/// to its last entry is not left as if more were to come (an empty part).
type Entries = std::iter::Peekable<std::fs::ReadDir>;

/// A folder to list: not opened yet, or opened and partly read (a part of
/// the listing ended in it).
#[derive(Debug)]
enum Task {
    Folder(Folder),
    Reading(Folder, Entries),
}

impl Task {
    fn path(&self) -> &std::path::Path {
        match self {
            Task::Folder(folder) | Task::Reading(folder, _) => &folder.path,
        }
    }

    /// The folder and its entries, opened if they were not.
    fn open(self) -> Result<(Folder, Entries), (Folder, std::io::Error)> {
        match self {
            Task::Reading(folder, entries) => Ok((folder, entries)),
            Task::Folder(folder) => match std::fs::read_dir(&folder.path) {
                Ok(entries) => Ok((folder, entries.peekable())),
                Err(e) => Err((folder, e)),
            },
        }
    }
}

/// A file's device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId(u64, u64);

#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    Some(FileId(meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn file_id(_meta: &std::fs::Metadata) -> Option<FileId> {
    None
}

/// What a file that is neither a regular file nor a folder is.
fn special_kind(file_type: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
    }
    let _ = file_type;
    "not a regular file"
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

/// Everything under `task`, depth first, into `found`, until it holds
/// `limit` files: what is left to list then (nothing once it is all listed).
fn walk(task: Task, scope: Scope, found: &mut Vec<SourceFile>, limit: usize) -> Vec<Task> {
    let mut pending = vec![task];
    while let Some(task) = pending.pop() {
        if found.len() >= limit {
            pending.push(task);
            break;
        }
        match task.open() {
            Ok((folder, entries)) => {
                let budget = limit - found.len();
                let rest = list_folder(folder, entries, scope, found, &mut pending, budget);
                pending.extend(rest);
            }
            Err((folder, e)) => found.push(unreadable_folder(&folder.path, &e)),
        }
    }
    pending
}

/// Lists `budget` entries (at least one) of a folder: its files (and
/// entries that cannot be read) into `found`, its sub-folders into
/// `folders`; the folder partly read if entries are left. Symbolic links
/// are followed.
fn list_folder(
    folder: Folder,
    mut entries: Entries,
    Scope { from, to, metadata }: Scope,
    found: &mut Vec<SourceFile>,
    folders: &mut Vec<Task>,
    budget: usize,
) -> Option<Task> {
    for _ in 0..budget.max(1) {
        let entry = match entries.next()? {
            Ok(entry) => entry,
            Err(e) => {
                found.push(unreadable(
                    &folder.path,
                    format!("cannot read the folder's entries: {e}"),
                ));
                return None;
            }
        };
        let path = entry.path();
        // The type from the folder itself (no `stat`), but for symbolic links,
        // whose target decides.
        let (file_type, meta) = match entry.file_type() {
            Ok(t) if t.is_symlink() => match std::fs::metadata(&path) {
                Ok(meta) => (meta.file_type(), Some(meta)),
                Err(e) => {
                    found.push(unreadable(&path, broken_link(&path, &e)));
                    continue;
                }
            },
            Ok(t) => (t, None),
            Err(e) => {
                found.push(unreadable(&path, format!("cannot read its type: {e}")));
                continue;
            }
        };
        if file_type.is_dir() {
            if folder_outside(&path, from, to) {
                continue;
            }
            let meta = match meta.map_or_else(|| entry.metadata(), Ok) {
                Ok(meta) => meta,
                Err(e) => {
                    found.push(unreadable(&path, format!("cannot read the folder: {e}")));
                    continue;
                }
            };
            let id = file_id(&meta);
            if let Some(at) = id.and_then(|id| folder.ancestors.iter().position(|a| *a == id)) {
                let up = folder.ancestors.len() - 1 - at;
                let ancestor = folder.path.ancestors().nth(up).unwrap_or(&folder.path);
                let what = if entry.file_type().is_ok_and(|t| t.is_symlink()) {
                    "symbolic link loop"
                } else {
                    "folder loop"
                };
                let reason = format!(
                    "{what}: leads back to {}, a folder above it",
                    ancestor.display()
                );
                found.push(unreadable(&path, reason));
                continue;
            }
            if path.to_str().is_none() {
                found.push(unreadable(&path, NOT_UTF8.to_owned()));
                continue;
            }
            let mut ancestors = folder.ancestors.clone();
            ancestors.extend(id);
            folders.push(Task::Folder(Folder { path, ancestors }));
            continue;
        }
        let Some(key) = path.to_str() else {
            if in_date_range(&path.to_string_lossy(), from, to) {
                found.push(unreadable(&path, NOT_UTF8.to_owned()));
            }
            continue;
        };
        // The date in the key first: a file outside the range costs no `stat`.
        if !in_date_range(key, from, to) {
            continue;
        }
        if !file_type.is_file() {
            found.push(special(key, file_type));
            continue;
        }
        if !metadata {
            found.push(SourceFile {
                kind: classify(key),
                size: 0,
                version: String::new(),
                key: key.to_owned(),
            });
            continue;
        }
        match meta.map_or_else(|| entry.metadata(), Ok) {
            Ok(meta) => found.push(SourceFile {
                kind: classify(key),
                size: meta.len(),
                version: version(&meta),
                key: key.to_owned(),
            }),
            Err(e) => found.push(unreadable(&path, format!("cannot read its size: {e}"))),
        }
    }
    // Read to its end: nothing left for a next part.
    entries.peek()?;
    Some(Task::Reading(folder, entries))
}

/// A root that is not a folder (regular file or not), if its key date lies
/// in `from..=to`.
fn root_file(
    key: &str,
    meta: &std::fs::Metadata,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Option<SourceFile> {
    if !in_date_range(key, from, to) {
        return None;
    }
    if !meta.is_file() {
        return Some(special(key, meta.file_type()));
    }
    Some(SourceFile {
        kind: classify(key),
        size: meta.len(),
        version: version(meta),
        key: key.to_owned(),
    })
}

/// What identifies a local file's content: its size and modification time.
fn version(meta: &std::fs::Metadata) -> String {
    let modified = meta
        .modified()
        .ok()
        .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("{}:{modified}", meta.len())
}

/// A FIFO, socket or device: listed to be reported, never opened.
fn special(key: &str, file_type: std::fs::FileType) -> SourceFile {
    SourceFile {
        key: key.to_owned(),
        size: 0,
        version: String::new(),
        kind: FileKind::Special(special_kind(file_type)),
    }
}

/// An entry the listing could not read, and why. Its version is the entry's
/// own (the link's or the folder's), so a changed entry is reported again.
fn unreadable(path: &std::path::Path, reason: String) -> SourceFile {
    SourceFile {
        key: path.to_string_lossy().into_owned(),
        size: 0,
        version: std::fs::symlink_metadata(path)
            .map(|meta| version(&meta))
            .unwrap_or_default(),
        kind: FileKind::Unreadable(reason),
    }
}

fn unreadable_folder(path: &std::path::Path, error: &std::io::Error) -> SourceFile {
    unreadable(path, format!("cannot open the folder: {error}"))
}

/// Why the symbolic link at `path` cannot be followed.
fn broken_link(path: &std::path::Path, error: &std::io::Error) -> String {
    let target = std::fs::read_link(path)
        .map(|t| t.display().to_string())
        .unwrap_or_else(|_| "?".to_owned());
    if error.kind() == std::io::ErrorKind::NotFound {
        format!("dangling symbolic link: its target {target} does not exist")
    } else {
        format!("cannot follow the symbolic link to {target}: {error}")
    }
}

/// Opens a file to read it. The listing hands over regular files only, but a
/// file can be replaced by a FIFO before it is read: opened non-blocking, a FIFO
/// reads as empty (or fails) instead of blocking the thread until someone
/// writes to it. Regular files read as usual.
fn open_without_blocking(path: &str) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    options.open(path)
}

impl Source for LocalSource {
    fn fetch(&self, file: &SourceFile) -> Result<Vec<u8>, SourceError> {
        use std::io::Read;
        let read = || -> std::io::Result<Vec<u8>> {
            // Sized by the listing. `fs::read` (and `File::read_to_end`) would
            // ask the file for its size and position first, a `statx` and an
            // `lseek` per file; through `take` the generic `read_to_end` reads
            // into the capacity given, and still reads a file that grew whole.
            // A listing by name only sizes none: 16 KiB holds most logs.
            let capacity = match file.size {
                0 => 16 * 1024,
                size => usize::try_from(size).unwrap_or(0) + 1,
            };
            let mut bytes = Vec::with_capacity(capacity);
            open_without_blocking(&file.key)?
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
    use std::path::Path;

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
            ("gen/cloudtrail-public-keys.json", FileKind::Other),
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
        // The last YYYY/MM/DD run of folders; a stamp that is not a date
        // falls back to the folders.
        assert_eq!(key_date("2017/01/01/logs/2018/03/01/x.json"), day);
        assert_eq!(key_date("2018/03/01/x_20181340T0000Z_y.json.gz"), day);
        assert_eq!(key_date("a\\2018\\03\\01\\x.json"), day);
        assert_eq!(key_date("2018/03/1/x.json"), None);
        assert_eq!(key_date("2018/3/01/x.json"), None);
        assert_eq!(key_date("201a/03/01/x.json"), None);
        assert_eq!(key_date("03/01/x.json"), None);
    }

    #[test]
    fn date_range_is_whole_days_inclusive() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        assert!(in_date_range(LOG, d("2018-03-01"), d("2018-03-01")));
        assert!(!in_date_range(LOG, d("2018-03-02"), None));
        assert!(!in_date_range(LOG, None, d("2018-02-28")));
        assert!(in_date_range("events.json", d("2018-03-02"), None));
    }

    /// A file at the top, a month of each region's days, and an empty tree.
    fn cloudtrail_tree(root: &Path, regions: &[&str]) {
        std::fs::write(root.join("top.json.gz"), b"x").expect("write");
        for day in 1..=28 {
            for region in regions {
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
    }

    #[test]
    fn lists_in_parts_what_one_listing_lists() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        // More month folders than threads walk at once, on any machine.
        let regions: Vec<String> = (0..20).map(|i| format!("region-{i}")).collect();
        let regions: Vec<&str> = regions.iter().map(String::as_str).collect();
        cloudtrail_tree(root, &regions);
        let whole = LocalSource::list(&[root.to_path_buf()], None, None).expect("list");
        let parts: Vec<Vec<SourceFile>> =
            LocalSource::list_in_parts(&[root.to_path_buf()], None, None, 10)
                .expect("list")
                .collect::<Result<_, _>>()
                .expect("parts");
        assert!(parts.len() >= 2, "{} parts", parts.len());
        let (last, full) = parts.split_last().expect("parts");
        assert!(
            full.iter().all(|p| p.len() >= 10),
            "each part but the last is full"
        );
        assert!(!last.is_empty());
        for part in &parts {
            assert!(part.windows(2).all(|w| w[0].key < w[1].key), "sorted");
        }
        let mut keys: Vec<&str> = parts.iter().flatten().map(|f| f.key.as_str()).collect();
        keys.sort_unstable();
        let expected: Vec<&str> = whole.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(keys, expected, "every file once");
        // A root that cannot be read is an error before any part.
        let missing = LocalSource::list_in_parts(&[root.join("nothing")], None, None, 10);
        assert!(missing.is_err());
    }

    /// A folder holding its files directly (no CloudTrail day folders, or a
    /// copy flattened into one folder) is listed a part at a time as well:
    /// a part ends in the middle of the folder, the next reads on from there.
    #[test]
    fn a_flat_folder_is_listed_in_parts_too() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        for i in 0..250 {
            let name = format!("111122223333_CloudTrail_us-east-1_20180301T{i:04}Z_a.json.gz");
            std::fs::write(root.join(name), b"x").expect("write");
        }
        std::fs::create_dir_all(root.join("sub")).expect("mkdir");
        std::fs::write(root.join("sub/b.json.gz"), b"x").expect("write");
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(2, 8);
        let whole = LocalSource::list(&[root.to_path_buf()], None, None).expect("list");
        assert_eq!(whole.len(), 251);
        let parts: Vec<Vec<SourceFile>> =
            LocalSource::list_in_parts(&[root.to_path_buf()], None, None, 40)
                .expect("list")
                .collect::<Result<_, _>>()
                .expect("parts");
        let sizes: Vec<usize> = parts.iter().map(Vec::len).collect();
        assert!(parts.len() >= 251usize.div_ceil(40 * threads), "{sizes:?}");
        assert!(
            sizes.iter().all(|&n| n <= 40 * threads),
            "no part holds much more than asked: {sizes:?}"
        );
        let (_, full) = sizes.split_last().expect("parts");
        assert!(full.iter().all(|&n| n >= 40), "{sizes:?}");
        let mut keys: Vec<&str> = parts.iter().flatten().map(|f| f.key.as_str()).collect();
        keys.sort_unstable();
        let expected: Vec<&str> = whole.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(keys, expected, "every file once");
        // A folder read to its last entry leaves no empty part behind (a
        // follower would poll again at once for it).
        let exact = tempfile::tempdir().expect("temp dir");
        for i in 0..40 {
            std::fs::write(exact.path().join(format!("{i}.json.gz")), b"x").expect("write");
        }
        let parts: Vec<usize> =
            LocalSource::list_in_parts(&[exact.path().to_path_buf()], None, None, 20)
                .expect("list")
                .map(|part| part.expect("part").len())
                .collect();
        assert!(parts.iter().all(|&n| n > 0), "{parts:?}");
        assert_eq!(parts.iter().sum::<usize>(), 40);
    }

    #[test]
    fn a_listing_by_name_lists_the_same_files_without_their_metadata() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = [dir.path().to_path_buf()];
        cloudtrail_tree(dir.path(), &["us-east-1", "eu-west-1"]);
        let day = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok();
        for (from, to) in [(None, None), (day("2018-02-03"), day("2018-02-09"))] {
            let whole = LocalSource::list(&root, from, to).expect("list");
            let names = LocalSource::list_names(&root, from, to).expect("list names");
            let keys = |files: &[SourceFile]| -> Vec<(String, FileKind)> {
                files
                    .iter()
                    .map(|f| (f.key.clone(), f.kind.clone()))
                    .collect()
            };
            assert!(whole.len() > 2);
            assert_eq!(keys(&names), keys(&whole));
            assert!(names.iter().all(|f| f.size == 0 && f.version.is_empty()));
            // Fetched whole all the same.
            let log = names
                .iter()
                .find(|f| f.kind == FileKind::Log)
                .expect("a log");
            assert_eq!(LocalSource.fetch(log).expect("fetch"), b"xy");
        }
    }

    #[test]
    fn lists_deep_trees_on_several_threads_like_one_walk() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        cloudtrail_tree(root, &["us-east-1", "eu-west-1", "ap-south-1"]);
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

    #[cfg(unix)]
    #[test]
    fn fetching_a_fifo_does_not_block() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("swapped.json.gz");
        let status = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .expect("run mkfifo");
        assert!(status.success());
        let file = SourceFile {
            key: path.to_string_lossy().into_owned(),
            size: 10,
            version: String::new(),
            kind: FileKind::Log,
        };
        let (sent, got) = std::sync::mpsc::channel();
        std::thread::spawn(move || sent.send(LocalSource.fetch(&file).map(|b| b.len()).ok()));
        let fetched = got.recv_timeout(std::time::Duration::from_secs(10));
        assert_eq!(
            fetched.ok(),
            Some(Some(0)),
            "a FIFO nobody writes to reads as empty"
        );
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
        // list it, so listing the range proves it was not walked.
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
        {
            let all = LocalSource::list(&[dir.path().to_path_buf()], None, None).expect("list");
            let looped: Vec<&SourceFile> = all
                .iter()
                .filter(|f| matches!(f.kind, FileKind::Unreadable(_)))
                .collect();
            assert_eq!(looped.len(), 1, "the whole tree does walk into the loop");
            assert!(looped[0].key.ends_with("2017/12/31/loop"), "{looped:?}");
        }
    }

    /// The kind of each listed key, by its path under `root`.
    fn kinds(root: &std::path::Path) -> Vec<(String, FileKind)> {
        let prefix = format!("{}/", root.display());
        LocalSource::list(&[root.to_path_buf()], None, None)
            .expect("list")
            .into_iter()
            .map(|f| {
                (
                    f.key.strip_prefix(&prefix).unwrap_or(&f.key).to_owned(),
                    f.kind,
                )
            })
            .collect()
    }

    /// Issue 13, part 2: one bad entry never stops the listing. Each becomes
    /// an entry with its reason, at the top of the tree (read before the
    /// walking threads start) and deep in it (walked by them) alike.
    #[cfg(unix)]
    #[test]
    fn bad_entries_are_listed_with_their_reason_and_the_rest_is_listed() {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().expect("temp dir");
        let deep = "AWSLogs/1/CloudTrail/us-east-1/2018/03/01";
        for at in ["", deep] {
            let folder = dir.path().join(at);
            std::fs::create_dir_all(folder.join("sub")).expect("mkdir");
            std::fs::write(folder.join("good.json"), b"{}").expect("write");
            std::fs::write(folder.join("sub/inner.json"), b"{}").expect("write");
            std::fs::write(folder.join("new\nline\u{1b}[31m.json"), b"{}").expect("write");
            symlink("missing.json", folder.join("dangling.json")).expect("symlink");
            symlink("b", folder.join("a")).expect("symlink");
            symlink("a", folder.join("b")).expect("symlink");
            symlink(".", folder.join("sub/loop")).expect("symlink");
            symlink("/dev/null", folder.join("null.json")).expect("symlink");
            let status = std::process::Command::new("mkfifo")
                .arg(folder.join("pipe.json"))
                .status()
                .expect("run mkfifo");
            assert!(status.success());
            let name = std::ffi::OsStr::from_bytes(b"bad-\xff.json");
            std::fs::write(folder.join(name), b"{}").expect("write");
        }
        // Deep in the tree, a link back to a folder above where the walking
        // thread started.
        symlink("../../..", dir.path().join(deep).join("up")).expect("symlink");

        let listed = kinds(dir.path());
        let kind_of = |key: &str| {
            listed
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, kind)| kind.clone())
                .unwrap_or_else(|| panic!("{key:?} not listed: {listed:#?}"))
        };
        let reason_of = |key: &str| match kind_of(key) {
            FileKind::Unreadable(reason) => reason,
            other => panic!("{key:?} is {other:?}"),
        };
        for at in ["", &format!("{deep}/")] {
            let key = |name: &str| format!("{at}{name}");
            for name in ["good.json", "sub/inner.json", "new\nline\u{1b}[31m.json"] {
                assert_eq!(kind_of(&key(name)), FileKind::Log, "{name}");
            }
            assert!(
                reason_of(&key("dangling.json")).starts_with("dangling symbolic link"),
                "{listed:#?}"
            );
            for name in ["a", "b"] {
                let reason = reason_of(&key(name));
                assert!(reason.contains("symbolic links"), "{name}: {reason}");
            }
            let reason = reason_of(&key("sub/loop"));
            assert!(reason.starts_with("symbolic link loop"), "{reason}");
            assert!(
                reason.ends_with(&format!("{at}sub, a folder above it")),
                "{reason}"
            );
            assert_eq!(
                kind_of(&key("pipe.json")),
                FileKind::Special("a FIFO (named pipe)")
            );
            assert_eq!(
                kind_of(&key("null.json")),
                FileKind::Special("a character device")
            );
            assert_eq!(reason_of(&key("bad-\u{fffd}.json")), NOT_UTF8);
        }
        let reason = reason_of(&format!("{deep}/up"));
        assert!(
            reason.contains("leads back to") && reason.ends_with("us-east-1, a folder above it"),
            "{reason}"
        );
        assert_eq!(listed.len(), 2 * 10 + 1, "nothing else: {listed:#?}");
    }

    #[test]
    fn only_a_root_that_cannot_be_read_is_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("missing");
        let error = LocalSource::list(&[missing], None, None).expect_err("no such root");
        assert!(error.to_string().contains("missing"), "{error}");
    }
}
