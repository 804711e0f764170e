//! Projects and tasks at the edge: every read answered from D1 ([`reads`], over the SQL that
//! [`sql`] renders), every write checked early and forwarded to the origin ([`writes`]).

pub mod reads;
pub mod sql;
pub mod writes;
