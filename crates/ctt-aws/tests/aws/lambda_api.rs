//! The API Lambda's handler with API Gateway v2 (HTTP API) payloads: the same
//! bodies as the router `ctt serve` runs, roles from JWT authorizer claims or
//! from bearer JWTs it verifies itself (a test issuer on 127.0.0.1), and no
//! route making DynamoDB `Scan` a call.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use ctt_aws::DynamoStore;
use ctt_aws::lambda::api::{ApiAuth, ApiHandler, settings_from_lookup};
use ctt_ingest::pipeline::process_file;
use ctt_ingest::source::classify;
use ctt_ingest::{IngestOptions, LocalSource, SourceFile};
use ctt_server::auth::ClaimMapping;
use ctt_server::auth::testing::TestIssuer;
use ctt_server::{AppState, ServerConfig};
use ctt_store::EventStore;
use http_body_util::BodyExt;
use lambda_http::lambda_runtime::{Context, LambdaEvent};
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Service};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::fresh_store;

/// A DynamoDB store holding the original's sample log (18 events, 1 June 2017).
async fn sample_store() -> DynamoStore {
    let store = fresh_store().await;
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/grycap-cloudtrail-tracker/sample-cloudtrail-event.json");
    let key = path.display().to_string();
    let file = SourceFile {
        kind: classify(&key),
        size: 0,
        version: "v1".into(),
        key,
    };
    let indexed = store.indexed_parameters().to_vec();
    let loaded = process_file(
        &LocalSource,
        &file,
        &IngestOptions::default(),
        &indexed,
        &mut Default::default(),
    );
    let counts = store.load(vec![loaded]).await.expect("load");
    assert_eq!(counts[0].stored, 18);
    store
}

/// An HTTP API (payload 2.0) event for `GET path?query`, with these JWT claims.
fn http_api_event(path: &str, query: &str, claims: Option<Value>) -> Value {
    let mut context = json!({
        "accountId": "974349055189", "apiId": "a1b2c3", "domainName": "a1b2c3.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": "a1b2c3", "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1",
        "sourceIp": "192.0.2.1", "userAgent": "curl/8"}, "requestId": "r-1", "routeKey": "$default",
        "stage": "$default", "time": "01/Jun/2017:22:00:00 +0000", "timeEpoch": 1496354400000u64
    });
    if let Some(claims) = claims {
        context["authorizer"] = json!({"jwt": {"claims": claims, "scopes": null}});
    }
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": {"accept": "application/json", "host": "a1b2c3.execute-api.us-east-1.amazonaws.com",
                    "authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.the-jwt-the-gateway-checked.sig"},
        "requestContext": context, "isBase64Encoded": false
    })
}

/// `event` with `Authorization: Bearer TOKEN`, or without the header.
fn with_bearer(mut event: Value, token: Option<&str>) -> Value {
    match token {
        Some(token) => event["headers"]["authorization"] = json!(format!("Bearer {token}")),
        None => {
            event["headers"]
                .as_object_mut()
                .map(|h| h.remove("authorization"));
        }
    }
    event
}

/// Invokes the function as the Lambda runtime would: payload in, response JSON out.
async fn invoke(handler: &ApiHandler, event: Value) -> Value {
    let request: LambdaRequest = serde_json::from_value(event).expect("an API Gateway v2 event");
    let mut adapter = Adapter::from(handler.clone().service());
    let response = adapter
        .call(LambdaEvent::new(request, Context::default()))
        .await
        .unwrap_or_else(|never| match never {});
    serde_json::to_value(response).expect("a Lambda response")
}

/// What the router answers directly, as `ctt serve` would (open access).
async fn direct(store: &DynamoStore, uri: &str) -> (u16, String) {
    let router = ctt_server::router(AppState::new(Arc::new(store.clone())));
    let response = router
        .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
        .await
        .unwrap_or_else(|never| match never {});
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn viewer() -> Option<Value> {
    Some(json!({"cognito:groups": "[viewer]", "cognito:username": "teacher", "sub": "7d3f"}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_as_the_router_does_without_a_scan() {
    let store = sample_store().await;
    let handler = ApiHandler::new(
        Arc::new(store.clone()),
        ApiAuth::Authorizer(ClaimMapping::default()),
        ServerConfig::default(),
    )
    .expect("handler");
    let day = "from=2017-06-01&to=2017-06-01";
    // Resources as they stood at a fixed time (`at` is now by default).
    let at = "at=2017-06-30T00:00:00Z";
    // A course (SPEC §10): one requirement of a service, one of any service.
    let course = "id = \"lab\"\nname = \"Lab\"\nfrom = \"2017-06-01\"\nto = \"2017-06-30\"\n\
                  students = [\"alucloud171\", \"grycap-aws\"]\n[[lab]]\nid = \"ec2\"\n\
                  requires = [{ event = \"ec2:RunInstances\" }, { event = \"CreateTags\" }]\n";
    store
        .put_course(ctt_store::StoredCourse {
            id: "lab".into(),
            source: course.into(),
            added_at: chrono::Utc::now(),
        })
        .await
        .expect("a course");
    store.reset_usage();
    for (path, query) in [
        ("/scan", day.to_owned()),
        ("/scan", format!("{day}&count=true")),
        ("/scan", format!("{day}&limit=5")),
        ("/scan", format!("{day}&format=csv")),
        ("/scan", format!("{day}&eventName=Put&begin_with=true")),
        ("/scan", format!("{day}&param=instanceType&value=t2.micro")),
        ("/users", String::new()),
        ("/users/alucloud171", day.to_owned()),
        ("/services", String::new()),
        ("/services/autoscaling", day.to_owned()),
        ("/parameters", String::new()),
        ("/stats", format!("{day}&group_by=user")),
        ("/stats", format!("{day}&group_by=hour")),
        ("/courses", String::new()),
        ("/courses/lab", String::new()),
        ("/courses/lab/progress", String::new()),
        ("/courses/lab/progress", "format=csv".to_owned()),
        ("/courses/lab/students/alucloud171", String::new()),
        ("/courses/lab/timeline", String::new()),
        ("/resources", at.to_owned()),
        ("/resources", format!("state=open&format=csv&{at}")),
        ("/resources", format!("user=alucloud171&{at}")),
        ("/scan", "from=yesterday".to_owned()),
        ("/nowhere", String::new()),
    ] {
        let uri = if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        };
        let answer = invoke(&handler, http_api_event(path, &query, viewer())).await;
        let (status, body) = direct(&store, &uri).await;
        assert_eq!(answer["statusCode"], json!(status), "{uri}: {answer}");
        assert_eq!(answer["body"], json!(body), "{uri}");
        assert_eq!(answer["isBase64Encoded"], json!(false), "{uri}");
        if query.contains("limit=5") {
            let link = answer["headers"]["link"].as_str().unwrap_or_default();
            assert!(link.contains("rel=\"next\""), "{answer}");
        }
    }
    let page: Value = {
        let answer = invoke(&handler, http_api_event("/scan", day, viewer())).await;
        serde_json::from_str(answer["body"].as_str().unwrap_or_default()).expect("JSON body")
    };
    let ids: BTreeSet<&str> = page
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["eventID"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids.len(), 18);
    let id = ids.iter().next().copied().unwrap_or_default();
    let detail = invoke(
        &handler,
        http_api_event(&format!("/events/{id}"), "", viewer()),
    )
    .await;
    assert_eq!(detail["statusCode"], json!(200), "{detail}");
    // SPEC §11 on DynamoDB: the sample's RunInstances and
    // CreateAutoScalingGroup are resources the ingest wrote touches for.
    let resources = invoke(&handler, http_api_event("/resources", at, viewer())).await;
    assert_eq!(resources["statusCode"], json!(200), "{resources}");
    let listed: Value =
        serde_json::from_str(resources["body"].as_str().unwrap_or_default()).expect("JSON body");
    let types: BTreeSet<&str> = listed
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["type"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        types.contains("ec2:instance") && types.contains("autoscaling:group"),
        "{listed}"
    );
    for path in ["/health", "/metrics", "/openapi.json"] {
        let answer = invoke(&handler, http_api_event(path, "", viewer())).await;
        assert_eq!(answer["statusCode"], json!(200), "{path}: {answer}");
    }
    let usage = store.usage();
    assert_eq!(usage.calls("Scan"), 0, "{usage:?}");
    assert!(usage.calls("Query") > 0, "{usage:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_come_from_the_authorizer_claims() {
    let store = sample_store().await;
    let handler = ApiHandler::new(
        Arc::new(store.clone()),
        ApiAuth::Authorizer(ClaimMapping::default()),
        ServerConfig::default(),
    )
    .expect("handler");
    let count = "from=2017-06-01&to=2017-06-01&count=true";
    let answer = |claims: Option<Value>, path: &'static str, query: &'static str| {
        let handler = handler.clone();
        async move { invoke(&handler, http_api_event(path, query, claims)).await }
    };
    assert_eq!(answer(viewer(), "/scan", count).await["body"], json!("18"));
    let student = Some(json!({"cognito:groups": "[self]", "cognito:username": "alucloud171"}));
    assert_eq!(
        answer(student.clone(), "/scan", count).await["body"],
        json!("6"),
        "self sees its own"
    );
    let other = answer(student.clone(), "/users/grycap-aws", count).await;
    assert_ne!(
        other["body"],
        json!("3"),
        "never another user's events: {other}"
    );
    let metrics = answer(student, "/metrics", "").await;
    assert_eq!(metrics["statusCode"], json!(403), "{metrics}");
    // No claims (no authorizer ran): the JWT header is not trusted.
    let anonymous = answer(None, "/scan", count).await;
    assert_eq!(anonymous["statusCode"], json!(401), "{anonymous}");
    let refused = answer(Some(json!({"cognito:groups": "[self]"})), "/scan", count).await;
    assert_eq!(
        refused["statusCode"],
        json!(401),
        "self without a user: {refused}"
    );
    assert_eq!(answer(None, "/health", "").await["statusCode"], json!(200));

    // `CTT_AUTH=none`: the settings the function builds from its environment
    // (any `Host`: API Gateway names the function, not a browser on loopback).
    let (auth, config) =
        settings_from_lookup(|name| (name == "CTT_AUTH").then(|| "none".to_owned()))
            .expect("settings");
    assert_eq!(auth, ApiAuth::Open);
    let open = ApiHandler::new(Arc::new(store), auth, config).expect("handler");
    let answer = invoke(&open, http_api_event("/scan", count, None)).await;
    assert_eq!(answer["body"], json!("18"), "no authorizer: open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_authorizer_the_function_verifies_bearer_jwts() {
    let store = sample_store().await;
    let issuer = TestIssuer::start().await;
    let handler = ApiHandler::new(
        Arc::new(store),
        ApiAuth::Verify(issuer.config()),
        ServerConfig::default(),
    )
    .expect("handler");
    let count = "from=2017-06-01&to=2017-06-01&count=true";
    let answer = |token: Option<String>, claims: Option<Value>| {
        let handler = handler.clone();
        async move {
            let event = with_bearer(http_api_event("/scan", count, claims), token.as_deref());
            invoke(&handler, event).await
        }
    };
    let teacher = issuer.token(&["viewer"], "teacher");
    assert_eq!(answer(Some(teacher), None).await["body"], json!("18"));
    let student = issuer.token(&["self"], "alucloud171");
    assert_eq!(
        answer(Some(student.clone()), None).await["body"],
        json!("6"),
        "self sees its own"
    );
    // The student's token with its claims rewritten to admin: refused.
    let parts: Vec<&str> = student.split('.').collect();
    let admin = issuer.claims(&["admin"], "alucloud171");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        ctt_server::auth::testing::b64(admin.to_string().as_bytes()),
        parts[2]
    );
    let refused = answer(Some(forged), None).await;
    assert_eq!(refused["statusCode"], json!(401), "{refused}");
    let anonymous = answer(None, None).await;
    assert_eq!(anonymous["statusCode"], json!(401), "{anonymous}");
    // A route behind an authorizer still has its claims used.
    assert_eq!(answer(None, viewer()).await["body"], json!("18"));
}
