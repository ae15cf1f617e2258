//! The web layer's one error type, [`ApiError`]: every failure a handler can
//! return, rendered as JSON `{"error": code, "message": text}` with the right
//! status. Messages are written for users; internals (paths, I/O errors, causes)
//! go to the log, never into a response.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// One field a submission got wrong, with the configuration's own wording.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// `section.key`, as in `config.toml` (or a form field such as `new_password`).
    pub key: String,
    /// What is allowed, as the config validation says it.
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    #[error("the request body is too large")]
    TooLarge,
    #[error("method not allowed on this path")]
    MethodNotAllowed,
    /// A submission with invalid values: nothing was changed.
    #[error("invalid settings: {}", .0.iter().map(|f| f.key.as_str()).collect::<Vec<_>>().join(", "))]
    Invalid(Vec<FieldError>),
    #[error("log in first")]
    Unauthorized,
    /// No admin password is set yet: the only change allowed is setting one.
    #[error("set an admin password first: until one is set, the web UI changes nothing else")]
    PasswordFirst,
    /// The `Host` header names no name or address of this device (DNS rebinding).
    #[error(
        "this device does not answer to the host name {0:?}; add it to web.allowed_hosts if it is yours"
    )]
    UnknownHost(String),
    #[error("the request's address is too long")]
    UriTooLong,
    #[error("the request's headers are too large")]
    HeadersTooLarge,
    #[error("the request took too long")]
    RequestTimeout,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("too many wrong passwords; try again in {0} s")]
    TooManyAttempts(u64),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unavailable(&'static str),
    /// Something failed inside; the detail is logged, the client sees a generic text.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::PasswordFirst => StatusCode::FORBIDDEN,
            ApiError::UnknownHost(_) => StatusCode::MISDIRECTED_REQUEST,
            ApiError::UriTooLong => StatusCode::URI_TOO_LONG,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::TooManyAttempts(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound => "not_found",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::TooLarge => "too_large",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Invalid(_) => "invalid",
            ApiError::Unauthorized => "unauthorized",
            ApiError::PasswordFirst => "password_first",
            ApiError::UnknownHost(_) => "unknown_host",
            ApiError::UriTooLong => "uri_too_long",
            ApiError::RequestTimeout => "request_timeout",
            ApiError::HeadersTooLarge => "headers_too_large",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::TooManyAttempts(_) => "too_many_attempts",
            ApiError::Conflict(_) => "conflict",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// An internal failure: logs `detail`, answers a generic 500.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        ApiError::Internal(detail.to_string())
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'static str,
    message: String,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    fields: &'a [FieldError],
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(error = %detail, "web request failed");
        }
        let fields: &[FieldError] = match &self {
            ApiError::Invalid(f) => f,
            _ => &[],
        };
        let body = Body {
            error: self.code(),
            message: self.to_string(),
            fields,
        };
        let mut resp = (self.status(), Json(body)).into_response();
        if let ApiError::TooManyAttempts(s) = self
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

/// Turns axum's own rejections (bad JSON, too large a body, a bad query) into
/// [`ApiError`]s, so that every error a client sees has the same shape.
impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(r: axum::extract::rejection::JsonRejection) -> Self {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::TooLarge;
        }
        ApiError::BadRequest(format!(
            "the request body is not valid JSON: {}",
            r.body_text()
        ))
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(r: axum::extract::rejection::QueryRejection) -> Self {
        ApiError::BadRequest(r.body_text())
    }
}

/// `axum::Json` whose rejections are [`ApiError`]s.
pub struct JsonBody<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for JsonBody<T>
where
    axum::Json<T>:
        axum::extract::FromRequest<S, Rejection = axum::extract::rejection::JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(v) = axum::Json::<T>::from_request(req, state).await?;
        Ok(JsonBody(v))
    }
}
