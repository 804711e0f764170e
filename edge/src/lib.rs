//! The Cloudflare Workers edge.
//!
//! Request handling is plain Rust over two ports ([`ports::Replica`] for D1 and
//! [`ports::Origin`] for the origin worker), so all of it runs natively in `cargo test` against
//! SQLite executing the very SQL sent to D1. The `worker` glue (entry point, D1 and fetch
//! adapters) lives in `wasm` and is compiled only for `wasm32`.
//!
//! - [`app`]: the pipeline and dispatch;
//! - [`routes`]: the path table;
//! - [`auth`]: bearer tokens, `me`, `token/verify/`;
//! - [`forward`]: signed calls to the origin and write-through of its changes;
//! - [`projects`]: projects and tasks, reads from D1 and forwarded writes;
//! - [`replica`]: D1 reads and version-guarded change application;
//! - [`internal`]: the origin's signed replication push;
//! - [`cors`], [`health`], [`settings`], [`http`], [`ports`].

pub mod app;
pub mod auth;
pub mod cors;
pub mod forward;
pub mod health;
pub mod http;
pub mod internal;
pub mod ports;
pub mod projects;
pub mod replica;
pub mod routes;
pub mod settings;

#[cfg(target_arch = "wasm32")]
mod wasm;
