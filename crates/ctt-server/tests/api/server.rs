//! A real server on 127.0.0.1, on a free port: what only a socket shows —
//! compression, CORS, timeouts, and metrics by matched route.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ctt_core::query::Cursor;
use ctt_core::{EventQuery, GroupBy};
use ctt_server::ServerConfig;
use ctt_store::{
    CatalogEntry, EventDetail, EventPage, EventStore, FileCounts, GroupCount, LedgerEntry,
    LedgerFilter, LoadedFile, StoreResult, StoreStatus, StoredCourse,
};

use crate::support::{TestApp, spawn_app};

const MARCH: &str = "from=2018-03-01&to=2018-03-31";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

#[tokio::test]
async fn answers_over_a_socket_with_gzip_when_asked() {
    let app = TestApp::fixture().await;
    let base = spawn_app(app.state.clone()).await;
    let http = client();

    let health = http
        .get(format!("{base}/health"))
        .send()
        .await
        .expect("GET");
    assert_eq!(health.status(), 200);

    // Exports (streamed from a task of their own) too, whole.
    for (format, lines) in [("ndjson", 30), ("csv", 31)] {
        let url = format!("{base}/scan?{MARCH}&format={format}");
        let plain = http.get(&url).send().await.expect("GET");
        assert_eq!(plain.status(), 200);
        assert_eq!(plain.headers().get("content-encoding"), None);
        let plain = plain.bytes().await.expect("body");
        assert_eq!(
            plain
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .count(),
            lines,
            "{format}"
        );
        gzipped_alike(&http, &url, &plain).await;
    }
}

/// `url` asked for gzip: a gzip body that inflates to `plain`.
async fn gzipped_alike(http: &reqwest::Client, url: &str, plain: &[u8]) {
    let zipped = http
        .get(url)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("GET");
    assert_eq!(
        zipped
            .headers()
            .get("content-encoding")
            .map(|v| v.as_bytes()),
        Some(&b"gzip"[..])
    );
    let zipped = zipped.bytes().await.expect("body");
    assert!(zipped.len() < plain.len());
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(zipped.as_ref())
        .read_to_end(&mut unzipped)
        .expect("gunzip");
    assert_eq!(unzipped, plain);
}

#[tokio::test]
async fn cors_is_closed_unless_origins_are_configured() {
    let app = TestApp::fixture().await;
    let closed = spawn_app(app.state.clone()).await;
    let open = spawn_app(app.state.clone().with_config(ServerConfig {
        cors_allowed_origins: vec!["http://portal.example".into()],
        ..ServerConfig::default()
    }))
    .await;
    let http = client();
    for (base, allowed) in [(&closed, None), (&open, Some("http://portal.example"))] {
        let response = http
            .get(format!("{base}/users"))
            .header("origin", "http://portal.example")
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 200);
        let header = response
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok());
        assert_eq!(header, allowed, "{base}");

        let preflight = http
            .request(reqwest::Method::OPTIONS, format!("{base}/users"))
            .header("origin", "http://portal.example")
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
            .await
            .expect("OPTIONS");
        let header = preflight
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok());
        assert_eq!(header, allowed, "preflight {base}");
    }
    let other = http
        .get(format!("{open}/users"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .expect("GET");
    assert_eq!(other.headers().get("access-control-allow-origin"), None);
}

/// A store whose event reads take longer than the server's timeout.
struct SlowStore(Arc<dyn EventStore>);

#[async_trait]
impl EventStore for SlowStore {
    async fn load(&self, files: Vec<LoadedFile>) -> StoreResult<Vec<FileCounts>> {
        self.0.load(files).await
    }
    async fn ledger(&self, filter: LedgerFilter) -> StoreResult<Vec<LedgerEntry>> {
        self.0.ledger(filter).await
    }
    async fn ledger_entry(&self, key: &str) -> StoreResult<Option<LedgerEntry>> {
        self.0.ledger_entry(key).await
    }
    async fn record_integrity(&self, verdicts: Vec<ctt_store::Verdict>) -> StoreResult<u64> {
        self.0.record_integrity(verdicts).await
    }
    async fn alerts(&self, query: &ctt_store::AlertQuery) -> StoreResult<Vec<ctt_store::Alert>> {
        self.0.alerts(query).await
    }
    async fn count_alerts(&self, query: &ctt_store::AlertQuery) -> StoreResult<u64> {
        self.0.count_alerts(query).await
    }
    async fn alert(&self, id: &str) -> StoreResult<Option<ctt_store::Alert>> {
        self.0.alert(id).await
    }
    async fn integrity(&self) -> StoreResult<ctt_store::IntegritySummary> {
        self.0.integrity().await
    }
    async fn integrity_marks(
        &self,
        event_ids: Vec<String>,
    ) -> StoreResult<std::collections::HashMap<String, String>> {
        self.0.integrity_marks(event_ids).await
    }
    fn indexed_parameters(&self) -> &[String] {
        self.0.indexed_parameters()
    }
    async fn events(
        &self,
        query: &EventQuery,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> StoreResult<EventPage> {
        tokio::time::sleep(Duration::from_secs(5)).await;
        self.0.events(query, limit, cursor).await
    }
    async fn count(&self, query: &EventQuery) -> StoreResult<u64> {
        self.0.count(query).await
    }
    async fn stats(
        &self,
        query: &EventQuery,
        group_by: GroupBy,
        limit: u32,
    ) -> StoreResult<Vec<GroupCount>> {
        self.0.stats(query, group_by, limit).await
    }
    async fn event(&self, event_id: &str) -> StoreResult<Option<EventDetail>> {
        self.0.event(event_id).await
    }
    async fn users(&self) -> StoreResult<Vec<CatalogEntry>> {
        self.0.users().await
    }
    async fn services(&self) -> StoreResult<Vec<CatalogEntry>> {
        self.0.services().await
    }
    async fn parameters(&self) -> StoreResult<Vec<String>> {
        self.0.parameters().await
    }
    async fn status(&self) -> StoreResult<StoreStatus> {
        self.0.status().await
    }

    async fn put_course(&self, course: StoredCourse) -> StoreResult<()> {
        self.0.put_course(course).await
    }

    async fn courses(&self) -> StoreResult<Vec<StoredCourse>> {
        self.0.courses().await
    }

    async fn course(&self, id: &str) -> StoreResult<Option<StoredCourse>> {
        self.0.course(id).await
    }

    async fn remove_course(&self, id: &str) -> StoreResult<bool> {
        self.0.remove_course(id).await
    }
}

#[tokio::test]
async fn a_slow_query_times_out_with_a_json_503() {
    let app = TestApp::fixture().await;
    let mut state = app.state.clone().with_config(ServerConfig {
        request_timeout: Duration::from_millis(200),
        ..ServerConfig::default()
    });
    state.store = ctt_server::StoreAccess::new(Arc::new(SlowStore(app.store.clone())));
    let base = spawn_app(state).await;
    let started = std::time::Instant::now();
    let response = client()
        .get(format!("{base}/scan?{MARCH}"))
        .send()
        .await
        .expect("GET");
    assert!(started.elapsed() < Duration::from_secs(3), "no hang");
    assert_eq!(response.status(), 503);
    let body: serde_json::Value =
        serde_json::from_slice(&response.bytes().await.expect("body")).expect("JSON");
    assert_eq!(body["error"], "timeout");
    // Counts do not touch the slow path.
    let count = client()
        .get(format!("{base}/scan?{MARCH}&count=true"))
        .send()
        .await
        .expect("GET");
    assert_eq!(count.status(), 200);
}

#[tokio::test]
async fn metrics_count_requests_by_matched_route_and_status() {
    let app = TestApp::fixture().await;
    let base = spawn_app(app.state.clone()).await;
    let http = client();
    for path in [
        "/users/alucloud001",
        "/users/alucloud002",
        "/scan?count=true",
        "/scan?frm=x",
        "/random/probe/1",
        "/random/probe/2",
    ] {
        http.get(format!("{base}{path}")).send().await.expect("GET");
    }
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("text");
    for line in [
        "ctt_http_requests_total{method=\"GET\",route=\"/users/{user}\",status=\"200\"} 2",
        "ctt_http_requests_total{method=\"GET\",route=\"/scan\",status=\"200\"} 1",
        "ctt_http_requests_total{method=\"GET\",route=\"/scan\",status=\"400\"} 1",
        "ctt_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 2",
        "ctt_http_request_duration_seconds_count{method=\"GET\",route=\"/users/{user}\"} 2",
        "ctt_events_stored 30",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
}
