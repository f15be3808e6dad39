//! SPEC §4: bad input never stops a load; each bad file or record is counted and
//! reported with its key and a clear reason, and the rest is loaded.

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Workspace, describe, gzip, n, run};

fn record(id: &str, name: &str) -> Value {
    json!({"eventVersion": "1.08", "eventID": id, "eventTime": "2018-03-01T10:00:00Z",
           "eventName": name, "eventSource": "ec2.amazonaws.com", "awsRegion": "us-east-1",
           "userIdentity": {"type": "IAMUser", "userName": "alucloud001"}})
}

fn log(records: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({ "Records": records })).expect("json")
}

#[test]
fn each_bad_input_is_reported_and_the_rest_loads() {
    let ws = Workspace::new();
    let logs = ws.path("logs");
    fs::create_dir_all(logs.join("nested/deeper")).expect("mkdir");
    let good = gzip(&log(&[
        record("good-1", "RunInstances"),
        record("good-2", "DescribeInstances"),
    ]));
    let truncated = good[..good.len() / 2].to_vec();
    let mut corrupt = good.clone();
    let middle = corrupt.len() / 2;
    corrupt[middle..].iter_mut().for_each(|b| *b = !*b);
    let mut bad_records = vec![record("ok-3", "CreateTags")];
    let mut no_id = record("x", "CreateTags");
    no_id.as_object_mut().map(|o| o.remove("eventID"));
    let mut no_time = record("no-time", "CreateTags");
    no_time.as_object_mut().map(|o| o.remove("eventTime"));
    let mut bad_time = record("bad-time", "CreateTags");
    bad_time["eventTime"] = json!("yesterday");
    bad_records.extend([no_id, no_time, bad_time, json!("not an object")]);
    let bomb = gzip(&vec![b' '; 3 * 1024 * 1024]);

    let files: [(&str, Vec<u8>); 9] = [
        ("good.json.gz", good),
        ("nested/truncated.json.gz", truncated),
        ("nested/corrupt.json.gz", corrupt),
        (
            "nested/invalid.json",
            b"{\"Records\": [{\"eventID\": ".to_vec(),
        ),
        (
            "nested/no-records.json",
            b"{\"digestStartTime\": \"2018-03-01T10:00:00Z\"}".to_vec(),
        ),
        ("nested/deeper/empty.json.gz", Vec::new()),
        ("nested/deeper/bomb.json.gz", bomb),
        ("nested/deeper/bad-records.json", log(&bad_records)),
        ("README.txt", b"not a log".to_vec()),
    ];
    for (name, bytes) in &files {
        fs::write(logs.join(name), bytes).expect("write");
    }
    let config = ws.path("ctt.toml");
    fs::write(&config, "[ingest]\nmax_file_mib = 1\n").expect("config");

    let (report, code) = ws.ingest(
        &[&logs],
        &["--config", config.to_str().expect("utf-8 path")],
    );
    assert_eq!(code, 3, "some files failed: exit 3 ({report})");
    assert_eq!(n(&report, "files_loaded"), 2, "{report}");
    assert_eq!(n(&report, "files_failed"), 6, "{report}");
    assert_eq!(n(&report, "files_skipped"), 1, "README.txt: {report}");
    assert_eq!(n(&report, "records_stored"), 2, "good-1 and ok-3: {report}");
    assert_eq!(n(&report, "records_filtered"), 1);
    assert_eq!(n(&report, "records_rejected"), 4);

    let failed = ws.json(&["files", "--failed"]);
    let reasons: Vec<(String, String)> = failed
        .as_array()
        .expect("a list")
        .iter()
        .map(|f| {
            let key = f["key"].as_str().unwrap_or_default();
            let name = key.rsplit('/').next().unwrap_or_default().to_owned();
            (name, f["reason"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    let reason_of = |name: &str| {
        reasons
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("{name} not among failed files {reasons:?}"))
    };
    assert!(
        reason_of("truncated.json.gz").contains("gzip"),
        "{reasons:?}"
    );
    assert!(reason_of("corrupt.json.gz").contains("gzip"), "{reasons:?}");
    assert!(
        reason_of("invalid.json").starts_with("invalid JSON"),
        "{reasons:?}"
    );
    assert!(
        reason_of("no-records.json").contains("without `Records`"),
        "{reasons:?}"
    );
    assert_eq!(reason_of("empty.json.gz"), "file is empty");
    assert!(reason_of("bomb.json.gz").contains("limit"), "{reasons:?}");

    // Rejected records are named in the loaded file's ledger entry.
    let all = ws.json(&["files"]);
    let bad_records = all
        .as_array()
        .expect("a list")
        .iter()
        .find(|f| {
            f["key"]
                .as_str()
                .is_some_and(|k| k.ends_with("bad-records.json"))
        })
        .expect("bad-records.json in the ledger")
        .clone();
    assert_eq!(bad_records["outcome"], "loaded");
    let reason = bad_records["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("4 of 5 records rejected"), "{reason}");
    assert!(reason.contains("has no eventID"), "{reason}");

    let mut cmd = ws.ctt();
    cmd.args(["files", "--failed", "--format", "table"]);
    let out = run(&mut cmd);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("truncated.json.gz"),
        "{}",
        describe(&out)
    );
}

#[test]
fn plain_json_bare_lists_and_ndjson_load() {
    let ws = Workspace::new();
    let logs = ws.path("logs");
    fs::create_dir_all(&logs).expect("mkdir");
    let list = serde_json::to_vec(&[record("l-1", "CreateTags"), record("l-2", "RunInstances")])
        .expect("json");
    let ndjson = [record("n-1", "CreateTags"), record("n-2", "StopInstances")]
        .iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    fs::write(logs.join("export.json"), list).expect("write");
    fs::write(logs.join("export.ndjson"), ndjson).expect("write");
    fs::write(logs.join("log.json"), log(&[record("p-1", "CreateTags")])).expect("write");
    let (report, code) = ws.ingest(&[&logs], &[]);
    assert_eq!((code, n(&report, "records_stored")), (0, 5), "{report}");
}

#[test]
fn missing_source_is_a_clear_error() {
    let ws = Workspace::new();
    let mut cmd = ws.ctt();
    cmd.args(["ingest", "/no/such/folder"]);
    let out = run(&mut cmd);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/no/such/folder") && stderr.contains("no such file"),
        "{stderr}"
    );
}

/// Runs `cmd` to its end, or kills it after `limit` and fails: a load that
/// opened a FIFO would block forever.
fn run_within(cmd: &mut Command, limit: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ctt");
    let id = child.id();
    let (sent, got) = std::sync::mpsc::channel();
    std::thread::spawn(move || sent.send(child.wait_with_output()));
    match got.recv_timeout(limit) {
        Ok(out) => out.expect("wait for ctt"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &id.to_string()])
                .status();
            panic!("ctt did not finish within {limit:?}");
        }
    }
}

/// `ctt ingest --format json` within a minute: the report and the exit code.
fn ingest_within(ws: &Workspace, source: &Path) -> (Value, i32) {
    let mut cmd = ws.ctt();
    cmd.args(["ingest", "--format", "json", "--no-progress"])
        .arg(source);
    let out = run_within(&mut cmd, Duration::from_secs(60));
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("ingest printed no JSON report ({e}): {}", describe(&out)));
    (report, out.status.code().unwrap_or(-1))
}

/// `ctt files --failed`: the reason of each failed key, keyed by its path
/// under `root`.
fn failed_reasons(ws: &Workspace, root: &Path) -> Vec<(String, String)> {
    let prefix = format!("{}/", root.display());
    ws.json(&["files", "--failed"])
        .as_array()
        .expect("a list")
        .iter()
        .map(|f| {
            let key = f["key"].as_str().unwrap_or_default();
            let reason = f["reason"].as_str().unwrap_or_default();
            (
                key.strip_prefix(&prefix).unwrap_or(key).to_owned(),
                reason.to_owned(),
            )
        })
        .collect()
}

/// Issue 13, part 2 (SPEC §4): a dangling symbolic link, symbolic link loops,
/// a FIFO, a device, names with control characters or not in UTF-8 — each is
/// reported with a reason, nothing blocks, and the rest of the tree loads.
/// Names are printed escaped: no escape code reaches the terminal.
#[cfg(unix)]
#[test]
fn bad_folder_entries_are_reported_and_the_rest_loads() {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::symlink;
    let ws = Workspace::new();
    let logs = ws.path("logs");
    fs::create_dir_all(logs.join("sub")).expect("mkdir");
    let evil = "evil\nname\u{1b}[2J\u{1b}[31m.json";
    let files = [
        ("good.json", log(&[record("e-good", "RunInstances")])),
        ("sub/inner.json", log(&[record("e-inner", "CreateTags")])),
        (evil, log(&[record("e-evil", "StopInstances")])),
    ];
    for (name, bytes) in &files {
        fs::write(logs.join(name), bytes).expect("write");
    }
    let not_utf8 = logs.join(std::ffi::OsStr::from_bytes(b"latin1-caf\xe9.json"));
    fs::write(&not_utf8, log(&[record("e-latin1", "RunInstances")])).expect("write");
    symlink("gone.json", logs.join("dangling.json")).expect("symlink");
    symlink(".", logs.join("sub/loop")).expect("symlink");
    symlink("b", logs.join("a")).expect("symlink");
    symlink("a", logs.join("b")).expect("symlink");
    symlink("/dev/null", logs.join("null.json")).expect("symlink");
    let fifo = logs.join("pipe\u{1b}[31m.json");
    let status = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(status.success(), "mkfifo");

    let (report, code) = ingest_within(&ws, &logs);
    assert_eq!(code, 3, "some entries failed: exit 3 ({report})");
    assert_eq!(n(&report, "files_loaded"), 3, "{report}");
    assert_eq!(n(&report, "records_stored"), 3, "{report}");
    assert_eq!(n(&report, "files_failed"), 5, "{report}");
    assert_eq!(
        n(&report, "files_skipped"),
        2,
        "the FIFO and the device: {report}"
    );
    let skips = report["skips"].to_string();
    assert!(
        skips.contains("a FIFO (named pipe), not a regular file")
            && skips.contains("null.json: a character device"),
        "{skips}"
    );

    let reasons = failed_reasons(&ws, &logs);
    let reason_of = |key: &str| {
        reasons
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("{key:?} not among failed entries {reasons:#?}"))
    };
    assert!(
        reason_of("dangling.json").starts_with("dangling symbolic link: its target gone.json"),
        "{reasons:#?}"
    );
    assert!(
        reason_of("sub/loop").starts_with("symbolic link loop: leads back to"),
        "{reasons:#?}"
    );
    for key in ["a", "b"] {
        assert!(
            reason_of(key).contains("Too many levels of symbolic links"),
            "{reasons:#?}"
        );
    }
    assert!(
        reason_of("latin1-caf\u{fffd}.json").contains("not valid UTF-8"),
        "{reasons:#?}"
    );
    assert_eq!(reasons.len(), 5, "{reasons:#?}");

    // Printed for a person, every name is escaped: the text report (run again:
    // failed entries are retried), the ledger as a table and as CSV.
    let mut again = ws.ctt();
    again.args(["ingest", "--no-progress"]).arg(&logs);
    let text = run_within(&mut again, Duration::from_secs(60));
    let mut table = ws.ctt();
    table.args(["files", "--format", "table"]);
    let mut csv = ws.ctt();
    csv.args(["files", "--format", "csv"]);
    for (what, out, shown) in [
        ("ingest", text, "skipped: "),
        ("table", run(&mut table), "evil\\nname\\u{1b}[2J"),
        ("csv", run(&mut csv), "evil\\nname\\u{1b}[2J"),
    ] {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            !stdout.contains('\u{1b}'),
            "{what}: a raw escape code: {stdout:?}"
        );
        assert!(stdout.contains(shown), "{what}: {stdout}");
        assert!(stdout.contains("\\u{1b}[31m.json"), "{what}: {stdout}");
    }
}

/// The user the tests run `ctt` as, when they run as root: chmod 000 does not
/// stop root.
const NOBODY: u32 = 65534;

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self").expect("/proc/self").uid() == 0
}

/// `ctt` run as `nobody` through `setpriv` (util-linux). The binary is used
/// where it is if `nobody` can run it there, else linked or copied into `dir`.
fn ctt_as_nobody(dir: &Path) -> Command {
    let built = Path::new(env!("CARGO_BIN_EXE_ctt"));
    let as_nobody = |program: &Path| {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            "--",
        ])
        .arg(program);
        cmd
    };
    let runs = |program: &Path| {
        as_nobody(program)
            .arg("--version")
            .output()
            .is_ok_and(|out| out.status.success())
    };
    let program = if runs(built) {
        built.to_path_buf()
    } else {
        let copy = dir.join("ctt");
        if fs::hard_link(built, &copy).is_err() {
            fs::copy(built, &copy).expect("copy ctt where nobody can run it");
        }
        assert!(runs(&copy), "setpriv cannot run ctt as nobody");
        copy
    };
    let mut cmd = as_nobody(&program);
    cmd.env_remove("CTT_CONFIG")
        .env_remove("CTT_DB")
        .env("NO_COLOR", "1");
    cmd
}

/// Issue 13, part 2: a sub-folder `ctt` may not open fails on its own, with
/// the reason; the rest loads. As root (CI), `ctt` runs as `nobody`, for whom
/// the folder really is unreadable.
#[cfg(unix)]
#[test]
fn an_unreadable_folder_is_reported_and_the_rest_loads() {
    use std::os::unix::fs::{PermissionsExt, chown};
    let ws = Workspace::new();
    let logs = ws.path("logs");
    let secret = logs.join("secret");
    fs::create_dir_all(&secret).expect("mkdir");
    fs::write(
        logs.join("good.json"),
        log(&[record("e-good", "RunInstances")]),
    )
    .expect("write");
    fs::write(
        secret.join("hidden.json"),
        log(&[record("e-hidden", "CreateTags")]),
    )
    .expect("write");
    let as_root = running_as_root();
    let mut cmd = if as_root {
        for path in [ws.dir.path(), &logs, &logs.join("good.json"), &secret] {
            chown(path, Some(NOBODY), Some(NOBODY)).expect("chown to nobody");
        }
        ctt_as_nobody(ws.dir.path())
    } else {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ctt"));
        cmd.env_remove("CTT_CONFIG")
            .env_remove("CTT_DB")
            .env("NO_COLOR", "1");
        cmd
    };
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o000)).expect("chmod 000");
    cmd.arg("--db")
        .arg(ws.db())
        .args(["ingest", "--format", "json", "--no-progress"])
        .arg(&logs);
    let out = run_within(&mut cmd, Duration::from_secs(60));
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o755)).expect("chmod back");
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}): {}", describe(&out)));
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert_eq!(n(&report, "files_loaded"), 1, "{report}");
    assert_eq!(n(&report, "files_failed"), 1, "{report}");
    let reasons = failed_reasons(&ws, &logs);
    assert_eq!(reasons.len(), 1, "{reasons:#?}");
    assert_eq!(reasons[0].0, "secret");
    assert!(
        reasons[0]
            .1
            .starts_with("cannot open the folder: Permission denied"),
        "{reasons:#?}"
    );
}

/// Issue 13, part 2: `serve --follow DIR` keeps loading new files while the
/// folder holds entries it cannot read, and records those as failed.
#[cfg(unix)]
#[test]
fn follow_keeps_loading_beside_bad_entries() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::fs::symlink;
    let ws = Workspace::new();
    let logs = ws.path("incoming");
    fs::create_dir_all(logs.join("sub")).expect("mkdir");
    symlink("gone.json", logs.join("dangling.json")).expect("symlink");
    symlink(".", logs.join("sub/loop")).expect("symlink");
    let status = Command::new("mkfifo")
        .arg(logs.join("pipe.json"))
        .status()
        .expect("run mkfifo");
    assert!(status.success(), "mkfifo");
    fs::write(
        logs.join("first.json"),
        log(&[record("e-first", "RunInstances")]),
    )
    .expect("write");
    let config = ws.path("ctt.toml");
    fs::write(&config, "[server]\nfollow_interval_secs = 1\n").expect("config");

    let mut server = Stopped(
        ws.ctt()
            .arg("--config")
            .arg(&config)
            .args(["serve", "--listen", "127.0.0.1:0", "--follow"])
            .arg(&logs)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ctt serve"),
    );
    let stderr = server.0.stderr.take().expect("stderr");
    let (sent, got) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("ctt: serving") {
                let _ = sent.send(());
            }
        }
    });
    let serving = got.recv_timeout(Duration::from_secs(120));
    let loaded = |name: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            let files = ws.json(&["files"]);
            let found = files.as_array().into_iter().flatten().any(|f| {
                f["outcome"] == "loaded" && f["key"].as_str().is_some_and(|k| k.ends_with(name))
            });
            if found {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    };
    let first = serving.is_ok() && loaded("/first.json");
    // A new file arrives whole (renamed in), as a trail's delivery would.
    fs::write(
        ws.path("second.json"),
        log(&[record("e-second", "CreateTags")]),
    )
    .expect("write");
    fs::rename(ws.path("second.json"), logs.join("second.json")).expect("rename");
    let second = first && loaded("/second.json");
    let _ = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status();
    let stopped = server.0.wait().expect("wait for ctt serve");
    assert!(serving.is_ok(), "ctt serve started");
    assert!(first && second, "both files loaded while following");
    assert!(stopped.success(), "stopped cleanly: {stopped:?}");
    let reasons = failed_reasons(&ws, &logs);
    let mut keys: Vec<&str> = reasons.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["dangling.json", "sub/loop"], "{reasons:#?}");
}

/// A child process killed when dropped, should a test fail while it runs.
struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Reports the peak resident memory of the command it runs, the largest of
/// its children waited for (here: the only one), on stderr.
const PEAK_RSS: &str = "import resource, subprocess, sys
code = subprocess.call(sys.argv[1:])
sys.stderr.write('peak-rss-kib=%d\\n' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(code)";

/// Issue 13, part 7: gzip bombs are rejected in bounded memory. Four bombs of
/// 600 MiB of zeros each (over the default 512 MiB cap; under 1 MiB gzipped)
/// on four parsing threads peaked at 3.0 GB before; now no buffer is allocated
/// past what a trailer states, and that only up to 64 MiB, within the
/// in-flight budget (about 100 MiB in all). The peak resident memory of the
/// whole process is the kernel's (`getrusage` of the waited-for child).
#[test]
fn gzip_bombs_are_rejected_in_bounded_memory() {
    use std::io::Write;
    let ws = Workspace::new();
    let logs = ws.path("logs");
    fs::create_dir_all(&logs).expect("mkdir");
    // Written as a stream: 600 MiB never sit in memory here either.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..600 {
        encoder.write_all(&zeros).expect("gzip");
    }
    let bomb = encoder.finish().expect("gzip");
    assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
    for i in 0..3 {
        fs::write(logs.join(format!("bomb-{i}.json.gz")), &bomb).expect("write");
    }
    // One whose trailer states 64 MiB: the largest buffer a lie can cost.
    let mut lying = bomb;
    let at = lying.len() - 4;
    lying[at..].copy_from_slice(&(64u32 << 20).to_le_bytes());
    fs::write(logs.join("bomb-lying.json.gz"), &lying).expect("write");
    for i in 0..4 {
        let records = [record(&format!("good-{i}"), "RunInstances")];
        fs::write(logs.join(format!("good-{i}.json.gz")), gzip(&log(&records))).expect("write");
    }

    let mut cmd = Command::new("python3");
    cmd.args(["-c", PEAK_RSS, env!("CARGO_BIN_EXE_ctt"), "--db"])
        .arg(ws.db())
        .args([
            "ingest",
            "--format",
            "json",
            "--no-progress",
            "--workers",
            "4",
        ])
        .arg(&logs)
        .env_remove("CTT_CONFIG")
        .env_remove("CTT_DB");
    let out = run_within(&mut cmd, Duration::from_secs(120));
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}): {}", describe(&out)));
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert_eq!(n(&report, "files_loaded"), 4, "{report}");
    assert_eq!(n(&report, "records_stored"), 4, "{report}");
    assert_eq!(n(&report, "files_failed"), 4, "{report}");
    let failures = report["failures"].as_array().expect("failures");
    assert!(
        failures.iter().all(|f| {
            f.as_str().is_some_and(|f| {
                f.ends_with("larger than the 536870912-byte limit once decompressed")
            })
        }),
        "{report}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let peak_kib: u64 = stderr
        .lines()
        .find_map(|line| line.strip_prefix("peak-rss-kib="))
        .and_then(|kib| kib.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak reported: {}", describe(&out)));
    let peak_mib = peak_kib / 1024;
    eprintln!("ctt ingest of four gzip bombs: peak resident memory {peak_mib} MiB");
    assert!(peak_mib < 200, "peak resident memory {peak_mib} MiB");
}
