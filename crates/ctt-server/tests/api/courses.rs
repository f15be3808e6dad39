//! The course routes (SPEC §10): a course stored, its class scored over the
//! API, the CSV export byte for byte, bad parameters named, and role `self`
//! seeing only itself.

use axum::http::StatusCode;
use ctt_store::{EventStore, Role, StoredCourse};
use serde_json::{Value, json};

use crate::support::{TestApp, at, bearer};

pub const COURSE: &str = r#"
id = "cloud"
name = "Cloud Computing"
from = "2018-03-01"
to = "2018-03-31"
students = "^alucloud[0-9]{3}$"

[[lab]]
id = "ec2"
name = "EC2"
from = "2018-03-01"
to = "2018-03-10"
requires = [{ event = "ec2:RunInstances", count = 2 }, { event = "ec2:TerminateInstances" }]

[[lab]]
id = "serverless"
name = "Serverless"
requires = [{ event = "lambda:CreateFunction" }]
"#;

fn record(id: &str, day: u32, user: &str, source: &str, name: &str, error: bool) -> Value {
    let mut record = json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "userName": user, "accountId": "111122223333"},
        "eventTime": format!("2018-03-{day:02}T10:00:00Z"),
        "eventSource": format!("{source}.amazonaws.com"),
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "192.0.2.1",
        "userAgent": "aws-cli/2.0",
        "eventID": id,
        "eventType": "AwsApiCall",
        "readOnly": false,
        "recipientAccountId": "111122223333"
    });
    if error {
        record["errorCode"] = json!("Client.UnauthorizedOperation");
    }
    record
}

/// alucloud001 completes both labs; alucloud002 runs one instance and has a
/// failed CreateFunction; alucloud003 is seen only reading; the teacher is not
/// a student.
async fn class_app() -> TestApp {
    let app = TestApp::empty();
    app.load(
        "class.json.gz",
        vec![
            record("a1", 2, "alucloud001", "ec2", "RunInstances", false),
            record("a2", 3, "alucloud001", "ec2", "RunInstances", false),
            record("a3", 4, "alucloud001", "ec2", "TerminateInstances", false),
            record(
                "a4",
                12,
                "alucloud001",
                "lambda",
                "CreateFunction20150331",
                false,
            ),
            record("b1", 2, "alucloud002", "ec2", "RunInstances", false),
            record(
                "b2",
                12,
                "alucloud002",
                "lambda",
                "CreateFunction20150331",
                true,
            ),
            record("c1", 2, "alucloud003", "ec2", "CreateTags", false),
            record("t1", 2, "teacher", "ec2", "RunInstances", false),
        ],
    )
    .await;
    app.store
        .put_course(StoredCourse {
            id: "cloud".into(),
            source: COURSE.into(),
            added_at: at("2018-02-01T00:00:00Z"),
        })
        .await
        .expect("a course");
    app
}

#[tokio::test]
async fn the_class_is_scored_as_spec_10_says() {
    let app = class_app().await;
    let courses = app.json("/courses").await;
    assert_eq!(courses[0]["id"], "cloud");
    assert_eq!(
        courses[0]["students"],
        json!({"pattern": "^alucloud[0-9]{3}$"})
    );
    let lab = &courses[0]["labs"][0];
    assert_eq!(lab["to"], "2018-03-10T23:59:59Z");
    assert_eq!(
        lab["requires"][0]["reference"],
        "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RunInstances.html"
    );
    assert_eq!(app.json("/courses/cloud").await, courses[0]);

    let progress = app.json("/courses/cloud/progress").await;
    let students: Vec<&str> = progress["students"]
        .as_array()
        .expect("students")
        .iter()
        .filter_map(|s| s["student"].as_str())
        .collect();
    assert_eq!(students, ["alucloud001", "alucloud002", "alucloud003"]);
    assert_eq!(progress["students"][0]["status"], "completed");
    assert_eq!(progress["students"][0]["grade"], json!(10.0));
    // alucloud002: ec2 1 of 3 = 33.33; the failed CreateFunction does not count.
    assert_eq!(progress["students"][1]["labs"][0]["progress"], json!(33.33));
    assert_eq!(progress["students"][1]["completion"], json!(25.0));
    assert_eq!(progress["students"][2]["status"], "not started");
    assert_eq!(
        progress["counts"],
        json!({"completed": 1, "in_progress": 1, "not_started": 1})
    );
    assert_eq!(progress["stuck"], "ec2");
    assert_eq!(
        progress["labs"][0]["average"],
        json!(44.44),
        "(100 + 33.33 + 0) / 3"
    );

    let csv = app.get("/courses/cloud/progress?format=csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    assert_eq!(
        csv.header("content-disposition"),
        Some("attachment; filename=\"cloud-progress.csv\"")
    );
    assert_eq!(
        csv.text(),
        "student,status,grade,completion,ec2,serverless\n\
         alucloud001,completed,10.00,100.00,100.00,100.00\n\
         alucloud002,in progress,0.00,25.00,33.33,0.00\n\
         alucloud003,not started,0.00,0.00,0.00,0.00\n"
    );

    let student = app.json("/courses/cloud/students/alucloud002").await;
    let ec2 = &student["labs"][0];
    assert_eq!(ec2["requirements"][0]["credited"], 1);
    assert_eq!(ec2["requirements"][0]["missing"], 1);
    assert_eq!(ec2["requirements"][0]["events"][0]["eventID"], "b1");
    assert_eq!(ec2["last"], "2018-03-02T10:00:00Z");
    assert_eq!(student["labs"][1]["requirements"][0]["missing"], 1);

    // The window may be overridden: up to March 2nd, alucloud001 has 1 of 4.
    let early = app.json("/courses/cloud/progress?to=2018-03-02").await;
    assert_eq!(early["students"][0]["completion"], json!(25.0));
    assert_eq!(early["to"], "2018-03-02T23:59:59Z");

    let timeline = app.json("/courses/cloud/timeline").await;
    let days = timeline["days"].as_array().expect("days");
    assert_eq!(days.len(), 31);
    assert_eq!(
        days[0],
        json!({"day": "2018-03-01", "p25": 0.0, "p50": 0.0, "p75": 0.0})
    );
    // March 12th: completions [0, 25, 100]: P25 = 0, P50 = 25, P75 = 100.
    assert_eq!(
        days[11],
        json!({"day": "2018-03-12", "p25": 0.0, "p50": 25.0, "p75": 100.0})
    );
}

#[tokio::test]
async fn bad_requests_name_their_parameter() {
    let app = class_app().await;
    for (uri, parameter) in [
        ("/courses/cloud/progress?from=yesterday", "from"),
        ("/courses/cloud/progress?format=ndjson", "format"),
        ("/courses/cloud/progress?colour=red", "colour"),
        ("/courses/cloud/timeline?format=csv", "format"),
        (
            "/courses/cloud/timeline?from=2018-03-05&to=2018-03-01",
            "to",
        ),
        (
            "/courses/cloud/timeline?from=1900-01-01&to=2100-01-01",
            "to",
        ),
        ("/courses/cloud?limit=1", "limit"),
    ] {
        app.get(uri).await.assert_invalid(parameter, uri);
    }
    for uri in [
        "/courses/nope",
        "/courses/nope/progress",
        "/courses/cloud/students/teacher",
    ] {
        let response = app.get(uri).await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(response.json()["error"], "not found", "{uri}");
    }
}

#[tokio::test]
async fn role_self_sees_only_itself() {
    let mut app = class_app().await;
    let token = app.token("alu2", Role::OwnUser, Some("alucloud002")).await;
    let (name, value) = bearer(&token);
    let get = |uri: &'static str| {
        let app = &app;
        let value = value.clone();
        async move { app.get_with(uri, &[(name, &value)]).await }
    };
    let courses = get("/courses").await.json();
    assert_eq!(courses[0]["id"], "cloud");
    assert_eq!(courses[0].get("students"), None, "the class list is hidden");
    let progress = get("/courses/cloud/progress").await.json();
    assert_eq!(progress["students"].as_array().map(Vec::len), Some(1));
    assert_eq!(progress["students"][0]["student"], "alucloud002");
    let csv = get("/courses/cloud/progress?format=csv").await.text();
    assert!(
        !csv.contains("alucloud001") && csv.contains("alucloud002"),
        "{csv}"
    );
    assert_eq!(
        get("/courses/cloud/students/alucloud002").await.status,
        StatusCode::OK
    );
    assert_eq!(
        get("/courses/cloud/students/alucloud001").await.status,
        StatusCode::NOT_FOUND
    );
    // Not a student of a course: it does not exist for them.
    let teacher = app.token("teacher", Role::OwnUser, Some("teacher")).await;
    let (name, value) = bearer(&teacher);
    assert_eq!(
        app.get_with("/courses", &[(name, &value)]).await.json(),
        json!([])
    );
    let hidden = app
        .get_with("/courses/cloud/progress", &[(name, &value)])
        .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
}
