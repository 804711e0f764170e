//! The schemas: the domain's representations (named as DRF names them), the request bodies
//! ([`requests`]), the lists and small replies ([`replies`]).

pub mod replies;
pub mod requests;

use domain::auth::TokenPair;
use domain::orders::{Currency, OrderItem, OrderStatus, OrderView, Product};
use domain::projects::{ProjectView, Task};
use domain::replication::UserReplica;
use utoipa::PartialSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::openapi::{Ref, RefOr, Schema};

pub const TASK: &str = "Task";
pub const PROJECT: &str = "Project";
pub const ORDER: &str = "Order";
pub const ORDER_ITEM: &str = "OrderItem";
pub const ORDER_STATUS: &str = "OrderStatus";
pub const CURRENCY: &str = "Currency";
pub const PRODUCT: &str = "Product";
pub const TOKEN_PAIR: &str = "TokenPair";
pub const USER: &str = "User";
pub use replies::{
    ARCHIVED, CREATED_ORDER, EMPTY, ERROR, HEALTH, PAGINATED_ORDERS, PAGINATED_PRODUCTS,
    PAGINATED_PROJECTS, PAGINATED_TASKS, PAYMENT_INTENT, READINESS, REGISTER, WEBHOOK_RECEIPT,
};

/// A reference to the component `name`.
pub fn component(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

/// Every schema component, by name.
pub fn all() -> Vec<(&'static str, RefOr<Schema>)> {
    let domain = domain_schemas()
        .into_iter()
        .map(|(name, schema, description)| (name, described(schema, description)));
    let built = requests::all().into_iter().chain(replies::all());
    domain
        .chain(built.map(|(name, schema)| (name, RefOr::T(schema))))
        .collect()
}

/// The domain's representations: what the services serialize, described by the domain's own
/// derives. Names are DRF's (`Project` is the view with nested tasks), and so are the
/// descriptions a client reads, in place of the types' Rust docs.
fn domain_schemas() -> Vec<(&'static str, RefOr<Schema>, &'static str)> {
    vec![
        (TASK, Task::schema(), "A task of one of your projects."),
        (
            PROJECT,
            flattened(ProjectView::schema()),
            "A project, with its tasks nested and counted.",
        ),
        (
            ORDER,
            flattened(OrderView::schema()),
            "An order, its lines priced as they were when it was placed. `paid` follows from \
             `status`.",
        ),
        (
            ORDER_ITEM,
            OrderItem::schema(),
            "One line of an order: the product's name and price as they were when the order \
             was placed.",
        ),
        (
            ORDER_STATUS,
            OrderStatus::schema(),
            "Where an order stands. It only moves forward: `pending` to `paid`, or to \
             `payment_failed` and later `paid`; `paid` is final.",
        ),
        (
            CURRENCY,
            Currency::schema(),
            "A lower-case ISO 4217 code, as Stripe spells currencies.",
        ),
        (
            PRODUCT,
            Product::schema(),
            "A product on sale. Prices are integers in the currency's smallest unit.",
        ),
        (
            TOKEN_PAIR,
            TokenPair::schema(),
            "A refresh token and an access token (JWT, HS256).",
        ),
        (USER, UserReplica::schema(), "Your account."),
    ]
}

/// The body Stripe posts: an event, signed over its raw bytes.
pub fn stripe_event() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "A Stripe event (`id`, `type`, `data.object`, …) exactly as Stripe sent and signed it.",
        ))
        .into()
}

/// `schema` with the description a client should read.
fn described(schema: RefOr<Schema>, description: &str) -> RefOr<Schema> {
    let mut schema = schema;
    let text = Some(description.to_owned());
    match &mut schema {
        RefOr::T(Schema::Object(object)) => object.description = text,
        RefOr::T(Schema::AllOf(all_of)) => all_of.description = text,
        RefOr::T(Schema::OneOf(one_of)) => one_of.description = text,
        RefOr::T(Schema::AnyOf(any_of)) => any_of.description = text,
        RefOr::T(Schema::Array(array)) => array.description = text,
        RefOr::Ref(_) | RefOr::T(_) => {}
    }
    schema
}

/// One object from an `allOf` of inline objects, which is how utoipa renders serde's
/// `flatten` (a view adding fields to its resource): a client reads one flat object, and so
/// does the document. Anything else is left as it is.
fn flattened(schema: RefOr<Schema>) -> RefOr<Schema> {
    let RefOr::T(Schema::AllOf(all_of)) = &schema else {
        return schema;
    };
    let mut merged: Object = ObjectBuilder::new().schema_type(Type::Object).build();
    for part in &all_of.items {
        let RefOr::T(Schema::Object(part)) = part else {
            return schema;
        };
        for (name, property) in &part.properties {
            merged.properties.insert(name.clone(), property.clone());
        }
        merged.required.extend(part.required.iter().cloned());
    }
    RefOr::T(Schema::Object(merged))
}
