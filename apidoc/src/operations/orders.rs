//! The catalogue, orders, payments, and Stripe's webhook.

use domain::input::JsonBody;
use domain::orders::{NewOrder, PaymentIntentRequest};
use domain::{ApiError, FieldErrors};
use serde_json::json;

use super::{Body, BodyMedia, Origin, Query, Shape, Spec, Success, Tag, json_body};
use crate::examples::{self, refusal};
use crate::parameters::{ORDER_TOKEN, STRIPE_SIGNATURE};
use crate::schemas;

pub(super) fn list_products() -> Spec {
    let ok = Success::ok(
        "A page of the products on sale, in id order.",
        schemas::PAGINATED_PRODUCTS,
        examples::page_of(&examples::product()),
    );
    Spec::new("v1_products_list", Tag::V1, "List the catalogue", ok).paginated(Query::Pages)
}

pub(super) fn list_orders() -> Spec {
    let ok = Success::ok(
        "A page of your orders, newest first.",
        schemas::PAGINATED_ORDERS,
        examples::page_of(&examples::order()),
    );
    Spec::new("v1_orders_list", Tag::V1, "List your orders", ok).paginated(Query::Pages)
}

pub(super) fn create_order() -> Spec {
    let created = Success::json(
        201,
        "The order, priced from the catalogue; a guest's carries `order_token`, shown only here.",
        schemas::CREATED_ORDER,
        examples::created_order(),
    );
    let bad = json_body(&json!({"email": "nope", "items": []}));
    Spec::new("v1_orders_create", Tag::V1, "Place an order", created)
        .follows(&[("GetOrder", "v1_orders_retrieve")])
        .describe(
            "For users and guests alike. Each line is priced from the catalogue when the order \
             is placed, and keeps that price. A guest reads and pays for the order with the \
             `order_token` of this answer, in `X-Order-Token`. JSON only: `items` is a list.",
        )
        .body(Body::json(
            schemas::requests::ORDER,
            examples::order_request(),
        ))
        .invalid(
            "A field or a line is invalid, a product is not on sale, the products' currencies \
             differ, or the total is over what Stripe can charge.",
            &refusal(NewOrder::from_body(&bad)),
        )
        .origin(Origin::Idempotent)
}

pub(super) fn show_order() -> Spec {
    let ok = Success::ok("The order.", schemas::ORDER, examples::order());
    Spec::new("v1_orders_retrieve", Tag::V1, "An order", ok)
        .describe(
            "Its user's (bearer token), or the guest's who holds its order token \
             (`X-Order-Token`). Without either it is 401; a wrong token is 404.",
        )
        .header(ORDER_TOKEN)
        .not_found("Order")
}

pub(super) fn create_payment_intent() -> Spec {
    let ok = Success::ok(
        "The order's PaymentIntent, for Stripe.js to confirm.",
        schemas::PAYMENT_INTENT,
        json!({"client_secret": "pi_3Pexample_secret_example"}),
    );
    let paid = FieldErrors::single("order_id", "This order is paid already.");
    let missing = refusal(PaymentIntentRequest::from_body(&JsonBody::default()));
    Spec::new("v1_payments_intent_create", Tag::V1, "Pay for an order", ok)
        .describe(
            "Creates the order's Stripe PaymentIntent (one per order, whatever the retries) or \
             returns the one it has. Its user's (bearer token), or the guest's who holds its \
             order token (`X-Order-Token`); without either it is 401.",
        )
        .header(ORDER_TOKEN)
        .body(Body::form(
            schemas::requests::PAYMENT_INTENT,
            examples::payment_intent_request(),
        ))
        .invalid("`order_id` is missing or not an id.", &missing)
        .refuses_with(
            "paid",
            "The order is paid already.",
            &ApiError::Validation(paid),
        )
        .refuses_with(
            "not_found",
            "The order is not the caller's (or the order token is not its own).",
            &ApiError::NotFound(Some("Order")),
        )
        .refuses_with(
            "stripe",
            "Stripe is unreachable, slow or rate-limiting; retry after `Retry-After`.",
            &ApiError::Unavailable,
        )
        .origin(Origin::Forwarded)
}

pub(super) fn stripe_webhook() -> Spec {
    let ok = Success::ok(
        "The event is stored (`duplicate`: it was already).",
        schemas::WEBHOOK_RECEIPT,
        json!({"received": true, "duplicate": false}),
    );
    Spec::new("webhooks_stripe_create", Tag::Webhooks, "Stripe events", ok)
        .describe(
            "Stripe's calls: the raw event, verified against `Stripe-Signature` (by any \
             configured secret, within Stripe's tolerance for its timestamp), stored once and \
             applied in the background.",
        )
        .header(STRIPE_SIGNATURE)
        .body(Body {
            schema: Shape::Inline(schemas::stripe_event),
            media: BodyMedia::Json,
            required: true,
            example: None,
        })
        .refuses_with(
            "invalid",
            "The signature or the payload does not verify.",
            &ApiError::InvalidWebhook,
        )
        .origin(Origin::Relayed)
}
