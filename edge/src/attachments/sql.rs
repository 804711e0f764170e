//! The SQL the edge sends D1 for attachments: the owner's list (optionally one project's),
//! one attachment, and the lookup of a download by its storage key. SQLite builds each
//! representation as JSON with `storage_key` in it; [`super::represent`] turns that into the
//! signed `file` URL.

use domain::ids::AttachmentId;
use domain::projects::Attachment;
use domain::query::Ordering;
use domain::{ProjectId, UserId};
use serde::Deserialize;

use crate::platform::Statement;
use crate::projects::sql::{Conditions, ListStatements, Window, json_object, list};

/// An attachment as the origin answers it, built by SQLite from the row aliased `a`.
fn attachment_json() -> String {
    json_object(Attachment::FIELDS, |field| match field {
        "project" => "a.project_id".to_owned(),
        "id" | "storage_key" | "filename" | "size" | "content_type" | "checksum" | "created_at" => {
            format!("a.{field}")
        }
        #[expect(
            clippy::unreachable,
            reason = "a static field list; the tests read every field"
        )]
        other => unreachable!("the attachment field `{other}` has no column in D1"),
    })
}

/// The attachments of `owner` (of one of their projects, if `project` is given).
pub fn attachment_list(
    owner: UserId,
    project: Option<ProjectId>,
    ordering: &Ordering,
    window: Window,
) -> ListStatements {
    let mut conditions = Conditions::default();
    conditions.compare("a.owner_id", "=", owner);
    if let Some(project) = project {
        conditions.compare("a.project_id", "=", project);
    }
    list(
        "attachments a",
        "a",
        &attachment_json(),
        conditions,
        ordering,
        window,
    )
}

/// One attachment of `owner`'s.
pub fn attachment_detail(owner: UserId, id: AttachmentId) -> Statement {
    Statement::new(
        format!(
            "SELECT {} AS json FROM attachments a WHERE a.id = ?1 AND a.owner_id = ?2",
            attachment_json()
        ),
        vec![id.into(), owner.into()],
    )
}

/// `n` is 1 when `owner` has this attachment.
pub fn attachment_owned(owner: UserId, id: AttachmentId) -> Statement {
    Statement::new(
        "SELECT count(*) AS n FROM attachments WHERE id = ?1 AND owner_id = ?2",
        vec![id.into(), owner.into()],
    )
}

/// What a download needs to know of the attachment stored under `key`.
#[derive(Debug, Deserialize)]
pub struct StoredRow {
    pub filename: String,
    pub size: i64,
    pub content_type: String,
    pub checksum: String,
}

pub fn stored(key: &str) -> Statement {
    Statement::new(
        "SELECT filename, size, content_type, checksum FROM attachments WHERE storage_key = ?1",
        vec![key.into()],
    )
}
