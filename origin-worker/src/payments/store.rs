//! The SQL behind payments: an order's intent and status, and the stored Stripe events.

use domain::OrderId;
use domain::orders::OrderStatus;
use serde_json::Value;
use sqlx::PgConnection;

/// What paying for an order needs to know about it.
#[derive(Debug, sqlx::FromRow)]
pub struct Payable {
    pub id: i64,
    pub user_id: Option<i64>,
    pub token_digest: Option<String>,
    pub currency: String,
    pub total_cents: i64,
    pub status: String,
    pub payment_intent_id: Option<String>,
}

impl Payable {
    pub fn status(&self) -> Option<OrderStatus> {
        OrderStatus::parse(&self.status)
    }
}

/// The order, locked for the rest of the transaction when `lock` is set.
pub async fn payable(
    conn: &mut PgConnection,
    id: OrderId,
    lock: bool,
) -> sqlx::Result<Option<Payable>> {
    let sql = if lock {
        "SELECT id, user_id, token_digest, currency, total_cents, status, payment_intent_id \
         FROM orders WHERE id = $1 FOR UPDATE"
    } else {
        "SELECT id, user_id, token_digest, currency, total_cents, status, payment_intent_id \
         FROM orders WHERE id = $1"
    };
    sqlx::query_as(sql)
        .bind(id.get())
        .fetch_optional(conn)
        .await
}

/// Records the order's intent, unless one is recorded already; answers the one that stays.
pub async fn keep_payment_intent(
    conn: &mut PgConnection,
    order: OrderId,
    intent: &str,
) -> sqlx::Result<String> {
    sqlx::query_scalar(
        "UPDATE orders SET payment_intent_id = coalesce(payment_intent_id, $2) WHERE id = $1 \
         RETURNING payment_intent_id",
    )
    .bind(order.get())
    .bind(intent)
    .fetch_one(conn)
    .await
}

/// Moves the order to `status` (and stamps `paid_at` when paid).
pub async fn set_status(
    conn: &mut PgConnection,
    order: OrderId,
    status: OrderStatus,
    intent: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE orders SET status = $2, payment_intent_id = coalesce(payment_intent_id, $3), \
             paid_at = CASE WHEN $2 = 'paid' THEN now() ELSE paid_at END \
         WHERE id = $1",
    )
    .bind(order.get())
    .bind(status.as_str())
    .bind(intent)
    .execute(conn)
    .await?;
    Ok(())
}

/// Stores an event the first time it arrives; `false` for a redelivery.
pub async fn insert_event(
    conn: &mut PgConnection,
    id: &str,
    kind: &str,
    created: i64,
    payload: &Value,
) -> sqlx::Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO stripe_events (id, type, created, payload) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(kind)
    .bind(created)
    .bind(payload)
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// A stored event.
#[derive(Debug, sqlx::FromRow)]
pub struct StoredEvent {
    pub id: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub payload: Value,
    pub outcome: Option<String>,
}

/// The event, locked until commit (two runs of its job take turns).
pub async fn event_for_update(
    conn: &mut PgConnection,
    id: &str,
) -> sqlx::Result<Option<StoredEvent>> {
    sqlx::query_as("SELECT id, type, payload, outcome FROM stripe_events WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn mark_processed(conn: &mut PgConnection, id: &str, outcome: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE stripe_events SET processed_at = now(), outcome = $2 WHERE id = $1")
        .bind(id)
        .bind(outcome)
        .execute(conn)
        .await?;
    Ok(())
}
