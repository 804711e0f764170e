//! The catalogue and orders (the seed's `002_*` §D): products, the body that places an order,
//! the order with its prices snapshotted, and the token that lets a guest come back to theirs.
//!
//! Money is integer cents (the currency's smallest unit) everywhere; a currency is a
//! lower-case ISO 4217 code, as Stripe spells it.

mod order;
mod product;

pub use order::{
    LineRequest, NewOrder, Order, OrderItem, OrderReplica, OrderStatus, OrderView,
    PaymentIntentRequest, token_digest,
};
pub use product::{Currency, NewProduct, Product};

/// Most lines one order may have.
pub const MAX_ORDER_ITEMS: usize = 50;
/// Most units of one product on a line.
pub const MAX_QUANTITY: i64 = 100;
/// The largest amount Stripe charges in one payment (99,999,999 of the smallest unit, for
/// most currencies): no product price and no order total may exceed it.
pub const MAX_AMOUNT_CENTS: i64 = 99_999_999;
/// Longest product name.
pub const PRODUCT_NAME_MAX: usize = 120;
/// Longest email address (RFC 5321's path limit, as Django's `EmailField` has it).
pub const EMAIL_MAX: usize = 254;
/// The header a guest presents their order token in (never a query parameter, which would
/// end up in logs).
pub const ORDER_TOKEN_HEADER: &str = "x-order-token";
/// Longest order token accepted in that header.
pub const MAX_ORDER_TOKEN_CHARS: usize = 128;
