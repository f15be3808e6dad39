//! Events: the filter form (`/ui/events`) with every API filter — user,
//! service, event name or prefix, region, any parameter, from/to — its pages
//! (the API's cursors), CSV/NDJSON downloads of the whole result (the API's
//! own export URLs), and one event's page with its whole redacted record
//! (`/ui/events/{eventID}`).

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use ctt_core::EventSummary;
use ctt_core::query::{QueryError, RequestParams};
use maud::{Markup, html};

use super::filters::{Filters, Preset, segment, service_url, user_url};
use super::layout::{self, Section, number};
use super::{Ask, Page, Viewer, WebError, json};
use crate::AppState;
use crate::api::query::PathParam;

/// Events per page unless the form asks for another size.
pub const PAGE_SIZE: u32 = 50;

/// Up to this many users are offered as suggestions in the form.
const MAX_SUGGESTED_USERS: usize = 500;

/// Parameter names offered in the form (any name of `/parameters` works).
const SUGGESTED_PARAMETERS: &[&str] = &[
    "awsRegion",
    "errorCode",
    "eventType",
    "readOnly",
    "sourceIPAddress",
    "userAgent",
    "identityType",
    "role",
    "recipientAccountId",
];

pub async fn list_page(State(state): State<AppState>, viewer: Viewer, uri: Uri) -> Response {
    viewer.respond(list(&state, &viewer, &uri).await)
}

pub async fn detail_page(viewer: Viewer, PathParam(event_id): PathParam<String>) -> Response {
    viewer.respond(detail(&viewer, &event_id).await)
}

/// What the form offers to pick from.
struct Choices {
    users: Vec<String>,
    services: Vec<String>,
    parameters: Vec<String>,
}

async fn choices(viewer: &Viewer) -> Result<Choices, WebError> {
    let (users, services) = tokio::try_join!(viewer.store.users(), viewer.store.service_names())?;
    let mut parameters: Vec<String> = SUGGESTED_PARAMETERS
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    parameters.extend(viewer.store.indexed_parameters().iter().cloned());
    let users: Vec<String> = users.into_iter().map(|e| e.name).collect();
    Ok(Choices {
        // A long list would weigh more than the page: type the name instead.
        users: if users.len() <= MAX_SUGGESTED_USERS {
            users
        } else {
            Vec::new()
        },
        services,
        parameters,
    })
}

async fn list(state: &AppState, viewer: &Viewer, uri: &Uri) -> Result<Page, WebError> {
    let now = state.now();
    let choices = choices(viewer).await?;
    let parsed = Filters::from_query(uri.query()).and_then(|filters| {
        let request = filters.page_request(PAGE_SIZE, now)?;
        Ok((filters, request))
    });
    let (filters, request) = match parsed {
        Ok(ok) => ok,
        Err(error) => {
            // Show the form again with what was typed, and what is wrong.
            let filters = Filters::from_query(uri.query()).unwrap_or_default();
            let body = html! {
                h1 { "Events" }
                (form(&filters, None, &choices))
                (invalid(&error))
            };
            let mut page = Page::new("Events", Section::Events, body);
            page.status = StatusCode::BAD_REQUEST;
            return Ok(page);
        }
    };
    let RequestParams {
        query,
        limit,
        cursor,
        ..
    } = request;
    let ask = Ask::new(viewer);
    let (total, page) =
        tokio::try_join!(ask.count(&query), ask.page(&query, limit, cursor.as_ref()),)?;
    let marks = ask.marks(&page.events).await?;
    let pinned = filters.pinned(&query);
    let first_shown = u64::from(filters.page.saturating_sub(1)) * u64::from(limit) + 1;
    let next = page.next.as_ref().map(|next| {
        Filters {
            cursor: Some(next.encode()),
            page: filters.page + 1,
            limit: filters.limit.clone(),
            ..pinned.clone()
        }
        .events_url()
    });
    let body = html! {
        h1 { "Events" }
        (form(&filters, Some(&query), &choices))
        section.results aria-labelledby="results-title" {
            h2 #results-title {
                span data-count=(total) data-testid="match-count" { (number(total)) }
                " matching events"
            }
            (layout::period_caption(&query))
            p.downloads {
                "Download all " (number(total)) ": "
                a href=(pinned.download_url("csv", now)) download { "CSV" } " · "
                a href=(pinned.download_url("ndjson", now)) download { "NDJSON" } " · "
                a href=(pinned.api_url(now, &[("limit", &limit.to_string())])) { "JSON (API)" }
            }
            @if page.events.is_empty() {
                (empty_results(&filters, cursor.is_some()))
            } @else {
                div.page-search hidden {
                    label for="page-search" { "Search this page" }
                    input #page-search type="search" placeholder="text in any column"
                        aria-controls="events-table" autocomplete="off";
                }
                (layout::event_table(&page.events, &marks, &format!(
                    "Events {}–{} of {}, oldest first",
                    number(first_shown),
                    number(first_shown + page.events.len() as u64 - 1),
                    number(total),
                ), &pinned.period_only()))
                nav.pager aria-label="Pages" {
                    @if cursor.is_some() {
                        a href=(Filters { limit: filters.limit.clone(), ..pinned.clone() }.events_url()) { "« First page" }
                    }
                    @if let Some(next) = &next {
                        a href=(next) rel="next" { "Next page »" }
                    }
                }
            }
        }
    };
    Ok(Page::new("Events", Section::Events, body))
}

fn invalid(error: &QueryError) -> Markup {
    html! {
        div.error role="alert" {
            p { strong { "This filter cannot be read. " } "`" (error.parameter) "`: " (error.detail) }
        }
    }
}

fn empty_results(filters: &Filters, paged: bool) -> Markup {
    if paged {
        return layout::empty("No more events: this was the last page.", &[]);
    }
    let mut actions = layout::wider_periods("/ui/events", filters);
    let narrowed = filters.user.is_some()
        || filters.service.is_some()
        || filters.event_name.is_some()
        || filters.region.is_some()
        || !filters.params.is_empty();
    let everything = Filters {
        period: filters.period,
        from: filters.from.clone(),
        to: filters.to.clone(),
        ..Filters::default()
    }
    .events_url();
    if narrowed {
        actions.push((everything, "Remove the other filters"));
    }
    layout::empty(
        "No events match these filters in this period — widen the period or remove a filter.",
        &actions,
    )
}

/// The filter form: every API filter, each with its label.
fn form(filters: &Filters, query: Option<&ctt_core::EventQuery>, choices: &Choices) -> Markup {
    let rows = filters.params.len() + 1;
    let rows = rows.max(2);
    let local = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let from = query
        .map(|q| local(q.from))
        .or_else(|| filters.from.clone())
        .unwrap_or_default();
    let to = query
        .map(|q| local(q.to))
        .or_else(|| filters.to.clone())
        .unwrap_or_default();
    let sizes = [25u32, 50, 100, 500, 1000];
    let size = filters
        .limit
        .as_deref()
        .and_then(|l| l.parse::<u32>().ok())
        .unwrap_or(PAGE_SIZE);
    html! {
        form.filters #filters method="get" action="/ui/events" aria-label="Filter events" {
            div.grid {
                div.field {
                    label for="f-user" { "User" }
                    input #f-user name="user" list="f-users" autocomplete="off"
                        value=(filters.user.clone().unwrap_or_default()) placeholder="any user";
                    datalist #f-users { @for u in &choices.users { option value=(u) {} } }
                }
                div.field {
                    label for="f-service" { "Service" }
                    select #f-service name="service" {
                        option value="" { "Any service" }
                        @for s in &choices.services {
                            option value=(s) selected[filters.service.as_deref() == Some(s.as_str())] { (s) }
                        }
                        @if let Some(s) = &filters.service {
                            @if !choices.services.contains(s) {
                                option value=(s) selected { (s) }
                            }
                        }
                    }
                }
                div.field {
                    label for="f-name" { "Event name" }
                    input #f-name name="eventName" value=(filters.event_name.clone().unwrap_or_default())
                        placeholder="RunInstances" autocomplete="off";
                    label.check for="f-prefix" {
                        input #f-prefix type="checkbox" name="begin_with" value="true" checked[filters.prefix];
                        " Match as a prefix (" code { "Create" } " finds every Create…)"
                    }
                }
                div.field {
                    label for="f-region" { "Region" }
                    input #f-region name="region" value=(filters.region.clone().unwrap_or_default())
                        placeholder="us-east-1" autocomplete="off";
                }
                div.field {
                    label for="f-from" { "From (UTC)" }
                    input #f-from type="datetime-local" step="1" name="from" value=(from);
                }
                div.field {
                    label for="f-to" { "To (UTC, inclusive)" }
                    input #f-to type="datetime-local" step="1" name="to" value=(to);
                }
            }
            fieldset.params {
                legend { "Parameters: NAME = VALUE, every row must match (see " a href="/parameters" { "all names" } ")" }
                datalist #f-param-names { @for p in &choices.parameters { option value=(p) {} } }
                @for i in 0..rows {
                    @let (name, value) = filters.params.get(i).cloned().unwrap_or_default();
                    div.param-row {
                        label for=(format!("f-param-{i}")) { "Name" }
                        input id=(format!("f-param-{i}")) name="param" list="f-param-names" value=(name)
                            placeholder="instanceType" autocomplete="off";
                        label for=(format!("f-value-{i}")) { "Value" }
                        input id=(format!("f-value-{i}")) name="value" value=(value)
                            placeholder="t2.micro" autocomplete="off";
                    }
                }
            }
            div.actions {
                label for="f-limit" { "Per page" }
                select #f-limit name="limit" {
                    @for s in sizes {
                        option value=(s) selected[s == size] { (s) }
                    }
                }
                button type="submit" { "Show events" }
                a href="/ui/events" { "Clear filters" }
                span.presets {
                    "Quick periods: "
                    @for preset in Preset::ALL {
                        a href=(Filters { period: Some(preset), from: None, to: None, cursor: None, page: 1, ..filters.clone() }.events_url()) { (preset.label()) }
                        " "
                    }
                }
            }
        }
    }
}

async fn detail(viewer: &Viewer, event_id: &str) -> Result<Page, WebError> {
    let detail = match viewer.store.event(event_id).await? {
        Some(detail) => detail,
        None => return Err(WebError::NotFound(format!("No event “{event_id}”."))),
    };
    let e = &detail.summary;
    let marks = viewer
        .store
        .integrity_marks(std::slice::from_ref(e))
        .await?;
    // The alerts on this event: those of its user at its second (SPEC §12).
    let alerts: Vec<ctt_store::Alert> = match ctt_core::time::parse_event_time(&e.event_time) {
        Some(at) => viewer
            .store
            .alerts(&ctt_store::AlertQuery {
                from: Some(at),
                to: Some(at),
                user: Some(e.user.clone()),
                limit: 1_000,
                ..Default::default()
            })
            .await?
            .into_iter()
            .filter(|a| a.event_id == e.event_id)
            .collect(),
        None => Vec::new(),
    };
    let pretty = serde_json::to_string_pretty(&detail.record).unwrap_or_default();
    let body = html! {
        p.crumbs { a href="/ui/events" { "Events" } " / " }
        h1 { (e.event_name) }
        @if let Some(status) = marks.get(&e.event_id) {
            p.integrity-warning role="alert" data-integrity=(status) {
                strong { "⚠ This event came from a log file that is " (status) "." }
                " CloudTrail's signed digest does not vouch for that file "
                "(" code { "ctt verify" } " found it so): what it says may have been altered or added after delivery."
            }
        }
        (summary(e))
        @if !alerts.is_empty() {
            section.event-alerts aria-labelledby="alerts-title" {
                h2 #alerts-title { "Alerts on this event" }
                ul.alerts {
                    @for a in &alerts {
                        li data-alert-id=(a.id) {
                            (super::alerts::level_badge(&a.level)) " "
                            a href=(super::alerts::alert_url(&a.id)) { (a.title) }
                        }
                    }
                }
            }
        }
        section.record aria-labelledby="record-title" {
            h2 #record-title { "The whole record" }
            p.help { "As AWS wrote it, with secrets replaced by " code { "\"REDACTED\"" } ". "
                "Click a key to fold or unfold it. "
                a href=(format!("/events/{}", segment(&e.event_id))) { "The same as JSON from the API" } }
            (json::tree(&detail.record))
            details.raw {
                summary { "Plain JSON" }
                pre { code { (pretty) } }
            }
        }
    };
    Ok(Page::new(e.event_name.clone(), Section::Events, body))
}

fn summary(e: &EventSummary) -> Markup {
    let same_name = Filters {
        event_name: Some(e.event_name.clone()),
        ..Filters::default()
    };
    html! {
        dl.facts.event {
            div { dt { "Time" } dd { (layout::time(&e.event_time)) " UTC" } }
            div { dt { "User" } dd { a href=(user_url(&e.user)) { (e.user) } } }
            div { dt { "Service" } dd { a href=(service_url(&e.service)) { (e.service) } " (" (e.event_source) ")" } }
            div { dt { "Event name" } dd { a href=(same_name.events_url()) { (e.event_name) } } }
            div { dt { "Region" } dd { (e.aws_region.as_deref().unwrap_or("—")) } }
            div { dt { "Source IP" } dd { (e.source_ip_address.as_deref().unwrap_or("—")) } }
            div.long { dt { "User agent" } dd { (e.user_agent.as_deref().unwrap_or("—")) } }
            @if let Some(code) = &e.error_code {
                div.long { dt { "Error" } dd.error { (code) @if let Some(m) = &e.error_message { ": " (m) } } }
            }
            div { dt { "Identity type" } dd { (e.identity_type.as_deref().unwrap_or("—")) } }
            @if let Some(role) = &e.role { div { dt { "Role" } dd { (role) } } }
            div { dt { "Read only" } dd { (e.read_only.map_or("—", |r| if r { "yes" } else { "no" })) } }
            div { dt { "Event type" } dd { (e.event_type.as_deref().unwrap_or("—")) } }
            div.long { dt { "Event ID" } dd { code { (e.event_id) } } }
        }
    }
}
