//! One module per subcommand.

pub mod alerts;
pub mod course;
pub mod files;
pub mod generate;
pub mod ingest;
pub mod notify;
pub mod query;
pub mod resources;
pub mod rules;
pub mod serve;
pub mod store;
pub mod token;
pub mod verify;

use std::sync::Arc;

use anyhow::Context;
use ctt_store::sqlite::{SqliteOptions, SqliteStore};
use ctt_store::{EventStore, TokenStore};

use crate::settings::Settings;

/// Opens (creating if needed) the configured SQLite store.
pub fn open_store(settings: &Settings) -> anyhow::Result<Arc<SqliteStore>> {
    let options = SqliteOptions {
        indexed_parameters: settings.index.parameters.clone(),
        anomalies: Some(settings.anomalies.clone()),
        scan_limit: settings.index.scan_limit,
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open(&settings.db, options)
        .with_context(|| format!("cannot open database {}", settings.db.display()))?;
    Ok(Arc::new(store))
}

/// Opens the configured store: `--store dynamodb://TABLE`, else the SQLite
/// database.
pub async fn open_event_store(settings: &Settings) -> anyhow::Result<Arc<dyn EventStore>> {
    match settings.cloud.store.as_deref() {
        None => Ok(open_store(settings)?),
        #[cfg(feature = "aws")]
        Some(uri) => crate::aws::open_store(settings, uri).await,
        #[cfg(not(feature = "aws"))]
        Some(uri) => {
            anyhow::bail!("cannot open store {uri}: this ctt was built without the `aws` feature")
        }
    }
}

/// The configured store as both of its faces: events, and API tokens.
pub struct Stores {
    pub events: Arc<dyn EventStore>,
    pub tokens: Arc<dyn TokenStore>,
}

/// Opens the configured store with its API tokens (`ctt serve`, `ctt token`).
pub async fn open_stores(settings: &Settings) -> anyhow::Result<Stores> {
    match settings.cloud.store.as_deref() {
        None => {
            let store = open_store(settings)?;
            Ok(Stores {
                events: store.clone(),
                tokens: store,
            })
        }
        #[cfg(feature = "aws")]
        Some(uri) => {
            let store = crate::aws::open_dynamo(settings, uri).await?;
            Ok(Stores {
                events: store.clone(),
                tokens: store,
            })
        }
        #[cfg(not(feature = "aws"))]
        Some(uri) => {
            anyhow::bail!("cannot open store {uri}: this ctt was built without the `aws` feature")
        }
    }
}
