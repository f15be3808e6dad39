//! What a portal URL asks for, and the URLs the portal links to.
//!
//! A portal query string is the API's (`from`, `to`, `eventName`, `begin_with`,
//! `param`/`value`, `limit`, `cursor`) plus a few words of the portal's own:
//! `user` and `service` (the API puts them in the path), `region` (the API's
//! `param=awsRegion`), `period` (`1h`, `6h`, `1d`, `7d`, `15d`: the last hour …
//! fifteen days up to now), `page` (a page number, for display) and `q` (a
//! name search on the lists). [`Filters::request`] turns it back into the
//! API's pairs and reads them with `RequestParams::parse`, the function the API
//! handlers use, so a portal page and the API answer the same question in the
//! same words — and reject the same mistakes with the same messages.

use chrono::{DateTime, Duration, DurationRound, Utc};
use ctt_core::query::{QueryError, RequestParams, RouteKind};
use ctt_core::time::format_event_time;
use ctt_core::{EventQuery, Scope};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// The quick periods of the dashboard: the last hour … fifteen days, up to now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    Hour,
    SixHours,
    Day,
    Week,
    FifteenDays,
}

impl Preset {
    pub const ALL: [Preset; 5] = [
        Preset::Hour,
        Preset::SixHours,
        Preset::Day,
        Preset::Week,
        Preset::FifteenDays,
    ];

    /// The `period` value.
    pub fn key(self) -> &'static str {
        match self {
            Preset::Hour => "1h",
            Preset::SixHours => "6h",
            Preset::Day => "1d",
            Preset::Week => "7d",
            Preset::FifteenDays => "15d",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Preset::Hour => "Last hour",
            Preset::SixHours => "6 hours",
            Preset::Day => "Day",
            Preset::Week => "Week",
            Preset::FifteenDays => "15 days",
        }
    }

    pub fn duration(self) -> Duration {
        match self {
            Preset::Hour => Duration::hours(1),
            Preset::SixHours => Duration::hours(6),
            Preset::Day => Duration::days(1),
            Preset::Week => Duration::days(7),
            Preset::FifteenDays => Duration::days(15),
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.key() == raw)
    }
}

/// What a portal page was asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub user: Option<String>,
    pub service: Option<String>,
    pub region: Option<String>,
    pub period: Option<Preset>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub event_name: Option<String>,
    pub prefix: bool,
    /// `param`/`value` rows, in order.
    pub params: Vec<(String, String)>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
    /// The page number shown (1 for the first page).
    pub page: u32,
    /// A name search (users and services lists).
    pub q: Option<String>,
    /// Lists: every name ever seen, not only those active in the period (`all`).
    pub everyone: bool,
    /// Anything else: handed to the API's parser, which names it in its error.
    pub unknown: Vec<(String, String)>,
}

fn non_empty(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

impl Filters {
    /// Reads a portal query string. Empty form fields mean "not given"; a
    /// `param`/`value` row with both empty is dropped.
    pub fn from_query(query: Option<&str>) -> Result<Self, QueryError> {
        let mut f = Filters {
            page: 1,
            ..Filters::default()
        };
        let mut names = Vec::new();
        let mut values = Vec::new();
        for (key, value) in crate::api::query::pairs(query) {
            match key.as_str() {
                "user" => f.user = non_empty(&value),
                "service" => f.service = non_empty(&value),
                "region" => f.region = non_empty(&value),
                "period" if value.is_empty() => {}
                "period" => {
                    f.period = Some(Preset::parse(&value).ok_or_else(|| {
                        QueryError::new("period", "use 1h, 6h, 1d, 7d or 15d (or from/to)")
                    })?);
                }
                "from" => f.from = non_empty(&value),
                "to" => f.to = non_empty(&value),
                "eventName" => f.event_name = non_empty(&value),
                "begin_with" => {
                    f.prefix = ctt_core::query::parse_bool(&key, &value)?;
                }
                "param" | "params" => names.push(value),
                "value" | "values" => values.push(value),
                "limit" => f.limit = non_empty(&value),
                "cursor" => f.cursor = non_empty(&value),
                "page" => f.page = value.parse().unwrap_or(1).max(1),
                "q" => f.q = non_empty(&value),
                "all" => f.everyone = ctt_core::query::parse_bool(&key, &value)?,
                _ => f.unknown.push((key, value)),
            }
        }
        if names.len() == values.len() {
            f.params = names
                .into_iter()
                .zip(values)
                .filter(|(n, v)| !(n.trim().is_empty() && v.trim().is_empty()))
                .map(|(n, v)| (n.trim().to_owned(), v))
                .collect();
        } else {
            // Let the API's parser say what is wrong, in its words.
            f.unknown
                .extend(names.into_iter().map(|n| ("param".to_owned(), n)));
            f.unknown
                .extend(values.into_iter().map(|v| ("value".to_owned(), v)));
        }
        Ok(f)
    }

    /// Only the period of these filters (for links from a page to lists).
    pub fn period_only(&self) -> Self {
        Self {
            period: self.period,
            from: self.from.clone(),
            to: self.to.clone(),
            page: 1,
            ..Self::default()
        }
    }

    /// A fixed period, as the API's `from`/`to` (`YYYY-MM-DDTHH:MM:SSZ`).
    pub fn between(from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        Self {
            from: Some(format_event_time(from)),
            to: Some(format_event_time(to)),
            page: 1,
            ..Self::default()
        }
    }

    /// The filters with the period pinned to the instants of `query` (a
    /// preset is relative to now; a link must show what the page counted).
    pub fn pinned(&self, query: &EventQuery) -> Self {
        Self {
            period: None,
            from: Some(format_event_time(query.from)),
            to: Some(format_event_time(query.to)),
            cursor: None,
            page: 1,
            ..self.clone()
        }
    }

    /// The API's query-string pairs for these filters (no scope: that is the
    /// path), `now` anchoring a preset period.
    pub fn api_pairs(&self, now: DateTime<Utc>) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        let (from, to) = match (self.period, &self.from, &self.to) {
            (Some(preset), None, None) => (
                Some(format_event_time(now - preset.duration())),
                Some(format_event_time(now)),
            ),
            _ => (self.from.clone(), self.to.clone()),
        };
        pairs.extend(from.map(|v| ("from".to_owned(), v)));
        pairs.extend(to.map(|v| ("to".to_owned(), v)));
        if let Some(name) = &self.event_name {
            pairs.push(("eventName".to_owned(), name.clone()));
            if self.prefix {
                pairs.push(("begin_with".to_owned(), "true".to_owned()));
            }
        }
        for (name, value) in self.all_params() {
            pairs.push(("param".to_owned(), name));
            pairs.push(("value".to_owned(), value));
        }
        pairs.extend(self.unknown.iter().cloned());
        pairs
    }

    /// The parameter conditions, the portal's `region` and (when both a user
    /// and a service are asked for) `service` included.
    fn all_params(&self) -> Vec<(String, String)> {
        let mut params = Vec::new();
        if self.user.is_some()
            && let Some(service) = &self.service
        {
            params.push(("service".to_owned(), service.clone()));
        }
        if let Some(region) = &self.region {
            params.push(("awsRegion".to_owned(), region.clone()));
        }
        params.extend(self.params.iter().cloned());
        params
    }

    /// Whose events: a user, else a service, else all.
    pub fn scope(&self) -> Scope {
        match (&self.user, &self.service) {
            (Some(user), _) => Scope::User(user.clone()),
            (None, Some(service)) => Scope::Service(service.clone()),
            (None, None) => Scope::All,
        }
    }

    /// The API route these filters are a query of (`/scan`, `/users/{user}`,
    /// `/services/{service}`).
    pub fn api_path(&self) -> String {
        match self.scope() {
            Scope::All => "/scan".to_owned(),
            Scope::User(user) => format!("/users/{}", segment(&user)),
            Scope::Service(service) => format!("/services/{}", segment(&service)),
        }
    }

    /// The filter these ask for, read as the API reads its query string.
    pub fn query(&self, now: DateTime<Utc>) -> Result<EventQuery, QueryError> {
        self.query_in(self.scope(), now)
    }

    /// As [`Self::query`], in another scope (a user's or service's page).
    pub fn query_in(&self, scope: Scope, now: DateTime<Utc>) -> Result<EventQuery, QueryError> {
        let pairs = self.api_pairs(now);
        Ok(RequestParams::parse(&pairs, scope, RouteKind::Events, now)?.query)
    }

    /// The filter and the page (`limit`, `cursor`) an event list asks for.
    pub fn page_request(
        &self,
        default_limit: u32,
        now: DateTime<Utc>,
    ) -> Result<RequestParams, QueryError> {
        let mut pairs = self.api_pairs(now);
        let limit = self
            .limit
            .clone()
            .unwrap_or_else(|| default_limit.to_string());
        pairs.push(("limit".to_owned(), limit));
        pairs.extend(self.cursor.clone().map(|v| ("cursor".to_owned(), v)));
        RequestParams::parse(&pairs, self.scope(), RouteKind::Events, now)
    }

    /// This portal query string, in a stable order.
    pub fn portal_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        pairs.extend(self.user.clone().map(|v| ("user", v)));
        pairs.extend(self.service.clone().map(|v| ("service", v)));
        pairs.extend(self.period.map(|p| ("period", p.key().to_owned())));
        pairs.extend(self.from.clone().map(|v| ("from", v)));
        pairs.extend(self.to.clone().map(|v| ("to", v)));
        if let Some(name) = &self.event_name {
            pairs.push(("eventName", name.clone()));
            if self.prefix {
                pairs.push(("begin_with", "true".to_owned()));
            }
        }
        pairs.extend(self.region.clone().map(|v| ("region", v)));
        for (name, value) in &self.params {
            pairs.push(("param", name.clone()));
            pairs.push(("value", value.clone()));
        }
        pairs.extend(self.limit.clone().map(|v| ("limit", v)));
        pairs.extend(self.q.clone().map(|v| ("q", v)));
        if self.everyone {
            pairs.push(("all", "true".to_owned()));
        }
        pairs.extend(self.cursor.clone().map(|v| ("cursor", v)));
        if self.page > 1 {
            pairs.push(("page", self.page.to_string()));
        }
        pairs
    }

    /// `path?` these filters.
    pub fn url(&self, path: &str) -> String {
        url(path, &self.portal_pairs())
    }

    /// The portal's event list for these filters.
    pub fn events_url(&self) -> String {
        self.url("/ui/events")
    }

    /// The API URL of these filters (the whole result, no page) in `format`.
    pub fn download_url(&self, format: &str, now: DateTime<Utc>) -> String {
        self.api_url(now, &[("format", format)])
    }

    /// The API URL counting these filters' events (shown beside counts).
    pub fn count_url(&self, now: DateTime<Utc>) -> String {
        self.api_url(now, &[("count", "true")])
    }

    /// The API URL of these filters, with `extra` pairs.
    pub fn api_url(&self, now: DateTime<Utc>, extra: &[(&str, &str)]) -> String {
        let mut pairs = self.api_pairs(now);
        pairs.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        url(&self.api_path(), &pairs)
    }
}

/// `path?k=v&…`, form-encoded (no `?` when there are no pairs).
pub fn url<K: AsRef<str>, V: AsRef<str>>(path: &str, pairs: &[(K, V)]) -> String {
    if pairs.is_empty() {
        return path.to_owned();
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        query.append_pair(key.as_ref(), value.as_ref());
    }
    format!("{path}?{}", query.finish())
}

/// What a path segment keeps unencoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'@');

/// A user or service name as one path segment.
pub fn segment(name: &str) -> String {
    if name == "." || name == ".." {
        // Browsers would resolve these as path steps.
        return name.replace('.', "%2E");
    }
    utf8_percent_encode(name, SEGMENT).to_string()
}

/// `/ui/users/{user}`.
pub fn user_url(user: &str) -> String {
    format!("/ui/users/{}", segment(user))
}

/// `/ui/services/{service}`.
pub fn service_url(service: &str) -> String {
    format!("/ui/services/{}", segment(service))
}

/// `/ui/events/{eventID}`.
pub fn event_url(event_id: &str) -> String {
    format!("/ui/events/{}", segment(event_id))
}

/// How activity over a period is bucketed: by hour up to three days, else by day.
pub fn bucket_of(query: &EventQuery) -> ctt_core::GroupBy {
    if query.to - query.from <= Duration::days(3) {
        ctt_core::GroupBy::Hour
    } else {
        ctt_core::GroupBy::Day
    }
}

/// The start of every bucket of the period, in order (empty ones included).
pub fn bucket_starts(query: &EventQuery, group_by: ctt_core::GroupBy) -> Vec<DateTime<Utc>> {
    let step = match group_by {
        ctt_core::GroupBy::Day => Duration::days(1),
        _ => Duration::hours(1),
    };
    let Ok(mut start) = query.from.duration_trunc(step) else {
        return Vec::new();
    };
    let mut starts = Vec::new();
    // At most the 10,000 buckets `/stats` answers.
    while start <= query.to && starts.len() < 10_000 {
        starts.push(start);
        start += step;
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        ctt_core::time::parse_event_time("2018-06-15T12:00:00Z").unwrap_or_default()
    }

    #[test]
    fn empty_fields_and_rows_are_not_given() {
        let f = Filters::from_query(Some(
            "user=&service=ec2&from=&to=&eventName=&param=&value=&param=instanceType&value=t2.micro",
        ))
        .expect("valid");
        assert_eq!(f.user, None);
        assert_eq!(f.service.as_deref(), Some("ec2"));
        assert_eq!(f.from, None);
        assert_eq!(
            f.params,
            vec![("instanceType".to_owned(), "t2.micro".to_owned())]
        );
        assert_eq!(f.scope(), Scope::Service("ec2".into()));
        assert_eq!(f.api_path(), "/services/ec2");
    }

    #[test]
    fn a_preset_is_the_last_stretch_up_to_now() {
        let f = Filters::from_query(Some("period=15d")).expect("valid");
        let query = f.query(now()).expect("valid");
        assert_eq!(format_event_time(query.to), "2018-06-15T12:00:00Z");
        assert_eq!(format_event_time(query.from), "2018-05-31T12:00:00Z");
        let pinned = f.pinned(&query);
        assert_eq!(pinned.period, None);
        assert_eq!(pinned.from.as_deref(), Some("2018-05-31T12:00:00Z"));
        assert_eq!(
            Filters::from_query(Some("period=2d")).map_err(|e| e.parameter),
            Err("period".into())
        );
    }

    #[test]
    fn user_and_service_become_a_path_and_a_param() {
        let f = Filters::from_query(Some(
            "user=alu%2F1&service=ec2&region=us-east-1&eventName=Run&begin_with=true",
        ))
        .expect("valid");
        assert_eq!(f.api_path(), "/users/alu%2F1");
        let pairs = f.api_pairs(now());
        assert_eq!(
            pairs,
            vec![
                ("eventName".to_owned(), "Run".to_owned()),
                ("begin_with".to_owned(), "true".to_owned()),
                ("param".to_owned(), "service".to_owned()),
                ("value".to_owned(), "ec2".to_owned()),
                ("param".to_owned(), "awsRegion".to_owned()),
                ("value".to_owned(), "us-east-1".to_owned()),
            ]
        );
        assert_eq!(
            f.download_url("csv", now()),
            "/users/alu%2F1?eventName=Run&begin_with=true&param=service&value=ec2&param=awsRegion&value=us-east-1&format=csv"
        );
    }

    #[test]
    fn the_apis_mistakes_are_reported_in_its_words() {
        for (query, parameter) in [
            ("from=yesterday", "from"),
            ("frm=2018-01-01", "frm"),
            ("limit=0", "limit"),
            ("param=a&param=b&value=x", "param"),
        ] {
            let error = Filters::from_query(Some(query))
                .and_then(|f| f.page_request(50, now()).map(|_| ()));
            assert_eq!(error.map_err(|e| e.parameter), Err(parameter.to_owned()));
        }
    }

    #[test]
    fn portal_urls_round_trip() {
        let raw = "user=a+b&from=2018-06-01T00%3A00%3A00Z&eventName=Create&begin_with=true&param=x&value=%3Cimg%3E&page=2";
        let f = Filters::from_query(Some(raw)).expect("valid");
        let again = Filters::from_query(f.url("/ui/events").split_once('?').map(|(_, q)| q))
            .expect("valid");
        assert_eq!(f, again);
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("alucloud001"), "alucloud001");
        assert_eq!(segment("lambda.amazonaws.com"), "lambda.amazonaws.com");
        assert_eq!(segment("a/b c?"), "a%2Fb%20c%3F");
        assert_eq!(segment(".."), "%2E%2E");
    }

    #[test]
    fn buckets_cover_the_period() {
        let mut query = EventQuery::between(now() - Duration::hours(6), now());
        assert_eq!(bucket_of(&query), ctt_core::GroupBy::Hour);
        assert_eq!(bucket_starts(&query, ctt_core::GroupBy::Hour).len(), 7);
        query.from = now() - Duration::days(15);
        assert_eq!(bucket_of(&query), ctt_core::GroupBy::Day);
        let days = bucket_starts(&query, ctt_core::GroupBy::Day);
        assert_eq!(days.len(), 16);
        assert_eq!(format_event_time(days[0]), "2018-05-31T00:00:00Z");
    }
}
