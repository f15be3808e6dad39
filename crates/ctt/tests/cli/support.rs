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
