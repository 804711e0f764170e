//! An order: the body that places it, the stored order with each line's price snapshotted, and
//! the digest of a guest's order token.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::product::Currency;
use super::{EMAIL_MAX, MAX_ORDER_ITEMS, MAX_QUANTITY};
use crate::auth::Email;
use crate::error::{ApiError, FieldErrors};
use crate::ids::{OrderId, ProductId, UserId};
use crate::input::{JsonBody, Text, messages, python_int};

/// Where an order stands. It only moves forward: `pending` → `paid`, or `pending` →
/// `payment_failed` → (a later attempt) `paid`; a paid order stays paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Pending,
    Paid,
    PaymentFailed,
}

impl OrderStatus {
    /// As stored in Postgres and D1.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Paid => "paid",
            Self::PaymentFailed => "payment_failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::Paid, Self::PaymentFailed]
            .into_iter()
            .find(|status| status.as_str() == raw)
    }
}

/// One line of an order: the product's name and price as they were when it was placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderItem {
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub product_id: ProductId,
    pub name: String,
    pub quantity: i64,
    pub unit_price_cents: i64,
    pub line_total_cents: i64,
}

/// An order as the API shows it (see [`OrderView`] for the `paid` flag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Order {
    #[cfg_attr(feature = "openapi", schema(value_type = i64, read_only))]
    pub id: OrderId,
    #[cfg_attr(feature = "openapi", schema(format = Email))]
    pub email: String,
    pub items: Vec<OrderItem>,
    pub total_cents: i64,
    pub currency: Currency,
    pub status: OrderStatus,
    /// RFC 3339, UTC.
    #[cfg_attr(feature = "openapi", schema(format = DateTime, read_only))]
    pub created_at: String,
}

/// The representation: the order and the contract's `paid`, which follows from `status`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderView<'a> {
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(inline))]
    pub order: &'a Order,
    pub paid: bool,
}

impl Order {
    /// The fields of an order's JSON ([`OrderView`]), in order. The edge builds the same JSON
    /// in SQL from this list; a test holds the two together.
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "email",
        "items",
        "total_cents",
        "currency",
        "status",
        "created_at",
        "paid",
    ];

    pub fn view(&self) -> OrderView<'_> {
        OrderView {
            order: self,
            paid: self.status == OrderStatus::Paid,
        }
    }
}

/// An order as replicated to the edge: who may read it there. A user's orders carry their id;
/// a guest's carry the digest of their token (never the token: D1 holds nothing a reader could
/// present).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderReplica {
    #[serde(flatten)]
    pub order: Order,
    pub owner: Option<UserId>,
    pub token_digest: Option<String>,
}

/// The SHA-256 of a guest's order token, hex: what Postgres and D1 keep, and what a presented
/// token is compared against. The token is 256 random bits, so a plain hash is enough.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The body of `POST /api/v1/payments/intent/`: `{order_id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentIntentRequest {
    pub order: OrderId,
}

impl PaymentIntentRequest {
    pub fn from_body(body: &JsonBody) -> Result<Self, ApiError> {
        let mut fields = body.fields();
        let id = fields.primary_key("order_id", true);
        let order = id.and_then(|id| {
            let order = OrderId::parse(&id.to_string());
            if order.is_none() {
                fields.reject("order_id", messages::pk_does_not_exist(id));
            }
            order
        });
        fields.finish_with(|| order.map(|order| Self { order }))
    }
}

/// One line as the client asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineRequest {
    pub product: ProductId,
    pub quantity: i64,
}

/// The body of `POST /api/v1/orders/`: `{email, items: [{product_id, quantity}]}`, checked for
/// shape and limits. Whether each product exists and is on sale is the origin's to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub email: String,
    pub items: Vec<LineRequest>,
}

impl NewOrder {
    pub fn from_body(body: &JsonBody) -> Result<Self, ApiError> {
        let mut fields = body.fields();
        let email = fields
            .text("email", Text::required(EMAIL_MAX))
            .and_then(|raw| match Email::parse(&raw) {
                Ok(email) => Some(email.as_str().to_owned()),
                Err(message) => {
                    fields.reject("email", message);
                    None
                }
            });
        let mut errors = fields.into_errors();
        let items = lines(body.get("items"), &mut errors);
        errors.into_result(())?;
        email
            .zip(items)
            .map(|(email, items)| Self { email, items })
            .ok_or(ApiError::Internal)
    }
}

/// The `items` list, DRF's `ListSerializer(allow_empty=False, max_length=…)` of nested
/// serializers; every problem recorded in `errors`.
fn lines(raw: Option<&Value>, errors: &mut FieldErrors) -> Option<Vec<LineRequest>> {
    let list = match raw {
        None => {
            errors.add("items", messages::REQUIRED);
            return None;
        }
        Some(Value::Null) => {
            errors.add("items", messages::NULL);
            return None;
        }
        Some(Value::Array(list)) => list,
        Some(other) => {
            errors.add(
                "items",
                format!(
                    "Expected a list of items but got type \"{}\".",
                    crate::input::python_type_name(other)
                ),
            );
            return None;
        }
    };
    if list.is_empty() {
        errors.add("items", "This list may not be empty.");
        return None;
    }
    if list.len() > MAX_ORDER_ITEMS {
        errors.add(
            "items",
            format!("Ensure this field has no more than {MAX_ORDER_ITEMS} elements."),
        );
        return None;
    }
    let mut lines = Vec::with_capacity(list.len());
    for (index, element) in list.iter().enumerate() {
        let mut mine = FieldErrors::new();
        if let Some(line) = line(element, &mut mine) {
            if lines
                .iter()
                .any(|l: &LineRequest| l.product == line.product)
            {
                mine.add(
                    "product_id",
                    "This product is already on another line; put the whole quantity there.",
                );
            } else {
                lines.push(line);
            }
        }
        errors.add_element("items", list.len(), index, mine);
    }
    (lines.len() == list.len()).then_some(lines)
}

fn line(element: &Value, errors: &mut FieldErrors) -> Option<LineRequest> {
    let Value::Object(object) = element else {
        errors.add(
            "non_field_errors",
            format!(
                "Invalid data. Expected a dictionary, but got {}.",
                crate::input::python_type_name(element)
            ),
        );
        return None;
    };
    let product = integer(object.get("product_id"), "product_id", errors).and_then(|id| {
        let product = ProductId::parse(&id.to_string());
        if product.is_none() {
            errors.add("product_id", messages::pk_does_not_exist(id));
        }
        product
    });
    let quantity = integer(object.get("quantity"), "quantity", errors).and_then(|quantity| {
        if quantity < 1 {
            errors.add(
                "quantity",
                "Ensure this value is greater than or equal to 1.",
            );
            None
        } else if quantity > MAX_QUANTITY {
            errors.add(
                "quantity",
                format!("Ensure this value is less than or equal to {MAX_QUANTITY}."),
            );
            None
        } else {
            Some(quantity)
        }
    });
    Some(LineRequest {
        product: product?,
        quantity: quantity?,
    })
}

/// DRF's `IntegerField`: `int(re.sub(r"\.0*\s*$", "", str(data)))`. So a JSON integer, a float
/// with nothing after the point (`37.0`, but not `1e16`, which Python writes with an exponent),
/// or a string of either.
fn integer(raw: Option<&Value>, field: &str, errors: &mut FieldErrors) -> Option<i64> {
    /// From 1e16 on, Python's `str()` of a float has an exponent, which `int()` refuses.
    const PYTHON_WRITES_AN_EXPONENT: f64 = 1e16;
    let value = match raw {
        None => {
            errors.add(field, messages::REQUIRED);
            return None;
        }
        Some(Value::Null) => {
            errors.add(field, messages::NULL);
            return None;
        }
        Some(Value::Number(n)) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < PYTHON_WRITES_AN_EXPONENT)
                .and_then(python_int)
        }),
        Some(Value::String(s)) => {
            let s = s.trim_end();
            let whole = s
                .rfind('.')
                .filter(|&point| s[point + 1..].bytes().all(|b| b == b'0'))
                .map_or(s, |point| &s[..point]);
            whole.trim_start().parse().ok()
        }
        Some(_) => None,
    };
    if value.is_none() {
        errors.add(field, "A valid integer is required.");
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    fn parse(value: &Value) -> Result<NewOrder, ApiError> {
        NewOrder::from_body(
            &JsonBody::parse(Some("application/json"), value.to_string().as_bytes()).unwrap(),
        )
    }

    fn errors(value: &Value) -> Value {
        parse(value).unwrap_err().errors_body("r")
    }

    #[test]
    fn an_order_is_an_email_and_lines_of_product_and_quantity() {
        let order = parse(&json!({
            "email": "Guest@Example.COM",
            "items": [{"product_id": 3, "quantity": 2}, {"product_id": "7", "quantity": "1"}],
            "total_cents": 1, "status": "paid", "id": 9
        }))
        .unwrap();
        assert_eq!(
            order,
            NewOrder {
                email: "Guest@example.com".into(),
                items: vec![
                    LineRequest {
                        product: ProductId::new(3),
                        quantity: 2
                    },
                    LineRequest {
                        product: ProductId::new(7),
                        quantity: 1
                    },
                ],
            }
        );
    }

    #[test]
    fn every_problem_is_reported_where_drf_reports_it() {
        assert_eq!(
            errors(&json!({})),
            json!({"email": ["This field is required."], "items": ["This field is required."]})
        );
        assert_eq!(
            errors(&json!({"email": "a@b.co", "items": {"product_id": 1}})),
            json!({"items": ["Expected a list of items but got type \"dict\"."]})
        );
        assert_eq!(
            errors(&json!({"email": "a@b.co", "items": []})),
            json!({"items": ["This list may not be empty."]})
        );
        let too_many: Vec<Value> = (1..=51)
            .map(|id| json!({"product_id": id, "quantity": 1}))
            .collect();
        assert_eq!(
            errors(&json!({"email": "a@b.co", "items": too_many})),
            json!({"items": ["Ensure this field has no more than 50 elements."]})
        );
        assert_eq!(
            errors(&json!({"email": "nope", "items": [
                {"product_id": 1, "quantity": 1},
                {"product_id": "x", "quantity": 0},
                "line",
                {"product_id": 1, "quantity": 101},
                {"quantity": null},
                {"product_id": -4, "quantity": 2.5},
            ]})),
            json!({
                "email": ["Enter a valid email address."],
                "items": [
                    {},
                    {"product_id": ["A valid integer is required."],
                     "quantity": ["Ensure this value is greater than or equal to 1."]},
                    {"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]},
                    {"quantity": ["Ensure this value is less than or equal to 100."]},
                    {"product_id": ["This field is required."], "quantity": ["This field may not be null."]},
                    {"product_id": ["Invalid pk \"-4\" - object does not exist."],
                     "quantity": ["A valid integer is required."]},
                ]
            })
        );
    }

    #[test]
    fn whole_numbers_are_read_as_drfs_integer_field_reads_them() {
        let read = |value: Value| {
            let mut errors = FieldErrors::default();
            let read = integer(Some(&value), "quantity", &mut errors);
            (read, errors.get("quantity").map(<[String]>::to_vec))
        };
        for (value, expected) in [
            (json!(37), 37),
            (json!(37.0), 37),
            (json!(-5.0), -5),
            (json!(9_999_999_999_999_998.0), 9_999_999_999_999_998),
            (json!(" 37 "), 37),
            (json!("37.000"), 37),
            (json!("37."), 37),
        ] {
            assert_eq!(read(value.clone()), (Some(expected), None), "{value}");
        }
        for value in [
            json!(37.5),
            json!(1e16),
            json!("37.5"),
            json!("1e3"),
            json!("."),
        ] {
            assert_eq!(
                read(value.clone()),
                (None, Some(vec!["A valid integer is required.".to_owned()])),
                "{value}"
            );
        }
    }

    #[test]
    fn a_product_goes_on_one_line() {
        assert_eq!(
            errors(&json!({"email": "a@b.co", "items": [
                {"product_id": 1, "quantity": 1}, {"product_id": 2, "quantity": 1}, {"product_id": "1", "quantity": 3},
            ]})),
            json!({"items": [{}, {}, {"product_id": [
                "This product is already on another line; put the whole quantity there."
            ]}]})
        );
    }

    #[test]
    fn text_limits_and_nul_apply_to_the_email() {
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(
            errors(&json!({"email": long, "items": [{"product_id": 1, "quantity": 1}]})),
            json!({"email": ["Ensure this field has no more than 254 characters."]})
        );
        assert_eq!(
            errors(&json!({"email": "a\u{0}@b.co", "items": [{"product_id": 1, "quantity": 1}]})),
            json!({"email": ["Null characters are not allowed."]})
        );
    }

    #[test]
    fn the_view_says_paid_only_for_a_paid_order() {
        let mut order = Order {
            id: OrderId::new(1),
            email: "a@b.co".into(),
            items: vec![OrderItem {
                product_id: ProductId::new(2),
                name: "Mug".into(),
                quantity: 2,
                unit_price_cents: 500,
                line_total_cents: 1_000,
            }],
            total_cents: 1_000,
            currency: Currency::parse("usd").unwrap(),
            status: OrderStatus::Pending,
            created_at: "2026-01-01T00:00:00.000000Z".into(),
        };
        let view = serde_json::to_value(order.view()).unwrap();
        assert_eq!(
            view,
            json!({"id": 1, "email": "a@b.co", "items": [{"product_id": 2, "name": "Mug", "quantity": 2,
                   "unit_price_cents": 500, "line_total_cents": 1_000}], "total_cents": 1_000,
                   "currency": "usd", "status": "pending", "created_at": "2026-01-01T00:00:00.000000Z",
                   "paid": false})
        );
        let names: Vec<&str> = view
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(names, Order::FIELDS);
        order.status = OrderStatus::Paid;
        assert_eq!(
            serde_json::to_value(order.view()).unwrap()["paid"],
            json!(true)
        );
        for status in [
            OrderStatus::Pending,
            OrderStatus::Paid,
            OrderStatus::PaymentFailed,
        ] {
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                json!(status.as_str())
            );
        }
    }

    #[test]
    fn a_payment_intent_names_an_order() {
        let parse = |value: Value| {
            PaymentIntentRequest::from_body(
                &JsonBody::parse(Some("application/json"), value.to_string().as_bytes()).unwrap(),
            )
        };
        assert_eq!(
            parse(json!({"order_id": "12"})).unwrap().order,
            OrderId::new(12)
        );
        for (body, message) in [
            (json!({}), "This field is required."),
            (
                json!({"order_id": "x"}),
                "Incorrect type. Expected pk value, received str.",
            ),
            (
                json!({"order_id": 0}),
                "Invalid pk \"0\" - object does not exist.",
            ),
        ] {
            let errors = parse(body.clone()).unwrap_err().errors_body("r");
            assert_eq!(errors, json!({"order_id": [message]}), "{body}");
        }
    }

    #[test]
    fn a_token_digest_is_stable_hex_sha256() {
        assert_eq!(
            token_digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
