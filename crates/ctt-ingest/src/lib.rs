//! Ingestion: log files from a source, through read → normalise → filter, into a
//! store, exactly once.
//!
//! [`source`] lists and fetches files (a local folder here; S3 in `ctt-aws`),
//! [`read`] turns a file's bytes into records (gzip capped, three JSON shapes),
//! and [`pipeline`] runs the whole flow: many parsing threads, one writer, a
//! ledger entry per file committed with its events. [`follow`] keeps loading
//! what is new in a followed place (`ctt serve --follow`).

pub mod budget;
pub mod follow;
pub mod integrity;
pub mod pipeline;
pub mod read;
pub mod report;
pub mod source;

pub use budget::MemoryBudget;
pub use pipeline::{IngestOptions, Observer, error_chain, ingest, ingest_parts};
pub use report::IngestReport;
pub use source::{FileKind, ListingParts, LocalSource, Source, SourceError, SourceFile};
