//! Helpers: a fresh store per test, requests through `oneshot` on the router or
//! through a real server on a free port, and the two datasets.
//!
//! - [`TestApp::fixture`]: 30 hand-made events in March 2018 (exact checks).
//! - [`generated`]: the `small` preset of `ctt-gen`, loaded once per test binary
//!   with `ctt-ingest`; [`expected_events`] re-reads its files independently.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode, header};
use chrono::{DateTime, Utc};
use ctt_server::{AppState, AuthConfig};
use ctt_store::conformance::{file, record};
use ctt_store::sqlite::{SqliteOptions, SqliteStore};
use ctt_store::{EventStore, Role, TokenRecord, TokenStore};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub fn at(raw: &str) -> DateTime<Utc> {
    ctt_core::time::parse_event_time(raw).expect("a valid test instant")
}

/// A response read to the end.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl TestResponse {
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

    /// The URL of `Link: <URL>; rel="next"`.
    pub fn next_link(&self) -> Option<String> {
        let link = self.header("link")?;
        let url = link.strip_prefix('<')?.split_once(">; rel=\"next\"")?.0;
        Some(url.to_owned())
    }

    /// Asserts a 400 naming `parameter`, with the error body's shape.
    pub fn assert_invalid(&self, parameter: &str, context: &str) {
        assert_eq!(
            self.status,
            StatusCode::BAD_REQUEST,
            "{context}: {}",
            self.text()
        );
        let body = self.json();
        assert_eq!(body["error"], "invalid parameter", "{context}: {body}");
        assert_eq!(body["parameter"], parameter, "{context}: {body}");
        let detail = body["detail"].as_str().expect("detail");
        assert!(detail.contains(parameter), "{context}: {detail}");
    }
}

/// A store in a temporary folder and the state the server runs with.
pub struct TestApp {
    /// Holds the database file until the test ends.
    pub _dir: tempfile::TempDir,
    pub store: Arc<SqliteStore>,
    pub state: AppState,
}

/// The clock of the fixture: its default period (7 days) holds days 5–10.
pub const FIXTURE_NOW: &str = "2018-03-12T00:00:00Z";

impl TestApp {
    /// An empty store, open to anyone, the clock at [`FIXTURE_NOW`].
    pub fn empty() -> Self {
        Self::with_options(SqliteOptions::default())
    }

    /// An empty store opened with `options`, as [`TestApp::empty`].
    pub fn with_options(options: SqliteOptions) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store =
            Arc::new(SqliteStore::open(dir.path().join("ctt.db"), options).expect("open store"));
        let now = at(FIXTURE_NOW);
        let state = AppState::new(store.clone()).with_clock(Arc::new(move || now));
        Self {
            _dir: dir,
            store,
            state,
        }
    }

    /// [`fixture_records`] loaded, and the course [`FIXTURE_COURSE`].
    pub async fn fixture() -> Self {
        let app = Self::empty();
        // One file, with an alert (SPEC §12) on one of its events.
        let mut loaded = file(app.store.as_ref(), "fixture.json.gz", fixture_records());
        loaded.alerts = vec![alert("fixture-rule", "id-01", "alucloud001")];
        app.store.load(vec![loaded]).await.expect("load");
        app.store
            .put_course(ctt_store::StoredCourse {
                id: "fixture-course".into(),
                source: FIXTURE_COURSE.into(),
                added_at: at("2018-02-01T00:00:00Z"),
            })
            .await
            .expect("a course");
        app
    }

    /// Stores an alert of `rule` on the event `event_id` of `user` (SPEC §12),
    /// as a load would, with a file of its own.
    pub async fn alert(&self, rule: &str, event_id: &str, user: &str) {
        let mut loaded = file(
            self.store.as_ref(),
            &format!("alert-{rule}-{event_id}"),
            vec![],
        );
        loaded.alerts = vec![alert(rule, event_id, user)];
        self.store.load(vec![loaded]).await.expect("load");
    }

    /// Loads records as one file.
    pub async fn load(&self, key: &str, records: Vec<Value>) {
        let loaded = file(self.store.as_ref(), key, records);
        self.store.load(vec![loaded]).await.expect("load");
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

    /// `GET uri` through `oneshot`.
    pub async fn get(&self, uri: &str) -> TestResponse {
        self.get_with(uri, &[]).await
    }

    pub async fn get_with(&self, uri: &str, headers: &[(&str, &str)]) -> TestResponse {
        self.request("GET", uri, headers).await
    }

    pub async fn request(&self, method: &str, uri: &str, headers: &[(&str, &str)]) -> TestResponse {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Body::empty()).expect("a valid request");
        let response = self.router().oneshot(request).await.expect("infallible");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        TestResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// `GET uri`, asserting 200 and a JSON body.
    pub async fn json(&self, uri: &str) -> Value {
        let response = self.get(uri).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{uri}: {}",
            response.text()
        );
        assert_eq!(
            response.header("content-type"),
            Some("application/json"),
            "{uri}"
        );
        response.json()
    }

    /// `GET uri` (which has `count=true`), asserting a bare integer.
    pub async fn count(&self, uri: &str) -> u64 {
        let value = self.json(uri).await;
        value
            .as_u64()
            .unwrap_or_else(|| panic!("{uri}: not a bare integer: {value}"))
    }

    /// Every event of `uri`, following `Link` headers; asserts page sizes.
    pub async fn all_pages(&self, uri: &str, limit: usize) -> Vec<Value> {
        let mut events = Vec::new();
        let mut next = Some(uri.to_owned());
        while let Some(uri) = next {
            let response = self.get(&uri).await;
            assert_eq!(
                response.status,
                StatusCode::OK,
                "{uri}: {}",
                response.text()
            );
            let page = response.json();
            let page = page.as_array().expect("a list").clone();
            assert!(page.len() <= limit, "{uri}: {} > {limit}", page.len());
            next = response.next_link();
            if next.is_some() {
                assert_eq!(page.len(), limit, "only the last page is short");
            }
            events.extend(page);
        }
        events
    }
}

/// IDs of a list of events, in order.
pub fn ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["eventID"].as_str().expect("eventID").to_owned())
        .collect()
}

/// A course of the fixture's users (SPEC §10).
pub const FIXTURE_COURSE: &str = r#"
id = "fixture-course"
name = "Fixture course"
from = "2018-03-01"
to = "2018-03-31"
students = "^alucloud[0-9]{3}$"

[[lab]]
id = "ec2"
requires = [{ event = "ec2:RunInstances", count = 2 }, { event = "TerminateInstances" }]

[[lab]]
id = "lambda"
requires = [{ event = "lambda:CreateFunction" }]
"#;

/// 30 events, `id-00`…`id-29`: users `alucloud000`–`alucloud002` in turn, one
/// day per three events from 2018-03-01 to 03-10 (10:00:00 and 10:00:01, so
/// two events share each second), services ec2 and lambda.
/// An alert of `rule` on the event `event_id` of `user`.
pub fn alert(rule: &str, event_id: &str, user: &str) -> ctt_store::Alert {
    ctt_store::Alert {
        id: ctt_store::Alert::key(rule, event_id),
        rule_id: rule.to_owned(),
        title: format!("Rule {rule}"),
        level: "high".to_owned(),
        tags: vec!["attack.t1078".to_owned()],
        event_id: event_id.to_owned(),
        event_time: at("2018-03-02T10:00:00Z"),
        user: user.to_owned(),
        service: "ec2".to_owned(),
        event_name: "RunInstances".to_owned(),
        record: serde_json::json!({"eventID": event_id, "userIdentity": {"userName": user}}).into(),
        baseline: None,
    }
}

pub fn fixture_records() -> Vec<Value> {
    (0..30u32)
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
        .collect()
}

/// A server on 127.0.0.1, on a free port, in the background; its base URL.
pub async fn spawn_app(state: AppState) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let address = listener.local_addr().expect("local address");
    let app = ctt_server::router(state);
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    format!("http://{address}")
}

/// The `small` preset, generated and loaded once per test binary.
pub struct Generated {
    pub db: PathBuf,
    /// Its events, read from its files by [`expected_events`].
    pub expected: Vec<Expected>,
    _dir: tempfile::TempDir,
}

impl Generated {
    /// An app over (a copy of) the generated store; the clock at the end of the
    /// generated history.
    pub fn app(&self) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ctt.db");
        std::fs::copy(&self.db, &path).expect("copy the generated database");
        let wal = self.db.with_extension("db-wal");
        if wal.exists() {
            std::fs::copy(&wal, path.with_extension("db-wal")).expect("copy its WAL");
        }
        let store = Arc::new(SqliteStore::open(&path, SqliteOptions::default()).expect("open"));
        let now = at(GENERATED_END);
        let state = AppState::new(store.clone()).with_clock(Arc::new(move || now));
        TestApp {
            _dir: dir,
            store,
            state,
        }
    }
}

pub const GENERATED_END: &str = "2018-06-15T12:00:00Z";

pub fn generated() -> &'static Generated {
    static GENERATED: OnceLock<Generated> = OnceLock::new();
    GENERATED.get_or_init(|| {
        // Its own thread and runtime: tests run inside other runtimes.
        std::thread::spawn(load_generated)
            .join()
            .expect("generating the small preset")
    })
}

fn load_generated() -> Generated {
    let dir = tempfile::tempdir().expect("temp dir");
    let logs = dir.path().join("logs");
    let config = ctt_gen::GenConfig::new(ctt_gen::Preset::Small, 42, at(GENERATED_END));
    ctt_gen::generate(&logs, &config).expect("generate");
    let db = dir.path().join("ctt.db");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let store = Arc::new(SqliteStore::open(&db, SqliteOptions::default()).expect("open"));
        let files =
            ctt_ingest::LocalSource::list(std::slice::from_ref(&logs), None, None).expect("list");
        let report = ctt_ingest::ingest(
            store,
            Arc::new(ctt_ingest::LocalSource),
            files,
            &ctt_ingest::IngestOptions::default(),
            &ctt_ingest::pipeline::Silent,
        )
        .await
        .expect("ingest");
        assert!(report.is_clean(), "{report}");
    });
    // Let go of the runtime's connections before copies are taken.
    drop(runtime);
    let expected = expected_events(&logs);
    assert!(
        expected.len() > 500,
        "the small preset stores hundreds of events"
    );
    Generated {
        db,
        expected,
        _dir: dir,
    }
}

/// A stored event as these tests understand one, from the files themselves.
#[derive(Debug, Clone)]
pub struct Expected {
    pub id: String,
    pub time: String,
    pub name: String,
    pub service: String,
    pub user: String,
    pub region: String,
    pub record: Value,
}

const DROP: [&str; 7] = [
    "get", "describe", "list", "info", "decrypt", "checkmfa", "head",
];

fn text(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// SPEC §3's user table, re-implemented plainly.
fn user_of(identity: &Value) -> String {
    if let Some(source) = text(&identity["sessionContext"]["sourceIdentity"]) {
        return source;
    }
    let last = |arn: Option<String>| arn.and_then(|a| a.rsplit('/').next().map(str::to_owned));
    let user = match identity["type"].as_str() {
        Some("IAMUser") => text(&identity["userName"]),
        Some("Root") => Some(text(&identity["userName"]).unwrap_or_else(|| "root".into())),
        Some("AssumedRole" | "FederatedUser") => last(text(&identity["arn"])),
        Some("AWSService") => text(&identity["invokedBy"]),
        Some("AWSAccount") => text(&identity["accountId"]),
        _ => text(&identity["userName"]),
    };
    user.unwrap_or_else(|| "no_user".into())
}

/// Gunzips every log file of the tree and keeps what the default filter keeps
/// (SPEC §3), each eventID once, sorted by eventTime then eventID.
pub fn expected_events(root: &Path) -> Vec<Expected> {
    let mut seen = BTreeSet::new();
    let mut events = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.expect("walk");
        let path = entry.path().to_string_lossy().into_owned();
        if !entry.file_type().is_file()
            || path.contains("CloudTrail-Digest")
            || !path.ends_with(".json.gz")
        {
            continue;
        }
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(entry.path()).expect("open"))
            .read_to_end(&mut raw)
            .expect("gunzip");
        let file: Value = serde_json::from_slice(&raw).expect("json");
        for record in file["Records"].as_array().expect("Records") {
            let Some(name) = text(&record["eventName"]) else {
                continue;
            };
            let lower = name.to_lowercase();
            if DROP.iter().any(|p| lower.starts_with(p)) {
                continue;
            }
            let id = text(&record["eventID"]).expect("eventID");
            if !seen.insert(id.clone()) {
                continue;
            }
            let source = text(&record["eventSource"]).unwrap_or_default();
            events.push(Expected {
                id,
                time: text(&record["eventTime"]).expect("eventTime"),
                name,
                service: source.split('.').next().unwrap_or_default().to_owned(),
                user: user_of(&record["userIdentity"]),
                region: text(&record["awsRegion"]).unwrap_or_default(),
                record: record.clone(),
            });
        }
    }
    events.sort_by(|a, b| (&a.time, &a.id).cmp(&(&b.time, &b.id)));
    events
}

/// `Authorization: Bearer TOKEN`.
pub fn bearer(token: &str) -> (&'static str, String) {
    (header::AUTHORIZATION.as_str(), format!("Bearer {token}"))
}
