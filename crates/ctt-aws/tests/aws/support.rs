//! Fresh emulated resources for each test: a table (or bucket) with a unique name
//! on the one moto server of this binary.

use aws_config::SdkConfig;
use ctt_aws::emulator::{Moto, unique_name};
use ctt_aws::{DynamoOptions, DynamoStore};
use serde_json::{Value, json};

pub async fn sdk() -> SdkConfig {
    Moto::shared().sdk_config().await
}

/// A new, empty table.
pub async fn fresh_table(sdk: &SdkConfig) -> String {
    let table = unique_name("ctt");
    DynamoStore::create_table(sdk, &table, None)
        .await
        .unwrap_or_else(|e| panic!("create table {table}: {e:?}"));
    table
}

/// A store over a new, empty table.
pub async fn fresh_store() -> DynamoStore {
    let sdk = sdk().await;
    let table = fresh_table(&sdk).await;
    DynamoStore::open(&sdk, &table, None, DynamoOptions::default())
        .await
        .unwrap_or_else(|e| panic!("open table {table}: {e:?}"))
}

/// A new, empty bucket.
pub async fn fresh_bucket(client: &aws_sdk_s3::Client) -> String {
    let bucket = unique_name("ctt").to_ascii_lowercase();
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create bucket {bucket}: {e:?}"));
    bucket
}

/// A file of the original's corpus (`../shared/corpus/grycap-cloudtrail-tracker/`).
pub fn corpus(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../../shared/corpus/grycap-cloudtrail-tracker/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("the shared corpus is expected at {path}: {e}"))
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

/// The original's S3 notification, pointed at `bucket` and `key` (given encoded).
pub fn notification(bucket: &str, encoded_key: &str) -> Value {
    let mut event: Value =
        serde_json::from_slice(&corpus("s3-notification-event.json")).expect("JSON");
    event["Records"][0]["s3"]["bucket"]["name"] = json!(bucket);
    event["Records"][0]["s3"]["bucket"]["arn"] = json!(format!("arn:aws:s3:::{bucket}"));
    event["Records"][0]["s3"]["object"]["key"] = json!(encoded_key);
    event
}
