//! CPU time of one take at the rate limiter's object, natively: `counts::serve` over the
//! in-memory store, which the object's SQLite store mirrors (its grants are kept in memory
//! too). The floor under what a take costs in workerd, where JSON both ways, the `fetch` to
//! the object and two SQLite statements come on top.
//!
//! A hot identity renews a lease every `THROTTLE_LEASE` requests; its history holds one grant
//! per renewal for a day. Reports the median time of a renewal with 100, 1,000 and 10,000
//! grants already counted. Run with `cargo bench -p edge --bench limiter_take`.

#![allow(clippy::unwrap_used, reason = "a benchmark")]

use std::time::{Duration, Instant};

use domain::throttle::{GiveBack, Rate, Scope, Take};
use edge::throttle::counts::{MemoryStore, serve};

const RENEWALS: usize = 2_000;

fn take(give_back: Option<GiveBack>) -> Take {
    let rate = Rate::parse("1000000/day").unwrap();
    let burst = Rate::parse("1000000/min").unwrap();
    Take {
        scopes: vec![(Scope::User, rate), (Scope::Burst, burst)],
        want: 10,
        lease_ms: 5_000,
        give_back,
    }
}

/// The median time of a renewal once `history` grants are counted.
fn renewal_with(history: usize) -> Duration {
    let mut store = MemoryStore::default();
    let mut now_ms = 1_000_000_000;
    let mut previous = None;
    for _ in 0..history {
        now_ms += 5;
        let taken = serve(&mut store, &take(previous), now_ms).unwrap();
        previous = taken.grant.map(|grant| GiveBack { grant, unspent: 0 });
    }
    let mut times = Vec::with_capacity(RENEWALS);
    for _ in 0..RENEWALS {
        now_ms += 5;
        let started = Instant::now();
        let taken = serve(&mut store, &take(previous), now_ms).unwrap();
        times.push(started.elapsed());
        previous = taken.grant.map(|grant| GiveBack { grant, unspent: 0 });
    }
    times.sort();
    times[times.len() / 2]
}

fn main() {
    for history in [100, 1_000, 10_000] {
        let median = renewal_with(history);
        println!(
            "take with {history:>6} grants counted: {:>8.1} µs (median of {RENEWALS})",
            median.as_secs_f64() * 1e6
        );
    }
}
