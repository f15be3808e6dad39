//! API tokens in the SQLite store: created once by name, listed, revoked; only
//! hashes are stored.

use chrono::Utc;
use ctt_store::sqlite::{SqliteOptions, SqliteStore};
use ctt_store::{Role, TokenRecord, TokenStore};

fn token(name: &str, hash: &str, role: Role, user: Option<&str>) -> TokenRecord {
    TokenRecord {
        name: name.to_owned(),
        hash: hash.to_owned(),
        role,
        user: user.map(str::to_owned),
        created_at: Utc::now(),
    }
}

#[tokio::test]
async fn tokens_are_created_listed_and_revoked_by_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store =
        SqliteStore::open(dir.path().join("ctt.db"), SqliteOptions::default()).expect("open store");
    assert!(store.tokens().await.expect("list").is_empty());
    assert!(
        store
            .create_token(token("teacher", "aa", Role::Viewer, None))
            .await
            .expect("create")
    );
    assert!(
        store
            .create_token(token("alu", "bb", Role::OwnUser, Some("alucloud001")))
            .await
            .expect("create")
    );
    assert!(
        !store
            .create_token(token("teacher", "cc", Role::Admin, None))
            .await
            .expect("create"),
        "a name is used once"
    );
    let listed = store.tokens().await.expect("list");
    let names: Vec<_> = listed.iter().map(|t| (t.name.as_str(), t.role)).collect();
    assert_eq!(names, [("alu", Role::OwnUser), ("teacher", Role::Viewer)]);
    assert_eq!(listed[0].user.as_deref(), Some("alucloud001"));
    assert_eq!(listed[0].hash, "bb");

    assert!(store.revoke_token("teacher").await.expect("revoke"));
    assert!(!store.revoke_token("teacher").await.expect("revoke"));
    assert_eq!(store.tokens().await.expect("list").len(), 1);

    // Reopening keeps them (and migrations are not re-run).
    drop(store);
    let store = SqliteStore::open(dir.path().join("ctt.db"), SqliteOptions::default())
        .expect("reopen store");
    assert_eq!(store.tokens().await.expect("list").len(), 1);
}
