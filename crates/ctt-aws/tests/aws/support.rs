//! Fresh emulated resources for each test: a table (or bucket) with a unique name
//! on the one moto server of this binary.

use aws_config::SdkConfig;
use ctt_aws::emulator::{Moto, unique_name};
use ctt_aws::{DynamoOptions, DynamoStore};

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
