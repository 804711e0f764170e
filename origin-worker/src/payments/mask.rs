//! Personal data out of stored Stripe events: the audit log keeps what happened, not who the
//! payer is (the seed's checklist, `002_*` C-4: "raw payload with sensitive data masked").

use serde_json::Value;

/// Keys whose values are personal wherever they appear in an event: contact details, names,
/// addresses, and the card's identifying details.
const PERSONAL: &[&str] = &[
    "email",
    "receipt_email",
    "name",
    "phone",
    "address",
    "shipping",
    "billing_details",
    "last4",
    "fingerprint",
    "exp_month",
    "exp_year",
];

const MASK: &str = "[masked]";

/// Replaces every personal value (a string, a number or a whole object) with `"[masked]"`;
/// `null` stays `null`, so an absent detail still reads as absent.
pub fn mask_personal(value: &mut Value) {
    match value {
        Value::Object(object) => {
            for (key, inner) in object.iter_mut() {
                if PERSONAL.contains(&key.as_str()) {
                    if !inner.is_null() {
                        *inner = Value::String(MASK.to_owned());
                    }
                } else {
                    mask_personal(inner);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_personal),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn personal_values_are_masked_at_any_depth_and_the_rest_is_kept() {
        let mut event = json!({
            "id": "evt_1",
            "data": {"object": {
                "id": "pi_1", "amount": 3_400, "receipt_email": "buyer@example.com",
                "metadata": {"order_id": "12"},
                "shipping": {"name": "Kim", "address": {"line1": "1 Road"}},
                "last_payment_error": {"payment_method": {
                    "billing_details": {"email": "b@example.com"},
                    "card": {"last4": "4242", "brand": "visa", "exp_month": 12},
                }},
                "customer": null, "name": null,
                "charges": [{"billing_details": {"phone": "010"}}],
            }},
        });
        mask_personal(&mut event);
        assert_eq!(
            event,
            json!({
                "id": "evt_1",
                "data": {"object": {
                    "id": "pi_1", "amount": 3_400, "receipt_email": "[masked]",
                    "metadata": {"order_id": "12"},
                    "shipping": "[masked]",
                    "last_payment_error": {"payment_method": {
                        "billing_details": "[masked]",
                        "card": {"last4": "[masked]", "brand": "visa", "exp_month": "[masked]"},
                    }},
                    "customer": null, "name": null,
                    "charges": [{"billing_details": "[masked]"}],
                }},
            })
        );
    }
}
