//! The course routes (SPEC §10): `/courses`, `/courses/{id}`,
//! `/courses/{id}/progress`, `/courses/{id}/students/{user}`,
//! `/courses/{id}/timeline`.
//!
//! Courses are added with `ctt course add` (they live in the store, so every
//! server and the Lambda API see them); these routes only read. Scoring is
//! `ctt_core::course`; what role `self` sees is decided by the
//! [`ScopedStore`]: only the courses it is a student of, without the class
//! list, its own row, its own student page.

use axum::Json;
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use ctt_core::course::{
    ClassProgress, Course, Hundredths, StudentScore, TIMELINE_MAX_DAYS, TimelineDay, Window,
    api_reference, progress_csv,
};
use ctt_core::query::{Format, QueryError};
use ctt_core::time::{Bound, format_event_time, parse_bound};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::query::{PathParam, pairs};
use crate::error::ErrorBody;
use crate::{ApiError, ScopedStore};

/// A course as its file defines it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CourseView {
    pub id: String,
    pub name: String,
    /// The course window, `YYYY-MM-DDTHH:MM:SSZ`.
    pub from: String,
    pub to: String,
    /// The progress (%) from which a lab is completed.
    pub pass: Hundredths,
    pub count_failed: bool,
    /// Who the class is (not shown to role `self`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub students: Option<StudentsView>,
    pub labs: Vec<LabView>,
}

/// A regex on the resolved user, or a list of users.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StudentsView {
    Pattern(String),
    List(Vec<String>),
}

/// A lab, with its effective window.
#[derive(Debug, Serialize, ToSchema)]
pub struct LabView {
    pub id: String,
    pub name: String,
    pub from: String,
    pub to: String,
    pub requires: Vec<RequirementView>,
}

/// A requirement, with the AWS API reference of its call.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequirementView {
    /// `SERVICE:EventName` or `EventName`.
    pub event: String,
    pub count: u32,
    /// The AWS API reference page of the call.
    pub reference: String,
}

impl CourseView {
    pub fn new(course: &Course, show_students: bool) -> Self {
        let students = show_students.then(|| match &course.students {
            ctt_core::course::Students::Pattern(p) => StudentsView::Pattern(p.as_str().to_owned()),
            ctt_core::course::Students::List(users) => StudentsView::List(users.clone()),
        });
        Self {
            id: course.id.clone(),
            name: course.name.clone(),
            from: format_event_time(course.window.from),
            to: format_event_time(course.window.to),
            pass: course.pass,
            count_failed: course.count_failed,
            students,
            labs: course
                .labs
                .iter()
                .map(|lab| {
                    let window = course.lab_window(lab, &course.window);
                    LabView {
                        id: lab.id.clone(),
                        name: lab.name.clone(),
                        from: format_event_time(window.from),
                        to: format_event_time(window.to),
                        requires: lab
                            .requires
                            .iter()
                            .map(|r| RequirementView {
                                event: r.event(),
                                count: r.count,
                                reference: api_reference(r.service.as_deref(), &r.name),
                            })
                            .collect(),
                    }
                })
                .collect(),
        }
    }
}

/// The class band, day by day.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineView {
    pub course: String,
    pub from: String,
    pub to: String,
    pub days: Vec<TimelineDay>,
}

/// Query parameters of the course routes.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, reason = "documents the query string for OpenAPI")]
pub struct WindowParams {
    /// Replaces the start of the course window (SPEC §5 time syntax).
    from: Option<String>,
    /// Replaces the end of the course window (a date-only `to` is the whole day).
    to: Option<String>,
}

/// Query parameters of `/courses/{id}/progress`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, reason = "documents the query string for OpenAPI")]
pub struct ProgressParams {
    /// Replaces the start of the course window (SPEC §5 time syntax).
    from: Option<String>,
    /// Replaces the end of the course window (a date-only `to` is the whole day).
    to: Option<String>,
    /// `json` (default) or `csv`: the class export of SPEC §10.
    format: Option<String>,
}

/// What a course route's query string asks for.
pub struct CourseRequest {
    pub window: Window,
    pub csv: bool,
}

/// Reads `from`, `to` (and, where `format_allowed`, `format`) over the course
/// window; anything else, or a bad value, is a 400 naming it.
pub fn course_request(
    course: &Course,
    query: &[(String, String)],
    format_allowed: bool,
) -> Result<CourseRequest, QueryError> {
    let mut request = CourseRequest {
        window: course.window,
        csv: false,
    };
    for (key, value) in query {
        match key.as_str() {
            "from" => {
                request.window.from =
                    parse_bound(value, Bound::From).map_err(|e| QueryError::new("from", e))?;
            }
            "to" => {
                request.window.to =
                    parse_bound(value, Bound::To).map_err(|e| QueryError::new("to", e))?;
            }
            "format" if format_allowed => {
                request.csv = match value.parse::<Format>() {
                    Ok(Format::Json) => false,
                    Ok(Format::Csv) => true,
                    _ => {
                        return Err(QueryError::new(
                            "format",
                            format!("`{}` is not json or csv", ctt_core::printable(value)),
                        ));
                    }
                }
            }
            other => {
                return Err(QueryError::new(
                    other,
                    "unknown parameter: use from, to (and format on /progress)",
                ));
            }
        }
    }
    if request.window.from > request.window.to {
        return Err(QueryError::new("to", "is before `from`"));
    }
    if request.window.days().len() > TIMELINE_MAX_DAYS {
        return Err(QueryError::new(
            "to",
            format!("a window of at most {TIMELINE_MAX_DAYS} days"),
        ));
    }
    Ok(request)
}

fn no_course(id: &str) -> ApiError {
    ApiError::NotFound(format!("no course `{}`", ctt_core::printable(id)))
}

/// The course `id` as the caller may see it, or a 404.
pub async fn visible_course(store: &ScopedStore, id: &str) -> Result<Course, ApiError> {
    store.course(id).await?.ok_or_else(|| no_course(id))
}

/// Every course (role `self`: those it is a student of).
#[utoipa::path(
    get,
    path = "/courses",
    tag = "courses",
    responses(
        (status = 200, description = "Courses by id; role `self` sees those it is a student of, without `students`", body = Vec<CourseView>),
        (status = 400, description = "A query parameter was given (this route takes none)", body = ErrorBody),
        (status = 401, description = "Credentials are needed or not valid", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is logged", body = ErrorBody),
    )
)]
pub async fn courses(store: ScopedStore, uri: Uri) -> Result<Json<Vec<CourseView>>, ApiError> {
    super::query::no_parameters(uri.query())?;
    let show = store.sees_everyone();
    let courses = store.courses().await?;
    Ok(Json(
        courses.iter().map(|c| CourseView::new(c, show)).collect(),
    ))
}

/// One course as its file defines it.
#[utoipa::path(
    get,
    path = "/courses/{id}",
    tag = "courses",
    params(("id" = String, Path, description = "A course id as listed by `/courses`")),
    responses(
        (status = 200, description = "The course", body = CourseView),
        (status = 400, description = "A query parameter was given (this route takes none)", body = ErrorBody),
        (status = 401, description = "Credentials are needed or not valid", body = ErrorBody),
        (status = 404, description = "No such course (or, for role `self`, not one of its courses)", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is logged", body = ErrorBody),
    )
)]
pub async fn course(
    store: ScopedStore,
    PathParam(id): PathParam<String>,
    uri: Uri,
) -> Result<Json<CourseView>, ApiError> {
    super::query::no_parameters(uri.query())?;
    let course = visible_course(&store, &id).await?;
    Ok(Json(CourseView::new(&course, store.sees_everyone())))
}

/// The class against the course: each student's status, grade, completion and
/// progress per lab (each requirement and credited event: on the student's
/// route); per lab the average and counts; the stuck lab.
#[utoipa::path(
    get,
    path = "/courses/{id}/progress",
    tag = "courses",
    params(("id" = String, Path, description = "A course id as listed by `/courses`"), ProgressParams),
    responses(
        (status = 200, description = "The class (role `self`: its own row); `format=csv`: one row per student, sorted, with the header `student,status,grade,completion,` then each lab's id",
            content(
                (ClassProgress = "application/json"),
                (String = "text/csv"),
            )),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = ErrorBody),
        (status = 401, description = "Credentials are needed or not valid", body = ErrorBody),
        (status = 404, description = "No such course", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is logged", body = ErrorBody),
    )
)]
pub async fn progress(
    store: ScopedStore,
    PathParam(id): PathParam<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let course = visible_course(&store, &id).await?;
    let request = course_request(&course, &pairs(uri.query()), true)?;
    let progress = store
        .course_progress(&course, &request.window)
        .await?
        .summary();
    if !request.csv {
        return Ok(Json(progress).into_response());
    }
    Ok(csv_response(&course.id, &progress))
}

/// The class export as a CSV download.
pub fn csv_response(id: &str, progress: &ClassProgress) -> Response {
    let disposition = format!("attachment; filename=\"{id}-progress.csv\"");
    let mut response = progress_csv(progress).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// One student: per lab its progress, each requirement's credited and missing
/// counts, and the credited events.
#[utoipa::path(
    get,
    path = "/courses/{id}/students/{user}",
    tag = "courses",
    params(
        ("id" = String, Path, description = "A course id as listed by `/courses`"),
        ("user" = String, Path, description = "A student of the course"),
        WindowParams,
    ),
    responses(
        (status = 200, description = "The student's progress", body = StudentScore),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = ErrorBody),
        (status = 401, description = "Credentials are needed or not valid", body = ErrorBody),
        (status = 404, description = "No such course, or not a student of it (role `self`: anyone but itself)", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is logged", body = ErrorBody),
    )
)]
pub async fn student(
    store: ScopedStore,
    PathParam((id, user)): PathParam<(String, String)>,
    uri: Uri,
) -> Result<Json<StudentScore>, ApiError> {
    let course = visible_course(&store, &id).await?;
    let request = course_request(&course, &pairs(uri.query()), false)?;
    match store
        .course_student(&course, &request.window, &user)
        .await?
    {
        Some(score) => Ok(Json(score)),
        None => Err(ApiError::NotFound(format!(
            "`{}` is not a student of course `{}`",
            ctt_core::printable(&user),
            course.id
        ))),
    }
}

/// The class band over time: for each day of the window, the P25, P50 and P75
/// of the students' course completion counting events up to that day.
#[utoipa::path(
    get,
    path = "/courses/{id}/timeline",
    tag = "courses",
    params(("id" = String, Path, description = "A course id as listed by `/courses`"), WindowParams),
    responses(
        (status = 200, description = "One entry per day (role `self`: its own completion)", body = TimelineView),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = ErrorBody),
        (status = 401, description = "Credentials are needed or not valid", body = ErrorBody),
        (status = 404, description = "No such course", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is logged", body = ErrorBody),
    )
)]
pub async fn timeline(
    store: ScopedStore,
    PathParam(id): PathParam<String>,
    uri: Uri,
) -> Result<Json<TimelineView>, ApiError> {
    let course = visible_course(&store, &id).await?;
    let request = course_request(&course, &pairs(uri.query()), false)?;
    let days = store.course_timeline(&course, &request.window).await?;
    Ok(Json(TimelineView {
        course: course.id.clone(),
        from: format_event_time(request.window.from),
        to: format_event_time(request.window.to),
        days,
    }))
}
