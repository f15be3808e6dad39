//! Elastic Load Balancing, Auto Scaling and CloudWatch alarms: the
//! "scalable web application" lab, and the calls the services make for it.

use rand::RngExt;
use serde_json::{Value, json};

use super::{Scope, Workspace, pick, zone};
use crate::ids::{self, GenRng};
use crate::record::Call;

pub(crate) const ELB: &str = "elasticloadbalancing.amazonaws.com";
pub(crate) const AUTOSCALING: &str = "autoscaling.amazonaws.com";
pub(crate) const MONITORING: &str = "monitoring.amazonaws.com";

fn some_balancer(rng: &mut GenRng, ws: &Workspace) -> String {
    pick(rng, &ws.load_balancers)
        .cloned()
        .unwrap_or_else(|| format!("{}-lb", ws.owner))
}

fn some_group(rng: &mut GenRng, ws: &Workspace) -> String {
    pick(rng, &ws.scaling_groups)
        .cloned()
        .unwrap_or_else(|| format!("{}-asg", ws.owner))
}

/// A `Describe*` call of the three services.
pub(crate) fn read(rng: &mut GenRng, _scope: &Scope, ws: &Workspace) -> Call {
    match rng.random_range(0..10) {
        0 | 1 => Call::read(ELB, "DescribeLoadBalancers", json!({})),
        2 => Call::read(
            ELB,
            "DescribeInstanceHealth",
            json!({"loadBalancerName": some_balancer(rng, ws)}),
        ),
        3 => Call::read(
            ELB,
            "DescribeLoadBalancerAttributes",
            json!({"loadBalancerName": some_balancer(rng, ws)}),
        ),
        4 => Call::read(ELB, "DescribeTargetGroups", json!({})),
        5 => Call::read(AUTOSCALING, "DescribeAutoScalingGroups", json!({})),
        6 => Call::read(
            AUTOSCALING,
            "DescribePolicies",
            json!({"autoScalingGroupName": some_group(rng, ws)}),
        ),
        7 => Call::read(AUTOSCALING, "DescribeLaunchConfigurations", json!({})),
        8 => Call::read(
            MONITORING,
            "DescribeAlarms",
            json!({"alarmNamePrefix": ws.owner}),
        ),
        _ => Call::read(
            MONITORING,
            "GetMetricData",
            json!({"startTime": "", "endTime": "", "metricDataQueries": []}),
        ),
    }
}

/// The next step of building a load-balanced, auto-scaled web application.
pub(crate) fn write(rng: &mut GenRng, scope: &Scope, ws: &mut Workspace) -> Call {
    if ws.load_balancers.is_empty() {
        return create_load_balancer(rng, scope, ws);
    }
    if ws.scaling_groups.is_empty() {
        return if rng.random_ratio(1, 2) {
            create_launch_configuration(rng, ws)
        } else {
            create_auto_scaling_group(rng, scope, ws)
        };
    }
    match rng.random_range(0..8) {
        0 | 1 => {
            let group = some_group(rng, ws);
            put_scaling_policy(rng, scope, &group)
        }
        2 | 3 => put_metric_alarm(rng, scope, ws),
        4 => {
            let balancer = some_balancer(rng, ws);
            register_instances(rng, &balancer, ws)
        }
        5 => configure_health_check(rng, ws),
        6 => Call::write(
            AUTOSCALING,
            "UpdateAutoScalingGroup",
            json!({"autoScalingGroupName": some_group(rng, ws), "minSize": 1, "maxSize": rng.random_range(2..=4), "desiredCapacity": rng.random_range(1..=2)}),
            Value::Null,
        ),
        _ => delete_load_balancer(rng, ws),
    }
}

/// `DeleteLoadBalancer` of one of the workspace's (non-empty) balancers.
pub(crate) fn delete_load_balancer(rng: &mut GenRng, ws: &mut Workspace) -> Call {
    let name = ws
        .load_balancers
        .swap_remove(rng.random_range(0..ws.load_balancers.len()));
    Call::write(
        ELB,
        "DeleteLoadBalancer",
        json!({"loadBalancerName": name}),
        Value::Null,
    )
}

/// `DeleteAutoScalingGroup` of the workspace's last group, its instances
/// with it.
pub(crate) fn delete_auto_scaling_group(ws: &mut Workspace) -> Option<Call> {
    let name = ws.scaling_groups.pop()?;
    Some(Call::write(
        AUTOSCALING,
        "DeleteAutoScalingGroup",
        json!({"autoScalingGroupName": name, "forceDelete": true}),
        Value::Null,
    ))
}

fn create_load_balancer(rng: &mut GenRng, scope: &Scope, ws: &mut Workspace) -> Call {
    let name = format!("{}-lb", ws.owner);
    ws.load_balancers.push(name.clone());
    let zones = [zone(rng, scope.region), zone(rng, scope.region)];
    let request = json!({
        "loadBalancerName": name,
        "listeners": [{"protocol": "HTTP", "loadBalancerPort": 80, "instanceProtocol": "HTTP", "instancePort": 80}],
        "availabilityZones": zones,
        "securityGroups": [ws.security_groups.first().cloned().unwrap_or_else(|| ids::resource_id(rng, "sg-"))],
    });
    let response = json!({"dNSName": format!("{name}-{}.{}.elb.amazonaws.com", rng.random_range(100_000_000u32..2_000_000_000), scope.region)});
    Call::write(ELB, "CreateLoadBalancer", request, response)
}

/// `RegisterInstancesWithLoadBalancer` of the workspace's instances.
pub(crate) fn register_instances(rng: &mut GenRng, balancer: &str, ws: &Workspace) -> Call {
    let instance = pick(rng, &ws.instances)
        .cloned()
        .unwrap_or_else(|| ids::resource_id(rng, "i-"));
    let mut registered: Vec<Value> = ws
        .instances
        .iter()
        .take(3)
        .map(|id| json!({"instanceId": id}))
        .collect();
    if registered.is_empty() {
        registered.push(json!({"instanceId": instance}));
    }
    Call::write(
        ELB,
        "RegisterInstancesWithLoadBalancer",
        json!({"loadBalancerName": balancer, "instances": [{"instanceId": instance}]}),
        json!({"instances": registered}),
    )
}

fn configure_health_check(rng: &mut GenRng, ws: &Workspace) -> Call {
    let health = json!({"target": "HTTP:80/index.html", "interval": 30, "timeout": 5, "unhealthyThreshold": 2, "healthyThreshold": 10});
    Call::write(
        ELB,
        "ConfigureHealthCheck",
        json!({"loadBalancerName": some_balancer(rng, ws), "healthCheck": health}),
        json!({"healthCheck": health}),
    )
}

fn create_launch_configuration(rng: &mut GenRng, ws: &Workspace) -> Call {
    let request = json!({
        "launchConfigurationName": format!("{}-lc-{}", ws.owner, rng.random_range(1..10)),
        "imageId": "ami-0c02fb55956c7d316",
        "keyName": format!("{}-keypair", ws.owner),
        "instanceType": "t2.micro",
        "instanceMonitoring": {"enabled": false},
        "associatePublicIpAddress": true,
    });
    Call::write(
        AUTOSCALING,
        "CreateLaunchConfiguration",
        request,
        Value::Null,
    )
}

fn create_auto_scaling_group(rng: &mut GenRng, scope: &Scope, ws: &mut Workspace) -> Call {
    let name = format!("{}-asg", ws.owner);
    ws.scaling_groups.push(name.clone());
    let request = json!({
        "autoScalingGroupName": name,
        "launchConfigurationName": format!("{}-lc-{}", ws.owner, rng.random_range(1..10)),
        "minSize": 1,
        "maxSize": 3,
        "desiredCapacity": 1,
        "availabilityZones": [zone(rng, scope.region)],
        "loadBalancerNames": ws.load_balancers.clone(),
        "healthCheckType": "ELB",
        "healthCheckGracePeriod": 300,
    });
    Call::write(AUTOSCALING, "CreateAutoScalingGroup", request, Value::Null)
}

fn policy_arn(rng: &mut GenRng, scope: &Scope, group: &str, policy: &str) -> String {
    format!(
        "arn:aws:autoscaling:{}:{}:scalingPolicy:{}:autoScalingGroupName/{group}:policyName/{policy}",
        scope.region,
        scope.account.id,
        ids::uuid_v4(rng)
    )
}

/// `PutScalingPolicy` on `group`.
pub(crate) fn put_scaling_policy(rng: &mut GenRng, scope: &Scope, group: &str) -> Call {
    let (policy, adjustment) = if rng.random_ratio(1, 2) {
        ("Increase Group Size", 1)
    } else {
        ("Decrease Group Size", -1)
    };
    let request = json!({
        "scalingAdjustment": adjustment,
        "adjustmentType": "ChangeInCapacity",
        "autoScalingGroupName": group,
        "policyType": "SimpleScaling",
        "policyName": policy,
        "cooldown": 120,
    });
    let response = json!({"alarms": [], "policyARN": policy_arn(rng, scope, group, policy)});
    Call::write(AUTOSCALING, "PutScalingPolicy", request, response)
}

/// `PutMetricAlarm` on the CPU of the workspace's scaling group.
pub(crate) fn put_metric_alarm(rng: &mut GenRng, scope: &Scope, ws: &Workspace) -> Call {
    let group = some_group(rng, ws);
    let scale_out = rng.random_ratio(1, 2);
    let (direction, threshold, operator, policy) = if scale_out {
        (
            "OUT",
            70.0,
            "GreaterThanOrEqualToThreshold",
            "Increase Group Size",
        )
    } else {
        (
            "IN",
            20.0,
            "LessThanOrEqualToThreshold",
            "Decrease Group Size",
        )
    };
    let request = json!({
        "alarmName": format!("alarm-{}-scale-{direction}-on-CPU", ws.owner),
        "threshold": threshold,
        "period": 60,
        "metricName": "CPUUtilization",
        "dimensions": [{"value": group, "name": "AutoScalingGroupName"}],
        "evaluationPeriods": 1,
        "actionsEnabled": true,
        "comparisonOperator": operator,
        "namespace": "AWS/EC2",
        "alarmActions": [policy_arn(rng, scope, &group, policy)],
        "statistic": "Average",
    });
    Call::write(MONITORING, "PutMetricAlarm", request, Value::Null)
}
