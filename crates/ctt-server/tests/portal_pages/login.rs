//! Signing in to the portal with an API token: the session cookie, signing
//! out, cross-site POSTs, revoked tokens, and the API taking the cookie.

use axum::http::StatusCode;
use ctt_store::{Role, TokenStore};

use crate::support::{MARCH, Portal};

#[tokio::test]
async fn with_tokens_pages_send_the_browser_to_sign_in() {
    let mut portal = Portal::fixture().await;
    portal.token("teacher", Role::Viewer, None).await;
    let answer = portal.get(&format!("/ui/users?{MARCH}")).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let location = answer.header("location").expect("a redirect");
    assert!(
        location.starts_with("/login?next=%2Fui%2Fusers%3Ffrom%3D"),
        "{location}"
    );
    let form = portal.get(location).await.page("sign-in form");
    assert!(form.contains("<label for=\"token\">API token</label>"));
    assert!(form.contains("type=\"password\""));
    assert!(
        form.contains("name=\"next\" value=\"/ui/users?from="),
        "{form}"
    );
    assert!(!form.contains("Sign out"));
    let api = portal.get("/scan").await;
    assert_eq!(
        api.status,
        StatusCode::UNAUTHORIZED,
        "the API still answers 401"
    );
}

#[tokio::test]
async fn signing_in_sets_a_strict_http_only_session_cookie() {
    let mut portal = Portal::fixture().await;
    let token = portal.token("teacher", Role::Viewer, None).await;
    let answer = portal
        .post_form("/login", &format!("token={token}&next=%2Fui%2Fevents"), &[])
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text());
    assert_eq!(answer.header("location"), Some("/ui/events"));
    let cookie = answer.header("set-cookie").expect("a cookie");
    let session = answer.session_cookie().expect("ctt_session");
    assert_eq!(session.len(), 64, "a random id");
    assert!(!cookie.contains(&token), "the token is not in the cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(cookie.contains(flag), "{flag}: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");

    let over_tls = portal
        .post_form(
            "/login",
            &format!("token={token}"),
            &[("x-forwarded-proto", "https")],
        )
        .await;
    let cookie = over_tls.header("set-cookie").expect("a cookie");
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    assert_eq!(over_tls.header("location"), Some("/ui/"));

    let page = portal
        .get_as(&format!("/ui/?{MARCH}"), &session)
        .await
        .page("dashboard, signed in");
    assert!(
        page.contains("Signed in: <strong>teacher</strong> (viewer)"),
        "{page}"
    );
    assert!(page.contains("action=\"/logout\""));
    let count = portal
        .get_as(&format!("/scan?{MARCH}&count=true"), &session)
        .await;
    assert_eq!(
        count.status,
        StatusCode::OK,
        "the API takes the cookie (downloads)"
    );
    assert_eq!(count.json(), 33);
}

#[tokio::test]
async fn a_wrong_token_is_refused_without_a_cookie() {
    let mut portal = Portal::fixture().await;
    let token = portal.token("teacher", Role::Viewer, None).await;
    for form in [
        format!("token={token}x"),
        "token=".to_owned(),
        "token=ctt_0000".to_owned(),
    ] {
        let answer = portal.post_form("/login", &form, &[]).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{form}");
        assert_eq!(answer.header("set-cookie"), None);
        assert!(answer.text().contains("This token is not valid"));
    }
    let garbage = portal.get_as("/ui/", "not-a-session").await;
    assert_eq!(garbage.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let mut portal = Portal::fixture().await;
    let token = portal.token("teacher", Role::Admin, None).await;
    let session = portal.sign_in(&token).await;
    let cookie = format!("ctt_session={session}");
    let answer = portal
        .post_form("/logout", "", &[("cookie", &cookie)])
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.header("location"), Some("/login?signed_out=1"));
    let notice = portal.get("/login?signed_out=1").await.page("signed out");
    assert!(notice.contains("You are signed out."), "{notice}");
    let cleared = answer.header("set-cookie").expect("clears the cookie");
    assert!(cleared.starts_with("ctt_session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let after = portal.get_as("/ui/", &session).await;
    assert_eq!(
        after.status,
        StatusCode::SEE_OTHER,
        "the old cookie is dead"
    );
    let api = portal.get_as("/scan", &session).await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
    assert!(portal.state.sessions.is_empty());
}

#[tokio::test]
async fn posts_from_other_sites_are_refused() {
    let mut portal = Portal::fixture().await;
    let token = portal.token("teacher", Role::Viewer, None).await;
    let session = portal.sign_in(&token).await;
    let cookie = format!("ctt_session={session}");
    let form = format!("token={token}");
    for headers in [
        vec![
            ("host", "portal.test:8080"),
            ("origin", "http://evil.example"),
        ],
        vec![("host", "portal.test:8080")],
        vec![
            ("host", "portal.test:8080"),
            ("referer", "http://evil.example/x"),
        ],
    ] {
        let mut with_cookie = headers.clone();
        with_cookie.push(("cookie", &cookie));
        with_cookie.push(("content-type", "application/x-www-form-urlencoded"));
        let login = portal.send("POST", "/login", &with_cookie, &form).await;
        assert_eq!(login.status, StatusCode::FORBIDDEN, "{headers:?}");
        assert_eq!(login.header("set-cookie"), None);
        let logout = portal.send("POST", "/logout", &with_cookie, "").await;
        assert_eq!(logout.status, StatusCode::FORBIDDEN, "{headers:?}");
    }
    let still = portal.get_as("/ui/", &session).await;
    assert_eq!(still.status, StatusCode::OK, "the session survived");
}

#[tokio::test]
async fn after_sign_in_only_local_paths_are_followed() {
    let mut portal = Portal::fixture().await;
    let token = portal.token("teacher", Role::Viewer, None).await;
    for next in [
        "%2F%2Fevil.example%2F",
        "https%3A%2F%2Fevil.example",
        "%2Flogout",
    ] {
        let answer = portal
            .post_form("/login", &format!("token={token}&next={next}"), &[])
            .await;
        assert_eq!(answer.header("location"), Some("/ui/"), "{next}");
    }
}

#[tokio::test]
async fn revoking_the_token_ends_its_sessions() {
    let mut portal = Portal::fixture().await;
    let token = portal.token("student", Role::Viewer, None).await;
    let session = portal.sign_in(&token).await;
    assert_eq!(portal.get_as("/ui/", &session).await.status, StatusCode::OK);
    portal.token("teacher", Role::Admin, None).await;
    assert!(portal.store.revoke_token("student").await.expect("revoke"));
    let after = portal.get_as("/ui/", &session).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn an_open_server_needs_no_sign_in() {
    let portal = Portal::fixture().await;
    let page = portal.get("/ui/").await.page("dashboard, open");
    assert!(page.contains("Open access"));
    assert!(!page.contains("Sign out"));
    let login = portal.get("/login").await.page("login, open");
    assert!(login.contains("No sign-in needed"));
    let post = portal.post_form("/login", "token=anything", &[]).await;
    assert_eq!(post.status, StatusCode::SEE_OTHER);
    assert_eq!(post.header("set-cookie"), None);
}
