//! Stripe's form encoding: `application/x-www-form-urlencoded` with bracketed names for nested
//! values, as async-stripe writes it.
//!
//! `metadata[order_id]=42` is an object, `payment_method_types[0]=card` and `expand[]=x` are
//! arrays. Every leaf stays a string, as it was sent; the endpoint decides what it must be.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// The body's parameters as a JSON object.
pub fn parse(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let mut params = Map::new();
    for (name, value) in form_urlencoded::parse(body) {
        let (head, path) = split_name(&name)
            .ok_or_else(|| ApiError::malformed_body(format!("Invalid parameter name: {name}")))?;
        insert(&mut params, head, &path, value.into_owned()).map_err(|()| {
            ApiError::malformed_body(format!("Invalid array or hash in parameter: {name}"))
        })?;
    }
    for (name, value) in &mut params {
        // Metadata keys are the caller's own and may well be digits.
        if name != "metadata" {
            indices_to_arrays(value);
        }
    }
    Ok(params)
}

/// `a[b][c]` into `("a", ["b", "c"])`; `None` when the brackets do not pair up.
fn split_name(name: &str) -> Option<(&str, Vec<&str>)> {
    let Some(open) = name.find('[') else {
        return Some((name, Vec::new()));
    };
    let (head, mut rest) = name.split_at(open);
    let mut path = Vec::new();
    while let Some(inner) = rest.strip_prefix('[') {
        let close = inner.find(']')?;
        path.push(&inner[..close]);
        rest = &inner[close + 1..];
    }
    (rest.is_empty() && !head.is_empty()).then_some((head, path))
}

/// Places one value; `Err` when the name clashes with one already placed.
fn insert(
    node: &mut Map<String, Value>,
    key: &str,
    path: &[&str],
    value: String,
) -> Result<(), ()> {
    let Some((next, rest)) = path.split_first() else {
        return match node.insert(key.to_owned(), Value::String(value)) {
            Some(Value::Object(_) | Value::Array(_)) => Err(()),
            _ => Ok(()), // a repeated plain name: the last one wins
        };
    };
    let child = node.entry(key).or_insert_with(|| {
        if next.is_empty() {
            Value::Array(Vec::new())
        } else {
            Value::Object(Map::new())
        }
    });
    match child {
        Value::Array(items) if next.is_empty() && rest.is_empty() => {
            items.push(Value::String(value));
            Ok(())
        }
        Value::Object(map) if !next.is_empty() => insert(map, next, rest, value),
        _ => Err(()),
    }
}

/// Objects keyed `0`, `1`, … become arrays in index order.
fn indices_to_arrays(value: &mut Value) {
    let Value::Object(map) = value else { return };
    for child in map.values_mut() {
        indices_to_arrays(child);
    }
    let indexed: Option<Vec<(usize, Value)>> = map
        .iter()
        .map(|(key, child)| key.parse().ok().map(|index| (index, child.clone())))
        .collect();
    if let Some(mut items) = indexed.filter(|items| !items.is_empty()) {
        items.sort_by_key(|(index, _)| *index);
        *value = Value::Array(items.into_iter().map(|(_, item)| item).collect());
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use serde_json::json;

    use super::*;

    #[test]
    fn brackets_nest_and_indices_make_arrays() {
        let body = "amount=2000&currency=eur&metadata%5Border_id%5D=42&metadata%5B7%5D=x\
                    &automatic_payment_methods%5Benabled%5D=true\
                    &payment_method_types%5B1%5D=sepa_debit&payment_method_types%5B0%5D=card\
                    &expand%5B%5D=latest_charge";
        let params = parse(body.as_bytes()).unwrap();
        assert_eq!(
            Value::Object(params),
            json!({
                "amount": "2000",
                "currency": "eur",
                "metadata": {"order_id": "42", "7": "x"},
                "automatic_payment_methods": {"enabled": "true"},
                "payment_method_types": ["card", "sepa_debit"],
                "expand": ["latest_charge"],
            })
        );
    }

    #[test]
    fn clashing_or_unpaired_names_are_400() {
        for (body, why) in [
            ("a=1&a[b]=2", "a plain value, then a hash"),
            ("a[b]=1&a=2", "a hash, then a plain value"),
            ("a[]=1&a[b]=2", "an array, then a hash"),
            ("a[b=1", "an unclosed bracket"),
            ("[b]=1", "no name before the bracket"),
        ] {
            let error = parse(body.as_bytes()).expect_err(why);
            assert_eq!(error.status(), 400, "{why}");
        }
    }
}
