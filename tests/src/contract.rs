//! The OpenAPI document (`openapi/openapi.json`, compiled in) as the oracle of every answer the
//! end-to-end tests read from the edge (issue 11 §4): an answer the document does not describe
//! fails the test that got it, whatever the test itself asserts. [`crate::Stack::send`] calls
//! [`assert_documented`] for each answer from the edge.
//!
//! What is checked, for a request on the documented surface:
//!
//! - the operation: the request's path (query ignored) against the document's path templates,
//!   a concrete path before a templated one, as OpenAPI matches them;
//! - the status: the operation's response for it exactly, else its range (`4XX`), else
//!   `default`; none of these is a mismatch;
//! - the headers the response documents: a required one is present, and each present one
//!   satisfies its schema (read as the schema's type: `Retry-After: 5` is the integer 5); and
//!   a header the document defines (`components/headers`: `RateLimit-*`, `Retry-After`,
//!   `WWW-Authenticate`) is sent only with the responses that list it, since the document
//!   says where each one comes;
//! - the body: none where the response documents no content; else a `Content-Type` among the
//!   documented media types, and the body valid against that media type's schema (JSON for
//!   `application/json` and `+json` types, the text as a string otherwise), as JSON Schema
//!   2020-12 with its formats asserted.
//!
//! Deliberate rules for what the document does not spell out:
//!
//! - Outside the document, not checked: a path no template matches (unknown routes' 404, the
//!   docs pages and their files, the origin-to-edge `/internal/` routes), and `OPTIONS` (CORS
//!   preflights and DRF's metadata answer are HTTP machinery, no operation of the document).
//!   Answers from anywhere but the edge are the caller's to leave out ([`crate::Stack::send`]
//!   checks only the edge's).
//! - A path without its trailing slash is checked as the documented one with it: the edge
//!   serves both alike (`edge/src/routes.rs`).
//! - `HEAD` on a path with a `get` operation is checked as that `GET`, but for its empty body
//!   (RFC 9110 §9.3.2).
//! - A method the path does not document must be answered 405 with an `Allow` naming exactly
//!   the documented methods (with `HEAD` where `GET` is, and `OPTIONS`; RFC 9110 §15.5.6), in
//!   the document's error envelope. The document cannot carry that answer: there is no
//!   operation to hang it on.

use std::collections::{BTreeSet, HashMap};
use std::fmt::{self, Write as _};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use jsonschema::{Draft, Registry, Validator};
use reqwest::{Method, Url};
use serde_json::{Value, json};

use crate::Answer;

/// The committed document, as `apidoc` generates it and the edge serves it.
const DOCUMENT_TEXT: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../openapi/openapi.json"
));

/// The document's name in the schema registry: schemas are compiled as `$ref`s to a JSON
/// pointer into it, so its own `#/components/schemas/…` references resolve in it.
const DOCUMENT_URI: &str = "urn:projects-api:openapi.json";

/// Where the error envelope's schema is: the body of a 405, which no operation documents.
const ERROR_ENVELOPE: &str = "/components/schemas/ErrorEnvelope";

/// How much of a body a mismatch shows.
const BODY_SHOWN: usize = 600;

/// How many schema errors a mismatch lists for one body or header.
const ERRORS_SHOWN: usize = 12;

/// The operations of a path item, as OpenAPI names them.
const OPERATIONS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(DOCUMENT_TEXT)
        .unwrap_or_else(|e| panic!("openapi/openapi.json is not JSON: {e}"))
});

static REGISTRY: LazyLock<Registry<'static>> = LazyLock::new(|| {
    Registry::new()
        .draft(Draft::Draft202012)
        .add(DOCUMENT_URI, &*DOCUMENT)
        .and_then(jsonschema::RegistryBuilder::prepare)
        .unwrap_or_else(|e| panic!("openapi/openapi.json as a schema resource: {e}"))
});

/// Compiled validators by the JSON pointer of their schema. A test process checks the same
/// few schemas many times.
static VALIDATORS: LazyLock<Mutex<HashMap<String, Arc<Validator>>>> = LazyLock::new(Mutex::default);

/// Panics with a [`Mismatch`] when the document does not describe `answer` to `method` on
/// `url` (an address of the edge).
#[track_caller]
pub fn assert_documented(method: &Method, url: &Url, answer: &Answer) {
    if let Err(mismatch) = check(method, url, answer) {
        panic!("{mismatch}");
    }
}

/// Checks `answer` to `method` on `url` against the document (see the module's rules); `Ok`
/// too when the request is outside the document.
pub fn check(method: &Method, url: &Url, answer: &Answer) -> Result<(), Mismatch> {
    let Some((template, path_item)) = documented_path(url.path()) else {
        return Ok(());
    };
    if *method == Method::OPTIONS {
        return Ok(());
    }
    let is_head = *method == Method::HEAD;
    let operation_name = if is_head {
        "get".to_owned()
    } else {
        method.as_str().to_ascii_lowercase()
    };
    let status = answer.status.as_u16();
    let mut problems = Vec::new();
    let documented = if let Some(operation) = path_item.child(&operation_name) {
        let title = format!(
            "{} {template} ({})",
            operation_name.to_ascii_uppercase(),
            operation.value["operationId"].as_str().unwrap_or("?")
        );
        if let Some((key, response)) = response_for(&operation, status) {
            check_response(&response, answer, is_head, &mut problems);
            format!("{title}, response {key:?}")
        } else {
            problems.push(format!(
                "status {status} is not documented; the operation documents {}",
                documented_statuses(&operation)
            ));
            title
        }
    } else {
        check_not_allowed(&path_item, answer, &mut problems);
        format!("{template}, which has no {method} operation")
    };
    if problems.is_empty() {
        return Ok(());
    }
    Err(Mismatch {
        request: format!("{method} {}", path_and_query(url)),
        status: answer.status.to_string(),
        documented,
        problems,
        body: answer.text.clone(),
    })
}

/// An answer the document does not describe: the exchange, what the document says, and why
/// they differ.
#[derive(Debug)]
pub struct Mismatch {
    /// The method and the path with its query.
    request: String,
    /// The answer's status line.
    status: String,
    /// The operation and response the answer was held to.
    documented: String,
    problems: Vec<String>,
    body: String,
}

impl Mismatch {
    /// What differs, one entry per finding.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "the answer is not one openapi/openapi.json documents\n  request:    {}\n  answer:     {}\n  documented: {}",
            self.request, self.status, self.documented
        )?;
        for problem in &self.problems {
            writeln!(f, "  - {problem}")?;
        }
        let shown: String = self.body.chars().take(BODY_SHOWN).collect();
        let cut = if shown.len() < self.body.len() {
            format!("… ({} bytes in all)", self.body.len())
        } else {
            String::new()
        };
        write!(f, "  body: {shown}{cut}")
    }
}

/// A value of the document and its JSON pointer (RFC 6901, unencoded).
#[derive(Debug, Clone)]
struct Node {
    pointer: String,
    value: &'static Value,
}

impl Node {
    fn root() -> Self {
        Self {
            pointer: String::new(),
            value: &DOCUMENT,
        }
    }

    /// The member `key`, with any `$ref` followed.
    fn child(&self, key: &str) -> Option<Self> {
        let value = self.value.get(key)?;
        let escaped = key.replace('~', "~0").replace('/', "~1");
        Some(
            Self {
                pointer: format!("{}/{escaped}", self.pointer),
                value,
            }
            .resolved(),
        )
    }

    /// Follows the document's own references (`#/components/…`), as response and header
    /// objects use them.
    fn resolved(self) -> Self {
        let mut node = self;
        // A chain longer than this is a loop; the node is left where it stopped.
        for _ in 0..8 {
            let Some(target) = node.value.get("$ref").and_then(Value::as_str) else {
                break;
            };
            let Some(pointer) = target.strip_prefix('#') else {
                break;
            };
            let Some(value) = DOCUMENT.pointer(pointer) else {
                break;
            };
            node = Self {
                pointer: pointer.to_owned(),
                value,
            };
        }
        node
    }

    fn members(&self) -> impl Iterator<Item = (&'static str, Self)> + '_ {
        self.value
            .as_object()
            .into_iter()
            .flat_map(|members| members.keys())
            .filter_map(|key| Some((key.as_str(), self.child(key)?)))
    }
}

/// The template and path item that `path` falls under: a concrete path before a templated
/// one. A path without its trailing slash is looked up with it.
fn documented_path(path: &str) -> Option<(&'static str, Node)> {
    let slashed;
    // Downloads end with the file's name, never a slash.
    let path = if path.ends_with('/') || path.starts_with(domain::files::signed::MEDIA_PREFIX) {
        path
    } else {
        slashed = format!("{path}/");
        &slashed
    };
    Node::root()
        .child("paths")?
        .members()
        .filter_map(|(template, item)| {
            parameters_matched(template, path).map(|parameters| (parameters, template, item))
        })
        .min_by_key(|(parameters, _, _)| *parameters)
        .map(|(_, template, item)| (template, item))
}

/// How many `{parameter}` segments of `template` it took to match `path`, if it matches.
fn parameters_matched(template: &str, path: &str) -> Option<usize> {
    let (templates, segments): (Vec<&str>, Vec<&str>) =
        (template.split('/').collect(), path.split('/').collect());
    if templates.len() != segments.len() {
        return None;
    }
    let mut parameters = 0;
    for (expected, segment) in templates.iter().zip(&segments) {
        if expected.starts_with('{') && expected.ends_with('}') {
            if segment.is_empty() {
                return None;
            }
            parameters += 1;
        } else if expected != segment {
            return None;
        }
    }
    Some(parameters)
}

/// The operation's response for `status`: exact, else its range (`4XX`), else `default`, with
/// the key it is documented under.
fn response_for(operation: &Node, status: u16) -> Option<(String, Node)> {
    let responses = operation.child("responses")?;
    [
        status.to_string(),
        format!("{}XX", status / 100),
        "default".to_owned(),
    ]
    .into_iter()
    .find_map(|key| {
        let response = responses.child(&key)?;
        Some((key, response))
    })
}

fn documented_statuses(operation: &Node) -> String {
    operation
        .child("responses")
        .map(|responses| {
            responses
                .members()
                .map(|(key, _)| key)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// The response's headers, content type and body.
fn check_response(response: &Node, answer: &Answer, is_head: bool, problems: &mut Vec<String>) {
    let headers = response.child("headers");
    if let Some(headers) = &headers {
        for (name, header) in headers.members() {
            check_header(name, &header, answer, problems);
        }
    }
    let undocumented = undocumented_known_headers(headers.as_ref(), answer);
    if !undocumented.is_empty() {
        problems.push(format!(
            "sent, but not listed with this response: {} (the document defines these headers \
             in components/headers and lists each with the responses that carry it)",
            undocumented.join(", ")
        ));
    }
    let content = response
        .child("content")
        .filter(|content| content.value.as_object().is_some_and(|c| !c.is_empty()));
    let Some(content) = content else {
        if !answer.text.is_empty() {
            problems.push(format!(
                "the response documents no body; the answer has {} bytes",
                answer.text.len()
            ));
        }
        return;
    };
    let documented: Vec<&str> = content.members().map(|(name, _)| name).collect();
    let Some(essence) = media_type(answer) else {
        if !is_head || !answer.text.is_empty() {
            problems.push(format!(
                "no Content-Type; the response documents {documented:?}"
            ));
        }
        return;
    };
    let Some((name, media)) = media_type_object(&content, &essence) else {
        problems.push(format!(
            "Content-Type {essence} is not documented; the response documents {documented:?}"
        ));
        return;
    };
    if is_head {
        return;
    }
    let Some(schema) = media.child("schema") else {
        return;
    };
    let instance = if is_json(&essence) {
        match serde_json::from_str(&answer.text) {
            Ok(instance) => instance,
            Err(e) => {
                problems.push(format!("the body is not JSON ({e}), as {name} says it is"));
                return;
            }
        }
    } else {
        Value::String(answer.text.clone())
    };
    problems.extend(
        schema_errors(&schema.pointer, &instance)
            .into_iter()
            .map(|error| format!("body: {error}")),
    );
}

/// A header the response documents: present if required, valid against its schema if present.
fn check_header(name: &str, header: &Node, answer: &Answer, problems: &mut Vec<String>) {
    let Some(value) = answer.headers.get(name) else {
        if header.value["required"] == json!(true) {
            problems.push(format!("the required header {name} is missing"));
        }
        return;
    };
    let Ok(value) = value.to_str() else {
        problems.push(format!("header {name} is not visible ASCII: {value:?}"));
        return;
    };
    let Some(schema) = header.child("schema") else {
        return;
    };
    let instance = header_instance(value, schema.value);
    problems.extend(
        schema_errors(&schema.pointer, &instance)
            .into_iter()
            .map(|error| format!("header {name}: {value:?}: {error}")),
    );
}

/// The headers of the document's own (`components/headers`: the rate limit's, `Retry-After`,
/// `WWW-Authenticate`) that `answer` carries although `documented` (the response's headers)
/// does not list them. The document says which answers carry each; a client reading
/// `RateLimit-Remaining` relies on that list.
fn undocumented_known_headers(documented: Option<&Node>, answer: &Answer) -> Vec<&'static str> {
    let Some(known) = Node::root()
        .child("components")
        .and_then(|components| components.child("headers"))
    else {
        return Vec::new();
    };
    let is_documented = |name: &str| {
        documented.is_some_and(|headers| {
            headers
                .members()
                .any(|(documented, _)| documented.eq_ignore_ascii_case(name))
        })
    };
    known
        .members()
        .map(|(name, _)| name)
        .filter(|name| answer.headers.contains_key(*name) && !is_documented(name))
        .collect()
}

/// A header's text as the value its schema describes (OpenAPI's `simple` style): a number for
/// `integer` and `number`, a boolean for `boolean`; text that is neither stays a string, which
/// the schema then refuses.
fn header_instance(value: &str, schema: &Value) -> Value {
    let value = value.trim();
    match schema["type"].as_str() {
        Some("integer" | "number") => serde_json::from_str::<serde_json::Number>(value)
            .map_or_else(|_| Value::String(value.to_owned()), Value::Number),
        Some("boolean") if value == "true" || value == "false" => Value::Bool(value == "true"),
        _ => Value::String(value.to_owned()),
    }
}

/// A method the path does not document: 405, with `Allow` naming what it does, in the error
/// envelope.
fn check_not_allowed(path_item: &Node, answer: &Answer, problems: &mut Vec<String>) {
    if answer.status.as_u16() != 405 {
        problems.push(format!(
            "an undocumented method is answered 405 (RFC 9110 §15.5.6), not {}",
            answer.status.as_u16()
        ));
        return;
    }
    let mut expected: BTreeSet<String> = BTreeSet::from(["OPTIONS".to_owned()]);
    for operation in OPERATIONS
        .iter()
        .filter(|o| path_item.value.get(**o).is_some())
    {
        expected.insert(operation.to_ascii_uppercase());
        if *operation == "get" {
            expected.insert("HEAD".to_owned());
        }
    }
    let allowed: BTreeSet<String> = answer
        .header("allow")
        .unwrap_or_default()
        .split(',')
        .map(|method| method.trim().to_ascii_uppercase())
        .filter(|method| !method.is_empty())
        .collect();
    if allowed != expected {
        problems.push(format!(
            "Allow names {allowed:?}; the document's methods for the path are {expected:?}"
        ));
    }
    if DOCUMENT.pointer(ERROR_ENVELOPE).is_some() {
        match serde_json::from_str::<Value>(&answer.text) {
            Ok(body) => problems.extend(
                schema_errors(ERROR_ENVELOPE, &body)
                    .into_iter()
                    .map(|error| format!("body (the error envelope): {error}")),
            ),
            Err(e) => problems.push(format!("the 405's body is not JSON: {e}")),
        }
    }
}

/// The answer's media type without its parameters, lowercase.
fn media_type(answer: &Answer) -> Option<String> {
    let value = answer.header("content-type")?;
    let essence = value.split(';').next().unwrap_or_default().trim();
    (!essence.is_empty()).then(|| essence.to_ascii_lowercase())
}

/// The media type object for `essence`: exact, else `type/*`, else `*/*`, as OpenAPI prefers
/// the most specific.
fn media_type_object(content: &Node, essence: &str) -> Option<(&'static str, Node)> {
    let range = format!("{}/*", essence.split('/').next().unwrap_or_default());
    [essence, range.as_str(), "*/*"]
        .into_iter()
        .find_map(|wanted| {
            content
                .members()
                .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
        })
}

fn is_json(essence: &str) -> bool {
    essence == "application/json" || essence.ends_with("+json")
}

/// The errors of `instance` against the schema at `pointer`, each with where in the instance
/// and which keyword of the schema.
fn schema_errors(pointer: &str, instance: &Value) -> Vec<String> {
    let validator = validator(pointer);
    let mut errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|error| {
            let at = error.instance_path().to_string();
            let at = if at.is_empty() { "/".to_owned() } else { at };
            format!("at {at}: {error} (schema {})", error.schema_path())
        })
        .collect();
    if errors.len() > ERRORS_SHOWN {
        let more = errors.len() - ERRORS_SHOWN;
        errors.truncate(ERRORS_SHOWN);
        errors.push(format!("… and {more} more"));
    }
    errors
}

/// The validator of the schema at `pointer`, compiled once per process.
fn validator(pointer: &str) -> Arc<Validator> {
    let mut validators = VALIDATORS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(validator) = validators.get(pointer) {
        return Arc::clone(validator);
    }
    let reference = json!({"$ref": format!("{DOCUMENT_URI}#{}", uri_fragment(pointer))});
    let validator = jsonschema::options()
        .with_draft(Draft::Draft202012)
        .with_registry(&REGISTRY)
        .should_validate_formats(true)
        .build(&reference)
        .unwrap_or_else(|e| {
            panic!("the schema at {pointer} of openapi/openapi.json does not compile: {e}")
        });
    let validator = Arc::new(validator);
    validators.insert(pointer.to_owned(), Arc::clone(&validator));
    validator
}

/// A JSON pointer as a URI fragment: the characters a fragment cannot hold (the braces of
/// `{id}`, spaces) percent-encoded.
fn uri_fragment(pointer: &str) -> String {
    let mut fragment = String::with_capacity(pointer.len());
    for byte in pointer.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&byte) {
            fragment.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(fragment, "%{byte:02X}");
        }
    }
    fragment
}

fn path_and_query(url: &Url) -> String {
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use reqwest::StatusCode;
    use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

    use super::*;

    const EDGE: &str = "http://127.0.0.1:8787";

    fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Answer {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            headers: map,
            body: serde_json::from_str(body).unwrap_or(Value::Null),
            text: body.to_owned(),
            bytes: body.as_bytes().to_vec(),
        }
    }

    fn json_answer(status: u16, body: &Value) -> Answer {
        answer(
            status,
            &[("content-type", "application/json")],
            &body.to_string(),
        )
    }

    fn checked(method: &Method, path: &str, answer: &Answer) -> Result<(), Mismatch> {
        check(
            method,
            &Url::parse(&format!("{EDGE}{path}")).unwrap(),
            answer,
        )
    }

    /// The document's own example of a project.
    fn project() -> Value {
        DOCUMENT
            .pointer("/paths/~1api~1v1~1projects~1{id}~1/get/responses/200/content/application~1json/example")
            .unwrap()
            .clone()
    }

    #[test]
    fn the_documents_own_example_is_a_documented_answer() {
        let project = json_answer(200, &project());
        assert!(checked(&Method::GET, "/api/v1/projects/3/", &project).is_ok());
        assert!(
            checked(&Method::GET, "/api/v1/projects/3", &project).is_ok(),
            "the trailing slash is optional"
        );
        assert!(
            checked(&Method::GET, "/api/v1/projects/3/?page=x", &project).is_ok(),
            "the query is not part of the path"
        );
    }

    #[test]
    fn a_body_off_its_schema_is_a_mismatch_naming_where() {
        let mut project = project();
        project["tasks"][0]["done"] = json!("no");
        project.as_object_mut().unwrap().remove("name");
        project["created_at"] = json!("yesterday");

        let mismatch = checked(
            &Method::GET,
            "/api/v1/projects/3/",
            &json_answer(200, &project),
        )
        .unwrap_err();

        let problems = mismatch.problems().join("\n");
        for expected in [
            "at /tasks/0/done:",
            "\"name\" is a required property",
            "at /created_at:",
        ] {
            assert!(problems.contains(expected), "{expected} in:\n{mismatch}");
        }
        assert!(
            mismatch
                .to_string()
                .contains("GET /api/v1/projects/{id}/ (v1_projects_retrieve), response \"200\""),
            "{mismatch}"
        );
    }

    #[test]
    fn an_undocumented_status_or_media_type_is_a_mismatch() {
        let teapot = json_answer(418, &json!({"status_code": 418, "errors": {}}));
        let mismatch = checked(&Method::GET, "/api/v1/projects/3/", &teapot).unwrap_err();
        assert!(
            mismatch.problems()[0]
                .starts_with("status 418 is not documented; the operation documents 200, 401, 404"),
            "{mismatch}"
        );

        let html = answer(
            200,
            &[("content-type", "text/html; charset=utf-8")],
            "<p>hi</p>",
        );
        let mismatch = checked(&Method::GET, "/api/v1/projects/3/", &html).unwrap_err();
        assert!(
            mismatch.problems()[0].starts_with("Content-Type text/html is not documented"),
            "{mismatch}"
        );
    }

    #[test]
    fn documented_headers_are_read_as_their_type() {
        let body = json!({"status_code": 429, "errors": {"detail": "Request was throttled. Expected available in 5 seconds."}}).to_string();
        let throttled = |retry_after: &str| {
            answer(
                429,
                &[
                    ("content-type", "application/json"),
                    ("retry-after", retry_after),
                    ("ratelimit-remaining", "0"),
                ],
                &body,
            )
        };
        assert!(checked(&Method::GET, "/api/v1/projects/", &throttled("5")).is_ok());
        let mismatch = checked(&Method::GET, "/api/v1/projects/", &throttled("soon")).unwrap_err();
        assert!(
            mismatch.problems()[0].starts_with("header Retry-After: \"soon\""),
            "{mismatch}"
        );
    }

    #[test]
    fn a_header_the_document_defines_is_only_sent_where_it_is_documented() {
        let body = json!({"status_code": 401, "errors": {"detail": "No active account found with the given credentials"}});
        let mut refused = json_answer(401, &body);
        refused.headers.insert(
            "www-authenticate",
            HeaderValue::from_static("Bearer realm=\"api\""),
        );
        refused
            .headers
            .insert("ratelimit-remaining", HeaderValue::from_static("4"));
        assert!(checked(&Method::POST, "/api/token/", &refused).is_ok());

        // `/health/` is not counted: its answers list no `RateLimit-*`.
        let mut health = json_answer(200, &json!({"status": "ok"}));
        assert!(checked(&Method::GET, "/health/", &health).is_ok());
        health
            .headers
            .insert("ratelimit-remaining", HeaderValue::from_static("4"));
        let mismatch = checked(&Method::GET, "/health/", &health).unwrap_err();
        assert!(
            mismatch.problems()[0]
                .starts_with("sent, but not listed with this response: RateLimit-Remaining ("),
            "{mismatch}"
        );
    }

    #[test]
    fn a_response_without_content_has_no_body() {
        let deleted = answer(204, &[], "");
        assert!(checked(&Method::DELETE, "/api/v1/projects/3/", &deleted).is_ok());
        let talkative = answer(204, &[("content-type", "application/json")], "{}");
        assert!(checked(&Method::DELETE, "/api/v1/projects/3/", &talkative).is_err());
    }

    #[test]
    fn head_is_its_get_without_the_body() {
        let head = answer(200, &[("content-type", "application/json")], "");
        assert!(checked(&Method::HEAD, "/api/v1/projects/3/", &head).is_ok());
    }

    #[test]
    fn an_undocumented_method_must_be_405_naming_the_documented_ones() {
        let body = json!({"status_code": 405, "errors": {"detail": "Method \"PUT\" not allowed."}});
        let mut refused = json_answer(405, &body);
        refused.headers.insert(
            "allow",
            HeaderValue::from_static("GET, HEAD, DELETE, OPTIONS"),
        );
        assert!(checked(&Method::PUT, "/api/v1/auth/me/", &refused).is_ok());

        refused
            .headers
            .insert("allow", HeaderValue::from_static("GET, PUT"));
        assert!(checked(&Method::PUT, "/api/v1/auth/me/", &refused).is_err());
        assert!(
            checked(
                &Method::PUT,
                "/api/v1/auth/me/",
                &json_answer(200, &json!({}))
            )
            .is_err()
        );
    }

    #[test]
    fn what_is_outside_the_document_is_not_checked() {
        let anything = answer(404, &[], "whatever");
        for path in [
            "/no/such/path/",
            "/api/docs/",
            "/internal/replicate/",
            "/api/v1/projects/1/2/",
        ] {
            assert!(checked(&Method::GET, path, &anything).is_ok(), "{path}");
        }
        assert!(checked(&Method::OPTIONS, "/api/token/", &anything).is_ok());
    }

    #[test]
    fn a_concrete_path_wins_over_a_template() {
        assert_eq!(
            parameters_matched("/api/v1/projects/{id}/", "/api/v1/projects/7/"),
            Some(1)
        );
        assert_eq!(
            parameters_matched("/api/v1/projects/{id}/", "/api/v1/projects//"),
            None
        );
        assert_eq!(
            documented_path("/api/v1/projects/").map(|(t, _)| t),
            Some("/api/v1/projects/")
        );
    }

    #[test]
    fn pointers_become_fragments_a_uri_can_hold() {
        assert_eq!(
            uri_fragment("/paths/~1api~1v1~1tasks~1{id}~1/get"),
            "/paths/~1api~1v1~1tasks~1%7Bid%7D~1/get"
        );
    }
}
