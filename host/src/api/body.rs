//! JSON bodies, query strings and path segments, with their rejections in
//! the API's error shape (axum answers them in plain text otherwise): the
//! error names the field when the parser says which.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::api::error::ApiError;

/// A JSON body.
#[derive(Debug)]
pub(crate) struct Body<T>(pub(crate) T);

/// A JSON body that may be left out (an empty body or `null` reads as the
/// default).
#[derive(Debug)]
pub(crate) struct OptionalBody<T>(pub(crate) T);

/// A query string.
#[derive(Debug)]
pub(crate) struct Query<T>(pub(crate) T);

/// Path segments.
#[derive(Debug)]
pub(crate) struct Path<T>(pub(crate) T);

/// The field a serde message names (`unknown field `x``, `missing field
/// `y``, `name: invalid type …` from serde_path_to_error).
fn field_of(message: &str) -> Option<String> {
    for marker in ["unknown field `", "missing field `"] {
        if let Some(start) = message.find(marker) {
            let rest = &message[start + marker.len()..];
            return rest.split('`').next().map(str::to_owned);
        }
    }
    let detail = ["target type: ", "query string: "]
        .iter()
        .find_map(|marker| message.split_once(marker).map(|(_, detail)| detail))
        .unwrap_or(message);
    let (path, _) = detail.split_once(": ")?;
    let path = path.trim();
    (!path.is_empty() && !path.contains(' ')).then(|| path.to_owned())
}

/// A JSON body past the cap (2 MiB; modules have their own).
fn too_large() -> ApiError {
    ApiError::too_large(
        "the body is larger than the API takes (2 MiB for JSON); send less, or a module through PUT /api/v1/modules/{name}",
    )
}

fn rejected(status_invalid: bool, message: String) -> ApiError {
    let field = field_of(&message);
    let error = if status_invalid {
        ApiError::invalid(message)
    } else {
        ApiError::bad_request(message)
    };
    match field {
        Some(field) => error.on(field),
        None => error,
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(JsonRejection::JsonDataError(e)) => Err(rejected(true, e.body_text())),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::bad_request(
                "send the body as JSON, with `Content-Type: application/json`",
            )),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(too_large()),
            Err(e) => Err(rejected(false, e.body_text())),
        }
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    too_large()
                } else {
                    ApiError::bad_request(e.body_text())
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalBody(T::default()));
        }
        serde_json::from_slice::<Option<T>>(&bytes)
            .map(|value| OptionalBody(value.unwrap_or_default()))
            .map_err(|e| rejected(!e.is_syntax() && !e.is_eof(), format!("the JSON body: {e}")))
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Query(value))
            .map_err(|e: QueryRejection| rejected(false, e.body_text()))
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Path(value))
            .map_err(|e: PathRejection| rejected(false, e.body_text()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_field_is_found_in_serde_messages() {
        assert_eq!(
            field_of("Failed to deserialize the JSON body into the target type: unknown field `shedule`, expected one of …").as_deref(),
            Some("shedule")
        );
        assert_eq!(
            field_of("Failed to deserialize the JSON body into the target type: missing field `module` at line 1").as_deref(),
            Some("module")
        );
        assert_eq!(
            field_of("Failed to deserialize the JSON body into the target type: shard_total: invalid type: string \"x\", expected i64").as_deref(),
            Some("shard_total")
        );
    }
}
