//! Projects and tasks at the origin: owner-checked writes, each committing its rows, change
//! records and replication job in one transaction.
//!
//! - [`handlers`]: the endpoints;
//! - [`store`]: the SQL.

pub mod handlers;
pub mod store;
