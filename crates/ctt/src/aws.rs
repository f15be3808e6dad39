//! The AWS side of the binary (cargo feature `aws`, on by default): opening
//! `dynamodb://` stores, listing `s3://` sources, creating tables, building the
//! followers of `ctt serve --follow s3://…`. The AWS SDK itself is only in
//! `ctt-aws`.

use std::sync::Arc;

use anyhow::{Context, bail};
use aws_config::SdkConfig;
use chrono::NaiveDate;
use ctt_aws::dynamo::Created;
use ctt_aws::s3::follow::S3Follower;
use ctt_aws::s3::{self, S3Source};
use ctt_aws::sqs::QueueFollower;
use ctt_aws::{AwsOptions, DynamoOptions, DynamoStore, DynamoUri, S3Uri};
use ctt_ingest::SourceFile;
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
    .with_context(|| format!("cannot open store {parsed}"))?
    .with_anomalies(settings.anomalies.clone());
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

/// An S3 source, and the files of `locations` for `from..=to`, digests
/// included (listed by day prefixes as the logs are: for verification).
pub async fn s3_files(
    settings: &Settings,
    locations: &[S3Uri],
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> anyhow::Result<(S3Source, Vec<SourceFile>)> {
    let sdk = sdk_config(&flags(settings)).await?;
    let source = s3_source(settings, &sdk).with_digests();
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

/// The objects at `keys` (`s3://bucket/key`) that exist: each listed by
/// its own key as a prefix.
pub async fn s3_objects(settings: &Settings, keys: &[String]) -> anyhow::Result<Vec<SourceFile>> {
    let sdk = sdk_config(&flags(settings)).await?;
    let source = s3_source(settings, &sdk);
    let mut found = Vec::new();
    for key in keys {
        let location: S3Uri = key.parse()?;
        let listed = source
            .list(&location, None, None)
            .await
            .with_context(|| format!("cannot list {key}"))?;
        found.extend(listed.into_iter().filter(|f| f.key == *key));
    }
    Ok(found)
}

/// [`s3_files`] in parts of `part_files` files, each listed when the load
/// asks for it (see `S3Source::list_in_parts`): the locations' parts one
/// after the other; the digests' day folders too if `digests`.
pub async fn s3_parts(
    settings: &Settings,
    locations: &[S3Uri],
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    part_files: usize,
    digests: bool,
) -> anyhow::Result<(
    S3Source,
    std::iter::Flatten<std::vec::IntoIter<ctt_aws::S3ListingParts>>,
)> {
    let sdk = sdk_config(&flags(settings)).await?;
    let source = match digests {
        true => s3_source(settings, &sdk).with_digests(),
        false => s3_source(settings, &sdk),
    };
    let mut parts = Vec::new();
    for location in locations {
        parts.push(
            source
                .list_in_parts(location, from, to, part_files)
                .await
                .with_context(|| format!("cannot list {location}"))?,
        );
    }
    Ok((source, parts.into_iter().flatten()))
}

/// CloudTrail's public keys for the digests among `files`: `ListPublicKeys`
/// in each trail's home region, from the day before the first digest's day to
/// the day after the last (SPEC §14).
pub async fn public_keys(
    settings: &Settings,
    files: &[SourceFile],
) -> anyhow::Result<ctt_ingest::integrity::PublicKeys> {
    let mut keys = ctt_ingest::integrity::PublicKeys::default();
    let (regions, span) = ctt_ingest::integrity::key_request(files);
    let Some((first, last)) = span else {
        return Ok(keys);
    };
    let sdk = sdk_config(&flags(settings)).await?;
    let from = (first - chrono::Days::new(1))
        .and_time(chrono::NaiveTime::MIN)
        .and_utc();
    let to = (last + chrono::Days::new(2))
        .and_time(chrono::NaiveTime::MIN)
        .and_utc();
    for region in &regions {
        let listed = ctt_aws::cloudtrail::list_public_keys(&sdk, region, from, to).await?;
        tracing::info!(
            region,
            keys = listed.len(),
            "public keys from ListPublicKeys"
        );
        for key in listed {
            keys.insert(&key.fingerprint, key.der);
        }
    }
    Ok(keys)
}

/// The SNS client of `[[alerts.notify]]` destinations of kind `sns`.
pub async fn sns_client(settings: &Settings) -> anyhow::Result<ctt_aws::sns::Client> {
    let sdk = sdk_config(&flags(settings)).await?;
    Ok(ctt_aws::sns::client(&sdk))
}

/// The follower of `ctt serve --follow s3://…` (listing today's prefixes).
pub async fn s3_follower(settings: &Settings, location: &str) -> anyhow::Result<S3Follower> {
    let location: S3Uri = location.parse()?;
    let sdk = sdk_config(&flags(settings)).await?;
    Ok(S3Follower::new(s3_source(settings, &sdk), location))
}

/// The follower of `location` (`s3://bucket/prefix`) through the SQS queue
/// `queue_url` (`ctt serve --follow s3://… --sqs-queue-url URL`).
pub async fn sqs_follower(
    settings: &Settings,
    location: &str,
    queue_url: &str,
) -> anyhow::Result<QueueFollower> {
    let location: S3Uri = location.parse()?;
    let sdk = sdk_config(&flags(settings)).await?;
    let source = s3_source(settings, &sdk);
    Ok(
        QueueFollower::new(ctt_aws::sqs::client(&sdk), queue_url, location, source).with_wait(
            std::time::Duration::from_secs(settings.server.sqs_wait_secs),
        ),
    )
}
