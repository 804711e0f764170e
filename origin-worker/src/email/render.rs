//! Each email as a subject, a plain-text body and an HTML body, from the templates in
//! `templates/email/` (compiled into the binary by askama, which checks them at build time and
//! escapes every value in the `.html` ones).

use askama::Template;
use domain::orders::Order;

use super::EmailKind;
use super::money::Money;

/// An email ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Renders the email. A failure here is a bug in a template, which no retry mends.
pub fn render(kind: &EmailKind) -> askama::Result<Rendered> {
    match kind {
        EmailKind::Welcome { username } => Ok(Rendered {
            subject: format!("Welcome to Projects API, {username}"),
            text: WelcomeText { username }.render()?,
            html: WelcomeHtml { username }.render()?,
        }),
        EmailKind::Receipt { order } => {
            let receipt = Receipt::of(order);
            Ok(Rendered {
                subject: format!("Your receipt for order #{}", order.id),
                text: ReceiptText { receipt: &receipt }.render()?,
                html: ReceiptHtml { receipt: &receipt }.render()?,
            })
        }
    }
}

#[derive(Template)]
#[template(path = "email/welcome.txt")]
struct WelcomeText<'a> {
    username: &'a str,
}

#[derive(Template)]
#[template(path = "email/welcome.html")]
struct WelcomeHtml<'a> {
    username: &'a str,
}

/// What a receipt shows, with every amount already formatted.
struct Receipt<'a> {
    order_id: i64,
    lines: Vec<Line<'a>>,
    total: String,
}

struct Line<'a> {
    name: &'a str,
    quantity: i64,
    unit_price: String,
    total: String,
}

impl<'a> Receipt<'a> {
    fn of(order: &'a Order) -> Self {
        let money = |cents| Money::new(cents, &order.currency).to_string();
        Self {
            order_id: order.id.get(),
            lines: order
                .items
                .iter()
                .map(|item| Line {
                    name: &item.name,
                    quantity: item.quantity,
                    unit_price: money(item.unit_price_cents),
                    total: money(item.line_total_cents),
                })
                .collect(),
            total: money(order.total_cents),
        }
    }
}

#[derive(Template)]
#[template(path = "email/receipt.txt")]
struct ReceiptText<'a> {
    receipt: &'a Receipt<'a>,
}

#[derive(Template)]
#[template(path = "email/receipt.html")]
struct ReceiptHtml<'a> {
    receipt: &'a Receipt<'a>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::ids::{OrderId, ProductId};
    use domain::orders::{Currency, OrderItem, OrderStatus};

    fn order(currency: &str) -> Order {
        let item = |id, name: &str, quantity, unit_price_cents| OrderItem {
            product_id: ProductId::new(id),
            name: name.into(),
            quantity,
            unit_price_cents,
            line_total_cents: quantity * unit_price_cents,
        };
        Order {
            id: OrderId::new(42),
            email: "buyer@example.com".into(),
            items: vec![
                item(1, "Mug", 2, 1_250),
                item(2, "Tea <Earl Grey> & lemon", 1, 1_250),
            ],
            total_cents: 3_750,
            currency: Currency::parse(currency).unwrap(),
            status: OrderStatus::Paid,
            created_at: "2026-01-01T00:00:00.000000Z".into(),
        }
    }

    #[test]
    fn a_receipt_lists_every_line_and_the_total_in_text_and_html() {
        let rendered = render(&EmailKind::Receipt {
            order: order("usd"),
        })
        .unwrap();
        assert_eq!(rendered.subject, "Your receipt for order #42");
        for line in [
            "2 x Mug at $12.50 each: $25.00",
            "1 x Tea <Earl Grey> & lemon at $12.50 each: $12.50",
            "Total: $37.50",
        ] {
            assert!(
                rendered.text.contains(line),
                "{line:?} in {}",
                rendered.text
            );
        }
        for cell in [
            "<td>Mug</td><td align=\"right\">2</td><td align=\"right\">$12.50</td><td align=\"right\">$25.00</td>",
            "<th align=\"right\">$37.50</th>",
        ] {
            assert!(
                rendered.html.contains(cell),
                "{cell:?} in {}",
                rendered.html
            );
        }
    }

    #[test]
    fn html_escapes_what_the_text_shows_as_is() {
        let rendered = render(&EmailKind::Receipt {
            order: order("eur"),
        })
        .unwrap();
        assert!(
            rendered
                .html
                .contains("<td>Tea &#60;Earl Grey&#62; &#38; lemon</td>"),
            "{}",
            rendered.html
        );
        assert!(!rendered.html.contains("<Earl Grey>"));
        assert!(
            rendered.text.contains("Total: 37.50 EUR"),
            "{}",
            rendered.text
        );
    }

    #[test]
    fn a_welcome_greets_the_user_by_name() {
        let rendered = render(&EmailKind::Welcome {
            username: "alice".into(),
        })
        .unwrap();
        assert_eq!(rendered.subject, "Welcome to Projects API, alice");
        assert!(
            rendered.text.starts_with("Welcome, alice!"),
            "{}",
            rendered.text
        );
        assert!(
            rendered.html.contains("<h1>Welcome, alice!</h1>"),
            "{}",
            rendered.html
        );
    }
}
