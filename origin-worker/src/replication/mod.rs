//! The replication outbox and its delivery to the edge.
//!
//! - [`audit`]: comparing D1 with Postgres and repairing it (`check-edge`, `resync-edge`);
//! - [`outbox`]: writing change records inside the caller's transaction;
//! - [`push`]: sending pending records to the edge in order, marking them once acknowledged.

pub mod audit;
pub mod outbox;
pub mod push;
