//! `ctt ingest SOURCE...`: load log files, exactly once, and print a summary.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;
use ctt_core::Filter;
use ctt_ingest::{IngestOptions, LocalSource, Source, SourceError, SourceFile, ingest_parts};

use super::verify::SharedSpan;
use crate::cli::{IngestArgs, OutputFormat};
use crate::progress::LoadProgress;
use crate::settings::Settings;

/// A load's listing, in parts, each listed when the load asks for it.
type Parts = Box<dyn Iterator<Item = Result<Vec<SourceFile>, SourceError>> + Send>;

pub async fn run(settings: &Settings, args: IngestArgs) -> anyhow::Result<ExitCode> {
    if let (Some(from), Some(to)) = (args.from, args.to)
        && from > to
    {
        bail!("--from {from} is after --to {to}");
    }
    let mut paths = Vec::new();
    let mut buckets = Vec::new();
    for source in &args.sources {
        if source.starts_with("s3://") {
            buckets.push(source.clone());
            continue;
        }
        let path = PathBuf::from(source);
        if !path.exists() {
            bail!("cannot read {source}: no such file or folder");
        }
        paths.push(path);
    }
    if !buckets.is_empty() && !paths.is_empty() {
        bail!("cannot load S3 and local sources in one run: load them one after the other");
    }
    let store = super::open_event_store(settings).await?;
    // --verify: the keys given are read (or their absence reported) before
    // the load; a bucket's are asked of CloudTrail for each window.
    let verifying = args
        .verify
        .then(|| super::verify::given_keys(args.public_keys.as_deref(), &args.sources))
        .transpose()?;
    // Listed in parts, each loaded before the next is listed: what the load
    // holds does not grow with the number of files (--verify too: it lists
    // the sources again, a week at a time, after the load).
    let (source, parts, fetch_workers): (Arc<dyn Source>, Parts, usize) = if !buckets.is_empty() {
        let (from, to) = (args.from, args.to);
        s3_source(settings, &buckets, from, to, args.list_part_files).await?
    } else {
        let (from, to, part_files) = (args.from, args.to, args.list_part_files);
        let parts = tokio::task::spawn_blocking(move || {
            LocalSource::list_in_parts(&paths, from, to, part_files)
        })
        .await??;
        (Arc::new(LocalSource), Box::new(parts), 0)
    };
    let workers = args.workers.unwrap_or(settings.ingest.workers);
    let workers = if workers == 0 {
        IngestOptions::default().workers.max(fetch_workers)
    } else {
        workers
    };
    let options = IngestOptions {
        workers,
        filter: Filter::new(settings.filter.clone()),
        batch_events: args.batch_events.max(1),
        max_file_bytes: settings.ingest.max_file_bytes(),
        in_flight_bytes: settings.ingest.in_flight_bytes(),
        bulk_load_files: settings.ingest.bulk_load_files,
        // With --verify, logs are hashed as they load (kept in the
        // ledger): read once.
        hash_files: args.verify,
        rules: Some(Arc::new(super::rules::rule_set(settings, &args.rules)?))
            .filter(|rules| !rules.is_empty()),
        catalogue: Arc::new(settings.resources.catalogue()?),
        ..IngestOptions::default()
    };
    // The days the load's parts span: what --verify verifies after it.
    let span = SharedSpan::default();
    // Notifications go out while the load runs, from the outbox, never in
    // its way; what is still due when it ends gets `notify_grace_secs`.
    let notifier = super::notify::notifier(settings, &store).await?;
    let stop = ctt_ingest::follow::CancellationToken::new();
    let sending = notifier.clone().map(|n| tokio::spawn(n.run(stop.clone())));
    let progress = LoadProgress::new(!args.no_progress);
    let parts: Parts = if verifying.is_some() {
        let span = span.clone();
        Box::new(parts.inspect(move |part| {
            if let (Ok(files), Ok(mut span)) = (part, span.lock()) {
                span.add(files);
            }
        }))
    } else {
        parts
    };
    let report = ingest_parts(store.clone(), source.clone(), parts, &options, &progress).await?;
    progress.finish();
    stop.cancel();
    if let (Some(notifier), Some(sending)) = (notifier, sending) {
        let _ = sending.await;
        let grace = std::time::Duration::from_secs(settings.alerts.notify_grace_secs);
        notifier.flush(grace).await?;
        if let Some(outbox) = store.outbox() {
            let counts = outbox.outbox_counts().await?;
            tracing::info!(
                pending = counts.pending,
                sent = counts.sent,
                failed = counts.failed,
                "notifications"
            );
            if counts.pending > 0 {
                eprintln!(
                    "notifications: {} waiting to be sent (retried by the next `ctt ingest` or `ctt serve`)",
                    counts.pending
                );
            }
        }
    }
    if args.format == Some(OutputFormat::Json) {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{report}");
    }
    let mut valid = true;
    if let Some(given) = verifying {
        let span = *span
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let sources = &args.sources;
        let (verified, recorded) =
            super::verify::verify_after_load(settings, store.as_ref(), sources, span, given)
                .await?;
        eprintln!(
            "verified: {}; recorded in the ledger for {recorded} files",
            super::verify::summary(&verified)
        );
        valid = verified.all_valid();
    }
    Ok(if !report.is_clean() {
        ExitCode::from(crate::EXIT_FILES_FAILED)
    } else if !valid {
        ExitCode::from(crate::EXIT_NOT_VALID)
    } else {
        ExitCode::SUCCESS
    })
}

/// The S3 source and the files of `locations` in parts of `part_files`; S3
/// loads run at least as many workers as fetches in flight (they wait on the
/// network, not the CPU).
#[cfg(feature = "aws")]
async fn s3_source(
    settings: &Settings,
    locations: &[String],
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
    part_files: usize,
) -> anyhow::Result<(Arc<dyn Source>, Parts, usize)> {
    let locations = locations
        .iter()
        .map(|l| l.parse::<ctt_aws::S3Uri>())
        .collect::<Result<Vec<_>, _>>()?;
    let workers = crate::aws::S3_FETCH_CONCURRENCY;
    let (source, parts) =
        crate::aws::s3_parts(settings, &locations, from, to, part_files, false).await?;
    Ok((Arc::new(source), Box::new(parts), workers))
}

#[cfg(not(feature = "aws"))]
async fn s3_source(
    _settings: &Settings,
    locations: &[String],
    _from: Option<chrono::NaiveDate>,
    _to: Option<chrono::NaiveDate>,
    _part_files: usize,
) -> anyhow::Result<(Arc<dyn Source>, Parts, usize)> {
    bail!(
        "cannot read {}: this ctt was built without the `aws` feature",
        locations.join(", ")
    )
}
