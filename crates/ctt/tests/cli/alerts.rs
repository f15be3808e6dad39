//! SPEC §12 from the command line: rules tried on every record as it loads
//! (before the storage filter), alerts listed with their filters and CSV,
//! `ctt rules list|check|test`.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::{Workspace, corpus, describe, run};

fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    reader
        .records()
        .map(|r| r.expect("csv row").iter().map(str::to_owned).collect())
        .collect()
}

/// A rule on `ListBuckets`: a read, which the default filter does not store.
const READS_RULE: &str = "title: Buckets listed\nid: test-list-buckets\nlevel: low\n\
    logsource:\n    product: aws\n    service: cloudtrail\n\
    detection:\n    selection:\n        eventName: ListBuckets\n    condition: selection\n";

#[test]
fn rules_fire_as_records_load_once_each_even_on_records_not_stored() {
    let work = Workspace::new();
    let rules = work.path("rules");
    std::fs::create_dir_all(&rules).expect("dir");
    std::fs::write(rules.join("reads.yml"), READS_RULE).expect("rule");
    let sources = [corpus().join("awsdocs"), corpus().join("panther-analysis")];
    let rules_flag = rules.to_string_lossy().into_owned();
    for _ in 0..2 {
        let (report, code) = work.ingest(&[&sources[0], &sources[1]], &["--rules", &rules_flag]);
        assert_eq!(code, 0, "{report}");
    }

    let out = run(work.ctt().args(["alerts", "--format", "csv"]));
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().next(),
        Some("time,rule,level,user,service,eventName,eventID,title")
    );
    let rows = csv_rows(&text);
    // Sorted by time, then eventID, then rule; each (rule, eventID) once
    // although both sources were loaded twice.
    let keys: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| (r[0].clone(), r[6].clone(), r[1].clone()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    let unique: BTreeSet<_> = keys.iter().map(|(_, e, r)| (e, r)).collect();
    assert_eq!(unique.len(), keys.len());
    let has = |rule_title: &str, event_id: &str| {
        rows.iter().any(|r| r[7] == rule_title && r[6] == event_id)
    };
    assert!(has(
        "KMS key deletion scheduled",
        "3c4226b0-1e81-48a8-a333-7fa5f3cbd118"
    ));
    assert!(has(
        "GuardDuty, Config or VPC flow logs disabled",
        "6225a85d-1e49-41e9-bf43-3cfc5549e560"
    ));
    assert!(!has(
        "GuardDuty, Config or VPC flow logs disabled",
        "55a5507f-f306-4896-afe3-196dc078a88d"
    ));
    // A read fired its rule, though it is not stored as an event.
    let listed = "cdc4b7ed-e171-4cef-975a-ad829d4123e8";
    assert!(has("Buckets listed", listed), "{text}");
    let event = run(work.ctt().args([
        "scan",
        "--from",
        "2000-01-01",
        "--to",
        "2100-01-01",
        "--event-name",
        "ListBuckets",
        "--count",
    ]));
    assert_eq!(
        String::from_utf8_lossy(&event.stdout).trim(),
        "0",
        "reads are not stored"
    );

    // Filters: level, rule, user, time; JSON carries the redacted record.
    let json = |args: &[&str]| -> Vec<Value> {
        let out = run(work.ctt().args(["alerts", "--format", "json"]).args(args));
        assert!(out.status.success(), "{}", describe(&out));
        serde_json::from_slice::<Value>(&out.stdout)
            .expect("json")
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let high = json(&["--level", "high"]);
    assert!(!high.is_empty());
    assert!(
        high.iter()
            .all(|a| a["level"] == "high" || a["level"] == "critical")
    );
    let one_rule = json(&["--rule", "test-list-buckets"]);
    assert_eq!(
        one_rule.len(),
        rows.iter().filter(|r| r[1] == "test-list-buckets").count()
    );
    assert_eq!(one_rule[0]["record"]["eventID"], listed);
    let user = high[0]["user"].as_str().expect("user").to_owned();
    assert!(
        json(&["--user", &user])
            .iter()
            .all(|a| a["user"] == user.as_str())
    );
    let day = &high[0]["eventTime"].as_str().expect("time")[..10];
    assert!(
        json(&["--from", day, "--to", day])
            .iter()
            .all(|a| a["eventTime"].as_str().is_some_and(|t| t.starts_with(day)))
    );
    let out = run(work.ctt().args(["alerts", "--level", "severe"]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--level severe"));
}

/// `[alerts] disabled` (docs/detections.md): a rule of a folder left out is
/// not listed and raises nothing on a load, the others still do; an id no
/// rule has stops the load, named (a typo would leave the rule on).
#[test]
fn disabled_rules_raise_nothing_and_an_unknown_id_is_refused() {
    let work = Workspace::new();
    let rules = work.path("rules");
    std::fs::create_dir_all(&rules).expect("dir");
    std::fs::write(rules.join("reads.yml"), READS_RULE).expect("rule");
    let rules_flag = rules.to_string_lossy().into_owned();
    let config = work.path("ctt.toml");
    let config_flag = config.to_string_lossy().into_owned();
    std::fs::write(&config, "[alerts]\ndisabled = [\"test-list-buckets\"]\n").expect("config");
    let out = run(work.ctt().args([
        "--config",
        &config_flag,
        "rules",
        "list",
        "--format",
        "json",
        "--rules",
        &rules_flag,
    ]));
    assert!(out.status.success(), "{}", describe(&out));
    let listed: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        listed.len(),
        ctt_detect::BUILTIN.len() - 1,
        "the built-in ones only"
    );
    assert!(listed.iter().all(|r| r["id"] != "test-list-buckets"));

    let awsdocs = corpus().join("awsdocs");
    let (report, code) = work.ingest(
        &[&awsdocs],
        &["--config", &config_flag, "--rules", &rules_flag],
    );
    assert_eq!(code, 0, "{report}");
    let out = run(work.ctt().args(["alerts", "--format", "csv"]));
    assert!(out.status.success(), "{}", describe(&out));
    let rows = csv_rows(&String::from_utf8_lossy(&out.stdout));
    assert!(!rows.is_empty(), "the built-in rules still fire");
    assert!(rows.iter().all(|r| r[1] != "test-list-buckets"), "{rows:?}");

    std::fs::write(&config, "[alerts]\ndisabled = [\"test-list-bucket\"]\n").expect("config");
    let mut typo = work.ctt();
    typo.args([
        "--config",
        &config_flag,
        "ingest",
        "--no-progress",
        "--rules",
        &rules_flag,
    ])
    .arg(&awsdocs);
    let out = run(&mut typo);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("disabled names no rule loaded: test-list-bucket"),
        "{}",
        describe(&out)
    );
}

#[test]
fn rules_list_check_and_test() {
    let work = Workspace::new();
    // list: the built-in rules (the region rule waits for its regions).
    let out = run(work.ctt().args(["rules", "list", "--format", "json"]));
    assert!(out.status.success(), "{}", describe(&out));
    let listed: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(listed.len(), ctt_detect::BUILTIN.len() - 1);
    assert!(listed.iter().all(|r| {
        r["origin"]
            .as_str()
            .is_some_and(|o| o.starts_with("builtin:"))
    }));

    // check: SigmaHQ's rules all load; a rule with an unsupported modifier is
    // refused with its file and the feature named (exit 1).
    let sigmahq = crate::support::shared("sigma/cloudtrail");
    let out = run(work.ctt().arg("rules").arg("check").arg(&sigmahq));
    assert!(out.status.success(), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("57 rules, 0 refused"));
    let bad = work.path("bad.yml");
    std::fs::write(
        &bad,
        READS_RULE.replace(
            "eventName: ListBuckets",
            "eventName|base64offset|contains: x",
        ),
    )
    .expect("write");
    let out = run(work.ctt().args(["rules", "check"]).arg(&bad));
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("bad.yml") && stdout.contains("`base64offset`"),
        "{stdout}"
    );

    // test: a rule on a folder of logs lists the records it fires on.
    let rule = work.path("reads.yml");
    std::fs::write(&rule, READS_RULE).expect("write");
    let out = run(work
        .ctt()
        .args(["rules", "test"])
        .arg(&rule)
        .arg(corpus().join("awsdocs"))
        .args(["--format", "json"]));
    assert!(out.status.success(), "{}", describe(&out));
    let hits: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        hits.iter()
            .any(|h| h["eventID"] == "cdc4b7ed-e171-4cef-975a-ad829d4123e8")
    );
    assert!(hits.iter().all(|h| h["eventName"] == "ListBuckets"));
}

/// A file landing in a followed folder is loaded at once — the folder is
/// watched, not only listed each interval (here an hour) — and its alert is
/// raised (SPEC §12).
#[cfg(target_os = "linux")]
#[test]
fn a_file_landing_in_a_followed_folder_raises_its_alert_without_waiting() {
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let work = Workspace::new();
    let incoming = work.path("incoming");
    std::fs::create_dir_all(&incoming).expect("mkdir");
    let config = work.path("ctt.toml");
    std::fs::write(&config, "[server]\nfollow_interval_secs = 3600\n").expect("config");
    let (server, base) = crate::support::start_serve(
        work.ctt()
            .arg("--config")
            .arg(&config)
            .args(["serve", "--listen", "127.0.0.1:0", "--follow"])
            .arg(&incoming)
            .stdin(Stdio::null()),
    );
    let mut server = Killed(server);
    // The first listing (at start) has happened once the server answers.
    std::thread::sleep(Duration::from_millis(500));
    let record = serde_json::json!({"Records": [{
        "eventVersion": "1.08", "eventID": "root-landed", "eventTime": "2018-06-14T09:00:00Z",
        "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances", "awsRegion": "us-east-1",
        "userIdentity": {"type": "Root", "arn": "arn:aws:iam::111122223333:root", "accountId": "111122223333"},
        "readOnly": false, "eventType": "AwsApiCall", "requestParameters": {"instanceType": "t3.micro"},
    }]});
    let staged = work.path("landing.json");
    std::fs::write(&staged, record.to_string()).expect("write");
    let landed = Instant::now();
    std::fs::rename(&staged, incoming.join("landing.json")).expect("rename in");
    let mut seen = None;
    while landed.elapsed() < Duration::from_secs(30) {
        let (status, body) = crate::support::get(&base, "/alerts", None);
        if status == 200 && body.contains("root-landed") {
            seen = Some(landed.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = server.0.kill();
    let _ = server.0.wait();
    let seen = seen.expect("the alert of the file that landed, well before the hour's listing");
    assert!(seen < Duration::from_secs(30), "{seen:?}");
}

/// A child process killed when dropped, should a test fail while it runs.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// SPEC §13 from the command line: anomalies are alerts (`anomaly:KIND`),
/// listed with `--rule 'anomaly:*'`; each kind is configurable.
#[test]
fn anomalies_are_alerts_listed_by_prefix_and_configurable() {
    let work = Workspace::new();
    let logs = work.path("logs");
    std::fs::create_dir_all(&logs).expect("dir");
    let call = |id: String, time: String, user: &str, region: &str| {
        serde_json::json!({
            "eventVersion": "1.08", "eventID": id, "eventTime": time,
            "eventSource": "ec2.amazonaws.com", "eventName": "CreateTags",
            "awsRegion": region, "sourceIPAddress": "192.0.2.1", "userAgent": "aws-cli/2",
            "userIdentity": {"type": "IAMUser", "userName": user, "accountId": "111122223333"},
            "eventType": "AwsApiCall", "readOnly": false, "recipientAccountId": "111122223333"
        })
    };
    // alice: a week in us-east-1, then eu-central-1; bob: 60 calls in an hour.
    let mut records: Vec<Value> = (1..=9)
        .map(|d| {
            call(
                format!("a-{d}"),
                format!("2018-03-0{d}T10:00:00Z"),
                "alice",
                "us-east-1",
            )
        })
        .collect();
    records.push(call(
        "a-new".into(),
        "2018-03-09T11:00:00Z".into(),
        "alice",
        "eu-central-1",
    ));
    records.extend((0..60).map(|n| {
        call(
            format!("b-{n:02}"),
            format!("2018-03-09T12:{n:02}:00Z"),
            "bob",
            "us-east-1",
        )
    }));
    let body = serde_json::json!({"Records": records}).to_string();
    std::fs::write(
        logs.join("a.json.gz"),
        crate::support::gzip(body.as_bytes()),
    )
    .expect("write");

    let (report, code) = work.ingest(&[&logs], &[]);
    assert_eq!(code, 0, "{report}");
    let listed = |extra: &[&str]| {
        let out = run(work
            .ctt()
            .args(["alerts", "--rule", "anomaly:*", "--format", "csv"])
            .args(extra));
        assert!(out.status.success(), "{}", describe(&out));
        csv_rows(&String::from_utf8_lossy(&out.stdout))
            .into_iter()
            .map(|r| (r[1].clone(), r[6].clone()))
            .collect::<Vec<_>>()
    };
    let pair = |rule: &str, id: &str| (rule.to_owned(), id.to_owned());
    assert_eq!(
        listed(&[]),
        [
            pair("anomaly:account-new-region", "a-new"),
            pair("anomaly:new-region", "a-new"),
            pair("anomaly:rate-spike", "b-50"),
        ]
    );

    // Spikes off, a longer warm-up: a fresh database loaded with them.
    let config = work.path("ctt.toml");
    std::fs::write(
        &config,
        "[anomalies]\nwarmup_days = 30\n[anomalies.rate-spike]\nenabled = false\n",
    )
    .expect("config");
    let db = work.path("configured.db");
    let config = config.to_string_lossy().into_owned();
    let out = run(crate::support::ctt_with_db(&db)
        .args(["--config", &config, "ingest", "--no-progress"])
        .arg(&logs));
    assert!(out.status.success(), "{}", describe(&out));
    let out = run(crate::support::ctt_with_db(&db).args([
        "alerts",
        "--rule",
        "anomaly:*",
        "--format",
        "csv",
    ]));
    assert_eq!(
        csv_rows(&String::from_utf8_lossy(&out.stdout)).len(),
        0,
        "{}",
        describe(&out)
    );

    // A bad setting is refused, naming it.
    std::fs::write(
        work.path("bad.toml"),
        "[anomalies.error-spike]\nlevel = \"severe\"\n",
    )
    .expect("config");
    let out = run(work
        .ctt()
        .arg("--config")
        .arg(work.path("bad.toml"))
        .arg("config"));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("error-spike"),
        "{}",
        describe(&out)
    );
}

/// The demo's data (`ctt gen`'s small preset) holds anomalies of the three
/// kinds it makes on purpose or by nature: a student's burst of changes and
/// of refused calls, and students working in a region for the first time.
#[test]
fn the_generated_class_has_spikes_and_new_regions() {
    let work = Workspace::new();
    let tree = work.path("tree");
    crate::support::generate_small(&tree, 7);
    let (report, code) = work.ingest(&[&tree], &[]);
    assert_eq!(code, 0, "{report}");
    let out = run(work
        .ctt()
        .args(["alerts", "--rule", "anomaly:*", "--format", "csv"]));
    assert!(out.status.success(), "{}", describe(&out));
    let rows = csv_rows(&String::from_utf8_lossy(&out.stdout));
    let kinds: BTreeSet<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    for kind in [
        "anomaly:rate-spike",
        "anomaly:error-spike",
        "anomaly:new-region",
    ] {
        assert!(kinds.contains(kind), "{kind} missing: {kinds:?}");
    }
    let spikes: Vec<&Vec<String>> = rows
        .iter()
        .filter(|r| r[1] == "anomaly:rate-spike")
        .collect();
    assert!(
        spikes
            .iter()
            .all(|r| r[3].starts_with("alucloud") && r[7].contains("the week before averaged")),
        "{spikes:?}"
    );
}
