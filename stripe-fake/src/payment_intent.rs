//! The payment intent: what creating one accepts, and the object Stripe answers with.

use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::ids;

/// Where an intent stands; the fake only knows the states its control API can reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    RequiresPaymentMethod,
    Succeeded,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Self::RequiresPaymentMethod => "requires_payment_method",
            Self::Succeeded => "succeeded",
        }
    }
}

/// A stored payment intent.
#[derive(Debug, Clone)]
pub struct PaymentIntent {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub status: Status,
    pub client_secret: String,
    pub metadata: Map<String, Value>,
    pub created: i64,
    /// Every parameter the creating request sent, known to the fake or not.
    pub params: Map<String, Value>,
    /// Set when a payment attempt failed: Stripe's error object for it.
    pub last_payment_error: Option<Value>,
    pub latest_charge: Option<String>,
}

impl PaymentIntent {
    /// Validates the parameters of `POST /v1/payment_intents` as Stripe does, for the ones the
    /// fake understands; unknown ones are kept in `params` and otherwise ignored.
    pub fn create(params: Map<String, Value>, now: i64) -> Result<Self, ApiError> {
        let amount_text = string(&params, "amount")?.ok_or(ApiError::missing_param("amount"))?;
        let amount = amount_text
            .parse::<i64>()
            .ok()
            .filter(|amount| *amount > 0)
            .ok_or_else(|| ApiError::invalid_integer("amount", amount_text))?;
        let currency = string(&params, "currency")?
            .ok_or(ApiError::missing_param("currency"))?
            .to_ascii_lowercase();
        if currency.len() != 3 || !currency.bytes().all(|byte| byte.is_ascii_lowercase()) {
            return Err(ApiError::invalid_param(
                "currency",
                format!("Invalid currency: {currency}."),
            ));
        }
        let metadata = match params.get("metadata") {
            None => Map::new(),
            Some(Value::Object(map)) if map.values().all(Value::is_string) => map.clone(),
            Some(_) => {
                return Err(ApiError::invalid_param(
                    "metadata",
                    "Invalid metadata: must be a hash of strings.",
                ));
            }
        };
        let id = ids::new("pi");
        let client_secret = format!("{id}_secret_{}", ids::random(25));
        Ok(Self {
            id,
            amount,
            currency,
            status: Status::RequiresPaymentMethod,
            client_secret,
            metadata,
            created: now,
            params,
            last_payment_error: None,
            latest_charge: None,
        })
    }

    /// The payment went through.
    pub fn succeed(&mut self) {
        self.status = Status::Succeeded;
        self.last_payment_error = None;
        self.latest_charge = Some(ids::new("ch"));
    }

    /// The payment was declined: Stripe leaves the intent waiting for another payment method.
    pub fn fail(&mut self) {
        self.status = Status::RequiresPaymentMethod;
        self.last_payment_error = Some(json!({
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "generic_decline",
            "message": "Your card was declined.",
            "doc_url": "https://stripe.com/docs/error-codes/card-declined",
        }));
        self.latest_charge = Some(ids::new("ch"));
    }

    /// The object as Stripe renders it.
    pub fn to_json(&self) -> Value {
        let automatic = self
            .params
            .get("automatic_payment_methods")
            .and_then(|value| value.get("enabled"))
            .is_some_and(|enabled| enabled == "true");
        let payment_method_types = match self.params.get("payment_method_types") {
            Some(Value::Array(types)) => Value::Array(types.clone()),
            _ => json!(["card"]),
        };
        let succeeded = self.status == Status::Succeeded;
        let param = |name: &str| self.params.get(name).cloned().unwrap_or(Value::Null);
        json!({
            "id": self.id,
            "object": "payment_intent",
            "amount": self.amount,
            "amount_capturable": 0,
            "amount_details": {"tip": {}},
            "amount_received": if succeeded { self.amount } else { 0 },
            "application": null,
            "application_fee_amount": null,
            "automatic_payment_methods": if automatic {
                json!({"allow_redirects": "always", "enabled": true})
            } else {
                Value::Null
            },
            "canceled_at": null,
            "cancellation_reason": null,
            "capture_method": "automatic_async",
            "client_secret": self.client_secret,
            "confirmation_method": "automatic",
            "created": self.created,
            "currency": self.currency,
            "customer": param("customer"),
            "description": param("description"),
            "last_payment_error": self.last_payment_error,
            "latest_charge": self.latest_charge,
            "livemode": false,
            "metadata": self.metadata,
            "next_action": null,
            "on_behalf_of": null,
            "payment_method": null,
            "payment_method_options": {},
            "payment_method_types": payment_method_types,
            "processing": null,
            "receipt_email": param("receipt_email"),
            "review": null,
            "setup_future_usage": null,
            "shipping": null,
            "source": null,
            "statement_descriptor": param("statement_descriptor"),
            "statement_descriptor_suffix": param("statement_descriptor_suffix"),
            "status": self.status.as_str(),
            "transfer_data": null,
            "transfer_group": null,
        })
    }
}

/// A parameter that must be a string when present.
fn string<'a>(params: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, ApiError> {
    match params.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(ApiError::invalid_param(
            name,
            format!("Invalid {name}: must be a string."),
        )),
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    fn params(body: &str) -> Map<String, Value> {
        crate::form::parse(body.as_bytes()).unwrap()
    }

    #[test]
    fn a_new_intent_waits_for_a_payment_method_and_keeps_its_metadata() {
        let intent =
            PaymentIntent::create(params("amount=1999&currency=EUR&metadata[order_id]=7"), 1)
                .unwrap();
        let object = intent.to_json();
        assert_eq!(object["status"], "requires_payment_method");
        assert_eq!(object["currency"], "eur");
        assert_eq!(object["metadata"], json!({"order_id": "7"}));
        assert!(
            intent
                .client_secret
                .starts_with(&format!("{}_secret_", intent.id)),
            "{}",
            intent.client_secret
        );
    }

    #[test]
    fn bad_parameters_name_the_parameter() {
        for (body, param, code) in [
            ("currency=usd", "amount", "parameter_missing"),
            ("amount=12", "currency", "parameter_missing"),
            (
                "amount=-5&currency=usd",
                "amount",
                "parameter_invalid_integer",
            ),
            (
                "amount=ten&currency=usd",
                "amount",
                "parameter_invalid_integer",
            ),
            (
                "amount=1&currency=dollars",
                "currency",
                "parameter_invalid_string",
            ),
            (
                "amount=1&currency=usd&metadata[a][b]=c",
                "metadata",
                "parameter_invalid_string",
            ),
        ] {
            let error = PaymentIntent::create(params(body), 1).expect_err(body);
            assert_eq!(error.status(), 400, "{body}");
            assert_eq!(error.param(), Some(param), "{body}");
            assert_eq!(error.code(), Some(code), "{body}");
        }
    }
}
