//! Signing in to the portal with an API token: the session cookie, signing
//! out, cross-site POSTs, revoked tokens, and the API taking the cookie.

use axum::http::StatusCode;
use ctt_store::{Role, TokenStore};

use crate::support::{HOST, MARCH, ORIGIN, Portal};

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

    // Behind a TLS proxy the server is told so (`trust_forwarded_proto`).
    portal.state.config.trust_forwarded_proto = true;
    let over_tls = portal
        .send(
            "POST",
            "/login",
            &[
                ("host", HOST),
                ("origin", "https://portal.test:8080"),
                ("x-forwarded-proto", "https"),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            &format!("token={token}"),
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

/// `next` values that must not lead off this server's portal (issue 13): each
/// would reach another host, a script, or a non-portal path once a browser
/// parsed it (WHATWG: tab and newline dropped, `\` read as `/`).
const ATTACKS: &[&str] = &[
    "//evil.com",
    "/\\evil.com",
    "/%09/evil.com",
    "/\t/evil.com",
    "/\n/evil.com",
    "\\/evil.com",
    "https://evil.com",
    "javascript:alert(document.cookie)",
    "/%2F%2Fevil.com",
    "///evil.com",
    "/ui/../..//evil.com",
    "/ui/%2e%2e/%2e%2e//evil.com",
    "/ui\\..\\..\\/\\evil.com",
    "http://portal.test:8080@evil.com/ui/",
    "/logout",
];

fn form_encoded(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[tokio::test]
async fn after_sign_in_only_portal_pages_are_followed() {
    let mut portal = Portal::fixture().await;
    let token = portal.token("teacher", Role::Viewer, None).await;
    let cases = ATTACKS.iter().map(|attack| (*attack, "/ui/")).chain([
        ("/ui/events?x=1", "/ui/events?x=1"),
        ("/ui/users/alucloud001", "/ui/users/alucloud001"),
    ]);
    for (next, expected) in cases {
        let encoded = form_encoded(next);
        let form = portal.get(&format!("/login?next={encoded}")).await;
        assert_eq!(
            form.attribute_after("name=\"next\"", "value").as_deref(),
            Some(expected),
            "the form's hidden field for {next:?}"
        );
        let answer = portal
            .post_form("/login", &format!("token={token}&next={encoded}"), &[])
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(answer.header("location"), Some(expected), "{next:?}");
    }
}

#[tokio::test]
async fn signing_in_again_ends_the_previous_session() {
    let mut portal = Portal::fixture().await;
    let token = portal.token("teacher", Role::Viewer, None).await;
    let first = portal.sign_in(&token).await;
    let cookie = format!("ctt_session={first}");
    let again = portal
        .post_form("/login", &format!("token={token}"), &[("cookie", &cookie)])
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.text());
    let second = again.session_cookie().expect("a new session");
    assert_ne!(second, first, "a new id at each sign-in");
    assert_eq!(
        portal.get_as("/ui/", &first).await.status,
        StatusCode::SEE_OTHER,
        "the old cookie opens no page"
    );
    assert_eq!(
        portal.get_as("/scan", &first).await.status,
        StatusCode::UNAUTHORIZED,
        "nor the API"
    );
    assert_eq!(portal.get_as("/ui/", &second).await.status, StatusCode::OK);
    assert_eq!(portal.state.sessions.len(), 1);
}

/// A sign-in POST from `origin`, with `X-Forwarded-Proto: proto` if given.
async fn sign_in_from(
    portal: &Portal,
    token: &str,
    origin: &str,
    proto: Option<&str>,
) -> StatusCode {
    let mut headers = vec![
        ("host", HOST),
        ("origin", origin),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    headers.extend(proto.map(|p| ("x-forwarded-proto", p)));
    let form = format!("token={token}");
    portal.send("POST", "/login", &headers, &form).await.status
}

#[tokio::test]
async fn the_origin_must_have_this_servers_scheme() {
    let mut portal = Portal::fixture().await;
    let token = portal.token("teacher", Role::Viewer, None).await;
    let https = "https://portal.test:8080";
    // Plain HTTP (no proxy trusted): only `http://host` is this origin, and a
    // client's `X-Forwarded-Proto` changes nothing.
    for (origin, proto, status) in [
        (ORIGIN, None, StatusCode::SEE_OTHER),
        (https, None, StatusCode::FORBIDDEN),
        (https, Some("https"), StatusCode::FORBIDDEN),
    ] {
        assert_eq!(
            sign_in_from(&portal, &token, origin, proto).await,
            status,
            "{origin} {proto:?}"
        );
    }
    // Behind a trusted TLS proxy, which says which scheme the browser used.
    portal.state.config.trust_forwarded_proto = true;
    for (origin, proto, status) in [
        (https, Some("https"), StatusCode::SEE_OTHER),
        (ORIGIN, Some("https"), StatusCode::FORBIDDEN),
        (ORIGIN, Some("http"), StatusCode::SEE_OTHER),
        (https, Some("http"), StatusCode::FORBIDDEN),
    ] {
        assert_eq!(
            sign_in_from(&portal, &token, origin, proto).await,
            status,
            "trusted proxy: {origin} {proto:?}"
        );
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
