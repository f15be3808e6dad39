//! The event routes: `/scan`, `/users/{user}`, `/services/{service}` (the
//! original's), `/events/{eventID}` and `/stats`.
//!
//! One function, [`answer`], serves the three lists: parse the query string
//! with `RequestParams::parse`, narrow it to the caller's [`Identity`], then
//! answer a count, a page (with the next page's URL in a `Link` header), or a
//! streamed export.

use axum::Json;
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use ctt_core::query::{Format, RequestParams, RouteKind};
use ctt_core::{EventSummary, Scope};
use ctt_store::PageLayout;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::query::{EventParams, PathParam, StatsParams, next_page_query, no_parameters, pairs};
use crate::error::ErrorBody;
use crate::{ApiError, AppState, ScopedStore};
use axum::extract::State;

/// A list of events, or (`count=true`) how many there are.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum EventsAnswer {
    /// Events sorted by `eventTime`, then `eventID`.
    Events(Vec<EventSummary>),
    /// The number of matching events.
    Count(u64),
}

/// One event with its whole record (secrets redacted).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventDetailBody {
    #[serde(flatten)]
    pub summary: EventSummary,
    /// The CloudTrail record as AWS wrote it, with secrets replaced by `REDACTED`.
    #[schema(value_type = Object)]
    pub record: serde_json::Value,
}

/// A group of `/stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatsGroup {
    /// The user, service, eventName, region or errorCode (`""` when absent); for
    /// `hour` and `day`, the start of the period (`YYYY-MM-DDTHH:MM:SSZ`).
    pub key: String,
    pub count: u64,
}

/// Answers an event list route.
async fn answer(
    state: &AppState,
    store: &ScopedStore,
    scope: Scope,
    uri: &Uri,
) -> Result<Response, ApiError> {
    let pairs = pairs(uri.query());
    let request = RequestParams::parse(&pairs, scope, RouteKind::Events, state.now())?;
    if request.count {
        let n = store.count(&request.query).await?;
        return Ok(Json(EventsAnswer::Count(n)).into_response());
    }
    if request.format != Format::Json {
        return Ok(store.export(&request.query, request.cursor, request.format));
    }
    // Serialised by the store, straight from its rows (same JSON as EventsAnswer).
    let page = store
        .events_written(
            &request.query,
            request.limit,
            request.cursor.as_ref(),
            PageLayout::Array,
        )
        .await?;
    let next = page.next.clone();
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        page.bytes,
    )
        .into_response();
    if let Some(next) = next {
        let link = format!(
            "<{}?{}>; rel=\"next\"",
            uri.path(),
            next_page_query(&pairs, &next)
        );
        let link = HeaderValue::try_from(link)
            .map_err(|e| ApiError::internal("cannot write the Link header", e))?;
        response.headers_mut().insert(header::LINK, link);
    }
    Ok(response)
}

/// Events of all users and services.
#[utoipa::path(
    get,
    path = "/scan",
    tag = "events",
    params(EventParams),
    responses(
        (status = 200, description = "Events sorted by eventTime then eventID (one page; the next page's URL is in `Link`), a bare count with `count=true`, or the whole result as NDJSON/CSV with `format`",
            headers(("Link" = String, description = "`</scan?…&cursor=…>; rel=\"next\"` when more events follow")),
            content(
                (EventsAnswer = "application/json"),
                (String = "application/x-ndjson"),
                (String = "text/csv"),
            )),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = ErrorBody),
        (status = 401, description = "Credentials are needed or not valid", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is logged", body = ErrorBody),
    )
)]
pub async fn scan(
    State(state): State<AppState>,
    store: ScopedStore,
    uri: Uri,
) -> Result<Response, ApiError> {
    answer(&state, &store, Scope::All, &uri).await
}

/// Events of one user (the resolved `user` of SPEC §3). Unknown user: `[]`.
#[utoipa::path(
    get,
    path = "/users/{user}",
    tag = "events",
    params(("user" = String, Path, description = "A user as listed by `/users`"), EventParams),
    responses(
        (status = 200, description = "As for `/scan`; `[]` for a user never seen (or not visible to role `self`)",
            headers(("Link" = String, description = "The next page's URL, when more events follow")),
            content(
                (EventsAnswer = "application/json"),
                (String = "application/x-ndjson"),
                (String = "text/csv"),
            )),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = ErrorBody),
        (status = 401, description = "Credentials are needed or not valid", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is logged", body = ErrorBody),
    )
)]
pub async fn user_events(
    State(state): State<AppState>,
    store: ScopedStore,
    PathParam(user): PathParam<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    answer(&state, &store, Scope::User(user), &uri).await
}

/// Events of one service (`ec2`, `s3`, …: `eventSource` up to its first dot).
/// Unknown service: `[]`.
#[utoipa::path(
    get,
    path = "/services/{service}",
    tag = "events",
    params(("service" = String, Path, description = "A service as listed by `/services`"), EventParams),
    responses(
        (status = 200, description = "As for `/scan`; `[]` for a service never seen",
            headers(("Link" = String, description = "The next page's URL, when more events follow")),
            content(
                (EventsAnswer = "application/json"),
                (String = "application/x-ndjson"),
                (String = "text/csv"),
            )),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = ErrorBody),
        (status = 401, description = "Credentials are needed or not valid", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is logged", body = ErrorBody),
    )
)]
pub async fn service_events(
    State(state): State<AppState>,
    store: ScopedStore,
    PathParam(service): PathParam<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    answer(&state, &store, Scope::Service(service), &uri).await
}

/// One event with its whole (redacted) record.
#[utoipa::path(
    get,
    path = "/events/{eventID}",
    tag = "events",
    params(("eventID" = String, Path, description = "The event's eventID")),
    responses(
        (status = 200, description = "The event", body = EventDetailBody),
        (status = 400, description = "A query parameter was given (this route takes none)", body = ErrorBody),
        (status = 401, description = "Credentials are needed or not valid", body = ErrorBody),
        (status = 404, description = "No such event (or not visible to role `self`)", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is logged", body = ErrorBody),
    )
)]
pub async fn event_detail(
    store: ScopedStore,
    PathParam(event_id): PathParam<String>,
    uri: Uri,
) -> Result<Json<EventDetailBody>, ApiError> {
    no_parameters(uri.query())?;
    match store.event(&event_id).await? {
        Some(detail) => Ok(Json(EventDetailBody {
            summary: detail.summary,
            record: detail.record,
        })),
        None => Err(ApiError::NotFound(format!("no event `{event_id}`"))),
    }
}

/// Matching events counted by group, for charts.
#[utoipa::path(
    get,
    path = "/stats",
    tag = "events",
    params(StatsParams),
    responses(
        (status = 200, description = "Groups, largest first (for `hour`/`day`: in time order); their counts add up to `/scan?count=true` with the same filters (within `limit` groups)", body = Vec<StatsGroup>),
        (status = 400, description = "A parameter is invalid or `group_by` is missing; `parameter` names it", body = ErrorBody),
        (status = 401, description = "Credentials are needed or not valid", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is logged", body = ErrorBody),
    )
)]
pub async fn stats(
    State(state): State<AppState>,
    store: ScopedStore,
    uri: Uri,
) -> Result<Json<Vec<StatsGroup>>, ApiError> {
    let pairs = pairs(uri.query());
    let request = RequestParams::parse(&pairs, Scope::All, RouteKind::Stats, state.now())?;
    let Some(group_by) = request.group_by else {
        return Err(ctt_core::query::QueryError::new("group_by", "is required").into());
    };
    let groups = store.stats(&request.query, group_by, request.limit).await?;
    Ok(Json(
        groups
            .into_iter()
            .map(|g| StatsGroup {
                key: g.key,
                count: g.count,
            })
            .collect(),
    ))
}
