//! The replication outbox and its delivery to the edge. (Comparing D1 with Postgres, an
//! operator's concern, is [`crate::audit`].)
//!
//! - [`outbox`]: writing change records, and the job that delivers them, inside the caller's
//!   transaction;
//! - [`push`]: sending pending records to the edge in order, marking them once acknowledged.

pub mod outbox;
pub mod push;
