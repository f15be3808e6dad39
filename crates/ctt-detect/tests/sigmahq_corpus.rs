//! SigmaHQ's CloudTrail rules (pinned in `../shared/sigma/cloudtrail/`) on
//! every record of the shared corpus (`../shared/corpus/`), both read from
//! there (SPEC §12: every rule evaluates as its author meant).
//!
//! `data/sigmahq_corpus_pairs.tsv` lists, per rule, every record it must fire
//! on — `rule file, corpus file, index of the record in the file, eventID` —
//! with a comment saying why. The list was made by reading each rule and its
//! records (and cross-checked by an evaluator written apart from this crate,
//! in Python, from the Sigma specification), not by running this engine. The
//! test runs every rule over every record and requires the records each rule
//! fires on to be exactly its list: a missed record and a record it should not
//! fire on (a near miss: same eventName, another value) both fail, by name.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use ctt_detect::{BuiltinOptions, Rule, RuleSet};
use support::{records, shared};

const PAIRS: &str = include_str!("data/sigmahq_corpus_pairs.tsv");

type Pair = (String, usize, String);

/// The expected pairs, by rule file.
fn expected() -> BTreeMap<String, BTreeSet<Pair>> {
    let mut out: BTreeMap<String, BTreeSet<Pair>> = BTreeMap::new();
    for line in PAIRS.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 4, "bad line {line:?}");
        let index = fields[2].parse().expect("index");
        out.entry(fields[0].to_owned()).or_default().insert((
            fields[1].to_owned(),
            index,
            fields[3].to_owned(),
        ));
    }
    out
}

/// Every `.json` file of the corpus (the `.json.gz` copy of trailscraper's
/// file holds the same records), by path under `corpus/`.
fn corpus_files() -> Vec<String> {
    let root = shared("corpus");
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("corpus folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                let relative = path.strip_prefix(&root).expect("under corpus");
                files.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    files.sort();
    files
}

fn rules() -> Vec<(String, Rule)> {
    let folder: PathBuf = shared("sigma/cloudtrail");
    let mut rules: Vec<(String, Rule)> = std::fs::read_dir(&folder)
        .expect("the pinned SigmaHQ rules")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read");
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            let rule = Rule::from_yaml(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, rule)
        })
        .collect();
    rules.sort_by(|a, b| a.0.cmp(&b.0));
    rules
}

#[test]
fn each_sigmahq_rule_fires_on_exactly_the_corpus_records_it_should() {
    let rules = rules();
    assert_eq!(rules.len(), 57);
    let corpus: Vec<(String, Vec<serde_json::Value>)> = corpus_files()
        .into_iter()
        .map(|file| {
            let records = records(&file);
            (file, records)
        })
        .collect();
    assert!(corpus.len() >= 40, "{} corpus files", corpus.len());
    let expected = expected();
    let mut problems = Vec::new();
    let mut firing = 0;
    for (name, rule) in &rules {
        let mut fired = BTreeSet::new();
        for (file, records) in &corpus {
            for (index, record) in records.iter().enumerate() {
                if record.is_object() && rule.matches(record) {
                    let id = record["eventID"].as_str().unwrap_or_default().to_owned();
                    fired.insert((file.clone(), index, id));
                }
            }
        }
        let want = expected.get(name).cloned().unwrap_or_default();
        for extra in fired.difference(&want) {
            problems.push(format!("{name} fired on {extra:?}, not listed"));
        }
        for missed in want.difference(&fired) {
            problems.push(format!("{name} did not fire on {missed:?}"));
        }
        firing += usize::from(!want.is_empty());
    }
    assert!(
        problems.is_empty(),
        "{} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
    // How many of the 57 the corpus exercises (the others' events are not in it).
    assert_eq!(firing, expected.len());
    assert_eq!(firing, 35);
    assert!(expected.keys().all(|k| rules.iter().any(|(n, _)| n == k)));
}

/// Near misses, spelled out: a record of the same event that must not fire,
/// and why (each also covered by the exact comparison above).
#[test]
fn near_misses_do_not_fire() {
    let by_name: BTreeMap<String, Rule> = rules().into_iter().collect();
    let cases = [
        // Versioning set to Disabled, not Suspended.
        (
            "aws_disable_bucket_versioning.yml",
            "panther-analysis/records.json",
            "12345678-1234-1234-1234-333333333333",
        ),
        // ListBuckets by an assumed role: the rule's filter.
        (
            "aws_enum_buckets.yml",
            "otrf/ec2_proxy_s3_exfiltration_2020-09-14011940.json",
            "19d32cc1-edab-4b96-9a11-2cd7794b2527",
        ),
        // DeleteBucket whose errorCode is "" (neither `Success` nor null).
        (
            "aws_cloudtrail_bucket_deleted.yml",
            "panther-analysis/records.json",
            "6795ef5c-7777-4444-8888-cabb7f252bd3",
        ),
        // A console login with MFA.
        (
            "aws_cloudtrail_console_login_success_without_mfa.yml",
            "awsdocs/records.json",
            "fed06f42-cb12-4764-8c69-121063dc79b9",
        ),
        // A console login without MFA that failed.
        (
            "aws_cloudtrail_console_login_success_without_mfa.yml",
            "awsdocs/records.json",
            "d38ce1b3-4575-4cb8-a632-611b8243bfc3",
        ),
        // An assumed role, not root.
        (
            "aws_root_account_usage.yml",
            "awsdocs/records.json",
            "7b32b778-91c9-4c75-9cb0-6c852791b2eb",
        ),
    ];
    for (rule, file, event_id) in cases {
        let rule_ = &by_name[rule];
        for record in support::with_id(file, event_id) {
            assert!(!rule_.matches(&record), "{rule} fired on {file} {event_id}");
        }
    }
    // And the hits they are near, to show the rules are not just silent.
    let hits = [
        (
            "aws_disable_bucket_versioning.yml",
            "panther-analysis/records.json",
            "12345678-1234-1234-1234-222222222222",
        ),
        (
            "aws_cloudtrail_bucket_deleted.yml",
            "awsdocs/records.json",
            "dEXAMPLE-265a-41e0-9352-4401bEXAMPLE",
        ),
    ];
    for (rule, file, event_id) in hits {
        let rule_ = &by_name[rule];
        // (The corpus repeats some IDs on other events: one of them fires.)
        let records = support::with_id(file, event_id);
        assert!(
            records.iter().any(|r| rule_.matches(r)),
            "{rule} did not fire on {file} {event_id}"
        );
    }
}

/// The pipeline's shortcut (`RuleSet::may_fire`: a record is parsed for
/// detection only if a rule indexed under its eventName or a rule for any
/// name may fire, as far as the record's head tells — its requirements on
/// `eventSource`, `userAgent`, `userIdentity.type`… — or, for a rule for any
/// name the head does not narrow, a text it requires is in the raw JSON)
/// never hides a hit: on every corpus record, every rule that fires, SigmaHQ's
/// and the built-in ones, is let through.
#[test]
fn the_raw_prefilter_lets_every_hit_through() {
    let mut set = RuleSet::default();
    let builtin = BuiltinOptions {
        allowed_regions: Some(vec!["us-east-1".into()]),
        expensive_instance_types: None,
    };
    set.add_builtin(&builtin).expect("built-in rules");
    let mut rules: Vec<(String, Rule)> = set
        .rules()
        .map(|(r, origin)| (origin.to_owned(), r.clone()))
        .collect();
    for (name, rule) in self::rules() {
        set.add(rule.clone(), &name).expect("add");
        rules.push((name, rule));
    }
    let mut tried = 0;
    let mut skipped = 0;
    for file in corpus_files() {
        for record in records(&file) {
            let name = record["eventName"].as_str().unwrap_or_default();
            let raw = serde_json::to_string(&record).expect("json");
            let fires = rules.iter().any(|(_, r)| r.matches(&record));
            let head = ctt_core::RecordHead::parse(&raw);
            if head.is_none_or(|head| set.may_fire(&head, &raw)) {
                tried += 1;
            } else {
                skipped += 1;
                assert!(!fires, "{file}: a hit on {name} was skipped");
            }
        }
    }
    // The shortcut does skip records (most, with the built-in rules alone).
    assert!(tried > 0 && skipped > 0, "tried {tried}, skipped {skipped}");
}
