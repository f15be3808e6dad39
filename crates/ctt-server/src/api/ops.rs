//! Routes for operators: `/health` (no credentials), `/metrics` (Prometheus),
//! `/openapi.json` (this API's description).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use ctt_core::time::format_event_time;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::query::no_parameters;
use crate::error::ErrorBody;
use crate::{ApiError, AppState, Identity, ScopedStore, metrics};

/// What `/health` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HealthBody {
    /// `ok`.
    pub status: String,
    /// Events stored.
    pub events: u64,
    pub files_loaded: u64,
    pub files_failed: u64,
    /// When the latest log file was loaded (`YYYY-MM-DDTHH:MM:SSZ`).
    pub last_file_loaded_at: Option<String>,
    /// The latest stored eventTime.
    pub last_event_time: Option<String>,
    /// This server's version.
    pub version: String,
    /// What the recorded verifications of CloudTrail's digests found (SPEC §14).
    #[serde(default)]
    pub integrity: IntegrityBody,
    /// The notification outbox (SPEC §12), when the store keeps one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications: Option<NotificationsBody>,
}

/// Deliveries of alerts to the configured destinations, by state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NotificationsBody {
    /// Waiting for their first attempt or a retry.
    pub pending: u64,
    pub sent: u64,
    /// Given up after the last attempt.
    pub failed: u64,
    /// Alerts not sent: their event was older than `notify_max_age`.
    pub too_old: u64,
}

/// Counts of `/health`'s integrity: no file names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IntegrityBody {
    /// When a verification was last recorded (`ctt verify --record`, `ctt
    /// ingest --verify`), and how many loaded log files it covered.
    pub last_verified_at: Option<String>,
    pub last_verified_files: u64,
    /// Loaded log files whose latest verdict is not `valid`, by status.
    pub not_valid: std::collections::BTreeMap<String, u64>,
    /// Events that came from those files.
    pub events_marked: u64,
}

impl From<&ctt_store::IntegritySummary> for IntegrityBody {
    fn from(summary: &ctt_store::IntegritySummary) -> Self {
        let mut not_valid = std::collections::BTreeMap::new();
        for file in &summary.flagged {
            *not_valid.entry(file.status.clone()).or_insert(0) += 1;
        }
        IntegrityBody {
            last_verified_at: summary.last_recorded_at.map(format_event_time),
            last_verified_files: summary.last_recorded_files,
            not_valid,
            events_marked: summary.events_marked(),
        }
    }
}

/// Whether the server can read its store; no credentials needed.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    security(()),
    responses(
        (status = 200, description = "The store answers", body = HealthBody),
        (status = 503, description = "The store cannot be read", body = ErrorBody),
    )
)]
pub async fn health(State(state): State<AppState>) -> Result<Json<HealthBody>, ApiError> {
    let (status, integrity, outbox) = tokio::try_join!(
        state.store.health(),
        state.store.integrity(),
        state.store.outbox_counts()
    )
    .map_err(ApiError::Unavailable)?;
    Ok(Json(HealthBody {
        status: "ok".to_owned(),
        events: status.events,
        files_loaded: status.files_loaded,
        files_failed: status.files_failed,
        last_file_loaded_at: status.last_file_at.map(format_event_time),
        last_event_time: status.last_event_time.map(format_event_time),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        integrity: IntegrityBody::from(&integrity),
        notifications: outbox.map(|c| NotificationsBody {
            pending: c.pending,
            sent: c.sent,
            failed: c.failed,
            too_old: c.too_old,
        }),
    }))
}

/// Prometheus metrics: requests and latency by route and status, events
/// stored, last file loaded. Roles admin and viewer.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text", body = String),
        (status = 401, description = "Credentials are needed or not valid", body = ErrorBody),
        (status = 403, description = "Role `self` may not read metrics", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is logged", body = ErrorBody),
    )
)]
pub async fn metrics(
    State(state): State<AppState>,
    store: ScopedStore,
    uri: Uri,
) -> Result<Response, ApiError> {
    store.identity().require_operator()?;
    no_parameters(uri.query())?;
    let status = store.status().await?;
    let text = state.metrics.render(&status);
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(metrics::CONTENT_TYPE),
        )],
        text,
    )
        .into_response())
}

/// The OpenAPI document, rendered once when the router is built.
#[derive(Clone)]
pub struct OpenApiJson(pub Arc<str>);

/// This API's OpenAPI 3 document (browse it at `/docs`).
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses(
        (status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object),
        (status = 401, description = "Credentials are needed or not valid", body = ErrorBody),
    )
)]
pub async fn openapi_json(Extension(doc): Extension<OpenApiJson>, _identity: Identity) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        doc.0.to_string(),
    )
        .into_response()
}
