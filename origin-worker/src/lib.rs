//! The origin worker: Postgres is the source of truth, and this service is the only writer.
//!
//! The edge forwards writes and logins here as signed requests ([`api`]); each write commits
//! its rows, its change records for D1 and its jobs in one transaction ([`replication`],
//! [`jobs`]). Operators drive it through subcommands ([`cli`]).
//!
//! - [`settings`]: configuration, read once; [`state`]: what handlers and jobs share;
//! - [`api`]: the router, every path from `domain::paths` to its handler;
//! - [`http`]: what every endpoint shares (signature check, idempotent write, replies, the
//!   request layer), importing no handler;
//! - [`auth`]: accounts and tokens;
//! - [`projects`]: projects and tasks; [`attachments`]: the metadata of projects' files (the
//!   bytes are the edge's, in R2); [`orders`]: the catalogue and orders; [`payments`]: Stripe
//!   intents, webhooks and the events' job;
//! - [`replication`]: the outbox (change records and their job, in the writer's transaction)
//!   and its push to the edge;
//! - [`email`]: emails recorded and queued in the writer's transaction, their templates, and
//!   the SMTP client;
//! - [`audit`]: comparing D1 with Postgres and repairing it (`check-edge`, `resync-edge`);
//! - [`jobs`]: apalis workers and schedules, a module per job, and the operator's view of the
//!   queues; [`operator`]: that view as a page, on a listener of its own;
//! - [`supervisor`]: keeps each worker running, with backoff, and knows their states;
//! - [`db`]: the pool and migrations;
//! - [`cli`]: `serve`, `migrate`, `push`, `check-edge`, `resync-edge`, `replay-webhook`,
//!   `products …`, `jobs …`.
//!
//! Dependencies point one way (no module imports one that imports it back, checked by
//! `scripts/module-cycles.py` in `./dev test`): `cli` → `api`, `audit`, `jobs` → the handlers
//! (`auth`, `attachments` → `projects`, `orders`) → `http`, `replication`, `email`, the stores
//! → `db`, `state` → `settings`. `http`, `replication`, `email` and `db` import no feature
//! module.

pub mod api;
pub mod attachments;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod db;
pub mod email;
pub mod http;
pub mod jobs;
pub mod metrics;
pub mod operator;
pub mod orders;
pub mod payments;
pub mod projects;
pub mod replication;
pub mod scrape;
pub mod settings;
pub mod state;
pub mod supervisor;
pub mod telemetry;
pub mod trace;
