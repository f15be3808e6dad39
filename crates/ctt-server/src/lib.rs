//! `ctt-server` owns the HTTP face of CloudTrail-Tracker: the original system's
//! REST routes and the newer ones (SPEC §5), their OpenAPI document, the web
//! portal (SPEC §6, [`web`]), access control (SPEC §7) and the cross-cutting
//! layers (tracing, timeouts, compression, CORS, metrics).
//!
//! [`router`] builds an `axum::Router` from an [`AppState`]; `ctt serve` serves it
//! on a socket, tests drive it with `tower::ServiceExt::oneshot`, and a Lambda
//! can serve the same router behind API Gateway. Handlers are thin: they read
//! the query string with `ctt_core`'s one parser, ask the store, and shape the
//! answer; every failure becomes one [`ApiError`].
//!
//! ```text
//! request ─► trace ─► metrics ─► security headers ─► compression ─► error bodies
//!         ─► allowed hosts (421) ─► cors ─► timeout
//!         ─► API:    auth (Identity, 401)          ─► handler ─► ScopedStore ─► EventStore
//!         ─► portal: security headers ─► sign-in (Identity, or off to /login)
//!                                                  ─► page    ─► ScopedStore ─► EventStore
//! ```
//!
//! Handlers never hold the store itself: [`AppState::store`] only hands out a
//! [`ScopedStore`] for the caller's [`Identity`] ([`access`]), so every read is
//! narrowed to what the caller may see.
//!
//! ```text
//! ```

pub mod access;
pub mod api;
pub mod auth;
pub mod error;
pub mod host;
pub mod metrics;
pub mod web;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Utc};
use ctt_store::EventStore;
use tower_http::LatencyUnit;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

pub use access::{ScopedStore, StoreAccess};
pub use auth::{AuthConfig, Identity};
pub use error::ApiError;
pub use host::AllowedHosts;
pub use metrics::Metrics;

/// What "now" is: the end of the default period (`from`/`to` absent).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Settings of the HTTP layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// A request that has not produced its response head by then gets a 503.
    /// Streaming exports are not cut: the limit applies until the head is sent.
    pub request_timeout: Duration,
    /// Origins allowed to call the API from a browser (CORS). Empty: none.
    /// `*` allows any origin.
    pub cors_allowed_origins: Vec<String>,
    /// The `Host` names answered while access is open (DNS rebinding guard).
    pub allowed_hosts: AllowedHosts,
    /// Believe `X-Forwarded-Proto` (a TLS-terminating proxy in front sets it):
    /// it decides this server's own origin (the sign-in's `Origin` check) and
    /// the session cookie's `Secure`. Off, the scheme is the request URI's,
    /// else `http`: a client could otherwise claim any scheme.
    pub trust_forwarded_proto: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            cors_allowed_origins: Vec::new(),
            allowed_hosts: AllowedHosts::default(),
            trust_forwarded_proto: false,
        }
    }
}

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The store, reachable by handlers only as a [`ScopedStore`] (see [`access`]).
    pub store: StoreAccess,
    pub auth: AuthConfig,
    pub metrics: Arc<Metrics>,
    pub clock: Clock,
    pub config: ServerConfig,
    /// The portal's signed-in sessions (in this process's memory).
    pub sessions: Arc<web::session::Sessions>,
    /// The price table resources' estimated costs use (SPEC §11).
    pub prices: Arc<ctt_core::resources::PriceTable>,
}

impl AppState {
    /// A state over `store`, open to anyone (no credentials), with the real clock.
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self {
            store: StoreAccess::new(store),
            auth: AuthConfig::open(),
            metrics: Arc::new(Metrics::new()),
            clock: Arc::new(Utc::now),
            config: ServerConfig::default(),
            sessions: Arc::new(web::session::Sessions::default()),
            prices: Arc::new(ctt_core::resources::PriceTable::builtin()),
        }
    }

    /// Estimates costs with `prices` (the configured table).
    pub fn with_prices(mut self, prices: ctt_core::resources::PriceTable) -> Self {
        self.prices = Arc::new(prices);
        self
    }

    pub fn with_auth(mut self, auth: AuthConfig) -> Self {
        self.auth = auth;
        self
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// The current instant by this state's clock.
    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }
}

/// The whole HTTP application: every route of [`api`], `/docs`, the portal
/// ([`web`]), and the layers.
pub fn router(state: AppState) -> Router {
    let timeout = state.config.request_timeout;
    let cors = cors_layer(&state.config.cors_allowed_origins);
    api::routes(state.clone())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_identity,
        ))
        .merge(web::routes(state.clone()))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(cors)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            host::require_allowed_host,
        ))
        .layer(axum::middleware::from_fn(error::uniform_error_bodies))
        .layer(CompressionLayer::new())
        .layer(axum::middleware::from_fn(security_headers))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state.metrics),
            metrics::track,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    let route = request
                        .extensions()
                        .get::<MatchedPath>()
                        .map_or("unmatched", MatchedPath::as_str);
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        route,
                        path = request.uri().path(),
                        token = tracing::field::Empty,
                    )
                })
                .on_response(
                    DefaultOnResponse::new()
                        .level(Level::INFO)
                        .latency_unit(LatencyUnit::Micros),
                ),
        )
}

/// `nosniff` on every response, and a Content-Security-Policy on each that
/// has none yet (the portal's pages set theirs): API answers may load and
/// frame nothing; `/docs` runs Swagger UI from this server only.
async fn security_headers(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let policy = if path == "/docs" || path.starts_with("/docs/") {
        api::DOCS_CONTENT_SECURITY_POLICY
    } else if web::is_portal_path(path) {
        web::CONTENT_SECURITY_POLICY
    } else {
        api::CONTENT_SECURITY_POLICY
    };
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(policy),
        );
    }
    response
}

/// CORS closed unless origins are configured; reads only (GET), with the
/// `Authorization` header; the `Link` header is exposed for paging.
fn cors_layer(origins: &[String]) -> CorsLayer {
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect::<Vec<_>>(),
        )
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::HEAD])
        .allow_headers([axum::http::header::AUTHORIZATION])
        .expose_headers([axum::http::header::LINK])
}

/// Serves [`router`] on `listener` until `shutdown` completes, then lets the
/// requests in flight finish (graceful shutdown).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    // Without TCP_NODELAY the last part of a large answer can wait for the
    // client's delayed ACK (Nagle): tens of milliseconds on some requests.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
