//! The edge's side of the D1 replica: reads it serves from it, and applying the origin's
//! change records to it.
//!
//! Applying is idempotent and version-guarded. Every replicated row carries the version of the
//! record that last wrote it; a delete leaves a tombstone with its version. An upsert lands
//! only when it is newer than both the row and any tombstone, so records may arrive twice or
//! out of order (write-through and background push race) and D1 ends the same.
//!
//! An attachment's bytes live in R2, which no batch reaches: [`doomed_keys`] tells the caller,
//! before a batch is applied, which stored objects the batch leaves without a row.

mod doomed;

pub use doomed::doomed_keys;

use domain::UserId;
use domain::orders::{OrderReplica, Product};
use domain::projects::Project;
use domain::replication::{
    AttachmentReplica, Change, ChangeKind, Entity, TaskReplica, UserReplica,
};
use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};

use crate::platform::{PortError, Replica, Rows, SqlValue, Statement};

/// SQLite keeps booleans as 0/1; D1 hands them back as numbers. A visitor, not an untagged
/// enum: on Workers each variant an untagged enum tries and rejects costs a JS `Error` (with its
/// stack), which a profile put at a tenth of a task list's CPU.
pub fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    struct Flag;
    impl Visitor<'_> for Flag {
        type Value = bool;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a boolean, or a number (0 is false)")
        }

        fn visit_bool<E: de::Error>(self, value: bool) -> Result<bool, E> {
            Ok(value)
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<bool, E> {
            Ok(value != 0)
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<bool, E> {
            Ok(value != 0)
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<bool, E> {
            Ok(value != 0.0)
        }
    }
    deserializer.deserialize_any(Flag)
}

/// D1 returns every number as a JS double; ids stay well inside 2^53.
pub fn integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let value = f64::deserialize(deserializer)?;
    #[expect(
        clippy::cast_possible_truncation,
        reason = "ids and versions are < 2^53"
    )]
    Ok(value as i64)
}

#[derive(Deserialize)]
struct UserRow {
    #[serde(deserialize_with = "integer")]
    id: i64,
    username: String,
    email: String,
    #[serde(deserialize_with = "flag")]
    is_staff: bool,
    date_joined: String,
}

impl UserRow {
    fn into_replica(self) -> UserReplica {
        UserReplica {
            id: UserId::new(self.id),
            username: self.username,
            email: self.email,
            is_staff: self.is_staff,
            date_joined: self.date_joined,
        }
    }
}

/// Whether the account with this id exists, as a statement a read carries in its own batch
/// (see [`crate::auth::Owner`]); [`account_found`] reads its answer.
pub fn account_lookup(id: UserId) -> Statement {
    Statement::new(
        "SELECT EXISTS (SELECT 1 FROM users WHERE id = ?1) AS found",
        vec![id.into()],
    )
}

/// The answer to [`account_lookup`].
pub fn account_found(rows: impl Rows) -> Result<bool, PortError> {
    let rows: Vec<Exists> = rows.decode()?;
    Ok(rows.first().is_some_and(|row| row.found != 0))
}

/// The user with this id, if the replica has them.
pub async fn find_user(
    replica: &impl Replica,
    id: UserId,
) -> Result<Option<UserReplica>, PortError> {
    let rows: Vec<UserRow> = replica
        .query(Statement::new(
            "SELECT id, username, email, is_staff, date_joined FROM users WHERE id = ?1",
            vec![id.into()],
        ))
        .await?;
    Ok(rows.into_iter().next().map(UserRow::into_replica))
}

#[derive(Deserialize)]
struct Exists {
    #[serde(deserialize_with = "integer")]
    found: i64,
}

/// Whether a token id is on the denylist.
pub async fn is_denied(replica: &impl Replica, jti: &str) -> Result<bool, PortError> {
    let rows: Vec<Exists> = replica
        .query(Statement::new(
            "SELECT EXISTS (SELECT 1 FROM token_denylist WHERE jti = ?1) AS found",
            vec![jti.into()],
        ))
        .await?;
    Ok(rows.first().is_some_and(|row| row.found != 0))
}

/// Cheapest possible query, for `/ready/`.
pub async fn ping(replica: &impl Replica) -> Result<(), PortError> {
    let _: Vec<Exists> = replica
        .query(Statement::new("SELECT 1 AS found", Vec::new()))
        .await?;
    Ok(())
}

/// Drops denylist entries whose tokens have expired (they fail verification on `exp`).
pub async fn prune_expired_denials(replica: &impl Replica, now: i64) -> Result<(), PortError> {
    replica
        .batch(vec![Statement::new(
            "DELETE FROM token_denylist WHERE expires_at < ?1",
            vec![now.into()],
        )])
        .await
}

/// Applies change records atomically.
pub async fn apply(replica: &impl Replica, changes: &[Change]) -> Result<(), PortError> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut statements = Vec::with_capacity(changes.len());
    for change in changes {
        statements.extend(statements_for(change)?);
    }
    replica.batch(statements).await
}

const TOMBSTONE: &str = "INSERT INTO tombstones (entity, entity_id, version) VALUES (?1, ?2, ?3) \
     ON CONFLICT (entity, entity_id) DO UPDATE SET version = excluded.version \
     WHERE excluded.version > tombstones.version";

fn tombstone(entity: Entity, id: impl Into<SqlValue>, version: i64) -> Statement {
    Statement::new(
        TOMBSTONE,
        vec![entity.name().into(), id.into(), version.into()],
    )
}

/// Search matches lower-cased text; SQLite's `lower()` folds ASCII only, so the edge folds.
pub fn fold(text: &str) -> String {
    text.to_lowercase()
}

fn statements_for(change: &Change) -> Result<Vec<Statement>, PortError> {
    let v = change.version;
    Ok(match &change.kind {
        ChangeKind::UserUpsert(user) => vec![upsert_user(user, v)],
        ChangeKind::UserDelete { id } => delete(Entity::User, id.get(), v),
        ChangeKind::TokenDeny { jti, expires_at } => vec![Statement::new(
            "INSERT INTO token_denylist (jti, expires_at, version) VALUES (?1, ?2, ?3) \
             ON CONFLICT (jti) DO NOTHING",
            vec![jti.clone().into(), (*expires_at).into(), v.into()],
        )],
        ChangeKind::ProjectUpsert(project) => vec![upsert_project(project, v)],
        ChangeKind::ProjectDelete { id } => delete(Entity::Project, id.get(), v),
        ChangeKind::TaskUpsert(task) => vec![upsert_task(task, v)],
        ChangeKind::TaskDelete { id } => delete(Entity::Task, id.get(), v),
        ChangeKind::AttachmentUpsert(attachment) => vec![upsert_attachment(attachment, v)],
        ChangeKind::AttachmentDelete { id } => delete(Entity::Attachment, id.get(), v),
        ChangeKind::ProductUpsert(product) => vec![upsert_product(product, v)],
        ChangeKind::ProductDelete { id } => delete(Entity::Product, id.get(), v),
        ChangeKind::OrderUpsert(order) => vec![upsert_order(order, v)?],
        ChangeKind::OrderDelete { id } => delete(Entity::Order, id.get(), v),
    })
}

/// What deleting a row of `entity` removes, children first: a user takes their attachments,
/// tasks and projects with them, a project its attachments and tasks (as Postgres's foreign
/// keys cascade). A user's orders stay (they are the shop's records): the origin detaches them
/// with upserts of their own. Each pair is a table and the column that holds the deleted id.
fn cascade(entity: Entity) -> &'static [(&'static str, &'static str)] {
    match entity {
        Entity::User => &[
            ("attachments", "owner_id"),
            ("tasks", "owner_id"),
            ("projects", "owner_id"),
            ("users", "id"),
        ],
        Entity::Project => &[
            ("attachments", "project_id"),
            ("tasks", "project_id"),
            ("projects", "id"),
        ],
        Entity::Task => &[("tasks", "id")],
        Entity::Attachment => &[("attachments", "id")],
        Entity::Product => &[("products", "id")],
        Entity::Order => &[("orders", "id")],
    }
}

/// The tombstone, then every row the deletion cascades to that is older than it.
fn delete(entity: Entity, id: i64, version: i64) -> Vec<Statement> {
    let mut statements = vec![tombstone(entity, id, version)];
    statements.extend(cascade(entity).iter().map(|(table, column)| {
        Statement::new(
            format!("DELETE FROM {table} WHERE {column} = ?1 AND version < ?2"),
            vec![id.into(), version.into()],
        )
    }));
    statements
}

fn upsert_user(user: &UserReplica, v: i64) -> Statement {
    Statement::new(
        "INSERT INTO users (id, username, email, is_staff, date_joined, version) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6 \
         WHERE NOT EXISTS (SELECT 1 FROM tombstones \
                           WHERE entity = 'user' AND entity_id = ?1 AND version >= ?6) \
         ON CONFLICT (id) DO UPDATE SET username = excluded.username, \
             email = excluded.email, is_staff = excluded.is_staff, \
             date_joined = excluded.date_joined, version = excluded.version \
         WHERE excluded.version > users.version",
        vec![
            user.id.into(),
            user.username.clone().into(),
            user.email.clone().into(),
            user.is_staff.into(),
            user.date_joined.clone().into(),
            v.into(),
        ],
    )
}

/// Lands unless the project, or its owner, was deleted at a later version.
fn upsert_project(project: &Project, v: i64) -> Statement {
    Statement::new(
        "INSERT INTO projects (id, owner_id, name, description, is_archived, created_at, \
                               name_folded, description_folded, version) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 \
         WHERE NOT EXISTS (SELECT 1 FROM tombstones WHERE version >= ?9 AND \
             ((entity = 'project' AND entity_id = ?1) OR (entity = 'user' AND entity_id = ?2))) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
             description = excluded.description, is_archived = excluded.is_archived, \
             name_folded = excluded.name_folded, \
             description_folded = excluded.description_folded, version = excluded.version \
         WHERE excluded.version > projects.version",
        vec![
            project.id.into(),
            project.owner.into(),
            project.name.clone().into(),
            project.description.clone().into(),
            project.is_archived.into(),
            project.created_at.clone().into(),
            fold(&project.name).into(),
            fold(&project.description).into(),
            v.into(),
        ],
    )
}

/// Lands unless the task, its project or its owner was deleted at a later version.
fn upsert_task(replica: &TaskReplica, v: i64) -> Statement {
    let task = &replica.task;
    Statement::new(
        "INSERT INTO tasks (id, project_id, owner_id, title, detail, done, due_date, \
                            created_at, title_folded, detail_folded, version, due_sort) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, coalesce(?7, '9999-99-99') \
         WHERE NOT EXISTS (SELECT 1 FROM tombstones WHERE version >= ?11 AND \
             ((entity = 'task' AND entity_id = ?1) OR (entity = 'project' AND entity_id = ?2) \
              OR (entity = 'user' AND entity_id = ?3))) \
         ON CONFLICT (id) DO UPDATE SET project_id = excluded.project_id, \
             title = excluded.title, detail = excluded.detail, done = excluded.done, \
             due_date = excluded.due_date, due_sort = excluded.due_sort, \
             title_folded = excluded.title_folded, \
             detail_folded = excluded.detail_folded, version = excluded.version \
         WHERE excluded.version > tasks.version",
        vec![
            task.id.into(),
            task.project.into(),
            replica.owner.into(),
            task.title.clone().into(),
            task.detail.clone().into(),
            task.done.into(),
            task.due_date.into(),
            task.created_at.clone().into(),
            fold(&task.title).into(),
            fold(&task.detail).into(),
            v.into(),
        ],
    )
}

/// Lands unless the attachment, its project or its owner was deleted at a later version.
/// (Attachments never change once stored; a resync may write one again.)
fn upsert_attachment(replica: &AttachmentReplica, v: i64) -> Statement {
    let attachment = &replica.attachment;
    Statement::new(
        "INSERT INTO attachments (id, project_id, owner_id, storage_key, filename, size, \
                                  content_type, checksum, created_at, version) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 \
         WHERE NOT EXISTS (SELECT 1 FROM tombstones WHERE version >= ?10 AND \
             ((entity = 'attachment' AND entity_id = ?1) \
              OR (entity = 'project' AND entity_id = ?2) \
              OR (entity = 'user' AND entity_id = ?3))) \
         ON CONFLICT (id) DO UPDATE SET project_id = excluded.project_id, \
             owner_id = excluded.owner_id, storage_key = excluded.storage_key, \
             filename = excluded.filename, size = excluded.size, \
             content_type = excluded.content_type, checksum = excluded.checksum, \
             created_at = excluded.created_at, version = excluded.version \
         WHERE excluded.version > attachments.version",
        vec![
            attachment.id.get().into(),
            attachment.project.into(),
            replica.owner.into(),
            attachment.storage_key.clone().into(),
            attachment.filename.clone().into(),
            attachment.size.into(),
            attachment.content_type.clone().into(),
            attachment.checksum.clone().into(),
            attachment.created_at.clone().into(),
            v.into(),
        ],
    )
}

/// Lands unless the product was deleted at a later version.
fn upsert_product(product: &Product, v: i64) -> Statement {
    Statement::new(
        "INSERT INTO products (id, name, price_cents, currency, active, version) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6 \
         WHERE NOT EXISTS (SELECT 1 FROM tombstones \
                           WHERE entity = 'product' AND entity_id = ?1 AND version >= ?6) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
             price_cents = excluded.price_cents, currency = excluded.currency, \
             active = excluded.active, version = excluded.version \
         WHERE excluded.version > products.version",
        vec![
            product.id.into(),
            product.name.clone().into(),
            product.price_cents.into(),
            product.currency.as_str().into(),
            product.active.into(),
            v.into(),
        ],
    )
}

/// Lands unless the order was deleted at a later version. Its owner's deletion does not
/// matter: orders outlive accounts.
fn upsert_order(replica: &OrderReplica, v: i64) -> Result<Statement, PortError> {
    let order = &replica.order;
    let items = serde_json::to_string(&order.items)
        .map_err(|e| PortError::caused_by("encoding an order's items", e))?;
    Ok(Statement::new(
        "INSERT INTO orders (id, owner_id, token_digest, email, items, total_cents, currency, \
                             status, created_at, version) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 \
         WHERE NOT EXISTS (SELECT 1 FROM tombstones \
                           WHERE entity = 'order' AND entity_id = ?1 AND version >= ?10) \
         ON CONFLICT (id) DO UPDATE SET owner_id = excluded.owner_id, \
             token_digest = excluded.token_digest, email = excluded.email, \
             items = excluded.items, total_cents = excluded.total_cents, \
             currency = excluded.currency, status = excluded.status, \
             version = excluded.version \
         WHERE excluded.version > orders.version",
        vec![
            order.id.into(),
            replica.owner.into(),
            replica.token_digest.clone().into(),
            order.email.clone().into(),
            items.into(),
            order.total_cents.into(),
            order.currency.as_str().into(),
            order.status.as_str().into(),
            order.created_at.clone().into(),
            v.into(),
        ],
    ))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Row {
        #[serde(deserialize_with = "super::flag")]
        flag: bool,
    }

    fn flag(json: &str) -> Result<bool, serde_json::Error> {
        serde_json::from_str::<Row>(&format!(r#"{{"flag": {json}}}"#)).map(|row| row.flag)
    }

    #[test]
    fn a_flag_is_a_boolean_or_a_number_and_nothing_else() {
        for (json, expected) in [("true", true), ("false", false), ("1", true), ("0", false)] {
            assert_eq!(flag(json).unwrap(), expected, "{json}");
        }
        assert!(flag("1.0").unwrap() && !flag("0.0").unwrap() && flag("-1").unwrap());
        for refused in [r#""1""#, "null", "[]"] {
            assert!(flag(refused).is_err(), "{refused}");
        }
    }
}
