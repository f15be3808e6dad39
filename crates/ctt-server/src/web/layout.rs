//! The page shell (head, navigation, footer) and the pieces every page uses:
//! the period picker, the event table, numbers, times, empty states.
//!
//! Everything is `maud` markup: a string from an event goes in as `(value)`,
//! which escapes it; nothing here writes unescaped text but the fixed markup.
//! No inline script or style (the Content-Security-Policy forbids them): the
//! stylesheet and the small script are `/static/` files.

use axum::response::Html;
use chrono::{DateTime, Utc};
use ctt_core::{EventQuery, EventSummary};
use ctt_store::Role;
use maud::{DOCTYPE, Markup, html};

use super::filters::{Filters, Preset, event_url, service_url, user_url};
use crate::access::Marks;

/// The portal's sections, for the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Dashboard,
    Users,
    Services,
    Events,
    Alerts,
    Resources,
    Courses,
}

/// Who is looking, as the header shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// Not signed in (the sign-in page).
    SignedOut,
    /// Access is open: no token exists.
    Open,
    SignedIn {
        name: String,
        role: Role,
        user: Option<String>,
    },
}

/// What surrounds a page's body.
#[derive(Debug, Clone)]
pub struct Shell {
    pub title: String,
    pub section: Option<Section>,
    pub who: Who,
}

impl Shell {
    pub fn signed_out(title: &str) -> Self {
        Self {
            title: title.to_owned(),
            section: None,
            who: Who::SignedOut,
        }
    }
}

/// A whole HTML page.
pub fn page(shell: &Shell, body: Markup) -> Html<String> {
    let nav = [
        (Section::Dashboard, "/ui/", "Dashboard"),
        (Section::Users, "/ui/users", "Users"),
        (Section::Services, "/ui/services", "Services"),
        (Section::Events, "/ui/events", "Events"),
        (Section::Alerts, "/ui/alerts", "Alerts"),
        (Section::Resources, "/ui/resources", "Resources"),
        (Section::Courses, "/ui/courses", "Courses"),
    ];
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (shell.title) " · CloudTrail-Tracker" }
                link rel="stylesheet" href="/static/portal.css";
                link rel="icon" type="image/svg+xml" href="/static/favicon.svg";
                script src="/static/portal.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/ui/" { "CloudTrail-Tracker" }
                    @if shell.who != Who::SignedOut {
                        nav aria-label="Sections" {
                            ul {
                                @for (section, href, label) in nav {
                                    li {
                                        @if shell.section == Some(section) {
                                            a href=(href) aria-current="page" { (label) }
                                        } @else {
                                            a href=(href) { (label) }
                                        }
                                    }
                                }
                                li { a href="/docs" { "API" } }
                            }
                        }
                    }
                    div.who {
                        @match &shell.who {
                            Who::SignedOut => {}
                            Who::Open => { span title="No API token exists: anyone on this machine can read" { "Open access" } }
                            Who::SignedIn { name, role, user } => {
                                span.signed-in {
                                    "Signed in: " strong { (name) } " (" (role)
                                    @if let Some(user) = user { ", " (user) }
                                    ")"
                                }
                                form.logout method="post" action="/logout" {
                                    button type="submit" { "Sign out" }
                                }
                            }
                        }
                    }
                }
                main #main tabindex="-1" { (body) }
                footer {
                    @if shell.who == Who::SignedOut {
                        p { "CloudTrail-Tracker: who did what, with which service, when." }
                    } @else {
                        p { "Times are UTC. Every number comes from the same queries as the "
                            a href="/docs" { "REST API" } "." }
                    }
                }
            }
        }
    };
    Html(markup.into_string())
}

/// `12,345`.
pub fn number(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `2018-06-15 12:00:03` from an event time (`…T…Z`); the zone is named by
/// the column or the sentence around it.
pub fn time_text(event_time: &str) -> String {
    event_time.trim_end_matches('Z').replacen('T', " ", 1)
}

/// `2018-06-15 12:00:03 UTC`.
pub fn instant(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The value of a `datetime-local` input (read back as UTC).
fn local_input(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// A `<time>` element.
pub fn time(event_time: &str) -> Markup {
    html! { time datetime=(event_time) { (time_text(event_time)) } }
}

/// "From … to … UTC".
pub fn period_caption(query: &EventQuery) -> Markup {
    html! {
        p.period {
            time datetime=(ctt_core::time::format_event_time(query.from)) { (instant(query.from)) }
            " – "
            time datetime=(ctt_core::time::format_event_time(query.to)) { (instant(query.to)) }
        }
    }
}

/// Quick periods (links) and a from/to form (to the second, UTC), keeping the
/// page's other filters.
pub fn period_picker(path: &str, filters: &Filters, query: &EventQuery) -> Markup {
    let default_period = filters.period.is_none() && filters.from.is_none() && filters.to.is_none();
    let keep = Filters {
        period: None,
        from: None,
        to: None,
        cursor: None,
        page: 1,
        ..filters.clone()
    };
    html! {
        div.periods {
            nav.presets aria-label="Period" {
                @for preset in Preset::ALL {
                    @let link = Filters { period: Some(preset), ..keep.clone() }.url(path);
                    @let current = filters.period == Some(preset) || (default_period && preset == Preset::Week);
                    @if current {
                        a href=(link) aria-current="true" { (preset.label()) }
                    } @else {
                        a href=(link) { (preset.label()) }
                    }
                }
            }
            form.range method="get" action=(path) {
                @for (key, value) in keep.portal_pairs() {
                    input type="hidden" name=(key) value=(value);
                }
                label for="range-from" { "From (UTC)" }
                input #range-from type="datetime-local" step="1" name="from" value=(local_input(query.from));
                label for="range-to" { "To (UTC)" }
                input #range-to type="datetime-local" step="1" name="to" value=(local_input(query.to));
                button type="submit" { "Show" }
            }
        }
    }
}

/// A table of events. Links to users' and services' pages keep `period`
/// (the page's period, pinned), so a click shows the same stretch of time.
/// Events from log files that are not valid are marked (SPEC §14): the row
/// carries `data-integrity` and its event name a badge with the status.
pub fn event_table(
    events: &[EventSummary],
    marks: &Marks,
    caption: &str,
    period: &Filters,
) -> Markup {
    html! {
        div.table-wrap {
            table.events data-table="events" {
                caption { (caption) }
                thead {
                    tr {
                        th scope="col" { "Time (UTC)" }
                        th scope="col" { "User" }
                        th scope="col" { "Service" }
                        th scope="col" { "Event" }
                        th scope="col" { "Region" }
                        th scope="col" .wide { "Source IP" }
                        th scope="col" { "Error" }
                        th scope="col" .wide { "User agent" }
                    }
                }
                tbody {
                    @for e in events {
                        @let mark = marks.get(&e.event_id);
                        tr data-event-id=(e.event_id) data-integrity=[mark] {
                            td { a href=(event_url(&e.event_id)) { (time(&e.event_time)) } }
                            td { a href=(period.url(&user_url(&e.user))) { (e.user) } }
                            td { a href=(period.url(&service_url(&e.service))) { (e.service) } }
                            td {
                                a href=(event_url(&e.event_id)) { (e.event_name) }
                                @if let Some(status) = mark { " " (integrity_badge(status)) }
                            }
                            td { (e.aws_region.as_deref().unwrap_or("")) }
                            td.wide { (e.source_ip_address.as_deref().unwrap_or("")) }
                            td.error { (e.error_code.as_deref().unwrap_or("")) }
                            td.wide.ua { (e.user_agent.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    }
}

/// A warning that an event came from a log file whose digest does not vouch
/// for it: `modified`, `not-covered`.
pub fn integrity_badge(status: &str) -> Markup {
    html! {
        span.integrity title=(format!("From a log file that is {status}: CloudTrail's digest does not vouch for it")) {
            "⚠ " (status)
        }
    }
}

/// An empty state: what is missing and what to do about it.
pub fn empty(message: &str, actions: &[(String, &str)]) -> Markup {
    html! {
        div.empty role="status" {
            p { (message) }
            @if !actions.is_empty() {
                ul {
                    @for (href, label) in actions {
                        li { a href=(href) { (label) } }
                    }
                }
            }
        }
    }
}

/// Links to wider periods, for an empty state.
pub fn wider_periods(path: &str, filters: &Filters) -> Vec<(String, &'static str)> {
    [
        (Preset::Week, "Try the last week"),
        (Preset::FifteenDays, "Try the last 15 days"),
    ]
    .into_iter()
    .filter(|(p, _)| filters.period != Some(*p))
    .map(|(p, label)| {
        (
            Filters {
                period: Some(p),
                from: None,
                to: None,
                cursor: None,
                page: 1,
                ..filters.clone()
            }
            .url(path),
            label,
        )
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_thousands_separators() {
        for (n, text) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (123_456, "123,456"),
            (1_234_567, "1,234,567"),
        ] {
            assert_eq!(number(n), text);
        }
    }

    #[test]
    fn event_strings_are_escaped() {
        let event = EventSummary {
            event_id: "id\"><script>".into(),
            event_name: "RunInstances".into(),
            event_source: "ec2.amazonaws.com".into(),
            event_time: "2018-06-15T12:00:00Z".into(),
            user_identity_user_name: "<b>u</b>".into(),
            user: "<b>u</b>".into(),
            service: "ec2".into(),
            identity_type: None,
            role: None,
            aws_region: None,
            source_ip_address: None,
            user_agent: Some("<script>alert(1)</script>".into()),
            error_code: None,
            error_message: None,
            read_only: None,
            event_type: None,
        };
        let html = event_table(&[event], &Marks::new(), "t", &Filters::default()).into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
    }
}
