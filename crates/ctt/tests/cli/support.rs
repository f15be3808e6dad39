//! Helpers: run `ctt` against a fresh database, read its JSON answers.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// `../shared/corpus`, beside the project.
pub fn corpus() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    assert!(
        path.is_dir(),
        "the shared corpus is expected at {}",
        path.display()
    );
    path
}

/// `../shared/PATH` (the pinned Sigma rules, …).
pub fn shared(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(path)
}

/// A temporary folder with a database path in it, removed on drop.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("ctt.db")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `ctt --db <db> ARGS…` with no configuration from the environment.
    pub fn ctt(&self) -> Command {
        ctt_with_db(&self.db())
    }

    /// Runs `ctt ingest --format json SOURCES…`: the report and the exit code.
    pub fn ingest(&self, sources: &[&Path], extra: &[&str]) -> (Value, i32) {
        let mut cmd = self.ctt();
        cmd.args(["ingest", "--format", "json", "--no-progress"])
            .args(extra)
            .args(sources);
        let out = run(&mut cmd);
        let report = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("ingest printed no JSON report ({e}): {}", describe(&out)));
        (report, out.status.code().unwrap_or(-1))
    }

    /// Runs a query subcommand with `--format json` and parses the answer.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut cmd = self.ctt();
        cmd.args(args).args(["--format", "json"]);
        let out = run(&mut cmd);
        assert!(out.status.success(), "{}", describe(&out));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", describe(&out)))
    }

    /// Runs a query subcommand with `--count` and parses the bare integer.
    pub fn count(&self, args: &[&str]) -> u64 {
        let mut cmd = self.ctt();
        cmd.args(args).arg("--count");
        let out = run(&mut cmd);
        assert!(out.status.success(), "{}", describe(&out));
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("not a bare integer ({e}): {}", describe(&out)))
    }
}

pub fn ctt_with_db(db: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ctt"));
    cmd.env_remove("CTT_CONFIG")
        .env_remove("CTT_DB")
        .env("NO_COLOR", "1");
    cmd.arg("--db").arg(db);
    cmd
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run ctt")
}

pub fn describe(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A report's counter.
pub fn n(report: &Value, key: &str) -> u64 {
    report[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no `{key}` in {report}"))
}

/// Writes `bytes` gzipped.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

/// Generates the `small` preset, ending at a fixed instant, under `out`.
pub fn generate_small(out: &Path, seed: u64) {
    let status = Command::new(env!("CARGO_BIN_EXE_ctt"))
        .args([
            "gen",
            "--preset",
            "small",
            "--seed",
            &seed.to_string(),
            "--end",
            "2018-06-15T12:00:00Z",
        ])
        .arg(out)
        .output()
        .expect("run ctt gen");
    assert!(status.status.success(), "{}", describe(&status));
}

/// `GET path` on `base` (`http://127.0.0.1:PORT`): status and body.
pub fn get(base: &str, path: &str, token: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    let address = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {address}\r\n{auth}\r\n"
    )
    .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

/// Starts `ctt … serve …` and waits for its URL; the caller kills it.
pub fn start_serve(cmd: &mut Command) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut server = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ctt serve");
    // Read its log to the end (a closed pipe would fail its writes).
    let stderr = server.stderr.take().expect("stderr");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("ctt: serving ") {
                let _ = sender.send(
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
        }
    });
    match receiver.recv_timeout(std::time::Duration::from_secs(120)) {
        Ok(base) => (server, base),
        Err(_) => {
            let _ = server.kill();
            panic!("ctt serve printed no URL");
        }
    }
}
