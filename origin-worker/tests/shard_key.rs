//! The shard key on every change record (`replication_changes.owner_id`): the user whose data
//! it is, or none for what every shard gets. Every kind of write, the audit's repairs, and the
//! backfill of records written before the column.

#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    reason = "tests fail loudly and read top to bottom"
)]

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;
use domain::UserId;
use domain::orders::NewProduct;
use domain::paths;
use domain::replication::Entity;
use domain::wire::VersionsRequest;
use origin_worker::audit;
use origin_worker::orders::catalogue;
use origin_worker::payments;
use origin_worker::replication::push;
use serde_json::{Value, json};
use support::{Answer, TestOrigin, now, recording_edge};

const PASSWORD: &str = "a-fine-password";

/// The kinds of record the origin writes outside the audit (which also deletes products and
/// orders, rows no request deletes).
const KINDS_WRITTEN: [&str; 11] = [
    "user.upsert",
    "user.delete",
    "token.deny",
    "project.upsert",
    "project.delete",
    "task.upsert",
    "task.delete",
    "attachment.upsert",
    "attachment.delete",
    "product.upsert",
    "order.upsert",
];

/// Reads the outbox step by step: what each step wrote, as (kind, owner).
struct Outbox {
    seen: i64,
}

impl Outbox {
    fn new() -> Self {
        Self { seen: 0 }
    }

    /// Asserts that the records written since the last call are exactly `expected`, in order.
    async fn wrote(&mut self, origin: &TestOrigin, step: &str, expected: &[(&str, Option<i64>)]) {
        let rows: Vec<(i64, String, Option<i64>)> = sqlx::query_as(
            "SELECT version, change->>'kind', owner_id FROM replication_changes \
             WHERE version > $1 ORDER BY version",
        )
        .bind(self.seen)
        .fetch_all(&origin.db)
        .await
        .unwrap();
        if let Some((last, _, _)) = rows.last() {
            self.seen = *last;
        }
        let written: Vec<(&str, Option<i64>)> = rows
            .iter()
            .map(|(_, kind, owner)| (kind.as_str(), *owner))
            .collect();
        assert_eq!(written, expected, "{step}: (kind, owner) of its records");
    }
}

#[track_caller]
fn created(answer: &Answer) -> i64 {
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json);
    answer.body()["id"].as_i64().unwrap()
}

#[track_caller]
fn succeeded(answer: &Answer) {
    assert!(answer.status.is_success(), "{:?}", answer.json);
}

fn at(path: &str, id: i64) -> String {
    path.replace("{id}", &id.to_string())
}

async fn log_in(origin: &TestOrigin, username: &str) {
    let answer = origin
        .signed(
            "POST",
            paths::TOKEN_OBTAIN,
            &json!({"username": username, "password": PASSWORD}),
            None,
        )
        .await;
    succeeded(&answer);
}

async fn place_order(origin: &TestOrigin, buyer: Option<i64>, product: i64) -> (i64, i64) {
    let body =
        json!({"email": "buyer@example.com", "items": [{"product_id": product, "quantity": 2}]});
    let answer = origin.signed("POST", paths::ORDERS, &body, buyer).await;
    let id = created(&answer);
    (id, answer.body()["total_cents"].as_i64().unwrap())
}

/// Stores a `payment_intent.succeeded` for the order and applies it, as the webhook's job does.
async fn pay(origin: &TestOrigin, order: i64, total_cents: i64) {
    let event = format!("evt_pay_{order}");
    let payload = json!({"data": {"object": {
        "id": format!("pi_{order}"), "amount": total_cents, "currency": "usd",
        "metadata": {"order_id": order.to_string()},
    }}});
    let mut conn = origin.db.acquire().await.unwrap();
    payments::store::insert_event(
        &mut conn,
        &event,
        "payment_intent.succeeded",
        now(),
        &payload,
    )
    .await
    .unwrap();
    drop(conn);
    let outcome = payments::events::apply(&origin.state, &event)
        .await
        .unwrap();
    assert_eq!(outcome, format!("order {order} paid"));
}

/// Goes through every kind of write the origin records, asserting after each the kind and
/// owner of every record it wrote.
async fn every_kind_of_write(origin: &TestOrigin, outbox: &mut Outbox) {
    let (alice, alice_refresh, _) = origin.user("alice").await;
    outbox
        .wrote(origin, "registering", &[("user.upsert", Some(alice))])
        .await;
    let (bob, bob_refresh, _) = origin.user("bob").await;
    outbox
        .wrote(origin, "registering", &[("user.upsert", Some(bob))])
        .await;

    let refreshed = origin
        .signed(
            "POST",
            paths::TOKEN_REFRESH,
            &json!({"refresh": alice_refresh}),
            None,
        )
        .await;
    succeeded(&refreshed);
    outbox
        .wrote(
            origin,
            "refreshing denies the old token",
            &[("token.deny", Some(alice))],
        )
        .await;

    let alices_project = [("project.upsert", Some(alice))];
    let p = created(
        &origin
            .signed("POST", paths::PROJECTS, &json!({"name": "P"}), Some(alice))
            .await,
    );
    outbox
        .wrote(origin, "creating a project", &alices_project)
        .await;
    succeeded(
        &origin
            .signed(
                "PATCH",
                &at(paths::PROJECT, p),
                &json!({"name": "P2"}),
                Some(alice),
            )
            .await,
    );
    outbox
        .wrote(origin, "updating a project", &alices_project)
        .await;
    succeeded(
        &origin
            .signed(
                "POST",
                &at(paths::PROJECT_ARCHIVE, p),
                &json!({}),
                Some(alice),
            )
            .await,
    );
    outbox
        .wrote(origin, "archiving a project", &alices_project)
        .await;
    let other = created(
        &origin
            .signed("POST", paths::PROJECTS, &json!({"name": "Q"}), Some(alice))
            .await,
    );
    outbox
        .wrote(origin, "creating a project", &alices_project)
        .await;

    let task = created(
        &origin
            .signed(
                "POST",
                paths::TASKS,
                &json!({"project": p, "title": "T"}),
                Some(alice),
            )
            .await,
    );
    let alices_task = [("task.upsert", Some(alice))];
    outbox.wrote(origin, "creating a task", &alices_task).await;
    succeeded(
        &origin
            .signed(
                "PATCH",
                &at(paths::TASK, task),
                &json!({"done": true}),
                Some(alice),
            )
            .await,
    );
    outbox.wrote(origin, "updating a task", &alices_task).await;
    succeeded(
        &origin
            .signed(
                "PATCH",
                &at(paths::TASK, task),
                &json!({"project": other}),
                Some(alice),
            )
            .await,
    );
    outbox
        .wrote(origin, "moving a task to another project", &alices_task)
        .await;
    let doomed = created(
        &origin
            .signed(
                "POST",
                paths::TASKS,
                &json!({"project": other, "title": "D"}),
                Some(alice),
            )
            .await,
    );
    outbox.wrote(origin, "creating a task", &alices_task).await;
    let deleted = origin
        .signed("DELETE", &at(paths::TASK, doomed), &json!({}), Some(alice))
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    outbox
        .wrote(origin, "deleting a task", &[("task.delete", Some(alice))])
        .await;

    let attachment = |n: u32| {
        json!({
            "project": other, "storage_key": format!("attachments/2025/06/{n:032x}"),
            "filename": "a.txt", "size": 1, "content_type": "text/plain", "checksum": "0".repeat(64),
        })
    };
    created(
        &origin
            .signed("POST", paths::ATTACHMENTS, &attachment(1), Some(alice))
            .await,
    );
    outbox
        .wrote(
            origin,
            "storing an attachment",
            &[("attachment.upsert", Some(alice))],
        )
        .await;
    let removed = created(
        &origin
            .signed("POST", paths::ATTACHMENTS, &attachment(2), Some(alice))
            .await,
    );
    outbox
        .wrote(
            origin,
            "storing an attachment",
            &[("attachment.upsert", Some(alice))],
        )
        .await;
    let deleted = origin
        .signed(
            "DELETE",
            &at(paths::ATTACHMENT, removed),
            &json!({}),
            Some(alice),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    outbox
        .wrote(
            origin,
            "deleting an attachment",
            &[("attachment.delete", Some(alice))],
        )
        .await;

    // With its task and attachment: one record, the cascade is the edge's to repeat.
    let deleted = origin
        .signed(
            "DELETE",
            &at(paths::PROJECT, other),
            &json!({}),
            Some(alice),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    outbox
        .wrote(
            origin,
            "deleting a project",
            &[("project.delete", Some(alice))],
        )
        .await;

    // Someone else's writes are theirs, not the last writer's.
    let bobs = created(
        &origin
            .signed("POST", paths::PROJECTS, &json!({"name": "B"}), Some(bob))
            .await,
    );
    outbox
        .wrote(
            origin,
            "another user's project",
            &[("project.upsert", Some(bob))],
        )
        .await;
    created(
        &origin
            .signed(
                "POST",
                paths::TASKS,
                &json!({"project": bobs, "title": "T"}),
                Some(bob),
            )
            .await,
    );
    outbox
        .wrote(origin, "another user's task", &[("task.upsert", Some(bob))])
        .await;

    let demo = catalogue::seed_demo(&origin.state).await.unwrap();
    outbox
        .wrote(
            origin,
            "seeding the demo catalogue",
            &[("product.upsert", None); 4],
        )
        .await;
    let mug = catalogue::add(
        &origin.state,
        &NewProduct::parse("Mug", 1_250, "usd").unwrap(),
    )
    .await
    .unwrap();
    outbox
        .wrote(origin, "adding a product", &[("product.upsert", None)])
        .await;
    catalogue::set_active(&origin.state, demo[0].id, false)
        .await
        .unwrap()
        .unwrap();
    outbox
        .wrote(origin, "retiring a product", &[("product.upsert", None)])
        .await;

    let (bobs_order, total) = place_order(origin, Some(bob), mug.id.get()).await;
    outbox
        .wrote(origin, "a user's order", &[("order.upsert", Some(bob))])
        .await;
    place_order(origin, None, mug.id.get()).await;
    outbox
        .wrote(
            origin,
            "a guest's order goes to every shard",
            &[("order.upsert", None)],
        )
        .await;
    pay(origin, bobs_order, total).await;
    outbox
        .wrote(
            origin,
            "paying a user's order",
            &[("order.upsert", Some(bob))],
        )
        .await;

    let logged_out = origin
        .signed(
            "POST",
            paths::TOKEN_BLACKLIST,
            &json!({"refresh": bob_refresh}),
            None,
        )
        .await;
    succeeded(&logged_out);
    outbox
        .wrote(origin, "logging out", &[("token.deny", Some(bob))])
        .await;

    // A second session, so the account's deletion has a token left to deny.
    log_in(origin, "bob").await;
    let gone = origin
        .signed(
            "DELETE",
            paths::ME,
            &json!({"password": PASSWORD}),
            Some(bob),
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{:?}", gone.json);
    outbox
        .wrote(
            origin,
            "deleting an account: its tokens, itself, and its orders detached (every shard's)",
            &[
                ("token.deny", Some(bob)),
                ("user.delete", Some(bob)),
                ("order.upsert", None),
            ],
        )
        .await;
}

/// Records whose owner is not the one their data names: a user's, the user; a product's, none;
/// a denial's, the blacklisted token's user; another deletion's, the owner the row's last
/// upsert named; another upsert's, its `owner`.
const CONTRADICTIONS: &str = "SELECT count(*) FROM replication_changes c WHERE CASE \
       WHEN c.change->>'kind' IN ('user.upsert', 'user.delete') \
           THEN c.owner_id IS DISTINCT FROM (c.change->'data'->>'id')::bigint \
       WHEN c.change->>'kind' IN ('product.upsert', 'product.delete') \
           THEN c.owner_id IS NOT NULL \
       WHEN c.change->>'kind' = 'token.deny' THEN c.owner_id IS DISTINCT FROM \
           (SELECT b.user_id FROM blacklisted_tokens b WHERE b.jti = c.change->'data'->>'jti') \
       WHEN c.change->>'kind' LIKE '%.delete' THEN c.owner_id IS DISTINCT FROM \
           (SELECT (u.change->'data'->>'owner')::bigint FROM replication_changes u \
            WHERE u.change->>'kind' = split_part(c.change->>'kind', '.', 1) || '.upsert' \
              AND u.change->'data'->>'id' = c.change->'data'->>'id' AND u.version < c.version \
            ORDER BY u.version DESC LIMIT 1) \
       ELSE c.owner_id IS DISTINCT FROM (c.change->'data'->>'owner')::bigint END";

#[tokio::test]
async fn every_change_record_names_the_owner_whose_data_it_is() {
    let origin = TestOrigin::new().await;
    let mut outbox = Outbox::new();

    every_kind_of_write(&origin, &mut outbox).await;

    let kinds: BTreeSet<String> =
        sqlx::query_scalar("SELECT DISTINCT change->>'kind' FROM replication_changes")
            .fetch_all(&origin.db)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let expected: BTreeSet<String> = KINDS_WRITTEN.iter().map(|k| (*k).to_owned()).collect();
    assert_eq!(kinds, expected, "every kind of record was written");
    assert_eq!(origin.count(CONTRADICTIONS).await, 0);
    assert_eq!(
        origin
            .count("SELECT count(*) FROM replication_changes WHERE owner_id IS NULL AND change->>'kind' NOT IN ('product.upsert', 'order.upsert')")
            .await,
        0,
        "only products and ownerless orders are every shard's"
    );
}

/// What the stand-in edge's D1 holds: `(id, version)` per entity; its denylist is empty.
type Held = HashMap<Entity, BTreeMap<i64, i64>>;

/// A stand-in edge for the audit: takes every push and changes nothing, answers
/// `/internal/versions/` from [`Held`].
async fn frozen_edge() -> (String, Arc<Mutex<Held>>) {
    let held = Arc::new(Mutex::new(Held::new()));
    let read = held.clone();
    let app = Router::new()
        .route(
            paths::INTERNAL_REPLICATE,
            post(|| async { axum::Json(json!({"applied": 0})) }),
        )
        .route(
            paths::INTERNAL_VERSIONS,
            post(move |body: Bytes| {
                let held = read.clone();
                async move {
                    let held = held.lock().unwrap();
                    let answer = match serde_json::from_slice::<VersionsRequest>(&body).unwrap() {
                        VersionsRequest::Rows { entity, after, .. } => {
                            let rows: Vec<(i64, i64)> = held
                                .get(&entity)
                                .into_iter()
                                .flat_map(|t| t.range(after + 1..))
                                .map(|(id, v)| (*id, *v))
                                .collect();
                            json!({"rows": rows})
                        }
                        VersionsRequest::Denylist { .. } => json!({"jtis": []}),
                    };
                    axum::Json(answer)
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, held)
}

#[tokio::test]
async fn the_audits_repairs_name_the_owner_of_what_they_write() {
    let (edge, held) = frozen_edge().await;
    let origin = TestOrigin::with_edge(&edge).await;
    let (alice, alice_refresh, _) = origin.user("alice").await;
    let (bob, _, _) = origin.user("bob").await;
    let lost_delete = created(
        &origin
            .signed(
                "POST",
                paths::PROJECTS,
                &json!({"name": "Old"}),
                Some(alice),
            )
            .await,
    );
    let deleted = origin
        .signed(
            "DELETE",
            &at(paths::PROJECT, lost_delete),
            &json!({}),
            Some(alice),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let p = created(
        &origin
            .signed("POST", paths::PROJECTS, &json!({"name": "P"}), Some(alice))
            .await,
    );
    created(
        &origin
            .signed(
                "POST",
                paths::TASKS,
                &json!({"project": p, "title": "T"}),
                Some(alice),
            )
            .await,
    );
    let mug = catalogue::add(
        &origin.state,
        &NewProduct::parse("Mug", 1_250, "usd").unwrap(),
    )
    .await
    .unwrap();
    place_order(&origin, Some(bob), mug.id.get()).await;
    place_order(&origin, None, mug.id.get()).await;
    succeeded(
        &origin
            .signed(
                "POST",
                paths::TOKEN_BLACKLIST,
                &json!({"refresh": alice_refresh}),
                None,
            )
            .await,
    );
    // D1 lost everything but two projects: one whose deletion it missed, and one no record
    // ever named.
    let never_recorded = 999_999;
    held.lock().unwrap().insert(
        Entity::Project,
        BTreeMap::from([(lost_delete, 1), (never_recorded, 1)]),
    );
    let before = origin
        .count("SELECT max(version) FROM replication_changes")
        .await;

    let written = audit::resync(&origin.state, &reqwest::Client::new(), |_| {})
        .await
        .unwrap();

    let repairs: Vec<(String, Value, Option<i64>)> = sqlx::query_as(
        "SELECT change->>'kind', change->'data', owner_id FROM replication_changes \
         WHERE version > $1 ORDER BY version",
    )
    .bind(before)
    .fetch_all(&origin.db)
    .await
    .unwrap();
    assert_eq!(written, repairs.len());
    let mut found: Vec<(String, Option<i64>)> = repairs
        .iter()
        .map(|(kind, data, owner)| match kind.as_str() {
            "project.delete" => (format!("{kind} {}", data["id"]), *owner),
            _ => (kind.clone(), *owner),
        })
        .collect();
    found.sort();
    let mut expected = vec![
        ("order.upsert".to_owned(), None),
        ("order.upsert".to_owned(), Some(bob)),
        ("product.upsert".to_owned(), None),
        (format!("project.delete {lost_delete}"), Some(alice)),
        (format!("project.delete {never_recorded}"), None),
        ("project.upsert".to_owned(), Some(alice)),
        ("task.upsert".to_owned(), Some(alice)),
        ("token.deny".to_owned(), Some(alice)),
        ("user.upsert".to_owned(), Some(alice)),
        ("user.upsert".to_owned(), Some(bob)),
    ];
    expected.sort();
    assert_eq!(found, expected, "(kind, owner) of every repair");
    assert_eq!(origin.count(CONTRADICTIONS).await, 0);
}

#[tokio::test]
async fn the_backfill_gives_older_records_the_owners_the_origin_writes_now() {
    let origin = TestOrigin::new().await;
    every_kind_of_write(&origin, &mut Outbox::new()).await;
    let owners = "SELECT version, owner_id FROM replication_changes ORDER BY version";
    let written: Vec<(i64, Option<i64>)> =
        sqlx::query_as(owners).fetch_all(&origin.db).await.unwrap();
    // As the records written before the column had it.
    sqlx::query("UPDATE replication_changes SET owner_id = NULL")
        .execute(&origin.db)
        .await
        .unwrap();

    sqlx::raw_sql(include_str!(
        "../../migrations/postgres/0011_replication_owner_backfill.sql"
    ))
    .execute(&origin.db)
    .await
    .unwrap();

    let backfilled: Vec<(i64, Option<i64>)> =
        sqlx::query_as(owners).fetch_all(&origin.db).await.unwrap();
    assert_eq!(backfilled, written);
}

#[tokio::test]
async fn a_denial_whose_token_was_purged_is_backfilled_as_every_shards() {
    let origin = TestOrigin::new().await;
    let (alice, refresh, _) = origin.user("alice").await;
    succeeded(
        &origin
            .signed(
                "POST",
                paths::TOKEN_BLACKLIST,
                &json!({"refresh": refresh}),
                None,
            )
            .await,
    );
    let jti = origin.claims(&refresh).jti;
    sqlx::query("UPDATE replication_changes SET owner_id = NULL")
        .execute(&origin.db)
        .await
        .unwrap();
    sqlx::query("DELETE FROM blacklisted_tokens WHERE jti = $1")
        .bind(&jti)
        .execute(&origin.db)
        .await
        .unwrap();

    sqlx::raw_sql(include_str!(
        "../../migrations/postgres/0011_replication_owner_backfill.sql"
    ))
    .execute(&origin.db)
    .await
    .unwrap();

    let owners: Vec<(String, Option<i64>)> = sqlx::query_as(
        "SELECT change->>'kind', owner_id FROM replication_changes ORDER BY version",
    )
    .fetch_all(&origin.db)
    .await
    .unwrap();
    assert_eq!(
        owners,
        [
            ("user.upsert".to_owned(), Some(alice)),
            ("token.deny".to_owned(), None)
        ]
    );
}

#[tokio::test]
async fn the_shard_key_travels_with_each_record_in_the_reply_and_the_push() {
    let (edge, received) = recording_edge().await;
    let origin = TestOrigin::with_edge(&edge).await;
    let (alice, _, _) = origin.user("alice").await;
    catalogue::add(
        &origin.state,
        &NewProduct::parse("Mug", 1_250, "usd").unwrap(),
    )
    .await
    .unwrap();

    let answer = origin
        .signed("POST", paths::PROJECTS, &json!({"name": "P"}), Some(alice))
        .await;

    assert_eq!(answer.changes()[0]["owner"], json!(alice), "in the reply");
    push::push_pending(&origin.state, &reqwest::Client::new())
        .await
        .unwrap();
    let pushed: Vec<(String, Option<i64>)> = received
        .lock()
        .unwrap()
        .iter()
        .flat_map(|batch| batch.changes.iter())
        .map(|change| {
            let kind = serde_json::to_value(&change.kind).unwrap()["kind"].clone();
            (
                kind.as_str().unwrap().to_owned(),
                change.owner.map(UserId::get),
            )
        })
        .collect();
    assert_eq!(
        pushed,
        [
            ("user.upsert".to_owned(), Some(alice)),
            ("product.upsert".to_owned(), None),
            ("project.upsert".to_owned(), Some(alice)),
        ],
        "in the push"
    );
}
