//! The operators' side of the catalogue (`origin-worker products …`): every change commits
//! with its change record, so the edge's public list follows.

use domain::ProductId;
use domain::orders::{NewProduct, Product};

use super::store;
use crate::replication::outbox::{self, NewChange};
use crate::state::AppState;

/// What `./dev run` puts on sale on its first start, so a newcomer can place an order at once.
const DEMO: [(&str, i64, &str); 4] = [
    ("Projects & Tasks Pro, one month", 900, "usd"),
    ("Extra team seat, one month", 500, "usd"),
    ("Onboarding session (1 hour)", 15_000, "usd"),
    ("Sticker pack", 300, "usd"),
];

pub async fn add(state: &AppState, product: &NewProduct) -> anyhow::Result<Product> {
    let mut tx = state.db.begin().await?;
    let added = store::insert_product(&mut tx, product).await?;
    outbox::publish(&mut tx, vec![NewChange::product(added.clone())]).await?;
    tx.commit().await?;
    Ok(added)
}

/// Puts a product on sale (`true`) or retires it; `None` when there is no such product.
pub async fn set_active(
    state: &AppState,
    id: ProductId,
    active: bool,
) -> anyhow::Result<Option<Product>> {
    let mut tx = state.db.begin().await?;
    let Some(product) = store::set_product_active(&mut tx, id, active).await? else {
        return Ok(None);
    };
    outbox::publish(&mut tx, vec![NewChange::product(product.clone())]).await?;
    tx.commit().await?;
    Ok(Some(product))
}

pub async fn list(state: &AppState) -> anyhow::Result<Vec<Product>> {
    let mut conn = state.db.acquire().await?;
    store::all_products(&mut conn).await
}

/// Adds the demo catalogue when there are no products at all; answers what it added (nothing
/// on every later start). Concurrent starts add it once: the check and the inserts share a
/// transaction-scoped lock.
pub async fn seed_demo(state: &AppState) -> anyhow::Result<Vec<Product>> {
    let mut tx = state.db.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('seed-demo-catalogue', 7))")
        .execute(&mut *tx)
        .await?;
    if !store::all_products(&mut tx).await?.is_empty() {
        return Ok(Vec::new());
    }
    let mut added = Vec::with_capacity(DEMO.len());
    for (name, price_cents, currency) in DEMO {
        let product = NewProduct::parse(name, price_cents, currency).map_err(anyhow::Error::msg)?;
        added.push(store::insert_product(&mut tx, &product).await?);
    }
    let changes = added.iter().cloned().map(NewChange::product).collect();
    outbox::publish(&mut tx, changes).await?;
    tx.commit().await?;
    Ok(added)
}
