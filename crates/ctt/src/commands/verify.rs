//! `ctt verify SOURCE...`: CloudTrail's digests checked against the logs
//! (SPEC §14), offline; exit status 0 only when everything checked is valid.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::NaiveDate;
use ctt_ingest::integrity::runs::SortedRuns;
use ctt_ingest::integrity::windows::{Span, WINDOW_DAYS, listed_days};
use ctt_ingest::integrity::{
    CheckOptions, Checked, FoundDigest, Kind, PublicKeys, Report, Status, WindowRead, chain,
    check_window, flagged_events, read_window,
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
    let given = given_keys(args.public_keys.as_deref(), &args.sources)?;
    let span = listed_span(settings, &args.sources, args.from, args.to).await?;
    let options = CheckOptions {
        max_file_bytes: settings.ingest.max_file_bytes(),
        signatures,
        ..CheckOptions::default()
    };
    let store = match args.record {
        true => Some(super::open_event_store(settings).await?),
        false => None,
    };
    let ledger = store.as_deref().map(|store| Ledger {
        store,
        hashes: false,
    });
    // A week at a time, each week's verdicts written sorted to a run on
    // disk, the runs merged as the output is written: what verification
    // holds follows the week, not the history.
    let mut runs = SortedRuns::new().context("cannot create a temporary folder")?;
    let mut unchecked = 0;
    let recorded = verify_windows(
        settings,
        ledger,
        &args.sources,
        span,
        given,
        &options,
        &mut |report| {
            unchecked += report.unchecked_logs;
            runs.push(&report.files)
                .context("cannot write verdicts to a temporary file")
        },
    )
    .await?;
    if args.record {
        eprintln!(
            "recorded the integrity of {recorded} log files in the ledger (those loaded from this source)"
        );
    }
    let all_valid = print(runs.merge()?, unchecked, output::resolve(args.format))?;
    Ok(if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_NOT_VALID)
    })
}

/// The days the logs and digests of `sources` span between `from` and
/// `to`: listed part by part, each let go of once its days are counted.
async fn listed_span(
    settings: &Settings,
    sources: &[String],
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> anyhow::Result<Span> {
    const PART_FILES: usize = 20_000;
    let folders = match split(sources)? {
        Sources::Buckets(buckets) => {
            return s3_span(settings, &buckets, from, to, PART_FILES).await;
        }
        Sources::Folders(folders) => folders,
    };
    tokio::task::spawn_blocking(move || {
        // By name only: a day's date is in each key.
        let parts = LocalSource::names_in_parts(&folders, from, to, PART_FILES)?;
        Ok(Span::of_parts(parts)?)
    })
    .await?
}

#[cfg(feature = "aws")]
async fn s3_span(
    settings: &Settings,
    locations: &[&String],
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    part_files: usize,
) -> anyhow::Result<Span> {
    let locations = locations
        .iter()
        .map(|l| l.parse::<ctt_aws::S3Uri>())
        .collect::<Result<Vec<_>, _>>()?;
    let (_, parts) = crate::aws::s3_parts(settings, &locations, from, to, part_files, true).await?;
    Ok(tokio::task::spawn_blocking(move || Span::of_parts(parts)).await??)
}

#[cfg(not(feature = "aws"))]
async fn s3_span(
    settings: &Settings,
    locations: &[&String],
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    _part_files: usize,
) -> anyhow::Result<Span> {
    s3(settings, locations, from, to)
        .await
        .map(|_| Span::default())
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
    let options = CheckOptions {
        max_file_bytes: settings.ingest.max_file_bytes(),
        ..CheckOptions::default()
    };
    let mut total = Report::default();
    let ledger = Ledger {
        store,
        hashes: true,
    };
    let recorded = verify_windows(
        settings,
        Some(ledger),
        sources,
        span,
        given,
        &options,
        &mut |report| {
            total.absorb(report);
            Ok(())
        },
    )
    .await?;
    Ok((total, recorded))
}

/// The ledger a verification reads the loaded logs' hashes from (`hashes`)
/// and records each log's status in.
#[derive(Clone, Copy)]
struct Ledger<'a> {
    store: &'a dyn ctt_store::EventStore,
    hashes: bool,
}

/// Verifies `sources` a week at a time over `span`, each week listed with
/// a day more on each side and handed to `on_window` restricted to its own
/// days; the newest digest of each trail is carried from week to week
/// ([`check_window`]). Returns how many ledger entries were recorded.
async fn verify_windows(
    settings: &Settings,
    ledger: Option<Ledger<'_>>,
    sources: &[String],
    span: Span,
    given: Option<PublicKeys>,
    options: &CheckOptions,
    on_window: &mut dyn FnMut(Report) -> anyhow::Result<()>,
) -> anyhow::Result<u64> {
    let given = given.map(Arc::new);
    let mut tails: HashMap<String, FoundDigest> = HashMap::new();
    let mut recorded = 0;
    let windows = span.windows(WINDOW_DAYS);
    let read_ahead = |i: usize| {
        let days = windows.get(i).copied();
        async move {
            match days {
                Some(days) => prepare(settings, ledger, sources, days, options)
                    .await
                    .map(Some),
                None => Ok(None),
            }
        }
    };
    let mut next = read_ahead(0).await?;
    for i in 0..windows.len() {
        let Some(this) = next.take() else { break };
        let keys = match &given {
            Some(keys) => keys.clone(),
            None => Arc::new(resolve_keys(settings, None, sources, &this.files).await?),
        };
        let to = this.window.within.1;
        let carried: Vec<FoundDigest> = tails.values().cloned().collect();
        // The next week is listed and read while this one is verified.
        let (verified, following) = tokio::join!(
            verify_window(settings, ledger, this, &keys, carried),
            read_ahead(i + 1),
        );
        let (report, n, digests) = verified?;
        next = following?;
        carry_tails(&mut tails, digests, to);
        on_window(report)?;
        recorded += n;
    }
    Ok(recorded)
}

/// A window listed, and its files read and hashed: ready to verify.
struct Prepared {
    source: Arc<dyn Source>,
    files: Vec<SourceFile>,
    read: WindowRead,
    window: Window,
    /// The options, with the window's days.
    options: CheckOptions,
}

/// Lists the window `days` (with a day more on each side) and reads its
/// files, with the hashes the ledger keeps if asked.
async fn prepare(
    settings: &Settings,
    ledger: Option<Ledger<'_>>,
    sources: &[String],
    (from, to): (Option<NaiveDate>, Option<NaiveDate>),
    options: &CheckOptions,
) -> anyhow::Result<Prepared> {
    let (listed_from, listed_to) = listed_days(from, to);
    // The ledger's hashes are found by each log's version; without them,
    // folders are listed by name only (no `statx` a file).
    let versions = ledger.is_some_and(|l| l.hashes);
    let (source, files) = list(settings, sources, listed_from, listed_to, versions).await?;
    let known = known_in_ledger(ledger, &files).await?;
    let options = CheckOptions {
        window_days: Some((from, to)),
        ..options.clone()
    };
    let window = Window {
        within: (from, to),
        look_back: listed_from,
    };
    Ok(tokio::task::spawn_blocking(move || {
        let read = read_window(source.as_ref(), &files, &options, known);
        Prepared {
            source,
            files,
            read,
            window,
            options,
        }
    })
    .await?)
}

/// The SHA-256 the ledger keeps for the logs among `files`, if it is to be
/// read for them.
async fn known_in_ledger(
    ledger: Option<Ledger<'_>>,
    files: &[SourceFile],
) -> anyhow::Result<HashMap<String, String>> {
    let Some(ledger) = ledger.filter(|l| l.hashes) else {
        return Ok(HashMap::new());
    };
    let logs = files
        .iter()
        .filter(|f| f.kind == FileKind::Log)
        .map(|f| (f.key.clone(), f.version.clone()))
        .collect();
    known_hashes(ledger.store, logs).await
}

/// Keeps, for each trail, the newest readable digest of the days up to
/// `to` among `digests` (or the one kept before, if newer).
fn carry_tails(
    tails: &mut HashMap<String, FoundDigest>,
    digests: Vec<FoundDigest>,
    to: Option<NaiveDate>,
) {
    let end_of = |d: &FoundDigest| {
        d.read
            .as_ref()
            .ok()
            .map(|(_, body)| body.digest_end_time.clone())
    };
    for digest in digests {
        let dated_within = match (to, key_date(&digest.key)) {
            (Some(to), Some(day)) => day <= to,
            _ => true,
        };
        let Some(end) = end_of(&digest).filter(|_| dated_within) else {
            continue;
        };
        let chain = chain(&digest.key);
        if tails
            .get(&chain)
            .and_then(end_of)
            .is_none_or(|kept| kept < end)
        {
            tails.insert(chain, digest);
        }
    }
}

/// The days a window's verdicts are kept for, and the first day listed for
/// it (a log that a digest of the window lists from before it is looked for
/// where the layout puts it); none for a listing verified whole.
struct Window {
    within: (Option<NaiveDate>, Option<NaiveDate>),
    look_back: Option<NaiveDate>,
}

/// Verifies a window `Prepared` (listed and read), with the digests
/// `carried` from earlier windows; keeps the
/// verdicts about the window's days, and records them in the ledger if
/// given. Also returns how many were recorded, and the digests read. A log
/// that a digest of the window lists from before the days listed (a
/// backfill digest's late log) is looked for where the layout puts it, under
/// the key a missing log is named by.
async fn verify_window(
    settings: &Settings,
    ledger: Option<Ledger<'_>>,
    Prepared {
        source,
        mut files,
        read,
        window: Window { within, look_back },
        options,
    }: Prepared,
    keys: &Arc<PublicKeys>,
    carried: Vec<FoundDigest>,
) -> anyhow::Result<(Report, u64, Vec<FoundDigest>)> {
    let carried = Arc::new(carried);
    let (mut report, mut digests) = {
        let (keys, options, carried) = (keys.clone(), options.clone(), carried.clone());
        tokio::task::spawn_blocking(move || {
            ctt_ingest::integrity::verify_window(read, &keys, &options, &carried)
        })
        .await?
    };
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
            let known = known_in_ledger(ledger, &files).await?;
            let (source, keys, options) = (source.clone(), keys.clone(), options.clone());
            (report, digests, files) = tokio::task::spawn_blocking(move || {
                let (report, digests) =
                    check_window(source.as_ref(), &files, &keys, &options, known, &carried);
                (report, digests, files)
            })
            .await?;
        }
    }
    let report = report.within(within.0, within.1);
    let Some(ledger) = ledger else {
        return Ok((report, 0, digests));
    };
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
    let recorded = record_counting(ledger.store, &report, flagged, of_the_window).await?;
    Ok((report, recorded, digests))
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

/// The SHA-256 the ledger keeps for `logs` (key, version), by key.
async fn known_hashes(
    store: &dyn ctt_store::EventStore,
    logs: Vec<(String, String)>,
) -> anyhow::Result<HashMap<String, String>> {
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

/// The most files a table shows whole; past them it shows those not valid.
const TABLE_FILES: usize = 10_000;

/// A table's rows: every file while there are at most `cap`, else only
/// those not valid, and how many valid ones were left out.
struct TableRows {
    cap: usize,
    shown: Vec<Checked>,
    hidden: u64,
    /// Past the cap: valid files are counted, not kept.
    capped: bool,
}

impl TableRows {
    fn new(cap: usize) -> Self {
        Self {
            cap,
            shown: Vec::new(),
            hidden: 0,
            capped: false,
        }
    }

    fn push(&mut self, file: Checked) {
        if self.capped && file.is_valid() {
            self.hidden += 1;
            return;
        }
        self.shown.push(file);
        if !self.capped && self.shown.len() > self.cap {
            let before = self.shown.len();
            self.shown.retain(|f| !f.is_valid());
            self.hidden = (before - self.shown.len()) as u64;
            self.capped = true;
        }
    }

    fn finish(self) -> (Vec<Checked>, u64) {
        (self.shown, self.hidden)
    }
}

/// Writes the verdicts `files` yields (in key order), streamed: never
/// gathered, but for a table's at most [`TABLE_FILES`] rows. The JSON is the
/// [`Report`]'s shape, its counts written after the files. Returns whether
/// everything checked is valid.
fn print(
    files: impl Iterator<Item = std::io::Result<Checked>>,
    unchecked_logs: u64,
    format: OutputFormat,
) -> anyhow::Result<bool> {
    use std::io::Write;
    let mut counts = Report::default();
    counts.unchecked_logs = unchecked_logs;
    let mut all_valid = true;
    let mut count = |file: &Checked| {
        all_valid &= file.is_valid();
        let counts = match file.kind {
            Kind::Log => &mut counts.logs,
            Kind::Digest => &mut counts.digests,
        };
        *counts.entry(file.status).or_default() += 1;
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match format {
        OutputFormat::Json => {
            out.write_all(b"{\"files\":[")?;
            for (i, file) in files.enumerate() {
                let file = file?;
                count(&file);
                if i > 0 {
                    out.write_all(b",")?;
                }
                serde_json::to_writer(&mut out, &file)?;
            }
            write!(out, "],\"logs\":")?;
            serde_json::to_writer(&mut out, &counts.logs)?;
            write!(out, ",\"digests\":")?;
            serde_json::to_writer(&mut out, &counts.digests)?;
            writeln!(out, ",\"unchecked_logs\":{unchecked_logs}}}")?;
        }
        OutputFormat::Csv => {
            let mut csv = csv::Writer::from_writer(&mut out);
            ctt_core::write_csv_row(&mut csv, ["kind", "key", "status"])?;
            for file in files {
                let f = file?;
                count(&f);
                ctt_core::write_csv_row(
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
            for file in files {
                let file = file?;
                count(&file);
                serde_json::to_writer(&mut out, &file)?;
                writeln!(out)?;
            }
        }
        OutputFormat::Table => {
            drop(out);
            let mut table = TableRows::new(TABLE_FILES);
            for file in files {
                let file = file?;
                count(&file);
                table.push(file);
            }
            let (shown, hidden) = table.finish();
            let rows = shown
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
            output::records(format, &["kind", "key", "status", "detail"], rows, &shown)?;
            if hidden > 0 {
                println!(
                    "{hidden} valid files not shown (over {TABLE_FILES}): --format csv lists every file"
                );
            }
            println!("{}", summary(&counts));
            return Ok(all_valid);
        }
    }
    out.flush()?;
    Ok(all_valid)
}

/// The source and its files between `from` and `to`; folders by name only
/// unless `versions` (each file's size and modification time) are needed.
async fn list(
    settings: &Settings,
    sources: &[String],
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    versions: bool,
) -> anyhow::Result<(Arc<dyn Source>, Vec<SourceFile>)> {
    match split(sources)? {
        Sources::Buckets(buckets) => s3(settings, &buckets, from, to).await,
        Sources::Folders(folders) => {
            let files = tokio::task::spawn_blocking(move || match versions {
                true => LocalSource::list(&folders, from, to),
                false => LocalSource::list_names(&folders, from, to),
            })
            .await??;
            Ok((Arc::new(LocalSource), files))
        }
    }
}

/// The sources verified together: buckets, or folders (or files) that exist.
enum Sources<'a> {
    Buckets(Vec<&'a String>),
    Folders(Vec<PathBuf>),
}

fn split(sources: &[String]) -> anyhow::Result<Sources<'_>> {
    let (buckets, paths): (Vec<&String>, Vec<&String>) =
        sources.iter().partition(|s| s.starts_with("s3://"));
    if !buckets.is_empty() && !paths.is_empty() {
        bail!("cannot verify S3 and local sources in one run");
    }
    if !buckets.is_empty() {
        return Ok(Sources::Buckets(buckets));
    }
    let mut folders = Vec::new();
    for path in paths {
        let path = PathBuf::from(path);
        if !path.exists() {
            bail!("cannot read {}: no such file or folder", path.display());
        }
        folders.push(path);
    }
    Ok(Sources::Folders(folders))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(key: &str, status: Status) -> Checked {
        Checked {
            kind: Kind::Log,
            key: key.to_owned(),
            status,
            faults: Vec::new(),
            detail: None,
            listed_by: None,
        }
    }

    /// A table shows every file up to its cap; past it, the files not
    /// valid, in order, and how many valid ones it left out.
    #[test]
    fn a_table_past_its_cap_shows_the_files_not_valid() {
        let mut small = TableRows::new(3);
        for key in ["a", "b", "c"] {
            small.push(checked(key, Status::Valid));
        }
        let (shown, hidden) = small.finish();
        assert_eq!((shown.len(), hidden), (3, 0));

        let mut large = TableRows::new(3);
        let statuses = [
            Status::Valid,
            Status::Modified,
            Status::Valid,
            Status::Valid,
            Status::Valid,
            Status::Missing,
            Status::Valid,
        ];
        for (i, status) in statuses.into_iter().enumerate() {
            large.push(checked(&format!("k{i}"), status));
        }
        let (shown, hidden) = large.finish();
        let keys: Vec<&str> = shown.iter().map(|c| c.key.as_str()).collect();
        assert_eq!((keys, hidden), (vec!["k1", "k5"], 5));

        let mut faulty = TableRows::new(3);
        for i in 0..6 {
            faulty.push(checked(&format!("m{i}"), Status::Missing));
        }
        let (shown, hidden) = faulty.finish();
        assert_eq!(
            (shown.len(), hidden),
            (6, 0),
            "every file not valid is shown"
        );
    }
}
