//! Following a local folder (`ctt serve --follow DIR`) without remembering
//! what it holds: what a poll costs, in memory and in work, follows what
//! changed since the last one, not the number of files in the folder.
//!
//! A [`FolderFollower`] lists the folder whole only at the start (its history),
//! after it lost track of it (the folder went away, the watcher's queue
//! overflowed, more changed at once than a part of a listing holds) and, when
//! the folder cannot be watched, at every poll. Such a listing is walked in
//! parts ([`LocalSource::list_in_parts`]), one part a poll, the next poll at
//! once ([`Follow::has_more`]). Between listings the file system watcher
//! (inotify on Linux, through the `notify` crate) collects the paths created,
//! written or moved in, and a poll looks at those only: a file is returned with
//! its current version, a folder is walked (twice, the second time at the next
//! poll: files written into a new folder before its watch was added are found
//! then). The ledger decides what is read again ([`EventStore::loaded_already`]
//! through the driver); the follower remembers only the files that failed (so
//! a corrupt file is not read at every poll when the folder is listed each
//! time), each until it changes.
//!
//! [`EventStore::loaded_already`]: ctt_store::EventStore::loaded_already

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tracing::warn;

use super::{Follow, Outcome};
use crate::source::{ListingParts, LocalSource, Source, SourceError, SourceFile, in_key_order};

/// Files a part of a whole listing holds (as `ctt ingest` lists a folder).
pub const PART_FILES: usize = 50_000;

/// Follows a local folder (`ctt serve --follow DIR`); see the module's doc.
pub struct FolderFollower {
    folder: PathBuf,
    location: String,
    part_files: usize,
    /// The whole listing in progress, one part a poll.
    listing: Option<ListingParts>,
    /// The next poll starts a whole listing: at the start, and after the
    /// folder could not be read (it may be back as another folder, unwatched).
    list_whole: bool,
    /// Folders walked at the last poll, walked again at the next.
    walk_again: Vec<PathBuf>,
    /// What the watcher saw since the last poll took it.
    changes: Arc<Mutex<Changes>>,
    /// Notified by the watcher: the driver polls at once.
    wake: Arc<Notify>,
    /// `None`: the folder is not watched, it is listed whole at each poll.
    watcher: Option<notify::RecommendedWatcher>,
    /// Whether to watch at all ([`FolderFollower::polling`]: never).
    watching: bool,
    /// Files whose load failed, by key, with the version that failed: not
    /// returned again until their version changes.
    failed: HashMap<String, String>,
    /// The files of the last poll, until [`Follow::done`].
    pending: Vec<(String, String)>,
}

/// What the watcher saw.
#[derive(Debug, Default)]
struct Changes {
    /// Paths created, written or moved in.
    paths: HashSet<PathBuf>,
    /// Events were lost: list the folder whole. Set when the kernel's queue
    /// overflowed or more paths changed than a part of a listing holds.
    lost: bool,
    /// The watcher failed (the kernel's limit of watches, for one): poll by
    /// listing from now on.
    failed: bool,
}

impl FolderFollower {
    /// Follows `folder`, watching it for changes (listing it whole at each
    /// poll when it cannot be watched).
    pub fn new(folder: impl Into<PathBuf>) -> Self {
        let mut follower = Self::unwatched(folder.into());
        follower.watching = true;
        follower.watch();
        follower
    }

    /// Follows `folder` without watching it: each poll lists it whole.
    pub fn polling(folder: impl Into<PathBuf>) -> Self {
        Self::unwatched(folder.into())
    }

    fn unwatched(folder: PathBuf) -> Self {
        let folder = std::path::absolute(&folder).unwrap_or(folder);
        Self {
            location: folder.display().to_string(),
            folder,
            part_files: PART_FILES,
            listing: None,
            list_whole: true,
            walk_again: Vec::new(),
            changes: Arc::default(),
            wake: Arc::new(Notify::new()),
            watcher: None,
            watching: false,
            failed: HashMap::new(),
            pending: Vec::new(),
        }
    }

    /// Whole listings in parts of `files` files (default [`PART_FILES`]).
    #[must_use]
    pub fn with_part_files(mut self, files: usize) -> Self {
        self.part_files = files.max(1);
        self
    }

    /// Whether the folder is watched (else each poll lists it whole).
    pub fn is_watched(&self) -> bool {
        self.watcher.is_some()
    }

    /// Starts (again) a recursive watch on the folder; on failure, the
    /// folder is listed whole at each poll from then on.
    fn watch(&mut self) {
        self.watcher = None;
        if let Ok(mut changes) = self.changes.lock() {
            *changes = Changes::default();
        }
        match watch(
            &self.folder,
            self.changes.clone(),
            self.wake.clone(),
            self.part_files,
        ) {
            Ok(watcher) => self.watcher = Some(watcher),
            Err(error) => {
                self.watching = false;
                warn!(folder = %self.location, %error,
                    "cannot watch the folder for new files: listing it whole at each poll");
            }
        }
    }

    /// The next part of the whole listing in progress, if any (`None`: none
    /// is in progress). The listing is let go of with its last part, so that
    /// the driver waits its interval before the next poll.
    async fn next_part(&mut self) -> Result<Option<Vec<SourceFile>>, SourceError> {
        let Some(mut listing) = self.listing.take() else {
            return Ok(None);
        };
        let (listing, part) = blocking(&self.location, move || {
            let part = listing.next();
            (listing, part)
        })
        .await?;
        match part {
            None => Ok(None),
            Some(Err(error)) => {
                self.list_whole = true;
                Err(error)
            }
            Some(Ok(files)) => {
                if !listing.is_finished() {
                    self.listing = Some(listing);
                }
                Ok(Some(files))
            }
        }
    }

    /// The files under the paths the watcher saw change, and under the
    /// folders walked at the last poll.
    async fn changed(&mut self, paths: HashSet<PathBuf>) -> Result<Vec<SourceFile>, SourceError> {
        let mut paths: Vec<PathBuf> = paths.into_iter().collect();
        paths.append(&mut self.walk_again);
        paths.sort_unstable();
        paths.dedup();
        let (files, folders) = blocking(&self.location, move || listed(&paths)).await?;
        self.walk_again = folders;
        Ok(files)
    }

    /// `files` without those that failed in the version listed, kept as the
    /// poll's until [`Follow::done`].
    fn returned(&mut self, mut files: Vec<SourceFile>) -> Vec<SourceFile> {
        files.retain(|f| self.failed.get(&f.key) != Some(&f.version));
        self.pending = files
            .iter()
            .map(|f| (f.key.clone(), f.version.clone()))
            .collect();
        files
    }
}

/// Runs `work` on a blocking thread; a panic there is a listing error.
async fn blocking<T: Send + 'static>(
    location: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, SourceError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| SourceError::List {
            location: location.to_owned(),
            source: Box::new(e),
        })
}

/// The files at or under each of `paths` (each in key order), and the folders
/// among them. A path gone since it changed (a temporary file renamed, a
/// folder removed) is skipped; one that cannot be read is logged and skipped
/// (the next whole listing reports it as the load's failure).
fn listed(paths: &[PathBuf]) -> (Vec<SourceFile>, Vec<PathBuf>) {
    let mut files = Vec::new();
    let mut folders = Vec::new();
    for path in paths {
        let Ok(meta) = std::fs::metadata(path) else {
            continue; // gone (or a dangling link, which the next whole listing reports)
        };
        if meta.is_dir() {
            folders.push(path.clone());
        }
        match LocalSource::list(std::slice::from_ref(path), None, None) {
            Ok(found) => files.extend(found),
            Err(error) => warn!(path = %path.display(), error = %crate::error_chain(&error),
                "a changed path cannot be listed: the next whole listing reports it"),
        }
    }
    in_key_order(&mut files);
    (files, folders)
}

/// A recursive watch on `folder` that keeps the paths created, written or
/// moved in into `changes` (at most `most` of them: beyond, the folder is
/// listed whole), and notifies `wake`.
fn watch(
    folder: &Path,
    changes: Arc<Mutex<Changes>>,
    wake: Arc<Notify>,
    most: usize,
) -> notify::Result<notify::RecommendedWatcher> {
    use notify::{EventKind, RecursiveMode, Watcher};
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(mut changes) = changes.lock() else {
            return;
        };
        match event {
            Err(_) => changes.failed = true,
            Ok(event) if event.need_rescan() => changes.lost = true,
            Ok(event) if matches!(event.kind, EventKind::Create(_) | EventKind::Modify(_)) => {
                if changes.lost {
                    // The whole listing to come covers this change.
                } else if changes.paths.len() + event.paths.len() > most {
                    changes.paths = HashSet::new();
                    changes.lost = true;
                } else {
                    changes.paths.extend(event.paths);
                }
            }
            Ok(_) => return, // reads, removals: nothing to load
        }
        drop(changes);
        wake.notify_one();
    })?;
    watcher.watch(folder, RecursiveMode::Recursive)?;
    Ok(watcher)
}

impl Follow for FolderFollower {
    type Error = SourceError;

    fn location(&self) -> &str {
        &self.location
    }

    fn source(&self) -> Arc<dyn Source> {
        Arc::new(LocalSource)
    }

    fn wake(&self) -> Option<Arc<Notify>> {
        Some(self.wake.clone())
    }

    fn has_more(&self) -> bool {
        self.listing.is_some()
    }

    async fn poll(&mut self) -> Result<Vec<SourceFile>, SourceError> {
        if let Some(files) = self.next_part().await? {
            return Ok(self.returned(files));
        }
        // The folder must be there: its absence is an error, and once it is
        // back it is watched and listed anew (it may be another folder).
        let folder = self.folder.clone();
        let there = blocking(&self.location, move || std::fs::metadata(&folder)).await?;
        if let Err(error) = there.and_then(|m| {
            if m.is_dir() {
                Ok(())
            } else {
                Err(std::io::Error::other("not a folder"))
            }
        }) {
            self.watcher = None;
            self.list_whole = true;
            return Err(SourceError::List {
                location: self.location.clone(),
                source: Box::new(error),
            });
        }
        let taken = self
            .changes
            .lock()
            .map(|mut changes| std::mem::take(&mut *changes))
            .unwrap_or_default();
        if taken.failed && self.watcher.is_some() {
            warn!(folder = %self.location,
                "the folder's watcher failed: listing it whole at each poll from now on");
            self.watcher = None;
            self.watching = false;
        }
        if self.watching && self.watcher.is_none() {
            self.watch(); // after the folder came back
            self.list_whole = true;
        }
        if self.list_whole || taken.lost || self.watcher.is_none() {
            self.list_whole = false;
            self.walk_again.clear();
            let (folder, part_files) = (self.folder.clone(), self.part_files);
            self.listing = Some(
                blocking(&self.location, move || {
                    LocalSource::list_in_parts(&[folder], None, None, part_files)
                })
                .await??,
            );
            let files = self.next_part().await?.unwrap_or_default();
            return Ok(self.returned(files));
        }
        let files = self.changed(taken.paths).await?;
        Ok(self.returned(files))
    }

    async fn done(&mut self, outcome: &Outcome) -> Result<(), SourceError> {
        let pending = std::mem::take(&mut self.pending);
        match outcome {
            Outcome::Loaded { failed } => {
                for (key, version) in pending {
                    if failed.contains(&key) {
                        self.failed.insert(key, version);
                    } else {
                        self.failed.remove(&key);
                    }
                }
            }
            // Any of them may be missing from the ledger: look at them again.
            Outcome::Interrupted => {
                if let Ok(mut changes) = self.changes.lock() {
                    if changes.paths.len() + pending.len() > self.part_files {
                        changes.lost = true;
                    } else {
                        changes
                            .paths
                            .extend(pending.into_iter().map(|(key, _)| PathBuf::from(key)));
                    }
                }
            }
        }
        Ok(())
    }
}
