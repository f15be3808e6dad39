//! End-to-end tests of the `ctt` binary, run as a user would run it: a real
//! SQLite file in a temporary folder, real log files.
//!
//! - `corpus`: every real-world file of `../shared/corpus/` (SPEC §9 counts).
//! - `course`: `ctt course` add, list, show (its CSV the API's bytes), rm (SPEC §10).
//! - `bad_input`: each bad input of SPEC §4 is reported and skipped.
//! - `exactly_once`: re-runs and `kill -9` mid-load (SPEC §4).
//! - `notify`: alerts sent to a webhook receiver and aiosmtpd; destinations down (SPEC §12).
//! - `queries`: CLI answers against counts computed here from generated files.
//! - `secrets`: no credential from any input reaches the database file.
//! - `serve`: `ctt serve` with `[auth.jwt]` accepts a test issuer's JWTs.
//! - `verify`: `ctt verify` on generated trees, each tampering named (SPEC §14).
//! - `aws`: `s3://` sources and `--store dynamodb://` against moto (feature `aws`).

mod alerts;
#[cfg(feature = "aws")]
mod aws;
mod bad_input;
mod corpus;
mod course;
mod exactly_once;
mod notify;
mod queries;
mod resources;
mod secrets;
mod serve;
mod support;
mod verify;
