//! `ctt ingest SOURCE...`: load log files, exactly once, and print a summary.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;
use ctt_core::Filter;
use ctt_ingest::{IngestOptions, LocalSource, ingest};

use crate::cli::{IngestArgs, OutputFormat};
use crate::progress::LoadProgress;
use crate::settings::Settings;

pub async fn run(settings: &Settings, args: IngestArgs) -> anyhow::Result<ExitCode> {
    if let (Some(from), Some(to)) = (args.from, args.to)
        && from > to
    {
        bail!("--from {from} is after --to {to}");
    }
    let mut paths = Vec::new();
    for source in &args.sources {
        if source.starts_with("s3://") {
            bail!("cannot read {source}: S3 sources are not supported by this build yet");
        }
        let path = PathBuf::from(source);
        if !path.exists() {
            bail!("cannot read {source}: no such file or folder");
        }
        paths.push(path);
    }
    let store = super::open_store(settings)?;
    let files = tokio::task::spawn_blocking(move || LocalSource::list(&paths, args.from, args.to))
        .await??;
    let workers = args.workers.unwrap_or(settings.ingest.workers);
    let options = IngestOptions {
        workers: if workers == 0 {
            IngestOptions::default().workers
        } else {
            workers
        },
        filter: Filter::new(settings.filter.clone()),
        batch_events: args.batch_events.max(1),
        max_file_bytes: settings.ingest.max_file_mib.saturating_mul(1024 * 1024),
        ..IngestOptions::default()
    };
    let progress = LoadProgress::new(!args.no_progress);
    let report = ingest(store, Arc::new(LocalSource), files, &options, &progress).await?;
    progress.finish();
    if args.format == Some(OutputFormat::Json) {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{report}");
    }
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_FILES_FAILED)
    })
}
