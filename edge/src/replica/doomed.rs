//! Which R2 objects a batch of change records leaves without a row: the edge's cleanup deletes
//! them once the batch is applied. Read from D1 before applying, since applying removes the
//! rows that name them.
//!
//! A key is doomed when the batch deletes its attachment, the attachment's project or its
//! owner (the rows [`super::apply`] removes, under the same version guard), or when the batch
//! brings an attachment's upsert that will never stand: a newer delete in the same batch, or a
//! tombstone already in D1, covers it. Attachments never move and ids are never reused, so
//! each of these is final in Postgres too, and a key returned here is never needed again.
//! Applying the same batch twice returns fewer keys (or the same ones again): deleting them is
//! idempotent.

use std::collections::HashSet;

use domain::replication::{AttachmentReplica, Change, ChangeKind, Entity};
use serde::Deserialize;

use super::cascade;
use crate::platform::{PortError, Replica, Rows as _, Statement};

#[derive(Deserialize)]
struct Key {
    storage_key: String,
}

/// The storage keys of the attachments that applying `changes` removes or refuses, each once,
/// in the order the batch reaches them. No query when the batch deletes no attachment,
/// project or user and brings no attachment.
pub async fn doomed_keys(
    replica: &impl Replica,
    changes: &[Change],
) -> Result<Vec<String>, PortError> {
    let mut plan = Plan::default();
    for change in changes {
        let v = change.version;
        match &change.kind {
            ChangeKind::UserDelete { id } => plan.read(stored(Entity::User, id.get(), v)),
            ChangeKind::ProjectDelete { id } => plan.read(stored(Entity::Project, id.get(), v)),
            ChangeKind::AttachmentDelete { id } => {
                plan.read(stored(Entity::Attachment, id.get(), v));
            }
            ChangeKind::AttachmentUpsert(attachment) => {
                if changes.iter().any(|other| removes(other, attachment, v)) {
                    plan.sources
                        .push(Source::Known(attachment.attachment.storage_key.clone()));
                } else {
                    plan.read(Some(tombstoned(attachment, v)));
                }
            }
            _ => {}
        }
    }
    let mut answers = Vec::new();
    if !plan.reads.is_empty() {
        for rows in replica.read_batch(plan.reads).await? {
            answers.push(rows.decode::<Key>()?);
        }
    }
    let mut seen = HashSet::new();
    let mut keys = Vec::new();
    for source in plan.sources {
        let found = match source {
            Source::Known(key) => vec![key],
            Source::Read(at) => answers
                .get_mut(at)
                .map(std::mem::take)
                .unwrap_or_default()
                .into_iter()
                .map(|row| row.storage_key)
                .collect(),
        };
        keys.extend(found.into_iter().filter(|key| seen.insert(key.clone())));
    }
    Ok(keys)
}

/// Where each key comes from, in the batch's order: the batch itself, or the answer to one of
/// the reads (sent together, in one round trip).
enum Source {
    Known(String),
    Read(usize),
}

#[derive(Default)]
struct Plan {
    sources: Vec<Source>,
    reads: Vec<Statement>,
}

impl Plan {
    fn read(&mut self, statement: Option<Statement>) {
        if let Some(statement) = statement {
            self.sources.push(Source::Read(self.reads.len()));
            self.reads.push(statement);
        }
    }
}

/// The keys of the stored attachments that deleting this row of `entity` at `version` removes:
/// the rows of the cascade's delete from `attachments`, with its version guard.
fn stored(entity: Entity, id: i64, version: i64) -> Option<Statement> {
    let table = Entity::Attachment.table();
    let (_, column) = cascade(entity).iter().find(|(t, _)| *t == table)?;
    Some(Statement::new(
        format!("SELECT storage_key FROM {table} WHERE {column} = ?1 AND version < ?2"),
        vec![id.into(), version.into()],
    ))
}

/// Whether `change` deletes this attachment (upserted at `version`), its project or its owner
/// at a newer version.
fn removes(change: &Change, replica: &AttachmentReplica, version: i64) -> bool {
    change.version > version
        && match &change.kind {
            ChangeKind::AttachmentDelete { id } => *id == replica.attachment.id,
            ChangeKind::ProjectDelete { id } => *id == replica.attachment.project,
            ChangeKind::UserDelete { id } => *id == replica.owner,
            _ => false,
        }
}

/// The upsert's key when a tombstone in D1 refuses it (the guard of the upsert itself).
fn tombstoned(replica: &AttachmentReplica, version: i64) -> Statement {
    let attachment = &replica.attachment;
    Statement::new(
        "SELECT ?4 AS storage_key WHERE EXISTS (SELECT 1 FROM tombstones WHERE version >= ?5 AND \
             ((entity = 'attachment' AND entity_id = ?1) \
              OR (entity = 'project' AND entity_id = ?2) \
              OR (entity = 'user' AND entity_id = ?3)))",
        vec![
            attachment.id.get().into(),
            attachment.project.into(),
            replica.owner.into(),
            attachment.storage_key.clone().into(),
            version.into(),
        ],
    )
}
