//! The SQL behind the catalogue and orders.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use domain::orders::{Currency, NewProduct, Order, OrderItem, OrderReplica, OrderStatus, Product};
use domain::{OrderId, ProductId, UserId};
use sqlx::PgConnection;

use crate::db::timestamp;

#[derive(Debug, sqlx::FromRow)]
struct ProductRow {
    id: i64,
    name: String,
    price_cents: i64,
    currency: String,
    active: bool,
}

impl ProductRow {
    fn product(self) -> anyhow::Result<Product> {
        Ok(Product {
            id: ProductId::new(self.id),
            name: self.name,
            price_cents: self.price_cents,
            currency: currency(&self.currency)?,
            active: self.active,
        })
    }
}

/// The column's CHECK makes this infallible in practice; a failure is a fault, not a 400.
fn currency(raw: &str) -> anyhow::Result<Currency> {
    Currency::parse(raw).ok_or_else(|| anyhow::anyhow!("stored currency {raw:?} is invalid"))
}

macro_rules! product_columns {
    () => {
        "id, name, price_cents, currency, active"
    };
}

pub async fn insert_product(
    conn: &mut PgConnection,
    product: &NewProduct,
) -> anyhow::Result<Product> {
    let row: ProductRow = sqlx::query_as(concat!(
        "INSERT INTO products (name, price_cents, currency) VALUES ($1, $2, $3) RETURNING ",
        product_columns!()
    ))
    .bind(&product.name)
    .bind(product.price_cents)
    .bind(product.currency.as_str())
    .fetch_one(conn)
    .await?;
    row.product()
}

/// Puts a product on sale or takes it off; `None` when there is no such product.
pub async fn set_product_active(
    conn: &mut PgConnection,
    id: ProductId,
    active: bool,
) -> anyhow::Result<Option<Product>> {
    let row: Option<ProductRow> = sqlx::query_as(concat!(
        "UPDATE products SET active = $2 WHERE id = $1 RETURNING ",
        product_columns!()
    ))
    .bind(id.get())
    .bind(active)
    .fetch_optional(conn)
    .await?;
    row.map(ProductRow::product).transpose()
}

/// Every product, in id order (the operators' list).
pub async fn all_products(conn: &mut PgConnection) -> anyhow::Result<Vec<Product>> {
    let rows: Vec<ProductRow> = sqlx::query_as(concat!(
        "SELECT ",
        product_columns!(),
        " FROM products ORDER BY id"
    ))
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(ProductRow::product).collect()
}

/// The products with these ids that exist, on sale or not (the audit's repair, and an order's
/// lines). `lock` holds them against a concurrent change of price until commit, so an order
/// snapshots prices that were current when it committed.
pub async fn products_by_ids(
    conn: &mut PgConnection,
    ids: &[ProductId],
    lock: bool,
) -> anyhow::Result<HashMap<ProductId, Product>> {
    let ids: Vec<i64> = ids.iter().copied().map(ProductId::get).collect();
    let sql = if lock {
        concat!(
            "SELECT ",
            product_columns!(),
            " FROM products WHERE id = ANY($1) FOR SHARE"
        )
    } else {
        concat!(
            "SELECT ",
            product_columns!(),
            " FROM products WHERE id = ANY($1)"
        )
    };
    let rows: Vec<ProductRow> = sqlx::query_as(sql).bind(ids).fetch_all(conn).await?;
    rows.into_iter()
        .map(|row| row.product().map(|product| (product.id, product)))
        .collect()
}

/// An order to insert: its lines are already priced.
#[derive(Debug)]
pub struct NewOrderRow<'a> {
    pub owner: Option<UserId>,
    pub token_digest: Option<&'a str>,
    pub email: &'a str,
    pub currency: &'a Currency,
    pub total_cents: i64,
    pub items: &'a [OrderItem],
}

/// Inserts the order and its lines; answers it as stored.
pub async fn insert_order(
    conn: &mut PgConnection,
    new: &NewOrderRow<'_>,
) -> sqlx::Result<OrderReplica> {
    let (id, created_at): (i64, DateTime<Utc>) = sqlx::query_as(
        "INSERT INTO orders (user_id, token_digest, email, currency, total_cents) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id, created_at",
    )
    .bind(new.owner.map(UserId::get))
    .bind(new.token_digest)
    .bind(new.email)
    .bind(new.currency.as_str())
    .bind(new.total_cents)
    .fetch_one(&mut *conn)
    .await?;
    let positions: Vec<i16> = (0..).take(new.items.len()).collect();
    let products: Vec<i64> = new.items.iter().map(|i| i.product_id.get()).collect();
    let names: Vec<&str> = new.items.iter().map(|i| i.name.as_str()).collect();
    let quantities: Vec<i32> = new
        .items
        .iter()
        .map(|i| i32::try_from(i.quantity).unwrap_or(i32::MAX))
        .collect();
    let prices: Vec<i64> = new.items.iter().map(|i| i.unit_price_cents).collect();
    let totals: Vec<i64> = new.items.iter().map(|i| i.line_total_cents).collect();
    sqlx::query(
        "INSERT INTO order_items (order_id, position, product_id, name, quantity, \
                                  unit_price_cents, line_total_cents) \
         SELECT $1, * FROM UNNEST($2::smallint[], $3::bigint[], $4::text[], $5::int[], \
                                  $6::bigint[], $7::bigint[])",
    )
    .bind(id)
    .bind(positions)
    .bind(products)
    .bind(names)
    .bind(quantities)
    .bind(prices)
    .bind(totals)
    .execute(conn)
    .await?;
    Ok(OrderReplica {
        order: Order {
            id: OrderId::new(id),
            email: new.email.to_owned(),
            items: new.items.to_vec(),
            total_cents: new.total_cents,
            currency: new.currency.clone(),
            status: OrderStatus::Pending,
            created_at: timestamp(created_at),
        },
        owner: new.owner,
        token_digest: new.token_digest.map(str::to_owned),
    })
}

#[derive(Debug, sqlx::FromRow)]
struct OrderRow {
    id: i64,
    user_id: Option<i64>,
    token_digest: Option<String>,
    email: String,
    currency: String,
    total_cents: i64,
    status: String,
    created_at: DateTime<Utc>,
}

#[derive(Debug, sqlx::FromRow)]
struct ItemRow {
    order_id: i64,
    product_id: i64,
    name: String,
    quantity: i32,
    unit_price_cents: i64,
    line_total_cents: i64,
}

/// The orders with these ids that exist, with their lines, in id order (the audit's repair,
/// and detaching a deleted user's orders).
pub async fn orders_by_ids(
    conn: &mut PgConnection,
    ids: &[OrderId],
) -> anyhow::Result<Vec<OrderReplica>> {
    let ids: Vec<i64> = ids.iter().copied().map(OrderId::get).collect();
    let orders: Vec<OrderRow> = sqlx::query_as(
        "SELECT id, user_id, token_digest, email, currency, total_cents, status, created_at \
         FROM orders WHERE id = ANY($1) ORDER BY id",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let items: Vec<ItemRow> = sqlx::query_as(
        "SELECT order_id, product_id, name, quantity, unit_price_cents, line_total_cents \
         FROM order_items WHERE order_id = ANY($1) ORDER BY order_id, position",
    )
    .bind(&ids)
    .fetch_all(conn)
    .await?;
    let mut lines: HashMap<i64, Vec<OrderItem>> = HashMap::new();
    for item in items {
        lines.entry(item.order_id).or_default().push(OrderItem {
            product_id: ProductId::new(item.product_id),
            name: item.name,
            quantity: i64::from(item.quantity),
            unit_price_cents: item.unit_price_cents,
            line_total_cents: item.line_total_cents,
        });
    }
    orders
        .into_iter()
        .map(|row| {
            Ok(OrderReplica {
                order: Order {
                    id: OrderId::new(row.id),
                    email: row.email,
                    items: lines.remove(&row.id).unwrap_or_default(),
                    total_cents: row.total_cents,
                    currency: currency(&row.currency)?,
                    status: OrderStatus::parse(&row.status).ok_or_else(|| {
                        anyhow::anyhow!("stored order status {:?} is invalid", row.status)
                    })?,
                    created_at: timestamp(row.created_at),
                },
                owner: row.user_id.map(UserId::new),
                token_digest: row.token_digest,
            })
        })
        .collect()
}

/// The ids of a user's orders (to replicate them detached when the account goes).
pub async fn order_ids_of(conn: &mut PgConnection, user: UserId) -> sqlx::Result<Vec<OrderId>> {
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM orders WHERE user_id = $1")
        .bind(user.get())
        .fetch_all(conn)
        .await?;
    Ok(ids.into_iter().map(OrderId::new).collect())
}
