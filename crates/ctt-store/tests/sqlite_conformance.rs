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
