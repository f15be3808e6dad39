//! A portal over a fresh store: requests through `oneshot`, with cookies and
//! forms; the fixture (30 ordinary events, two crafted XSS events, one error).

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use chrono::{DateTime, Utc};
use ctt_server::{AllowedHosts, AppState, AuthConfig, ServerConfig};
use ctt_store::conformance::{file, record};
use ctt_store::sqlite::{SqliteOptions, SqliteStore};
use ctt_store::{EventStore, Role, TokenRecord, TokenStore};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

pub const NOW: &str = "2018-03-12T00:00:00Z";
pub const MARCH: &str = "from=2018-03-01T00:00:00Z&to=2018-03-31T23:59:59Z";
pub const HOST: &str = "portal.test:8080";
pub const ORIGIN: &str = "http://portal.test:8080";

pub fn at(raw: &str) -> DateTime<Utc> {
    ctt_core::time::parse_event_time(raw).expect("a valid test instant")
}

#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `ctt_session` value a `Set-Cookie` sets.
    pub fn session_cookie(&self) -> Option<String> {
        let set = self.header("set-cookie")?;
        let value = set.strip_prefix("ctt_session=")?.split(';').next()?;
        Some(value.to_owned())
    }

    /// Asserts 200 and HTML; the page's text.
    pub fn page(&self, context: &str) -> String {
        assert_eq!(self.status, StatusCode::OK, "{context}: {}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("text/html; charset=utf-8"),
            "{context}"
        );
        self.text()
    }

    /// The value of `attribute="…"` on the element holding `marker`.
    pub fn attribute_after(&self, marker: &str, attribute: &str) -> Option<String> {
        let text = self.text();
        let start = text.find(marker)?;
        let tag_start = text[..start].rfind('<')?;
        let tag_end = start + text[start..].find('>')?;
        let tag = &text[tag_start..tag_end];
        let needle = format!("{attribute}=\"");
        let at = tag.find(&needle)? + needle.len();
        let end = tag[at..].find('"')?;
        Some(tag[at..at + end].to_owned())
    }
}

pub struct Portal {
    pub _dir: tempfile::TempDir,
    pub store: Arc<SqliteStore>,
    pub state: AppState,
}

impl Portal {
    /// The fixture loaded, access open, the clock at [`NOW`]; the server
    /// answers its [`HOST`] while open (`allowed_hosts`).
    pub async fn fixture() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(
            SqliteStore::open(dir.path().join("ctt.db"), SqliteOptions::default())
                .expect("open store"),
        );
        let now = at(NOW);
        let hosts = AllowedHosts::loopback_and(&["portal.test".to_owned()]).expect("a host name");
        let state = AppState::new(store.clone())
            .with_clock(Arc::new(move || now))
            .with_config(ServerConfig {
                allowed_hosts: hosts,
                ..ServerConfig::default()
            });
        let portal = Self {
            _dir: dir,
            store,
            state,
        };
        let loaded = file(portal.store.as_ref(), "fixture.json", fixture_records());
        portal.store.load(vec![loaded]).await.expect("load");
        portal
    }

    /// Stores a token and makes the server require tokens; returns the token.
    pub async fn token(&mut self, name: &str, role: Role, user: Option<&str>) -> String {
        let token = ctt_server::auth::generate_token().expect("random");
        let created = self
            .store
            .create_token(TokenRecord {
                name: name.to_owned(),
                hash: ctt_server::auth::hash_token(&token),
                role,
                user: user.map(str::to_owned),
                created_at: Utc::now(),
            })
            .await
            .expect("create token");
        assert!(created);
        self.state.auth = AuthConfig::tokens(self.store.clone()).refresh_every(Default::default());
        token
    }

    pub fn router(&self) -> Router {
        ctt_server::router(self.state.clone())
    }

    pub async fn send(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Body::from(body.to_owned()))
            .expect("a valid request");
        let response = self.router().oneshot(request).await.expect("infallible");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    pub async fn get(&self, uri: &str) -> Answer {
        self.send("GET", uri, &[], "").await
    }

    /// `GET` with a session cookie.
    pub async fn get_as(&self, uri: &str, session: &str) -> Answer {
        let cookie = format!("ctt_session={session}");
        self.send("GET", uri, &[("cookie", &cookie)], "").await
    }

    /// A form POST from the portal's own origin.
    pub async fn post_form(&self, uri: &str, form: &str, extra: &[(&str, &str)]) -> Answer {
        let mut headers = vec![
            ("host", HOST),
            ("origin", ORIGIN),
            ("content-type", "application/x-www-form-urlencoded"),
        ];
        headers.extend_from_slice(extra);
        self.send("POST", uri, &headers, form).await
    }

    /// Signs in with `token`; the session id.
    pub async fn sign_in(&self, token: &str) -> String {
        let form = format!("token={token}&next=%2Fui%2F");
        let answer = self.post_form("/login", &form, &[]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text());
        answer.session_cookie().expect("a session cookie")
    }

    /// The API's JSON answer (open access, or with `headers`).
    pub async fn api(&self, uri: &str, headers: &[(&str, &str)]) -> Value {
        let answer = self.send("GET", uri, headers, "").await;
        assert_eq!(answer.status, StatusCode::OK, "{uri}: {}", answer.text());
        answer.json()
    }
}

/// 30 events `id-00`…`id-29` in March 2018 (users `alucloud000`–`002`,
/// services ec2 and lambda), an AccessDenied error by `alucloud001`, and two
/// crafted events by `mallory`: a `<script>` user agent and an `<img onerror>`
/// request parameter.
pub fn fixture_records() -> Vec<Value> {
    let mut records: Vec<Value> = (0..30u32)
        .map(|i| {
            let user = format!("alucloud{:03}", i % 3);
            let (source, name) = match i % 5 {
                0 => ("lambda", "CreateFunction20150331"),
                1 => ("ec2", "RunInstances"),
                2 => ("ec2", "RunScheduledInstances"),
                3 => ("ec2", "CreateTags"),
                _ => ("ec2", "TerminateInstances"),
            };
            let time = format!("2018-03-{:02}T10:00:{:02}Z", 1 + i / 3, (i % 3) / 2);
            record(&format!("id-{i:02}"), &time, &user, source, name)
        })
        .collect();
    let mut denied = record(
        "err-1",
        "2018-03-09T08:30:00Z",
        "alucloud001",
        "rds",
        "CreateDBInstance",
    );
    denied["errorCode"] = json!("AccessDenied");
    denied["errorMessage"] = json!("User is not authorized to perform rds:CreateDBInstance");
    records.push(denied);
    let mut script = record(
        "xss-ua",
        "2018-03-10T11:00:00Z",
        "mallory",
        "ec2",
        "RunInstances",
    );
    script["userAgent"] = json!("<script>alert(1)</script>");
    records.push(script);
    let mut img = record(
        "xss-param",
        "2018-03-10T11:05:00Z",
        "mallory",
        "s3",
        "CreateBucket",
    );
    img["requestParameters"] = json!({"bucketName": "<img src=x onerror=alert(1)>"});
    records.push(img);
    records
}
