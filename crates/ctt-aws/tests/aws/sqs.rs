//! Following a bucket through an SQS queue of its notifications (`ctt serve
//! --follow s3://… --sqs-queue-url`), with the follow driver, on moto: S3 and
//! EventBridge messages, a corrupt file, a duplicate, S3's test event, a digest
//! and an object outside the followed prefix. Events are stored exactly once,
//! and every message but the failed file's is deleted; that one is delivered
//! again.

use std::sync::Arc;
use std::time::Duration;

use ctt_aws::emulator::{create_queue, queue_depth, send_message, unique_name};
use ctt_aws::s3::{self, S3Source, S3Uri};
use ctt_aws::sqs::{self, QueueFollower};
use ctt_ingest::IngestOptions;
use ctt_ingest::follow::{CancellationToken, FollowOptions, FollowState, FollowStatus, follow};
use ctt_store::{EventStore, FileOutcome};
use serde_json::{Value, json};

use crate::support::{corpus, fresh_bucket, fresh_store, gzip, notification, sdk};

const PREFIX: &str = "AWSLogs/974349055189/CloudTrail/us-east-1/2017/06/01/";
/// Seconds a received message stays invisible (the queue's setting): longer
/// than the first receives take on a busy moto.
const VISIBILITY: u64 = 8;

/// An EventBridge "Object Created" event (its keys are not URL-encoded).
fn object_created(bucket: &str, key: &str) -> Value {
    json!({"version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103",
           "detail-type": "Object Created", "source": "aws.s3", "account": "974349055189",
           "time": "2017-06-01T06:40:00Z", "region": "us-east-1",
           "resources": [format!("arn:aws:s3:::{bucket}")],
           "detail": {"version": "0", "bucket": {"name": bucket},
                      "object": {"key": key, "size": 1024, "sequencer": "00617F08299329D189"},
                      "request-id": "N4N7GDK58NMKJ12R", "requester": "974349055189",
                      "source-ip-address": "192.0.2.1", "reason": "PutObject"}})
}

/// Waits (up to `seconds`) until the follower's state satisfies `done`.
async fn until(
    status: &FollowStatus,
    seconds: u64,
    what: &str,
    done: impl Fn(&FollowState) -> bool,
) -> FollowState {
    for _ in 0..seconds * 5 {
        let state = status.get();
        if done(&state) {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what}: {:?}", status.get());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_of_notifications_loads_each_file_once_and_keeps_only_the_failed_message() {
    let sdk = sdk().await;
    let s3_client = s3::client(&sdk, None);
    let bucket = fresh_bucket(&s3_client).await;
    let queue_url = create_queue(&sdk, &unique_name("ctt"), VISIBILITY as u32)
        .await
        .expect("create queue");

    // The original's sample (18 kept events), the same with other event IDs
    // (18 more), a corrupt file and a digest.
    let sample = corpus("sample-cloudtrail-event.json");
    let mut other: Value = serde_json::from_slice(&sample).expect("sample JSON");
    if let Some(records) = other["Records"].as_array_mut() {
        for record in records {
            let id = format!("other-{}", record["eventID"].as_str().unwrap_or_default());
            record["eventID"] = json!(id);
        }
    }
    let first =
        format!("{PREFIX}974349055189_CloudTrail_us-east-1_20170601T0635Z_first copy.json.gz");
    let second = format!("{PREFIX}974349055189_CloudTrail_us-east-1_20170601T0640Z_second.json.gz");
    let corrupt =
        format!("{PREFIX}974349055189_CloudTrail_us-east-1_20170601T0645Z_corrupt.json.gz");
    let digest = "AWSLogs/974349055189/CloudTrail-Digest/us-east-1/2017/06/01/974349055189_CloudTrail-Digest_us-east-1_t_us-east-1_20170601T070000Z.json.gz";
    let mut truncated = gzip(&sample);
    truncated.truncate(truncated.len() / 2);
    for (key, body) in [
        (first.as_str(), gzip(&sample)),
        (second.as_str(), gzip(other.to_string().as_bytes())),
        (corrupt.as_str(), truncated),
        (
            digest,
            gzip(b"{\"digestStartTime\": \"2017-06-01T06:00:00Z\"}"),
        ),
    ] {
        s3_client
            .put_object()
            .bucket(&bucket)
            .key(key)
            .body(body.into())
            .send()
            .await
            .expect("upload");
    }

    // S3 encodes keys in its notifications (a space as `+`); EventBridge does not.
    let encoded = |key: &str| key.replace('/', "%2F").replace(' ', "+");
    let messages = [
        notification(&bucket, &encoded(&first)),
        object_created(&bucket, &second),
        notification(&bucket, &encoded(&corrupt)),
        notification(&bucket, &encoded(&first)),
        json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2017-06-01T06:00:00.000Z",
               "Bucket": bucket, "RequestId": "R", "HostId": "H"}),
        notification(&bucket, &encoded(digest)),
        object_created(&bucket, "exports/elsewhere.json.gz"),
    ];
    for message in &messages {
        send_message(&sdk, &queue_url, &message.to_string())
            .await
            .expect("send message");
    }

    let store = fresh_store().await;
    let source = S3Source::new(s3_client.clone(), tokio::runtime::Handle::current(), 4);
    let follower = QueueFollower::new(
        sqs::client(&sdk),
        &queue_url,
        S3Uri::new(&bucket, "AWSLogs/"),
        source,
    )
    // Short polls: moto serves one request at a time, and a long poll would
    // hold up the other tests.
    .with_wait(Duration::ZERO);
    let status = FollowStatus::default();
    let shutdown = CancellationToken::new();
    let options = FollowOptions {
        ingest: IngestOptions::default(),
        every: Duration::from_millis(200),
    };
    let task = tokio::spawn(follow(
        Arc::new(store.clone()),
        follower,
        options,
        status.clone(),
        shutdown.clone(),
    ));

    let loaded = until(&status, 60, "the files are loaded", |s| {
        s.files_loaded + s.files_failed >= 3
    })
    .await;
    assert_eq!(
        (
            loaded.files_loaded,
            loaded.files_failed,
            loaded.events_stored
        ),
        (2, 1, 36),
        "each file loaded once, the duplicate announcement too"
    );
    assert_eq!(store.status().await.expect("status").events, 36);
    // Left for redelivery (in flight, or visible again if the load was slow).
    let mut depth = (0, 0);
    for _ in 0..50 {
        depth = queue_depth(&sdk, &queue_url).await.expect("depth");
        if depth.0 + depth.1 == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(depth.0 + depth.1, 1, "only the failed message is left");
    let entry = store
        .ledger_entry(&S3Uri::new(&bucket, &corrupt).to_string())
        .await
        .expect("ledger")
        .expect("the corrupt file is in the ledger");
    assert_eq!(entry.outcome, FileOutcome::Failed);
    let entry = store
        .ledger_entry(&S3Uri::new(&bucket, &first).to_string())
        .await
        .expect("ledger")
        .expect("the first file is in the ledger");
    assert_eq!(
        (entry.outcome, entry.counts.stored),
        (FileOutcome::Loaded, 18)
    );

    // Once its visibility timeout is over, the failed message comes back, fails
    // again and stays; nothing else is loaded.
    let again = until(
        &status,
        VISIBILITY * 2 + 20,
        "the failed file is retried",
        |s| s.files_failed >= 2,
    )
    .await;
    shutdown.cancel();
    task.await.expect("the follow task ends");
    assert_eq!(
        (again.files_loaded, again.files_failed, again.events_stored),
        (2, 2, 36)
    );
    assert_eq!(store.status().await.expect("status").events, 36);
    let (waiting, in_flight) = queue_depth(&sdk, &queue_url).await.expect("depth");
    assert_eq!(waiting + in_flight, 1, "the failed message is still there");
}
