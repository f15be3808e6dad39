//! Access control (SPEC §7): tokens, the roles admin, viewer and self, 401/403.

use axum::http::StatusCode;
use ctt_server::AuthConfig;
use ctt_store::{Role, TokenStore};

use crate::support::{TestApp, bearer};

const MARCH: &str = "from=2018-03-01&to=2018-03-31";

/// Every route but `/health`, with a valid query each.
fn protected_uris() -> Vec<String> {
    vec![
        format!("/scan?{MARCH}"),
        "/users".into(),
        format!("/users/alucloud001?{MARCH}"),
        "/services".into(),
        format!("/services/ec2?{MARCH}"),
        "/parameters".into(),
        "/events/id-01".into(),
        format!("/stats?group_by=user&{MARCH}"),
        "/metrics".into(),
        "/openapi.json".into(),
        "/docs/".into(),
        "/no-such-route".into(),
    ]
}

#[tokio::test]
async fn without_tokens_everyone_is_admin() {
    let app = TestApp::fixture().await;
    for uri in protected_uris() {
        let response = app.get(&uri).await;
        let expected = if uri == "/no-such-route" {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::OK
        };
        assert_eq!(response.status, expected, "{uri}: {}", response.text());
        let with_header = app
            .get_with(&uri, &[("authorization", "Bearer ctt_from_elsewhere")])
            .await;
        assert_eq!(with_header.status, expected, "{uri}: a header is ignored");
    }
}

#[tokio::test]
async fn once_a_token_exists_every_route_but_health_needs_it() {
    let mut app = TestApp::fixture().await;
    let token = app.token("teacher", Role::Viewer, None).await;
    let (name, value) = bearer(&token);
    for uri in protected_uris() {
        let missing = app.get(&uri).await;
        assert_eq!(missing.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(missing.header("www-authenticate"), Some("Bearer"), "{uri}");
        assert_eq!(missing.json()["error"], "unauthorized", "{uri}");

        for wrong in [
            "Bearer ctt_0000".to_owned(),
            format!("Bearer {token}x"),
            format!("Basic {token}"),
            token.clone(),
        ] {
            let response = app.get_with(&uri, &[("authorization", &wrong)]).await;
            assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{uri} {wrong}");
            assert_eq!(
                response.header("www-authenticate"),
                Some("Bearer error=\"invalid_token\""),
                "{uri}"
            );
        }

        let allowed = app.get_with(&uri, &[(name, &value)]).await;
        let expected = if uri == "/no-such-route" {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::OK
        };
        assert_eq!(allowed.status, expected, "{uri}: {}", allowed.text());
    }
    let health = app.get("/health").await;
    assert_eq!(health.status, StatusCode::OK, "/health needs no token");
}

#[tokio::test]
async fn admin_and_viewer_see_everything() {
    let mut app = TestApp::fixture().await;
    let admin = app.token("admin", Role::Admin, None).await;
    let viewer = app.token("viewer", Role::Viewer, Some("alucloud001")).await;
    for token in [admin, viewer] {
        let (name, value) = bearer(&token);
        let count = app
            .get_with(&format!("/scan?{MARCH}&count=true"), &[(name, &value)])
            .await;
        assert_eq!(count.json(), 30);
        let users = app.get_with("/users", &[(name, &value)]).await;
        assert_eq!(users.json().as_array().map(Vec::len), Some(3));
        let other = app.get_with("/events/id-00", &[(name, &value)]).await;
        assert_eq!(other.status, StatusCode::OK);
        let metrics = app.get_with("/metrics", &[(name, &value)]).await;
        assert_eq!(metrics.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn role_self_sees_only_its_own_user() {
    let mut app = TestApp::fixture().await;
    let token = app
        .token("student", Role::OwnUser, Some("alucloud001"))
        .await;
    let (name, value) = bearer(&token);
    let auth = [(name, value.as_str())];
    let get = |uri: String| {
        let app = &app;
        async move { app.get_with(&uri, &auth).await }
    };

    let events = get(format!("/scan?{MARCH}")).await.json();
    let events = events.as_array().expect("list").clone();
    assert_eq!(events.len(), 10);
    assert!(events.iter().all(|e| e["user"] == "alucloud001"));
    assert_eq!(get(format!("/scan?{MARCH}&count=true")).await.json(), 10);
    assert_eq!(
        get(format!("/services/ec2?{MARCH}&count=true"))
            .await
            .json(),
        8
    );
    assert_eq!(
        get(format!("/users/alucloud001?{MARCH}&count=true"))
            .await
            .json(),
        10
    );

    // Other users: not listed, no events, no details, no stats.
    assert_eq!(
        get("/users".into()).await.json(),
        serde_json::json!(["alucloud001"])
    );
    assert_eq!(
        get(format!("/users/alucloud002?{MARCH}")).await.json(),
        serde_json::json!([])
    );
    assert_eq!(
        get(format!("/users/alucloud002?{MARCH}&count=true"))
            .await
            .json(),
        0
    );
    assert_eq!(get("/events/id-01".into()).await.status, StatusCode::OK);
    let hidden = get("/events/id-00".into()).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    assert_eq!(
        hidden.json()["detail"],
        "no event `id-00`",
        "as if it did not exist"
    );
    let stats = get(format!("/stats?group_by=user&{MARCH}")).await.json();
    assert_eq!(
        stats,
        serde_json::json!([{"key": "alucloud001", "count": 10}])
    );
    let export = get(format!("/scan?{MARCH}&format=ndjson")).await.text();
    assert_eq!(export.lines().count(), 10);
    assert!(!export.contains("alucloud000") && !export.contains("alucloud002"));
    let csv = get(format!("/scan?{MARCH}&format=csv")).await.text();
    assert!(!csv.contains("alucloud000") && !csv.contains("alucloud002"));

    // The catalogs of services and parameters are not personal.
    assert_eq!(
        get("/services".into()).await.json(),
        serde_json::json!(["ec2", "lambda"])
    );
    assert_eq!(get("/parameters".into()).await.status, StatusCode::OK);

    // Operators' metrics are not for students.
    let metrics = get("/metrics".into()).await;
    assert_eq!(metrics.status, StatusCode::FORBIDDEN);
    assert_eq!(metrics.json()["error"], "forbidden");
}

#[tokio::test]
async fn a_revoked_token_is_refused() {
    let mut app = TestApp::fixture().await;
    let keep = app.token("keep", Role::Viewer, None).await;
    let token = app.token("leaver", Role::Viewer, None).await;
    let (name, value) = bearer(&token);
    assert_eq!(
        app.get_with("/users", &[(name, &value)]).await.status,
        StatusCode::OK
    );
    assert!(app.store.revoke_token("leaver").await.expect("revoke"));
    assert_eq!(
        app.get_with("/users", &[(name, &value)]).await.status,
        StatusCode::UNAUTHORIZED
    );
    let (name, value) = bearer(&keep);
    assert_eq!(
        app.get_with("/users", &[(name, &value)]).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn required_credentials_stay_required_without_any_token() {
    let mut app = TestApp::fixture().await;
    app.state.auth = AuthConfig::tokens(app.store.clone()).require_credentials();
    assert_eq!(app.get("/users").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/health").await.status, StatusCode::OK);
}
