//! The ingest Lambda's handler, called directly (no Lambda runtime) against
//! moto: the original's notification, SQS batches with partial failures,
//! EventBridge events, duplicates.

use ctt_aws::lambda::LambdaSettings;
use ctt_aws::lambda::ingest::IngestHandler;
use ctt_aws::s3::{self, S3Source};
use ctt_aws::{DynamoOptions, DynamoStore};
use ctt_store::{EventStore, FileOutcome, LedgerFilter};
use serde_json::{Value, json};

use crate::support::{corpus, fresh_bucket, fresh_table, gzip, notification, sdk};

const ORIGINAL_KEY: &str =
    "974349055189_CloudTrail_us-east-1_20170601T0635Z_FZ9CtyUC5gmNGqIG.json.gz";

fn sqs_batch(messages: &[(&str, String)]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, body)| {
            json!({"messageId": id, "receiptHandle": format!("handle-{id}"), "body": body,
                   "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1496300000000",
                                  "SenderId": "AIDA", "ApproximateFirstReceiveTimestamp": "1496300000001"},
                   "messageAttributes": {}, "md5OfBody": "x", "eventSource": "aws:sqs",
                   "eventSourceARN": "arn:aws:sqs:us-east-1:974349055189:ctt-ingest", "awsRegion": "us-east-1"})
        })
        .collect();
    json!({"Records": records})
}

struct Fixture {
    handler: IngestHandler,
    store: DynamoStore,
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl Fixture {
    async fn new() -> Self {
        Self::with_env(&[]).await
    }

    /// With these environment variables besides `CTT_TABLE`.
    async fn with_env(env: &[(&str, &str)]) -> Self {
        let sdk = sdk().await;
        let table = fresh_table(&sdk).await;
        let settings = LambdaSettings::from_lookup(|name| {
            if name == "CTT_TABLE" {
                return Some(table.clone());
            }
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .expect("settings");
        let store = DynamoStore::open(&sdk, &table, None, DynamoOptions::default())
            .await
            .expect("open");
        let client = s3::client(&sdk, None);
        let bucket = fresh_bucket(&client).await;
        let source = S3Source::new(client.clone(), tokio::runtime::Handle::current(), 4);
        // As the function builds it (with its outbox when CTT_SNS_TOPIC_ARN is set).
        let handler = settings
            .ingest_handler(store.clone(), source, &sdk)
            .expect("handler");
        Self {
            handler,
            store,
            client,
            bucket,
        }
    }

    async fn put(&self, key: &str, body: Vec<u8>) {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(body.into())
            .send()
            .await
            .expect("upload");
    }

    async fn events(&self) -> u64 {
        self.store.status().await.expect("status").events
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_originals_notification_loads_its_18_events_once() {
    let f = Fixture::new().await;
    f.put(ORIGINAL_KEY, gzip(&corpus("sample-cloudtrail-event.json")))
        .await;
    let event = notification(&f.bucket, ORIGINAL_KEY);

    f.handler
        .handle(event.clone())
        .await
        .expect("first delivery");
    assert_eq!(f.events().await, 18);
    let users: Vec<_> = f
        .store
        .users()
        .await
        .expect("users")
        .into_iter()
        .map(|u| (u.name, u.events))
        .collect();
    assert_eq!(
        users,
        [
            ("alucloud171".to_owned(), 6),
            ("elasticmapreduce.amazonaws.com".to_owned(), 7),
            ("grycap-aws".to_owned(), 3),
            ("lambda.amazonaws.com".to_owned(), 2)
        ]
    );

    let again = f.handler.handle(event).await.expect("second delivery");
    assert!(again.to_string().contains("AlreadyLoaded"), "{again}");
    assert_eq!(f.events().await, 18);
    let ledger = f.store.ledger(LedgerFilter::All).await.expect("ledger");
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].key, format!("s3://{}/{ORIGINAL_KEY}", f.bucket));
    assert_eq!(
        (ledger[0].counts.records, ledger[0].counts.stored),
        (142, 18)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqs_batch_reports_only_the_message_of_the_corrupt_file() {
    let f = Fixture::new().await;
    let sample = gzip(&corpus("sample-cloudtrail-event.json"));
    let day = "AWSLogs/974349055189/CloudTrail/us-east-1/2017/06/01";
    let good = format!("{day}/974349055189_CloudTrail_us-east-1_20170601T0635Z_good.json.gz");
    let bad = format!("{day}/974349055189_CloudTrail_us-east-1_20170601T0640Z_bad.json.gz");
    let digest = "AWSLogs/974349055189/CloudTrail-Digest/us-east-1/2017/06/01/974349055189_CloudTrail-Digest_us-east-1_t_us-east-1_20170601T070000Z.json.gz";
    f.put(&good, sample.clone()).await;
    f.put(&bad, sample[..sample.len() / 2].to_vec()).await;
    f.put(digest, gzip(b"{}")).await;
    f.put("copies/sample copy.json.gz", sample).await;
    let body = |key: &str| notification(&f.bucket, &key.replace('/', "%2F")).to_string();

    let batch = sqs_batch(&[
        ("m-good", body(&good)),
        ("m-bad", body(&bad)),
        ("m-digest", body(digest)),
        (
            "m-test",
            json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": f.bucket})
                .to_string(),
        ),
        ("m-copy", body("copies/sample+copy.json.gz")),
    ]);
    let response = f.handler.handle(batch).await.expect("batch handled");
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": "m-bad"}]})
    );
    assert_eq!(f.events().await, 18, "the copy's events are duplicates");

    let failed = f.store.ledger(LedgerFilter::Failed).await.expect("ledger");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].key, format!("s3://{}/{bad}", f.bucket));
    assert!(
        failed[0]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("gzip")),
        "{failed:?}"
    );
    let copy = f
        .store
        .ledger_entry(&format!("s3://{}/copies/sample copy.json.gz", f.bucket))
        .await
        .expect("entry")
        .expect("the decoded key is in the ledger");
    assert_eq!(
        (copy.outcome, copy.counts.duplicate),
        (FileOutcome::Loaded, 18)
    );

    // SQS delivers the batch again (visibility timeout): nothing is counted twice,
    // and the corrupt file is still reported.
    let batch = sqs_batch(&[("m-good-2", body(&good)), ("m-bad-2", body(&bad))]);
    let response = f.handler.handle(batch).await.expect("batch handled");
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": "m-bad-2"}]})
    );
    assert_eq!(f.events().await, 18);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventbridge_object_created_loads_the_file_and_errors_fail_the_invocation() {
    let f = Fixture::new().await;
    let key = "AWSLogs/974349055189/CloudTrail/us-east-1/2017/06/01/974349055189_CloudTrail_us-east-1_20170601T0635Z_eb.json.gz";
    f.put(key, gzip(&corpus("sample-cloudtrail-event.json")))
        .await;
    let event = |key: &str| {
        json!({"version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103", "detail-type": "Object Created",
               "source": "aws.s3", "account": "974349055189", "time": "2017-06-01T06:35:00Z", "region": "us-east-1",
               "resources": [format!("arn:aws:s3:::{}", f.bucket)],
               "detail": {"version": "0", "bucket": {"name": f.bucket},
                          "object": {"key": key, "size": 1024, "etag": "0123", "sequencer": "00"},
                          "request-id": "N4N7GDK58NMKJ12R", "requester": "974349055189",
                          "source-ip-address": "1.2.3.4", "reason": "PutObject"}})
    };
    f.handler.handle(event(key)).await.expect("loaded");
    assert_eq!(f.events().await, 18);
    // A file that cannot be fetched fails the invocation, so AWS retries it.
    let missing = key.replace("_eb.", "_missing.");
    let error = f
        .handler
        .handle(event(&missing))
        .await
        .expect_err("missing object");
    assert!(error.to_string().contains("cannot fetch"), "{error}");
}

/// SPEC §12 on AWS: the ingest function tries the rules on every record of
/// the file it is told of (reads included) and stores each alert once, a
/// re-delivery adding none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ingest_function_stores_each_alert_once() {
    // The original's account worked in us-east-1: allowed is eu-west-1 only.
    let f = Fixture::with_env(&[("CTT_ALERTS", r#"{"allowed_regions": ["eu-west-1"]}"#)]).await;
    f.put(ORIGINAL_KEY, gzip(&corpus("sample-cloudtrail-event.json")))
        .await;
    let event = notification(&f.bucket, ORIGINAL_KEY);
    f.handler
        .handle(event.clone())
        .await
        .expect("first delivery");
    let all = ctt_store::AlertQuery {
        limit: 1_000,
        ..Default::default()
    };
    let alerts = f.store.alerts(&all).await.expect("alerts");
    let outside: Vec<_> = alerts
        .iter()
        .filter(|a| a.title == "Activity outside the allowed regions")
        .collect();
    // Records of regional services in us-east-1 (the original's reads and
    // writes alike), not the global ones (IAM, STS).
    assert!(outside.len() > 18, "{} alerts", outside.len());
    assert!(
        outside
            .iter()
            .all(|a| a.record.to_value()["awsRegion"] == "us-east-1")
    );
    assert!(
        outside
            .iter()
            .all(|a| a.service != "iam" && a.service != "sts")
    );
    f.handler.handle(event).await.expect("second delivery");
    assert_eq!(
        f.store.alerts(&all).await.expect("alerts").len(),
        alerts.len()
    );
    let one = f.store.alert(&alerts[0].id).await.expect("alert");
    assert_eq!(one.as_ref().map(|a| &a.event_id), Some(&alerts[0].event_id));
}

/// A log file of two root console logins (built-in rules: root activity,
/// high; console login without MFA, medium) from a minute ago.
fn recent_root_logins(tag: &str) -> Vec<u8> {
    let time = (chrono::Utc::now() - chrono::Duration::minutes(1))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let records: Vec<Value> = (0..2)
        .map(|i| {
            json!({
                "eventVersion": "1.08",
                "userIdentity": {"type": "Root", "principalId": "111122223333",
                                 "arn": "arn:aws:iam::111122223333:root", "accountId": "111122223333"},
                "eventTime": time, "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin",
                "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.1", "userAgent": "Mozilla/5.0",
                "requestParameters": null, "responseElements": {"ConsoleLogin": "Success"},
                "additionalEventData": {"MFAUsed": "No"},
                "eventID": format!("{tag}-{i}"), "readOnly": false,
                "eventType": "AwsConsoleSignIn", "recipientAccountId": "111122223333"
            })
        })
        .collect();
    gzip(json!({"Records": records}).to_string().as_bytes())
}

const RECENT_KEY: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/12/03/111122223333_CloudTrail_us-east-1_20261203T0000Z_recent.json.gz";

/// A topic named `name` with an SQS queue subscribed; (topic ARN, queue URL).
async fn topic_with_queue(sdk: &aws_config::SdkConfig, name: &str) -> (String, String) {
    let queue = ctt_aws::emulator::create_queue(sdk, name, 30)
        .await
        .expect("queue");
    let sns = ctt_aws::sns::client(sdk);
    let topic = sns
        .create_topic()
        .name(name)
        .send()
        .await
        .expect("topic")
        .topic_arn()
        .unwrap_or_default()
        .to_owned();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(format!("arn:aws:sqs:us-east-1:123456789012:{name}"))
        .send()
        .await
        .expect("subscribe");
    (topic, queue)
}

/// The `alert_id` attributes of the SNS messages in `queue`, sorted.
async fn published(sdk: &aws_config::SdkConfig, queue: &str) -> Vec<String> {
    let sqs = ctt_aws::sqs::client(sdk);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let out = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        for message in out.messages() {
            let body: Value =
                serde_json::from_str(message.body().unwrap_or_default()).expect("json");
            assert!(
                body["Subject"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("[ctt] HIGH: "),
                "{body}"
            );
            ids.push(
                body["MessageAttributes"]["alert_id"]["Value"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
            sqs.delete_message()
                .queue_url(queue)
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    }
    ids.sort();
    ids
}

/// SPEC §12 on AWS: the function publishes each fresh alert of
/// `notify_min_level` and up to its SNS topic once, from the table's outbox;
/// old events (the original's 2017 file) are stored, not published; a
/// re-delivery publishes nothing again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ingest_function_publishes_fresh_alerts_to_sns_once() {
    let sdk = sdk().await;
    let name = ctt_aws::emulator::unique_name("ctt-alerts");
    let (topic, queue) = topic_with_queue(&sdk, &name).await;
    let f = Fixture::with_env(&[
        ("CTT_SNS_TOPIC_ARN", topic.as_str()),
        ("CTT_ALERTS", r#"{"notify_min_level": "high"}"#),
    ])
    .await;
    f.put(ORIGINAL_KEY, gzip(&corpus("sample-cloudtrail-event.json")))
        .await;
    f.put(RECENT_KEY, recent_root_logins("sns")).await;
    for key in [ORIGINAL_KEY, RECENT_KEY, RECENT_KEY] {
        f.handler
            .handle(notification(&f.bucket, key))
            .await
            .expect("delivery");
    }
    let root = f
        .store
        .alerts(&ctt_store::AlertQuery {
            limit: 1_000,
            min_level: Some("high".into()),
            ..Default::default()
        })
        .await
        .expect("alerts");
    let fresh: Vec<String> = root
        .iter()
        .filter(|a| a.event_id.starts_with("sns-"))
        .map(|a| a.id.clone())
        .collect();
    assert_eq!(fresh.len(), 2, "{root:?}");
    assert_eq!(
        published(&sdk, &queue).await,
        fresh,
        "the fresh high alerts, once each"
    );
    let outbox = f.store.outbox().expect("outbox");
    assert_eq!(outbox.outbox_counts().await.expect("counts").pending, 0);
}

/// A topic that fails (here: not created yet) leaves the alerts in the
/// outbox with the reason; the invocation still succeeds (they are stored);
/// a later invocation — the schedule's — publishes them once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_publish_waits_in_the_outbox_for_the_schedule() {
    let sdk = sdk().await;
    let name = ctt_aws::emulator::unique_name("ctt-later");
    let topic = format!("arn:aws:sns:us-east-1:123456789012:{name}");
    let f = Fixture::with_env(&[
        ("CTT_SNS_TOPIC_ARN", topic.as_str()),
        (
            "CTT_ALERTS",
            r#"{"notify_min_level": "high", "notify_retry_secs": 1}"#,
        ),
    ])
    .await;
    f.put(RECENT_KEY, recent_root_logins("later")).await;
    f.handler
        .handle(notification(&f.bucket, RECENT_KEY))
        .await
        .expect("stored although the topic fails");
    let outbox = f.store.outbox().expect("outbox");
    assert_eq!(outbox.outbox_counts().await.expect("counts").pending, 2);
    let ids: Vec<String> = f
        .store
        .alerts(&ctt_store::AlertQuery {
            limit: 100,
            min_level: Some("high".into()),
            ..Default::default()
        })
        .await
        .expect("alerts")
        .into_iter()
        .map(|a| a.id)
        .collect();
    let waiting = outbox.deliveries(&ids[0]).await.expect("deliveries");
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].state, "pending");
    assert!(waiting[0].attempts >= 1, "{waiting:?}");
    assert!(
        waiting[0]
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("sns publish"),
        "{waiting:?}"
    );

    let (created, queue) = topic_with_queue(&sdk, &name).await;
    assert_eq!(created, topic);
    // Past the longest backoff the first invocation's 3 s can have reached.
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let schedule = json!({"version": "0", "id": "s-1", "detail-type": "Scheduled Event",
        "source": "aws.events", "account": "123456789012", "time": "2026-12-03T00:00:00Z",
        "region": "us-east-1", "resources": [], "detail": {}});
    f.handler.handle(schedule.clone()).await.expect("schedule");
    f.handler.handle(schedule).await.expect("schedule again");
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(published(&sdk, &queue).await, expected);
    assert_eq!(outbox.outbox_counts().await.expect("counts").pending, 0);
}
