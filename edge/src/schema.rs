//! `GET /api/schema/`: the OpenAPI document, as `apidoc` generated it from the code and as it is
//! committed under `openapi/`, read from the platform (the static assets, on Workers); nothing
//! is built per request but the `servers` list.
//!
//! YAML by default (drf-spectacular's `application/vnd.oai.openapi`), JSON for `?format=json`
//! (`application/vnd.oai.openapi+json`, as drf-spectacular) or a client that accepts
//! `application/json` and not YAML. Any other `?format=` is 404, as DRF's content negotiation
//! answers a format no renderer has. The committed document names the server `/` (wherever it
//! was fetched from); `API_SERVERS` replaces that with the configured list.

use std::fmt::Write as _;

use domain::ApiError;
use domain::query::params::QueryParams;

use crate::ctx::Ctx;
use crate::error::{Context as _, EdgeResult};
use crate::http::{Request, Response};
use crate::platform::{DocumentForm, Platform};

/// The `servers` entry of the committed document in each form, exactly as `apidoc` writes it
/// (a test holds the files to it): what configured servers replace.
pub const YAML_SERVERS: &str = "servers:\n- url: /\n";
pub const JSON_SERVERS: &str = "\"servers\": [\n    {\n      \"url\": \"/\"\n    }\n  ]";

/// The two forms the document is served in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    /// JSON, with the content type the client asked for.
    Json(&'static str),
}

impl Format {
    /// The file this format is served from.
    pub fn form(self) -> DocumentForm {
        match self {
            Self::Yaml => DocumentForm::Yaml,
            Self::Json(_) => DocumentForm::Json,
        }
    }

    /// `?format=` first (`json` or `openapi-json` for JSON; `yaml` or `openapi` for YAML),
    /// then `Accept`; `None` for a format we do not serve.
    pub fn of(request: &Request) -> Option<Self> {
        let query = QueryParams::parse(request.query.as_deref());
        match query.get("format") {
            Some("json" | "openapi-json") => {
                return Some(Self::Json("application/vnd.oai.openapi+json"));
            }
            Some("yaml" | "openapi") => return Some(Self::Yaml),
            Some(_) => return None,
            None => {}
        }
        let accept = request.header("accept").unwrap_or_default();
        let wants = |media: &str| accept.split(',').any(|part| part.trim().starts_with(media));
        if wants("application/json")
            && !wants("application/vnd.oai.openapi")
            && !wants("application/yaml")
        {
            Some(Self::Json("application/json"))
        } else {
            Some(Self::Yaml)
        }
    }
}

/// `GET /api/schema/`: the document in the format the request asks for (404 for one it is not
/// served in).
pub async fn serve<P: Platform>(ctx: &Ctx<'_, P>, request: &Request) -> EdgeResult<Response> {
    let format = Format::of(request).ok_or(ApiError::NotFound(None))?;
    let committed = ctx
        .platform
        .openapi_document(format.form())
        .await
        .context("reading the OpenAPI document")?;
    Ok(document(format, &committed, &ctx.settings.api_servers))
}

/// The document (`committed`, the file of `format`'s form) in `format`, its servers the
/// configured ones (none configured: `/`).
pub fn document(format: Format, committed: &str, servers: &[String]) -> Response {
    let (text, content_type) = match format {
        Format::Yaml => (
            yaml(committed, servers),
            "application/vnd.oai.openapi; charset=utf-8",
        ),
        Format::Json(content_type) => (json(committed, servers), content_type),
    };
    let mut response = Response::empty(200);
    response.set_header("content-type", content_type);
    response.body = text.into_bytes();
    response
}

fn yaml(committed: &str, servers: &[String]) -> String {
    if servers.is_empty() {
        return committed.to_owned();
    }
    let mut listed = String::from("servers:\n");
    for url in servers {
        // A URL in double quotes, escaped as JSON, is a valid YAML scalar. (Writing to a
        // `String` cannot fail.)
        let _ = writeln!(listed, "- url: {}", serde_json::Value::from(url.as_str()));
    }
    committed.replacen(YAML_SERVERS, &listed, 1)
}

fn json(committed: &str, servers: &[String]) -> String {
    if servers.is_empty() {
        return committed.to_owned();
    }
    let listed: Vec<String> = servers
        .iter()
        .map(|url| format!("{{\"url\": {}}}", serde_json::Value::from(url.as_str())))
        .collect();
    committed.replacen(
        JSON_SERVERS,
        &format!("\"servers\": [{}]", listed.join(", ")),
        1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = include_str!("../../openapi/openapi.yaml");
    const JSON: &str = include_str!("../../openapi/openapi.json");

    #[test]
    fn the_committed_documents_name_the_server_as_apidoc_writes_it() {
        assert!(
            YAML.contains(YAML_SERVERS),
            "openapi.yaml's servers changed form"
        );
        assert!(
            JSON.contains(JSON_SERVERS),
            "openapi.json's servers changed form"
        );
    }

    #[test]
    fn configured_servers_replace_the_relative_one_in_both_forms() {
        let servers = vec!["https://api.example.com".to_owned()];
        let json: serde_json::Value = serde_json::from_str(&json(JSON, &servers)).unwrap();
        assert_eq!(
            json["servers"],
            serde_json::json!([{"url": "https://api.example.com"}])
        );
        let yaml = yaml(YAML, &servers);
        assert!(yaml.contains("servers:\n- url: \"https://api.example.com\"\n"));
        assert!(!yaml.contains(YAML_SERVERS));
    }

    #[test]
    fn yaml_unless_json_is_asked_for() {
        let format = |query: &str, accept: Option<&str>| {
            let mut request = Request::new("GET", &format!("/api/schema/{query}"));
            if let Some(accept) = accept {
                request = request.with_header("accept", accept);
            }
            Format::of(&request)
        };
        let json = Some(Format::Json("application/vnd.oai.openapi+json"));
        assert_eq!(format("", None), Some(Format::Yaml));
        assert_eq!(format("", Some("*/*")), Some(Format::Yaml));
        assert_eq!(format("?format=json", None), json);
        assert_eq!(format("?format=openapi-json", None), json);
        assert_eq!(
            format("", Some("application/json")),
            Some(Format::Json("application/json"))
        );
        assert_eq!(
            format("", Some("application/vnd.oai.openapi, application/json")),
            Some(Format::Yaml)
        );
        assert_eq!(
            format("?format=yaml", Some("application/json")),
            Some(Format::Yaml)
        );
        assert_eq!(format("?format=openapi", None), Some(Format::Yaml));
    }

    #[test]
    fn a_format_we_do_not_serve_is_none_whatever_the_client_accepts() {
        for query in ["?format=AAA", "?format=", "?format=JSON", "?format=xml"] {
            let request = Request::new("GET", &format!("/api/schema/{query}"))
                .with_header("accept", "application/json");
            assert_eq!(Format::of(&request), None, "{query}");
        }
    }
}
