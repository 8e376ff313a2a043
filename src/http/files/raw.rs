//! The raw side of the files API (SPEC §15): `application/octet-stream` up and down, streamed,
//! with `ETag`, and the `If-Match` / `If-None-Match` conditions of writes and deletes.

use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;

use super::super::error::ApiError;
use crate::backend::BackendError;
use crate::backend::content::FileStream;
use crate::files::{Etag, Precondition};

/// The media type of raw file bytes.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// The condition of a write or delete, from its `If-Match` / `If-None-Match` headers.
pub struct Condition(pub Precondition);

impl<S: Send + Sync> FromRequestParts<S> for Condition {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let value = |name| {
            parts
                .headers
                .get(name)
                .map(|v| {
                    v.to_str()
                        .map_err(|_| ApiError::bad_request("invalid condition header"))
                })
                .transpose()
        };
        let (if_match, if_none_match) = (value(header::IF_MATCH)?, value(header::IF_NONE_MATCH)?);
        Precondition::from_headers(if_match, if_none_match)
            .map(Condition)
            .map_err(ApiError::BadRequest)
    }
}

/// Whether a read asks for the raw bytes (`Accept: application/octet-stream`).
pub fn wants_raw(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|media| media.split(';').next().map(str::trim) == Some(OCTET_STREAM))
}

/// Whether a write carries raw bytes (`Content-Type: application/octet-stream`).
pub fn is_raw(headers: &HeaderMap) -> bool {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next());
    media.is_some_and(|m| m.trim().eq_ignore_ascii_case(OCTET_STREAM))
}

/// `response` with the file's tag.
pub fn with_etag(mut response: Response, etag: &Etag) -> Response {
    if let Ok(value) = HeaderValue::from_str(&etag.header()) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// A raw read: the bytes as they come, with their length and tag.
pub fn download(file: FileStream) -> Response {
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(OCTET_STREAM)),
        (header::CONTENT_LENGTH, HeaderValue::from(file.size)),
    ];
    let response = (headers, Body::from_stream(file.body)).into_response();
    with_etag(response, &file.etag)
}

/// The announced length and the body of a raw write, read as it arrives.
pub fn upload_body(req: Request) -> Result<(u64, crate::backend::ByteStream), ApiError> {
    let size = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .ok_or(ApiError::LengthRequired(
            "a raw upload needs a Content-Length",
        ))?;
    let body = req
        .into_body()
        .into_data_stream()
        .map_err(|_| BackendError::Invalid("the upload was cut short".into()));
    Ok((size, Box::pin(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_is_asked_for_by_media_type_not_by_substring() {
        let accept = |v: &'static str| HeaderMap::from_iter([(header::ACCEPT, v.parse().unwrap())]);
        assert!(wants_raw(&accept("application/octet-stream")));
        assert!(wants_raw(&accept(
            "text/plain, application/octet-stream;q=0.9"
        )));
        assert!(!wants_raw(&accept("application/json")));
        assert!(!wants_raw(&accept("application/octet-streamx")));
        let ctype =
            |v: &'static str| HeaderMap::from_iter([(header::CONTENT_TYPE, v.parse().unwrap())]);
        assert!(is_raw(&ctype("Application/Octet-Stream; charset=binary")));
        assert!(!is_raw(&ctype("application/json")));
        assert!(!is_raw(&HeaderMap::new()));
    }
}
