//! `ctt serve` and `ctt token` as a user runs them: the real binary, a real
//! socket, signals. (The API itself is tested in `crates/ctt-server/tests/api`.)
//!
//! - a non-loopback `--listen` without any token is refused (exit 1, a clear
//!   message); with a token it starts and requires it, even once revoked;
//! - an open server answers loopback `Host` names and `allowed_hosts` only;
//! - tokens are printed once, listed without secrets, revoked by name;
//! - `--demo` serves generated data from a temporary database;
//! - SIGTERM stops the server cleanly (exit 0);
//! - each request is logged with its matched route, status, latency and token
//!   name (never the token), in plain text when stderr is not a terminal.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `ctt` with no configuration from the environment, in `dir`.
fn ctt(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ctt"));
    cmd.env_remove("CTT_CONFIG")
        .env_remove("CTT_DB")
        .env_remove("CTT_LISTEN")
        .env_remove("CTT_LOG")
        .env("NO_COLOR", "1")
        .current_dir(dir);
    cmd
}

fn describe(out: &std::process::Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `ctt --db ctt.db token create ARGS…`: the token printed.
fn create_token(dir: &Path, args: &[&str]) -> String {
    let out = ctt(dir)
        .args(["--db", "ctt.db", "token", "create"])
        .args(args)
        .output()
        .expect("run ctt");
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "only the token on stdout: {stdout}");
    lines[0].to_owned()
}

/// A running `ctt serve`, stopped (SIGTERM) on drop.
struct Server {
    child: Child,
    base: String,
    /// Every line the server has written to stderr so far.
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `ctt ARGS…` (a `serve` command) and waits for its URL.
    fn start(dir: &Path, args: &[&str]) -> Self {
        Self::spawn(ctt(dir).args(args))
    }

    /// Starts `command` (a `ctt serve`) and waits for its URL.
    fn spawn(command: &mut Command) -> Self {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ctt serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (sender, receiver) = std::sync::mpsc::channel();
        let lines = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("ctt: serving ") {
                    let url = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    let _ = sender.send(url);
                }
                lines.lock().expect("log lock").push(line);
            }
        });
        let url = receiver
            .recv_timeout(Duration::from_secs(120))
            .expect("the server prints its URL");
        // Bound to 0.0.0.0 or 127.0.0.1: reachable on loopback either way.
        let port = url.rsplit(':').next().expect("a port").to_owned();
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// The first line of the server's log that contains `needle`, waiting up
    /// to 10 s for it.
    async fn log_line(&self, needle: &str) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = (self.log.lock().expect("log lock").iter())
                .find(|line| line.contains(needle))
                .cloned();
            if found.is_some() || Instant::now() > deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGTERM and returns the exit code.
    fn stop(mut self) -> Option<i32> {
        self.terminate()
    }

    fn terminate(&mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
    }
}

async fn status(url: &str, token: Option<&str>) -> u16 {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.send().await.expect("GET").status().as_u16()
}

async fn json(url: &str) -> serde_json::Value {
    let body = reqwest::get(url)
        .await
        .expect("GET")
        .bytes()
        .await
        .expect("body");
    serde_json::from_slice(&body).expect("JSON")
}

#[test]
fn serve_refuses_a_non_loopback_address_without_a_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = ctt(dir.path())
        .args(["--db", "ctt.db", "serve", "--listen", "0.0.0.0:0"])
        .output()
        .expect("run ctt");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0")
            && stderr.contains("no API token exists")
            && stderr.contains("ctt token create"),
        "{stderr}"
    );
}

#[tokio::test]
async fn serve_beyond_loopback_requires_a_token_even_once_all_are_revoked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let token = create_token(dir.path(), &["--role", "viewer", "--name", "ops"]);
    let server = Server::start(
        dir.path(),
        &["--db", "ctt.db", "serve", "--listen", "0.0.0.0:0"],
    );
    let users = format!("{}/users", server.base);
    assert_eq!(status(&users, None).await, 401);
    assert_eq!(status(&users, Some("ctt_wrong")).await, 401);
    assert_eq!(status(&users, Some(&token)).await, 200);
    assert_eq!(status(&format!("{}/health", server.base), None).await, 200);

    let out = ctt(dir.path())
        .args(["--db", "ctt.db", "token", "revoke", "ops"])
        .output()
        .expect("run ctt");
    assert!(out.status.success(), "{}", describe(&out));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(status(&users, Some(&token)).await, 401, "revoked");
    assert_eq!(
        status(&users, None).await,
        401,
        "still closed without tokens"
    );
    assert_eq!(server.stop(), Some(0), "SIGTERM stops it cleanly");
}

/// `GET url` naming `host` in the `Host` header: the status.
async fn status_for_host(url: &str, host: &str) -> u16 {
    reqwest::Client::new()
        .get(url)
        .header("host", host)
        .send()
        .await
        .expect("GET")
        .status()
        .as_u16()
}

#[tokio::test]
async fn an_open_server_answers_loopback_and_configured_hosts_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("ctt.toml");
    std::fs::write(&config, "[server]\nallowed_hosts = [\"ctt.example\"]\n").expect("config");
    let server = Server::start(
        dir.path(),
        &[
            "--config",
            "ctt.toml",
            "--db",
            "ctt.db",
            "serve",
            "--listen",
            "127.0.0.1:0",
        ],
    );
    let users = format!("{}/users", server.base);
    assert_eq!(status(&users, None).await, 200, "127.0.0.1, open");
    assert_eq!(status_for_host(&users, "localhost:8080").await, 200);
    assert_eq!(status_for_host(&users, "ctt.example:8080").await, 200);
    assert_eq!(status_for_host(&users, "evil.example").await, 421);
    assert_eq!(server.stop(), Some(0));

    std::fs::write(
        &config,
        "[server]\nallowed_hosts = [\"http://ctt.example\"]\n",
    )
    .expect("config");
    let out = ctt(dir.path())
        .args([
            "--config",
            "ctt.toml",
            "--db",
            "ctt.db",
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .expect("run ctt");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("allowed_hosts") && stderr.contains("`http://ctt.example`"),
        "{stderr}"
    );
}

#[test]
fn tokens_are_printed_once_listed_without_secrets_and_revoked_by_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let token = create_token(dir.path(), &["--role", "self", "--user", "alucloud001"]);
    assert!(token.starts_with("ctt_") && token.len() == 68, "{token}");
    let other = create_token(dir.path(), &["--role", "admin", "--name", "boss"]);
    assert_ne!(token, other);

    let list = ctt(dir.path())
        .args(["--db", "ctt.db", "token", "list", "--format", "json"])
        .output()
        .expect("run ctt");
    assert!(list.status.success(), "{}", describe(&list));
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        !text.contains(&token[4..]) && !text.contains(&other[4..]),
        "{text}"
    );
    assert!(!text.contains("hash"), "{text}");
    let listed: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let names: Vec<&str> = listed
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"boss"));
    assert!(
        names.iter().any(|n| n.starts_with("alucloud001-")),
        "{names:?}"
    );

    let db = std::fs::read(dir.path().join("ctt.db")).expect("the database");
    let db = String::from_utf8_lossy(&db);
    assert!(
        !db.contains(&token[4..]),
        "the token itself is never stored"
    );

    let missing = ctt(dir.path())
        .args(["--db", "ctt.db", "token", "revoke", "nobody"])
        .output()
        .expect("run ctt");
    assert_eq!(missing.status.code(), Some(1), "{}", describe(&missing));
    let revoked = ctt(dir.path())
        .args(["--db", "ctt.db", "token", "revoke", "boss"])
        .output()
        .expect("run ctt");
    assert!(revoked.status.success(), "{}", describe(&revoked));

    let no_user = ctt(dir.path())
        .args(["--db", "ctt.db", "token", "create", "--role", "self"])
        .output()
        .expect("run ctt");
    assert_eq!(no_user.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&no_user.stderr).contains("--user"));
    let bad_role = ctt(dir.path())
        .args(["--db", "ctt.db", "token", "create", "--role", "root"])
        .output()
        .expect("run ctt");
    assert_eq!(bad_role.status.code(), Some(2), "a usage error");
}

#[tokio::test]
async fn demo_serves_generated_data_from_a_temporary_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), &["serve", "--demo", "--listen", "127.0.0.1:0"]);
    let health = json(&format!("{}/health", server.base)).await;
    assert!(
        health["events"].as_u64().is_some_and(|n| n > 500),
        "{health}"
    );
    // The demo's history ends now, so the default period (7 days) has events.
    let week = json(&format!("{}/scan?count=true", server.base)).await;
    assert!(week.as_u64().is_some_and(|n| n > 0), "{week}");
    assert_eq!(server.stop(), Some(0));
    assert!(
        !dir.path().join("ctt.db").exists(),
        "./ctt.db is not touched by --demo"
    );
}

#[tokio::test]
async fn follow_loads_new_files_while_serving() {
    let dir = tempfile::tempdir().expect("temp dir");
    let logs = dir.path().join("incoming");
    std::fs::create_dir(&logs).expect("mkdir");
    std::fs::write(
        dir.path().join("ctt.toml"),
        "[server]\nfollow_interval_secs = 1\n",
    )
    .expect("config");
    let server = Server::start(
        dir.path(),
        &[
            "--db",
            "ctt.db",
            "--config",
            "ctt.toml",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--follow",
            "incoming",
        ],
    );
    let health = format!("{}/health", server.base);
    assert_eq!(json(&health).await["events"], 0);
    let out = ctt(dir.path())
        .args(["gen", "incoming", "--preset", "small", "--days", "2"])
        .args(["--end", "2018-06-15T12:00:00Z"])
        .output()
        .expect("run ctt gen");
    assert!(out.status.success(), "{}", describe(&out));
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut events = 0;
    while Instant::now() < deadline {
        events = json(&health).await["events"].as_u64().unwrap_or(0);
        if events > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(events > 0, "new files were loaded while serving");
    assert_eq!(server.stop(), Some(0));
}

/// Issue "Serve the original REST API…", part 1 (request logging with the
/// matched route) and SPEC §7 (a token is a secret): one `info` line per
/// request with method, matched route, path, status, latency in microseconds
/// and the token's name, never the token; no colour codes, since stderr is
/// a pipe here (`NO_COLOR` unset).
#[tokio::test]
async fn requests_are_logged_with_route_status_latency_and_token_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let token = create_token(dir.path(), &["--role", "viewer", "--name", "teacher"]);
    let server = Server::spawn(ctt(dir.path()).env_remove("NO_COLOR").args([
        "--db",
        "ctt.db",
        "serve",
        "--listen",
        "127.0.0.1:0",
    ]));
    let user = format!(
        "{}/users/alucloud001?from=2018-01-01&to=2018-01-31",
        server.base
    );
    assert_eq!(status(&user, Some(&token)).await, 200);
    let bad = format!("{}/scan?from=yesterday", server.base);
    assert_eq!(status(&bad, Some(&token)).await, 400);

    for (path, route, code) in [
        ("/users/alucloud001", "/users/{user}", 200),
        ("/scan", "/scan", 400),
    ] {
        let line = server
            .log_line(&format!("path=\"{path}\""))
            .await
            .unwrap_or_else(|| panic!("no log line for {path}: {:?}", server.log));
        for part in [
            "INFO".to_owned(),
            "method=GET".to_owned(),
            format!("route=\"{route}\""),
            "token=\"teacher\"".to_owned(),
            format!("status={code}"),
        ] {
            assert!(line.contains(&part), "{part} in {line}");
        }
        let latency = line
            .split("latency=")
            .nth(1)
            .and_then(|rest| rest.strip_suffix(&format!(" status={code}")))
            .unwrap_or_else(|| panic!("latency in {line}"));
        let micros = latency
            .strip_suffix(" μs")
            .unwrap_or_else(|| panic!("µs in {line}"));
        assert!(micros.parse::<u64>().is_ok(), "{line}");
        assert!(!line.contains(&token[4..]), "the token itself: {line}");
        assert!(!line.contains('\x1b'), "no colour codes: {line:?}");
    }
    assert_eq!(server.stop(), Some(0));
}
