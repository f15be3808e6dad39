//! The original system's documented queries, on generated data, against counts
//! computed here from the generated log files (gunzip, serde_json, the default
//! filter and the user table of SPEC §3 re-implemented plainly).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::support::{Expected, generated, ids};

fn names(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|v| v.as_str().expect("a name").to_owned())
        .collect()
}

#[tokio::test]
async fn user_run_instances_in_a_region_counts_as_the_files_say() {
    let data = generated();
    let app = data.app();
    // The student with the most RunInstances in us-east-1 (alucloud230's role in
    // the original's README).
    let run_in_region = |e: &Expected| e.name == "RunInstances" && e.region == "us-east-1";
    let mut by_user: BTreeMap<&str, u64> = BTreeMap::new();
    for e in data.expected.iter().filter(|e| run_in_region(e)) {
        *by_user.entry(e.user.as_str()).or_default() += 1;
    }
    let (student, _) = by_user
        .iter()
        .filter(|(u, _)| u.starts_with("alucloud"))
        .max_by_key(|(_, n)| **n)
        .expect("a student launched instances");
    let (from, to) = (
        data.expected[data.expected.len() / 5].time.clone(),
        data.expected[4 * data.expected.len() / 5].time.clone(),
    );
    // `from`/`to` as the original's users wrote them: `YYYY-MM-DD HH:MM:SS`.
    let original = |t: &str| t.replace('T', "%20").replace('Z', "");
    let (from_q, to_q) = (original(&from), original(&to));
    let want: Vec<&Expected> = data
        .expected
        .iter()
        .filter(|e| e.user == *student && run_in_region(e) && e.time >= from && e.time <= to)
        .collect();
    let uri = format!(
        "/users/{student}?from={from_q}&to={to_q}&param=['awsRegion']&value=['us-east-1']&eventName=RunInstances&count=True"
    );
    assert_eq!(app.count(&uri).await, want.len() as u64, "{uri}");

    let uri = uri.replace("&count=True", "");
    let events = app.json(&uri).await;
    let got = ids(events.as_array().expect("list"));
    let want_ids: Vec<String> = want.iter().map(|e| e.id.clone()).collect();
    assert_eq!(got, want_ids, "{uri}");
}

#[tokio::test]
async fn scan_services_and_params_count_as_the_files_say() {
    let data = generated();
    let app = data.app();
    let expected = &data.expected;
    let count = |f: &dyn Fn(&Expected) -> bool| expected.iter().filter(|e| f(e)).count() as u64;
    let all = "from=2000-01-01&to=2100-01-01";

    assert_eq!(
        app.count(&format!("/scan?{all}&count=true")).await,
        expected.len() as u64
    );
    let (from, to) = (
        &expected[expected.len() / 3].time,
        &expected[2 * expected.len() / 3].time,
    );
    let window = |e: &Expected| e.time.as_str() >= from.as_str() && e.time.as_str() <= to.as_str();
    assert_eq!(
        app.count(&format!("/services/ec2?from={from}&to={to}&count=1"))
            .await,
        count(&|e| e.service == "ec2" && window(e))
    );
    let t2 = |e: &Expected| e.record["requestParameters"]["instanceType"] == "t2.micro";
    assert_eq!(
        app.count(&format!(
            "/scan?{all}&eventName=RunInstances&param=instanceType&value=t2.micro&count=true"
        ))
        .await,
        count(&|e| e.name == "RunInstances" && t2(e))
    );
    assert_eq!(
        app.count(&format!(
            "/scan?{all}&eventName=Create&begin_with=True&count=True"
        ))
        .await,
        count(&|e| e.name.starts_with("Create"))
    );
    // The last 7 days by default.
    let week_ago = "2018-06-08T12:00:00Z";
    assert_eq!(
        app.count("/scan?count=true").await,
        count(&|e| e.time.as_str() >= week_ago)
    );

    let users: BTreeSet<String> = expected.iter().map(|e| e.user.clone()).collect();
    assert_eq!(names(&app.json("/users").await), users);
    let services: BTreeSet<String> = expected.iter().map(|e| e.service.clone()).collect();
    assert_eq!(names(&app.json("/services").await), services);
}
