//! `ctt verify SOURCE...`: CloudTrail's digests checked against the logs
//! (SPEC §14), offline; exit status 0 only when everything checked is valid.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::NaiveDate;
use ctt_ingest::integrity::windows::{Span, WINDOW_DAYS, listed_days};
use ctt_ingest::integrity::{
    CheckOptions, Kind, PublicKeys, Report, Status, check, check_with_hashes, flagged_events,
};
use ctt_ingest::source::{in_date_range, in_key_order, key_date};
use ctt_ingest::{FileKind, LocalSource, Source, SourceFile};
use ctt_store::Verdict;

use crate::cli::{OutputFormat, VerifyArgs};
use crate::output;
use crate::settings::Settings;

pub async fn run(settings: &Settings, args: VerifyArgs) -> anyhow::Result<ExitCode> {
    if let (Some(from), Some(to)) = (args.from, args.to)
        && from > to
    {
        bail!("--from {from} is after --to {to}");
    }
    let mut signatures = HashMap::new();
    for given in &args.signature {
        let Some((name, hex)) = given.split_once('=') else {
            bail!("--signature `{given}`: expected FILE_NAME=HEX");
        };
        let name = name.rsplit('/').next().unwrap_or(name);
        signatures.insert(name.to_owned(), hex.trim().to_owned());
    }
    // A day more on each side: the previous links and the signatures of the
    // days asked for are there.
    let (widen_from, widen_to) = listed_days(args.from, args.to);
    let (source, files) = list(settings, &args.sources, widen_from, widen_to).await?;
    let keys = resolve_keys(settings, args.public_keys.as_deref(), &args.sources, &files).await?;
    let options = CheckOptions {
        max_file_bytes: settings.ingest.max_file_bytes(),
        signatures,
        ..CheckOptions::default()
    };
    let record_too = args.record;
    let (report, flagged) = tokio::task::spawn_blocking(move || {
        let report = check(source.as_ref(), &files, &keys, &options).within(args.from, args.to);
        let flagged = if record_too {
            flagged_events(source.as_ref(), &files, &report, options.max_file_bytes)
        } else {
            HashMap::new()
        };
        (report, flagged)
    })
    .await?;
    if args.record {
        let store = super::open_event_store(settings).await?;
        let recorded = record(store.as_ref(), &report, flagged).await?;
        eprintln!(
            "recorded the integrity of {recorded} log files in the ledger (those loaded from this source)"
        );
    }
    print(&report, output::resolve(args.format))?;
    Ok(if report.all_valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_NOT_VALID)
    })
}

/// The public keys to verify `files` (listed from `sources`) with: the file
/// given, or for `s3://` sources CloudTrail's own `ListPublicKeys`.
pub async fn resolve_keys(
    settings: &Settings,
    given: Option<&std::path::Path>,
    sources: &[String],
    files: &[SourceFile],
) -> anyhow::Result<PublicKeys> {
    match given_keys(given, sources)? {
        Some(keys) => Ok(keys),
        None => list_public_keys(settings, files).await,
    }
}

/// The keys given for `sources`, read now: `--public-keys FILE`, needed to
/// verify a folder; `None` for buckets, whose keys are asked of CloudTrail
/// (`ListPublicKeys`) for the digests listed.
pub fn given_keys(
    given: Option<&std::path::Path>,
    sources: &[String],
) -> anyhow::Result<Option<PublicKeys>> {
    match given {
        Some(path) => public_keys(path).map(Some),
        None if sources.iter().all(|s| s.starts_with("s3://")) => Ok(None),
        None => bail!(
            "--public-keys FILE is needed to verify a folder: the JSON of `aws cloudtrail \
             list-public-keys` (for s3:// sources ctt asks ListPublicKeys itself)"
        ),
    }
}

#[cfg(feature = "aws")]
async fn list_public_keys(settings: &Settings, files: &[SourceFile]) -> anyhow::Result<PublicKeys> {
    crate::aws::public_keys(settings, files).await
}

#[cfg(not(feature = "aws"))]
async fn list_public_keys(
    _settings: &Settings,
    _files: &[SourceFile],
) -> anyhow::Result<PublicKeys> {
    bail!("this ctt was built without the `aws` feature: give --public-keys FILE")
}

/// Reads the JSON of `aws cloudtrail list-public-keys`.
pub fn public_keys(path: &std::path::Path) -> anyhow::Result<PublicKeys> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    PublicKeys::from_json(&bytes).with_context(|| format!("{}", path.display()))
}

/// Keeps each log file's status in the ledger, with the events of those
/// present but not valid (`flagged`, by key); how many files it held.
pub async fn record(
    store: &dyn ctt_store::EventStore,
    report: &Report,
    flagged: HashMap<String, Vec<String>>,
) -> anyhow::Result<u64> {
    record_counting(store, report, flagged, |_| true).await
}

/// [`record`], counting only the files whose keys `counted` accepts.
async fn record_counting(
    store: &dyn ctt_store::EventStore,
    report: &Report,
    mut flagged: HashMap<String, Vec<String>>,
    counted: impl Fn(&str) -> bool,
) -> anyhow::Result<u64> {
    let (verdicts, again): (Vec<Verdict>, Vec<Verdict>) = report
        .files
        .iter()
        .filter(|f| f.kind == Kind::Log)
        .map(|f| Verdict {
            event_ids: flagged.remove(&f.key).unwrap_or_default(),
            ..Verdict::new(&f.key, f.status.as_str())
        })
        .partition(|v| counted(&v.key));
    if !again.is_empty() {
        store.record_integrity(again).await?;
    }
    Ok(store.record_integrity(verdicts).await?)
}

/// The days a load's parts span, gathered as it lists them.
pub type SharedSpan = Arc<std::sync::Mutex<Span>>;

/// Verifies what `ctt ingest --verify` loaded from `sources` (SPEC §14)
/// against CloudTrail's digests, a week at a time over the days its listing
/// spans ([`windows`](ctt_ingest::integrity::windows)), with the hashes the
/// load kept in the ledger (logs without one are read), and records each
/// log's status in the ledger. The keys are `given`, or asked of CloudTrail for
/// each week's digests (buckets). Returns the totals (with the files not
/// valid) and how many ledger entries were recorded.
pub async fn verify_after_load(
    settings: &Settings,
    store: &dyn ctt_store::EventStore,
    sources: &[String],
    span: Span,
    given: Option<PublicKeys>,
) -> anyhow::Result<(Report, u64)> {
    let given = given.map(Arc::new);
    let options = CheckOptions {
        max_file_bytes: settings.ingest.max_file_bytes(),
        ..CheckOptions::default()
    };
    let mut total = Report::default();
    let mut recorded = 0;
    for (from, to) in span.windows(WINDOW_DAYS) {
        let (listed_from, listed_to) = listed_days(from, to);
        let (source, files) = list(settings, sources, listed_from, listed_to).await?;
        let keys = match &given {
            Some(keys) => keys.clone(),
            None => Arc::new(resolve_keys(settings, None, sources, &files).await?),
        };
        let window = Window {
            within: (from, to),
            look_back: listed_from,
        };
        let (report, n) =
            verify_window(settings, store, source, files, &keys, &options, window).await?;
        total.absorb(report);
        recorded += n;
    }
    Ok((total, recorded))
}

/// The days a window's verdicts are kept for, and the first day listed for
/// it (a log that a digest of the window lists from before it is looked for
/// where the layout puts it); none for a listing verified whole.
struct Window {
    within: (Option<NaiveDate>, Option<NaiveDate>),
    look_back: Option<NaiveDate>,
}

/// Verifies `files` (listed from `source`) with the hashes the ledger keeps,
/// keeps the verdicts about the window's days, and records them in the
/// ledger. A log that a digest of the window lists from before the days
/// listed (a backfill digest's late log) is looked for where the layout puts
/// it, under the key a missing log is named by.
async fn verify_window(
    settings: &Settings,
    store: &dyn ctt_store::EventStore,
    source: Arc<dyn Source>,
    mut files: Vec<SourceFile>,
    keys: &Arc<PublicKeys>,
    options: &CheckOptions,
    Window { within, look_back }: Window,
) -> anyhow::Result<(Report, u64)> {
    let check = |files: Vec<SourceFile>, known: HashMap<String, String>| {
        let (source, keys, options) = (source.clone(), keys.clone(), options.clone());
        tokio::task::spawn_blocking(move || {
            let report = check_with_hashes(source.as_ref(), &files, &keys, &options, known);
            (report, files)
        })
    };
    let known = known_hashes(store, &files).await?;
    let (mut report, checked) = check(files, known).await?;
    files = checked;
    if let Some(first_listed) = look_back {
        let late: Vec<String> = report
            .files
            .iter()
            .filter(|f| f.kind == Kind::Log && f.status == Status::Missing)
            .filter(|f| key_date(&f.key).is_some_and(|day| day < first_listed))
            .filter(|f| {
                f.listed_by.as_deref().is_some_and(|digest| {
                    key_date(digest).is_some() && in_date_range(digest, within.0, within.1)
                })
            })
            .map(|f| f.key.clone())
            .collect();
        let found = if late.is_empty() {
            Vec::new()
        } else {
            find(settings, late).await?
        };
        if !found.is_empty() {
            files.extend(found);
            in_key_order(&mut files);
            let known = known_hashes(store, &files).await?;
            (report, files) = check(files, known).await?;
        }
    }
    let report = report.within(within.0, within.1);
    let max_file_bytes = options.max_file_bytes;
    let (report, flagged) = tokio::task::spawn_blocking(move || {
        let flagged = flagged_events(source.as_ref(), &files, &report, max_file_bytes);
        (report, flagged)
    })
    .await?;
    // A late log (of days before the window's) was recorded, and counted, by
    // its own week: recorded again with the verdict of the digest that lists
    // it, it is not counted again.
    let of_the_window = |key: &str| match (within.0, key_date(key)) {
        (Some(first), Some(day)) => day >= first,
        _ => true,
    };
    let recorded = record_counting(store, &report, flagged, of_the_window).await?;
    Ok((report, recorded))
}

/// The files at `keys` (paths, or `s3://` objects) that exist.
async fn find(settings: &Settings, keys: Vec<String>) -> anyhow::Result<Vec<SourceFile>> {
    let (objects, paths): (Vec<String>, Vec<String>) =
        keys.into_iter().partition(|k| k.starts_with("s3://"));
    let mut found = if objects.is_empty() {
        Vec::new()
    } else {
        find_objects(settings, objects).await?
    };
    let paths: Vec<PathBuf> = paths
        .into_iter()
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .collect();
    if !paths.is_empty() {
        found.extend(
            tokio::task::spawn_blocking(move || LocalSource::list(&paths, None, None)).await??,
        );
    }
    Ok(found)
}

#[cfg(feature = "aws")]
async fn find_objects(settings: &Settings, keys: Vec<String>) -> anyhow::Result<Vec<SourceFile>> {
    crate::aws::s3_objects(settings, &keys).await
}

#[cfg(not(feature = "aws"))]
async fn find_objects(_settings: &Settings, _keys: Vec<String>) -> anyhow::Result<Vec<SourceFile>> {
    bail!("this ctt was built without the `aws` feature")
}

/// The SHA-256 the ledger keeps for the logs among `files`, by key.
async fn known_hashes(
    store: &dyn ctt_store::EventStore,
    files: &[SourceFile],
) -> anyhow::Result<HashMap<String, String>> {
    let logs: Vec<(String, String)> = files
        .iter()
        .filter(|f| f.kind == FileKind::Log)
        .map(|f| (f.key.clone(), f.version.clone()))
        .collect();
    let hashes = store.file_hashes(logs.clone()).await?;
    Ok(logs
        .into_iter()
        .zip(hashes)
        .filter_map(|((key, _), hash)| Some((key, hash?)))
        .collect())
}

/// `logs: 12 valid, 1 modified; digests: …; N not checked`.
pub fn summary(report: &Report) -> String {
    let counts = |c: &std::collections::BTreeMap<_, u64>| {
        c.iter()
            .map(|(status, n)| format!("{n} {status}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "logs: {}; digests: {}; {} logs after the newest digest or before the oldest, not checked",
        counts(&report.logs),
        counts(&report.digests),
        report.unchecked_logs
    )
}

fn print(report: &Report, format: OutputFormat) -> anyhow::Result<()> {
    use std::io::Write;
    // Half a million files: written as they go, never gathered into rows first.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match format {
        OutputFormat::Json => {
            serde_json::to_writer(&mut out, report)?;
            writeln!(out)?;
        }
        OutputFormat::Csv => {
            let mut csv = csv::Writer::from_writer(&mut out);
            output::write_csv_row(&mut csv, ["kind", "key", "status"])?;
            for f in &report.files {
                output::write_csv_row(
                    &mut csv,
                    [
                        f.kind.as_str(),
                        &ctt_core::printable(&f.key),
                        f.status.as_str(),
                    ],
                )?;
            }
            csv.flush()?;
        }
        OutputFormat::Ndjson => {
            for f in &report.files {
                serde_json::to_writer(&mut out, f)?;
                writeln!(out)?;
            }
        }
        OutputFormat::Table => {
            drop(out);
            let rows = report
                .files
                .iter()
                .map(|f| {
                    vec![
                        f.kind.as_str().to_owned(),
                        f.key.clone(),
                        f.status.to_string(),
                        f.detail.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            output::records(
                format,
                &["kind", "key", "status", "detail"],
                rows,
                &report.files,
            )?;
            println!("{}", summary(report));
            return Ok(());
        }
    }
    out.flush()?;
    Ok(())
}

/// The source and its files between `from` and `to`.
async fn list(
    settings: &Settings,
    sources: &[String],
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> anyhow::Result<(Arc<dyn Source>, Vec<SourceFile>)> {
    let (buckets, paths): (Vec<&String>, Vec<&String>) =
        sources.iter().partition(|s| s.starts_with("s3://"));
    if !buckets.is_empty() && !paths.is_empty() {
        bail!("cannot verify S3 and local sources in one run");
    }
    if buckets.is_empty() {
        let mut folders = Vec::new();
        for path in paths {
            let path = PathBuf::from(path);
            if !path.exists() {
                bail!("cannot read {}: no such file or folder", path.display());
            }
            folders.push(path);
        }
        let files =
            tokio::task::spawn_blocking(move || LocalSource::list(&folders, from, to)).await??;
        return Ok((Arc::new(LocalSource), files));
    }
    s3(settings, &buckets, from, to).await
}

#[cfg(feature = "aws")]
async fn s3(
    settings: &Settings,
    locations: &[&String],
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> anyhow::Result<(Arc<dyn Source>, Vec<SourceFile>)> {
    let locations = locations
        .iter()
        .map(|l| l.parse::<ctt_aws::S3Uri>())
        .collect::<Result<Vec<_>, _>>()?;
    // By day prefixes, the digests' as well as the logs'.
    let (source, files) = crate::aws::s3_files(settings, &locations, from, to).await?;
    Ok((Arc::new(source), files))
}

#[cfg(not(feature = "aws"))]
async fn s3(
    _settings: &Settings,
    locations: &[&String],
    _from: Option<NaiveDate>,
    _to: Option<NaiveDate>,
) -> anyhow::Result<(Arc<dyn Source>, Vec<SourceFile>)> {
    bail!(
        "cannot read {}: this ctt was built without the `aws` feature",
        locations
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )
}
