//! The one error type of the API and the envelope every error body wears.
//!
//! Bodies follow the seed's exception handler: `{"status_code": <int>, "errors": <DRF body>}`.
//! [`ApiError::status`] documents the mapping to HTTP; the edge and the origin both render
//! through [`ApiError::envelope`], so a client sees the same body whichever side refused.

use std::collections::BTreeMap;

use crate::limits::MAX_IDEMPOTENCY_KEY_CHARS;
use serde_json::{Value, json};

/// Why a token was refused, in simplejwt's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    Invalid,
    Expired,
    WrongType,
    Blacklisted,
}

impl TokenProblem {
    pub fn message(self) -> &'static str {
        match self {
            Self::Invalid => "Token is invalid",
            Self::Expired => "Token is expired",
            Self::WrongType => "Token has wrong type",
            Self::Blacklisted => "Token is blacklisted",
        }
    }
}

/// What a 503 asks a client to wait before retrying: long enough for a Postgres restart or a
/// redeploy of the origin, short enough that a retry usually succeeds.
pub const RETRY_AFTER_UNAVAILABLE_SECS: u32 = 5;

/// Field name → messages, DRF's validation error shape. `non_field_errors` is a field like any
/// other. A list of objects (an order's `items`) reports per element, as DRF's nested
/// serializers do: `{"items": [{}, {"quantity": ["…"]}]}`, an empty object for a valid one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors {
    messages: BTreeMap<String, Vec<String>>,
    elements: BTreeMap<String, Vec<FieldErrors>>,
}

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    /// One field, one message: the common case.
    pub fn single(field: &str, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, message);
        errors
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.messages
            .entry(field.to_owned())
            .or_default()
            .push(message.into());
    }

    /// Records `errors` for element `index` of the list `field`, which has `len` elements.
    pub fn add_element(&mut self, field: &str, len: usize, index: usize, errors: Self) {
        if errors.is_empty() {
            return;
        }
        let elements = self.elements.entry(field.to_owned()).or_default();
        if elements.len() < len {
            elements.resize_with(len, Self::default);
        }
        if let Some(element) = elements.get_mut(index) {
            element.merge(errors);
        }
    }

    /// Adds every message of `other`.
    pub fn merge(&mut self, other: Self) {
        for (field, messages) in other.messages {
            self.messages.entry(field).or_default().extend(messages);
        }
        self.elements.extend(other.elements);
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.elements.is_empty()
    }

    pub fn get(&self, field: &str) -> Option<&[String]> {
        self.messages.get(field).map(Vec::as_slice)
    }

    /// The errors of element `index` of the list `field`, if it has any.
    pub fn element(&self, field: &str, index: usize) -> Option<&Self> {
        self.elements
            .get(field)?
            .get(index)
            .filter(|errors| !errors.is_empty())
    }

    /// `Ok(value)` when nothing was recorded, the errors otherwise.
    pub fn into_result<T>(self, value: T) -> Result<T, ApiError> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(ApiError::Validation(self))
        }
    }

    fn to_json(&self) -> Value {
        let mut object = serde_json::Map::new();
        for (field, elements) in &self.elements {
            let list = elements.iter().map(Self::to_json).collect();
            object.insert(field.clone(), Value::Array(list));
        }
        // A field with messages of its own (the list as a whole) shows those, as DRF does.
        for (field, messages) in &self.messages {
            object.insert(field.clone(), json!(messages));
        }
        Value::Object(object)
    }
}

/// Every way a request can fail, with its HTTP status in the variant's doc.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 400: fields failed validation.
    #[error("validation failed")]
    Validation(FieldErrors),
    /// 400: the body is not JSON. Carries the parser's message.
    #[error("JSON parse error - {0}")]
    MalformedJson(String),
    /// 400: a `multipart/form-data` body that does not parse (DRF's `ParseError`).
    #[error("Multipart form parse error - {0}")]
    MalformedMultipart(String),
    /// 400: `verify` of a blacklisted token (simplejwt answers this one as a validation error).
    #[error("token is blacklisted")]
    VerifyBlacklisted,
    /// 401: a user endpoint was called without credentials.
    #[error("authentication credentials were not provided")]
    NotAuthenticated,
    /// 401: `Authorization: Bearer` without exactly one token after it.
    #[error("malformed authorization header")]
    BadAuthorizationHeader,
    /// 401: the bearer token is not a valid access token.
    #[error("bearer token not valid: {0:?}")]
    InvalidBearer(TokenProblem),
    /// 401: the bearer token is valid but its user no longer exists.
    #[error("user not found")]
    UserNotFound,
    /// 401: login with a wrong username or password.
    #[error("bad credentials")]
    BadCredentials,
    /// 401: a token endpoint (`refresh`, `verify`, `blacklist`) was given a bad token.
    #[error("token not valid: {0:?}")]
    TokenNotValid(TokenProblem),
    /// 401: a refresh token whose user is gone.
    #[error("no active account for token")]
    NoActiveAccountForToken,
    /// 404: the object does not exist or is not the caller's; `None` for an unknown path.
    #[error("not found")]
    NotFound(Option<&'static str>),
    /// 404: a page number that is not an integer or past the last page.
    #[error("invalid page")]
    InvalidPage,
    /// 400: an `Idempotency-Key` header that is empty, too long or not printable ASCII.
    #[error("bad idempotency key")]
    BadIdempotencyKey,
    /// 409: a request with the same `Idempotency-Key` is still being processed.
    #[error("idempotency key in flight")]
    IdempotencyInFlight,
    /// 422: the `Idempotency-Key` was used before with a different request.
    #[error("idempotency key reused")]
    IdempotencyMismatch,
    /// 405: the path exists, the method does not. Carries the `Allow` list.
    #[error("method not allowed")]
    MethodNotAllowed {
        method: String,
        allow: Vec<&'static str>,
    },
    /// 413: the body is over the limit (bytes).
    #[error("payload too large")]
    PayloadTooLarge { limit: usize },
    /// 414: the query string is over the limit (bytes).
    #[error("query string too long")]
    QueryTooLong { limit: usize },
    /// 431: the request's headers together are over the limit (bytes).
    #[error("request headers too large")]
    HeadersTooLarge { limit: usize },
    /// 416: a download's `Range` lies wholly past the end of a file of `size` bytes.
    #[error("range not satisfiable")]
    RangeNotSatisfiable { size: u64 },
    /// 415: the body's content type cannot be parsed.
    #[error("unsupported media type")]
    UnsupportedMediaType(String),
    /// 400: a Stripe webhook whose signature (or payload) does not verify.
    #[error("invalid webhook payload or signature")]
    InvalidWebhook,
    /// 500: a fault of ours. The body says nothing more than the request id.
    #[error("internal error")]
    Internal,
    /// 503: a dependency is down.
    #[error("service unavailable")]
    Unavailable,
    /// 429: a rate limit is reached; a request may succeed after `wait_secs`.
    #[error("throttled for {wait_secs} s")]
    Throttled { wait_secs: u64 },
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> u16 {
        match self {
            Self::Validation(_)
            | Self::MalformedJson(_)
            | Self::MalformedMultipart(_)
            | Self::VerifyBlacklisted
            | Self::BadIdempotencyKey
            | Self::InvalidWebhook => 400,
            Self::NotAuthenticated
            | Self::BadAuthorizationHeader
            | Self::InvalidBearer(_)
            | Self::UserNotFound
            | Self::BadCredentials
            | Self::TokenNotValid(_)
            | Self::NoActiveAccountForToken => 401,
            Self::NotFound(_) | Self::InvalidPage => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::IdempotencyInFlight => 409,
            Self::IdempotencyMismatch => 422,
            Self::PayloadTooLarge { .. } => 413,
            Self::QueryTooLong { .. } => 414,
            Self::HeadersTooLarge { .. } => 431,
            Self::UnsupportedMediaType(_) => 415,
            Self::RangeNotSatisfiable { .. } => 416,
            Self::Throttled { .. } => 429,
            Self::Internal => 500,
            Self::Unavailable => 503,
        }
    }

    /// Headers this error adds to the response, beyond the ones every response gets.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::MethodNotAllowed { allow, .. } => vec![("Allow", allow.join(", "))],
            Self::Unavailable => vec![("Retry-After", RETRY_AFTER_UNAVAILABLE_SECS.to_string())],
            Self::Throttled { wait_secs } => vec![("Retry-After", wait_secs.to_string())],
            Self::RangeNotSatisfiable { size } => {
                vec![("Content-Range", format!("bytes */{size}"))]
            }
            _ if self.status() == 401 => {
                vec![("WWW-Authenticate", r#"Bearer realm="api""#.to_owned())]
            }
            _ => Vec::new(),
        }
    }

    /// DRF's body for this error (what the envelope carries under `errors`).
    pub fn errors_body(&self, request_id: &str) -> Value {
        match self {
            Self::Validation(fields) => fields.to_json(),
            Self::MalformedJson(message) => detail(&format!("JSON parse error - {message}")),
            Self::MalformedMultipart(message) => {
                detail(&format!("Multipart form parse error - {message}"))
            }
            Self::VerifyBlacklisted => json!({"non_field_errors": ["Token is blacklisted"]}),
            Self::NotAuthenticated => detail("Authentication credentials were not provided."),
            Self::BadAuthorizationHeader => json!({
                "detail": "Authorization header must contain two space-delimited values",
                "code": "bad_authorization_header",
            }),
            Self::InvalidBearer(problem) => json!({
                "detail": "Given token not valid for any token type",
                "code": "token_not_valid",
                "messages": [{
                    "token_class": "AccessToken",
                    "token_type": "access",
                    "message": problem.message(),
                }],
            }),
            Self::UserNotFound => json!({"detail": "User not found", "code": "user_not_found"}),
            Self::BadCredentials => detail("No active account found with the given credentials"),
            Self::TokenNotValid(problem) => {
                json!({"detail": problem.message(), "code": "token_not_valid"})
            }
            Self::NoActiveAccountForToken => json!({
                "detail": "No active account found for the given token.",
                "code": "no_active_account",
            }),
            Self::NotFound(Some(resource)) => {
                detail(&format!("No {resource} matches the given query."))
            }
            Self::NotFound(None) => detail("Not found."),
            Self::InvalidPage => detail("Invalid page."),
            Self::BadIdempotencyKey => detail(&format!(
                "The Idempotency-Key header must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII characters."
            )),
            Self::IdempotencyInFlight => {
                detail("A request with this Idempotency-Key is still being processed. Retry later.")
            }
            Self::IdempotencyMismatch => {
                detail("This Idempotency-Key was already used with a different request.")
            }
            Self::MethodNotAllowed { method, .. } => {
                detail(&format!("Method \"{method}\" not allowed."))
            }
            Self::PayloadTooLarge { limit } => {
                detail(&format!("Request body exceeds the limit of {limit} bytes."))
            }
            Self::QueryTooLong { limit } => {
                detail(&format!("Query string exceeds the limit of {limit} bytes."))
            }
            Self::HeadersTooLarge { limit } => detail(&format!(
                "Request headers exceed the limit of {limit} bytes in total."
            )),
            Self::UnsupportedMediaType(content_type) => detail(&format!(
                "Unsupported media type \"{content_type}\" in request."
            )),
            Self::RangeNotSatisfiable { .. } => detail("Requested range not satisfiable."),
            // The seed's answer; which check failed goes to the log only.
            Self::InvalidWebhook => detail("Invalid payload or signature"),
            Self::Internal => json!({"detail": "Server error", "request_id": request_id}),
            Self::Unavailable => {
                json!({"detail": "Service temporarily unavailable.", "request_id": request_id})
            }
            // DRF's `Throttled`: the wait rounded up, "second" for one.
            Self::Throttled { wait_secs: 1 } => {
                detail("Request was throttled. Expected available in 1 second.")
            }
            Self::Throttled { wait_secs } => detail(&format!(
                "Request was throttled. Expected available in {wait_secs} seconds."
            )),
        }
    }

    /// The full body: `{"status_code": …, "errors": …}`.
    pub fn envelope(&self, request_id: &str) -> Value {
        json!({"status_code": self.status(), "errors": self.errors_body(request_id)})
    }
}

fn detail(message: &str) -> Value {
    json!({ "detail": message })
}

/// An error and its causes, `error: cause: cause…`: the whole `source()` chain, for the one
/// log line a failure gets.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn list_elements_report_in_place_with_empty_objects_for_valid_ones() {
        let mut errors = FieldErrors::single("email", "Enter a valid email address.");
        errors.add_element("items", 3, 2, FieldErrors::single("quantity", "too many"));
        errors.add_element("items", 3, 0, FieldErrors::new());
        errors.add_element("items", 3, 0, FieldErrors::single("product_id", "missing"));
        assert_eq!(
            ApiError::Validation(errors.clone()).errors_body("r"),
            json!({
                "email": ["Enter a valid email address."],
                "items": [{"product_id": ["missing"]}, {}, {"quantity": ["too many"]}],
            })
        );
        assert!(errors.element("items", 1).is_none());
        assert_eq!(
            errors.element("items", 2).unwrap().get("quantity").unwrap(),
            ["too many"]
        );
        assert!(FieldErrors::new().into_result(()).is_ok());
    }

    #[test]
    fn every_401_carries_a_bearer_challenge() {
        for error in [
            ApiError::NotAuthenticated,
            ApiError::BadCredentials,
            ApiError::TokenNotValid(TokenProblem::Expired),
            ApiError::InvalidBearer(TokenProblem::WrongType),
        ] {
            assert_eq!(error.status(), 401, "{error:?}");
            assert_eq!(
                error.headers(),
                vec![("WWW-Authenticate", r#"Bearer realm="api""#.to_owned())],
                "{error:?}"
            );
        }
    }

    #[test]
    fn server_errors_say_nothing_but_the_request_id() {
        assert_eq!(
            ApiError::Internal.envelope("rid-1"),
            json!({"status_code": 500, "errors": {"detail": "Server error", "request_id": "rid-1"}})
        );
    }

    #[test]
    fn a_503_says_when_to_retry() {
        assert_eq!(ApiError::Unavailable.status(), 503);
        assert_eq!(
            ApiError::Unavailable.headers(),
            vec![("Retry-After", RETRY_AFTER_UNAVAILABLE_SECS.to_string())]
        );
    }

    #[test]
    fn method_not_allowed_names_the_method_and_lists_allow() {
        let error = ApiError::MethodNotAllowed {
            method: "PUT".into(),
            allow: vec!["GET", "HEAD", "OPTIONS"],
        };
        assert_eq!(error.status(), 405);
        assert_eq!(
            error.headers(),
            vec![("Allow", "GET, HEAD, OPTIONS".to_owned())]
        );
        assert_eq!(
            error.errors_body("x"),
            json!({"detail": "Method \"PUT\" not allowed."})
        );
    }

    #[test]
    fn missing_objects_name_their_resource() {
        assert_eq!(
            ApiError::NotFound(Some("Project")).errors_body("x"),
            json!({"detail": "No Project matches the given query."})
        );
        assert_eq!(
            ApiError::NotFound(None).errors_body("x"),
            json!({"detail": "Not found."})
        );
    }
}
