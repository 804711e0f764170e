//! The route table's rows as OpenAPI operations. A row's columns decide what every operation
//! of its kind shares; its handler's [`Spec`] adds the rest.
//!
//! - `access`: `User` needs a bearer token, `UserOrGuest` takes one or none, `Public` none;
//!   either of the first two may be 401.
//! - `throttle`: counted rows carry the `RateLimit-*` headers and may be 429; the credentials
//!   scope fails closed, so its rows may be 503 too.
//! - `body`: a row that reads a body may be 413 (over the row's limit); a JSON body may be 400
//!   (malformed) and 415 (another content type). A streamed body (an upload) is read by its
//!   handler, so its limit and content type are the handler's own refusals, after counting.
//!
//! Paths are the table's, but for the catch-all of downloads ([`MEDIA`]), which OpenAPI cannot
//! state: see [`documented_path`].

use std::borrow::Cow;

use domain::files::key::KEY_PREFIX;
use domain::files::signed::MEDIA_PREFIX;
use domain::input::JsonBody;
use domain::projects::{PROJECT_ORDERING, TASK_ORDERING};
use domain::{ApiError, FieldErrors};
use edge::attachments::reads::ATTACHMENT_ORDERING;
use edge::routes::{Access, BodyKind, MEDIA, Method, ROUTES, Route, Throttle};
use utoipa::openapi::HttpMethod;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::encoding::EncodingBuilder;
use utoipa::openapi::path::{Operation, OperationBuilder, Parameter, Paths};
use utoipa::openapi::request_body::{RequestBody, RequestBodyBuilder};
use utoipa::openapi::response::{Response, Responses};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{RefOr, Required};

use crate::components::JWT_AUTH;
use crate::examples::refusal;
use crate::operations::{Body, BodyMedia, Origin, Query, Reason, Spec, push, spec};
use crate::parameters::{
    self, DONE, IDEMPOTENCY_KEY, MAX_DUE, MIN_DUE, PAGE, PAGE_SIZE, PROJECT, SEARCH,
};
use crate::responses::{self, Headers};

/// The rows a client may call: every row but the origin's own.
pub fn documented_routes() -> impl Iterator<Item = &'static Route> {
    ROUTES.iter().filter(|route| route.access != Access::Origin)
}

/// The download path's parameters, segment by segment.
pub const MEDIA_PARAMETERS: [&str; 4] = ["year", "month", "object", "filename"];

/// Where a row is documented: at its own path, but for the catch-all of downloads
/// (`/media/{*file}`). An OpenAPI path parameter is one segment (it may not hold a `/`), so a
/// catch-all has no spelling; the route answers anything but 404 only for the paths the edge's
/// signed URLs have (`signed::media_path` of a `key::storage_key` and a file name), and that
/// shape is documented: `/media/attachments/{year}/{month}/{object}/{filename}`.
pub fn documented_path(path: &'static str) -> Cow<'static, str> {
    if path == MEDIA {
        let [year, month, object, filename] = MEDIA_PARAMETERS;
        Cow::Owned(format!(
            "{MEDIA_PREFIX}{KEY_PREFIX}{{{year}}}/{{{month}}}/{{{object}}}/{{{filename}}}"
        ))
    } else {
        Cow::Borrowed(path)
    }
}

/// Every documented operation, in the table's order.
pub fn paths() -> Paths {
    let mut paths = Paths::new();
    for route in documented_routes() {
        if let Some(spec) = spec(route) {
            paths.add_path_operation(
                documented_path(route.path),
                vec![http_method(route.method)],
                operation(route, &spec),
            );
        }
    }
    paths
}

const fn http_method(method: Method) -> HttpMethod {
    match method {
        Method::Get => HttpMethod::Get,
        Method::Post => HttpMethod::Post,
        Method::Put => HttpMethod::Put,
        Method::Patch => HttpMethod::Patch,
        Method::Delete => HttpMethod::Delete,
    }
}

fn operation(route: &Route, spec: &Spec) -> Operation {
    let mut operation = OperationBuilder::new()
        .operation_id(Some(spec.id))
        .tag(spec.tag.name())
        .summary(Some(spec.summary))
        .description(spec.description.clone())
        .request_body(spec.body.as_ref().map(request_body))
        .securities(security(route.access))
        .responses(responses(route, spec))
        .build();
    let parameters = parameters(route, spec);
    operation.parameters = (!parameters.is_empty()).then_some(parameters);
    operation
}

/// Every parameter of the operation: its path's id, its query, its headers.
fn parameters(route: &Route, spec: &Spec) -> Vec<RefOr<Parameter>> {
    let shared = parameters::reference;
    let mut parameters = Vec::new();
    if route.path.contains("{id}") {
        parameters.push(RefOr::T(parameters::path_id(
            spec.resource.unwrap_or("object"),
        )));
    }
    if route.path == MEDIA {
        parameters.extend(parameters::media_path().into_iter().map(RefOr::T));
    }
    match spec.query {
        Query::None => {}
        Query::Pages => parameters.extend([shared(PAGE), shared(PAGE_SIZE)]),
        Query::Projects => {
            parameters.extend([shared(PAGE), shared(PAGE_SIZE), shared(SEARCH)]);
            parameters.push(RefOr::T(parameters::ordering(PROJECT_ORDERING)));
        }
        Query::Tasks => {
            parameters.extend([shared(PAGE), shared(PAGE_SIZE), shared(SEARCH)]);
            parameters.push(RefOr::T(parameters::ordering(TASK_ORDERING)));
            parameters.extend([DONE, MIN_DUE, MAX_DUE, PROJECT].map(shared));
        }
        Query::Attachments => {
            parameters.extend([shared(PAGE), shared(PAGE_SIZE)]);
            parameters.push(RefOr::T(parameters::ordering(ATTACHMENT_ORDERING)));
            parameters.push(shared(PROJECT));
        }
        Query::Download => parameters.extend(parameters::download().into_iter().map(RefOr::T)),
        Query::Format => parameters.push(RefOr::T(parameters::format())),
    }
    if spec.origin.takes_idempotency_key() {
        parameters.push(shared(IDEMPOTENCY_KEY));
    }
    parameters.extend(spec.headers.iter().map(|name| shared(name)));
    parameters
}

/// Who may call: a bearer token (`User`), a bearer token or nobody in particular
/// (`UserOrGuest`), or anyone (`Public`, no requirement).
fn security(access: Access) -> Option<Vec<SecurityRequirement>> {
    let bearer = || SecurityRequirement::new(JWT_AUTH, Vec::<String>::new());
    match access {
        Access::User => Some(vec![bearer()]),
        Access::UserOrGuest => Some(vec![bearer(), SecurityRequirement::default()]),
        Access::Public | Access::Origin => None,
    }
}

/// The body in each content type it may come in; the example is given once, with JSON.
fn request_body(body: &Body) -> RequestBody {
    let content = || ContentBuilder::new().schema(Some(body.schema.schema()));
    let request = RequestBodyBuilder::new().required(Some(if body.required {
        Required::True
    } else {
        Required::False
    }));
    let json = || content().example(body.example.clone()).build();
    match &body.media {
        BodyMedia::Json => request.content("application/json", json()),
        BodyMedia::JsonOrForms => request
            .content("application/json", json())
            .content("application/x-www-form-urlencoded", content().build())
            .content("multipart/form-data", content().build()),
        BodyMedia::Upload {
            file,
            content_types,
        } => {
            let encoding = EncodingBuilder::new().content_type(Some(content_types.join(", ")));
            request.content(
                "multipart/form-data",
                content().encoding(*file, encoding).build(),
            )
        }
    }
    .build()
}

/// Whether the rate limiter counts the row's requests.
fn counted(route: &Route) -> bool {
    route.throttle != Throttle::Exempt
}

/// Every answer the row can give: its success, its handler's own refusals together with the
/// ones its columns imply, and the shared ones by reference.
fn responses(route: &Route, spec: &Spec) -> Responses {
    let counted = counted(route);
    let mut refusals = spec.refusals.clone();
    for (status, reason) in implied_reasons(route, spec) {
        push(&mut refusals, status, reason);
    }
    let mut answers: Vec<(u16, RefOr<Response>)> = std::iter::once(&spec.success)
        .chain(&spec.also)
        .map(|answer| {
            let headers = Headers::for_status(answer.status, counted);
            (answer.status, RefOr::T(responses::success(answer, headers)))
        })
        .collect();
    for refusal in &refusals {
        let headers = Headers {
            retry_after: refusal.retry_after,
            // A streamed body is measured by its handler, after the request was counted.
            rate_limit: counted && (refusal.status != 413 || route.body.read_limit().is_none()),
            ..Headers::for_status(refusal.status, counted)
        };
        answers.push((
            refusal.status,
            RefOr::T(responses::refusal_with(
                &refusal.reasons,
                headers,
                &refusal.headers,
            )),
        ));
    }
    for (status, name) in shared(route, spec) {
        if !answers.iter().any(|(listed, _)| *listed == status) {
            answers.push((status, responses::reference(name)));
        }
    }
    let mut responses = Responses::new();
    for (status, response) in answers {
        responses.responses.insert(status.to_string(), response);
    }
    responses
}

/// Refusals a row's columns imply, listed with the handler's own where their status is one the
/// handler has too (a 400 for a body is both the fields' problems and a malformed body).
fn implied_reasons(route: &Route, spec: &Spec) -> Vec<(u16, Reason)> {
    let mut reasons = Vec::new();
    // A JSON body's limit is every JSON row's: that 413 is shared. A raw body's is the row's.
    if let BodyKind::Raw { limit } = route.body {
        reasons.push(Reason::of(
            "too_large",
            format!("The body is over {limit} bytes."),
            &ApiError::PayloadTooLarge { limit },
        ));
    }
    if route.body == BodyKind::Json {
        let malformed = refusal(JsonBody::parse(
            Some("application/json"),
            br#"{"title": "unfinished"#,
        ));
        reasons.push(Reason::of(
            "malformed",
            "The body does not parse (JSON, or a multipart form), or is not an object.",
            &malformed,
        ));
    }
    if spec.origin.takes_idempotency_key() {
        reasons.push(Reason::of(
            "idempotency_key",
            "`Idempotency-Key` is empty, too long or not printable ASCII.",
            &ApiError::BadIdempotencyKey,
        ));
    }
    // The edge passes these headers on to the origin, each under its length limit.
    for &header in &spec.headers {
        if let Some(limit) = parameters::forwarded_header_limit(header)
            && spec.origin.is_forwarded()
        {
            let too_long = FieldErrors::single(
                &header.to_lowercase(),
                format!("Ensure this header has no more than {limit} characters."),
            );
            reasons.push(Reason::of(
                "header_too_long",
                format!("`{header}` is over {limit} characters."),
                &ApiError::Validation(too_long),
            ));
        }
    }
    let has_own = |status: u16| spec.refusals.iter().any(|r| r.status == status);
    // The shared 503 is a counted route's; an uncounted one lists its own.
    if may_be_unavailable(route, spec) && (has_own(503) || !counted(route)) {
        reasons.extend(
            responses::unavailable_reasons()
                .into_iter()
                .map(|r| (503, r)),
        );
    }
    reasons
}

/// A forwarded request meets the origin's absence; a credentials row, the limiter's.
fn may_be_unavailable(route: &Route, spec: &Spec) -> bool {
    spec.origin.is_forwarded() || route.throttle == Throttle::Credentials
}

/// The shared refusals the row's columns imply, by status and component name.
fn shared(route: &Route, spec: &Spec) -> Vec<(u16, &'static str)> {
    let mut shared = Vec::new();
    if matches!(route.access, Access::User | Access::UserOrGuest) {
        shared.push((401, responses::UNAUTHENTICATED));
    }
    if route.body == BodyKind::Json {
        shared.push((413, responses::PAYLOAD_TOO_LARGE));
        shared.push((415, responses::UNSUPPORTED_MEDIA_TYPE));
    }
    if spec.origin == Origin::Idempotent {
        shared.push((409, responses::IDEMPOTENCY_IN_FLIGHT));
        shared.push((422, responses::IDEMPOTENCY_REUSED));
    }
    if counted(route) {
        shared.push((429, responses::THROTTLED));
    }
    if may_be_unavailable(route, spec) {
        shared.push((503, responses::UNAVAILABLE));
    }
    shared.push((414, responses::QUERY_TOO_LONG));
    shared.push((431, responses::HEADERS_TOO_LARGE));
    shared
}
