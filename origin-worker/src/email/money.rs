//! Amounts as a receipt shows them: `$37.50` in dollars, `37.50 EUR` in any other currency,
//! `500 JPY` where the currency has no minor unit.

use std::fmt;

use domain::orders::Currency;

/// Currencies whose smallest unit is the whole unit (Stripe's zero-decimal list): an amount in
/// "cents" is an amount in yen, won…
const ZERO_DECIMAL: &[&str] = &[
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
];

/// An amount in the currency's smallest unit, displayed for people.
#[derive(Debug, Clone, Copy)]
pub struct Money<'a> {
    pub cents: i64,
    pub currency: &'a Currency,
}

impl<'a> Money<'a> {
    pub fn new(cents: i64, currency: &'a Currency) -> Self {
        Self { cents, currency }
    }
}

impl fmt::Display for Money<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.currency.as_str();
        let sign = if self.cents < 0 { "-" } else { "" };
        let units = self.cents.unsigned_abs();
        let amount = if ZERO_DECIMAL.contains(&code) {
            units.to_string()
        } else {
            format!("{}.{:02}", units / 100, units % 100)
        };
        if code == "usd" {
            write!(f, "{sign}${amount}")
        } else {
            write!(f, "{sign}{amount} {}", code.to_ascii_uppercase())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_as_money() {
        for (cents, currency, expected) in [
            (3_750, "usd", "$37.50"),
            (5, "usd", "$0.05"),
            (3_750, "eur", "37.50 EUR"),
            (100_000, "gbp", "1000.00 GBP"),
            (500, "jpy", "500 JPY"),
            (-1_999, "usd", "-$19.99"),
        ] {
            let currency = Currency::parse(currency).unwrap();
            assert_eq!(
                Money::new(cents, &currency).to_string(),
                expected,
                "{cents} {currency:?}"
            );
        }
    }
}
