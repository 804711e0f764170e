//! Events the fake signs and sends, checked by async-stripe's `Webhook::construct_event`.

use std::collections::HashMap;

use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use stripe_core::PaymentIntentStatus;
use stripe_core::payment_intent::CreatePaymentIntent;
use stripe_fake::signature::{self, DEFAULT_TOLERANCE_SECS};
use stripe_fake::{DeliveryOptions, Outcome};
use stripe_types::Currency;
use stripe_webhook::{EventObject, EventType, Webhook};

use crate::support::{self, Endpoint};

const SECRET: &str = "whsec_current";

async fn new_intent(client: &stripe::Client, order_id: &str) -> String {
    CreatePaymentIntent::new(2500, Currency::USD)
        .metadata(HashMap::from([(
            "order_id".to_owned(),
            order_id.to_owned(),
        )]))
        .send(client)
        .await
        .expect("an intent")
        .id
        .to_string()
}

fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs(),
    )
    .expect("in range")
}

#[tokio::test]
async fn confirming_over_the_control_api_sends_payment_intent_succeeded_signed_as_stripe_does() {
    let endpoint = Endpoint::start(SECRET).await;
    let (server, client) = support::fake_with(endpoint.config(&[SECRET])).await;
    let intent_id = new_intent(&client, "ord_1").await;

    let answer: Value = reqwest::Client::new()
        .post(format!(
            "{}_fake/payment_intents/{intent_id}/confirm",
            server.url()
        ))
        .json(&json!({"outcome": "succeeded"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(answer["delivery"]["status"], 200, "{answer}");
    let [received] = endpoint.received().try_into().expect("one delivery");
    let header = received.signature.expect("a Stripe-Signature header");
    let event = Webhook::construct_event(&received.payload, &header, SECRET).unwrap();
    assert_eq!(event.id.as_str(), answer["event"]["id"]);
    assert_eq!(event.type_, EventType::PaymentIntentSucceeded);
    let EventObject::PaymentIntentSucceeded(intent) = event.data.object else {
        panic!("a payment intent in data.object");
    };
    assert_eq!(intent.id.as_str(), intent_id);
    assert_eq!(intent.status, PaymentIntentStatus::Succeeded);
    assert_eq!(intent.amount_received, 2500);
    assert_eq!(intent.metadata["order_id"], "ord_1");
    assert!(
        signature::verify(
            received.payload.as_bytes(),
            &header,
            [SECRET],
            DEFAULT_TOLERANCE_SECS,
            now()
        )
        .is_ok(),
        "our own verify agrees"
    );
}

#[tokio::test]
async fn a_declined_payment_sends_payment_failed_with_the_last_payment_error() {
    let endpoint = Endpoint::start(SECRET).await;
    let (server, client) = support::fake_with(endpoint.config(&[SECRET])).await;
    let intent_id = new_intent(&client, "ord_2").await;

    let event = server
        .fake()
        .confirm(&intent_id, Outcome::PaymentFailed)
        .unwrap();
    let delivery = server
        .fake()
        .deliver(&event.id, &DeliveryOptions::default())
        .await
        .unwrap();

    assert!(delivery.is_success(), "{delivery:?}");
    let received = &endpoint.received()[0];
    let event = Webhook::construct_event(
        &received.payload,
        received.signature.as_deref().unwrap(),
        SECRET,
    )
    .unwrap();
    let EventObject::PaymentIntentPaymentFailed(intent) = event.data.object else {
        panic!("a payment intent in data.object");
    };
    assert_eq!(intent.status, PaymentIntentStatus::RequiresPaymentMethod);
    let error = intent.last_payment_error.expect("the decline");
    assert_eq!(error.decline_code.as_deref(), Some("generic_decline"));
}

#[tokio::test]
async fn with_two_secrets_every_delivery_carries_two_v1_and_either_endpoint_accepts_it() {
    let old_endpoint = Endpoint::start("whsec_old").await;
    let new_endpoint = Endpoint::start("whsec_new").await;
    for endpoint in [&old_endpoint, &new_endpoint] {
        let (server, client) =
            support::fake_with(endpoint.config(&["whsec_old", "whsec_new"])).await;
        let intent_id = new_intent(&client, "ord_3").await;
        let event = server
            .fake()
            .confirm(&intent_id, Outcome::Succeeded)
            .unwrap();

        let delivery = server
            .fake()
            .deliver(&event.id, &DeliveryOptions::default())
            .await
            .unwrap();

        let header = delivery.signature.clone().unwrap();
        assert_eq!(header.matches(",v1=").count(), 2, "{header}");
        assert_eq!(
            delivery.status, 200,
            "the endpoint at {} refused {header}",
            endpoint.url
        );
    }
}

#[tokio::test]
async fn the_pinned_async_stripe_accepts_a_header_whose_matching_v1_is_not_the_last() {
    let (server, client) = support::fake().await;
    let intent_id = new_intent(&client, "ord_3").await;
    let event = server
        .fake()
        .confirm(&intent_id, Outcome::Succeeded)
        .unwrap();
    // async-stripe 0.4x kept only the last `v1`, and would refuse the first of these.
    let header =
        signature::sign_with_secrets(event.payload.as_bytes(), ["whsec_new", "whsec_old"], now());

    let matching_first = Webhook::construct_event(&event.payload, &header, "whsec_new");
    let matching_last = Webhook::construct_event(&event.payload, &header, "whsec_old");
    let matching_none = Webhook::construct_event(&event.payload, &header, "whsec_other");

    assert!(matching_first.is_ok(), "{matching_first:?}");
    assert!(matching_last.is_ok(), "{matching_last:?}");
    assert!(
        matches!(
            matching_none,
            Err(stripe_webhook::WebhookError::BadSignature)
        ),
        "{matching_none:?}"
    );
}

#[tokio::test]
async fn delivering_an_event_again_sends_the_same_payload_with_a_fresh_signature() {
    let endpoint = Endpoint::start(SECRET).await;
    let (server, client) = support::fake_with(endpoint.config(&[SECRET])).await;
    let intent_id = new_intent(&client, "ord_4").await;
    let event = server
        .fake()
        .confirm(&intent_id, Outcome::Succeeded)
        .unwrap();

    let past = DeliveryOptions {
        timestamp: Some(now() - 60),
        ..DeliveryOptions::default()
    };
    server.fake().deliver(&event.id, &past).await.unwrap();
    server
        .fake()
        .deliver(&event.id, &DeliveryOptions::default())
        .await
        .unwrap();

    let [first, second] = endpoint.received().try_into().expect("two deliveries");
    assert_eq!(first.payload, second.payload);
    assert_ne!(first.signature, second.signature);
    assert!(first.accepted && second.accepted);
}

#[tokio::test]
async fn events_recorded_without_delivery_go_out_in_the_order_chosen() {
    let endpoint = Endpoint::start(SECRET).await;
    let (server, client) = support::fake_with(endpoint.config(&[SECRET])).await;
    let intent_id = new_intent(&client, "ord_5").await;
    let failed = server
        .fake()
        .confirm(&intent_id, Outcome::PaymentFailed)
        .unwrap();
    let succeeded = server
        .fake()
        .confirm(&intent_id, Outcome::Succeeded)
        .unwrap();

    for event in [&succeeded, &failed] {
        server
            .fake()
            .deliver(&event.id, &DeliveryOptions::default())
            .await
            .unwrap();
    }

    let types: Vec<String> = endpoint
        .received()
        .iter()
        .map(|received| {
            serde_json::from_str::<Value>(&received.payload).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        types,
        ["payment_intent.succeeded", "payment_intent.payment_failed"]
    );
    let listed: Vec<String> = server
        .fake()
        .events()
        .into_iter()
        .map(|event| event.id)
        .collect();
    assert_eq!(
        listed,
        [failed.id, succeeded.id],
        "events are listed oldest first"
    );
}

#[tokio::test]
async fn deliveries_signed_badly_on_purpose_are_refused_by_the_endpoint() {
    let endpoint = Endpoint::start(SECRET).await;
    let (server, client) = support::fake_with(endpoint.config(&[SECRET])).await;
    let intent_id = new_intent(&client, "ord_6").await;
    let event = server
        .fake()
        .confirm(&intent_id, Outcome::Succeeded)
        .unwrap();
    let altered = signature::sign(br#"{"id":"evt_other"}"#, SECRET, now());

    for (why, options) in [
        (
            "a wrong secret",
            DeliveryOptions {
                secrets: Some(vec!["whsec_wrong".into()]),
                ..DeliveryOptions::default()
            },
        ),
        (
            "a stale timestamp",
            DeliveryOptions {
                timestamp: Some(now() - 301),
                ..DeliveryOptions::default()
            },
        ),
        (
            "a future timestamp",
            DeliveryOptions {
                timestamp: Some(now() + 301),
                ..DeliveryOptions::default()
            },
        ),
        (
            "the signature of another body",
            DeliveryOptions {
                signature: Some(altered.clone()),
                ..DeliveryOptions::default()
            },
        ),
        (
            "no header",
            DeliveryOptions {
                unsigned: true,
                ..DeliveryOptions::default()
            },
        ),
    ] {
        let delivery = server.fake().deliver(&event.id, &options).await.unwrap();
        assert_eq!(delivery.status, 400, "{why}: {delivery:?}");
    }
}

#[tokio::test]
async fn control_calls_that_cannot_be_done_say_why() {
    let (server, client) = support::fake().await;
    let intent_id = new_intent(&client, "ord_7").await;
    let http = reqwest::Client::new();
    let control = |path: &str| format!("{}_fake/{path}", server.url());

    let unknown = http
        .post(control("payment_intents/pi_nope/confirm"))
        .send()
        .await
        .unwrap();
    let no_webhook = http
        .post(control(&format!("payment_intents/{intent_id}/confirm")))
        .send()
        .await
        .unwrap();
    let twice = http
        .post(control(&format!("payment_intents/{intent_id}/confirm")))
        .send()
        .await
        .unwrap();
    let bad_fault = http
        .post(control("faults"))
        .json(&json!({"kind": "meteor"}))
        .send()
        .await
        .unwrap();

    assert_eq!(unknown.status(), 404);
    assert_eq!(
        no_webhook.status(),
        409,
        "recorded, but there is nowhere to send it"
    );
    assert_eq!(
        twice.status(),
        409,
        "a succeeded intent cannot be confirmed again"
    );
    assert_eq!(bad_fault.status(), 400);
    assert_eq!(server.fake().events().len(), 1);
}
