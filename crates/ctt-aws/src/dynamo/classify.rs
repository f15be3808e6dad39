//! What kind of failure a DynamoDB request ended in, once the SDK's retries
//! (see [`crate::config::MAX_SDK_ATTEMPTS`]) and ours ([`super::retry`]) gave
//! up: throttled, the endpoint unreachable, the table missing, or anything else.
//! The [`ErrorKind`] travels in [`StoreError`](ctt_store::StoreError), and the
//! API answers by it (503 with `Retry-After` for the first three).

use aws_sdk_dynamodb::error::{BuildError, ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::http::Response;
use ctt_store::ErrorKind;

/// Error codes DynamoDB throttles with (request rate, capacity, transactions
/// holding an item).
const THROTTLED: [&str; 6] = [
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "TransactionConflictException",
    "TransactionInProgressException",
];

/// Error codes of DynamoDB failing on its side.
const UNAVAILABLE: [&str; 4] = [
    "InternalServerError",
    "ServiceUnavailable",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// The kind of an error DynamoDB answered with `code`.
pub fn kind_of_code(code: Option<&str>) -> ErrorKind {
    match code {
        Some("ResourceNotFoundException") => ErrorKind::Missing,
        Some(code) if THROTTLED.contains(&code) => ErrorKind::Throttled,
        Some(code) if UNAVAILABLE.contains(&code) => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    }
}

/// An error that knows its [`ErrorKind`].
pub trait Classify {
    fn kind(&self) -> ErrorKind;
}

impl<E: ProvideErrorMetadata> Classify for SdkError<E, Response> {
    fn kind(&self) -> ErrorKind {
        match self {
            // Never answered: refused, reset, timed out (a user error is a
            // request we built wrong).
            SdkError::TimeoutError(_) => ErrorKind::Unavailable,
            SdkError::DispatchFailure(failure) if !failure.is_user() => ErrorKind::Unavailable,
            SdkError::ServiceError(_) | SdkError::ResponseError(_) => {
                match kind_of_code(self.code()) {
                    ErrorKind::Internal
                        if self
                            .raw_response()
                            .is_some_and(|r| r.status().is_server_error()) =>
                    {
                        ErrorKind::Unavailable
                    }
                    kind => kind,
                }
            }
            _ => ErrorKind::Internal,
        }
    }
}

impl Classify for BuildError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Internal
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::query::QueryError;
    use aws_sdk_dynamodb::types::error::{
        ProvisionedThroughputExceededException, ResourceNotFoundException,
    };
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn response(status: u16) -> Response {
        Response::new(
            StatusCode::try_from(status).unwrap_or_else(|e| panic!("{e}")),
            SdkBody::empty(),
        )
    }

    fn answered(error: QueryError, status: u16) -> SdkError<QueryError, Response> {
        SdkError::service_error(error, response(status))
    }

    #[test]
    fn sdk_errors_are_classified_by_what_went_wrong() {
        let throttled = QueryError::ProvisionedThroughputExceededException(
            ProvisionedThroughputExceededException::builder()
                .message("rate of requests exceeds the allowed throughput")
                .meta(
                    ErrorMetadata::builder()
                        .code("ProvisionedThroughputExceededException")
                        .build(),
                )
                .build(),
        );
        let missing = QueryError::ResourceNotFoundException(
            ResourceNotFoundException::builder()
                .message("Requested resource not found")
                .meta(
                    ErrorMetadata::builder()
                        .code("ResourceNotFoundException")
                        .build(),
                )
                .build(),
        );
        let generic = |code: &str| {
            QueryError::generic(ErrorMetadata::builder().code(code).message("x").build())
        };
        let refused = SdkError::<QueryError, Response>::dispatch_failure(ConnectorError::io(
            "connection refused".into(),
        ));
        let cases = [
            (answered(throttled, 400), ErrorKind::Throttled),
            (
                answered(generic("ThrottlingException"), 400),
                ErrorKind::Throttled,
            ),
            (answered(missing, 400), ErrorKind::Missing),
            (
                answered(generic("InternalServerError"), 500),
                ErrorKind::Unavailable,
            ),
            (
                answered(generic("SomethingNew"), 503),
                ErrorKind::Unavailable,
            ),
            (
                answered(generic("ValidationException"), 400),
                ErrorKind::Internal,
            ),
            (refused, ErrorKind::Unavailable),
            (
                SdkError::timeout_error("no answer within 1 s"),
                ErrorKind::Unavailable,
            ),
            (
                SdkError::dispatch_failure(ConnectorError::user("bad URI".into())),
                ErrorKind::Internal,
            ),
            (
                SdkError::construction_failure("no region"),
                ErrorKind::Internal,
            ),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error:?}");
        }
    }
}
