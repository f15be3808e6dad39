//! The course a generated class can be graded against (SPEC §10):
//! [`course_toml`] writes it for a [`GenConfig`]'s window, with the write calls
//! the generated students really make in their lab sessions and homework.
//!
//! Students are not scripted to follow it: each works through random lab
//! topics, some calls fail (an `errorCode`), some students are busier than
//! others, so a class ends in every state — some complete labs, many are part
//! way, some never start one — deterministically for a seed (tested in
//! `crates/ctt/tests/cli/course.rs`).

use chrono::Duration;

use crate::GenConfig;

/// A lab: id, name, requirements (`service:EventName`, count).
type Lab = (&'static str, &'static str, &'static [(&'static str, u32)]);

/// Labs in course order.
const LABS: &[Lab] = &[
    (
        "ec2",
        "EC2: launch, stop, clean up",
        &[("ec2:RunInstances", 2), ("ec2:TerminateInstances", 2)],
    ),
    (
        "s3",
        "S3 buckets",
        &[("s3:CreateBucket", 1), ("s3:PutBucketPolicy", 1)],
    ),
    (
        "rds",
        "RDS",
        &[("rds:CreateDBInstance", 1), ("rds:DeleteDBInstance", 1)],
    ),
    (
        "serverless",
        "Serverless functions",
        &[
            ("lambda:CreateFunction", 1),
            ("lambda:UpdateFunctionCode", 1),
        ],
    ),
    (
        "elb",
        "Load balancing",
        &[
            ("elasticloadbalancing:CreateLoadBalancer", 1),
            ("elasticloadbalancing:DeleteLoadBalancer", 1),
        ],
    ),
    (
        "autoscaling",
        "Auto Scaling",
        &[
            ("autoscaling:CreateAutoScalingGroup", 1),
            ("autoscaling:PutScalingPolicy", 1),
        ],
    ),
    (
        "ebs",
        "EBS volumes",
        &[("ec2:CreateVolume", 1), ("ec2:AttachVolume", 1)],
    ),
    ("monitoring", "Alarms", &[("monitoring:PutMetricAlarm", 1)]),
    (
        "rds-ops",
        "RDS operations",
        &[("rds:ModifyDBInstance", 1), ("rds:CreateDBSnapshot", 1)],
    ),
    (
        "s3-data",
        "S3: versioning and websites",
        &[("s3:PutBucketVersioning", 1), ("s3:PutBucketWebsite", 1)],
    ),
    (
        "lambda-ops",
        "Serverless: permissions and clean-up",
        &[("lambda:AddPermission", 1), ("lambda:DeleteFunction", 1)],
    ),
    (
        "security",
        "Key pairs and security groups",
        &[("ec2:CreateKeyPair", 1), ("ec2:CreateSecurityGroup", 1)],
    ),
    (
        "project",
        "Final project",
        &[
            ("ec2:RunInstances", 2),
            ("s3:CreateBucket", 1),
            ("ec2:TerminateInstances", 2),
        ],
    ),
];

/// Histories up to this many days get a course of 5 labs over the whole window;
/// longer ones get 13 labs, each three weeks, over the last academic year.
const SHORT_DAYS: u32 = 60;

/// The course file (SPEC §10 TOML) for the class of `config`'s history.
pub fn course_toml(config: &GenConfig) -> String {
    let last = config.end.date_naive();
    let days = i64::from(config.days().max(1));
    let first = last - Duration::days(days - 1);
    let short = config.days() <= SHORT_DAYS;
    let (labs, course_first) = if short {
        (&LABS[..5], first)
    } else {
        (LABS, (last - Duration::days(265)).max(first))
    };
    let mut toml = format!(
        "# The course the class of `ctt gen --preset {} --seed {}` follows (SPEC §10).\n\
         id = \"gen-course\"\n\
         name = \"Cloud Computing (generated class)\"\n\
         from = \"{course_first}\"\n\
         to = \"{last}\"\n\
         students = \"^alucloud[0-9]{{3}}$\"\n\
         pass = 80\n",
        config.preset, config.seed
    );
    let span = (last - course_first).num_days().max(1);
    for (i, (id, name, requires)) in labs.iter().enumerate() {
        toml.push_str(&format!("\n[[lab]]\nid = \"{id}\"\nname = \"{name}\"\n"));
        if !short {
            let from = course_first + Duration::days(span * i as i64 / labs.len() as i64);
            let to = (from + Duration::days(20)).min(last);
            toml.push_str(&format!("from = \"{from}\"\nto = \"{to}\"\n"));
        }
        let requires: Vec<String> = requires
            .iter()
            .map(|(event, count)| format!("{{ event = \"{event}\", count = {count} }}"))
            .collect();
        toml.push_str(&format!("requires = [{}]\n", requires.join(", ")));
    }
    toml
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::Preset;

    #[test]
    fn the_course_reads_and_fits_the_window() {
        let end = Utc
            .with_ymd_and_hms(2018, 6, 15, 12, 0, 0)
            .single()
            .unwrap_or_default();
        for (preset, labs) in [(Preset::Small, 5), (Preset::Paper, 13)] {
            let config = GenConfig::new(preset, 1, end);
            let source = course_toml(&config);
            let course = ctt_core::course::Course::parse(&source)
                .unwrap_or_else(|e| panic!("{preset}: {e}\n{source}"));
            assert_eq!(course.labs.len(), labs, "{preset}");
            assert_eq!(course.window.to.to_rfc3339(), "2018-06-15T23:59:59+00:00");
            assert!(course.students.includes("alucloud042"));
            assert_eq!(course_toml(&config), source, "deterministic");
        }
    }
}
