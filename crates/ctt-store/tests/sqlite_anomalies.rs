//! Anomalies (SPEC §13) kept by the SQLite writer: a function of the stored
//! events, whatever order their files arrive in — an earlier event loaded
//! later withdraws the anomaly it supersedes and raises the right one — and
//! the same after a bulk load's rebuild.

use ctt_core::anomaly::AnomalySettings;
use ctt_store::conformance::{
    TREE_ANOMALIES, anomalies_listed as anomalies, anomaly_tree as files,
};
use ctt_store::sqlite::{SqliteOptions, SqliteStore};
use ctt_store::{EventStore, LoadedFile};

const ACCOUNT: &str = "111122223333";

fn open(path: &std::path::Path) -> SqliteStore {
    SqliteStore::open(
        path,
        SqliteOptions {
            anomalies: Some(AnomalySettings::default()),
            ..SqliteOptions::default()
        },
    )
    .expect("open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anomalies_are_a_function_of_the_stored_events_in_any_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    // In order, one file per load.
    let ordered = open(&dir.path().join("ordered.db"));
    for f in files(&ordered) {
        ordered.load(vec![f]).await.expect("load");
    }
    let expected = anomalies(&ordered).await;
    let ids: Vec<&str> = expected.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, TREE_ANOMALIES, "{expected:#?}");
    let titles: Vec<&str> = expected.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        titles[1],
        "alice used eu-central-1 for the first time; known since 2018-03-01: us-east-1, eu-west-1"
    );
    assert_eq!(
        titles[0],
        format!(
            "account {ACCOUNT} used eu-central-1 for the first time; known since 2018-03-01: us-east-1, eu-west-1"
        )
    );
    assert_eq!(
        titles[2],
        "bob made 60 calls in the hour from 2018-03-12 10:00 UTC; the week before averaged 0.0 ± 0.0 an hour (threshold 50)"
    );
    assert!(
        titles[3].starts_with("bob made 25 failed calls in the hour from 2018-03-12 11:00 UTC")
    );

    // The structured baseline each title is written from (SPEC §13).
    let spike = ordered
        .alert("anomaly:rate-spike:b-50")
        .await
        .expect("alert")
        .expect("stored");
    assert_eq!(
        serde_json::to_value(spike.baseline).expect("json"),
        serde_json::json!({"type": "spike", "user": "bob", "errors": false,
            "hour": "2018-03-12T10:00:00Z", "count": 60, "mean": 0.0, "sigma": 0.0,
            "threshold": 50.0})
    );
    let region = ordered
        .alert("anomaly:new-region:a-central-09")
        .await
        .expect("alert")
        .expect("stored");
    match region.baseline {
        Some(ctt_core::anomaly::Baseline::First { what, known, .. }) => {
            assert_eq!(
                (what.as_str(), known),
                (
                    "eu-central-1",
                    vec!["us-east-1".to_owned(), "eu-west-1".to_owned()]
                )
            );
        }
        other => panic!("a first use, not {other:?}"),
    }

    // Reversed, shuffled, all at once, and loaded twice: the same anomalies.
    type Order<'a> = &'a dyn Fn(&mut Vec<LoadedFile>);
    let orders: [Order<'_>; 3] = [&|f| f.reverse(), &|f| f.rotate_left(7), &|f| {
        let n = f.len();
        for i in 0..n {
            f.swap(i, (i * 5 + 3) % n);
        }
    }];
    for (round, order) in orders.iter().enumerate() {
        let store = open(&dir.path().join(format!("order-{round}.db")));
        let mut all = files(&store);
        order(&mut all);
        for f in all.clone() {
            store.load(vec![f]).await.expect("load");
        }
        for f in all {
            store.load(vec![f]).await.expect("load again");
        }
        assert_eq!(anomalies(&store).await, expected, "order {round}");
    }

    // The earlier eu-central-1 call arriving last withdraws the anomaly on the
    // later one: it is no alert any more.
    let late = open(&dir.path().join("late.db"));
    let mut all = files(&late);
    let early = all.remove(12);
    assert_eq!(early.entry.key, "alice-central-09.json.gz");
    late.load(all).await.expect("load");
    let before = anomalies(&late).await;
    assert!(
        before
            .iter()
            .any(|(id, _)| id == "anomaly:new-region:a-central-12"),
        "{before:#?}"
    );
    late.load(vec![early]).await.expect("load");
    assert_eq!(anomalies(&late).await, expected);
    assert!(
        late.alert("anomaly:new-region:a-central-12")
            .await
            .expect("alert")
            .is_none()
    );

    // A bulk load evaluates nothing until its end, then all of it.
    let bulk = open(&dir.path().join("bulk.db"));
    assert!(bulk.begin_bulk_load().await.expect("begin"));
    let all = files(&bulk);
    bulk.load(all).await.expect("load");
    assert!(
        anomalies(&bulk).await.is_empty(),
        "not during the bulk load"
    );
    bulk.end_bulk_load().await.expect("end");
    assert_eq!(anomalies(&bulk).await, expected);

    // Off: none; opened with them on, the rebuild finds them all.
    let off_path = dir.path().join("off.db");
    let off = SqliteStore::open(&off_path, SqliteOptions::default()).expect("open");
    let all = files(&off);
    off.load(all).await.expect("load");
    assert!(anomalies(&off).await.is_empty());
    drop(off);
    assert_eq!(anomalies(&open(&off_path)).await, expected);

    // A database from before `first_seen` (schema 14, upgraded): its first
    // events are read from the stored events once, at the next open.
    {
        let conn = rusqlite::Connection::open(&off_path).expect("raw open");
        conn.execute_batch(
            "DELETE FROM first_seen; DELETE FROM alerts;
             UPDATE meta SET value = 'pending' WHERE key IN ('first_seen', 'anomalies');",
        )
        .expect("as if older");
    }
    assert_eq!(anomalies(&open(&off_path)).await, expected);
}
