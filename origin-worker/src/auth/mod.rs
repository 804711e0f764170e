//! Accounts and tokens at the origin, the only place passwords are hashed and tokens issued.
//!
//! - [`handlers`]: register, token obtain / refresh / blacklist, account deletion;
//! - [`passwords`]: Argon2id, off the async threads;
//! - [`store`]: the SQL.

pub mod handlers;
pub mod passwords;
pub mod store;
