//! SPEC §12 notifications from the command line: `ctt ingest` with
//! `[[alerts.notify]]` sends to a local webhook receiver and a local SMTP
//! server (aiosmtpd, from PyPI) while a webhook that hangs and one that
//! answers 500 do not hold the load up; what failed is sent, with backoff, by
//! `ctt serve` later;
//! alerts on events older than `notify_max_age` are stored, not sent.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Workspace, describe, get, gzip, n, run, start_serve};

/// What `/ok` received: (X-Ctt-Alert-Id, body).
type Got = Arc<Mutex<Vec<(String, Value)>>>;

/// A webhook receiver on 127.0.0.1: `/ok` keeps each POST's
/// `X-Ctt-Alert-Id` and body, `/down` answers 500, `/hang` never answers.
struct Receiver {
    base: String,
    got: Got,
}

fn handle(mut stream: TcpStream, got: Got) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let (mut length, mut id) = (0, String::new());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("x-ctt-alert-id:") {
            id = line["x-ctt-alert-id:".len()..].trim().to_owned();
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let status = match path.as_str() {
        "/ok" => {
            let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
            got.lock().expect("lock").push((id, body));
            "200 OK"
        }
        "/hang" => {
            std::thread::sleep(Duration::from_secs(120));
            return;
        }
        _ => "500 Internal Server Error",
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
}

impl Receiver {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let got = Arc::new(Mutex::new(Vec::new()));
        let shared = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let got = shared.clone();
                std::thread::spawn(move || handle(stream, got));
            }
        });
        Self { base, got }
    }

    fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .got
            .lock()
            .expect("lock")
            .iter()
            .map(|g| g.0.clone())
            .collect();
        ids.sort();
        ids
    }
}

/// aiosmtpd on a free loopback port, delivering into a maildir.
struct Smtp {
    child: Child,
    port: u16,
    maildir: std::path::PathBuf,
}

impl Smtp {
    fn start(dir: &Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let maildir = dir.join("maildir");
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m aiosmtpd (pip install aiosmtpd; scripts/test.sh does)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Self {
            child,
            port,
            maildir,
        }
    }

    /// The messages delivered so far.
    fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(self.maildir.join(sub)) {
                for entry in entries.flatten() {
                    out.push(std::fs::read_to_string(entry.path()).expect("message"));
                }
            }
        }
        out
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A root `ConsoleLogin` (built-in rule "Root account activity", high; and
/// "Console login without MFA", medium) at `time`.
fn root_login(id: &str, time: &str) -> Value {
    json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "Root", "principalId": "111122223333",
                         "arn": "arn:aws:iam::111122223333:root", "accountId": "111122223333"},
        "eventTime": time,
        "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "192.0.2.1",
        "userAgent": "Mozilla/5.0",
        "requestParameters": null,
        "responseElements": {"ConsoleLogin": "Success"},
        "additionalEventData": {"MFAUsed": "No", "LoginTo": "https://console.aws.amazon.com/"},
        "eventID": id,
        "readOnly": false,
        "eventType": "AwsConsoleSignIn",
        "recipientAccountId": "111122223333"
    })
}

/// `files` log files of `per_file` records each, all recent, plus one file
/// of three logins a week old.
fn write_tree(root: &Path, files: usize, per_file: usize) -> usize {
    let day = root.join("AWSLogs/111122223333/CloudTrail/us-east-1/2026/12/01");
    std::fs::create_dir_all(&day).expect("dir");
    let now = chrono::Utc::now();
    for f in 0..files {
        let records: Vec<Value> = (0..per_file)
            .map(|r| {
                let time = now - chrono::Duration::minutes((f * per_file + r) as i64 % 600);
                root_login(
                    &format!("{f:04}-{r:04}-recent"),
                    &time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                )
            })
            .collect();
        let name = format!("111122223333_CloudTrail_us-east-1_20261201T0000Z_{f:04}.json.gz");
        std::fs::write(
            day.join(name),
            gzip(json!({"Records": records}).to_string().as_bytes()),
        )
        .expect("write");
    }
    let old = now - chrono::Duration::days(7);
    let records: Vec<Value> = (0..3)
        .map(|r| {
            root_login(
                &format!("old-{r}"),
                &old.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            )
        })
        .collect();
    std::fs::write(
        day.join("111122223333_CloudTrail_us-east-1_20261201T0000Z_old.json.gz"),
        gzip(json!({"Records": records}).to_string().as_bytes()),
    )
    .expect("write");
    files * per_file
}

/// (destination, state, attempts, last error) → how many, for failures.
fn outbox_states(db: &Path) -> Vec<(String, String, i64, Option<String>, i64)> {
    let conn = rusqlite::Connection::open(db).expect("open");
    let mut stmt = conn
        .prepare(
            "SELECT destination, state, attempts, last_error, COUNT(*) FROM outbox
             GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3",
        )
        .expect("prepare");
    stmt.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

fn config(path: &Path, webhook_url: &str, smtp_port: u16, extra: &str) {
    let text = format!(
        r#"[alerts]
notify_max_age = "24h"
notify_retry_secs = 1
notify_grace_secs = 2

[[alerts.notify]]
kind = "webhook"
name = "team"
url = "{webhook_url}"
min_level = "high"

[[alerts.notify]]
kind = "email"
name = "security"
smtp = "smtp://127.0.0.1:{smtp_port}"
from = "ctt@example.org"
to = ["security@example.org"]
min_level = "high"
{extra}"#
    );
    std::fs::write(path, text).expect("config");
}

#[test]
fn ingest_sends_what_it_alerts_and_a_down_or_hanging_destination_never_holds_the_load() {
    let work = Workspace::new();
    let tree = work.path("logs");
    let recent = write_tree(&tree, 12, 5);
    let webhooks = Receiver::start();
    let smtp = Smtp::start(work.dir.path());
    let cfg = work.path("ctt.toml");
    // The team webhook is down at first; another hangs for two minutes.
    let hang = format!(
        "\n[[alerts.notify]]\nkind = \"webhook\"\nname = \"slow\"\nurl = \"{}/hang\"\nmin_level = \"low\"\ntimeout_secs = 60\n",
        webhooks.base
    );
    config(&cfg, &format!("{}/down", webhooks.base), smtp.port, &hang);

    let started = Instant::now();
    let out = run(work
        .ctt()
        .arg("--config")
        .arg(&cfg)
        .args(["ingest", "--format", "json", "--no-progress"])
        .arg(&tree));
    let took = started.elapsed();
    assert!(out.status.success(), "{}", describe(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("report");
    assert_eq!(
        n(&report, "records_stored"),
        (recent + 3) as u64,
        "{report}"
    );
    // The load and its 2 s of grace ended long before the hanging webhook's
    // 60 s timeout: it never waited for it.
    assert!(took < Duration::from_secs(45), "ingest took {took:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("waiting to be sent"),
        "{}",
        describe(&out)
    );

    // Every recent root login is an alert of the (high) root rule; the
    // week-old ones are stored as alerts but sent nowhere.
    let alerts = work.json(&["alerts", "--level", "high"]);
    let alerts = alerts.as_array().expect("alerts");
    assert_eq!(alerts.len(), recent + 3);
    let expected: BTreeSet<String> = alerts
        .iter()
        .filter(|a| {
            !a["eventID"]
                .as_str()
                .unwrap_or_default()
                .starts_with("old-")
        })
        .map(|a| a["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(expected.len(), recent);

    // Email went out during the load and its grace (what is left waits).
    let first_mails = smtp.messages().len();
    assert!(first_mails > 0, "emails sent while loading");
    assert!(webhooks.ids().is_empty());

    // The team webhook is back: `ctt serve` sends what waited (retried with
    // backoff), each alert once.
    config(&cfg, &format!("{}/ok", webhooks.base), smtp.port, "");
    let (mut server, base) = start_serve(work.ctt().arg("--config").arg(&cfg).args([
        "serve",
        "--listen",
        "127.0.0.1:0",
    ]));
    let deadline = Instant::now() + Duration::from_secs(90);
    while (webhooks.ids().len() < expected.len() || smtp.messages().len() < recent)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    // A moment more: anything sent twice would show.
    std::thread::sleep(Duration::from_secs(2));
    // `/health` counts the outbox: both destinations' deliveries sent, the
    // week-old alerts never queued (the hanging webhook's wait, pending).
    let (status, health) = get(&base, "/health", None);
    let _ = server.kill();
    assert_eq!(status, 200, "{health}");
    let health: Value = serde_json::from_str(&health).expect("json");
    let counts = &health["notifications"];
    assert_eq!(counts["sent"], (2 * recent) as u64, "{health}");
    // Three week-old logins, two rules each (root activity; without MFA).
    assert_eq!(counts["too_old"], 6, "{health}");
    assert_eq!(counts["failed"], 0, "{health}");
    let _ = server.wait();
    let sent = webhooks.ids();
    let outbox = outbox_states(&work.db());
    assert_eq!(
        sent.iter().cloned().collect::<BTreeSet<_>>(),
        expected,
        "outbox: {outbox:?}"
    );
    assert_eq!(sent.len(), expected.len(), "each alert once");
    let body = &webhooks.got.lock().expect("lock")[0].1;
    assert!(
        body["text"]
            .as_str()
            .expect("text")
            .starts_with("[HIGH] Root account activity")
    );
    // Email: one message per recent high alert over the runs, subject and
    // Message-ID from it; none for the week-old ones; none twice.
    let mails = smtp.messages();
    assert_eq!(mails.len(), recent, "one email per recent high alert");
    assert!(
        mails
            .iter()
            .all(|m| m.contains("Subject: [ctt] HIGH: Root account activity"))
    );
    assert!(
        !mails.iter().any(|m| m.contains("old-")),
        "nothing older than 24h"
    );
    let message_ids: BTreeSet<&str> = mails
        .iter()
        .filter_map(|m| {
            m.lines()
                .find(|l| l.to_ascii_lowercase().starts_with("message-id:"))
        })
        .collect();
    assert_eq!(message_ids.len(), recent, "a Message-ID per alert");
}
