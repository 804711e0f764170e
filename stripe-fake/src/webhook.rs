//! Delivering an event to the webhook endpoint, signed as Stripe signs it or deliberately not.

use std::time::Duration;

use reqwest::Url;
use reqwest::header::{CONTENT_TYPE, USER_AGENT};
use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::signature;

/// How one delivery is signed. The default is Stripe's: now, with every configured secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryOptions {
    /// Sign at this unix time instead of now (a stale or future timestamp).
    pub timestamp: Option<i64>,
    /// Sign with these secrets, one `v1` each, instead of the configured ones.
    pub secrets: Option<Vec<String>>,
    /// Send this `Stripe-Signature` header verbatim instead of signing.
    pub signature: Option<String>,
    /// Send no `Stripe-Signature` header at all.
    pub unsigned: bool,
}

/// What the endpoint answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub event: String,
    pub status: u16,
    /// The header sent, if any.
    pub signature: Option<String>,
    /// The start of the endpoint's answer, for the test's failure message.
    pub response: String,
}

impl Delivery {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// How long the endpoint has to answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// POSTs `event`'s payload to `url` with `signature` (none when `None`).
pub async fn post(
    http: &reqwest::Client,
    url: &Url,
    event: &Event,
    signature: Option<String>,
) -> Result<Delivery, reqwest::Error> {
    let mut request = http
        .post(url.clone())
        .timeout(TIMEOUT)
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .header(USER_AGENT, "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
        .body(event.payload.clone());
    if let Some(header) = &signature {
        request = request.header(signature::HEADER, header);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let mut answer = response.text().await.unwrap_or_default();
    answer.truncate(answer.floor_char_boundary(500));
    Ok(Delivery {
        event: event.id.clone(),
        status,
        signature,
        response: answer,
    })
}
