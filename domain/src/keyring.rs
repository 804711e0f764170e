//! A secret while it is rotated with no downtime: the current key signs; for an overlap window
//! after a rotation, what the key it replaced signed still verifies, and after the window it no
//! longer does. The deployables read one as `NAME`, `NAME_PREVIOUS` and `NAME_PREVIOUS_UNTIL`
//! ([`crate::config::Vars::keyring`]).

use crate::secret::Secret;

/// The current key and, during a rotation's overlap, the previous one. Never prints a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyring {
    current: Secret,
    previous: Option<Previous>,
}

/// The key a rotation replaced, and the end of its overlap window.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Previous {
    key: Secret,
    /// Unix seconds: verifies before this instant, never from it on.
    until: i64,
}

impl Keyring {
    /// One key, nothing being rotated.
    pub fn new(current: Secret) -> Self {
        Self {
            current,
            previous: None,
        }
    }

    /// `previous` verifies too, before `until` (unix seconds).
    #[must_use]
    pub fn with_previous(mut self, previous: Secret, until: i64) -> Self {
        self.previous = Some(Previous {
            key: previous,
            until,
        });
        self
    }

    /// The key that signs: always the current one.
    pub fn expose(&self) -> &[u8] {
        self.current.expose()
    }

    /// The previous key while its window is open at `now`.
    pub fn previous_at(&self, now: i64) -> Option<&[u8]> {
        self.previous
            .as_ref()
            .filter(|previous| now < previous.until)
            .map(|previous| previous.key.expose())
    }

    /// When the previous key stops verifying, if there is one.
    pub fn previous_until(&self) -> Option<i64> {
        self.previous.as_ref().map(|previous| previous.until)
    }

    /// The previous key and the end of its window (unix seconds), if there is one: for a
    /// verifier that prepares its keys once.
    pub fn previous(&self) -> Option<(&[u8], i64)> {
        self.previous
            .as_ref()
            .map(|previous| (previous.key.expose(), previous.until))
    }

    /// `check` under the current key, then under the previous one while its window is open at
    /// `now`: the first success, or the current key's failure.
    pub fn verify<T, E>(&self, now: i64, check: impl Fn(&[u8]) -> Result<T, E>) -> Result<T, E> {
        let current = check(self.current.expose());
        match (current, self.previous_at(now)) {
            (Err(error), Some(previous)) => check(previous).map_err(|_| error),
            (outcome, _) => outcome,
        }
    }

    /// A keyring of keys derived from these ones, with the same window.
    #[must_use]
    pub fn derive(&self, derive: impl Fn(&[u8]) -> Vec<u8>) -> Self {
        Self {
            current: Secret::new(derive(self.current.expose())),
            previous: self.previous.as_ref().map(|previous| Previous {
                key: Secret::new(derive(previous.key.expose())),
                until: previous.until,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_is(wanted: &'static [u8]) -> impl Fn(&[u8]) -> Result<(), &'static str> {
        move |key| {
            if key == wanted {
                Ok(())
            } else {
                Err("mismatch")
            }
        }
    }

    #[test]
    fn the_previous_key_verifies_only_inside_its_window() {
        let ring = Keyring::new(Secret::new(*b"new")).with_previous(Secret::new(*b"old"), 1_000);
        assert_eq!(ring.expose(), b"new", "the new key signs");
        assert_eq!(ring.verify(999, check_is(b"new")), Ok(()));
        assert_eq!(ring.verify(999, check_is(b"old")), Ok(()));
        assert_eq!(ring.verify(1_000, check_is(b"old")), Err("mismatch"));
        assert_eq!(ring.verify(1_000, check_is(b"new")), Ok(()));
        assert_eq!(ring.verify(0, check_is(b"other")), Err("mismatch"));
    }

    #[test]
    fn derived_keys_keep_the_window_and_no_key_prints() {
        let ring = Keyring::new(Secret::new(*b"new")).with_previous(Secret::new(*b"old"), 5);
        let derived = ring.derive(|key| [key, b"!"].concat());
        assert_eq!(derived.expose(), b"new!");
        assert_eq!(derived.previous_at(4), Some(&b"old!"[..]));
        assert_eq!(derived.previous_at(5), None);
        let printed = format!("{ring:?}");
        assert!(
            !printed.contains("new") && !printed.contains("old"),
            "{printed}"
        );
    }
}
