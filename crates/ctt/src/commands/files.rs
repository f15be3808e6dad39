//! `ctt files [--failed]`: the ledger.

use std::io::IsTerminal;
use std::process::ExitCode;

use ctt_store::LedgerFilter;

use crate::cli::{FilesArgs, OutputFormat};
use crate::output;
use crate::settings::Settings;

pub async fn run(settings: &Settings, args: FilesArgs) -> anyhow::Result<ExitCode> {
    let store = super::open_event_store(settings).await?;
    let filter = if args.failed {
        LedgerFilter::Failed
    } else {
        LedgerFilter::All
    };
    let entries = store.ledger(filter).await?;
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        OutputFormat::Table
    } else {
        OutputFormat::Json
    });
    let header = [
        "key",
        "outcome",
        "records",
        "stored",
        "filtered",
        "duplicate",
        "rejected",
        "reason",
        "integrity",
    ];
    let rows = entries.iter().map(|e| {
        vec![
            e.key.clone(),
            e.outcome.as_str().to_owned(),
            e.counts.records.to_string(),
            e.counts.stored.to_string(),
            e.counts.filtered.to_string(),
            e.counts.duplicate.to_string(),
            e.counts.rejected.to_string(),
            e.reason.clone().unwrap_or_default(),
            e.integrity.clone().unwrap_or_default(),
        ]
    });
    output::records(format, &header, rows.collect(), &entries)?;
    Ok(ExitCode::SUCCESS)
}
