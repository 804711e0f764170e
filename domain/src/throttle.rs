//! Rate limits as DRF throttles them: rates such as `100/day`, scopes counted per identity (a
//! user, or a client address), every scope checked, the longest wait winning, and a refused
//! request not counted. This module is the arithmetic and the wire format; the edge keeps the
//! counts in a Durable Object per identity and leases slices of an allowance to its isolates.
//!
//! Counts are kept as grants: `units` requests counted at one moment for a set of scopes. A
//! request is one unit; a lease is several, counted when granted. Over any window a client
//! gets at most the limit plus the units of one lease that were counted before the window
//! began and spent inside it (the edge allows one outstanding lease per identity).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::UserId;
use crate::config::{ConfigError, Vars};

/// `requests` per `period_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rate {
    pub requests: u32,
    pub period_secs: u32,
}

impl Rate {
    /// DRF's spelling: `100/day`, `60/min`, `5/second`; the period is read by its first
    /// letter (`s`, `m`, `h`, `d`), as DRF does.
    pub fn parse(text: &str) -> Result<Self, String> {
        let problem = || format!("must be N/period (such as 100/day or 60/min), not `{text}`");
        let (requests, period) = text.trim().split_once('/').ok_or_else(problem)?;
        let requests: u32 = requests.trim().parse().map_err(|_| problem())?;
        let period_secs = match period.trim().chars().next() {
            Some('s') => 1,
            Some('m') => 60,
            Some('h') => 3600,
            Some('d') => 86_400,
            _ => return Err(problem()),
        };
        if requests == 0 || requests > 1_000_000 {
            return Err(format!("must allow 1 to 1000000 requests, not `{text}`"));
        }
        Ok(Self {
            requests,
            period_secs,
        })
    }

    fn period_ms(self) -> i64 {
        i64::from(self.period_secs) * 1000
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let period = match self.period_secs {
            1 => "second",
            60 => "min",
            3600 => "hour",
            _ => "day",
        };
        write!(f, "{}/{period}", self.requests)
    }
}

/// A throttle scope (DRF's `scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Anonymous requests, per client address, per day.
    Anon,
    /// Authenticated requests, per user, per day.
    User,
    /// Authenticated requests, per user, per minute.
    Burst,
    /// Token and registration endpoints, per client address: the stricter one.
    Credentials,
}

impl Scope {
    pub const ALL: [Self; 4] = [Self::Anon, Self::User, Self::Burst, Self::Credentials];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Anon => "anon",
            Self::User => "user",
            Self::Burst => "burst",
            Self::Credentials => "credentials",
        }
    }

    /// Its configuration variable.
    pub const fn variable(self) -> &'static str {
        match self {
            Self::Anon => "THROTTLE_RATE_ANON",
            Self::User => "THROTTLE_RATE_USER",
            Self::Burst => "THROTTLE_RATE_BURST",
            Self::Credentials => "THROTTLE_RATE_CREDENTIALS",
        }
    }

    /// The seed's rates (`000_*` §1.2, `002_*` A-5); credentials: 20 a minute per address.
    pub const fn default_rate(self) -> Rate {
        let (requests, period_secs) = match self {
            Self::Anon => (100, 86_400),
            Self::User => (1000, 86_400),
            Self::Burst => (60, 60),
            Self::Credentials => (20, 60),
        };
        Rate {
            requests,
            period_secs,
        }
    }

    const fn bit(self) -> u8 {
        match self {
            Self::Anon => 1,
            Self::User => 2,
            Self::Burst => 4,
            Self::Credentials => 8,
        }
    }
}

/// A set of scopes, as a grant records which scopes it counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ScopeSet(u8);

impl ScopeSet {
    pub fn of(scopes: impl IntoIterator<Item = Scope>) -> Self {
        Self(scopes.into_iter().fold(0, |bits, scope| bits | scope.bit()))
    }

    pub const fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub const fn bits(self) -> u8 {
        self.0
    }

    pub const fn from_bits(bits: u8) -> Self {
        Self(bits & 0b1111)
    }
}

/// Every scope's rate, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    anon: Rate,
    user: Rate,
    burst: Rate,
    credentials: Rate,
}

impl Default for Rates {
    fn default() -> Self {
        Self {
            anon: Scope::Anon.default_rate(),
            user: Scope::User.default_rate(),
            burst: Scope::Burst.default_rate(),
            credentials: Scope::Credentials.default_rate(),
        }
    }
}

impl Rates {
    /// `THROTTLE_RATE_ANON`, `_USER`, `_BURST` and `_CREDENTIALS`, each defaulting to the
    /// seed's.
    pub fn from_vars<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<Self, ConfigError> {
        let read = |scope: Scope| match vars.optional(scope.variable()) {
            None => Ok(scope.default_rate()),
            Some(text) => Rate::parse(&text).map_err(|e| ConfigError::new(scope.variable(), e)),
        };
        Ok(Self {
            anon: read(Scope::Anon)?,
            user: read(Scope::User)?,
            burst: read(Scope::Burst)?,
            credentials: read(Scope::Credentials)?,
        })
    }

    pub const fn of(&self, scope: Scope) -> Rate {
        match scope {
            Scope::Anon => self.anon,
            Scope::User => self.user,
            Scope::Burst => self.burst,
            Scope::Credentials => self.credentials,
        }
    }
}

/// Who a request is counted for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    User(UserId),
    /// A client address (`CF-Connecting-IP`), as given.
    Client(String),
}

impl Identity {
    /// The name of its counts (one Durable Object each).
    pub fn key(&self) -> String {
        match self {
            Self::User(id) => format!("user:{id}"),
            Self::Client(address) => format!("ip:{address}"),
        }
    }

    /// The scopes that count its requests: a user's day and minute, a client's day, and on
    /// the credentials endpoints (always counted per client) the stricter scope too.
    pub const fn scopes(&self, credentials: bool) -> &'static [Scope] {
        match (self, credentials) {
            (_, true) => &[Scope::Anon, Scope::Credentials],
            (Self::User(_), false) => &[Scope::User, Scope::Burst],
            (Self::Client(_), false) => &[Scope::Anon],
        }
    }
}

/// Units counted at one moment for a set of scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub id: i64,
    pub at_ms: i64,
    pub units: u32,
    pub scopes: ScopeSet,
}

/// A scope's standing after a decision: what the `RateLimit-*` headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    pub scope: Scope,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until its oldest counted unit stops counting (a full period if none counts).
    pub reset_secs: u64,
}

/// What the counts allow now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Units that fit in every scope, at most the wanted number; 0 is a refusal.
    pub granted: u32,
    /// When refused: seconds until every scope has room for one more (DRF's longest wait,
    /// rounded up, at least 1); 0 otherwise.
    pub wait_secs: u64,
    /// Each scope, after the grant.
    pub standings: Vec<Standing>,
}

fn ceil_secs(ms: i64) -> u64 {
    u64::try_from((ms.max(0) + 999) / 1000).unwrap_or(0)
}

/// Decides how many of `want` units fit now in every one of `scopes`, given the grants
/// counted so far (any order; those outside a scope's window are ignored).
pub fn decide(grants: &[Grant], scopes: &[(Scope, Rate)], now_ms: i64, want: u32) -> Decision {
    let mut granted = want;
    let mut wait_ms = 0_i64;
    let mut counted: Vec<(Scope, Rate, Vec<&Grant>, u32)> = Vec::with_capacity(scopes.len());
    for &(scope, rate) in scopes {
        let since = now_ms - rate.period_ms();
        let mut inside: Vec<&Grant> = grants
            .iter()
            .filter(|g| g.scopes.contains(scope) && g.at_ms > since)
            .collect();
        inside.sort_by_key(|g| g.at_ms);
        let used = inside.iter().map(|g| g.units).sum::<u32>();
        let room = rate.requests.saturating_sub(used);
        granted = granted.min(room);
        if room == 0 {
            // The wait until enough of the oldest units stop counting to leave room for one.
            let excess = used + 1 - rate.requests;
            let mut freed = 0;
            for grant in &inside {
                freed += grant.units;
                if freed >= excess {
                    wait_ms = wait_ms.max(grant.at_ms + rate.period_ms() - now_ms);
                    break;
                }
            }
        }
        counted.push((scope, rate, inside, room));
    }
    let standings = counted
        .into_iter()
        .map(|(scope, rate, inside, room)| Standing {
            scope,
            limit: rate.requests,
            remaining: room - granted,
            reset_secs: inside
                .first()
                .map_or(u64::from(rate.period_secs), |oldest| {
                    ceil_secs(oldest.at_ms + rate.period_ms() - now_ms)
                }),
        })
        .collect();
    Decision {
        granted,
        wait_secs: if granted == 0 {
            ceil_secs(wait_ms).max(1)
        } else {
            0
        },
        standings,
    }
}

/// The standing the headers show: the scope closest to its limit.
pub fn tightest(standings: &[Standing]) -> Option<Standing> {
    standings
        .iter()
        .copied()
        .min_by_key(|s| (s.remaining, std::cmp::Reverse(s.reset_secs)))
}

/// A request to an identity's counts (the Durable Object's body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Take {
    /// The scopes to count in, with their rates.
    pub scopes: Vec<(Scope, Rate)>,
    /// 1 for one request counted exactly; more asks for a lease of up to that many.
    pub want: u32,
    /// How long a lease may be spent, in ms.
    pub lease_ms: i64,
    /// The asker's previous lease of these counts, and how much of it went unspent. Only the
    /// isolate a lease was granted to knows its grant: giving it back is how that isolate
    /// renews it while other isolates are held to single units.
    pub give_back: Option<GiveBack>,
}

/// Units of a lease that were not spent, returned to the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GiveBack {
    pub grant: i64,
    pub unspent: u32,
}

/// The counts' answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Taken {
    pub granted: u32,
    /// The grant's id when something was granted (for a later [`GiveBack`]).
    pub grant: Option<i64>,
    /// When refused: DRF's wait, in whole seconds.
    pub wait_secs: u64,
    pub standings: Vec<Standing>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(requests: u32, period_secs: u32) -> Rate {
        Rate {
            requests,
            period_secs,
        }
    }

    fn grant(at_ms: i64, units: u32, scopes: &[Scope]) -> Grant {
        Grant {
            id: at_ms,
            at_ms,
            units,
            scopes: ScopeSet::of(scopes.iter().copied()),
        }
    }

    #[test]
    fn rates_read_as_drf_reads_them() {
        assert_eq!(Rate::parse("100/day"), Ok(rate(100, 86_400)));
        assert_eq!(Rate::parse("60/min"), Ok(rate(60, 60)));
        assert_eq!(Rate::parse(" 5/second "), Ok(rate(5, 1)));
        assert_eq!(Rate::parse("3/hour"), Ok(rate(3, 3600)));
        for bad in [
            "",
            "100",
            "100/",
            "100/week",
            "x/day",
            "0/day",
            "-1/day",
            "2000000/day",
        ] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(rate(60, 60).to_string(), "60/min");
    }

    #[test]
    fn identities_count_in_the_seeds_scopes() {
        let user = Identity::User(UserId::new(7));
        let client = Identity::Client("203.0.113.9".into());
        assert_eq!(user.key(), "user:7");
        assert_eq!(client.key(), "ip:203.0.113.9");
        assert_eq!(user.scopes(false), [Scope::User, Scope::Burst]);
        assert_eq!(client.scopes(false), [Scope::Anon]);
        assert_eq!(client.scopes(true), [Scope::Anon, Scope::Credentials]);
    }

    #[test]
    fn a_request_fits_until_the_limit_and_the_refusal_waits_for_the_oldest() {
        let scopes = [(Scope::Burst, rate(3, 60))];
        let grants = [
            grant(1_000, 1, &[Scope::Burst]),
            grant(2_000, 1, &[Scope::Burst]),
        ];
        let fits = decide(&grants, &scopes, 10_000, 1);
        assert_eq!((fits.granted, fits.wait_secs), (1, 0));
        assert_eq!(fits.standings[0].remaining, 0);
        // Reset: the oldest unit (at 1 s) stops counting at 61 s.
        assert_eq!(fits.standings[0].reset_secs, 51);

        let full = [grants[0], grants[1], grant(3_000, 1, &[Scope::Burst])];
        let refused = decide(&full, &scopes, 10_000, 1);
        assert_eq!((refused.granted, refused.wait_secs), (0, 51));
        // Once the oldest is out of the window, one more fits.
        assert_eq!(decide(&full, &scopes, 61_001, 1).granted, 1);
    }

    #[test]
    fn every_scope_is_checked_and_the_longest_wait_wins() {
        let scopes = [(Scope::User, rate(5, 86_400)), (Scope::Burst, rate(2, 60))];
        let both = &[Scope::User, Scope::Burst];
        let grants = [grant(0, 1, both), grant(30_000, 1, both)];
        let refused = decide(&grants, &scopes, 40_000, 1);
        assert_eq!(
            (refused.granted, refused.wait_secs),
            (0, 20),
            "burst frees at 60 s"
        );

        // Day full too, since the first hour: its oldest frees only after a day.
        let day_full = [grant(0, 3, &[Scope::User]), grants[0], grants[1]];
        let refused = decide(&day_full, &scopes, 40_000, 1);
        assert_eq!(refused.wait_secs, 86_360);
    }

    #[test]
    fn a_lease_gets_what_fits_in_every_scope_and_grants_in_other_scopes_do_not_count() {
        let scopes = [
            (Scope::User, rate(100, 86_400)),
            (Scope::Burst, rate(10, 60)),
        ];
        let grants = [
            grant(0, 6, &[Scope::User, Scope::Burst]),
            grant(0, 50, &[Scope::Anon]),
        ];
        let lease = decide(&grants, &scopes, 1_000, 8);
        assert_eq!(lease.granted, 4);
        let tight = tightest(&lease.standings).unwrap();
        assert_eq!((tight.scope, tight.remaining), (Scope::Burst, 0));
    }

    #[test]
    fn waits_round_up_to_whole_seconds_and_never_to_zero() {
        let scopes = [(Scope::Anon, rate(1, 1))];
        let refused = decide(&[grant(500, 1, &[Scope::Anon])], &scopes, 1_499, 1);
        assert_eq!((refused.granted, refused.wait_secs), (0, 1));
    }

    #[test]
    fn the_wire_format_round_trips() {
        let take = Take {
            scopes: vec![(Scope::Anon, rate(100, 86_400))],
            want: 10,
            lease_ms: 5_000,
            give_back: Some(GiveBack {
                grant: 4,
                unspent: 3,
            }),
        };
        let text = serde_json::to_string(&take).unwrap();
        assert_eq!(serde_json::from_str::<Take>(&text).unwrap(), take);
    }
}
