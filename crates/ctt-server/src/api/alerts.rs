//! The alert routes (SPEC §12): `/alerts` (filters, pages, CSV and NDJSON
//! exports) and `/alerts/{id}`. Role `self` sees the alerts on its own events.

use axum::Json;
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use ctt_core::query::{Format, MAX_LIMIT, QueryError};
use ctt_core::time::{Bound, format_event_time, parse_bound};
use ctt_store::alerts::{cursor_after, level_rank, parse_cursor};
use ctt_store::{Alert, AlertQuery};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::query::{PathParam, next_link, pairs};
use crate::error::ErrorBody;
use crate::{ApiError, ScopedStore};

/// Alerts per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 100;
/// Alerts read per request of an export.
const EXPORT_PAGE: usize = 1_000;
/// The CSV header of SPEC §12.
pub const CSV_HEADER: [&str; 8] = [
    "time",
    "rule",
    "level",
    "user",
    "service",
    "eventName",
    "eventID",
    "title",
];

/// A rule's hit on one record.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertView {
    /// `RULE_ID:EVENT_ID`.
    pub id: String,
    /// The rule's Sigma `id`.
    pub rule: String,
    pub title: String,
    /// informational, low, medium, high or critical.
    pub level: String,
    pub tags: Vec<String>,
    #[serde(rename = "eventID")]
    pub event_id: String,
    #[serde(rename = "eventTime")]
    pub event_time: String,
    pub user: String,
    pub service: String,
    #[serde(rename = "eventName")]
    pub event_name: String,
    /// The whole record, secrets redacted (kept even when the event itself is
    /// not stored, a read for instance).
    #[schema(value_type = Object)]
    pub record: ctt_store::RecordJson,
    /// An anomaly's baseline (SPEC §13), absent for a rule's alert: `type`
    /// `first` (`who`, `what`, `since`, `known`: what was used before) or
    /// `spike` (`user`, `errors`, `hour`, `count`, and the week before's
    /// `mean`, `sigma` and the `threshold` the count exceeded).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub baseline: Option<ctt_core::anomaly::Baseline>,
}

impl From<Alert> for AlertView {
    fn from(a: Alert) -> Self {
        AlertView {
            id: a.id,
            rule: a.rule_id,
            title: a.title,
            level: a.level,
            tags: a.tags,
            event_id: a.event_id,
            event_time: format_event_time(a.event_time),
            user: a.user,
            service: a.service,
            event_name: a.event_name,
            record: a.record,
            baseline: a.baseline,
        }
    }
}

/// Query parameters of `/alerts`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, reason = "documents the query string for OpenAPI")]
pub struct AlertParams {
    /// Start (SPEC §5 time syntax).
    from: Option<String>,
    /// End, inclusive (a date alone is the whole day).
    to: Option<String>,
    /// Only this rule (its Sigma id).
    rule: Option<String>,
    /// This level and above: informational, low, medium, high, critical.
    level: Option<String>,
    /// Only alerts on this user's events.
    user: Option<String>,
    /// Alerts per page (default 100, at most 10,000); an export's total.
    limit: Option<usize>,
    /// The next page, from the `Link` header.
    cursor: Option<String>,
    /// `json` (default, paged), `ndjson` or `csv` (every match).
    format: Option<String>,
}

/// What `/alerts` was asked.
pub(crate) struct AlertRequest {
    pub query: AlertQuery,
    pub format: Format,
    pub limit: Option<usize>,
}

/// Reads `/alerts`' query string (the portal's alerts page reads the same);
/// anything unknown or invalid is an error naming it.
pub(crate) fn request(pairs: &[(String, String)]) -> Result<AlertRequest, QueryError> {
    let mut query = AlertQuery::default();
    let mut format = Format::Json;
    let mut limit = None;
    for (key, value) in pairs {
        let bad = |why: &str| QueryError::new(key, why.to_owned());
        match key.as_str() {
            "from" => {
                query.from =
                    Some(parse_bound(value, Bound::From).map_err(|e| QueryError::new("from", e))?)
            }
            "to" => {
                query.to =
                    Some(parse_bound(value, Bound::To).map_err(|e| QueryError::new("to", e))?)
            }
            "rule" => query.rule = Some(value.clone()),
            "user" => query.user = Some(value.clone()),
            "level" => {
                level_rank(value)
                    .ok_or_else(|| bad("expected informational, low, medium, high or critical"))?;
                query.min_level = Some(value.to_ascii_lowercase());
            }
            "limit" => {
                let n: usize = value.parse().map_err(|_| bad("a whole number"))?;
                if n == 0 || n > MAX_LIMIT as usize {
                    return Err(bad(&format!("from 1 to {MAX_LIMIT}")));
                }
                limit = Some(n);
            }
            "cursor" => {
                query.after = Some(
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
                    "unknown parameter: use from, to, rule, level, user, limit, cursor, format",
                ));
            }
        }
    }
    if let (Some(from), Some(to)) = (query.from, query.to)
        && from > to
    {
        return Err(QueryError::new("to", "is before `from`"));
    }
    Ok(AlertRequest {
        query,
        format,
        limit,
    })
}

/// Alerts, by time, then eventID, then rule: a page (the next page's URL in
/// `Link`), or every match as NDJSON or CSV.
#[utoipa::path(
    get,
    path = "/alerts",
    tag = "alerts",
    params(AlertParams),
    responses(
        (status = 200, description = "A page of alerts (the next one in `Link`), or with `format=ndjson|csv` every match; CSV header `time,rule,level,user,service,eventName,eventID,title`",
            headers(("Link" = String, description = "`</alerts?…&cursor=…>; rel=\"next\"` when more alerts follow")),
            content(
                (Vec<AlertView> = "application/json"),
                (String = "application/x-ndjson"),
                (String = "text/csv"),
            )),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = ErrorBody),
        (status = 401, description = "Credentials are needed or not valid", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is logged", body = ErrorBody),
    )
)]
pub async fn alerts(store: ScopedStore, uri: Uri) -> Result<Response, ApiError> {
    let pairs = pairs(uri.query());
    let request = request(&pairs)?;
    if request.format != Format::Json {
        return export(&store, request).await;
    }
    let limit = request.limit.unwrap_or(DEFAULT_LIMIT);
    let mut query = request.query;
    // One more than asked: whether a next page exists.
    query.limit = limit + 1;
    let mut page = store.alerts(&query).await?;
    let more = page.len() > limit;
    page.truncate(limit);
    let next = more.then(|| page.last().map(cursor_after)).flatten();
    let views: Vec<AlertView> = page.into_iter().map(AlertView::from).collect();
    let mut response = Json(views).into_response();
    if let Some(cursor) = next {
        let link = next_link(&uri, &pairs, &cursor)?;
        response.headers_mut().insert(header::LINK, link);
    }
    Ok(response)
}

/// Every match (up to `limit`), as NDJSON or CSV. Alerts are few next to
/// events: the body is built from pages of [`EXPORT_PAGE`].
async fn export(store: &ScopedStore, request: AlertRequest) -> Result<Response, ApiError> {
    let mut query = request.query;
    let mut body = Vec::new();
    let mut csv = (request.format == Format::Csv).then(|| csv::Writer::from_writer(Vec::new()));
    if let Some(csv) = &mut csv {
        csv.write_record(CSV_HEADER)
            .map_err(|e| ApiError::internal("cannot write CSV", e))?;
    }
    let mut written = 0;
    loop {
        let wanted = request
            .limit
            .map_or(EXPORT_PAGE, |l| (l - written).min(EXPORT_PAGE));
        query.limit = wanted;
        let page = store.alerts(&query).await?;
        let full = page.len() == wanted;
        written += page.len();
        if let Some(last) = page.last() {
            query.after = Some((
                last.event_time.timestamp(),
                last.event_id.clone(),
                last.rule_id.clone(),
            ));
        }
        for alert in page {
            match &mut csv {
                Some(csv) => csv
                    .write_record(
                        csv_row(&alert)
                            .iter()
                            .map(|c| ctt_core::csv_cell(c).into_owned()),
                    )
                    .map_err(|e| ApiError::internal("cannot write CSV", e))?,
                None => {
                    serde_json::to_writer(&mut body, &AlertView::from(alert))
                        .map_err(|e| ApiError::internal("cannot write NDJSON", e))?;
                    body.push(b'\n');
                }
            }
        }
        if !full || request.limit.is_some_and(|l| written >= l) {
            break;
        }
    }
    let (body, content_type) = match csv {
        Some(csv) => (
            csv.into_inner()
                .map_err(|e| ApiError::internal("cannot write CSV", e.into_error()))?,
            "text/csv; charset=utf-8",
        ),
        None => (body, "application/x-ndjson"),
    };
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response())
}

/// An alert's CSV cells, in [`CSV_HEADER`]'s order.
pub fn csv_row(a: &Alert) -> [String; 8] {
    [
        format_event_time(a.event_time),
        a.rule_id.clone(),
        a.level.clone(),
        a.user.clone(),
        a.service.clone(),
        a.event_name.clone(),
        a.event_id.clone(),
        a.title.clone(),
    ]
}

/// One alert, with its redacted record.
#[utoipa::path(
    get,
    path = "/alerts/{id}",
    tag = "alerts",
    params(("id" = String, Path, description = "An alert id, `RULE_ID:EVENT_ID`, as `/alerts` lists it")),
    responses(
        (status = 200, description = "The alert", body = AlertView),
        (status = 400, description = "A query parameter was given (this route takes none)", body = ErrorBody),
        (status = 401, description = "Credentials are needed or not valid", body = ErrorBody),
        (status = 404, description = "No such alert (or, for role `self`, not on its own events)", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is logged", body = ErrorBody),
    )
)]
pub async fn alert(
    store: ScopedStore,
    PathParam(id): PathParam<String>,
    uri: Uri,
) -> Result<Json<AlertView>, ApiError> {
    super::query::no_parameters(uri.query())?;
    match store.alert(&id).await? {
        Some(alert) => Ok(Json(alert.into())),
        None => Err(ApiError::NotFound(format!(
            "no alert `{}`",
            ctt_core::printable(&id)
        ))),
    }
}
