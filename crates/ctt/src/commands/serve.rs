//! `ctt serve [--listen ADDR] [--demo] [--follow DIR|s3://bucket/prefix
//! [--sqs-queue-url URL]]`: the REST API and web portal of `ctt-server` on a socket, until SIGINT or SIGTERM (requests in flight finish).
//!
//! - Access (SPEC §7): on loopback, tokens are needed once one exists; on any
//!   other address they are always needed, and the server refuses to start
//!   while none exists. While open, only loopback `Host` names and
//!   `[server] allowed_hosts` are answered (`ctt_server::host`).
//! - `--demo`: the `small` preset of `ctt-gen`, ending now, loaded first (into a
//!   temporary database unless `--db` is given).
//! - `--follow DIR`: a background task lists the folder every few seconds and
//!   loads new or changed files; the ledger makes it exactly-once, and queries
//!   never wait for it (SQLite WAL: readers do not block on the writer).
//! - `--follow s3://bucket/prefix`: today's day prefixes of the bucket, polled
//!   every 30 s at least (`ctt_aws::s3::follow`), loaded the same way.
//! - `--follow s3://bucket/prefix --sqs-queue-url URL`: new files announced by
//!   the bucket's notifications in an SQS queue, long-polled (`ctt_aws::sqs`);
//!   a message is deleted once its files are stored.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use ctt_core::Filter;
use ctt_ingest::pipeline::Silent;
use ctt_ingest::{IngestOptions, LocalSource, ingest};
use ctt_server::{AllowedHosts, AppState, AuthConfig, ServerConfig};
use ctt_store::EventStore;
use tracing::{info, warn};

use crate::cli::ServeArgs;
use crate::settings::Settings;

pub async fn run(settings: &Settings, args: ServeArgs, db_given: bool) -> anyhow::Result<ExitCode> {
    let listen = args
        .listen
        .clone()
        .unwrap_or_else(|| settings.server.listen.clone());
    let address = resolve(&listen).await?;
    let allowed_hosts = AllowedHosts::loopback_and(&settings.server.allowed_hosts)
        .context("invalid [server] allowed_hosts")?;
    if let Some(dir) = &args.follow
        && !dir.starts_with("s3://")
    {
        if args.sqs_queue_url.is_some() {
            bail!("--sqs-queue-url follows a bucket: give --follow s3://bucket/prefix, not {dir}");
        }
        if !PathBuf::from(dir).is_dir() {
            bail!("cannot follow {dir}: no such folder");
        }
    }

    let mut settings = settings.clone();
    // Held until the server stops: the demo's temporary database.
    let mut _temporary = None;
    if args.demo && !db_given {
        let dir = tempfile::Builder::new()
            .prefix("ctt-demo-")
            .tempdir()
            .context("cannot create a temporary folder for the demo")?;
        settings.db = dir.path().join("demo.db");
        info!(
            db = %settings.db.display(),
            "--demo without --db: using a temporary database, removed when the server stops"
        );
        _temporary = Some(dir);
    }
    let stores = super::open_stores(&settings).await?;
    let store = stores.events;

    let loopback = address.ip().is_loopback();
    let tokens = stores.tokens.tokens().await?.len();
    if !loopback && tokens == 0 {
        bail!(
            "refusing to listen on {address}: it is reachable from other machines and no API \
             token exists; create one with `ctt token create --role viewer` (with the same \
             --db), or listen on 127.0.0.1"
        );
    }

    if args.demo {
        load_demo(&store, &settings).await?;
    }

    let mut auth = AuthConfig::tokens(stores.tokens.clone());
    if !loopback {
        auth = auth.require_credentials();
    }
    let state = AppState::new(store.clone())
        .with_auth(auth)
        .with_config(ServerConfig {
            request_timeout: Duration::from_secs(settings.server.request_timeout_secs.max(1)),
            cors_allowed_origins: settings.server.cors_allowed_origins.clone(),
            allowed_hosts,
            trust_forwarded_proto: settings.server.trust_forwarded_proto,
        });

    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    let local = listener
        .local_addr()
        .context("cannot read the bound address")?;

    let every = Duration::from_secs(settings.server.follow_interval_secs.max(1));
    let follower = match args.follow {
        None => None,
        Some(bucket) if bucket.starts_with("s3://") => Some(match &args.sqs_queue_url {
            Some(queue_url) => follow_queue(&store, &settings, &bucket, queue_url).await?,
            None => follow_bucket(&store, &settings, &bucket, every).await?,
        }),
        Some(dir) => {
            let dir = PathBuf::from(dir);
            info!(folder = %dir.display(), seconds = every.as_secs(), "following new log files");
            Some(tokio::spawn(follow(
                store.clone(),
                dir,
                ingest_options(&settings),
                every,
            )))
        }
    };

    let access = match (tokens, loopback) {
        (0, true) => "open to anyone on this machine (no token exists)".to_owned(),
        (n, _) => format!("{n} API token(s) accepted"),
    };
    info!(url = %format!("http://{local}"), portal = %format!("http://{local}/ui/"), docs = %format!("http://{local}/docs"), %access, "serving");
    eprintln!(
        "ctt: serving http://{local} (portal: http://{local}/ui/, API docs: http://{local}/docs); {access}; Ctrl-C stops"
    );

    ctt_server::serve(listener, state, shutdown_signal())
        .await
        .context("the server failed")?;
    if let Some(task) = follower {
        task.abort();
    }
    info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Starts following `s3://bucket/prefix` (feature `aws`).
#[cfg(feature = "aws")]
async fn follow_bucket(
    store: &Arc<dyn EventStore>,
    settings: &Settings,
    location: &str,
    every: Duration,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let (source, follower) = crate::aws::s3_follower(settings, location).await?;
    info!(
        bucket = location,
        seconds = every.max(crate::aws::MIN_S3_FOLLOW_INTERVAL).as_secs(),
        "following new log files"
    );
    Ok(tokio::spawn(crate::aws::follow_s3(
        store.clone(),
        source,
        follower,
        ingest_options(settings),
        every,
    )))
}

/// Starts following `s3://bucket/prefix` through the SQS queue `queue_url`
/// (feature `aws`).
#[cfg(feature = "aws")]
async fn follow_queue(
    store: &Arc<dyn EventStore>,
    settings: &Settings,
    location: &str,
    queue_url: &str,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let follower = crate::aws::sqs_follower(
        store,
        settings,
        location,
        queue_url,
        ingest_options(settings),
    )
    .await?;
    info!(
        bucket = location,
        queue = queue_url,
        "following new log files announced in the queue"
    );
    Ok(tokio::spawn(crate::aws::follow_sqs(follower)))
}

#[cfg(not(feature = "aws"))]
async fn follow_queue(
    _store: &Arc<dyn EventStore>,
    _settings: &Settings,
    location: &str,
    _queue_url: &str,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    bail!("cannot follow {location}: this ctt was built without the `aws` feature")
}

#[cfg(not(feature = "aws"))]
async fn follow_bucket(
    _store: &Arc<dyn EventStore>,
    _settings: &Settings,
    location: &str,
    _every: Duration,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    bail!("cannot follow {location}: this ctt was built without the `aws` feature")
}

/// `HOST:PORT` (a name like `localhost` is resolved; the first address is used).
async fn resolve(listen: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(address) = listen.parse() {
        return Ok(address);
    }
    tokio::net::lookup_host(listen)
        .await
        .with_context(|| format!("invalid --listen `{listen}`: expected HOST:PORT"))?
        .next()
        .ok_or_else(|| anyhow!("invalid --listen `{listen}`: no address"))
}

fn ingest_options(settings: &Settings) -> IngestOptions {
    let defaults = IngestOptions::default();
    IngestOptions {
        workers: match settings.ingest.workers {
            0 => defaults.workers,
            n => n,
        },
        filter: Filter::new(settings.filter.clone()),
        max_file_bytes: settings.ingest.max_file_mib.saturating_mul(1024 * 1024),
        // Queries run while a served store loads: its indexes stay in place.
        bulk_load_files: usize::MAX,
        ..defaults
    }
}

/// Generates the `small` preset ending now and loads it.
async fn load_demo(store: &Arc<dyn EventStore>, settings: &Settings) -> anyhow::Result<()> {
    let logs = tempfile::Builder::new()
        .prefix("ctt-demo-logs-")
        .tempdir()
        .context("cannot create a temporary folder for the demo's logs")?;
    let root = logs.path().to_path_buf();
    let config = ctt_gen::GenConfig::new(ctt_gen::Preset::Small, 42, chrono::Utc::now());
    info!("--demo: generating the small preset, ending now");
    let summary = tokio::task::spawn_blocking({
        let root = root.clone();
        move || ctt_gen::generate(&root, &config)
    })
    .await??;
    let files =
        tokio::task::spawn_blocking(move || LocalSource::list(&[root], None, None)).await??;
    let report = ingest(
        store.clone(),
        Arc::new(LocalSource),
        files,
        &ingest_options(settings),
        &Silent,
    )
    .await?;
    info!(
        files = summary.files,
        records = summary.records,
        stored = report.records_stored,
        "--demo: loaded"
    );
    Ok(())
}

/// Lists `dir` every `every` and loads what is new or changed since the last
/// listing. A file still being written fails to parse and is retried once its
/// size or modification time changes.
async fn follow(store: Arc<dyn EventStore>, dir: PathBuf, options: IngestOptions, every: Duration) {
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let root = dir.clone();
        let listed = tokio::task::spawn_blocking(move || LocalSource::list(&[root], None, None))
            .await
            .map_err(anyhow::Error::from)
            .and_then(|r| r.map_err(anyhow::Error::from));
        let files = match listed {
            Ok(files) => files,
            Err(error) => {
                warn!(folder = %dir.display(), error = format!("{error:#}"), "cannot list the followed folder");
                continue;
            }
        };
        let new: Vec<_> = files
            .into_iter()
            .filter(|f| seen.get(&f.key) != Some(&f.version))
            .collect();
        if new.is_empty() {
            continue;
        }
        let versions: Vec<(String, String)> = new
            .iter()
            .map(|f| (f.key.clone(), f.version.clone()))
            .collect();
        match ingest(store.clone(), Arc::new(LocalSource), new, &options, &Silent).await {
            Ok(report) => {
                seen.extend(versions);
                if report.files_loaded + report.files_failed > 0 {
                    info!(
                        files_loaded = report.files_loaded,
                        files_failed = report.files_failed,
                        events_stored = report.records_stored,
                        "loaded new log files"
                    );
                }
                for failure in &report.failures {
                    warn!(%failure, "a followed file could not be loaded");
                }
            }
            Err(error) => {
                warn!(
                    error = format!("{error:#}"),
                    "cannot load new log files; will retry"
                );
            }
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    info!("shutting down: finishing the requests in flight");
}
