//! [`WebError`]: how a portal page fails — as an HTML page, with the same
//! statuses as the API (a bad filter is a 400 naming the parameter, an event
//! one may not see is a 404 like one that does not exist, a store failure is a
//! 500 whose cause goes to the log only), and [`status_page`] for the errors
//! that happen before a page's handler runs.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ctt_core::query::QueryError;
use ctt_store::StoreError;
use maud::{Markup, html};

use super::layout::{self, Shell};
use crate::ApiError;

#[derive(Debug)]
pub enum WebError {
    /// A filter that cannot be read: 400.
    BadRequest(QueryError),
    /// No such page, user, service or event (or not for this viewer): 404.
    NotFound(String),
    /// Our fault: 500 (or 503 for a timeout upstream).
    Failed(ApiError),
}

impl From<ApiError> for WebError {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::InvalidParameter(e) => Self::BadRequest(e),
            ApiError::NotFound(what) => Self::NotFound(what),
            other => Self::Failed(other),
        }
    }
}

impl From<QueryError> for WebError {
    fn from(error: QueryError) -> Self {
        Self::BadRequest(error)
    }
}

impl From<StoreError> for WebError {
    fn from(error: StoreError) -> Self {
        Self::Failed(ApiError::from(error))
    }
}

impl WebError {
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::Failed(e) => e.status(),
        }
    }

    pub fn title(&self) -> &'static str {
        match self {
            WebError::BadRequest(_) => "Invalid filter",
            WebError::NotFound(_) => "Not found",
            WebError::Failed(_) => "Something went wrong",
        }
    }

    /// The page's body; logs a server failure's cause once.
    pub fn body(&self) -> Markup {
        match self {
            WebError::BadRequest(e) => html! {
                h1 { "Invalid filter" }
                p.error role="alert" { "`" (e.parameter) "`: " (e.detail) }
                p { "Change the filter, or " a href="/ui/" { "go back to the dashboard" } "." }
            },
            WebError::NotFound(what) => html! {
                h1 { "Not found" }
                p { (what) }
                p { a href="/ui/" { "Go to the dashboard" } " or " a href="/ui/events" { "list events" } "." }
            },
            WebError::Failed(e) => {
                tracing::error!(error = %crate::error::cause_chain(e), "portal page failed");
                html! {
                    h1 { "Something went wrong" }
                    p { "The server could not show this page; the cause is in its log. Try again in a moment." }
                }
            }
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let mut response =
            layout::page(&Shell::signed_out(self.title()), self.body()).into_response();
        *response.status_mut() = self.status();
        response
    }
}

/// The page of an error no portal handler rendered (a rejected form, a method
/// a route does not take, a refused `Host`): the status's name and, when
/// known, what is wrong.
pub fn status_page(status: StatusCode, detail: Option<&str>) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    let body = html! {
        h1 { (title) }
        @if let Some(detail) = detail {
            p.error role="alert" { (detail) }
        }
        p { a href="/ui/" { "Go to the dashboard" } " or " a href="/login" { "sign in" } "." }
    };
    let mut response = layout::page(&Shell::signed_out(title), body).into_response();
    *response.status_mut() = status;
    response
}
