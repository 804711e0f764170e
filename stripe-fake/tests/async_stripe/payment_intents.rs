//! Creating and reading payment intents through async-stripe, as the origin will.

use std::collections::HashMap;
use std::time::Duration;

use pretty_assertions::assert_eq;
use stripe::{
    ApiErrorsCode, ApiErrorsType, IdempotencyKey, RequestStrategy, StripeError, StripeRequest,
};
use stripe_core::PaymentIntentStatus;
use stripe_core::payment_intent::{
    CreatePaymentIntent, CreatePaymentIntentAutomaticPaymentMethods, RetrievePaymentIntent,
};
use stripe_fake::{Fault, FaultRule};
use stripe_types::Currency;

use crate::support::{self, API_KEY};

/// The request the origin sends for order `order_id`.
fn intent_for_order(order_id: &str, amount: i64) -> CreatePaymentIntent {
    CreatePaymentIntent::new(amount, Currency::EUR)
        .metadata(HashMap::from([(
            "order_id".to_owned(),
            order_id.to_owned(),
        )]))
        .automatic_payment_methods(CreatePaymentIntentAutomaticPaymentMethods::new(true))
}

fn idempotent(key: &str) -> RequestStrategy {
    RequestStrategy::Idempotent(IdempotencyKey::new(key).expect("a valid key"))
}

#[track_caller]
fn assert_stripe_error(
    result: Result<impl std::fmt::Debug, StripeError>,
    status: u16,
    kind: &ApiErrorsType,
) {
    match result {
        Err(StripeError::Stripe(error, got)) => {
            assert_eq!((got, &error.type_), (status, kind), "{error:?}");
        }
        other => panic!("expected a Stripe error {status}, got {other:?}"),
    }
}

#[tokio::test]
async fn creating_an_intent_answers_stripes_object_with_the_order_id_and_a_client_secret() {
    let (server, client) = support::fake().await;

    let intent = intent_for_order("ord_42", 1999)
        .send(&client)
        .await
        .unwrap();

    assert!(intent.id.as_str().starts_with("pi_"), "{}", intent.id);
    assert_eq!(intent.amount, 1999);
    assert_eq!(intent.currency, Currency::EUR);
    assert_eq!(intent.status, PaymentIntentStatus::RequiresPaymentMethod);
    assert_eq!(
        intent.metadata.get("order_id").map(String::as_str),
        Some("ord_42")
    );
    assert!(!intent.livemode);
    let secret = intent.client_secret.clone().expect("a client secret");
    assert!(
        secret.starts_with(&format!("{}_secret_", intent.id)),
        "{secret}"
    );
    let stored = server.fake().payment_intent(intent.id.as_str()).unwrap();
    assert_eq!(
        stored.params["automatic_payment_methods"]["enabled"], "true",
        "what async-stripe sent is kept"
    );

    let read = RetrievePaymentIntent::new(intent.id.clone())
        .send(&client)
        .await
        .unwrap();
    assert_eq!(read.id, intent.id);
    assert_eq!(read.client_secret, Some(secret));
}

#[tokio::test]
async fn the_same_idempotency_key_and_parameters_replay_the_first_intent() {
    let (server, client) = support::fake().await;
    let request = intent_for_order("ord_7", 500);

    let first = request
        .customize()
        .request_strategy(idempotent("order-ord_7"))
        .send(&client)
        .await
        .unwrap();
    let again = request
        .customize()
        .request_strategy(idempotent("order-ord_7"))
        .send(&client)
        .await
        .unwrap();

    assert_eq!(again.id, first.id);
    assert_eq!(again.client_secret, first.client_secret);
    assert_eq!(server.fake().payment_intents().len(), 1);
}

#[tokio::test]
async fn a_replay_says_so_in_its_headers() {
    let (server, _) = support::fake().await;
    let http = reqwest::Client::new();
    let post = || {
        http.post(format!("{}v1/payment_intents", server.url()))
            .bearer_auth(API_KEY)
            .header("idempotency-key", "k1")
            .form(&[
                ("amount", "100"),
                ("currency", "usd"),
                ("metadata[order_id]", "1"),
            ])
            .send()
    };

    let first = post().await.unwrap();
    let replay = post().await.unwrap();

    assert_eq!(first.headers().get("idempotent-replayed"), None);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(
        replay.headers()["original-request"],
        first.headers()["request-id"]
    );
    assert_eq!(replay.text().await.unwrap(), first.text().await.unwrap());
}

#[tokio::test]
async fn the_same_key_with_other_parameters_is_an_idempotency_error() {
    let (server, client) = support::fake().await;
    intent_for_order("ord_9", 500)
        .customize()
        .request_strategy(idempotent("order-ord_9"))
        .send(&client)
        .await
        .unwrap();

    let other = intent_for_order("ord_9", 501)
        .customize()
        .request_strategy(idempotent("order-ord_9"))
        .send(&client)
        .await;

    assert_stripe_error(other, 400, &ApiErrorsType::IdempotencyError);
    assert_eq!(server.fake().payment_intents().len(), 1);
}

#[tokio::test]
async fn a_key_the_fake_does_not_accept_is_401() {
    let (server, _) = support::fake().await;
    let stranger = support::client(&server, "sk_test_someone_else");

    let result = intent_for_order("ord_1", 100).send(&stranger).await;

    assert_stripe_error(result, 401, &ApiErrorsType::InvalidRequestError);
}

#[tokio::test]
async fn an_unknown_intent_is_404_resource_missing() {
    let (_server, client) = support::fake().await;

    let result = RetrievePaymentIntent::new("pi_missing").send(&client).await;

    let Err(StripeError::Stripe(error, 404)) = result else {
        panic!("expected a 404, got {result:?}");
    };
    assert_eq!(error.code, Some(ApiErrorsCode::ResourceMissing));
    assert_eq!(error.param.as_deref(), Some("intent"));
}

#[tokio::test]
async fn a_missing_amount_is_400_naming_the_parameter() {
    let (server, _) = support::fake().await;

    let response = reqwest::Client::new()
        .post(format!("{}v1/payment_intents", server.url()))
        .bearer_auth(API_KEY)
        .form(&[("currency", "usd")])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"error": {
            "type": "invalid_request_error",
            "message": "Missing required param: amount.",
            "code": "parameter_missing",
            "param": "amount",
            "doc_url": "https://stripe.com/docs/error-codes/parameter_missing",
        }})
    );
}

#[tokio::test]
async fn injected_500_429_and_402_reach_the_client_as_stripe_errors_then_calls_succeed() {
    let (server, client) = support::fake().await;
    for fault in [
        Fault::ServerError,
        Fault::RateLimit {
            retry_after_secs: 2,
        },
        Fault::CardDeclined,
    ] {
        server.fake().inject(FaultRule { fault, count: 1 });
    }

    let server_error = intent_for_order("ord_1", 100).send(&client).await;
    let rate_limited = intent_for_order("ord_1", 100).send(&client).await;
    let declined = intent_for_order("ord_1", 100).send(&client).await;
    let fine = intent_for_order("ord_1", 100).send(&client).await;

    assert_stripe_error(server_error, 500, &ApiErrorsType::ApiError);
    assert_stripe_error(rate_limited, 429, &ApiErrorsType::InvalidRequestError);
    assert_stripe_error(declined, 402, &ApiErrorsType::CardError);
    assert!(fine.is_ok(), "{fine:?}");
}

#[tokio::test]
async fn a_429_carries_retry_after() {
    let (server, _) = support::fake().await;
    server.fake().inject(FaultRule {
        fault: Fault::RateLimit {
            retry_after_secs: 3,
        },
        count: 1,
    });

    let response = reqwest::Client::new()
        .get(format!("{}v1/payment_intents/pi_x", server.url()))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "3");
}

#[tokio::test]
async fn async_stripes_retry_strategy_gets_through_a_500_with_one_intent() {
    let (server, client) = support::fake().await;
    server.fake().inject(FaultRule {
        fault: Fault::ServerError,
        count: 2,
    });

    let intent = intent_for_order("ord_3", 100)
        .customize()
        .request_strategy(RequestStrategy::Retry(3))
        .send(&client)
        .await;

    assert!(intent.is_ok(), "{intent:?}");
    assert_eq!(server.fake().payment_intents().len(), 1);
}

#[tokio::test]
async fn a_hanging_call_times_out_in_the_client_yet_a_retry_with_its_key_makes_one_intent() {
    let (server, client) = support::fake().await;
    server.fake().inject(FaultRule {
        fault: Fault::Hang {
            duration: Duration::from_millis(800),
        },
        count: 1,
    });
    let request = intent_for_order("ord_5", 100);

    let timed_out = request
        .customize()
        .request_strategy(idempotent("order-ord_5"))
        .timeout(Duration::from_millis(200))
        .send(&client)
        .await;
    let retried = request
        .customize()
        .request_strategy(idempotent("order-ord_5"))
        .send(&client)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await; // the held call completes

    assert!(
        matches!(timed_out, Err(StripeError::Timeout)),
        "{timed_out:?}"
    );
    let intents = server.fake().payment_intents();
    assert_eq!(intents.len(), 1, "the held call replays the retry's answer");
    assert_eq!(intents[0].id, retried.id.as_str());
}
