//! `ctt verify` (SPEC §14) on trees `ctt gen` writes: a whole tree is valid;
//! every kind of tampering gets its exact status; the signatures check out
//! with an independent implementation (Python's `cryptography`).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ctt_store::EventStore;
use serde_json::Value;

use crate::support::{describe, gzip, run};

const END: &str = "2018-06-15T12:00:00Z";

/// A 2-day small tree under `out`.
fn generate(out: &Path) {
    generate_days(out, 2, 3);
}

/// A small tree of `days` days up to [`END`] under `out`.
fn generate_days(out: &Path, days: u32, seed: u32) {
    let out_status = run(Command::new(env!("CARGO_BIN_EXE_ctt"))
        .args(["gen", "--preset", "small", "--end", END])
        .args(["--days", &days.to_string(), "--seed", &seed.to_string()])
        .arg(out));
    assert!(out_status.status.success(), "{}", describe(&out_status));
}

fn verify(root: &Path, extra: &[&str]) -> Output {
    run(Command::new(env!("CARGO_BIN_EXE_ctt"))
        .arg("verify")
        .arg(root)
        .arg("--public-keys")
        .arg(root.join("cloudtrail-public-keys.json"))
        .args(extra))
}

/// Every `.json.gz` under `root`, by path, sorted.
fn tree(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.into_path())
        .filter(|p| p.to_string_lossy().ends_with(".json.gz"))
        .collect();
    files.sort();
    files
}

fn gunzip(path: &Path) -> Vec<u8> {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).expect("open"))
        .read_to_end(&mut raw)
        .expect("gunzip");
    raw
}

fn is_digest(path: &Path) -> bool {
    path.to_string_lossy().contains("CloudTrail-Digest")
}

fn in_region<'a>(files: &'a [PathBuf], region: &str, digests: bool) -> Vec<&'a PathBuf> {
    files
        .iter()
        .filter(|p| is_digest(p) == digests && p.to_string_lossy().contains(&format!("/{region}/")))
        .collect()
}

/// The statuses in a JSON report, by key.
fn statuses(out: &Output) -> BTreeMap<String, String> {
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(out)));
    report["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            (
                f["key"].as_str().expect("key").to_owned(),
                f["status"].as_str().expect("status").to_owned(),
            )
        })
        .collect()
}

/// An empty log no digest lists, written beside `log` under a name like
/// its (another random suffix): `not-covered`. Its path.
fn slip_in_beside(log: &Path) -> PathBuf {
    let name = log
        .file_name()
        .and_then(|n| n.to_str())
        .expect("name")
        .replace(".json.gz", "")
        .rsplit_once('_')
        .map(|(stem, _)| format!("{stem}_AAAABBBBCCCCDDDD.json.gz"))
        .expect("name");
    let slipped = log.with_file_name(name);
    std::fs::write(&slipped, gzip(br#"{"Records":[]}"#)).expect("write");
    slipped
}

fn key(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[test]
fn a_generated_tree_verifies_and_every_tampering_is_named() {
    let work = tempfile::tempdir().expect("dir");
    let root = work.path().join("trail");
    generate(&root);
    let files = tree(&root);

    // Untouched: every log and digest valid, the newest digest of each of
    // the 3 regions unsigned; exit status 0.
    let out = verify(&root, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let before = statuses(&out);
    let unsigned: Vec<&String> = before
        .iter()
        .filter(|(_, s)| *s == "unsigned")
        .map(|(k, _)| k)
        .collect();
    assert_eq!(unsigned.len(), 3, "{unsigned:?}");
    assert!(before.values().all(|s| s == "valid" || s == "unsigned"));
    let logs = before
        .keys()
        .filter(|k| !k.contains("CloudTrail-Digest"))
        .count();
    assert!(logs > 100, "{logs} logs checked");

    // CSV: the header of SPEC §14, sorted by key.
    let csv = verify(&root, &["--format", "csv"]);
    let text = String::from_utf8_lossy(&csv.stdout).into_owned();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("kind,key,status"));
    let keys: Vec<&str> = lines
        .map(|l| l.split(',').nth(1).unwrap_or_default())
        .collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]), "sorted");
    assert_eq!(keys.len(), before.len());

    // us-east-1: a log edited, a log deleted, an unlisted log slipped in.
    let east = in_region(&files, "us-east-1", false);
    let edited = east[east.len() / 3].clone();
    let mut raw = gunzip(&edited);
    let at = raw.iter().position(|&b| b == b'Z').expect("a time");
    raw[at - 1] = if raw[at - 1] == b'1' { b'2' } else { b'1' };
    std::fs::write(&edited, gzip(&raw)).expect("write");
    let deleted = east[east.len() / 2].clone();
    std::fs::remove_file(&deleted).expect("delete");
    let slipped = slip_in_beside(east[east.len() / 3 + 1]);

    // eu-west-1: a digest edited in place (one of its times).
    let west = in_region(&files, "eu-west-1", true);
    let edited_digest = west[10].clone();
    let mut body: Value = serde_json::from_slice(&gunzip(&edited_digest)).expect("digest");
    body["digestStartTime"] = Value::from("2018-06-13T20:00:00Z");
    std::fs::write(&edited_digest, gzip(body.to_string().as_bytes())).expect("write");

    // eu-central-1: a digest deleted.
    let central = in_region(&files, "eu-central-1", true);
    std::fs::remove_file(central[20]).expect("delete");

    let out = verify(&root, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let after = statuses(&out);
    let expect = [
        (key(&edited), "modified"),
        (key(&deleted), "missing"),
        (key(&slipped), "not-covered"),
        (key(&edited_digest), "invalid-signature"),
        (key(west[11]), "chain-broken"),
        (key(central[21]), "gap"),
        (key(central[19]), "unsigned"),
    ];
    for (file, status) in &expect {
        assert_eq!(after.get(file).map(String::as_str), Some(*status), "{file}");
    }
    // Nothing else changed; the logs of the deleted digest's hour are no
    // longer covered by any digest, so they are not checked.
    for (file, status) in &after {
        if !expect.iter().any(|(k, _)| k == file) {
            assert_eq!(before.get(file), Some(status), "{file}");
        }
    }
    for file in before.keys().filter(|k| !after.contains_key(*k)) {
        assert!(
            file.contains("/eu-central-1/"),
            "{file} is no longer checked"
        );
    }
    assert!(!after.contains_key(&key(central[20])));

    // --from/--to: the same verdicts on the days asked for.
    let day = verify(
        &root,
        &[
            "--format",
            "json",
            "--from",
            "2018-06-14",
            "--to",
            "2018-06-14",
        ],
    );
    let day = statuses(&day);
    assert!(!day.is_empty());
    for (file, status) in &day {
        assert_eq!(after.get(file), Some(status), "{file}");
    }
    assert!(day.len() < after.len());
}

/// One digest `ctt gen` signed, checked by Python's `cryptography` (an
/// implementation of SHA256withRSA that shares nothing with ours); and the
/// newest digest signed by hand: with the generator's key it is `valid`,
/// with another key `invalid-signature`.
#[test]
fn signatures_check_out_independently() {
    let work = tempfile::tempdir().expect("dir");
    let root = work.path().join("trail");
    generate(&root);
    let digests: Vec<PathBuf> = tree(&root)
        .into_iter()
        .filter(|p| is_digest(p) && p.to_string_lossy().contains("/us-east-1/"))
        .collect();
    let (second, third) = (&digests[1], &digests[2]);
    let newest = digests.last().expect("newest");
    let key_der = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ctt-gen/src/digest-key.der");
    let script = r#"
import base64, gzip, hashlib, json, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

keys, second, third, newest, key_der = sys.argv[1:6]
der = base64.b64decode(json.load(open(keys))["PublicKeyList"][0]["Value"])
try:
    public = serialization.load_der_public_key(der)
except ValueError:
    # PKCS #1 RSAPublicKey: wrap it as the PEM "RSA PUBLIC KEY" cryptography reads.
    pem = b"-----BEGIN RSA PUBLIC KEY-----\n" + base64.encodebytes(der) + b"-----END RSA PUBLIC KEY-----\n"
    public = serialization.load_pem_public_key(pem)

def signing(raw, body):
    return "\n".join([
        body["digestEndTime"],
        body["digestS3Bucket"] + "/" + body["digestS3Object"],
        hashlib.sha256(raw).hexdigest(),
        body["previousDigestSignature"] or "null",
    ]).encode()

raw = gzip.open(second, "rb").read()
body = json.loads(raw)
signature = bytes.fromhex(json.loads(gzip.open(third, "rb").read())["previousDigestSignature"])
public.verify(signature, signing(raw, body), padding.PKCS1v15(), hashes.SHA256())
try:
    public.verify(signature, signing(raw + b" ", body), padding.PKCS1v15(), hashes.SHA256())
    sys.exit("a changed digest verified")
except Exception:
    pass

raw = gzip.open(newest, "rb").read()
body = json.loads(raw)
try:
    ours = serialization.load_der_private_key(open(key_der, "rb").read(), None)
except ValueError:
    pem = b"-----BEGIN RSA PRIVATE KEY-----\n" + base64.encodebytes(open(key_der, "rb").read()) + b"-----END RSA PRIVATE KEY-----\n"
    ours = serialization.load_pem_private_key(pem, None)
other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
for key in (ours, other):
    print(key.sign(signing(raw, body), padding.PKCS1v15(), hashes.SHA256()).hex())
"#;
    let out = run(Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(root.join("cloudtrail-public-keys.json"))
        .arg(second)
        .arg(third)
        .arg(newest)
        .arg(&key_der));
    assert!(out.status.success(), "python: {}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let signatures: Vec<&str> = text.lines().collect();
    assert_eq!(signatures.len(), 2);
    let name = newest.file_name().and_then(|n| n.to_str()).expect("name");
    for (signature, status) in [
        (signatures[0], "valid"),
        (signatures[1], "invalid-signature"),
    ] {
        let given = format!("{name}={signature}");
        let out = verify(&root, &["--format", "json", "--signature", &given]);
        assert_eq!(
            statuses(&out).get(&key(newest)).map(String::as_str),
            Some(status),
            "{}",
            describe(&out)
        );
    }
}

/// `ctt verify --record` keeps each loaded log's status in the ledger, and
/// `ctt files` shows it (SPEC §14).
#[test]
fn the_ledger_keeps_each_files_status() {
    let work = crate::support::Workspace::new();
    let root = work.path("trail");
    generate(&root);
    let (report, code) = work.ingest(&[&root], &[]);
    assert_eq!(code, 0, "{report}");
    let logs: Vec<PathBuf> = tree(&root).into_iter().filter(|p| !is_digest(p)).collect();
    let edited = &logs[logs.len() / 2];
    let mut raw = gunzip(edited);
    raw.insert(1, b' ');
    std::fs::write(edited, gzip(&raw)).expect("write");

    let out = run(work
        .ctt()
        .arg("verify")
        .arg(&root)
        .arg("--public-keys")
        .arg(root.join("cloudtrail-public-keys.json"))
        .args(["--record", "--format", "csv"]));
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("recorded the integrity of"),
        "{}",
        describe(&out)
    );
    let files = work.json(&["files"]);
    let integrity: BTreeMap<String, Option<String>> = files
        .as_array()
        .expect("ledger")
        .iter()
        .map(|e| {
            (
                e["key"].as_str().unwrap_or_default().to_owned(),
                e["integrity"].as_str().map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        integrity.get(&key(edited)),
        Some(&Some("modified".to_owned()))
    );
    let valid = integrity
        .values()
        .filter(|s| s.as_deref() == Some("valid"))
        .count();
    assert!(
        valid + 60 >= logs.len() && valid < logs.len(),
        "{valid} of {} valid",
        logs.len()
    );

    // The edited file is flagged with its events, which the portal marks.
    let log: Value = serde_json::from_slice(&raw).expect("the edited log");
    let ids: Vec<String> = log["Records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["eventID"].as_str().expect("eventID").to_owned())
        .collect();
    assert!(!ids.is_empty());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let store = ctt_store::SqliteStore::open(work.db(), Default::default()).expect("store");
    let summary = runtime.block_on(store.integrity()).expect("summary");
    assert_eq!(summary.flagged.len(), 1, "{summary:?}");
    assert_eq!(summary.flagged[0].key, key(edited));
    assert_eq!(summary.flagged[0].events, ids.len() as u64);
    let mut asked = ids.clone();
    asked.push("not-an-event".to_owned());
    let marks = runtime
        .block_on(store.integrity_marks(asked))
        .expect("marks");
    assert_eq!(marks.len(), ids.len());
    assert!(marks.values().all(|s| s == "modified"), "{marks:?}");
}

/// `ctt ingest --verify`: the load, then the same files verified and each
/// log's status kept; exit status 4 when something is not valid.
#[test]
fn ingest_verifies_what_it_loads() {
    let work = crate::support::Workspace::new();
    let root = work.path("trail");
    generate(&root);
    let logs: Vec<PathBuf> = tree(&root).into_iter().filter(|p| !is_digest(p)).collect();
    let edited = &logs[logs.len() / 3];
    let mut raw = gunzip(edited);
    raw.insert(1, b' ');
    std::fs::write(edited, gzip(&raw)).expect("write");

    let ingest_verify = |work: &crate::support::Workspace| {
        run(work
            .ctt()
            .args(["-v", "ingest"])
            .arg(&root)
            .args([
                "--no-progress",
                "--format",
                "json",
                "--verify",
                "--public-keys",
            ])
            .arg(root.join("cloudtrail-public-keys.json")))
    };
    let out = ingest_verify(&work);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("verified: logs:") && stderr.contains("1 modified"),
        "{stderr}"
    );
    // Each log was hashed as it loaded: none read a second time.
    assert!(
        stderr.contains(&format!("hashed_by_the_load={}", logs.len())),
        "{stderr}"
    );
    // Run again, nothing new loads: the hashes the ledger kept are checked
    // again (schema 27), no log is read, the verdicts are the same.
    let out = ingest_verify(&work);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let again = String::from_utf8_lossy(&out.stderr);
    assert!(
        again.contains(&format!("hashed_by_the_load={}", logs.len())),
        "{again}"
    );
    assert!(again.contains("1 modified"), "{again}");
    // Loaded without --verify first: the ledger keeps no hash, so the logs
    // are read for the check, with the same verdicts.
    let plain = crate::support::Workspace::new();
    let out = run(plain.ctt().arg("ingest").arg(&root).arg("--no-progress"));
    assert!(out.status.success(), "{}", describe(&out));
    let out = ingest_verify(&plain);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let read = String::from_utf8_lossy(&out.stderr);
    assert!(read.contains("hashed_by_the_load=0"), "{read}");
    assert!(read.contains("1 modified"), "{read}");
    let files = work.json(&["files"]);
    let modified: Vec<&str> = files
        .as_array()
        .expect("ledger")
        .iter()
        .filter(|e| e["integrity"] == "modified")
        .filter_map(|e| e["key"].as_str())
        .collect();
    assert_eq!(modified, [key(edited).as_str()]);
    // --verify of a folder needs the keys (an s3:// source asks CloudTrail).
    let out = run(work.ctt().arg("ingest").arg(&root).arg("--verify"));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--public-keys FILE is needed"), "{stderr}");
}

/// An organisation trail (`AWSLogs/o-…/ACCOUNT/…`, two accounts): each
/// account and region is its own chain, all valid, the newest of each unsigned.
#[test]
fn an_organisation_trail_verifies_chain_by_chain() {
    let work = tempfile::tempdir().expect("dir");
    let root = work.path().join("org");
    let out = run(Command::new(env!("CARGO_BIN_EXE_ctt"))
        .args([
            "gen",
            "--preset",
            "small",
            "--days",
            "1",
            "--seed",
            "4",
            "--organization",
            "--end",
            END,
        ])
        .arg(&root));
    assert!(out.status.success(), "{}", describe(&out));
    let out = verify(&root, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let statuses = statuses(&out);
    let unsigned: Vec<&String> = statuses
        .iter()
        .filter(|(_, s)| *s == "unsigned")
        .map(|(k, _)| k)
        .collect();
    // 2 accounts × 3 regions.
    assert_eq!(unsigned.len(), 6, "{unsigned:?}");
    assert!(statuses.keys().all(|k| k.contains("/AWSLogs/o-")));
    let accounts: std::collections::BTreeSet<&str> = statuses
        .keys()
        .filter_map(|k| k.split("/AWSLogs/").nth(1)?.split('/').nth(1))
        .collect();
    assert_eq!(accounts.len(), 2, "{accounts:?}");
}

/// SPEC §14: a missing link is a `gap` wherever it falls. `ctt verify`
/// holds a week at a time; a trail paused across a week's boundary (three
/// days of its logs and digests gone, 06-08 to 06-10; the weeks split
/// after 06-09) has the first digest after the pause name a previous digest
/// that is absent: a `gap`, not the start of a chain, because the newest
/// digest of the week before is carried into the next. The tail before the
/// pause is `unsigned` (no digest records its signature), and the output is
/// one verdict per file, sorted by key.
#[test]
fn a_pause_across_a_weeks_boundary_is_a_gap() {
    let work = crate::support::Workspace::new();
    let root = work.path("trail");
    generate_days(&root, 12, 5);
    let account = std::fs::read_dir(root.join("AWSLogs"))
        .expect("AWSLogs")
        .next()
        .expect("an account")
        .expect("entry")
        .path();
    let on = |day: &str| tree(&root).iter().any(|p| key(p).contains(day));
    assert!(
        on("/2018/06/03/") && !on("/2018/06/02/"),
        "the tree, and its first week, start on 06-03"
    );
    for day in ["08", "09", "10"] {
        for folder in ["CloudTrail", "CloudTrail-Digest"] {
            let gone = account.join(folder).join("us-east-1/2018/06").join(day);
            std::fs::remove_dir_all(&gone).unwrap_or_else(|e| panic!("{}: {e}", gone.display()));
        }
    }
    let csv = verify(&root, &["--format", "csv"]);
    assert_eq!(csv.status.code(), Some(4), "{}", describe(&csv));
    let text = String::from_utf8(csv.stdout.clone()).expect("utf-8");
    let rows: Vec<(&str, &str, &str)> = text
        .lines()
        .skip(1)
        .map(|line| {
            let mut cells = line.split(',');
            let kind = cells.next().expect("kind");
            let status = cells.next_back().expect("status");
            (
                kind,
                &line[kind.len() + 1..line.len() - status.len() - 1],
                status,
            )
        })
        .collect();
    let keys: Vec<&str> = rows.iter().map(|(_, key, _)| *key).collect();
    assert!(
        keys.windows(2).all(|pair| pair[0] < pair[1]),
        "sorted by key, each file once"
    );
    let files = tree(&root);
    let json = verify(&root, &["--format", "json"]);
    let report: Value = serde_json::from_slice(&json.stdout).expect("report");
    let unchecked = report["unchecked_logs"].as_u64().expect("unchecked_logs") as usize;
    assert_eq!(
        rows.len(),
        files.len() - unchecked + 2,
        "every file checked, and the two logs the gap lost"
    );
    assert_eq!(report["files"].as_array().map(Vec::len), Some(rows.len()));
    let not_valid: Vec<(&str, &str)> = rows
        .iter()
        .filter(|(_, _, status)| *status != "valid")
        .map(|(_, key, status)| (&key[key.len() - 60..], *status))
        .collect();
    let first_after = in_region(&files, "us-east-1", true)
        .into_iter()
        .find(|p| p.to_string_lossy().contains("/2018/06/11/"))
        .map(|p| key(p))
        .expect("a digest on 06-11");
    let status_of = |key: &str| rows.iter().find(|(_, k, _)| *k == key).map(|r| r.2);
    assert_eq!(status_of(&first_after), Some("gap"), "{not_valid:?}");
    let gaps = rows.iter().filter(|r| r.2 == "gap").count();
    let missing = rows.iter().filter(|r| r.2 == "missing").count();
    assert_eq!((gaps, missing), (1, 2), "{not_valid:?}");
    let tail = in_region(&files, "us-east-1", true)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/2018/06/07/"))
        .max()
        .map(|p| key(p))
        .expect("a digest on 06-07");
    assert_eq!(status_of(&tail), Some("unsigned"), "{not_valid:?}");
}

/// `ctt ingest --verify` verifies a long history a week at a time (each week
/// listed with a day more on each side) instead of holding the whole
/// listing: on 18 days (three windows), tampered with across the windows'
/// edges, every log's verdict in the ledger and every count are those of
/// `ctt verify` over the whole tree at once.
#[test]
fn ingest_verifies_window_by_window_as_verify_does_the_whole_tree() {
    let work = crate::support::Workspace::new();
    let root = work.path("trail");
    generate_days(&root, 17, 5);
    let files = tree(&root);
    let on = |day: &str, region: &str, digests: bool| -> Vec<PathBuf> {
        in_region(&files, region, digests)
            .into_iter()
            .filter(|p| p.to_string_lossy().contains(&format!("/{day}/")))
            .cloned()
            .collect()
    };
    // The first window ends on 2018-06-04 (the tree starts on 05-29), the
    // second on 06-11.
    assert!(
        on("2018/05/28", "us-east-1", false).is_empty()
            && !on("2018/05/29", "us-east-1", false).is_empty(),
        "the tree starts on 2018-05-29"
    );
    // A log edited on a window's first day; the last log of a window's
    // last day deleted (its digest is in the next window); an unlisted log
    // slipped into the last window.
    let edited = on("2018/06/05", "us-east-1", false)[0].clone();
    let mut raw = gunzip(&edited);
    raw.insert(1, b' ');
    std::fs::write(&edited, gzip(&raw)).expect("write");
    let deleted = on("2018/06/04", "us-east-1", false)
        .last()
        .cloned()
        .expect("a log on 06-04");
    std::fs::remove_file(&deleted).expect("delete");
    let beside = on("2018/06/13", "us-east-1", false)[0].clone();
    slip_in_beside(&beside);
    // A window's first digest deleted (a gap after it); a window's last
    // digest edited (the next window's first is chain-broken).
    std::fs::remove_file(&on("2018/06/12", "eu-central-1", true)[0]).expect("delete");
    let edited_digest = on("2018/06/11", "eu-west-1", true)
        .last()
        .cloned()
        .expect("a digest on 06-11");
    let mut body: Value = serde_json::from_slice(&gunzip(&edited_digest)).expect("digest");
    body["digestStartTime"] = Value::from("2018-06-11T20:00:00Z");
    std::fs::write(&edited_digest, gzip(body.to_string().as_bytes())).expect("write");

    // A log of the first window listed by a digest of the third instead of
    // its own hour's (as a backfill digest lists a log delivered late): both
    // digests are edited (invalid signatures, broken links after them), and
    // the log is valid, found by the digest of the third window.
    let listing =
        |digest: &Path| -> Value { serde_json::from_slice(&gunzip(digest)).expect("digest") };
    let (own, moved) = on("2018/05/31", "us-east-1", true)
        .into_iter()
        .find_map(|digest| {
            let first = listing(&digest)["logFiles"].get(0).cloned()?;
            Some((digest, first))
        })
        .expect("a digest listing a log on 05-31");
    let late = root.join(moved["s3Object"].as_str().expect("s3Object"));
    assert!(late.is_file(), "{}", late.display());
    let mut body = listing(&own);
    body["logFiles"].as_array_mut().expect("logFiles").remove(0);
    std::fs::write(&own, gzip(body.to_string().as_bytes())).expect("write");
    let backfill = on("2018/06/13", "us-east-1", true)[5].clone();
    let mut body = listing(&backfill);
    body["logFiles"]
        .as_array_mut()
        .expect("logFiles")
        .push(moved);
    std::fs::write(&backfill, gzip(body.to_string().as_bytes())).expect("write");

    // The whole tree at once.
    let whole = verify(&root, &["--format", "json"]);
    assert_eq!(whole.status.code(), Some(4), "{}", describe(&whole));
    let report: Value = serde_json::from_slice(&whole.stdout).expect("report");
    let counts = |c: &Value| {
        c.as_object()
            .expect("counts")
            .iter()
            .map(|(status, n)| format!("{n} {status}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let expected = format!(
        "verified: logs: {}; digests: {}; {} logs after the newest digest or before the oldest, not checked",
        counts(&report["logs"]),
        counts(&report["digests"]),
        report["unchecked_logs"]
    );
    for status in ["modified", "missing", "not-covered"] {
        assert!(report["logs"][status] == 1, "{status}: {}", report["logs"]);
    }
    for (status, n) in [("invalid-signature", 3), ("chain-broken", 3), ("gap", 1)] {
        assert!(
            report["digests"][status] == n,
            "{status}: {}",
            report["digests"]
        );
    }
    assert_eq!(
        statuses(&whole).get(&key(&late)).map(String::as_str),
        Some("valid")
    );

    // Window by window, after the load.
    let out = run(work
        .ctt()
        .args(["-v", "ingest"])
        .arg(&root)
        .args(["--no-progress", "--verify", "--public-keys"])
        .arg(root.join("cloudtrail-public-keys.json")));
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("verified: "))
        .unwrap_or_else(|| panic!("a summary: {stderr}"));
    let line = line
        .split("; recorded in the ledger")
        .next()
        .unwrap_or(line);
    assert_eq!(in_any_order(line), in_any_order(&expected), "{stderr}");
    assert_eq!(
        stderr.matches("verified logs=").count(),
        4,
        "three windows, the third checked again with the late log: {stderr}"
    );
    // Each log's verdict in the ledger is the whole tree's.
    let whole_logs: BTreeMap<String, String> = statuses(&whole)
        .into_iter()
        .filter(|(k, _)| !k.contains("CloudTrail-Digest"))
        .collect();
    let ledger: BTreeMap<String, String> = work
        .json(&["files"])
        .as_array()
        .expect("ledger")
        .iter()
        .filter_map(|e| {
            Some((
                e["key"].as_str()?.to_owned(),
                e["integrity"].as_str()?.to_owned(),
            ))
        })
        .collect();
    let present: BTreeMap<String, String> = whole_logs
        .into_iter()
        .filter(|(_, s)| s != "missing")
        .collect();
    assert_eq!(ledger, present);
    // Each loaded log counted once, the late one too (recorded by its own
    // week, then again by the week of the digest that lists it).
    assert!(
        stderr.contains(&format!(
            "; recorded in the ledger for {} files",
            ledger.len()
        )),
        "{} logs in the ledger: {stderr}",
        ledger.len()
    );
}

/// A summary's counts, each list sorted (JSON objects and the CLI order
/// statuses differently).
fn in_any_order(summary: &str) -> Vec<String> {
    summary
        .split("; ")
        .map(|part| match part.rsplit_once(": ") {
            Some((what, list)) => {
                let mut items: Vec<&str> = list.split(", ").collect();
                items.sort_unstable();
                format!("{what}: {}", items.join(", "))
            }
            None => part.to_owned(),
        })
        .collect()
}
