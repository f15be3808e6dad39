//! CloudTrail-Tracker against an emulated AWS (moto server on a loopback port,
//! started once for this binary by `ctt_aws::emulator`).
//!
//! - `dynamo_conformance`: the store suite every backend passes, on DynamoDB.
//! - `dynamo`: what only DynamoDB needs proving — no `Scan`, concurrent loaders,
//!   retried loads counted once.
//! - `dynamo_anomalies`: anomalies (SPEC §13) evaluated after a load that
//!   died, and their notifications withdrawn and restored, never sent twice.
//! - `concurrent_ingest`: two ingests at once into one table; the catalog keeps
//!   every user, service and parameter of both, with exact counts.
//! - `s3`: a generated tree loads the same from a bucket as from a folder.
//! - `lambda_ingest`: the ingest function's handler on notifications.
//! - `lambda_api`: the API function's handler on API Gateway v2 payloads.
//! - `sqs`: following a bucket through an SQS queue of its notifications.
//! - `store_errors`: a missing table or an unreachable store answers the API
//!   with 503 (naming the table; with `Retry-After`).

mod concurrent_ingest;
mod dynamo;
mod dynamo_anomalies;
mod dynamo_conformance;
#[cfg(feature = "lambda")]
mod lambda_api;
#[cfg(feature = "lambda")]
mod lambda_ingest;
mod s3;
mod sqs;
#[cfg(feature = "lambda")]
mod store_errors;
mod support;
