//! The shared corpus of real CloudTrail records (`../shared/corpus/README.md`).

use std::collections::BTreeMap;

use crate::support::{Workspace, corpus, n};

/// SPEC §9: the original's sample log stores exactly these 18 events.
#[test]
fn sample_log_stores_the_18_events_of_spec_9() {
    let ws = Workspace::new();
    let sample = corpus().join("grycap-cloudtrail-tracker/sample-cloudtrail-event.json");
    let (report, code) = ws.ingest(&[&sample], &[]);
    assert_eq!(code, 0);
    assert_eq!(n(&report, "records_read"), 142);
    assert_eq!(n(&report, "records_stored"), 18);
    assert_eq!(n(&report, "records_filtered"), 124);

    let events = ws.json(&["scan", "--from", "2017-01-01", "--to", "2017-12-31"]);
    let events = events.as_array().expect("a list");
    assert_eq!(events.len(), 18);
    let mut by_name = BTreeMap::new();
    let mut by_user = BTreeMap::new();
    for e in events {
        *by_name
            .entry(e["eventName"].as_str().unwrap_or_default().to_owned())
            .or_insert(0) += 1;
        *by_user
            .entry(
                e["userIdentity_userName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
            .or_insert(0) += 1;
    }
    let expect = |pairs: &[(&str, i32)]| -> BTreeMap<String, i32> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    };
    assert_eq!(
        by_name,
        expect(&[
            ("AssumeRole", 9),
            ("PutScalingPolicy", 3),
            ("PutMetricAlarm", 2),
            ("CreateTags", 1),
            ("RunInstances", 1),
            ("RegisterInstancesWithLoadBalancer", 1),
            ("CreateAutoScalingGroup", 1),
        ])
    );
    assert_eq!(
        by_user,
        expect(&[
            ("alucloud171", 6),
            ("elasticmapreduce.amazonaws.com", 7),
            ("grycap-aws", 3),
            ("lambda.amazonaws.com", 2),
        ])
    );
    // The same answer through the per-user route and the count.
    assert_eq!(
        ws.count(&[
            "users",
            "alucloud171",
            "--from",
            "2017-06-01",
            "--to",
            "2017-06-30"
        ]),
        6
    );
    let users = ws.json(&["users"]);
    assert_eq!(users.as_array().map(Vec::len), Some(4), "{users}");
}

/// Each folder of the corpus, loaded on its own. The counts were checked against an
/// independent Python reading of the same files (see `docs/corpus.md`).
#[test]
fn every_corpus_folder_loads_with_the_expected_counts() {
    // folder: files loaded, failed; records read, stored, filtered, duplicate, rejected
    let expected: [(&str, [u64; 7]); 8] = [
        ("awsdocs", [1, 0, 384, 238, 74, 54, 18]),
        ("cado-cloudgrep", [2, 1, 2, 2, 0, 0, 0]),
        ("grycap-cloudtrail-tracker", [2, 0, 143, 18, 124, 0, 1]),
        ("otrf", [1, 0, 103, 0, 0, 0, 103]),
        ("panther-analysis", [1, 0, 499, 43, 26, 248, 182]),
        ("permiso", [32, 0, 9226, 352, 8858, 16, 0]),
        ("streamalert", [1, 0, 57, 5, 1, 35, 16]),
        ("trailscraper", [3, 0, 7, 1, 4, 2, 0]),
    ];
    for (folder, counts) in expected {
        let ws = Workspace::new();
        let (report, code) = ws.ingest(&[&corpus().join(folder)], &[]);
        let keys = [
            "files_loaded",
            "files_failed",
            "records_read",
            "records_stored",
            "records_filtered",
            "records_duplicate",
            "records_rejected",
        ];
        let observed: Vec<u64> = keys.iter().map(|k| n(&report, k)).collect();
        assert_eq!(observed, counts, "{folder}: {report}");
        // Every record is accounted for: stored, filtered, duplicate or rejected.
        assert_eq!(
            counts[2],
            counts[3] + counts[4] + counts[5] + counts[6],
            "{folder}"
        );
        assert_eq!(
            code,
            if counts[1] > 0 { 3 } else { 0 },
            "{folder}: exit code"
        );
        // What the store holds agrees with the report.
        let stored = ws.count(&["scan", "--from", "2000-01-01", "--to", "2100-01-01"]);
        assert_eq!(stored, counts[3], "{folder}");
    }
}

/// Users resolve by SPEC §3's table on real records.
#[test]
fn corpus_users_resolve_per_spec_3() {
    let ws = Workspace::new();
    let (_, _) = ws.ingest(
        &[
            &corpus().join("panther-analysis"),
            &corpus().join("permiso"),
        ],
        &[],
    );
    let users: Vec<String> = ws
        .json(&["users"])
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|u| u.as_str().map(str::to_owned))
        .collect();
    assert!(
        users.contains(&"no_user".to_owned()),
        "records without userIdentity: {users:?}"
    );
    assert!(
        users.contains(&"root".to_owned()) || users.iter().any(|u| !u.is_empty()),
        "{users:?}"
    );
    // permiso records have no userIdentity at all: every one of them is no_user.
    let ws = Workspace::new();
    ws.ingest(&[&corpus().join("permiso")], &[]);
    assert_eq!(ws.json(&["users"]), serde_json::json!(["no_user"]));
}

/// SPEC §3: the filter is configurable from the configuration file.
#[test]
fn configured_filter_changes_what_is_stored() {
    let sample = corpus().join("grycap-cloudtrail-tracker/sample-cloudtrail-event.json");
    let cases = [
        ("[filter]\nkeep_all = true\n", 142),
        ("[filter]\ndrop_event_name_prefixes = []\n", 142),
        // 2017 records carry no readOnly: dropping read-only events drops none of them.
        (
            "[filter]\ndrop_event_name_prefixes = []\ndrop_read_only = true\n",
            142,
        ),
        ("[filter]\ndrop_event_types = [\"AwsApiCall\"]\n", 0),
        ("[filter]\ndrop_identity_types = [\"AWSService\"]\n", 18 - 9),
        (
            "[filter]\ndrop_event_sources = [\"sts.amazonaws.com\"]\n",
            18 - 9,
        ),
    ];
    for (config, stored) in cases {
        let ws = Workspace::new();
        let path = ws.path("ctt.toml");
        std::fs::write(&path, config).expect("write config");
        let (report, code) = ws.ingest(&[&sample], &["--config", &path.to_string_lossy()]);
        assert_eq!(
            (code, n(&report, "records_stored")),
            (0, stored),
            "{config}"
        );
    }
    // `ctt config` prints what it uses, and rejects unknown keys.
    let ws = Workspace::new();
    let path = ws.path("bad.toml");
    std::fs::write(&path, "[filter]\nkeep_everything = true\n").expect("write config");
    let mut cmd = ws.ctt();
    cmd.arg("--config").arg(&path).arg("config");
    let out = crate::support::run(&mut cmd);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("keep_everything"));
    let mut cmd = ws.ctt();
    cmd.arg("config");
    let out = crate::support::run(&mut cmd);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("drop_event_name_prefixes = [\"get\", \"describe\""),
        "{text}"
    );
}
