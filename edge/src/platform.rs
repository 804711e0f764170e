//! What the edge needs from the platform: one [`Platform`] trait whose associated types are
//! the ports (the D1 replica, the origin, the rate limiter's counts; the R2 blob store joins
//! them when it lands). The wasm build implements it over `worker` (`crate::wasm`); native tests
//! implement it over SQLite, running the very same SQL, and a scripted origin.

use std::any::Any;
use std::borrow::Cow;
use std::error::Error;
use std::fmt;
use std::rc::Rc;

use serde::de::DeserializeOwned;

/// A value bound to a SQL parameter. Never formatted into SQL text.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
}

impl From<i64> for SqlValue {
    fn from(value: i64) -> Self {
        Self::Integer(value)
    }
}

impl From<bool> for SqlValue {
    fn from(value: bool) -> Self {
        Self::Integer(i64::from(value))
    }
}

impl From<&str> for SqlValue {
    fn from(value: &str) -> Self {
        Self::Text(value.to_owned())
    }
}

impl From<String> for SqlValue {
    fn from(value: String) -> Self {
        Self::Text(value)
    }
}

impl From<domain::UserId> for SqlValue {
    fn from(id: domain::UserId) -> Self {
        Self::Integer(id.get())
    }
}

impl From<domain::ProjectId> for SqlValue {
    fn from(id: domain::ProjectId) -> Self {
        Self::Integer(id.get())
    }
}

impl From<domain::ProductId> for SqlValue {
    fn from(id: domain::ProductId) -> Self {
        Self::Integer(id.get())
    }
}

impl From<domain::OrderId> for SqlValue {
    fn from(id: domain::OrderId) -> Self {
        Self::Integer(id.get())
    }
}

impl From<domain::ids::AttachmentId> for SqlValue {
    fn from(id: domain::ids::AttachmentId) -> Self {
        Self::Integer(id.get())
    }
}

impl From<domain::TaskId> for SqlValue {
    fn from(id: domain::TaskId) -> Self {
        Self::Integer(id.get())
    }
}

/// Dates are stored as `YYYY-MM-DD` text, which sorts as dates do.
impl From<domain::query::Date> for SqlValue {
    fn from(date: domain::query::Date) -> Self {
        Self::Text(date.to_string())
    }
}

impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(value: Option<T>) -> Self {
        value.map_or(Self::Null, Into::into)
    }
}

/// One SQL statement with its bound parameters (`?1`, `?2`, …). The text is either static or
/// assembled from whitelisted column names; values are always bound.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: Cow<'static, str>,
    pub params: Vec<SqlValue>,
}

impl Statement {
    pub fn new(sql: impl Into<Cow<'static, str>>, params: Vec<SqlValue>) -> Self {
        Self {
            sql: sql.into(),
            params,
        }
    }
}

/// A failure of a platform call, with its cause. Logged (with the whole `source()` chain) by
/// the pipeline, never shown to a client.
#[derive(Debug)]
pub struct PortError {
    message: String,
    source: Option<Box<dyn Error + 'static>>,
}

impl PortError {
    /// A failure the platform described in words only (D1 hands back a message).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// A failure of `doing`, caused by `source`.
    pub fn caused_by(doing: impl Into<String>, source: impl Error + 'static) -> Self {
        Self {
            message: doing.into(),
            source: Some(Box::new(source)),
        }
    }
}

impl fmt::Display for PortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for PortError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref()
    }
}

/// The rows one statement of a batch returned, decoded on demand (each statement of a batch
/// has its own row type).
pub trait Rows {
    fn decode<T: DeserializeOwned>(self) -> Result<Vec<T>, PortError>;
}

/// The D1 replica: SQLite semantics.
#[expect(
    async_fn_in_trait,
    reason = "the edge is single-threaded wasm; no Send bound is wanted"
)]
pub trait Replica {
    type Rows: Rows;

    /// Runs one query and decodes each row into `T` (by column name).
    async fn query<T: DeserializeOwned>(&self, statement: Statement) -> Result<Vec<T>, PortError>;

    /// Runs several reads in one round trip, answering one set of rows per statement.
    async fn read_batch(&self, statements: Vec<Statement>) -> Result<Vec<Self::Rows>, PortError>;

    /// Runs statements atomically, in order.
    async fn batch(&self, statements: Vec<Statement>) -> Result<(), PortError>;
}

/// A request to the origin, already signed.
#[derive(Debug, Clone)]
pub struct OriginRequest {
    pub method: String,
    pub path_and_query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The origin's answer.
#[derive(Debug, Clone)]
pub struct OriginResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl OriginResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What [`Counts::take_later`] does with the answer, and when it came (Unix ms).
pub type Answered = Box<dyn FnOnce(Result<domain::throttle::Taken, PortError>, i64)>;

/// The rate limiter's counts: one Durable Object per identity on Workers
/// ([`crate::throttle::counts`] is what it runs).
#[expect(
    async_fn_in_trait,
    reason = "the edge is single-threaded wasm; no Send bound is wanted"
)]
pub trait Counts {
    /// Asks the counts named `key` (an identity's) for units.
    async fn take(
        &self,
        key: &str,
        take: &domain::throttle::Take,
    ) -> Result<domain::throttle::Taken, PortError>;

    /// Asks the counts named `key` for units without holding up the request: its response does
    /// not wait for the answer. `then` gets the answer and the time it came (Unix ms), whenever
    /// it comes; it may run after the request has been answered, so it touches no I/O object of
    /// the request's (on Workers this runs under `waitUntil`).
    fn take_later(&self, key: &str, take: domain::throttle::Take, then: Answered);

    /// Waits `ms` milliseconds on a timer of the request's own. (A request may not be woken by
    /// another: on Workers its code would then run in the other's context, where its own I/O
    /// objects are out of reach.)
    async fn pause(&self, ms: u64);
}

/// Where attachments' bytes are kept: R2 on Workers (`crate::wasm`), memory in native tests
/// ([`crate::attachments::MemoryBlobs`]). A blob is written whole when it is small, else in
/// parts of [`PART_BYTES`] (the last one shorter), so that no more than a part is ever held.
#[expect(
    async_fn_in_trait,
    reason = "the edge is single-threaded wasm; no Send bound is wanted"
)]
pub trait Blobs {
    /// Stores a whole blob.
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), PortError>;
    /// Starts a blob written in parts; answers the upload's id.
    async fn start_parts(&self, key: &str, content_type: &str) -> Result<String, PortError>;
    /// Writes part `number` (from 1); answers its tag, for [`Blobs::finish_parts`].
    async fn put_part(
        &self,
        key: &str,
        upload: &str,
        number: u16,
        bytes: Vec<u8>,
    ) -> Result<String, PortError>;
    /// Makes the parts one blob; until then nothing is readable under `key`.
    async fn finish_parts(
        &self,
        key: &str,
        upload: &str,
        parts: Vec<(u16, String)>,
    ) -> Result<(), PortError>;
    /// Drops an unfinished upload and its parts.
    async fn abort_parts(&self, key: &str, upload: &str) -> Result<(), PortError>;
    /// Reads a blob, whole or the `(start, len)` slice of it; `None` when there is none.
    async fn get(
        &self,
        key: &str,
        slice: Option<(u64, u64)>,
    ) -> Result<Option<BlobBody>, PortError>;
    /// Removes blobs; a missing one is no error.
    async fn delete(&self, keys: &[String]) -> Result<(), PortError>;
    /// One page (at most 1,000) of the blobs under `prefix`, after `cursor`.
    async fn list(&self, prefix: &str, cursor: Option<&str>) -> Result<BlobPage, PortError>;
}

/// The size of every part of a blob written in parts but the last (R2's smallest part, and
/// so the most the edge holds of an upload at once).
pub const PART_BYTES: usize = 5 * 1024 * 1024;

/// A blob's bytes as read: in memory (native tests), or a stream the platform pipes into the
/// response without the bytes passing through the edge's code.
#[derive(Debug)]
pub enum BlobBody {
    Bytes(Vec<u8>),
    Platform(PlatformBody),
}

/// A response body the platform streams itself (an R2 object's), opaque to the handlers: the
/// Workers glue takes it back out ([`PlatformBody::take`]).
#[derive(Clone)]
pub struct PlatformBody(pub Rc<dyn Any>);

impl PlatformBody {
    /// The platform's own body, if it is of type `T` and this is its only holder.
    pub fn take<T: 'static>(self) -> Option<T> {
        Rc::downcast::<T>(self.0)
            .ok()
            .and_then(|body| Rc::try_unwrap(body).ok())
    }
}

impl fmt::Debug for PlatformBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlatformBody")
    }
}

impl PartialEq for PlatformBody {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for PlatformBody {}

/// A page of [`Blobs::list`].
#[derive(Debug, Default)]
pub struct BlobPage {
    /// Each blob's key and when it was stored (Unix seconds).
    pub blobs: Vec<(String, i64)>,
    /// Where the next page starts; `None` on the last.
    pub cursor: Option<String>,
}

/// The origin worker, reached over HTTP.
#[expect(
    async_fn_in_trait,
    reason = "the edge is single-threaded wasm; no Send bound is wanted"
)]
pub trait Origin {
    async fn send(&self, request: OriginRequest) -> Result<OriginResponse, PortError>;
}

/// Everything the edge runs on, as one type: request handling is generic over this alone.
#[expect(
    async_fn_in_trait,
    reason = "the edge is single-threaded wasm; no Send bound is wanted"
)]
pub trait Platform {
    type Replica: Replica;
    type Origin: Origin;
    type Counts: Counts;
    type Blobs: Blobs;

    fn replica(&self) -> &Self::Replica;
    fn origin(&self) -> &Self::Origin;
    fn counts(&self) -> &Self::Counts;
    fn blobs(&self) -> &Self::Blobs;
    /// Writes one structured log line (the console on Workers).
    fn log(&self, line: &str);

    /// The committed OpenAPI document in one of its two forms. Workers reads it from the
    /// static assets, so that the wasm does not carry (and every isolate copy into its memory)
    /// 400 KB of text; a platform without assets, as the native tests', has it compiled in.
    async fn openapi_document(&self, form: DocumentForm) -> Result<Cow<'static, str>, PortError> {
        Ok(Cow::Borrowed(form.committed()))
    }
}

/// The two files `apidoc` writes under `openapi/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentForm {
    Yaml,
    Json,
}

impl DocumentForm {
    /// Where the static assets serve the file (`scripts/docs-assets.sh` puts it there).
    pub fn asset_path(self) -> &'static str {
        match self {
            Self::Yaml => "/api/schema/openapi.yaml",
            Self::Json => "/api/schema/openapi.json",
        }
    }

    /// The file as committed, compiled in. Only a platform without assets calls this, so the
    /// wasm links neither text.
    pub fn committed(self) -> &'static str {
        match self {
            Self::Yaml => include_str!("../../openapi/openapi.yaml"),
            Self::Json => include_str!("../../openapi/openapi.json"),
        }
    }
}
