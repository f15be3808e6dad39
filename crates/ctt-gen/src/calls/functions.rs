//! Lambda calls, with the API-version suffixes CloudTrail records in event
//! names (`CreateFunction20150331`, `UpdateFunctionCode20150331v2`).

use chrono::Datelike;
use rand::RngExt;
use serde_json::json;

use super::{Scope, Workspace, pick};
use crate::ids::{self, GenRng};
use crate::record::{Call, event_time, utc};

const SOURCE: &str = "lambda.amazonaws.com";
const PURPOSES: [&str; 5] = [
    "hello",
    "thumbnail",
    "resize-image",
    "api-handler",
    "s3-trigger",
];

/// Runtimes students picked in a given year.
fn runtimes(year: i32) -> &'static [&'static str] {
    match year {
        ..=2018 => &["python3.6", "python2.7", "nodejs8.10", "java8"],
        2019..=2020 => &["python3.8", "python3.7", "nodejs12.x", "java11"],
        2021..=2022 => &["python3.9", "python3.8", "nodejs14.x", "nodejs16.x"],
        _ => &["python3.12", "python3.11", "nodejs20.x", "nodejs18.x"],
    }
}

fn some_function(rng: &mut GenRng, ws: &Workspace) -> String {
    pick(rng, &ws.functions)
        .cloned()
        .unwrap_or_else(|| format!("{}-hello", ws.owner))
}

fn function_arn(scope: &Scope, name: &str) -> String {
    format!(
        "arn:aws:lambda:{}:{}:function:{}",
        scope.region, scope.account.id, name
    )
}

/// A read of Lambda configuration.
pub(crate) fn read(rng: &mut GenRng, _scope: &Scope, ws: &Workspace) -> Call {
    match rng.random_range(0..5) {
        0 | 1 => Call::read(
            SOURCE,
            "ListFunctions20150331",
            json!({"functionVersion": "ALL"}),
        ),
        2 => Call::read(
            SOURCE,
            "GetFunction20150331v2",
            json!({"functionName": some_function(rng, ws)}),
        ),
        3 => Call::read(SOURCE, "GetAccountSettings20160819", json!({})),
        _ => Call::read(
            SOURCE,
            "ListVersionsByFunction20150331",
            json!({"functionName": some_function(rng, ws)}),
        ),
    }
}

/// A change to the workspace's functions, creating one first when it has none.
pub(crate) fn write(rng: &mut GenRng, scope: &Scope, ws: &mut Workspace) -> Call {
    if ws.functions.is_empty() || rng.random_ratio(1, 5) {
        return create_function(rng, scope, ws);
    }
    let name = some_function(rng, ws);
    match rng.random_range(0..5) {
        0 | 1 => Call::write(
            SOURCE,
            "UpdateFunctionCode20150331v2",
            json!({"functionName": name, "publish": false, "dryRun": false}),
            json!({"functionName": name, "functionArn": function_arn(scope, &name), "codeSha256": ids::base64(rng, 43) + "=", "version": "$LATEST", "lastUpdateStatus": "InProgress"}),
        ),
        2 => Call::write(
            SOURCE,
            "UpdateFunctionConfiguration20150331v2",
            json!({"functionName": name, "timeout": rng.random_range(3..=60), "memorySize": 128 * rng.random_range(1..=4)}),
            json!({"functionName": name, "functionArn": function_arn(scope, &name), "lastUpdateStatus": "InProgress"}),
        ),
        3 => {
            let bucket = ws
                .buckets
                .first()
                .cloned()
                .unwrap_or_else(|| format!("{}-data", ws.owner));
            Call::write(
                SOURCE,
                "AddPermission20150331v2",
                json!({"functionName": name, "statementId": format!("s3-invoke-{}", rng.random_range(1..100)), "action": "lambda:InvokeFunction", "principal": "s3.amazonaws.com", "sourceArn": format!("arn:aws:s3:::{bucket}")}),
                json!({"statement": format!("{{\"Sid\":\"s3-invoke\",\"Effect\":\"Allow\",\"Principal\":{{\"Service\":\"s3.amazonaws.com\"}},\"Action\":\"lambda:InvokeFunction\",\"Resource\":\"{}\"}}", function_arn(scope, &name))}),
            )
        }
        _ => delete_function(rng, ws),
    }
}

/// `DeleteFunction` of one of the workspace's (non-empty) functions.
pub(crate) fn delete_function(rng: &mut GenRng, ws: &mut Workspace) -> Call {
    let i = rng.random_range(0..ws.functions.len());
    let name = ws.functions.swap_remove(i);
    Call::write(
        SOURCE,
        "DeleteFunction20150331",
        json!({"functionName": name}),
        serde_json::Value::Null,
    )
}

fn create_function(rng: &mut GenRng, scope: &Scope, ws: &mut Workspace) -> Call {
    let name = format!(
        "{}-{}",
        ws.owner,
        PURPOSES[rng.random_range(0..PURPOSES.len())]
    );
    ws.functions.push(name.clone());
    let runtime = *pick(rng, runtimes(utc(scope.at).year())).unwrap_or(&"python3.12");
    let handler = if runtime.starts_with("nodejs") {
        "index.handler"
    } else if runtime.starts_with("java") {
        "example.Handler::handleRequest"
    } else {
        "lambda_function.lambda_handler"
    };
    let role = format!(
        "arn:aws:iam::{}:role/service-role/lambda-lab-execution",
        scope.account.id
    );
    let memory = 128 * rng.random_range(1..=4);
    let request = json!({
        "functionName": name,
        "runtime": runtime,
        "role": role,
        "handler": handler,
        "code": {},
        "description": "",
        "timeout": 3,
        "memorySize": memory,
        "publish": false,
        "packageType": "Zip",
        "architectures": ["x86_64"],
    });
    let response = json!({
        "functionName": name,
        "functionArn": function_arn(scope, &name),
        "runtime": runtime,
        "role": role,
        "handler": handler,
        "codeSize": rng.random_range(200..5_000_000),
        "description": "",
        "timeout": 3,
        "memorySize": memory,
        "lastModified": event_time(scope.at).replace('Z', ".000+0000"),
        "codeSha256": ids::base64(rng, 43) + "=",
        "version": "$LATEST",
        "tracingConfig": {"mode": "PassThrough"},
        "revisionId": ids::uuid_v4(rng),
        "state": "Pending",
        "stateReason": "The function is being created.",
        "stateReasonCode": "Creating",
        "packageType": "Zip",
        "architectures": ["x86_64"],
    });
    Call::write(SOURCE, "CreateFunction20150331", request, response)
}
