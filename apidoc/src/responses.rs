//! Responses: the success of an operation, its refusals with example bodies, the refusals
//! every route of a kind shares (components, `#/components/responses/…`), and the headers
//! they carry.

use domain::ApiError;
use domain::auth::TokenProblem;
use domain::error::RETRY_AFTER_UNAVAILABLE_SECS;
use domain::limits::{MAX_HEADER_BYTES, MAX_JSON_BODY_BYTES, MAX_QUERY_BYTES};
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{Ref, RefOr};

use crate::examples::envelope;
use crate::operations::{AnswerHeader, Reason, Success};
use crate::schemas::replies;

pub const UNAUTHENTICATED: &str = "Unauthenticated";
pub const PAYLOAD_TOO_LARGE: &str = "PayloadTooLarge";
pub const UNSUPPORTED_MEDIA_TYPE: &str = "UnsupportedMediaType";
pub const IDEMPOTENCY_IN_FLIGHT: &str = "IdempotencyKeyInFlight";
pub const IDEMPOTENCY_REUSED: &str = "IdempotencyKeyReused";
pub const THROTTLED: &str = "Throttled";
pub const QUERY_TOO_LONG: &str = "QueryTooLong";
pub const HEADERS_TOO_LARGE: &str = "HeadersTooLarge";
pub const UNAVAILABLE: &str = "Unavailable";

pub const RATE_LIMIT_HEADERS: [&str; 3] =
    ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"];
pub const RETRY_AFTER: &str = "Retry-After";
pub const WWW_AUTHENTICATE: &str = "WWW-Authenticate";

/// The response headers, by component name.
pub fn header_components() -> Vec<(&'static str, Header)> {
    let integer = |description: &str| {
        HeaderBuilder::new()
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0)),
            ))
            .description(Some(description))
            .build()
    };
    let [limit, remaining, reset] = RATE_LIMIT_HEADERS;
    vec![
        (
            limit,
            integer("Requests allowed in the window of the scope closest to its limit."),
        ),
        (remaining, integer("Requests left in that window.")),
        (reset, integer("Seconds until that window resets.")),
        (RETRY_AFTER, integer("Seconds to wait before retrying.")),
        (
            WWW_AUTHENTICATE,
            HeaderBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .description(Some("The challenge: `Bearer realm=\"api\"`."))
                .build(),
        ),
    ]
}

/// What a response carries besides its body.
#[derive(Debug, Clone, Copy, Default)]
pub struct Headers {
    /// The request was counted by the rate limiter.
    pub rate_limit: bool,
    pub retry_after: bool,
    pub challenge: bool,
}

impl Headers {
    /// The headers a response of `status` carries, on a route the limiter counts or not.
    /// A body over its limit (413) is refused before the request is counted (but a streamed
    /// one, which its handler measures: `crate::paths` sees to that); every other
    /// answer of a counted route may carry the `RateLimit-*` headers (an unusable token is
    /// refused before counting, a wrong password after it: the document's headers are optional).
    pub fn for_status(status: u16, counted: bool) -> Self {
        Self {
            rate_limit: counted && status != 413,
            retry_after: matches!(status, 429 | 503),
            challenge: status == 401,
        }
    }

    fn apply(self, mut response: ResponseBuilder) -> ResponseBuilder {
        let header = |name: &str| Ref::new(format!("#/components/headers/{name}"));
        if self.rate_limit {
            for name in RATE_LIMIT_HEADERS {
                response = response.header_ref(name, header(name));
            }
        }
        if self.retry_after {
            response = response.header_ref(RETRY_AFTER, header(RETRY_AFTER));
        }
        if self.challenge {
            response = response.header_ref(WWW_AUTHENTICATE, header(WWW_AUTHENTICATE));
        }
        response
    }
}

/// An operation's own response header. (utoipa's `Header` lacks OpenAPI's `required`; it goes
/// in through the extensions, which are written flat beside the other fields.)
fn own_header(header: &AnswerHeader) -> Header {
    let mut built = HeaderBuilder::new()
        .schema(Some(header.schema.schema()))
        .description(Some(header.description.clone()))
        .build();
    if header.required {
        built.extensions = Some(std::iter::once(("required", true)).collect());
    }
    built
}

fn with_own_headers(mut response: ResponseBuilder, headers: &[AnswerHeader]) -> ResponseBuilder {
    for header in headers {
        response = response.header(header.name, own_header(header));
    }
    response
}

/// A reference to the shared response `name`.
pub fn reference(name: &str) -> RefOr<Response> {
    RefOr::Ref(Ref::from_response_name(name))
}

/// The answer when all goes well.
pub fn success(success: &Success, headers: Headers) -> Response {
    let mut response = ResponseBuilder::new().description(success.description);
    for media in &success.media {
        let content = ContentBuilder::new()
            .schema(Some(media.schema.schema()))
            .example(media.example.clone())
            .build();
        response = response.content(media.content_type, content);
    }
    for follow in &success.follows {
        let link = LinkBuilder::new()
            .operation_id(follow.operation_id)
            .parameter("id", "$response.body#/id")
            .description(format!(
                "`{}` of the `id` in this answer.",
                follow.operation_id
            ))
            .build();
        response = response.link(follow.name, link);
    }
    headers
        .apply(with_own_headers(response, &success.headers))
        .build()
}

/// A refusal: the envelope, its reasons as the description and their bodies as examples.
pub fn refusal(reasons: &[Reason], headers: Headers) -> Response {
    refusal_with(reasons, headers, &[])
}

/// A refusal with headers of its own.
pub fn refusal_with(reasons: &[Reason], headers: Headers, own: &[AnswerHeader]) -> Response {
    let description = match reasons {
        [one] => one.summary.clone(),
        many => many
            .iter()
            .map(|reason| format!("- {}", reason.summary))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    let examples = reasons.iter().map(|reason| {
        (
            reason.key,
            ExampleBuilder::new()
                .summary(reason.summary.clone())
                .value(Some(reason.example.clone()))
                .build(),
        )
    });
    let content = ContentBuilder::new()
        .schema(Some(replies::error()))
        .examples_from_iter(examples)
        .build();
    let response = ResponseBuilder::new()
        .description(description)
        .content("application/json", content);
    headers.apply(with_own_headers(response, own)).build()
}

fn reason(key: &'static str, summary: impl Into<String>, error: &ApiError) -> Reason {
    Reason::new(key, summary, envelope(error))
}

/// The refusals shared by every route of a kind, by component name.
///
/// Those answered before the request is counted (413, 414, 431) carry no `RateLimit-*`
/// headers; the others are used on counted routes only (a test holds the routes to that), and
/// may carry them.
pub fn components() -> Vec<(&'static str, Response)> {
    let plain = Headers::default();
    let counted = Headers::for_status(400, true);
    let retry = Headers {
        retry_after: true,
        ..counted
    };
    vec![
        (UNAUTHENTICATED, unauthenticated()),
        (
            PAYLOAD_TOO_LARGE,
            refusal(
                &[reason(
                    "too_large",
                    format!("The JSON (or form) body is over {MAX_JSON_BODY_BYTES} bytes."),
                    &ApiError::PayloadTooLarge {
                        limit: MAX_JSON_BODY_BYTES,
                    },
                )],
                plain,
            ),
        ),
        (
            UNSUPPORTED_MEDIA_TYPE,
            refusal(
                &[reason(
                    "unsupported",
                    "The body is neither JSON nor a form.",
                    &ApiError::UnsupportedMediaType("text/plain".to_owned()),
                )],
                counted,
            ),
        ),
        (
            IDEMPOTENCY_IN_FLIGHT,
            refusal(
                &[reason(
                    "in_flight",
                    "A request with this `Idempotency-Key` is still running; retry later.",
                    &ApiError::IdempotencyInFlight,
                )],
                counted,
            ),
        ),
        (
            IDEMPOTENCY_REUSED,
            refusal(
                &[reason(
                    "reused",
                    "This `Idempotency-Key` was used before with a different request.",
                    &ApiError::IdempotencyMismatch,
                )],
                counted,
            ),
        ),
        (
            THROTTLED,
            refusal(
                &[reason(
                    "throttled",
                    "A rate limit is reached; `Retry-After` says when to try again.",
                    &ApiError::Throttled { wait_secs: 42 },
                )],
                Headers::for_status(429, true),
            ),
        ),
        (
            QUERY_TOO_LONG,
            refusal(
                &[reason(
                    "too_long",
                    format!("The query string is over {MAX_QUERY_BYTES} bytes."),
                    &ApiError::QueryTooLong {
                        limit: MAX_QUERY_BYTES,
                    },
                )],
                plain,
            ),
        ),
        (
            HEADERS_TOO_LARGE,
            refusal(
                &[reason(
                    "too_large",
                    format!("The request's headers are over {MAX_HEADER_BYTES} bytes in total."),
                    &ApiError::HeadersTooLarge {
                        limit: MAX_HEADER_BYTES,
                    },
                )],
                plain,
            ),
        ),
        (UNAVAILABLE, refusal(&unavailable_reasons(), retry)),
    ]
}

/// Why a request with a bearer token, or one that needs it, is refused.
fn unauthenticated() -> Response {
    let reasons = [
        reason(
            "not_provided",
            "No credentials where they are required.",
            &ApiError::NotAuthenticated,
        ),
        reason(
            "token_not_valid",
            "The bearer token is not a valid access token (invalid, expired, or a refresh token).",
            &ApiError::InvalidBearer(TokenProblem::Expired),
        ),
        reason(
            "bad_header",
            "`Authorization: Bearer` is not followed by exactly one token.",
            &ApiError::BadAuthorizationHeader,
        ),
        reason(
            "user_not_found",
            "The token's account no longer exists.",
            &ApiError::UserNotFound,
        ),
    ];
    refusal(&reasons, Headers::for_status(401, true))
}

/// Why a request may be answered 503: the write's origin, or the rate limiter of a
/// credentials endpoint (which fails closed), cannot be reached.
pub fn unavailable_reasons() -> Vec<Reason> {
    vec![reason(
        "unavailable",
        format!(
            "The service cannot reach a dependency (the origin, for a write or a login; the rate \
             limiter, for a credentials endpoint). Retry after `Retry-After` \
             ({RETRY_AFTER_UNAVAILABLE_SECS} s)."
        ),
        &ApiError::Unavailable,
    )]
}
