//! The document's components: schemas, shared parameters, response headers, shared responses
//! and the security scheme.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Components, RefOr};

use crate::{parameters, responses, schemas};

/// The security scheme bearer tokens are documented under (drf-spectacular's name for
/// simplejwt's scheme, so clients generated from DRF's document keep their names).
pub const JWT_AUTH: &str = "jwtAuth";

/// Every component.
pub fn components() -> Components {
    let mut components = Components::new();
    for (name, schema) in schemas::all() {
        components.schemas.insert(name.to_owned(), schema);
    }
    for (name, parameter) in parameters::components() {
        components
            .parameters
            .insert(name.to_owned(), RefOr::T(parameter));
    }
    for (name, header) in responses::header_components() {
        components.headers.insert(name.to_owned(), RefOr::T(header));
    }
    for (name, response) in responses::components() {
        components
            .responses
            .insert(name.to_owned(), RefOr::T(response));
    }
    components
        .security_schemes
        .insert(JWT_AUTH.to_owned(), RefOr::T(bearer()));
    components
}

/// `Authorization: Bearer <access token>`, a JWT from `POST /api/token/`.
fn bearer() -> SecurityScheme {
    SecurityScheme::Http(
        HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some(
                "An access token from `POST /api/token/` (or `/api/token/refresh/`).",
            ))
            .build(),
    )
}
