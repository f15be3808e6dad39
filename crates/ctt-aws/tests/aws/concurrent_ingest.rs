//! Two `ctt ingest`-style loads (the ingest pipeline, each with its own store
//! handle, as two Lambdas or two CLIs would be) run at once into one table.
//! Their files name users, services and parameters some of which only one side
//! has and some both (plus events both trails delivered): afterwards the
//! catalog lists every name of both, with exact counts — no lost update —
//! and a resource created on one side and deleted on the other (SPEC §11)
//! folds to the same lifecycle whichever load wrote first.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use ctt_aws::{DynamoOptions, DynamoStore};
use ctt_core::EventQuery;
use ctt_ingest::pipeline::Silent;
use ctt_ingest::{IngestOptions, LocalSource, ingest};
use ctt_store::EventStore;
use serde_json::{Value, json};

use crate::support::{fresh_table, sdk};

/// One record; the parameter it carries depends on the service.
fn record(id: &str, day: u32, n: usize, user: &str, service: &str) -> Value {
    let parameters = match service {
        "ec2" => json!({"instanceType": "t2.micro"}),
        "s3" => json!({"bucketName": format!("bucket-{user}")}),
        "lambda" => json!({"functionName": format!("fn-{n}")}),
        "rds" => json!({"dBInstanceIdentifier": format!("db-{n}")}),
        _ => json!({"roleName": format!("role-{n}")}),
    };
    json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDA", "accountId": "123456789012",
                         "arn": format!("arn:aws:iam::123456789012:user/{user}"), "userName": user},
        "eventTime": format!("2018-03-{day:02}T{:02}:{:02}:00Z", n % 24, n % 60),
        "eventSource": format!("{service}.amazonaws.com"),
        "eventName": "CreateThing",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "192.0.2.1",
        "userAgent": "aws-cli/2",
        "requestParameters": parameters,
        "eventID": id,
        "eventType": "AwsApiCall",
        "recipientAccountId": "123456789012"
    })
}

/// Writes `records` as gzipped log files of `per_file` records under `root`.
fn write_files(root: &Path, trail: &str, records: &[Value], per_file: usize) {
    let dir = root.join("AWSLogs/123456789012/CloudTrail/us-east-1/2018/03/01");
    std::fs::create_dir_all(&dir).expect("folders");
    for (n, chunk) in records.chunks(per_file).enumerate() {
        let name = format!("123456789012_CloudTrail_us-east-1_20180301T{n:04}Z_{trail}.json.gz");
        let file = std::fs::File::create(dir.join(name)).expect("create");
        let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        gz.write_all(json!({"Records": chunk}).to_string().as_bytes())
            .expect("write");
        gz.finish().expect("finish");
    }
}

/// The records of one side: its own users and services, the shared ones, and
/// the events both trails deliver.
fn side(name: &str, own_users: &[&str], own_services: &[&str], shared: &[Value]) -> Vec<Value> {
    let users: Vec<&str> = own_users
        .iter()
        .copied()
        .chain(["teacher", "ci-bot"])
        .collect();
    let services: Vec<&str> = own_services.iter().copied().chain(["ec2", "s3"]).collect();
    let mut records: Vec<Value> = (0..96)
        .map(|n| {
            record(
                &format!("{name}-{n:03}"),
                1 + (n % 28) as u32,
                n,
                users[n % users.len()],
                services[n % services.len()],
            )
        })
        .collect();
    // The shared events, spread among this side's own.
    for (n, event) in shared.iter().enumerate() {
        records.insert((n * 7) % records.len(), event.clone());
    }
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_ingests_into_one_table_lose_no_catalog_update() {
    let shared: Vec<Value> = (0..12)
        .map(|n| {
            let user = ["teacher", "ci-bot", "alice", "dave"][n % 4];
            record(
                &format!("both-{n:02}"),
                15,
                n,
                user,
                ["ec2", "s3", "iam"][n % 3],
            )
        })
        .collect();
    let mut a = side("a", &["alice", "bob"], &["lambda"], &shared);
    let mut b = side("b", &["carol", "dave"], &["rds", "iam"], &shared);
    // Resources: alice's instances, one stopped by carol and one
    // terminated by dave, on the other side.
    let touch = |id: &str, day: u32, user: &str, name: &str, instances: &[&str]| {
        let mut r = record(id, day, 1, user, "ec2");
        r["eventName"] = json!(name);
        let items: Vec<Value> = instances.iter().map(|i| json!({"instanceId": i})).collect();
        r["responseElements"] = json!({"instancesSet": {"items": items}});
        r
    };
    a.push(touch(
        "a-run",
        3,
        "alice",
        "RunInstances",
        &["i-a1", "i-a2"],
    ));
    b.push(touch("b-stop", 10, "carol", "StopInstances", &["i-a2"]));
    b.push(touch("b-term", 20, "dave", "TerminateInstances", &["i-a1"]));

    // What the catalog must say: every distinct event counted once.
    let mut distinct: BTreeMap<String, &Value> = BTreeMap::new();
    for event in a.iter().chain(&b) {
        distinct.insert(
            event["eventID"].as_str().unwrap_or_default().to_owned(),
            event,
        );
    }
    let mut users: BTreeMap<String, u64> = BTreeMap::new();
    let mut services: BTreeMap<String, u64> = BTreeMap::new();
    for event in distinct.values() {
        *users
            .entry(
                event["userIdentity"]["userName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
            .or_default() += 1;
        let source = event["eventSource"].as_str().unwrap_or_default();
        *services
            .entry(source.split('.').next().unwrap_or_default().to_owned())
            .or_default() += 1;
    }

    let work = tempfile::tempdir().expect("temporary folder");
    let (root_a, root_b) = (work.path().join("a"), work.path().join("b"));
    write_files(&root_a, "trailA", &a, 9);
    write_files(&root_b, "trailB", &b, 7);

    let sdk = sdk().await;
    let table = fresh_table(&sdk).await;
    let open = || DynamoStore::open(&sdk, &table, None, DynamoOptions::default());
    let (store_a, store_b) = (open().await.expect("open a"), open().await.expect("open b"));
    // Small batches: each loader commits many times, interleaved with the other.
    let options = IngestOptions {
        workers: 2,
        batch_files: 2,
        ..IngestOptions::default()
    };
    let load = |store: DynamoStore, root: std::path::PathBuf| {
        let options = options.clone();
        async move {
            let files = LocalSource::list(&[root], None, None).expect("list");
            ingest(
                Arc::new(store),
                Arc::new(LocalSource),
                files,
                &options,
                &Silent,
            )
            .await
            .expect("ingest")
        }
    };
    let (report_a, report_b) =
        tokio::join!(load(store_a.clone(), root_a), load(store_b.clone(), root_b));
    assert_eq!(
        (report_a.files_failed, report_b.files_failed),
        (0, 0),
        "{report_a:?} {report_b:?}"
    );
    let total = distinct.len() as u64;
    assert_eq!(
        report_a.records_stored + report_b.records_stored,
        total,
        "each event stored by exactly one loader"
    );
    assert_eq!(
        report_a.records_duplicate + report_b.records_duplicate,
        shared.len() as u64,
        "the events both trails delivered are duplicates on one side"
    );

    // Read through a third handle, as the API would.
    let reader = open().await.expect("open reader");
    let listed: BTreeMap<String, u64> = reader
        .users()
        .await
        .expect("users")
        .into_iter()
        .map(|u| (u.name, u.events))
        .collect();
    assert_eq!(listed, users, "every user of both loads, with exact counts");
    let listed: BTreeMap<String, u64> = reader
        .services()
        .await
        .expect("services")
        .into_iter()
        .map(|s| (s.name, s.events))
        .collect();
    assert_eq!(
        listed, services,
        "every service of both loads, with exact counts"
    );
    let parameters: BTreeSet<String> = reader
        .parameters()
        .await
        .expect("parameters")
        .into_iter()
        .collect();
    for name in [
        "requestParameters_instanceType",
        "requestParameters_bucketName",
        "requestParameters_functionName",
        "requestParameters_dBInstanceIdentifier",
        "requestParameters_roleName",
    ] {
        assert!(
            parameters.contains(name),
            "{name} missing from {parameters:?}"
        );
    }
    let march = EventQuery::between(
        ctt_core::time::parse_event_time("2018-03-01T00:00:00Z").unwrap_or_default(),
        ctt_core::time::parse_event_time("2018-03-31T23:59:59Z").unwrap_or_default(),
    );
    assert_eq!(reader.count(&march).await.expect("count"), total);
    let status = reader.status().await.expect("status");
    assert_eq!(status.events, total);
    assert_eq!(
        status.files_loaded,
        report_a.files_loaded + report_b.files_loaded
    );

    let resources = ctt_store::resources::select(
        reader.resource_touches(None).await.expect("touches"),
        &ctt_store::ResourceFilter {
            user: None,
            state: None,
            kind: None,
            at: ctt_core::time::parse_event_time("2018-04-01T00:00:00Z").unwrap_or_default(),
        },
        &ctt_core::resources::PriceTable::builtin(),
    );
    let folded: Vec<(&str, &str, Option<&str>, Option<&str>)> = resources
        .iter()
        .map(|r| {
            (
                r.id.as_str(),
                r.life.state.as_str(),
                r.life.owner.as_deref(),
                r.life.deleted_by.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        folded,
        [
            ("i-a1", "deleted", Some("alice"), Some("dave")),
            ("i-a2", "stopped", Some("alice"), None),
        ]
    );
}
