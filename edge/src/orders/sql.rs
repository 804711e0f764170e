//! The SQL for the catalogue and orders, built like the projects' (see `projects::sql`): every
//! representation is JSON built by SQLite in the contract's field order, every value bound.

use std::sync::OnceLock;

use domain::orders::{Order, Product};
use domain::{OrderId, UserId};

use crate::platform::Statement;
use crate::projects::sql::{ListStatements, Window, as_array, json_object};

/// A product as the public list shows it.
fn product_json() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        json_object(Product::PUBLIC_FIELDS, |field| match field {
            "id" | "name" | "price_cents" | "currency" => field.to_owned(),
            #[expect(
                clippy::unreachable,
                reason = "a static field list; the tests read every field"
            )]
            other => unreachable!("the product field `{other}` has no column in D1"),
        })
    })
}

/// An order (alias `o`); its lines are stored as the JSON array they are shown as.
fn order_json() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        json_object(Order::FIELDS, |field| match field {
            "items" => "json(o.items)".to_owned(),
            "paid" => "json(CASE WHEN o.status = 'paid' THEN 'true' ELSE 'false' END)".to_owned(),
            "id" | "email" | "total_cents" | "currency" | "status" | "created_at" => {
                format!("o.{field}")
            }
            #[expect(
                clippy::unreachable,
                reason = "a static field list; the tests read every field"
            )]
            other => unreachable!("the order field `{other}` has no column in D1"),
        })
    })
}

fn window_params(window: Window, first: usize) -> (String, Vec<crate::platform::SqlValue>) {
    (
        format!(" LIMIT ?{first} OFFSET ?{}", first + 1),
        vec![
            i64::from(window.limit).into(),
            i64::try_from(window.offset).unwrap_or(i64::MAX).into(),
        ],
    )
}

/// The products on sale, in id order.
pub fn product_list(window: Window) -> ListStatements {
    let (limit, params) = window_params(window, 1);
    ListStatements {
        count: Statement::new(
            "SELECT count(*) AS n FROM products WHERE active",
            Vec::new(),
        ),
        page: Statement::new(
            as_array(&format!(
                "SELECT {} AS item FROM products WHERE active ORDER BY id{limit}",
                product_json()
            )),
            params,
        ),
    }
}

/// A user's orders, newest first.
pub fn order_list(owner: UserId, window: Window) -> ListStatements {
    let (limit, mut params) = window_params(window, 2);
    params.insert(0, owner.into());
    ListStatements {
        count: Statement::new(
            "SELECT count(*) AS n FROM orders WHERE owner_id = ?1",
            vec![owner.into()],
        ),
        page: Statement::new(
            as_array(&format!(
                "SELECT {} AS item FROM orders o WHERE o.owner_id = ?1 \
                 ORDER BY o.created_at DESC, o.id DESC{limit}",
                order_json()
            )),
            params,
        ),
    }
}

/// One order of `owner`.
pub fn order_of_owner(owner: UserId, id: OrderId) -> Statement {
    Statement::new(
        format!(
            "SELECT {} AS json FROM orders o WHERE o.id = ?1 AND o.owner_id = ?2",
            order_json()
        ),
        vec![id.into(), owner.into()],
    )
}

/// One guest order, by the digest of the token its creator holds.
pub fn order_of_token(digest: &str, id: OrderId) -> Statement {
    Statement::new(
        format!(
            "SELECT {} AS json FROM orders o WHERE o.id = ?1 AND o.token_digest = ?2",
            order_json()
        ),
        vec![id.into(), digest.into()],
    )
}
