//! The store conformance suite, against the embedded SQLite store (a real file).

use ctt_store::sqlite::{SqliteOptions, SqliteStore};

async fn fresh_store() -> SqliteStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.keep().join("ctt.db");
    SqliteStore::open(path, SqliteOptions::default()).expect("open store")
}

ctt_store::store_conformance_tests!(fresh_store());
