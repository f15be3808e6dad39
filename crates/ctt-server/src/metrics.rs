//! Prometheus metrics (`GET /metrics`): requests and their latency by matched
//! route and status, and what the store holds (events, files, last file loaded).
//!
//! Request metrics are counted by [`track`], a middleware outside every other
//! layer but tracing, so timeouts and auth failures are counted too. Store
//! gauges are read from the store when scraped.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use ctt_store::StoreStatus;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The server's metrics registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    events: Gauge,
    files_loaded: Gauge,
    files_failed: Gauge,
    last_file_loaded: Gauge,
    last_event: Gauge,
    database_bytes: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to ~33 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 17))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ctt");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = LatencyFamily::new_with_constructor(latency_histogram);
        let (events, files_loaded, files_failed, last_file_loaded, last_event) = (
            Gauge::default(),
            Gauge::default(),
            Gauge::default(),
            Gauge::default(),
            Gauge::default(),
        );
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, matched route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request (to its response head), by method and matched route",
            latency.clone(),
        );
        registry.register("events_stored", "Events in the store", events.clone());
        registry.register(
            "files_loaded",
            "Log files loaded into the store",
            files_loaded.clone(),
        );
        registry.register(
            "files_failed",
            "Log files that could not be loaded",
            files_failed.clone(),
        );
        registry.register(
            "last_file_loaded_timestamp_seconds",
            "When the latest log file was loaded (Unix time; 0 if none)",
            last_file_loaded.clone(),
        );
        registry.register(
            "last_event_timestamp_seconds",
            "eventTime of the latest stored event (Unix time; 0 if none)",
            last_event.clone(),
        );
        let database_bytes = Gauge::default();
        registry.register(
            "database_bytes",
            "The database's size on disk (SQLite's pages; 0 where the store cannot tell): \
             over ctt_events_stored, the bytes per stored event",
            database_bytes.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            events,
            files_loaded,
            files_failed,
            last_file_loaded,
            last_event,
            database_bytes,
        }
    }

    /// Counts one answered request.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let (method, route) = (method.to_owned(), route.to_owned());
        self.latency
            .get_or_create(&RouteLabels {
                method: method.clone(),
                route: route.clone(),
            })
            .observe(seconds);
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status,
            })
            .inc();
    }

    /// The text exposition, with store gauges set from `status`.
    pub fn render(&self, status: &StoreStatus) -> String {
        let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.events.set(clamp(status.events));
        self.files_loaded.set(clamp(status.files_loaded));
        self.files_failed.set(clamp(status.files_failed));
        self.last_file_loaded
            .set(status.last_file_at.map_or(0, |t| t.timestamp()));
        self.last_event
            .set(status.last_event_time.map_or(0, |t| t.timestamp()));
        self.database_bytes
            .set(clamp(status.database_bytes.unwrap_or(0)));
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// Middleware: times each request and counts it by matched route and status.
/// Requests that match no route are counted under `unmatched`, so probes of
/// random URLs cannot grow the label set.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    metrics.observe(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_requests_and_store_gauges() {
        let metrics = Metrics::new();
        metrics.observe("GET", "/users/{user}", 200, 0.002);
        metrics.observe("GET", "/users/{user}", 200, 0.004);
        let status = StoreStatus {
            events: 42,
            files_loaded: 3,
            files_failed: 1,
            last_file: Some("a.json.gz".into()),
            last_file_at: ctt_core::time::parse_event_time("2018-06-01T00:00:00Z"),
            last_event_time: None,
            database_bytes: Some(65_536),
        };
        let text = metrics.render(&status);
        assert!(
            text.contains(
                "ctt_http_requests_total{method=\"GET\",route=\"/users/{user}\",status=\"200\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "ctt_http_request_duration_seconds_count{method=\"GET\",route=\"/users/{user}\"} 2"
            ),
            "{text}"
        );
        assert!(text.contains("ctt_events_stored 42"), "{text}");
        assert!(text.contains("ctt_database_bytes 65536"), "{text}");
        assert!(
            text.contains("ctt_last_file_loaded_timestamp_seconds 1527811200"),
            "{text}"
        );
    }
}
