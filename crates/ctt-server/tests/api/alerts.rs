//! `/alerts` and `/alerts/{id}` (SPEC §12): order, filters, pages linked by
//! `Link`, CSV and NDJSON exports, a 400 naming a bad parameter.

use axum::http::StatusCode;

use ctt_store::EventStore;

use crate::support::{TestApp, alert};

async fn app_with_alerts() -> TestApp {
    let app = TestApp::empty();
    let mut loaded = ctt_store::conformance::file(app.store.as_ref(), "a.json.gz", vec![]);
    for (rule, event, user, level, time) in [
        ("r-2", "e-1", "alice", "high", "2018-03-02T10:00:00Z"),
        ("r-1", "e-1", "alice", "medium", "2018-03-02T10:00:00Z"),
        ("r-1", "e-0", "bob", "medium", "2018-03-02T10:00:00Z"),
        ("r-1", "e-5", "bob", "low", "2018-03-04T08:00:00Z"),
        ("r-3", "e-9", "alice", "critical", "2018-03-05T08:00:00Z"),
    ] {
        let mut a = alert(rule, event, user);
        a.level = level.to_owned();
        a.event_time = crate::support::at(time);
        loaded.alerts.push(a);
    }
    app.store.load(vec![loaded]).await.expect("load");
    app
}

fn ids(json: &serde_json::Value) -> Vec<String> {
    json.as_array()
        .expect("a list")
        .iter()
        .map(|a| a["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn alerts_are_listed_in_order_filtered_and_paged() {
    let app = app_with_alerts().await;
    let all = app.json("/alerts").await;
    assert_eq!(
        ids(&all),
        ["r-1:e-0", "r-1:e-1", "r-2:e-1", "r-1:e-5", "r-3:e-9"]
    );
    assert_eq!(all[0]["eventTime"], "2018-03-02T10:00:00Z");
    assert_eq!(all[0]["rule"], "r-1");
    assert_eq!(all[0]["record"]["eventID"], "e-0");
    assert_eq!(
        ids(&app.json("/alerts?level=high").await),
        ["r-2:e-1", "r-3:e-9"]
    );
    assert_eq!(
        ids(&app.json("/alerts?rule=r-1&user=bob").await),
        ["r-1:e-0", "r-1:e-5"]
    );
    assert_eq!(
        ids(&app.json("/alerts?from=2018-03-03&to=2018-03-04").await),
        ["r-1:e-5"]
    );
    // Two at a time, following Link to the end.
    let mut uri = "/alerts?limit=2&level=medium".to_owned();
    let mut paged = Vec::new();
    loop {
        let response = app.get(&uri).await;
        assert_eq!(response.status, StatusCode::OK);
        paged.extend(ids(&serde_json::from_str(&response.text()).expect("json")));
        match response.next_link() {
            Some(next) => uri = next,
            None => break,
        }
    }
    assert_eq!(paged, ["r-1:e-0", "r-1:e-1", "r-2:e-1", "r-3:e-9"]);
    // One, whole; an unknown one is a 404.
    let one = app.json("/alerts/r-3:e-9").await;
    assert_eq!(
        (one["level"].as_str(), one["user"].as_str()),
        (Some("critical"), Some("alice"))
    );
    assert_eq!(
        app.get("/alerts/r-3:e-404").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn alerts_export_as_csv_and_ndjson_and_bad_parameters_are_named() {
    let app = app_with_alerts().await;
    let csv = app.get("/alerts?format=csv&user=alice").await;
    assert_eq!(csv.status, StatusCode::OK);
    let text = csv.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "time,rule,level,user,service,eventName,eventID,title"
    );
    assert_eq!(
        lines[1],
        "2018-03-02T10:00:00Z,r-1,medium,alice,ec2,RunInstances,e-1,Rule r-1"
    );
    assert_eq!(lines.len(), 4);
    let ndjson = app.get("/alerts?format=ndjson&limit=3").await.text();
    let rows: Vec<serde_json::Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[2]["id"], "r-2:e-1");
    for (query, parameter) in [
        ("level=severe", "level"),
        ("limit=0", "limit"),
        ("cursor=nonsense", "cursor"),
        ("from=yesterday", "from"),
        ("format=xml", "format"),
        ("colour=red", "colour"),
        ("from=2018-03-05&to=2018-03-01", "to"),
    ] {
        let response = app.get(&format!("/alerts?{query}")).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{query}");
        let body: serde_json::Value = serde_json::from_str(&response.text()).expect("json");
        assert_eq!(body["parameter"], parameter, "{query}: {body}");
    }
}
