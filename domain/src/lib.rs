//! The pure centre of the service, shared by the wasm edge and the native origin.
//!
//! Nothing here does I/O or reads a clock: time comes in as arguments, storage lives behind the
//! callers' adapters. The crate builds for `wasm32-unknown-unknown` and natively.
//!
//! Layout, one folder or file per concern:
//! - [`error`]: the one error type and its DRF-compatible envelope;
//! - [`input`]: turning a request body (JSON, or a url-encoded or [`multipart`] form) into
//!   typed values with DRF's field messages;
//! - [`config`]: reading and validating configuration variables; [`secret`]: values that
//!   never print;
//! - [`auth`]: credentials (username, password policy, email) and JWT claims/verification;
//! - [`ids`]: typed ids (`UserId`, `ProjectId`, `TaskId`, `ProductId`, `OrderId`);
//! - [`paths`]: every routed path, spelled once for both deployables;
//! - [`signing`]: the HMAC that authenticates edge ↔ origin calls, and their signed headers;
//! - [`wire`]: the origin's reply and the edge's internal request and answer bodies;
//! - [`replication`]: the versioned change records the origin sends and the edge applies;
//! - [`projects`]: projects and tasks, their representations and change bodies;
//! - [`orders`]: the catalogue, orders with their price snapshots, and guests' order tokens;
//! - [`query`]: query strings (pagination, ordering, search, filters);
//! - [`limits`]: input size limits both sides enforce;
//! - [`files`]: attachments: accepted kinds, safe names, storage keys, signed URLs, ranges;
//! - [`throttle`]: rate limits: rates, scopes, identities, the window arithmetic, and the
//!   rate limiter's wire format.

// No panics: the edge runs this crate in wasm, where a panic poisons the isolate. As in the
// edge, these are denied outside tests (`unwrap_used` is denied workspace-wide).
#![cfg_attr(
    not(test),
    deny(
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

pub mod auth;
pub mod base64url;
pub mod config;
pub mod error;
pub mod files;
pub mod ids;
pub mod input;
pub mod keyring;
pub mod limits;
pub mod multipart;
pub mod orders;
pub mod paths;
pub mod projects;
pub mod query;
pub mod replication;
pub mod secret;
pub mod signing;
pub mod throttle;
pub mod trace;
pub mod wire;

pub use error::{ApiError, FieldErrors};
pub use ids::{OrderId, ProductId, ProjectId, TaskId, UserId};
pub use secret::Secret;
