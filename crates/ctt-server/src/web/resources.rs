//! Resources (SPEC §11): `/ui/resources`, what each person created, what is
//! still running and its estimated cost. The filters are `/resources`' own
//! parameters, read by the same parser (default: what is open now); role
//! `self` sees what it created ([`crate::ScopedStore::resources`]).

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use ctt_core::time::format_event_time;
use ctt_store::Resource;
use maud::{Markup, html};

use super::filters::{segment, user_url};
use super::layout::{self, Section};
use super::{Page, Viewer, WebError, api_note};
use crate::AppState;
use crate::api::query::pairs;
use crate::api::resources::{DEFAULT_LIMIT, cursor_after, request};

/// `/ui/resources?…` with these filters.
fn list_url(pairs: &[(String, String)]) -> String {
    super::with_query("/ui/resources", pairs)
}

/// A cost as shown: an estimate, in USD; a dash when the type has no price.
pub fn cost(estimate: Option<f64>) -> String {
    estimate.map_or_else(|| "—".to_owned(), |c| format!("≈ ${c:.2}"))
}

/// A table of resources: type, id, owner, state, created, deleted, hours, cost.
pub fn resource_table(resources: &[Resource], caption: &str) -> Markup {
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        html! { @if let Some(t) = t { (layout::time(&format_event_time(t))) } @else { "—" } }
    };
    html! {
        div.table-wrap {
            table.resources data-table="resources" {
                caption { (caption) }
                thead { tr {
                    th scope="col" { "Type" }
                    th scope="col" { "Id" }
                    th scope="col" { "Region" }
                    th scope="col" { "Owner" }
                    th scope="col" { "State" }
                    th scope="col" { "Created (UTC)" }
                    th scope="col" { "Deleted (UTC)" }
                    th scope="col" { "Deleted by" }
                    th scope="col" class="num" { "Running hours" }
                    th scope="col" class="num" { "Estimated cost" }
                } }
                tbody {
                    @for r in resources {
                        // The id is anyone's text: percent-encoded in the attribute.
                        tr data-resource=(format!("{}/{}", r.kind, segment(&r.id))) data-state=(r.life.state.as_str()) {
                            td { code { (r.kind) } }
                            td { code { (r.id) } }
                            td { (r.region) }
                            td { @if let Some(owner) = &r.life.owner { a href=(user_url(owner)) { (owner) } } @else { "before the history" } }
                            td { span class=(format!("state state-{}", r.life.state.as_str())) { (r.life.state.as_str()) } }
                            td { (time(r.life.created)) }
                            td { (time(r.life.deleted)) }
                            td { @if let Some(by) = &r.life.deleted_by { a href=(user_url(by)) { (by) } } }
                            td.num { (format!("{:.1}", r.running_hours)) }
                            td.num { (cost(r.estimated_cost)) }
                        }
                    }
                }
            }
        }
    }
}

pub async fn list_page(State(state): State<AppState>, viewer: Viewer, uri: Uri) -> Response {
    viewer.respond(list(&state, &viewer, &uri).await)
}

async fn list(state: &AppState, viewer: &Viewer, uri: &Uri) -> Result<Page, WebError> {
    let mut pairs = pairs(uri.query());
    // What is open now, unless asked otherwise (`state=` empty: every state).
    if !pairs.iter().any(|(k, _)| k == "state") {
        pairs.push(("state".to_owned(), "open".to_owned()));
    }
    // Fields the form left empty are not asked (an empty state: any).
    let asked: Vec<(String, String)> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .cloned()
        .collect();
    let request = match request(&asked, state.now()) {
        Ok(request) => request,
        Err(error) => {
            let body = html! {
                h1 { "Resources" }
                (form(&pairs))
                p.invalid role="alert" { "“" (error.parameter) "”: " (error.detail) }
            };
            let mut page = Page::new("Resources", Section::Resources, body);
            page.status = StatusCode::BAD_REQUEST;
            return Ok(page);
        }
    };
    // Every match from the cursor on: the heading counts them all.
    let query = ctt_store::ResourceQuery {
        filter: request.filter,
        after: request.after,
        limit: usize::MAX,
    };
    let mut all = viewer.store.resources(query, &state.prices).await?;
    let open_cost: f64 = all
        .iter()
        .filter(|r| r.life.state.is_open())
        .filter_map(|r| r.estimated_cost)
        .sum();
    let open = all.iter().filter(|r| r.life.state.is_open()).count();
    let limit = request.limit.unwrap_or(DEFAULT_LIMIT);
    let more = all.len() > limit;
    let total = all.len();
    all.truncate(limit);
    let kept: Vec<(String, String)> = asked
        .iter()
        .filter(|(k, _)| k != "cursor" && k != "format")
        .cloned()
        .collect();
    let next = all.last().filter(|_| more).map(|last| {
        let mut next = kept.clone();
        next.push(("cursor".to_owned(), cursor_after(last)));
        list_url(&next)
    });
    let api = |format: &str| {
        let mut with = kept.clone();
        with.push(("format".to_owned(), format.to_owned()));
        super::with_query("/resources", &with)
    };
    let prices = &state.prices;
    let body = html! {
        h1 { "Resources" }
        p.help {
            "What each person created, who deleted it, and what is still running, from the events stored (SPEC §11). "
            "Costs are " strong { "estimates" } ", never a bill: running hours × on-demand list prices of "
            (prices.region) " (" (prices.date) "), without free tier, storage or traffic."
        }
        (form(&pairs))
        section.results aria-labelledby="resources-title" {
            h2 #resources-title {
                span data-testid="resource-count" data-count=(total) { (total) } " resources"
                @if open > 0 {
                    ", " span data-testid="open-count" data-count=(open) { (open) } " open, "
                    span data-testid="open-cost" { (cost(Some(open_cost))) } " so far"
                }
            }
            p.downloads {
                "Download: "
                a href=(api("csv")) download { "CSV" } " · "
                a href=(api("ndjson")) download { "NDJSON" }
            }
            @if all.is_empty() {
                (layout::empty("No resource matches these filters.", &[("/ui/resources?state=".to_owned(), "Every resource")]))
            } @else {
                (resource_table(&all, "Resources, by type then id"))
                @if let Some(next) = &next {
                    nav.pager aria-label="Pages" { a href=(next) rel="next" { "Next page »" } }
                }
            }
        }
        (api_note(&api("json"), "GET /resources"))
    };
    Ok(Page::new("Resources", Section::Resources, body))
}

fn form(pairs: &[(String, String)]) -> Markup {
    let value = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let state = value("state");
    html! {
        form.filters method="get" action="/ui/resources" {
            label { "State "
                select name="state" {
                    @for (v, label) in [("open", "open (running or stopped)"), ("running", "running"), ("stopped", "stopped"), ("deleted", "deleted"), ("", "any")] {
                        option value=(v) selected[state == v] { (label) }
                    }
                }
            }
            label { "Type " input type="text" name="type" value=(value("type")) placeholder="ec2:instance"; }
            label { "Owner " input type="text" name="user" value=(value("user")); }
            label { "At " input type="text" name="at" value=(value("at")) placeholder="now"; }
            button type="submit" { "Show" }
        }
    }
}
