//! Attachments at the origin: the metadata of files whose bytes the edge put in R2. Created in
//! the caller's own projects only, deleted by their owner; a project's or an account's
//! deletion takes them with it (foreign keys here, the same cascade when the edge applies it).
//!
//! - [`handlers`]: the endpoints;
//! - [`store`]: the SQL.

pub mod handlers;
pub mod store;
