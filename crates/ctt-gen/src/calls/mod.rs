//! The catalogue of API calls: real event sources and names with plausible
//! `requestParameters` and `responseElements`, one module per service family.
//!
//! A call builder takes the generator, the [`Scope`] (account, region, time)
//! and, for stateful work, the caller's [`Workspace`] (the instances, volumes,
//! buckets… it created), so that `TerminateInstances` names an instance that
//! `RunInstances` started.

pub(crate) mod database;
pub(crate) mod ec2;
pub(crate) mod functions;
pub(crate) mod identity;
pub(crate) mod platform;
pub(crate) mod scaling;
pub(crate) mod storage;

use rand::RngExt;
use rand::seq::IndexedRandom;

use crate::cast::Account;
use crate::ids::{self, GenRng};
use crate::record::Call;

/// Where and when a call is made.
pub(crate) struct Scope<'a> {
    pub account: &'a Account,
    pub region: &'static str,
    pub at: i64,
}

/// Resources one person created during a session, so later calls can name them.
#[derive(Debug, Default, Clone)]
pub(crate) struct Workspace {
    /// Short name used in resource names (`alucloud017`).
    pub owner: String,
    pub instances: Vec<String>,
    pub volumes: Vec<String>,
    pub attached_volumes: Vec<String>,
    pub buckets: Vec<String>,
    pub functions: Vec<String>,
    pub databases: Vec<String>,
    pub load_balancers: Vec<String>,
    pub security_groups: Vec<String>,
    pub scaling_groups: Vec<String>,
    pub nat_gateways: Vec<String>,
}

impl Workspace {
    pub(crate) fn new(owner: &str) -> Workspace {
        Workspace {
            owner: owner.to_string(),
            ..Workspace::default()
        }
    }
}

/// What a lab session (or a person's work) is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Topic {
    Ec2,
    Storage,
    Database,
    Functions,
    Scaling,
}

impl Topic {
    pub(crate) const ALL: [Topic; 5] = [
        Topic::Ec2,
        Topic::Storage,
        Topic::Database,
        Topic::Functions,
        Topic::Scaling,
    ];
}

/// A read-only call about `topic` (sometimes a general one: regions, buckets, identity).
pub(crate) fn read(rng: &mut GenRng, scope: &Scope, ws: &Workspace, topic: Topic) -> Call {
    if rng.random_ratio(1, 8) {
        return general_read(rng, scope, ws);
    }
    match topic {
        Topic::Ec2 => ec2::read(rng, scope, ws),
        Topic::Storage => storage::read(rng, scope, ws),
        Topic::Database => database::read(rng, scope, ws),
        Topic::Functions => functions::read(rng, scope, ws),
        Topic::Scaling => scaling::read(rng, scope, ws),
    }
}

/// A call that changes something about `topic`, chosen among those the
/// workspace allows (no termination before a launch).
pub(crate) fn write(rng: &mut GenRng, scope: &Scope, ws: &mut Workspace, topic: Topic) -> Call {
    match topic {
        Topic::Ec2 => ec2::write(rng, scope, ws),
        Topic::Storage => storage::write(rng, scope, ws),
        Topic::Database => database::write(rng, scope, ws),
        Topic::Functions => functions::write(rng, scope, ws),
        Topic::Scaling => scaling::write(rng, scope, ws),
    }
}

/// The topic whose calls include those of `service` (an event source's first label).
pub(crate) fn topic_of(service: &str) -> Topic {
    match service {
        "s3" => Topic::Storage,
        "rds" => Topic::Database,
        "lambda" => Topic::Functions,
        "elasticloadbalancing" | "autoscaling" | "monitoring" => Topic::Scaling,
        _ => Topic::Ec2,
    }
}

/// An event name without the API version some services append
/// (`UpdateFunctionCode20150331v2` → `UpdateFunctionCode`).
pub(crate) fn unversioned(name: &str) -> &str {
    let base = match name.rfind('v') {
        Some(v) if v + 1 < name.len() && name[v + 1..].bytes().all(|b| b.is_ascii_digit()) => {
            &name[..v]
        }
        _ => name,
    };
    let digits = base.bytes().rev().take_while(u8::is_ascii_digit).count();
    if digits == 8 {
        &base[..base.len() - 8]
    } else {
        base
    }
}

fn general_read(rng: &mut GenRng, scope: &Scope, ws: &Workspace) -> Call {
    match rng.random_range(0..4) {
        0 => ec2::describe_regions(),
        1 => storage::list_buckets(scope),
        2 => identity::get_caller_identity(),
        _ => ec2::read(rng, scope, ws),
    }
}

/// The same call refused by AWS, with the error code its service uses.
pub(crate) fn refuse(rng: &mut GenRng, scope: &Scope, user_arn: &str, call: Call) -> Call {
    let action = format!(
        "{}:{}",
        service_prefix(call.source),
        call.name.trim_end_matches(char::is_numeric)
    );
    let (code, message) = match call.source {
        "ec2.amazonaws.com" => match rng.random_range(0..3) {
            0 => (
                "Client.InvalidParameterValue",
                "Value () for parameter groupId is invalid. The value cannot be empty".to_string(),
            ),
            _ => (
                "Client.UnauthorizedOperation",
                format!(
                    "You are not authorized to perform this operation. Encoded authorization failure message: {}",
                    ids::base64(rng, 96)
                ),
            ),
        },
        "s3.amazonaws.com" => match rng.random_range(0..3) {
            0 => (
                "BucketAlreadyExists",
                "The requested bucket name is not available.".to_string(),
            ),
            1 => (
                "NoSuchBucket",
                "The specified bucket does not exist".to_string(),
            ),
            _ => ("AccessDenied", "Access Denied".to_string()),
        },
        "lambda.amazonaws.com" => (
            "AccessDeniedException",
            format!(
                "User: {user_arn} is not authorized to perform: {action} because no identity-based policy allows the {action} action"
            ),
        ),
        "autoscaling.amazonaws.com" => (
            "ValidationError",
            "AutoScalingGroup name not found - null".to_string(),
        ),
        "monitoring.amazonaws.com" => (
            "ValidationException",
            "AlarmName must not contain leading or trailing whitespace".to_string(),
        ),
        _ => (
            "AccessDenied",
            format!(
                "User: {user_arn} is not authorized to perform: {action} on resource: arn:aws:{}:{}:{}:*",
                service_prefix(call.source),
                scope.region,
                scope.account.id
            ),
        ),
    };
    call.failed(code, message)
}

/// `ec2.amazonaws.com` → `ec2`; CloudWatch's event source is `monitoring`, its IAM prefix `cloudwatch`.
fn service_prefix(source: &str) -> &str {
    match source.split('.').next().unwrap_or(source) {
        "monitoring" => "cloudwatch",
        other => other,
    }
}

/// One availability zone of `region`.
pub(crate) fn zone(rng: &mut GenRng, region: &str) -> String {
    let letter = ['a', 'b', 'c'][rng.random_range(0..3usize)];
    format!("{region}{letter}")
}

/// A millisecond epoch timestamp as some services return it.
pub(crate) fn epoch_millis(at: i64) -> i64 {
    at * 1000
}

/// Pick one of `items` (they are never empty where this is used).
pub(crate) fn pick<'a, T>(rng: &mut GenRng, items: &'a [T]) -> Option<&'a T> {
    items.choose(rng)
}
