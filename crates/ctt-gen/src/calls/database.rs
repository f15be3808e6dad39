//! RDS calls: database instances, snapshots and (old, EC2-Classic) DB security groups.

use rand::RngExt;
use serde_json::json;

use super::{Scope, Workspace, pick};
use crate::ids::{self, GenRng};
use crate::record::Call;

const SOURCE: &str = "rds.amazonaws.com";
const CLASSES: [&str; 5] = [
    "db.t2.micro",
    "db.t3.micro",
    "db.t3.micro",
    "db.t3.small",
    "db.m5.large",
];
const ENGINES: [(&str, &str); 3] = [
    ("mysql", "8.0.35"),
    ("postgres", "15.4"),
    ("mariadb", "10.11.6"),
];

fn some_database(rng: &mut GenRng, ws: &Workspace) -> String {
    pick(rng, &ws.databases)
        .cloned()
        .unwrap_or_else(|| format!("{}-db", ws.owner))
}

/// A `Describe*` call of RDS.
pub(crate) fn read(rng: &mut GenRng, _scope: &Scope, ws: &Workspace) -> Call {
    match rng.random_range(0..6) {
        0..=2 => {
            let request = match ws.databases.first() {
                Some(id) if rng.random_ratio(1, 2) => json!({"dBInstanceIdentifier": id}),
                _ => json!({}),
            };
            Call::read(SOURCE, "DescribeDBInstances", request)
        }
        3 => Call::read(
            SOURCE,
            "DescribeDBSnapshots",
            json!({"dBInstanceIdentifier": some_database(rng, ws), "includeShared": false, "includePublic": false}),
        ),
        4 => Call::read(
            SOURCE,
            "DescribeDBEngineVersions",
            json!({"engine": ENGINES[rng.random_range(0..ENGINES.len())].0, "defaultOnly": true}),
        ),
        _ => Call::read(SOURCE, "DescribeDBSubnetGroups", json!({})),
    }
}

/// A database change, creating one first when the workspace has none.
pub(crate) fn write(rng: &mut GenRng, scope: &Scope, ws: &mut Workspace) -> Call {
    if ws.databases.is_empty() || rng.random_ratio(1, 5) {
        return create_db_instance(rng, scope, ws);
    }
    match rng.random_range(0..5) {
        0 => create_db_security_group(rng, ws),
        1 => {
            let id = some_database(rng, ws);
            let snapshot = format!("{id}-snap-{}", rng.random_range(1..100));
            Call::write(
                SOURCE,
                "CreateDBSnapshot",
                json!({"dBSnapshotIdentifier": snapshot, "dBInstanceIdentifier": id}),
                json!({"dBSnapshotIdentifier": snapshot, "dBInstanceIdentifier": id, "status": "creating", "snapshotType": "manual"}),
            )
        }
        2 => {
            let id = some_database(rng, ws);
            Call::write(
                SOURCE,
                "StopDBInstance",
                json!({"dBInstanceIdentifier": id}),
                json!({"dBInstanceIdentifier": id, "dBInstanceStatus": "stopping"}),
            )
        }
        3 => {
            let id = some_database(rng, ws);
            Call::write(
                SOURCE,
                "ModifyDBInstance",
                json!({"dBInstanceIdentifier": id, "backupRetentionPeriod": 0, "applyImmediately": true}),
                json!({"dBInstanceIdentifier": id, "dBInstanceStatus": "modifying"}),
            )
        }
        _ => delete_db_instance(rng, ws),
    }
}

/// `DeleteDBInstance` of one of the workspace's (non-empty) databases.
pub(crate) fn delete_db_instance(rng: &mut GenRng, ws: &mut Workspace) -> Call {
    let id = ws
        .databases
        .swap_remove(rng.random_range(0..ws.databases.len()));
    Call::write(
        SOURCE,
        "DeleteDBInstance",
        json!({"dBInstanceIdentifier": id, "skipFinalSnapshot": true, "deleteAutomatedBackups": true}),
        json!({"dBInstanceIdentifier": id, "dBInstanceStatus": "deleting"}),
    )
}

fn create_db_instance(rng: &mut GenRng, scope: &Scope, ws: &mut Workspace) -> Call {
    let id = format!("{}-db{}", ws.owner, ws.databases.len() + 1);
    ws.databases.push(id.clone());
    let class = CLASSES[rng.random_range(0..CLASSES.len())];
    let (engine, version) = ENGINES[rng.random_range(0..ENGINES.len())];
    let request = json!({
        "dBInstanceIdentifier": id,
        "allocatedStorage": 20,
        "dBInstanceClass": class,
        "engine": engine,
        "engineVersion": version,
        "masterUsername": "admin",
        "masterUserPassword": "HIDDEN_DUE_TO_SECURITY_REASONS",
        "multiAZ": false,
        "publiclyAccessible": true,
        "storageType": "gp2",
        "backupRetentionPeriod": 1,
    });
    let response = json!({
        "dBInstanceIdentifier": id,
        "dBInstanceClass": class,
        "engine": engine,
        "engineVersion": version,
        "dBInstanceStatus": "creating",
        "masterUsername": "admin",
        "allocatedStorage": 20,
        "multiAZ": false,
        "storageType": "gp2",
        "dbiResourceId": format!("db-{}", ids::access_key_id(rng, "").to_uppercase()),
        "dBInstanceArn": format!("arn:aws:rds:{}:{}:db:{}", scope.region, scope.account.id, id),
    });
    Call::write(SOURCE, "CreateDBInstance", request, response)
}

fn create_db_security_group(rng: &mut GenRng, ws: &Workspace) -> Call {
    let name = format!("{}-dbsg-{}", ws.owner, rng.random_range(1..10));
    let request = json!({"dBSecurityGroupName": name, "dBSecurityGroupDescription": format!("database access for {}", ws.owner)});
    let response = json!({"dBSecurityGroupName": name, "ownerId": "", "eC2SecurityGroups": [], "iPRanges": []});
    Call::write(SOURCE, "CreateDBSecurityGroup", request, response)
}
