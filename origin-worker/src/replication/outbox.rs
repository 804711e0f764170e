//! Change records are written in the same transaction as the change they describe, so a
//! committed change always has its record and a rolled-back one never does; the job that
//! delivers them is enqueued in that transaction too ([`publish`]).
//!
//! Every record carries its shard key ([`NewChange::owner`]): the user whose data it is, or
//! none for data every shard gets. Owners are to be spread over several D1 databases, and the
//! push will select one shard's records by it.

use domain::UserId;
use domain::orders::{OrderReplica, Product};
use domain::projects::Project;
use domain::replication::{AttachmentReplica, Change, ChangeKind, TaskReplica, UserReplica};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use crate::db;

/// A change to record, with its shard key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChange {
    /// The user whose data this is, as the row stands after the change: a user is their own
    /// owner; a project, task, attachment or order is its owner's; a denied refresh token is
    /// its user's; a deletion is the deleted row's owner's. `None` for what every shard gets:
    /// the catalogue, and an order without an owner (a guest's, or one detached from a deleted
    /// account), since no user id routes a request to it.
    pub owner: Option<UserId>,
    pub kind: ChangeKind,
}

impl NewChange {
    /// A change of `owner`'s data: for a deletion or a token's denial, whose data names no
    /// owner.
    pub fn owned_by(owner: UserId, kind: ChangeKind) -> Self {
        Self {
            owner: Some(owner),
            kind,
        }
    }

    // The upserts, each keyed by the owner its own data names, so none can be keyed wrongly.

    /// A user's upsert: their own.
    pub fn user(user: UserReplica) -> Self {
        Self::owned_by(user.id, ChangeKind::UserUpsert(user))
    }

    /// A project's upsert: its owner's.
    pub fn project(project: Project) -> Self {
        Self::owned_by(project.owner, ChangeKind::ProjectUpsert(project))
    }

    /// A task's upsert: its project's owner's.
    pub fn task(task: TaskReplica) -> Self {
        Self::owned_by(task.owner, ChangeKind::TaskUpsert(task))
    }

    /// An attachment's upsert: its project's owner's.
    pub fn attachment(attachment: AttachmentReplica) -> Self {
        Self::owned_by(attachment.owner, ChangeKind::AttachmentUpsert(attachment))
    }

    /// A product's upsert: every shard's.
    pub fn product(product: Product) -> Self {
        Self {
            owner: None,
            kind: ChangeKind::ProductUpsert(product),
        }
    }

    /// An order's upsert: its owner's, or every shard's when it has none.
    pub fn order(order: OrderReplica) -> Self {
        Self {
            owner: order.owner,
            kind: ChangeKind::OrderUpsert(order),
        }
    }
}

/// Appends one change record and returns it with its version.
pub async fn record(conn: &mut PgConnection, change: NewChange) -> sqlx::Result<Change> {
    let NewChange { owner, kind } = change;
    let payload = serde_json::to_value(&kind).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let version: i64 = sqlx::query_scalar(
        "INSERT INTO replication_changes (change, owner_id) VALUES ($1, $2) RETURNING version",
    )
    .bind(payload)
    .bind(owner.map(UserId::get))
    .fetch_one(conn)
    .await?;
    Ok(Change {
        version,
        owner,
        kind,
    })
}

/// Queue name of the replication job.
pub const REPLICATE_QUEUE: &str = "replicate";

/// Payload of the replication job: nothing but when it was asked for (the job pushes whatever
/// is pending when it runs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Replicate {
    pub requested_at: i64,
}

/// Records the changes in the outbox and enqueues the job that delivers them, all inside the
/// caller's transaction; returns the records (with their versions) for the reply.
pub async fn publish(
    conn: &mut PgConnection,
    new_changes: Vec<NewChange>,
) -> sqlx::Result<Vec<Change>> {
    let mut changes = Vec::with_capacity(new_changes.len());
    for change in new_changes {
        changes.push(record(conn, change).await?);
    }
    replicate_soon(conn).await?;
    Ok(changes)
}

/// Enqueues a replication job inside the caller's transaction.
pub async fn replicate_soon(conn: &mut PgConnection) -> sqlx::Result<()> {
    let requested_at = chrono::Utc::now().timestamp();
    // Failed jobs are re-fetched without delay; a few attempts ride out a blip, and the sweep
    // covers longer outages.
    db::push_job(conn, REPLICATE_QUEUE, &Replicate { requested_at }, 3).await
}
