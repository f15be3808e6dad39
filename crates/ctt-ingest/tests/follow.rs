//! The follow driver with a local folder (SPEC §4, "Continuous" and "Exactly
//! once"): a file added while following is loaded once, a rewritten file is
//! loaded again, a folder that disappears for a while does not stop following,
//! and cancelling stops it at once. A real SQLite store in a temporary folder.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ctt_ingest::IngestOptions;
use ctt_ingest::follow::{
    CancellationToken, FolderFollower, Follow, FollowOptions, FollowState, FollowStatus, Outcome,
    follow,
};
use ctt_store::sqlite::SqliteOptions;
use ctt_store::{EventStore, FileOutcome, SqliteStore};
use serde_json::{Value, json};

/// The original's sample log file (18 events kept by the default filter),
/// with each eventID prefixed by `tag` (empty: unchanged).
fn sample(tag: &str) -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/corpus/grycap-cloudtrail-tracker/sample-cloudtrail-event.json"
    );
    let text = std::fs::read(path)
        .unwrap_or_else(|e| panic!("the shared corpus is expected at {path}: {e}"));
    let mut log: Value = serde_json::from_slice(&text).expect("sample JSON");
    if let Some(records) = log["Records"].as_array_mut() {
        for record in records {
            let id = format!("{tag}{}", record["eventID"].as_str().unwrap_or_default());
            record["eventID"] = json!(id);
        }
    }
    log.to_string().into_bytes()
}

/// Waits (up to 20 s) until the follower's state satisfies `done`.
async fn until(
    status: &FollowStatus,
    what: &str,
    done: impl Fn(&FollowState) -> bool,
) -> FollowState {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let state = status.get();
        if done(&state) {
            return state;
        }
        assert!(Instant::now() < deadline, "{what}: {state:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn stored(store: &SqliteStore, path: &Path) -> (FileOutcome, u64, String) {
    let entry = store
        .ledger_entry(&path.to_string_lossy())
        .await
        .expect("ledger")
        .unwrap_or_else(|| panic!("{} is in the ledger", path.display()));
    (entry.outcome, entry.counts.stored, entry.version)
}

async fn events(store: &SqliteStore) -> u64 {
    store.status().await.expect("status").events
}

#[tokio::test]
async fn a_followed_folder_loads_new_and_changed_files_once_and_survives_its_removal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store =
        SqliteStore::open(dir.path().join("ctt.db"), SqliteOptions::default()).expect("open store");
    let logs = std::path::absolute(dir.path().join("logs")).expect("absolute");
    std::fs::create_dir(&logs).expect("mkdir");
    let first = logs.join("first.json");
    std::fs::write(&first, sample("")).expect("write");

    let status = FollowStatus::default();
    let shutdown = CancellationToken::new();
    let options = FollowOptions {
        ingest: IngestOptions {
            workers: 2,
            ..IngestOptions::default()
        },
        every: Duration::from_millis(50),
    };
    let task = tokio::spawn(follow(
        Arc::new(store.clone()),
        FolderFollower::new(&logs),
        options,
        status.clone(),
        shutdown.clone(),
    ));

    until(&status, "the first file is loaded", |s| s.files_loaded == 1).await;
    // A file added while following.
    let second = logs.join("2017/06/01/second.json");
    std::fs::create_dir_all(second.parent().expect("parent")).expect("mkdir");
    std::fs::write(&second, sample("second-")).expect("write");
    let loaded = until(&status, "the added file is loaded", |s| s.files_loaded == 2).await;
    // Polls go on; nothing is loaded again.
    let later = until(&status, "more polls", |s| s.polls >= loaded.polls + 5).await;
    assert_eq!(
        (later.files_loaded, later.files_failed, later.events_stored),
        (2, 0, 36),
        "each file loaded once"
    );
    assert_eq!(events(&store).await, 36);
    assert_eq!(stored(&store, &second).await.0, FileOutcome::Loaded);
    let (_, first_stored, first_version) = stored(&store, &first).await;
    assert_eq!(first_stored, 18);

    // A file rewritten (other events, another size): a new version, loaded again.
    std::fs::write(&first, sample("rewritten-")).expect("rewrite");
    until(&status, "the rewritten file is loaded", |s| {
        s.files_loaded == 3
    })
    .await;
    let (outcome, count, version) = stored(&store, &first).await;
    assert_eq!((outcome, count), (FileOutcome::Loaded, 18));
    assert_ne!(version, first_version, "the ledger holds the new version");
    assert_eq!(events(&store).await, 54);

    // The folder disappears: polls fail, and following goes on.
    let away = dir.path().join("away");
    std::fs::rename(&logs, &away).expect("move the folder away");
    let failing = until(&status, "a poll fails", |s| s.errors >= 2).await;
    let error = failing.last_error.unwrap_or_default();
    assert!(
        error.contains("cannot poll") && error.contains(&logs.display().to_string()),
        "{error}"
    );
    std::fs::rename(&away, &logs).expect("move the folder back");
    let third = logs.join("third.json");
    std::fs::write(&third, sample("third-")).expect("write");
    let back = until(&status, "the new file is loaded", |s| s.files_loaded == 4).await;
    assert_eq!(back.last_error, None, "the last poll succeeded");
    assert_eq!(events(&store).await, 72);
    assert_eq!(back.files_failed, 0);

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("following stops once cancelled")
        .expect("the follow task ends without panicking");
}

#[tokio::test]
async fn cancelling_stops_following_while_it_waits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store =
        SqliteStore::open(dir.path().join("ctt.db"), SqliteOptions::default()).expect("open store");
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).expect("mkdir");
    let status = FollowStatus::default();
    let shutdown = CancellationToken::new();
    let options = FollowOptions {
        ingest: IngestOptions::default(),
        every: Duration::from_secs(3600),
    };
    let task = tokio::spawn(follow(
        Arc::new(store),
        FolderFollower::new(&logs),
        options,
        status.clone(),
        shutdown.clone(),
    ));
    until(&status, "the first poll", |s| s.polls == 1).await;
    let cancelled = Instant::now();
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("following stops at once, not after the hour's pause")
        .expect("the follow task ends without panicking");
    assert!(cancelled.elapsed() < Duration::from_secs(2));
    assert_eq!(status.get().polls, 1);
}

/// `months` month folders of a CloudTrail-like tree under `logs`, one log
/// file each (its events tagged by the month); their paths, in key order.
fn months_of_logs(logs: &Path, months: u32) -> Vec<String> {
    (1..=months)
        .map(|month| {
            let day = logs.join(format!(
                "AWSLogs/111122223333/CloudTrail/eu-west-1/2017/{month:02}/01"
            ));
            std::fs::create_dir_all(&day).expect("mkdir");
            let file = day.join(format!("m{month:02}.json"));
            std::fs::write(&file, sample(&format!("m{month}-"))).expect("write");
            file.to_string_lossy().into_owned()
        })
        .collect()
}

/// The keys of `files`, sorted.
fn keys(files: &[ctt_ingest::SourceFile]) -> Vec<String> {
    let mut keys: Vec<String> = files.iter().map(|f| f.key.clone()).collect();
    keys.sort();
    keys
}

/// Polls until a poll returns something (the watcher's events may come in
/// more than one go), up to 10 s; what the polls returned.
async fn poll_changes(follower: &mut FolderFollower, want: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while seen.len() < want && Instant::now() < deadline {
        let wake = follower.wake().expect("a watched folder wakes its driver");
        let _ = tokio::time::timeout(Duration::from_millis(500), wake.notified()).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let files = follower.poll().await.expect("poll");
        seen.extend(keys(&files));
        follower.done(&Outcome::nothing()).await.expect("done");
    }
    seen.sort();
    seen
}

#[tokio::test]
async fn a_followed_folder_is_listed_whole_once_in_parts_then_only_where_it_changed() {
    // SPEC §4 "Continuous": what a poll holds and does follows what changed,
    // not the size of the folder's history.
    let dir = tempfile::tempdir().expect("temp dir");
    let logs = std::path::absolute(dir.path().join("logs")).expect("absolute");
    let history = months_of_logs(&logs, 10);
    let mut follower = FolderFollower::new(&logs).with_part_files(1);
    assert!(follower.is_watched(), "inotify watches the folder here");

    // The history, a part a poll, each file once; the driver is told to
    // poll again at once while parts remain.
    let first = follower.poll().await.expect("first poll");
    assert!(
        !first.is_empty() && first.len() < history.len(),
        "the first poll returns one part of the listing: {} of {}",
        first.len(),
        history.len()
    );
    let mut listed = keys(&first);
    while follower.has_more() {
        follower.done(&Outcome::nothing()).await.expect("done");
        listed.extend(keys(&follower.poll().await.expect("next part")));
    }
    follower.done(&Outcome::nothing()).await.expect("done");
    listed.sort();
    assert_eq!(listed, history, "every file once, over the parts");

    // Nothing changed: a poll returns nothing (the folder is not listed).
    assert!(follower.poll().await.expect("poll").is_empty());
    follower.done(&Outcome::nothing()).await.expect("done");

    // A file written into a folder of the history, and a new folder with a
    // file: those two only, not the history again.
    let beside = logs.join("AWSLogs/111122223333/CloudTrail/eu-west-1/2017/03/01/beside.json");
    std::fs::write(&beside, sample("beside-")).expect("write");
    let day = logs.join("AWSLogs/111122223333/CloudTrail/eu-west-1/2017/11/02");
    std::fs::create_dir_all(&day).expect("mkdir");
    let new_month = day.join("new.json");
    std::fs::write(&new_month, sample("new-")).expect("write");
    let mut expected = vec![
        beside.to_string_lossy().into_owned(),
        new_month.to_string_lossy().into_owned(),
    ];
    expected.sort();
    let mut changed = poll_changes(&mut follower, 2).await;
    changed.dedup();
    assert_eq!(changed, expected, "only what changed since the last poll");
}

#[tokio::test]
async fn an_unwatched_folder_is_listed_at_each_poll_and_a_failed_file_is_read_again_once_changed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let logs = std::path::absolute(dir.path().join("logs")).expect("absolute");
    let history = months_of_logs(&logs, 2);
    let mut follower = FolderFollower::polling(&logs);
    assert!(!follower.is_watched());
    assert_eq!(keys(&follower.poll().await.expect("poll")), history);
    // The first file failed (say it was still being written).
    let failed = Outcome::Loaded {
        failed: [history[0].clone()].into(),
    };
    follower.done(&failed).await.expect("done");
    // Listed again at each poll; the ledger skips the loaded file (not the
    // follower), the failed one is not returned while unchanged…
    assert_eq!(
        keys(&follower.poll().await.expect("poll")),
        vec![history[1].clone()]
    );
    follower.done(&Outcome::nothing()).await.expect("done");
    // …and is once it changes.
    std::fs::write(&history[0], sample("rewritten-more-")).expect("rewrite");
    assert_eq!(keys(&follower.poll().await.expect("poll")), history);
    follower.done(&Outcome::nothing()).await.expect("done");
}

/// The follow driver on `follower`, polling every `every`, into a fresh
/// store in `dir`; stopped by [`Following::stop`].
struct Following {
    store: SqliteStore,
    status: FollowStatus,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Following {
    fn start(dir: &Path, follower: FolderFollower, every: Duration) -> Self {
        let store =
            SqliteStore::open(dir.join("ctt.db"), SqliteOptions::default()).expect("open store");
        let (status, shutdown) = (FollowStatus::default(), CancellationToken::new());
        let options = FollowOptions {
            ingest: IngestOptions {
                workers: 2,
                ..IngestOptions::default()
            },
            every,
        };
        let task = tokio::spawn(follow(
            Arc::new(store.clone()),
            follower,
            options,
            status.clone(),
            shutdown.clone(),
        ));
        Self {
            store,
            status,
            shutdown,
            task,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("following stops once cancelled")
            .expect("the follow task ends without panicking");
    }
}

#[tokio::test]
async fn a_history_listed_in_parts_loads_part_after_part_without_waiting_between_polls() {
    let dir = tempfile::tempdir().expect("temp dir");
    let logs = dir.path().join("logs");
    months_of_logs(&logs, 10);
    // An hour between polls: only the parts' own polls can load it all.
    let hour = Duration::from_secs(3600);
    let following = Following::start(
        dir.path(),
        FolderFollower::new(&logs).with_part_files(1),
        hour,
    );
    let loaded = until(&following.status, "the history is loaded", |s| {
        s.files_loaded == 10
    })
    .await;
    assert!(loaded.polls > 1, "in more than one part: {loaded:?}");
    assert_eq!(events(&following.store).await, 180);
    following.stop().await;
}

#[tokio::test]
async fn an_unwatched_folder_is_listed_once_an_interval_not_over_and_over() {
    let dir = tempfile::tempdir().expect("temp dir");
    let logs = dir.path().join("logs");
    months_of_logs(&logs, 3);
    let hour = Duration::from_secs(3600);
    let following = Following::start(
        dir.path(),
        FolderFollower::polling(&logs).with_part_files(1),
        hour,
    );
    let status = &following.status;
    let loaded = until(status, "the folder is loaded", |s| s.files_loaded == 3).await;
    // Its listing over, the next waits for the interval (an hour here).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        status.get().polls,
        loaded.polls,
        "no poll until the hour is up"
    );
    assert_eq!(events(&following.store).await, 54);
    following.stop().await;
}
