//! The web portal (SPEC §6): server-rendered HTML pages under `/ui/`, served
//! by the same router as the API.
//!
//! - [`dashboard`]: a period's totals, charts, notable counters, latest events.
//! - [`catalog`]: users and services — searchable lists, a page for each.
//! - [`events`]: the filter form with every API filter, pages, exports, and an
//!   event's whole record.
//! - [`courses`]: courses (SPEC §10) — the class of a course, a student's page.
//! - [`session`]: `/login` and `/logout` (a session cookie, when tokens exist).
//! - [`chart`] and [`json`]: inline SVG charts and collapsible JSON, drawn here.
//! - [`filters`]: portal URLs ⇄ the API's query strings.
//!
//! Every number is asked of the viewer's [`ScopedStore`] (through [`Ask`]),
//! with the same `EventQuery` as the API handlers build: the portal shows
//! what the API answers, narrowed the same way. Pages carry a Content-Security-Policy that allows only this
//! server's stylesheet and script, no inline code.

pub mod alerts;
pub mod catalog;
pub mod chart;
pub mod courses;
pub mod dashboard;
pub mod error;
pub mod events;
pub mod filters;
pub mod json;
pub mod layout;
pub mod resources;
pub mod session;

use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get, post};
use ctt_core::query::Cursor;
use ctt_core::{EventQuery, EventSummary, GroupBy};
use ctt_store::{EventPage, GroupCount};

use crate::access::Marks;
use maud::{Markup, html};

use crate::{ApiError, AppState, Identity, ScopedStore};
pub use error::WebError;
use layout::{Section, Shell, Who};

/// The Content-Security-Policy of every portal response.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
    frame-ancestors 'none'; form-action 'self'";

const STYLESHEET: &str = include_str!("../../static/portal.css");
const SCRIPT: &str = include_str!("../../static/portal.js");
/// The portal's icon (named by every page, so browsers don't ask for
/// `/favicon.ico` and log a 404).
const ICON: &str = include_str!("../../static/favicon.svg");

/// The portal's pages: each path and its handler. [`routes`] serves exactly
/// these behind sign-in, and tests walk [`page_paths`], so a new page is
/// covered by the access tests without editing them.
fn pages() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/ui", get(dashboard::page)),
        ("/ui/", get(dashboard::page)),
        ("/ui/users", get(catalog::users_page)),
        ("/ui/users/{user}", get(catalog::user_page)),
        ("/ui/services", get(catalog::services_page)),
        ("/ui/services/{service}", get(catalog::service_page)),
        ("/ui/events", get(events::list_page)),
        ("/ui/events/{event_id}", get(events::detail_page)),
        ("/ui/alerts", get(alerts::list_page)),
        ("/ui/alerts/{id}", get(alerts::detail_page)),
        ("/ui/resources", get(resources::list_page)),
        ("/ui/courses", get(courses::list_page)),
        ("/ui/courses/{id}", get(courses::course_page)),
        (
            "/ui/courses/{id}/students/{user}",
            get(courses::student_page),
        ),
        ("/ui/{*rest}", get(not_found_page)),
    ]
}

/// `path`, with `pairs` as its query string (none when empty).
pub fn with_query(path: &str, pairs: &[(String, String)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        out.append_pair(k, v);
    }
    let query = out.finish();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// The paths of the portal's pages (with their `{parameters}`), as routed.
pub fn page_paths() -> Vec<&'static str> {
    pages().into_iter().map(|(path, _)| path).collect()
}

/// The portal's routes, with their layers: sign-in for pages, security headers
/// on every response.
pub fn routes(state: AppState) -> Router {
    let pages = pages()
        .into_iter()
        .fold(Router::new(), |router, (path, page)| {
            router.route(path, page)
        })
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_login,
        ));
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/static/portal.css", get(stylesheet))
        .route("/static/portal.js", get(script))
        .route("/static/favicon.svg", get(icon))
        .merge(pages)
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// Whether `path` is one of the portal's (its errors are HTML pages; every
/// other path is the API's, whose errors are JSON).
pub fn is_portal_path(path: &str) -> bool {
    let under = |prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    path == "/" || under("/ui") || under("/login") || under("/logout") || under("/static")
}

/// CSP, `nosniff`, `same-origin` referrers; pages are not cached (they hold
/// data a signed-out browser must not show again).
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", STYLESHEET)
}

async fn icon() -> Response {
    asset("image/svg+xml", ICON)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// Middleware: who is looking (a session cookie or a Bearer header, or anyone
/// when access is open); otherwise off to `/login`, coming back here after.
async fn require_login(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    match crate::auth::identify_request(&state, request.headers(), request.extensions()).await {
        Ok(identity) => {
            if let Some(name) = &identity.name {
                tracing::Span::current().record("token", name.as_str());
            }
            request.extensions_mut().insert(Viewer {
                identity: identity.clone(),
                store: state.store.scoped(&identity),
            });
            request.extensions_mut().insert(identity);
            next.run(request).await
        }
        Err(ApiError::Unauthorized { .. }) => {
            let here = request
                .uri()
                .path_and_query()
                .map_or("/ui/", |p| p.as_str());
            Redirect::to(&filters::url("/login", &[("next", here.to_owned())])).into_response()
        }
        Err(error) => WebError::from(error).into_response(),
    }
}

async fn not_found_page(viewer: Viewer, uri: Uri) -> Response {
    viewer.respond(Err(WebError::NotFound(format!(
        "There is no page {}.",
        uri.path()
    ))))
}

/// The person looking at a page: their identity, as resolved for the API,
/// and the store as they may see it (the only way pages reach the store).
#[derive(Clone)]
pub struct Viewer {
    pub identity: Identity,
    pub store: ScopedStore,
}

impl<S: Send + Sync> FromRequestParts<S> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Viewer>()
            .cloned()
            .ok_or_else(|| Redirect::to("/login").into_response())
    }
}

/// A page's content, before the shell goes around it.
pub struct Page {
    pub title: String,
    pub section: Option<Section>,
    pub body: Markup,
    pub status: StatusCode,
}

impl Page {
    pub fn new(title: impl Into<String>, section: Section, body: Markup) -> Self {
        Self {
            title: title.into(),
            section: Some(section),
            body,
            status: StatusCode::OK,
        }
    }
}

impl Viewer {
    fn who(&self) -> Who {
        match &self.identity.name {
            None => Who::Open,
            Some(name) => Who::SignedIn {
                name: name.clone(),
                role: self.identity.role,
                user: self.identity.user.clone(),
            },
        }
    }

    /// Whether this viewer sees every user (not role `self`).
    pub fn sees_everyone(&self) -> bool {
        self.identity.only_user().is_none()
    }

    /// Renders a page, or the error, in the shell.
    pub fn respond(&self, result: Result<Page, WebError>) -> Response {
        let (shell, body, status) = match result {
            Ok(page) => (
                Shell {
                    title: page.title,
                    section: page.section,
                    who: self.who(),
                },
                page.body,
                page.status,
            ),
            Err(error) => (
                Shell {
                    title: error.title().to_owned(),
                    section: None,
                    who: self.who(),
                },
                error.body(),
                error.status(),
            ),
        };
        let mut response = layout::page(&shell, body).into_response();
        *response.status_mut() = status;
        response
    }
}

/// The store, asked on behalf of a viewer: the viewer's [`ScopedStore`]
/// (every query narrowed to what the viewer may see, as for the API), with
/// the portal's error type.
pub struct Ask<'a> {
    store: &'a ScopedStore,
}

impl<'a> Ask<'a> {
    pub fn new(viewer: &'a Viewer) -> Self {
        Self {
            store: &viewer.store,
        }
    }

    /// Which of `events` came from a log file that is not valid.
    pub async fn marks(&self, events: &[EventSummary]) -> Result<Marks, WebError> {
        Ok(self.store.integrity_marks(events).await?)
    }

    /// `count=true`.
    pub async fn count(&self, query: &EventQuery) -> Result<u64, WebError> {
        Ok(self.store.count(query).await?)
    }

    /// `/stats?group_by=…&limit=…`.
    pub async fn stats(
        &self,
        query: &EventQuery,
        group_by: GroupBy,
        limit: u32,
    ) -> Result<Vec<GroupCount>, WebError> {
        Ok(self.store.stats(query, group_by, limit).await?)
    }

    /// One page, as the event routes answer it.
    pub async fn page(
        &self,
        query: &EventQuery,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<EventPage, WebError> {
        Ok(self.store.events(query, limit, cursor).await?)
    }

    /// The `n` latest events of `query` (which holds `total`), newest first.
    pub async fn latest(
        &self,
        query: &EventQuery,
        total: u64,
        n: u32,
    ) -> Result<Vec<EventSummary>, WebError> {
        Ok(self.store.latest(query, total, n).await?)
    }
}

/// A "see the API" line: the API URL answering the same question.
pub fn api_note(href: &str, what: &str) -> Markup {
    html! {
        p.api-note { "The same from the API: " a href=(href) { code { (what) } } }
    }
}
