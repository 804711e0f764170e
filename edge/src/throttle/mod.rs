//! Rate limiting at the edge, as DRF throttles: who a request counts for, in which scopes,
//! and whether it may go on. The counts are exact across the whole edge: one Durable Object
//! per identity keeps them ([`counts`], behind the [`Counts`](crate::platform::Counts) port).
//!
//! A call to the object for every request would cost reads their speed, so outside the
//! credentials endpoints an isolate leases a slice of an identity's allowance
//! (`THROTTLE_LEASE` requests, counted when granted) and spends it locally, going back to the
//! object only when it is spent or `THROTTLE_LEASE_MS` has passed, and then returning what it
//! did not spend. The object lets one lease be out per identity, so over any window a client
//! gets at most the limit plus one lease (units counted at the grant and spent later inside
//! the window). The credentials endpoints count every request at the object.
//!
//! When the object cannot be reached, the credentials endpoints fail closed (503) and every
//! other request fails open; the log says which.

pub mod counts;

use std::cell::RefCell;
use std::collections::HashMap;

use domain::throttle::{GiveBack, Identity, Rate, Scope, Standing, Take, Taken, tightest};
use domain::{ApiError, UserId};

use crate::ctx::Ctx;
use crate::http::{Request, Response};
use crate::platform::{Counts as _, Platform};
use crate::routes::Throttle;

/// The most identities one isolate holds a lease for; past it, requests count one at a time.
const MAX_LEASES: usize = 4096;
/// The longest client address kept as a key (an IPv6 address is at most 45 characters).
const MAX_ADDRESS_CHARS: usize = 45;

/// What the limiter made of one request.
#[derive(Debug, Default)]
pub struct Limited {
    /// For the `RateLimit-*` headers; none when nothing was counted.
    pub standing: Option<Standing>,
    /// Why the request may not go on (429, or 503 when failing closed).
    pub refusal: Option<ApiError>,
}

impl Limited {
    /// Adds the `RateLimit-*` headers.
    pub fn decorate(&self, response: &mut Response) {
        if let Some(standing) = self.standing {
            response.set_header("ratelimit-limit", standing.limit.to_string());
            response.set_header("ratelimit-remaining", standing.remaining.to_string());
            response.set_header("ratelimit-reset", standing.reset_secs.to_string());
        }
    }
}

/// A lease this isolate holds for one identity.
#[derive(Debug, Clone, Copy)]
struct Lease {
    grant: i64,
    granted: u32,
    spent: u32,
    until_ms: i64,
    /// The tightest scope just after the grant (the whole lease counted).
    standing: Standing,
}

impl Lease {
    /// Spends one unit if any is left in time; answers the standing to show.
    fn spend(&mut self, now_ms: i64) -> Option<Standing> {
        if self.spent >= self.granted || now_ms >= self.until_ms {
            return None;
        }
        self.spent += 1;
        Some(self.shown())
    }

    /// The standing with what the lease still holds counted as remaining.
    fn shown(&self) -> Standing {
        Standing {
            remaining: self.standing.remaining + (self.granted - self.spent),
            ..self.standing
        }
    }
}

#[derive(Debug)]
enum Slot {
    Held(Lease),
    /// A take for this identity went out at `since_ms`; meanwhile its requests count one at a
    /// time. A renewal whose request was dropped mid-way (the client went away) never ends, so
    /// one older than a lease's time is taken over.
    Renewing {
        since_ms: i64,
    },
}

thread_local! {
    static LEASES: RefCell<HashMap<String, Slot>> = RefCell::new(HashMap::new());
}

/// Counts the request and says whether it may go on. `user` is the verified caller, if any.
pub async fn check<P: Platform>(
    ctx: &Ctx<'_, P>,
    request: &Request,
    throttle: Throttle,
    user: Option<UserId>,
) -> Limited {
    let settings = &ctx.settings.throttle;
    if !settings.enabled || throttle == Throttle::Exempt {
        return Limited::default();
    }
    let credentials = throttle == Throttle::Credentials;
    let identity = match user {
        Some(id) if !credentials => Identity::User(id),
        _ => Identity::Client(client_address(request)),
    };
    let key = identity.key();
    let now_ms = ctx.now.saturating_mul(1000);
    if !credentials && let Some(standing) = spend_leased(&key, now_ms) {
        return Limited {
            standing: Some(standing),
            refusal: None,
        };
    }
    let (want, give_back, renewing) = if credentials {
        (1, None, false)
    } else {
        begin_renewal(&key, settings.lease, now_ms, settings.lease_ms)
    };
    let scopes: Vec<(Scope, Rate)> = identity
        .scopes(credentials)
        .iter()
        .map(|&scope| (scope, settings.rates.of(scope)))
        .collect();
    let take = Take {
        scopes,
        want,
        lease_ms: settings.lease_ms,
        give_back,
    };
    let taken = ctx.platform.counts().take(&key, &take).await;
    if renewing {
        end_renewal(&key, taken.as_ref().ok(), now_ms + settings.lease_ms);
    }
    match taken {
        Ok(taken) => decided(&taken),
        Err(error) if credentials => {
            ctx.warn(
                "rate limiter unreachable: failing closed (a credentials endpoint)",
                &error,
            );
            Limited {
                standing: None,
                refusal: Some(ApiError::Unavailable),
            }
        }
        Err(error) => {
            ctx.warn("rate limiter unreachable: failing open", &error);
            Limited::default()
        }
    }
}

/// The object's answer as the request's verdict.
fn decided(taken: &Taken) -> Limited {
    let standing = tightest(&taken.standings).map(|s| Standing {
        // A lease's other units are this isolate's to spend: still remaining for the client.
        remaining: s.remaining + taken.granted.saturating_sub(1),
        ..s
    });
    Limited {
        standing,
        refusal: (taken.granted == 0).then_some(ApiError::Throttled {
            wait_secs: taken.wait_secs,
        }),
    }
}

/// Spends one unit of the identity's lease, if this isolate holds one with units left.
fn spend_leased(key: &str, now_ms: i64) -> Option<Standing> {
    LEASES.with(|leases| match leases.borrow_mut().get_mut(key) {
        Some(Slot::Held(lease)) => lease.spend(now_ms),
        Some(Slot::Renewing { .. }) | None => None,
    })
}

/// Marks the identity's lease as being renewed: answers what to ask for (a lease, giving back
/// the old one's unspent units), or one unit when a renewal is already on its way or the
/// isolate holds too many leases; and whether this request renews.
fn begin_renewal(
    key: &str,
    lease: u32,
    now_ms: i64,
    lease_ms: i64,
) -> (u32, Option<GiveBack>, bool) {
    LEASES.with(|leases| {
        let mut leases = leases.borrow_mut();
        let give_back = match leases.get(key) {
            Some(Slot::Renewing { since_ms }) if now_ms - since_ms < lease_ms => {
                return (1, None, false);
            }
            Some(Slot::Held(old)) => Some(GiveBack {
                grant: old.grant,
                unspent: old.granted - old.spent,
            }),
            // Nothing held, or a renewal that never came back: start one.
            Some(Slot::Renewing { .. }) | None => None,
        };
        if give_back.is_none() && leases.len() >= MAX_LEASES {
            return (1, None, false);
        }
        leases.insert(key.to_owned(), Slot::Renewing { since_ms: now_ms });
        (lease, give_back, true)
    })
}

/// Records the renewal's outcome: a new lease (this request spent its first unit), or none.
fn end_renewal(key: &str, taken: Option<&Taken>, until_ms: i64) {
    LEASES.with(|leases| {
        let mut leases = leases.borrow_mut();
        match (taken, taken.and_then(|t| t.grant)) {
            (Some(taken), Some(grant)) if taken.granted > 1 => {
                let standing = tightest(&taken.standings);
                if let Some(standing) = standing {
                    leases.insert(
                        key.to_owned(),
                        Slot::Held(Lease {
                            grant,
                            granted: taken.granted,
                            spent: 1,
                            until_ms,
                            standing,
                        }),
                    );
                    return;
                }
                leases.remove(key);
            }
            _ => {
                leases.remove(key);
            }
        }
        // Leases past their time hold nothing worth keeping.
        if leases.len() >= MAX_LEASES / 2 {
            leases.retain(|_, slot| match slot {
                Slot::Held(lease) => lease.until_ms > until_ms - 60_000,
                Slot::Renewing { .. } => true,
            });
        }
    });
}

/// The client's address as Cloudflare gives it (`CF-Connecting-IP`), when it looks like one;
/// requests without one share a single key.
fn client_address(request: &Request) -> String {
    match request.header("cf-connecting-ip") {
        Some(address)
            if !address.is_empty()
                && address.len() <= MAX_ADDRESS_CHARS
                && address
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == '.' || c == ':') =>
        {
            address.to_owned()
        }
        _ => "unknown".to_owned(),
    }
}

/// Forgets every lease (tests start each edge afresh).
pub fn forget_leases() {
    LEASES.with(|leases| leases.borrow_mut().clear());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renewal_that_never_came_back_is_taken_over_after_a_lease_s_time() {
        forget_leases();
        assert_eq!(begin_renewal("user:1", 10, 0, 5_000), (10, None, true));
        // Its request was dropped mid-way: meanwhile, one unit at a time…
        assert_eq!(begin_renewal("user:1", 10, 4_999, 5_000), (1, None, false));
        // …and not for ever.
        assert_eq!(begin_renewal("user:1", 10, 5_000, 5_000), (10, None, true));
        forget_leases();
    }
}
