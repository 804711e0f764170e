//! Applying a stored Stripe event to its order: the `stripe-event` job's work, and the
//! operators' `replay-webhook`.
//!
//! Idempotent and forward only. An event already applied is not applied again (a replay of a
//! processed event is a no-op), and an order never moves backwards: `paid` is final, so a
//! `payment_failed` delivered after the success (Stripe does not promise order) changes
//! nothing, and a second success sends no second receipt. Paying enqueues the receipt email
//! in the same transaction.

use domain::OrderId;
use domain::orders::OrderStatus;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgConnection;

use super::store;
use crate::db;
use crate::email::{self, Email};
use crate::orders;
use crate::replication::outbox::{self, NewChange};
use crate::state::AppState;

pub const STRIPE_EVENT_QUEUE: &str = "stripe-event";

/// Runs of one event's job before it is dead: with the job's pauses (1 s doubling to 5 min,
/// see [`crate::jobs::stripe_events`]) about an hour and a half of retries.
pub const STRIPE_EVENT_ATTEMPTS: usize = 25;

/// The job: apply this stored event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApplyEvent {
    pub event_id: String,
}

/// Enqueues the event's job inside the caller's transaction (the one that stored it).
pub async fn enqueue(conn: &mut PgConnection, event_id: &str) -> sqlx::Result<()> {
    let job = ApplyEvent {
        event_id: event_id.to_owned(),
    };
    db::push_job(conn, STRIPE_EVENT_QUEUE, &job, STRIPE_EVENT_ATTEMPTS).await
}

/// Applies the stored event `id` and records what it did; answers that outcome. An event
/// applied before answers its recorded outcome and changes nothing.
pub async fn apply(state: &AppState, id: &str) -> anyhow::Result<String> {
    let mut tx = state.db.begin().await?;
    let event = store::event_for_update(&mut tx, id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no stored Stripe event {id}"))?;
    if let Some(outcome) = event.outcome {
        return Ok(format!("already applied: {outcome}"));
    }
    let outcome = match event.kind.as_str() {
        "payment_intent.succeeded" => settle(&mut tx, &event.payload, OrderStatus::Paid).await?,
        "payment_intent.payment_failed" => {
            settle(&mut tx, &event.payload, OrderStatus::PaymentFailed).await?
        }
        other => format!("ignored: {other} is not an event this service acts on"),
    };
    store::mark_processed(&mut tx, &event.id, &outcome).await?;
    tx.commit().await?;
    tracing::info!(event = %event.id, kind = %event.kind, outcome, "Stripe event applied");
    Ok(outcome)
}

/// Moves the intent's order to `to` if that is forward, checking that the intent is the
/// order's (amount and currency) before marking it paid.
async fn settle(
    conn: &mut PgConnection,
    payload: &Value,
    to: OrderStatus,
) -> anyhow::Result<String> {
    let intent = &payload["data"]["object"];
    let intent_id = intent["id"].as_str().unwrap_or_default();
    let Some(order_id) = intent["metadata"]["order_id"]
        .as_str()
        .and_then(OrderId::parse)
    else {
        return Ok(format!("ignored: intent {intent_id} names no order"));
    };
    let Some(order) = store::payable(conn, order_id, true).await? else {
        return Ok(format!("ignored: order {order_id} does not exist"));
    };
    if to == OrderStatus::Paid
        && (intent["amount"].as_i64() != Some(order.total_cents)
            || intent["currency"].as_str() != Some(order.currency.as_str()))
    {
        tracing::error!(order = %order_id, intent = intent_id, "a succeeded intent does not match its order's total");
        return Ok(format!(
            "refused: intent {intent_id} charged {} {}, order {order_id} is {} {}",
            intent["amount"], intent["currency"], order.total_cents, order.currency
        ));
    }
    let from = order.status();
    let forward = matches!(
        (from, to),
        (
            Some(OrderStatus::Pending | OrderStatus::PaymentFailed),
            OrderStatus::Paid
        ) | (Some(OrderStatus::Pending), OrderStatus::PaymentFailed)
    );
    if !forward {
        return Ok(format!(
            "no change: order {order_id} is {}",
            from.map_or("in an unknown state", OrderStatus::as_str)
        ));
    }
    store::set_status(conn, order_id, to, intent_id).await?;
    let replica = orders::store::orders_by_ids(conn, &[order_id])
        .await?
        .pop()
        .ok_or_else(|| anyhow::anyhow!("order {order_id} vanished mid-transaction"))?;
    if to == OrderStatus::Paid {
        // In this transaction: the receipt exists exactly when the order is paid, and its
        // dedupe key (`receipt:{id}`) sends it once whatever happens to the jobs.
        email::enqueue(conn, &Email::receipt(replica.order.clone())).await?;
    }
    outbox::publish(conn, vec![NewChange::order(replica)]).await?;
    Ok(format!("order {order_id} {}", to.as_str()))
}
