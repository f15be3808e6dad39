//! Anomalies (SPEC §13) on DynamoDB, beyond the conformance check: a load
//! that died between its commit and its evaluation is evaluated by a later
//! one, and notifications follow anomalies withdrawn and restored — set
//! aside while withdrawn, pending again when restored, never sent twice.

use std::time::Duration;

use chrono::{DateTime, Utc};
use ctt_aws::emulator::Moto;
use ctt_aws::{DynamoOptions, DynamoStore};
use ctt_core::anomaly::AnomalySettings;
use ctt_store::conformance::{TREE_ANOMALIES, anomalies_listed, anomaly_tree, file, record};
use ctt_store::{EventStore, Outbox, Route};
use serde_json::{Value, json};

use crate::support::{fresh_table, sdk};

async fn open(table: &str) -> DynamoStore {
    DynamoStore::open(&sdk().await, table, None, DynamoOptions::default())
        .await
        .expect("open")
}

fn ids(listed: &[(String, String)]) -> Vec<String> {
    listed.iter().map(|(id, _)| id.clone()).collect()
}

fn hour(raw: &str) -> i64 {
    ctt_core::time::parse_event_time(raw)
        .map(|t| t.timestamp())
        .unwrap_or_default()
}

/// A load killed after its commit leaves its marker (`AP`, see
/// docs/dynamodb.md) and no anomalies; the next load evaluates it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_that_died_before_evaluating_is_evaluated_by_the_next() {
    let sdk = sdk().await;
    let table = fresh_table(&sdk).await;
    // Committed, never evaluated: as if killed in between.
    let died = open(&table).await;
    died.load(anomaly_tree(&died)).await.expect("load");
    assert!(anomalies_listed(&died).await.is_empty());
    let scopes = json!({
        "users": {
            "alice": [hour("2018-03-01T10:00:00Z"), hour("2018-03-12T11:00:00Z")],
            "bob": [hour("2018-03-12T10:00:00Z"), hour("2018-03-12T11:00:00Z")],
        },
        "accounts": ["111122223333"],
    });
    let client = aws_sdk_dynamodb::Client::new(&Moto::shared().sdk_config().await);
    client
        .put_item()
        .table_name(&table)
        .item("pk", attr("AP"))
        .item("sk", attr("alice-12.json.gz\nv1"))
        .item("scopes", attr(&scopes.to_string()))
        .item(
            "since",
            aws_sdk_dynamodb::types::AttributeValue::N(
                (Utc::now().timestamp_millis() - 3_600_000).to_string(),
            ),
        )
        .send()
        .await
        .expect("put the marker");

    let next = open(&table)
        .await
        .with_anomalies(AnomalySettings::default());
    let unrelated = file(
        &next,
        "carol.json.gz",
        vec![record(
            "c-1",
            "2018-03-20T09:00:00Z",
            "carol",
            "s3",
            "ListBuckets",
        )],
    );
    next.load(vec![unrelated]).await.expect("load");
    assert_eq!(ids(&anomalies_listed(&next).await), TREE_ANOMALIES);
    assert_eq!(
        next.sweep_anomalies(Duration::ZERO).await.expect("sweep"),
        0,
        "the marker was evaluated and deleted"
    );
}

fn attr(value: &str) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::S(value.to_owned())
}

fn bob(id: &str, time: &str, failed: bool) -> Value {
    let mut r = record(id, time, "bob", "ec2", "CreateTags");
    if failed {
        r["errorCode"] = json!("Client.UnauthorizedOperation");
    }
    r
}

/// Each delivery of `alert_id` still in the outbox: its state.
async fn states(store: &DynamoStore, alert_id: &str) -> Vec<String> {
    store
        .deliveries(alert_id)
        .await
        .expect("deliveries")
        .into_iter()
        .map(|d| d.state)
        .collect()
}

/// SPEC §13: a notification already sent is never sent twice; one not sent
/// yet waits while its anomaly is withdrawn and goes when it is restored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_follow_anomalies_withdrawn_and_restored() {
    let sdk = sdk().await;
    let table = fresh_table(&sdk).await;
    let routes = || {
        vec![Route {
            destination: "hook".into(),
            min_level: 0,
        }]
    };
    let a_year = Duration::from_secs(3650 * 86_400);
    let on = open(&table)
        .await
        .with_outbox(routes(), a_year)
        .with_anomalies(AnomalySettings::default());
    let mut tree = anomaly_tree(&on);
    let early = tree.remove(12);
    for f in tree {
        on.load(vec![f]).await.expect("load");
    }
    assert_eq!(on.outbox_counts().await.expect("counts").pending, 4);
    // The rate spike's notification is sent; the others fail once and wait.
    let now: DateTime<Utc> = Utc::now();
    let claimed = on
        .claim_due(&["hook".into()], now, Duration::from_secs(60), 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 4);
    for delivery in &claimed {
        if delivery.alert.id == "anomaly:rate-spike:b-50" {
            on.mark_sent(delivery, now).await.expect("sent");
        } else {
            on.mark_failed(delivery, "down", Some(now), now)
                .await
                .expect("failed");
        }
    }

    // The earlier call withdraws the 12th's anomalies: their deliveries
    // are set aside; the 9th's are queued.
    on.load(vec![early]).await.expect("load");
    assert_eq!(
        states(&on, "anomaly:new-region:a-central-12").await,
        ["withdrawn"]
    );
    assert_eq!(
        states(&on, "anomaly:new-region:a-central-09").await,
        ["pending"]
    );
    assert_eq!(on.outbox_counts().await.expect("counts").pending, 3);

    // Spikes off (another loader's settings): bob's are withdrawn by his
    // next file — the sent one has nothing to set aside.
    let mut off = AnomalySettings::default();
    off.rate_spike.enabled = false;
    off.error_spike.enabled = false;
    let spikes_off = open(&table)
        .await
        .with_outbox(routes(), a_year)
        .with_anomalies(off);
    let late = |key: &str, id: &str, time: &str, failed: bool| {
        file(&spikes_off, key, vec![bob(id, time, failed)])
    };
    spikes_off
        .load(vec![late(
            "bob-late-1.json.gz",
            "b-late-1",
            "2018-03-12T10:59:30Z",
            false,
        )])
        .await
        .expect("load");
    assert_eq!(
        on.alert("anomaly:rate-spike:b-50").await.expect("alert"),
        None
    );
    assert_eq!(
        on.alert("anomaly:error-spike:f-20").await.expect("alert"),
        None
    );
    assert_eq!(states(&on, "anomaly:error-spike:f-20").await, ["withdrawn"]);
    assert!(states(&on, "anomaly:rate-spike:b-50").await.is_empty());

    // On again: restored, revised to the hour's 62 calls; the sent one is
    // not queued again, the one set aside is pending again.
    on.load(vec![late(
        "bob-late-2.json.gz",
        "b-late-2",
        "2018-03-12T10:59:40Z",
        false,
    )])
    .await
    .expect("load");
    let spike = on
        .alert("anomaly:rate-spike:b-50")
        .await
        .expect("alert")
        .expect("restored");
    assert!(
        spike.title.starts_with("bob made 62 calls"),
        "{}",
        spike.title
    );
    assert!(states(&on, "anomaly:rate-spike:b-50").await.is_empty());
    assert_eq!(states(&on, "anomaly:error-spike:f-20").await, ["pending"]);
    assert_eq!(
        ids(&anomalies_listed(&on).await),
        TREE_ANOMALIES,
        "the same anomalies as the events imply"
    );

    // Withdrawn by a loader that does not notify (its deliveries stay
    // pending): the sender sets the delivery aside instead of sending it.
    let mut quiet_settings = AnomalySettings::default();
    quiet_settings.error_spike.enabled = false;
    let quiet = open(&table).await.with_anomalies(quiet_settings);
    let failed = file(
        &quiet,
        "bob-late-3.json.gz",
        vec![bob("f-late", "2018-03-12T11:50:00Z", true)],
    );
    quiet.load(vec![failed]).await.expect("load");
    assert_eq!(
        on.alert("anomaly:error-spike:f-20").await.expect("alert"),
        None
    );
    assert_eq!(states(&on, "anomaly:error-spike:f-20").await, ["pending"]);
    let due = on
        .claim_due(&["hook".into()], Utc::now(), Duration::from_secs(60), 10)
        .await
        .expect("claim");
    let due: Vec<&str> = due.iter().map(|d| d.alert.id.as_str()).collect();
    assert!(!due.contains(&"anomaly:error-spike:f-20"), "{due:?}");
    assert_eq!(states(&on, "anomaly:error-spike:f-20").await, ["withdrawn"]);
}

/// SPEC §13 on DynamoDB: baselines read with `Query`s only — loading the
/// tree with anomalies evaluated sends no `Scan`; what it adds to a load
/// (requests by operation), against the same tree loaded without them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluating_anomalies_sends_no_scan() {
    let sdk = sdk().await;
    let mut usage = Vec::new();
    for settings in [None, Some(AnomalySettings::default())] {
        let table = fresh_table(&sdk).await;
        let mut store = open(&table).await;
        if let Some(settings) = settings {
            store = store.with_anomalies(settings);
        }
        for f in anomaly_tree(&store) {
            store.load(vec![f]).await.expect("load");
        }
        usage.push(store.usage().operations);
    }
    let [off, on] = [&usage[0], &usage[1]];
    eprintln!("without anomalies: {off:?}\nwith them: {on:?}");
    assert!(!on.contains_key("Scan"), "{on:?}");
    assert!(on.get("Query") > off.get("Query"), "the baselines are read");
}
