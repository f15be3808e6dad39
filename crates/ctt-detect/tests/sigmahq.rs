//! SigmaHQ's 57 CloudTrail rules (pinned in `../shared/sigma/cloudtrail/`,
//! read from there, not copied): every one loads (SPEC §12).

use std::path::PathBuf;

use ctt_detect::{Rule, RuleSet};

fn shared(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(path)
}

#[test]
fn every_sigmahq_cloudtrail_rule_loads() {
    let folder = shared("sigma/cloudtrail");
    let mut failures = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .expect("the pinned SigmaHQ rules (../shared/sigma/cloudtrail)")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 57);
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read");
        if let Err(e) = Rule::from_yaml(&text) {
            failures.push(format!("{}: {e}", file.display()));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    let mut set = RuleSet::default();
    assert_eq!(set.add_path(&folder).expect("the folder loads"), 57);
    // Most are indexed by the event names they can fire on.
    let any: Vec<&str> = set
        .rules()
        .filter(|(r, _)| r.event_names().is_none())
        .map(|(r, _)| r.title.as_str())
        .collect();
    assert!(any.len() <= 5, "{any:#?}");
}
