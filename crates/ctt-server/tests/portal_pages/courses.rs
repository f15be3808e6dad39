//! The course pages (SPEC §10): the class with its counters, stuck lab,
//! heatmap and band; a student's page with what is missing linked to the AWS
//! API reference and the credited events linked; role `self` seeing only
//! itself; hostile names rendered as text.

use axum::http::StatusCode;
use ctt_store::{EventStore, Role, StoredCourse};

use serde_json::{Value, json};

use crate::support::{Portal, at};

/// The fixture's three students complete both labs (2 RunInstances, 2
/// TerminateInstances, 2 CreateFunction each); `mallory` has one
/// RunInstances; a listed name never seen, and hostile, has nothing.
const COURSE: &str = r#"
id = "class"
name = "<script>alert(2)</script> Cloud"
from = "2018-03-01"
to = "2018-03-31"
students = ["alucloud000", "alucloud001", "alucloud002", "mallory", "<img src=x onerror=alert(3)>"]

[[lab]]
id = "ec2"
name = "EC2"
requires = [{ event = "ec2:RunInstances", count = 2 }, { event = "ec2:TerminateInstances" }]

[[lab]]
id = "lambda"
name = "Serverless"
requires = [{ event = "lambda:CreateFunction" }]
"#;

async fn portal() -> Portal {
    let portal = Portal::fixture().await;
    portal
        .store
        .put_course(StoredCourse {
            id: "class".into(),
            source: COURSE.into(),
            added_at: at("2018-02-01T00:00:00Z"),
        })
        .await
        .expect("a course");
    portal
}

fn counter(page: &str, name: &str) -> String {
    let start = page
        .find(&format!("data-counter=\"{name}\""))
        .unwrap_or_else(|| panic!("no counter {name}"));
    let rest = &page[start..];
    let value = rest.split("class=\"value\">").nth(1).expect("a value");
    value.split('<').next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn the_course_page_shows_the_class() {
    let portal = portal().await;
    let list = portal.get("/ui/courses").await.page("list");
    assert!(list.contains("href=\"/ui/courses/class\""), "{list}");
    assert!(
        list.contains("aria-current=\"page\">Courses"),
        "the navigation"
    );

    let page = portal.get("/ui/courses/class").await.page("course");
    assert_eq!(counter(&page, "completed"), "3");
    assert_eq!(counter(&page, "in-progress"), "1");
    assert_eq!(counter(&page, "not-started"), "1");
    assert!(page.contains("class=\"stuck\">ec2<"), "the stuck lab");
    for student in ["alucloud000", "alucloud001", "alucloud002", "mallory"] {
        assert!(
            page.contains(&format!("href=\"/ui/courses/class/students/{student}\"")),
            "a heatmap row links to {student}'s page"
        );
    }
    // mallory: EC2 1 of 3 = 33.33 %, coloured by its tenth.
    let row = page
        .split("data-student=\"mallory\"")
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .expect("mallory's row");
    assert!(
        row.contains("class=\"heat heat-4\" data-lab=\"ec2\""),
        "{row}"
    );
    assert!(
        page.contains("data-chart=\"course-band\""),
        "the band chart"
    );
    assert!(
        page.contains("polyline class=\"median\""),
        "the median line"
    );
    let csv = page
        .split("href=\"/courses/class/progress?")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a CSV link");
    let csv = format!("/courses/class/progress?{}", csv.replace("&amp;", "&"));
    assert!(csv.contains("format=csv"), "{csv}");
    let answer = portal.get(&csv).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer
            .text()
            .starts_with("student,status,grade,completion,ec2,lambda\n")
    );
    // Hostile names are text.
    assert!(!page.contains("<script>alert(2)"), "course name escaped");
    assert!(!page.contains("<img src=x"), "user name escaped");
    assert!(page.contains("&lt;img src=x onerror=alert(3)&gt;"));
    // A bad window is a 400 naming the parameter.
    let bad = portal.get("/ui/courses/class?from=soon").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text().contains("from"));
    assert_eq!(
        portal.get("/ui/courses/none").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_student_page_shows_what_is_missing() {
    let portal = portal().await;
    let page = portal
        .get("/ui/courses/class/students/mallory")
        .await
        .page("student");
    assert_eq!(counter(&page, "status"), "in progress");
    assert!(page.contains(
        "href=\"https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RunInstances.html\" rel=\"noopener noreferrer\""
    ));
    assert!(
        page.contains("data-missing=\"1\""),
        "RunInstances: 1 missing"
    );
    assert!(
        page.contains("href=\"/ui/events/xss-ua\""),
        "the credited event, linked"
    );
    let done = portal
        .get("/ui/courses/class/students/alucloud000")
        .await
        .page("student");
    assert!(done.contains("✓ completed"));
    assert!(!done.contains("data-missing=\"1\""));
    let nobody = portal.get("/ui/courses/class/students/teacher").await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn role_self_sees_only_its_own_row_and_page() {
    let mut portal = portal().await;
    let token = portal
        .token("alu1", Role::OwnUser, Some("alucloud001"))
        .await;
    // A student of one course lands on their page of it.
    let form = format!("token={token}&next=%2Fui%2F");
    let landed = portal.post_form("/login", &form, &[]).await;
    assert_eq!(
        landed.header("location"),
        Some("/ui/courses/class/students/alucloud001"),
        "a self user lands on their student page"
    );
    let session = landed.session_cookie().expect("a session");
    let list = portal.get_as("/ui/courses", &session).await.page("list");
    assert!(
        list.contains("href=\"/ui/courses/class/students/alucloud001\""),
        "the list links to its own page: {list}"
    );
    let page = portal
        .get_as("/ui/courses/class", &session)
        .await
        .page("course");
    assert!(page.contains("data-student=\"alucloud001\""));
    for other in ["alucloud000", "mallory", "onerror"] {
        assert!(!page.contains(other), "{other} on a self page");
    }
    let own = portal
        .get_as("/ui/courses/class/students/alucloud001", &session)
        .await;
    assert_eq!(own.status, StatusCode::OK);
    let other = portal
        .get_as("/ui/courses/class/students/alucloud000", &session)
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    // A viewer, or a self user of no course, lands on the dashboard.
    let teacher = portal
        .token("teacher", Role::OwnUser, Some("teacher"))
        .await;
    let landed = portal
        .post_form("/login", &format!("token={teacher}&next=%2Fui%2F"), &[])
        .await;
    assert_eq!(landed.header("location"), Some("/ui/"));
}

/// SPEC §11 on the course page: per student and lab, what they created
/// during the lab and left open at its end — not what they cleaned up (or
/// the teacher did), not what an earlier lab left, not a non-student's; a
/// self user sees only their own row.
#[tokio::test]
async fn the_course_page_shows_what_each_student_left_open_per_lab() {
    let mut portal = Portal::fixture().await;
    let course = r#"
id = "cleanup"
name = "Clean-up"
from = "2018-03-01"
to = "2018-03-31"
students = ["alucloud001", "alucloud002"]

[[lab]]
id = "first"
name = "First"
from = "2018-03-11"
to = "2018-03-15"
requires = [{ event = "ec2:RunInstances" }]

[[lab]]
id = "second"
name = "Second"
from = "2018-03-16"
to = "2018-03-20"
requires = [{ event = "s3:CreateBucket" }]
"#;
    portal
        .store
        .put_course(StoredCourse {
            id: "cleanup".into(),
            source: course.into(),
            added_at: at("2018-02-01T00:00:00Z"),
        })
        .await
        .expect("a course");
    let record = |id: &str, time: &str, user: &str, source: &str, name: &str, extra: Value| {
        let mut r = ctt_store::conformance::record(id, time, user, source, name);
        r["requestParameters"] = extra["requestParameters"].clone();
        r["responseElements"] = extra["responseElements"].clone();
        r
    };
    let items = |ids: &[&str]| json!({"items": ids.iter().map(|i| json!({"instanceId": i})).collect::<Vec<_>>()});
    let run = |id: &str, time: &str, user: &str, instance: &str| {
        record(
            id,
            time,
            user,
            "ec2",
            "RunInstances",
            json!({
                "requestParameters": {"instanceType": "t2.micro"},
                "responseElements": {"instancesSet": items(&[instance])}
            }),
        )
    };
    // The teacher ends alucloud002's instance where it runs (the fixture's
    // users ending in 2 work in eu-west-1).
    let mut tidy_up = record(
        "c-3",
        "2018-03-14T09:00:00Z",
        "teacher",
        "ec2",
        "TerminateInstances",
        json!({"requestParameters": {"instancesSet": items(&["i-tidy"])}, "responseElements": null}),
    );
    tidy_up["awsRegion"] = json!("eu-west-1");
    let records = vec![
        tidy_up,
        run("c-1", "2018-03-12T09:00:00Z", "alucloud001", "i-left"),
        run("c-2", "2018-03-12T09:00:00Z", "alucloud002", "i-tidy"),
        record(
            "c-4",
            "2018-03-17T09:00:00Z",
            "alucloud002",
            "s3",
            "CreateBucket",
            json!({
                "requestParameters": {"bucketName": "lab2-bucket"}, "responseElements": null
            }),
        ),
        run("c-5", "2018-03-12T10:00:00Z", "outsider", "i-outsider"),
    ];
    let loaded = ctt_store::conformance::file(portal.store.as_ref(), "cleanup.json", records);
    portal.store.load(vec![loaded]).await.expect("load");

    let page = portal.get("/ui/courses/cleanup").await.page("course");
    assert!(page.contains("Left open at each lab's end"), "{page}");
    let cell = |page: &str, student: &str, lab: &str| -> Option<String> {
        let row = page
            .split(&format!("<tr data-student=\"{student}\">"))
            .nth(1)?;
        let row = row.split("</tr>").next()?;
        let cell = row
            .split(&format!("data-lab=\"{lab}\" data-left=\""))
            .nth(1)?;
        cell.split('"').next().map(str::to_owned)
    };
    // (The heatmap's rows carry data-status too: these are the table's.)
    assert_eq!(cell(&page, "alucloud001", "first").as_deref(), Some("1"));
    assert_eq!(
        cell(&page, "alucloud001", "second").as_deref(),
        Some("0"),
        "an earlier lab's"
    );
    assert_eq!(
        cell(&page, "alucloud002", "first").as_deref(),
        Some("0"),
        "deleted by the teacher"
    );
    assert_eq!(cell(&page, "alucloud002", "second").as_deref(), Some("1"));
    assert!(!page.contains("outsider"), "not a student");
    assert!(
        page.contains("href=\"/ui/resources?user=alucloud001&amp;at=2018-03-15T23%3A59%3A59Z\""),
        "the count links to the Resources page as of the lab's end"
    );

    let token = portal
        .token("alu1", Role::OwnUser, Some("alucloud001"))
        .await;
    let session = portal.sign_in(&token).await;
    let own = portal
        .get_as("/ui/courses/cleanup", &session)
        .await
        .page("course");
    assert_eq!(cell(&own, "alucloud001", "first").as_deref(), Some("1"));
    assert!(!own.contains("alucloud002"), "another student's row");
}
