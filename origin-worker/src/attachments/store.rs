//! The SQL behind attachments. Every lookup is scoped by owner (through the project): another
//! user's attachment and a missing one look the same.

use chrono::{DateTime, Utc};
use domain::ids::AttachmentId;
use domain::projects::{Attachment, NewAttachment};
use domain::replication::AttachmentReplica;
use domain::{ProjectId, UserId};
use sqlx::PgConnection;

use crate::db::timestamp;

/// The unique constraint on `storage_key`: one row per stored object.
pub const STORAGE_KEY_TAKEN: &str = "attachments_storage_key_key";

#[derive(Debug, sqlx::FromRow)]
pub struct AttachmentRow {
    pub id: i64,
    pub project_id: i64,
    pub owner_id: i64,
    pub storage_key: String,
    pub filename: String,
    pub size: i64,
    pub content_type: String,
    pub checksum: String,
    pub created_at: DateTime<Utc>,
}

impl AttachmentRow {
    pub fn replica(self) -> AttachmentReplica {
        AttachmentReplica {
            owner: UserId::new(self.owner_id),
            attachment: Attachment {
                id: AttachmentId::new(self.id),
                project: ProjectId::new(self.project_id),
                storage_key: self.storage_key,
                filename: self.filename,
                size: self.size,
                content_type: self.content_type,
                checksum: self.checksum,
                created_at: timestamp(self.created_at),
            },
        }
    }
}

macro_rules! attachment_columns {
    () => {
        "a.id, a.project_id, p.owner_id, a.storage_key, a.filename, a.size, a.content_type, \
         a.checksum, a.created_at"
    };
}

/// Stores the metadata; the caller has checked (and locked) the project.
pub async fn insert_attachment(
    conn: &mut PgConnection,
    new: &NewAttachment,
) -> sqlx::Result<AttachmentRow> {
    sqlx::query_as(concat!(
        "WITH a AS (INSERT INTO attachments (project_id, storage_key, filename, size, content_type, checksum) \
                    VALUES ($1, $2, $3, $4, $5, $6) RETURNING *) \
         SELECT ",
        attachment_columns!(),
        " FROM a JOIN projects p ON p.id = a.project_id"
    ))
    .bind(new.project.get())
    .bind(&new.storage_key)
    .bind(&new.filename)
    .bind(new.size)
    .bind(&new.content_type)
    .bind(&new.checksum)
    .fetch_one(conn)
    .await
}

/// The owner's attachment, locked for the rest of the transaction.
pub async fn attachment_for_update(
    conn: &mut PgConnection,
    owner: UserId,
    id: AttachmentId,
) -> sqlx::Result<Option<AttachmentRow>> {
    sqlx::query_as(concat!(
        "SELECT ",
        attachment_columns!(),
        " FROM attachments a JOIN projects p ON p.id = a.project_id \
          WHERE a.id = $1 AND p.owner_id = $2 FOR UPDATE OF a"
    ))
    .bind(id.get())
    .bind(owner.get())
    .fetch_optional(conn)
    .await
}

/// The attachments with these ids that exist, whoever owns them, in no particular order (the
/// audit's repair reads them back to replicate them).
pub async fn attachments_by_ids(
    conn: &mut PgConnection,
    ids: &[AttachmentId],
) -> sqlx::Result<Vec<AttachmentRow>> {
    let ids: Vec<i64> = ids.iter().copied().map(AttachmentId::get).collect();
    sqlx::query_as(concat!(
        "SELECT ",
        attachment_columns!(),
        " FROM attachments a JOIN projects p ON p.id = a.project_id WHERE a.id = ANY($1)"
    ))
    .bind(ids)
    .fetch_all(conn)
    .await
}

/// Deletes the attachment (the caller has locked it); answers its project's owner, the
/// deletion's shard key.
pub async fn delete_attachment(conn: &mut PgConnection, id: AttachmentId) -> sqlx::Result<UserId> {
    let owner: i64 = sqlx::query_scalar(
        "DELETE FROM attachments a USING projects p WHERE a.id = $1 AND p.id = a.project_id \
         RETURNING p.owner_id",
    )
    .bind(id.get())
    .fetch_one(conn)
    .await?;
    Ok(UserId::new(owner))
}
