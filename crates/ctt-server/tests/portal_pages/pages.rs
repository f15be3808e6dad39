//! Every page renders, shows the numbers the API answers for the same
//! question, and links each figure to the list it counts.

use axum::http::StatusCode;
use serde_json::Value;

use crate::support::{MARCH, Portal};

/// `data-event-id` of every row, in order.
fn event_ids(page: &str) -> Vec<String> {
    page.split("data-event-id=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

fn api_ids(events: &Value) -> Vec<String> {
    events
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| e["eventID"].as_str().expect("eventID").to_owned())
        .collect()
}

/// `&amp;` back to `&` in an attribute value.
fn unescape(href: &str) -> String {
    href.replace("&amp;", "&")
}

/// Every `data-key`/`data-count` pair of one chart.
fn chart(page: &str, id: &str) -> Vec<(String, u64)> {
    let start = page
        .find(&format!("data-chart=\"{id}\""))
        .unwrap_or_else(|| panic!("no chart {id}"));
    let end = start + page[start..].find("</figure>").expect("chart end");
    page[start..end]
        .split("data-key=\"")
        .skip(1)
        .map(|rest| {
            let key = rest.split('"').next().expect("key").to_owned();
            let count = rest
                .split("data-count=\"")
                .nth(1)
                .and_then(|c| c.split('"').next())
                .and_then(|c| c.parse().ok())
                .expect("count");
            (key, count)
        })
        .collect()
}

fn groups(stats: &Value) -> Vec<(String, u64)> {
    stats
        .as_array()
        .expect("a list")
        .iter()
        .map(|g| {
            (
                g["key"].as_str().expect("key").to_owned(),
                g["count"].as_u64().expect("count"),
            )
        })
        .collect()
}

#[tokio::test]
async fn dashboard_shows_what_the_api_answers() {
    let portal = Portal::fixture().await;
    let answer = portal.get(&format!("/ui/?{MARCH}")).await;
    let page = answer.page("dashboard");
    let total = portal.api(&format!("/scan?{MARCH}&count=true"), &[]).await;
    assert_eq!(total, 33);
    assert_eq!(
        answer.attribute_after("data-counter=\"total\"", "data-count"),
        Some(total.to_string())
    );
    for (counter, query) in [
        ("RunInstances", "eventName=RunInstances"),
        ("CreateDBInstance", "eventName=CreateDBInstance"),
        ("CreateFunction", "eventName=CreateFunction&begin_with=true"),
        ("CreateLoadBalancer", "eventName=CreateLoadBalancer"),
    ] {
        let expected = portal
            .api(&format!("/scan?{MARCH}&{query}&count=true"), &[])
            .await;
        assert_eq!(
            answer.attribute_after(&format!("data-counter=\"{counter}\""), "data-count"),
            Some(expected.to_string()),
            "{counter}"
        );
    }
    assert_eq!(
        answer.attribute_after("data-counter=\"errors\"", "data-count"),
        Some("1".to_owned())
    );

    let services = portal
        .api(&format!("/stats?group_by=service&{MARCH}"), &[])
        .await;
    assert_eq!(chart(&page, "services"), groups(&services));
    let users = portal
        .api(&format!("/stats?group_by=user&limit=10&{MARCH}"), &[])
        .await;
    assert_eq!(chart(&page, "users"), groups(&users));
    let days = portal
        .api(&format!("/stats?group_by=day&{MARCH}"), &[])
        .await;
    let drawn: Vec<(String, u64)> = chart(&page, "activity")
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(drawn, groups(&days));
    assert_eq!(chart(&page, "activity").len(), 31, "every day of March");
    let errors = portal
        .api(&format!("/stats?group_by=errorCode&{MARCH}"), &[])
        .await;
    let errors: Vec<(String, u64)> = groups(&errors)
        .into_iter()
        .filter(|(k, _)| !k.is_empty())
        .collect();
    assert_eq!(chart(&page, "errors"), errors);

    let latest = event_ids(&page);
    assert_eq!(latest.len(), 10);
    assert_eq!(
        &latest[..3],
        ["xss-param", "xss-ua", "id-29"],
        "newest first"
    );
    assert!(
        page.contains("2018-03-01 00:00:00 UTC"),
        "the period, in UTC"
    );
}

#[tokio::test]
async fn dashboard_figures_link_to_the_lists_they_count() {
    let portal = Portal::fixture().await;
    let answer = portal.get(&format!("/ui/?{MARCH}")).await;
    let page = answer.page("dashboard");
    let mut checked = 0;
    for (marker, api) in [
        (
            "data-counter=\"total\"".to_owned(),
            format!("/scan?{MARCH}&count=true"),
        ),
        (
            "data-counter=\"CreateFunction\"".to_owned(),
            format!("/scan?{MARCH}&eventName=CreateFunction&begin_with=true&count=true"),
        ),
        (
            "data-key=\"ec2\"".to_owned(),
            format!("/services/ec2?{MARCH}&count=true"),
        ),
        (
            "data-key=\"alucloud001\"".to_owned(),
            format!("/users/alucloud001?{MARCH}&count=true"),
        ),
        (
            "data-key=\"2018-03-09T00:00:00Z\"".to_owned(),
            "/scan?from=2018-03-09&to=2018-03-09&count=true".to_owned(),
        ),
        (
            "data-counter=\"errors\"".to_owned(),
            format!("/scan?{MARCH}&param=errorCode&value=AccessDenied&count=true"),
        ),
    ] {
        let href = answer
            .attribute_after(&marker, "href")
            .unwrap_or_else(|| panic!("{marker} is a link"));
        let list = portal.get(&unescape(&href)).await;
        let list_page = list.page(&href);
        let expected = portal.api(&api, &[]).await;
        assert_eq!(
            list.attribute_after("data-testid=\"match-count\"", "data-count"),
            Some(expected.to_string()),
            "{marker} → {href}"
        );
        assert!(!list_page.is_empty());
        checked += 1;
    }
    assert_eq!(checked, 6);
    assert!(
        page.contains("href=\"/ui/users/mallory?from=2018-03-01T00%3A00%3A00Z&amp;to="),
        "users link to their page, for the same period"
    );
}

#[tokio::test]
async fn the_default_period_is_the_apis_last_seven_days() {
    let portal = Portal::fixture().await;
    let answer = portal.get("/ui/").await;
    answer.page("dashboard");
    let total = portal.api("/scan?count=true", &[]).await;
    assert_eq!(
        answer.attribute_after("data-counter=\"total\"", "data-count"),
        Some(total.to_string())
    );
    assert_eq!(
        answer.attribute_after("aria-current=\"true\"", "href"),
        Some("/ui/?period=7d".to_owned()),
        "the week is the period shown"
    );
    let root = portal.get("/").await;
    assert_eq!(root.status, StatusCode::SEE_OTHER);
    assert_eq!(root.header("location"), Some("/ui/"));
    portal.get("/ui").await.page("/ui without a slash");
}

#[tokio::test]
async fn an_empty_period_says_what_to_do() {
    let portal = Portal::fixture().await;
    let page = portal.get("/ui/?period=1h").await.page("dashboard");
    assert!(page.contains("No events in this period"), "{page}");
    assert!(page.contains("Try the last week"));
    assert!(
        page.contains("Show the 15 days up to the latest event stored"),
        "offers the stored history"
    );
    let events = portal
        .get("/ui/events?from=2017-01-01&to=2017-01-02")
        .await
        .page("events");
    assert!(events.contains("No events match these filters"), "{events}");
    let user = portal
        .get("/ui/users/alucloud001?from=2017-01-01&to=2017-01-02")
        .await
        .page("user");
    assert!(user.contains("No events for alucloud001 in this period"));
    assert!(user.contains("Show the whole history"));
}

#[tokio::test]
async fn users_and_services_lists_count_the_period_and_search_names() {
    let portal = Portal::fixture().await;
    let answer = portal.get(&format!("/ui/users?{MARCH}")).await;
    let page = answer.page("users");
    let stats = portal
        .api(&format!("/stats?group_by=user&{MARCH}"), &[])
        .await;
    for (user, count) in groups(&stats) {
        assert!(page.contains(&format!("data-name=\"{user}\"")), "{user}");
        assert!(
            page.contains(&format!(
                "href=\"/ui/users/{user}?from=2018-03-01T00%3A00%3A00Z"
            )),
            "{user}: a link to the user's page, same period"
        );
        assert!(page.contains(&format!("data-count=\"{count}\"")), "{user}");
    }
    let searched = portal
        .get(&format!("/ui/users?{MARCH}&q=MALL"))
        .await
        .page("search");
    assert!(searched.contains("data-name=\"mallory\""));
    assert!(!searched.contains("data-name=\"alucloud001\""));
    let none = portal.get("/ui/users?q=zzz").await.page("search");
    assert!(none.contains("No user name contains"), "{none}");

    let services = portal
        .get(&format!("/ui/services?{MARCH}"))
        .await
        .page("services");
    for service in ["ec2", "lambda", "rds", "s3"] {
        assert!(
            services.contains(&format!("data-name=\"{service}\"")),
            "{service}"
        );
    }
}

#[tokio::test]
async fn a_user_page_shows_its_timeline_services_and_events() {
    let portal = Portal::fixture().await;
    let answer = portal.get(&format!("/ui/users/alucloud001?{MARCH}")).await;
    let page = answer.page("user");
    let total = portal
        .api(&format!("/users/alucloud001?{MARCH}&count=true"), &[])
        .await;
    assert_eq!(
        answer.attribute_after("data-counter=\"total\"", "data-count"),
        Some(total.to_string())
    );
    let services = portal
        .api(
            &format!("/stats?group_by=service&param=user&value=alucloud001&{MARCH}"),
            &[],
        )
        .await;
    assert_eq!(chart(&page, "others"), groups(&services));
    assert!(chart(&page, "activity").iter().any(|(_, n)| *n > 0));
    let ids = event_ids(&page);
    assert_eq!(ids.len() as u64, total.as_u64().expect("count").min(20));
    assert!(page.contains("First seen"));

    let service = portal.get(&format!("/ui/services/lambda?{MARCH}")).await;
    let service_page = service.page("service");
    let users = portal
        .api(
            &format!("/stats?group_by=user&param=service&value=lambda&{MARCH}"),
            &[],
        )
        .await;
    assert_eq!(chart(&service_page, "others"), groups(&users));

    for missing in ["/ui/users/nobody", "/ui/services/nothing"] {
        let answer = portal.get(missing).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{missing}");
        assert!(answer.text().contains("has been seen"), "{missing}");
    }
}

#[tokio::test]
async fn the_event_list_pages_like_the_api() {
    let portal = Portal::fixture().await;
    let first = portal
        .get(&format!("/ui/events?service=ec2&limit=5&{MARCH}"))
        .await;
    let page = first.page("events");
    let api = portal
        .api(&format!("/services/ec2?limit=5&{MARCH}"), &[])
        .await;
    assert_eq!(event_ids(&page), api_ids(&api));
    let next = first
        .attribute_after("rel=\"next\"", "href")
        .expect("a next page");
    let second = portal.get(&unescape(&next)).await;
    let second_page = second.page("page 2");
    let all = portal.api(&format!("/services/ec2?{MARCH}"), &[]).await;
    assert_eq!(event_ids(&second_page), api_ids(&all)[5..10]);
    assert!(second_page.contains("Events 6–10 of"), "{second_page}");
    assert!(second_page.contains("First page"));
}

#[tokio::test]
async fn the_filter_form_asks_what_the_api_is_asked() {
    let portal = Portal::fixture().await;
    for (portal_query, api_uri) in [
        (
            format!("eventName=Run&begin_with=true&region=us-east-1&{MARCH}"),
            format!("/scan?eventName=Run&begin_with=true&param=awsRegion&value=us-east-1&{MARCH}"),
        ),
        (
            format!(
                "user=alucloud002&service=ec2&param=instanceType&value=t2.micro&param=&value=&{MARCH}"
            ),
            format!(
                "/users/alucloud002?param=service&value=ec2&param=instanceType&value=t2.micro&{MARCH}"
            ),
        ),
        (
            format!("param=errorCode&value=AccessDenied&{MARCH}"),
            format!("/scan?param=errorCode&value=AccessDenied&{MARCH}"),
        ),
    ] {
        let answer = portal.get(&format!("/ui/events?{portal_query}")).await;
        let page = answer.page(&portal_query);
        let api = portal.api(&api_uri, &[]).await;
        assert!(!api_ids(&api).is_empty(), "{api_uri}");
        assert_eq!(event_ids(&page), api_ids(&api), "{portal_query}");

        let csv_href = answer.attribute_after(">CSV<", "href").expect("a CSV link");
        let csv = portal.get(&unescape(&csv_href)).await;
        assert_eq!(csv.status, StatusCode::OK, "{csv_href}");
        assert_eq!(
            csv.text().lines().count(),
            api_ids(&api).len() + 1,
            "{csv_href}: a header and every event"
        );
    }
}

#[tokio::test]
async fn a_bad_filter_is_a_400_page_naming_it() {
    let portal = Portal::fixture().await;
    for (uri, parameter) in [
        ("/ui/events?from=yesterday", "from"),
        ("/ui/events?frm=2018-01-01", "frm"),
        ("/ui/events?limit=0", "limit"),
        ("/ui/events?from=2018-03-10&to=2018-03-01", "from"),
        ("/ui/?period=2d", "period"),
        ("/ui/users/alucloud001?to=nope", "to"),
    ] {
        let answer = portal.get(uri).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(
            answer.header("content-type"),
            Some("text/html; charset=utf-8"),
            "{uri}"
        );
        assert!(
            answer.text().contains(&format!("`{parameter}`")),
            "{uri}: {}",
            answer.text()
        );
    }
    let form = portal
        .get("/ui/events?from=yesterday&user=alucloud001")
        .await;
    assert!(
        form.text().contains("value=\"alucloud001\""),
        "the form keeps what was typed"
    );
}

#[tokio::test]
async fn an_event_page_shows_the_whole_redacted_record() {
    let portal = Portal::fixture().await;
    let page = portal.get("/ui/events/id-01").await.page("event");
    for expected in [
        "RunInstances",
        "requestParameters",
        "instanceType",
        "&quot;t2.micro&quot;",
        "&quot;REDACTED&quot;",
        "<details open>",
        "href=\"/ui/users/alucloud001\"",
        "2018-03-01 10:00:00",
        "UTC",
    ] {
        assert!(page.contains(expected), "{expected}: {page}");
    }
    assert!(!page.contains("SECRET-TOKEN"));
    assert!(!page.contains("SECRET-KEY"));

    let missing = portal.get("/ui/events/no-such-event").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.text().contains("No event"));
    let nowhere = portal.get("/ui/no/such/page").await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);
    assert_eq!(
        nowhere.header("content-type"),
        Some("text/html; charset=utf-8")
    );
}

#[tokio::test]
async fn static_files_are_served_from_the_binary() {
    let portal = Portal::fixture().await;
    let css = portal.get("/static/portal.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert!(css.text().contains("@media"), "responsive");
    let js = portal.get("/static/portal.js").await;
    assert_eq!(js.status, StatusCode::OK);
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    // The icon every page names (a browser asks for /favicon.ico otherwise).
    let icon = portal.get("/static/favicon.svg").await;
    assert_eq!(icon.status, StatusCode::OK);
    assert_eq!(icon.header("content-type"), Some("image/svg+xml"));
    assert!(icon.text().starts_with("<svg"));
    let page = portal.get("/login").await.page("login");
    assert!(
        page.contains("<link rel=\"icon\" type=\"image/svg+xml\" href=\"/static/favicon.svg\">")
    );
}

#[tokio::test]
async fn lists_hold_those_active_in_the_period_unless_all_are_asked_for() {
    let portal = Portal::fixture().await;
    let day = "from=2018-03-01&to=2018-03-01";
    let active = portal
        .get(&format!("/ui/users?{day}"))
        .await
        .page("active users");
    assert!(active.contains("data-name=\"alucloud001\""));
    assert!(
        !active.contains("data-name=\"mallory\""),
        "not active that day"
    );
    assert!(
        active.contains("3 users active in the period (of 4 seen)"),
        "{active}"
    );
    let everyone = portal
        .get(&format!("/ui/users?{day}&all=true"))
        .await
        .page("every user");
    assert!(everyone.contains("data-name=\"mallory\""));
    let nobody = portal
        .get("/ui/services?from=2017-01-01&to=2017-01-01")
        .await
        .page("no service active");
    assert!(
        nobody.contains("No service was active in this period"),
        "{nobody}"
    );
    assert!(nobody.contains("List every one ever seen"));
}

/// SPEC §14: once a verification finds a loaded log file not valid, its
/// events are marked in every list and on their own page, the dashboard
/// counts the file, and `/health` reports the counts (no file names).
#[tokio::test]
async fn events_from_a_file_that_is_not_valid_are_marked() {
    use ctt_store::{EventStore, Verdict};

    let portal = Portal::fixture().await;
    let dashboard = portal.get(&format!("/ui/?{MARCH}")).await.page("dashboard");
    assert!(
        !dashboard.contains("data-counter=\"integrity\""),
        "no verification yet"
    );

    let ids = api_ids(&portal.api(&format!("/scan?{MARCH}&limit=3"), &[]).await);
    let marked = ids[1].clone();
    let verdict = Verdict {
        event_ids: vec![marked.clone()],
        ..Verdict::new("fixture.json", "modified")
    };
    assert_eq!(
        portal
            .store
            .record_integrity(vec![verdict])
            .await
            .expect("record"),
        1
    );

    // The list: only that row is marked, with a badge.
    let list = portal
        .get(&format!("/ui/events?{MARCH}&limit=3"))
        .await
        .page("events");
    let rows: Vec<&str> = list.split("<tr data-event-id=\"").skip(1).collect();
    assert_eq!(rows.len(), 3, "{list}");
    for (id, row) in ids.iter().zip(&rows) {
        let head = row.split('>').next().unwrap_or_default();
        assert_eq!(
            head.contains("data-integrity=\"modified\""),
            *id == marked,
            "{id}: {head}"
        );
        assert_eq!(row.contains("⚠ modified"), *id == marked, "{id}");
    }
    // Its page says so; another event's does not.
    let page = portal
        .get(&format!("/ui/events/{marked}"))
        .await
        .page("event");
    assert!(page.contains("class=\"integrity-warning\""), "{page}");
    assert!(
        page.contains("came from a log file that is modified"),
        "{page}"
    );
    let page = portal
        .get(&format!("/ui/events/{}", ids[0]))
        .await
        .page("event");
    assert!(!page.contains("integrity-warning"), "{page}");
    // The dashboard counts the file and lists it.
    let answer = portal.get(&format!("/ui/?{MARCH}")).await;
    assert_eq!(
        answer.attribute_after("data-counter=\"integrity\"", "data-count"),
        Some("1".to_owned())
    );
    assert!(
        answer
            .page("dashboard")
            .contains("<code>fixture.json</code>")
    );
    // /health: counts only.
    let health = portal.get("/health").await.json();
    assert_eq!(health["integrity"]["not_valid"]["modified"], 1, "{health}");
    assert_eq!(health["integrity"]["events_marked"], 1, "{health}");
    assert_eq!(health["integrity"]["last_verified_files"], 1, "{health}");
    assert!(!health.to_string().contains("fixture.json"), "{health}");

    // Verified valid again: nothing is marked.
    let verdict = Verdict::new("fixture.json", "valid");
    portal
        .store
        .record_integrity(vec![verdict])
        .await
        .expect("record");
    let list = portal
        .get(&format!("/ui/events?{MARCH}&limit=3"))
        .await
        .page("events");
    assert!(!list.contains("data-integrity"), "{list}");
    let answer = portal.get(&format!("/ui/?{MARCH}")).await;
    assert_eq!(
        answer.attribute_after("data-counter=\"integrity\"", "data-count"),
        Some("0".to_owned())
    );
    assert!(answer.page("dashboard").contains("log files intact"));
}

/// SPEC §12 in the portal: the alerts page (filters, levels, the API's
/// order), an alert's page with its record and its event, the dashboard's
/// counter, the alerts of a user's page and of an event's page.
#[tokio::test]
async fn alerts_are_listed_counted_and_shown_where_their_events_are() {
    use ctt_store::{Alert, EventStore};

    let portal = Portal::fixture().await;
    let alert = |rule: &str, level: &str, event_id: &str, time: &str, user: &str| Alert {
        id: Alert::key(rule, event_id),
        rule_id: rule.to_owned(),
        title: format!("Rule {rule} <b>bold</b>"),
        level: level.to_owned(),
        tags: vec!["attack.t1190".to_owned()],
        event_id: event_id.to_owned(),
        event_time: crate::support::at(time),
        user: user.to_owned(),
        service: "ec2".to_owned(),
        event_name: "RunInstances".to_owned(),
        record: serde_json::json!({"eventID": event_id, "sourceIPAddress": "<img src=x>"}).into(),
        baseline: None,
    };
    let mut loaded = ctt_store::conformance::file(portal.store.as_ref(), "alerts.json.gz", vec![]);
    loaded.alerts = vec![
        alert(
            "r-err",
            "high",
            "err-1",
            "2018-03-09T08:30:00Z",
            "alucloud001",
        ),
        alert(
            "r-low",
            "low",
            "not-stored",
            "2018-03-09T09:00:00Z",
            "alucloud001",
        ),
        alert("r-low", "low", "xss-ua", "2018-03-10T11:00:00Z", "mallory"),
    ];
    portal.store.load(vec![loaded]).await.expect("load");

    let page = portal
        .get(&format!("/ui/alerts?{MARCH}"))
        .await
        .page("alerts");
    let ids: Vec<&str> = page
        .split("data-alert-id=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert_eq!(ids, ["r-err:err-1", "r-low:not-stored", "r-low:xss-ua"]);
    assert!(
        page.contains("Rule r-err &lt;b&gt;bold&lt;/b&gt;"),
        "titles are text"
    );
    let high = portal
        .get(&format!("/ui/alerts?{MARCH}&level=high"))
        .await
        .page("alerts");
    assert_eq!(high.matches("data-alert-id=").count(), 1);
    let bad = portal.get("/ui/alerts?level=severe").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // One alert: its record (as text) and its event, linked when stored.
    let one = portal.get("/ui/alerts/r-err:err-1").await.page("alert");
    assert!(one.contains("href=\"/ui/events/err-1\""), "{one}");
    let other = portal
        .get("/ui/alerts/r-low:not-stored")
        .await
        .page("alert");
    assert!(other.contains("a record not stored as an event"), "{other}");
    assert!(other.contains("&lt;img src=x&gt;") && !other.contains("<img src=x>"));
    assert_eq!(
        portal.get("/ui/alerts/r-none:err-1").await.status,
        StatusCode::NOT_FOUND
    );

    // The dashboard counts them; the user's and the event's pages show theirs.
    let answer = portal.get(&format!("/ui/?{MARCH}")).await;
    assert_eq!(
        answer.attribute_after("data-counter=\"alerts\"", "data-count"),
        Some("3".to_owned())
    );
    let user = portal
        .get(&format!("/ui/users/alucloud001?{MARCH}"))
        .await
        .page("user");
    assert!(user.contains("data-alert-id=\"r-err:err-1\""));
    assert!(!user.contains("data-alert-id=\"r-low:xss-ua\""));
    let event = portal.get("/ui/events/err-1").await.page("event");
    assert!(
        event.contains("Alerts on this event") && event.contains("data-alert-id=\"r-err:err-1\"")
    );
    let quiet = portal.get("/ui/events/id-01").await.page("event");
    assert!(!quiet.contains("Alerts on this event"));
}

/// SPEC §11 in the portal: the Resources page (what is open by default,
/// every state on request, estimated costs labelled as such, ids as text) and
/// the dashboard's "left running" counter.
#[tokio::test]
async fn resources_left_running_are_listed_and_counted() {
    use ctt_store::EventStore;

    let portal = Portal::fixture().await;
    let record = |id: &str, time: &str, user: &str, source: &str, name: &str, extra: Value| {
        let mut r = ctt_store::conformance::record(id, time, user, source, name);
        r["requestParameters"] = extra["requestParameters"].clone();
        r["responseElements"] = extra["responseElements"].clone();
        r
    };
    let items = |ids: &[&str]| serde_json::json!({"items": ids.iter().map(|i| serde_json::json!({"instanceId": i})).collect::<Vec<_>>()});
    let records = vec![
        record(
            "res-1",
            "2018-03-09T08:00:00Z",
            "alucloud001",
            "ec2",
            "RunInstances",
            serde_json::json!({
                "requestParameters": {"instanceType": "t2.micro"},
                "responseElements": {"instancesSet": items(&["i-left", "i-gone"])}
            }),
        ),
        record(
            "res-2",
            "2018-03-09T09:00:00Z",
            "alucloud001",
            "s3",
            "CreateBucket",
            serde_json::json!({
                "requestParameters": {"bucketName": "b<script>x</script>"}, "responseElements": null
            }),
        ),
        record(
            "res-3",
            "2018-03-09T10:00:00Z",
            "teacher",
            "ec2",
            "TerminateInstances",
            serde_json::json!({
                "requestParameters": {"instancesSet": items(&["i-gone"])}, "responseElements": null
            }),
        ),
    ];
    let loaded = ctt_store::conformance::file(portal.store.as_ref(), "resources.json", records);
    portal.store.load(vec![loaded]).await.expect("load");

    let page = portal.get("/ui/resources").await.page("resources");
    let listed: Vec<&str> = page
        .split("data-resource=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    // Open ones by default (the fixture's own buckets and functions too).
    assert!(listed.contains(&"ec2:instance/i-left"), "{listed:?}");
    assert!(listed.contains(&"s3:bucket/b%3Cscript%3Ex%3C%2Fscript%3E"));
    assert!(
        !listed.contains(&"ec2:instance/i-gone"),
        "deleted: not open"
    );
    let running = page.matches("data-state=\"running\"").count();
    assert!(!page.contains("<script>x"), "ids are text");
    assert!(
        page.contains("estimates"),
        "costs are labelled as estimates"
    );
    assert!(page.contains("≈ $"), "an estimated cost is shown");
    let every = portal.get("/ui/resources?state=").await.page("resources");
    assert!(every.contains("data-resource=\"ec2:instance/i-gone\" data-state=\"deleted\""));
    assert!(
        every.contains("href=\"/ui/users/teacher\""),
        "deleted by, linked"
    );
    let mine = portal
        .get("/ui/resources?state=&user=teacher")
        .await
        .page("resources");
    assert!(
        !mine.contains("data-resource="),
        "the teacher created nothing"
    );
    let bad = portal.get("/ui/resources?state=gone").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text().contains("state"));

    // A user's page: what they created and left open at the period's end.
    let user = portal.get("/ui/users/alucloud001").await.page("user");
    assert!(user.contains("Left open"), "{user}");
    assert!(user.contains("data-resource=\"ec2:instance/i-left\""));
    assert!(!user.contains("data-resource=\"ec2:instance/i-gone\""));
    // …as it stood then: before the instances were launched, nothing.
    let before = portal
        .get("/ui/users/alucloud001?from=2018-03-01T00:00:00Z&to=2018-03-08T00:00:00Z")
        .await
        .page("user");
    assert!(!before.contains("data-resource=\"ec2:instance/i-left\""));
    let teacher = portal.get("/ui/users/teacher").await.page("user");
    assert!(teacher.contains("Nothing this user created was still running"));

    // The dashboard counts what is left running.
    let dashboard = portal.get("/ui/").await;
    assert_eq!(
        dashboard.attribute_after("data-counter=\"left-running\"", "data-count"),
        Some(running.to_string())
    );
}

/// SPEC §13 in the portal: an anomaly's page shows its structured baseline
/// (as text), and a user's page their usual activity — regions and services
/// in the order of first use, usual hours, hourly rate over their last week.
#[tokio::test]
async fn anomalies_show_their_baseline_and_users_their_usual_activity() {
    use ctt_core::anomaly::{Baseline, spike, week_stats};
    use ctt_store::{Alert, EventStore};

    let portal = Portal::fixture().await;
    let anomaly = |kind: &str, event_id: &str, time: &str, baseline: Baseline| Alert {
        id: Alert::key(&format!("anomaly:{kind}"), event_id),
        rule_id: format!("anomaly:{kind}"),
        title: baseline.title(),
        level: "medium".to_owned(),
        tags: vec![],
        event_id: event_id.to_owned(),
        event_time: crate::support::at(time),
        user: "alucloud001".to_owned(),
        service: "rds".to_owned(),
        event_name: "CreateDBInstance".to_owned(),
        record: serde_json::json!({"eventID": event_id}).into(),
        baseline: Some(baseline),
    };
    let burst = spike(&[2, 3, 1], 70, 50, 4.0).expect("a spike");
    let mut loaded =
        ctt_store::conformance::file(portal.store.as_ref(), "anomalies.json.gz", vec![]);
    loaded.alerts = vec![
        anomaly(
            "error-spike",
            "err-1",
            "2018-03-09T08:30:00Z",
            Baseline::spike(
                "alucloud001",
                true,
                crate::support::at("2018-03-09T08:00:00Z"),
                &burst,
            ),
        ),
        anomaly(
            "new-service",
            "id-10",
            "2018-03-04T10:00:00Z",
            Baseline::First {
                who: "alucloud001".to_owned(),
                what: "<b>lambda</b>".to_owned(),
                since: crate::support::at("2018-03-01T10:00:00Z"),
                known: vec!["ec2".to_owned(), "<i>s3</i>".to_owned()],
            },
        ),
    ];
    portal.store.load(vec![loaded]).await.expect("load");

    // The API carries the structured field; a rule's alert has none.
    let api = portal.api("/alerts/anomaly:error-spike:err-1", &[]).await;
    assert_eq!(api["baseline"]["type"], "spike");
    assert_eq!(api["baseline"]["count"], 70);
    assert_eq!(api["baseline"]["hour"], "2018-03-09T08:00:00Z");
    assert!(
        api["title"]
            .as_str()
            .expect("title")
            .contains("failed calls")
    );

    let spiked = portal
        .get("/ui/alerts/anomaly:error-spike:err-1")
        .await
        .page("alert");
    let week = format!("{:.1} ± {:.1} an hour", burst.mean, burst.sigma);
    assert!(spiked.contains("data-testid=\"baseline\""), "{spiked}");
    assert!(spiked.contains("Failed calls in the hour"));
    assert!(
        spiked.contains(&format!("data-testid=\"baseline-week\">{week}<")),
        "{spiked}"
    );
    assert!(spiked.contains("data-testid=\"baseline-count\">70<"));
    assert!(
        spiked.contains("user=alucloud001"),
        "the hour's events are linked"
    );
    let first = portal
        .get("/ui/alerts/anomaly:new-service:id-10")
        .await
        .page("alert");
    assert!(
        first.contains("&lt;b&gt;lambda&lt;/b&gt;") && !first.contains("<b>lambda"),
        "names are text"
    );
    assert!(first.contains("data-testid=\"baseline-known\">ec2, &lt;i&gt;s3&lt;/i&gt;<"));

    // alucloud001: ec2 from 1 March, lambda from the 4th, rds (refused) on
    // the 9th; every call at 10:00 but that one at 08:30.
    let user = portal
        .get(&format!("/ui/users/alucloud001?{MARCH}"))
        .await
        .page("user");
    let section = user
        .split("data-testid=\"user-baseline\"")
        .nth(1)
        .expect("a baseline section");
    let services = section.split("<h3>Services</h3>").nth(1).expect("services");
    let order: Vec<usize> = ["ec2 ", "lambda ", "rds "]
        .iter()
        .map(|s| services.find(s).expect(s))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{services}");
    assert!(
        section.contains("data-testid=\"baseline-hours\">10<"),
        "{section}"
    );
    // The week up to 10 March 10:00–11:00: one call in each of 8 hours, one
    // failed in one.
    let (calls, failed) = (week_stats(&[1; 8]), week_stats(&[1]));
    let rate = format!(
        "{:.1} ± {:.1} an hour (failed calls {:.1} ± {:.1} an hour)",
        calls.0, calls.1, failed.0, failed.1
    );
    assert!(section.contains(&rate), "{rate} in {section}");
    // A service's page has none.
    let service = portal
        .get(&format!("/ui/services/ec2?{MARCH}"))
        .await
        .page("service");
    assert!(!service.contains("user-baseline"));
}
