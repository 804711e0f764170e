//! What the edge needs from the platform, as traits: the D1 replica and the origin. The wasm
//! build implements them over `worker`; native tests implement them over SQLite (running the
//! very same SQL) and an in-process origin.

use std::borrow::Cow;

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

impl From<Option<String>> for SqlValue {
    fn from(value: Option<String>) -> Self {
        value.map_or(Self::Null, Self::Text)
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

/// A failure of a platform call. Its text goes to the log, never to a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PortError(pub String);

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

/// The origin worker, reached over HTTP.
#[expect(
    async_fn_in_trait,
    reason = "the edge is single-threaded wasm; no Send bound is wanted"
)]
pub trait Origin {
    async fn send(&self, request: OriginRequest) -> Result<OriginResponse, PortError>;
}
