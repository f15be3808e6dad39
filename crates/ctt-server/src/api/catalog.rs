//! The catalog routes of the original: `/users`, `/services`, `/parameters` —
//! plain JSON lists of names, sorted, as the caller's [`ScopedStore`] sees them
//! (role `self`: itself, its own services, no names from others' records).

use axum::Json;
use axum::http::Uri;

use super::query::no_parameters;
use crate::error::ErrorBody;
use crate::{ApiError, ScopedStore};

/// Users seen (the resolved `user` of SPEC §3), sorted.
#[utoipa::path(
    get,
    path = "/users",
    tag = "catalog",
    responses(
        (status = 200, description = "User names, sorted; for role `self`, only its own (if seen)", body = Vec<String>, example = json!(["alucloud001", "alucloud002", "root"])),
        (status = 400, description = "A query parameter was given (this route takes none)", body = ErrorBody),
        (status = 401, description = "Credentials are needed or not valid", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is logged", body = ErrorBody),
    )
)]
pub async fn users(store: ScopedStore, uri: Uri) -> Result<Json<Vec<String>>, ApiError> {
    no_parameters(uri.query())?;
    let users = store.users().await?;
    Ok(Json(users.into_iter().map(|entry| entry.name).collect()))
}

/// Services seen (`eventSource` up to its first dot), sorted.
#[utoipa::path(
    get,
    path = "/services",
    tag = "catalog",
    responses(
        (status = 200, description = "Service names, sorted; for role `self`, those of its own events", body = Vec<String>, example = json!(["ec2", "iam", "s3"])),
        (status = 400, description = "A query parameter was given (this route takes none)", body = ErrorBody),
        (status = 401, description = "Credentials are needed or not valid", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is logged", body = ErrorBody),
    )
)]
pub async fn services(store: ScopedStore, uri: Uri) -> Result<Json<Vec<String>>, ApiError> {
    no_parameters(uri.query())?;
    Ok(Json(store.service_names().await?))
}

/// Parameter names usable in `param` (the records flattened, SPEC §3), sorted.
#[utoipa::path(
    get,
    path = "/parameters",
    tag = "catalog",
    responses(
        (status = 200, description = "Parameter names, sorted; for role `self`, only typed attributes and indexed parameters (names flattened from other users' records are their data)", body = Vec<String>, example = json!(["awsRegion", "requestParameters_instanceType", "userIdentity_userName"])),
        (status = 400, description = "A query parameter was given (this route takes none)", body = ErrorBody),
        (status = 401, description = "Credentials are needed or not valid", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is logged", body = ErrorBody),
    )
)]
pub async fn parameters(store: ScopedStore, uri: Uri) -> Result<Json<Vec<String>>, ApiError> {
    no_parameters(uri.query())?;
    Ok(Json(store.parameters().await?))
}
