//! The catalogue and orders at the edge, natively: the public product list, who may read an
//! order (its user, or the guest holding its token), and that the JSON built in SQLite is the
//! bytes serde writes at the origin.

#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    reason = "tests fail loudly and read top to bottom"
)]

mod support;

use domain::orders::{
    Currency, Order, OrderItem, OrderReplica, OrderStatus, Product, token_digest,
};
use domain::replication::{Change, ChangeKind};
use domain::{OrderId, ProductId, UserId};
use edge::http::Request;
use pretty_assertions::assert_eq;
use serde_json::json;
use support::{TestEdge, body};

const GUEST_TOKEN: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

fn product(id: i64, name: &str, price_cents: i64, active: bool) -> Product {
    Product {
        id: ProductId::new(id),
        name: name.into(),
        price_cents,
        currency: Currency::parse("usd").unwrap(),
        active,
    }
}

fn order(id: i64, owner: Option<i64>, status: OrderStatus) -> OrderReplica {
    OrderReplica {
        order: Order {
            id: OrderId::new(id),
            email: "Quote\"d <buyer>@example.com".into(),
            items: vec![OrderItem {
                product_id: ProductId::new(1),
                name: "Mug \"large\", 한국어 🚀".into(),
                quantity: 2,
                unit_price_cents: 1_250,
                line_total_cents: 2_500,
            }],
            total_cents: 2_500,
            currency: Currency::parse("usd").unwrap(),
            status,
            created_at: format!("2026-01-0{id}T00:00:00.000000Z"),
        },
        owner: owner.map(UserId::new),
        token_digest: owner.is_none().then(|| token_digest(GUEST_TOKEN)),
    }
}

/// Alice (1) has orders 1 and 3, Bob (2) has order 2, a guest has order 4.
async fn seeded() -> (TestEdge, String, String) {
    let edge = TestEdge::new();
    let (_, alice) = edge.user(1, "alice").await;
    let (_, bob) = edge.user(2, "bob").await;
    let changes: Vec<Change> = [
        ChangeKind::ProductUpsert(product(1, "Mug", 1_250, true)),
        ChangeKind::ProductUpsert(product(2, "Retired poster", 900, false)),
        ChangeKind::ProductUpsert(product(3, "Sticker", 300, true)),
        ChangeKind::OrderUpsert(order(1, Some(1), OrderStatus::Paid)),
        ChangeKind::OrderUpsert(order(2, Some(2), OrderStatus::Pending)),
        ChangeKind::OrderUpsert(order(3, Some(1), OrderStatus::PaymentFailed)),
        ChangeKind::OrderUpsert(order(4, None, OrderStatus::Pending)),
    ]
    .into_iter()
    .zip(100..)
    .map(|(kind, version)| Change {
        version,
        owner: None,
        kind,
    })
    .collect();
    edge::replica::apply(&edge.replica, &changes).await.unwrap();
    (edge, alice, bob)
}

fn get(path: &str, token: Option<&str>) -> Request {
    let request = Request::new("GET", path);
    match token {
        Some(token) => request.with_header("authorization", &format!("Bearer {token}")),
        None => request,
    }
}

#[tokio::test]
async fn anyone_sees_the_products_on_sale_in_id_order() {
    let (edge, _, _) = seeded().await;
    let response = edge.send(get("/api/v1/products/", None)).await;
    assert_eq!(response.status, 200);
    assert_eq!(
        body(&response),
        json!({"count": 2, "next": null, "previous": null, "results": [
            {"id": 1, "name": "Mug", "price_cents": 1_250, "currency": "usd"},
            {"id": 3, "name": "Sticker", "price_cents": 300, "currency": "usd"},
        ]})
    );
    // Public and cacheable like any public read: no `private, no-store`.
    assert!(
        !response
            .header("cache-control")
            .unwrap_or_default()
            .contains("no-store")
    );
}

#[tokio::test]
async fn a_user_lists_their_own_orders_newest_first() {
    let (edge, alice, bob) = seeded().await;
    let ids = |token: &str| {
        let edge = &edge;
        let token = token.to_owned();
        async move {
            let response = edge.send(get("/api/v1/orders/", Some(&token))).await;
            assert_eq!(response.status, 200);
            body(&response)["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(ids(&alice).await, [3, 1]);
    assert_eq!(ids(&bob).await, [2]);
    assert_eq!(edge.send(get("/api/v1/orders/", None)).await.status, 401);
}

#[tokio::test]
async fn an_order_is_read_by_its_user_or_by_the_guest_holding_its_token() {
    let (edge, alice, bob) = seeded().await;
    assert_eq!(
        edge.send(get("/api/v1/orders/1/", Some(&alice)))
            .await
            .status,
        200
    );
    // Someone else's order, and one that does not exist, look the same.
    for (path, token) in [("/api/v1/orders/1/", &bob), ("/api/v1/orders/99/", &alice)] {
        let response = edge.send(get(path, Some(token))).await;
        assert_eq!(
            (response.status, body(&response)["errors"]["detail"].clone()),
            (404, json!("No Order matches the given query.")),
            "{path}"
        );
    }
    // A user's order cannot be read with a guest token, nor a guest's by a user.
    assert_eq!(
        edge.send(get("/api/v1/orders/4/", Some(&alice)))
            .await
            .status,
        404
    );

    let guest = |token: &str| get("/api/v1/orders/4/", None).with_header("x-order-token", token);
    let response = edge.send(guest(GUEST_TOKEN)).await;
    assert_eq!(response.status, 200);
    assert_eq!(body(&response)["id"], json!(4));
    assert!(
        response
            .header("cache-control")
            .unwrap()
            .contains("no-store")
    );
    assert_eq!(edge.send(guest("wrong")).await.status, 404);
    assert_eq!(edge.send(guest(&"a".repeat(4096))).await.status, 404);
    assert_eq!(
        edge.send(get("/api/v1/orders/1/", None).with_header("x-order-token", GUEST_TOKEN))
            .await
            .status,
        404
    );
    // No credentials at all: authentication is what is missing.
    let response = edge.send(get("/api/v1/orders/4/", None)).await;
    assert_eq!(response.status, 401);
    assert!(response.header("www-authenticate").is_some());
}

#[tokio::test]
async fn an_order_read_is_the_bytes_serde_writes() {
    let (edge, alice, _) = seeded().await;
    let response = edge.send(get("/api/v1/orders/3/", Some(&alice))).await;
    let expected =
        serde_json::to_string(&order(3, Some(1), OrderStatus::PaymentFailed).order.view()).unwrap();
    assert_eq!(String::from_utf8(response.body).unwrap(), expected);
}

#[tokio::test]
async fn an_order_outlives_its_users_deletion_detached() {
    let (edge, alice, _) = seeded().await;
    let mut detached = order(1, None, OrderStatus::Paid);
    detached.token_digest = None;
    let changes = [
        ChangeKind::UserDelete { id: UserId::new(1) },
        ChangeKind::OrderUpsert(detached),
    ]
    .into_iter()
    .zip(200..)
    .map(|(kind, version)| Change {
        version,
        owner: None,
        kind,
    })
    .collect::<Vec<_>>();
    edge::replica::apply(&edge.replica, &changes).await.unwrap();
    assert_eq!(
        edge.replica
            .rows("SELECT id, owner_id FROM orders WHERE id IN (1, 3) ORDER BY id"),
        vec![
            json!({"id": 1, "owner_id": null}),
            json!({"id": 3, "owner_id": 1})
        ]
    );
    assert_eq!(
        edge.send(get("/api/v1/orders/1/", Some(&alice)))
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn a_bad_order_body_is_refused_at_the_edge_for_guests_and_users() {
    let (edge, alice, _) = seeded().await;
    for token in [None, Some(alice.as_str())] {
        let mut request = Request::new("POST", "/api/v1/orders/")
            .with_json(&json!({"email": "a@b.co", "items": [{"product_id": 1, "quantity": 0}]}));
        if let Some(token) = token {
            request = request.with_header("authorization", &format!("Bearer {token}"));
        }
        let response = edge.send(request).await;
        assert_eq!(response.status, 400, "{token:?}");
        assert_eq!(
            body(&response)["errors"],
            json!({"items": [{"quantity": ["Ensure this value is greater than or equal to 1."]}]})
        );
        assert!(
            response
                .header("cache-control")
                .unwrap()
                .contains("no-store")
        );
    }
}
