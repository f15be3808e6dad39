//! The OpenAPI document: generated from the handlers, complete, consistent.

use std::collections::BTreeSet;

use axum::http::StatusCode;
use chrono::Utc;
use ctt_core::Scope;
use ctt_core::query::{RequestParams, RouteKind};
use serde_json::Value;

use crate::support::TestApp;

fn document() -> Value {
    let json = ctt_server::api::openapi().to_json().expect("render");
    serde_json::from_str(&json).expect("JSON")
}

/// Every `$ref` in `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn every_ref_resolves() {
    let doc = document();
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external ref {r}"));
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }
}

#[test]
fn documents_exactly_the_api_routes() {
    let doc = document();
    let paths: BTreeSet<&str> = doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .map(String::as_str)
        .collect();
    let expected: BTreeSet<&str> = [
        "/scan",
        "/users",
        "/users/{user}",
        "/services",
        "/services/{service}",
        "/parameters",
        "/events/{eventID}",
        "/stats",
        "/courses",
        "/courses/{id}",
        "/courses/{id}/progress",
        "/courses/{id}/students/{user}",
        "/courses/{id}/timeline",
        "/alerts",
        "/alerts/{id}",
        "/resources",
        "/resources/{type}/{id}",
        "/health",
        "/metrics",
        "/openapi.json",
    ]
    .into_iter()
    .collect();
    assert_eq!(paths, expected);
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let app = TestApp::fixture().await;
    // A resource (SPEC §11): a bucket created.
    let mut bucket = ctt_store::conformance::record(
        "bucket-1",
        "2018-03-08T10:00:00Z",
        "alucloud001",
        "s3",
        "CreateBucket",
    );
    bucket["requestParameters"]["bucketName"] = serde_json::json!("fixture-bucket");
    app.load("bucket.json.gz", vec![bucket]).await;
    let doc = document();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        assert!(item.get("get").is_some(), "{path} is a GET");
        let path = path
            .replace("/alerts/{id}", "/alerts/fixture-rule:id-01")
            .replace(
                "/resources/{type}/{id}",
                "/resources/s3:bucket/fixture-bucket",
            );
        let uri = path
            .replace("{user}", "alucloud001")
            .replace("{service}", "ec2")
            .replace("{eventID}", "id-01")
            .replace("{id}", "fixture-course");
        let uri = if path == "/stats" {
            format!("{uri}?group_by=day")
        } else {
            uri
        };
        let response = app.get(&uri).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{uri}: {}",
            response.text()
        );
    }
}

#[tokio::test]
async fn the_served_document_is_the_generated_one() {
    let app = TestApp::fixture().await;
    assert_eq!(app.json("/openapi.json").await, document());
}

fn query_parameters(doc: &Value, path: &str) -> Vec<(String, Value)> {
    doc["paths"][path]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter(|p| p["in"] == "query")
        .map(|p| (p["name"].as_str().expect("name").to_owned(), p.clone()))
        .collect()
}

/// A valid value for each documented parameter.
fn sample(name: &str) -> Vec<(String, String)> {
    let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    match name {
        "from" => vec![pair("from", "2018-01-01")],
        "to" => vec![pair("to", "2018-01-02")],
        "eventName" => vec![pair("eventName", "RunInstances")],
        "begin_with" => vec![pair("eventName", "Run"), pair("begin_with", "true")],
        "param" | "value" => vec![pair("param", "awsRegion"), pair("value", "us-east-1")],
        "params" | "values" => vec![pair("params", "awsRegion"), pair("values", "us-east-1")],
        "count" => vec![pair("count", "true")],
        "limit" => vec![pair("limit", "10")],
        "cursor" => vec![pair("cursor", "MTUxNDc2NDgwMDppZA")],
        "format" => vec![pair("format", "csv")],
        "group_by" => vec![pair("group_by", "day")],
        other => panic!("no sample for documented parameter `{other}`"),
    }
}

#[test]
fn every_documented_parameter_is_accepted_by_the_parser() {
    let doc = document();
    let now = Utc::now();
    for path in ["/scan", "/users/{user}", "/services/{service}"] {
        let documented = query_parameters(&doc, path);
        let names: Vec<&str> = documented.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "from",
                "to",
                "eventName",
                "begin_with",
                "param",
                "value",
                "params",
                "values",
                "count",
                "limit",
                "cursor",
                "format"
            ],
            "{path}"
        );
        for (name, _) in &documented {
            let parsed = RequestParams::parse(&sample(name), Scope::All, RouteKind::Events, now);
            assert!(parsed.is_ok(), "{path} {name}: {parsed:?}");
        }
    }
    for (name, spec) in query_parameters(&doc, "/stats") {
        let mut pairs = sample(&name);
        if name != "group_by" {
            pairs.extend(sample("group_by"));
        } else {
            assert_eq!(spec["required"], true, "group_by is required");
        }
        let parsed = RequestParams::parse(&pairs, Scope::All, RouteKind::Stats, now);
        assert!(parsed.is_ok(), "/stats {name}: {parsed:?}");
    }
}

#[test]
fn health_is_the_only_route_without_credentials() {
    let doc = document();
    assert_eq!(doc["security"], serde_json::json!([{"bearer": []}]));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let own = &item["get"]["security"];
        if path == "/health" {
            assert_eq!(own, &serde_json::json!([{}]), "{path}");
        } else {
            assert!(own.is_null(), "{path} inherits the bearer requirement");
        }
    }
}
