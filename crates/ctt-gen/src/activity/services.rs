//! Background activity of AWS services, around the clock in every region:
//! services assuming roles (`AWSService` principals), service-linked and
//! instance roles (ECS agents, Auto Scaling, ELB, Lambda) making their calls,
//! configuration sweeps. It keeps most 5-minute windows of the busy region
//! non-empty, as in a real account.

use rand::RngExt;
use rand::seq::IndexedRandom;

use super::Day;
use crate::calls::{self, Workspace, ec2, identity, platform};
use crate::cast::{Account, Role, aws_service_identity};
use crate::ids;
use crate::record::{Actor, Call, event_time};

/// Functions whose executions decrypt keys and whose role Lambda assumes.
const FUNCTIONS: [&str; 3] = ["thumbnail-generator", "lab-grader", "cost-report"];

/// The kinds of background calls and their weights.
#[derive(Debug, Clone, Copy)]
enum Kind {
    ServiceAssumesRole,
    EcsAgentPoll,
    EcsStateChange,
    FunctionLogStream,
    InstanceUpdate,
    EcsAgentRead,
    FunctionDecrypt,
    AutoScalingRead,
    AutoScalingChange,
    LoadBalancerRead,
    Sweep,
}

/// Weights chosen so that background records, like the whole trail, are
/// about 70% read-only and about 30% kept by the default filter.
const KINDS: [(Kind, u32); 11] = [
    (Kind::ServiceAssumesRole, 5),
    (Kind::EcsAgentPoll, 2),
    (Kind::EcsStateChange, 5),
    (Kind::FunctionLogStream, 9),
    (Kind::InstanceUpdate, 6),
    (Kind::AutoScalingChange, 2),
    (Kind::EcsAgentRead, 11),
    (Kind::FunctionDecrypt, 16),
    (Kind::AutoScalingRead, 14),
    (Kind::LoadBalancerRead, 11),
    (Kind::Sweep, 19),
];

/// Background calls of every account and region, window by window.
pub(super) fn background(day: &mut Day) {
    let instances: Vec<String> = (0..3)
        .map(|_| ids::resource_id(&mut day.rng, "i-"))
        .collect();
    for account in 0..day.cast.accounts.len() {
        let load = day.cast.accounts[account].load;
        for (region, region_load) in day.profile.regions.iter().enumerate() {
            for window in 0..288 {
                let hour = window / 12;
                let diurnal = if (7..21).contains(&hour) { 1.25 } else { 0.7 };
                let chance = (region_load.window_share * load * diurnal).min(0.98);
                if !day.rng.random_bool(chance) {
                    continue;
                }
                let extra = region_load.mean_records - 1.0;
                let more = extra / (1.0 + extra);
                loop {
                    let at = day.random_time(window * 300..window * 300 + 300);
                    service_call(day, account, region, at, &instances);
                    if !day.rng.random_bool(more) {
                        break;
                    }
                }
            }
        }
    }
}

fn pick_kind(day: &mut Day) -> Kind {
    KINDS
        .choose_weighted(&mut day.rng, |(_, weight)| *weight)
        .map(|(kind, _)| *kind)
        .unwrap_or(Kind::Sweep)
}

fn service_call(day: &mut Day, account: usize, region: usize, at: i64, instances: &[String]) {
    let cast = day.cast;
    let acc: &Account = &cast.accounts[account];
    let roles = &acc.roles;
    let instance = instances.choose(&mut day.rng).cloned().unwrap_or_default();
    let function = *FUNCTIONS.choose(&mut day.rng).unwrap_or(&"lab-grader");
    let scope = day.scope(account, region, at);
    let (actor, call) = match pick_kind(day) {
        Kind::ServiceAssumesRole => {
            let (service, role, session): (&str, &Role, &str) = match day.rng.random_range(0..15) {
                0..=4 => ("lambda.amazonaws.com", &roles.lambda_exec, function),
                5..=7 => (
                    "elasticmapreduce.amazonaws.com",
                    &roles.emr_service,
                    "CCSSession",
                ),
                8..=10 => ("ec2.amazonaws.com", &roles.ecs_instance, &instance),
                11 | 12 => (
                    "autoscaling.amazonaws.com",
                    &roles.autoscaling,
                    "AutoScaling",
                ),
                _ => (
                    "elasticloadbalancing.amazonaws.com",
                    &roles.load_balancing,
                    "ElasticLoadBalancing",
                ),
            };
            let (call, _) = identity::assume_role(&mut day.rng, &scope, role, session, None);
            (service_actor(account, service), call)
        }
        Kind::EcsAgentPoll => (
            role_actor(
                day,
                account,
                &roles.ecs_instance,
                &instance,
                at,
                Client::EcsAgent,
            ),
            platform::discover_poll_endpoint(&scope, &instance),
        ),
        Kind::EcsStateChange => (
            role_actor(
                day,
                account,
                &roles.ecs_instance,
                &instance,
                at,
                Client::EcsAgent,
            ),
            platform::submit_task_state_change(&mut day.rng, &scope),
        ),
        Kind::FunctionLogStream => (
            role_actor(
                day,
                account,
                &roles.lambda_exec,
                function,
                at,
                Client::LambdaRuntime,
            ),
            platform::create_log_stream(&mut day.rng, &scope, function),
        ),
        Kind::InstanceUpdate => (
            role_actor(
                day,
                account,
                &roles.ecs_instance,
                &instance,
                at,
                Client::SsmAgent,
            ),
            platform::update_instance_information(&mut day.rng, &scope, &instance),
        ),
        Kind::EcsAgentRead => {
            let call = if day.rng.random_ratio(1, 2) {
                platform::get_authorization_token()
            } else {
                Call::read(
                    "ec2.amazonaws.com",
                    "DescribeTags",
                    serde_json::json!({"filterSet": {"items": [{"name": "resource-id", "valueSet": {"items": [{"value": instance}]}}]}}),
                )
            };
            (
                role_actor(
                    day,
                    account,
                    &roles.ecs_instance,
                    &instance,
                    at,
                    Client::EcsAgent,
                ),
                call,
            )
        }
        Kind::FunctionDecrypt => (
            role_actor(
                day,
                account,
                &roles.lambda_exec,
                function,
                at,
                Client::LambdaRuntime,
            ),
            platform::decrypt(&scope, function),
        ),
        Kind::AutoScalingRead => {
            let call = if day.rng.random_ratio(1, 2) {
                Call::read(
                    "ec2.amazonaws.com",
                    "DescribeInstanceStatus",
                    serde_json::json!({"instancesSet": {}, "filterSet": {}, "includeAllInstances": true}),
                )
            } else {
                Call::read(
                    "ec2.amazonaws.com",
                    "DescribeInstances",
                    serde_json::json!({"instancesSet": {"items": [{"instanceId": instance}]}, "filterSet": {}}),
                )
            };
            (
                role_actor(
                    day,
                    account,
                    &roles.autoscaling,
                    "AutoScaling",
                    at,
                    Client::Service("autoscaling.amazonaws.com"),
                ),
                call,
            )
        }
        Kind::AutoScalingChange => {
            let mut ws = Workspace::new("as-group");
            ws.instances.push(instance.clone());
            let call = match day.rng.random_range(0..3) {
                0 => {
                    let token = format!(
                        "{}_{}_1",
                        ids::uuid_v4(&mut day.rng),
                        calls::zone(&mut day.rng, scope.region)
                    );
                    ec2::run_instances(&mut day.rng, &scope, &mut ws, &token)
                }
                1 => ec2::terminate_instances(&mut day.rng, &mut ws),
                _ => ec2::create_tags(&mut day.rng, &ws),
            };
            (
                role_actor(
                    day,
                    account,
                    &roles.autoscaling,
                    "AutoScaling",
                    at,
                    Client::Service("autoscaling.amazonaws.com"),
                ),
                call,
            )
        }
        Kind::LoadBalancerRead => {
            let call = match day.rng.random_range(0..3) {
                0 => Call::read(
                    "ec2.amazonaws.com",
                    "DescribeNetworkInterfaces",
                    serde_json::json!({"networkInterfaceIdSet": {}, "filterSet": {}}),
                ),
                1 => Call::read(
                    "ec2.amazonaws.com",
                    "DescribeSubnets",
                    serde_json::json!({"subnetSet": {}, "filterSet": {}}),
                ),
                _ => Call::read(
                    "ec2.amazonaws.com",
                    "DescribeInstances",
                    serde_json::json!({"instancesSet": {}, "filterSet": {}}),
                ),
            };
            let client = Client::Service("elasticloadbalancing.amazonaws.com");
            (
                role_actor(
                    day,
                    account,
                    &roles.load_balancing,
                    "ElasticLoadBalancing",
                    at,
                    client,
                ),
                call,
            )
        }
        Kind::Sweep => {
            let service = if day.rng.random_ratio(2, 3) {
                "config.amazonaws.com"
            } else {
                "trustedadvisor.amazonaws.com"
            };
            (
                service_actor(account, service),
                platform::sweep(&mut day.rng),
            )
        }
    };
    let call = throttled(day, call);
    day.emit(at, &actor, region, call);
}

/// Now and then a service call is throttled, as busy accounts see.
fn throttled(day: &mut Day, call: Call) -> Call {
    if !day.rng.random_bool(0.015) {
        return call;
    }
    if call.source == "ec2.amazonaws.com" {
        call.failed(
            "Client.RequestLimitExceeded",
            "Request limit exceeded.".to_string(),
        )
    } else {
        call.failed("ThrottlingException", "Rate exceeded".to_string())
    }
}

/// An AWS service acting itself (`userIdentity.type` `AWSService`).
fn service_actor(account: usize, service: &str) -> Actor {
    Actor {
        account,
        identity: Some(aws_service_identity(service)),
        source_ip: service.to_string(),
        user_agent: service.to_string(),
        console: false,
        service: true,
    }
}

/// The client behind a role session.
enum Client {
    EcsAgent,
    SsmAgent,
    LambdaRuntime,
    Service(&'static str),
}

/// A role session of a service or an instance (`userIdentity.type` `AssumedRole`).
fn role_actor(
    day: &mut Day,
    account: usize,
    role: &Role,
    session: &str,
    at: i64,
    client: Client,
) -> Actor {
    let key = ids::access_key_id(&mut day.rng, "ASIA");
    let created = event_time(at - day.rng.random_range(0..3600));
    let identity =
        day.cast.accounts[account].assumed_role_identity(role, session, &key, &created, None);
    let (source_ip, user_agent, service) = match client {
        Client::EcsAgent => (
            format!("54.{}.{}.{}", day.rng.random_range(0..256), day.rng.random_range(0..256), day.rng.random_range(1..255)),
            "Go-http-client/1.1 aws-sdk-go/1.44.298 (go1.20.12; linux; amd64) amazon-ecs-agent".to_string(),
            false,
        ),
        Client::SsmAgent => (
            format!("54.{}.{}.{}", day.rng.random_range(0..256), day.rng.random_range(0..256), day.rng.random_range(1..255)),
            "aws-sdk-go/1.44.298 (go1.20.12; linux; amd64) amazon-ssm-agent/3.2.1705.0".to_string(),
            false,
        ),
        Client::LambdaRuntime => (
            format!("3.{}.{}.{}", day.rng.random_range(0..256), day.rng.random_range(0..256), day.rng.random_range(1..255)),
            "aws-internal/3 aws-sdk-java/1.12.610 Linux/5.10 OpenJDK_64-Bit_Server_VM/25.392-b08 java/1.8.0_392".to_string(),
            true,
        ),
        Client::Service(name) => (name.to_string(), name.to_string(), true),
    };
    Actor {
        account,
        identity: Some(identity),
        source_ip,
        user_agent,
        console: false,
        service,
    }
}

/// A record without `userIdentity`: the automatic rotation of a KMS key.
pub(super) fn key_rotation(day: &mut Day) {
    let at = day.random_time(0..86_400);
    let actor = Actor {
        account: 0,
        identity: None,
        source_ip: "kms.amazonaws.com".to_string(),
        user_agent: "kms.amazonaws.com".to_string(),
        console: false,
        service: true,
    };
    let scope = day.scope(0, 0, at);
    let call = platform::rotate_key(&mut day.rng, &scope);
    day.emit(at, &actor, 0, call);
}
