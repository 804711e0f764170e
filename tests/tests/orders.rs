//! The catalogue and orders through the real edge: an operator adds a product, the public list
//! shows it, a guest and a user place orders, and each reads back only their own.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use e2e::{Stack, origin_command, unique};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Adds a product through the operator command; its id.
fn add_product(name: &str, price_cents: i64) -> i64 {
    let price = price_cents.to_string();
    let (code, stdout) = origin_command(&[
        "products",
        "add",
        "--name",
        name,
        "--price-cents",
        &price,
        "--currency",
        "usd",
        "--json",
    ]);
    assert_eq!(code, 0, "{stdout}");
    let added: Value = serde_json::from_str(&stdout).unwrap();
    added[0]["id"].as_i64().unwrap()
}

async fn listed_products(stack: &Stack) -> Vec<Value> {
    let answer = stack.get("/api/v1/products/?page_size=100", None).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    answer.body["results"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_guest_and_a_user_order_from_the_catalogue_and_read_back_only_their_own() {
    let stack = Stack::new();
    let name = unique("Mug");
    let mug = add_product(&name, 1_250);
    // The product reaches the edge through the replication job (no request carried it).
    let listed = stack
        .eventually(std::time::Duration::from_secs(15), || async {
            listed_products(&stack)
                .await
                .iter()
                .any(|p| p["id"] == json!(mug))
        })
        .await;
    assert!(listed, "product {mug} never reached the edge's list");
    assert!(
        listed_products(&stack)
            .await
            .contains(&json!({"id": mug, "name": name, "price_cents": 1_250, "currency": "usd"}))
    );

    // A guest: 201 with a token, which alone reads the order back.
    let body = json!({"email": "guest@example.com", "items": [{"product_id": mug, "quantity": 3}]});
    let placed = stack.post("/api/v1/orders/", &body, None).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{:?}", placed.body);
    assert_eq!(placed.body["total_cents"], json!(3_750));
    assert!(placed.header("cache-control").unwrap().contains("no-store"));
    let id = placed.body["id"].as_i64().unwrap();
    let token = placed.body["order_token"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/orders/{id}/");
    let read = stack
        .send(
            stack
                .request(Method::GET, &path)
                .header("X-Order-Token", &token),
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{:?}", read.body);
    let mut expected = placed.body.clone();
    expected.as_object_mut().unwrap().remove("order_token");
    assert_eq!(
        read.body, expected,
        "the read is the write's answer, less the token"
    );
    let wrong = stack
        .send(
            stack
                .request(Method::GET, &path)
                .header("X-Order-Token", "0".repeat(64)),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::NOT_FOUND);
    assert_eq!(
        stack.get(&path, None).await.status,
        StatusCode::UNAUTHORIZED
    );

    // A user: no token; the order is in their list, and nobody else's.
    let alice = stack.user().await;
    let bob = stack.user().await;
    let placed = stack
        .post("/api/v1/orders/", &body, Some(&alice.access))
        .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{:?}", placed.body);
    assert!(placed.body.get("order_token").is_none());
    let theirs = placed.body["id"].clone();
    let list = stack.get("/api/v1/orders/", Some(&alice.access)).await;
    assert_eq!(list.body["results"][0]["id"], theirs);
    assert_eq!(
        stack.get("/api/v1/orders/", Some(&bob.access)).await.body["count"],
        json!(0)
    );
    let path = format!("/api/v1/orders/{theirs}/");
    assert_eq!(
        stack.get(&path, Some(&bob.access)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        stack.get(&path, Some(&alice.access)).await.status,
        StatusCode::OK
    );

    // Retired: off the list, and no longer orderable.
    let (code, stdout) = origin_command(&["products", "retire", &mug.to_string()]);
    assert_eq!(code, 0, "{stdout}");
    let refused = stack.post("/api/v1/orders/", &body, None).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        refused.errors(),
        &json!({"items": [{"product_id": [format!("Invalid pk \"{mug}\" - object does not exist.")]}]})
    );
}

#[tokio::test]
async fn an_operator_sees_the_catalogue_as_a_table_and_bad_input_is_refused() {
    let name = unique("Poster");
    add_product(&name, 900);
    let (code, table) = origin_command(&["products", "list"]);
    assert_eq!(code, 0);
    let header = table.lines().next().unwrap();
    assert!(
        header.starts_with("ID") && header.contains("PRICE"),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|line| line.contains(&name) && line.contains("9.00")),
        "{table}"
    );
    assert!(table.trim_end().ends_with("product(s)"), "{table}");

    let (code, _) = origin_command(&["products", "add", "--name", "Free", "--price-cents", "0"]);
    assert_eq!(code, 2, "a zero price is a usage error");
    let (code, _) = origin_command(&["products", "retire", "987654321"]);
    assert_eq!(code, 1, "no such product");
}
