//! Role `self` in the portal: a student sees only their own events — on the
//! dashboard, in lists, on pages — and other users' pages and events are 404s,
//! exactly like ones that do not exist.

use axum::http::StatusCode;
use ctt_store::Role;

use crate::support::{MARCH, Portal};

const OTHERS: [&str; 3] = ["alucloud000", "alucloud002", "mallory"];

async fn student() -> (Portal, String, String) {
    let mut portal = Portal::fixture().await;
    let token = portal
        .token("alu001", Role::OwnUser, Some("alucloud001"))
        .await;
    let session = portal.sign_in(&token).await;
    (portal, token, session)
}

#[tokio::test]
async fn the_dashboard_counts_only_their_events() {
    let (portal, token, session) = student().await;
    let answer = portal.get_as(&format!("/ui/?{MARCH}"), &session).await;
    let page = answer.page("dashboard");
    let bearer = format!("Bearer {token}");
    let own = portal
        .api(
            &format!("/scan?{MARCH}&count=true"),
            &[("authorization", &bearer)],
        )
        .await;
    assert_eq!(own, 11);
    assert_eq!(
        answer.attribute_after("data-counter=\"total\"", "data-count"),
        Some(own.to_string())
    );
    for other in OTHERS {
        assert!(!page.contains(other), "{other} appears on the dashboard");
    }
    assert!(page.contains("Signed in: <strong>alu001</strong> (self, alucloud001)"));
}

#[tokio::test]
async fn lists_hold_only_themselves() {
    let (portal, _, session) = student().await;
    let users = portal
        .get_as(&format!("/ui/users?{MARCH}"), &session)
        .await
        .page("users");
    assert!(users.contains("data-name=\"alucloud001\""));
    let services = portal
        .get_as(&format!("/ui/services?{MARCH}"), &session)
        .await
        .page("services");
    let events = portal
        .get_as(&format!("/ui/events?{MARCH}"), &session)
        .await
        .page("events");
    assert!(events.contains("data-count=\"11\""), "{events}");
    let ec2 = portal
        .get_as(&format!("/ui/services/ec2?{MARCH}"), &session)
        .await
        .page("ec2");
    for page in [&users, &services, &events, &ec2] {
        for other in OTHERS {
            assert!(!page.contains(other), "{other}");
        }
    }
    assert!(
        !services.contains("All events"),
        "no all-time catalog counts"
    );
}

#[tokio::test]
async fn other_users_pages_and_events_are_not_found() {
    let (portal, _, session) = student().await;
    let unknown = portal.get_as("/ui/users/nobody", &session).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    for other in OTHERS {
        let answer = portal
            .get_as(&format!("/ui/users/{other}?{MARCH}"), &session)
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{other}");
        assert_eq!(
            answer.text().replace(other, "X"),
            unknown.text().replace("nobody", "X"),
            "{other}: the same page as a user never seen"
        );
        let list = portal
            .get_as(&format!("/ui/events?user={other}&{MARCH}"), &session)
            .await
            .page("another user's events");
        assert!(list.contains("data-count=\"0\""), "{other}: {list}");
        assert!(!list.contains("data-event-id="), "{other}");
    }
    for (id, visible) in [
        ("id-00", false),
        ("id-01", true),
        ("err-1", true),
        ("xss-ua", false),
    ] {
        let answer = portal.get_as(&format!("/ui/events/{id}"), &session).await;
        let expected = if visible {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        };
        assert_eq!(answer.status, expected, "{id}");
    }
}

#[tokio::test]
async fn downloads_hold_only_their_events() {
    let (portal, _, session) = student().await;
    let csv = portal
        .get_as(&format!("/scan?{MARCH}&format=csv"), &session)
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    let text = csv.text();
    assert_eq!(text.lines().count(), 12, "a header and 11 events");
    for other in OTHERS {
        assert!(!text.contains(other), "{other}");
    }
}
