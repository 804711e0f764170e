//! The change records that carry Postgres's truth to the edge's D1 replica.
//!
//! The origin writes a record in the same transaction as the change it describes; its version
//! comes from one global sequence. The edge applies records idempotently and only forward: a
//! row (or tombstone) with a newer version is never overwritten by an older record, so the
//! write-through on a response and the background push can arrive in any order, any number of
//! times, and leave D1 the same. Nothing secret (password hashes, raw tokens) is ever in a
//! record.

use serde::{Deserialize, Serialize};

use crate::projects::{Project, Task};

/// One versioned change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub version: i64,
    #[serde(flatten)]
    pub kind: ChangeKind,
}

/// What changed. Serialised as `{"kind": "user.upsert", "data": {…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data")]
pub enum ChangeKind {
    /// A user was created or changed.
    #[serde(rename = "user.upsert")]
    UserUpsert(UserReplica),
    /// A user was deleted; everything they owned goes with them.
    #[serde(rename = "user.delete")]
    UserDelete { id: i64 },
    /// A refresh token was blacklisted; the edge refuses it on `verify` until it expires.
    #[serde(rename = "token.deny")]
    TokenDeny { jti: String, expires_at: i64 },
    /// A project was created or changed.
    #[serde(rename = "project.upsert")]
    ProjectUpsert(Project),
    /// A project was deleted, and its tasks with it.
    #[serde(rename = "project.delete")]
    ProjectDelete { id: i64 },
    /// A task was created or changed (or moved to another project of the same owner).
    #[serde(rename = "task.upsert")]
    TaskUpsert(TaskReplica),
    /// A task was deleted.
    #[serde(rename = "task.delete")]
    TaskDelete { id: i64 },
}

/// A task with its project's owner, so the edge filters by owner without a join.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskReplica {
    #[serde(flatten)]
    pub task: Task,
    pub owner: i64,
}

/// A user as the edge may know them: exactly the public `me` representation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserReplica {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub is_staff: bool,
    /// RFC 3339, UTC.
    pub date_joined: String,
}

/// The body of a replication push (origin → edge) and of the `changes` an origin reply
/// carries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeBatch {
    pub changes: Vec<Change>,
}

/// Largest number of records one push carries; keeps each D1 batch well inside its limits.
pub const MAX_BATCH: usize = 200;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_have_a_stable_wire_format() {
        let change = Change {
            version: 42,
            kind: ChangeKind::TokenDeny {
                jti: "abc".into(),
                expires_at: 1_700_000_000,
            },
        };
        let wire = serde_json::to_value(&change).unwrap();
        assert_eq!(
            wire,
            json!({"version": 42, "kind": "token.deny", "data": {"jti": "abc", "expires_at": 1_700_000_000}})
        );
        assert_eq!(serde_json::from_value::<Change>(wire).unwrap(), change);
    }

    #[test]
    fn a_user_record_has_no_room_for_secrets() {
        let user = UserReplica {
            id: 1,
            username: "a".into(),
            email: "a@example.com".into(),
            is_staff: false,
            date_joined: "2025-01-01T00:00:00.000000Z".into(),
        };
        let wire = serde_json::to_value(ChangeKind::UserUpsert(user)).unwrap();
        let text = wire.to_string();
        assert!(!text.contains("password"), "{text}");
    }
}
