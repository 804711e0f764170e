//! What every endpoint of the origin's internal API shares, and nothing endpoint-specific: this
//! module imports no handler (the router that ties paths to handlers is [`crate::api`]).
//!
//! - [`signed`]: the extractor every forwarded endpoint takes (the edge's signature, the caller);
//! - [`write`](mod@write): one transaction per write, with `Idempotency-Key` replays;
//! - [`reply`]: the reply envelope and the one place a failure becomes a response;
//! - [`context`]: the request layer (request id, one log line, parked failures rendered);
//! - [`health`]: unsigned `/health/` and `/ready/` for operators.

pub mod context;
pub mod health;
pub mod reply;
pub mod signed;
pub mod write;
