//! Argon2id password hashing. Hashing is deliberately slow, so it runs on the blocking pool and
//! never stalls the async workers.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use domain::Secret;

/// Hashes a password into a PHC string (Argon2id, the crate's recommended parameters).
pub async fn hash(password: Secret) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.expose(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    })
    .await?
}

/// Checks a password against a stored hash. With no stored hash (unknown user) it still does
/// the work of a real check, so timing does not reveal which usernames exist.
pub async fn verify(password: Secret, stored: Option<String>) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let parsed = PasswordHash::new(&stored).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
        let matches = Argon2::default()
            .verify_password(password.expose(), &parsed)
            .is_ok();
        Ok(matches && stored != DUMMY_HASH)
    })
    .await?
}

/// The hash of a random password nobody knows, with the default parameters.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$TJSZ5YqmQ2rJYVW5K0AJqXkC0HIpYu+a3nxN4Q6hV5E";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let stored = hash(Secret::new("correct horse")).await.unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(
            verify(Secret::new("correct horse"), Some(stored.clone()))
                .await
                .unwrap()
        );
        assert!(
            !verify(Secret::new("wrong horse"), Some(stored))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies() {
        assert!(!verify(Secret::new("anything"), None).await.unwrap());
    }
}
