//! The AWS side of the binary (cargo feature `aws`, on by default): opening
//! `dynamodb://` stores, listing `s3://` sources, creating tables. The AWS SDK
//! itself is only in `ctt-aws`.

use std::sync::Arc;

use anyhow::{Context, bail};
use aws_config::SdkConfig;
use chrono::NaiveDate;
use ctt_aws::dynamo::Created;
use ctt_aws::notification::load::ObjectLoader;
use ctt_aws::s3::follow::S3Follower;
use ctt_aws::s3::{self, S3Source};
use ctt_aws::sqs::QueueFollower;
use ctt_aws::{AwsOptions, DynamoOptions, DynamoStore, DynamoUri, S3Uri};
use ctt_ingest::pipeline::Silent;
use ctt_ingest::{IngestOptions, SourceFile, ingest};
use ctt_store::EventStore;

use crate::settings::Settings;

/// S3 requests in flight while loading (`ctt ingest s3://…` also runs this many
/// workers at least: fetching is latency-bound).
pub const S3_FETCH_CONCURRENCY: usize = 16;

/// The AWS flags of the command line.
fn flags(settings: &Settings) -> AwsOptions {
    AwsOptions {
        region: settings.cloud.region.clone(),
        profile: settings.cloud.profile.clone(),
        endpoint_url: settings.cloud.endpoint_url.clone(),
    }
}

/// The SDK configuration for `options`, which must name a region somewhere.
async fn sdk_config(options: &AwsOptions) -> anyhow::Result<SdkConfig> {
    let sdk = ctt_aws::config::load(options).await;
    if sdk.region().is_none() {
        bail!("no AWS region: give --region, set AWS_REGION, or configure one in the AWS profile");
    }
    Ok(sdk)
}

fn parse_dynamo(uri: &str) -> anyhow::Result<(DynamoUri, AwsOptions)> {
    let parsed: DynamoUri = uri.parse()?;
    let options = AwsOptions {
        region: parsed.region.clone(),
        profile: parsed.profile.clone(),
        endpoint_url: None,
    };
    Ok((parsed, options))
}

/// Opens the DynamoDB store `uri` (its own options over the AWS flags).
pub async fn open_store(settings: &Settings, uri: &str) -> anyhow::Result<Arc<dyn EventStore>> {
    Ok(open_dynamo(settings, uri).await?)
}

/// [`open_store`], as the DynamoDB store itself (events and API tokens).
pub async fn open_dynamo(settings: &Settings, uri: &str) -> anyhow::Result<Arc<DynamoStore>> {
    let (parsed, options) = parse_dynamo(uri)?;
    let sdk = sdk_config(&options.or(&flags(settings))).await?;
    let store = DynamoStore::open(
        &sdk,
        &parsed.table,
        parsed.endpoint_url.as_deref(),
        DynamoOptions {
            indexed_parameters: settings.index.parameters.clone(),
        },
    )
    .await
    .with_context(|| format!("cannot open store {parsed}"))?;
    Ok(Arc::new(store))
}

/// Creates the DynamoDB table of `uri` with its indexes.
pub async fn create_store(settings: &Settings, uri: &str) -> anyhow::Result<Created> {
    let (parsed, options) = parse_dynamo(uri)?;
    let sdk = sdk_config(&options.or(&flags(settings))).await?;
    DynamoStore::create_table(&sdk, &parsed.table, parsed.endpoint_url.as_deref())
        .await
        .with_context(|| format!("cannot create store {parsed}"))
}

/// An S3 source fetching [`S3_FETCH_CONCURRENCY`] objects at a time, with the
/// configured size limit.
fn s3_source(settings: &Settings, sdk: &aws_config::SdkConfig) -> S3Source {
    S3Source::new(
        s3::client(sdk, None),
        tokio::runtime::Handle::current(),
        S3_FETCH_CONCURRENCY,
    )
    .with_max_object_bytes(settings.ingest.max_file_mib.saturating_mul(1024 * 1024))
}

/// An S3 source, and the files of `locations` for `from..=to`.
pub async fn s3_files(
    settings: &Settings,
    locations: &[S3Uri],
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> anyhow::Result<(S3Source, Vec<SourceFile>)> {
    let sdk = sdk_config(&flags(settings)).await?;
    let source = s3_source(settings, &sdk);
    let mut files = Vec::new();
    for location in locations {
        files.extend(
            source
                .list(location, from, to)
                .await
                .with_context(|| format!("cannot list {location}"))?,
        );
    }
    Ok((source, files))
}

/// The shortest interval between two polls of a followed bucket: each costs a
/// `ListObjectsV2` per region.
pub const MIN_S3_FOLLOW_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// A source and a follower for `ctt serve --follow s3://…`.
pub async fn s3_follower(
    settings: &Settings,
    location: &str,
) -> anyhow::Result<(S3Source, S3Follower)> {
    let location: S3Uri = location.parse()?;
    let sdk = sdk_config(&flags(settings)).await?;
    let source = s3_source(settings, &sdk);
    Ok((source.clone(), S3Follower::new(source, location)))
}

/// Polls the bucket every `every` and loads its new files (exactly once: the
/// ledger decides); files whose load failed are polled again.
pub async fn follow_s3(
    store: Arc<dyn EventStore>,
    source: S3Source,
    mut follower: S3Follower,
    mut options: IngestOptions,
    every: std::time::Duration,
) {
    // More workers than cores: they wait on the network.
    options.workers = options.workers.max(S3_FETCH_CONCURRENCY);
    let mut ticker = tokio::time::interval(every.max(MIN_S3_FOLLOW_INTERVAL));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let new = match follower.poll(chrono::Utc::now().naive_utc()).await {
            Ok(new) if new.is_empty() => continue,
            Ok(new) => new,
            Err(error) => {
                tracing::warn!(
                    error = format!("{:#}", anyhow::Error::from(error)),
                    "cannot list the followed bucket"
                );
                continue;
            }
        };
        let source: Arc<dyn ctt_ingest::Source> = Arc::new(source.clone());
        match ingest(store.clone(), source, new.clone(), &options, &Silent).await {
            Ok(report) => {
                if report.files_loaded + report.files_failed > 0 {
                    tracing::info!(
                        files_loaded = report.files_loaded,
                        files_failed = report.files_failed,
                        events_stored = report.records_stored,
                        "loaded new log files from S3"
                    );
                }
            }
            Err(error) => {
                follower.forget(&new);
                tracing::warn!(
                    error = format!("{:#}", anyhow::Error::from(error)),
                    "cannot load new log files; will retry"
                );
            }
        }
    }
}

/// A follower of `location` (`s3://bucket/prefix`) through the SQS queue
/// `queue_url` (`ctt serve --follow s3://… --sqs-queue-url URL`).
pub async fn sqs_follower(
    store: &Arc<dyn EventStore>,
    settings: &Settings,
    location: &str,
    queue_url: &str,
    options: IngestOptions,
) -> anyhow::Result<QueueFollower> {
    let location: S3Uri = location.parse()?;
    let sdk = sdk_config(&flags(settings)).await?;
    let source = s3_source(settings, &sdk);
    let loader = ObjectLoader::new(store.clone(), source, options);
    Ok(
        QueueFollower::new(ctt_aws::sqs::client(&sdk), queue_url, location, loader).with_wait(
            std::time::Duration::from_secs(settings.server.sqs_wait_secs.max(1)),
        ),
    )
}

/// Receives and loads announced files until the task is stopped; an
/// unreachable queue is retried with a growing pause (up to a minute). Without
/// long polling (`server.sqs_wait_secs = 0`), an empty queue is asked again
/// a second later.
pub async fn follow_sqs(follower: QueueFollower) {
    let second = std::time::Duration::from_secs(1);
    let mut pause = second;
    loop {
        match follower.receive().await {
            Ok(batch) => {
                pause = second;
                if batch.messages == 0 && follower.wait().is_zero() {
                    tokio::time::sleep(second).await;
                }
                if batch.messages > 0 {
                    tracing::info!(
                        messages = batch.messages,
                        deleted = batch.deleted,
                        kept = batch.kept,
                        files_loaded = batch.files_loaded,
                        files_already_loaded = batch.files_already_loaded,
                        files_failed = batch.files_failed,
                        events_stored = batch.events_stored,
                        "loaded files announced in the queue"
                    );
                }
            }
            Err(error) => {
                tracing::warn!(
                    queue = follower.queue_url(),
                    error = format!("{:#}", anyhow::Error::from(error)),
                    "cannot use the queue; will retry"
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(60));
            }
        }
    }
}
