//! The attachment endpoints. The edge has put the file in R2 before it forwards the create, so
//! a refusal here leaves an object for the edge to remove; a success answers with
//! `storage_key`, which the edge turns into a signed `file` URL.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use domain::ids::AttachmentId;
use domain::projects::NewAttachment;
use domain::replication::ChangeKind;
use domain::{ApiError, FieldErrors};
use serde_json::json;

use super::store::{self, STORAGE_KEY_TAKEN};
use crate::begin_write;
use crate::http::reply::{Failure, Reply};
use crate::http::signed::Signed;
use crate::projects::handlers::{finish, not_found};
use crate::projects::store::owns_project;
use crate::replication::outbox::NewChange;
use crate::state::AppState;

/// A second row for one stored object (a create sent again without its `Idempotency-Key`):
/// DRF's unique validator, on the field.
fn key_taken(error: sqlx::Error) -> Failure {
    match &error {
        sqlx::Error::Database(e) if e.constraint() == Some(STORAGE_KEY_TAKEN) => {
            Failure::Api(ApiError::Validation(FieldErrors::single(
                "storage_key",
                "attachment with this storage key already exists.",
            )))
        }
        _ => Failure::Database(error),
    }
}

/// `POST /api/v1/attachments/` → 201 with the metadata; `project` must be the caller's, else
/// 404 (the same for someone else's project and a missing one) and nothing stored.
///
/// A retry under the same `Idempotency-Key` uploads its bytes again, under a new key of the
/// edge's: the request is the same when everything but `storage_key` is (the same file, by its
/// checksum, for the same project), and the replay answers the first attachment, whose key the
/// edge recognises as not its new one (and removes the new copy).
pub async fn create_attachment(
    State(state): State<AppState>,
    mut signed: Signed,
) -> Result<Reply, Failure> {
    let owner = signed.user()?;
    let new = NewAttachment::from_body(&signed.json()?)?;
    signed.fingerprint = format!(
        "attachment:{}",
        json!([
            new.project,
            new.filename,
            new.size,
            new.content_type,
            new.checksum
        ])
    );
    let mut write = begin_write!(&state, &signed);
    // Locks the project until commit: a deletion running meanwhile waits, then takes the
    // attachment with it.
    if !owns_project(&mut write.tx, owner, new.project).await? {
        return Err(not_found("Project"));
    }
    let row = store::insert_attachment(&mut write.tx, &new)
        .await
        .map_err(key_taken)?;
    let replica = row.replica();
    let reply = Reply::new(StatusCode::CREATED, json!(replica.attachment));
    finish(write, NewChange::attachment(replica), reply).await
}

/// `DELETE /api/v1/attachments/{id}/` → 204 for the owner of its project, 404 for anyone else.
pub async fn delete_attachment(
    State(state): State<AppState>,
    Path(id): Path<String>,
    signed: Signed,
) -> Result<Reply, Failure> {
    let owner = signed.user()?;
    let id = AttachmentId::parse(&id).ok_or_else(|| not_found("Attachment"))?;
    let mut write = begin_write!(&state, &signed);
    store::attachment_for_update(&mut write.tx, owner, id)
        .await?
        .ok_or_else(|| not_found("Attachment"))?;
    let owner = store::delete_attachment(&mut write.tx, id).await?;
    let change = NewChange::owned_by(owner, ChangeKind::AttachmentDelete { id });
    finish(write, change, Reply::no_content()).await
}
