//! The Cloudflare Workers edge.
//!
//! Request handling is plain Rust over one [`platform::Platform`] (the D1 replica, the origin
//! and the rate limiter's counts as ports), so all of it runs natively in `cargo test` against SQLite executing the
//! very SQL sent to D1. The `worker` glue lives in `wasm/` and is compiled only for `wasm32`.
//!
//! - [`routes`]: the route table — every endpoint, who may call it, its throttle scope, its
//!   body and its handler;
//! - [`app`]: the pipeline that reads each step from the table;
//! - [`ctx`], [`error`], [`platform`], [`http`]: what every handler shares (leaves: they
//!   import no handler);
//! - [`auth`]: bearer tokens; [`accounts`]: `me`, `token/verify/`, the token prechecks;
//! - [`forward`]: signed calls to the origin and write-through of its changes;
//! - [`projects`]: projects and tasks, reads from D1 and write prechecks; [`orders`]: the
//!   catalogue and orders, likewise;
//! - [`replica`]: D1 reads and version-guarded change application;
//! - [`internal`]: the origin's signed replication push and version pages, and the isolate's
//!   own figures ([`isolate`]);
//! - [`attachments`]: uploads streamed into R2 and signed downloads; [`cleanup`]: their blobs
//!   removed with their attachments, and the daily sweep of blobs nothing refers to;
//! - [`throttle`]: rate limits, with the counts one Durable Object per identity keeps
//!   ([`throttle::counts`]) and the leases an isolate spends locally;
//! - [`sessions`]: read-your-writes across D1's replicas (a bookmark per response);
//! - [`cors`], [`health`], [`settings`].

// No panics in request handling: a panic in the wasm poisons the isolate, failing every
// request it holds until it is replaced. `unwrap_used` is denied workspace-wide; these close
// the other ways (tests may use them).
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

pub mod accounts;
pub mod analytics;
pub mod app;
pub mod attachments;
pub mod auth;
pub mod cleanup;
pub mod cors;
pub mod ctx;
pub mod error;
pub mod forward;
pub mod health;
pub mod http;
pub mod internal;
pub mod isolate;
pub mod orders;
pub mod platform;
pub mod projects;
pub mod replica;
pub mod routes;
pub mod schema;
pub mod sessions;
pub mod settings;
pub mod throttle;

#[cfg(target_arch = "wasm32")]
mod wasm;
