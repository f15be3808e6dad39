//! CloudTrail-Tracker on AWS: the only crate that links the AWS SDK.
//!
//! * [`config`]: the SDK configuration (credential chain, region, profile,
//!   endpoint overrides) every AWS piece is built from.
//! * [`cloudtrail`]: `ListPublicKeys`, the keys that sign digest files (SPEC §14).
//! * [`dynamo`]: the DynamoDB [`EventStore`](ctt_store::EventStore), `dynamodb://TABLE`.
//! * [`s3`]: S3 as a source of log files, `s3://bucket/prefix`.
//! * [`notification`]: S3 notifications (direct, in SQS, from EventBridge) read
//!   into the objects they announce, and each such object loaded exactly once.
//! * [`sqs`]: following a bucket through an SQS queue of its notifications.
//! * [`sns`]: alerts published to an SNS topic (SPEC §12).
//! * [`lambda`] (feature `lambda`): the ingest and API functions' handlers.
//! * `emulator` (feature `testsuite`): moto server on a loopback port, for tests
//!   and the cost example; never in a release build.
//!
//! The design of the table is in `docs/dynamodb.md`.

pub mod cloudtrail;
pub mod config;
pub mod dynamo;
#[cfg(feature = "testsuite")]
pub mod emulator;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod notification;
pub mod s3;
pub mod sns;
pub mod sqs;

pub use config::AwsOptions;
pub use dynamo::{DynamoError, DynamoOptions, DynamoStore, DynamoUri};
pub use s3::{S3ListingParts, S3Source, S3Uri};
