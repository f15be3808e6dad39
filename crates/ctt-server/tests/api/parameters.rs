//! The query string: every time format, every `param`/`value` encoding, every
//! `count` spelling — and every rejection names its parameter.

use serde_json::Value;

use crate::support::{TestApp, fixture_records};

/// How many fixture events lie in `[from, to]` (instants as `YYYY-MM-DDTHH:MM:SSZ`).
fn fixture_between(from: &str, to: &str) -> u64 {
    fixture_records()
        .iter()
        .filter(|r| {
            let t = r["eventTime"].as_str().expect("time");
            t >= from && t <= to
        })
        .count() as u64
}

#[tokio::test]
async fn from_and_to_accept_every_documented_format() {
    let app = TestApp::fixture().await;
    // 2018-03-02T10:00:01Z ..= 2018-03-03T10:00:00Z: id-05, id-06, id-07.
    let want = fixture_between("2018-03-02T10:00:01Z", "2018-03-03T10:00:00Z");
    assert_eq!(want, 3);
    for (from, to) in [
        ("2018-03-02T10:00:01", "2018-03-03T10:00:00"),
        ("2018-03-02T10:00:01Z", "2018-03-03T10:00:00Z"),
        ("2018-03-02%2010:00:01", "2018-03-03%2010:00:00"),
        ("2018-03-02+10:00:01", "2018-03-03+10:00:00"),
        ("2018-03-02%2010:00:01Z", "2018-03-03%2010:00:00Z"),
        ("2018-03-02T12:00:01%2B02:00", "2018-03-03T05:00:00-05:00"),
        (
            "2018-03-02%2012:00:01%2B02:00",
            "2018-03-03%2005:00:00-05:00",
        ),
    ] {
        let uri = format!("/scan?from={from}&to={to}&count=true");
        assert_eq!(app.count(&uri).await, want, "{uri}");
    }
}

#[tokio::test]
async fn date_only_bounds_cover_whole_days() {
    let app = TestApp::fixture().await;
    assert_eq!(
        app.count("/scan?from=2018-03-02&to=2018-03-02&count=true")
            .await,
        3
    );
    assert_eq!(
        app.count("/scan?from=2018-03-02&to=2018-03-04&count=true")
            .await,
        9
    );
    assert_eq!(
        app.count("/scan?from=2018-03-02&to=2018-03-02T10:00:00&count=true")
            .await,
        2,
        "a time on `to` is the exact second"
    );
    assert_eq!(
        app.count("/scan?from=2018-03-02&to=2018-03-02T00:00:00&count=true")
            .await,
        0
    );
}

#[tokio::test]
async fn default_to_is_now_and_default_from_is_a_week_before() {
    let app = TestApp::fixture().await;
    // Now is 2018-03-12T00:00:00Z.
    assert_eq!(
        app.count("/scan?count=true").await,
        fixture_between("2018-03-05T00:00:00Z", "2018-03-12T00:00:00Z")
    );
    assert_eq!(
        app.count("/scan?to=2018-03-03&count=true").await,
        fixture_between("2018-02-24T23:59:59Z", "2018-03-03T23:59:59Z")
    );
}

#[tokio::test]
async fn param_value_accepts_every_encoding() {
    let app = TestApp::fixture().await;
    let range = "from=2018-03-01&to=2018-03-31";
    // alucloud002's events are in eu-west-1; fn-id-05 is one of them.
    for filter in [
        "param=awsRegion&value=eu-west-1&param=functionName&value=fn-id-05",
        "param=awsRegion,functionName&value=eu-west-1,fn-id-05",
        "param=['awsRegion','functionName']&value=['eu-west-1','fn-id-05']",
        "param=['awsRegion',%20'functionName']&value=['eu-west-1',+'fn-id-05']",
        "param=[%22awsRegion%22,%22functionName%22]&value=[%22eu-west-1%22,%22fn-id-05%22]",
        "param=%5B%27awsRegion%27%2C%27functionName%27%5D&value=%5B%27eu-west-1%27%2C%27fn-id-05%27%5D",
        "params=awsRegion&values=eu-west-1&params=functionName&values=fn-id-05",
        "params=awsRegion,functionName&values=eu-west-1,fn-id-05",
        "param=['awsRegion']&value=['eu-west-1']&param=requestParameters_functionName&value=fn-id-05",
    ] {
        let uri = format!("/scan?{range}&{filter}");
        let events = app.json(&uri).await;
        assert_eq!(events.as_array().map(Vec::len), Some(1), "{uri}: {events}");
        assert_eq!(events[0]["eventID"], "id-05", "{uri}");
    }
    let uri = format!("/scan?{range}&param=['awsRegion']&value=['eu-west-1']&count=true");
    assert_eq!(app.count(&uri).await, 10);
    let uri = format!("/scan?{range}&param=userAgent&value=aws-cli/2.0+(x,+y)&count=true");
    assert_eq!(app.count(&uri).await, 30, "a value with a comma, unsplit");
    let uri = format!("/scan?{range}&param=dryRun&value=false&count=true");
    assert_eq!(app.count(&uri).await, 30, "booleans compare as strings");
    let uri = format!("/scan?{range}&param=maxCount&value=1&count=true");
    assert_eq!(app.count(&uri).await, 30, "numbers compare as strings");
}

#[tokio::test]
async fn event_name_matches_exactly_or_by_prefix() {
    let app = TestApp::fixture().await;
    let range = "from=2018-03-01&to=2018-03-31";
    assert_eq!(
        app.count(&format!("/scan?{range}&eventName=RunInstances&count=true"))
            .await,
        6
    );
    assert_eq!(
        app.count(&format!("/scan?{range}&eventName=Run&count=true"))
            .await,
        0
    );
    for spelling in ["true", "True", "1"] {
        let uri = format!("/scan?{range}&eventName=Run&begin_with={spelling}&count=true");
        assert_eq!(app.count(&uri).await, 12, "{uri}");
    }
}

#[tokio::test]
async fn count_accepts_the_originals_spellings() {
    let app = TestApp::fixture().await;
    let range = "from=2018-03-01&to=2018-03-31";
    for spelling in ["true", "True", "TRUE", "1"] {
        let uri = format!("/scan?{range}&count={spelling}");
        assert_eq!(app.json(&uri).await, Value::from(30), "{uri}");
    }
    for spelling in ["false", "False", "0"] {
        let uri = format!("/scan?{range}&count={spelling}");
        assert_eq!(
            app.json(&uri).await.as_array().map(Vec::len),
            Some(30),
            "{uri}"
        );
    }
}

#[tokio::test]
async fn every_rejection_is_a_400_naming_its_parameter() {
    let app = TestApp::fixture().await;
    for (uri, parameter) in [
        ("/scan?frm=2018-01-01", "frm"),
        ("/scan?from=yesterday", "from"),
        ("/scan?from=2018-13-01", "from"),
        ("/scan?to=2018-02-30", "to"),
        ("/scan?to=2018-02-01T25:00:00", "to"),
        ("/scan?from=2018-03-02&to=2018-03-01", "from"),
        ("/scan?count=yes", "count"),
        ("/scan?count=", "count"),
        ("/scan?limit=0", "limit"),
        ("/scan?limit=10001", "limit"),
        ("/scan?limit=ten", "limit"),
        ("/scan?limit=-1", "limit"),
        ("/scan?param=a,b&value=x", "param"),
        ("/scan?param=a&value=x&value=y", "param"),
        ("/scan?param=['a'&value=x", "param"),
        ("/scan?param=a", "param"),
        ("/scan?cursor=%25%25%25", "cursor"),
        ("/scan?cursor=bm90LWEtY3Vyc29y", "cursor"),
        ("/scan?format=xml", "format"),
        ("/scan?begin_with=true", "begin_with"),
        ("/scan?eventName=", "eventName"),
        ("/scan?group_by=user", "group_by"),
        ("/users/alucloud001?from=2018-99-01", "from"),
        ("/services/ec2?count=maybe", "count"),
        ("/stats", "group_by"),
        ("/stats?group_by=week", "group_by"),
        ("/stats?group_by=user&count=true", "count"),
        ("/stats?group_by=user&format=csv", "format"),
        ("/stats?group_by=user&from=2018-03-02&to=2018-03-01", "from"),
    ] {
        app.get(uri).await.assert_invalid(parameter, uri);
    }
}

/// Issue 13.1: 999 `param`/`value` pairs once made SQLite fail ("Expression
/// tree is too large", a 500). Every parameter has a documented limit
/// (docs/api.md): past it, a 400 naming the parameter; never a 5xx, whatever
/// the size.
#[tokio::test]
async fn oversized_queries_are_refused_by_name_never_with_a_5xx() {
    use ctt_core::query::{MAX_PARAM_FILTERS, MAX_VALUE_BYTES};
    let app = TestApp::fixture().await;
    let conditions = |n: usize| -> String {
        (0..n)
            .map(|i| format!("param=awsRegion&value=us-east-{i}"))
            .collect::<Vec<_>>()
            .join("&")
    };
    let week = "from=2018-03-01&to=2018-03-31";
    // At the limit: answered.
    let at_limit = conditions(MAX_PARAM_FILTERS);
    for uri in [
        format!("/scan?{week}&count=true&{at_limit}"),
        format!("/stats?{week}&group_by=user&{at_limit}"),
    ] {
        let response = app.get(&uri).await;
        assert_eq!(response.status, 200, "{uri}: {}", response.text());
    }
    for n in [MAX_PARAM_FILTERS + 1, 998, 999, 1_500] {
        let many = conditions(n);
        for uri in [
            format!("/scan?{week}&count=true&{many}"),
            format!("/scan?{week}&{many}"),
            format!("/users/alucloud001?{week}&{many}"),
            format!("/stats?{week}&group_by=user&{many}"),
        ] {
            app.get(&uri)
                .await
                .assert_invalid("param", &format!("{n} pairs"));
        }
        // The portal reads the same parser: a page saying what is wrong.
        let page = app.get(&format!("/ui/events?{week}&{many}")).await;
        assert_eq!(page.status, 400, "{n} pairs on /ui/events");
        assert!(page.text().contains("param"), "{}", page.text());
    }
    let long = "x".repeat(MAX_VALUE_BYTES + 1);
    app.get(&format!("/scan?param=userAgent&value={long}"))
        .await
        .assert_invalid("value", "a long value");
    app.get(&format!("/scan?eventName={long}"))
        .await
        .assert_invalid("eventName", "a long eventName");
    app.get(&format!("/scan?param={}&value=x", "n".repeat(300)))
        .await
        .assert_invalid("param", "a long name");
}

/// Issue "Scale": a `param` filter no index answers examines at most
/// `[index] scan_limit` stored records per read; one that would examine more
/// is refused — 400 naming `param` and the parameter, how to narrow it —
/// never a long scan a client can repeat. Narrower, or indexed, it is answered.
#[tokio::test]
async fn unindexed_parameter_filters_do_bounded_work() {
    let app = TestApp::with_options(ctt_store::sqlite::SqliteOptions {
        scan_limit: 6,
        ..ctt_store::sqlite::SqliteOptions::default()
    });
    app.load("fixture.json.gz", crate::support::fixture_records())
        .await;
    let month = "from=2018-03-01&to=2018-03-11";
    // Matches none of the 30 events: all 30 records would be read.
    for uri in [
        format!("/scan?{month}&param=requestParameters_maxCount&value=2"),
        format!("/scan?{month}&param=requestParameters_maxCount&value=2&count=true"),
        format!("/users/alucloud001?{month}&param=maxCount&value=2"),
    ] {
        let answer = app.get(&uri).await;
        answer.assert_invalid("param", &uri);
        let detail = answer.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            detail.contains("maxCount") && detail.contains("more than 6"),
            "{uri}: {detail}"
        );
    }
    // Every event matches: a page of 3 reads its 3 records, the one after it
    // (another page follows), and the rest of that one's second, whose
    // events are put in eventID order as they are read (schema 31): 6 of 30.
    let page = app
        .json(&format!(
            "/scan?{month}&param=requestParameters_maxCount&value=1&limit=3"
        ))
        .await;
    assert_eq!(page.as_array().map(Vec::len), Some(3));
    // A narrower window (3 events), or an indexed parameter: answered.
    let day = "from=2018-03-01T00:00:00Z&to=2018-03-01T23:59:59Z";
    assert_eq!(
        app.count(&format!(
            "/scan?{day}&param=requestParameters_maxCount&value=1&count=true"
        ))
        .await,
        3
    );
    assert_eq!(
        app.count(&format!(
            "/scan?{month}&param=requestParameters_instanceType&value=t2.micro&count=true"
        ))
        .await,
        30
    );
}
