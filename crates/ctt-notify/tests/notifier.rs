//! The notifier against a real SQLite store and local HTTP receivers on
//! 127.0.0.1 (SPEC §12): every alert at or above a destination's level is
//! delivered at least once, with its id; a destination that fails is retried
//! with backoff, across a restart; one that hangs delays only itself; events
//! older than `notify_max_age` are stored, never sent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::Utc;
use ctt_core::time::format_event_time;
use ctt_notify::{DestinationConfig, Kind, Notifier, Policy};
use ctt_store::conformance::{file, record};
use ctt_store::sqlite::{SqliteOptions, SqliteStore};
use ctt_store::{Alert, EventStore};
use serde_json::{Value, json};

/// The POSTs of one path: (X-Ctt-Alert-Id, body).
type Posts = Vec<(String, Value)>;

/// What a receiver got, by path.
#[derive(Clone, Default)]
struct Received {
    posts: Arc<Mutex<HashMap<String, Posts>>>,
    /// `/flaky` answers 500 this many times before 200.
    flaky_failures: Arc<Mutex<u32>>,
}

impl Received {
    fn at(&self, path: &str) -> Vec<(String, Value)> {
        self.posts
            .lock()
            .expect("lock")
            .get(path)
            .cloned()
            .unwrap_or_default()
    }
    fn ids(&self, path: &str) -> Vec<String> {
        let mut ids: Vec<String> = self.at(path).into_iter().map(|(id, _)| id).collect();
        ids.sort();
        ids
    }
}

fn keep(received: &Received, path: &str, headers: &HeaderMap, body: Value) {
    let id = headers
        .get("x-ctt-alert-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    received
        .posts
        .lock()
        .expect("lock")
        .entry(path.to_owned())
        .or_default()
        .push((id, body));
}

/// Receivers: `/ok` (200), `/flaky` (500 a few times, then 200), `/down`
/// (always 500), `/hang` (never answers).
async fn receiver() -> (String, Received, tokio::task::JoinHandle<()>) {
    let received = Received::default();
    let app = Router::new()
        .route(
            "/ok",
            post(
                |State(r): State<Received>, headers: HeaderMap, body: axum::Json<Value>| async move {
                    keep(&r, "/ok", &headers, body.0);
                    StatusCode::OK
                },
            ),
        )
        .route(
            "/flaky",
            post(
                |State(r): State<Received>, headers: HeaderMap, body: axum::Json<Value>| async move {
                    let mut left = r.flaky_failures.lock().expect("lock");
                    if *left > 0 {
                        *left -= 1;
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    drop(left);
                    keep(&r, "/flaky", &headers, body.0);
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .route(
            "/down",
            post(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .route(
            "/hang",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                StatusCode::OK
            }),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    (base, received, server)
}

fn webhook(name: &str, url: String, min_level: &str, timeout_secs: u64) -> DestinationConfig {
    DestinationConfig {
        kind: Kind::Webhook,
        name: Some(name.into()),
        min_level: min_level.into(),
        url: Some(url),
        smtp: None,
        from: None,
        to: Vec::new(),
        topic_arn: None,
        timeout_secs,
    }
}

fn alert(rule: &str, level: &str, event_id: &str, ago: chrono::Duration) -> Alert {
    Alert {
        id: Alert::key(rule, event_id),
        rule_id: rule.into(),
        title: format!("rule {rule}"),
        level: level.into(),
        tags: Vec::new(),
        event_id: event_id.into(),
        event_time: Utc::now() - ago,
        user: "alice".into(),
        service: "iam".into(),
        event_name: "CreateUser".into(),
        record: json!({}).into(),
        baseline: None,
    }
}

/// Stores `alerts` as a load would, with a file of one record.
async fn store_alerts(store: &SqliteStore, key: &str, alerts: Vec<Alert>) {
    let time = format_event_time(Utc::now());
    let mut loaded = file(
        store,
        key,
        vec![record(key, &time, "alice", "iam", "CreateUser")],
    );
    loaded.alerts = alerts;
    store.load(vec![loaded]).await.expect("load");
}

fn policy() -> Policy {
    Policy {
        max_age: Duration::from_secs(24 * 3600),
        first_retry: Duration::from_millis(200),
        max_retry: Duration::from_secs(1),
        max_attempts: 5,
        poll: Duration::from_millis(50),
        batch: 20,
    }
}

fn open(path: &std::path::Path) -> Arc<SqliteStore> {
    Arc::new(SqliteStore::open(path, SqliteOptions::default()).expect("open"))
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_each_destination_at_its_level_and_a_hanging_one_delays_only_itself() {
    let (base, received, server) = receiver().await;
    *received.flaky_failures.lock().expect("lock") = 2;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir.path().join("ctt.db"));
    let hour = chrono::Duration::hours(1);
    store_alerts(
        &store,
        "a.json.gz",
        vec![
            alert("r-high", "high", "e1", hour),
            alert("r-low", "low", "e1", hour),
            alert("r-crit", "critical", "e2", hour),
            // A back-fill: stored, never sent.
            alert("r-high", "high", "old", chrono::Duration::days(3)),
        ],
    )
    .await;

    let configs = [
        webhook("ok", format!("{base}/ok"), "low", 5),
        webhook("flaky", format!("{base}/flaky"), "high", 5),
        webhook("hang", format!("{base}/hang"), "high", 2),
    ];
    let targets = Notifier::senders(&configs, &|_| Err("no sns".into())).expect("senders");
    let dyn_store: Arc<dyn EventStore> = store.clone();
    let notifier = Arc::new(Notifier::new(dyn_store, targets, policy()).expect("notifier"));
    let stop = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(notifier.clone().run(stop.clone()));

    // `ok` has all three recent alerts while `hang` is still timing out.
    until("ok and flaky deliveries", || {
        received.ids("/ok").len() == 3 && received.ids("/flaky").len() == 2
    })
    .await;
    assert_eq!(
        received.ids("/ok"),
        ["r-crit:e2", "r-high:e1", "r-low:e1"],
        "low and up, once each; the 3-day-old alert not sent"
    );
    assert_eq!(received.ids("/flaky"), ["r-crit:e2", "r-high:e1"]);
    let (_, body) = &received.at("/ok")[0];
    assert!(
        body["text"].as_str().expect("text").starts_with('['),
        "{body}"
    );
    assert!(body.get("record").is_none(), "the record stays home");

    // Alerts stored later go out too, while `hang` still hangs.
    store_alerts(
        &store,
        "b.json.gz",
        vec![alert("r-high", "high", "e3", hour)],
    )
    .await;
    until("a later alert", || received.ids("/ok").len() == 4).await;

    let outbox = store.outbox().expect("outbox");
    let flaky = outbox.deliveries("r-high:e1").await.expect("deliveries");
    let by_name: HashMap<&str, (&str, u32)> = flaky
        .iter()
        .map(|d| (d.destination.as_str(), (d.state.as_str(), d.attempts)))
        .collect();
    assert_eq!(by_name["ok"], ("sent", 1));
    assert_eq!(by_name["flaky"].0, "sent");
    assert!(by_name.contains_key("hang"));
    assert!(
        !by_name.contains_key("ok") || by_name.len() == 3,
        "one delivery per destination: {flaky:?}"
    );
    // The two 500s were retried: the first two deliveries to `flaky` took
    // three attempts between them at least.
    let attempts: u32 = ["r-high:e1", "r-crit:e2"]
        .iter()
        .map(|id| async move {
            outbox
                .deliveries(id)
                .await
                .expect("deliveries")
                .into_iter()
                .find(|d| d.destination == "flaky")
                .map(|d| d.attempts)
                .unwrap_or(0)
        })
        .collect::<futures_util::future::JoinAll<_>>()
        .await
        .into_iter()
        .sum();
    assert!(
        attempts >= 4,
        "2 deliveries, 2 failures: {attempts} attempts"
    );

    // `hang` timed out and waits for a retry, with the reason.
    let mut timed_out = false;
    for _ in 0..100 {
        let d = outbox.deliveries("r-high:e1").await.expect("deliveries");
        timed_out = d
            .iter()
            .any(|d| d.destination == "hang" && d.attempts >= 1 && d.last_error.is_some());
        if timed_out {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(timed_out, "hang's first attempt timed out and was recorded");
    let counts = outbox.outbox_counts().await.expect("counts");
    assert_eq!(counts.too_old, 1, "{counts:?}");
    stop.cancel();
    running.await.expect("stopped");
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_destination_is_retried_after_a_restart_and_sent_once() {
    let (base, received, server) = receiver().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ctt.db");
    let hour = chrono::Duration::hours(1);
    {
        let store = open(&path);
        store_alerts(
            &store,
            "a.json.gz",
            vec![
                alert("r", "high", "e1", hour),
                alert("r", "high", "e2", hour),
            ],
        )
        .await;
        // The destination is down: both deliveries fail and wait.
        let down = [webhook("alerts", format!("{base}/down"), "high", 5)];
        let targets = Notifier::senders(&down, &|_| Err("no sns".into())).expect("senders");
        let notifier = Notifier::new(store.clone(), targets, policy()).expect("notifier");
        notifier
            .flush(Duration::from_millis(150))
            .await
            .expect("flush"); // one attempt each
        let counts = store
            .outbox()
            .expect("outbox")
            .outbox_counts()
            .await
            .expect("counts");
        assert_eq!((counts.pending, counts.sent), (2, 0), "{counts:?}");
        let d = store
            .outbox()
            .expect("outbox")
            .deliveries("r:e1")
            .await
            .expect("deliveries");
        assert_eq!(
            d[0].last_error.as_deref(),
            Some("webhook answered 500 Internal Server Error")
        );
    }
    // A process configured with another destination only: its flush does
    // not wait (its whole grace) for the deliveries it cannot make.
    let store = open(&path);
    let other = [webhook("other", format!("{base}/ok"), "high", 5)];
    let targets = Notifier::senders(&other, &|_| Err("no sns".into())).expect("senders");
    let notifier = Notifier::new(store.clone(), targets, policy()).expect("notifier");
    let started = std::time::Instant::now();
    notifier
        .flush(Duration::from_secs(30))
        .await
        .expect("flush");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "waited {:?} for another destination's deliveries",
        started.elapsed()
    );
    // A new process, same name, now up (the URL may change, the name keys
    // the outbox): each pending alert is sent once, and nothing twice.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let up = [webhook("alerts", format!("{base}/ok"), "high", 5)];
    for _ in 0..3 {
        let targets = Notifier::senders(&up, &|_| Err("no sns".into())).expect("senders");
        let notifier = Notifier::new(store.clone(), targets, policy()).expect("notifier");
        notifier.flush(Duration::from_secs(5)).await.expect("flush");
    }
    assert_eq!(received.ids("/ok"), ["r:e1", "r:e2"]);
    let counts = store
        .outbox()
        .expect("outbox")
        .outbox_counts()
        .await
        .expect("counts");
    assert_eq!((counts.pending, counts.sent), (0, 2), "{counts:?}");
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_is_given_up_after_its_last_attempt() {
    let (base, _received, server) = receiver().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir.path().join("ctt.db"));
    store_alerts(
        &store,
        "a.json.gz",
        vec![alert("r", "high", "e1", chrono::Duration::minutes(5))],
    )
    .await;
    let down = [webhook("alerts", format!("{base}/down"), "high", 5)];
    let policy = Policy {
        max_attempts: 2,
        first_retry: Duration::from_millis(100),
        ..policy()
    };
    let targets = Notifier::senders(&down, &|_| Err("no sns".into())).expect("senders");
    let notifier = Notifier::new(store.clone(), targets, policy).expect("notifier");
    for _ in 0..3 {
        notifier.flush(Duration::from_secs(5)).await.expect("flush");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let counts = store
        .outbox()
        .expect("outbox")
        .outbox_counts()
        .await
        .expect("counts");
    assert_eq!((counts.pending, counts.failed), (0, 1), "{counts:?}");
    server.abort();
}
