//! `/stats`: counts by group, with the event routes' filters; they add up.

use std::collections::BTreeMap;

use crate::support::{TestApp, generated};

const ALL: &str = "from=2000-01-01&to=2100-01-01";

#[tokio::test]
async fn every_grouping_adds_up_to_the_scan_count() {
    let app = generated().app();
    for filter in [
        "",
        "&eventName=RunInstances",
        "&param=awsRegion&value=us-east-1",
    ] {
        let total = app.count(&format!("/scan?{ALL}{filter}&count=true")).await;
        assert!(total > 0, "{filter}");
        for group_by in [
            "user",
            "service",
            "eventName",
            "awsRegion",
            "errorCode",
            "hour",
            "day",
        ] {
            let uri = format!("/stats?group_by={group_by}&{ALL}{filter}&limit=10000");
            let groups = app.json(&uri).await;
            let groups = groups.as_array().expect("a list");
            let sum: u64 = groups
                .iter()
                .map(|g| g["count"].as_u64().expect("count"))
                .sum();
            assert_eq!(sum, total, "{uri}");
            let keys: Vec<&str> = groups
                .iter()
                .map(|g| g["key"].as_str().expect("key"))
                .collect();
            if matches!(group_by, "hour" | "day") {
                let mut sorted = keys.clone();
                sorted.sort_unstable();
                assert_eq!(keys, sorted, "{uri}: in time order");
            } else {
                let counts: Vec<u64> = groups
                    .iter()
                    .map(|g| g["count"].as_u64().unwrap_or(0))
                    .collect();
                assert!(
                    counts.windows(2).all(|w| w[0] >= w[1]),
                    "{uri}: largest first"
                );
            }
        }
    }
}

#[tokio::test]
async fn stats_groups_match_the_events() {
    let app = TestApp::fixture().await;
    let groups = app
        .json("/stats?group_by=user&from=2018-03-01&to=2018-03-31&eventName=RunInstances")
        .await;
    let got: BTreeMap<String, u64> = groups
        .as_array()
        .expect("list")
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap_or("").to_owned(),
                g["count"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    // RunInstances is every fifth event from id-01: users 1, 0, 2, 1, 0, 2.
    let want: BTreeMap<String, u64> = [("alucloud000", 2), ("alucloud001", 2), ("alucloud002", 2)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    assert_eq!(got, want);

    let days = app
        .json("/stats?group_by=day&from=2018-03-01&to=2018-03-02")
        .await;
    assert_eq!(
        days,
        serde_json::json!([
            {"key": "2018-03-01T00:00:00Z", "count": 3},
            {"key": "2018-03-02T00:00:00Z", "count": 3}
        ])
    );
    let top = app
        .json("/stats?group_by=service&from=2018-03-01&to=2018-03-31&limit=1")
        .await;
    assert_eq!(top, serde_json::json!([{"key": "ec2", "count": 24}]));
}
