//! Portal sign-in (SPEC §7): `/login` takes a credential — an API token, or a
//! JWT when an issuer is configured — checks it like the API's Bearer check,
//! and opens a server-side session; `/logout` ends it.
//!
//! - The cookie `ctt_session` holds a random session id (32 bytes), never the
//!   credential: `HttpOnly; SameSite=Strict; Path=/`, and `Secure` when the
//!   request came over TLS (an `https` request URI, or `X-Forwarded-Proto:
//!   https` when the configuration trusts a proxy). Each sign-in draws a new id
//!   and ends the session the browser came with.
//! - The server keeps `SHA-256(id) → session` in memory, never the credential.
//!   For an API token the session holds the token's hash, looked up again on
//!   every request, so revoking a token ends its sessions. For a JWT it holds
//!   the identity the JWT's claims gave, and ends when the JWT expires (or
//!   after [`SESSION_TTL`], whichever comes first): a JWT cannot be revoked,
//!   and its claims are not read again. A restart ends every session.
//! - Sign-in and sign-out are POSTs; besides the `SameSite=Strict` cookie, a POST
//!   must come from this origin (`Origin`, else `Referer`: the scheme, `Host`
//!   and port of this server), or it is refused (403): no other site can sign
//!   a browser in or out.
//! - After sign-in the browser goes to `next` only if it is one of the
//!   portal's pages, as a browser would parse it ([`safe_next`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use url::Url;

use super::layout::{self, Shell};
use crate::auth::{Authenticated, SESSION_COOKIE, hash_token};
use crate::{ApiError, AppState, Identity};

/// How long a session lasts after sign-in.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// At most this many live sessions; the oldest go first beyond it.
const MAX_SESSIONS: usize = 10_000;

/// The live sessions of this server process.
pub struct Sessions {
    ttl: Duration,
    /// SHA-256 of the session id → the session.
    by_id_hash: Mutex<HashMap<String, Session>>,
}

#[derive(Clone)]
struct Session {
    signed_in: SignedIn,
    expires: Instant,
}

/// Who a live session stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedIn {
    /// A revocable credential (an API token), by its session key (the token's
    /// hash), checked again on every request.
    Key(String),
    /// An identity that holds until the session expires (a JWT's).
    Identity(Identity),
}

impl Default for Sessions {
    fn default() -> Self {
        Self::new(SESSION_TTL)
    }
}

impl Sessions {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            by_id_hash: Mutex::new(HashMap::new()),
        }
    }

    /// Opens a session for an accepted credential; returns the session id (the
    /// cookie's value) and how long the session lasts: the TTL, or less when
    /// the credential expires sooner.
    pub fn open(&self, accepted: &Authenticated) -> Result<(String, Duration), getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let now = Instant::now();
        let lifetime = match accepted.expires_at {
            Some(at) => at
                .duration_since(std::time::SystemTime::now())
                .unwrap_or(Duration::ZERO)
                .min(self.ttl),
            None => self.ttl,
        };
        let signed_in = match &accepted.session_key {
            Some(key) => SignedIn::Key(key.clone()),
            None => SignedIn::Identity(accepted.identity.clone()),
        };
        let session = Session {
            signed_in,
            expires: now + lifetime,
        };
        if let Ok(mut map) = self.by_id_hash.lock() {
            map.retain(|_, s| s.expires > now);
            if map.len() >= MAX_SESSIONS
                && let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, s)| s.expires)
                    .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
            map.insert(hash_token(&id), session);
        }
        Ok((id, lifetime))
    }

    /// Who a live session stands for.
    pub fn signed_in(&self, id: &str) -> Option<SignedIn> {
        let map = self.by_id_hash.lock().ok()?;
        map.get(&hash_token(id))
            .filter(|s| s.expires > Instant::now())
            .map(|s| s.signed_in.clone())
    }

    /// Ends a session.
    pub fn close(&self, id: &str) {
        if let Ok(mut map) = self.by_id_hash.lock() {
            map.remove(&hash_token(id));
        }
    }

    /// How many sessions are open (expired ones included until swept).
    pub fn len(&self) -> usize {
        self.by_id_hash.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The value of the `ctt_session` cookie, if the request has one.
pub fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// The identity behind the request's session cookie, if it is a live session
/// whose credential still holds.
pub async fn cookie_identity(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Identity>, ApiError> {
    match session_id(headers).and_then(|id| state.sessions.signed_in(id)) {
        None => Ok(None),
        Some(SignedIn::Identity(identity)) => Ok(Some(identity)),
        Some(SignedIn::Key(key)) => state.auth.resume(&key).await,
    }
}

/// This server's scheme as the browser sees it: the request URI's when it has
/// one (a Lambda's `https://…`), else `X-Forwarded-Proto` if the
/// configuration trusts it (a TLS proxy in front), else `http` (`ctt serve`
/// speaks no TLS itself, and an untrusted client could claim any scheme).
fn own_scheme(state: &AppState, headers: &HeaderMap, uri: &Uri) -> &'static str {
    let https = |value: &str| value.trim().eq_ignore_ascii_case("https");
    if let Some(scheme) = uri.scheme_str() {
        return if https(scheme) { "https" } else { "http" };
    }
    let forwarded = state
        .config
        .trust_forwarded_proto
        .then(|| headers.get("x-forwarded-proto"))
        .flatten()
        .and_then(|v| v.to_str().ok())
        // The first proxy's view, if several appended theirs.
        .and_then(|v| v.split(',').next());
    if forwarded.is_some_and(https) {
        "https"
    } else {
        "http"
    }
}

fn session_cookie(value: &str, max_age: u64, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"
    ))
    .ok()
}

/// Whether a state-changing request comes from this server's own pages: its
/// `Origin` (or, without one, its `Referer`) has this server's origin — the
/// same scheme, host and port as `scheme://Host`, compared as the WHATWG URL
/// standard defines origins (default ports implied).
pub fn same_origin(headers: &HeaderMap, scheme: &str) -> bool {
    let Some(host) = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|host| crate::host::host_name(host).is_some())
    else {
        return false;
    };
    let Ok(own) = Url::parse(&format!("{scheme}://{}/", host.trim())) else {
        return false;
    };
    headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok())
        .and_then(|source| Url::parse(source).ok())
        .is_some_and(|source| own.origin().is_tuple() && source.origin() == own.origin())
}

/// Where to go after sign-in: `next` if it is a portal page (`/ui…`) of this
/// server, else the dashboard; no open redirects.
///
/// `next` is read as a browser reads a URL (the WHATWG parser of the `url`
/// crate: tabs and newlines dropped, `\` read as `/`, `.`/`..` and their
/// `%2e` spellings resolved), relative to a base on a reserved name, and kept
/// only if it stays on that base's origin, under `/ui`. The answer is the
/// parsed URL's own path and query, so the `Location` header holds exactly
/// what was checked. Backslashes are refused outright.
pub fn safe_next(next: Option<&str>) -> String {
    next.and_then(portal_path)
        .unwrap_or_else(|| "/ui/".to_owned())
}

fn portal_path(next: &str) -> Option<String> {
    if !next.starts_with('/') || next.contains('\\') {
        return None;
    }
    let base = Url::parse("http://ctt.invalid/").ok()?;
    let url = base.join(next).ok()?;
    let path = url.path();
    let portal = path == "/ui" || path.starts_with("/ui/");
    if url.origin() != base.origin()
        || !url.username().is_empty()
        || url.password().is_some()
        || !portal
    {
        return None;
    }
    Some(match url.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    })
}

/// Ends the session whose cookie the request carries, if any.
fn end_presented_session(state: &AppState, headers: &HeaderMap) {
    if let Some(id) = session_id(headers) {
        state.sessions.close(id);
    }
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    /// Set by `/logout`'s redirect, to say so.
    signed_out: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    token: String,
    next: Option<String>,
}

/// `GET /login`: the sign-in form (or, when access is open, a note saying no
/// sign-in is needed).
pub async fn login_page(
    State(state): State<AppState>,
    Query(query): Query<LoginQuery>,
) -> Result<Response, Response> {
    let open = state.auth.is_open().await.map_err(page_error)?;
    let next = safe_next(query.next.as_deref());
    let notice = query
        .signed_out
        .is_some()
        .then_some(Notice::Info("You are signed out."));
    let label = state.auth.credential_label();
    Ok(login_form(open, &label, &next, notice, StatusCode::OK))
}

/// `POST /login`: checks the credential, opens a session, sets the cookie, and
/// goes to `next`.
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<LoginForm>,
) -> Result<Response, Response> {
    if !same_origin(&headers, own_scheme(&state, &headers, &uri)) {
        return Err(forbidden_cross_site());
    }
    let next = safe_next(form.next.as_deref());
    if state.auth.is_open().await.map_err(page_error)? {
        return Ok(Redirect::to(&next).into_response());
    }
    let token = form.token.trim();
    let accepted = if token.is_empty() {
        None
    } else {
        state.auth.authenticate(token).await.map_err(page_error)?
    };
    let Some(accepted) = accepted else {
        tracing::info!("portal sign-in refused: unknown, revoked or expired credential");
        return Ok(login_form(
            false,
            &state.auth.credential_label(),
            &next,
            Some(Notice::Error(
                "This token is not valid (unknown, revoked or expired). Check it and try again.",
            )),
            StatusCode::UNAUTHORIZED,
        ));
    };
    // A new id at every sign-in, and the browser's previous session ends (no
    // session fixation: an id known before sign-in is never signed in).
    end_presented_session(&state, &headers);
    let (id, lifetime) = state
        .sessions
        .open(&accepted)
        .map_err(|e| page_error(ApiError::internal("cannot draw a session id", e)))?;
    let next = landing(&state, &accepted.identity, next).await;
    let mut response = Redirect::to(&next).into_response();
    let secure = own_scheme(&state, &headers, &uri) == "https";
    if let Some(cookie) = session_cookie(&id, lifetime.as_secs(), secure) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// Where a sign-in without a page to go back to lands: a `self` user who is a
/// student of exactly one course, on their page of it; of several, on the
/// courses; anyone else (or if courses cannot be read), on the dashboard.
async fn landing(state: &AppState, identity: &crate::Identity, next: String) -> String {
    let Some(user) = identity.only_user() else {
        return next;
    };
    if next != "/ui/" {
        return next;
    }
    match state.store.scoped(identity).courses().await {
        Ok(courses) if courses.len() == 1 => super::courses::student_url(&courses[0].id, user),
        Ok(courses) if courses.len() > 1 => "/ui/courses".to_owned(),
        _ => next,
    }
}

/// `POST /logout`: ends the session and clears the cookie.
pub async fn logout(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let scheme = own_scheme(&state, &headers, &uri);
    if !same_origin(&headers, scheme) {
        return forbidden_cross_site();
    }
    end_presented_session(&state, &headers);
    let mut response = Redirect::to("/login?signed_out=1").into_response();
    if let Some(cookie) = session_cookie("", 0, scheme == "https") {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// A line above the sign-in form.
enum Notice {
    Info(&'static str),
    Error(&'static str),
}

fn login_form(
    open: bool,
    label: &str,
    next: &str,
    notice: Option<Notice>,
    status: StatusCode,
) -> Response {
    let body = if open {
        html! {
            h1 { "No sign-in needed" }
            p { "This server is open to anyone on this machine: no API token exists. "
                "Create one with " code { "ctt token create" } " to require sign-in." }
            p { a href="/ui/" { "Go to the dashboard" } }
        }
    } else {
        html! {
            h1 { "Sign in" }
            @match notice {
                Some(Notice::Error(text)) => { p.error role="alert" { (text) } }
                Some(Notice::Info(text)) => { p.notice role="status" { (text) } }
                None => {}
            }
            form.login method="post" action="/login" {
                input type="hidden" name="next" value=(next);
                label for="token" { (label) }
                input #token type="password" name="token" required autocomplete="current-password"
                    autofocus placeholder="ctt_…" aria-describedby="token-help";
                p #token-help .help { "A token from " code { "ctt token create" }
                    @if label != "API token" { ", or a JWT from the identity provider" }
                    ". It is checked like the API's " code { "Authorization: Bearer" }
                    " header; the browser keeps only a session cookie, not the token." }
                button type="submit" { "Sign in" }
            }
        }
    };
    let mut response = layout::page(&Shell::signed_out("Sign in"), body).into_response();
    *response.status_mut() = status;
    response
}

fn forbidden_cross_site() -> Response {
    let body = html! {
        h1 { "Refused" }
        p { "This form must be sent from this server's own pages (its Origin did not match)." }
        p { a href="/login" { "Sign in again" } }
    };
    let mut response = layout::page(&Shell::signed_out("Refused"), body).into_response();
    *response.status_mut() = StatusCode::FORBIDDEN;
    response
}

fn page_error(error: ApiError) -> Response {
    super::error::WebError::from(error).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn token(hash: &str) -> Authenticated {
        Authenticated {
            identity: Identity::anonymous(),
            expires_at: None,
            session_key: Some(hash.to_owned()),
        }
    }

    #[test]
    fn session_ids_are_random_and_closable() {
        let sessions = Sessions::default();
        let (a, lifetime) = sessions.open(&token("h1")).expect("random");
        let (b, _) = sessions.open(&token("h1")).expect("random");
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(lifetime, SESSION_TTL);
        let h1 = Some(SignedIn::Key("h1".into()));
        assert_eq!(sessions.signed_in(&a), h1);
        sessions.close(&a);
        assert_eq!(sessions.signed_in(&a), None);
        assert_eq!(sessions.signed_in(&b), h1);
        assert_eq!(sessions.signed_in("guess"), None);
    }

    #[test]
    fn expired_sessions_are_not_live() {
        let sessions = Sessions::new(Duration::ZERO);
        let (id, _) = sessions.open(&token("h")).expect("random");
        assert_eq!(sessions.signed_in(&id), None);
    }

    #[test]
    fn a_jwt_session_keeps_its_identity_until_the_jwt_expires() {
        let sessions = Sessions::default();
        let identity = Identity {
            role: ctt_store::Role::OwnUser,
            user: Some("alucloud001".into()),
            name: Some("jwt:alucloud001".into()),
        };
        let jwt = |expires_in: i64| Authenticated {
            identity: identity.clone(),
            expires_at: Some(if expires_in >= 0 {
                std::time::SystemTime::now() + Duration::from_secs(expires_in.unsigned_abs())
            } else {
                std::time::SystemTime::now() - Duration::from_secs(expires_in.unsigned_abs())
            }),
            session_key: None,
        };
        let (id, lifetime) = sessions.open(&jwt(600)).expect("random");
        assert!(lifetime <= Duration::from_secs(600) && lifetime > Duration::from_secs(590));
        assert_eq!(
            sessions.signed_in(&id),
            Some(SignedIn::Identity(identity.clone()))
        );
        let (_, lifetime) = sessions.open(&jwt(30 * 24 * 3600)).expect("random");
        assert_eq!(lifetime, SESSION_TTL, "never longer than the TTL");
        let (id, lifetime) = sessions.open(&jwt(-5)).expect("random");
        assert_eq!(lifetime, Duration::ZERO);
        assert_eq!(
            sessions.signed_in(&id),
            None,
            "an expired JWT's session is dead"
        );
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let h = headers(&[("cookie", "a=1; ctt_session=abc ; b=2")]);
        assert_eq!(session_id(&h), Some("abc"));
        let h = headers(&[("cookie", "a=1"), ("cookie", "ctt_session=xyz")]);
        assert_eq!(session_id(&h), Some("xyz"));
        assert_eq!(session_id(&headers(&[("cookie", "ctt_session=")])), None);
        assert_eq!(session_id(&headers(&[])), None);
    }

    #[test]
    fn posts_must_come_from_this_origin_scheme_host_and_port() {
        for (scheme, pairs, ok) in [
            (
                "http",
                vec![
                    ("host", "127.0.0.1:8080"),
                    ("origin", "http://127.0.0.1:8080"),
                ],
                true,
            ),
            (
                "https",
                vec![
                    ("host", "portal.example"),
                    ("origin", "https://portal.example"),
                ],
                true,
            ),
            (
                "https",
                vec![
                    ("host", "portal.example"),
                    ("origin", "https://PORTAL.example:443"),
                ],
                true,
            ),
            (
                "http",
                vec![
                    ("host", "127.0.0.1:8080"),
                    ("referer", "http://127.0.0.1:8080/ui/"),
                ],
                true,
            ),
            // Another scheme is another origin.
            (
                "http",
                vec![
                    ("host", "portal.example"),
                    ("origin", "https://portal.example"),
                ],
                false,
            ),
            (
                "https",
                vec![
                    ("host", "portal.example"),
                    ("origin", "http://portal.example"),
                ],
                false,
            ),
            (
                "http",
                vec![
                    ("host", "127.0.0.1:8080"),
                    ("origin", "http://127.0.0.1:8081"),
                ],
                false,
            ),
            (
                "http",
                vec![
                    ("host", "127.0.0.1:8080"),
                    ("origin", "http://evil.example"),
                ],
                false,
            ),
            (
                "http",
                vec![
                    ("host", "127.0.0.1:8080"),
                    ("origin", "http://127.0.0.1:8080.evil.example"),
                ],
                false,
            ),
            (
                "http",
                vec![
                    ("host", "evil.example@127.0.0.1:8080"),
                    ("origin", "http://127.0.0.1:8080"),
                ],
                false,
            ),
            (
                "http",
                vec![("host", "127.0.0.1:8080"), ("origin", "null")],
                false,
            ),
            ("http", vec![("host", "127.0.0.1:8080")], false),
            ("http", vec![("origin", "http://127.0.0.1:8080")], false),
        ] {
            assert_eq!(
                same_origin(&headers(&pairs), scheme),
                ok,
                "{scheme} {pairs:?}"
            );
        }
    }

    #[test]
    fn next_is_a_portal_page_of_this_server_only() {
        for (good, kept) in [
            ("/ui/users?q=a", "/ui/users?q=a"),
            ("/ui/events?x=1", "/ui/events?x=1"),
            ("/ui", "/ui"),
            ("/ui/", "/ui/"),
            (
                "/ui/users?from=2018-03-01T00%3A00%3A00Z&param=a,b",
                "/ui/users?from=2018-03-01T00%3A00%3A00Z&param=a,b",
            ),
            // As a browser would read them: normalised, then checked.
            ("/ui/./events/../users", "/ui/users"),
            ("/ui/events?x=1#top", "/ui/events?x=1"),
            ("/ui/\tevents", "/ui/events"),
        ] {
            assert_eq!(safe_next(Some(good)), kept, "{good:?}");
        }
        for bad in [
            "//evil.example/",
            "///evil.example",
            "////evil.example",
            "https://evil.example/",
            "http://ctt.invalid/ui/",
            "/\\evil.example",
            "\\/evil.example",
            "/ui\\..\\..\\/\\evil.example",
            "/%09/evil.example",
            "/\t/evil.example",
            "\t//evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/%2F%2Fevil.example",
            "/%2f/evil.example",
            "/%5C%5Cevil.example",
            "/ui/../..//evil.example",
            "/ui/%2e%2e/%2e%2e//evil.example",
            "/ui/.%2E/.%2e//evil.example",
            "/ui.evil.example",
            "/uievil",
            "javascript:alert(1)",
            "JavaScript:alert(1)//ui/",
            "data:text/html,<script>alert(1)</script>",
            "/login",
            "/logout",
            "/scan",
            "/",
            "ui/",
            "",
            " /ui/",
        ] {
            assert_eq!(safe_next(Some(bad)), "/ui/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/ui/");
    }

    #[test]
    fn cookies_carry_their_flags() {
        let plain = session_cookie("id", 60, false).expect("valid");
        assert_eq!(
            plain,
            "ctt_session=id; HttpOnly; SameSite=Strict; Path=/; Max-Age=60"
        );
        let tls = session_cookie("id", 60, true).expect("valid");
        assert!(tls.to_str().expect("ascii").ends_with("; Secure"));
    }
}
