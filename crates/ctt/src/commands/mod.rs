//! One module per subcommand.

pub mod files;
pub mod generate;
pub mod ingest;
pub mod query;
pub mod serve;
pub mod token;

use std::sync::Arc;

use anyhow::Context;
use ctt_store::sqlite::{SqliteOptions, SqliteStore};

use crate::settings::Settings;

/// Opens (creating if needed) the configured SQLite store.
pub fn open_store(settings: &Settings) -> anyhow::Result<Arc<SqliteStore>> {
    let options = SqliteOptions {
        indexed_parameters: settings.index.parameters.clone(),
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open(&settings.db, options)
        .with_context(|| format!("cannot open database {}", settings.db.display()))?;
    Ok(Arc::new(store))
}
