//! The catalogue and orders at the origin: orders priced from the catalogue in the write's own
//! transaction; products managed by operators (`origin-worker products …`).
//!
//! - [`handlers`]: the endpoints; [`catalogue`]: the operators' product commands;
//! - [`store`]: the SQL.

pub mod catalogue;
pub mod handlers;
pub mod store;
