//! Stripe webhooks at the origin, against Postgres: two configured secrets during a rotation,
//! and the event's job riding out a database failure with pauses rather than spending its
//! attempts at once.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::time::{Duration, Instant};

use domain::paths;
use origin_worker::jobs;
use origin_worker::state::{AppState, JobContext};
use serde_json::json;
use support::{Answer, TestOrigin, fresh_db, now, settings_with, signed_request};
use tokio::sync::watch;

const OLD: &str = "whsec_the_secret_being_retired";
const NEW: &str = "whsec_the_secret_taking_over";

/// An origin whose webhook accepts either secret.
async fn origin() -> TestOrigin {
    let settings = settings_with(
        "http://127.0.0.1:9",
        &[("STRIPE_WEBHOOK_SECRETS", format!("{OLD}, {NEW}"))],
    );
    let db = fresh_db().await;
    let state = AppState::new(db.clone(), settings);
    let router = origin_worker::api::router(state.clone());
    TestOrigin { db, state, router }
}

/// A `payment_intent.succeeded` event for an order that does not exist (applying it reads the
/// database and changes nothing).
fn event(id: &str) -> Vec<u8> {
    let created = now();
    let mut params = serde_json::Map::new();
    params.insert("amount".to_owned(), json!("1999"));
    params.insert("currency".to_owned(), json!("usd"));
    let mut intent = stripe_fake::payment_intent::PaymentIntent::create(params, created).unwrap();
    intent.succeed();
    let mut intent = intent.to_json();
    intent["metadata"] = json!({"order_id": "999999"});
    json!({
        "id": id,
        "object": "event",
        "api_version": stripe_fake::config::DEFAULT_API_VERSION,
        "created": created,
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": "payment_intent.succeeded",
        "data": {"object": intent},
    })
    .to_string()
    .into_bytes()
}

/// Delivers `body` as the edge forwards a webhook, with this `Stripe-Signature`.
async fn deliver(origin: &TestOrigin, body: &[u8], signature: &str) -> Answer {
    let mut request = signed_request("POST", paths::STRIPE_WEBHOOK, body, None, now(), None);
    request
        .headers_mut()
        .insert("stripe-signature", signature.parse().unwrap());
    origin.send(request).await
}

async fn stored(origin: &TestOrigin) -> i64 {
    origin.count("SELECT count(*) FROM stripe_events").await
}

#[tokio::test]
async fn during_a_rotation_either_configured_secret_verifies_and_no_other() {
    let origin = origin().await;
    let at = now();
    let sign = stripe_fake::signature::sign;

    let by_old = event("evt_rotation_old");
    assert_eq!(
        deliver(&origin, &by_old, &sign(&by_old, OLD, at))
            .await
            .status,
        200
    );
    let by_new = event("evt_rotation_new");
    assert_eq!(
        deliver(&origin, &by_new, &sign(&by_new, NEW, at))
            .await
            .status,
        200
    );
    // Stripe's own header during its rotation: one `v1` per secret, ours not the last.
    let both = event("evt_rotation_both");
    let header = stripe_fake::signature::sign_with_secrets(&both, [NEW, "whsec_someone_else"], at);
    assert_eq!(deliver(&origin, &both, &header).await.status, 200);
    assert_eq!(stored(&origin).await, 3);

    let foreign = event("evt_rotation_foreign");
    let refused = deliver(&origin, &foreign, &sign(&foreign, "whsec_not_ours", at)).await;
    assert_eq!(refused.status, 400);
    assert!(
        refused
            .json
            .to_string()
            .contains("Invalid payload or signature"),
        "{}",
        refused.json
    );
    assert_eq!(
        stored(&origin).await,
        3,
        "nothing stored for a refused event"
    );
}

/// The event's job: (apalis status, attempts, seconds until its next run).
async fn job(origin: &TestOrigin, event: &str) -> Option<(String, i32, f64)> {
    sqlx::query_as(
        "SELECT status, attempts, extract(epoch FROM run_at - now())::float8 FROM apalis.jobs \
         WHERE job_type = 'stripe-event' AND convert_from(job, 'UTF8')::jsonb ->> 'event_id' = $1",
    )
    .bind(event)
    .fetch_optional(&origin.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn an_event_job_that_meets_a_database_failure_pauses_then_applies_it() {
    let origin = origin().await;
    let body = event("evt_outage");
    let signature = stripe_fake::signature::sign(&body, OLD, now());
    assert_eq!(deliver(&origin, &body, &signature).await.status, 200);

    // The events table is gone (as good as Postgres refusing every statement on it).
    sqlx::query("ALTER TABLE stripe_events RENAME TO stripe_events_away")
        .execute(&origin.db)
        .await
        .unwrap();
    let (stop, _) = watch::channel(false);
    let ctx = JobContext {
        state: origin.state.clone(),
        client: reqwest::Client::new(),
    };
    let workers = tokio::spawn(jobs::run(ctx, Duration::from_secs(59), stop.subscribe()));

    // Each failure pushes the next run back, 1 s doubling (±20%): within 5 s of the first
    // failure at most 3 runs (at 0, ≥ 0.8 s, ≥ 2.4 s; the 4th at ≥ 5.6 s), where apalis alone
    // re-runs a failed job at every poll (each second).
    let deadline = Instant::now() + Duration::from_secs(15);
    let first_failure = loop {
        if let Some((status, _, _)) = job(&origin, "evt_outage").await
            && status == "Failed"
        {
            break Instant::now();
        }
        assert!(Instant::now() < deadline, "the job never failed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(first_failure.elapsed())).await;
    let (status, runs, next_in) = job(&origin, "evt_outage").await.unwrap();
    assert!(runs <= 3, "{runs} runs in 5 s ({status})");
    assert!(
        status != "Failed" || next_in > 0.0,
        "a failed job waits for its next run ({next_in:.2} s)"
    );

    sqlx::query("ALTER TABLE stripe_events_away RENAME TO stripe_events")
        .execute(&origin.db)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let outcome = loop {
        let outcome: Option<String> =
            sqlx::query_scalar("SELECT outcome FROM stripe_events WHERE id = 'evt_outage'")
                .fetch_one(&origin.db)
                .await
                .unwrap();
        if let Some(outcome) = outcome {
            break outcome;
        }
        assert!(Instant::now() < deadline, "the event was never applied");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(outcome.contains("does not exist"), "{outcome}");
    // apalis records the run's result just after the job's own commit.
    let deadline = Instant::now() + Duration::from_secs(5);
    let (status, attempts) = loop {
        let (status, attempts, _) = job(&origin, "evt_outage").await.unwrap();
        if status == "Done" || Instant::now() > deadline {
            break (status, attempts);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status, "Done");
    assert!(attempts >= 2, "{attempts}");
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), workers).await;
}
