//! Role `self` sees nothing of other users, on every route (SPEC §7).
//!
//! The routes are not listed here: they are discovered from the OpenAPI
//! document (`ctt_server::api::openapi`) and from the portal's own table of
//! pages (`ctt_server::web::page_paths`), so a route added later is walked
//! without editing this test. Each route is asked with every path value that
//! names something (the caller's own user, service and event, and another
//! user's), and with every kind of answer it offers (pages followed through
//! their `Link` headers, counts, CSV and NDJSON exports, `/stats` for every
//! `group_by` of the document). Nothing that comes back — status line, headers
//! or body — may hold any string found only in the other users' records.

use std::collections::BTreeSet;

use axum::http::StatusCode;
use ctt_store::{EventStore, Role};
use serde_json::{Value, json};

use crate::support::{TestApp, TestResponse, bearer};

/// The user whose `self` token asks.
const OWN_USER: &str = "alucloud001";

/// Strings that appear only in other users' records: none may reach the
/// `self` caller.
const OTHERS: &[&str] = &[
    "otherstudent",        // their user name (and role session name)
    "OtherRole",           // their role
    "other-evt-",          // their event IDs
    "othersvc",            // a service only they used
    "MARKERVAR",           // a map key of theirs (a parameter name from their record)
    "203.0.113.77",        // their source address
    "Marker-Agent",        // their user agent
    "xx-othermarker-1",    // their region
    "OtherMarkerError",    // their error code
    "AIDAOTHER",           // their principal
    "OtherFunctionMarker", // a request parameter value of theirs
];

const YEAR: &str = "from=2018-01-01&to=2018-12-31";

fn own_record(i: u32) -> Value {
    json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "userName": OWN_USER, "accountId": "111122223333",
                         "principalId": "AIDAOWN", "arn": "arn:aws:iam::111122223333:user/alucloud001"},
        "eventTime": format!("2018-03-{:02}T10:00:00Z", 1 + i),
        "eventSource": "ec2.amazonaws.com",
        "eventName": if i.is_multiple_of(2) { "RunInstances" } else { "CreateTags" },
        "awsRegion": "us-east-1",
        "sourceIPAddress": "192.0.2.1",
        "userAgent": "aws-cli/2.0",
        "requestParameters": {"instanceType": "t2.micro"},
        "eventID": format!("own-evt-{i}"),
        "eventType": "AwsApiCall",
        "readOnly": false,
        "recipientAccountId": "111122223333"
    })
}

fn other_record(i: u32) -> Value {
    let (source, user_identity) = if i.is_multiple_of(2) {
        (
            "othersvc.amazonaws.com",
            json!({"type": "IAMUser", "userName": "otherstudent", "accountId": "111122223333",
                   "principalId": "AIDAOTHER"}),
        )
    } else {
        (
            "ec2.amazonaws.com",
            json!({"type": "AssumedRole", "principalId": "AIDAOTHER:otherstudent-session",
                   "arn": "arn:aws:sts::111122223333:assumed-role/OtherRole/otherstudent-session",
                   "accountId": "111122223333",
                   "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "OtherRole",
                       "arn": "arn:aws:iam::111122223333:role/OtherRole"}}}),
        )
    };
    json!({
        "eventVersion": "1.08",
        "userIdentity": user_identity,
        // Interleaved with the own user's events, the same days.
        "eventTime": format!("2018-03-{:02}T10:00:00Z", 1 + i),
        "eventSource": source,
        "eventName": "CreateFunction20150331",
        "awsRegion": "xx-othermarker-1",
        "sourceIPAddress": "203.0.113.77",
        "userAgent": "Marker-Agent/1.0",
        "errorCode": "OtherMarkerError",
        "requestParameters": {"functionName": "OtherFunctionMarker",
                              "environment": {"variables": {"MARKERVAR": "1"}}},
        "eventID": format!("other-evt-{i}"),
        "eventType": "AwsApiCall",
        "readOnly": false,
        "recipientAccountId": "111122223333"
    })
}

/// The values a path parameter is tried with: names and IDs of the caller's
/// own things and of another user's.
const PATH_VALUES: &[&str] = &[
    OWN_USER,
    "otherstudent",
    "otherstudent-session",
    "ec2",
    "othersvc",
    "own-evt-1",
    "other-evt-2",
    "other-evt-3",
    "shared-course",
    "others-course",
    "scoping-rule:own-evt-1",
    "scoping-rule:other-evt-2",
];

/// `/a/{x}/b/{y}` with each `{…}` (or `{*…}`) replaced by each of
/// [`PATH_VALUES`], every combination.
fn expand(path: &str) -> Vec<String> {
    let Some(open) = path.find('{') else {
        return vec![path.to_owned()];
    };
    let close = path[open..].find('}').expect("closed parameter") + open;
    PATH_VALUES
        .iter()
        .flat_map(|v| expand(&format!("{}{v}{}", &path[..open], &path[close + 1..])))
        .collect()
}

/// The query strings to ask a route with, from its documented parameters.
fn api_queries(operation: &Value) -> Vec<String> {
    let query_params: Vec<&Value> = operation["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["in"] == "query")
        .collect();
    let has = |name: &str| query_params.iter().any(|p| p["name"] == name);
    if query_params.is_empty() {
        return vec![String::new()];
    }
    let mut queries = Vec::new();
    if has("group_by") {
        let group_by = query_params
            .iter()
            .find(|p| p["name"] == "group_by")
            .expect("group_by");
        let values: Vec<String> = group_by["schema"]["enum"]
            .as_array()
            .expect("group_by documents its values")
            .iter()
            .map(|v| v.as_str().expect("a name").to_owned())
            .collect();
        assert!(values.len() >= 7, "every grouping of SPEC §5: {values:?}");
        for value in values {
            queries.push(format!("{YEAR}&group_by={value}"));
            queries.push(format!(
                "{YEAR}&group_by={value}&param=awsRegion&value=xx-othermarker-1"
            ));
        }
        return queries;
    }
    queries.push(YEAR.to_owned());
    for extra in [
        "count=true",
        "format=csv",
        "format=ndjson",
        "limit=1",
        "param=awsRegion&value=xx-othermarker-1",
        "param=userIdentity_userName&value=otherstudent",
        "param=user&value=otherstudent",
        "eventName=CreateFunction&begin_with=true",
    ] {
        if has(extra.split('=').next().expect("a name")) {
            queries.push(format!("{YEAR}&{extra}"));
        }
    }
    queries
}

/// Everything a response shows: status line, headers, body.
fn everything(response: &TestResponse) -> String {
    let mut text = format!("{}\n", response.status);
    for (name, value) in &response.headers {
        text.push_str(&format!(
            "{name}: {}\n",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    text.push_str(&response.text());
    text
}

/// The values the request itself carries (path segments, query values): a
/// page may echo them back ("no user named otherstudent"), which shows the
/// caller nothing it did not send. Another user's events, if shown, would
/// still carry their other strings (IDs, address, agent…).
fn echoes(uri: &str) -> Vec<String> {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let mut values: Vec<String> = path.split('/').map(str::to_owned).collect();
    values.extend(form_urlencoded::parse(query.as_bytes()).map(|(_, v)| v.into_owned()));
    values.retain(|v| OTHERS.iter().any(|o| v.contains(o)));
    // Longest first, so that a value is removed before a part of it.
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    values
}

fn assert_nothing_of_others(uri: &str, response: &TestResponse) {
    assert!(
        !response.status.is_server_error(),
        "{uri}: {}",
        response.text()
    );
    let mut text = everything(response);
    for echo in echoes(uri) {
        text = text.replace(&echo, "«asked»");
    }
    for other in OTHERS {
        assert!(
            !text.contains(other),
            "{uri} shows `{other}` to role self:\n{text}"
        );
    }
}

async fn loaded_app() -> (TestApp, String) {
    let mut app = TestApp::empty();
    let mut records: Vec<Value> = (0..6).map(own_record).collect();
    records.extend((0..6).map(other_record));
    app.load("scoping.json.gz", records).await;
    // An alert on an event of each (SPEC §12).
    app.alert("scoping-rule", "own-evt-1", OWN_USER).await;
    app.alert("scoping-rule", "other-evt-2", "otherstudent")
        .await;
    // A course of both users, and one of the other user only (SPEC §10).
    for (id, students) in [
        ("shared-course", r#"["alucloud001", "otherstudent"]"#),
        ("others-course", r#""^otherstudent$""#),
    ] {
        let source = format!(
            "id = \"{id}\"\nname = \"Course\"\nfrom = \"2018-01-01\"\nto = \"2018-12-31\"\n\
             students = {students}\n[[lab]]\nid = \"lab\"\nrequires = [\n  \
             {{ event = \"ec2:RunInstances\" }},\n  {{ event = \"CreateFunction\", count = 3 }},\n]\n"
        );
        ctt_core::course::Course::parse(&source).expect("a course");
        app.store
            .put_course(ctt_store::StoredCourse {
                id: id.to_owned(),
                source,
                added_at: crate::support::at("2018-01-01T00:00:00Z"),
            })
            .await
            .expect("a course");
    }
    // Sanity: the others' strings are in the store for an admin to see.
    let mut admin_sees = app.get("/parameters").await.text();
    for i in 0..6 {
        admin_sees.push_str(&app.get(&format!("/events/other-evt-{i}")).await.text());
    }
    for other in OTHERS {
        assert!(admin_sees.contains(other), "{other}");
    }
    let token = app.token("student", Role::OwnUser, Some(OWN_USER)).await;
    (app, token)
}

#[tokio::test]
async fn role_self_sees_nothing_of_others_on_any_api_route() {
    let (app, token) = loaded_app().await;
    let (name, value) = bearer(&token);
    let document = serde_json::to_value(ctt_server::api::openapi()).expect("the document");
    let mut asked = 0;
    let mut own_events = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        let Some(operation) = item.get("get") else {
            continue;
        };
        for uri_path in expand(path) {
            for query in api_queries(operation) {
                let mut uri = if query.is_empty() {
                    uri_path.clone()
                } else {
                    format!("{uri_path}?{query}")
                };
                // Follow the pages: a later page must not leak either.
                for _ in 0..20 {
                    let response = app.get_with(&uri, &[(name, &value)]).await;
                    asked += 1;
                    assert_nothing_of_others(&uri, &response);
                    for word in response.text().split('"') {
                        if word.starts_with("own-evt-") {
                            own_events.insert(word.to_owned());
                        }
                    }
                    match response.next_link() {
                        Some(next) => uri = next,
                        None => break,
                    }
                }
            }
        }
    }
    assert!(asked > 100, "the document's routes were walked ({asked})");
    // The caller still sees its own events, through pages and exports.
    assert_eq!(own_events.len(), 6, "{own_events:?}");
    // An event of another user is not found, rather than forbidden.
    let other = app.get_with("/events/other-evt-2", &[(name, &value)]).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    // Alerts: its own, not the other user's (SPEC §12).
    let alerts = app.get_with("/alerts", &[(name, &value)]).await.text();
    assert!(alerts.contains("scoping-rule:own-evt-1"), "{alerts}");
    let other = app
        .get_with("/alerts/scoping-rule:other-evt-2", &[(name, &value)])
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    let asked_for_other = app
        .get_with("/alerts?user=otherstudent", &[(name, &value)])
        .await;
    assert_eq!(asked_for_other.text().trim(), "[]");
}

#[tokio::test]
async fn role_self_sees_nothing_of_others_on_any_portal_page() {
    let (app, token) = loaded_app().await;
    let (name, value) = bearer(&token);
    let queries = [
        String::new(),
        format!("?{YEAR}"),
        format!("?{YEAR}&everyone=1"),
        format!("?{YEAR}&user=otherstudent"),
        format!("?{YEAR}&service=othersvc"),
        format!("?{YEAR}&region=xx-othermarker-1"),
        format!("?{YEAR}&q=other"),
        format!("?{YEAR}&param=userIdentity_userName&value=otherstudent"),
        format!("?{YEAR}&limit=1"),
        format!("?{YEAR}&page=2&limit=1"),
    ];
    let mut pages = 0;
    let mut seen_own = false;
    for path in ctt_server::web::page_paths() {
        for uri_path in expand(path) {
            for query in &queries {
                let uri = format!("{uri_path}{query}");
                let response = app.get_with(&uri, &[(name, &value)]).await;
                pages += 1;
                assert_nothing_of_others(&uri, &response);
                seen_own |= response.text().contains("own-evt-");
            }
        }
    }
    assert!(pages > 100, "the portal's pages were walked ({pages})");
    assert!(seen_own, "the caller's own events are shown");
}
