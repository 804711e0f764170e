//! Attachments in the replica: applying their records (with their project's and owner's
//! deletions), and the R2 keys a batch dooms, read before it is applied.

#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    reason = "tests fail loudly and read top to bottom"
)]

mod support;

use std::collections::BTreeSet;

use domain::ids::AttachmentId;
use domain::projects::{Attachment, Project};
use domain::replication::{AttachmentReplica, Change, ChangeKind, Entity, UserReplica};
use domain::signing::{self, Direction, SignedParts};
use domain::wire::{RowVersions, VersionsRequest};
use domain::{ProjectId, UserId, paths};
use edge::http::Request;
use pretty_assertions::assert_eq;
use serde_json::json;
use support::{CountingReplica, NOW, ORIGIN_SECRET, SqliteReplica, TestEdge, body};

const ALICE: i64 = 1;
const BOB: i64 = 2;
/// Alice's projects 10 and 11, Bob's 20.
const PROJECTS: [(i64, i64); 3] = [(10, ALICE), (11, ALICE), (20, BOB)];

fn key(id: i64) -> String {
    format!("attachments/2025/06/{id:032x}")
}

fn attachment(version: i64, id: i64, project: i64, owner: i64) -> Change {
    Change {
        version,
        owner: None,
        kind: ChangeKind::AttachmentUpsert(AttachmentReplica {
            attachment: Attachment {
                id: AttachmentId::new(id),
                project: ProjectId::new(project),
                storage_key: key(id),
                filename: format!("file-{id}.txt"),
                size: 100 + id,
                content_type: "text/plain".into(),
                checksum: format!("{id:064x}"),
                created_at: format!("2025-06-01T00:00:{:02}.000000Z", id % 60),
            },
            owner: UserId::new(owner),
        }),
    }
}

fn delete(version: i64, entity: Entity, id: i64) -> Change {
    Change {
        version,
        owner: None,
        kind: entity.delete(id),
    }
}

async fn apply(replica: &SqliteReplica, changes: &[Change]) {
    edge::replica::apply(replica, changes).await.unwrap();
}

/// Alice and Bob, their projects, and attachments 1 and 2 in project 10, 3 in 11, 4 in 20
/// (versions 100 and up).
async fn seeded() -> SqliteReplica {
    let replica = SqliteReplica::new();
    let mut changes = Vec::new();
    for (id, name) in [(ALICE, "alice"), (BOB, "bob")] {
        changes.push(Change {
            version: id,
            owner: None,
            kind: ChangeKind::UserUpsert(UserReplica {
                id: UserId::new(id),
                username: name.into(),
                email: format!("{name}@example.com"),
                is_staff: false,
                date_joined: "2025-01-01T00:00:00.000000Z".into(),
            }),
        });
    }
    for (id, owner) in PROJECTS {
        changes.push(Change {
            version: id,
            owner: None,
            kind: ChangeKind::ProjectUpsert(Project {
                id: ProjectId::new(id),
                owner: UserId::new(owner),
                name: format!("p{id}"),
                description: String::new(),
                is_archived: false,
                created_at: "2025-01-01T00:00:00.000000Z".into(),
            }),
        });
    }
    changes.extend([
        attachment(101, 1, 10, ALICE),
        attachment(102, 2, 10, ALICE),
        attachment(103, 3, 11, ALICE),
        attachment(104, 4, 20, BOB),
    ]);
    apply(&replica, &changes).await;
    replica
}

fn ids(replica: &SqliteReplica) -> Vec<i64> {
    replica
        .rows("SELECT id FROM attachments ORDER BY id")
        .iter()
        .map(|row| row["id"].as_i64().unwrap())
        .collect()
}

fn stored_keys(replica: &SqliteReplica) -> BTreeSet<String> {
    replica
        .rows("SELECT storage_key FROM attachments")
        .iter()
        .map(|row| row["storage_key"].as_str().unwrap().to_owned())
        .collect()
}

/// The keys applying `changes` leaves without a row: those stored or brought before, and not
/// stored after. `doomed_keys`, asked before, must name exactly these, each once.
async fn assert_doomed_are_what_apply_removes(
    replica: &SqliteReplica,
    changes: &[Change],
) -> Vec<String> {
    let doomed = edge::replica::doomed_keys(replica, changes).await.unwrap();
    let mut before = stored_keys(replica);
    for change in changes {
        if let ChangeKind::AttachmentUpsert(a) = &change.kind {
            before.insert(a.attachment.storage_key.clone());
        }
    }
    apply(replica, changes).await;
    let after = stored_keys(replica);
    let removed: BTreeSet<String> = before.difference(&after).cloned().collect();
    let unique: BTreeSet<String> = doomed.iter().cloned().collect();
    assert_eq!(unique.len(), doomed.len(), "each key once: {doomed:?}");
    assert_eq!(unique, removed, "doomed keys are the keys applying removed");
    doomed
}

#[tokio::test]
async fn an_upsert_stores_every_field_for_the_owner_and_is_idempotent() {
    let replica = seeded().await;
    let rows = replica.rows(
        "SELECT id, project_id, owner_id, storage_key, filename, size, content_type, checksum, \
                created_at, version FROM attachments WHERE id = 4",
    );
    assert_eq!(
        rows,
        vec![json!({
            "id": 4, "project_id": 20, "owner_id": BOB, "storage_key": key(4),
            "filename": "file-4.txt", "size": 104, "content_type": "text/plain",
            "checksum": format!("{:064x}", 4), "created_at": "2025-06-01T00:00:04.000000Z",
            "version": 104,
        })]
    );
    // Again, and an older record of it: nothing changes.
    apply(&replica, &[attachment(104, 4, 20, BOB)]).await;
    let mut older = attachment(50, 4, 20, BOB);
    if let ChangeKind::AttachmentUpsert(a) = &mut older.kind {
        a.attachment.filename = "stale.txt".into();
    }
    apply(&replica, &[older]).await;
    assert_eq!(
        replica.rows("SELECT filename, version FROM attachments WHERE id = 4"),
        vec![json!({"filename": "file-4.txt", "version": 104})]
    );
    assert_eq!(ids(&replica), [1, 2, 3, 4]);
}

#[tokio::test]
async fn a_delete_removes_the_row_and_a_late_upsert_stays_dead() {
    let replica = seeded().await;
    apply(&replica, &[delete(200, Entity::Attachment, 2)]).await;
    assert_eq!(ids(&replica), [1, 3, 4]);
    apply(&replica, &[attachment(102, 2, 10, ALICE)]).await;
    assert_eq!(
        ids(&replica),
        [1, 3, 4],
        "the tombstone refuses the late upsert"
    );
    // An older delete removes nothing newer.
    apply(&replica, &[delete(50, Entity::Attachment, 1)]).await;
    assert_eq!(ids(&replica), [1, 3, 4]);
}

#[tokio::test]
async fn a_projects_deletion_takes_its_attachments_only() {
    let replica = seeded().await;
    apply(&replica, &[delete(200, Entity::Project, 10)]).await;
    assert_eq!(ids(&replica), [3, 4]);
    // An upsert of one of them, older than the deletion, arriving late: refused.
    apply(&replica, &[attachment(150, 1, 10, ALICE)]).await;
    assert_eq!(ids(&replica), [3, 4]);
}

#[tokio::test]
async fn a_users_deletion_takes_their_attachments_only() {
    let replica = seeded().await;
    apply(&replica, &[delete(200, Entity::User, ALICE)]).await;
    assert_eq!(ids(&replica), [4], "Bob's stays");
    assert_eq!(
        replica.rows("SELECT count(*) AS n FROM projects WHERE owner_id = 1"),
        vec![json!({"n": 0})]
    );
    apply(&replica, &[attachment(150, 5, 11, ALICE)]).await;
    assert_eq!(
        ids(&replica),
        [4],
        "a late upsert of the deleted owner's is refused"
    );
}

#[tokio::test]
async fn doomed_keys_are_those_the_deletions_remove() {
    let cases: Vec<(&str, Vec<Change>, Vec<String>)> = vec![
        (
            "an attachment's deletion",
            vec![delete(200, Entity::Attachment, 2)],
            vec![key(2)],
        ),
        (
            "a project's deletion",
            vec![delete(200, Entity::Project, 10)],
            vec![key(1), key(2)],
        ),
        (
            "a user's deletion",
            vec![delete(200, Entity::User, ALICE)],
            vec![key(1), key(2), key(3)],
        ),
        (
            "overlapping deletions name each key once",
            vec![
                delete(200, Entity::Attachment, 1),
                delete(201, Entity::Project, 10),
                delete(202, Entity::User, ALICE),
            ],
            vec![key(1), key(2), key(3)],
        ),
        (
            "deletions older than the rows remove nothing",
            vec![
                delete(50, Entity::Attachment, 1),
                delete(50, Entity::Project, 11),
                delete(50, Entity::User, BOB),
            ],
            Vec::new(),
        ),
        (
            "unknown ids",
            vec![
                delete(200, Entity::Attachment, 99),
                delete(200, Entity::Project, 99),
                delete(200, Entity::User, 99),
            ],
            Vec::new(),
        ),
        (
            "other changes",
            vec![delete(200, Entity::Task, 1), attachment(201, 5, 10, ALICE)],
            Vec::new(),
        ),
    ];
    for (case, changes, expected) in cases {
        let replica = seeded().await;
        let mut doomed = assert_doomed_are_what_apply_removes(&replica, &changes).await;
        doomed.sort();
        assert_eq!(doomed, expected, "{case}");
        // Applied: the same batch again dooms nothing more.
        let again = edge::replica::doomed_keys(&replica, &changes)
            .await
            .unwrap();
        assert_eq!(again, Vec::<String>::new(), "{case}, applied twice");
    }
}

#[tokio::test]
async fn an_upsert_that_will_not_stand_is_doomed_too() {
    // Created and its project deleted in one batch, before the edge had either.
    let replica = seeded().await;
    let doomed = assert_doomed_are_what_apply_removes(
        &replica,
        &[
            attachment(300, 7, 11, ALICE),
            delete(301, Entity::Project, 11),
        ],
    )
    .await;
    assert_eq!(doomed, [key(7), key(3)], "in the order of the batch");

    // The project's deletion applied first; the attachment's create arrives late.
    let replica = seeded().await;
    apply(&replica, &[delete(301, Entity::Project, 11)]).await;
    let doomed =
        assert_doomed_are_what_apply_removes(&replica, &[attachment(300, 7, 11, ALICE)]).await;
    assert_eq!(doomed, [key(7)]);

    // A delete older than the upsert does not cover it: it lands and nothing is doomed.
    let replica = seeded().await;
    let doomed = assert_doomed_are_what_apply_removes(
        &replica,
        &[
            delete(299, Entity::Attachment, 7),
            attachment(300, 7, 11, ALICE),
        ],
    )
    .await;
    assert_eq!(doomed, Vec::<String>::new());
    assert!(ids(&replica).contains(&7));
}

#[tokio::test]
async fn doomed_keys_cost_one_read_and_none_for_a_batch_without_attachments() {
    let replica = seeded().await;
    let counting = CountingReplica::new(&replica);
    let unrelated = [
        delete(200, Entity::Task, 1),
        delete(201, Entity::Product, 1),
    ];
    let doomed = edge::replica::doomed_keys(&counting, &unrelated)
        .await
        .unwrap();
    assert_eq!((doomed.len(), counting.reads.get()), (0, 0));

    let many = [
        delete(200, Entity::Attachment, 1),
        delete(201, Entity::Project, 11),
        delete(202, Entity::User, BOB),
        attachment(203, 8, 10, ALICE),
    ];
    let doomed = edge::replica::doomed_keys(&counting, &many).await.unwrap();
    assert_eq!(doomed, [key(1), key(3), key(4)]);
    assert_eq!(counting.reads.get(), 1, "one round trip");
}

fn versions_request(asked: &VersionsRequest) -> Request {
    let body = serde_json::to_vec(asked).unwrap();
    let parts = SignedParts {
        direction: Direction::OriginToEdge,
        method: "POST",
        path_and_query: paths::INTERNAL_VERSIONS,
        body: &body,
        timestamp: NOW,
        user_id: None,
        request_id: "audit-1",
        idempotency_key: None,
        nonce: None,
    };
    let mut request = Request::new("POST", paths::INTERNAL_VERSIONS)
        .with_header("content-type", "application/json");
    for (name, value) in signing::signed_headers(ORIGIN_SECRET.as_bytes(), &parts) {
        request = request.with_header(name, &value);
    }
    request.body = body;
    request
}

/// `check-edge` reads D1's attachments through `/internal/versions/` by the entity's table.
#[tokio::test]
async fn the_audit_reads_the_attachments_versions() {
    let edge = TestEdge::new();
    edge::replica::apply(
        &edge.replica,
        &[attachment(7, 1, 10, ALICE), attachment(9, 2, 10, ALICE)],
    )
    .await
    .unwrap();
    let response = edge
        .send(versions_request(&VersionsRequest::Rows {
            entity: Entity::Attachment,
            after: 0,
            limit: 100,
        }))
        .await;
    assert_eq!(response.status, 200);
    let page: RowVersions = serde_json::from_value(body(&response)).unwrap();
    assert_eq!(page.rows, [(1, 7), (2, 9)]);
}
