//! The replication outbox and its delivery to the edge.
//!
//! - [`outbox`]: writing change records inside the caller's transaction;
//! - [`push`]: sending pending records to the edge in order, marking them once acknowledged.

pub mod outbox;
pub mod push;
