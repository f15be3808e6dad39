//! `ctt-lambda-ingest`: the ingest Lambda function (`provided.al2023`). Loads the
//! log files announced by S3 notifications — direct, through SQS, or by
//! EventBridge — into the DynamoDB table `CTT_TABLE`. See `ctt_aws::lambda::ingest`.

use std::sync::Arc;

use ctt_aws::AwsOptions;
use ctt_aws::lambda::LambdaSettings;
use ctt_aws::s3::{self, S3Source};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

/// Files fetched at once within one invocation.
const FETCH_CONCURRENCY: usize = 8;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ctt_aws::lambda::init_logging();
    let settings = LambdaSettings::from_env()?;
    let sdk = ctt_aws::config::load(&AwsOptions::default()).await;
    let store = settings.open_store(&sdk).await?;
    let source = S3Source::new(
        s3::client(&sdk, None),
        tokio::runtime::Handle::current(),
        FETCH_CONCURRENCY,
    )
    .with_max_object_bytes(settings.max_file_mib.saturating_mul(1024 * 1024));
    let handler = Arc::new(settings.ingest_handler(store, source, &sdk)?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let handler = Arc::clone(&handler);
        async move { handler.handle(event.payload).await }
    }))
    .await
}
