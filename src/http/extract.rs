//! Request extractors that fail with `ApiError`: JSON bodies and path ids.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::workspace::WorkspaceId;

/// A JSON body. Any content type is accepted (scripts often omit it); malformed JSON is a 400
/// and a body past the route's limit a 413, both in the `{"error": …}` shape.
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge("request body too large".into())
            } else {
                ApiError::bad_request("could not read request body")
            }
        })?;
        parse_json(&bytes).map(Json)
    }
}

/// Parses a JSON body, naming what is wrong without echoing the input.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Data => format!("invalid request: {e}"),
            serde_json::error::Category::Eof if bytes.is_empty() => {
                "request body must be a JSON object".to_owned()
            }
            _ => "malformed JSON".to_owned(),
        };
        ApiError::BadRequest(what)
    })
}

/// Finds a named path parameter and parses it as a UUID (400 when it is not one).
pub fn path_id(params: &RawPathParams, name: &str) -> Result<Option<WorkspaceId>, ApiError> {
    params
        .iter()
        .find(|(key, _)| *key == name)
        .map(|(_, value)| {
            WorkspaceId::parse(value).map_err(|_| ApiError::bad_request(format!("invalid {name}")))
        })
        .transpose()
}

/// A UUID path parameter other than the workspace id (token ids and the like).
pub struct PathUuid(pub uuid::Uuid);

/// Extracts the last UUID path parameter that is not `id`.
impl<S: Send + Sync> FromRequestParts<S> for PathUuid {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::bad_request("invalid path"))?;
        let (name, value) = params
            .iter()
            .filter(|(key, _)| *key != "id")
            .last()
            .ok_or_else(|| ApiError::bad_request("missing id in path"))?;
        WorkspaceId::parse(value)
            .map(|w| PathUuid(w.0))
            .map_err(|_| ApiError::bad_request(format!("invalid {name}")))
    }
}

/// A query string parsed into `T`; a bad one is a 400 in the usual shape.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(query)
            .map(Query)
            .map_err(|e| ApiError::bad_request(format!("invalid query string: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
    }

    #[test]
    fn malformed_json_is_a_bad_request_without_echo() {
        let err = parse_json::<Body>(b"{\"name\": \"secret-value").unwrap_err();
        assert!(matches!(err, ApiError::BadRequest(ref m) if m == "malformed JSON"));
        let err = parse_json::<Body>(b"").unwrap_err();
        assert!(matches!(err, ApiError::BadRequest(_)));
    }

    #[test]
    fn unknown_fields_and_wrong_types_are_named() {
        let err = parse_json::<Body>(br#"{"name":"a","nmae":"b"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `nmae`"), "{err}");
        let err = parse_json::<Body>(br#"{"name":5}"#).unwrap_err();
        assert!(err.to_string().starts_with("invalid request"), "{err}");
    }
}
