//! `POST /api/v1/orders/`: guests and users alike (the seed's `AllowAny`). The lines are
//! priced from the catalogue inside the write's transaction, so the order keeps the prices it
//! was placed at; a guest gets a token, shown once, that lets them read and pay for it.

use axum::extract::State;
use axum::http::StatusCode;
use domain::input::messages;
use domain::orders::{Currency, MAX_AMOUNT_CENTS, NewOrder, OrderItem, Product, token_digest};
use domain::{ApiError, FieldErrors, ProductId};
use rand::RngCore as _;
use serde_json::json;

use super::store::{self, NewOrderRow};
use crate::begin_write;
use crate::http::reply::{Failure, Reply};
use crate::http::signed::Signed;
use crate::replication::outbox::{self, NewChange};
use crate::state::AppState;

/// 256 random bits, hex: the guest's order token.
fn new_order_token() -> String {
    let mut bytes = [0_u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The order's lines priced from the catalogue, its currency and total; or DRF-shaped errors:
/// a product that does not exist or is off sale is an invalid pk on its line, mixed currencies
/// and a total Stripe could not charge are errors of `items`.
fn price(
    new: &NewOrder,
    catalogue: &std::collections::HashMap<ProductId, Product>,
) -> Result<(Vec<OrderItem>, Currency, i64), FieldErrors> {
    let mut errors = FieldErrors::new();
    let mut items = Vec::with_capacity(new.items.len());
    for (index, line) in new.items.iter().enumerate() {
        match catalogue.get(&line.product).filter(|p| p.active) {
            Some(product) => items.push(OrderItem {
                product_id: product.id,
                name: product.name.clone(),
                quantity: line.quantity,
                unit_price_cents: product.price_cents,
                // Both bounded (quantity ≤ 100, price ≤ 99,999,999): no overflow.
                line_total_cents: product.price_cents * line.quantity,
            }),
            None => errors.add_element(
                "items",
                new.items.len(),
                index,
                FieldErrors::single("product_id", messages::pk_does_not_exist(line.product)),
            ),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let currency = catalogue[&new.items[0].product].currency.clone();
    if items
        .iter()
        .any(|item| catalogue[&item.product_id].currency != currency)
    {
        return Err(FieldErrors::single(
            "items",
            "All products of an order must be priced in the same currency.",
        ));
    }
    let total: i64 = items.iter().map(|item| item.line_total_cents).sum();
    if total > MAX_AMOUNT_CENTS {
        return Err(FieldErrors::single(
            "items",
            format!(
                "The order's total may not exceed {MAX_AMOUNT_CENTS} (the smallest unit of its currency)."
            ),
        ));
    }
    Ok((items, currency, total))
}

/// `POST /api/v1/orders/` → 201 with the order, and `order_token` for a guest.
pub async fn create_order(State(state): State<AppState>, signed: Signed) -> Result<Reply, Failure> {
    let new = NewOrder::from_body(&signed.json()?)?;
    let mut write = begin_write!(&state, &signed);
    let wanted: Vec<ProductId> = new.items.iter().map(|line| line.product).collect();
    let catalogue = store::products_by_ids(&mut write.tx, &wanted, true).await?;
    let (items, currency, total_cents) =
        price(&new, &catalogue).map_err(|errors| Failure::Api(ApiError::Validation(errors)))?;
    let token = signed.caller.is_none().then(new_order_token);
    let digest = token.as_deref().map(token_digest);
    let order = store::insert_order(
        &mut write.tx,
        &NewOrderRow {
            owner: signed.caller,
            token_digest: digest.as_deref(),
            email: &new.email,
            currency: &currency,
            total_cents,
            items: &items,
        },
    )
    .await
    .map_err(|error| match &error {
        // The account was deleted between the edge's check and this write.
        sqlx::Error::Database(e) if e.is_foreign_key_violation() => {
            Failure::Api(ApiError::UserNotFound)
        }
        _ => Failure::Database(error),
    })?;
    let mut body = json!(order.order.view());
    if let Some(token) = token {
        body["order_token"] = json!(token);
    }
    let changes = outbox::publish(&mut write.tx, vec![NewChange::order(order)]).await?;
    write
        .commit(Reply::new(StatusCode::CREATED, body).with_changes(changes))
        .await
}
