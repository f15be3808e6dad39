//! The store conformance suite, against the embedded SQLite store (a real file).

use ctt_store::sqlite::{SqliteOptions, SqliteStore};

/// Its records compressed from its second load on (schema 21): every check
/// reads them back through the dictionary. (Records stored as text are what
/// every other test reads.)
///
/// Each store outlives this function (the checks get only the store), so its
/// folder is kept — in the target's scratch folder, where a run first clears
/// the last run's, rather than left in the system's temporary folder.
async fn fresh_store() -> SqliteStore {
    static CLEARED: std::sync::Once = std::sync::Once::new();
    let root = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sqlite-conformance");
    CLEARED.call_once(|| {
        let _ = std::fs::remove_dir_all(&root);
    });
    std::fs::create_dir_all(&root).expect("scratch folder");
    let dir = tempfile::tempdir_in(&root).expect("temp dir");
    let path = dir.keep().join("ctt.db");
    let options = SqliteOptions {
        dictionary_after: 1,
        ..SqliteOptions::default()
    };
    SqliteStore::open(path, options).expect("open store")
}

ctt_store::store_conformance_tests!(fresh_store());

/// SPEC §13's conformance check, on a store that evaluates anomalies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anomalies_follow_the_stored_events() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = SqliteOptions {
        anomalies: Some(Default::default()),
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open(dir.path().join("ctt.db"), options).expect("open store");
    ctt_store::conformance::anomalies_follow_the_stored_events(&store).await;
}

/// Schema 27 (SPEC §14, `ctt ingest --verify`): a file's SHA-256 is kept with
/// its ledger entry, found again for that version only, and dropped when the
/// file is loaded anew without one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_keeps_a_files_hash_for_its_version() {
    use ctt_store::EventStore;
    use ctt_store::conformance::{file, record};
    let store = fresh_store().await;
    let hash = "5f".repeat(32);
    let mut a = file(
        &store,
        "logs/a.json.gz",
        vec![record(
            "h-1",
            "2018-03-05T00:00:00Z",
            "u",
            "s3",
            "CreateBucket",
        )],
    );
    a.entry.sha256 = Some(hash.clone());
    let b = file(&store, "logs/b.json.gz", Vec::new());
    store.load(vec![a.clone(), b]).await.expect("load");
    let asked = |version: &str| {
        vec![
            ("logs/a.json.gz".to_owned(), version.to_owned()),
            ("logs/b.json.gz".to_owned(), "v1".to_owned()),
            ("logs/c.json.gz".to_owned(), "v1".to_owned()),
        ]
    };
    assert_eq!(
        store.file_hashes(asked("v1")).await.expect("hashes"),
        [Some(hash.clone()), None, None],
        "a's hash; b was loaded without one; c is not in the ledger"
    );
    assert_eq!(
        store.file_hashes(asked("v2")).await.expect("hashes"),
        [None, None, None],
        "another version of a"
    );
    let entry = store.ledger_entry("logs/a.json.gz").await.expect("entry");
    assert_eq!(entry.and_then(|e| e.sha256), Some(hash));
    // Loaded anew without a hash: none kept.
    a.entry.sha256 = None;
    a.entry.version = "v2".to_owned();
    store.load(vec![a]).await.expect("load");
    assert_eq!(
        store.file_hashes(asked("v2")).await.expect("hashes"),
        [None, None, None]
    );
}
