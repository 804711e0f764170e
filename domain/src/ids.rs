//! Typed ids. A `ProjectId` cannot be passed where a `UserId` is expected, so a call such as
//! `project_detail(owner, id)` cannot take its arguments swapped.
//!
//! On the wire and in storage an id is a plain positive integer (`serde(transparent)`).

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            /// Wraps a stored id (Postgres and D1 hand out positive integers).
            pub const fn new(raw: i64) -> Self {
                Self(raw)
            }

            /// Reads an id from a path segment, a query value or a token claim: a positive
            /// decimal integer, or nothing.
            pub fn parse(raw: &str) -> Option<Self> {
                raw.parse::<i64>().ok().filter(|id| *id > 0).map(Self)
            }

            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A user (an account).
    UserId
);
id_type!(
    /// A project.
    ProjectId
);
id_type!(
    /// A task.
    TaskId
);
id_type!(
    /// An attachment: a file of a project's, its bytes on R2.
    AttachmentId
);
id_type!(
    /// A product of the catalogue.
    ProductId
);
id_type!(
    /// An order.
    OrderId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_positive_decimal_integers_are_ids() {
        for (raw, expected) in [
            ("7", Some(7)),
            ("0", None),
            ("-3", None),
            ("abc", None),
            ("", None),
            ("9223372036854775808", None),
        ] {
            assert_eq!(
                ProjectId::parse(raw).map(ProjectId::get),
                expected,
                "{raw:?}"
            );
        }
    }

    #[test]
    fn ids_are_plain_numbers_on_the_wire() {
        assert_eq!(serde_json::to_string(&TaskId::new(12)).unwrap(), "12");
        assert_eq!(serde_json::from_str::<UserId>("5").unwrap(), UserId::new(5));
    }
}
