//! The catalogue and orders at the origin, on Postgres: prices snapshotted from the catalogue
//! in the order's transaction, guests' tokens, DRF-shaped refusals, idempotent retries, and
//! orders that outlive their user's account.

#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    reason = "tests fail loudly and read top to bottom"
)]

mod support;

use axum::http::StatusCode;
use domain::orders::{NewProduct, token_digest};
use origin_worker::orders::catalogue;
use serde_json::{Value, json};
use support::{TestOrigin, now, signed_request};

async fn product(origin: &TestOrigin, name: &str, price_cents: i64, currency: &str) -> i64 {
    let new = NewProduct::parse(name, price_cents, currency).unwrap();
    catalogue::add(&origin.state, &new).await.unwrap().id.get()
}

fn order_body(lines: &[(i64, i64)]) -> Value {
    let items: Vec<Value> = lines
        .iter()
        .map(|(product, quantity)| json!({"product_id": product, "quantity": quantity}))
        .collect();
    json!({"email": "buyer@Example.com", "items": items})
}

#[tokio::test]
async fn a_guest_order_snapshots_prices_and_returns_a_token_once() {
    let origin = TestOrigin::new().await;
    let mug = product(&origin, "Mug", 1_250, "usd").await;
    let sticker = product(&origin, "Sticker", 300, "USD").await;

    let answer = origin
        .signed(
            "POST",
            "/api/v1/orders/",
            &order_body(&[(mug, 2), (sticker, 3)]),
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json);
    let created = answer.body().clone();
    let token = created["order_token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 64, "256 random bits, hex");
    assert_eq!(
        json!({
            "email": created["email"], "items": created["items"], "total_cents": created["total_cents"],
            "currency": created["currency"], "status": created["status"], "paid": created["paid"],
        }),
        json!({
            "email": "buyer@example.com",
            "items": [
                {"product_id": mug, "name": "Mug", "quantity": 2, "unit_price_cents": 1_250, "line_total_cents": 2_500},
                {"product_id": sticker, "name": "Sticker", "quantity": 3, "unit_price_cents": 300, "line_total_cents": 900},
            ],
            "total_cents": 3_400, "currency": "usd", "status": "pending", "paid": false,
        })
    );
    // Postgres keeps the digest, never the token; the change record carries the digest too.
    let stored: (Option<i64>, String) =
        sqlx::query_as("SELECT user_id, token_digest FROM orders WHERE id = $1")
            .bind(created["id"].as_i64().unwrap())
            .fetch_one(&origin.db)
            .await
            .unwrap();
    assert_eq!(stored, (None, token_digest(&token)));
    let change = &answer.changes()[0];
    assert_eq!(change["kind"], "order.upsert");
    assert_eq!(change["data"]["token_digest"], json!(token_digest(&token)));
    assert!(
        !change.to_string().contains(&token),
        "the token left the origin in {change}"
    );

    // A later price change does not touch the placed order.
    sqlx::query("UPDATE products SET price_cents = 9999 WHERE id = $1")
        .bind(mug)
        .execute(&origin.db)
        .await
        .unwrap();
    let total: i64 = sqlx::query_scalar("SELECT sum(line_total_cents)::bigint FROM order_items")
        .fetch_one(&origin.db)
        .await
        .unwrap();
    assert_eq!(total, 3_400);
}

#[tokio::test]
async fn a_users_order_is_theirs_and_has_no_token() {
    let origin = TestOrigin::new().await;
    let (alice, _, _) = origin.user("alice").await;
    let mug = product(&origin, "Mug", 1_250, "usd").await;
    let answer = origin
        .signed(
            "POST",
            "/api/v1/orders/",
            &order_body(&[(mug, 1)]),
            Some(alice),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json);
    assert!(answer.body().get("order_token").is_none());
    assert_eq!(answer.changes()[0]["data"]["owner"], json!(alice));
    assert_eq!(answer.changes()[0]["data"]["token_digest"], json!(null));
}

#[tokio::test]
async fn unknown_retired_and_mixed_currency_products_are_refused_and_nothing_is_stored() {
    let origin = TestOrigin::new().await;
    let mug = product(&origin, "Mug", 1_250, "usd").await;
    let poster = product(&origin, "Poster", 900, "usd").await;
    let euro = product(&origin, "Euro mug", 1_100, "eur").await;
    let dear = product(&origin, "Dear", 99_999_999, "usd").await;
    catalogue::set_active(&origin.state, domain::ProductId::new(poster), false)
        .await
        .unwrap()
        .unwrap();

    for (lines, expected) in [
        (
            vec![(mug, 1), (poster, 1), (424_242, 2)],
            json!({"items": [{}, {"product_id": [format!("Invalid pk \"{poster}\" - object does not exist.")]},
                             {"product_id": ["Invalid pk \"424242\" - object does not exist."]}]}),
        ),
        (
            vec![(mug, 1), (euro, 1)],
            json!({"items": ["All products of an order must be priced in the same currency."]}),
        ),
        (
            vec![(dear, 1), (mug, 1)],
            json!({"items": ["The order's total may not exceed 99999999 (the smallest unit of its currency)."]}),
        ),
    ] {
        let answer = origin
            .signed("POST", "/api/v1/orders/", &order_body(&lines), None)
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{lines:?}");
        assert_eq!(answer.json["body"]["errors"], expected, "{lines:?}");
    }
    assert_eq!(origin.count("SELECT count(*) FROM orders").await, 0);
    assert_eq!(origin.count("SELECT count(*) FROM order_items").await, 0);
}

#[tokio::test]
async fn a_retried_order_with_its_key_is_placed_once() {
    let origin = TestOrigin::new().await;
    let mug = product(&origin, "Mug", 1_250, "usd").await;
    let body = order_body(&[(mug, 1)]).to_string();
    let send = || {
        origin.send(signed_request(
            "POST",
            "/api/v1/orders/",
            body.as_bytes(),
            None,
            now(),
            Some("order-key-1"),
        ))
    };
    let first = send().await;
    let second = send().await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(
        second.body(),
        first.body(),
        "the replay is the first answer, token included"
    );
    assert_eq!(origin.count("SELECT count(*) FROM orders").await, 1);
}

#[tokio::test]
async fn a_deleted_account_leaves_its_orders_detached() {
    let origin = TestOrigin::new().await;
    let (alice, _, _) = origin.user("alice").await;
    let mug = product(&origin, "Mug", 1_250, "usd").await;
    let placed = origin
        .signed(
            "POST",
            "/api/v1/orders/",
            &order_body(&[(mug, 1)]),
            Some(alice),
        )
        .await;
    let id = placed.body()["id"].clone();

    let deleted = origin
        .signed(
            "DELETE",
            "/api/v1/auth/me/",
            &json!({"password": "a-fine-password"}),
            Some(alice),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{:?}", deleted.json);
    let kinds: Vec<&str> = deleted
        .changes()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    let (user_delete, order_upsert) = (
        kinds.iter().position(|k| *k == "user.delete").unwrap(),
        kinds.iter().position(|k| *k == "order.upsert").unwrap(),
    );
    assert!(
        user_delete < order_upsert,
        "{kinds:?}: the detach must land after the deletion"
    );
    let detached = &deleted.changes()[order_upsert]["data"];
    assert_eq!(
        (detached["id"].clone(), detached["owner"].clone()),
        (id, json!(null))
    );
    assert_eq!(
        origin
            .count("SELECT count(*) FROM orders WHERE user_id IS NULL")
            .await,
        1
    );
}

#[tokio::test]
async fn the_demo_catalogue_is_added_once() {
    let origin = TestOrigin::new().await;
    let (first, second) = tokio::join!(
        catalogue::seed_demo(&origin.state),
        catalogue::seed_demo(&origin.state)
    );
    let added = first.unwrap().len() + second.unwrap().len();
    assert_eq!(added, 4);
    assert!(
        catalogue::seed_demo(&origin.state)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        origin
            .count(
                "SELECT count(*) FROM replication_changes WHERE change->>'kind' = 'product.upsert'"
            )
            .await,
        4
    );
}
