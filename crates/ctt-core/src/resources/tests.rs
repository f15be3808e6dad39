use chrono::TimeZone;
use serde_json::json;

use super::*;

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 5, h, m, 0)
        .single()
        .expect("time")
}

fn touch(h: u32, m: u32, id: &str, user: &str, change: ChangeKind) -> Touch {
    Touch {
        time: at(h, m),
        event_id: id.into(),
        user: user.into(),
        change,
        size: (change == ChangeKind::Create).then(|| "t3.micro".to_owned()),
    }
}

/// SPEC §11: RunInstances creates several instances; a failed call changes
/// nothing; ids in ARNs are reduced to names where the type says so.
#[test]
fn a_record_changes_each_resource_it_names() {
    let catalogue = Catalogue::builtin();
    let run = json!({
        "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances",
        "requestParameters": {"instanceType": "t3.micro"},
        "responseElements": {"instancesSet": {"items": [
            {"instanceId": "i-1"}, {"instanceId": "i-2"}
        ]}}
    });
    let changes = catalogue.changes(&run);
    assert_eq!(
        changes
            .iter()
            .map(|c| (c.kind.as_str(), c.id.as_str(), c.change, c.size.as_deref()))
            .collect::<Vec<_>>(),
        [
            ("ec2:instance", "i-1", ChangeKind::Create, Some("t3.micro")),
            ("ec2:instance", "i-2", ChangeKind::Create, Some("t3.micro")),
        ]
    );
    let mut failed = run.clone();
    failed["errorCode"] = json!("Client.UnauthorizedOperation");
    assert!(catalogue.changes(&failed).is_empty());
    // A stack deleted by its ARN is the stack created by its name.
    let delete = json!({
        "eventSource": "cloudformation.amazonaws.com", "eventName": "DeleteStack",
        "requestParameters": {"stackName": "arn:aws:cloudformation:us-east-1:123456789012:stack/lab3/5b1c"}
    });
    assert_eq!(catalogue.changes(&delete)[0].id, "lab3");
    // Classic and v2 load balancers share the event names, not the fields.
    let classic = json!({
        "eventSource": "elasticloadbalancing.amazonaws.com", "eventName": "DeleteLoadBalancer",
        "requestParameters": {"loadBalancerName": "web"}
    });
    let v2 = json!({
        "eventSource": "elasticloadbalancing.amazonaws.com", "eventName": "DeleteLoadBalancer",
        "requestParameters": {"loadBalancerArn": "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/web/50dc"}
    });
    assert_eq!(catalogue.changes(&classic)[0].kind, "elb:load-balancer");
    assert_eq!(catalogue.changes(&v2)[0].kind, "elbv2:load-balancer");
    assert_eq!(catalogue.changes(&v2).len(), 1);
    // EMR terminates a list of clusters.
    let emr = json!({
        "eventSource": "elasticmapreduce.amazonaws.com", "eventName": "TerminateJobFlows",
        "requestParameters": {"jobFlowIds": ["j-1", "j-2"]}
    });
    assert_eq!(catalogue.changes(&emr).len(), 2);
    assert!(!catalogue.concerns("ec2.amazonaws.com", "DescribeInstances"));
}

#[test]
fn names_of_arns() {
    for (arn, name) in [
        ("arn:aws:cloudformation:us-east-1:1:stack/lab3/5b1c", "lab3"),
        ("arn:aws:lambda:us-east-1:1:function:resize", "resize"),
        ("arn:aws:ecs:us-east-1:1:cluster/web", "web"),
        ("arn:aws:dynamodb:us-east-1:1:table/Orders", "Orders"),
        ("arn:aws:s3:::bucket", "bucket"),
        ("lab3", "lab3"),
    ] {
        assert_eq!(name_of_arn(arn), name, "{arn}");
    }
}

/// SPEC §11: the state is a function of the set of events, never of the
/// order they were loaded in: every order of the same touches gives one
/// lifecycle.
#[test]
fn a_lifecycle_is_the_same_in_every_order() {
    let touches = vec![
        touch(9, 0, "e1", "alice", ChangeKind::Create),
        touch(10, 0, "e2", "alice", ChangeKind::Stop),
        touch(11, 0, "e3", "alice", ChangeKind::Start),
        touch(12, 30, "e4", "teacher", ChangeKind::Delete),
        // A delete of a deleted resource changes nothing.
        touch(13, 0, "e5", "bob", ChangeKind::Delete),
    ];
    let expected = Lifecycle::of(&touches, at(23, 0)).expect("life");
    assert_eq!(expected.state, State::Deleted);
    assert_eq!(expected.owner.as_deref(), Some("alice"));
    assert_eq!(expected.deleted_by.as_deref(), Some("teacher"));
    assert_eq!(expected.deleted, Some(at(12, 30)));
    assert_eq!(expected.size.as_deref(), Some("t3.micro"));
    // 9:00–10:00 and 11:00–12:30.
    assert_eq!(expected.running_seconds, 150 * 60);
    let mut order: Vec<usize> = (0..touches.len()).collect();
    // Every permutation (Heap's algorithm).
    fn permute(k: usize, order: &mut Vec<usize>, each: &mut dyn FnMut(&[usize])) {
        if k <= 1 {
            each(order);
            return;
        }
        for i in 0..k {
            permute(k - 1, order, each);
            let j = if k.is_multiple_of(2) { i } else { 0 };
            order.swap(j, k - 1);
        }
    }
    let mut seen = 0;
    permute(touches.len(), &mut order, &mut |order| {
        let shuffled: Vec<Touch> = order.iter().map(|&i| touches[i].clone()).collect();
        assert_eq!(
            Lifecycle::of(&shuffled, at(23, 0)).as_ref(),
            Some(&expected)
        );
        seen += 1;
    });
    assert_eq!(seen, 120);
}

#[test]
fn the_state_at_a_time_and_resources_older_than_the_history() {
    let touches = vec![
        touch(9, 0, "e1", "alice", ChangeKind::Create),
        touch(10, 0, "e2", "alice", ChangeKind::Stop),
    ];
    // Asked in the middle: running, an hour so far at 10:00 minus 30 min.
    let early = Lifecycle::of(&touches, at(9, 30)).expect("life");
    assert_eq!((early.state, early.running_seconds), (State::Running, 1800));
    assert!(early.state.is_open());
    let later = Lifecycle::of(&touches, at(20, 0)).expect("life");
    assert_eq!((later.state, later.running_seconds), (State::Stopped, 3600));
    assert!(later.state.is_open());
    assert!(Lifecycle::of(&touches, at(8, 0)).is_none());
    // First seen stopped: created before the history, by someone unknown;
    // its hours count from the start that is known.
    let old = vec![
        touch(9, 0, "e1", "alice", ChangeKind::Stop),
        touch(10, 0, "e2", "bob", ChangeKind::Start),
    ];
    let life = Lifecycle::of(&old, at(12, 0)).expect("life");
    assert_eq!(life.owner, None);
    assert_eq!(life.created, None);
    assert_eq!((life.state, life.running_seconds), (State::Running, 7200));
    // A name created again after its delete is a new resource.
    let again = vec![
        touch(9, 0, "e1", "alice", ChangeKind::Create),
        touch(10, 0, "e2", "alice", ChangeKind::Delete),
        touch(11, 0, "e3", "bob", ChangeKind::Create),
    ];
    let life = Lifecycle::of(&again, at(12, 0)).expect("life");
    assert_eq!(life.owner.as_deref(), Some("bob"));
    assert_eq!(
        (life.state, life.deleted, life.running_seconds),
        (State::Running, None, 3600)
    );
}

#[test]
fn the_catalogue_is_extended_or_refused_with_its_reason() {
    let extra: CatalogueFile = toml::from_str(
        r#"
[[types]]
type = "ec2:instance"
name = "EC2 instance (ours)"
source = "ec2.amazonaws.com"
create = [{ events = ["RunInstances"], ids = ["responseElements.instancesSet.items.instanceId"] }]

[[types]]
type = "apprunner:service"
name = "App Runner service"
source = "apprunner.amazonaws.com"
create = [{ events = ["CreateService"], ids = ["responseElements.service.serviceName"] }]
delete = [{ events = ["DeleteService"], ids = ["responseElements.service.serviceName"] }]
"#,
    )
    .expect("toml");
    let builtin = Catalogue::builtin().types().len();
    let catalogue = Catalogue::builtin_with(extra.types).expect("catalogue");
    assert_eq!(catalogue.types().len(), builtin + 1);
    assert_eq!(
        catalogue.get("ec2:instance").map(|t| t.name.as_str()),
        Some("EC2 instance (ours)")
    );
    // Replaced: its TerminateInstances is gone with the built-in entry.
    assert!(!catalogue.concerns("ec2.amazonaws.com", "TerminateInstances"));
    let bad = Catalogue::from_toml("[[types]]\ntype = \"x\"\nname = \"x\"\nsource = \"s\"\n");
    assert!(
        bad.expect_err("refused")
            .to_string()
            .contains("resource type `x`"),
        "names the type"
    );
    let unknown = Catalogue::from_toml("[[types]]\ntype = \"x\"\nnme = \"x\"\n");
    assert!(unknown.expect_err("refused").to_string().contains("nme"));
}
