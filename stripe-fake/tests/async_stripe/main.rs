//! The fake, spoken to by the async-stripe version the origin pins: if these pass, the origin's
//! Stripe calls and webhook checks work against the fake as they would against Stripe.
//!
//! One test binary (modules, not files under `tests/`), so async-stripe is linked once.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod payment_intents;
mod support;
mod webhooks;
