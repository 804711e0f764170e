//! Stripe-style identifiers: a prefix naming the kind of object, then random characters
//! (`pi_3Qx…`, `evt_…`, `req_…`).

use rand::Rng;
use rand::distributions::Alphanumeric;

/// A fresh id such as `pi_…` for the prefix `pi`.
pub fn new(prefix: &str) -> String {
    format!("{prefix}_{}", random(24))
}

/// `len` random letters and digits.
pub fn random(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}
