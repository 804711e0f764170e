//! One identity's counts: what its Durable Object does with a [`Take`], over a [`Store`]
//! (SQLite in the object, memory in native tests and the test platform).
//!
//! A take is decided by [`domain::throttle::decide`] over the grants of the last day; a
//! granted take is recorded as one grant. At most one lease is outstanding per identity: while
//! an unexpired lease is out, only a take that gives it back (its holder's, the one isolate
//! that knows its grant) may lease again; every other gets single units, counted exactly. That
//! bounds the overshoot of any limit by one lease.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use domain::throttle::{Grant, Rate, Scope, ScopeSet, Take, Taken, decide};

use crate::platform::{Answered, Counts, PortError};

/// The longest period a rate can have (`/day`): older grants count in no scope.
pub const MAX_PERIOD_MS: i64 = 86_400_000;
/// The most units one take may ask for.
pub const MAX_WANT: u32 = 100;
/// A lease is at most this fraction of the tightest limit it counts against (`60/min`: 10).
pub const LEASE_SHARE: u32 = 6;

/// The identity's outstanding lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseRecord {
    pub grant: i64,
    pub until_ms: i64,
}

/// Where the counts are kept.
pub trait Store {
    /// Grants counted after `since_ms`.
    fn grants(&mut self, since_ms: i64) -> Result<Vec<Grant>, PortError>;
    /// Records a grant; answers its id.
    fn insert(&mut self, at_ms: i64, units: u32, scopes: ScopeSet) -> Result<i64, PortError>;
    /// Takes `unspent` units off grant `id` (dropping it at zero); nothing if it is gone.
    fn reduce(&mut self, id: i64, unspent: u32) -> Result<(), PortError>;
    fn lease(&mut self) -> Result<Option<LeaseRecord>, PortError>;
    fn set_lease(&mut self, lease: Option<&LeaseRecord>) -> Result<(), PortError>;
    /// Drops grants counted at or before `before_ms`.
    fn forget(&mut self, before_ms: i64) -> Result<(), PortError>;
}

/// Answers one take at `now_ms`. A take that asks for nothing sensible (no scope, more than
/// four, a lease over a minute) is refused as an error, never half-applied.
pub fn serve(store: &mut impl Store, take: &Take, now_ms: i64) -> Result<Taken, PortError> {
    if take.scopes.is_empty() || take.scopes.len() > 4 || !(0..=60_000).contains(&take.lease_ms) {
        return Err(PortError::new("a malformed take"));
    }
    store.forget(now_ms - MAX_PERIOD_MS)?;
    let lease = store.lease()?;
    // The outstanding lease, given back by its holder: free to lease again. (Its record is
    // overwritten by the next lease, or cleared below if there is none.)
    let returned = take
        .give_back
        .is_some_and(|back| lease.is_some_and(|l| l.grant == back.grant));
    if let Some(back) = take.give_back.filter(|back| back.unspent > 0) {
        store.reduce(back.grant, back.unspent)?;
    }
    let held_elsewhere = !returned && lease.is_some_and(|l| l.until_ms > now_ms);
    let want = if held_elsewhere {
        1
    } else {
        take.want.clamp(1, MAX_WANT).min(lease_cap(&take.scopes))
    };
    let grants = store.grants(now_ms - MAX_PERIOD_MS)?;
    let decision = decide(&grants, &take.scopes, now_ms, want);
    if decision.granted == 0 {
        if returned {
            store.set_lease(None)?;
        }
        return Ok(Taken {
            granted: 0,
            grant: None,
            wait_secs: decision.wait_secs,
            standings: decision.standings,
        });
    }
    let scopes = ScopeSet::of(take.scopes.iter().map(|(scope, _)| *scope));
    let id = store.insert(now_ms, decision.granted, scopes)?;
    if decision.granted > 1 {
        store.set_lease(Some(&LeaseRecord {
            grant: id,
            until_ms: now_ms + take.lease_ms,
        }))?;
    } else if returned {
        store.set_lease(None)?;
    }
    Ok(Taken {
        granted: decision.granted,
        grant: Some(id),
        wait_secs: 0,
        standings: decision.standings,
    })
}

/// The largest lease against these scopes: a [`LEASE_SHARE`]th of the tightest limit (at least
/// one unit), so that near a small limit the overshoot stays small in proportion too.
fn lease_cap(scopes: &[(Scope, Rate)]) -> u32 {
    scopes
        .iter()
        .map(|(_, rate)| (rate.requests / LEASE_SHARE).max(1))
        .min()
        .unwrap_or(1)
}

/// Counts in memory: the test platform's, and the model the SQLite store follows.
#[derive(Debug, Default)]
pub struct MemoryStore {
    grants: Vec<Grant>,
    lease: Option<LeaseRecord>,
    next_id: i64,
}

impl Store for MemoryStore {
    fn grants(&mut self, since_ms: i64) -> Result<Vec<Grant>, PortError> {
        Ok(self
            .grants
            .iter()
            .filter(|g| g.at_ms > since_ms)
            .copied()
            .collect())
    }

    fn insert(&mut self, at_ms: i64, units: u32, scopes: ScopeSet) -> Result<i64, PortError> {
        self.next_id += 1;
        self.grants.push(Grant {
            id: self.next_id,
            at_ms,
            units,
            scopes,
        });
        Ok(self.next_id)
    }

    fn reduce(&mut self, id: i64, unspent: u32) -> Result<(), PortError> {
        for grant in &mut self.grants {
            if grant.id == id {
                grant.units = grant.units.saturating_sub(unspent);
            }
        }
        self.grants.retain(|g| g.units > 0);
        Ok(())
    }

    fn lease(&mut self) -> Result<Option<LeaseRecord>, PortError> {
        Ok(self.lease)
    }

    fn set_lease(&mut self, lease: Option<&LeaseRecord>) -> Result<(), PortError> {
        self.lease = lease.copied();
        Ok(())
    }

    fn forget(&mut self, before_ms: i64) -> Result<(), PortError> {
        self.grants.retain(|g| g.at_ms > before_ms);
        Ok(())
    }
}

/// Every identity's counts in memory behind the [`Counts`] port, on a clock the owner sets:
/// the native test platform's. It can be made unreachable, as a Durable Object can be. Takes
/// sent for later wait until the owner answers them ([`MemoryCounts::answer_later`]), as after
/// a request's response on Workers.
#[derive(Default)]
pub struct MemoryCounts {
    stores: RefCell<HashMap<String, MemoryStore>>,
    now_ms: Cell<i64>,
    unreachable: Cell<bool>,
    takes: Cell<u64>,
    later: RefCell<Vec<(String, Take, Answered)>>,
}

impl std::fmt::Debug for MemoryCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCounts")
            .field("now_ms", &self.now_ms)
            .field("takes", &self.takes)
            .field("later", &self.later.borrow().len())
            .finish_non_exhaustive()
    }
}

impl MemoryCounts {
    pub fn set_now_ms(&self, now_ms: i64) {
        self.now_ms.set(now_ms);
    }

    pub fn set_unreachable(&self, unreachable: bool) {
        self.unreachable.set(unreachable);
    }

    /// How many takes reached the counts.
    pub fn takes(&self) -> u64 {
        self.takes.get()
    }

    /// Answers the takes sent for later, in the order sent, at the clock's time; answers how
    /// many there were.
    pub fn answer_later(&self) -> usize {
        let later = std::mem::take(&mut *self.later.borrow_mut());
        let count = later.len();
        for (key, take, then) in later {
            then(self.take_now(&key, &take), self.now_ms.get());
        }
        count
    }

    fn take_now(&self, key: &str, take: &Take) -> Result<Taken, PortError> {
        if self.unreachable.get() {
            return Err(PortError::new("the counts are unreachable"));
        }
        self.takes.set(self.takes.get() + 1);
        let mut stores = self.stores.borrow_mut();
        let store = stores.entry(key.to_owned()).or_default();
        serve(store, take, self.now_ms.get())
    }
}

impl Counts for MemoryCounts {
    async fn take(&self, key: &str, take: &Take) -> Result<Taken, PortError> {
        self.take_now(key, take)
    }

    fn take_later(&self, key: &str, take: Take, then: Answered) {
        self.later.borrow_mut().push((key.to_owned(), take, then));
    }

    /// Moves the clock on instead of waiting.
    async fn pause(&self, ms: u64) {
        self.now_ms
            .set(self.now_ms.get() + i64::try_from(ms).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::throttle::GiveBack;

    /// A take against one burst scope of `per_min` requests a minute.
    fn take(per_min: u32, want: u32, give_back: Option<GiveBack>) -> Take {
        Take {
            scopes: vec![(
                Scope::Burst,
                Rate {
                    requests: per_min,
                    period_secs: 60,
                },
            )],
            want,
            lease_ms: 5_000,
            give_back,
        }
    }

    #[test]
    fn one_lease_is_out_at_a_time_and_others_count_exactly_meanwhile() {
        let mut store = MemoryStore::default();
        let first = serve(&mut store, &take(120, 10, None), 0).unwrap();
        assert_eq!(first.granted, 10);
        let other = serve(&mut store, &take(120, 10, None), 1_000).unwrap();
        assert_eq!(other.granted, 1, "a second holder counts one at a time");
        // Once the lease has run out, anyone may lease.
        let later = serve(&mut store, &take(120, 10, None), 6_000).unwrap();
        assert_eq!(later.granted, 10);
        assert_eq!(later.standings[0].remaining, 120 - 21);
    }

    #[test]
    fn a_lease_is_at_most_a_sixth_of_the_limit_and_what_is_left_of_it() {
        let mut store = MemoryStore::default();
        assert_eq!(
            serve(&mut store, &take(60, 20, None), 0).unwrap().granted,
            10
        );
        let mut store = MemoryStore::default();
        assert_eq!(
            serve(&mut store, &take(4, 20, None), 0).unwrap().granted,
            1,
            "at least one unit, however small the limit"
        );
        let mut store = MemoryStore::default();
        for at_ms in 0..55 {
            serve(&mut store, &take(60, 1, None), at_ms).unwrap();
        }
        assert_eq!(
            serve(&mut store, &take(60, 10, None), 100).unwrap().granted,
            5,
            "what is left of 60"
        );
    }

    #[test]
    fn its_holder_gives_back_what_it_did_not_spend_and_leases_again() {
        let mut store = MemoryStore::default();
        let first = serve(&mut store, &take(120, 10, None), 0).unwrap();
        let back = GiveBack {
            grant: first.grant.unwrap(),
            unspent: 7,
        };
        let again = serve(&mut store, &take(120, 10, Some(back)), 1_000).unwrap();
        assert_eq!(again.granted, 10);
        assert_eq!(
            again.standings[0].remaining,
            120 - 3 - 10,
            "3 spent + 10 leased"
        );
        // Anyone else is held to single units: the new lease is outstanding.
        assert_eq!(
            serve(&mut store, &take(120, 5, None), 2_000)
                .unwrap()
                .granted,
            1
        );
    }

    #[test]
    fn a_lease_given_back_whole_then_refused_is_no_longer_outstanding() {
        let mut store = MemoryStore::default();
        let first = serve(&mut store, &take(12, 2, None), 0).unwrap();
        assert_eq!(first.granted, 2);
        let back = GiveBack {
            grant: first.grant.unwrap(),
            unspent: 0,
        };
        for at_ms in 1..=10 {
            serve(&mut store, &take(12, 1, None), at_ms).unwrap();
        }
        let refused = serve(&mut store, &take(12, 2, Some(back)), 20).unwrap();
        assert_eq!(refused.granted, 0);
        assert_eq!(store.lease().unwrap(), None);
    }

    #[test]
    fn a_refusal_counts_nothing_and_waits_for_the_oldest_unit() {
        let mut store = MemoryStore::default();
        for _ in 0..6 {
            serve(&mut store, &take(6, 1, None), 0).unwrap();
        }
        let refused = serve(&mut store, &take(6, 1, None), 10_000).unwrap();
        assert_eq!((refused.granted, refused.wait_secs), (0, 50));
        assert_eq!(store.grants(-1).unwrap().len(), 6, "nothing recorded");
        assert_eq!(
            serve(&mut store, &take(6, 1, None), 60_001)
                .unwrap()
                .granted,
            1
        );
    }

    #[test]
    fn malformed_takes_are_errors() {
        let mut store = MemoryStore::default();
        let mut empty = take(60, 1, None);
        empty.scopes.clear();
        assert!(serve(&mut store, &empty, 0).is_err());
        let mut long = take(60, 1, None);
        long.lease_ms = 3_600_000;
        assert!(serve(&mut store, &long, 0).is_err());
    }
}
