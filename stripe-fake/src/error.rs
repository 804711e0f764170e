//! Stripe's error object, and the one place it becomes an HTTP response.
//!
//! Stripe answers every failure as `{"error": {"type", "message", "code"?, "param"?, …}}`,
//! leaving out the fields that do not apply; async-stripe reads that body into its
//! `StripeError::Stripe(error, status)`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A Stripe API error, with the status Stripe answers it with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {kind}: {message}")]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
    code: Option<&'static str>,
    decline_code: Option<&'static str>,
    param: Option<String>,
    retry_after_secs: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            code: None,
            decline_code: None,
            param: None,
            retry_after_secs: None,
        }
    }

    fn invalid_request(status: StatusCode, message: impl Into<String>) -> Self {
        Self::new(status, "invalid_request_error", message)
    }

    fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    fn with_param(mut self, param: &str) -> Self {
        self.param = Some(param.to_owned());
        self
    }

    /// 400: a required parameter is absent.
    pub fn missing_param(param: &str) -> Self {
        Self::invalid_request(
            StatusCode::BAD_REQUEST,
            format!("Missing required param: {param}."),
        )
        .with_code("parameter_missing")
        .with_param(param)
    }

    /// 400: a parameter that must be a positive integer is not one.
    pub fn invalid_integer(param: &str, value: &str) -> Self {
        Self::invalid_request(
            StatusCode::BAD_REQUEST,
            format!("Invalid positive integer: {value}"),
        )
        .with_code("parameter_invalid_integer")
        .with_param(param)
    }

    /// 400: a parameter has the wrong shape or value.
    pub fn invalid_param(param: &str, message: impl Into<String>) -> Self {
        Self::invalid_request(StatusCode::BAD_REQUEST, message)
            .with_code("parameter_invalid_string")
            .with_param(param)
    }

    /// 400: the form body itself cannot be read.
    pub fn malformed_body(message: impl Into<String>) -> Self {
        Self::invalid_request(StatusCode::BAD_REQUEST, message)
    }

    /// 400: an `Idempotency-Key` reused with other parameters (or another endpoint).
    pub fn idempotency_mismatch(key: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "idempotency_error",
            format!(
                "Keys for idempotent requests can only be used with the same parameters they \
                 were first used with. Try using a key other than '{key}' if you meant to \
                 execute a different request."
            ),
        )
    }

    /// 409: an `Idempotency-Key` whose first request is still being handled.
    pub fn idempotency_in_progress() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "idempotency_error",
            "There is currently another in-progress request using this Idempotent Key \
             (that probably means you submitted twice, and the other request is still going \
             through). Please try again later.",
        )
        .with_code("idempotency_key_in_use")
    }

    /// 401: no `Authorization` header, or not a bearer key.
    pub fn missing_api_key() -> Self {
        Self::invalid_request(
            StatusCode::UNAUTHORIZED,
            "You did not provide an API key. You need to provide your API key in the \
             Authorization header, using Bearer auth (e.g. 'Authorization: Bearer \
             YOUR_SECRET_KEY').",
        )
    }

    /// 401: a key this fake does not accept; only its last four characters are shown.
    pub fn invalid_api_key(key: &str) -> Self {
        let tail: String = key
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        Self::invalid_request(
            StatusCode::UNAUTHORIZED,
            format!("Invalid API Key provided: sk_test_****{tail}"),
        )
    }

    /// 402: the card was declined.
    pub fn card_declined() -> Self {
        let mut error = Self::new(
            StatusCode::PAYMENT_REQUIRED,
            "card_error",
            "Your card was declined.",
        )
        .with_code("card_declined");
        error.decline_code = Some("generic_decline");
        error
    }

    /// 404: no object with this id.
    pub fn no_such(object: &str, param: &str, id: &str) -> Self {
        Self::invalid_request(StatusCode::NOT_FOUND, format!("No such {object}: '{id}'"))
            .with_code("resource_missing")
            .with_param(param)
    }

    /// 404: a path Stripe does not have (or this fake does not speak).
    pub fn unrecognized_url(method: &str, path: &str) -> Self {
        Self::invalid_request(
            StatusCode::NOT_FOUND,
            format!(
                "Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs \
                 or we can help at https://support.stripe.com/."
            ),
        )
    }

    /// 429, with `Retry-After`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut error = Self::invalid_request(
            StatusCode::TOO_MANY_REQUESTS,
            "Request rate limit exceeded. Learn more about rate limits here \
             https://stripe.com/docs/rate-limits.",
        )
        .with_code("rate_limit");
        error.retry_after_secs = Some(retry_after_secs);
        error
    }

    /// 500: Stripe's side failed.
    pub fn server_error() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            "An unknown error occurred",
        )
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Stripe's machine-readable `code`, when the error has one.
    pub fn code(&self) -> Option<&str> {
        self.code
    }

    /// The parameter at fault, when there is one.
    pub fn param(&self) -> Option<&str> {
        self.param.as_deref()
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Fields<'a>,
}

#[derive(Serialize)]
struct Fields<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    decline_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    param: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    doc_url: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Fields {
                kind: self.kind,
                message: &self.message,
                code: self.code,
                decline_code: self.decline_code,
                param: self.param.as_deref(),
                doc_url: self
                    .code
                    .map(|code| format!("https://stripe.com/docs/error-codes/{code}")),
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Stripe\""),
            );
        }
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
