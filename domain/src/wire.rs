//! What the edge and the origin say to each other, beyond the public API: the origin's reply
//! envelope and the bodies of the edge's internal endpoints. Both sides (and their tests) use
//! these types; nothing here is written twice. The signed headers every such call carries are
//! built and checked by [`crate::signing`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;
use crate::replication::{Change, Entity};

/// Header the origin sets on every reply it means for the edge. Anything without it (a proxy's
/// error page, a misrouted request) is a fault, never relayed to a client.
pub const REPLY_HEADER: &str = "x-origin-reply";

/// What the origin answers a forwarded request: the public status and body, and the change
/// records the request produced, which the edge applies to D1 before it answers the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OriginReply {
    /// The public status. The transport status differs where HTTP forbids a body (204).
    pub status: u16,
    #[serde(default)]
    pub body: Option<Value>,
    #[serde(default)]
    pub changes: Vec<Change>,
    /// Headers the public answer must carry (an error's `WWW-Authenticate`, `Retry-After`).
    /// The edge copies only those in [`RELAYED_HEADERS`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
}

/// The reply headers the edge passes on to the client; any other is dropped.
pub const RELAYED_HEADERS: &[&str] = &["www-authenticate", "retry-after"];

impl OriginReply {
    pub fn new(status: u16, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            changes: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// 204: no public body.
    pub fn no_content() -> Self {
        Self {
            status: 204,
            body: None,
            changes: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// The envelope of a refusal, with the error's own headers.
    pub fn error(error: &ApiError, request_id: &str) -> Self {
        Self {
            headers: error
                .headers()
                .into_iter()
                .map(|(name, value)| (name.to_ascii_lowercase(), value))
                .collect(),
            ..Self::new(error.status(), error.envelope(request_id))
        }
    }

    /// The headers to pass on to the client.
    pub fn relayed_headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .filter(|(name, _)| RELAYED_HEADERS.contains(&name.to_ascii_lowercase().as_str()))
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    pub fn with_changes(mut self, changes: Vec<Change>) -> Self {
        self.changes = changes;
        self
    }

    /// The HTTP status the reply travels with: the public one, except that a 204 cannot carry
    /// the change records and travels as 200.
    pub fn transport_status(&self) -> u16 {
        if self.status == 204 { 200 } else { self.status }
    }
}

/// Most rows or token ids one page of `/internal/versions/` carries.
pub const MAX_VERSIONS_PAGE: u32 = 5000;

/// The body of `POST /internal/versions/`: one page of what D1 holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "of", rename_all = "snake_case")]
pub enum VersionsRequest {
    /// `(id, version)` of the rows of `entity` with ids above `after`, by id.
    Rows {
        entity: Entity,
        after: i64,
        limit: u32,
    },
    /// The denylisted token ids above `after`, in order.
    Denylist { after: String, limit: u32 },
}

/// The answer to [`VersionsRequest::Rows`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowVersions {
    /// `[id, version]` pairs.
    pub rows: Vec<(i64, i64)>,
}

/// The answer to [`VersionsRequest::Denylist`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenylistPage {
    pub jtis: Vec<String>,
}

/// What one edge isolate reports about itself (`GET /internal/isolate/`): how a long run tells
/// growth of the worker's own memory from growth of the runtime around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsolateStats {
    /// The wasm linear memory: the high-water mark of the worker's Rust heap (it never
    /// shrinks). `None` outside wasm (the native tests).
    pub linear_memory_bytes: Option<u64>,
    /// Requests this isolate has handled since it started, this one included.
    pub requests_handled: u64,
}

/// The answer to a replication push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub applied: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn version_requests_name_what_they_ask_for() {
        let rows = VersionsRequest::Rows {
            entity: Entity::Task,
            after: 7,
            limit: 10,
        };
        assert_eq!(
            serde_json::to_value(&rows).unwrap(),
            json!({"of": "rows", "entity": "task", "after": 7, "limit": 10})
        );
        let page: RowVersions = serde_json::from_value(json!({"rows": [[1, 2]]})).unwrap();
        assert_eq!(page.rows, [(1, 2)]);
    }

    #[test]
    fn an_error_reply_carries_its_headers_and_only_known_ones_are_relayed() {
        let mut reply = OriginReply::error(&ApiError::BadCredentials, "r1");
        assert_eq!(reply.status, 401);
        reply.headers.push(("set-cookie".into(), "x=1".into()));
        let relayed: Vec<_> = reply.relayed_headers().collect();
        assert_eq!(relayed, [("www-authenticate", r#"Bearer realm="api""#)]);
        assert!(
            !serde_json::to_string(&OriginReply::no_content())
                .unwrap()
                .contains("headers"),
            "no headers, no field"
        );
    }

    #[test]
    fn a_no_content_reply_travels_as_200() {
        assert_eq!(OriginReply::no_content().transport_status(), 200);
        assert_eq!(OriginReply::new(201, json!({})).transport_status(), 201);
    }
}
