//! Alerts (SPEC §12): the list (`/ui/alerts`: filters, pages, downloads) and
//! one alert (`/ui/alerts/{id}`: the rule, the event, the redacted record).
//! The filters are `/alerts`' own parameters, read by the same parser; role
//! `self` sees the alerts on its own events only ([`crate::ScopedStore`]).

use axum::http::{StatusCode, Uri};
use axum::response::Response;
use ctt_core::anomaly::Baseline;
use ctt_core::time::format_event_time;
use ctt_store::Alert;
use ctt_store::alerts::{LEVELS, cursor_after};
use maud::{Markup, html};

use super::filters::{Filters, event_url, segment, user_url};
use super::layout::{self, Section};
use super::{Page, Viewer, WebError, api_note, json};
use crate::api::alerts::{DEFAULT_LIMIT, request};
use crate::api::query::{PathParam, pairs};

/// `/ui/alerts/{id}`.
pub fn alert_url(id: &str) -> String {
    format!("/ui/alerts/{}", segment(id))
}

/// `/ui/alerts?…` with these filters.
fn list_url(pairs: &[(String, String)]) -> String {
    super::with_query("/ui/alerts", pairs)
}

/// A level as a badge (its colour is the stylesheet's class).
pub fn level_badge(level: &str) -> Markup {
    html! { span class=(format!("level level-{level}")) { (level) } }
}

/// A table of alerts: time, level, title, user, event.
pub fn alert_table(alerts: &[Alert], caption: &str) -> Markup {
    html! {
        div.table-wrap {
            table.alerts data-table="alerts" {
                caption { (caption) }
                thead { tr {
                    th scope="col" { "Time (UTC)" }
                    th scope="col" { "Level" }
                    th scope="col" { "Alert" }
                    th scope="col" { "User" }
                    th scope="col" { "Event" }
                } }
                tbody {
                    @for a in alerts {
                        tr data-alert-id=(a.id) data-level=(a.level) {
                            td { a href=(alert_url(&a.id)) { (layout::time(&format_event_time(a.event_time))) } }
                            td { (level_badge(&a.level)) }
                            td { a href=(alert_url(&a.id)) { (a.title) } }
                            td { a href=(user_url(&a.user)) { (a.user) } }
                            td { (a.service) " " (a.event_name) }
                        }
                    }
                }
            }
        }
    }
}

pub async fn list_page(viewer: Viewer, uri: Uri) -> Response {
    viewer.respond(list(&viewer, &uri).await)
}

async fn list(viewer: &Viewer, uri: &Uri) -> Result<Page, WebError> {
    let pairs = pairs(uri.query());
    let request = match request(&pairs) {
        Ok(request) => request,
        Err(error) => {
            let body = html! {
                h1 { "Alerts" }
                (form(&pairs))
                p.invalid role="alert" { "“" (error.parameter) "”: " (error.detail) }
            };
            let mut page = Page::new("Alerts", Section::Alerts, body);
            page.status = StatusCode::BAD_REQUEST;
            return Ok(page);
        }
    };
    let limit = request.limit.unwrap_or(DEFAULT_LIMIT);
    let mut query = request.query;
    query.limit = limit + 1;
    let mut alerts = viewer.store.alerts(&query).await?;
    let more = alerts.len() > limit;
    alerts.truncate(limit);
    let kept: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k != "cursor" && k != "format")
        .cloned()
        .collect();
    let next = more
        .then(|| alerts.last().map(cursor_after))
        .flatten()
        .map(|cursor| {
            let mut next = kept.clone();
            next.push(("cursor".to_owned(), cursor));
            list_url(&next)
        });
    let api = |format: &str| {
        let mut with: Vec<(String, String)> = kept.clone();
        with.push(("format".to_owned(), format.to_owned()));
        super::with_query("/alerts", &with)
    };
    let body = html! {
        h1 { "Alerts" }
        p.help {
            "What the detection rules (Sigma, " code { "ctt rules list" } ") found in the records loaded — "
            "every record, reads included, before the storage filter."
        }
        (form(&pairs))
        section.results aria-labelledby="alerts-title" {
            h2 #alerts-title { span data-testid="alert-count" data-count=(alerts.len()) { (alerts.len()) } @if more { "+" } " alerts" }
            p.downloads {
                "Download: "
                a href=(api("csv")) download { "CSV" } " · "
                a href=(api("ndjson")) download { "NDJSON" }
            }
            @if alerts.is_empty() {
                (layout::empty("No alert matches these filters.", &[("/ui/alerts".to_owned(), "All alerts")]))
            } @else {
                (alert_table(&alerts, "Alerts, oldest first"))
                @if let Some(next) = &next {
                    nav.pager aria-label="Pages" { a href=(next) rel="next" { "Next page »" } }
                }
            }
        }
        (api_note(&api("json"), "GET /alerts"))
    };
    Ok(Page::new("Alerts", Section::Alerts, body))
}

fn form(pairs: &[(String, String)]) -> Markup {
    let value = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let level = value("level");
    html! {
        form.filters method="get" action="/ui/alerts" {
            label { "From " input type="text" name="from" value=(value("from")) placeholder="YYYY-MM-DD"; }
            label { "To " input type="text" name="to" value=(value("to")) placeholder="YYYY-MM-DD"; }
            label { "Level "
                select name="level" {
                    option value="" selected[level.is_empty()] { "any" }
                    @for l in LEVELS {
                        option value=(l) selected[level == l] { (l) " and above" }
                    }
                }
            }
            label { "Rule " input type="text" name="rule" value=(value("rule")) placeholder="rule id"; }
            label { "User " input type="text" name="user" value=(value("user")); }
            button type="submit" { "Show" }
        }
    }
}

pub async fn detail_page(viewer: Viewer, PathParam(id): PathParam<String>) -> Response {
    viewer.respond(detail(&viewer, &id).await)
}

async fn detail(viewer: &Viewer, id: &str) -> Result<Page, WebError> {
    let Some(a) = viewer.store.alert(id).await? else {
        return Err(WebError::NotFound(format!("No alert “{id}”.")));
    };
    let stored = viewer.store.event(&a.event_id).await?.is_some();
    let body = html! {
        p.crumbs { a href="/ui/alerts" { "Alerts" } " / " }
        h1 { (a.title) " " (level_badge(&a.level)) }
        dl.facts.alert {
            div { dt { "Time" } dd { (layout::time(&format_event_time(a.event_time))) " UTC" } }
            div { dt { "User" } dd { a href=(user_url(&a.user)) { (a.user) } } }
            div { dt { "Event" } dd { (a.service) " " (a.event_name) } }
            div.long { dt { "Event ID" } dd {
                @if stored { a href=(event_url(&a.event_id)) { code { (a.event_id) } } }
                @else { code { (a.event_id) } " (a record not stored as an event: a read, or filtered out)" }
            } }
            div.long { dt { "Rule" } dd { code { (a.rule_id) } } }
            @if !a.tags.is_empty() {
                div.long { dt { "Tags" } dd { (a.tags.join(", ")) } }
            }
        }
        @if let Some(b) = &a.baseline {
            (baseline_section(b))
        }
        section.record aria-labelledby="record-title" {
            h2 #record-title { "The record" }
            p.help { "As AWS wrote it, with secrets replaced by " code { "\"REDACTED\"" } "." }
            (json::tree(&a.record.to_value()))
        }
        (api_note(&format!("/alerts/{}", segment(&a.id)), "GET /alerts/{id}"))
    };
    Ok(Page::new(a.title.clone(), Section::Alerts, body))
}

/// What an anomaly was judged against (SPEC §13), as its alert stores it.
fn baseline_section(b: &Baseline) -> Markup {
    html! {
        section.baseline aria-labelledby="baseline-title" data-testid="baseline" {
            h2 #baseline-title { "The baseline" }
            @match b {
                Baseline::First { who, what, since, known } => {
                    p.help { "A first use, judged once its user (or account) had been active longer than the warm-up." }
                    dl.facts {
                        div { dt { "Used for the first time" } dd data-testid="baseline-what" { (what) } }
                        div { dt { "By" } dd { (who) } }
                        div { dt { "Active since" } dd { (layout::instant(*since)) } }
                        div.long { dt { "Known before" } dd data-testid="baseline-known" {
                            @if known.is_empty() { "nothing else" } @else { (known.join(", ")) }
                        } }
                    }
                }
                Baseline::Spike { user, errors, hour, count, mean, sigma, threshold } => {
                    @let what = if *errors { "Failed calls in the hour" } else { "Calls in the hour" };
                    @let end = *hour + chrono::Duration::seconds(3_599);
                    @let events = Filters { user: Some(user.clone()), ..Filters::between(*hour, end) }.events_url();
                    p.help { "An hour against the week before it (168 hours, quiet ones counted as zeros)." }
                    dl.facts {
                        div { dt { "Hour" } dd { a href=(events) { (layout::instant(*hour)) } ", one hour" } }
                        div { dt { (what) } dd data-testid="baseline-count" { (count) } }
                        div { dt { "The week before" } dd data-testid="baseline-week" { (format!("{mean:.1} ± {sigma:.1} an hour")) } }
                        div { dt { "Threshold" } dd { (format!("{threshold:.0}")) " (the larger of the minimum and mean + k·σ)" } }
                    }
                }
            }
        }
    }
}
