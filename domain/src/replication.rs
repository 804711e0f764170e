//! The change records that carry Postgres's truth to the edge's D1 replica.
//!
//! The origin writes a record in the same transaction as the change it describes; its version
//! comes from one global sequence. The edge applies records idempotently and only forward: a
//! row (or tombstone) with a newer version is never overwritten by an older record, so the
//! write-through on a response and the background push can arrive in any order, any number of
//! times, and leave D1 the same. Nothing secret (password hashes, raw tokens) is ever in a
//! record.

use serde::{Deserialize, Serialize};

use crate::ids::{AttachmentId, OrderId, ProductId, ProjectId, TaskId, UserId};
use crate::orders::{OrderReplica, Product};
use crate::projects::{Attachment, Project, Task};

/// One versioned change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub version: i64,
    /// The shard key: the user whose data this is, or `None` for what every shard gets (the
    /// catalogue, and orders without an owner). Absent on the wire when `None`, so a record
    /// written before the key existed reads as global.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<UserId>,
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
    UserDelete { id: UserId },
    /// A refresh token was blacklisted; the edge refuses it on `verify` until it expires.
    #[serde(rename = "token.deny")]
    TokenDeny { jti: String, expires_at: i64 },
    /// A project was created or changed.
    #[serde(rename = "project.upsert")]
    ProjectUpsert(Project),
    /// A project was deleted, and its tasks and attachments with it.
    #[serde(rename = "project.delete")]
    ProjectDelete { id: ProjectId },
    /// A task was created or changed (or moved to another project of the same owner).
    #[serde(rename = "task.upsert")]
    TaskUpsert(TaskReplica),
    /// A task was deleted.
    #[serde(rename = "task.delete")]
    TaskDelete { id: TaskId },
    /// An attachment's metadata was stored (its bytes are in R2 already).
    #[serde(rename = "attachment.upsert")]
    AttachmentUpsert(AttachmentReplica),
    /// An attachment was deleted (the edge removes its bytes from R2).
    #[serde(rename = "attachment.delete")]
    AttachmentDelete { id: AttachmentId },
    /// A product was added or changed (products are retired with `active: false`, not
    /// deleted: orders refer to them).
    #[serde(rename = "product.upsert")]
    ProductUpsert(Product),
    /// A product was deleted (an operator's cleanup of one no order refers to).
    #[serde(rename = "product.delete")]
    ProductDelete { id: ProductId },
    /// An order was placed or changed (its status, or its owner's account deleted).
    #[serde(rename = "order.upsert")]
    OrderUpsert(OrderReplica),
    /// An order was deleted.
    #[serde(rename = "order.delete")]
    OrderDelete { id: OrderId },
}

/// A replicated kind of row. Its name is the prefix of its change kinds (`project.upsert`), the
/// entity of its tombstones, and (plural) its table on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Entity {
    User,
    Project,
    Task,
    Attachment,
    Product,
    Order,
}

impl Entity {
    /// Every replicated kind of row, parents first.
    pub const ALL: [Self; 6] = [
        Self::User,
        Self::Project,
        Self::Task,
        Self::Attachment,
        Self::Product,
        Self::Order,
    ];

    /// The name in change kinds and tombstones.
    pub const fn name(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Project => "project",
            Self::Task => "task",
            Self::Attachment => "attachment",
            Self::Product => "product",
            Self::Order => "order",
        }
    }

    /// The table holding these rows, in Postgres and in D1.
    pub const fn table(self) -> &'static str {
        match self {
            Self::User => "users",
            Self::Project => "projects",
            Self::Task => "tasks",
            Self::Attachment => "attachments",
            Self::Product => "products",
            Self::Order => "orders",
        }
    }

    /// The change kind that writes one of these rows (`user.upsert`, …), as it is stored.
    pub const fn upsert_kind(self) -> &'static str {
        match self {
            Self::User => "user.upsert",
            Self::Project => "project.upsert",
            Self::Task => "task.upsert",
            Self::Attachment => "attachment.upsert",
            Self::Product => "product.upsert",
            Self::Order => "order.upsert",
        }
    }

    /// The change kind that deletes one of these rows (`user.delete`, …), as it is stored.
    pub const fn delete_kind(self) -> &'static str {
        match self {
            Self::User => "user.delete",
            Self::Project => "project.delete",
            Self::Task => "task.delete",
            Self::Attachment => "attachment.delete",
            Self::Product => "product.delete",
            Self::Order => "order.delete",
        }
    }

    /// The change that deletes the row with this id.
    pub fn delete(self, id: i64) -> ChangeKind {
        match self {
            Self::User => ChangeKind::UserDelete {
                id: UserId::new(id),
            },
            Self::Project => ChangeKind::ProjectDelete {
                id: ProjectId::new(id),
            },
            Self::Task => ChangeKind::TaskDelete {
                id: TaskId::new(id),
            },
            Self::Attachment => ChangeKind::AttachmentDelete {
                id: AttachmentId::new(id),
            },
            Self::Product => ChangeKind::ProductDelete {
                id: ProductId::new(id),
            },
            Self::Order => ChangeKind::OrderDelete {
                id: OrderId::new(id),
            },
        }
    }
}

impl ChangeKind {
    /// The kind of row this change writes or deletes (a denied token is no row: `None`).
    pub fn entity(&self) -> Option<Entity> {
        match self {
            Self::UserUpsert(_) | Self::UserDelete { .. } => Some(Entity::User),
            Self::ProjectUpsert(_) | Self::ProjectDelete { .. } => Some(Entity::Project),
            Self::TaskUpsert(_) | Self::TaskDelete { .. } => Some(Entity::Task),
            Self::AttachmentUpsert(_) | Self::AttachmentDelete { .. } => Some(Entity::Attachment),
            Self::ProductUpsert(_) | Self::ProductDelete { .. } => Some(Entity::Product),
            Self::OrderUpsert(_) | Self::OrderDelete { .. } => Some(Entity::Order),
            Self::TokenDeny { .. } => None,
        }
    }
}

/// A task with its project's owner, so the edge filters by owner without a join.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskReplica {
    #[serde(flatten)]
    pub task: Task,
    pub owner: UserId,
}

/// An attachment with its project's owner, so the edge filters by owner without a join (and
/// removes it with its owner's account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentReplica {
    #[serde(flatten)]
    pub attachment: Attachment,
    pub owner: UserId,
}

/// A user as the edge may know them: exactly the public `me` representation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserReplica {
    #[cfg_attr(feature = "openapi", schema(value_type = i64, read_only))]
    pub id: UserId,
    pub username: String,
    #[cfg_attr(feature = "openapi", schema(format = Email))]
    pub email: String,
    pub is_staff: bool,
    /// RFC 3339, UTC.
    #[cfg_attr(feature = "openapi", schema(format = DateTime, read_only))]
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
    use crate::orders::{Currency, Order, OrderStatus, token_digest};
    use serde_json::json;

    #[test]
    fn changes_have_a_stable_wire_format() {
        let change = Change {
            version: 42,
            owner: None,
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

    /// The shard key sits beside `kind` and `data` and is left out when global, so records
    /// written before it (and global ones) read as they always did.
    #[test]
    fn the_owner_is_on_the_wire_only_when_there_is_one() {
        let cases = [
            (
                json!({"version": 3, "kind": "task.delete", "data": {"id": 9}}),
                Change {
                    version: 3,
                    owner: None,
                    kind: ChangeKind::TaskDelete { id: TaskId::new(9) },
                },
                "a record without an owner",
            ),
            (
                json!({"version": 3, "owner": 1, "kind": "task.delete", "data": {"id": 9}}),
                Change {
                    version: 3,
                    owner: Some(UserId::new(1)),
                    kind: ChangeKind::TaskDelete { id: TaskId::new(9) },
                },
                "a deletion's owner",
            ),
            (
                json!({"version": 3, "owner": 1, "kind": "user.upsert", "data": user()}),
                Change {
                    version: 3,
                    owner: Some(UserId::new(1)),
                    kind: ChangeKind::UserUpsert(user()),
                },
                "an upsert's owner, beside its data's own fields",
            ),
        ];
        for (wire, change, case) in cases {
            let parsed: Change =
                serde_json::from_value(wire.clone()).unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(parsed, change, "{case}: parsed");
            assert_eq!(
                serde_json::to_value(&change).unwrap(),
                wire,
                "{case}: written"
            );
        }
        // An explicit null is global too.
        let null =
            json!({"version": 3, "owner": null, "kind": "product.delete", "data": {"id": 4}});
        assert_eq!(serde_json::from_value::<Change>(null).unwrap().owner, None);
    }

    /// A reader built before the key (an edge deployed before its origin) still reads records
    /// that carry it.
    #[test]
    fn a_reader_without_the_owner_reads_records_with_one() {
        #[derive(Debug, Deserialize)]
        struct Before {
            version: i64,
            #[serde(flatten)]
            kind: ChangeKind,
        }
        let wire = json!({"version": 3, "owner": 1, "kind": "task.delete", "data": {"id": 9}});
        let read: Before = serde_json::from_value(wire).unwrap();
        assert_eq!(
            (read.version, read.kind),
            (3, ChangeKind::TaskDelete { id: TaskId::new(9) })
        );
    }

    fn user() -> UserReplica {
        UserReplica {
            id: UserId::new(1),
            username: "a".into(),
            email: "a@example.com".into(),
            is_staff: false,
            date_joined: "2025-01-01T00:00:00.000000Z".into(),
        }
    }

    /// The serde tags are written as attributes; this holds them to the entity names the audit
    /// queries and the edge's tombstones use.
    #[test]
    fn change_kind_names_follow_their_entity() {
        let user = user();
        let project = Project {
            id: ProjectId::new(2),
            owner: UserId::new(1),
            name: "p".into(),
            description: String::new(),
            is_archived: false,
            created_at: "2025-01-01T00:00:00.000000Z".into(),
        };
        let task = TaskReplica {
            task: Task {
                id: TaskId::new(3),
                project: ProjectId::new(2),
                title: "t".into(),
                detail: String::new(),
                done: false,
                due_date: None,
                created_at: "2025-01-01T00:00:00.000000Z".into(),
            },
            owner: UserId::new(1),
        };
        let attachment = AttachmentReplica {
            attachment: Attachment {
                id: AttachmentId::new(6),
                project: ProjectId::new(2),
                storage_key: "attachments/2025/01/0123456789abcdef0123456789abcdef".into(),
                filename: "a.txt".into(),
                size: 1,
                content_type: "text/plain".into(),
                checksum: "0".repeat(64),
                created_at: "2025-01-01T00:00:00.000000Z".into(),
            },
            owner: UserId::new(1),
        };
        let product = Product {
            id: ProductId::new(4),
            name: "Mug".into(),
            price_cents: 500,
            currency: Currency::parse("usd").unwrap(),
            active: true,
        };
        let order = OrderReplica {
            order: Order {
                id: OrderId::new(5),
                email: "a@example.com".into(),
                items: Vec::new(),
                total_cents: 0,
                currency: Currency::parse("usd").unwrap(),
                status: OrderStatus::Pending,
                created_at: "2025-01-01T00:00:00.000000Z".into(),
            },
            owner: None,
            token_digest: Some(token_digest("t")),
        };
        let upserts = [
            ChangeKind::UserUpsert(user),
            ChangeKind::ProjectUpsert(project),
            ChangeKind::TaskUpsert(task),
            ChangeKind::AttachmentUpsert(attachment),
            ChangeKind::ProductUpsert(product),
            ChangeKind::OrderUpsert(order),
        ];
        assert_eq!(upserts.len(), Entity::ALL.len(), "one upsert per entity");
        for (entity, upsert) in Entity::ALL.into_iter().zip(upserts) {
            assert_eq!(upsert.entity(), Some(entity));
            let tag = |kind: &ChangeKind| serde_json::to_value(kind).unwrap()["kind"].clone();
            assert_eq!(tag(&upsert), entity.upsert_kind());
            assert_eq!(entity.upsert_kind(), format!("{}.upsert", entity.name()));
            let delete = entity.delete(9);
            assert_eq!(delete.entity(), Some(entity));
            assert_eq!(tag(&delete), entity.delete_kind());
            assert_eq!(entity.delete_kind(), format!("{}.delete", entity.name()));
        }
    }

    #[test]
    fn an_attachment_record_is_its_metadata_and_owner() {
        let change = Change {
            version: 7,
            owner: Some(UserId::new(1)),
            kind: ChangeKind::AttachmentUpsert(AttachmentReplica {
                attachment: Attachment {
                    id: AttachmentId::new(3),
                    project: ProjectId::new(2),
                    storage_key: "attachments/2025/01/0123456789abcdef0123456789abcdef".into(),
                    filename: "a.txt".into(),
                    size: 12,
                    content_type: "text/plain".into(),
                    checksum: "ab".repeat(32),
                    created_at: "2025-01-01T00:00:00.000000Z".into(),
                },
                owner: UserId::new(1),
            }),
        };
        let wire = serde_json::to_value(&change).unwrap();
        assert_eq!(
            wire,
            json!({"version": 7, "owner": 1, "kind": "attachment.upsert", "data": {
                "id": 3, "project": 2,
                "storage_key": "attachments/2025/01/0123456789abcdef0123456789abcdef",
                "filename": "a.txt", "size": 12, "content_type": "text/plain",
                "checksum": "ab".repeat(32), "created_at": "2025-01-01T00:00:00.000000Z",
                "owner": 1}})
        );
        assert_eq!(serde_json::from_value::<Change>(wire).unwrap(), change);
        assert_eq!(
            serde_json::to_value(Entity::Attachment.delete(3)).unwrap(),
            json!({"kind": "attachment.delete", "data": {"id": 3}})
        );
    }

    #[test]
    fn a_user_record_has_no_room_for_secrets() {
        let user = user();
        let wire = serde_json::to_value(ChangeKind::UserUpsert(user)).unwrap();
        let text = wire.to_string();
        assert!(!text.contains("password"), "{text}");
    }
}
