//! The REST API: its routes, and the OpenAPI document generated from them.
//!
//! Every route is registered with `utoipa_axum::routes!`, which takes its path
//! and method from the handler's `#[utoipa::path]`: a route cannot be served
//! without being documented, nor documented without being served.
//!
//! - [`events`]: `/scan`, `/users/{user}`, `/services/{service}`,
//!   `/events/{eventID}`, `/stats`
//! - [`catalog`]: `/users`, `/services`, `/parameters`
//! - [`courses`]: `/courses`, `/courses/{id}`, `/courses/{id}/progress`,
//!   `/courses/{id}/students/{user}`, `/courses/{id}/timeline` (SPEC §10)
//! - [`alerts`]: `/alerts`, `/alerts/{id}` (SPEC §12)
//! - [`ops`]: `/health`, `/metrics`, `/openapi.json`; `/docs` is Swagger UI
//!   (served from the binary, no CDN)

pub mod alerts;
pub mod catalog;
pub mod courses;
pub mod events;
pub mod export;
pub mod ops;
pub mod query;
pub mod resources;

use std::sync::Arc;

use axum::http::Uri;
use axum::{Extension, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::{ApiError, AppState};

/// The Content-Security-Policy of API responses: JSON and text, never a
/// document, so nothing may load or frame them.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// The Content-Security-Policy of `/docs` (Swagger UI): its own scripts,
/// styles and images from this server, the document fetched from here, no
/// inline script, nothing from elsewhere. The one inline style it draws, the
/// colours of its logo (an SVG `<style>`), is allowed by its hash; the browser
/// test of `/docs` fails on any violation, so a Swagger UI update that
/// changes it is caught.
pub const DOCS_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='; \
    img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    frame-ancestors 'none'; form-action 'self'";

/// The parts of the document not taken from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "CloudTrail-Tracker API",
        description = "Who did what, with which service, when: the events of an AWS account's \
CloudTrail logs. The original system's routes (`/scan`, `/users`, `/users/{user}`, `/services`, \
`/services/{service}`, `/parameters`) answer as they did: plain JSON lists. Pages are linked by \
the `Link` header. Errors are `{\"error\", \"detail\"}` with a 4xx or 5xx status."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "events", description = "Events, counts and statistics"),
        (name = "catalog", description = "What has been seen: users, services, parameter names"),
        (name = "courses", description = "Courses and labs: a class graded from its activity (SPEC §10)"),
        (name = "alerts", description = "Detections: Sigma rules' hits on the records loaded (SPEC §12)"),
        (name = "resources", description = "Resources: who created what, what is still running, estimated costs (SPEC §11)"),
        (name = "operations", description = "Health, metrics, this document"),
    )
)]
struct ApiDoc;

/// Declares the `bearer` security scheme (API tokens from `ctt token create`).
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token from `ctt token create` (needed once any token exists, \
                         or when the server listens beyond loopback)",
                    ))
                    .build(),
            ),
        );
    }
}

fn documented_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(events::scan))
        .routes(routes!(catalog::users))
        .routes(routes!(events::user_events))
        .routes(routes!(catalog::services))
        .routes(routes!(events::service_events))
        .routes(routes!(catalog::parameters))
        .routes(routes!(events::event_detail))
        .routes(routes!(events::stats))
        .routes(routes!(courses::courses))
        .routes(routes!(courses::course))
        .routes(routes!(courses::progress))
        .routes(routes!(courses::student))
        .routes(routes!(courses::timeline))
        .routes(routes!(alerts::alerts))
        .routes(routes!(alerts::alert))
        .routes(routes!(resources::resources))
        .routes(routes!(resources::resource))
        .routes(routes!(ops::health))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::openapi_json))
}

/// The OpenAPI document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented_routes().into_openapi()
}

/// Every route, `/docs`, and a JSON 404 for anything else; no layers.
pub fn routes(state: AppState) -> Router {
    let (router, doc) = documented_routes().split_for_parts();
    let json = doc.to_json().unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot render the OpenAPI document");
        "{}".to_owned()
    });
    // No validator: Swagger UI would send the document to validator.swagger.io.
    let docs = SwaggerUi::new("/docs").config(Config::new(["/openapi.json"]).validator_url("none"));
    router
        .merge(docs)
        .fallback(not_found)
        .layer(Extension(ops::OpenApiJson(Arc::from(json))))
        .with_state(state)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!(
        "no route {}: see /openapi.json or /docs",
        uri.path()
    ))
}
