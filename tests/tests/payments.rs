//! Paying for an order through the real edge, the origin, apalis and the project's fake Stripe:
//! one intent per order, the signed webhook that marks it paid exactly once, events out of
//! order, a rotated secret, and every way a webhook signature can be wrong.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use std::time::Duration;

use e2e::{Answer, Stack, origin_command, unique};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run under `./dev test`"))
}

/// The fake Stripe's control API.
async fn control(path: &str, body: &Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}_fake{path}", var("E2E_STRIPE_URL")))
        .json(body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

/// Settles an intent; the event, sent to the edge unless `deliver` is false.
async fn confirm(intent: &str, outcome: &str, deliver: bool) -> Value {
    control(
        &format!("/payment_intents/{intent}/confirm"),
        &json!({"outcome": outcome, "deliver": deliver}),
    )
    .await
}

/// Sends a recorded event again, with `options`; the status the edge answered.
async fn deliver(event: &str, options: &Value) -> u16 {
    let delivery = control(&format!("/events/{event}/deliver"), options).await;
    u16::try_from(delivery["status"].as_u64().unwrap()).unwrap()
}

/// The messages the local inbox (MailDev) holds for `address`.
async fn inbox(address: &str) -> Vec<Value> {
    let all: Vec<Value> = reqwest::get(format!("{}/email", var("E2E_INBOX_URL")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    all.into_iter()
        .filter(|message| message["to"][0]["address"] == json!(address))
        .collect()
}

/// A guest order of one fresh product; (order id, its token).
async fn guest_order(stack: &Stack) -> (i64, String) {
    guest_order_for(stack, "payer@example.com").await
}

async fn guest_order_for(stack: &Stack, email: &str) -> (i64, String) {
    let (code, stdout) = origin_command(&[
        "products",
        "add",
        "--name",
        &unique("Lamp"),
        "--price-cents",
        "4200",
        "--json",
    ]);
    assert_eq!(code, 0, "{stdout}");
    let product: Value = serde_json::from_str(&stdout).unwrap();
    let body = json!({"email": email, "items": [{"product_id": product[0]["id"], "quantity": 2}]});
    let placed = stack.post("/api/v1/orders/", &body, None).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{:?}", placed.body);
    (
        placed.body["id"].as_i64().unwrap(),
        placed.body["order_token"].as_str().unwrap().to_owned(),
    )
}

async fn intent(stack: &Stack, order: i64, token: &str) -> Answer {
    stack
        .send(
            stack
                .request(Method::POST, "/api/v1/payments/intent/")
                .header("X-Order-Token", token)
                .json(&json!({"order_id": order})),
        )
        .await
}

/// `pi_…` from `pi_…_secret_…`.
fn intent_id(client_secret: &str) -> String {
    client_secret.split("_secret_").next().unwrap().to_owned()
}

async fn status(stack: &Stack, order: i64, token: &str) -> String {
    let read = stack
        .send(
            stack
                .request(Method::GET, &format!("/api/v1/orders/{order}/"))
                .header("X-Order-Token", token),
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{:?}", read.body);
    read.body["status"].as_str().unwrap().to_owned()
}

async fn becomes(stack: &Stack, order: i64, token: &str, wanted: &str) -> bool {
    stack
        .eventually(Duration::from_secs(20), || async {
            status(stack, order, token).await == wanted
        })
        .await
}

#[tokio::test]
async fn an_order_is_paid_through_one_intent_and_a_signed_webhook_once() {
    let stack = Stack::new();
    let payer = format!("{}@example.com", unique("payer"));
    let (order, token) = guest_order_for(&stack, &payer).await;

    let first = intent(&stack, order, &token).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    let secret = first.body["client_secret"].as_str().unwrap().to_owned();
    let again = intent(&stack, order, &token).await;
    assert_eq!(
        again.body["client_secret"],
        json!(secret),
        "a retry gets the same intent"
    );
    // Only the order's creator may pay for it.
    assert_eq!(
        intent(&stack, order, "not-the-token").await.status,
        StatusCode::NOT_FOUND
    );
    let stranger = stack.user().await;
    let theirs = stack
        .post(
            "/api/v1/payments/intent/",
            &json!({"order_id": order}),
            Some(&stranger.access),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);

    let confirmed = confirm(&intent_id(&secret), "succeeded", true).await;
    assert_eq!(confirmed["delivery"]["status"], json!(200), "{confirmed}");
    assert!(
        becomes(&stack, order, &token, "paid").await,
        "order {order} never became paid"
    );

    // Stripe delivers again: one stored event, one effect.
    let event = confirmed["event"]["id"].as_str().unwrap().to_owned();
    assert_eq!(deliver(&event, &json!({})).await, 200);
    assert_eq!(
        stack
            .count_where(
                "SELECT count(*) FROM stripe_events WHERE id = $1",
                event.as_str()
            )
            .await,
        1
    );
    assert_eq!(status(&stack, order, &token).await, "paid");

    // One receipt, in the background, with the order's total (2 × $42.00).
    let received = stack
        .eventually(Duration::from_secs(20), || async {
            !inbox(&payer).await.is_empty()
        })
        .await;
    assert!(received, "no receipt reached the inbox");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let receipts = inbox(&payer).await;
    assert_eq!(receipts.len(), 1, "{receipts:?}");
    assert_eq!(
        receipts[0]["subject"],
        json!(format!("Your receipt for order #{order}"))
    );
    assert!(
        receipts[0]["text"]
            .as_str()
            .unwrap()
            .contains("Total: $84.00"),
        "{}",
        receipts[0]["text"]
    );
    // A paid order takes no new intent.
    assert_eq!(
        intent(&stack, order, &token).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn a_failure_delivered_after_the_success_does_not_unpay_the_order() {
    let stack = Stack::new();
    let (order, token) = guest_order(&stack).await;
    let answer = intent(&stack, order, &token).await;
    let pi = intent_id(answer.body["client_secret"].as_str().unwrap());
    // The card is declined, then a retry succeeds; Stripe delivers the two out of order.
    let failed = confirm(&pi, "payment_failed", false).await;
    let succeeded = confirm(&pi, "succeeded", false).await;
    let id = |event: &Value| event["event"]["id"].as_str().unwrap().to_owned();
    assert_eq!(deliver(&id(&succeeded), &json!({})).await, 200);
    assert!(becomes(&stack, order, &token, "paid").await);
    assert_eq!(deliver(&id(&failed), &json!({})).await, 200);
    // Give the failure's job time to run, then check it changed nothing.
    let applied = stack
        .eventually(Duration::from_secs(20), || async {
            stack
                .count_where(
                    "SELECT count(*) FROM stripe_events WHERE id = $1 AND processed_at IS NOT NULL",
                    id(&failed).as_str(),
                )
                .await
                == 1
        })
        .await;
    assert!(applied, "the late failure was never applied");
    assert_eq!(status(&stack, order, &token).await, "paid");
}

#[tokio::test]
async fn a_webhook_signed_wrongly_is_refused_and_stores_nothing() {
    let stack = Stack::new();
    let (order, token) = guest_order(&stack).await;
    let answer = intent(&stack, order, &token).await;
    let pi = intent_id(answer.body["client_secret"].as_str().unwrap());
    let recorded = confirm(&pi, "succeeded", false).await;
    let event = recorded["event"]["id"].as_str().unwrap().to_owned();
    let now = e2e::chrono_now();
    let secret = var("E2E_STRIPE_WEBHOOK_SECRET");

    for (case, options) in [
        ("wrong secret", json!({"secrets": ["whsec_not_ours"]})),
        ("stale timestamp", json!({"timestamp": now - 600})),
        ("future timestamp", json!({"timestamp": now + 600})),
        ("missing header", json!({"unsigned": true})),
        ("garbage header", json!({"signature": "t=1,v1=zz"})),
    ] {
        assert_eq!(deliver(&event, &options).await, 400, "{case}");
    }
    // An altered body under a signature made for the original.
    let body = br#"{"id":"evt_forged","object":"event","type":"payment_intent.succeeded"}"#;
    let signature = stripe_fake::signature::sign(b"something else", &secret, now);
    let forged = stack
        .send(
            stack
                .request(Method::POST, "/webhooks/stripe/")
                .header("Stripe-Signature", signature)
                .header("Content-Type", "application/json")
                .body(body.to_vec()),
        )
        .await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        forged.errors()["detail"],
        json!("Invalid payload or signature")
    );
    for id in [event.as_str(), "evt_forged"] {
        assert_eq!(
            stack
                .count_where("SELECT count(*) FROM stripe_events WHERE id = $1", id)
                .await,
            0,
            "{id} was stored"
        );
    }
    assert_eq!(status(&stack, order, &token).await, "pending");

    // During a rotation the header carries one `v1` per secret; ours need not be the last.
    let rotated = json!({"secrets": [secret, "whsec_the_next_one"]});
    assert_eq!(deliver(&event, &rotated).await, 200);
    assert!(becomes(&stack, order, &token, "paid").await);
}
