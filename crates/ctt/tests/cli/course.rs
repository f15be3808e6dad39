//! `ctt course` (SPEC §10): a course file checked with errors naming file and
//! line, stored, replaced, listed, removed; the class graded, and its CSV the
//! same bytes as the API's.

use serde_json::{Value, json};

use crate::support::{Workspace, describe, get, gzip, run, start_serve};

const COURSE: &str = r#"id = "cloud"
name = "Cloud Computing"
from = "2018-03-01"
to = "2018-03-31"
students = "^alucloud[0-9]{3}$"

[[lab]]
id = "ec2"
name = "EC2"
to = "2018-03-10"
requires = [{ event = "ec2:RunInstances", count = 2 }, { event = "ec2:TerminateInstances" }]

[[lab]]
id = "serverless"
requires = [{ event = "lambda:CreateFunction" }]
"#;

fn record(id: &str, day: u32, user: &str, source: &str, name: &str) -> Value {
    json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "userName": user, "accountId": "111122223333"},
        "eventTime": format!("2018-03-{day:02}T10:00:00Z"),
        "eventSource": format!("{source}.amazonaws.com"),
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "192.0.2.1",
        "eventID": id,
        "eventType": "AwsApiCall",
        "recipientAccountId": "111122223333"
    })
}

fn loaded() -> Workspace {
    let work = Workspace::new();
    let records = json!({"Records": [
        record("a1", 2, "alucloud001", "ec2", "RunInstances"),
        record("a2", 3, "alucloud001", "ec2", "RunInstances"),
        record("a3", 4, "alucloud001", "ec2", "TerminateInstances"),
        record("a4", 12, "alucloud001", "lambda", "CreateFunction20150331"),
        record("b1", 2, "alucloud002", "ec2", "RunInstances"),
        record("t1", 2, "teacher", "ec2", "RunInstances"),
    ]});
    let file = work.path("logs/class.json.gz");
    std::fs::create_dir_all(work.path("logs")).expect("folder");
    std::fs::write(&file, gzip(records.to_string().as_bytes())).expect("write");
    let (report, code) = work.ingest(&[&work.path("logs")], &[]);
    assert_eq!(code, 0, "{report}");
    work
}

fn course(work: &Workspace, args: &[&str]) -> std::process::Output {
    run(work.ctt().arg("course").args(args))
}

#[test]
fn a_course_is_checked_stored_and_graded() {
    let work = loaded();
    // A mistake names the file and the line; nothing is stored.
    let broken = work.path("broken.toml");
    std::fs::write(&broken, COURSE.replace("count = 2", "count = 0")).expect("write");
    let out = course(&work, &["add", broken.to_str().expect("path")]);
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("broken.toml: line 11: `count` must be between 1"),
        "{stderr}"
    );
    assert_eq!(work.json(&["course", "list"]), json!([]));

    let file = work.path("cloud.toml");
    std::fs::write(&file, COURSE).expect("write");
    let out = course(&work, &["add", file.to_str().expect("path")]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("added course `cloud`"));
    let out = course(&work, &["add", file.to_str().expect("path")]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("replaced course `cloud`"));
    let list = work.json(&["course", "list"]);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["labs"][0]["to"], "2018-03-10T23:59:59Z");

    let csv = course(&work, &["show", "cloud", "--format", "csv"]);
    assert!(csv.status.success(), "{}", describe(&csv));
    let csv = String::from_utf8_lossy(&csv.stdout).into_owned();
    assert_eq!(
        csv,
        "student,status,grade,completion,ec2,serverless\n\
         alucloud001,completed,10.00,100.00,100.00,100.00\n\
         alucloud002,in progress,0.00,25.00,33.33,0.00\n"
    );
    let early = work.json(&["course", "show", "cloud", "--to", "2018-03-02"]);
    assert_eq!(early["students"][0]["completion"], json!(25.0));
    let student = work.json(&["course", "student", "cloud", "alucloud002"]);
    assert_eq!(student["labs"][0]["requirements"][0]["missing"], 1);
    let table = course(&work, &["show", "cloud", "--format", "table"]);
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    assert!(table.contains("stuck lab: ec2"), "{table}");

    for (args, message) in [
        (vec!["show", "nope"], "no course `nope`"),
        (
            vec!["show", "cloud", "--from", "soon"],
            "--from: `soon` is not a date",
        ),
        (
            vec!["student", "cloud", "teacher"],
            "`teacher` is not a student",
        ),
    ] {
        let out = course(&work, &args);
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }

    // The API's export is the same bytes.
    let (mut server, base) = start_serve(work.ctt().args(["serve", "--listen", "127.0.0.1:0"]));
    let (status, body) = get(&base, "/courses/cloud/progress?format=csv", None);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!((status, body), (200, csv));

    let out = course(&work, &["rm", "cloud"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(!course(&work, &["rm", "cloud"]).status.success());
}

/// `ctt gen --course` (issue 14): the generated class, graded against the
/// course written beside it, ends in every state (some finish, some stop
/// part way, some never start), and some required calls failed (counting
/// them changes the grades).
#[test]
fn a_generated_class_ends_in_every_state() {
    let work = Workspace::new();
    let course_file = work.path("course.toml");
    let out = run(std::process::Command::new(env!("CARGO_BIN_EXE_ctt"))
        .args([
            "gen",
            "--preset",
            "small",
            "--seed",
            "7",
            "--end",
            "2018-06-15T12:00:00Z",
        ])
        .arg(work.path("logs"))
        .arg("--course")
        .arg(&course_file));
    assert!(out.status.success(), "{}", describe(&out));
    let (report, code) = work.ingest(&[&work.path("logs")], &[]);
    assert_eq!(code, 0, "{report}");
    let add = course(&work, &["add", course_file.to_str().expect("path")]);
    assert!(add.status.success(), "{}", describe(&add));
    let class = work.json(&["course", "show", "gen-course"]);
    let statuses: Vec<&str> = class["students"]
        .as_array()
        .expect("students")
        .iter()
        .filter_map(|s| s["status"].as_str())
        .collect();
    assert!(statuses.len() >= 20, "a class: {}", statuses.len());
    for state in ["completed", "in progress", "not started"] {
        assert!(
            statuses.contains(&state),
            "someone is {state}: {statuses:?}"
        );
    }
    let labs = class["labs"].as_array().expect("labs");
    assert_eq!(labs.len(), 5);
    assert!(
        labs.iter().any(|l| l["completed"].as_u64() > Some(0)),
        "someone completed a lab: {labs:?}"
    );
    assert!(
        labs.iter().any(|l| l["in_progress"].as_u64() > Some(0)),
        "someone stopped half-way: {labs:?}"
    );
    // With failed calls counted (the original's way), more is credited.
    let lenient = std::fs::read_to_string(&course_file)
        .expect("read")
        .replace("pass = 80", "pass = 80\ncount_failed = true");
    std::fs::write(&course_file, lenient).expect("write");
    course(&work, &["add", course_file.to_str().expect("path")]);
    let counted = work.json(&["course", "show", "gen-course"]);
    // Completion (hundredths) summed over the class.
    let credited = |v: &Value| -> u64 {
        v["students"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["completion"].as_f64())
            .map(|c| (c * 100.0).round() as u64)
            .sum()
    };
    assert!(
        credited(&counted) > credited(&class),
        "some required calls failed: {} vs {}",
        credited(&counted),
        credited(&class)
    );
}
