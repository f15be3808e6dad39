//! The built-in rules (SPEC §12): each fires on a real record of the shared
//! corpus and not on a near miss, read from `../shared/corpus/`.

mod support;

use ctt_detect::{BUILTIN, BuiltinOptions, RuleSet};
use support::with_id;

/// (rule file, (corpus file, eventID) it must fire on, (corpus file, eventID)
/// it must not fire on) — each pair checked by reading the rule and the record.
type Case = (
    &'static str,
    (&'static str, &'static str),
    (&'static str, &'static str),
);

const AWSDOCS: &str = "awsdocs/records.json";
const PANTHER: &str = "panther-analysis/records.json";

const CASES: &[Case] = &[
    // Root made a call (userIdentity.type Root) / an IAM user's RunInstances.
    (
        "root_activity.yml",
        (AWSDOCS, "49d14f36-6450-44a5-a501-b0fdcdfaeb98"),
        (AWSDOCS, "cd75a605-2fee-4fda-b847-9c3d330ebaae"),
    ),
    // ConsoleLogin, MFAUsed No, Success / the same with MFAUsed Yes.
    (
        "console_login_without_mfa.yml",
        (AWSDOCS, "3fcfb182-98f8-4744-bd45-10a395ab61cb"),
        (AWSDOCS, "fed06f42-cb12-4764-8c69-121063dc79b9"),
    ),
    // ConsoleLogin Failure / a successful one.
    (
        "console_login_failed.yml",
        (AWSDOCS, "d38ce1b3-4575-4cb8-a632-611b8243bfc3"),
        (AWSDOCS, "fed06f42-cb12-4764-8c69-121063dc79b9"),
    ),
    // PutEventSelectors done / UpdateTrail refused (TrailNotFoundException).
    (
        "cloudtrail_changed.yml",
        (PANTHER, "4ca1cb25-7633-496b-8f92-6de876228c3f"),
        (AWSDOCS, "b7d4398e-b2f0-4faa-9c76-e2d316a8d67f"),
    ),
    // AttachUserPolicy done / CreateAccessKey refused (LimitExceededException).
    (
        "iam_changed.yml",
        (
            "permiso/session-26.json",
            "764a8eb1-9ae8-4a37-ad29-b3fb938fc6e7",
        ),
        (PANTHER, "efffffff-bbbb-4444-bbbb-ffffffffffff"),
    ),
    // Ingress from 0.0.0.0/0 / ingress from a narrower range.
    (
        "security_group_open_to_world.yml",
        (PANTHER, "42155429-7e8e-43b5-9b5e-6953f80d51d5"),
        (PANTHER, "504b492f-7832-406b-a4fd-45a13e48adc4"),
    ),
    // PutBucketAcl done / GetBucketVersioning (a read of the same service).
    (
        "s3_access_changed.yml",
        (AWSDOCS, "607b9532-1423-41c7-b048-ec2641693c47"),
        (AWSDOCS, "f2b287f3-0df1-4961-a2f4-c4bdfed47657"),
    ),
    // StopConfigurationRecorder / StartConfigurationRecorder.
    (
        "defenses_disabled.yml",
        (AWSDOCS, "6225a85d-1e49-41e9-bf43-3cfc5549e560"),
        (AWSDOCS, "55a5507f-f306-4896-afe3-196dc078a88d"),
    ),
    // ScheduleKeyDeletion / CancelKeyDeletion.
    (
        "kms_key_deletion.yml",
        (AWSDOCS, "3c4226b0-1e81-48a8-a333-7fa5f3cbd118"),
        (AWSDOCS, "d818bf03-6655-48e9-8b26-f279a07075fd"),
    ),
    // RunInstances in us-west-2 (allowed: us-east-1) / GetUserPolicy in us-east-2 (IAM is global).
    (
        "outside_allowed_regions.yml",
        (AWSDOCS, "cd75a605-2fee-4fda-b847-9c3d330ebaae"),
        (AWSDOCS, "cEXAMPLE-127e-4632-980d-505a4EXAMPLE"),
    ),
    // RunInstances p2.xlarge / p2.xlarge refused (Client.UnauthorizedOperation).
    (
        "expensive_instances.yml",
        (PANTHER, "41fab871-150b-43ad-b42a-39fff3f2ca4e"),
        (PANTHER, "1a4debbb-12e9-4bde-b8c7-ea29002bb2a7"),
    ),
];

fn options() -> BuiltinOptions {
    BuiltinOptions {
        allowed_regions: Some(vec!["us-east-1".to_owned()]),
        ..BuiltinOptions::default()
    }
}

#[test]
fn each_builtin_rule_fires_on_its_record_and_not_on_its_near_miss() {
    let mut set = RuleSet::default();
    set.add_builtin(&options())
        .expect("the built-in rules load");
    assert_eq!(set.len(), BUILTIN.len());
    assert_eq!(CASES.len(), BUILTIN.len(), "a case for every built-in rule");
    for &(file, (fires_in, fires), (misses_in, misses)) in CASES {
        let (rule, _) = set
            .rules()
            .find(|(_, origin)| origin.ends_with(file))
            .unwrap_or_else(|| panic!("no built-in {file}"));
        assert!(
            with_id(fires_in, fires).iter().any(|r| rule.matches(r)),
            "{file} should fire on {fires_in} {fires}"
        );
        assert!(
            !with_id(misses_in, misses).iter().any(|r| rule.matches(r)),
            "{file} should not fire on {misses_in} {misses}"
        );
    }
}

#[test]
fn the_region_rule_waits_for_its_regions_and_instance_types_are_configurable() {
    let mut set = RuleSet::default();
    set.add_builtin(&BuiltinOptions::default()).expect("load");
    assert_eq!(
        set.len(),
        BUILTIN.len() - 1,
        "no allowed regions: no region rule"
    );

    let run = with_id(
        "grycap-cloudtrail-tracker/sample-cloudtrail-event.json",
        "73933acf-898e-492a-a4f3-71b97bb70289",
    );
    let expensive = |set: &RuleSet| {
        set.rules()
            .find(|(_, o)| o.ends_with("expensive_instances.yml"))
            .map(|(r, _)| run.iter().any(|record| r.matches(record)))
    };
    // A t1.micro is not expensive by default; it is when configured so.
    assert_eq!(expensive(&set), Some(false));
    let mut set = RuleSet::default();
    set.add_builtin(&BuiltinOptions {
        expensive_instance_types: Some(vec!["t1.*".to_owned()]),
        ..options()
    })
    .expect("load");
    assert_eq!(expensive(&set), Some(true));
}
