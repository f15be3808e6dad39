//! The dashboard (`/ui/`): for a period (the last hour … 15 days, or from/to),
//! the total, events per service, the most active users, activity over time,
//! counters for the events that cost money or signal trouble, and the latest
//! events. Every figure links to the event list it counts.
//!
//! Store queries, all narrowed to the viewer: one count, four stats (service,
//! user, hour or day, errorCode), four counts for the counters, and a few
//! counts plus one page for the latest events — run concurrently.

use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use chrono::{DateTime, Utc};
use ctt_core::time::format_event_time;
use ctt_core::{EventQuery, GroupBy};
use ctt_store::{AlertQuery, GroupCount, IntegritySummary};
use maud::{Markup, html};

use super::chart::{self, Bar};
use super::filters::{Filters, bucket_of, bucket_starts};
use super::layout::{self, Section, number};
use super::{Ask, Page, Viewer, WebError};
use crate::AppState;

/// How many users the "most active" chart shows.
const TOP_USERS: u32 = 10;
/// How many services the chart shows.
const TOP_SERVICES: u32 = 20;
/// How many of the latest events are listed.
const LATEST: u32 = 10;

/// A counter of notable events: `eventName` (a prefix for `CreateFunction`,
/// which real records name `CreateFunction20150331`).
struct Notable {
    key: &'static str,
    event_name: &'static str,
    prefix: bool,
    what: &'static str,
}

const NOTABLE: [Notable; 4] = [
    Notable {
        key: "RunInstances",
        event_name: "RunInstances",
        prefix: false,
        what: "EC2 instances started",
    },
    Notable {
        key: "CreateDBInstance",
        event_name: "CreateDBInstance",
        prefix: false,
        what: "RDS databases created",
    },
    Notable {
        key: "CreateFunction",
        event_name: "CreateFunction",
        prefix: true,
        what: "Lambda functions created (CreateFunction…)",
    },
    Notable {
        key: "CreateLoadBalancer",
        event_name: "CreateLoadBalancer",
        prefix: false,
        what: "load balancers created",
    },
];

pub async fn page(State(state): State<AppState>, viewer: Viewer, uri: Uri) -> Response {
    viewer.respond(render(&state, &viewer, &uri).await)
}

async fn render(state: &AppState, viewer: &Viewer, uri: &Uri) -> Result<Page, WebError> {
    let filters = Filters::from_query(uri.query())?.period_only();
    let now = state.now();
    let query = filters.query(now)?;
    let pinned = filters.pinned(&query);
    let ask = Ask::new(viewer);
    let bucket = bucket_of(&query);

    let notable_queries = NOTABLE
        .iter()
        .map(|n| {
            let f = notable_filters(&pinned, n);
            f.query(now).map(|q| (f, q))
        })
        .collect::<Result<Vec<_>, _>>()?;

    let (total, services, users, activity, errors, counters) = tokio::try_join!(
        ask.count(&query),
        ask.stats(&query, GroupBy::Service, TOP_SERVICES),
        ask.stats(&query, GroupBy::User, TOP_USERS),
        ask.stats(&query, bucket, ctt_core::query::MAX_LIMIT),
        ask.stats(&query, GroupBy::ErrorCode, ctt_core::query::MAX_LIMIT),
        async {
            let mut counts = Vec::new();
            for (f, q) in &notable_queries {
                counts.push((f.clone(), ask.count(q).await?));
            }
            Ok::<_, WebError>(counts)
        },
    )?;
    let latest = ask.latest(&query, total, LATEST).await?;
    let alert_window = AlertQuery {
        from: Some(query.from),
        to: Some(query.to),
        ..AlertQuery::default()
    };
    // What is left running now (SPEC §11), whatever the period.
    let (marks, integrity, alert_count, running) = tokio::try_join!(
        ask.marks(&latest),
        async { Ok::<_, WebError>(viewer.store.integrity().await?) },
        async { Ok::<_, WebError>(viewer.store.count_alerts(&alert_window).await?) },
        async {
            Ok::<_, WebError>(
                match viewer.store.running(state.now(), &state.prices).await {
                    Ok(running) => Some(running),
                    // A store that does not keep resources (DynamoDB, for now).
                    Err(ctt_store::StoreError::Unsupported(_)) => None,
                    Err(e) => return Err(e.into()),
                },
            )
        },
    )?;
    let alerts_href = format!(
        "/ui/alerts?from={}&to={}",
        format_event_time(query.from),
        format_event_time(query.to)
    );
    let errors: Vec<GroupCount> = errors.into_iter().filter(|g| !g.key.is_empty()).collect();
    let error_total: u64 = errors.iter().map(|g| g.count).sum();

    let last_event = if total == 0 {
        viewer.store.last_event_time().await?
    } else {
        None
    };

    let body = html! {
        h1 { "Dashboard" }
        (layout::period_caption(&query))
        (layout::period_picker("/ui/", &filters, &query))
        section.tiles aria-label="Totals" {
            a.tile.total href=(pinned.events_url()) data-counter="total" data-count=(total)
                data-from=(format_event_time(query.from)) data-to=(format_event_time(query.to)) {
                span.n { (number(total)) }
                span.what { "events" }
                span.sub { "in this period" }
            }
            @for ((f, count), notable) in counters.iter().zip(NOTABLE.iter()) {
                a.tile href=(f.events_url()) data-counter=(notable.key) data-count=(count) {
                    span.n { (number(*count)) }
                    span.what { (notable.key) }
                    span.sub { (notable.what) }
                }
            }
            a.tile.errors href=(errors_href(&pinned, &errors)) data-counter="errors" data-count=(error_total) {
                span.n { (number(error_total)) }
                span.what { "errors" }
                span.sub { "calls refused (AccessDenied…)" }
            }
            a.tile.alerts href=(alerts_href) data-counter="alerts" data-count=(alert_count) {
                span.n { (number(alert_count)) }
                span.what { "alerts" }
                span.sub { "detection rules that fired" }
            }
            @if let Some((count, cost)) = running {
                a.tile.resources href="/ui/resources?state=running" data-counter="left-running" data-count=(count) {
                    span.n { (number(count)) }
                    span.what { "left running" }
                    span.sub { "resources, " (super::resources::cost(Some(cost))) " so far (estimate)" }
                }
            }
            (integrity_tile(&integrity))
        }
        (flagged_files(&integrity))
        @if total == 0 {
            (empty_period(&filters, last_event))
        } @else {
            (activity_chart(&query, &pinned, bucket, &activity))
            div.charts {
                (chart::bars("services", "Events per service", &service_bars(&pinned, &services),
                    Some(html! { p.more { a href=(pinned.period_only().url("/ui/services")) { "All services" } } })))
                (chart::bars("users", &format!("Most active users (top {TOP_USERS})"), &user_bars(&pinned, &users),
                    Some(html! { p.more { a href=(pinned.period_only().url("/ui/users")) { "All users" } } })))
                @if !errors.is_empty() {
                    (chart::bars("errors", "Errors by code", &error_bars(&pinned, &errors), None))
                }
            }
            section.latest aria-labelledby="latest-title" {
                h2 #latest-title { "Latest events" }
                (layout::event_table(&latest, &marks, &format!("The {} latest events of the period, newest first", latest.len()), &pinned.period_only()))
                p.more { a href=(pinned.events_url()) { "All " (number(total)) " events of the period" } }
            }
        }
        (super::api_note(&pinned.count_url(now), "/scan?…&count=true"))
    };
    Ok(Page::new("Dashboard", Section::Dashboard, body))
}

/// The recorded verification of CloudTrail's digests (SPEC §14): how many
/// loaded log files are not valid, and how many events they brought. Absent
/// until a verification is recorded.
fn integrity_tile(summary: &IntegritySummary) -> Markup {
    let Some(at) = summary.last_recorded_at else {
        return html! {};
    };
    let flagged = summary.flagged.len();
    html! {
        @if flagged == 0 {
            div.tile.integrity.ok data-counter="integrity" data-count="0" {
                span.n { "✓" }
                span.what { "log files intact" }
                span.sub { (number(summary.last_recorded_files)) " verified against CloudTrail's digests, " (layout::time(&format_event_time(at))) " UTC" }
            }
        } @else {
            a.tile.integrity.bad href="#integrity" data-counter="integrity" data-count=(flagged) {
                span.n { (number(flagged as u64)) }
                span.what { "log files not valid" }
                span.sub { (number(summary.events_marked())) " events from them are marked ⚠" }
            }
        }
    }
}

/// The flagged files by status; their keys for operators.
fn flagged_files(summary: &IntegritySummary) -> Markup {
    if summary.flagged.is_empty() {
        return html! {};
    }
    html! {
        section.integrity #integrity aria-labelledby="integrity-title" {
            h2 #integrity-title { "Log files that are not valid" }
            p.help {
                "CloudTrail's signed digests do not vouch for these files ("
                code { "ctt verify --record" } "): they were modified, or are not listed by any digest. "
                "Events from them are marked ⚠ wherever they are listed."
            }
            table.flagged {
                thead { tr { th scope="col" { "File" } th scope="col" { "Status" } th scope="col" { "Events" } } }
                tbody {
                    @for file in &summary.flagged {
                        tr data-integrity=(file.status) {
                            td { @if file.key.is_empty() { "—" } @else { code { (file.key) } } }
                            td { (file.status) }
                            td { (number(file.events)) }
                        }
                    }
                }
            }
        }
    }
}

fn notable_filters(pinned: &Filters, notable: &Notable) -> Filters {
    Filters {
        event_name: Some(notable.event_name.to_owned()),
        prefix: notable.prefix,
        ..pinned.clone()
    }
}

/// Events with an error have no single API filter: the errors counter links
/// to the chart of error codes (each code links to its events), or straight
/// to the one code's events.
fn errors_href(pinned: &Filters, errors: &[GroupCount]) -> String {
    match errors {
        [only] => error_filters(pinned, &only.key).events_url(),
        [] => pinned.events_url(),
        _ => "#errors".to_owned(),
    }
}

fn error_filters(pinned: &Filters, code: &str) -> Filters {
    Filters {
        params: vec![("errorCode".to_owned(), code.to_owned())],
        ..pinned.clone()
    }
}

fn service_bars(pinned: &Filters, groups: &[GroupCount]) -> Vec<Bar> {
    groups
        .iter()
        .map(|g| Bar {
            key: g.key.clone(),
            label: g.key.clone(),
            count: g.count,
            href: Some(
                Filters {
                    service: Some(g.key.clone()),
                    ..pinned.clone()
                }
                .events_url(),
            ),
        })
        .collect()
}

fn user_bars(pinned: &Filters, groups: &[GroupCount]) -> Vec<Bar> {
    groups
        .iter()
        .map(|g| Bar {
            key: g.key.clone(),
            label: g.key.clone(),
            count: g.count,
            href: Some(
                Filters {
                    user: Some(g.key.clone()),
                    ..pinned.clone()
                }
                .events_url(),
            ),
        })
        .collect()
}

fn error_bars(pinned: &Filters, groups: &[GroupCount]) -> Vec<Bar> {
    groups
        .iter()
        .map(|g| Bar {
            key: g.key.clone(),
            label: g.key.clone(),
            count: g.count,
            href: Some(error_filters(pinned, &g.key).events_url()),
        })
        .collect()
}

/// Activity over the period, every bucket drawn (empty ones flat).
pub fn activity_chart(
    query: &EventQuery,
    pinned: &Filters,
    bucket: GroupBy,
    groups: &[GroupCount],
) -> Markup {
    let columns = time_columns(query, pinned, bucket, groups);
    let (caption, unit) = match bucket {
        GroupBy::Day => ("Activity by day (UTC)", "day"),
        _ => ("Activity by hour (UTC)", "hour"),
    };
    chart::columns("activity", caption, unit, &columns)
}

/// One column per bucket of the period; each links to the events of its
/// bucket within the period, which are exactly the ones it counts.
pub fn time_columns(
    query: &EventQuery,
    pinned: &Filters,
    bucket: GroupBy,
    groups: &[GroupCount],
) -> Vec<Bar> {
    let counts: std::collections::HashMap<&str, u64> =
        groups.iter().map(|g| (g.key.as_str(), g.count)).collect();
    let step = match bucket {
        GroupBy::Day => chrono::Duration::days(1),
        _ => chrono::Duration::hours(1),
    };
    bucket_starts(query, bucket)
        .into_iter()
        .map(|start| {
            let key = format_event_time(start);
            let count = counts.get(key.as_str()).copied().unwrap_or(0);
            let label = match bucket {
                GroupBy::Day => start.format("%Y-%m-%d").to_string(),
                _ => start.format("%Y-%m-%d %H:00").to_string(),
            };
            let from = start.max(query.from);
            let to = (start + step - chrono::Duration::seconds(1)).min(query.to);
            let href = (count > 0).then(|| {
                let mut f = pinned.clone();
                f.from = Some(format_event_time(from));
                f.to = Some(format_event_time(to));
                f.events_url()
            });
            Bar {
                key,
                label,
                count,
                href,
            }
        })
        .collect()
}

/// Nothing in the period: say so, and offer wider periods (and, when the
/// store holds older events, the fortnight up to the latest one).
fn empty_period(filters: &Filters, last_event: Option<DateTime<Utc>>) -> Markup {
    let mut actions = layout::wider_periods("/ui/", filters);
    let latest_link;
    if let Some(last) = last_event {
        let from = last - chrono::Duration::days(15);
        latest_link = Filters::between(from, last).url("/ui/");
        actions.push((
            latest_link,
            "Show the 15 days up to the latest event stored",
        ));
    }
    let message = match last_event {
        Some(last) => format!(
            "No events in this period. The latest event stored is from {}.",
            layout::instant(last)
        ),
        None => "No events in this period — try a longer one.".to_owned(),
    };
    layout::empty(&message, &actions)
}
