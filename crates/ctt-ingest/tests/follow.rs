//! The follow driver with a local folder (SPEC §4, "Continuous" and "Exactly
//! once"): a file added while following is loaded once, a rewritten file is
//! loaded again, a folder that disappears for a while does not stop following,
//! and cancelling stops it at once. A real SQLite store in a temporary folder.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ctt_ingest::IngestOptions;
use ctt_ingest::follow::{
    CancellationToken, FolderFollower, FollowOptions, FollowState, FollowStatus, follow,
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
