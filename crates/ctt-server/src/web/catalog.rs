//! Users and services: a searchable list of each (`/ui/users`,
//! `/ui/services`) with their events in the period, and a page for each one
//! (`/ui/users/{user}`, `/ui/services/{service}`): its timeline, the services it
//! used (or the users who used it), what it did, and its latest events.
//!
//! Role `self` sees only itself: the users list holds its own name, another
//! user's page is a 404 exactly like a user never seen, and a service's page
//! counts only its own events (and hides the catalog's all-time figures, which
//! count everyone).

use std::collections::HashMap;

use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use ctt_core::time::format_event_time;
use ctt_core::{GroupBy, Scope};
use ctt_store::{AlertQuery, CatalogEntry, GroupCount, ResourceFilter, StateFilter, UserBaseline};
use maud::{Markup, html};

use super::chart::{self, Bar};
use super::dashboard::activity_chart;
use super::filters::{Filters, bucket_of, event_url, segment, service_url, user_url};
use super::layout::{self, Section, instant, number};
use super::{Ask, Page, Viewer, WebError};
use crate::AppState;
use crate::api::query::PathParam;

/// Users or services: the two lists and pages differ only in these words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    User,
    Service,
}

impl Kind {
    fn group_by(self) -> GroupBy {
        match self {
            Kind::User => GroupBy::User,
            Kind::Service => GroupBy::Service,
        }
    }

    fn list_path(self) -> &'static str {
        match self {
            Kind::User => "/ui/users",
            Kind::Service => "/ui/services",
        }
    }

    fn page_url(self, name: &str) -> String {
        match self {
            Kind::User => user_url(name),
            Kind::Service => service_url(name),
        }
    }

    fn section(self) -> Section {
        match self {
            Kind::User => Section::Users,
            Kind::Service => Section::Services,
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Kind::User => "Users",
            Kind::Service => "Services",
        }
    }

    fn singular(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Service => "service",
        }
    }

    /// The filters of this one's events.
    fn filters(self, name: &str, base: &Filters) -> Filters {
        match self {
            Kind::User => Filters {
                user: Some(name.to_owned()),
                ..base.clone()
            },
            Kind::Service => Filters {
                service: Some(name.to_owned()),
                ..base.clone()
            },
        }
    }

    fn scope(self, name: &str) -> Scope {
        match self {
            Kind::User => Scope::User(name.to_owned()),
            Kind::Service => Scope::Service(name.to_owned()),
        }
    }
}

pub async fn users_page(State(state): State<AppState>, viewer: Viewer, uri: Uri) -> Response {
    viewer.respond(list(&state, &viewer, &uri, Kind::User).await)
}

pub async fn services_page(State(state): State<AppState>, viewer: Viewer, uri: Uri) -> Response {
    viewer.respond(list(&state, &viewer, &uri, Kind::Service).await)
}

pub async fn user_page(
    State(state): State<AppState>,
    viewer: Viewer,
    PathParam(user): PathParam<String>,
    uri: Uri,
) -> Response {
    viewer.respond(one(&state, &viewer, &uri, Kind::User, &user).await)
}

pub async fn service_page(
    State(state): State<AppState>,
    viewer: Viewer,
    PathParam(service): PathParam<String>,
    uri: Uri,
) -> Response {
    viewer.respond(one(&state, &viewer, &uri, Kind::Service, &service).await)
}

/// The catalog entries this viewer may see.
async fn catalog(viewer: &Viewer, kind: Kind) -> Result<Vec<CatalogEntry>, WebError> {
    Ok(match kind {
        Kind::User => viewer.store.users().await?,
        Kind::Service => viewer.store.services().await?,
    })
}

/// At most this many rows in a list (search to narrow it).
const MAX_ROWS: usize = 1000;

async fn list(state: &AppState, viewer: &Viewer, uri: &Uri, kind: Kind) -> Result<Page, WebError> {
    let asked = Filters::from_query(uri.query())?;
    let filters = Filters {
        q: asked.q.clone(),
        everyone: asked.everyone,
        ..asked.period_only()
    };
    let now = state.now();
    let query = filters.query(now)?;
    let pinned = filters.pinned(&query);
    let ask = Ask::new(viewer);
    let (entries, groups) = tokio::try_join!(
        catalog(viewer, kind),
        ask.stats(&query, kind.group_by(), ctt_core::query::MAX_LIMIT),
    )?;
    let in_period: HashMap<&str, u64> = groups.iter().map(|g| (g.key.as_str(), g.count)).collect();
    let needle = filters.q.as_deref().map(str::to_lowercase);
    // Those active in the period, unless a search or `all` asks for every name.
    let active_only = !filters.everyone && needle.is_none();
    let matching: Vec<&CatalogEntry> = entries
        .iter()
        .filter(|e| {
            needle
                .as_deref()
                .is_none_or(|n| e.name.to_lowercase().contains(n))
                && (!active_only || in_period.contains_key(e.name.as_str()))
        })
        .collect();
    let shown = &matching[..matching.len().min(MAX_ROWS)];
    // The catalog's all-time figures count every user's events: role `self`
    // sees them only for itself.
    let all_time = kind == Kind::User || viewer.sees_everyone();
    let plural = kind.plural();
    let lower = plural.to_lowercase();
    let list_path = kind.list_path();
    let everyone_url = Filters {
        everyone: true,
        q: None,
        ..filters.clone()
    }
    .url(list_path);
    let active_url = Filters {
        everyone: false,
        q: None,
        ..filters.clone()
    }
    .url(list_path);
    let caption = if active_only {
        format!(
            "{} {lower} active in the period (of {} seen)",
            number(matching.len() as u64),
            number(entries.len() as u64)
        )
    } else {
        format!(
            "{} of {} {lower}",
            number(matching.len() as u64),
            number(entries.len() as u64)
        )
    };
    let empty = if entries.is_empty() {
        Some(layout::empty(
            &format!("No {lower} seen yet: load CloudTrail logs with `ctt ingest`."),
            &[],
        ))
    } else if matching.is_empty() && active_only {
        let mut actions = layout::wider_periods(list_path, &filters);
        actions.push((everyone_url.clone(), "List every one ever seen"));
        Some(layout::empty(
            &format!("No {} was active in this period.", kind.singular()),
            &actions,
        ))
    } else if matching.is_empty() {
        Some(layout::empty(
            &format!(
                "No {} name contains “{}”.",
                kind.singular(),
                filters.q.clone().unwrap_or_default()
            ),
            &[(active_url.clone(), "Show the active ones")],
        ))
    } else {
        None
    };
    let body = html! {
        h1 { (plural) }
        (layout::period_caption(&query))
        (layout::period_picker(list_path, &filters, &query))
        form.search method="get" action=(list_path) role="search" {
            @for (key, value) in filters.portal_pairs() {
                @if key != "q" { input type="hidden" name=(key) value=(value); }
            }
            label for="q" { "Search " (lower) }
            input #q type="search" name="q" value=(filters.q.clone().unwrap_or_default())
                placeholder=(match kind { Kind::User => "alucloud0", Kind::Service => "ec2" });
            button type="submit" { "Search" }
            @if active_only {
                a href=(everyone_url) { "List every one ever seen" }
            } @else {
                a href=(active_url) { "Only those active in the period" }
            }
        }
        @if let Some(empty) = empty {
            (empty)
        } @else {
            div.table-wrap {
                table.catalog data-table=(kind.singular()) {
                    caption {
                        (caption)
                        @if shown.len() < matching.len() {
                            " — the first " (number(shown.len() as u64)) " shown: search to narrow the list"
                        }
                    }
                    thead {
                        tr {
                            th scope="col" { (plural.trim_end_matches('s')) }
                            th scope="col" .num { "Events in period" }
                            @if all_time {
                                th scope="col" .num { "All events" }
                                th scope="col" .wide { "First seen (UTC)" }
                                th scope="col" .wide { "Last seen (UTC)" }
                            }
                        }
                    }
                    tbody {
                        @for entry in shown {
                            @let count = in_period.get(entry.name.as_str()).copied().unwrap_or(0);
                            tr data-name=(entry.name) {
                                th scope="row" { a href=(pinned.period_only().url(&kind.page_url(&entry.name))) { (entry.name) } }
                                td.num {
                                    @if count > 0 {
                                        a href=(kind.filters(&entry.name, &pinned).events_url()) data-count=(count) { (number(count)) }
                                    } @else { span data-count="0" { "0" } }
                                }
                                @if all_time {
                                    td.num { (number(entry.events)) }
                                    td.wide { (layout::time(&format_event_time(entry.first_seen))) }
                                    td.wide { (layout::time(&format_event_time(entry.last_seen))) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(Page::new(plural, kind.section(), body))
}

async fn one(
    state: &AppState,
    viewer: &Viewer,
    uri: &Uri,
    kind: Kind,
    name: &str,
) -> Result<Page, WebError> {
    let not_found = || {
        WebError::NotFound(format!(
            "No {} named “{name}” has been seen.",
            kind.singular()
        ))
    };
    if kind == Kind::User && !viewer.identity.may_see_user(name) {
        return Err(not_found());
    }
    let entry = catalog(viewer, kind)
        .await?
        .into_iter()
        .find(|e| e.name == name)
        .ok_or_else(not_found)?;
    let filters = Filters::from_query(uri.query())?.period_only();
    let now = state.now();
    let query = filters.query_in(kind.scope(name), now)?;
    let pinned = kind.filters(name, &filters.pinned(&query));
    let ask = Ask::new(viewer);
    let bucket = bucket_of(&query);
    let other = match kind {
        Kind::User => GroupBy::Service,
        Kind::Service => GroupBy::User,
    };
    let (total, activity, others, names) = tokio::try_join!(
        ask.count(&query),
        ask.stats(&query, bucket, ctt_core::query::MAX_LIMIT),
        ask.stats(&query, other, 50),
        ask.stats(&query, GroupBy::EventName, 15),
    )?;
    let latest = ask.latest(&query, total, 20).await?;
    let marks = ask.marks(&latest).await?;
    // A user's alerts in the period, newest last (SPEC §12).
    let alerts = match kind {
        Kind::User => {
            let window = AlertQuery {
                from: Some(query.from),
                to: Some(query.to),
                user: Some(name.to_owned()),
                limit: 20,
                ..AlertQuery::default()
            };
            Some(viewer.store.alerts(&window).await?)
        }
        Kind::Service => None,
    };
    // What a user created and left open at the period's end (SPEC §11).
    let resources = match kind {
        Kind::User => {
            let open = ResourceFilter {
                user: Some(name.to_owned()),
                state: Some(StateFilter::Open),
                kind: None,
                at: query.to.min(now),
            };
            match viewer
                .store
                .resources(ctt_store::ResourceQuery::all(open), &state.prices)
                .await
            {
                Ok(open) => Some(open),
                // A store that does not keep resources (DynamoDB, for now).
                Err(ctt_store::StoreError::Unsupported(_)) => None,
                Err(e) => return Err(e.into()),
            }
        }
        Kind::Service => None,
    };
    // What their anomalies are judged against (SPEC §13): all time.
    let baseline = match kind {
        Kind::User => viewer.store.user_baseline(name).await?,
        Kind::Service => None,
    };
    let all_time = kind == Kind::User || viewer.sees_everyone();
    let path = kind.page_url(name);
    let whole_history = Filters::between(entry.first_seen, entry.last_seen).url(&path);
    let (others_caption, others_bars) = match kind {
        Kind::User => (
            "Services used",
            bars(&others, |k| Filters {
                service: Some(k.to_owned()),
                ..pinned.clone()
            }),
        ),
        Kind::Service => (
            "Users who used it",
            bars(&others, |k| Filters {
                user: Some(k.to_owned()),
                service: Some(name.to_owned()),
                ..pinned.clone()
            }),
        ),
    };
    let name_bars = bars(&names, |k| Filters {
        event_name: Some(k.to_owned()),
        ..pinned.clone()
    });
    let mut empty_actions = layout::wider_periods(&path, &filters);
    if all_time {
        empty_actions.push((whole_history.clone(), "Show the whole history"));
    }
    let empty_message = if all_time {
        format!(
            "No events for {name} in this period. Last seen {}.",
            instant(entry.last_seen)
        )
    } else {
        format!("None of your events is for {name} in this period.")
    };
    let body = html! {
        p.crumbs { a href=(kind.list_path()) { (kind.plural()) } " / " }
        h1 { (name) }
        @if all_time {
            dl.facts {
                div { dt { "All events" } dd { (number(entry.events)) } }
                div { dt { "First seen" } dd { (instant(entry.first_seen)) } }
                div { dt { "Last seen" } dd { (instant(entry.last_seen)) } }
                div { dt { "Whole history" } dd { a href=(whole_history) { "Show it" } } }
            }
        }
        (layout::period_caption(&query))
        (layout::period_picker(&path, &filters, &query))
        section.tiles aria-label="Totals" {
            a.tile.total href=(pinned.events_url()) data-counter="total" data-count=(total) {
                span.n { (number(total)) }
                span.what { "events" }
                span.sub { "in this period" }
            }
        }
        @if let Some(resources) = &resources {
            section.user-resources aria-labelledby="resources-title" {
                h2 #resources-title { "Left open" }
                @if resources.is_empty() {
                    p.empty { "Nothing this user created was still running or stopped at the end of the period." }
                } @else {
                    p.help {
                        (resources.len()) " resources this user created were still there at the end of the period, "
                        (super::resources::cost(Some(resources.iter().filter_map(|r| r.estimated_cost).sum())))
                        " estimated so far (never a bill)."
                    }
                    (super::resources::resource_table(resources, "Created by this user, open at the end of the period"))
                }
                p.more { a href=(format!("/ui/resources?state=&user={}", segment(name))) { "Everything this user created" } }
            }
        }
        @if let Some(b) = &baseline {
            (baseline_section(b))
        }
        @if total == 0 {
            (layout::empty(&empty_message, &empty_actions))
        } @else {
            (activity_chart(&query, &pinned, bucket, &activity))
            div.charts {
                (chart::bars("others", others_caption, &others_bars, None))
                (chart::bars("names", "What was done (top 15 event names)", &name_bars, None))
            }
            @if let Some(alerts) = &alerts {
                section.user-alerts aria-labelledby="alerts-title" {
                    h2 #alerts-title { "Alerts" }
                    @if alerts.is_empty() {
                        p.empty { "No detection rule fired on this user's records in the period." }
                    } @else {
                        (super::alerts::alert_table(alerts, &format!("The first {} alerts of the period", alerts.len())))
                        p.more { a href=(format!("/ui/alerts?user={}&from={}&to={}", segment(name), format_event_time(query.from), format_event_time(query.to))) { "All this user's alerts of the period" } }
                    }
                }
            }
            section.latest aria-labelledby="latest-title" {
                h2 #latest-title { "Latest events" }
                (layout::event_table(&latest, &marks, &format!("The {} latest events, newest first", latest.len()), &pinned.period_only()))
                p.more { a href=(pinned.events_url()) { "All " (number(total)) " events of the period" } }
            }
        }
        (super::api_note(&pinned.count_url(now), &format!("/{}s/{}?…&count=true", kind.singular(), segment(name))))
    };
    Ok(Page::new(name, kind.section(), body))
}

fn bars(groups: &[GroupCount], filters: impl Fn(&str) -> Filters) -> Vec<Bar> {
    groups
        .iter()
        .map(|g| Bar {
            key: g.key.clone(),
            label: g.key.clone(),
            count: g.count,
            href: Some(filters(&g.key).events_url()),
        })
        .collect()
}

/// A user's usual activity, the baseline their anomalies are judged against
/// (SPEC §13): known regions and services, usual hours, hourly rate.
fn baseline_section(b: &UserBaseline) -> Markup {
    let list = |uses: &[ctt_store::baseline::FirstUse]| {
        html! {
            ol.first-uses {
                @for u in uses {
                    li { (u.name) " " span.since { "since " a href=(event_url(&u.event_id)) { (instant(u.time)) } } }
                }
            }
        }
    };
    let usual = b.usual_hours();
    let hours: Vec<Bar> = (0..24)
        .map(|h| Bar {
            key: h.to_string(),
            label: format!("{h:02}:00"),
            count: b.hours_of_day[h],
            href: None,
        })
        .collect();
    let rate = |r: &ctt_store::baseline::Rate| format!("{:.1} ± {:.1} an hour", r.mean, r.sigma);
    html! {
        section.user-baseline aria-labelledby="baseline-title" data-testid="user-baseline" {
            h2 #baseline-title { "Usual activity" }
            p.help {
                "What this user's anomalies are judged against (" a href="/ui/alerts?rule=anomaly:*" { "anomaly:*" } " alerts): "
                "a region or service used for the first time after the warm-up, an hour far above the week before."
            }
            dl.facts {
                div { dt { "Active since" } dd { (instant(b.since)) } }
                div { dt { "Hourly rate" } dd data-testid="baseline-rate" {
                    (rate(&b.calls)) " (failed calls " (rate(&b.failed)) "), the week to " (instant(b.week_end))
                } }
                div { dt { "Usual hours (UTC)" } dd data-testid="baseline-hours" {
                    @if usual.is_empty() { "none yet" }
                    @else { (usual.iter().map(|h| format!("{h:02}")).collect::<Vec<_>>().join(", ")) }
                } }
            }
            div.baseline-lists {
                div { h3 { "Regions" } (list(&b.regions)) }
                div { h3 { "Services" } (list(&b.services)) }
            }
            (chart::bars("hours", "Events by hour of the day (UTC), whole history", &hours, None))
        }
    }
}
