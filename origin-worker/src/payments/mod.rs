//! Stripe payments at the origin, through async-stripe: the order's `PaymentIntent`
//! ([`intent`]), the signed webhook that stores Stripe's events once ([`webhook`]), and the job
//! that applies them to orders ([`events`]). Stored events keep no personal data ([`mask`]).
//!
//! - [`store`]: the SQL.

pub mod events;
pub mod intent;
pub mod mask;
pub mod store;
pub mod webhook;
