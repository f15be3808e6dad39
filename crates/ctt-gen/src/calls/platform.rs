//! Calls made by the platform itself rather than by people: ECS agents, KMS
//! decryption for functions, ECR logins, AWS Config and Trusted Advisor
//! sweeps, and the key rotation event that carries no `userIdentity`.

use rand::RngExt;
use serde_json::{Value, json};

use super::Scope;
use crate::ids::{self, GenRng};
use crate::record::Call;

/// `ecs:DiscoverPollEndpoint`, polled by the ECS agent of a container instance.
pub(crate) fn discover_poll_endpoint(scope: &Scope, instance: &str) -> Call {
    let arn = format!(
        "arn:aws:ecs:{}:{}:container-instance/lab-cluster/{instance}",
        scope.region, scope.account.id
    );
    Call::read(
        "ecs.amazonaws.com",
        "DiscoverPollEndpoint",
        json!({"containerInstance": arn, "cluster": "lab-cluster"}),
    )
}

/// `ecs:SubmitTaskStateChange`, the ECS agent reporting a task's new state.
pub(crate) fn submit_task_state_change(rng: &mut GenRng, scope: &Scope) -> Call {
    let task = format!(
        "arn:aws:ecs:{}:{}:task/lab-cluster/{}",
        scope.region,
        scope.account.id,
        ids::hex(rng, 32)
    );
    let status = if rng.random_ratio(1, 2) {
        "RUNNING"
    } else {
        "STOPPED"
    };
    Call::write(
        "ecs.amazonaws.com",
        "SubmitTaskStateChange",
        json!({"cluster": "lab-cluster", "task": task, "status": status}),
        json!({"acknowledgment": "ACK"}),
    )
}

/// `logs:CreateLogStream`, made by a function's role when an execution environment starts.
pub(crate) fn create_log_stream(rng: &mut GenRng, scope: &Scope, function: &str) -> Call {
    let date = crate::record::utc(scope.at).format("%Y/%m/%d");
    Call::write(
        "logs.amazonaws.com",
        "CreateLogStream",
        json!({"logGroupName": format!("/aws/lambda/{function}"), "logStreamName": format!("{date}/[$LATEST]{}", ids::hex(rng, 32))}),
        Value::Null,
    )
}

/// `ssm:UpdateInstanceInformation`, the SSM agent's heartbeat.
pub(crate) fn update_instance_information(rng: &mut GenRng, scope: &Scope, instance: &str) -> Call {
    let (a, b) = (rng.random_range(0..64), rng.random_range(1..255));
    Call::write(
        "ssm.amazonaws.com",
        "UpdateInstanceInformation",
        json!({
            "instanceId": instance,
            "agentVersion": "3.2.1705.0",
            "agentStatus": "Active",
            "platformType": "Linux",
            "platformName": "Amazon Linux",
            "platformVersion": "2",
            "iPAddress": format!("172.31.{a}.{b}"),
            "computerName": format!("ip-172-31-{a}-{b}.ec2.internal"),
            "agentName": "amazon-ssm-agent",
            "availabilityZone": super::zone(rng, scope.region),
        }),
        Value::Null,
    )
}

/// `ecr:GetAuthorizationToken`, before pulling an image.
pub(crate) fn get_authorization_token() -> Call {
    Call::read(
        "ecr.amazonaws.com",
        "GetAuthorizationToken",
        json!({"registryIds": []}),
    )
}

/// `kms:Decrypt` of a function's environment variables.
pub(crate) fn decrypt(scope: &Scope, function: &str) -> Call {
    let mut call = Call::read(
        "kms.amazonaws.com",
        "Decrypt",
        json!({
            "encryptionContext": {"aws:lambda:FunctionArn": format!("arn:aws:lambda:{}:{}:function:{function}", scope.region, scope.account.id)},
            "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
        }),
    );
    call.resources = Some(
        json!([{"accountId": scope.account.id, "type": "AWS::KMS::Key", "ARN": key_arn(scope)}]),
    );
    call
}

fn key_arn(scope: &Scope) -> String {
    format!(
        "arn:aws:kms:{}:{}:key/2f1c7a9e-5b3d-4e8f-9a61-0c7d2e4b8f15",
        scope.region, scope.account.id
    )
}

/// A configuration sweep by AWS Config or Trusted Advisor.
pub(crate) fn sweep(rng: &mut GenRng) -> Call {
    match rng.random_range(0..6) {
        0 => Call::read(
            "ec2.amazonaws.com",
            "DescribeInstances",
            json!({"instancesSet": {}, "filterSet": {}}),
        ),
        1 => Call::read(
            "ec2.amazonaws.com",
            "DescribeSecurityGroups",
            json!({"securityGroupSet": {}, "securityGroupIdSet": {}, "filterSet": {}}),
        ),
        2 => Call::read(
            "ec2.amazonaws.com",
            "DescribeVolumes",
            json!({"volumeSet": {}, "filterSet": {}}),
        ),
        3 => Call::read(
            "s3.amazonaws.com",
            "GetBucketAcl",
            json!({"bucketName": "cloud-teaching-logs", "acl": ""}),
        ),
        4 => Call::read("iam.amazonaws.com", "GetAccountPasswordPolicy", Value::Null).global(),
        _ => Call::read("rds.amazonaws.com", "DescribeDBInstances", json!({})),
    }
}

/// The yearly automatic rotation of a KMS key: a service event, no `userIdentity`.
pub(crate) fn rotate_key(rng: &mut GenRng, scope: &Scope) -> Call {
    let mut call = Call::write("kms.amazonaws.com", "RotateKey", Value::Null, Value::Null);
    call.event_type = "AwsServiceEvent";
    call.additional = Some(json!({"keyId": key_arn(scope), "rotationId": ids::uuid_v4(rng)}));
    call.resources = Some(
        json!([{"accountId": scope.account.id, "type": "AWS::KMS::Key", "ARN": key_arn(scope)}]),
    );
    call
}
