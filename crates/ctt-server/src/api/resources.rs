//! The resource routes (SPEC §11): `/resources` (filters, pages, CSV and
//! NDJSON exports) and `/resources/{type}/{id}` (the resource and every event
//! that touched it). Role `self` sees only what it owns. Costs are estimates.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use ctt_core::query::{Format, MAX_LIMIT, QueryError};
use ctt_core::resources::Touch;
use ctt_core::time::{Bound, format_event_time, parse_bound};
use ctt_store::resources::CSV_HEADER;
use ctt_store::{Resource, ResourceFilter, ResourceKey, ResourceQuery, StateFilter};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::query::{PathParam, next_link, pairs};
use crate::error::ErrorBody;
use crate::{ApiError, AppState, ScopedStore};

/// Resources per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 100;

/// A resource as it stood at the time asked.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceView {
    /// The catalogue's type (`ec2:instance`).
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub region: String,
    pub account: String,
    /// `running`, `stopped` or `deleted`.
    pub state: String,
    /// Who created it; null when created before the history.
    pub owner: Option<String>,
    pub created: Option<String>,
    pub deleted: Option<String>,
    pub deleted_by: Option<String>,
    /// The size its creation asked for (`t2.micro`), when known.
    pub size: Option<String>,
    pub running_hours: f64,
    /// Running hours × the price table's hourly price, in USD: an estimate,
    /// never a bill; null when the type has no price.
    pub estimated_cost: Option<f64>,
}

impl From<&Resource> for ResourceView {
    fn from(r: &Resource) -> Self {
        ResourceView {
            kind: r.kind.clone(),
            id: r.id.clone(),
            region: r.region.clone(),
            account: r.account.clone(),
            state: r.life.state.as_str().to_owned(),
            owner: r.life.owner.clone(),
            created: r.life.created.map(format_event_time),
            deleted: r.life.deleted.map(format_event_time),
            deleted_by: r.life.deleted_by.clone(),
            size: r.life.size.clone(),
            running_hours: r.running_hours,
            estimated_cost: r.estimated_cost,
        }
    }
}

/// An event's change to a resource.
#[derive(Debug, Serialize, ToSchema)]
pub struct TouchView {
    #[serde(rename = "eventID")]
    pub event_id: String,
    #[serde(rename = "eventTime")]
    pub event_time: String,
    pub user: String,
    /// `create`, `stop`, `start` or `delete`.
    pub change: String,
}

impl From<&Touch> for TouchView {
    fn from(t: &Touch) -> Self {
        TouchView {
            event_id: t.event_id.clone(),
            event_time: format_event_time(t.time),
            user: t.user.clone(),
            change: t.change.as_str().to_owned(),
        }
    }
}

/// A resource and every event that touched it, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceDetail {
    #[serde(flatten)]
    pub resource: ResourceView,
    pub events: Vec<TouchView>,
}

/// Query parameters of `/resources`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, reason = "documents the query string for OpenAPI")]
pub struct ResourceParams {
    /// Only what this user created.
    user: Option<String>,
    /// `open` (running or stopped), `running`, `stopped` or `deleted`.
    state: Option<String>,
    /// Only this type (`ec2:instance`).
    r#type: Option<String>,
    /// As they stood at this time (SPEC §5 time syntax; default now).
    at: Option<String>,
    /// Resources per page (default 100, at most 10,000); an export's total.
    limit: Option<usize>,
    /// The next page, from the `Link` header.
    cursor: Option<String>,
    /// `json` (default, paged), `ndjson` or `csv` (every match).
    format: Option<String>,
}

pub(crate) fn key(r: &Resource) -> ResourceKey {
    (
        r.kind.clone(),
        r.id.clone(),
        r.region.clone(),
        r.account.clone(),
    )
}

/// The cursor after `r`: its key as JSON (the `Link` URL escapes it).
pub(crate) fn cursor_after(r: &Resource) -> String {
    serde_json::json!(key(r)).to_string()
}

fn parse_cursor(raw: &str) -> Option<ResourceKey> {
    serde_json::from_str(raw).ok()
}

/// What `/resources` was asked (the portal's page reads the same).
pub(crate) struct ResourceRequest {
    pub filter: ResourceFilter,
    pub after: Option<ResourceKey>,
    pub format: Format,
    pub limit: Option<usize>,
}

/// Reads `/resources`' query string; anything unknown or invalid is an error
/// naming it.
pub(crate) fn request(
    pairs: &[(String, String)],
    now: DateTime<Utc>,
) -> Result<ResourceRequest, QueryError> {
    let mut filter = ResourceFilter {
        user: None,
        state: None,
        kind: None,
        at: now,
    };
    let (mut after, mut format, mut limit) = (None, Format::Json, None);
    for (name, value) in pairs {
        let bad = |why: &str| QueryError::new(name, why.to_owned());
        match name.as_str() {
            "user" => filter.user = Some(value.clone()),
            "state" => {
                filter.state = Some(
                    StateFilter::parse(value)
                        .ok_or_else(|| bad("open, running, stopped or deleted"))?,
                );
            }
            "type" => filter.kind = Some(value.clone()),
            "at" => {
                filter.at = parse_bound(value, Bound::To).map_err(|e| QueryError::new("at", e))?
            }
            "limit" => {
                let n: usize = value.parse().map_err(|_| bad("a whole number"))?;
                if n == 0 || n > MAX_LIMIT as usize {
                    return Err(bad(&format!("from 1 to {MAX_LIMIT}")));
                }
                limit = Some(n);
            }
            "cursor" => {
                after = Some(
                    parse_cursor(value).ok_or_else(|| bad("not a cursor from a Link header"))?,
                );
            }
            "format" => {
                format = value
                    .parse::<Format>()
                    .map_err(|_| bad("json, ndjson or csv"))?;
            }
            _ => {
                return Err(bad(
                    "unknown parameter: use user, state, type, at, limit, cursor, format",
                ));
            }
        }
    }
    Ok(ResourceRequest {
        filter,
        after,
        format,
        limit,
    })
}

/// Resources by type, then id: what each person created, its state, who
/// deleted it, running hours and an estimated cost (SPEC §11).
#[utoipa::path(
    get,
    path = "/resources",
    tag = "resources",
    params(ResourceParams),
    responses(
        (status = 200, description = "A page of resources (the next one in `Link`), or with `format=ndjson|csv` every match; CSV header `type,id,region,account,owner,state,created,deleted,deleted_by,running_hours,estimated_cost`",
            headers(("Link" = String, description = "`</resources?…&cursor=…>; rel=\"next\"` when more follow")),
            content(
                (Vec<ResourceView> = "application/json"),
                (String = "application/x-ndjson"),
                (String = "text/csv"),
            )),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = ErrorBody),
        (status = 401, description = "Credentials are needed or not valid", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is logged", body = ErrorBody),
    )
)]
pub async fn resources(
    State(state): State<AppState>,
    store: ScopedStore,
    uri: Uri,
) -> Result<Response, ApiError> {
    let pairs = pairs(uri.query());
    let request = request(&pairs, state.now())?;
    if request.format != Format::Json {
        let query = ResourceQuery {
            filter: request.filter,
            after: request.after,
            limit: request.limit.unwrap_or(usize::MAX),
        };
        let all = store.resources(query, &state.prices).await?;
        return export(&all, request.format);
    }
    let limit = request.limit.unwrap_or(DEFAULT_LIMIT);
    // One more than a page: whether another follows.
    let query = ResourceQuery {
        filter: request.filter,
        after: request.after,
        limit: limit + 1,
    };
    let mut all = store.resources(query, &state.prices).await?;
    let more = all.len() > limit;
    all.truncate(limit);
    let views: Vec<ResourceView> = all.iter().map(ResourceView::from).collect();
    let mut response = Json(views).into_response();
    if let Some(last) = all.last().filter(|_| more) {
        let link = next_link(&uri, &pairs, &cursor_after(last))?;
        response.headers_mut().insert(header::LINK, link);
    }
    Ok(response)
}

fn export(all: &[Resource], format: Format) -> Result<Response, ApiError> {
    let (body, content_type) = if format == Format::Csv {
        let mut csv = csv::Writer::from_writer(Vec::new());
        csv.write_record(CSV_HEADER)
            .map_err(|e| ApiError::internal("cannot write CSV", e))?;
        for r in all {
            csv.write_record(
                r.csv_row()
                    .iter()
                    .map(|c| ctt_core::csv_cell(c).into_owned()),
            )
            .map_err(|e| ApiError::internal("cannot write CSV", e))?;
        }
        let body = csv
            .into_inner()
            .map_err(|e| ApiError::internal("cannot write CSV", e.into_error()))?;
        (body, "text/csv; charset=utf-8")
    } else {
        let mut body = Vec::new();
        for r in all {
            serde_json::to_writer(&mut body, &ResourceView::from(r))
                .map_err(|e| ApiError::internal("cannot write NDJSON", e))?;
            body.push(b'\n');
        }
        (body, "application/x-ndjson")
    };
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response())
}

/// Query parameters of `/resources/{type}/{id}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, reason = "documents the query string for OpenAPI")]
pub struct ResourceDetailParams {
    /// As it stood at this time (default now).
    at: Option<String>,
}

/// A resource and every event that touched it: one entry per region and
/// account holding a resource of that type and id (usually one).
#[utoipa::path(
    get,
    path = "/resources/{type}/{id}",
    tag = "resources",
    params(
        ("type" = String, Path, description = "A catalogue type, `ec2:instance`"),
        ("id" = String, Path, description = "The resource's id, as `/resources` lists it"),
        ResourceDetailParams,
    ),
    responses(
        (status = 200, description = "The resource(s) with their events", body = Vec<ResourceDetail>),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = ErrorBody),
        (status = 401, description = "Credentials are needed or not valid", body = ErrorBody),
        (status = 404, description = "No such resource (or, for role `self`, not its own)", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is logged", body = ErrorBody),
    )
)]
pub async fn resource(
    State(state): State<AppState>,
    store: ScopedStore,
    PathParam((kind, id)): PathParam<(String, String)>,
    uri: Uri,
) -> Result<Json<Vec<ResourceDetail>>, ApiError> {
    let mut at = state.now();
    for (name, value) in pairs(uri.query()) {
        match name.as_str() {
            "at" => {
                at = parse_bound(&value, Bound::To).map_err(|e| QueryError::new("at", e))?;
            }
            _ => return Err(QueryError::new(&name, "unknown parameter: use at".to_owned()).into()),
        }
    }
    let found = store.resource(&kind, &id, at, &state.prices).await?;
    if found.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no resource `{}` of type `{}`",
            ctt_core::printable(&id),
            ctt_core::printable(&kind)
        )));
    }
    Ok(Json(
        found
            .iter()
            .map(|(r, touches)| ResourceDetail {
                resource: ResourceView::from(r),
                events: touches.iter().map(TouchView::from).collect(),
            })
            .collect(),
    ))
}
