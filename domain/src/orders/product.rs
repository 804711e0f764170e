//! Products: what the catalogue lists and orders snapshot.

use serde::{Deserialize, Serialize};

use super::{MAX_AMOUNT_CENTS, PRODUCT_NAME_MAX};
use crate::ids::ProductId;

/// A lower-case ISO 4217 code (`usd`, `eur`, `krw`), as Stripe spells currencies.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(pattern = "^[a-z]{3}$", example = "usd"))]
#[serde(transparent)]
pub struct Currency(String);

impl Currency {
    /// Three ASCII letters, in either case.
    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_alphabetic()))
            .then(|| Self(raw.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A product as stored and replicated. The public list shows the active ones, without
/// `active`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Product {
    #[cfg_attr(feature = "openapi", schema(value_type = i64, read_only))]
    pub id: ProductId,
    pub name: String,
    pub price_cents: i64,
    pub currency: Currency,
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub active: bool,
}

impl Product {
    /// The fields the public list shows, in order (`active` is not one: the list shows only
    /// products on sale).
    pub const PUBLIC_FIELDS: &'static [&'static str] = &["id", "name", "price_cents", "currency"];
}

/// A product an operator adds, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    pub name: String,
    pub price_cents: i64,
    pub currency: Currency,
}

impl NewProduct {
    /// A non-blank name of at most [`PRODUCT_NAME_MAX`] characters without NUL, a price from 1
    /// cent to [`MAX_AMOUNT_CENTS`], and a currency code. The message says what is wrong.
    pub fn parse(name: &str, price_cents: i64, currency: &str) -> Result<Self, String> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > PRODUCT_NAME_MAX || name.contains('\0') {
            return Err(format!(
                "a product name is 1 to {PRODUCT_NAME_MAX} characters, without NUL"
            ));
        }
        if !(1..=MAX_AMOUNT_CENTS).contains(&price_cents) {
            return Err(format!(
                "a price is 1 to {MAX_AMOUNT_CENTS} cents (Stripe's largest amount)"
            ));
        }
        let currency = Currency::parse(currency)
            .ok_or_else(|| format!("{currency:?} is not a three-letter currency code"))?;
        Ok(Self {
            name: name.to_owned(),
            price_cents,
            currency,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_are_three_letters_kept_lower_case() {
        assert_eq!(Currency::parse("USD").unwrap().as_str(), "usd");
        for bad in ["us", "usdd", "u$d", "", "éur"] {
            assert_eq!(Currency::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn operators_cannot_add_a_product_stripe_could_not_charge() {
        let ok = NewProduct::parse(" Mug ", 1_250, "eur").unwrap();
        assert_eq!((ok.name.as_str(), ok.price_cents), ("Mug", 1_250));
        assert!(NewProduct::parse("", 100, "usd").is_err());
        assert!(NewProduct::parse("a\0b", 100, "usd").is_err());
        assert!(NewProduct::parse(&"x".repeat(121), 100, "usd").is_err());
        assert!(NewProduct::parse("Mug", 0, "usd").is_err());
        assert!(NewProduct::parse("Mug", MAX_AMOUNT_CENTS + 1, "usd").is_err());
        assert!(NewProduct::parse("Mug", MAX_AMOUNT_CENTS, "usd").is_ok());
        assert!(NewProduct::parse("Mug", 100, "dollars").is_err());
    }
}
