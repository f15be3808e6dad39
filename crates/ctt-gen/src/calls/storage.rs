//! S3 bucket calls (management events only: bucket configuration, not objects).

use rand::RngExt;
use serde_json::{Value, json};

use super::{Scope, Workspace, pick};
use crate::ids::GenRng;
use crate::record::Call;

const SOURCE: &str = "s3.amazonaws.com";
const PURPOSES: [&str; 6] = ["web", "data", "backup", "static-site", "logs", "lab"];

fn host(bucket: Option<&str>, region: &str) -> String {
    match bucket {
        Some(bucket) => format!("{bucket}.s3.{region}.amazonaws.com"),
        None => format!("s3.{region}.amazonaws.com"),
    }
}

fn some_bucket(rng: &mut GenRng, ws: &Workspace) -> String {
    pick(rng, &ws.buckets).cloned().unwrap_or_else(|| {
        format!(
            "{}-{}",
            ws.owner,
            PURPOSES[rng.random_range(0..PURPOSES.len())]
        )
    })
}

fn bucket_request(scope: &Scope, bucket: &str, extra: Value) -> Value {
    let mut request = json!({"bucketName": bucket, "Host": host(Some(bucket), scope.region)});
    if let (Some(request), Value::Object(extra)) = (request.as_object_mut(), extra) {
        request.extend(extra);
    }
    request
}

pub(crate) fn list_buckets(scope: &Scope) -> Call {
    Call::read(
        SOURCE,
        "ListBuckets",
        json!({"Host": host(None, scope.region)}),
    )
}

/// A bucket configuration read (`Get*`, `Head*`, `List*`).
pub(crate) fn read(rng: &mut GenRng, scope: &Scope, ws: &Workspace) -> Call {
    let bucket = some_bucket(rng, ws);
    let (name, extra) = match rng.random_range(0..9) {
        0 | 1 => return list_buckets(scope),
        2 => ("GetBucketLocation", json!({"location": ""})),
        3 => ("GetBucketPolicy", json!({"policy": ""})),
        4 => ("GetBucketAcl", json!({"acl": ""})),
        5 => ("GetBucketVersioning", json!({"versioning": ""})),
        6 => (
            "GetBucketPublicAccessBlock",
            json!({"publicAccessBlock": ""}),
        ),
        7 => ("HeadBucket", json!({})),
        _ => ("GetBucketTagging", json!({"tagging": ""})),
    };
    Call::read(SOURCE, name, bucket_request(scope, &bucket, extra))
}

/// A bucket change, creating a bucket first when the workspace has none.
pub(crate) fn write(rng: &mut GenRng, scope: &Scope, ws: &mut Workspace) -> Call {
    if ws.buckets.is_empty() || rng.random_ratio(1, 4) {
        return create_bucket(rng, scope, ws);
    }
    let bucket = some_bucket(rng, ws);
    match rng.random_range(0..6) {
        0 | 1 => put_bucket_policy(scope, &bucket),
        2 => Call::write(
            SOURCE,
            "PutBucketTagging",
            bucket_request(
                scope,
                &bucket,
                json!({"tagging": "", "Tagging": {"TagSet": {"Tag": {"Key": "owner", "Value": ws.owner}}}}),
            ),
            Value::Null,
        ),
        3 => Call::write(
            SOURCE,
            "PutBucketVersioning",
            bucket_request(
                scope,
                &bucket,
                json!({"versioning": "", "VersioningConfiguration": {"Status": "Enabled"}}),
            ),
            Value::Null,
        ),
        4 => Call::write(
            SOURCE,
            "PutBucketWebsite",
            bucket_request(
                scope,
                &bucket,
                json!({"website": "", "WebsiteConfiguration": {"IndexDocument": {"Suffix": "index.html"}}}),
            ),
            Value::Null,
        ),
        _ => delete_bucket(rng, scope, ws),
    }
}

fn create_bucket(rng: &mut GenRng, scope: &Scope, ws: &mut Workspace) -> Call {
    let bucket = format!(
        "{}-{}-{}",
        ws.owner,
        PURPOSES[rng.random_range(0..PURPOSES.len())],
        rng.random_range(1..1000)
    );
    ws.buckets.push(bucket.clone());
    let extra = if scope.region == "us-east-1" {
        json!({})
    } else {
        json!({"CreateBucketConfiguration": {"LocationConstraint": scope.region}})
    };
    Call::write(
        SOURCE,
        "CreateBucket",
        bucket_request(scope, &bucket, extra),
        Value::Null,
    )
}

fn put_bucket_policy(scope: &Scope, bucket: &str) -> Call {
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "PublicReadGetObject",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{bucket}/*"),
        }],
    });
    Call::write(
        SOURCE,
        "PutBucketPolicy",
        bucket_request(scope, bucket, json!({"policy": policy})),
        Value::Null,
    )
}

/// `DeleteBucket` of one of the workspace's (non-empty) buckets.
pub(crate) fn delete_bucket(rng: &mut GenRng, scope: &Scope, ws: &mut Workspace) -> Call {
    let bucket = ws
        .buckets
        .swap_remove(rng.random_range(0..ws.buckets.len()));
    Call::write(
        SOURCE,
        "DeleteBucket",
        bucket_request(scope, &bucket, json!({})),
        Value::Null,
    )
}
