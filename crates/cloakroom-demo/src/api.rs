//! What every JSON route shares: the error type, and extractors whose rejections
//! are JSON errors too.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::json;

/// An error answer: a status and `{"error": message}`, or a session error, which
/// cloakroom turns into 503 (store down) or 500 itself.
#[derive(Debug)]
pub enum ApiError {
    /// A client-facing failure with its status.
    Status(StatusCode, String),
    /// The session could not be read or written.
    Session(cloakroom::Error),
}

impl ApiError {
    /// 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::Status(StatusCode::BAD_REQUEST, message.into())
    }

    /// 401 with `message`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::Status(StatusCode::UNAUTHORIZED, message.into())
    }

    /// 404 with `message`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::Status(StatusCode::NOT_FOUND, message.into())
    }
}

impl From<cloakroom::Error> for ApiError {
    fn from(err: cloakroom::Error) -> Self {
        Self::Session(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Status(status, message) => error_response(status, &message),
            Self::Session(err) => err.into_response(),
        }
    }
}

/// `status` with the body `{"error": message}`.
pub fn error_response(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// The result of a JSON route.
pub type ApiResult<T> = Result<T, ApiError>;

/// Like [`axum::Json`] as an extractor, but every rejection (bad syntax, wrong
/// shape, missing `Content-Type`) is a 400 `{"error": ...}`; only a body over the
/// size limit keeps its 413.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    let status = match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::Status(status, rejection.body_text())
}

/// Like [`axum::extract::Path`], with a 400 `{"error": ...}` rejection.
#[derive(Debug, Clone)]
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(path_rejection(&rejection)),
        }
    }
}

fn path_rejection(rejection: &PathRejection) -> ApiError {
    let status = match rejection.status() {
        status if status.is_server_error() => status,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::Status(status, rejection.body_text())
}

/// True when the request's body is an HTML form
/// (`application/x-www-form-urlencoded`), which a browser may send cross-site:
/// the routes that take one check its CSRF token.
pub fn is_form(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

/// The router's fallback: 404 `{"error":"not found"}`.
pub async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "not found")
}

/// A known route with the wrong method: 405 `{"error":"method not allowed"}`.
pub async fn method_not_allowed() -> Response {
    error_response(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
}

/// `{"message": message}`.
pub fn message(message: &str) -> Json<serde_json::Value> {
    Json(json!({ "message": message }))
}
