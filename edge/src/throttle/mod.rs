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

use std::cell::{Cell, RefCell};
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
    fn allowed(standing: Standing) -> Self {
        Self {
            standing: Some(standing),
            refusal: None,
        }
    }

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
    /// Renewal `id` went out at `since_ms`; the identity's requests meanwhile wait for it
    /// ([`WAIT_STEPS_MS`]) rather than each asking the object. A renewal whose request was
    /// dropped mid-way ends with its guard ([`Renewal`]); one that hangs is taken over after a
    /// lease's time.
    Renewing {
        id: u64,
        since_ms: i64,
    },
}

/// How a request waits for a renewal under way: a pause of each length in turn, looking again
/// after each, then it counts alone. Waiting costs a timer, not a call; a renewal is one round
/// trip to the object, so most waits end after the first steps.
const WAIT_STEPS_MS: &[u64] = &[1, 1, 2, 4, 8, 16, 32];

thread_local! {
    static LEASES: RefCell<HashMap<String, Slot>> = RefCell::new(HashMap::new());
    static RENEWALS: Cell<u64> = const { Cell::new(0) };
}

/// How a request that is not on a credentials endpoint gets its unit.
#[derive(Debug)]
enum Claim {
    /// Spent from the lease this isolate holds.
    Spent(Standing),
    /// A renewal is on its way: look again after a pause.
    Wait,
    /// This request renews the lease, giving back the old one's unspent units.
    Renew(Renewal, Option<GiveBack>),
    /// Counted alone at the object.
    Single,
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
    let claim = if credentials {
        Claim::Single
    } else {
        leased(ctx, &key, now_ms).await
    };
    let (want, give_back, renewal) = match claim {
        Claim::Spent(standing) => return Limited::allowed(standing),
        Claim::Renew(renewal, give_back) => (settings.lease, give_back, Some(renewal)),
        Claim::Wait | Claim::Single => (1, None, None),
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
    if let Some(renewal) = renewal {
        renewal.end(taken.as_ref().ok(), now_ms, settings.lease_ms);
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

/// A unit of the isolate's lease for `key`: spent now, or after waiting for the renewal under
/// way; else this request renews, or (waited long enough, or too many leases) counts alone.
async fn leased<P: Platform>(ctx: &Ctx<'_, P>, key: &str, now_ms: i64) -> Claim {
    let lease_ms = ctx.settings.throttle.lease_ms;
    let mut waited_ms = 0;
    for &step in WAIT_STEPS_MS {
        match claim(key, now_ms + waited_ms, lease_ms) {
            Claim::Wait => {}
            decided => return decided,
        }
        ctx.platform.counts().pause(step).await;
        waited_ms += i64::try_from(step).unwrap_or(0);
    }
    match claim(key, now_ms + waited_ms, lease_ms) {
        Claim::Wait => Claim::Single,
        decided => decided,
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

/// Spends a unit of the identity's lease if this isolate holds one; else says to wait for the
/// renewal under way, or starts one (giving back what the old lease did not spend). Past
/// `MAX_LEASES` identities, requests count alone.
fn claim(key: &str, now_ms: i64, lease_ms: i64) -> Claim {
    LEASES.with(|leases| {
        let mut leases = leases.borrow_mut();
        let give_back = match leases.get_mut(key) {
            Some(Slot::Held(lease)) => match lease.spend(now_ms) {
                Some(standing) => return Claim::Spent(standing),
                None => Some(GiveBack {
                    grant: lease.grant,
                    unspent: lease.granted - lease.spent,
                }),
            },
            Some(Slot::Renewing { since_ms, .. }) if now_ms - *since_ms < lease_ms => {
                return Claim::Wait;
            }
            // Nothing held, or a renewal that hangs: start one.
            Some(Slot::Renewing { .. }) | None => None,
        };
        if give_back.is_none() && leases.len() >= MAX_LEASES {
            return Claim::Single;
        }
        let id = RENEWALS.with(|count| {
            count.set(count.get().wrapping_add(1));
            count.get()
        });
        leases.insert(
            key.to_owned(),
            Slot::Renewing {
                id,
                since_ms: now_ms,
            },
        );
        Claim::Renew(
            Renewal {
                key: key.to_owned(),
                id,
                ended: false,
            },
            give_back,
        )
    })
}

/// One renewal under way. Ended with the object's answer; dropped unended (its request went
/// away mid-way), it clears its slot so that the next request renews at once.
#[derive(Debug)]
struct Renewal {
    key: String,
    id: u64,
    ended: bool,
}

impl Renewal {
    /// Records the outcome: a new lease, whose first unit this request spent and whose next
    /// ones go to the requests waiting for it; or none, and the next request renews.
    fn end(mut self, taken: Option<&Taken>, now_ms: i64, lease_ms: i64) {
        self.ended = true;
        if !self.clear_slot() {
            // Taken over: the newer renewal's outcome stands.
            return;
        }
        let lease = taken.and_then(|taken| {
            let grant = taken.grant.filter(|_| taken.granted > 1)?;
            Some(Lease {
                grant,
                granted: taken.granted,
                spent: 1,
                until_ms: now_ms + lease_ms,
                standing: tightest(&taken.standings)?,
            })
        });
        let Some(lease) = lease else {
            return;
        };
        LEASES.with(|leases| {
            let mut leases = leases.borrow_mut();
            leases.insert(self.key.clone(), Slot::Held(lease));
            // Leases past their time hold nothing worth keeping.
            if leases.len() >= MAX_LEASES / 2 {
                leases.retain(|_, slot| match slot {
                    Slot::Held(lease) => lease.until_ms > now_ms - 60_000,
                    Slot::Renewing { .. } => true,
                });
            }
        });
    }

    /// Removes this renewal's slot, unless another renewal has taken it over; answers whether
    /// it was still this one's.
    fn clear_slot(&self) -> bool {
        LEASES.with(|leases| {
            let mut leases = leases.borrow_mut();
            let ours =
                matches!(leases.get(&self.key), Some(Slot::Renewing { id, .. }) if *id == self.id);
            if ours {
                leases.remove(&self.key);
            }
            ours
        })
    }
}

impl Drop for Renewal {
    fn drop(&mut self) {
        if !self.ended {
            self.clear_slot();
        }
    }
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

    fn lease_of(granted: u32) -> Taken {
        Taken {
            granted,
            grant: Some(7),
            wait_secs: 0,
            standings: vec![Standing {
                scope: Scope::User,
                limit: 100,
                remaining: 50,
                reset_secs: 60,
            }],
        }
    }

    fn renewal(claim: Claim) -> Renewal {
        match claim {
            Claim::Renew(renewal, _) => renewal,
            other => panic!("expected a renewal, got {other:?}"),
        }
    }

    #[test]
    fn requests_during_a_renewal_wait_then_spend_the_new_lease() {
        forget_leases();
        let first = renewal(claim("user:1", 0, 5_000));
        assert!(matches!(claim("user:1", 0, 5_000), Claim::Wait));
        first.end(Some(&lease_of(3)), 0, 5_000);
        // Three units: the renewing request's, then one each for two more…
        assert!(matches!(claim("user:1", 1, 5_000), Claim::Spent(_)));
        assert!(matches!(claim("user:1", 2, 5_000), Claim::Spent(_)));
        // …so the next request renews, giving back nothing.
        match claim("user:1", 3, 5_000) {
            Claim::Renew(_, Some(back)) => assert_eq!((back.grant, back.unspent), (7, 0)),
            other => panic!("expected a renewal giving back, got {other:?}"),
        }
        forget_leases();
    }

    #[test]
    fn after_a_refused_renewal_the_next_request_asks_the_object_itself() {
        forget_leases();
        let refused = renewal(claim("user:3", 0, 5_000));
        refused.end(Some(&lease_of(0)), 0, 5_000);
        assert!(matches!(claim("user:3", 0, 5_000), Claim::Renew(_, None)));
        forget_leases();
    }

    #[test]
    fn a_renewal_whose_request_went_away_frees_the_slot_at_once() {
        forget_leases();
        let gone = renewal(claim("user:4", 0, 5_000));
        assert!(matches!(claim("user:4", 0, 5_000), Claim::Wait));
        drop(gone);
        assert!(matches!(claim("user:4", 0, 5_000), Claim::Renew(_, None)));
        forget_leases();
    }

    #[test]
    fn a_renewal_that_hangs_is_taken_over_after_a_lease_s_time() {
        forget_leases();
        let hanging = renewal(claim("user:5", 0, 5_000));
        assert!(matches!(claim("user:5", 4_999, 5_000), Claim::Wait));
        let takeover = renewal(claim("user:5", 5_000, 5_000));
        // The hung one, coming back late, leaves the takeover's slot alone.
        hanging.end(Some(&lease_of(10)), 5_000, 5_000);
        assert!(matches!(claim("user:5", 5_001, 5_000), Claim::Wait));
        takeover.end(Some(&lease_of(10)), 5_000, 5_000);
        assert!(matches!(claim("user:5", 5_002, 5_000), Claim::Spent(_)));
        forget_leases();
    }
}
