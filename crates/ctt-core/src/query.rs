//! The query every front end builds and every store answers.
//!
//! [`EventQuery`] is the filter of SPEC §5 (scope, time range, eventName, params);
//! [`RequestParams::parse`] reads it from the API's query-string pairs — the same
//! function serves the REST API, the CLI flags and the Lambda API, so they accept
//! the same encodings and reject the same mistakes with the same messages.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::time::{self, Bound};

/// Whose events a query reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    User(String),
    Service(String),
}

/// `eventName`, matched exactly or (`begin_with=true`) as a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameMatch {
    pub name: String,
    pub prefix: bool,
}

/// A `param`/`value` condition: the parameter equals the value, compared as strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamFilter {
    pub name: String,
    pub value: String,
}

/// A filter over stored events. Both time bounds are inclusive, to the second.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventQuery {
    pub scope: Scope,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub event_name: Option<NameMatch>,
    pub params: Vec<ParamFilter>,
    /// Set by access control: only this user's events are visible (role `self`).
    pub only_user: Option<String>,
}

impl EventQuery {
    /// Every event between two instants.
    pub fn between(from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        Self {
            scope: Scope::All,
            from,
            to,
            event_name: None,
            params: Vec::new(),
            only_user: None,
        }
    }
}

/// A position in the `(eventTime, eventID)` order: the last event of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub event_time: i64,
    pub event_id: String,
}

impl Cursor {
    /// The opaque form handed to clients.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.event_time, self.event_id))
    }

    pub fn decode(raw: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (time, id) = text.split_once(':')?;
        Some(Self {
            event_time: time.parse().ok()?,
            event_id: id.to_owned(),
        })
    }
}

/// How `/stats` groups its counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum GroupBy {
    User,
    Service,
    EventName,
    AwsRegion,
    ErrorCode,
    Hour,
    Day,
}

impl FromStr for GroupBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "user" => Self::User,
            "service" => Self::Service,
            "eventName" => Self::EventName,
            "awsRegion" => Self::AwsRegion,
            "errorCode" => Self::ErrorCode,
            "hour" => Self::Hour,
            "day" => Self::Day,
            other => {
                return Err(format!(
                    "`{other}` is not a grouping: use user, service, eventName, awsRegion, errorCode, hour or day"
                ));
            }
        })
    }
}

/// How a list of events is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// A JSON list, one page at a time.
    #[default]
    Json,
    /// One JSON event per line, the whole result.
    Ndjson,
    /// CSV with a header, the whole result.
    Csv,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "json" => Ok(Self::Json),
            "ndjson" => Ok(Self::Ndjson),
            "csv" => Ok(Self::Csv),
            other => Err(format!(
                "`{other}` is not a format: use json, ndjson or csv"
            )),
        }
    }
}

/// Page size when none is asked for.
pub const DEFAULT_LIMIT: u32 = 1000;
/// The largest page.
pub const MAX_LIMIT: u32 = 10_000;
/// The period a query covers when it names no `from`.
pub const DEFAULT_PERIOD_DAYS: i64 = 7;
/// The most `param`/`value` conditions one query may AND together.
pub const MAX_PARAM_FILTERS: usize = 20;
/// The longest `param` name, in bytes (flattened names are far shorter).
pub const MAX_PARAM_NAME_BYTES: usize = 256;
/// The longest `value` or `eventName`, in bytes (a long user agent fits).
pub const MAX_VALUE_BYTES: usize = 4096;

/// A query parameter that could not be accepted: HTTP 400 naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid parameter `{parameter}`: {detail}")]
pub struct QueryError {
    pub parameter: String,
    pub detail: String,
}

impl QueryError {
    pub fn new(parameter: impl Into<String>, detail: impl fmt::Display) -> Self {
        Self {
            parameter: parameter.into(),
            detail: detail.to_string(),
        }
    }
}

/// Everything an event route's query string asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestParams {
    pub query: EventQuery,
    pub count: bool,
    pub limit: u32,
    pub cursor: Option<Cursor>,
    pub format: Format,
    pub group_by: Option<GroupBy>,
}

/// Which optional parameters a route accepts besides the filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// `/scan`, `/users/{user}`, `/services/{service}`.
    Events,
    /// `/stats`: filters plus `group_by`, `limit` (default [`MAX_LIMIT`] groups).
    Stats,
}

impl RequestParams {
    /// Reads the query-string pairs of a route. `now` anchors the default period.
    pub fn parse(
        pairs: &[(String, String)],
        scope: Scope,
        route: RouteKind,
        now: DateTime<Utc>,
    ) -> Result<Self, QueryError> {
        let mut from = None;
        let mut to = None;
        let mut event_name = None;
        let mut begin_with = false;
        let mut params: Vec<String> = Vec::new();
        let mut values: Vec<String> = Vec::new();
        let mut count = false;
        let mut limit = None;
        let mut cursor = None;
        let mut format = Format::Json;
        let mut group_by = None;
        for (key, value) in pairs {
            match (key.as_str(), route) {
                ("from", _) => from = Some(parse_time(key, value, Bound::From)?),
                ("to", _) => to = Some(parse_time(key, value, Bound::To)?),
                ("eventName", _) => {
                    if value.is_empty() {
                        return Err(QueryError::new(key, "must not be empty"));
                    }
                    if value.len() > MAX_VALUE_BYTES {
                        return Err(QueryError::new(
                            key,
                            format!("is longer than {MAX_VALUE_BYTES} bytes"),
                        ));
                    }
                    event_name = Some(value.clone());
                }
                ("begin_with", _) => begin_with = parse_bool(key, value)?,
                ("param" | "params", _) => params.push(value.clone()),
                ("value" | "values", _) => values.push(value.clone()),
                ("count", RouteKind::Events) => count = parse_bool(key, value)?,
                ("limit", _) => limit = Some(parse_limit(key, value)?),
                ("cursor", RouteKind::Events) => {
                    cursor = Some(Cursor::decode(value).ok_or_else(|| {
                        QueryError::new(key, "not a cursor from a previous page's Link header")
                    })?);
                }
                ("format", RouteKind::Events) => {
                    format = value.parse().map_err(|e| QueryError::new(key, e))?;
                }
                ("group_by", RouteKind::Stats) => {
                    group_by = Some(value.parse().map_err(|e| QueryError::new(key, e))?);
                }
                _ => return Err(QueryError::new(key, "unknown parameter")),
            }
        }
        let to = to.unwrap_or(now);
        let from = from.unwrap_or(to - Duration::days(DEFAULT_PERIOD_DAYS));
        if from > to {
            return Err(QueryError::new(
                "from",
                format!(
                    "{} is after `to` {}",
                    time::format_event_time(from),
                    time::format_event_time(to)
                ),
            ));
        }
        if begin_with && event_name.is_none() {
            return Err(QueryError::new(
                "begin_with",
                "needs an `eventName` to match",
            ));
        }
        if route == RouteKind::Stats && group_by.is_none() {
            return Err(QueryError::new("group_by", "is required"));
        }
        Ok(Self {
            query: EventQuery {
                scope,
                from,
                to,
                event_name: event_name.map(|name| NameMatch {
                    name,
                    prefix: begin_with,
                }),
                params: pair_params(&params, &values)?,
                only_user: None,
            },
            count,
            limit: limit.unwrap_or(match route {
                RouteKind::Events => DEFAULT_LIMIT,
                // Charts want every hour or day of the period: as many as allowed.
                RouteKind::Stats => MAX_LIMIT,
            }),
            cursor,
            format,
            group_by,
        })
    }
}

fn parse_time(key: &str, value: &str, bound: Bound) -> Result<DateTime<Utc>, QueryError> {
    time::parse_bound(value, bound).map_err(|e| QueryError::new(key, e))
}

/// `true`/`True`/`1` and `false`/`False`/`0` (any case).
pub fn parse_bool(key: &str, value: &str) -> Result<bool, QueryError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(QueryError::new(
            key,
            format!("`{value}` is not true, false, 1 or 0"),
        )),
    }
}

fn parse_limit(key: &str, value: &str) -> Result<u32, QueryError> {
    match value.parse::<u32>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(QueryError::new(
            key,
            format!("`{value}` is not a whole number from 1 to {MAX_LIMIT}"),
        )),
    }
}

/// Pairs `param` and `value` lists given in any of SPEC §5's encodings: repeated,
/// comma-separated, or the original's list literal (`['awsRegion']`).
///
/// Names never contain commas, so `param` is always split on them; a value is only
/// split when that is what makes the two lists equally long, so a single value
/// with a comma in it (a user agent) still works in the repeated encoding.
fn pair_params(params: &[String], values: &[String]) -> Result<Vec<ParamFilter>, QueryError> {
    let names = expand_list("param", params, true)?;
    let mut vals = expand_list("value", values, false)?;
    if vals.len() != names.len() {
        vals = expand_list("value", values, true)?;
    }
    if vals.len() != names.len() {
        return Err(QueryError::new(
            "param",
            format!(
                "{} parameter name(s) but {} value(s): give one value per param",
                names.len(),
                vals.len()
            ),
        ));
    }
    if names.len() > MAX_PARAM_FILTERS {
        return Err(QueryError::new(
            "param",
            format!(
                "{} conditions: at most {MAX_PARAM_FILTERS} param/value pairs in one query",
                names.len()
            ),
        ));
    }
    if let Some(long) = names.iter().find(|n| n.len() > MAX_PARAM_NAME_BYTES) {
        return Err(QueryError::new(
            "param",
            format!(
                "a name of {} bytes: names are at most {MAX_PARAM_NAME_BYTES}",
                long.len()
            ),
        ));
    }
    if let Some(long) = vals.iter().find(|v| v.len() > MAX_VALUE_BYTES) {
        return Err(QueryError::new(
            "value",
            format!(
                "a value of {} bytes: values are at most {MAX_VALUE_BYTES}",
                long.len()
            ),
        ));
    }
    if let Some(bad) = names
        .iter()
        .find(|n| n.is_empty() || n.contains(['[', ']', '\'', '"']))
    {
        return Err(QueryError::new(
            "param",
            format!("`{bad}` is not a parameter name (an unclosed list literal?)"),
        ));
    }
    Ok(names
        .into_iter()
        .zip(vals)
        .map(|(name, value)| ParamFilter { name, value })
        .collect())
}

fn expand_list(key: &str, raws: &[String], split_commas: bool) -> Result<Vec<String>, QueryError> {
    let mut out = Vec::new();
    for raw in raws {
        let trimmed = raw.trim();
        if let Some(inner) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            out.extend(parse_list_literal(inner).map_err(|e| QueryError::new(key, e))?);
        } else if split_commas {
            out.extend(trimmed.split(',').map(|s| s.trim().to_owned()));
        } else {
            out.push(raw.clone());
        }
    }
    Ok(out)
}

/// The inside of `['a', "b", c]`: quoted (single or double) or bare items.
fn parse_list_literal(inner: &str) -> Result<Vec<String>, String> {
    let mut items = Vec::new();
    let mut chars = inner.trim().chars().peekable();
    while chars.peek().is_some() {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let item = match chars.peek() {
            Some(&quote @ ('\'' | '"')) => {
                chars.next();
                let mut item = String::new();
                loop {
                    match chars.next() {
                        Some('\\') => item.extend(chars.next()),
                        Some(c) if c == quote => break,
                        Some(c) => item.push(c),
                        None => return Err(format!("unterminated {quote} in list")),
                    }
                }
                item
            }
            _ => chars
                .by_ref()
                .take_while(|c| *c != ',')
                .collect::<String>()
                .trim()
                .to_owned(),
        };
        items.push(item);
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None | Some(',') => {}
            Some(c) => return Err(format!("unexpected `{c}` in list")),
        }
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        time::parse_bound("2018-06-01T12:00:00Z", Bound::From).unwrap_or_default()
    }

    fn parse(query: &str) -> Result<RequestParams, QueryError> {
        let pairs: Vec<(String, String)> = query
            .split('&')
            .filter(|s| !s.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect();
        RequestParams::parse(&pairs, Scope::All, RouteKind::Events, now())
    }

    fn params_of(query: &str) -> Vec<(String, String)> {
        parse(query)
            .map(|p| {
                p.query
                    .params
                    .into_iter()
                    .map(|f| (f.name, f.value))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn defaults_to_the_last_seven_days_and_json_pages() {
        let p = parse("").expect("empty query is valid");
        assert_eq!(p.query.to, now());
        assert_eq!(p.query.from, now() - Duration::days(7));
        assert!(!p.count);
        assert_eq!(p.limit, DEFAULT_LIMIT);
        assert_eq!(p.format, Format::Json);
    }

    #[test]
    fn date_only_to_includes_the_whole_day() {
        let p = parse("from=2018-01-01&to=2018-01-31").expect("valid");
        assert_eq!(time::format_event_time(p.query.to), "2018-01-31T23:59:59Z");
        assert_eq!(
            time::format_event_time(p.query.from),
            "2018-01-01T00:00:00Z"
        );
    }

    #[test]
    fn accepts_every_param_encoding() {
        let expected = vec![
            ("awsRegion".to_owned(), "us-east-1".to_owned()),
            ("instanceType".to_owned(), "t2.micro".to_owned()),
        ];
        for query in [
            "param=awsRegion&value=us-east-1&param=instanceType&value=t2.micro",
            "param=awsRegion,instanceType&value=us-east-1,t2.micro",
            "param=['awsRegion','instanceType']&value=['us-east-1','t2.micro']",
            "param=[\"awsRegion\", \"instanceType\"]&value=[\"us-east-1\", \"t2.micro\"]",
            "params=awsRegion&values=us-east-1&params=instanceType&values=t2.micro",
            "param=['awsRegion']&value=['us-east-1']&param=instanceType&value=t2.micro",
        ] {
            assert_eq!(params_of(query), expected, "{query}");
        }
        assert_eq!(
            params_of("param=userAgent&value=aws-cli/1.0 (x, y)"),
            vec![("userAgent".to_owned(), "aws-cli/1.0 (x, y)".to_owned())]
        );
    }

    #[test]
    fn count_accepts_the_originals_spellings() {
        for (raw, expected) in [
            ("true", true),
            ("True", true),
            ("1", true),
            ("false", false),
            ("False", false),
            ("0", false),
        ] {
            assert_eq!(
                parse(&format!("count={raw}")).map(|p| p.count),
                Ok(expected),
                "{raw}"
            );
        }
    }

    #[test]
    fn rejections_name_the_parameter() {
        for (query, parameter) in [
            ("from=yesterday", "from"),
            ("to=2018-02-30", "to"),
            ("from=2018-02-01&to=2018-01-01", "from"),
            ("count=yes", "count"),
            ("limit=0", "limit"),
            ("limit=10001", "limit"),
            ("limit=ten", "limit"),
            ("cursor=%%%", "cursor"),
            ("format=xml", "format"),
            ("param=a,b&value=x", "param"),
            ("param=['a'&value=x", "param"),
            ("begin_with=true", "begin_with"),
            ("frm=2018-01-01", "frm"),
            ("group_by=user", "group_by"),
            ("eventName=", "eventName"),
        ] {
            assert_eq!(
                parse(query).map_err(|e| e.parameter),
                Err(parameter.to_owned()),
                "{query}"
            );
        }
    }

    #[test]
    fn cursor_round_trips() {
        let cursor = Cursor {
            event_time: 1_514_764_800,
            event_id: "a:b-c".into(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(Cursor::decode("not base64!"), None);
    }

    #[test]
    fn stats_requires_a_grouping() {
        let pairs = vec![("group_by".to_owned(), "service".to_owned())];
        let p = RequestParams::parse(&pairs, Scope::All, RouteKind::Stats, now()).expect("valid");
        assert_eq!(p.group_by, Some(GroupBy::Service));
        assert_eq!(p.limit, MAX_LIMIT, "every group a chart can use");
        assert!(RequestParams::parse(&[], Scope::All, RouteKind::Stats, now()).is_err());
    }
}
