//! How the API answers when DynamoDB cannot: a table that does not exist is a
//! 503 naming it, a store that cannot be reached a 503 with `Retry-After`
//! (throttling is classified in `ctt_aws::dynamo::classify`'s unit tests:
//! moto does not throttle).

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use axum::body::Body;
use axum::http::{Request, header};
use ctt_aws::emulator::{Moto, sdk_config_for};
use ctt_aws::{DynamoOptions, DynamoStore};
use ctt_server::AppState;
use ctt_store::{ErrorKind, EventStore};
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::support::{fresh_table, sdk};

/// `GET uri` on the router `ctt serve` runs over `store`: status,
/// `Retry-After`, body.
async fn get(store: &DynamoStore, uri: &str) -> (u16, Option<String>, Value) {
    let router = ctt_server::router(AppState::new(Arc::new(store.clone())));
    let response = router
        .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
        .await
        .unwrap_or_else(|never| match never {});
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, retry_after, body)
}

const COUNT: &str = "/scan?from=2018-03-01&to=2018-03-31&count=true";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_table_is_named_in_a_503() {
    let sdk = sdk().await;
    let table = fresh_table(&sdk).await;
    let store = DynamoStore::open(&sdk, &table, None, DynamoOptions::default())
        .await
        .expect("open");
    DynamoStore::delete_table(&sdk, &table, None)
        .await
        .expect("delete table");
    for uri in [
        COUNT,
        "/scan?from=2018-03-01&to=2018-03-31",
        "/users",
        "/health",
    ] {
        let (status, retry_after, body) = get(&store, uri).await;
        assert_eq!(status, 503, "{uri}: {body}");
        assert_eq!(retry_after, None, "{uri}: waiting does not create it");
        assert_eq!(body["error"], "unavailable", "{uri}: {body}");
        assert_eq!(
            body["detail"],
            format!("table {table} does not exist"),
            "{uri}: {body}"
        );
    }
    // Opening it says so, and how to make it (the CLI prints this).
    let error = DynamoStore::open(&sdk, &table, None, DynamoOptions::default())
        .await
        .err()
        .expect("no table to open");
    assert_eq!(error.kind(), ErrorKind::Missing);
    assert_eq!(
        error.to_string(),
        format!(
            "table {table} does not exist: create it with `ctt store create dynamodb://{table}`"
        )
    );
}

/// A TCP relay to moto on a loopback port of its own: closing it leaves
/// whatever pointed at it talking to a closed port.
struct Relay {
    endpoint: String,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn to(endpoint: &str) -> Relay {
        let target = endpoint.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let task = tokio::spawn(async move {
            // Dropped with the task: every connection is cut when it ends.
            let mut connections = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Relay {
            endpoint: format!("http://127.0.0.1:{port}"),
            task,
        }
    }

    /// Stops listening and cuts every connection.
    async fn close(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_answers_503_with_retry_after() {
    let table = fresh_table(&sdk().await).await;
    let relay = Relay::to(Moto::shared().endpoint()).await;
    // Two quick attempts and a short connect timeout, so the test is quick.
    let sdk = sdk_config_for(&relay.endpoint)
        .await
        .to_builder()
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(Duration::from_millis(10)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1))
                .operation_timeout(Duration::from_secs(5))
                .build(),
        )
        .build();
    let store = DynamoStore::open(&sdk, &table, None, DynamoOptions::default())
        .await
        .expect("open through the relay");
    let (status, _, body) = get(&store, COUNT).await;
    assert_eq!((status, body), (200, Value::from(0)), "reachable first");

    relay.close().await;
    let error = store.users().await.expect_err("nothing listens any more");
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error:?}");
    for uri in [COUNT, "/users", "/health"] {
        let (status, retry_after, body) = get(&store, uri).await;
        assert_eq!(status, 503, "{uri}: {body}");
        assert_eq!(retry_after.as_deref(), Some("5"), "{uri}");
        assert_eq!(body["error"], "unavailable", "{uri}: {body}");
        assert_eq!(
            body["detail"], "the store cannot be reached; retry in a few seconds",
            "{uri}: {body}"
        );
    }
}
