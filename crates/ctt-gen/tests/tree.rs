//! The generated tree, read back from disk: layout, determinism, record
//! contents and the mix the crate documentation promises.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::{DateTime, NaiveDateTime, Utc};
use ctt_gen::{GenConfig, GenSummary, Preset, generate};
use flate2::read::GzDecoder;
use serde_json::Value;

const SEED: u64 = 7;

fn end() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-06-28T18:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// Every `.json.gz` file under `root`: relative path → raw bytes.
fn read_tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, folder: &Path, files: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in fs::read_dir(folder).expect("list folder") {
            let path = entry.expect("folder entry").path();
            if path.is_dir() {
                walk(root, &path, files);
            } else if path.to_string_lossy().ends_with(".json.gz") {
                let relative = path.strip_prefix(root).expect("inside root").to_path_buf();
                files.insert(relative, fs::read(&path).expect("read file"));
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(root, root, &mut files);
    files
}

fn gunzip_json(bytes: &[u8]) -> Value {
    let mut text = String::new();
    GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .expect("valid gzip");
    serde_json::from_str(&text).expect("valid JSON")
}

fn generate_tree(config: &GenConfig) -> (GenSummary, BTreeMap<PathBuf, Vec<u8>>) {
    let out = tempfile::tempdir().expect("temporary folder");
    let summary = generate(out.path(), config).expect("generation succeeds");
    (summary, read_tree(out.path()))
}

/// The small preset's tree, generated once for all tests of this file.
struct Small {
    config: GenConfig,
    summary: GenSummary,
    files: BTreeMap<PathBuf, Vec<u8>>,
    /// Log files only: relative path → records.
    logs: BTreeMap<PathBuf, Vec<Value>>,
}

fn small() -> &'static Small {
    static SMALL: OnceLock<Small> = OnceLock::new();
    SMALL.get_or_init(|| {
        let config = GenConfig::new(Preset::Small, SEED, end());
        let (summary, files) = generate_tree(&config);
        let logs = files
            .iter()
            .filter(|(path, _)| !is_digest(path))
            .map(|(path, bytes)| {
                let body = gunzip_json(bytes);
                let records = body["Records"]
                    .as_array()
                    .cloned()
                    .expect("log file has Records");
                (path.clone(), records)
            })
            .collect();
        Small {
            config,
            summary,
            files,
            logs,
        }
    })
}

fn is_digest(path: &Path) -> bool {
    path.components()
        .any(|c| c.as_os_str() == "CloudTrail-Digest")
}

fn records() -> impl Iterator<Item = &'static Value> {
    small().logs.values().flatten()
}

fn parts(path: &Path) -> Vec<String> {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect()
}

fn parse_event_time(text: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%SZ")
        .ok()
        .map(|t| t.and_utc())
}

/// Key parts of a log or digest file, checked against the documented layout.
struct Key {
    account: String,
    region: String,
    /// Delivery time from the file name.
    time: DateTime<Utc>,
}

fn check_key(path: &Path, organization: bool) -> Key {
    let parts = parts(path);
    let shown = path.display();
    let mut i = 0;
    assert_eq!(parts[i], "AWSLogs", "{shown}");
    i += 1;
    if organization {
        assert!(
            parts[i].starts_with("o-") && parts[i].len() == 12,
            "{shown}"
        );
        i += 1;
    }
    let account = parts[i].clone();
    assert!(
        account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()),
        "{shown}"
    );
    let kind = parts[i + 1].as_str();
    let region = parts[i + 2].clone();
    assert!(region.split('-').count() == 3, "{shown}");
    let (year, month, day) = (&parts[i + 3], &parts[i + 4], &parts[i + 5]);
    let name = &parts[i + 6];
    assert_eq!(parts.len(), i + 7, "{shown}");
    let fields: Vec<&str> = name.split('_').collect();
    assert_eq!(fields[0], account, "{shown}");
    assert_eq!(fields[2], region, "{shown}");
    let (stamp, format) = match kind {
        "CloudTrail" => {
            assert_eq!(fields.len(), 5, "{shown}");
            assert_eq!(fields[1], "CloudTrail", "{shown}");
            let random = fields[4]
                .strip_suffix(".json.gz")
                .expect("ends with .json.gz");
            assert!(
                random.len() == 16 && random.bytes().all(|b| b.is_ascii_alphanumeric()),
                "{shown}"
            );
            (fields[3], "%Y%m%dT%H%MZ")
        }
        "CloudTrail-Digest" => {
            assert_eq!(fields.len(), 6, "{shown}");
            assert_eq!(fields[1], "CloudTrail-Digest", "{shown}");
            assert_eq!(fields[4], region, "{shown}");
            (
                fields[5]
                    .strip_suffix(".json.gz")
                    .expect("ends with .json.gz"),
                "%Y%m%dT%H%M%SZ",
            )
        }
        other => panic!("unexpected folder {other} in {shown}"),
    };
    let time = NaiveDateTime::parse_from_str(stamp, format)
        .expect("timestamp in name")
        .and_utc();
    assert_eq!(
        time.format("%Y/%m/%d").to_string(),
        format!("{year}/{month}/{day}"),
        "{shown}"
    );
    Key {
        account,
        region,
        time,
    }
}

#[test]
fn same_seed_writes_identical_tree() {
    let config = GenConfig {
        days: Some(3),
        ..GenConfig::new(Preset::Small, SEED, end())
    };
    let (first_summary, first) = generate_tree(&config);
    let (second_summary, second) = generate_tree(&config);
    assert_eq!(first_summary, second_summary);
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        second.keys().collect::<Vec<_>>()
    );
    assert!(
        first == second,
        "same configuration produced different bytes"
    );
}

/// The log files of a day (digests chain from the history's first hour, so
/// they depend on the range).
fn files_of_day<'a>(files: &'a BTreeMap<PathBuf, Vec<u8>>, day: &str) -> Vec<&'a PathBuf> {
    files
        .keys()
        .filter(|p| p.to_string_lossy().contains(day) && !is_digest(p))
        .collect()
}

#[test]
fn days_do_not_depend_on_the_rest_of_the_range() {
    // A 3-day tree and the 14-day tree ending at the same instant share their last whole days.
    let config = GenConfig {
        days: Some(3),
        ..GenConfig::new(Preset::Small, SEED, end())
    };
    let (_, short) = generate_tree(&config);
    let full = &small().files;
    let day = "2024/06/27";
    assert!(!files_of_day(&short, day).is_empty());
    assert_eq!(files_of_day(&short, day), files_of_day(full, day));
    for path in files_of_day(&short, day) {
        assert!(short[path] == full[path], "{} differs", path.display());
    }
}

#[test]
fn different_seed_writes_different_tree() {
    let config = GenConfig {
        days: Some(3),
        ..GenConfig::new(Preset::Small, SEED, end())
    };
    let (_, first) = generate_tree(&config);
    let (_, other) = generate_tree(&GenConfig {
        seed: SEED + 1,
        ..config
    });
    assert_ne!(
        first.keys().collect::<Vec<_>>(),
        other.keys().collect::<Vec<_>>()
    );
}

#[test]
fn keys_follow_cloudtrail_layout() {
    let small = small();
    for path in small.files.keys() {
        let key = check_key(path, false);
        assert_eq!(key.account, "974349055189");
        assert!(
            key.time <= small.config.end,
            "{} delivered after end",
            path.display()
        );
    }
    let regions: HashSet<String> = small
        .files
        .keys()
        .map(|p| check_key(p, false).region)
        .collect();
    assert!((2..=4).contains(&regions.len()), "{regions:?}");
    assert!(regions.contains("us-east-1"));
}

#[test]
fn organization_trail_has_org_level_and_two_accounts() {
    let config = GenConfig {
        days: Some(2),
        organization: true,
        ..GenConfig::new(Preset::Small, SEED, end())
    };
    let (summary, files) = generate_tree(&config);
    assert!(summary.files > 0);
    let accounts: HashSet<String> = files.keys().map(|p| check_key(p, true).account).collect();
    assert_eq!(accounts.len(), 2, "{accounts:?}");
}

#[test]
fn log_files_hold_the_five_minutes_before_delivery_sorted() {
    for (path, records) in &small().logs {
        let key = check_key(path, false);
        assert!(!records.is_empty(), "{} is empty", path.display());
        let times: Vec<DateTime<Utc>> = records
            .iter()
            .map(|r| {
                parse_event_time(r["eventTime"].as_str().unwrap_or_default())
                    .expect("valid eventTime")
            })
            .collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "{} not sorted",
            path.display()
        );
        for (record, time) in records.iter().zip(&times) {
            assert!(
                *time < key.time && *time >= key.time - chrono::Duration::minutes(5),
                "{} holds {time}",
                path.display()
            );
            assert_eq!(
                record["awsRegion"],
                key.region.as_str(),
                "{}",
                path.display()
            );
            assert_eq!(
                record["recipientAccountId"],
                key.account.as_str(),
                "{}",
                path.display()
            );
        }
        assert!(
            records.len() <= 40,
            "{} holds {} records",
            path.display(),
            records.len()
        );
    }
}

#[test]
fn every_record_has_the_required_fields_and_time_in_range() {
    let small = small();
    let start = small.config.end - chrono::Duration::days(14);
    for record in records() {
        for field in [
            "eventVersion",
            "eventTime",
            "eventSource",
            "eventName",
            "awsRegion",
            "sourceIPAddress",
            "userAgent",
            "requestParameters",
            "responseElements",
            "requestID",
            "eventID",
            "readOnly",
            "eventType",
            "managementEvent",
            "recipientAccountId",
            "eventCategory",
        ] {
            assert!(record.get(field).is_some(), "missing {field}: {record}");
        }
        let time = parse_event_time(record["eventTime"].as_str().expect("eventTime is a string"))
            .expect("eventTime format");
        assert!(
            time >= start && time <= small.config.end,
            "{time} out of range"
        );
        assert!(record["readOnly"].is_boolean());
        assert_eq!(record["managementEvent"], true);
        assert_eq!(record["eventCategory"], "Management");
        let id = record["eventID"].as_str().expect("eventID is a string");
        assert_eq!(id.len(), 36, "{id}");
        assert_eq!(&id[14..15], "4", "{id}");
    }
    let first = records()
        .filter_map(|r| parse_event_time(r["eventTime"].as_str()?))
        .min();
    assert_eq!(first, Some(small.summary.first));
}

#[test]
fn event_ids_are_unique_except_documented_redeliveries() {
    let small = small();
    let mut files_of: HashMap<&str, usize> = HashMap::new();
    for record in records() {
        *files_of
            .entry(record["eventID"].as_str().unwrap_or_default())
            .or_default() += 1;
    }
    let duplicates: usize = files_of.values().map(|n| n - 1).sum();
    assert!(duplicates > 0, "small trees contain re-delivered records");
    assert_eq!(duplicates as u64, small.summary.duplicate_records);
    assert!(files_of.values().all(|&n| n <= 2));
}

#[test]
fn summary_matches_the_tree() {
    let small = small();
    let bytes: u64 = small
        .files
        .iter()
        .filter(|(p, _)| !is_digest(p))
        .map(|(_, b)| b.len() as u64)
        .sum();
    assert_eq!(small.summary.files, small.logs.len() as u64);
    assert_eq!(small.summary.records, records().count() as u64);
    assert_eq!(small.summary.bytes_gz, bytes);
    assert_eq!(
        small.summary.digest_files,
        small.files.keys().filter(|p| is_digest(p)).count() as u64
    );
}

#[test]
fn small_preset_has_documented_volume() {
    let summary = &small().summary;
    assert!(
        (5_000..=12_000).contains(&summary.records),
        "{} records",
        summary.records
    );
    assert!(
        (100..=1_000).contains(&summary.files),
        "{} files",
        summary.files
    );
}

#[test]
fn read_only_share_is_about_seventy_percent() {
    let total = records().count() as f64;
    let read_only = records().filter(|r| r["readOnly"] == true).count() as f64;
    let share = read_only / total;
    assert!((0.6..=0.8).contains(&share), "read-only share {share}");
}

#[test]
fn about_three_in_ten_records_pass_the_default_filter() {
    let dropped = [
        "get", "describe", "list", "info", "decrypt", "checkmfa", "head",
    ];
    let kept = records()
        .filter(|r| {
            let name = r["eventName"].as_str().unwrap_or_default().to_lowercase();
            !dropped.iter().any(|p| name.starts_with(p))
        })
        .count() as f64;
    let share = kept / records().count() as f64;
    assert!((0.2..=0.4).contains(&share), "kept share {share}");
}

#[test]
fn errors_are_a_few_percent() {
    let errors = records().filter(|r| r.get("errorCode").is_some()).count() as f64;
    let share = errors / records().count() as f64;
    assert!((0.01..=0.06).contains(&share), "error share {share}");
}

#[test]
fn digest_files_exist_and_have_no_records() {
    let digests: Vec<(&PathBuf, &Vec<u8>)> =
        small().files.iter().filter(|(p, _)| is_digest(p)).collect();
    assert!(!digests.is_empty());
    for (path, bytes) in digests {
        let body = gunzip_json(bytes);
        assert!(body.get("Records").is_none(), "{}", path.display());
        assert!(body["digestStartTime"].is_string(), "{}", path.display());
        assert!(body["logFiles"].is_array(), "{}", path.display());
    }
}

/// SPEC §14: a digest every hour of every region (even without logs), each
/// listing the SHA-256 of the decompressed logs delivered in its hour, chained
/// to the previous by hash and signature, and signed with the key written as
/// `cloudtrail-public-keys.json`.
#[test]
fn digests_are_hourly_chained_and_signed() {
    use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
    use base64::Engine;

    let out = tempfile::tempdir().expect("temporary folder");
    let config = GenConfig {
        days: Some(2),
        ..GenConfig::new(Preset::Small, SEED, end())
    };
    let summary = generate(out.path(), &config).expect("generation succeeds");
    let files = read_tree(out.path());
    let keys: Value = serde_json::from_slice(
        &fs::read(out.path().join(ctt_gen::PUBLIC_KEYS_FILE)).expect("public keys"),
    )
    .expect("keys JSON");
    let key = &keys["PublicKeyList"][0];
    let der = base64::engine::general_purpose::STANDARD
        .decode(key["Value"].as_str().expect("Value"))
        .expect("base64");
    let sha256 = |bytes: &[u8]| {
        hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref())
    };
    let gunzip = |bytes: &[u8]| {
        let mut raw = Vec::new();
        GzDecoder::new(bytes).read_to_end(&mut raw).expect("gzip");
        raw
    };
    let hashes: BTreeMap<String, String> = files
        .iter()
        .map(|(p, bytes)| {
            (
                p.to_string_lossy().replace('\\', "/"),
                sha256(&gunzip(bytes)),
            )
        })
        .collect();
    let mut by_region: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (path, bytes) in files.iter().filter(|(p, _)| is_digest(p)) {
        let region = parts(path)[3].clone();
        by_region
            .entry(region)
            .or_default()
            .push(gunzip_json(bytes));
    }
    assert_eq!(by_region.len(), 3, "every region");
    assert_eq!(
        summary.digest_files,
        by_region.values().map(|d| d.len() as u64).sum::<u64>()
    );
    let mut listed = 0;
    for (region, digests) in &by_region {
        // Two days: about 47 whole hours.
        assert!(
            (46..=48).contains(&digests.len()),
            "{region}: {}",
            digests.len()
        );
        assert!(
            digests
                .iter()
                .any(|d| d["logFiles"].as_array().is_some_and(Vec::is_empty))
        );
        for pair in digests.windows(2) {
            let (previous, digest) = (&pair[0], &pair[1]);
            assert_eq!(digest["digestStartTime"], previous["digestEndTime"]);
            assert_eq!(digest["previousDigestS3Object"], previous["digestS3Object"]);
            let object = previous["digestS3Object"].as_str().expect("object");
            assert_eq!(
                digest["previousDigestHashValue"].as_str(),
                hashes.get(object).map(String::as_str)
            );
            // The previous digest's signature, carried by this one, verifies.
            let signing = format!(
                "{}\n{}/{}\n{}\n{}",
                previous["digestEndTime"].as_str().expect("end"),
                previous["digestS3Bucket"].as_str().expect("bucket"),
                object,
                hashes[object],
                previous["previousDigestSignature"]
                    .as_str()
                    .unwrap_or("null"),
            );
            let signature = hex::decode(
                digest["previousDigestSignature"]
                    .as_str()
                    .expect("signature"),
            )
            .expect("hex");
            assert_eq!(previous["digestPublicKeyFingerprint"], key["Fingerprint"]);
            UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &der)
                .verify(signing.as_bytes(), &signature)
                .unwrap_or_else(|_| panic!("{object}: signature"));
        }
        assert!(digests[0]["previousDigestS3Object"].is_null());
        for digest in digests {
            for log in digest["logFiles"].as_array().expect("logFiles") {
                let object = log["s3Object"].as_str().expect("s3Object");
                assert_eq!(
                    log["hashValue"].as_str(),
                    hashes.get(object).map(String::as_str),
                    "{object}"
                );
                listed += 1;
            }
        }
    }
    let logs = files.keys().filter(|p| !is_digest(p)).count();
    assert!(
        listed <= logs && listed + 60 >= logs,
        "{listed} of {logs} logs listed"
    );
}

#[test]
fn identities_cover_every_kind_the_spec_resolves() {
    let types: HashSet<&str> = records()
        .filter_map(|r| r["userIdentity"]["type"].as_str())
        .collect();
    for kind in ["IAMUser", "AssumedRole", "AWSService", "Root"] {
        assert!(types.contains(kind), "no {kind} in {types:?}");
    }
    let no_identity = records()
        .filter(|r| r.get("userIdentity").is_none())
        .count();
    assert!(
        (1..=10).contains(&no_identity),
        "{no_identity} records without userIdentity"
    );
    assert!(records().any(|r| r["userIdentity"]["sessionContext"]["sourceIdentity"].is_string()));
    assert!(records().any(
        |r| r["userIdentity"]["type"] == "Root" && r["userIdentity"].get("userName").is_none()
    ));
    assert!(
        records()
            .any(|r| r["userIdentity"]["type"] == "Root"
                && r["userIdentity"]["userName"].is_string())
    );
    let sso = "arn:aws:sts::974349055189:assumed-role/AWSReservedSSO_AdministratorAccess_abcdef/maria.garcia@example.edu";
    assert!(records().any(|r| r["userIdentity"]["arn"] == sso));
    let students: HashSet<&str> = records()
        .filter_map(|r| r["userIdentity"]["userName"].as_str())
        .filter(|name| name.starts_with("alucloud"))
        .collect();
    assert!(students.len() >= 30, "{} students active", students.len());
}

#[test]
fn assume_role_responses_carry_secrets_to_redact() {
    let credentials: Vec<&Value> = records()
        .filter(|r| r["eventName"] == "AssumeRole" && r.get("errorCode").is_none())
        .map(|r| &r["responseElements"]["credentials"])
        .collect();
    assert!(!credentials.is_empty());
    for credential in credentials {
        for field in ["accessKeyId", "sessionToken", "secretAccessKey"] {
            assert!(
                credential[field].as_str().is_some_and(|v| !v.is_empty()),
                "{field} missing: {credential}"
            );
        }
    }
}

#[test]
fn notable_calls_have_their_indexed_parameters() {
    let find =
        |name: &str| records().find(|r| r["eventName"] == name && r.get("errorCode").is_none());
    let expectations = [
        ("RunInstances", "/requestParameters/instanceType"),
        (
            "RunInstances",
            "/responseElements/instancesSet/items/0/instanceId",
        ),
        ("CreateBucket", "/requestParameters/bucketName"),
        ("ConsoleLogin", "/responseElements/ConsoleLogin"),
        ("AssumeRole", "/requestParameters/roleSessionName"),
    ];
    for (name, pointer) in expectations {
        let record = find(name).unwrap_or_else(|| panic!("no successful {name}"));
        assert!(
            record.pointer(pointer).is_some(),
            "{name} lacks {pointer}: {record}"
        );
    }
    let login = find("ConsoleLogin").expect("a console login");
    assert_eq!(login["eventType"], "AwsConsoleSignIn");
}

#[test]
fn progress_is_reported_after_every_day() {
    let reports = std::sync::Mutex::new(Vec::new());
    let config = GenConfig {
        days: Some(2),
        ..GenConfig::new(Preset::Small, SEED, end())
    };
    let out = tempfile::tempdir().expect("temporary folder");
    let summary = ctt_gen::generate_with_progress(out.path(), &config, &|p| {
        reports.lock().expect("lock").push(p);
    })
    .expect("generation succeeds");
    let mut reports = reports.into_inner().expect("lock");
    reports.sort_by_key(|p| p.days_done);
    // Two days back from 18:00 touch three calendar days.
    assert_eq!(
        reports.iter().map(|p| p.days_done).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    let last = reports.last().expect("a report");
    assert_eq!(
        (last.days_total, last.files, last.records),
        (3, summary.files, summary.records)
    );
}

/// Issue #15 (SPEC §11): the class creates and cleans up resources as a
/// class does — most deleted, some left open (instances, NAT gateways,
/// volumes), some deleted by the teacher's evening sweep, some creations
/// refused — with the id fields the catalogue reads, and no deletion of an
/// EC2 resource nobody created (a refused creation creates nothing).
#[test]
fn resources_are_mostly_cleaned_up_some_left_open_some_by_the_teacher() {
    use ctt_core::resources::{Catalogue, Lifecycle, Touch};

    let catalogue = Catalogue::builtin();
    let mut touches: BTreeMap<(String, String, String), Vec<Touch>> = BTreeMap::new();
    let mut refused_creations = 0;
    for record in records() {
        let text = |key: &str| record[key].as_str().unwrap_or_default();
        if !record["errorCode"].is_null()
            && text("eventName").starts_with("Create")
            && catalogue.concerns(text("eventSource"), text("eventName"))
            || !record["errorCode"].is_null() && text("eventName") == "RunInstances"
        {
            refused_creations += 1;
        }
        let changes = catalogue.changes(record);
        if changes.is_empty() {
            continue;
        }
        let event = ctt_core::normalise(record.clone()).expect("a generated record normalises");
        for change in changes {
            touches
                .entry((change.kind, text("awsRegion").to_owned(), change.id))
                .or_default()
                .push(Touch {
                    time: event.event_time,
                    event_id: event.event_id.clone(),
                    user: event.user.clone(),
                    change: change.change,
                    size: change.size,
                });
        }
    }
    let lives: Vec<(&str, Lifecycle)> = touches
        .iter()
        .filter_map(|((kind, _, _), t)| Some((kind.as_str(), Lifecycle::of(t, end())?)))
        .collect();
    let open = |kind: &str| {
        lives
            .iter()
            .filter(|(k, l)| *k == kind && l.state.is_open())
            .count()
    };
    let deleted = lives.iter().filter(|(_, l)| !l.state.is_open()).count();
    let still_open = lives.iter().filter(|(_, l)| l.state.is_open()).count();
    assert!(
        deleted > still_open && still_open > 0,
        "most cleaned up, some left: {deleted} deleted, {still_open} open"
    );
    for kind in ["ec2:instance", "ec2:nat-gateway", "ec2:volume"] {
        assert!(open(kind) > 0, "some {kind} left open");
    }
    let swept = lives
        .iter()
        .filter(|(_, l)| {
            l.deleted_by.as_deref() == Some("teacher")
                && l.owner
                    .as_deref()
                    .is_some_and(|o| o.starts_with("alucloud"))
        })
        .count();
    assert!(swept > 0, "the teacher deletes students' leftovers");
    assert!(refused_creations > 0, "some creations are refused");
    // (Auto Scaling terminates fleet instances launched before the history:
    // those have no known creator, as in a real account.)
    let orphans: Vec<_> = lives
        .iter()
        .filter(|(k, l)| {
            k.starts_with("ec2:")
                && l.owner.is_none()
                && l.deleted_by
                    .as_deref()
                    .is_some_and(|by| by == "teacher" || by.starts_with("alucloud"))
        })
        .collect();
    assert!(
        orphans.is_empty(),
        "a person deleted what nobody created: {orphans:?}"
    );
}

/// Issue #17 (SPEC §13): on its rhythm, a student's script makes a burst of
/// changes in one hour and a burst of refused calls in the next — far above
/// the few calls an hour students make — so the demo has spikes to show.
#[test]
fn a_student_bursts_calls_then_errors_on_purpose() {
    let mut calls: HashMap<(String, String), usize> = HashMap::new();
    let mut failures: HashMap<(String, String), usize> = HashMap::new();
    for record in records() {
        let user = record["userIdentity"]["userName"]
            .as_str()
            .unwrap_or_default();
        if !user.starts_with("alucloud") || record["readOnly"].as_bool() == Some(true) {
            continue;
        }
        let hour = record["eventTime"].as_str().unwrap_or_default()[..13].to_owned();
        *calls.entry((user.to_owned(), hour.clone())).or_default() += 1;
        if !record["errorCode"].is_null() {
            *failures.entry((user.to_owned(), hour)).or_default() += 1;
        }
    }
    let busiest = calls.values().max().copied().unwrap_or_default();
    let most_failed = failures.values().max().copied().unwrap_or_default();
    assert!(
        busiest >= 120,
        "a burst of changes: {busiest} in an hour at most"
    );
    assert!(
        most_failed >= 40,
        "a burst of refusals: {most_failed} in an hour at most"
    );
    // Ordinary hours stay ordinary: fewer than one in a hundred student-hours
    // with 50 changes or more.
    let heavy = calls.values().filter(|n| **n >= 50).count();
    assert!(
        heavy * 100 < calls.len(),
        "{heavy} of {} hours",
        calls.len()
    );
}
