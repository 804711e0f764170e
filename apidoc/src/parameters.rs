//! Query, path and header parameters, with the domain's limits. The shared ones are components
//! (`#/components/parameters/…`) that operations refer to.

use domain::files::name::MAX_FILENAME_CHARS;
use domain::orders::MAX_ORDER_TOKEN_CHARS;
use domain::query::SortField;
use domain::query::pagination::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use domain::query::search::{MAX_SEARCH_CHARS, MAX_TERMS};
use edge::forward::FORWARDED_HEADERS;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn, ParameterStyle};
use utoipa::openapi::schema::{
    ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type,
};
use utoipa::openapi::{Ref, RefOr, Required, Schema};

pub const PAGE: &str = "page";
pub const PAGE_SIZE: &str = "page_size";
pub const SEARCH: &str = "search";
pub const DONE: &str = "done";
pub const MIN_DUE: &str = "min_due";
pub const MAX_DUE: &str = "max_due";
pub const PROJECT: &str = "project";
/// Headers, as the document spells them (the services match them in any case; the tests hold
/// these to the names the services read).
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
pub const ORDER_TOKEN: &str = "X-Order-Token";
pub const STRIPE_SIGNATURE: &str = "Stripe-Signature";
/// A download's conditional and partial requests.
pub const RANGE: &str = "Range";
pub const IF_RANGE: &str = "If-Range";
pub const IF_NONE_MATCH: &str = "If-None-Match";

/// The longest `Idempotency-Key` the edge passes on.
pub use domain::limits::MAX_IDEMPOTENCY_KEY_CHARS as IDEMPOTENCY_KEY_MAX;

/// The longest value the edge forwards for a client header it passes through.
pub fn forwarded_header_limit(name: &str) -> Option<usize> {
    FORWARDED_HEADERS
        .iter()
        .find(|(header, _)| header.eq_ignore_ascii_case(name))
        .map(|(_, limit)| *limit)
}

/// The shared parameters, by component name.
pub fn components() -> Vec<(&'static str, Parameter)> {
    vec![
        (PAGE, page()),
        (PAGE_SIZE, page_size()),
        (SEARCH, search()),
        (DONE, done()),
        (MIN_DUE, due(MIN_DUE, "on or after")),
        (MAX_DUE, due(MAX_DUE, "on or before")),
        (PROJECT, project()),
        (IDEMPOTENCY_KEY, idempotency_key()),
        (ORDER_TOKEN, order_token()),
        (STRIPE_SIGNATURE, stripe_signature()),
        (RANGE, range()),
        (IF_RANGE, if_range()),
        (IF_NONE_MATCH, if_none_match()),
    ]
}

/// A reference to the shared parameter `name`.
pub fn reference(name: &str) -> RefOr<Parameter> {
    RefOr::Ref(Ref::new(format!("#/components/parameters/{name}")))
}

fn query(name: &str, description: String, schema: impl Into<RefOr<Schema>>) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

fn header(name: &str, required: bool, description: String, max_length: usize) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(if required {
            Required::True
        } else {
            Required::False
        })
        .description(Some(description))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(max_length)),
        ))
        .build()
}

fn integer() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
}

/// A detail path's `{id}`.
pub fn path_id(resource: &str) -> Parameter {
    ParameterBuilder::new()
        .name("id")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(format!(
            "A unique integer value identifying this {}.",
            resource.to_lowercase()
        )))
        .schema(Some(integer().minimum(Some(1))))
        .build()
}

fn page() -> Parameter {
    let number = integer().minimum(Some(1));
    let last = ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["last"]));
    query(
        PAGE,
        "A page number within the paginated result set, or `last`. A page past the last one, \
         or anything else, is 404 `Invalid page.`"
            .to_owned(),
        OneOfBuilder::new().item(number).item(last),
    )
}

fn page_size() -> Parameter {
    query(
        PAGE_SIZE,
        format!(
            "Number of results to return per page: {DEFAULT_PAGE_SIZE} by default, at most \
             {MAX_PAGE_SIZE} (a larger number is capped; one that is not a positive integer \
             falls back to the default)."
        ),
        integer()
            .minimum(Some(1))
            .maximum(Some(MAX_PAGE_SIZE))
            .default(Some(DEFAULT_PAGE_SIZE.into())),
    )
}

fn search() -> Parameter {
    query(
        SEARCH,
        format!(
            "Search terms, split on whitespace and commas (a quoted phrase stays whole), at most \
             {MAX_TERMS} of them; each must appear in one of the searched fields."
        ),
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(MAX_SEARCH_CHARS)),
    )
}

/// `ordering`: a comma-separated list of the fields a list allows, `-` for descending. The
/// values are the domain's list for that view, so a field added there is documented here.
pub fn ordering(allowed: &[SortField]) -> Parameter {
    let values: Vec<String> = allowed
        .iter()
        .flat_map(|field| [field.name().to_owned(), format!("-{}", field.name())])
        .collect();
    ParameterBuilder::new()
        .name("ordering")
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(
            "Which fields to order the results by, comma-separated, `-` for descending \
             (`-created_at` by default; ties break on `id`). Unknown fields are ignored.",
        ))
        .style(Some(ParameterStyle::Form))
        .explode(Some(false))
        .schema(Some(
            ArrayBuilder::new().items(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(values)),
            ),
        ))
        .build()
}

/// `GET /api/schema/`'s rendering.
pub fn format() -> Parameter {
    query(
        "format",
        "`json` (or `openapi-json`) for JSON; `yaml` (or `openapi`) for YAML, the default. \
         Another value is 404, as DRF answers a format it has no renderer for."
            .to_owned(),
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(["json", "openapi-json", "yaml", "openapi"])),
    )
}

fn done() -> Parameter {
    query(
        DONE,
        "Only tasks done (`true`, `1`) or not (`false`, `0`), in any case; another value is \
         ignored."
            .to_owned(),
        ObjectBuilder::new().schema_type(Type::Boolean),
    )
}

fn due(name: &str, relation: &str) -> Parameter {
    query(
        name,
        format!("Only tasks due {relation} this date (`YYYY-MM-DD`); another value is 400."),
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date))),
    )
}

fn project() -> Parameter {
    query(
        PROJECT,
        "Only the results of this project of yours (someone else's gives an empty list; an id \
         that names no project is 400)."
            .to_owned(),
        integer().minimum(Some(1)),
    )
}

fn idempotency_key() -> Parameter {
    let mut parameter = header(
        IDEMPOTENCY_KEY,
        false,
        format!(
            "Makes a retry safe: the same key with the same request gets the first answer \
             without a second write. 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII characters. \
             Keys are per caller."
        ),
        IDEMPOTENCY_KEY_MAX,
    );
    if let Some(RefOr::T(Schema::Object(schema))) = &mut parameter.schema {
        schema.pattern = Some("^[\\x20-\\x7E]+$".to_owned());
    }
    parameter
}

fn order_token() -> Parameter {
    header(
        ORDER_TOKEN,
        false,
        "A guest's order token (the `order_token` of the order's creation): proves the order \
         is theirs without an account. Not read when the caller is signed in: the bearer token \
         speaks for them."
            .to_owned(),
        MAX_ORDER_TOKEN_CHARS,
    )
}

fn stripe_signature() -> Parameter {
    header(
        STRIPE_SIGNATURE,
        true,
        "Stripe's signature over the raw body (`t=…,v1=…`).".to_owned(),
        forwarded_header_limit(STRIPE_SIGNATURE).unwrap_or_default(),
    )
}

fn path(name: &str, description: &str, schema: ObjectBuilder) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

fn pattern(regex: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(regex))
}

/// The segments of a download's path (`crate::paths::MEDIA_PARAMETERS`): the storage key the
/// edge chose, then the file's name.
pub fn media_path() -> Vec<Parameter> {
    let [year, month, object, filename] = crate::paths::MEDIA_PARAMETERS;
    vec![
        path(
            year,
            "The year the file was stored in.",
            pattern("^[0-9]{4}$"),
        ),
        path(
            month,
            "The month the file was stored in, two digits.",
            pattern("^(0[1-9]|1[0-2])$"),
        ),
        path(
            object,
            "The stored object's random name (not the attachment's `id`).",
            pattern("^[0-9a-f]{32}$"),
        ),
        path(
            filename,
            "The attachment's `filename`, as one path segment: every byte of its UTF-8 but \
             RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`) percent-encoded, as `file` \
             spells it. Another name is 404.",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(MAX_FILENAME_CHARS)),
        ),
    ]
}

/// A download link's query: both parameters, each once, and nothing else.
pub fn download() -> Vec<Parameter> {
    let required = |name: &str, description: &str, schema: ObjectBuilder| {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Query)
            .required(Required::True)
            .description(Some(description))
            .schema(Some(schema))
            .build()
    };
    vec![
        required(
            "expires",
            "When the link stops working, in Unix seconds.",
            integer().minimum(Some(0)),
        ),
        required(
            "signature",
            "The edge's signature over the stored object and `expires` (HMAC-SHA256, unpadded \
             base64url).",
            pattern("^[A-Za-z0-9_-]{43}$"),
        ),
    ]
}

fn conditional(name: &str, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build()
}

fn range() -> Parameter {
    conditional(
        RANGE,
        "One byte range (`bytes=0-99`, `bytes=100-`, `bytes=-500`): answered 206 with that part \
         of the file, or 416 when it starts past the end. Several ranges, another unit or a \
         malformed value are ignored: the whole file is sent.",
    )
}

fn if_range() -> Parameter {
    conditional(
        IF_RANGE,
        "The `ETag` the client holds: `Range` is honoured only while it is the file's.",
    )
}

fn if_none_match() -> Parameter {
    conditional(
        IF_NONE_MATCH,
        "Entity tags (or `*`): when one is the file's `ETag` (weak comparison), the answer is \
         304 without the file.",
    )
}
