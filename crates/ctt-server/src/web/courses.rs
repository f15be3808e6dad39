//! Courses (SPEC §10): the list (`/ui/courses`), a course's class
//! (`/ui/courses/{id}`: counters, the stuck lab, each lab's average, the
//! student × lab heatmap, the band over time, the CSV download) and a
//! student's page (`/ui/courses/{id}/students/{user}`: each lab, what is
//! missing linked to the AWS API reference, the credited events). The
//! course page also shows what each student created during each lab and
//! left open at its end (SPEC §11).
//!
//! Every number comes from the viewer's [`ScopedStore`](crate::ScopedStore)
//! as the API's course routes answer it: role `self` sees its own courses,
//! its own row and its own page. Colours are classes of the stylesheet (the
//! Content-Security-Policy forbids inline styles); the stylesheet's print
//! rules leave the navigation and the forms out of a printed page.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use chrono::{DateTime, Utc};
use ctt_core::course::{
    ClassProgress, Course, Hundredths, StudentScore, TimelineDay, Window, api_reference,
};
use ctt_core::time::format_event_time;
use ctt_store::{ResourceFilter, StateFilter};
use maud::{Markup, html};

use super::filters::{event_url, segment, url};
use super::layout::Section;
use super::{Page, Viewer, WebError, api_note};
use crate::AppState;
use crate::api::courses::course_request;
use crate::api::query::{PathParam, pairs};

/// `/ui/courses/{id}`.
pub fn course_url(id: &str) -> String {
    format!("/ui/courses/{}", segment(id))
}

/// `/ui/courses/{id}/students/{user}`.
pub fn student_url(id: &str, user: &str) -> String {
    format!("/ui/courses/{}/students/{}", segment(id), segment(user))
}

/// The stylesheet's class for a progress: `heat-0` (none) … `heat-10` (all).
fn heat(progress: Hundredths) -> String {
    format!("heat heat-{}", progress.0.div_ceil(1_000).min(10))
}

async fn visible(viewer: &Viewer, id: &str) -> Result<Course, WebError> {
    viewer
        .store
        .course(id)
        .await?
        .ok_or_else(|| WebError::NotFound(format!("There is no course {id}.")))
}

/// The courses this viewer may see.
pub async fn list_page(viewer: Viewer) -> Response {
    let result = async {
        let courses = viewer.store.courses().await?;
        let own = viewer.identity.only_user().map(str::to_owned);
        let body = html! {
            h1 { "Courses" }
            @if courses.is_empty() {
                p.empty { "No course yet. Add one with " code { "ctt course add FILE" } " (see docs/courses.md)." }
            } @else {
                table.courses {
                    thead { tr { th { "Course" } th { "From" } th { "To" } th.num { "Labs" } } }
                    tbody {
                        @for course in &courses {
                            tr {
                                td {
                                    @match &own {
                                        Some(user) => a href=(student_url(&course.id, user)) { (course.name) },
                                        None => a href=(course_url(&course.id)) { (course.name) },
                                    }
                                    " " code { (course.id) }
                                }
                                td { (course.window.from.format("%Y-%m-%d")) }
                                td { (course.window.to.format("%Y-%m-%d")) }
                                td.num { (course.labs.len()) }
                            }
                        }
                    }
                }
            }
            (api_note("/courses", "GET /courses"))
        };
        Ok(Page::new("Courses", Section::Courses, body))
    }
    .await;
    viewer.respond(result)
}

/// A course's class.
pub async fn course_page(
    State(state): State<AppState>,
    viewer: Viewer,
    PathParam(id): PathParam<String>,
    uri: Uri,
) -> Response {
    let result = async {
        let course = visible(&viewer, &id).await?;
        let request = course_request(&course, &pairs(uri.query()), false)?;
        let progress = viewer
            .store
            .course_progress(&course, &request.window)
            .await?;
        let band = viewer
            .store
            .course_timeline(&course, &request.window)
            .await?;
        let left = left_open(&state, &viewer, &course, &request.window, &progress).await?;
        let csv = url(
            &format!("/courses/{}/progress", segment(&course.id)),
            &[
                ("from", progress.from.clone()),
                ("to", progress.to.clone()),
                ("format", "csv".to_owned()),
            ],
        );
        let body = html! {
            h1 { (course.name) " " code { (course.id) } }
            p.window { (progress.from) " to " (progress.to) " · pass " (progress.pass) "%" }
            (counters(&progress))
            (lab_table(&progress))
            (heatmap(&course, &progress))
            (band_chart(&band))
            @if let Some(left) = &left { (left_open_table(&course, left)) }
            p.downloads.no-print { a href=(csv) download { "Download the class (CSV)" } }
            (api_note(&format!("/courses/{}/progress", segment(&course.id)), "GET /courses/{id}/progress"))
        };
        Ok(Page::new(course.name.clone(), Section::Courses, body))
    }
    .await;
    viewer.respond(result)
}

/// What the class left open: for each lab, its end, and per student the
/// resources they created during the lab and still open at its end (count,
/// estimated cost).
struct LeftOpen {
    ends: Vec<DateTime<Utc>>,
    /// Student → one `(resources, estimated cost)` per lab.
    students: BTreeMap<String, Vec<(usize, f64)>>,
}

/// `None` when the store keeps no resources.
async fn left_open(
    state: &AppState,
    viewer: &Viewer,
    course: &Course,
    window: &Window,
    progress: &ClassProgress,
) -> Result<Option<LeftOpen>, WebError> {
    let now = Utc::now();
    let windows: Vec<Window> = course
        .labs
        .iter()
        .map(|lab| course.lab_window(lab, window))
        .collect();
    let filters: Vec<ResourceFilter> = windows
        .iter()
        .map(|w| ResourceFilter {
            user: None,
            state: Some(StateFilter::Open),
            kind: None,
            at: w.to.min(now),
        })
        .collect();
    let each = match viewer.store.resources_each(&filters, &state.prices).await {
        Ok(each) => each,
        Err(ctt_store::StoreError::Unsupported(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let labs = course.labs.len();
    let mut students: BTreeMap<String, Vec<(usize, f64)>> = BTreeMap::new();
    for (lab, (open, w)) in each.iter().zip(&windows).enumerate() {
        for r in open {
            let (Some(owner), Some(created)) = (&r.life.owner, r.life.created) else {
                continue;
            };
            if created < w.from || created > w.to {
                continue;
            }
            if progress
                .students
                .binary_search_by(|s| s.student.as_str().cmp(owner))
                .is_err()
            {
                continue;
            }
            let row = students
                .entry(owner.clone())
                .or_insert_with(|| vec![(0, 0.0); labs]);
            row[lab].0 += 1;
            row[lab].1 += r.estimated_cost.unwrap_or_default();
        }
    }
    Ok(Some(LeftOpen {
        ends: filters.iter().map(|f| f.at).collect(),
        students,
    }))
}

fn left_open_table(course: &Course, left: &LeftOpen) -> Markup {
    html! {
        section.left-open {
            h2 { "Left open at each lab's end" }
            @if left.students.is_empty() {
                p.empty data-left-open="none" { "Nothing created during a lab was left open at its end." }
            } @else {
                table.left-open {
                    caption { "Resources each student created during a lab and left open at its end (costs are estimates, from the price table)" }
                    thead { tr {
                        th { "Student" }
                        @for lab in &course.labs { th.num title=(lab.name) { (lab.id) } }
                    } }
                    tbody {
                        @for (student, labs) in &left.students {
                            tr data-student=(student) {
                                th scope="row" { (student) }
                                @for ((lab, (count, cost)), end) in course.labs.iter().zip(labs).zip(&left.ends) {
                                    td.num data-lab=(lab.id) data-left=(count) {
                                        @if *count > 0 {
                                            a href=(super::with_query("/ui/resources", &[
                                                ("user".to_owned(), student.clone()),
                                                ("at".to_owned(), format_event_time(*end)),
                                            ])) { (count) }
                                            " " span.cost { (super::resources::cost(Some(*cost))) }
                                        } @else { "0" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn counters(progress: &ClassProgress) -> Markup {
    let counts = progress.counts;
    html! {
        ul.counters.course-counters {
            li data-counter="completed" { span.value { (counts.completed) } " completed" }
            li data-counter="in-progress" { span.value { (counts.in_progress) } " in progress" }
            li data-counter="not-started" { span.value { (counts.not_started) } " not started" }
            li data-counter="stuck" {
                "Stuck lab: "
                @match &progress.stuck {
                    Some(lab) => strong.stuck { (lab) },
                    None => span { "none" },
                }
            }
        }
    }
}

fn lab_table(progress: &ClassProgress) -> Markup {
    html! {
        table.labs {
            caption { "Labs: average progress over the class" }
            thead { tr { th { "Lab" } th { "Average" } th.num { "Completed" } th.num { "In progress" } th.num { "Not started" } } }
            tbody {
                @for lab in &progress.labs {
                    tr data-lab=(lab.id) {
                        td { (lab.name) " " code { (lab.id) } }
                        td {
                            progress max="100" value=(lab.average.as_f64()) { (lab.average) "%" }
                            " " (lab.average) "%"
                        }
                        td.num { (lab.completed) }
                        td.num { (lab.in_progress) }
                        td.num { (lab.not_started) }
                    }
                }
            }
        }
    }
}

fn heatmap(course: &Course, progress: &ClassProgress) -> Markup {
    html! {
        table.heatmap {
            caption { "Students × labs (progress %)" }
            thead {
                tr {
                    th { "Student" } th.num { "Grade" } th.num { "Completion" }
                    @for lab in &course.labs { th.num title=(lab.name) { (lab.id) } }
                }
            }
            tbody {
                @for student in &progress.students {
                    @let page = student_url(&course.id, &student.student);
                    tr data-student=(student.student) data-status=(student.status.as_str()) {
                        th scope="row" { a href=(page) { (student.student) } }
                        td.num { (student.grade) }
                        td.num { (student.completion) "%" }
                        @for lab in &student.labs {
                            td class=(heat(lab.progress)) data-lab=(lab.id) {
                                a href=(page) title=(format!("{}: {}%", lab.name, lab.progress)) {
                                    (lab.progress.0 / 100)
                                    @if lab.completed { " ✓" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The P25–P75 band and the P50 line, day by day, as inline SVG.
fn band_chart(days: &[TimelineDay]) -> Markup {
    let n = days.len().max(2) - 1;
    let x = |i: usize| i as f64 * 1000.0 / n as f64;
    let y = |v: Hundredths| 100.0 - v.as_f64();
    let mut band = String::new();
    for (i, d) in days.iter().enumerate() {
        band.push_str(&format!("{:.1},{:.2} ", x(i), y(d.p75)));
    }
    for (i, d) in days.iter().enumerate().rev() {
        band.push_str(&format!("{:.1},{:.2} ", x(i), y(d.p25)));
    }
    let median: String = days
        .iter()
        .enumerate()
        .map(|(i, d)| format!("{:.1},{:.2} ", x(i), y(d.p50)))
        .collect();
    let (first, last) = (days.first(), days.last());
    html! {
        figure.chart.band #course-band data-chart="course-band" {
            figcaption { "Class completion over time: P25–P75 band, P50 line (%)" }
            @if let (Some(first), Some(last)) = (first, last) {
                svg viewBox="0 0 1000 100" preserveAspectRatio="none" role="img"
                    aria-label=(format!("Median completion from {}% on {} to {}% on {}", first.p50, first.day, last.p50, last.day)) {
                    polygon.band points=(band.trim_end()) {}
                    polyline.median points=(median.trim_end()) {}
                }
                p.axis { span { (first.day) } " … " span { (last.day) } ": median " (last.p50) "%, P25 " (last.p25) "%, P75 " (last.p75) "%" }
            }
        }
    }
}

/// One student of a course.
pub async fn student_page(
    viewer: Viewer,
    PathParam((id, user)): PathParam<(String, String)>,
    uri: Uri,
) -> Response {
    let result = async {
        let course = visible(&viewer, &id).await?;
        let request = course_request(&course, &pairs(uri.query()), false)?;
        let score = viewer
            .store
            .course_student(&course, &request.window, &user)
            .await?
            .ok_or_else(|| {
                WebError::NotFound(format!("{user} is not a student of course {}.", course.id))
            })?;
        let body = student_body(&course, &score, viewer.sees_everyone());
        Ok(Page::new(
            format!("{} · {}", score.student, course.name),
            Section::Courses,
            body,
        ))
    }
    .await;
    viewer.respond(result)
}

fn student_body(course: &Course, score: &StudentScore, sees_everyone: bool) -> Markup {
    html! {
        p.breadcrumbs.no-print {
            @if sees_everyone { a href=(course_url(&course.id)) { (course.name) } } @else { (course.name) }
        }
        h1 { (score.student) }
        ul.counters {
            li data-counter="status" { span.value { (score.status.as_str()) } }
            li data-counter="grade" { "Grade " span.value { (score.grade) } }
            li data-counter="completion" { "Completion " span.value { (score.completion) "%" } }
        }
        @for (lab, spec) in score.labs.iter().zip(&course.labs) {
            section.lab data-lab=(lab.id) {
                h2 {
                    (lab.name) " "
                    @if lab.completed { span.done { "✓ completed" } }
                }
                p {
                    progress max="100" value=(lab.progress.as_f64()) { (lab.progress) "%" }
                    " " (lab.progress) "%"
                    @if let Some(last) = &lab.last { " · last credited " (last) }
                }
                table.requirements {
                    thead { tr { th { "Requires" } th.num { "Credited" } th.num { "Missing" } th { "Events" } } }
                    tbody {
                        @for (r, req) in lab.requirements.iter().zip(&spec.requires) {
                            tr data-missing=(r.missing) {
                                td {
                                    a href=(api_reference(req.service.as_deref(), &req.name))
                                        rel="noopener noreferrer" { code { (r.event) } }
                                }
                                td.num { (r.credited) " / " (r.count) }
                                td.num { @if r.missing > 0 { strong.missing { (r.missing) } } @else { "0" } }
                                td {
                                    @for e in &r.events {
                                        a.event href=(event_url(&e.event_id)) title=(e.event_name) { (e.event_time) } " "
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
