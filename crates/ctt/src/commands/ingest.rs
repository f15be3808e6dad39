//! `ctt ingest SOURCE...`: load log files, exactly once, and print a summary.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;
use ctt_core::Filter;
use ctt_ingest::{IngestOptions, LocalSource, Source, SourceError, SourceFile, ingest_parts};

use super::verify::{AfterLoad, SharedSpan};
use crate::cli::{IngestArgs, OutputFormat};
use crate::progress::LoadProgress;
use crate::settings::Settings;

/// What a load lists: the whole listing (a bucket's, to verify digests
/// against it), or the listing in parts, each listed when the load asks for it.
enum Listed {
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    Whole(Vec<SourceFile>),
    Parts(Parts),
}

type Parts = Box<dyn Iterator<Item = Result<Vec<SourceFile>, SourceError>> + Send>;

impl Listed {
    /// The listing as a load takes it: in parts, the whole one as one.
    fn into_parts(self) -> Parts {
        match self {
            Self::Whole(files) => Box::new(std::iter::once(Ok(files))),
            Self::Parts(parts) => parts,
        }
    }
}

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
    let (source, files, fetch_workers): (Arc<dyn Source>, Listed, usize) = if !buckets.is_empty() {
        let (from, to) = (args.from, args.to);
        s3_source(
            settings,
            &buckets,
            from,
            to,
            args.verify,
            args.list_part_files,
        )
        .await?
    } else {
        // Listed in parts, each loaded before the next is listed: what the
        // load holds does not grow with the number of files (--verify too:
        // it lists the folders again, window by window, after the load).
        let (from, to, part_files) = (args.from, args.to, args.list_part_files);
        let roots = paths.clone();
        let parts = tokio::task::spawn_blocking(move || {
            LocalSource::list_in_parts(&roots, from, to, part_files)
        })
        .await??;
        (Arc::new(LocalSource), Listed::Parts(Box::new(parts)), 0)
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
    // The keys are found (or their absence reported) before the load.
    let keys = if args.verify {
        let listed: &[SourceFile] = match &files {
            Listed::Whole(files) => files,
            Listed::Parts(_) => &[],
        };
        let given = args.public_keys.as_deref();
        Some(super::verify::resolve_keys(settings, given, &args.sources, listed).await?)
    } else {
        None
    };
    // What to verify after the load: a bucket's listing, kept; or the
    // folders, window by window over the days the load's parts span.
    let span = SharedSpan::default();
    let after_load = match &files {
        Listed::Whole(files) if keys.is_some() => Some(AfterLoad::Listed {
            source: source.clone(),
            files: files.clone(),
        }),
        Listed::Parts(_) if keys.is_some() => Some(AfterLoad::Folders {
            paths: paths.clone(),
            span: span.clone(),
        }),
        _ => None,
    };
    // Notifications go out while the load runs, from the outbox, never in
    // its way; what is still due when it ends gets `notify_grace_secs`.
    let notifier = super::notify::notifier(settings, &store).await?;
    let stop = ctt_ingest::follow::CancellationToken::new();
    let sending = notifier.clone().map(|n| tokio::spawn(n.run(stop.clone())));
    let progress = LoadProgress::new(!args.no_progress);
    let mut parts = files.into_parts();
    if after_load.is_some() {
        let span = span.clone();
        parts = Box::new(parts.inspect(move |part| {
            if let (Ok(files), Ok(mut span)) = (part, span.lock()) {
                span.add(files);
            }
        }));
    }
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
    if let (Some(keys), Some(after_load)) = (keys, after_load) {
        let (verified, recorded) =
            super::verify::verify_after_load(settings, store.as_ref(), after_load, keys).await?;
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

/// The S3 source and the files of `locations`, whole or in parts of
/// `part_files`; S3 loads run at least as many workers as fetches in flight
/// (they wait on the network, not the CPU).
#[cfg(feature = "aws")]
async fn s3_source(
    settings: &Settings,
    locations: &[String],
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
    whole: bool,
    part_files: usize,
) -> anyhow::Result<(Arc<dyn Source>, Listed, usize)> {
    let locations = locations
        .iter()
        .map(|l| l.parse::<ctt_aws::S3Uri>())
        .collect::<Result<Vec<_>, _>>()?;
    let workers = crate::aws::S3_FETCH_CONCURRENCY;
    if whole {
        let (source, files) = crate::aws::s3_files(settings, &locations, from, to).await?;
        return Ok((Arc::new(source), Listed::Whole(files), workers));
    }
    let (source, parts) = crate::aws::s3_parts(settings, &locations, from, to, part_files).await?;
    Ok((Arc::new(source), Listed::Parts(Box::new(parts)), workers))
}

#[cfg(not(feature = "aws"))]
async fn s3_source(
    _settings: &Settings,
    locations: &[String],
    _from: Option<chrono::NaiveDate>,
    _to: Option<chrono::NaiveDate>,
    _whole: bool,
    _part_files: usize,
) -> anyhow::Result<(Arc<dyn Source>, Listed, usize)> {
    bail!(
        "cannot read {}: this ctt was built without the `aws` feature",
        locations.join(", ")
    )
}
