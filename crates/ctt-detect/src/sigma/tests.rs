//! SPEC §12's semantics, one case each: paths, lists, text comparison,
//! wildcards, null, every modifier, the condition grammar, and refusals.

use serde_json::json;

use super::*;

fn rule(detection: &str) -> Rule {
    try_rule(detection).unwrap_or_else(|e| panic!("{e}\n{detection}"))
}

fn try_rule(detection: &str) -> Result<Rule, RuleError> {
    let indented: String = detection.lines().map(|l| format!("    {l}\n")).collect();
    Rule::from_yaml(&format!(
        "title: t\nid: r-1\nlevel: high\nlogsource:\n    product: aws\n    service: cloudtrail\ndetection:\n{indented}"
    ))
}

fn fires(detection: &str, record: serde_json::Value) -> bool {
    rule(detection).matches(&record)
}

#[test]
fn dotted_paths_walk_objects_and_every_element_of_lists() {
    let r = rule(
        "sel:\n    requestParameters.ipPermissions.items.ipRanges.items.cidrIp: '0.0.0.0/0'\ncondition: sel",
    );
    let open = json!({"requestParameters": {"ipPermissions": {"items": [
        {"ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}},
        {"ipRanges": {"items": [{"cidrIp": "10.1.0.0/16"}, {"cidrIp": "0.0.0.0/0"}]}},
    ]}}});
    assert!(r.matches(&open));
    let closed = json!({"requestParameters": {"ipPermissions": {"items": [
        {"ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}},
    ]}}});
    assert!(!r.matches(&closed));
    // A list at the end of the path offers each element.
    assert!(fires(
        "sel:\n    resources.ARN: 'arn:b'\ncondition: sel",
        json!({"resources": [{"ARN": "arn:a"}, {"ARN": "arn:b"}]})
    ));
    assert!(fires(
        "sel:\n    tags: b\ncondition: sel",
        json!({"tags": ["a", "b"]})
    ));
}

#[test]
fn values_compare_as_text_case_insensitively() {
    assert!(fires(
        "sel:\n    eventName: consolelogin\ncondition: sel",
        json!({"eventName": "ConsoleLogin"})
    ));
    assert!(fires("sel:\n    n: 42\ncondition: sel", json!({"n": "42"})));
    assert!(fires("sel:\n    n: '42'\ncondition: sel", json!({"n": 42})));
    assert!(fires(
        "sel:\n    b: 'true'\ncondition: sel",
        json!({"b": true})
    ));
    assert!(fires(
        "sel:\n    b: false\ncondition: sel",
        json!({"b": false})
    ));
    assert!(!fires("sel:\n    n: 4\ncondition: sel", json!({"n": 42})));
    // `cased` keeps case.
    assert!(!fires(
        "sel:\n    eventName|cased: consolelogin\ncondition: sel",
        json!({"eventName": "ConsoleLogin"})
    ));
    assert!(fires(
        "sel:\n    eventName|cased: ConsoleLogin\ncondition: sel",
        json!({"eventName": "ConsoleLogin"})
    ));
}

#[test]
fn wildcards_and_their_escapes() {
    let record = json!({"userAgent": "aws-cli/2.15.0 Python/3.11", "x": "a*b?c\\d"});
    assert!(fires(
        "sel:\n    userAgent: 'AWS-CLI/*'\ncondition: sel",
        record.clone()
    ));
    assert!(fires(
        "sel:\n    userAgent: 'aws-cli/2.1?.0 *'\ncondition: sel",
        record.clone()
    ));
    assert!(!fires(
        "sel:\n    userAgent: 'cli/*'\ncondition: sel",
        record.clone()
    ));
    assert!(fires(
        "sel:\n    x: 'a\\*b\\?c\\d'\ncondition: sel",
        record.clone()
    ));
    assert!(!fires(
        "sel:\n    x: 'a\\*bb\\?c\\d'\ncondition: sel",
        record
    ));
    assert!(!fires(
        "sel:\n    x: 'a\\*b\\?c'\ncondition: sel",
        json!({"x": "aXb?c"})
    ));
}

#[test]
fn lists_are_or_maps_are_and_lists_of_maps_are_or() {
    let d = "sel:\n    eventSource: ec2.amazonaws.com\n    eventName:\n        - RunInstances\n        - StartInstances\ncondition: sel";
    assert!(fires(
        d,
        json!({"eventSource": "ec2.amazonaws.com", "eventName": "StartInstances"})
    ));
    assert!(!fires(
        d,
        json!({"eventSource": "s3.amazonaws.com", "eventName": "StartInstances"})
    ));
    let d = "sel:\n    - eventName: A\n    - eventSource: b\ncondition: sel";
    assert!(fires(d, json!({"eventName": "x", "eventSource": "B"})));
    assert!(!fires(d, json!({"eventName": "x", "eventSource": "c"})));
}

#[test]
fn null_matches_absent_or_null() {
    let d = "sel:\n    errorCode: null\ncondition: sel";
    assert!(fires(d, json!({})));
    assert!(fires(d, json!({"errorCode": null})));
    assert!(!fires(d, json!({"errorCode": "AccessDenied"})));
    // Empty text is not null.
    assert!(!fires("sel:\n    errorCode: ''\ncondition: sel", json!({})));
    assert!(fires(
        "sel:\n    errorCode: ''\ncondition: sel",
        json!({"errorCode": ""})
    ));
}

#[test]
fn contains_startswith_endswith_and_all() {
    let record = json!({"userIdentity": {"arn": "arn:aws:sts::1:assumed-role/Admin/alice"}});
    assert!(fires(
        "sel:\n    userIdentity.arn|contains: ASSUMED-ROLE\ncondition: sel",
        record.clone()
    ));
    assert!(fires(
        "sel:\n    userIdentity.arn|startswith: 'arn:aws:sts'\ncondition: sel",
        record.clone()
    ));
    assert!(fires(
        "sel:\n    userIdentity.arn|endswith: /ALICE\ncondition: sel",
        record.clone()
    ));
    assert!(!fires(
        "sel:\n    userIdentity.arn|endswith: /bob\ncondition: sel",
        record.clone()
    ));
    assert!(fires(
        "sel:\n    userIdentity.arn|contains: 'role/*/ali'\ncondition: sel",
        record.clone()
    ));
    let all = "sel:\n    userIdentity.arn|contains|all:\n        - admin\n        - alice\ncondition: sel";
    assert!(fires(all, record.clone()));
    let all =
        "sel:\n    userIdentity.arn|contains|all:\n        - admin\n        - bob\ncondition: sel";
    assert!(!fires(all, record));
    // An object compares as its JSON text.
    let d = "sel:\n    requestParameters|contains|all:\n        - '\"s3:GetObject\"'\n        - '\"Allow\"'\ncondition: sel";
    let policy =
        json!({"requestParameters": {"policy": {"Effect": "Allow", "Action": "s3:GetObject"}}});
    assert!(fires(d, policy));
}

#[test]
fn re_exists_cidr_fieldref_and_comparisons() {
    let record = json!({
        "userIdentity": {"arn": "arn:aws:sts::1:assumed-role/aws:ec2-instance/i-1", "userName": "bob"},
        "requestParameters": {"userName": "bob", "maxResults": 500},
        "sourceIPAddress": "203.0.113.9",
    });
    assert!(fires(
        "sel:\n    userIdentity.arn|re: '.+:assumed-role/aws:.+'\ncondition: sel",
        record.clone()
    ));
    assert!(!fires(
        "sel:\n    userIdentity.arn|re: 'ASSUMED'\ncondition: sel",
        record.clone()
    ));
    assert!(fires(
        "sel:\n    userIdentity.arn|re|i: 'ASSUMED'\ncondition: sel",
        record.clone()
    ));
    assert!(fires(
        "sel:\n    requestParameters.userName|exists: true\ncondition: sel",
        record.clone()
    ));
    assert!(fires(
        "sel:\n    requestParameters.policy|exists: false\ncondition: sel",
        record.clone()
    ));
    assert!(fires(
        "sel:\n    sourceIPAddress|cidr: 203.0.113.0/24\ncondition: sel",
        record.clone()
    ));
    assert!(!fires(
        "sel:\n    sourceIPAddress|cidr: 10.0.0.0/8\ncondition: sel",
        record.clone()
    ));
    assert!(!fires(
        "sel:\n    sourceIPAddress|cidr: 10.0.0.0/8\ncondition: sel",
        json!({"sourceIPAddress": "AWS Internal"})
    ));
    assert!(fires(
        "sel:\n    userIdentity.userName|fieldref: requestParameters.userName\ncondition: sel",
        record.clone()
    ));
    assert!(!fires(
        "sel:\n    userIdentity.arn|fieldref: requestParameters.userName\ncondition: sel",
        record.clone()
    ));
    assert!(fires(
        "sel:\n    requestParameters.maxResults|gt: 100\ncondition: sel",
        record.clone()
    ));
    assert!(fires(
        "sel:\n    requestParameters.maxResults|gte: 500\ncondition: sel",
        record.clone()
    ));
    assert!(!fires(
        "sel:\n    requestParameters.maxResults|lt: 500\ncondition: sel",
        record.clone()
    ));
    assert!(fires(
        "sel:\n    requestParameters.maxResults|lte: 500\ncondition: sel",
        record
    ));
}

#[test]
fn the_condition_grammar() {
    let d = |condition: &str| {
        format!("sel_a:\n    a: 1\nsel_b:\n    b: 1\nfilter_x:\n    x: 1\ncondition: {condition}")
    };
    let record = json!({"a": 1, "b": 2, "x": 1});
    for (condition, expected) in [
        ("sel_a", true),
        ("sel_b", false),
        ("sel_a and sel_b", false),
        ("sel_a or sel_b", true),
        ("not sel_b", true),
        ("sel_a and not filter_x", false),
        ("sel_a and not sel_b and filter_x", true),
        ("sel_b or sel_a and filter_x", true),
        ("(sel_b or sel_a) and not filter_x", false),
        ("not (sel_b or filter_x)", false),
        ("1 of sel_*", true),
        ("all of sel_*", false),
        ("1 of them", true),
        ("all of them", false),
        ("all of filter_*", true),
        ("2 of them", true),
        ("SEL_A", false),
    ] {
        match try_rule(&d(condition)) {
            Ok(r) => assert_eq!(r.matches(&record), expected, "{condition}"),
            Err(e) => assert_eq!(condition, "SEL_A", "{condition}: {e}"),
        }
    }
}

#[test]
fn what_is_not_supported_is_refused_naming_it() {
    for (detection, says) in [
        (
            "sel:\n    a|base64offset|contains: x\ncondition: sel",
            "the modifier `base64offset`",
        ),
        (
            "sel:\n    a|windash: x\ncondition: sel",
            "the modifier `windash`",
        ),
        (
            "sel:\n    - evil\n    - keyword\ncondition: sel",
            "keyword searches",
        ),
        (
            "sel:\n    a: 1\ncondition: sel | count() > 5",
            "aggregations",
        ),
        (
            "sel:\n    a: 1\ntimeframe: 5m\ncondition: sel",
            "`timeframe`",
        ),
        (
            "sel:\n    a|re|contains: x\ncondition: sel",
            "combination of modifiers",
        ),
    ] {
        match try_rule(detection) {
            Err(RuleError::Unsupported(what)) => assert!(what.contains(says), "{what}"),
            other => panic!("{detection}: {other:?}"),
        }
    }
    for (detection, says) in [
        (
            "sel:\n    a: 1\ncondition: sel and missing",
            "no search named `missing`",
        ),
        ("sel:\n    a: 1\ncondition: (sel", "not closed"),
        ("sel:\n    a|re: '('\ncondition: sel", "regex"),
        (
            "sel:\n    a|cidr: 300.0.0.0/8\ncondition: sel",
            "300.0.0.0/8",
        ),
    ] {
        match try_rule(detection) {
            Err(RuleError::Invalid(what)) => assert!(what.contains(says), "{what}"),
            other => panic!("{detection}: {other:?}"),
        }
    }
    let other_source = Rule::from_yaml(
        "title: t\nlogsource:\n    product: windows\ndetection:\n    s:\n        a: 1\n    condition: s\n",
    );
    assert!(matches!(other_source, Err(RuleError::Unsupported(w)) if w.contains("windows")));
}

#[test]
fn a_rule_knows_the_event_names_it_can_fire_on() {
    let names = |d: &str| {
        rule(d).event_names().map(|mut n| {
            n.sort();
            n
        })
    };
    assert_eq!(
        names(
            "sel:\n    eventSource: s3.amazonaws.com\n    eventName:\n        - PutBucketAcl\n        - PutBucketPolicy\ncondition: sel"
        ),
        Some(vec![
            "putbucketacl".to_owned(),
            "putbucketpolicy".to_owned()
        ])
    );
    assert_eq!(
        names("sel:\n    eventName: A\nfilter:\n    x: 1\ncondition: sel and not filter"),
        Some(vec!["a".to_owned()])
    );
    assert_eq!(names("sel:\n    eventName: A*\ncondition: sel"), None);
    assert_eq!(
        names("sel:\n    eventName: A\nother:\n    x: 1\ncondition: sel or other"),
        None
    );
    assert_eq!(
        names("sel:\n    userIdentity.type: Root\ncondition: sel"),
        None
    );
}

#[test]
fn rules_for_any_event_name_require_texts_of_the_raw_record() {
    let rule = |detection: &str| {
        Rule::from_yaml(&format!(
            "title: t\nlogsource:\n    product: aws\n    service: cloudtrail\ndetection:\n{detection}"
        ))
        .expect("rule")
    };
    let root = rule("    selection:\n        userIdentity.type: Root\n    condition: selection\n");
    assert_eq!(root.needles(), Some(vec!["root".to_owned()]));
    // An AND needs one of its fields' texts; an OR, each side's.
    let either = rule(
        "    a:\n        userAgent|contains: TruffleHog\n    b:\n        userIdentity.type:\n            - Root\n            - AssumedRole\n    condition: a or b\n",
    );
    let mut needles = either.needles().expect("needles");
    needles.sort();
    assert_eq!(needles, ["assumedrole", "root", "trufflehog"]);
    // Nothing known: a `not`, a regular expression, a wildcard, a short text,
    // a character JSON might escape.
    for detection in [
        "    a:\n        userIdentity.type: Root\n    condition: not a\n",
        "    a:\n        userAgent|re: 'Truffle(Hog)?'\n    condition: a\n",
        "    a:\n        userAgent: '*Hog*'\n    condition: a\n",
        "    a:\n        awsRegion: eu\n    condition: a\n",
        "    a:\n        userAgent|contains: 'a/b'\n    condition: a\n",
    ] {
        assert_eq!(rule(detection).needles(), None, "{detection}");
    }
    let imds =
        rule("    a:\n        userIdentity.arn|re: '.+:assumed-role/aws:.+'\n    condition: a\n");
    assert_eq!(imds.needles(), Some(vec!["assumed-role".to_owned()]));
    // In a set, a rule is narrowed by what it requires of the fields of the
    // record's head (`userIdentity.type`, `userAgent`, `userIdentity.arn`…),
    // any modifier; a rule for any name without such requirements, by the
    // texts it requires in the raw record.
    let mut set = crate::RuleSet::default();
    set.add(root, "root.yml").expect("add");
    let record = |kind: &str, agent: &str| {
        format!(
            r#"{{"eventName":"DescribeInstances","userAgent":"{agent}","userIdentity":{{"type":"{kind}","arn":"arn:aws:iam::1:root"}}}}"#
        )
    };
    let may_fire = |set: &crate::RuleSet, raw: &str| {
        let head = ctt_core::RecordHead::parse(raw).expect("head");
        set.may_fire(&head, raw)
    };
    assert!(may_fire(&set, &record("ROOT", "aws-cli")));
    // `root` is in the raw record (the ARN), not in `userIdentity.type`.
    assert!(!may_fire(&set, &record("IAMUser", "aws-cli")));
    let mut agent = rule("    a:\n        userAgent: TruffleHog\n    condition: a\n");
    agent.id = "agent".into();
    set.add(agent, "agent.yml").expect("add");
    assert!(may_fire(&set, &record("IAMUser", "trufflehog")));
    assert!(!may_fire(&set, &record("IAMUser", "TruffleHog 2")));
    let mut imds = rule(
        "    a:\n        userIdentity.arn|re: '.+:assumed-role/aws:.+'\n    b:\n        eventName: X\n    condition: a and not b\n",
    );
    imds.id = "imds".into();
    set.add(imds, "imds.yml").expect("add");
    let assumed = |arn: &str| {
        format!(
            r#"{{"eventName":"DescribeInstances","userIdentity":{{"type":"AssumedRole","arn":"{arn}"}}}}"#
        )
    };
    assert!(!may_fire(
        &set,
        &assumed("arn:aws:sts::1:assumed-role/lab/alice")
    ));
    assert!(may_fire(
        &set,
        &assumed("arn:aws:sts::1:assumed-role/aws:ec2-instance/i-1")
    ));
    // A rule named for `GetCallerIdentity` is narrowed by its head too.
    let mut named = rule(
        "    a:\n        eventName: GetCallerIdentity\n        userAgent|contains: TruffleHog\n    condition: a\n",
    );
    named.id = "named".into();
    set.add(named, "named.yml").expect("add");
    let caller = |agent: &str| {
        format!(
            r#"{{"eventName":"GetCallerIdentity","userAgent":"{agent}","userIdentity":{{"type":"IAMUser"}}}}"#
        )
    };
    assert!(!may_fire(&set, &caller("aws-cli/2")));
    assert!(may_fire(&set, &caller("TruffleHog/3.0")));
    // A text found counts for its own rule only, and only when the head left
    // that rule undecided: `root` (in the ARN) is the root rule's, which the
    // head ruled out; the policy rule's text is not in the record.
    let mut policy = rule(
        "    a:
        requestParameters.policyArn|contains: 'AdministratorAccess'
    condition: a
",
    );
    policy.id = "policy".into();
    set.add(policy, "policy.yml").expect("add");
    assert!(!may_fire(&set, &record("IAMUser", "aws-cli")));
    assert!(may_fire(
        &set,
        r#"{"eventName":"AttachUserPolicy","userIdentity":{"type":"IAMUser"},"requestParameters":{"policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"}}"#
    ));
    // Requirements on fields the head lacks, without a known text: every
    // record is tried.
    let mut other = rule("    a:\n        requestParameters.x|re: 'x'\n    condition: a\n");
    other.id = "other".into();
    set.add(other, "other.yml").expect("add");
    assert!(may_fire(&set, &record("IAMUser", "aws-cli")));
}

/// A condition on a record's head (SPEC §12's shortcut before a record is
/// parsed whole) is decided only when the searches the head cannot tell do
/// not matter, in Kleene's logic: `and` with a false part is false, `or` with
/// a true part is true, `not` of unknown is unknown, `1 of` counts the unknown.
#[test]
fn a_condition_on_a_records_head_is_decided_only_when_the_rest_cannot_matter() {
    use super::Condition;
    let names: Vec<String> = ["known_yes", "known_no", "unknown"]
        .map(String::from)
        .to_vec();
    let search = |i: usize| [Some(true), Some(false), None][i];
    let eval = |text: &str| {
        Condition::parse(text, &names)
            .expect("condition")
            .eval_partial(&mut |i| search(i))
    };
    assert_eq!(eval("known_yes and unknown"), None);
    assert_eq!(eval("known_no and unknown"), Some(false));
    assert_eq!(eval("known_yes or unknown"), Some(true));
    assert_eq!(eval("known_no or unknown"), None);
    assert_eq!(eval("not unknown"), None);
    assert_eq!(eval("not known_no and known_yes"), Some(true));
    assert_eq!(eval("1 of known_*"), Some(true));
    assert_eq!(eval("all of known_*"), Some(false));
    assert_eq!(eval("all of them"), Some(false));
    assert_eq!(eval("2 of them"), None);
    // On a real rule: its fields the head holds decide, the others do not.
    let root = rule(
        "    selection:\n        userIdentity.type: Root\n        requestParameters.x: 1\n    filter:\n        eventType: AwsServiceEvent\n    condition: selection and not filter\n",
    );
    let head = |text: &'static str| ctt_core::RecordHead::parse(text).expect("head");
    let iam = head(r#"{"userIdentity":{"type":"IAMUser"}}"#);
    assert_eq!(root.matches_head(&iam), Some(false));
    let service = head(r#"{"userIdentity":{"type":"Root"},"eventType":"AwsServiceEvent"}"#);
    assert_eq!(root.matches_head(&service), Some(false));
    let api = head(r#"{"userIdentity":{"type":"Root"},"eventType":"AwsApiCall"}"#);
    assert_eq!(root.matches_head(&api), None);
}
