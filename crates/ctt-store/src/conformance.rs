//! The behavioural suite every [`EventStore`] must pass (SPEC §8: "both backends
//! pass the same behavioural test suite").
//!
//! Each check takes a fresh, empty store. A backend's tests call
//! [`store_conformance_tests!`](crate::store_conformance_tests) with an async
//! expression that makes one, which expands to one `#[tokio::test]` per check.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, TimeZone, Utc};
use ctt_core::query::Cursor;
use ctt_core::{EventQuery, GroupBy, NameMatch, ParamFilter, Scope, normalise};
use serde_json::{Value, json};

use crate::{
    Alert, AlertQuery, EventStore, FileCounts, FileOutcome, FlaggedFile, IndexedEvent,
    IntegritySummary, LedgerEntry, LedgerFilter, LoadedFile, PageLayout, RecordJson, Verdict,
};

/// Expands to one test per conformance check, each on a store made by `$make`
/// (an expression evaluating to a future of a store).
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::store_conformance_tests!(@each $make;
            paging_returns_every_event_once_in_order,
            loading_twice_stores_once,
            ledger_records_outcomes_and_counts,
            scopes_select_user_and_service,
            time_bounds_are_inclusive_to_the_second,
            event_name_matches_exactly_or_by_prefix,
            params_match_columns_indexed_and_record_values,
            every_typed_attribute_filters_on_its_value,
            only_user_hides_other_users,
            stats_group_and_count,
            catalog_lists_users_services_and_parameters,
            event_detail_returns_the_redacted_record,
            status_reports_totals,
            written_pages_serialise_the_pages,
            counts_are_exact_across_hours_edges_and_reloads,
            courses_are_kept_replaced_and_scored_alike,
            ledger_keeps_each_files_integrity,
            ledger_keeps_each_files_hash_for_its_version,
            alerts_are_stored_once_and_listed_in_order,
            resources_fold_alike_whatever_the_order,
            user_baselines_are_kept_alike,
        );
    };
    (@each $make:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let store = $make.await;
                $crate::conformance::$check(&store).await;
            }
        )*
    };
}

/// `2018-03-DD THH:MM:SSZ`.
fn t(day: u32, hms: &str) -> String {
    format!("2018-03-{day:02}T{hms}Z")
}

fn at(raw: &str) -> DateTime<Utc> {
    ctt_core::time::parse_event_time(raw).unwrap_or_default()
}

/// A record of user `user` calling `name` on `source` at `time`.
pub fn record(id: &str, time: &str, user: &str, source: &str, name: &str) -> Value {
    json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "userName": user, "accountId": "111122223333",
                         "principalId": format!("AIDA{user}")},
        "eventTime": time,
        "eventSource": format!("{source}.amazonaws.com"),
        "eventName": name,
        "awsRegion": if user.ends_with('2') { "eu-west-1" } else { "us-east-1" },
        "sourceIPAddress": "192.0.2.1",
        "userAgent": "aws-cli/2.0 (x, y)",
        "requestParameters": {"instanceType": "t2.micro", "functionName": format!("fn-{id}"),
                              "dryRun": false, "maxCount": 1},
        "responseElements": {"credentials": {"sessionToken": "SECRET-TOKEN", "secretAccessKey": "SECRET-KEY"}},
        "eventID": id,
        "readOnly": name.starts_with("Describe"),
        "eventType": "AwsApiCall",
        "recipientAccountId": "111122223333"
    })
}

/// A loaded-file batch entry holding these records.
pub fn file(store: &dyn EventStore, key: &str, records: Vec<Value>) -> LoadedFile {
    let mut names = BTreeSet::new();
    let count = records.len() as u64;
    let events = records
        .into_iter()
        .filter_map(|r| normalise(r).ok())
        .map(|e| {
            IndexedEvent::new(e, store.indexed_parameters(), &mut |n| {
                names.insert(n.to_owned());
            })
        })
        .collect();
    LoadedFile {
        entry: LedgerEntry {
            key: key.to_owned(),
            size: 100,
            version: "v1".to_owned(),
            outcome: FileOutcome::Loaded,
            reason: None,
            counts: FileCounts {
                records: count,
                ..Default::default()
            },
            loaded_at: at("2018-04-01T00:00:00Z"),
            integrity: None,
            sha256: None,
        },
        events,
        parameter_names: names.into_iter().collect(),
        raw_bytes: 0,
        alerts: Vec::new(),
    }
}

/// 30 events: 3 users × 10, on days 1..=10 of March 2018, ec2 and lambda.
async fn load_thirty(store: &dyn EventStore) {
    let mut records = Vec::new();
    for i in 0..30u32 {
        let user = format!("alucloud{:03}", i % 3);
        let (source, name) = match i % 5 {
            0 => ("lambda", "CreateFunction20150331"),
            1 => ("ec2", "RunInstances"),
            2 => ("ec2", "RunScheduledInstances"),
            3 => ("ec2", "DescribeInstances"),
            _ => ("ec2", "TerminateInstances"),
        };
        // Pairs of events share a second, so the eventID tie-break is exercised.
        let time = t(1 + i / 3, &format!("10:00:{:02}", (i % 3) / 2));
        records.push(record(&format!("id-{i:02}"), &time, &user, source, name));
    }
    let (a, b) = records.split_at(12);
    let files = vec![
        file(store, "a.json.gz", a.to_vec()),
        file(store, "b.json.gz", b.to_vec()),
    ];
    store.load(files).await.expect("load");
}

fn march() -> EventQuery {
    EventQuery::between(at(&t(1, "00:00:00")), at(&t(31, "23:59:59")))
}

async fn all_ids(store: &dyn EventStore, query: &EventQuery, limit: u32) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = store
            .events(query, limit, cursor.as_ref())
            .await
            .expect("events");
        assert!(page.events.len() <= limit as usize);
        ids.extend(page.events.into_iter().map(|e| e.event_id));
        match page.next {
            Some(next) => cursor = Some(next),
            None => return ids,
        }
    }
}

pub async fn paging_returns_every_event_once_in_order(store: &dyn EventStore) {
    load_thirty(store).await;
    let query = march();
    let one_page = store.events(&query, 1000, None).await.expect("events");
    assert_eq!(one_page.events.len(), 30);
    assert_eq!(one_page.next, None);
    let keys: Vec<_> = one_page
        .events
        .iter()
        .map(|e| (e.event_time.clone(), e.event_id.clone()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "sorted by eventTime then eventID");
    for limit in [1, 7, 29, 30] {
        let ids = all_ids(store, &query, limit).await;
        let expected: Vec<_> = keys.iter().map(|(_, id)| id.clone()).collect();
        assert_eq!(ids, expected, "limit {limit}");
    }
}

pub async fn loading_twice_stores_once(store: &dyn EventStore) {
    let records = vec![
        record("dup-1", &t(2, "00:00:00"), "u1", "ec2", "RunInstances"),
        record("dup-2", &t(2, "00:00:01"), "u1", "ec2", "RunInstances"),
    ];
    let first = store
        .load(vec![file(store, "one", records.clone())])
        .await
        .expect("load");
    assert_eq!(first[0].stored, 2);
    let mut again = records.clone();
    again.push(record(
        "dup-3",
        &t(2, "00:00:02"),
        "u1",
        "ec2",
        "RunInstances",
    ));
    let second = store
        .load(vec![file(store, "two", again)])
        .await
        .expect("load");
    assert_eq!((second[0].stored, second[0].duplicate), (1, 2));
    assert_eq!(store.count(&march()).await.expect("count"), 3);
    let users = store.users().await.expect("users");
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].events, 3, "the catalog counts each event once");
    // The same event twice within one batch is stored once too.
    let same = vec![
        file(
            store,
            "three",
            vec![record(
                "dup-4",
                &t(3, "00:00:00"),
                "u1",
                "ec2",
                "RunInstances",
            )],
        ),
        file(
            store,
            "four",
            vec![record(
                "dup-4",
                &t(3, "00:00:00"),
                "u1",
                "ec2",
                "RunInstances",
            )],
        ),
    ];
    let counts = store.load(same).await.expect("load");
    assert_eq!((counts[0].stored, counts[1].duplicate), (1, 1));
    assert_eq!(store.count(&march()).await.expect("count"), 4);
}

pub async fn ledger_records_outcomes_and_counts(store: &dyn EventStore) {
    let mut good = file(
        store,
        "logs/good.json.gz",
        vec![record("l-1", &t(4, "00:00:00"), "u", "s3", "CreateBucket")],
    );
    good.entry.counts.filtered = 3;
    good.entry.counts.records = 4;
    let mut bad = file(store, "logs/bad.json.gz", vec![]);
    bad.entry.outcome = FileOutcome::Failed;
    bad.entry.reason = Some("gzip stream truncated".to_owned());
    store.load(vec![good, bad]).await.expect("load");

    let all = store.ledger(LedgerFilter::All).await.expect("ledger");
    assert_eq!(all.len(), 2);
    let good = &all[0];
    assert_eq!(good.key, "logs/good.json.gz");
    assert_eq!(good.outcome, FileOutcome::Loaded);
    assert_eq!(
        good.counts,
        FileCounts {
            records: 4,
            stored: 1,
            filtered: 3,
            duplicate: 0,
            rejected: 0
        }
    );
    let failed = store.ledger(LedgerFilter::Failed).await.expect("ledger");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].reason.as_deref(), Some("gzip stream truncated"));

    let entry = store
        .ledger_entry("logs/good.json.gz")
        .await
        .expect("entry");
    assert_eq!(entry.map(|e| e.version), Some("v1".to_owned()));
    assert_eq!(store.ledger_entry("missing").await.expect("entry"), None);
    let owned = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let asked = owned(&[
        ("logs/bad.json.gz", "v1"),
        ("logs/good.json.gz", "v2"),
        ("missing", "v1"),
        ("logs/good.json.gz", "v1"),
    ]);
    assert_eq!(
        store.loaded_already(asked).await.expect("loaded already"),
        [false, false, false, true],
        "only a loaded file with the same version is skipped"
    );

    // A re-load of a key (new version) replaces its entry rather than adding one.
    let mut fixed = file(
        store,
        "logs/bad.json.gz",
        vec![record("l-2", &t(4, "00:00:01"), "u", "s3", "CreateBucket")],
    );
    fixed.entry.version = "v2".to_owned();
    store.load(vec![fixed]).await.expect("load");
    assert_eq!(
        store.ledger(LedgerFilter::All).await.expect("ledger").len(),
        2
    );
    assert!(
        store
            .ledger(LedgerFilter::Failed)
            .await
            .expect("ledger")
            .is_empty()
    );
    assert_eq!(
        store
            .loaded_already(owned(&[
                ("logs/bad.json.gz", "v2"),
                ("logs/bad.json.gz", "v1")
            ]))
            .await
            .expect("loaded already"),
        [true, false]
    );
}

/// SPEC §14, `ctt ingest --verify`: a file's SHA-256 (hashed as it loads) is
/// kept with its ledger entry, found again for that version only, and
/// dropped when the file is loaded anew without one (SQLite: schema 27).
pub async fn ledger_keeps_each_files_hash_for_its_version(store: &dyn EventStore) {
    let hash = "5f".repeat(32);
    let mut a = file(
        store,
        "logs/a.json.gz",
        vec![record("h-1", &t(5, "00:00:00"), "u", "s3", "CreateBucket")],
    );
    a.entry.sha256 = Some(hash.clone());
    let b = file(store, "logs/b.json.gz", Vec::new());
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
    let entry = store.ledger_entry("logs/a.json.gz").await.expect("entry");
    assert_eq!(entry.and_then(|e| e.sha256), None);
}

/// SPEC §14: `ctt verify --record` keeps each file's status in the ledger;
/// keys the ledger does not hold are not added; a file loaded anew has none.
pub async fn ledger_keeps_each_files_integrity(store: &dyn EventStore) {
    let a = file(
        store,
        "logs/a.json.gz",
        vec![record("i-1", &t(5, "00:00:00"), "u", "s3", "CreateBucket")],
    );
    let b = file(
        store,
        "logs/b.json.gz",
        vec![record("i-2", &t(5, "00:00:01"), "u", "s3", "CreateBucket")],
    );
    store.load(vec![a, b]).await.expect("load");
    assert_eq!(
        store.integrity().await.expect("summary"),
        IntegritySummary::default()
    );
    let verdicts = vec![
        Verdict::new("logs/a.json.gz", "valid"),
        Verdict {
            event_ids: vec!["i-2".to_owned()],
            ..Verdict::new("logs/b.json.gz", "modified")
        },
        Verdict::new("logs/digest.json.gz", "gap"),
    ];
    assert_eq!(store.record_integrity(verdicts).await.expect("record"), 2);
    let integrity = |entries: Vec<LedgerEntry>| -> Vec<(String, Option<String>)> {
        entries.into_iter().map(|e| (e.key, e.integrity)).collect()
    };
    assert_eq!(
        integrity(store.ledger(LedgerFilter::All).await.expect("ledger")),
        [
            ("logs/a.json.gz".to_owned(), Some("valid".to_owned())),
            ("logs/b.json.gz".to_owned(), Some("modified".to_owned())),
        ]
    );
    assert_eq!(
        store
            .ledger_entry("logs/digest.json.gz")
            .await
            .expect("entry"),
        None
    );
    // b is flagged, and its event marked; a's is not.
    let summary = store.integrity().await.expect("summary");
    assert_eq!(summary.last_recorded_files, 2);
    assert!(summary.last_recorded_at.is_some());
    let flagged = FlaggedFile {
        key: "logs/b.json.gz".to_owned(),
        status: "modified".to_owned(),
        events: 1,
    };
    assert_eq!(summary.flagged, std::slice::from_ref(&flagged));
    let marks = |ids: &[&str]| {
        let ids = ids.iter().map(|s| s.to_string()).collect();
        async move { store.integrity_marks(ids).await.expect("marks") }
    };
    assert_eq!(
        marks(&["i-1", "i-2", "i-9"]).await,
        HashMap::from([("i-2".to_owned(), "modified".to_owned())])
    );
    // A new version of b is loaded: its status is unknown again; its flag
    // stays until it is verified again (the event it brought stays too).
    let mut b2 = file(
        store,
        "logs/b.json.gz",
        vec![record("i-3", &t(5, "00:00:02"), "u", "s3", "CreateBucket")],
    );
    b2.entry.version = "v2".to_owned();
    store.load(vec![b2]).await.expect("load");
    let entry = store.ledger_entry("logs/b.json.gz").await.expect("entry");
    assert_eq!(entry.map(|e| e.integrity), Some(None));
    let entry = store.ledger_entry("logs/a.json.gz").await.expect("entry");
    assert_eq!(entry.and_then(|e| e.integrity).as_deref(), Some("valid"));
    assert_eq!(store.integrity().await.expect("summary").flagged, [flagged]);
    // Verified valid: the flag and the mark go.
    let verdicts = vec![Verdict::new("logs/b.json.gz", "valid")];
    assert_eq!(store.record_integrity(verdicts).await.expect("record"), 1);
    let summary = store.integrity().await.expect("summary");
    assert_eq!((summary.flagged.len(), summary.last_recorded_files), (0, 1));
    assert!(marks(&["i-2"]).await.is_empty());
}

pub async fn scopes_select_user_and_service(store: &dyn EventStore) {
    load_thirty(store).await;
    let mut q = march();
    q.scope = Scope::User("alucloud001".to_owned());
    assert_eq!(store.count(&q).await.expect("count"), 10);
    let page = store.events(&q, 100, None).await.expect("events");
    assert!(
        page.events
            .iter()
            .all(|e| e.user == "alucloud001" && e.user_identity_user_name == "alucloud001")
    );
    q.scope = Scope::Service("lambda".to_owned());
    assert_eq!(store.count(&q).await.expect("count"), 6);
    q.scope = Scope::Service("ec2".to_owned());
    assert_eq!(store.count(&q).await.expect("count"), 24);
    q.scope = Scope::User("nobody".to_owned());
    assert_eq!(store.count(&q).await.expect("count"), 0);
    assert!(
        store
            .events(&q, 10, None)
            .await
            .expect("events")
            .events
            .is_empty()
    );
}

pub async fn time_bounds_are_inclusive_to_the_second(store: &dyn EventStore) {
    load_thirty(store).await;
    // Day 2 holds events 3, 4, 5 at 10:00:00, 10:00:00 and 10:00:01.
    let q = EventQuery::between(at(&t(2, "10:00:00")), at(&t(2, "10:00:00")));
    assert_eq!(store.count(&q).await.expect("count"), 2);
    let q = EventQuery::between(at(&t(2, "10:00:00")), at(&t(2, "10:00:01")));
    assert_eq!(store.count(&q).await.expect("count"), 3);
    let q = EventQuery::between(at(&t(2, "10:00:02")), at(&t(3, "09:59:59")));
    assert_eq!(store.count(&q).await.expect("count"), 0);
    let q = EventQuery::between(at(&t(1, "00:00:00")), at(&t(3, "23:59:59")));
    assert_eq!(store.count(&q).await.expect("count"), 9);
}

pub async fn event_name_matches_exactly_or_by_prefix(store: &dyn EventStore) {
    load_thirty(store).await;
    let mut q = march();
    q.event_name = Some(NameMatch {
        name: "RunInstances".to_owned(),
        prefix: false,
    });
    assert_eq!(store.count(&q).await.expect("count"), 6);
    q.event_name = Some(NameMatch {
        name: "Run".to_owned(),
        prefix: true,
    });
    assert_eq!(store.count(&q).await.expect("count"), 12);
    q.event_name = Some(NameMatch {
        name: "Run".to_owned(),
        prefix: false,
    });
    assert_eq!(store.count(&q).await.expect("count"), 0);
    q.scope = Scope::User("alucloud000".to_owned());
    q.event_name = Some(NameMatch {
        name: "Run".to_owned(),
        prefix: true,
    });
    let ids = all_ids(store, &q, 3).await;
    assert_eq!(ids.len(), 4, "{ids:?}");
}

pub async fn params_match_columns_indexed_and_record_values(store: &dyn EventStore) {
    load_thirty(store).await;
    let count_with = |params: &[(&str, &str)]| {
        let mut q = march();
        q.params = params
            .iter()
            .map(|(n, v)| ParamFilter {
                name: (*n).to_owned(),
                value: (*v).to_owned(),
            })
            .collect();
        async move { store.count(&q).await.expect("count") }
    };
    assert_eq!(
        count_with(&[("awsRegion", "eu-west-1")]).await,
        10,
        "typed column"
    );
    assert_eq!(
        count_with(&[("userIdentity_userName", "alucloud002")]).await,
        10
    );
    assert_eq!(
        count_with(&[("instanceType", "t2.micro")]).await,
        30,
        "indexed, unprefixed"
    );
    assert_eq!(
        count_with(&[("requestParameters_instanceType", "m5.large")]).await,
        0
    );
    assert_eq!(
        count_with(&[("userIdentity_principalId", "AIDAalucloud000")]).await,
        10
    );
    assert_eq!(
        count_with(&[("functionName", "fn-id-07")]).await,
        1,
        "from the record"
    );
    assert_eq!(
        count_with(&[("requestParameters_dryRun", "false")]).await,
        30,
        "booleans as strings"
    );
    assert_eq!(
        count_with(&[("requestParameters_maxCount", "1")]).await,
        30,
        "numbers as strings"
    );
    assert_eq!(count_with(&[("readOnly", "true")]).await, 6);
    assert_eq!(count_with(&[("readOnly", "maybe")]).await, 0);
    assert_eq!(
        count_with(&[("awsRegion", "eu-west-1"), ("eventName", "RunInstances")]).await,
        2,
        "ANDed"
    );
    assert_eq!(count_with(&[("userAgent", "aws-cli/2.0 (x, y)")]).await, 30);
    assert_eq!(
        count_with(&[("credentials_sessionToken", "SECRET-TOKEN")]).await,
        0,
        "secrets are gone"
    );
    assert_eq!(count_with(&[("noSuchParameter", "x")]).await, 0);
}

/// SPEC §5 (`param=`): a typed attribute's filter matches exactly the
/// events whose value it is, whatever form a store keeps the value in —
/// here an eventID as 16 bytes or as text, a role that is its user's name,
/// an account kept once, a recipient that is the caller's own account.
pub async fn every_typed_attribute_filters_on_its_value(store: &dyn EventStore) {
    let identities = [
        json!({"type": "IAMUser", "userName": "alice", "accountId": "111122223333",
               "principalId": "AIDAALICE"}),
        json!({"type": "AssumedRole", "accountId": "111122223333", "principalId": "AROA:deploy",
               "arn": "arn:aws:sts::111122223333:assumed-role/deploy/deploy",
               "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "deploy",
                   "arn": "arn:aws:iam::111122223333:role/deploy"}}}),
        json!({"type": "AssumedRole", "accountId": "444455556666", "principalId": "AROA:bob",
               "arn": "arn:aws:sts::444455556666:assumed-role/admin/bob",
               "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "admin",
                   "arn": "arn:aws:iam::444455556666:role/admin"}}}),
        json!({"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}),
    ];
    let ids = [
        "5e9dcf75-7157-4e5e-9d6d-98e2e2701c0e",
        "not-a-uuid-01",
        "5E9DCF75-7157-4E5E-9D6D-98E2E2701C0F",
        "2c16c689-6ab2-4e45-9d6d-8720355bbe78",
        "id-04",
        "6d2e0f4c-1a2b-4c3d-8e9f-0a1b2c3d4e5f",
        "id-06",
        "7f3e2100-aaaa-4bbb-8ccc-ddddeeeeffff",
    ];
    let mut records = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let mut r = record(
            id,
            &t(2, &format!("10:00:{i:02}")),
            "x",
            "ec2",
            "RunInstances",
        );
        r["userIdentity"] = identities[i % identities.len()].clone();
        // The recipient: the caller's own account, another one, and none.
        match i % 3 {
            0 => {}
            1 => r["recipientAccountId"] = json!("999988887777"),
            _ => {
                r.as_object_mut()
                    .expect("object")
                    .remove("recipientAccountId");
            }
        }
        if i % 4 == 3 {
            r["errorCode"] = json!("AccessDenied");
            r["errorMessage"] = json!("not allowed");
            r["sourceIPAddress"] = json!("ec2.amazonaws.com");
        }
        records.push(r);
    }
    let events: Vec<_> = records
        .iter()
        .map(|r| normalise(r.clone()).expect("a valid record"))
        .collect();
    store
        .load(vec![file(store, "typed.json.gz", records)])
        .await
        .expect("load");
    for attribute in &ctt_core::TYPED_ATTRIBUTES {
        let mut values: Vec<String> = events
            .iter()
            .filter_map(|e| match e.typed(attribute)? {
                ctt_core::TypedValue::Text(s) => Some(s.to_owned()),
                ctt_core::TypedValue::Bool(b) => Some(b.to_string()),
            })
            .collect();
        values.sort();
        values.dedup();
        values.push("no such value".to_owned());
        for value in values {
            let expected = events
                .iter()
                .filter(|e| match e.typed(attribute) {
                    Some(ctt_core::TypedValue::Text(s)) => s == value,
                    Some(ctt_core::TypedValue::Bool(b)) => b.to_string() == value,
                    None => false,
                })
                .count() as u64;
            for param in attribute.params {
                let mut q = march();
                q.params = vec![ParamFilter {
                    name: (*param).to_owned(),
                    value: value.clone(),
                }];
                let count = store.count(&q).await.expect("count");
                assert_eq!(count, expected, "{param}={value}: count");
                let page = store.events(&q, 100, None).await.expect("events");
                assert_eq!(page.events.len() as u64, expected, "{param}={value}: page");
            }
        }
    }
}

pub async fn only_user_hides_other_users(store: &dyn EventStore) {
    load_thirty(store).await;
    let mut q = march();
    q.only_user = Some("alucloud002".to_owned());
    assert_eq!(store.count(&q).await.expect("count"), 10);
    q.scope = Scope::User("alucloud001".to_owned());
    assert_eq!(store.count(&q).await.expect("count"), 0);
    let mut q = march();
    q.only_user = Some("alucloud002".to_owned());
    let stats = store.stats(&q, GroupBy::User, 100).await.expect("stats");
    assert_eq!(stats.len(), 1);
    assert_eq!(stats[0].key, "alucloud002");
}

pub async fn stats_group_and_count(store: &dyn EventStore) {
    load_thirty(store).await;
    let by_service = store
        .stats(&march(), GroupBy::Service, 100)
        .await
        .expect("stats");
    let pairs: Vec<_> = by_service
        .iter()
        .map(|g| (g.key.as_str(), g.count))
        .collect();
    assert_eq!(pairs, [("ec2", 24), ("lambda", 6)]);
    let by_day = store
        .stats(&march(), GroupBy::Day, 100)
        .await
        .expect("stats");
    assert_eq!(by_day.len(), 10);
    assert_eq!(by_day[0].key, "2018-03-01T00:00:00Z");
    assert!(by_day.iter().all(|g| g.count == 3));
    let by_hour = store
        .stats(&march(), GroupBy::Hour, 100)
        .await
        .expect("stats");
    assert_eq!(by_hour[0].key, "2018-03-01T10:00:00Z");
    let by_name = store
        .stats(&march(), GroupBy::EventName, 2)
        .await
        .expect("stats");
    assert_eq!(by_name.len(), 2, "limit applies");
    let total: u64 = store
        .stats(&march(), GroupBy::AwsRegion, 100)
        .await
        .expect("stats")
        .iter()
        .map(|g| g.count)
        .sum();
    assert_eq!(total, 30);
}

pub async fn catalog_lists_users_services_and_parameters(store: &dyn EventStore) {
    load_thirty(store).await;
    let users = store.users().await.expect("users");
    let names: Vec<_> = users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["alucloud000", "alucloud001", "alucloud002"]);
    assert!(users.iter().all(|u| u.events == 10));
    assert_eq!(users[0].first_seen, at(&t(1, "10:00:00")));
    let services: Vec<_> = store
        .services()
        .await
        .expect("services")
        .into_iter()
        .map(|s| (s.name, s.events))
        .collect();
    assert_eq!(services, [("ec2".to_owned(), 24), ("lambda".to_owned(), 6)]);
    let params = store.parameters().await.expect("parameters");
    for expected in [
        "requestParameters_instanceType",
        "userIdentity_userName",
        "awsRegion",
        "eventName",
    ] {
        assert!(
            params.iter().any(|p| p == expected),
            "{expected} in {params:?}"
        );
    }
    let mut sorted = params.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(params, sorted);
}

pub async fn event_detail_returns_the_redacted_record(store: &dyn EventStore) {
    load_thirty(store).await;
    let detail = store.event("id-07").await.expect("event").expect("stored");
    assert_eq!(detail.summary.event_id, "id-07");
    assert_eq!(
        detail.record["requestParameters"]["functionName"],
        "fn-id-07"
    );
    assert_eq!(
        detail.record["responseElements"]["credentials"]["sessionToken"],
        "REDACTED"
    );
    assert!(!detail.record.to_string().contains("SECRET"));
    assert_eq!(store.event("nope").await.expect("event"), None);
}

pub async fn status_reports_totals(store: &dyn EventStore) {
    let empty = store.status().await.expect("status");
    assert_eq!((empty.events, empty.files_loaded), (0, 0));
    load_thirty(store).await;
    let status = store.status().await.expect("status");
    assert_eq!(status.events, 30);
    assert_eq!(status.files_loaded, 2);
    assert_eq!(status.last_file.as_deref(), Some("b.json.gz"));
    assert_eq!(status.last_event_time, Some(at(&t(10, "10:00:01"))));

    // A failed file counts as failed; read again successfully, it moves to loaded.
    let mut bad = file(store, "c.json.gz", Vec::new());
    bad.entry.outcome = FileOutcome::Failed;
    bad.entry.reason = Some("corrupt gzip".to_owned());
    store.load(vec![bad]).await.expect("load failed");
    let status = store.status().await.expect("status");
    assert_eq!((status.files_loaded, status.files_failed), (2, 1));
    let good = file(
        store,
        "c.json.gz",
        vec![record(
            "id-c",
            &t(11, "09:00:00"),
            "alucloud007",
            "s3",
            "ListBuckets",
        )],
    );
    store.load(vec![good]).await.expect("load again");
    let status = store.status().await.expect("status");
    assert_eq!((status.files_loaded, status.files_failed), (3, 0));
    assert_eq!(status.events, 31);
    assert_eq!(status.last_event_time, Some(at(&t(11, "09:00:00"))));
}

/// Asks `store` for one page as [`EventPage`] and in each [`PageLayout`],
/// checks that each is what serialising the page writes (its events' JSON,
/// or their rows through [`ctt_core::write_csv_row`]), byte for byte, with
/// the same event count and cursor, and returns the page.
pub async fn written_pages_match_the_page(
    store: &dyn EventStore,
    query: &EventQuery,
    limit: u32,
    cursor: Option<&Cursor>,
) -> crate::EventPage {
    let page = store.events(query, limit, cursor).await.expect("page");
    let mut lines = Vec::new();
    for event in &page.events {
        serde_json::to_writer(&mut lines, event).expect("serialise");
        lines.push(b'\n');
    }
    let array = serde_json::to_vec(&page.events).expect("serialise");
    let mut csv = Vec::new();
    let mut writer = ctt_core::csv_writer(&mut csv);
    for event in &page.events {
        ctt_core::write_csv_row(&mut writer, event.row()).expect("CSV");
    }
    writer.flush().expect("CSV");
    drop(writer);
    for (layout, expected) in [
        (PageLayout::Lines, lines),
        (PageLayout::Array, array),
        (PageLayout::Csv, csv),
    ] {
        let written = store
            .events_written(query, limit, cursor, layout)
            .await
            .expect("written page");
        assert_eq!(
            String::from_utf8_lossy(&written.bytes),
            String::from_utf8_lossy(&expected),
            "{layout:?} {query:?} limit {limit} after {cursor:?}"
        );
        assert_eq!(
            (written.events, &written.next),
            (page.events.len(), &page.next)
        );
    }
    page
}

/// `events_written` writes what serialising `events` writes, byte for byte, with
/// the same cursor — including strings an attacker chose (a CSV formula, a
/// quote, newlines) and absent fields.
pub async fn written_pages_serialise_the_pages(store: &dyn EventStore) {
    load_thirty(store).await;
    let mut odd = record(
        "id-odd",
        &t(5, "10:00:00"),
        "alucloud001",
        "ec2",
        "RunInstances",
    );
    odd["userAgent"] = json!("say \"hi\"\n</script><script>alert(1)</script> \u{e9}\u{1F600}\\");
    odd["userIdentity"]["userName"] = json!("=HYPERLINK(\"http://evil\",\"x\")");
    odd["errorCode"] = json!("Client.Unauthorized");
    odd["errorMessage"] = json!("line1\r\nline2\ttab \u{0007}");
    if let Some(o) = odd.as_object_mut() {
        o.remove("awsRegion");
        o.remove("readOnly");
        o.remove("eventType");
    }
    store
        .load(vec![file(store, "odd.json.gz", vec![odd])])
        .await
        .expect("load");
    let mut by_user = march();
    by_user.scope = Scope::User("alucloud001".into());
    for (query, limit) in [(march(), 7), (march(), 1000), (by_user, 3)] {
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let page = written_pages_match_the_page(store, &query, limit, cursor.as_ref()).await;
            pages += 1;
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert!(pages >= 1);
    }
    let mut nobody = march();
    nobody.scope = Scope::User("nobody".into());
    for (layout, empty) in [
        (PageLayout::Array, "[]"),
        (PageLayout::Lines, ""),
        (PageLayout::Csv, ""),
    ] {
        let page = store
            .events_written(&nobody, 10, None, layout)
            .await
            .expect("empty page");
        assert_eq!(String::from_utf8_lossy(&page.bytes), empty);
        assert_eq!((page.events, page.next), (0, None));
    }
}

/// One stored event of [`counts_are_exact_across_hours_edges_and_reloads`]:
/// `(seconds, user, service)`.
type Truth = std::collections::BTreeMap<String, (i64, String, String)>;

/// The records of that check: 60 events over five hours of 5 March 2018 and
/// the first half hour of the 6th, some on the hours' first and last seconds;
/// three users, two services.
fn hourly_records() -> Vec<(String, i64, String, String)> {
    let base = ctt_core::time::to_seconds(at(&t(5, "09:00:00")));
    let mut events: Vec<(String, i64, String, String)> = (0..60i64)
        .map(|i| {
            let offset = match i {
                0 => 3600,                             // 10:00:00, an hour's first second
                1 => 2 * 3600 - 1,                     // 10:59:59, its last
                2 => 3 * 3600,                         // 12:00:00
                50..=59 => 15 * 3600 + (i - 50) * 180, // 6 March, 00:00 to 00:27
                _ => (i * 797) % (5 * 3600),
            };
            let user = format!("alucloud{:03}", i % 3);
            let service = if i % 4 == 0 { "s3" } else { "ec2" };
            (format!("h-{i:02}"), base + offset, user, service.to_owned())
        })
        .collect();
    events.sort();
    events
}

fn hourly_file(
    store: &dyn EventStore,
    key: &str,
    events: &[(String, i64, String, String)],
) -> LoadedFile {
    let records = events
        .iter()
        .map(|(id, seconds, user, service)| {
            let time = ctt_core::time::format_event_time(ctt_core::time::from_seconds(*seconds));
            record(id, &time, user, service, "CreateThing")
        })
        .collect();
    file(store, key, records)
}

/// SPEC §8 ("counts are exact"): counts — which stores may answer from hourly
/// counters, reading events only at a window's partial-hour edges — equal
/// counting the distinct events, for windows with partial hours at both ends,
/// whole hours and single seconds, over everyone, a user, a service and a
/// `self` user; after events came in several batches, a file re-loaded, one
/// re-delivered under another key and the same event twice in one batch. And
/// `/stats` by hour and by day agrees with them.
pub async fn counts_are_exact_across_hours_edges_and_reloads(store: &dyn EventStore) {
    let events = hourly_records();
    let mut truth = Truth::new();
    let mut load = |files: Vec<LoadedFile>, new: &[(String, i64, String, String)]| {
        for (id, seconds, user, service) in new {
            truth.insert(id.clone(), (*seconds, user.clone(), service.clone()));
        }
        async move { store.load(files).await.expect("load") }
    };
    load(
        vec![
            hourly_file(store, "h/a.json.gz", &events[..20]),
            hourly_file(store, "h/b.json.gz", &events[20..35]),
        ],
        &events[..35],
    )
    .await;
    // A trail re-delivering events under another key, with two that file c of
    // the same batch brings too (the first file of a batch has them).
    let counts = load(
        vec![
            hourly_file(store, "h/c.json.gz", &events[35..50]),
            hourly_file(store, "h/d.json.gz", &events[10..37]),
        ],
        &events[35..50],
    )
    .await;
    assert_eq!((counts[1].stored, counts[1].duplicate), (0, 27));
    // The same file loaded again, and the same events in two files of one batch.
    let counts = load(
        vec![
            hourly_file(store, "h/a.json.gz", &events[..20]),
            hourly_file(store, "h/e.json.gz", &events[50..]),
            hourly_file(store, "h/f.json.gz", &events[55..]),
        ],
        &events[50..],
    )
    .await;
    assert_eq!(
        counts.iter().map(|c| c.stored).sum::<u64>(),
        10,
        "{counts:?}"
    );
    assert_eq!(truth.len(), 60);

    let day5 = |hms: &str| ctt_core::time::to_seconds(at(&t(5, hms)));
    let windows = [
        (day5("09:17:05"), day5("12:42:10")),
        (day5("10:00:00"), day5("11:59:59")),
        (day5("10:00:00"), day5("10:59:59")),
        (day5("10:59:59"), day5("12:00:00")),
        (day5("09:30:00"), day5("09:40:00")),
        (day5("12:00:00"), day5("12:00:00")),
        (day5("11:00:01"), day5("13:59:58")),
        (day5("00:00:00"), day5("23:59:59") + 86_400),
        (day5("08:00:00"), day5("13:00:00")),
    ];
    let scopes = [
        (Scope::All, None),
        (Scope::User("alucloud001".to_owned()), None),
        (Scope::Service("s3".to_owned()), None),
        (Scope::All, Some("alucloud002".to_owned())),
    ];
    let matches = |scope: &Scope, only: &Option<String>, user: &str, service: &str| {
        only.as_deref().is_none_or(|o| o == user)
            && match scope {
                Scope::All => true,
                Scope::User(u) => u == user,
                Scope::Service(s) => s == service,
            }
    };
    let mut nonzero = 0;
    for (from, to) in windows {
        for (scope, only) in &scopes {
            let mut q = EventQuery::between(
                ctt_core::time::from_seconds(from),
                ctt_core::time::from_seconds(to),
            );
            q.scope = scope.clone();
            q.only_user = only.clone();
            let expected = truth
                .values()
                .filter(|(s, user, service)| {
                    from <= *s && *s <= to && matches(scope, only, user, service)
                })
                .count() as u64;
            nonzero += u64::from(expected > 0);
            assert_eq!(
                store.count(&q).await.expect("count"),
                expected,
                "{from}..={to} {scope:?} {only:?}"
            );
        }
    }
    assert!(nonzero >= 25, "most windows hold events ({nonzero})");

    // `/stats` by hour and by day: the same events, grouped.
    for (scope, only) in &scopes[..2] {
        let (from, to) = (day5("09:17:05"), day5("00:20:00") + 86_400);
        let mut q = EventQuery::between(
            ctt_core::time::from_seconds(from),
            ctt_core::time::from_seconds(to),
        );
        q.scope = scope.clone();
        q.only_user = only.clone();
        for (group_by, bucket) in [(GroupBy::Hour, 3600), (GroupBy::Day, 86_400)] {
            let mut expected = std::collections::BTreeMap::<String, u64>::new();
            for (s, user, service) in truth.values() {
                if from <= *s && *s <= to && matches(scope, only, user, service) {
                    let key = ctt_core::time::format_event_time(ctt_core::time::from_seconds(
                        s - s.rem_euclid(bucket),
                    ));
                    *expected.entry(key).or_default() += 1;
                }
            }
            let stats = store.stats(&q, group_by, 1000).await.expect("stats");
            let got: Vec<(String, u64)> = stats.into_iter().map(|g| (g.key, g.count)).collect();
            let expected: Vec<(String, u64)> = expected.into_iter().collect();
            assert_eq!(got, expected, "{group_by:?} {scope:?}");
            let total: u64 = got.iter().map(|(_, n)| n).sum();
            assert_eq!(store.count(&q).await.expect("count"), total, "{group_by:?}");
        }
    }
}

const CONFORMANCE_COURSE: &str = r#"
id = "conf"
name = "Conformance"
from = "2018-03-01"
to = "2018-03-31"
students = "^alucloud00[0-9]$"

[[lab]]
id = "ec2"
from = "2018-03-01"
to = "2018-03-05"
requires = [{ event = "ec2:RunInstances", count = 2 }, { event = "TerminateInstances" }]

[[lab]]
id = "lambda"
requires = [{ event = "lambda:CreateFunction", count = 2 }, { event = "ec2:RunInstances" }]
"#;

/// SPEC §10: a course is stored, replaced by id, listed, removed; its
/// candidate events come back (of everyone, or of one user) so that scoring
/// gives the hand-computed answers, the same on every store.
pub async fn courses_are_kept_replaced_and_scored_alike(store: &dyn EventStore) {
    use ctt_core::course::{Course, Hundredths, Status, class_progress, score};

    let stored = |source: &str, day: &str| crate::StoredCourse {
        id: "conf".to_owned(),
        source: source.to_owned(),
        added_at: at(&format!("2018-04-{day}T00:00:00Z")),
    };
    assert!(store.courses().await.expect("courses").is_empty());
    assert_eq!(store.course("conf").await.expect("course"), None);
    store.put_course(stored("first", "01")).await.expect("put");
    store
        .put_course(stored(CONFORMANCE_COURSE, "02"))
        .await
        .expect("replace");
    let mut other = stored("other", "03");
    other.id = "another".to_owned();
    store.put_course(other).await.expect("put another");
    let ids: Vec<String> = store
        .courses()
        .await
        .expect("courses")
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, ["another", "conf"], "by id");
    let kept = store.course("conf").await.expect("course").expect("stored");
    assert_eq!(kept, stored(CONFORMANCE_COURSE, "02"), "replaced whole");
    assert!(store.remove_course("another").await.expect("rm"));
    assert!(!store.remove_course("another").await.expect("rm again"));
    assert_eq!(store.courses().await.expect("courses").len(), 1);

    let failed = |mut r: Value| {
        r["errorCode"] = json!("Client.UnauthorizedOperation");
        r
    };
    let (a, b, c) = ("alucloud000", "alucloud001", "alucloud002");
    let records = vec![
        record("a1", &t(1, "10:00:00"), a, "ec2", "RunInstances"),
        record("b1", &t(1, "10:00:00"), b, "ec2", "RunInstances"),
        record("a2", &t(2, "10:00:00"), a, "ec2", "RunInstances"),
        record("a0", &t(2, "11:00:00"), a, "ec2", "RunScheduledInstances"),
        record("a3", &t(3, "10:00:00"), a, "ec2", "RunInstances"),
        failed(record(
            "a4",
            &t(4, "10:00:00"),
            a,
            "ec2",
            "TerminateInstances",
        )),
        record("a5", &t(6, "10:00:00"), a, "ec2", "TerminateInstances"),
        record(
            "a6",
            &t(7, "10:00:00"),
            a,
            "lambda",
            "CreateFunction20150331",
        ),
        record(
            "a7",
            &t(8, "10:00:00"),
            a,
            "lambda",
            "CreateFunction20150331v2",
        ),
        record(
            "a8",
            &t(8, "11:00:00"),
            a,
            "lambda",
            "CreateFunctionUrlConfig",
        ),
        record("c1", &t(2, "10:00:00"), c, "ec2", "DescribeInstances"),
        record("x1", &t(2, "10:00:00"), "teacher", "ec2", "RunInstances"),
        record("z1", &t(30, "10:00:00"), a, "ec2", "RunInstances"), // in the course window, after the EC2 lab
        record("z2", "2018-04-02T10:00:00Z", a, "ec2", "RunInstances"), // after the course
    ];
    let (first, second) = records.split_at(7);
    store
        .load(vec![file(store, "c1.json.gz", first.to_vec())])
        .await
        .expect("load");
    store
        .load(vec![file(store, "c2.json.gz", second.to_vec())])
        .await
        .expect("load");

    let course = Course::parse(CONFORMANCE_COURSE).expect("the conformance course");
    let seen: Vec<String> = store
        .users()
        .await
        .expect("users")
        .into_iter()
        .map(|u| u.name)
        .collect();
    let class = course.students.class(seen.iter().map(String::as_str));
    assert_eq!(
        class,
        [a, b, c],
        "the regex picks the students among the users seen"
    );

    let all = store
        .course_hits(&course.candidates(course.window, None))
        .await
        .expect("hits");
    let mut ids: Vec<&str> = all.iter().map(|h| h.event_id.as_str()).collect();
    ids.sort_unstable();
    assert!(
        !ids.contains(&"c1") && !ids.contains(&"z2"),
        "not a candidate: {ids:?}"
    );
    for id in ["a1", "a2", "a3", "a4", "a5", "a6", "a7", "b1", "x1", "z1"] {
        assert!(ids.contains(&id), "{id} is a candidate: {ids:?}");
    }
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(unique, ids, "each event once");
    let failed_hit = all.iter().find(|h| h.event_id == "a4").map(|h| h.failed);
    assert_eq!(failed_hit, Some(true), "errorCode marks a failed call");
    assert!(
        all.iter()
            .any(|h| h.event_id == "a1" && h.time == at(&t(1, "10:00:00")).timestamp())
    );

    let progress = class_progress(&course, &course.window, &class, &all);
    let row = |user: &str| {
        progress
            .students
            .iter()
            .find(|s| s.student == user)
            .cloned()
            .expect("a row")
    };
    let credited = |user: &str| -> Vec<Vec<String>> {
        row(user)
            .labs
            .iter()
            .map(|l| {
                l.requirements
                    .iter()
                    .flat_map(|r| r.events.iter().map(|e| e.event_id.clone()))
                    .collect()
            })
            .collect()
    };
    // a: ec2 2 of 3 (a4 failed, a5 after the lab) = 66.67; lambda 3 of 3.
    assert_eq!(credited(a), [vec!["a1", "a2"], vec!["a6", "a7", "a3"]]);
    assert_eq!(row(a).labs[0].progress, Hundredths(6667));
    assert_eq!(
        (row(a).completion, row(a).grade),
        (Hundredths(8333), Hundredths(500))
    );
    assert_eq!(row(a).status, Status::InProgress);
    assert_eq!(credited(b), [vec!["b1"], vec![]]);
    assert_eq!(row(b).completion, Hundredths(1667));
    assert_eq!(row(c).status, Status::NotStarted);
    assert_eq!(progress.stuck.as_deref(), Some("ec2"));

    // One student's page reads only their events, and scores the same.
    let own = store
        .course_hits(&course.candidates(course.window, Some(a)))
        .await
        .expect("hits");
    assert!(
        own.iter().all(|h| &*h.user == a),
        "only the student's events"
    );
    assert_eq!(score(&course, &course.window, a, &own), row(a));
}

/// An alert of `rule` (at `level`) on the record `(id, time, user)`.
fn alert(rule: &str, level: &str, id: &str, time: &str, user: &str) -> Alert {
    Alert {
        id: Alert::key(rule, id),
        rule_id: rule.to_owned(),
        title: format!("rule {rule}"),
        level: level.to_owned(),
        tags: vec!["attack.t1078".to_owned()],
        event_id: id.to_owned(),
        event_time: at(time),
        user: user.to_owned(),
        service: "iam".to_owned(),
        event_name: "CreateUser".to_owned(),
        record: json!({"eventID": id, "requestParameters": {"password": "REDACTED"}}).into(),
        baseline: None,
    }
}

/// SPEC §12: an alert is stored once per (rule, eventID) whatever the
/// re-runs and re-deliveries, with the file that brought its record (even a
/// record not stored as an event); listed by time, then eventID, then rule,
/// filtered by time, rule, level and user, paged by cursor; read by id.
pub async fn alerts_are_stored_once_and_listed_in_order(store: &dyn EventStore) {
    let mut a = file(
        store,
        "logs/a.json.gz",
        vec![
            record("e-2", &t(5, "10:00:00"), "alice", "iam", "CreateUser"),
            record("e-1", &t(5, "10:00:00"), "bob", "iam", "CreateUser"),
        ],
    );
    a.alerts = vec![
        alert("r-b", "high", "e-2", &t(5, "10:00:00"), "alice"),
        alert("r-a", "medium", "e-2", &t(5, "10:00:00"), "alice"),
        alert("r-a", "medium", "e-1", &t(5, "10:00:00"), "bob"),
    ];
    // As a load makes them: an alert on a stored event has its record.
    for alert in &mut a.alerts {
        let event = a.events.iter().find(|e| e.event.event_id == alert.event_id);
        alert.record = RecordJson::new(event.expect("stored").record_json());
    }
    store.load(vec![a.clone()]).await.expect("load");
    // Loaded again (a re-run), and re-delivered under another key with an
    // alert on a record that is not an event (a read, filtered out).
    let mut again = a.clone();
    again.entry.version = "v2".to_owned();
    let mut b = file(store, "logs/b.json.gz", vec![]);
    b.alerts = vec![
        alert("r-a", "medium", "e-1", &t(5, "10:00:00"), "bob"),
        alert("r-c", "low", "read-9", &t(6, "08:00:00"), "alice"),
    ];
    store.load(vec![again, b]).await.expect("load");

    let all = AlertQuery {
        limit: 100,
        ..AlertQuery::default()
    };
    let ids = |alerts: Vec<Alert>| alerts.into_iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.alerts(&all).await.expect("alerts")),
        ["r-a:e-1", "r-a:e-2", "r-b:e-2", "r-c:read-9"]
    );
    let with = |query: AlertQuery| async move { ids(store.alerts(&query).await.expect("alerts")) };
    assert_eq!(
        with(AlertQuery {
            rule: Some("r-a".into()),
            ..all.clone()
        })
        .await,
        ["r-a:e-1", "r-a:e-2"]
    );
    assert_eq!(
        with(AlertQuery {
            user: Some("alice".into()),
            ..all.clone()
        })
        .await,
        ["r-a:e-2", "r-b:e-2", "r-c:read-9"]
    );
    assert_eq!(
        with(AlertQuery {
            min_level: Some("high".into()),
            ..all.clone()
        })
        .await,
        ["r-b:e-2"]
    );
    assert_eq!(
        with(AlertQuery {
            from: Some(at(&t(6, "00:00:00"))),
            ..all.clone()
        })
        .await,
        ["r-c:read-9"]
    );
    assert_eq!(
        with(AlertQuery {
            to: Some(at(&t(5, "10:00:00"))),
            ..all.clone()
        })
        .await,
        ["r-a:e-1", "r-a:e-2", "r-b:e-2"]
    );
    // Pages: two, then the rest after the second's cursor.
    let first = store
        .alerts(&AlertQuery {
            limit: 2,
            ..all.clone()
        })
        .await
        .expect("alerts");
    let last = first.last().expect("two");
    let after = (
        last.event_time.timestamp(),
        last.event_id.clone(),
        last.rule_id.clone(),
    );
    assert_eq!(
        with(AlertQuery {
            after: Some(after),
            ..all.clone()
        })
        .await,
        ["r-b:e-2", "r-c:read-9"]
    );
    // Counts: all, and as filtered.
    assert_eq!(store.count_alerts(&all).await.expect("count"), 4);
    let high = AlertQuery {
        min_level: Some("medium".into()),
        user: Some("alice".into()),
        ..all.clone()
    };
    assert_eq!(store.count_alerts(&high).await.expect("count"), 2);
    // One alert, whole.
    let one = store
        .alert("r-c:read-9")
        .await
        .expect("alert")
        .expect("stored");
    assert_eq!(
        one,
        alert("r-c", "low", "read-9", &t(6, "08:00:00"), "alice")
    );
    assert_eq!(store.alert("r-c:nothing").await.expect("alert"), None);
    // An alert on a stored event: the event's record, redacted.
    let on_event = store
        .alert("r-b:e-2")
        .await
        .expect("alert")
        .expect("stored");
    let record: Value = serde_json::from_str(on_event.record.get()).expect("JSON");
    assert_eq!(record["requestParameters"]["functionName"], "fn-e-2");
    assert!(!on_event.record.get().contains("SECRET"));
}

/// `record` with its `responseElements` (or, for `errorCode`, a failure).
fn with(mut record: Value, field: &str, value: Value) -> Value {
    record[field] = value;
    record
}

fn instances(ids: &[&str]) -> Value {
    let items: Vec<Value> = ids.iter().map(|id| json!({"instanceId": id})).collect();
    json!({"instancesSet": {"items": items}})
}

/// SPEC §11: the touches the writer keeps fold to the same resources in
/// both stores, whatever order files arrive in, however often; a failed
/// call and a read touch nothing; a resource deleted whose creation
/// predates the history has no owner; a user's touches include what
/// someone else created and they deleted.
pub async fn resources_fold_alike_whatever_the_order(store: &dyn EventStore) {
    use crate::resources::{ResourceFilter, StateFilter, select};
    use ctt_core::resources::{PriceTable, State};

    let run = with(
        record("e-run", &t(5, "10:00:00"), "alice", "ec2", "RunInstances"),
        "responseElements",
        instances(&["i-1", "i-2"]),
    );
    let stop = with(
        record("e-stop", &t(5, "11:00:00"), "alice", "ec2", "StopInstances"),
        "responseElements",
        instances(&["i-2"]),
    );
    let terminate = with(
        record(
            "e-term",
            &t(5, "12:00:00"),
            "bob",
            "ec2",
            "TerminateInstances",
        ),
        "responseElements",
        instances(&["i-1"]),
    );
    let old = with(
        record(
            "e-old",
            &t(6, "09:00:00"),
            "carol",
            "ec2",
            "TerminateInstances",
        ),
        "responseElements",
        instances(&["i-old"]),
    );
    let failed = with(
        with(
            record("e-fail", &t(6, "10:00:00"), "bob", "ec2", "RunInstances"),
            "responseElements",
            instances(&["i-never"]),
        ),
        "errorCode",
        json!("Client.InstanceLimitExceeded"),
    );
    let read = record(
        "e-read",
        &t(6, "11:00:00"),
        "bob",
        "ec2",
        "DescribeInstances",
    );
    // The later file first, then the earlier one twice (a re-run).
    let late = file(
        store,
        "logs/late.json.gz",
        vec![terminate, old, failed, read],
    );
    let early = file(store, "logs/early.json.gz", vec![run, stop]);
    store.load(vec![late]).await.expect("load");
    store.load(vec![early.clone()]).await.expect("load");
    let mut again = early;
    again.entry.version = "v2".to_owned();
    store.load(vec![again]).await.expect("load");

    let filter = ResourceFilter {
        user: None,
        state: None,
        kind: None,
        at: at(&t(7, "00:00:00")),
    };
    let prices = PriceTable::builtin();
    let all = select(
        store.resource_touches(None).await.expect("touches"),
        &filter,
        &prices,
    );
    // (id, state, owner, deleted by, running seconds)
    type Folded<'a> = (&'a str, State, Option<&'a str>, Option<&'a str>, i64);
    let summary: Vec<Folded<'_>> = all
        .iter()
        .map(|r| {
            (
                r.id.as_str(),
                r.life.state,
                r.life.owner.as_deref(),
                r.life.deleted_by.as_deref(),
                r.life.running_seconds,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("i-1", State::Deleted, Some("alice"), Some("bob"), 7_200),
            ("i-2", State::Stopped, Some("alice"), None, 3_600),
            ("i-old", State::Deleted, None, Some("carol"), 0),
        ]
    );
    assert!(all.iter().all(|r| r.kind == "ec2:instance"
        && r.account == "111122223333"
        && r.region == "us-east-1"));
    assert_eq!(all[0].life.size.as_deref(), Some("t2.micro"));
    // Each touch once, through the re-run.
    let touches = store.resource_touches(None).await.expect("touches");
    let counts: Vec<usize> = touches.iter().map(|r| r.touches.len()).collect();
    assert_eq!(counts, [2, 2, 1]);

    // Bob's touches: what he deleted, with its whole history.
    let bobs = store.resource_touches(Some("bob")).await.expect("touches");
    assert_eq!(bobs.len(), 1);
    assert_eq!(bobs[0].id, "i-1");
    assert_eq!(bobs[0].touches.len(), 2);
    assert!(
        store
            .resource_touches(Some("nobody"))
            .await
            .expect("touches")
            .is_empty()
    );
    // What alice left open, by the filters both stores share.
    let open: Vec<String> = select(
        store
            .resource_touches(Some("alice"))
            .await
            .expect("touches"),
        &ResourceFilter {
            user: Some("alice".into()),
            state: Some(StateFilter::Open),
            ..filter.clone()
        },
        &prices,
    )
    .into_iter()
    .map(|r| r.id)
    .collect();
    assert_eq!(open, ["i-2"]);

    // Pages of `resources` are the fold of the touches — at any time (before
    // a resource existed, between its changes, after them), with any filter,
    // from any cursor (SQLite reads the states its writer keeps).
    use crate::resources::{ResourceQuery, fold_page};
    for when in [t(5, "10:30:00"), t(5, "11:30:00"), t(7, "00:00:00")] {
        for state in [
            None,
            Some(StateFilter::Open),
            Some(StateFilter::Is(State::Deleted)),
        ] {
            for kind in [None, Some("ec2:instance"), Some("s3:bucket")] {
                for user in [None, Some("alice"), Some("bob")] {
                    let filter = ResourceFilter {
                        user: user.map(str::to_owned),
                        state,
                        kind: kind.map(str::to_owned),
                        at: at(&when),
                    };
                    let touches = store.resource_touches(user).await.expect("touches");
                    let expected = fold_page(touches, &ResourceQuery::all(filter.clone()));
                    let whole = store
                        .resources(&ResourceQuery::all(filter.clone()))
                        .await
                        .expect("resources");
                    assert_eq!(whole, expected, "{filter:?}");
                    let mut paged = Vec::new();
                    let mut after = None;
                    loop {
                        let query = ResourceQuery {
                            filter: filter.clone(),
                            after: after.clone(),
                            limit: 1,
                        };
                        let page = store.resources(&query).await.expect("a page");
                        let Some(last) = page.last() else { break };
                        after = Some(last.key());
                        paged.extend(page);
                    }
                    assert_eq!(paged, expected, "one at a time: {filter:?}");
                }
            }
        }
    }
    let early = ResourceFilter {
        at: at(&t(5, "10:30:00")),
        ..filter.clone()
    };
    let running: Vec<(String, State, i64)> = store
        .resources(&ResourceQuery::all(early))
        .await
        .expect("resources")
        .into_iter()
        .map(|r| (r.id, r.life.state, r.life.running_seconds))
        .collect();
    assert_eq!(
        running,
        [
            ("i-1".to_owned(), State::Running, 1_800),
            ("i-2".to_owned(), State::Running, 1_800)
        ],
        "as they stood at 10:30"
    );
    // The dashboard's "left running": by type and size, the same as
    // grouping the resources themselves — after every change (from the
    // states on SQLite) and at a past time some resources changed after
    // (from the touches).
    let later = with(
        record("e-run-3", &t(7, "01:00:00"), "carol", "ec2", "RunInstances"),
        "responseElements",
        instances(&["i-3"]),
    );
    store
        .load(vec![file(store, "logs/later.json.gz", vec![later])])
        .await
        .expect("load");
    for when in [at(&t(8, "00:00:00")), at(&t(5, "10:30:00"))] {
        let open = ResourceQuery::all(ResourceFilter::open_at(None, when));
        let expected =
            crate::resources::running_groups(store.resources(&open).await.expect("resources"));
        assert!(!expected.is_empty(), "something runs at {when}");
        assert_eq!(
            store.running_groups(when).await.expect("running"),
            expected,
            "at {when}"
        );
    }
    // And as a running resource stops and starts again, a file at a time:
    // the sums follow each refold (SQLite keeps them row by row).
    for (id, time, name, running) in [
        ("e-stop-3", "02:00:00", "StopInstances", 0),
        ("e-start-3", "03:00:00", "StartInstances", 1),
    ] {
        let change = with(
            record(id, &t(7, time), "carol", "ec2", name),
            "responseElements",
            instances(&["i-3"]),
        );
        store
            .load(vec![file(
                store,
                &format!("logs/{id}.json.gz"),
                vec![change],
            )])
            .await
            .expect("load");
        let when = at(&t(8, "00:00:00"));
        let open = ResourceQuery::all(ResourceFilter::open_at(None, when));
        let expected =
            crate::resources::running_groups(store.resources(&open).await.expect("resources"));
        let groups = store.running_groups(when).await.expect("running");
        assert_eq!(groups, expected, "after {name}");
        assert_eq!(
            groups.iter().map(|g| g.resources).sum::<u64>(),
            running,
            "after {name}"
        );
    }
}

/// SPEC §13: the baseline a user's anomalies are judged against, kept by
/// the writer alike in both stores: first uses in order (an earlier event
/// loaded last moves them; a file loaded twice counts once), hours of the
/// day, the hourly rates of calls and failed calls over the week that ends
/// with the user's last active hour.
pub async fn user_baselines_are_kept_alike(store: &dyn EventStore) {
    use crate::baseline::Rate;

    let call = |id: &str, time: &str, source: &str, region: &str, failed: bool| {
        let r = with(
            record(id, time, "ana", source, "DoSomething"),
            "awsRegion",
            json!(region),
        );
        if failed {
            with(r, "errorCode", json!("AccessDenied"))
        } else {
            r
        }
    };
    let first = file(
        store,
        "b-first.json.gz",
        vec![
            call("b-01", &t(1, "09:10:00"), "ec2", "us-east-1", false),
            call("b-02", &t(1, "09:20:00"), "s3", "us-east-1", false),
            call("b-03", &t(3, "14:05:00"), "ec2", "eu-west-1", true),
        ],
    );
    let second = || {
        file(
            store,
            "b-second.json.gz",
            vec![
                call("b-04", &t(5, "09:30:00"), "lambda", "us-east-1", true),
                call("b-05", &t(5, "09:40:00"), "ec2", "eu-west-1", false),
            ],
        )
    };
    let early = file(
        store,
        "b-early.json.gz",
        vec![call(
            "b-00",
            "2018-02-28T22:00:00Z",
            "s3",
            "eu-west-1",
            false,
        )],
    );
    store.load(vec![first]).await.expect("load");
    store.load(vec![second()]).await.expect("load");
    store.load(vec![second()]).await.expect("load again");
    let before = store
        .user_baseline("ana")
        .await
        .expect("baseline")
        .expect("ana is known");
    let names = |uses: &[crate::baseline::FirstUse]| -> Vec<(String, String)> {
        uses.iter()
            .map(|u| (u.name.clone(), u.event_id.clone()))
            .collect()
    };
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    };
    assert_eq!(
        names(&before.regions),
        pairs(&[("us-east-1", "b-01"), ("eu-west-1", "b-03")])
    );
    store
        .load(vec![early])
        .await
        .expect("load the earlier file");
    let b = store
        .user_baseline("ana")
        .await
        .expect("baseline")
        .expect("ana is known");
    assert_eq!(b.since, at("2018-02-28T22:00:00Z"));
    assert_eq!(
        names(&b.regions),
        pairs(&[("eu-west-1", "b-00"), ("us-east-1", "b-01")])
    );
    assert_eq!(b.regions[1].time, at(&t(1, "09:10:00")));
    assert_eq!(
        names(&b.services),
        pairs(&[("s3", "b-00"), ("ec2", "b-01"), ("lambda", "b-04")])
    );
    let mut hours = [0u64; 24];
    hours[9] = 4;
    hours[14] = 1;
    hours[22] = 1;
    assert_eq!(b.hours_of_day, hours);
    assert_eq!(b.usual_hours(), [9, 14]);
    // The week to 5 March 10:00 holds every hour with calls: 1, 2, 1, 2;
    // failed calls in two of them.
    assert_eq!(b.week_end, at(&t(5, "10:00:00")));
    assert_eq!(b.calls, Rate::of_week(&[1, 2, 1, 2]));
    assert_eq!(b.failed, Rate::of_week(&[1, 1]));
    assert_eq!(store.user_baseline("nobody").await.expect("baseline"), None);
}

/// A call of `user` in `region` at `time`, failed or not: what the anomaly
/// tree is made of.
fn region_call(id: &str, time: &str, user: &str, region: &str, failed: bool) -> Value {
    let r = with(
        record(id, time, user, "ec2", "CreateTags"),
        "awsRegion",
        json!(region),
    );
    if failed {
        with(r, "errorCode", json!("Client.UnauthorizedOperation"))
    } else {
        r
    }
}

/// The anomaly tree (SPEC §13), one file per group of records:
/// * alice works in us-east-1 every day from 1 March, in eu-west-1 on the
///   3rd (not warm yet: no anomaly), in eu-central-1 on the 12th and — in
///   `alice-central-09.json.gz`, the 13th file, which may come last —
///   already on the 9th (warm: that one is the anomaly, for her and for the
///   account);
/// * bob, from the 12th: 60 calls in one hour, in two files (a rate spike
///   on the 51st, the week before being empty) and 25 failed calls the next
///   hour (an error spike on the 21st failure).
pub fn anomaly_tree(store: &dyn EventStore) -> Vec<LoadedFile> {
    let mut out = Vec::new();
    for day in 1..=12u32 {
        let mut records = vec![region_call(
            &format!("a-{day:02}"),
            &t(day, "10:00:00"),
            "alice",
            "us-east-1",
            false,
        )];
        if day == 3 {
            records.push(region_call(
                "a-west",
                &t(3, "11:00:00"),
                "alice",
                "eu-west-1",
                false,
            ));
        }
        if day == 12 {
            records.push(region_call(
                "a-central-12",
                &t(12, "11:00:00"),
                "alice",
                "eu-central-1",
                false,
            ));
        }
        out.push(file(store, &format!("alice-{day:02}.json.gz"), records));
    }
    out.push(file(
        store,
        "alice-central-09.json.gz",
        vec![region_call(
            "a-central-09",
            &t(9, "11:00:00"),
            "alice",
            "eu-central-1",
            false,
        )],
    ));
    let burst: Vec<Value> = (0..60)
        .map(|n| {
            let time = t(12, &format!("10:{n:02}:00"));
            region_call(&format!("b-{n:02}"), &time, "bob", "us-east-1", false)
        })
        .collect();
    // In two files, the second half first.
    out.push(file(store, "bob-burst-2.json.gz", burst[30..].to_vec()));
    out.push(file(store, "bob-burst-1.json.gz", burst[..30].to_vec()));
    let failures: Vec<Value> = (0..25)
        .map(|n| {
            let time = t(12, &format!("11:{n:02}:00"));
            region_call(&format!("f-{n:02}"), &time, "bob", "us-east-1", true)
        })
        .collect();
    out.push(file(store, "bob-failures.json.gz", failures));
    out
}

/// The anomalies of the whole [`anomaly_tree`] with SPEC §13's defaults,
/// in the order `/alerts` lists them.
pub const TREE_ANOMALIES: [&str; 4] = [
    "anomaly:account-new-region:a-central-09",
    "anomaly:new-region:a-central-09",
    "anomaly:rate-spike:b-50",
    "anomaly:error-spike:f-20",
];

/// Every anomaly `store` lists: (id, title), in order.
pub async fn anomalies_listed(store: &dyn EventStore) -> Vec<(String, String)> {
    store
        .alerts(&AlertQuery {
            rule: Some("anomaly:*".into()),
            limit: 1_000,
            ..AlertQuery::default()
        })
        .await
        .expect("alerts")
        .into_iter()
        .map(|a| (a.id, a.title))
        .collect()
}

/// SPEC §13, for a store that evaluates anomalies with the defaults: they
/// are a function of the stored events. Loaded backwards by two loaders at
/// once, the tree without its 13th file has its anomalies on the 12th's
/// eu-central-1 call; the earlier call arriving last withdraws those (no
/// longer alerts, by list or by id) and raises the right ones, with the
/// baseline in their titles; loading it all again changes nothing.
pub async fn anomalies_follow_the_stored_events(store: &dyn EventStore) {
    let ids = |listed: &[(String, String)]| -> Vec<String> {
        listed.iter().map(|(id, _)| id.clone()).collect()
    };
    let mut all = anomaly_tree(store);
    let early = all.remove(12);
    assert_eq!(early.entry.key, "alice-central-09.json.gz");
    all.reverse();
    let second = all.split_off(all.len() / 2);
    let load_each = |files: Vec<LoadedFile>| async move {
        for f in files {
            store.load(vec![f]).await.expect("load");
        }
    };
    tokio::join!(load_each(all), load_each(second));
    assert_eq!(
        ids(&anomalies_listed(store).await),
        [
            "anomaly:rate-spike:b-50",
            "anomaly:account-new-region:a-central-12",
            "anomaly:new-region:a-central-12",
            "anomaly:error-spike:f-20",
        ]
    );

    store
        .load(vec![early])
        .await
        .expect("load the earlier call");
    let listed = anomalies_listed(store).await;
    assert_eq!(ids(&listed), TREE_ANOMALIES);
    assert_eq!(
        listed[1].1,
        "alice used eu-central-1 for the first time; known since 2018-03-01: us-east-1, eu-west-1"
    );
    assert_eq!(
        listed[2].1,
        "bob made 60 calls in the hour from 2018-03-12 10:00 UTC; the week before averaged 0.0 ± 0.0 an hour (threshold 50)"
    );
    for withdrawn in [
        "anomaly:new-region:a-central-12",
        "anomaly:account-new-region:a-central-12",
    ] {
        assert_eq!(store.alert(withdrawn).await.expect("alert"), None);
    }
    // Nor counted, over any window or user (SQLite counts all the matching
    // ones less the withdrawn ones).
    let march = |day: u32| Utc.with_ymd_and_hms(2018, 3, day, 0, 0, 0).single();
    for query in [
        AlertQuery::default(),
        AlertQuery {
            from: march(10),
            to: march(20),
            ..AlertQuery::default()
        },
        AlertQuery {
            user: Some("alice".into()),
            ..AlertQuery::default()
        },
        AlertQuery {
            rule: Some("anomaly:*".into()),
            from: march(1),
            ..AlertQuery::default()
        },
    ] {
        let listed = store
            .alerts(&AlertQuery {
                limit: 1_000,
                ..query.clone()
            })
            .await
            .expect("alerts")
            .len();
        assert_eq!(
            store.count_alerts(&query).await.expect("count"),
            listed as u64,
            "{query:?}"
        );
    }
    let raised = store
        .alert("anomaly:new-region:a-central-09")
        .await
        .expect("alert")
        .expect("raised");
    assert_eq!(
        (raised.user.as_str(), raised.level.as_str()),
        ("alice", "medium")
    );
    assert!(raised.record.get().contains("a-central-09"));

    store
        .load(anomaly_tree(store))
        .await
        .expect("load it all again");
    assert_eq!(ids(&anomalies_listed(store).await), TREE_ANOMALIES);
}
