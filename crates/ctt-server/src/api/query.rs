//! Reading requests: the raw query string into `(key, value)` pairs for
//! `ctt_core`'s one parser, path segments, and the documented shape of the
//! query parameters (for OpenAPI only — parsing is `RequestParams::parse`).

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use ctt_core::query::{Cursor, QueryError};
use serde::de::DeserializeOwned;
use utoipa::{IntoParams, ToSchema};

use crate::ApiError;

/// The query string as form-urlencoded pairs, in order, repeated keys kept
/// (`param=a&param=b`), `+` and `%XX` decoded.
pub fn pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// The `Link` header of the next page: this request's path and parameters,
/// its `cursor` replaced by `cursor`.
pub fn next_link(
    uri: &axum::http::Uri,
    pairs: &[(String, String)],
    cursor: &str,
) -> Result<axum::http::HeaderValue, ApiError> {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs.iter().filter(|(k, _)| k != "cursor") {
        out.append_pair(key, value);
    }
    out.append_pair("cursor", cursor);
    let link = format!("<{}?{}>; rel=\"next\"", uri.path(), out.finish());
    axum::http::HeaderValue::try_from(link)
        .map_err(|e| ApiError::internal("cannot write the Link header", e))
}

/// Routes that take no query parameters reject any, like the event routes
/// reject unknown ones.
pub fn no_parameters(query: Option<&str>) -> Result<(), ApiError> {
    match pairs(query).into_iter().next() {
        Some((key, _)) => {
            Err(QueryError::new(key, "unknown parameter: this route takes none").into())
        }
        None => Ok(()),
    }
}

/// The query string of the next page: the same pairs, `cursor` replaced.
pub fn next_page_query(pairs: &[(String, String)], next: &Cursor) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs.iter().filter(|(k, _)| k != "cursor") {
        out.append_pair(key, value);
    }
    out.append_pair("cursor", &next.encode());
    out.finish()
}

/// A path segment (`/users/{user}`), percent-decoded; a bad one is a 400 naming it.
pub struct PathParam<T>(pub T);

impl<S, T> FromRequestParts<S> for PathParam<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(QueryError::new("path", rejection.body_text()).into()),
        }
    }
}

/// How a list of events is returned.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(
    dead_code,
    reason = "documents `format` for OpenAPI; parsed by ctt_core"
)]
pub enum FormatParam {
    Json,
    Ndjson,
    Csv,
}

/// Query parameters of `/scan`, `/users/{user}` and `/services/{service}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(
    dead_code,
    reason = "documents the query string for OpenAPI; parsed by ctt_core"
)]
pub struct EventParams {
    /// Start, inclusive: `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS` or
    /// `YYYY-MM-DD HH:MM:SS`, optional `Z` or `±HH:MM` (else UTC). A date alone
    /// is the start of that day. Default: 7 days before `to`.
    #[param(
        pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?)?$"
    )]
    from: Option<String>,
    /// End, inclusive, in the same formats; a date alone is the *end* of that
    /// day. Default: now. `from` after `to` is an error.
    #[param(
        pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?)?$"
    )]
    to: Option<String>,
    /// Only events with this `eventName` (exact; a prefix with `begin_with`).
    #[param(rename = "eventName", min_length = 1)]
    event_name: Option<String>,
    /// Match `eventName` as a prefix: `true`/`True`/`1` or `false`/`False`/`0`.
    begin_with: Option<bool>,
    /// Parameter names (see `/parameters`) for equality conditions, ANDed, in
    /// the order of `value`: repeated (`param=a&param=b`), comma-separated
    /// (`param=a,b`) or a list literal (`param=['a','b']`, single or double
    /// quotes). A name without prefix is also tried with `requestParameters_`
    /// and `responseElements_`.
    param: Option<Vec<String>>,
    /// The values of `param`, one per name, in the same encodings; compared as
    /// strings.
    value: Option<Vec<String>>,
    /// Alias of `param`.
    params: Option<Vec<String>>,
    /// Alias of `value`.
    values: Option<Vec<String>>,
    /// `true`/`True`/`1`: answer the number of matching events, a bare integer.
    count: Option<bool>,
    /// Events per page (JSON only).
    #[param(minimum = 1, maximum = 10000, default = 1000)]
    limit: Option<u32>,
    /// Where a page starts: the `cursor` of the previous page's `Link` header.
    /// Opaque.
    #[param(min_length = 1, pattern = r"^[A-Za-z0-9_-]+$")]
    cursor: Option<String>,
    /// `json` (pages), or `ndjson`/`csv`: the whole result, streamed.
    #[param(inline)]
    format: Option<FormatParam>,
}

/// Query parameters of `/stats`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(
    dead_code,
    reason = "documents the query string for OpenAPI; parsed by ctt_core"
)]
pub struct StatsParams {
    /// How to group: `user`, `service`, `eventName`, `awsRegion`, `errorCode`,
    /// `hour` or `day`. Required.
    #[param(inline)]
    group_by: ctt_core::GroupBy,
    /// Start, inclusive (as for `/scan`).
    #[param(
        pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?)?$"
    )]
    from: Option<String>,
    /// End, inclusive (as for `/scan`).
    #[param(
        pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?)?$"
    )]
    to: Option<String>,
    /// As for `/scan`.
    #[param(rename = "eventName", min_length = 1)]
    event_name: Option<String>,
    /// As for `/scan`.
    begin_with: Option<bool>,
    /// As for `/scan`.
    param: Option<Vec<String>>,
    /// As for `/scan`.
    value: Option<Vec<String>>,
    /// Alias of `param`.
    params: Option<Vec<String>>,
    /// Alias of `value`.
    values: Option<Vec<String>>,
    /// At most this many groups (the largest; for `hour`/`day` the earliest).
    #[param(minimum = 1, maximum = 10000, default = 10000)]
    limit: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_keep_order_repeats_and_decode() {
        assert_eq!(
            pairs(Some(
                "param=%5B%27awsRegion%27%5D&value=['us-east-1']&param=a+b&to=2018-01-01%2010:00:00"
            )),
            vec![
                ("param".into(), "['awsRegion']".into()),
                ("value".into(), "['us-east-1']".into()),
                ("param".into(), "a b".into()),
                ("to".into(), "2018-01-01 10:00:00".into()),
            ]
        );
        assert!(pairs(None).is_empty());
    }

    #[test]
    fn next_page_replaces_the_cursor_and_keeps_the_rest() {
        let cursor = Cursor {
            event_time: 10,
            event_id: "b".into(),
        };
        let query = next_page_query(
            &[
                ("param".into(), "['awsRegion']".into()),
                ("cursor".into(), "old".into()),
                ("limit".into(), "2".into()),
            ],
            &cursor,
        );
        let back = pairs(Some(&query));
        assert_eq!(
            back,
            vec![
                ("param".into(), "['awsRegion']".into()),
                ("limit".into(), "2".into()),
                ("cursor".into(), cursor.encode()),
            ]
        );
    }
}
