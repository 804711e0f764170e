//! The OpenAPI document of the public API, generated from the code that serves it.
//!
//! Paths and methods come from the edge's route table ([`edge::routes::ROUTES`]): every row a
//! client may call is documented, the origin's internal rows never. What a row's columns say
//! (who may call it, its rate limit, its body) becomes the operation's security, headers and
//! generic refusals; what they cannot say (its name, its body's shape, what it answers) is
//! written once per handler in [`operations`], in a `match` without a wildcard arm, so a new
//! handler does not compile until it is documented. Response shapes are the domain's own types
//! (its `openapi` feature derives `utoipa::ToSchema`); request shapes are built in
//! [`schemas::requests`] from the domain's limits.
//!
//! The document is committed as `openapi/openapi.json` and `openapi/openapi.yaml`;
//! `cargo run -p apidoc -- write` regenerates them and `-- check` (and the tests) fail when
//! they drift from the code.
//!
//! Layout:
//! - [`operations`]: what each handler takes and answers ([`operations::Spec`]);
//! - [`paths`]: the table's rows turned into OpenAPI operations;
//! - [`responses`]: the error envelope, the refusals every route shares, response headers;
//! - [`parameters`]: query, path and header parameters;
//! - [`schemas`]: the schemas (domain types, request bodies, lists, small replies);
//! - [`components`]: every component, assembled;
//! - [`examples`]: example values, built from domain values where there are some;
//! - [`files`]: the committed files, rendered and compared.

pub mod components;
pub mod examples;
pub mod files;
pub mod operations;
pub mod parameters;
pub mod paths;
pub mod responses;
pub mod schemas;

use domain::auth::TokenLifetimes;
use domain::limits::{MAX_HEADER_BYTES, MAX_JSON_BODY_BYTES, MAX_QUERY_BYTES};
use utoipa::openapi::server::ServerBuilder;
use utoipa::openapi::tag::{Tag, TagBuilder};
use utoipa::openapi::{InfoBuilder, LicenseBuilder, OpenApi, OpenApiBuilder};

/// What the document says before any path: how to call the API at all. The numbers are the
/// domain's.
fn description() -> String {
    let life = TokenLifetimes::default();
    format!(
        "\
The Projects & Tasks API: accounts and JSON Web Tokens, projects with their tasks and attached \
files, a catalogue, orders and Stripe payments, wire-compatible with the Django REST Framework \
service it replaces.

**Authentication.** `POST /api/token/` exchanges a username and password for an access token \
({access} minutes by default) and a refresh token ({refresh} days). Send the access token as \
`Authorization: Bearer <token>`; `POST /api/token/refresh/` rotates the pair.

**Request bodies.** Every write takes JSON, `application/x-www-form-urlencoded` or \
`multipart/form-data` (an empty form value of a nullable field is null) unless its operation \
says otherwise; another content type is 415, a body over {body_kib} KiB is 413. An upload is \
`multipart/form-data` only, its limit the file's.

**Files.** An attachment's `file` is a signed URL that downloads it without a bearer token \
until it expires; every read of the attachment gives a fresh one.

**Errors.** Every error body is an envelope, `{{\"status_code\": <int>, \"errors\": <DRF's body>}}`: \
validation errors by field (`non_field_errors` for the body as a whole), others as \
`{{\"detail\": ...}}`.

**Retries.** Writes accept an `Idempotency-Key` header: a retry with the same key and body gets \
the first answer without a second write, the same key with another body is 422, and a retry \
while the first is still running is 409. Keys are kept for a day by default.

**Rate limits.** Requests are counted per user (per client address when anonymous), per day \
and per minute; the token and registration endpoints also per address on a stricter scope. \
Counted responses carry `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`; a \
refusal is 429 with `Retry-After`.

**Everywhere.** Paths are also served without their trailing slash. Every response carries \
`X-Request-ID` (the client's own when it is short and plain). A query string over {query} bytes \
is 414; headers over {headers_kib} KiB in total are 431. The bodies of 500 and 503 answers say \
nothing but the request id.",
        access = life.access_secs / 60,
        refresh = life.refresh_secs / (24 * 60 * 60),
        body_kib = MAX_JSON_BODY_BYTES / 1024,
        query = MAX_QUERY_BYTES,
        headers_kib = MAX_HEADER_BYTES / 1024,
    )
}

/// The tags the operations use, described.
fn tags() -> Vec<Tag> {
    let used: Vec<operations::Tag> = paths::documented_routes()
        .filter_map(operations::spec)
        .map(|spec| spec.tag)
        .collect();
    operations::Tag::ALL
        .iter()
        .filter(|tag| used.contains(tag))
        .map(|tag| {
            TagBuilder::new()
                .name(tag.name())
                .description(Some(tag.description()))
                .build()
        })
        .collect()
}

/// The whole document.
pub fn document() -> OpenApi {
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Projects API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(description()))
                .license(Some(
                    LicenseBuilder::new()
                        .name("MIT")
                        .identifier(Some("MIT"))
                        .build(),
                )),
        )
        // The edge serves the document with its configured servers in place of this one.
        .servers(Some([ServerBuilder::new().url("/").build()]))
        .tags(Some(tags()))
        .paths(paths::paths())
        .components(Some(components::components()))
        .build()
}
