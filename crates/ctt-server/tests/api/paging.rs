//! Pages (`limit`, `cursor`, `Link`) and streamed exports (`format`).

use std::collections::BTreeMap;

use axum::http::StatusCode;
use ctt_core::{EventSummary, csv_cell};
use ctt_store::conformance::record;
use serde_json::Value;

use crate::support::{TestApp, fixture_records, generated, ids};

const MARCH: &str = "from=2018-03-01&to=2018-03-31";

fn fixture_ids() -> Vec<String> {
    let mut keys: Vec<(String, String)> = fixture_records()
        .iter()
        .map(|r| {
            (
                r["eventTime"].as_str().expect("time").to_owned(),
                r["eventID"].as_str().expect("id").to_owned(),
            )
        })
        .collect();
    keys.sort();
    keys.into_iter().map(|(_, id)| id).collect()
}

#[tokio::test]
async fn pages_return_every_event_once_in_order() {
    let app = TestApp::fixture().await;
    for limit in [1, 2, 7, 29, 30, 1000] {
        let events = app
            .all_pages(&format!("/scan?{MARCH}&limit={limit}"), limit)
            .await;
        assert_eq!(ids(&events), fixture_ids(), "limit {limit}");
    }
}

#[tokio::test]
async fn link_is_relative_and_keeps_the_query() {
    let app = TestApp::fixture().await;
    let uri = format!("/users/alucloud001?{MARCH}&param=['awsRegion']&value=['us-east-1']&limit=4");
    let first = app.get(&uri).await;
    assert_eq!(first.status, StatusCode::OK);
    let link = first.header("link").expect("a Link header");
    assert!(link.ends_with("; rel=\"next\""), "{link}");
    let next = first.next_link().expect("next");
    assert!(next.starts_with("/users/alucloud001?"), "{next}");
    let query: Vec<(String, String)> = form_urlencoded_pairs(&next);
    let keys: Vec<&str> = query.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["from", "to", "param", "value", "limit", "cursor"]);
    assert_eq!(query[2].1, "['awsRegion']");

    let all = app.all_pages(&uri, 4).await;
    assert_eq!(all.len(), 10);
    assert!(all.iter().all(|e| e["user"] == "alucloud001"));

    let last = app.get(&format!("/scan?{MARCH}&limit=30")).await;
    assert_eq!(last.header("link"), None, "no next page");
}

fn form_urlencoded_pairs(uri: &str) -> Vec<(String, String)> {
    let query = uri.split_once('?').map_or("", |(_, q)| q);
    ctt_server::api::query::pairs(Some(query))
}

#[tokio::test]
async fn default_page_is_1000_events_and_at_most_10000() {
    let app = generated().app();
    let total = app
        .count("/scan?from=2000-01-01&to=2100-01-01&count=true")
        .await;
    let first = app.get("/scan?from=2000-01-01&to=2100-01-01").await;
    let page = first.json();
    let page = page.as_array().expect("list");
    assert_eq!(page.len() as u64, total.min(1000));
    assert_eq!(first.next_link().is_some(), total > 1000);
    let big = app
        .json("/scan?from=2000-01-01&to=2100-01-01&limit=10000")
        .await;
    assert_eq!(
        big.as_array().map(Vec::len),
        Some(total.min(10_000) as usize)
    );
}

#[tokio::test]
async fn paging_while_events_are_loaded_returns_each_event_once() {
    let app = TestApp::fixture().await;
    let first = app.get(&format!("/scan?{MARCH}&limit=10")).await;
    let mut seen = ids(first.json().as_array().expect("list"));
    let mut next = first.next_link();

    // Loaded between pages: before the cursor, at the cursor's second, after it.
    app.load(
        "late.json.gz",
        vec![
            record(
                "new-early",
                "2018-03-01T09:00:00Z",
                "alucloud000",
                "ec2",
                "RunInstances",
            ),
            record(
                "id-09a",
                "2018-03-04T10:00:00Z",
                "alucloud000",
                "ec2",
                "RunInstances",
            ),
            record(
                "new-late",
                "2018-03-20T10:00:00Z",
                "alucloud001",
                "ec2",
                "RunInstances",
            ),
        ],
    )
    .await;
    // Loading again what is already there changes nothing.
    app.load("again.json.gz", fixture_records()).await;

    while let Some(uri) = next {
        let page = app.get(&uri).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text());
        seen.extend(ids(page.json().as_array().expect("list")));
        next = page.next_link();
    }
    let mut times: BTreeMap<&str, usize> = BTreeMap::new();
    for id in &seen {
        *times.entry(id.as_str()).or_default() += 1;
    }
    assert!(times.values().all(|n| *n == 1), "duplicates: {times:?}");
    for id in fixture_ids() {
        assert!(times.contains_key(id.as_str()), "{id} lost");
    }
    assert!(
        times.contains_key("new-late"),
        "events after the cursor appear"
    );
    assert!(
        times.contains_key("id-09a"),
        "after the cursor in (time, id) order"
    );
    assert!(
        !times.contains_key("new-early"),
        "events before the cursor do not"
    );
}

/// The paged JSON of `uri`, as summaries.
async fn paged(app: &TestApp, uri: &str) -> Vec<EventSummary> {
    app.all_pages(&format!("{uri}&limit=10000"), 10_000)
        .await
        .into_iter()
        .map(|v| serde_json::from_value(v).expect("an EventSummary"))
        .collect()
}

async fn ndjson(app: &TestApp, uri: &str) -> Vec<EventSummary> {
    let response = app.get(&format!("{uri}&format=ndjson")).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(
        response.header("content-type"),
        Some("application/x-ndjson")
    );
    assert_eq!(response.header("link"), None);
    response
        .text()
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON event per line"))
        .collect()
}

async fn csv_rows(app: &TestApp, uri: &str) -> Vec<Vec<String>> {
    let response = app.get(&format!("{uri}&format=csv")).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(
        response.header("content-type"),
        Some("text/csv; charset=utf-8")
    );
    let mut reader = csv::Reader::from_reader(response.body.as_ref());
    let header: Vec<String> = reader
        .headers()
        .expect("a header")
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header, EventSummary::COLUMNS);
    reader
        .records()
        .map(|r| r.expect("a CSV record").iter().map(str::to_owned).collect())
        .collect()
}

#[tokio::test]
async fn exports_equal_the_paged_json() {
    let app = generated().app();
    for uri in [
        "/scan?from=2000-01-01&to=2100-01-01",
        "/services/ec2?from=2000-01-01&to=2100-01-01",
        "/scan?from=2000-01-01&to=2100-01-01&eventName=Create&begin_with=1",
        "/users/nobody?from=2000-01-01&to=2100-01-01",
    ] {
        let pages = paged(&app, uri).await;
        assert_eq!(ndjson(&app, uri).await, pages, "{uri}");
        let rows: Vec<Vec<String>> = pages
            .iter()
            .map(|e| e.row().iter().map(|c| csv_cell(c).into_owned()).collect())
            .collect();
        assert_eq!(csv_rows(&app, uri).await, rows, "{uri}");
    }
}

#[tokio::test]
async fn exports_stream_results_larger_than_a_store_page() {
    let app = TestApp::empty();
    let n = 2 * ctt_server::api::export::PAGE as usize + 7;
    let records: Vec<Value> = (0..n)
        .map(|i| {
            let time = format!(
                "2018-03-{:02}T{:02}:{:02}:00Z",
                1 + i / 1440,
                (i / 60) % 24,
                i % 60
            );
            record(
                &format!("bulk-{i:06}"),
                &time,
                "alucloud001",
                "ec2",
                "RunInstances",
            )
        })
        .collect();
    app.load("bulk.json.gz", records).await;
    let uri = "/scan?from=2018-03-01&to=2018-03-31";
    let pages = paged(&app, uri).await;
    assert_eq!(pages.len(), n);
    assert_eq!(ndjson(&app, uri).await, pages);
    assert_eq!(csv_rows(&app, uri).await.len(), n);
}

/// OWASP's CSV injection guidance: a cell starting with `=`, `+`, `-`, `@`, tab
/// or carriage return gets a leading `'`, in the CSV export only.
#[tokio::test]
async fn csv_export_neutralises_cells_that_start_like_formulas() {
    let app = TestApp::empty();
    let hyperlink = "=HYPERLINK(\"http://evil\",\"x\")";
    let mut evil = record(
        "evil-1",
        "2018-03-02T10:00:00Z",
        "alucloud001",
        "ec2",
        "RunInstances",
    );
    evil["userAgent"] = hyperlink.into();
    let mut signs = record(
        "evil-2",
        "2018-03-02T10:00:01Z",
        "alucloud001",
        "ec2",
        "RunInstances",
    );
    signs["userAgent"] = "-1+1".into();
    signs["errorCode"] = "@SUM(A1:A2)".into();
    signs["errorMessage"] = "plain message".into();
    app.load("evil.json.gz", vec![evil, signs]).await;
    let uri = format!("/scan?{MARCH}");
    let rows = csv_rows(&app, &uri).await;
    let column = |name: &str| {
        EventSummary::COLUMNS
            .iter()
            .position(|c| *c == name)
            .expect("a column")
    };
    assert_eq!(rows[0][column("userAgent")], format!("'{hyperlink}"));
    assert_eq!(rows[1][column("userAgent")], "'-1+1");
    assert_eq!(rows[1][column("errorCode")], "'@SUM(A1:A2)");
    assert_eq!(rows[1][column("errorMessage")], "plain message");
    assert_eq!(rows[1][column("eventName")], "RunInstances");
    // The other formats keep the value as it is.
    let events = ndjson(&app, &uri).await;
    assert_eq!(events[0].user_agent.as_deref(), Some(hyperlink));
}

#[tokio::test]
async fn count_wins_over_format_and_json_format_pages() {
    let app = TestApp::fixture().await;
    assert_eq!(
        app.count(&format!("/scan?{MARCH}&format=csv&count=true"))
            .await,
        30
    );
    let page = app.get(&format!("/scan?{MARCH}&format=json&limit=5")).await;
    assert_eq!(page.json().as_array().map(Vec::len), Some(5));
    assert!(page.next_link().is_some_and(|l| l.contains("format=json")));
}
