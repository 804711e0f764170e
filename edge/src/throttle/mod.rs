//! Rate limiting at the edge, as DRF throttles: who a request counts for, in which scopes,
//! and whether it may go on. The counts are exact across the whole edge: one Durable Object
//! per identity keeps them ([`counts`], behind the [`Counts`](crate::platform::Counts) port).
//!
//! A call to the object for every request would cost reads their speed, so outside the
//! credentials endpoints an isolate leases a slice of an identity's allowance
//! (`THROTTLE_LEASE` requests, counted when granted) and spends it locally. Before the lease
//! runs out (a quarter of its units or of its time left), the request that notices tops it up
//! in the background: it gives back the units left, which the object counts again in the new
//! lease, and asks for a whole one; meanwhile the isolate goes on spending the old one. So an
//! identity that keeps its isolate busy never waits on the object; one whose lease ran out
//! (idle for `THROTTLE_LEASE_MS`) waits for one renewal. The object lets one lease be out per
//! identity, so over any window a client gets at most the limit plus one lease (units counted
//! at the grant and spent later inside the window). The credentials endpoints count every
//! request at the object.
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
use crate::platform::{Counts, Platform};
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
    /// The top-up under way, if any.
    topping_up: Option<TopUpMark>,
}

/// A top-up sent for a lease: its id, when it went out, and how many units were left then
/// (given back, to be counted again in the new lease).
#[derive(Debug, Clone, Copy)]
struct TopUpMark {
    id: u64,
    since_ms: i64,
    left: u32,
}

impl Lease {
    fn new(taken: &Taken, spent: u32, until_ms: i64) -> Option<Self> {
        Some(Self {
            grant: taken.grant?,
            granted: taken.granted,
            spent: spent.min(taken.granted),
            until_ms,
            standing: tightest(&taken.standings)?,
            topping_up: None,
        })
    }

    fn left(&self) -> u32 {
        self.granted - self.spent
    }

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
            remaining: self.standing.remaining + self.left(),
            ..self.standing
        }
    }

    /// After a spend: a top-up to send, when a quarter or less of the lease's units or time is
    /// left, some units are, and none is under way. (With nothing left the next request renews,
    /// as one does after the lease's time.)
    fn top_up(&mut self, key: &str, now_ms: i64, lease_ms: i64) -> Option<TopUp> {
        let left = self.left();
        let running_out =
            left <= (self.granted / 4).max(1) || self.until_ms - now_ms <= lease_ms / 4;
        if self.topping_up.is_some() || left == 0 || !running_out {
            return None;
        }
        let id = next_id();
        self.topping_up = Some(TopUpMark {
            id,
            since_ms: now_ms,
            left,
        });
        Some(TopUp {
            key: key.to_owned(),
            id,
            give_back: GiveBack {
                grant: self.grant,
                unspent: left,
            },
        })
    }
}

#[derive(Debug)]
enum Slot {
    Held(Lease),
    /// Renewal `id` went out at `since_ms`; the identity's requests meanwhile wait for it
    /// ([`WAIT_STEPS_MS`]) rather than each asking the object (as they do for a top-up under
    /// way when the lease runs out before it comes back). A renewal whose request was
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

/// A fresh id for a renewal or a top-up.
fn next_id() -> u64 {
    RENEWALS.with(|count| {
        count.set(count.get().wrapping_add(1));
        count.get()
    })
}

/// How a request that is not on a credentials endpoint gets its unit.
#[derive(Debug)]
enum Claim {
    /// Spent from the lease this isolate holds; with a top-up to send if it runs low.
    Spent(Standing, Option<TopUp>),
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
    let scopes: Vec<(Scope, Rate)> = identity
        .scopes(credentials)
        .iter()
        .map(|&scope| (scope, settings.rates.of(scope)))
        .collect();
    let take = |want, give_back| Take {
        scopes: scopes.clone(),
        want,
        lease_ms: settings.lease_ms,
        give_back,
    };
    let (want, give_back, renewal) = match claim {
        Claim::Spent(standing, top_up) => {
            if let Some(top_up) = top_up {
                let asked = take(settings.lease, Some(top_up.give_back));
                top_up.send(ctx.platform.counts(), asked, settings.lease_ms);
            }
            return Limited::allowed(standing);
        }
        Claim::Renew(renewal, give_back) => (settings.lease, give_back, Some(renewal)),
        Claim::Wait | Claim::Single => (1, None, None),
    };
    let take = take(want, give_back);
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

/// Spends a unit of the identity's lease if this isolate holds one (sending a top-up if it
/// runs low); else says to wait for the renewal or top-up under way, or starts a renewal
/// (giving back what the old lease did not spend). Past `MAX_LEASES` identities, requests
/// count alone.
fn claim(key: &str, now_ms: i64, lease_ms: i64) -> Claim {
    LEASES.with(|leases| {
        let mut leases = leases.borrow_mut();
        let give_back = match leases.get_mut(key) {
            Some(Slot::Held(lease)) => {
                if let Some(standing) = lease.spend(now_ms) {
                    return Claim::Spent(standing, lease.top_up(key, now_ms, lease_ms));
                }
                if lease
                    .topping_up
                    .is_some_and(|mark| now_ms - mark.since_ms < lease_ms)
                {
                    return Claim::Wait;
                }
                // Spent or out of time, and no top-up coming (or one that hangs).
                Some(GiveBack {
                    grant: lease.grant,
                    unspent: lease.left(),
                })
            }
            Some(Slot::Renewing { since_ms, .. }) if now_ms - *since_ms < lease_ms => {
                return Claim::Wait;
            }
            // Nothing held, or a renewal that hangs: start one.
            Some(Slot::Renewing { .. }) | None => None,
        };
        if give_back.is_none() && leases.len() >= MAX_LEASES {
            return Claim::Single;
        }
        let id = next_id();
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
        let lease = taken
            .filter(|taken| taken.granted > 1)
            .and_then(|taken| Lease::new(taken, 1, now_ms + lease_ms));
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

/// A top-up on its way to the object for the lease of `key`.
#[derive(Debug)]
struct TopUp {
    key: String,
    id: u64,
    give_back: GiveBack,
}

impl TopUp {
    /// Sends `take` (a whole lease, giving back what is left of this one) without holding up
    /// the request; the answer replaces the lease when it comes.
    fn send<C: Counts>(self, counts: &C, take: Take, lease_ms: i64) {
        let key = self.key.clone();
        counts.take_later(
            &key,
            take,
            Box::new(move |answer, _at_ms| self.end(answer.ok().as_ref(), lease_ms)),
        );
    }

    /// Records the answer, if the lease it tops up is still this isolate's. The units left at
    /// sending were counted again in the new lease, so whatever of them was spent since is
    /// spent from it. The new lease runs from when the top-up went out, never past the
    /// object's own record of it. Refused, the lease is gone (its units were given back), and
    /// the next request renews; failed, the lease runs on until it is spent or out of time.
    fn end(self, taken: Option<&Taken>, lease_ms: i64) {
        LEASES.with(|leases| {
            let mut leases = leases.borrow_mut();
            let Some(Slot::Held(lease)) = leases.get_mut(&self.key) else {
                return;
            };
            let Some(mark) = lease.topping_up.filter(|mark| mark.id == self.id) else {
                return;
            };
            lease.topping_up = None;
            let Some(taken) = taken else {
                return;
            };
            let spent_since = mark.left - lease.left().min(mark.left);
            match Lease::new(taken, spent_since, mark.since_ms + lease_ms) {
                Some(new) if taken.granted > 0 => *lease = new,
                _ => {
                    leases.remove(&self.key);
                }
            }
        });
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

    fn lease_granted(granted: u32, grant: i64, remaining: u32) -> Taken {
        Taken {
            grant: Some(grant),
            standings: vec![Standing {
                remaining,
                ..lease_of(granted).standings[0]
            }],
            ..lease_of(granted)
        }
    }

    /// Spends a unit; answers the top-up the spend sent, if any.
    #[track_caller]
    fn spend(key: &str, now_ms: i64) -> (Standing, Option<TopUp>) {
        match claim(key, now_ms, 5_000) {
            Claim::Spent(standing, top_up) => (standing, top_up),
            other => panic!("expected a unit spent, got {other:?}"),
        }
    }

    #[test]
    fn requests_during_a_renewal_wait_then_spend_the_new_lease() {
        forget_leases();
        let first = renewal(claim("user:1", 0, 5_000));
        assert!(matches!(claim("user:1", 0, 5_000), Claim::Wait));
        first.end(Some(&lease_of(2)), 0, 5_000);
        // Two units: the renewing request's, then one more, which leaves none to top up…
        assert!(spend("user:1", 1).1.is_none());
        // …so the next request renews, giving back nothing.
        match claim("user:1", 3, 5_000) {
            Claim::Renew(_, Some(back)) => assert_eq!((back.grant, back.unspent), (7, 0)),
            other => panic!("expected a renewal giving back, got {other:?}"),
        }
        forget_leases();
    }

    #[test]
    fn a_lease_running_low_is_topped_up_while_its_last_units_are_spent() {
        forget_leases();
        renewal(claim("user:6", 0, 5_000)).end(Some(&lease_of(8)), 0, 5_000);
        // 8 units, the first spent by the renewing request: the top-up goes with 2 left.
        for at in 1..=4 {
            let (standing, top_up) = spend("user:6", at);
            assert_eq!(standing.remaining, 50 + 7 - u32::try_from(at).unwrap());
            assert!(top_up.is_none(), "not yet at {at}");
        }
        let (_, top_up) = spend("user:6", 5);
        let top_up = top_up.expect("a top-up with a quarter left");
        assert_eq!((top_up.give_back.grant, top_up.give_back.unspent), (7, 2));
        // The last units go on being spent meanwhile, with no second top-up…
        assert!(spend("user:6", 6).1.is_none());
        // …and the new lease (8, 2 of them the old one's last units, 1 spent since) carries
        // on the count: the object counted 8 more (remaining 50 - 8 + 2 = 44).
        top_up.end(Some(&lease_granted(8, 9, 44)), 5_000);
        let (standing, top_up) = spend("user:6", 7);
        assert_eq!(
            standing.remaining,
            44 + 6,
            "6 left after this one, as if counted singly"
        );
        assert!(top_up.is_none());
        match claim("user:6", 9, 5_000) {
            Claim::Spent(_, None) => {}
            other => panic!("expected the new lease spent, got {other:?}"),
        }
        forget_leases();
    }

    #[test]
    fn a_lease_spent_before_its_top_up_comes_back_waits_for_it() {
        forget_leases();
        renewal(claim("user:7", 0, 5_000)).end(Some(&lease_of(4)), 0, 5_000);
        spend("user:7", 1);
        let (_, top_up) = spend("user:7", 2);
        let top_up = top_up.expect("one unit left of 4");
        spend("user:7", 3);
        assert!(matches!(claim("user:7", 4, 5_000), Claim::Wait));
        top_up.end(Some(&lease_granted(4, 8, 40)), 5_000);
        let (standing, _) = spend("user:7", 5);
        assert_eq!(
            standing.remaining,
            40 + 2,
            "one of the 4 was the old unit spent since"
        );
        forget_leases();
    }

    #[test]
    fn a_lease_used_until_late_is_topped_up_before_its_time_is_out() {
        forget_leases();
        renewal(claim("user:8", 0, 5_000)).end(Some(&lease_of(40)), 0, 5_000);
        assert!(spend("user:8", 3_749).1.is_none());
        let top_up = spend("user:8", 3_750)
            .1
            .expect("a quarter of the time left");
        assert_eq!(top_up.give_back.unspent, 37);
        // It runs from when it went out: the object's record ends no earlier.
        top_up.end(Some(&lease_granted(40, 9, 10)), 5_000);
        assert!(matches!(
            claim("user:8", 8_749, 5_000),
            Claim::Spent(_, Some(_))
        ));
        // Out of time, with the next top-up under way: wait for it.
        assert!(matches!(claim("user:8", 8_750, 5_000), Claim::Wait));
        forget_leases();
    }

    #[test]
    fn a_refused_top_up_ends_the_lease_and_a_failed_one_leaves_it_running() {
        forget_leases();
        renewal(claim("user:9", 0, 5_000)).end(Some(&lease_of(4)), 0, 5_000);
        spend("user:9", 1);
        let failed = spend("user:9", 2).1.expect("one unit left");
        failed.end(None, 5_000);
        let again = spend("user:9", 3).1;
        assert!(
            again.is_none(),
            "nothing left to give back: the next request renews"
        );
        assert!(matches!(
            claim("user:9", 4, 5_000),
            Claim::Renew(_, Some(_))
        ));
        forget_leases();

        renewal(claim("user:10", 0, 5_000)).end(Some(&lease_of(4)), 0, 5_000);
        spend("user:10", 1);
        let refused = spend("user:10", 2).1.expect("one unit left");
        refused.end(Some(&lease_of(0)), 5_000);
        // Its unit went back to the object: nothing is left to spend here.
        assert!(matches!(claim("user:10", 3, 5_000), Claim::Renew(_, None)));
        forget_leases();
    }

    #[test]
    fn a_top_up_answered_after_its_lease_was_replaced_changes_nothing() {
        forget_leases();
        renewal(claim("user:11", 0, 5_000)).end(Some(&lease_of(4)), 0, 5_000);
        spend("user:11", 1);
        let late = spend("user:11", 2).1.expect("one unit left");
        spend("user:11", 3);
        // The top-up hangs past a lease's time: a renewal takes over.
        let takeover = renewal(claim("user:11", 5_002, 5_000));
        takeover.end(Some(&lease_granted(4, 20, 30)), 5_002, 5_000);
        late.end(Some(&lease_granted(4, 21, 26)), 5_000);
        let (standing, _) = spend("user:11", 5_003);
        assert_eq!(standing.remaining, 30 + 2, "the takeover's lease stands");
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
        assert!(matches!(claim("user:5", 5_002, 5_000), Claim::Spent(..)));
        forget_leases();
    }
}
