//! `ctt` against an emulated AWS (moto on a loopback port, started once for
//! this binary): `ctt store create dynamodb://…`, `ctt ingest s3://…` into
//! DynamoDB and into SQLite, queries with `--store`, `ctt verify s3://…`.

use std::path::Path;
use std::process::Command;

use ctt_aws::emulator::{Moto, REGION, unique_name};
use serde_json::Value;

use crate::support::{Workspace, corpus, describe, get, gzip, n, run, start_serve};

/// The original's sample log, where CloudTrail would have put it.
const SAMPLE_KEY: &str = "AWSLogs/974349055189/CloudTrail/us-east-1/2017/06/01/974349055189_CloudTrail_us-east-1_20170601T0635Z_FZ9CtyUC5gmNGqIG.json.gz";

/// A new bucket on the emulator, and a client for it.
async fn new_bucket(prefix: &str) -> (aws_sdk_s3::Client, String) {
    let sdk = Moto::shared().sdk_config().await;
    let client = ctt_aws::s3::client(&sdk, None);
    let bucket = unique_name(prefix).to_ascii_lowercase();
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    (client, bucket)
}

/// A bucket holding the sample log (and a digest, which is skipped).
async fn bucket_with_sample() -> String {
    let (client, bucket) = new_bucket("ctt-cli").await;
    let sample =
        std::fs::read(corpus().join("grycap-cloudtrail-tracker/sample-cloudtrail-event.json"))
            .expect("sample log");
    for (key, body) in [
        (SAMPLE_KEY.to_owned(), gzip(&sample)),
        (
            "AWSLogs/974349055189/CloudTrail-Digest/us-east-1/2017/06/01/974349055189_CloudTrail-Digest_us-east-1_t_us-east-1_20170601T070000Z.json.gz".to_owned(),
            gzip(b"{\"digestStartTime\": \"2017-06-01T06:00:00Z\"}"),
        ),
    ] {
        client
            .put_object()
            .bucket(&bucket)
            .key(key)
            .body(body.into())
            .send()
            .await
            .expect("upload");
    }
    bucket
}

/// `ctt` with the emulator's endpoint, region and dummy credentials.
fn ctt(db: &Path) -> Command {
    let mut cmd = crate::support::ctt_with_db(db);
    cmd.env_remove("AWS_PROFILE")
        .env_remove("CTT_STORE")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args([
            "--region",
            REGION,
            "--endpoint-url",
            Moto::shared().endpoint(),
        ]);
    cmd
}

/// `ctt … ingest --format json --no-progress ARGS…`: the report.
fn ingest(cmd: &mut Command, args: &[&str]) -> Value {
    cmd.args(["ingest", "--format", "json", "--no-progress"])
        .args(args);
    let out = run(cmd);
    assert!(out.status.success(), "{}", describe(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(&out)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_s3_into_dynamodb_and_query_it() {
    let bucket = bucket_with_sample().await;
    let work = Workspace::new();
    let store = format!("dynamodb://{}", unique_name("ctt-cli"));

    let out = run(ctt(&work.db()).args(["store", "create", &store]));
    assert!(out.status.success(), "{}", describe(&out));
    let out = run(ctt(&work.db()).args(["store", "create", &store]));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("already exists"),
        "{}",
        describe(&out)
    );

    let source = format!("s3://{bucket}/");
    let report = ingest(ctt(&work.db()).args(["--store", &store]), &[&source]);
    assert_eq!(n(&report, "records_stored"), 18, "{report}");
    assert_eq!(
        (n(&report, "files_loaded"), n(&report, "files_skipped")),
        (1, 1)
    );
    let again = ingest(ctt(&work.db()).args(["--store", &store]), &[&source]);
    assert_eq!(
        (
            n(&again, "files_already_loaded"),
            n(&again, "records_stored")
        ),
        (1, 0)
    );

    let day = ["--from", "2017-06-01", "--to", "2017-06-01"];
    let out = run(ctt(&work.db())
        .args(["--store", &store, "scan", "--count"])
        .args(day));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "18",
        "{}",
        describe(&out)
    );
    let out = run(ctt(&work.db()).args(["--store", &store, "users", "--format", "json"]));
    let users: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(&out)));
    let names: Vec<&str> = users
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        names,
        [
            "alucloud171",
            "elasticmapreduce.amazonaws.com",
            "grycap-aws",
            "lambda.amazonaws.com"
        ],
        "{users}"
    );
    assert!(!work.db().exists(), "--store never touches the SQLite file");

    // The same bucket into SQLite, by the day prefixes of --from/--to.
    let report = ingest(
        &mut ctt(&work.db()),
        &[&source, day[0], day[1], day[2], day[3]],
    );
    assert_eq!(n(&report, "records_stored"), 18, "{report}");
    let report = ingest(&mut ctt(&work.db()), &[&source, "--from", "2017-06-02"]);
    assert_eq!(
        n(&report, "files_loaded") + n(&report, "files_already_loaded"),
        0,
        "{report}"
    );
}

#[test]
fn mixing_s3_and_local_sources_is_refused() {
    let work = Workspace::new();
    let out = run(ctt(&work.db()).args(["ingest", "s3://some-bucket/", "."]));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("cannot load S3 and local sources in one run")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_and_tokens_use_the_dynamodb_store() {
    let bucket = bucket_with_sample().await;
    let work = Workspace::new();
    let store = format!("dynamodb://{}", unique_name("ctt-cli"));
    let out = run(ctt(&work.db()).args(["store", "create", &store]));
    assert!(out.status.success(), "{}", describe(&out));
    ingest(
        ctt(&work.db()).args(["--store", &store]),
        &[&format!("s3://{bucket}/")],
    );

    let out = run(ctt(&work.db()).args([
        "--store", &store, "token", "create", "--role", "viewer", "--name", "teacher",
    ]));
    assert!(out.status.success(), "{}", describe(&out));
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let out = run(ctt(&work.db()).args(["--store", &store, "token", "list", "--format", "json"]));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("teacher"),
        "{}",
        describe(&out)
    );

    let (mut server, base) =
        start_serve(ctt(&work.db()).args(["--store", &store, "serve", "--listen", "127.0.0.1:0"]));
    let count = "/scan?from=2017-06-01&to=2017-06-01&count=true";
    let answers = (get(&base, count, Some(&token)), get(&base, count, None));
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(answers.0, (200, "18".to_owned()));
    assert_eq!(answers.1.0, 401, "a token exists: it is required");
    assert!(!work.db().exists(), "--store never touches the SQLite file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_follows_a_bucket() {
    let bucket = bucket_with_sample().await;
    let sdk = Moto::shared().sdk_config().await;
    let client = ctt_aws::s3::client(&sdk, None);
    // A file delivered today, where the trail would put it.
    let today = chrono::Utc::now().format("%Y/%m/%d");
    let key = format!(
        "AWSLogs/974349055189/CloudTrail/us-east-1/{today}/974349055189_CloudTrail_us-east-1_today.json.gz"
    );
    let sample =
        std::fs::read(corpus().join("grycap-cloudtrail-tracker/sample-cloudtrail-event.json"))
            .expect("sample log");
    client
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(gzip(&sample).into())
        .send()
        .await
        .expect("upload");

    let work = Workspace::new();
    let (mut server, base) = start_serve(ctt(&work.db()).args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--follow",
        &format!("s3://{bucket}/AWSLogs/"),
    ]));
    let count = "/scan?from=2017-06-01&to=2017-06-01&count=true";
    let mut answer = (0, String::new());
    for _ in 0..100 {
        answer = get(&base, count, None);
        if answer.1 == "18" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(answer, (200, "18".to_owned()), "today's file was loaded");
}

/// The original's S3 notification, announcing `key` of `bucket`.
fn notification(bucket: &str, key: &str) -> String {
    let text = std::fs::read(corpus().join("grycap-cloudtrail-tracker/s3-notification-event.json"))
        .expect("notification");
    let mut event: Value = serde_json::from_slice(&text).expect("JSON");
    event["Records"][0]["s3"]["bucket"]["name"] = Value::from(bucket);
    event["Records"][0]["s3"]["object"]["key"] = Value::from(key.replace('/', "%2F"));
    event.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_follows_a_bucket_through_its_notification_queue() {
    use ctt_aws::emulator::{create_queue, queue_depth, send_message};
    let bucket = bucket_with_sample().await;
    let sdk = Moto::shared().sdk_config().await;
    let corrupt = "AWSLogs/974349055189/CloudTrail/us-east-1/2017/06/01/974349055189_CloudTrail_us-east-1_20170601T0640Z_corrupt.json.gz";
    ctt_aws::s3::client(&sdk, None)
        .put_object()
        .bucket(&bucket)
        .key(corrupt)
        .body(b"\x1f\x8b\x08\x00 not gzip".to_vec().into())
        .send()
        .await
        .expect("upload");
    let queue = create_queue(&sdk, &unique_name("ctt-cli"), 60)
        .await
        .expect("create queue");
    // The sample announced twice, and the corrupt file.
    for key in [SAMPLE_KEY, corrupt, SAMPLE_KEY] {
        send_message(&sdk, &queue, &notification(&bucket, key))
            .await
            .expect("send");
    }

    let work = Workspace::new();
    let config = work.path("ctt.toml");
    // Short polls: moto serves one request at a time, and long polls would hold
    // up the other tests.
    std::fs::write(&config, "[server]\nsqs_wait_secs = 0\n").expect("config");
    let (mut server, base) = start_serve(ctt(&work.db()).args([
        "--config",
        &config.display().to_string(),
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--follow",
        &format!("s3://{bucket}/AWSLogs/"),
        "--sqs-queue-url",
        &queue,
    ]));
    let count = "/scan?from=2017-06-01&to=2017-06-01&count=true";
    let mut answer = (0, String::new());
    let mut depth = (0, 0);
    for _ in 0..150 {
        answer = get(&base, count, None);
        depth = queue_depth(&sdk, &queue).await.expect("depth");
        if answer.1 == "18" && depth.0 + depth.1 == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(answer, (200, "18".to_owned()), "the sample loaded once");
    assert_eq!(
        depth.0 + depth.1,
        1,
        "only the corrupt file's message is left"
    );
    let out = run(ctt(&work.db()).args(["files", "--failed", "--format", "json"]));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("corrupt.json.gz"),
        "{}",
        describe(&out)
    );
}

#[test]
fn a_queue_is_followed_only_with_a_bucket() {
    let work = Workspace::new();
    let out = run(ctt(&work.db()).args(["serve", "--sqs-queue-url", "http://127.0.0.1:1/q"]));
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--follow"),
        "{}",
        describe(&out)
    );
    let out = run(ctt(&work.db()).args([
        "serve",
        "--follow",
        work.dir.path().to_str().unwrap_or_default(),
        "--sqs-queue-url",
        "http://127.0.0.1:1/q",
    ]));
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("s3://bucket/prefix"),
        "{}",
        describe(&out)
    );
}

/// `ctt verify s3://…` (SPEC §14): from S3, a digest's signature is its
/// object's `signature` metadata. A generated day is uploaded with each digest's
/// signature as metadata (read from the next digest, as CloudTrail would have
/// set it), but one digest carries another's: it alone is `invalid-signature`,
/// although the next digest still records its true signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reads_signatures_from_s3_metadata() {
    let work = Workspace::new();
    let tree = work.path("trail");
    let out = run(Command::new(env!("CARGO_BIN_EXE_ctt"))
        .args([
            "gen", "--preset", "small", "--days", "1", "--seed", "5", "--end",
        ])
        .arg("2018-06-15T12:00:00Z")
        .arg(&tree));
    assert!(out.status.success(), "{}", describe(&out));
    let files: Vec<std::path::PathBuf> = walkdir::WalkDir::new(&tree)
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.into_path())
        .filter(|p| p.to_string_lossy().ends_with(".json.gz"))
        .collect();
    let key_of = |p: &Path| {
        p.strip_prefix(&tree)
            .expect("inside")
            .to_string_lossy()
            .replace('\\', "/")
    };
    let body_of = |p: &Path| -> Value {
        let mut raw = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(std::fs::File::open(p).expect("open")),
            &mut raw,
        )
        .expect("gunzip");
        serde_json::from_slice(&raw).expect("json")
    };
    // Each digest's signature, as the next digest records it.
    let mut signature_of = std::collections::HashMap::new();
    for path in files
        .iter()
        .filter(|p| key_of(p).contains("CloudTrail-Digest"))
    {
        let body = body_of(path);
        if let (Some(previous), Some(signature)) = (
            body["previousDigestS3Object"].as_str(),
            body["previousDigestSignature"].as_str(),
        ) {
            signature_of.insert(previous.to_owned(), signature.to_owned());
        }
    }
    let mut signed: Vec<&String> = signature_of.keys().collect();
    signed.sort();
    let (wronged, donor) = (signed[5].clone(), signed[6].clone());

    let (client, bucket) = new_bucket("ctt-verify").await;
    for path in &files {
        let key = key_of(path);
        let mut put = client
            .put_object()
            .bucket(&bucket)
            .key(&key)
            .body(std::fs::read(path).expect("read").into());
        let metadata = if key == wronged {
            signature_of.get(&donor)
        } else {
            signature_of.get(&key)
        };
        if let Some(signature) = metadata {
            put = put.metadata("signature", signature);
        }
        put.send().await.expect("upload");
    }

    let out = run(ctt(&work.db())
        .args([
            "verify",
            &format!("s3://{bucket}/"),
            "--format",
            "json",
            "--public-keys",
        ])
        .arg(tree.join("cloudtrail-public-keys.json")));
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("report");
    let statuses: std::collections::BTreeMap<String, String> = report["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            (
                f["key"].as_str().unwrap_or_default().to_owned(),
                f["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let s3 = |key: &str| format!("s3://{bucket}/{key}");
    assert_eq!(
        statuses.get(&s3(&wronged)).map(String::as_str),
        Some("invalid-signature")
    );
    assert_eq!(statuses.get(&s3(&donor)).map(String::as_str), Some("valid"));
    let logs = statuses
        .keys()
        .filter(|k| !k.contains("CloudTrail-Digest"))
        .count();
    assert!(logs > 20, "{logs} logs");
    for (key, status) in &statuses {
        if *key != s3(&wronged) && !(status == "unsigned" && key.contains("CloudTrail-Digest")) {
            assert_eq!(status, "valid", "{key}");
        }
    }

    // A day of the bucket: listed by day prefixes, the digests' as well as
    // the logs' (not the whole bucket), with the same verdicts.
    let out = run(ctt(&work.db())
        .args([
            "verify",
            &format!("s3://{bucket}/"),
            "--format",
            "json",
            "--from",
            "2018-06-15",
            "--to",
            "2018-06-15",
            "--public-keys",
        ])
        .arg(tree.join("cloudtrail-public-keys.json")));
    let day: Value = serde_json::from_slice(&out.stdout).expect("report");
    let day_files = day["files"].as_array().expect("files");
    assert!(
        day_files.iter().any(|f| f["kind"] == "digest"),
        "{}",
        describe(&out)
    );
    for f in day_files {
        let key = f["key"].as_str().unwrap_or_default();
        assert_eq!(
            statuses.get(key).map(String::as_str),
            f["status"].as_str(),
            "{key}"
        );
    }

    // `ctt ingest --verify` of the bucket: loaded in parts, then verified
    // by weeks listed with their digests, each log's hash kept by the load:
    // the counts and verdicts of the whole bucket.
    let out = run(ctt(&work.db())
        .args([
            "-v",
            "ingest",
            &format!("s3://{bucket}/"),
            "--no-progress",
            "--verify",
            "--public-keys",
        ])
        .arg(tree.join("cloudtrail-public-keys.json")));
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("hashed_by_the_load={logs}")),
        "{stderr}"
    );
    let digests = statuses.len() - logs;
    let unsigned = statuses.values().filter(|s| *s == "unsigned").count();
    let expected = format!(
        "verified: logs: {logs} valid; digests: {} valid, {unsigned} unsigned, 1 invalid-signature;",
        digests - unsigned - 1
    );
    assert!(stderr.contains(&expected), "{expected}\n{stderr}");
    let ledger = run(ctt(&work.db()).args(["files", "--format", "json"]));
    let ledger: Value = serde_json::from_slice(&ledger.stdout).expect("ledger");
    let valid = ledger
        .as_array()
        .expect("ledger")
        .iter()
        .filter(|e| e["integrity"] == "valid")
        .count();
    assert_eq!(valid, logs, "each log's verdict kept in the ledger");

    // Without --public-keys, the keys come from CloudTrail's ListPublicKeys in
    // each trail's home region, all pages: the same verdicts.
    let keys: Value = serde_json::from_slice(
        &std::fs::read(tree.join("cloudtrail-public-keys.json")).expect("keys"),
    )
    .expect("keys json");
    // The file is the CLI's output (times as text); the wire has epoch seconds.
    let listed = &keys["PublicKeyList"][0];
    let stub = ListPublicKeysStub::start(serde_json::json!({
        "Value": listed["Value"],
        "Fingerprint": listed["Fingerprint"],
        "ValidityStartTime": 1.5e9,
        "ValidityEndTime": 1.6e9,
    }));
    let out = run(crate::support::ctt_with_db(&work.db())
        .env_remove("AWS_PROFILE")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", Moto::shared().endpoint())
        .env("AWS_ENDPOINT_URL_CLOUDTRAIL", &stub.endpoint)
        .args([
            "--region",
            REGION,
            "verify",
            &format!("s3://{bucket}/"),
            "--format",
            "json",
        ]));
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let again: Value = serde_json::from_slice(&out.stdout).expect("report");
    assert_eq!(again["files"], report["files"]);
    // One request per page, in each home region of the digests (the
    // generator's trails are homed in each region they log).
    let requests = stub.requests();
    let regions: std::collections::BTreeSet<String> = statuses
        .keys()
        .filter(|k| k.contains("CloudTrail-Digest/"))
        .filter_map(|k| k.split("CloudTrail-Digest/").nth(1)?.split('/').next())
        .map(str::to_owned)
        .collect();
    let asked: std::collections::BTreeSet<String> =
        requests.iter().map(|(region, _)| region.clone()).collect();
    assert_eq!(asked, regions);
    assert_eq!(requests.len(), 2 * regions.len(), "{requests:?}");
    for (_, body) in &requests {
        let body: Value = serde_json::from_str(body).expect("request body");
        let (start, end) = (body["StartTime"].as_f64(), body["EndTime"].as_f64());
        assert!(start.zip(end).is_some_and(|(s, e)| s < e), "{body}");
    }
}

/// CloudTrail's `ListPublicKeys` on a loopback port: moto does not emulate
/// that call (checked: moto 5.2), so this serves its JSON protocol
/// (`awsJson1_1`) with two pages — an unrelated key and a `NextToken`, then
/// `key` — and records each request's region (from its signature's scope)
/// and body.
struct ListPublicKeysStub {
    endpoint: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
}

impl ListPublicKeysStub {
    fn start(key: Value) -> Self {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (record, key) = (record.clone(), key.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                    let mut stream = stream;
                    loop {
                        let (mut length, mut region, mut target) =
                            (0, String::new(), String::new());
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        loop {
                            line.clear();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            let header = line.trim_end();
                            if header.is_empty() {
                                break;
                            }
                            let (name, value) = header.split_once(':').unwrap_or((header, ""));
                            match name.to_ascii_lowercase().as_str() {
                                "content-length" => length = value.trim().parse().unwrap_or(0),
                                "x-amz-target" => target = value.trim().to_owned(),
                                "authorization" => {
                                    // Credential=KEY/DATE/REGION/cloudtrail/aws4_request
                                    region = value
                                        .split("Credential=")
                                        .nth(1)
                                        .and_then(|c| c.split('/').nth(2))
                                        .unwrap_or_default()
                                        .to_owned();
                                }
                                _ => {}
                            }
                        }
                        let mut body = vec![0; length];
                        if reader.read_exact(&mut body).is_err() {
                            return;
                        }
                        let body = String::from_utf8_lossy(&body).into_owned();
                        let answer = if !target.ends_with(".ListPublicKeys") {
                            serde_json::json!({"__type": "UnknownOperationException"})
                        } else if body.contains("NextToken") {
                            serde_json::json!({"PublicKeyList": [key]})
                        } else {
                            serde_json::json!({
                                "PublicKeyList": [{
                                    "Value": "AAAA",
                                    "Fingerprint": "00000000000000000000000000000000",
                                    "ValidityStartTime": 1.0e9,
                                    "ValidityEndTime": 1.1e9,
                                }],
                                "NextToken": "page-2",
                            })
                        };
                        record.lock().expect("lock").push((region, body));
                        let answer = answer.to_string();
                        let response = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\n\r\n{answer}",
                            answer.len()
                        );
                        if stream.write_all(response.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        ListPublicKeysStub { endpoint, seen }
    }

    fn requests(&self) -> Vec<(String, String)> {
        self.seen.lock().expect("lock").clone()
    }
}
