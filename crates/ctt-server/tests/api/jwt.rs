//! JWTs of an OIDC issuer (SPEC §7): tokens signed by a test issuer whose JWKS
//! is served on 127.0.0.1 (`ctt_server::auth::testing`), accepted as `viewer`
//! and `self`, and every forgery refused.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use ctt_server::AuthConfig;
use ctt_server::auth::testing::{TEST_AUDIENCE, TestIssuer, TestKey, b64};
use ctt_server::auth::{JwksPolicy, Jwt, JwtConfig};
use ctt_store::Role;
use serde_json::{Value, json};

use crate::support::{TestApp, bearer};

const MARCH: &str = "from=2018-03-01&to=2018-03-31";

/// The fixture, accepting API tokens and the issuer's JWTs for `config`.
async fn app_accepting(config: JwtConfig, policy: JwksPolicy) -> TestApp {
    let mut app = TestApp::fixture().await;
    let jwt = Jwt::with_policy(config, policy).expect("a valid JWT configuration");
    app.state.auth = AuthConfig::tokens(app.store.clone())
        .refresh_every(Duration::ZERO)
        .with_authenticator(Arc::new(jwt));
    app
}

async fn status(app: &TestApp, uri: &str, token: &str) -> StatusCode {
    let (name, value) = bearer(token);
    app.get_with(uri, &[(name, &value)]).await.status
}

async fn json(app: &TestApp, uri: &str, token: &str) -> Value {
    let (name, value) = bearer(token);
    let response = app.get_with(uri, &[(name, &value)]).await;
    assert_eq!(
        response.status,
        StatusCode::OK,
        "{uri}: {}",
        response.text()
    );
    response.json()
}

#[tokio::test]
async fn a_viewer_jwt_reads_everything_a_viewer_may() {
    let issuer = TestIssuer::start().await;
    let mut app = app_accepting(issuer.config(), JwksPolicy::default()).await;
    // Configured JWTs close the server even though no API token exists.
    assert_eq!(app.get("/users").await.status, StatusCode::UNAUTHORIZED);

    let rs256 = issuer.token(&["viewer"], "teacher");
    let es256 = issuer.ec().sign(&issuer.claims(&["Viewer"], "teacher"));
    for token in [&rs256, &es256] {
        assert_eq!(
            json(&app, &format!("/scan?{MARCH}&count=true"), token).await,
            30
        );
        let users = json(&app, "/users", token).await;
        assert_eq!(users.as_array().map(Vec::len), Some(3));
        assert_eq!(status(&app, "/events/id-00", token).await, StatusCode::OK);
        assert_eq!(status(&app, "/metrics", token).await, StatusCode::OK);
    }
    // A Cognito access token: `client_id` instead of `aud`.
    let mut access = issuer.claims(&["viewer"], "teacher");
    access["token_use"] = json!("access");
    access["client_id"] = json!(TEST_AUDIENCE);
    access.as_object_mut().map(|c| c.remove("aud"));
    let access = issuer.rsa().sign(&access);
    assert_eq!(status(&app, "/users", &access).await, StatusCode::OK);

    // API tokens still work beside JWTs.
    let token = app.token("ops", Role::Admin, None).await;
    assert_eq!(status(&app, "/users", &token).await, StatusCode::OK);
    assert_eq!(issuer.fetches(), 1, "the JWKS is fetched once and kept");
}

#[tokio::test]
async fn a_self_jwt_sees_only_its_own_user() {
    let issuer = TestIssuer::start().await;
    let app = app_accepting(issuer.config(), JwksPolicy::default()).await;
    let token = issuer.token(&["self"], "alucloud001");
    assert_eq!(
        json(&app, &format!("/scan?{MARCH}&count=true"), &token).await,
        10
    );
    let events = json(&app, &format!("/scan?{MARCH}"), &token).await;
    let events = events.as_array().expect("a list");
    assert!(events.iter().all(|e| e["user"] == "alucloud001"));
    assert_eq!(json(&app, "/users", &token).await, json!(["alucloud001"]));
    assert_eq!(
        json(
            &app,
            &format!("/users/alucloud002?{MARCH}&count=true"),
            &token
        )
        .await,
        0
    );
    assert_eq!(
        status(&app, "/events/id-00", &token).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status(&app, "/metrics", &token).await,
        StatusCode::FORBIDDEN
    );

    // In no group: the default role, `self`, for its username.
    let ungrouped = issuer.token(&[], "alucloud002");
    assert_eq!(
        json(&app, "/users", &ungrouped).await,
        json!(["alucloud002"])
    );
    // `self` without a username would see nothing: refused.
    let mut nameless = issuer.claims(&["self"], "x");
    nameless
        .as_object_mut()
        .map(|c| c.remove("cognito:username"));
    let nameless = issuer.rsa().sign(&nameless);
    assert_eq!(
        status(&app, "/users", &nameless).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn expired_foreign_and_forged_jwts_are_refused() {
    let issuer = TestIssuer::start().await;
    let app = app_accepting(issuer.config(), JwksPolicy::default()).await;
    let valid = issuer.claims(&["viewer"], "teacher");
    let rsa = issuer.rsa();
    let with = |changes: Value| {
        let mut claims = valid.clone();
        for (name, value) in changes.as_object().expect("an object") {
            claims[name] = value.clone();
        }
        claims
    };
    let now = valid["iat"].as_u64().expect("iat");
    assert_eq!(
        status(&app, "/users", &rsa.sign(&valid)).await,
        StatusCode::OK
    );

    let impostor = TestKey::rsa(rsa.kid());
    let stranger = TestKey::rsa("not-in-the-jwks");
    let alg_none = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT"}).to_string().as_bytes()),
        b64(valid.to_string().as_bytes())
    );
    let tampered = {
        let student = rsa.sign(&issuer.claims(&["self"], "alucloud001"));
        let parts: Vec<&str> = student.split('.').collect();
        let admin = issuer.claims(&["admin"], "alucloud001");
        format!(
            "{}.{}.{}",
            parts[0],
            b64(admin.to_string().as_bytes()),
            parts[2]
        )
    };
    let mut no_exp = valid.clone();
    no_exp.as_object_mut().map(|c| c.remove("exp"));

    for (case, token) in [
        (
            "expired",
            rsa.sign(&with(json!({"exp": now - 600, "iat": now - 4200}))),
        ),
        ("no exp", rsa.sign(&no_exp)),
        ("not yet valid", rsa.sign(&with(json!({"nbf": now + 600})))),
        (
            "wrong issuer",
            rsa.sign(&with(json!({"iss": "https://issuer.example"}))),
        ),
        (
            "issuer with a trailing slash",
            rsa.sign(&with(json!({"iss": format!("{}/", issuer.url())}))),
        ),
        (
            "wrong audience",
            rsa.sign(&with(json!({"aud": "other-app"}))),
        ),
        (
            "wrong client_id",
            rsa.sign(&with(json!({"aud": null, "client_id": "other-app"}))),
        ),
        ("another key, same kid", impostor.sign(&valid)),
        ("another key, unknown kid", stranger.sign(&valid)),
        ("alg none", alg_none),
        ("tampered payload", tampered),
        (
            "HS256 with the public key as secret",
            rsa.forge_hs256(&valid),
        ),
        (
            "RS256 key, ES256 header",
            rsa.sign_with_header(&json!({"alg": "ES256", "kid": rsa.kid()}), &valid),
        ),
        ("garbage", "eyJhbGciOi.eyJzdWIi.c2ln".to_owned()),
    ] {
        let (name, value) = bearer(&token);
        let response = app.get_with("/users", &[(name, &value)]).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{case}");
        assert_eq!(
            response.header("www-authenticate"),
            Some("Bearer error=\"invalid_token\""),
            "{case}"
        );
    }
    // The first request fetched the JWKS; the unknown kid may fetch it once
    // more, but only after the minimum interval: not here.
    assert_eq!(issuer.fetches(), 1);
    for _ in 0..3 {
        assert_eq!(
            status(&app, "/users", &stranger.sign(&valid)).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        issuer.fetches(),
        1,
        "made-up key ids do not hammer the issuer"
    );
}

#[tokio::test]
async fn a_rotated_key_is_fetched_when_a_token_names_it() {
    let issuer = TestIssuer::start().await;
    let policy = JwksPolicy {
        min_interval: Duration::ZERO,
        ..JwksPolicy::default()
    };
    let app = app_accepting(issuer.config(), policy).await;
    let viewer = issuer.token(&["viewer"], "teacher");
    assert_eq!(status(&app, "/users", &viewer).await, StatusCode::OK);
    let rotated = TestKey::rsa("test-rsa-2");
    let token = rotated.sign(&issuer.claims(&["viewer"], "teacher"));
    assert_eq!(
        status(&app, "/users", &token).await,
        StatusCode::UNAUTHORIZED,
        "not served yet"
    );
    issuer.serve(&rotated);
    assert_eq!(status(&app, "/users", &token).await, StatusCode::OK);
    assert_eq!(issuer.fetches(), 3);
    assert_eq!(status(&app, "/users", &viewer).await, StatusCode::OK);
    assert_eq!(issuer.fetches(), 3, "known keys need no fetch");
}

#[tokio::test]
async fn an_unreachable_issuer_is_a_503_not_a_401() {
    let issuer = TestIssuer::start().await;
    // A port nothing listens on.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = closed.local_addr().expect("address").port();
    drop(closed);
    let mut config = issuer.config();
    config.jwks_url = Some(format!("http://127.0.0.1:{port}/jwks.json"));
    let app = app_accepting(config, JwksPolicy::default()).await;
    let (name, value) = bearer(&issuer.token(&["viewer"], "teacher"));
    let response = app.get_with("/users", &[(name, &value)]).await;
    assert_eq!(
        response.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        response.text()
    );
    assert_eq!(response.json()["error"], "unavailable");
    // An API-token-shaped credential is not a JWT: no fetch, a plain 401.
    let (name, value) = bearer("ctt_0000");
    let response = app.get_with("/users", &[(name, &value)]).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
}
