//! Every route answers, in the original's shapes.

use axum::http::StatusCode;
use serde_json::Value;

use crate::support::{TestApp, ids};

const MARCH: &str = "from=2018-03-01&to=2018-03-31";

#[tokio::test]
async fn scan_defaults_to_the_last_seven_days_sorted_by_time_then_id() {
    let app = TestApp::fixture().await;
    let events = app.json("/scan").await;
    let events = events.as_array().expect("a plain list");
    // The clock is 2018-03-12T00:00:00Z: days 5 to 10 hold id-12 … id-29.
    let expected: Vec<String> = (12..30).map(|i| format!("id-{i:02}")).collect();
    assert_eq!(ids(events), expected);
    let keys: Vec<(String, String)> = events
        .iter()
        .map(|e| (e["eventTime"].to_string(), e["eventID"].to_string()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

#[tokio::test]
async fn events_carry_the_originals_attributes() {
    let app = TestApp::fixture().await;
    let events = app.json(&format!("/scan?{MARCH}&limit=1")).await;
    let event = &events[0];
    for field in [
        "eventID",
        "eventName",
        "eventSource",
        "eventTime",
        "userIdentity_userName",
        "user",
        "service",
        "awsRegion",
        "sourceIPAddress",
        "userAgent",
        "errorCode",
        "readOnly",
    ] {
        assert!(
            event.as_object().is_some_and(|o| o.contains_key(field)),
            "no {field} in {event}"
        );
    }
    assert_eq!(event["eventID"], "id-00");
    assert_eq!(event["eventTime"], "2018-03-01T10:00:00Z");
    assert_eq!(event["userIdentity_userName"], "alucloud000");
    assert_eq!(event["user"], "alucloud000");
    assert_eq!(event["service"], "lambda");
    assert_eq!(event["eventSource"], "lambda.amazonaws.com");
    assert_eq!(event["errorCode"], Value::Null);
}

#[tokio::test]
async fn catalog_routes_return_sorted_plain_lists_of_names() {
    let app = TestApp::fixture().await;
    assert_eq!(
        app.json("/users").await,
        serde_json::json!(["alucloud000", "alucloud001", "alucloud002"])
    );
    assert_eq!(
        app.json("/services").await,
        serde_json::json!(["ec2", "lambda"])
    );
    let parameters = app.json("/parameters").await;
    let names: Vec<&str> = parameters
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| v.as_str().expect("names"))
        .collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
    for name in [
        "awsRegion",
        "requestParameters_instanceType",
        "userIdentity_userName",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
}

#[tokio::test]
async fn user_and_service_routes_scope_the_events() {
    let app = TestApp::fixture().await;
    let events = app.json(&format!("/users/alucloud001?{MARCH}")).await;
    let events = events.as_array().expect("list");
    assert_eq!(events.len(), 10);
    assert!(events.iter().all(|e| e["user"] == "alucloud001"));

    let events = app.json(&format!("/services/lambda?{MARCH}")).await;
    let events = events.as_array().expect("list");
    assert_eq!(events.len(), 6);
    assert!(events.iter().all(|e| e["service"] == "lambda"));
}

#[tokio::test]
async fn unknown_user_or_service_is_an_empty_list() {
    let app = TestApp::fixture().await;
    for uri in [
        format!("/users/nobody?{MARCH}"),
        format!("/services/nothing?{MARCH}"),
        format!("/users/alu%20cloud?{MARCH}"),
    ] {
        assert_eq!(app.json(&uri).await, serde_json::json!([]), "{uri}");
        assert_eq!(app.count(&format!("{uri}&count=true")).await, 0, "{uri}");
    }
}

#[tokio::test]
async fn event_detail_returns_the_whole_redacted_record() {
    let app = TestApp::fixture().await;
    let event = app.json("/events/id-05").await;
    assert_eq!(event["eventID"], "id-05");
    assert_eq!(event["user"], "alucloud002");
    assert_eq!(event["record"]["eventID"], "id-05");
    assert_eq!(
        event["record"]["requestParameters"]["functionName"],
        "fn-id-05"
    );
    let text = event.to_string();
    assert!(
        !text.contains("SECRET-TOKEN") && !text.contains("SECRET-KEY"),
        "{text}"
    );
    assert!(text.contains("REDACTED"));

    let missing = app.get("/events/no-such-event").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json()["error"], "not found");
}

#[tokio::test]
async fn health_reports_the_store() {
    let app = TestApp::fixture().await;
    let health = app.json("/health").await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["events"], 30);
    assert_eq!(health["files_loaded"], 1);
    assert_eq!(health["last_event_time"], "2018-03-10T10:00:01Z");
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let app = TestApp::fixture().await;
    app.json("/users").await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status, StatusCode::OK);
    assert!(
        response
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/openmetrics-text")),
        "{:?}",
        response.headers
    );
    let text = response.text();
    assert!(text.contains("ctt_events_stored 30"), "{text}");
    assert!(
        text.contains("# TYPE ctt_http_request_duration_seconds histogram"),
        "{text}"
    );
    assert!(
        text.contains("ctt_last_file_loaded_timestamp_seconds 1522540800"),
        "{text}"
    );
    assert!(
        text.contains("ctt_http_requests_total{method=\"GET\",route=\"/users\",status=\"200\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json_errors() {
    let app = TestApp::fixture().await;
    let response = app.get("/nowhere").await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert_eq!(response.json()["error"], "not found");

    let response = app.request("POST", "/scan", &[]).await;
    assert_eq!(response.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.json()["error"], "method not allowed");
}

#[tokio::test]
async fn list_routes_take_no_parameters() {
    let app = TestApp::fixture().await;
    for uri in [
        "/users?from=2018-01-01",
        "/services?x=1",
        "/parameters?limit=3",
        "/events/id-01?verbose=1",
    ] {
        let key = uri
            .split_once('?')
            .and_then(|(_, q)| q.split_once('='))
            .map(|(k, _)| k)
            .expect("a parameter");
        app.get(uri).await.assert_invalid(key, uri);
    }
}

#[tokio::test]
async fn docs_page_is_served_from_the_binary() {
    let app = TestApp::fixture().await;
    let redirect = app.get("/docs").await;
    assert!(redirect.status.is_redirection(), "{}", redirect.status);
    let page = app.get("/docs/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("swagger-ui"), "{}", page.text());
    let config = app.get("/docs/swagger-initializer.js").await;
    assert_eq!(config.status, StatusCode::OK);
    assert!(config.text().contains("/openapi.json"), "{}", config.text());
    let script = app.get("/docs/swagger-ui-bundle.js").await;
    assert_eq!(script.status, StatusCode::OK);
    assert!(script.body.len() > 100_000, "the vendored bundle");
}
