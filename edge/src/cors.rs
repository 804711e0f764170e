//! CORS (django-cors-headers' behaviour) and the security headers every response carries.

use crate::http::{Request, Response};
use crate::settings::{CorsOrigins, Settings};

const ALLOW_HEADERS: &str = "accept, authorization, content-type, user-agent, x-csrftoken, x-requested-with, idempotency-key, x-order-token, x-d1-bookmark";
const ALLOW_METHODS: &str = "DELETE, GET, OPTIONS, PATCH, POST, PUT";
/// What a browser may do with an API answer: nothing (no scripts, styles, frames or framing).
/// The documentation pages (issue 11) get a policy of their own that allows their own assets.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";
const EXPOSE_HEADERS: &str = "Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, X-Request-ID, X-D1-Bookmark";

/// A CORS preflight: `OPTIONS` announcing the method it wants.
pub fn is_preflight(request: &Request) -> bool {
    request.method == "OPTIONS" && request.header("access-control-request-method").is_some()
}

/// The answer to a preflight: 200, empty, with what may be sent.
pub fn preflight(request: &Request, settings: &Settings) -> Response {
    let mut response = Response::empty(200);
    if allowed_origin(request, settings).is_some() {
        response.set_header("access-control-allow-headers", ALLOW_HEADERS);
        response.set_header("access-control-allow-methods", ALLOW_METHODS);
        response.set_header("access-control-max-age", "86400");
    }
    response
}

fn allowed_origin(request: &Request, settings: &Settings) -> Option<String> {
    let origin = request.header("origin")?;
    match &settings.cors_origins {
        CorsOrigins::Any => Some("*".to_owned()),
        list if list.allows(origin) => Some(origin.to_owned()),
        CorsOrigins::List(_) => None,
    }
}

/// Adds the headers every response wears: CORS, security, the request id, and `no-store` on
/// private answers (who asked, or credentials and tokens).
pub fn decorate(
    response: &mut Response,
    request: &Request,
    settings: &Settings,
    request_id: &str,
    private: bool,
) {
    if let Some(origin) = allowed_origin(request, settings) {
        response.set_header("access-control-allow-origin", origin);
        response.set_header("access-control-expose-headers", EXPOSE_HEADERS);
    }
    response.set_header("vary", "Origin");
    response.set_header("x-content-type-options", "nosniff");
    response.set_header("x-frame-options", "DENY");
    // A download sets its own (a sandbox for whatever the file is).
    if response.header("content-security-policy").is_none() {
        response.set_header("content-security-policy", API_CSP);
    }
    response.set_header("referrer-policy", "same-origin");
    response.set_header("x-request-id", request_id);
    if settings.environment.is_deployed() {
        response.set_header(
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        );
    }
    if private {
        response.set_header("cache-control", "no-store");
    }
}
