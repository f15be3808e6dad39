//! [`ApiError`]: every way a request can fail, and the one `match` that turns a
//! failure into an HTTP status and a JSON body `{"error", "detail"}`.
//!
//! 4xx bodies say what is wrong (a parameter is named); 5xx bodies are generic
//! and the cause chain is logged once, here. No error is ever sent with HTTP 200,
//! and no body ever carries a stack trace or a backend message.
//!
//! A store failure is answered by its [`ErrorKind`] ([`store_answer`]): the
//! store busy (throttled after retries) or unreachable is a 503 with
//! `Retry-After`, a missing store (a DynamoDB table) a 503 naming it, anything
//! else a 500.

use axum::Json;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ctt_core::query::QueryError;
use ctt_store::{ErrorKind, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What kind of error: `invalid parameter`, `unauthorized`, `forbidden`,
    /// `not found`, `method not allowed`, `misdirected request`, `timeout`,
    /// `unavailable`, `internal error`, or (for what a layer refused before
    /// any handler ran) the status's name in lower case, e.g. `bad request`.
    pub error: String,
    /// What is wrong, for a person.
    pub detail: String,
    /// The query parameter at fault, for `invalid parameter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A query parameter (or path segment) that cannot be accepted: 400.
    #[error(transparent)]
    InvalidParameter(#[from] QueryError),
    /// No credentials, or credentials nobody issued: 401.
    #[error("unauthorized")]
    Unauthorized { token_given: bool },
    /// Known credentials that do not allow this: 403.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// No such route or resource: 404.
    #[error("not found: {0}")]
    NotFound(String),
    /// A `Host` an open server does not answer (DNS rebinding, see
    /// [`crate::host`]): 421.
    #[error("misdirected request")]
    MisdirectedHost,
    /// The store cannot answer right now (health checks): 503.
    #[error("store unavailable")]
    Unavailable(#[source] StoreError),
    /// Credentials cannot be checked right now (a JWT issuer's keys cannot be
    /// fetched): 503.
    #[error("credentials cannot be checked")]
    AuthUnavailable(#[source] crate::auth::AuthError),
    /// The store failed while answering: 503 when it is busy, unreachable or
    /// missing, else 500 ([`store_answer`]).
    #[error("store failed")]
    Store(#[source] StoreError),
    /// Anything else that is our fault: 500.
    #[error("{context}")]
    Internal {
        context: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ApiError {
    pub fn internal(
        context: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Internal {
            context,
            source: Box::new(source),
        }
    }

    /// The status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidParameter(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MisdirectedHost => StatusCode::MISDIRECTED_REQUEST,
            ApiError::Unavailable(_) | ApiError::AuthUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Store(e) => store_answer(e.kind()).status,
            ApiError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Seconds a client should wait before retrying (`Retry-After`), if waiting helps.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::Unavailable(e) | ApiError::Store(e) => store_answer(e.kind()).retry_after,
            _ => None,
        }
    }

    fn body(&self) -> ErrorBody {
        let body = |error: &str, detail: String| ErrorBody {
            error: error.to_owned(),
            detail,
            parameter: None,
        };
        match self {
            ApiError::InvalidParameter(e) => ErrorBody {
                error: "invalid parameter".to_owned(),
                detail: format!("`{}`: {}", e.parameter, e.detail),
                parameter: Some(e.parameter.clone()),
            },
            ApiError::Unauthorized { token_given: false } => body(
                "unauthorized",
                "this server needs `Authorization: Bearer TOKEN` (see `ctt token create`)".into(),
            ),
            ApiError::Unauthorized { token_given: true } => body(
                "unauthorized",
                "the bearer token is not valid (unknown, revoked, expired or not for this server)"
                    .into(),
            ),
            ApiError::Forbidden(detail) => body("forbidden", detail.clone()),
            ApiError::NotFound(detail) => body("not found", detail.clone()),
            ApiError::MisdirectedHost => body(
                "misdirected request",
                "without credentials this server answers only loopback names (localhost, \
                 127.0.0.1, [::1]) and the names in `[server] allowed_hosts`"
                    .into(),
            ),
            ApiError::Unavailable(e) | ApiError::Store(e) if e.kind() != ErrorKind::Internal => {
                let detail = match e {
                    // Names what is missing (`table ctt-events does not exist`),
                    // not how its operator makes it.
                    StoreError::Missing { what, .. } => format!("{what} does not exist"),
                    _ => store_answer(e.kind()).detail.to_owned(),
                };
                body("unavailable", detail)
            }
            ApiError::Unavailable(_) => body("unavailable", "the store cannot be read".into()),
            ApiError::AuthUnavailable(_) => body(
                "unavailable",
                "credentials cannot be checked right now (the identity provider's keys cannot \
                 be fetched); try again later"
                    .into(),
            ),
            ApiError::Store(_) | ApiError::Internal { .. } => body(
                "internal error",
                "the server could not answer this request; the cause is in its log".into(),
            ),
        }
    }
}

/// How the API answers a store failure of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreAnswer {
    pub status: StatusCode,
    /// `Retry-After`, in seconds.
    pub retry_after: Option<u64>,
    /// The body's `detail`.
    pub detail: &'static str,
}

/// The one place a store failure's kind becomes a status: what the store
/// cannot help right now (busy, unreachable, missing) is a 503 — with
/// `Retry-After` when waiting helps — and anything else a 500.
pub fn store_answer(kind: ErrorKind) -> StoreAnswer {
    let (status, retry_after, detail) = match kind {
        ErrorKind::Throttled => (
            StatusCode::SERVICE_UNAVAILABLE,
            Some(2),
            "the store is busy (its requests are being throttled); retry in a few seconds",
        ),
        ErrorKind::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            Some(5),
            "the store cannot be reached; retry in a few seconds",
        ),
        ErrorKind::Missing => (
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            "the store does not exist",
        ),
        ErrorKind::Internal => (
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "the server could not answer this request; the cause is in its log",
        ),
    };
    StoreAnswer {
        status,
        retry_after,
        detail,
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            // A `param` filter broader than a read may examine: the client
            // asked for too much, and is told how to ask for less.
            StoreError::TooBroad { .. } => {
                ApiError::InvalidParameter(QueryError::new("param", error.to_string()))
            }
            other => ApiError::Store(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!(error = %cause_chain(&self), "store unavailable");
        } else if status.is_server_error() {
            tracing::error!(error = %cause_chain(&self), "request failed");
        }
        let mut response = (status, Json(self.body())).into_response();
        if let Some(seconds) = self.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let ApiError::Unauthorized { token_given } = self {
            let challenge = if token_given {
                "Bearer error=\"invalid_token\""
            } else {
                "Bearer"
            };
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

/// `outer: inner: innermost`.
pub(crate) fn cause_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Middleware: every error response has the body of its audience. The API's
/// (every path but the portal's) is JSON `{"error", "detail"}`, the portal's
/// an HTML page. Handlers already answer so; this gives the same shape to the
/// errors made without a body (axum's 405, the timeout layer's 503) or with a
/// line of plain text (axum's rejections of a path, query or form), keeping
/// what that line says.
///
/// hyper answers a few malformed requests itself, before any layer runs, with
/// an empty body: a request line or header it cannot parse (400), a URI over
/// 64 KiB (414), more than 100 headers or a head over ~400 KiB (431).
pub async fn uniform_error_bodies(request: Request, next: Next) -> Response {
    let portal = crate::web::is_portal_path(request.uri().path());
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let json = content_type.starts_with("application/json");
    let html = content_type.starts_with("text/html");
    if (portal && html) || (!portal && json) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // What the body said, if anything: a rejection's line of text, or the
    // detail of a JSON error on a portal path.
    let said = match axum::body::to_bytes(body, MAX_REWRITTEN_BODY).await {
        Ok(bytes) if json => serde_json::from_slice::<ErrorBody>(&bytes)
            .ok()
            .map(|b| b.detail),
        Ok(bytes) => std::str::from_utf8(&bytes)
            .ok()
            .map(str::trim)
            .filter(|text| !text.is_empty())
            .map(str::to_owned),
        Err(_) => None,
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    if portal {
        let page = crate::web::error::status_page(status, said.as_deref());
        let (page_parts, page_body) = page.into_parts();
        parts.headers.extend(page_parts.headers);
        return Response::from_parts(parts, page_body);
    }
    let (error, detail) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            "method not allowed".to_owned(),
            "this API only answers GET".to_owned(),
        ),
        StatusCode::SERVICE_UNAVAILABLE => (
            "timeout".to_owned(),
            "the request took too long; narrow it (from/to) or page it (limit)".to_owned(),
        ),
        _ => (
            status
                .canonical_reason()
                .unwrap_or("error")
                .to_ascii_lowercase(),
            said.unwrap_or_else(|| "the request could not be answered".to_owned()),
        ),
    };
    let body = ErrorBody {
        error,
        detail,
        parameter: None,
    };
    let json = serde_json::to_vec(&body).unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(json))
}

/// Error bodies longer than this are not read for their text (none is).
const MAX_REWRITTEN_BODY: usize = 16 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_status() {
        let store = || StoreError::Backend("disk on fire".into());
        for (error, status) in [
            (
                ApiError::InvalidParameter(QueryError::new("from", "bad")),
                400,
            ),
            (ApiError::Unauthorized { token_given: false }, 401),
            (ApiError::Forbidden("no".into()), 403),
            (ApiError::NotFound("x".into()), 404),
            (ApiError::Unavailable(store()), 503),
            (ApiError::Store(store()), 500),
        ] {
            assert_eq!(error.status().as_u16(), status, "{error:?}");
        }
    }

    /// A store failure is answered by its kind: busy or unreachable → 503 with
    /// `Retry-After`, missing → 503 naming it, anything else → 500.
    #[tokio::test]
    async fn store_failures_are_answered_by_their_kind() {
        let cause = || -> Box<dyn std::error::Error + Send + Sync> { "secret cause /var/x".into() };
        let cases = [
            (
                StoreError::Throttled {
                    location: "dynamodb://t".into(),
                    source: cause(),
                },
                503,
                Some("2"),
                "the store is busy (its requests are being throttled); retry in a few seconds",
            ),
            (
                StoreError::Unreachable {
                    location: "dynamodb://t".into(),
                    source: cause(),
                },
                503,
                Some("5"),
                "the store cannot be reached; retry in a few seconds",
            ),
            (
                StoreError::Missing {
                    what: "table ctt-events".into(),
                    remedy: "create it with `ctt store create dynamodb://ctt-events`".into(),
                },
                503,
                None,
                "table ctt-events does not exist",
            ),
            (
                StoreError::Backend(cause()),
                500,
                None,
                "the server could not answer this request; the cause is in its log",
            ),
        ];
        for (error, status, retry_after, detail) in cases {
            let response = ApiError::Store(error).into_response();
            assert_eq!(response.status().as_u16(), status, "{detail}");
            assert_eq!(
                response
                    .headers()
                    .get(header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok()),
                retry_after,
                "{detail}"
            );
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
                .await
                .unwrap_or_default();
            let body: ErrorBody = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(body.detail, detail);
            assert!(!body.detail.contains("secret"), "{body:?}");
            let kind = if status == 503 {
                "unavailable"
            } else {
                "internal error"
            };
            assert_eq!(body.error, kind);
        }
    }

    #[test]
    fn server_errors_do_not_leak_their_cause() {
        let error = ApiError::Store(StoreError::Backend("secret path /var/x".into()));
        let body = error.body();
        assert!(!body.detail.contains("secret"), "{body:?}");
        assert!(
            cause_chain(&error).ends_with(": secret path /var/x"),
            "but the log has it: {}",
            cause_chain(&error)
        );
    }

    #[test]
    fn invalid_parameter_names_it() {
        let body = ApiError::InvalidParameter(QueryError::new("count", "`yes` is not true")).body();
        assert_eq!(body.parameter.as_deref(), Some("count"));
        assert_eq!(body.detail, "`count`: `yes` is not true");
    }
}
