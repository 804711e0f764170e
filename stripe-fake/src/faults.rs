//! Faults on demand: the next API calls fail in a chosen way.
//!
//! Faults are rules taken in order: "500 twice, then one 429" is two rules. Each `/v1` call
//! consumes one count of the first rule; when its count reaches zero the next rule applies.
//! A faulted call happens before authentication and idempotency, like an outage in front of
//! Stripe: nothing about it is remembered under its `Idempotency-Key`.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How a faulted call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// 500 with an `api_error`.
    ServerError,
    /// 429 `rate_limit`, with `Retry-After`.
    RateLimit {
        #[serde(default = "one")]
        retry_after_secs: u64,
    },
    /// 402 `card_error` / `card_declined`.
    CardDeclined,
    /// The call is held this long, then handled normally, even if the client has given up by
    /// then: as when Stripe is slow, the intent may exist although the client timed out.
    Hang {
        #[serde(with = "millis", rename = "hang_ms")]
        duration: Duration,
    },
}

fn one() -> u64 {
    1
}

/// One rule: `fault`, for the next `count` calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRule {
    #[serde(flatten)]
    pub fault: Fault,
    #[serde(default = "one_call")]
    pub count: u32,
}

fn one_call() -> u32 {
    1
}

/// The rules still to apply.
#[derive(Debug, Default)]
pub struct FaultQueue {
    rules: VecDeque<FaultRule>,
}

impl FaultQueue {
    pub fn push(&mut self, rule: FaultRule) {
        if rule.count > 0 {
            self.rules.push_back(rule);
        }
    }

    /// The fault for this call, if any, counting it.
    pub fn take(&mut self) -> Option<Fault> {
        let rule = self.rules.front_mut()?;
        let fault = rule.fault;
        rule.count -= 1;
        if rule.count == 0 {
            self.rules.pop_front();
        }
        Some(fault)
    }

    pub fn pending(&self) -> Vec<FaultRule> {
        self.rules.iter().copied().collect()
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use serde_json::json;

    use super::*;

    #[test]
    fn rules_apply_in_order_for_their_count_then_calls_succeed() {
        let mut queue = FaultQueue::default();
        for rule in [
            json!({"kind": "server_error", "count": 2}),
            json!({"kind": "rate_limit"}),
            json!({"kind": "hang", "hang_ms": 1500}),
        ] {
            queue.push(serde_json::from_value(rule).unwrap());
        }
        let seen: Vec<_> = std::iter::from_fn(|| queue.take()).collect();
        assert_eq!(
            seen,
            [
                Fault::ServerError,
                Fault::ServerError,
                Fault::RateLimit {
                    retry_after_secs: 1
                },
                Fault::Hang {
                    duration: Duration::from_millis(1500)
                },
            ]
        );
    }
}
