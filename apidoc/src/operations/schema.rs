//! `GET /api/schema/`: this document, as the edge serves it (`edge/src/schema.rs`).

use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};

use domain::ApiError;

use super::{Media, Query, Shape, Spec, Success, Tag};

/// The YAML rendering: text.
fn yaml() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("This document, as YAML."))
        .into()
}

/// The JSON rendering: an object.
fn json() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some("This document, as JSON."))
        .into()
}

pub(super) fn document() -> Spec {
    let media = |content_type, schema| Media {
        content_type,
        schema: Shape::Inline(schema),
        example: None,
    };
    let ok = Success {
        status: 200,
        description: "The OpenAPI 3.1 document, its `servers` the configured ones.",
        media: vec![
            media("application/vnd.oai.openapi", yaml),
            media("application/vnd.oai.openapi+json", json),
            media("application/json", json),
        ],
        follows: Vec::new(),
        headers: Vec::new(),
    };
    Spec::new("schema_retrieve", Tag::Schema, "This document", ok)
        .describe(
            "YAML by default; JSON for `?format=json`, or for an `Accept` that asks for \
             `application/json` and not YAML.",
        )
        .query(Query::Format)
        .refuses_with(
            "unknown_format",
            "A `format` this document is not served in.",
            &ApiError::NotFound(None),
        )
}
