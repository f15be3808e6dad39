//! What only the DynamoDB store must prove: every query is a `Query` (never a
//! `Scan`), concurrent loaders keep the catalog exact, a load retried after
//! a crash — or a file delivered twice at once — is counted once, and counts
//! read hourly counters rather than every event.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use ctt_aws::dynamo::items::event_item;
use ctt_aws::dynamo::usage::UsageMeter;
use ctt_aws::{DynamoOptions, DynamoStore};
use ctt_core::time::format_event_time;
use ctt_core::{EventQuery, GroupBy, NameMatch, ParamFilter, Scope};
use ctt_store::conformance::{file, record};
use ctt_store::{EventStore, LedgerFilter, LoadedFile};

use crate::support::{fresh_store, fresh_table, sdk};

fn at(raw: &str) -> DateTime<Utc> {
    ctt_core::time::parse_event_time(raw).unwrap_or_default()
}

fn march() -> EventQuery {
    EventQuery::between(at("2018-03-01T00:00:00Z"), at("2018-03-31T23:59:59Z"))
}

/// `count` files of `per_file` events; user `u{i % users}`, service by `i % 3`.
/// Event ids are shared between files when `overlap` is set.
fn files(
    store: &dyn EventStore,
    prefix: &str,
    count: usize,
    per_file: usize,
    users: usize,
) -> Vec<LoadedFile> {
    (0..count)
        .map(|f| {
            let records = (0..per_file)
                .map(|e| {
                    let i = f * per_file + e;
                    let service = ["ec2", "s3", "lambda"][i % 3];
                    let time = format!("2018-03-{:02}T{:02}:00:{:02}Z", 1 + i % 28, i % 24, i % 60);
                    record(
                        &format!("ev-{i:05}"),
                        &time,
                        &format!("u{}", i % users),
                        service,
                        "CreateThing",
                    )
                })
                .collect();
            file(store, &format!("{prefix}/file-{f:03}.json.gz"), records)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_query_uses_scan() {
    let store = fresh_store().await;
    store
        .load(files(&store, "s3://b", 4, 25, 5))
        .await
        .expect("load");
    store.reset_usage();

    let mut queries = vec![march()];
    for scope in [Scope::User("u1".into()), Scope::Service("ec2".into())] {
        let mut q = march();
        q.scope = scope;
        queries.push(q);
    }
    let mut named = march();
    named.event_name = Some(NameMatch {
        name: "CreateThing".into(),
        prefix: false,
    });
    queries.push(named.clone());
    named.event_name = Some(NameMatch {
        name: "Create".into(),
        prefix: true,
    });
    queries.push(named);
    for (name, value) in [
        ("awsRegion", "us-east-1"),
        ("instanceType", "t2.micro"),
        ("functionName", "fn-ev-00007"),
        ("noSuchParameter", "x"),
    ] {
        let mut q = march();
        q.params = vec![ParamFilter {
            name: name.into(),
            value: value.into(),
        }];
        queries.push(q);
    }
    let mut own = march();
    own.only_user = Some("u2".into());
    queries.push(own);
    let mut years = march();
    years.from = at("2015-01-01T00:00:00Z");
    years.to = at("2019-12-31T23:59:59Z");
    queries.push(years);

    for q in &queries {
        let page = store.events(q, 7, None).await.expect("events");
        if let Some(next) = &page.next {
            store.events(q, 7, Some(next)).await.expect("next page");
        }
        store.count(q).await.expect("count");
        store.stats(q, GroupBy::User, 10).await.expect("stats");
    }
    for group in [
        GroupBy::Service,
        GroupBy::EventName,
        GroupBy::AwsRegion,
        GroupBy::ErrorCode,
        GroupBy::Hour,
        GroupBy::Day,
    ] {
        store.stats(&queries[1], group, 10).await.expect("stats");
    }
    store.event("ev-00007").await.expect("event");
    store.users().await.expect("users");
    store.services().await.expect("services");
    store.parameters().await.expect("parameters");
    store.status().await.expect("status");
    store.ledger(LedgerFilter::All).await.expect("ledger");
    store
        .ledger_entry("s3://b/file-000.json.gz")
        .await
        .expect("entry");

    let usage = store.usage();
    assert_eq!(usage.calls("Scan"), 0, "{usage:?}");
    let allowed = ["Query", "GetItem", "BatchGetItem"];
    assert!(
        usage
            .operations
            .keys()
            .all(|op| allowed.contains(&op.as_str())),
        "only reads by key: {usage:?}"
    );
    assert!(
        usage.calls("Query") > 0 && usage.items_scanned > 0,
        "{usage:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_loaders_keep_the_catalog_exact() {
    let sdk = sdk().await;
    let table = fresh_table(&sdk).await;
    let open = || DynamoStore::open(&sdk, &table, None, DynamoOptions::default());
    let (a, b) = (open().await.expect("open a"), open().await.expect("open b"));
    // Two trails delivering the same events in different files, plus their own.
    let mut for_a = files(&a, "s3://trail-a", 6, 20, 7);
    let mut for_b = files(&b, "s3://trail-b", 6, 20, 7);
    for_a.extend(files(&a, "s3://only-a", 1, 5, 3).into_iter().map(|mut f| {
        f.events
            .iter_mut()
            .for_each(|e| e.event.event_id.push_str("-a"));
        f
    }));
    for_b.reverse();
    let (ra, rb) = tokio::join!(
        async {
            let mut stored = 0;
            for chunk in for_a.chunks(2) {
                stored += a
                    .load(chunk.to_vec())
                    .await
                    .expect("load a")
                    .iter()
                    .map(|c| c.stored)
                    .sum::<u64>();
            }
            stored
        },
        async {
            let mut stored = 0;
            for chunk in for_b.chunks(3) {
                stored += b
                    .load(chunk.to_vec())
                    .await
                    .expect("load b")
                    .iter()
                    .map(|c| c.stored)
                    .sum::<u64>();
            }
            stored
        }
    );
    let distinct = 6 * 20 + 5;
    assert_eq!(ra + rb, distinct, "each event stored by exactly one loader");
    let users = a.users().await.expect("users");
    let names: BTreeSet<_> = users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(
        names,
        ["u0", "u1", "u2", "u3", "u4", "u5", "u6"]
            .into_iter()
            .collect()
    );
    assert_eq!(users.iter().map(|u| u.events).sum::<u64>(), distinct);
    let services = b.services().await.expect("services");
    assert_eq!(
        services.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["ec2", "lambda", "s3"]
    );
    assert_eq!(services.iter().map(|s| s.events).sum::<u64>(), distinct);
    assert_eq!(a.count(&march()).await.expect("count"), distinct);
    let status = b.status().await.expect("status");
    assert_eq!((status.events, status.files_loaded), (distinct, 13));
    assert_eq!(users[0].first_seen, at("2018-03-01T00:00:00Z"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_retried_after_a_crash_counts_its_events_once() {
    let sdk = sdk().await;
    let table = fresh_table(&sdk).await;
    let store = DynamoStore::open(&sdk, &table, None, DynamoOptions::default())
        .await
        .expect("open");
    let batch = files(&store, "s3://b", 1, 10, 2);
    let crashed = &batch[0];
    // The crash: half the file's events were written, its ledger entry was not.
    let client = ctt_aws::dynamo::client(&sdk, None, &UsageMeter::default());
    for event in &crashed.events[..5] {
        client
            .put_item()
            .table_name(&table)
            .set_item(Some(event_item(
                event,
                &crashed.entry.key,
                &crashed.entry.version,
            )))
            .send()
            .await
            .expect("put");
    }
    // An overlapping file from another trail arrives before the retry.
    let mut other = files(&store, "s3://other", 1, 3, 2);
    other[0].entry.version = "v-other".into();
    let counts = store.load(other).await.expect("load other");
    assert_eq!((counts[0].stored, counts[0].duplicate), (0, 3));

    let retry = store.load(batch.clone()).await.expect("retry");
    assert_eq!((retry[0].stored, retry[0].duplicate), (10, 0));
    let again = store.load(batch).await.expect("delivered again");
    assert_eq!((again[0].stored, again[0].duplicate), (0, 10));
    let users = store.users().await.expect("users");
    assert_eq!(users.iter().map(|u| u.events).sum::<u64>(), 10);
    assert_eq!(store.status().await.expect("status").events, 10);
    assert_eq!(
        store.count(&march()).await.expect("count"),
        10,
        "hourly counters"
    );
    let entry = store
        .ledger_entry("s3://b/file-000.json.gz")
        .await
        .expect("entry");
    assert_eq!(entry.map(|e| e.counts.stored), Some(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_delivered_twice_at_once_is_counted_once() {
    let sdk = sdk().await;
    let table = fresh_table(&sdk).await;
    let open = || DynamoStore::open(&sdk, &table, None, DynamoOptions::default());
    let (a, b) = (open().await.expect("open a"), open().await.expect("open b"));
    let batch = files(&a, "s3://b", 3, 15, 4);
    let (ra, rb) = tokio::join!(a.load(batch.clone()), b.load(batch));
    let (ra, rb) = (ra.expect("load a"), rb.expect("load b"));
    let stored: u64 = ra.iter().chain(&rb).map(|c| c.stored).sum();
    assert_eq!(stored, 45);
    assert_eq!(
        a.services()
            .await
            .expect("services")
            .iter()
            .map(|s| s.events)
            .sum::<u64>(),
        45
    );
    assert_eq!(
        b.count(&march()).await.expect("count"),
        45,
        "hourly counters"
    );
    assert_eq!(b.ledger(LedgerFilter::All).await.expect("ledger").len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_counters_follow_a_file_from_failed_to_loaded() {
    let store = fresh_store().await;
    let files_of = |status: ctt_store::StoreStatus| (status.files_loaded, status.files_failed);
    let mut bad = file(&store, "s3://b/x.json.gz", vec![]);
    bad.entry.outcome = ctt_store::FileOutcome::Failed;
    bad.entry.reason = Some("gzip stream truncated".into());
    store.load(vec![bad.clone()]).await.expect("load");
    store.load(vec![bad]).await.expect("failed again");
    assert_eq!(files_of(store.status().await.expect("status")), (0, 1));
    let mut fixed = files(&store, "s3://b", 1, 3, 1).remove(0);
    fixed.entry.key = "s3://b/x.json.gz".into();
    fixed.entry.version = "v2".into();
    store.load(vec![fixed.clone()]).await.expect("load");
    assert_eq!(files_of(store.status().await.expect("status")), (1, 0));
    fixed.entry.version = "v3".into();
    let counts = store.load(vec![fixed]).await.expect("new version");
    assert_eq!((counts[0].stored, counts[0].duplicate), (0, 3));
    let status = store.status().await.expect("status");
    assert_eq!(
        (status.files_loaded, status.files_failed, status.events),
        (1, 0, 3)
    );
    assert_eq!(status.last_file.as_deref(), Some("s3://b/x.json.gz"));
}

/// Issue 12 (a followed bucket never reads the whole ledger): a few files are
/// looked up by their own ledger entries (`BatchGetItem`), not by reading the
/// ledger partitions (`Query`); the answers are the ledger's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_few_files_are_looked_up_in_the_ledger_one_by_one() {
    let store = fresh_store().await;
    store
        .load(files(&store, "s3://b", 6, 2, 2))
        .await
        .expect("load");
    let mut bad = file(&store, "s3://b/bad.json.gz", vec![]);
    bad.entry.outcome = ctt_store::FileOutcome::Failed;
    bad.entry.reason = Some("gzip stream truncated".into());
    store.load(vec![bad]).await.expect("load a failed file");
    store.reset_usage();
    let asked = [
        ("s3://b/file-001.json.gz", "v1"),
        ("s3://b/file-002.json.gz", "v2"),
        ("s3://b/bad.json.gz", "v1"),
        ("s3://b/new.json.gz", "v1"),
        ("s3://b/file-001.json.gz", "v1"),
    ];
    let answers = store
        .loaded_already(
            asked
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
        .await
        .expect("loaded already");
    assert_eq!(answers, [true, false, false, false, true]);
    let usage = store.usage();
    assert_eq!(usage.calls("Query"), 0, "{usage:?}");
    assert_eq!(usage.calls("BatchGetItem"), 1, "{usage:?}");
}

/// One file of `hours` × `per_hour` events, one hour apart from 1 March 2018
/// 00:00, each hour's events `per_hour` minutes apart; users and services
/// alternate by hour.
fn hourly_file(store: &dyn EventStore, key: &str, hours: usize, per_hour: usize) -> LoadedFile {
    let records = (0..hours * per_hour)
        .map(|i| {
            let (hour, n) = (i / per_hour, i % per_hour);
            let time =
                at("2018-03-01T00:00:00Z") + Duration::seconds((hour * 3600 + n * 60) as i64);
            record(
                &format!("hr-{i:04}"),
                &format_event_time(time),
                &format!("u{}", hour % 2),
                ["ec2", "s3"][hour % 2],
                "CreateThing",
            )
        })
        .collect();
    file(store, key, records)
}

/// A count sums one counter item per hour with events, and reads index
/// entries only at the partial-hour edges of its window; a file whose counter
/// updates exceed one transaction (40 hours × 3 series + catalog) commits them
/// over several, each once, also when the file is loaded again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_read_hourly_counters_and_only_the_edges_from_the_index() {
    let store = fresh_store().await;
    assert!(
        store.has_hourly_counts(),
        "a new table keeps hourly counters"
    );
    let big = hourly_file(&store, "s3://b/hours.json.gz", 40, 3);
    store.load(vec![big.clone()]).await.expect("load");
    let again = store.load(vec![big]).await.expect("load again");
    assert_eq!((again[0].stored, again[0].duplicate), (0, 120));

    let window = |from: &str, to: &str, scope: Scope| {
        let mut q = EventQuery::between(at(from), at(to));
        q.scope = scope;
        q
    };
    let cases = [
        // (query, expected count, counter items read, index entries read)
        (
            window("2018-03-01T00:00:00Z", "2018-03-02T23:59:59Z", Scope::All),
            120,
            40,
            0,
        ),
        (
            window(
                "2018-03-01T00:00:00Z",
                "2018-03-02T23:59:59Z",
                Scope::User("u1".into()),
            ),
            60,
            20,
            0,
        ),
        (
            window(
                "2018-03-01T00:00:00Z",
                "2018-03-02T23:59:59Z",
                Scope::Service("ec2".into()),
            ),
            60,
            20,
            0,
        ),
        // 00:01:00 ..= 03:01:00: hours 1 and 2 whole; edges hold 2 + 2 events.
        (
            window("2018-03-01T00:01:00Z", "2018-03-01T03:01:00Z", Scope::All),
            10,
            2,
            4,
        ),
        // Inside one hour: the index alone.
        (
            window("2018-03-01T05:00:30Z", "2018-03-01T05:59:00Z", Scope::All),
            2,
            0,
            2,
        ),
    ];
    for (q, expected, counters, entries) in cases {
        store.reset_usage();
        assert_eq!(store.count(&q).await.expect("count"), expected, "{q:?}");
        let usage = store.usage();
        assert_eq!(usage.counter_items, counters, "{q:?} {usage:?}");
        assert_eq!(
            usage.items_scanned - usage.counter_items,
            entries,
            "{q:?} {usage:?}"
        );
        assert_eq!(
            store.count_from_index(&q).await.expect("count"),
            expected,
            "{q:?}"
        );
        // `/stats` by hour and by day read the same counters and edges
        // (issue #19), with the index's answers.
        for group_by in [GroupBy::Hour, GroupBy::Day] {
            store.reset_usage();
            let stats = store.stats(&q, group_by, 10_000).await.expect("stats");
            let usage = store.usage();
            assert_eq!(
                usage.items_scanned - usage.counter_items,
                entries,
                "{group_by:?} {q:?} {usage:?}"
            );
            assert_eq!(
                stats,
                store
                    .stats_from_index(&q, group_by, 10_000)
                    .await
                    .expect("stats"),
                "{group_by:?} {q:?}"
            );
            assert_eq!(stats.iter().map(|g| g.count).sum::<u64>(), expected);
        }
    }
    assert_eq!(
        store
            .users()
            .await
            .expect("users")
            .iter()
            .map(|u| u.events)
            .sum::<u64>(),
        120
    );
}

/// A table first used by a ctt without hourly counters (schema 1) keeps
/// counting from its indexes: its events were never counted by hour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_without_counters_counts_from_its_indexes() {
    let sdk = sdk().await;
    let table = fresh_table(&sdk).await;
    let client = ctt_aws::dynamo::client(&sdk, None, &UsageMeter::default());
    let mut meta = std::collections::HashMap::new();
    for (name, value) in [("pk", "META"), ("sk", "META")] {
        meta.insert(name.to_owned(), AttributeValue::S(value.to_owned()));
    }
    meta.insert(
        "indexed_parameters".to_owned(),
        AttributeValue::L(Vec::new()),
    );
    meta.insert("schema".to_owned(), AttributeValue::N("1".to_owned()));
    client
        .put_item()
        .table_name(&table)
        .set_item(Some(meta))
        .send()
        .await
        .expect("put META");
    let store = DynamoStore::open(&sdk, &table, None, DynamoOptions::default())
        .await
        .expect("open");
    assert!(!store.has_hourly_counts());
    store
        .load(vec![hourly_file(&store, "s3://b/h.json.gz", 4, 2)])
        .await
        .expect("load");
    store.reset_usage();
    assert_eq!(store.count(&march()).await.expect("count"), 8);
    assert_eq!(store.usage().counter_queries, 0);
}
