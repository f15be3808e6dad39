//! A local AWS for tests and trials: moto server (PyPI `moto[server]`) on a free
//! loopback port, started once per process and stopped when the process ends.
//!
//! moto is served single-threaded (what `moto_server` runs, minus its
//! `threaded=True`): moto's `TransactWriteItems` copies and restores whole tables
//! without a lock, so concurrent requests can lose each other's writes. One
//! request at a time makes every request atomic, as DynamoDB's are — concurrent
//! clients still interleave their requests freely.
//!
//! `CTT_TEST_MOTO_URL` points the tests at a moto server that is already running
//! instead. Tests that need moto fail — they are never skipped — when it is
//! neither given nor installed.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use ctt_ingest::error_chain;

/// The variable naming a running moto server (`http://127.0.0.1:PORT`).
pub const MOTO_URL_VARIABLE: &str = "CTT_TEST_MOTO_URL";

/// The region every emulated resource lives in.
pub const REGION: &str = "us-east-1";

/// A moto server this process can use.
#[derive(Debug)]
pub struct Moto {
    endpoint: String,
    /// The watchdog shell that runs moto and stops it when this process exits.
    _watchdog: Option<Child>,
}

/// Why moto could not be started.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error(
        "cannot start moto server (install it with `pip install \"moto[server]\"`, or set {MOTO_URL_VARIABLE})"
    )]
    Spawn(#[source] std::io::Error),
    #[error("no free loopback port for moto")]
    Port(#[source] std::io::Error),
    #[error("moto server at {endpoint} did not answer within {seconds} s")]
    NotReady { endpoint: String, seconds: u64 },
    #[error(
        "moto server stopped at once (is it installed for python3? `pip install \"moto[server]\"`); its log: {log}"
    )]
    Exited { log: String },
}

/// `moto_server`, one request at a time (HTTP/1.0, no keep-alive).
const MOTO_SERVER: &str = "import sys
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple
run_simple(\"127.0.0.1\", int(sys.argv[1]), DomainDispatcherApplication(create_backend_app), threaded=False)";

static MOTO: OnceLock<Result<Moto, String>> = OnceLock::new();

impl Moto {
    /// The process-wide moto server, started on first use.
    ///
    /// # Panics
    /// When moto cannot be started: tests that need it must fail, not pass.
    pub fn shared() -> &'static Moto {
        let moto = MOTO.get_or_init(|| Moto::start().map_err(|e| error_chain(&e)));
        match moto {
            Ok(moto) => moto,
            Err(reason) => panic!("{reason}"),
        }
    }

    /// Uses `CTT_TEST_MOTO_URL`, or starts `moto_server` on a free port.
    pub fn start() -> Result<Moto, EmulatorError> {
        if let Ok(url) = std::env::var(MOTO_URL_VARIABLE)
            && !url.trim().is_empty()
        {
            let moto = Moto {
                endpoint: url.trim().trim_end_matches('/').to_owned(),
                _watchdog: None,
            };
            moto.wait_until_ready(None, Duration::from_secs(30))?;
            return Ok(moto);
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(EmulatorError::Port)?
            .port();
        // The shell keeps moto alive while this process lives, then stops it:
        // nothing is left behind even when a test binary is killed.
        let log = std::env::temp_dir().join(format!("ctt-moto-{port}.log"));
        let script = format!(
            "python3 -c '{MOTO_SERVER}' {port} >'{log}' 2>&1 & moto=$!\n\
             trap 'kill $moto 2>/dev/null; wait $moto 2>/dev/null' EXIT INT TERM\n\
             while kill -0 {parent} 2>/dev/null && kill -0 $moto 2>/dev/null; do sleep 0.5; done",
            parent = std::process::id(),
            log = log.display(),
        );
        // No inherited stdout/stderr: a caller reading this process's output
        // until it closes (a benchmark script) must not wait for the watchdog,
        // which outlives this process until it is reaped.
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(EmulatorError::Spawn)?;
        let mut moto = Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            _watchdog: None,
        };
        match moto.wait_until_ready(Some(&mut watchdog), Duration::from_secs(60)) {
            Ok(()) => {
                moto._watchdog = Some(watchdog);
                Ok(moto)
            }
            Err(EmulatorError::Exited { .. }) => Err(EmulatorError::Exited {
                log: log.display().to_string(),
            }),
            Err(e) => {
                let _ = watchdog.kill();
                Err(e)
            }
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn wait_until_ready(
        &self,
        mut watchdog: Option<&mut Child>,
        limit: Duration,
    ) -> Result<(), EmulatorError> {
        let started = Instant::now();
        let address = self
            .endpoint
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        while started.elapsed() < limit {
            if answers(&address) {
                return Ok(());
            }
            if let Some(child) = watchdog.as_deref_mut()
                && matches!(child.try_wait(), Ok(Some(_)))
            {
                return Err(EmulatorError::Exited { log: String::new() });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(EmulatorError::NotReady {
            endpoint: self.endpoint.clone(),
            seconds: limit.as_secs(),
        })
    }

    /// SDK settings for this server: its endpoint, [`REGION`], dummy credentials.
    pub async fn sdk_config(&self) -> SdkConfig {
        sdk_config_for(&self.endpoint).await
    }
}

/// SDK settings for any emulator at `endpoint` (moto, dynalite): [`REGION`] and
/// dummy credentials, which emulators accept.
pub async fn sdk_config_for(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "emulator"))
        .load()
        .await
}

/// Creates an SQS queue whose received messages stay invisible
/// `visibility_secs`; its URL.
pub async fn create_queue(
    sdk: &SdkConfig,
    name: &str,
    visibility_secs: u32,
) -> Result<String, aws_sdk_sqs::Error> {
    let out = crate::sqs::client(sdk)
        .create_queue()
        .queue_name(name)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            visibility_secs.to_string(),
        )
        .send()
        .await?;
    Ok(out.queue_url().unwrap_or_default().to_owned())
}

/// Sends one message (a notification's JSON) to a queue.
pub async fn send_message(
    sdk: &SdkConfig,
    queue_url: &str,
    body: &str,
) -> Result<(), aws_sdk_sqs::Error> {
    crate::sqs::client(sdk)
        .send_message()
        .queue_url(queue_url)
        .message_body(body)
        .send()
        .await?;
    Ok(())
}

/// A queue's messages: `(waiting, in flight)` (received, neither deleted nor
/// visible again yet).
pub async fn queue_depth(
    sdk: &SdkConfig,
    queue_url: &str,
) -> Result<(u64, u64), aws_sdk_sqs::Error> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let out = crate::sqs::client(sdk)
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await?;
    let number = |name: QueueAttributeName| {
        out.attributes()
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok((
        number(QueueAttributeName::ApproximateNumberOfMessages),
        number(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    ))
}

/// Whether an HTTP server answers at `host:port`.
fn answers(address: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(address) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /moto-api/ HTTP/1.0\r\nHost: {address}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/")
}

/// A name no other test in this process (or an earlier run) uses.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        fastrand::u32(..)
    )
}
