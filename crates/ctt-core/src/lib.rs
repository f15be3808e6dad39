//! The pure core of CloudTrail-Tracker: no I/O, no async.
//!
//! It owns the vocabulary of the data flow — a CloudTrail [`record`] as AWS wrote
//! it, the [`event`] we store after [normalising](event::normalise) it, the
//! [`filter`] that decides what is kept, the flattened [`params`] the original API
//! filters on, and the [`query`] every front end (CLI, REST API, portal, Lambda)
//! builds and every store answers, and the [`export`] cells every CSV writer
//! neutralises.

pub mod anomaly;
pub mod attributes;
pub mod course;
pub mod digest;
pub mod event;
pub mod export;
pub mod filter;
pub mod params;
pub mod printable;
pub mod query;
pub mod record;
pub mod redact;
pub mod resources;
pub mod time;
pub mod user;

pub use attributes::{TYPED_ATTRIBUTES, TypedAttribute, TypedValue, typed_attribute};
pub use event::{Event, EventSummary, RecordRejection, check, normalise};
pub use export::{csv_cell, csv_writer, write_csv_row};
pub use filter::{Filter, FilterConfig, RecordHead};
pub use printable::printable;
pub use query::{EventQuery, GroupBy, NameMatch, ParamFilter, Scope};
