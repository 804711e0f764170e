//! Plain request and response values: what the Workers glue converts to and from, and what
//! every test builds directly.

use std::cell::RefCell;
use std::fmt;
use std::pin::Pin;

use domain::ApiError;
use futures_util::Stream;
use serde_json::Value;

use crate::platform::{PlatformBody, PortError};

/// An incoming request, with header names lower-cased.
#[derive(Debug, Default)]
pub struct Request {
    /// Scheme, host and port the client used (`https://api.example.com`), for absolute links.
    pub base_url: String,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body still to be read, for routes that stream it (uploads); `body` is then empty.
    pub stream: Option<BodyStream>,
}

/// The parts of an absolute URL as the runtime hands it over (WHATWG-serialised: scheme and
/// host already lower case, a default port dropped, hosts in ASCII): `(origin, path, query)`,
/// the path `/` when the URL has none, credentials (`user:pass@`) not part of the origin.
/// Split rather than parsed: the runtime has parsed it, and a URL parser is a large part of a
/// wasm.
pub fn split_url(url: &str) -> Option<(String, &str, Option<&str>)> {
    let url = url.split_once('#').map_or(url, |(before, _)| before);
    let (scheme, rest) = url.split_once("://")?;
    let (authority, rest) = rest.split_at_checked(rest.find(['/', '?']).unwrap_or(rest.len()))?;
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    let path = if path.is_empty() { "/" } else { path };
    Some((format!("{scheme}://{host}"), path, query))
}

/// The chunks of a request body, as they arrive.
pub type Chunks = Pin<Box<dyn Stream<Item = Result<Vec<u8>, PortError>>>>;

/// A request body to be read chunk by chunk, once: its handler takes it
/// ([`BodyStream::take`]) from the shared request.
pub struct BodyStream(RefCell<Option<Chunks>>);

impl BodyStream {
    pub fn new(chunks: Chunks) -> Self {
        Self(RefCell::new(Some(chunks)))
    }

    /// The chunks, the first time; `None` after.
    pub fn take(&self) -> Option<Chunks> {
        self.0.borrow_mut().take()
    }
}

impl fmt::Debug for BodyStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BodyStream")
    }
}

impl Request {
    pub fn new(method: &str, path_and_query: &str) -> Self {
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
            None => (path_and_query.to_owned(), None),
        };
        Self {
            base_url: "http://edge.test".to_owned(),
            method: method.to_ascii_uppercase(),
            path,
            query,
            ..Self::default()
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// A body the handler reads as a stream, in chunks of `chunk` bytes.
    pub fn with_stream(mut self, body: &[u8], chunk: usize) -> Self {
        let chunks: Vec<Result<Vec<u8>, PortError>> = body
            .chunks(chunk.max(1))
            .map(|piece| Ok(piece.to_vec()))
            .collect();
        self.stream = Some(BodyStream::new(Box::pin(futures_util::stream::iter(
            chunks,
        ))));
        self
    }

    pub fn with_json(mut self, body: &Value) -> Self {
        self.body = body.to_string().into_bytes();
        self.with_header("content-type", "application/json")
    }

    /// The first value of a header, by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Path plus `?query` when there is one, as the client sent it.
    pub fn path_and_query(&self) -> String {
        match &self.query {
            Some(query) => format!("{}?{query}", self.path),
            None => self.path.clone(),
        }
    }
}

/// An outgoing response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// A body the platform streams instead of `body` (a download).
    pub stream: Option<PlatformBody>,
}

impl Response {
    pub fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
            stream: None,
        }
    }

    /// A JSON body already encoded.
    pub fn json_bytes(status: u16, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body,
            stream: None,
        }
    }

    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            stream: None,
        }
    }

    /// The contract's error body, with the error's own headers.
    pub fn error(error: &ApiError, request_id: &str) -> Self {
        let mut response = Self::json(error.status(), &error.envelope(request_id));
        for (name, value) in error.headers() {
            response.set_header(name, value);
        }
        response
    }

    /// Sets a header, replacing any value it had.
    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        let name = name.to_ascii_lowercase();
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.into()));
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::split_url;

    #[test]
    fn a_runtime_url_splits_into_origin_path_and_query() {
        for (url, parts) in [
            (
                "https://api.example.com/api/v1/tasks/?done=false&ordering=-due_date",
                (
                    "https://api.example.com",
                    "/api/v1/tasks/",
                    Some("done=false&ordering=-due_date"),
                ),
            ),
            (
                "http://127.0.0.1:8787/health/",
                ("http://127.0.0.1:8787", "/health/", None),
            ),
            (
                "http://localhost:8787/?",
                ("http://localhost:8787", "/", Some("")),
            ),
            (
                "http://[::1]:8787/a?b#c",
                ("http://[::1]:8787", "/a", Some("b")),
            ),
            ("http://h?q=/x", ("http://h", "/", Some("q=/x"))),
            ("http://u:p@h/x", ("http://h", "/x", None)),
        ] {
            let (origin, path, query) = parts;
            assert_eq!(
                split_url(url),
                Some((origin.to_owned(), path, query)),
                "{url}"
            );
        }
        assert_eq!(split_url("/relative"), None);
    }

    proptest! {
        /// Whatever the `url` crate (which the runtime's serialisation follows) makes of a
        /// string, splitting its serialisation gives its origin, path and query.
        #[test]
        fn splitting_agrees_with_a_url_parser(
            scheme in "https?",
            host in "[a-zA-Z0-9.-]{1,12}|\\[::1\\]|127\\.0\\.0\\.1",
            port in prop::option::of(0u16..),
            rest in "[/?#a-zA-Z0-9%&=._~:@!$'()*+,;-]{0,30}",
        ) {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let Ok(parsed) = url::Url::parse(&format!("{scheme}://{host}{port}{rest}")) else {
                return Ok(());
            };
            let origin = parsed.origin().ascii_serialization();
            prop_assert_eq!(
                split_url(parsed.as_str()),
                Some((origin, parsed.path(), parsed.query())),
                "{}", parsed
            );
        }
    }
}
