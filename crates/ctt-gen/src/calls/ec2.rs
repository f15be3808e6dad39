//! EC2 calls: instances, volumes, NAT gateways, security groups, key pairs,
//! tags, and the `Describe*` calls the console fires while a page is open.

use rand::RngExt;
use serde_json::{Value, json};

use super::{Scope, Workspace, epoch_millis, pick, zone};
use crate::ids::{self, GenRng};
use crate::record::Call;

const SOURCE: &str = "ec2.amazonaws.com";
/// Instance types students launch, the free tier ones most often.
const INSTANCE_TYPES: [&str; 10] = [
    "t2.micro",
    "t2.micro",
    "t2.micro",
    "t3.micro",
    "t3.micro",
    "t2.small",
    "t3.small",
    "t2.medium",
    "m5.large",
    "c5.xlarge",
];
const IMAGES: [&str; 5] = [
    "ami-0c02fb55956c7d316",
    "ami-0557a15b87f6559cf",
    "ami-053b0d53c279acc90",
    "ami-0fc5d935ebf8bc3bc",
    "ami-b9ef93af",
];

/// A `Describe*` call, naming one of the workspace's resources when it has some.
pub(crate) fn read(rng: &mut GenRng, _scope: &Scope, ws: &Workspace) -> Call {
    let empty = || json!({"filterSet": {}});
    match rng.random_range(0..16) {
        0..=3 => Call::read(
            SOURCE,
            "DescribeInstances",
            json!({"instancesSet": {}, "filterSet": {}}),
        ),
        4 => Call::read(
            SOURCE,
            "DescribeInstanceStatus",
            json!({"instancesSet": {}, "filterSet": {}, "includeAllInstances": rng.random_bool(0.5)}),
        ),
        5 | 6 => Call::read(SOURCE, "DescribeVolumes", volume_set(ws.volumes.first())),
        7 => Call::read(
            SOURCE,
            "DescribeVolumeStatus",
            volume_set(ws.volumes.first()),
        ),
        8 => Call::read(
            SOURCE,
            "DescribeSecurityGroups",
            json!({"securityGroupSet": {}, "securityGroupIdSet": {}, "filterSet": {}}),
        ),
        9 => Call::read(
            SOURCE,
            "DescribeSubnets",
            json!({"subnetSet": {}, "filterSet": {}}),
        ),
        10 => Call::read(
            SOURCE,
            "DescribeVpcs",
            json!({"vpcSet": {}, "filterSet": {}}),
        ),
        11 => Call::read(
            SOURCE,
            "DescribeImages",
            json!({"executableBySet": {}, "imagesSet": {}, "ownersSet": {"items": [{"owner": "self"}]}, "filterSet": {}}),
        ),
        12 => Call::read(
            SOURCE,
            "DescribeKeyPairs",
            json!({"keySet": {}, "filterSet": {}}),
        ),
        13 => Call::read(
            SOURCE,
            "DescribeAvailabilityZones",
            json!({"availabilityZoneSet": {}, "availabilityZoneIdSet": {}}),
        ),
        14 => Call::read(SOURCE, "DescribeTags", empty()),
        _ => Call::read(
            SOURCE,
            "DescribeSnapshots",
            json!({"snapshotSet": {}, "ownersSet": {"items": [{"owner": "self"}]}}),
        ),
    }
}

fn volume_set(volume: Option<&String>) -> Value {
    match volume {
        Some(id) => json!({"volumeSet": {"items": [{"volumeId": id}]}, "filterSet": {}}),
        None => json!({"volumeSet": {}, "filterSet": {}}),
    }
}

pub(crate) fn describe_regions() -> Call {
    Call::read(
        SOURCE,
        "DescribeRegions",
        json!({"regionSet": {}, "allRegions": false}),
    )
}

/// A change to the workspace's EC2 resources, launching first when there is nothing to change.
pub(crate) fn write(rng: &mut GenRng, scope: &Scope, ws: &mut Workspace) -> Call {
    if ws.instances.is_empty() || rng.random_ratio(1, 5) {
        return run_instances(rng, scope, ws, "");
    }
    match rng.random_range(0..12) {
        0 | 1 => create_tags(rng, ws),
        2 => stop_instances(rng, ws),
        3 => start_instances(rng, ws),
        4 => terminate_instances(rng, ws),
        5 => create_volume(rng, scope, ws),
        6 => attach_volume(rng, scope, ws),
        7 if !ws.attached_volumes.is_empty() => detach_volume(rng, ws),
        7 => create_security_group(rng, ws),
        8 => create_key_pair(rng, ws),
        9 => authorize_ingress(rng, ws),
        10 if ws.nat_gateways.is_empty() => create_nat_gateway(rng, scope, ws),
        10 => delete_nat_gateway(rng, ws),
        _ if ws.volumes.is_empty() => create_volume(rng, scope, ws),
        _ => delete_volume(rng, ws),
    }
}

/// `RunInstances`; `client_token` is set by autoscaling, empty for people.
pub(crate) fn run_instances(
    rng: &mut GenRng,
    scope: &Scope,
    ws: &mut Workspace,
    client_token: &str,
) -> Call {
    let instance_type = *pick(rng, &INSTANCE_TYPES).unwrap_or(&"t2.micro");
    let image = *pick(rng, &IMAGES).unwrap_or(&"ami-b9ef93af");
    let zone = zone(rng, scope.region);
    let count = if rng.random_ratio(1, 6) {
        rng.random_range(2..=3)
    } else {
        1
    };
    let key_name = format!("{}-keypair", ws.owner);
    let group = ws
        .security_groups
        .first()
        .cloned()
        .unwrap_or_else(|| ids::resource_id(rng, "sg-"));
    let instances: Vec<Value> = (0..count)
        .map(|launch_index| {
            let id = ids::resource_id(rng, "i-");
            ws.instances.push(id.clone());
            json!({
                "instanceId": id,
                "imageId": image,
                "instanceState": {"code": 0, "name": "pending"},
                "privateDnsName": format!("ip-172-31-{}-{}.ec2.internal", rng.random_range(0..64), rng.random_range(1..255)),
                "keyName": key_name,
                "amiLaunchIndex": launch_index,
                "productCodes": {},
                "instanceType": instance_type,
                "launchTime": epoch_millis(scope.at),
                "placement": {"availabilityZone": zone, "tenancy": "default"},
                "monitoring": {"state": "disabled"},
                "subnetId": ids::resource_id(rng, "subnet-"),
                "vpcId": ids::resource_id(rng, "vpc-"),
                "stateReason": {"code": "pending", "message": "pending"},
                "architecture": "x86_64",
                "rootDeviceType": "ebs",
                "rootDeviceName": "/dev/xvda",
                "blockDeviceMapping": {},
                "virtualizationType": "hvm",
                "hypervisor": "xen",
                "groupSet": {"items": [{"groupId": group, "groupName": format!("{}-sg", ws.owner)}]},
                "ebsOptimized": false,
            })
        })
        .collect();
    let mut request = json!({
        "instancesSet": {"items": [{"imageId": image, "minCount": count, "maxCount": count, "keyName": key_name}]},
        "groupSet": {"items": [{"groupId": group}]},
        "instanceType": instance_type,
        "blockDeviceMapping": {},
        "availabilityZone": zone,
        "monitoring": {"enabled": false},
        "disableApiTermination": false,
        "disableApiStop": false,
    });
    if !client_token.is_empty() {
        request["clientToken"] = json!(client_token);
    }
    let reservation = ids::resource_id(rng, "r-");
    let response = json!({
        "requestId": ids::uuid_v4(rng),
        "reservationId": reservation,
        "ownerId": scope.account.id,
        "groupSet": {},
        "instancesSet": {"items": instances},
    });
    Call::write(SOURCE, "RunInstances", request, response)
}

fn instance_change(
    rng: &mut GenRng,
    name: &'static str,
    id: &str,
    from: (u32, &str),
    to: (u32, &str),
) -> Call {
    let request = json!({"instancesSet": {"items": [{"instanceId": id}]}});
    let response = json!({
        "requestId": ids::uuid_v4(rng),
        "instancesSet": {"items": [{
            "instanceId": id,
            "currentState": {"code": to.0, "name": to.1},
            "previousState": {"code": from.0, "name": from.1},
        }]},
    });
    Call::write(SOURCE, name, request, response)
}

fn some_instance(rng: &mut GenRng, ws: &Workspace) -> String {
    pick(rng, &ws.instances)
        .cloned()
        .unwrap_or_else(|| ids::resource_id(rng, "i-"))
}

pub(crate) fn stop_instances(rng: &mut GenRng, ws: &Workspace) -> Call {
    let id = some_instance(rng, ws);
    instance_change(rng, "StopInstances", &id, (16, "running"), (64, "stopping"))
}

fn start_instances(rng: &mut GenRng, ws: &Workspace) -> Call {
    let id = some_instance(rng, ws);
    instance_change(rng, "StartInstances", &id, (80, "stopped"), (0, "pending"))
}

/// `TerminateInstances` of one of the workspace's instances (which leaves it).
pub(crate) fn terminate_instances(rng: &mut GenRng, ws: &mut Workspace) -> Call {
    let id = if ws.instances.is_empty() {
        ids::resource_id(rng, "i-")
    } else {
        let i = rng.random_range(0..ws.instances.len());
        ws.instances.swap_remove(i)
    };
    instance_change(
        rng,
        "TerminateInstances",
        &id,
        (16, "running"),
        (32, "shutting-down"),
    )
}

/// `CreateTags` on one of the workspace's instances.
pub(crate) fn create_tags(rng: &mut GenRng, ws: &Workspace) -> Call {
    let id = some_instance(rng, ws);
    let (key, value) = match rng.random_range(0..3) {
        0 => ("Name".to_string(), format!("{}-web", ws.owner)),
        1 => ("Owner".to_string(), ws.owner.clone()),
        _ => (
            "Lab".to_string(),
            format!("lab{}", rng.random_range(1..=12)),
        ),
    };
    let request = json!({
        "resourcesSet": {"items": [{"resourceId": id}]},
        "tagSet": {"items": [{"key": key, "value": value}]},
    });
    Call::write(
        SOURCE,
        "CreateTags",
        request,
        json!({"requestId": ids::uuid_v4(rng), "_return": true}),
    )
}

fn create_volume(rng: &mut GenRng, scope: &Scope, ws: &mut Workspace) -> Call {
    let id = ids::resource_id(rng, "vol-");
    ws.volumes.push(id.clone());
    let size = *pick(rng, &[1, 2, 5, 8, 10, 20]).unwrap_or(&8);
    let zone = zone(rng, scope.region);
    let volume_type = if rng.random_ratio(1, 2) { "gp2" } else { "gp3" };
    let request =
        json!({"size": size, "zone": zone, "volumeType": volume_type, "encrypted": false});
    let response = json!({
        "requestId": ids::uuid_v4(rng),
        "volumeId": id,
        "size": size.to_string(),
        "zone": zone,
        "status": "creating",
        "createTime": epoch_millis(scope.at),
        "volumeType": volume_type,
        "encrypted": false,
        "multiAttachEnabled": false,
    });
    Call::write(SOURCE, "CreateVolume", request, response)
}

/// `DeleteVolume` of one of the workspace's unattached volumes.
pub(crate) fn delete_volume(rng: &mut GenRng, ws: &mut Workspace) -> Call {
    let id = if ws.volumes.is_empty() {
        ids::resource_id(rng, "vol-")
    } else {
        ws.volumes
            .swap_remove(rng.random_range(0..ws.volumes.len()))
    };
    Call::write(
        SOURCE,
        "DeleteVolume",
        json!({"volumeId": id}),
        json!({"requestId": ids::uuid_v4(rng), "_return": true}),
    )
}

/// `CreateNatGateway` in a subnet, as the console records it (the request
/// and response wrapped in `CreateNatGatewayRequest`/`…Response`).
fn create_nat_gateway(rng: &mut GenRng, scope: &Scope, ws: &mut Workspace) -> Call {
    let id = ids::resource_id(rng, "nat-");
    ws.nat_gateways.push(id.clone());
    let subnet = ids::resource_id(rng, "subnet-");
    let allocation = ids::resource_id(rng, "eipalloc-");
    let request = json!({"CreateNatGatewayRequest": {
        "SubnetId": subnet, "AllocationId": allocation, "ConnectivityType": "public",
    }});
    let response = json!({"CreateNatGatewayResponse": {
        "requestId": ids::uuid_v4(rng),
        "natGateway": {
            "natGatewayId": id,
            "subnetId": subnet,
            "vpcId": ids::resource_id(rng, "vpc-"),
            "state": "pending",
            "connectivityType": "public",
            "createTime": epoch_millis(scope.at),
            "natGatewayAddressSet": {"item": {"allocationId": allocation}},
        },
    }});
    Call::write(SOURCE, "CreateNatGateway", request, response)
}

/// `DeleteNatGateway` of the workspace's NAT gateway.
pub(crate) fn delete_nat_gateway(rng: &mut GenRng, ws: &mut Workspace) -> Call {
    let id = ws
        .nat_gateways
        .pop()
        .unwrap_or_else(|| ids::resource_id(rng, "nat-"));
    Call::write(
        SOURCE,
        "DeleteNatGateway",
        json!({"DeleteNatGatewayRequest": {"NatGatewayId": id}}),
        json!({"DeleteNatGatewayResponse": {"requestId": ids::uuid_v4(rng), "natGatewayId": id}}),
    )
}

/// `TerminateInstances` of several instances at once (the teacher's sweep).
pub(crate) fn terminate_many(rng: &mut GenRng, instances: &[String]) -> Call {
    let request: Vec<Value> = instances
        .iter()
        .map(|id| json!({"instanceId": id}))
        .collect();
    let response: Vec<Value> = instances
        .iter()
        .map(|id| {
            json!({
                "instanceId": id,
                "currentState": {"code": 32, "name": "shutting-down"},
                "previousState": {"code": 16, "name": "running"},
            })
        })
        .collect();
    Call::write(
        SOURCE,
        "TerminateInstances",
        json!({"instancesSet": {"items": request}}),
        json!({"requestId": ids::uuid_v4(rng), "instancesSet": {"items": response}}),
    )
}

fn attach_volume(rng: &mut GenRng, scope: &Scope, ws: &mut Workspace) -> Call {
    if ws.volumes.is_empty() {
        return create_volume(rng, scope, ws);
    }
    let volume = ws
        .volumes
        .swap_remove(rng.random_range(0..ws.volumes.len()));
    ws.attached_volumes.push(volume.clone());
    let instance = some_instance(rng, ws);
    let device = *pick(rng, &["/dev/sdf", "/dev/sdg", "/dev/xvdf"]).unwrap_or(&"/dev/sdf");
    let request = json!({"volumeId": volume, "instanceId": instance, "device": device});
    let response = json!({
        "requestId": ids::uuid_v4(rng),
        "volumeId": volume,
        "instanceId": instance,
        "device": device,
        "status": "attaching",
        "attachTime": epoch_millis(scope.at),
        "deleteOnTermination": false,
    });
    Call::write(SOURCE, "AttachVolume", request, response)
}

fn detach_volume(rng: &mut GenRng, ws: &mut Workspace) -> Call {
    let i = rng.random_range(0..ws.attached_volumes.len());
    let volume = ws.attached_volumes.swap_remove(i);
    ws.volumes.push(volume.clone());
    let request = json!({"volumeId": volume, "force": false});
    let response =
        json!({"requestId": ids::uuid_v4(rng), "volumeId": volume, "status": "detaching"});
    Call::write(SOURCE, "DetachVolume", request, response)
}

fn create_security_group(rng: &mut GenRng, ws: &mut Workspace) -> Call {
    let id = ids::resource_id(rng, "sg-");
    ws.security_groups.push(id.clone());
    let name = format!("{}-sg-{}", ws.owner, ws.security_groups.len());
    let request = json!({"groupName": name, "groupDescription": format!("security group of {}", ws.owner), "vpcId": ids::resource_id(rng, "vpc-")});
    let response = json!({"requestId": ids::uuid_v4(rng), "_return": true, "groupId": id});
    Call::write(SOURCE, "CreateSecurityGroup", request, response)
}

fn authorize_ingress(rng: &mut GenRng, ws: &mut Workspace) -> Call {
    if ws.security_groups.is_empty() {
        return create_security_group(rng, ws);
    }
    let group = pick(rng, &ws.security_groups).cloned().unwrap_or_default();
    let port = *pick(rng, &[22, 80, 443, 3306, 8080]).unwrap_or(&22);
    let request = json!({
        "groupId": group,
        "ipPermissions": {"items": [{
            "ipProtocol": "tcp", "fromPort": port, "toPort": port,
            "groups": {}, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}, "ipv6Ranges": {}, "prefixListIds": {},
        }]},
    });
    let response = json!({"requestId": ids::uuid_v4(rng), "_return": true, "securityGroupRuleSet": {"items": [{
        "groupId": group, "securityGroupRuleId": ids::resource_id(rng, "sgr-"), "isEgress": false,
        "ipProtocol": "tcp", "fromPort": port, "toPort": port, "cidrIpv4": "0.0.0.0/0",
    }]}});
    Call::write(SOURCE, "AuthorizeSecurityGroupIngress", request, response)
}

fn create_key_pair(rng: &mut GenRng, ws: &Workspace) -> Call {
    let name = format!("{}-keypair-{}", ws.owner, rng.random_range(1..100));
    let fingerprint: Vec<String> = (0..20).map(|_| ids::hex(rng, 2)).collect();
    let response = json!({
        "requestId": ids::uuid_v4(rng),
        "keyName": name,
        "keyFingerprint": fingerprint.join(":"),
        "keyPairId": ids::resource_id(rng, "key-"),
        "keyMaterial": "<sensitiveDataRemoved>",
    });
    Call::write(
        SOURCE,
        "CreateKeyPair",
        json!({"keyName": name, "keyType": "rsa", "keyFormat": "pem"}),
        response,
    )
}
