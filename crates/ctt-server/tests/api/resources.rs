//! SPEC §11 over HTTP: `/resources` (filters, pages, exports) and
//! `/resources/{type}/{id}`; role `self` sees only what it owns.

use axum::http::StatusCode;
use ctt_store::Role;
use serde_json::{Value, json};

use crate::support::{TestApp, bearer};

/// A `RunInstances`/`TerminateInstances`/`CreateBucket` record.
fn record(id: &str, time: &str, user: &str, source: &str, name: &str, extra: Value) -> Value {
    let mut r = json!({
        "eventVersion": "1.08", "eventID": id, "eventTime": time,
        "eventSource": source, "eventName": name, "awsRegion": "us-east-1",
        "recipientAccountId": "111122223333",
        "userIdentity": {"type": "IAMUser", "userName": user, "accountId": "111122223333"},
    });
    for (k, v) in extra.as_object().expect("object") {
        r[k] = v.clone();
    }
    r
}

fn instances(ids: &[&str]) -> Value {
    json!({"items": ids.iter().map(|i| json!({"instanceId": i})).collect::<Vec<_>>()})
}

async fn app() -> TestApp {
    let app = TestApp::empty();
    let ec2 = "ec2.amazonaws.com";
    app.load(
        "a.json.gz",
        vec![
            record(
                "r1",
                "2018-03-10T08:00:00Z",
                "alice",
                ec2,
                "RunInstances",
                json!({
                    "requestParameters": {"instanceType": "t2.micro"},
                    "responseElements": {"instancesSet": instances(&["i-a1", "i-a2"])}
                }),
            ),
            record(
                "r2",
                "2018-03-10T09:00:00Z",
                "bob",
                ec2,
                "RunInstances",
                json!({
                    "requestParameters": {"instanceType": "t3.micro"},
                    "responseElements": {"instancesSet": instances(&["i-b1"])}
                }),
            ),
            record(
                "b1",
                "2018-03-10T09:30:00Z",
                "bob",
                "s3.amazonaws.com",
                "CreateBucket",
                json!({"requestParameters": {"bucketName": "bobs-<b>bucket</b>"}}),
            ),
        ],
    )
    .await;
    // The teacher terminates one of Alice's instances, in a later file.
    app.load(
        "b.json.gz",
        vec![record(
            "t1",
            "2018-03-10T10:00:00Z",
            "teacher",
            ec2,
            "TerminateInstances",
            json!({
                "requestParameters": {"instancesSet": instances(&["i-a2"])}
            }),
        )],
    )
    .await;
    app
}

#[tokio::test]
async fn resources_are_listed_filtered_paged_and_exported() {
    let app = app().await;
    let all = app.json("/resources?at=2018-03-10T12:00:00Z").await;
    let keys: Vec<(&str, &str, &str)> = all
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| {
            (
                r["type"].as_str().expect("type"),
                r["id"].as_str().expect("id"),
                r["state"].as_str().expect("state"),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            ("ec2:instance", "i-a1", "running"),
            ("ec2:instance", "i-a2", "deleted"),
            ("ec2:instance", "i-b1", "running"),
            ("s3:bucket", "bobs-<b>bucket</b>", "running"),
        ]
    );
    let a1 = &all[0];
    assert_eq!(a1["owner"], "alice");
    assert_eq!(a1["running_hours"], 4.0);
    assert_eq!(a1["estimated_cost"], 4.0 * 0.0116);
    assert_eq!(all[1]["deleted_by"], "teacher");
    assert_eq!(
        all[3]["estimated_cost"],
        Value::Null,
        "S3 has no hourly price"
    );

    let open = app
        .json("/resources?state=open&at=2018-03-10T12:00:00Z")
        .await;
    assert_eq!(open.as_array().expect("list").len(), 3);
    let bobs = app.json("/resources?user=bob&type=ec2:instance").await;
    assert_eq!(bobs.as_array().expect("list").len(), 1);
    assert_eq!(bobs[0]["id"], "i-b1");

    // Pages of 3, then 1, linked.
    let first = app.get("/resources?limit=3&at=2018-03-10T12:00:00Z").await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.json().as_array().expect("list").len(), 3);
    let next = first.next_link().expect("a next page");
    let second = app.json(&next).await;
    assert_eq!(second.as_array().expect("list").len(), 1);
    assert_eq!(second[0]["type"], "s3:bucket");

    let csv = app
        .get("/resources?format=csv&at=2018-03-10T12:00:00Z")
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    let text = csv.text();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "type,id,region,account,owner,state,created,deleted,deleted_by,running_hours,estimated_cost"
        )
    );
    assert_eq!(
        lines.next(),
        Some(
            "ec2:instance,i-a1,us-east-1,111122223333,alice,running,2018-03-10T08:00:00Z,,,4.00,0.05"
        )
    );
    let ndjson = app.get("/resources?format=ndjson").await;
    assert_eq!(ndjson.text().lines().count(), 4);

    for (uri, parameter) in [
        ("/resources?state=gone", "state"),
        ("/resources?at=soon", "at"),
        ("/resources?limit=0", "limit"),
        ("/resources?cursor=x", "cursor"),
        ("/resources?colour=red", "colour"),
    ] {
        app.get(uri).await.assert_invalid(parameter, uri);
    }
}

#[tokio::test]
async fn a_resource_has_every_event_that_touched_it_and_self_sees_its_own() {
    let mut app = app().await;
    let detail = app.json("/resources/ec2:instance/i-a2").await;
    assert_eq!(detail.as_array().expect("a list").len(), 1);
    assert_eq!(detail[0]["state"], "deleted");
    let events: Vec<(&str, &str, &str)> = detail[0]["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["eventID"].as_str().expect("id"),
                e["user"].as_str().expect("user"),
                e["change"].as_str().expect("change"),
            )
        })
        .collect();
    assert_eq!(
        events,
        [("r1", "alice", "create"), ("t1", "teacher", "delete")]
    );
    // As it stood before the teacher's delete.
    let before = app
        .json("/resources/ec2:instance/i-a2?at=2018-03-10T09:59:00Z")
        .await;
    assert_eq!(before[0]["state"], "running");
    assert_eq!(before[0]["events"].as_array().expect("events").len(), 1);
    assert_eq!(
        app.get("/resources/ec2:instance/i-none").await.status,
        StatusCode::NOT_FOUND
    );
    app.get("/resources/ec2:instance/i-a2?colour=red")
        .await
        .assert_invalid("colour", "detail");

    // Role `self`: Alice sees what she created, not Bob's.
    let alice = app.token("alice", Role::OwnUser, Some("alice")).await;
    let (name, value) = bearer(&alice);
    let hers = app.get_with("/resources", &[(name, &value)]).await;
    assert_eq!(hers.status, StatusCode::OK, "{}", hers.text());
    let hers = hers.json();
    let ids: Vec<&str> = hers
        .as_array()
        .expect("list")
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["i-a1", "i-a2"]);
    let asked_bob = app
        .get_with("/resources?user=bob", &[(name, &value)])
        .await
        .json();
    assert_eq!(asked_bob, json!([]));
    let bobs = app
        .get_with("/resources/ec2:instance/i-b1", &[(name, &value)])
        .await;
    assert_eq!(bobs.status, StatusCode::NOT_FOUND);
}
