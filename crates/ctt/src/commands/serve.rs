//! `ctt serve [--listen ADDR] [--demo] [--follow DIR|s3://bucket/prefix
//! [--sqs-queue-url URL]]`: the REST API and web portal of `ctt-server` on a socket, until SIGINT or SIGTERM (requests in flight finish).
//!
//! - Access (SPEC §7): on loopback, tokens are needed once one exists; on any
//!   other address they are always needed, and the server refuses to start
//!   while none exists — unless `[auth.jwt]` configures a JWT issuer, whose
//!   tokens are then accepted too (the server is never open with one). While
//!   open, only loopback `Host` names and `[server] allowed_hosts` are
//!   answered (`ctt_server::host`).
//! - `--demo`: the `small` preset of `ctt-gen`, ending now, loaded first (into a
//!   temporary database unless `--db` is given).
//! - `--follow`: a background task runs the follow driver
//!   (`ctt_ingest::follow::follow`) with the follower of the place given, and
//!   stops with the server. The ledger makes it exactly-once, and queries never
//!   wait for it (SQLite WAL: readers do not block on the writer).
//!   - `DIR`: the folder listed every `server.follow_interval_secs`
//!     (`FolderFollower`);
//!   - `s3://bucket/prefix`: today's day prefixes of the bucket, polled that
//!     often but every 30 s at least (`ctt_aws::s3::follow::S3Follower`);
//!   - with `--sqs-queue-url URL`: the files announced by the bucket's
//!     notifications in an SQS queue, long-polled (`ctt_aws::sqs::QueueFollower`);
//!     a message is deleted once its files are stored.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use ctt_core::Filter;
use ctt_ingest::follow::{
    CancellationToken, FolderFollower, Follow, FollowOptions, FollowStatus, follow,
};
use ctt_ingest::pipeline::Silent;
use ctt_ingest::{IngestOptions, LocalSource, ingest};
use ctt_server::auth::Jwt;
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
    settings.alerts.rules.extend(args.rules.iter().cloned());
    // Rules that cannot be used stop the server now, not its first load.
    let rules = super::rules::rule_set(&settings, &[])?;
    info!(rules = rules.len(), "detection rules");
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

    let jwt = match &settings.auth.jwt {
        None => None,
        Some(jwt) => {
            let config = jwt.config()?;
            Some(Arc::new(
                Jwt::new(config).context("invalid [auth.jwt] configuration")?,
            ))
        }
    };
    let loopback = address.ip().is_loopback();
    let tokens = stores.tokens.tokens().await?.len();
    if !loopback && tokens == 0 && jwt.is_none() {
        bail!(
            "refusing to listen on {address}: it is reachable from other machines and no API \
             token exists; create one with `ctt token create --role viewer` (with the same \
             --db), configure a JWT issuer ([auth.jwt]), or listen on 127.0.0.1"
        );
    }

    if args.demo {
        load_demo(&store, &settings).await?;
    }

    let mut auth = AuthConfig::tokens(stores.tokens.clone());
    if let Some(jwt) = &jwt {
        // Reports a wrong issuer or JWKS URL now rather than at the first
        // request; the server starts anyway (the issuer may be down for now).
        match jwt.prefetch().await {
            Ok(keys) => info!(issuer = %jwt.config().issuer, keys, "JWTs accepted"),
            Err(error) => warn!(
                error = format!("{:#}", anyhow::Error::from(error)),
                "cannot fetch the JWT issuer's keys yet; JWTs are refused (503) until it can"
            ),
        }
        auth = auth.with_authenticator(jwt.clone());
    }
    if !loopback {
        auth = auth.require_credentials();
    }
    let state = AppState::new(store.clone())
        .with_auth(auth)
        .with_prices(settings.resources.prices())
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

    let shutdown = CancellationToken::new();
    let follower = match &args.follow {
        None => None,
        Some(location) => Some(
            start_following(
                &store,
                &settings,
                location,
                args.sqs_queue_url.as_deref(),
                &shutdown,
            )
            .await?,
        ),
    };

    let notifier = super::notify::notifier(&settings, &store).await?;
    let sending = notifier.map(|n| tokio::spawn(n.run(shutdown.clone())));

    let access = match (tokens, loopback, &jwt) {
        (0, true, None) => "open to anyone on this machine (no token exists)".to_owned(),
        (n, _, None) => format!("{n} API token(s) accepted"),
        (n, _, Some(jwt)) => format!(
            "{n} API token(s) and JWTs of {} accepted",
            jwt.config().issuer
        ),
    };
    info!(url = %format!("http://{local}"), portal = %format!("http://{local}/ui/"), docs = %format!("http://{local}/docs"), %access, "serving");
    eprintln!(
        "ctt: serving http://{local} (portal: http://{local}/ui/, API docs: http://{local}/docs); {access}; Ctrl-C stops"
    );

    let served = ctt_server::serve(listener, state, shutdown_signal()).await;
    shutdown.cancel();
    if let Some(task) = follower
        && let Err(error) = task.await
    {
        warn!(%error, "the follow task failed");
    }
    if let Some(sending) = sending {
        let _ = sending.await;
    }
    served.context("the server failed")?;
    info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Starts the follow driver on `location` (a folder, or `s3://bucket/prefix`
/// listed or through the queue `queue_url`), until `shutdown`.
async fn start_following(
    store: &Arc<dyn EventStore>,
    settings: &Settings,
    location: &str,
    queue_url: Option<&str>,
    shutdown: &CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let every = Duration::from_secs(settings.server.follow_interval_secs.max(1));
    let ingest = ingest_options(settings)?;
    if !location.starts_with("s3://") {
        let follower = FolderFollower::new(location);
        return Ok(spawn_follow(store, follower, ingest, every, shutdown));
    }
    follow_bucket(store, settings, location, queue_url, every, shutdown).await
}

/// Spawns the follow driver with `follower`.
fn spawn_follow<F: Follow + 'static>(
    store: &Arc<dyn EventStore>,
    follower: F,
    ingest: IngestOptions,
    every: Duration,
    shutdown: &CancellationToken,
) -> tokio::task::JoinHandle<()> {
    info!(
        location = follower.location(),
        seconds = every.as_secs(),
        "following new log files"
    );
    tokio::spawn(follow(
        store.clone(),
        follower,
        FollowOptions { ingest, every },
        FollowStatus::default(),
        shutdown.clone(),
    ))
}

/// Starts following `s3://bucket/prefix`, by listing or through the queue
/// `queue_url` (feature `aws`).
#[cfg(feature = "aws")]
async fn follow_bucket(
    store: &Arc<dyn EventStore>,
    settings: &Settings,
    location: &str,
    queue_url: Option<&str>,
    every: Duration,
    shutdown: &CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let mut ingest = ingest_options(settings)?;
    // More workers than cores: they wait on the network.
    ingest.workers = ingest.workers.max(crate::aws::S3_FETCH_CONCURRENCY);
    Ok(match queue_url {
        None => {
            let follower = crate::aws::s3_follower(settings, location).await?;
            let every = every.max(ctt_aws::s3::follow::MIN_INTERVAL);
            spawn_follow(store, follower, ingest, every, shutdown)
        }
        Some(queue_url) => {
            let follower = crate::aws::sqs_follower(settings, location, queue_url).await?;
            // A long poll waits for messages itself; short polls, a second apart.
            let every = if follower.wait().is_zero() {
                Duration::from_secs(1)
            } else {
                Duration::ZERO
            };
            spawn_follow(store, follower, ingest, every, shutdown)
        }
    })
}

#[cfg(not(feature = "aws"))]
async fn follow_bucket(
    _store: &Arc<dyn EventStore>,
    _settings: &Settings,
    location: &str,
    _queue_url: Option<&str>,
    _every: Duration,
    _shutdown: &CancellationToken,
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

fn ingest_options(settings: &Settings) -> anyhow::Result<IngestOptions> {
    let defaults = IngestOptions::default();
    let rules = super::rules::rule_set(settings, &[])?;
    Ok(IngestOptions {
        workers: match settings.ingest.workers {
            0 => defaults.workers,
            n => n,
        },
        filter: Filter::new(settings.filter.clone()),
        max_file_bytes: settings.ingest.max_file_bytes(),
        in_flight_bytes: settings.ingest.in_flight_bytes(),
        // Queries run while a served store loads: its indexes stay in place.
        bulk_load_files: usize::MAX,
        rules: (!rules.is_empty()).then(|| Arc::new(rules)),
        catalogue: Arc::new(settings.resources.catalogue()?),
        ..defaults
    })
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
        let (root, config) = (root.clone(), config.clone());
        move || ctt_gen::generate(&root, &config)
    })
    .await??;
    let course_dir = tempfile::tempdir().context("cannot create a temporary folder")?;
    let files = tokio::task::spawn_blocking({
        let root = root.clone();
        move || LocalSource::list(&[root], None, None)
    })
    .await??;
    let report = ingest(
        store.clone(),
        Arc::new(LocalSource),
        files.clone(),
        &ingest_options(settings)?,
        &Silent,
    )
    .await?;
    info!(
        files = summary.files,
        records = summary.records,
        stored = report.records_stored,
        "--demo: loaded"
    );
    // Verified against the generator's signed digests (SPEC §14), so the
    // dashboard shows the logs intact.
    let keys = super::verify::public_keys(&root.join(ctt_gen::PUBLIC_KEYS_FILE))?;
    let verified = tokio::task::spawn_blocking(move || {
        let options = ctt_ingest::integrity::CheckOptions::default();
        ctt_ingest::integrity::check(&LocalSource, &files, &keys, &options)
    })
    .await?;
    let recorded = super::verify::record(store.as_ref(), &verified, Default::default()).await?;
    info!(recorded, "--demo: verified the logs against their digests");
    // The course the generated class can be graded against (SPEC §10).
    let course = course_dir.path().join("course.toml");
    std::fs::write(&course, ctt_gen::course_toml(&config))
        .context("cannot write the demo's course")?;
    let course = super::course::add_file(store.as_ref(), &course).await?;
    info!(course = %course.id, labs = course.labs.len(), "--demo: course added");
    Ok(())
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
