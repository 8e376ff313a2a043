//! What becomes an `ApiError`: a service's domain error, a store error met by an extractor, an
//! authentication refusal; and an HTTP refusal a service must record.

use super::ApiError;
use crate::access::AuthError;
use crate::services::ServiceError;
use crate::store::StoreError;

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(m) => ApiError::BadRequest(m),
            ServiceError::Forbidden(m) => ApiError::Forbidden(m),
            ServiceError::NotFound(m) => ApiError::NotFound(m),
            ServiceError::Conflict(m) => ApiError::Conflict(m),
            ServiceError::TooLarge(m) => ApiError::PayloadTooLarge(m),
            ServiceError::PreconditionFailed(m) => ApiError::PreconditionFailed(m),
            ServiceError::Unprocessable(m) => ApiError::Unprocessable(m),
            ServiceError::Quota(m) => ApiError::Limit(m),
            ServiceError::Unavailable(m) => ApiError::Unavailable(m),
            ServiceError::Upstream(m) => ApiError::BadGateway(m),
            ServiceError::UpstreamTimeout(m) => ApiError::GatewayTimeout(m),
            ServiceError::UnknownScheme(m) => ApiError::UnknownScheme(m),
            ServiceError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<ApiError> for ServiceError {
    /// A refusal of the HTTP layer (a body too large or malformed) as a service records it.
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::PayloadTooLarge(m) => ServiceError::TooLarge(m),
            ApiError::Internal(cause) => ServiceError::Internal(cause),
            other => ServiceError::Invalid(other.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ServiceError::from(e).into()
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Missing => ApiError::Unauthorized("missing workspace auth token"),
            AuthError::Invalid => ApiError::Unauthorized("invalid auth token"),
            AuthError::WrongWorkspace => {
                ApiError::Unauthorized("auth token does not grant access to this workspace")
            }
            AuthError::AdminRequired => ApiError::Unauthorized("admin auth required"),
            AuthError::NotFound => ApiError::workspace_not_found(),
            AuthError::SessionEnded => {
                ApiError::Unauthorized("browser session is unknown or has ended")
            }
            AuthError::CrossOrigin => ApiError::Unauthorized(
                "a browser session is accepted only from the server's own origin",
            ),
            AuthError::Store(e) => e.into(),
        }
    }
}
