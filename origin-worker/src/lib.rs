//! The origin worker: Postgres is the source of truth, and this service is the only writer.
//!
//! The edge forwards writes and logins here as signed requests ([`http`]); each write commits
//! its rows, its change records for D1 and its jobs in one transaction ([`replication`],
//! [`jobs`]). Operators drive it through subcommands ([`cli`]).
//!
//! - [`settings`]: configuration, read once;
//! - [`http`]: the internal API, its signature check and its reply format;
//! - [`auth`]: accounts and tokens;
//! - [`projects`]: projects and tasks;
//! - [`replication`]: the outbox and its push to the edge;
//! - [`jobs`]: apalis workers and schedules;
//! - [`db`]: the pool and migrations;
//! - [`cli`]: `serve`, `migrate`, `push`.

pub mod auth;
pub mod cli;
pub mod db;
pub mod http;
pub mod jobs;
pub mod projects;
pub mod replication;
pub mod settings;
pub mod state;
