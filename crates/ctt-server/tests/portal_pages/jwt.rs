//! Signing in to the portal with a JWT (SPEC §7): a test issuer's token pasted
//! into the sign-in form opens a session as `viewer` or `self`, which ends when
//! the JWT does; a Bearer JWT works on pages too.

use std::sync::Arc;

use axum::http::StatusCode;
use ctt_server::AuthConfig;
use ctt_server::auth::Jwt;
use ctt_server::auth::testing::TestIssuer;

use crate::support::{MARCH, Portal};

/// The fixture, accepting API tokens and the issuer's JWTs.
async fn portal_accepting(issuer: &TestIssuer) -> Portal {
    let mut portal = Portal::fixture().await;
    let jwt = Jwt::new(issuer.config()).expect("a valid JWT configuration");
    portal.state.auth = AuthConfig::tokens(portal.store.clone()).with_authenticator(Arc::new(jwt));
    portal
}

/// The sign-in form with `token` (a JWT's characters need no escaping).
fn form(token: &str) -> String {
    format!("token={token}&next=%2Fui%2F")
}

#[tokio::test]
async fn a_jwt_signs_in_as_viewer_and_as_self() {
    let issuer = TestIssuer::start().await;
    let portal = portal_accepting(&issuer).await;
    let login = portal.get("/login").await.page("sign-in form");
    assert!(
        login.contains("<label for=\"token\">API token or JWT</label>"),
        "{login}"
    );

    // A viewer: every event, on pages and through the API with the cookie.
    let answer = portal
        .post_form("/login", &form(&issuer.token(&["viewer"], "teacher")), &[])
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text());
    let cookie = answer.header("set-cookie").expect("a cookie");
    let max_age: u64 = cookie
        .split("Max-Age=")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .and_then(|n| n.parse().ok())
        .expect("Max-Age");
    assert!(
        max_age <= 3600,
        "the session ends with the JWT (an hour): {cookie}"
    );
    let session = answer.session_cookie().expect("ctt_session");
    let page = portal
        .get_as(&format!("/ui/?{MARCH}"), &session)
        .await
        .page("dashboard, viewer");
    assert!(
        page.contains("Signed in: <strong>jwt:teacher</strong> (viewer, teacher)"),
        "{page}"
    );
    let count = portal
        .get_as(&format!("/scan?{MARCH}&count=true"), &session)
        .await;
    assert_eq!(count.json(), 33);

    // A student: only their own events.
    let session = portal
        .sign_in(&issuer.token(&["self"], "alucloud001"))
        .await;
    let page = portal
        .get_as(&format!("/ui/users?{MARCH}"), &session)
        .await
        .page("users, self");
    assert!(page.contains("data-name=\"alucloud001\""));
    assert!(!page.contains("alucloud002"), "{page}");
    let count = portal
        .get_as(&format!("/scan?{MARCH}&count=true"), &session)
        .await;
    assert_eq!(count.json(), 11);
    let other = portal.get_as("/ui/events/id-00", &session).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);

    // A Bearer JWT on a page, as a token would be.
    let bearer = format!("Bearer {}", issuer.token(&["self"], "alucloud001"));
    let page = portal
        .send(
            "GET",
            &format!("/ui/?{MARCH}"),
            &[("authorization", &bearer)],
            "",
        )
        .await
        .page("dashboard, Bearer JWT");
    assert!(page.contains("(self, alucloud001)"), "{page}");
}

#[tokio::test]
async fn an_expired_or_foreign_jwt_does_not_sign_in() {
    let issuer = TestIssuer::start().await;
    let portal = portal_accepting(&issuer).await;
    let mut expired = issuer.claims(&["viewer"], "teacher");
    expired["exp"] = serde_json::json!(expired["iat"].as_u64().unwrap_or(0) - 600);
    let mut foreign = issuer.claims(&["viewer"], "teacher");
    foreign["aud"] = serde_json::json!("another-app");
    for token in [issuer.rsa().sign(&expired), issuer.rsa().sign(&foreign)] {
        let answer = portal.post_form("/login", &form(&token), &[]).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.header("set-cookie"), None);
        assert!(answer.text().contains("This token is not valid"));
    }
}
