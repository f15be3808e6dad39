//! SPEC §14's statuses on hand-built chains, signed with a key made here.

use std::sync::OnceLock;

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};

use super::scan::sha256_hex;
use super::*;

fn key() -> &'static KeyPair {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    KEY.get_or_init(|| KeyPair::generate(KeySize::Rsa2048).expect("key"))
}

fn other_key() -> &'static KeyPair {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    KEY.get_or_init(|| KeyPair::generate(KeySize::Rsa2048).expect("key"))
}

const FINGERPRINT: &str = "0123456789abcdef0123456789abcdef";

fn keys() -> PublicKeys {
    let mut keys = PublicKeys::default();
    keys.insert(FINGERPRINT, key().public_key().as_ref().to_vec());
    keys
}

fn sign(key: &KeyPair, message: &str) -> String {
    let mut signature = vec![0; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        message.as_bytes(),
        &mut signature,
    )
    .expect("sign");
    hex::encode(signature)
}

const ROOT: &str = "/t/AWSLogs/111122223333";

fn log_key(hour: u32, minute: u32) -> String {
    format!(
        "{ROOT}/CloudTrail/us-east-1/2024/03/01/111122223333_CloudTrail_us-east-1_20240301T{hour:02}{minute:02}Z_abcdefghijklmnop.json.gz"
    )
}

fn digest_object(hour: u32) -> String {
    format!(
        "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/03/01/111122223333_CloudTrail-Digest_us-east-1_trail_us-east-1_20240301T{hour:02}0000Z.json.gz"
    )
}

/// A chain of hourly digests (hours 1..=n), each listing one log delivered at
/// hh:30 with content `log hh`, as CloudTrail would write it; the signatures
/// ride on the next digest.
fn chain(n: u32) -> Inventory {
    let mut inventory = Inventory::default();
    let mut previous: Option<(String, String, String)> = None; // object, hash, signature
    for hour in 1..=n {
        let log = log_key(hour - 1, 30);
        let log_hash = sha256_hex(format!("log {hour}").as_bytes());
        inventory.logs.push(FoundLog {
            key: log.clone(),
            sha256: Ok(log_hash.clone()),
        });
        let object = digest_object(hour);
        let text = serde_json::json!({
            "awsAccountId": "111122223333",
            "digestStartTime": format!("2024-03-01T{:02}:00:00Z", hour - 1),
            "digestEndTime": format!("2024-03-01T{hour:02}:00:00Z"),
            "digestS3Bucket": "bucket",
            "digestS3Object": object,
            "digestPublicKeyFingerprint": FINGERPRINT,
            "digestSignatureAlgorithm": "SHA256withRSA",
            "previousDigestS3Bucket": previous.as_ref().map(|_| "bucket"),
            "previousDigestS3Object": previous.as_ref().map(|p| p.0.clone()),
            "previousDigestHashValue": previous.as_ref().map(|p| p.1.clone()),
            "previousDigestHashAlgorithm": previous.as_ref().map(|_| "SHA-256"),
            "previousDigestSignature": previous.as_ref().map(|p| p.2.clone()),
            "logFiles": [{
                "s3Bucket": "bucket",
                "s3Object": log.trim_start_matches("/t/"),
                "hashValue": log_hash,
                "hashAlgorithm": "SHA-256",
            }],
        })
        .to_string();
        let hash = sha256_hex(text.as_bytes());
        let body: DigestBody = serde_json::from_str(&text).expect("body");
        let signature = sign(key(), &signing_string(&body, &hash));
        inventory.digests.push(FoundDigest {
            key: format!("/t/{object}"),
            read: Ok((hash.clone(), body)),
            signature: None,
        });
        previous = Some((object, hash, signature));
    }
    inventory
}

fn status_of(report: &Report, key_part: &str) -> Vec<(Kind, Status)> {
    report
        .files
        .iter()
        .filter(|f| f.key.contains(key_part))
        .map(|f| (f.kind, f.status))
        .collect()
}

#[test]
fn a_whole_chain_is_valid_and_its_newest_digest_unsigned() {
    let report = verify(&chain(3), &keys());
    assert_eq!(report.logs.get(&Status::Valid), Some(&3), "{report:#?}");
    assert_eq!(report.digests.get(&Status::Valid), Some(&2));
    assert_eq!(
        status_of(&report, "T030000Z"),
        [(Kind::Digest, Status::Unsigned)]
    );
    assert!(report.all_valid());
    assert_eq!(report.unchecked_logs, 0);
}

/// A window of a history checks only the signatures of its own days'
/// digests (the others' verdicts are not kept); the rest is verified alike.
#[test]
fn only_the_digests_asked_for_have_their_signatures_checked() {
    let inventory = chain(3);
    let whole = verify(&inventory, &keys());
    let some = verify_signing(&inventory, &keys(), &|key| !key.contains("T010000Z"));
    assert_eq!(
        status_of(&some, "T010000Z"),
        [(Kind::Digest, Status::Unsigned)]
    );
    assert_eq!(
        status_of(&whole, "T010000Z"),
        [(Kind::Digest, Status::Valid)]
    );
    let others = |report: &Report| -> Vec<(String, Status)> {
        report
            .files
            .iter()
            .filter(|f| !f.key.contains("T010000Z"))
            .map(|f| (f.key.clone(), f.status))
            .collect()
    };
    assert_eq!(others(&some), others(&whole));
    assert_eq!(whole.digests.get(&Status::Valid), Some(&2), "{whole:#?}");
}

#[test]
fn a_given_signature_signs_the_newest_digest() {
    let mut inventory = chain(2);
    let (hash, body) = inventory.digests[1].read.clone().expect("read");
    inventory.digests[1].signature = Some(sign(key(), &signing_string(&body, &hash)));
    let report = verify(&inventory, &keys());
    assert_eq!(report.digests.get(&Status::Valid), Some(&2), "{report:#?}");
    // From another key, it does not verify.
    inventory.digests[1].signature = Some(sign(other_key(), &signing_string(&body, &hash)));
    let report = verify(&inventory, &keys());
    assert_eq!(
        status_of(&report, "T020000Z"),
        [(Kind::Digest, Status::InvalidSignature)]
    );
    assert!(!report.all_valid());
}

#[test]
fn a_changed_log_is_modified_a_deleted_one_missing_an_added_one_not_covered() {
    let mut inventory = chain(3);
    inventory.logs[0].sha256 = Ok(sha256_hex(b"log 1, edited"));
    let gone = inventory.logs.remove(1);
    inventory.logs.push(FoundLog {
        key: log_key(1, 45),
        sha256: Ok(sha256_hex(b"slipped in")),
    });
    // Delivered after the newest digest's period: not checked.
    inventory.logs.push(FoundLog {
        key: log_key(5, 10),
        sha256: Ok(sha256_hex(b"not yet digested")),
    });
    let report = verify(&inventory, &keys());
    assert_eq!(
        status_of(&report, "T0030Z"),
        [(Kind::Log, Status::Modified)]
    );
    let missing: Vec<&Checked> = report
        .files
        .iter()
        .filter(|f| f.status == Status::Missing)
        .collect();
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].key, gone.key, "reported under the source's key");
    assert_eq!(
        status_of(&report, "T0145Z"),
        [(Kind::Log, Status::NotCovered)]
    );
    assert_eq!(report.unchecked_logs, 1);
    assert!(status_of(&report, "T0510Z").is_empty());
    assert!(!report.all_valid());
}

#[test]
fn an_edited_digest_breaks_its_signature_and_the_next_link() {
    let mut inventory = chain(3);
    // Edited in place: its content (hash) changes, its fields too.
    if let Ok((hash, body)) = &mut inventory.digests[1].read {
        body.log_files.clear();
        *hash = sha256_hex(b"edited digest");
    }
    let report = verify(&inventory, &keys());
    assert_eq!(
        status_of(&report, "T020000Z"),
        [(Kind::Digest, Status::InvalidSignature)]
    );
    assert_eq!(
        status_of(&report, "T030000Z"),
        [(Kind::Digest, Status::ChainBroken)]
    );
    // Its log is now listed by no digest, inside the period: not covered.
    assert_eq!(
        status_of(&report, "T0130Z"),
        [(Kind::Log, Status::NotCovered)]
    );
}

#[test]
fn a_deleted_digest_is_a_gap_and_leaves_its_predecessor_unsigned() {
    let mut inventory = chain(4);
    inventory.digests.remove(2);
    let report = verify(&inventory, &keys());
    assert_eq!(
        status_of(&report, "T040000Z"),
        [(Kind::Digest, Status::Gap)]
    );
    let second = report
        .files
        .iter()
        .find(|f| f.key.contains("T020000Z"))
        .expect("second");
    assert_eq!(second.status, Status::Unsigned);
    assert!(!report.all_valid());
    // The oldest digest checked starts the chain: no gap before it.
    let mut later = chain(4);
    later.digests.remove(0);
    later.logs.remove(0);
    let report = verify(&later, &keys());
    assert_eq!(report.digests.get(&Status::Gap), None, "{report:#?}");
    assert!(report.all_valid());
}

#[test]
fn a_null_previous_after_older_digests_is_a_gap() {
    let mut inventory = chain(3);
    let (hash, body) = inventory.digests[2].read.clone().expect("read");
    let mut body = body;
    body.previous_digest_s3_object = None;
    inventory.digests[2].read = Ok((hash, body));
    let report = verify(&inventory, &keys());
    let third = report
        .files
        .iter()
        .find(|f| f.key.contains("T030000Z"))
        .expect("third");
    assert_eq!(third.status, Status::Gap, "{third:?}");
}

#[test]
fn several_faults_report_the_first_and_keep_all() {
    let mut inventory = chain(4);
    // Digest 3 edited (its signature fails) and digest 2 deleted (a gap).
    inventory.digests.remove(1);
    if let Ok((hash, _)) = &mut inventory.digests[1].read {
        *hash = sha256_hex(b"edited");
    }
    let report = verify(&inventory, &keys());
    let third = report
        .files
        .iter()
        .find(|f| f.key.contains("T030000Z"))
        .expect("third");
    assert_eq!(third.status, Status::InvalidSignature);
    assert_eq!(third.faults, [Status::InvalidSignature, Status::Gap]);
}

#[test]
fn keys_read_from_list_public_keys_json_in_either_der_form() {
    use base64::Engine;
    let encode = |der: &[u8]| base64::engine::general_purpose::STANDARD.encode(der);
    let spki = AsDer::<PublicKeyX509Der>::as_der(key().public_key()).expect("spki");
    for der in [key().public_key().as_ref().to_vec(), spki.as_ref().to_vec()] {
        let json = serde_json::json!({"PublicKeyList": [{
            "Value": encode(&der),
            "ValidityStartTime": "2024-01-01T00:00:00Z",
            "ValidityEndTime": "2025-01-01T00:00:00Z",
            "Fingerprint": FINGERPRINT.to_uppercase(),
        }]});
        let keys = PublicKeys::from_json(json.to_string().as_bytes()).expect("keys");
        let signature = sign(key(), "hello");
        assert_eq!(keys.verify(Some(FINGERPRINT), b"hello", &signature), Ok(()));
        assert!(
            keys.verify(Some(FINGERPRINT), b"hellO", &signature)
                .is_err()
        );
        assert!(keys.verify(Some("ffff"), b"hello", &signature).is_err());
    }
    assert!(PublicKeys::from_json(b"{}").is_err());
}

/// A backfill digest (`…_backfill.json.gz`) lists a log delivered too late
/// for its hour's digest: that log is valid, not `not-covered`. Backfill
/// digests chain among themselves, apart from the hourly chain.
#[test]
fn backfill_digests_cover_late_logs_and_chain_among_themselves() {
    let mut inventory = chain(3);
    let late = log_key(1, 50);
    let late_hash = sha256_hex(b"late");
    inventory.logs.push(FoundLog {
        key: late.clone(),
        sha256: Ok(late_hash.clone()),
    });
    assert_eq!(
        status_of(&verify(&inventory, &keys()), "T0150Z"),
        [(Kind::Log, Status::NotCovered)]
    );

    let backfill = |hour: u32, previous: Option<(&str, &str, &str)>, logs: serde_json::Value| {
        let object = digest_object(hour).replace(".json.gz", "_backfill.json.gz");
        let text = serde_json::json!({
            "awsAccountId": "111122223333",
            "digestStartTime": format!("2024-03-01T{:02}:00:00Z", hour - 1),
            "digestEndTime": format!("2024-03-01T{hour:02}:00:00Z"),
            "digestS3Bucket": "bucket",
            "digestS3Object": object,
            "digestPublicKeyFingerprint": FINGERPRINT,
            "digestSignatureAlgorithm": "SHA256withRSA",
            "previousDigestS3Bucket": previous.map(|_| "bucket"),
            "previousDigestS3Object": previous.map(|p| p.0),
            "previousDigestHashValue": previous.map(|p| p.1),
            "previousDigestHashAlgorithm": previous.map(|_| "SHA-256"),
            "previousDigestSignature": previous.map(|p| p.2),
            "logFiles": logs,
        })
        .to_string();
        let hash = sha256_hex(text.as_bytes());
        let body: DigestBody = serde_json::from_str(&text).expect("body");
        let signature = sign(key(), &signing_string(&body, &hash));
        (object, hash, signature, body)
    };
    let listed = serde_json::json!([{
        "s3Bucket": "bucket",
        "s3Object": late.trim_start_matches("/t/"),
        "hashValue": late_hash,
        "hashAlgorithm": "SHA-256",
    }]);
    let (first, first_hash, first_signature, first_body) = backfill(2, None, listed);
    let (second, second_hash, _, second_body) = backfill(
        3,
        Some((&first, &first_hash, &first_signature)),
        serde_json::json!([]),
    );
    inventory.digests.push(FoundDigest {
        key: format!("/t/{first}"),
        read: Ok((first_hash, first_body)),
        signature: None,
    });
    inventory.digests.push(FoundDigest {
        key: format!("/t/{second}"),
        read: Ok((second_hash, second_body)),
        signature: None,
    });
    let report = verify(&inventory, &keys());
    assert_eq!(status_of(&report, "T0150Z"), [(Kind::Log, Status::Valid)]);
    // The first backfill's signature rides on the second; the second is the
    // newest of its chain.
    assert_eq!(
        status_of(&report, "T020000Z_backfill"),
        [(Kind::Digest, Status::Valid)]
    );
    assert_eq!(
        status_of(&report, "T030000Z_backfill"),
        [(Kind::Digest, Status::Unsigned)]
    );
    // The hourly chain is as before: its newest unsigned, the rest valid.
    assert_eq!(
        status_of(&report, "T030000Z.json.gz"),
        [(Kind::Digest, Status::Unsigned)]
    );
    assert_eq!(report.logs.get(&Status::Valid), Some(&4), "{report:#?}");
    assert!(report.all_valid(), "{report:#?}");

    // A backfill digest whose link is null after an older backfill: a gap in
    // the backfill chain, not in the hourly one.
    let (third, third_hash, _, third_body) = backfill(4, None, serde_json::json!([]));
    inventory.digests.push(FoundDigest {
        key: format!("/t/{third}"),
        read: Ok((third_hash, third_body)),
        signature: None,
    });
    let report = verify(&inventory, &keys());
    assert_eq!(
        status_of(&report, "T040000Z_backfill"),
        [(Kind::Digest, Status::Gap)]
    );
    assert_eq!(
        status_of(&report, "T030000Z.json.gz"),
        [(Kind::Digest, Status::Unsigned)]
    );
}

#[test]
fn list_public_keys_is_asked_of_each_home_region_for_the_digests_days() {
    use crate::{FileKind, SourceFile};
    let file = |key: &str, kind| SourceFile {
        key: key.to_owned(),
        size: 1,
        version: "v".to_owned(),
        kind,
    };
    let files = [
        file(&format!("/t/{}", digest_object(1)), FileKind::Digest),
        file(
            "/t/AWSLogs/1/CloudTrail-Digest/eu-west-1/2024/03/04/1_CloudTrail-Digest_eu-west-1_my_trail_us-east-1_20240304T010000Z_backfill.json.gz",
            FileKind::Digest,
        ),
        file(
            "/t/AWSLogs/o-1/2/CloudTrail-Digest/sa-east-1/2024/02/28/2_CloudTrail-Digest_sa-east-1_org_eu-central-1_20240228T230000Z.json.gz",
            FileKind::Digest,
        ),
        file(&log_key(5, 0).replace("/01/", "/09/"), FileKind::Log),
    ];
    let (regions, span) = key_request(&files);
    assert_eq!(
        regions.into_iter().collect::<Vec<_>>(),
        ["eu-central-1", "us-east-1"]
    );
    let day = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").expect("day");
    assert_eq!(span, Some((day("2024-02-28"), day("2024-03-04"))));
}

/// `ctt ingest --verify` verifies window by window: the totals add up, only
/// the files not valid are kept, and a later window's verdict on a log
/// replaces an earlier one (a late log, `not-covered` in its own days, found
/// valid by the backfill digest that lists it days later).
#[test]
fn windows_add_up_and_a_later_verdict_on_a_log_replaces_an_earlier_one() {
    let checked = |kind: Kind, key: &str, status: Status| Checked {
        kind,
        key: key.to_owned(),
        status,
        faults: match status {
            Status::Valid | Status::Unsigned => Vec::new(),
            other => vec![other],
        },
        detail: None,
        listed_by: None,
    };
    let first = Report::new(
        vec![
            checked(Kind::Log, "a", Status::Valid),
            checked(Kind::Log, "late", Status::NotCovered),
            checked(Kind::Digest, "d1", Status::Valid),
        ],
        vec!["unchecked".to_owned()],
    );
    let second = Report::new(
        vec![
            checked(Kind::Log, "late", Status::Valid),
            checked(Kind::Log, "b", Status::Modified),
            checked(Kind::Digest, "d2", Status::Unsigned),
        ],
        Vec::new(),
    );
    let mut total = Report::default();
    total.absorb(first);
    assert!(!total.all_valid(), "late is not covered, for now");
    total.absorb(second);
    assert_eq!(
        total.logs,
        BTreeMap::from([(Status::Valid, 2), (Status::Modified, 1)])
    );
    assert_eq!(
        total.digests,
        BTreeMap::from([(Status::Valid, 1), (Status::Unsigned, 1)])
    );
    assert_eq!(total.unchecked_logs, 1);
    let kept: Vec<(&str, Status)> = total
        .files
        .iter()
        .map(|f| (f.key.as_str(), f.status))
        .collect();
    assert_eq!(kept, [("b", Status::Modified)]);
    assert!(!total.all_valid());
}
