//! The catalogue and orders at the edge: the public product list and the order reads, from
//! D1; placing an order is checked here and forwarded to the origin.
//!
//! - [`reads`]: the endpoints that answer from D1;
//! - [`sql`]: their statements.

pub mod reads;
pub mod sql;
