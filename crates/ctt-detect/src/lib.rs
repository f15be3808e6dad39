//! Detections (SPEC §12): Sigma rules evaluated on CloudTrail records.
//!
//! * [`sigma`]: one rule — parsed from YAML, refused when it uses what is not
//!   evaluated, matched against a record's JSON.
//! * [`BUILTIN`]: the rules on by default, Sigma files in `rules/`.
//! * [`RuleSet`]: the rules of a load, indexed by the `eventName`s they can
//!   fire on, so a record is tried against a few rules, not all.

mod builtin;
mod set;
pub mod sigma;

pub use builtin::{BUILTIN, BuiltinOptions};
pub use set::{LoadError, RuleSet, Selection};
pub use sigma::{Level, Rule, RuleError};
