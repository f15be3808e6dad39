//! Headers every portal response carries, and strings from events rendered
//! as text: the crafted `<script>` user agent and `<img onerror>` parameter.

use ctt_server::web::CONTENT_SECURITY_POLICY;

use crate::support::{HOST, MARCH, ORIGIN, Portal};

fn portal_uris() -> Vec<String> {
    vec![
        format!("/ui/?{MARCH}"),
        format!("/ui/users?{MARCH}"),
        format!("/ui/users/mallory?{MARCH}"),
        "/ui/resources?state=".into(),
        format!("/ui/services?{MARCH}"),
        format!("/ui/services/s3?{MARCH}"),
        format!("/ui/events?user=mallory&{MARCH}"),
        "/ui/events/xss-ua".into(),
        "/ui/events/xss-param".into(),
        "/ui/events?from=yesterday".into(),
        "/ui/nothing-here".into(),
        "/login".into(),
        "/static/portal.css".into(),
        "/static/portal.js".into(),
        "/static/favicon.svg".into(),
        "/".into(),
    ]
}

#[tokio::test]
async fn every_portal_response_carries_the_security_headers() {
    assert_eq!(
        CONTENT_SECURITY_POLICY,
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    );
    let portal = Portal::fixture().await;
    for uri in portal_uris() {
        let answer = portal.get(&uri).await;
        assert_eq!(
            answer.header("content-security-policy"),
            Some(CONTENT_SECURITY_POLICY),
            "{uri}"
        );
        assert_eq!(
            answer.header("x-content-type-options"),
            Some("nosniff"),
            "{uri}"
        );
        assert_eq!(
            answer.header("referrer-policy"),
            Some("same-origin"),
            "{uri}"
        );
        if uri.starts_with("/ui") {
            assert_eq!(answer.header("cache-control"), Some("no-store"), "{uri}");
        }
    }
}

#[tokio::test]
async fn pages_hold_no_inline_script_or_style() {
    let portal = Portal::fixture().await;
    for uri in portal_uris() {
        let answer = portal.get(&uri).await;
        let text = answer.text();
        if !answer
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/html"))
        {
            continue;
        }
        let scripts: Vec<&str> = text.split("<script").skip(1).collect();
        assert_eq!(scripts.len(), 1, "{uri}: one script element");
        assert!(
            scripts[0].starts_with(" src=\"/static/portal.js\""),
            "{uri}: {}",
            scripts[0]
        );
        assert!(!text.contains(" style="), "{uri}: an inline style");
        assert!(!text.contains("<style"), "{uri}: a style element");
        // Inside tags (text between them holds no raw `<`): no event handler.
        for tag in text.split('<').skip(1).filter_map(|t| t.split('>').next()) {
            for handler in [" onerror=", " onclick=", " onload=", " onfocus="] {
                assert!(!tag.contains(handler), "{uri}: <{tag}>");
            }
        }
    }
}

#[tokio::test]
async fn strings_from_events_are_text() {
    let portal = Portal::fixture().await;
    let script = "&lt;script&gt;alert(1)&lt;/script&gt;";
    let img = "&lt;img src=x onerror=alert(1)&gt;";
    let list = portal
        .get(&format!("/ui/events?user=mallory&{MARCH}"))
        .await
        .page("mallory's events");
    assert!(list.contains(script), "{list}");
    let ua = portal.get("/ui/events/xss-ua").await.page("xss-ua");
    assert!(ua.contains(script), "{ua}");
    let param = portal.get("/ui/events/xss-param").await.page("xss-param");
    assert!(param.contains(img), "{param}");
    let filtered = portal
        .get(&format!(
            "/ui/events?param=bucketName&value=%3Cimg+src%3Dx+onerror%3Dalert%281%29%3E&{MARCH}"
        ))
        .await
        .page("filtered by the crafted value");
    assert!(
        filtered.contains("data-event-id=\"xss-param\""),
        "{filtered}"
    );
    assert!(filtered.contains("value=\"&lt;img src=x onerror=alert(1)&gt;\""));
    for page in [&list, &ua, &param, &filtered] {
        assert!(!page.contains("<script>alert"));
        assert!(!page.contains("<img"));
    }
    let dashboard = portal.get(&format!("/ui/?{MARCH}")).await.page("dashboard");
    assert!(
        dashboard.contains(script),
        "the latest events show the user agent"
    );
    assert!(!dashboard.contains("<script>alert"));
}

/// The value of `name="…"` in a tag's text.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    Some(&tag[start..start + tag[start..].find('"')?])
}

#[tokio::test]
async fn every_control_has_a_label() {
    let portal = Portal::fixture().await;
    for uri in [
        format!("/ui/?{MARCH}"),
        format!("/ui/users?{MARCH}"),
        format!("/ui/users/alucloud001?{MARCH}"),
        format!("/ui/events?{MARCH}"),
    ] {
        let text = portal.get(&uri).await.text();
        let labels: Vec<&str> = text
            .split("<label")
            .skip(1)
            .filter_map(|t| t.split('>').next())
            .filter_map(|tag| attribute(tag, "for"))
            .collect();
        let mut controls = 0;
        for element in ["<input", "<select"] {
            for tag in text
                .split(element)
                .skip(1)
                .filter_map(|t| t.split('>').next())
            {
                if attribute(tag, "type") == Some("hidden") {
                    continue;
                }
                controls += 1;
                let id = attribute(tag, "id").unwrap_or_else(|| panic!("{uri}: {tag} has no id"));
                assert!(labels.contains(&id), "{uri}: no <label for=\"{id}\">");
            }
        }
        assert!(controls > 0, "{uri}");
    }
}

/// What axum refuses before a portal handler runs (a form without its content
/// type or its field, a repeated query field, a method a route does not take)
/// is an HTML page with the portal's headers, saying what is wrong — never
/// axum's plain text.
#[tokio::test]
async fn refusals_before_a_page_are_html_pages() {
    let portal = Portal::fixture().await;
    let origin = [("host", HOST), ("origin", ORIGIN)];
    let form = [
        ("host", HOST),
        ("origin", ORIGIN),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    for (method, uri, headers, body, status, says) in [
        (
            "POST",
            "/login",
            &origin[..],
            "token=x",
            415,
            "Content-Type",
        ),
        ("POST", "/login", &form[..], "next=%2Fui%2F", 422, "token"),
        (
            "GET",
            "/login?signed_out=1&signed_out=2",
            &[][..],
            "",
            400,
            "signed_out",
        ),
        ("GET", "/logout", &[][..], "", 405, "Method Not Allowed"),
    ] {
        let answer = portal.send(method, uri, headers, body).await;
        let context = format!("{method} {uri}");
        assert_eq!(
            answer.status.as_u16(),
            status,
            "{context}: {}",
            answer.text()
        );
        assert_eq!(
            answer.header("content-type"),
            Some("text/html; charset=utf-8"),
            "{context}"
        );
        assert_eq!(
            answer.header("content-security-policy"),
            Some(CONTENT_SECURITY_POLICY),
            "{context}"
        );
        let page = answer.text();
        assert!(page.starts_with("<!DOCTYPE html>"), "{context}: {page}");
        assert!(page.contains(says), "{context}: {page}");
    }
}
