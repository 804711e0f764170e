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
