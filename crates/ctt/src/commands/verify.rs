//! `ctt verify SOURCE...`: CloudTrail's digests checked against the logs
//! (SPEC §14), offline; exit status 0 only when everything checked is valid.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::{Days, NaiveDate};
use ctt_ingest::integrity::{CheckOptions, Kind, PublicKeys, Report, check, flagged_events};
use ctt_ingest::{LocalSource, Source, SourceFile};
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
    let widen_from = args
        .from
        .map(|d| d.checked_sub_days(Days::new(1)).unwrap_or(d));
    let widen_to = args
        .to
        .map(|d| d.checked_add_days(Days::new(1)).unwrap_or(d));
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
    match given {
        Some(path) => public_keys(path),
        None if sources.iter().all(|s| s.starts_with("s3://")) => {
            list_public_keys(settings, files).await
        }
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
    mut flagged: HashMap<String, Vec<String>>,
) -> anyhow::Result<u64> {
    let verdicts: Vec<Verdict> = report
        .files
        .iter()
        .filter(|f| f.kind == Kind::Log)
        .map(|f| Verdict {
            event_ids: flagged.remove(&f.key).unwrap_or_default(),
            ..Verdict::new(&f.key, f.status.as_str())
        })
        .collect();
    Ok(store.record_integrity(verdicts).await?)
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
    // The whole prefix, then the days: listing by day prefixes walks the
    // log folders only, not the digests'.
    let (source, mut files) = crate::aws::s3_files(settings, &locations, None, None).await?;
    files.retain(|f| ctt_ingest::source::in_date_range(&f.key, from, to));
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
