//! Argon2id password hashing. Hashing is deliberately slow and memory-hard (19 MiB a hash), so
//! it runs on a few threads of its own, never on the async workers.
//!
//! Why not tokio's blocking pool: it grows to hundreds of threads, so a burst of logins ran that
//! many hashes at once, each thread keeping its 19 MiB in its own allocator arena afterwards.
//! The soak saw the origin's private memory climb in steps, 150 → 480 MB, as logins overlapped
//! on busy cores. A fixed pool bounds both: at most [`hashers`] hashes run at a time (the rest
//! wait their turn in a queue), and each hashing thread reuses one Argon2 memory of its own, so
//! the whole cost is `hashers() × 19 MiB`, allocated once.

use std::sync::{Arc, Mutex, OnceLock};

use std::cell::RefCell;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use domain::Secret;

type Job = Box<dyn FnOnce() + Send>;

/// How many hashes run at once: one per core, at most four.
fn hashers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// The queue the hashing threads take work from, started on first use.
fn queue() -> &'static tokio::sync::mpsc::Sender<Job> {
    static QUEUE: OnceLock<tokio::sync::mpsc::Sender<Job>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        // Deep enough for any burst the edge lets through; a full queue makes callers wait.
        let (sender, receiver) = tokio::sync::mpsc::channel::<Job>(1024);
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..hashers() {
            let receiver = Arc::clone(&receiver);
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = receiver
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .blocking_recv();
                        match job {
                            Some(job) => job(),
                            None => break,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password hashing thread");
            }
        }
        sender
    })
}

/// Runs `work` on a hashing thread and waits for its answer.
async fn on_hasher<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let (answer, answered) = tokio::sync::oneshot::channel();
    queue()
        .send(Box::new(move || {
            let _ = answer.send(work());
        }))
        .await
        .map_err(|_| anyhow::anyhow!("the password hashing threads are gone"))?;
    answered
        .await
        .map_err(|_| anyhow::anyhow!("a password hashing thread died mid-hash"))?
}

thread_local! {
    /// The hashing thread's Argon2 memory (19 MiB with the default parameters), allocated at
    /// its first hash and reused by every later one. Allocating it per hash left the allocator
    /// holding several freed copies per thread (the soak saw 58 MB arenas).
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Argon2 over `password` and `salt` with `params`, on this thread's reused memory.
fn argon2_raw(
    algorithm: Algorithm,
    version: Version,
    params: Params,
    password: &[u8],
    salt: &[u8],
) -> anyhow::Result<Output> {
    let mut out = vec![0_u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    let count = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    BLOCKS
        .with_borrow_mut(|blocks| {
            if blocks.len() < count {
                blocks.resize(count, Block::default());
            }
            argon2.hash_password_into_with_memory(password, salt, &mut out, &mut blocks[..count])
        })
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
    Output::new(&out).map_err(|e| anyhow::anyhow!("argon2 output: {e}"))
}

/// Hashes a password into a PHC string (Argon2id, the crate's recommended parameters).
pub async fn hash(password: Secret) -> anyhow::Result<String> {
    on_hasher(move || {
        let salt = SaltString::generate(&mut OsRng);
        let mut raw_salt = [0_u8; Salt::MAX_LENGTH];
        let salt_bytes = salt
            .decode_b64(&mut raw_salt)
            .map_err(|e| anyhow::anyhow!("salt: {e}"))?;
        let params = Params::default();
        let output = argon2_raw(
            Algorithm::Argon2id,
            Version::V0x13,
            params.clone(),
            password.expose(),
            salt_bytes,
        )?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(|e| anyhow::anyhow!("params: {e}"))?,
            salt: Some(salt.as_salt()),
            hash: Some(output),
        };
        Ok(phc.to_string())
    })
    .await
}

/// Checks a password against a stored hash. With no stored hash (unknown user) it still does
/// the work of a real check, so timing does not reveal which usernames exist.
pub async fn verify(password: Secret, stored: Option<String>) -> anyhow::Result<bool> {
    on_hasher(move || {
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let parsed = PasswordHash::new(&stored).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
        let algorithm =
            Algorithm::try_from(parsed.algorithm).map_err(|e| anyhow::anyhow!("algorithm: {e}"))?;
        let version = parsed
            .version
            .map(Version::try_from)
            .transpose()
            .map_err(|e| anyhow::anyhow!("version: {e}"))?
            .unwrap_or_default();
        let params = Params::try_from(&parsed).map_err(|e| anyhow::anyhow!("params: {e}"))?;
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            anyhow::bail!("stored hash without salt or hash");
        };
        let mut raw_salt = [0_u8; Salt::MAX_LENGTH];
        let salt_bytes = salt
            .decode_b64(&mut raw_salt)
            .map_err(|e| anyhow::anyhow!("salt: {e}"))?;
        let computed = argon2_raw(algorithm, version, params, password.expose(), salt_bytes)?;
        // `Output`'s equality is constant-time.
        Ok(computed == expected && stored != DUMMY_HASH)
    })
    .await
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_hashes_at_once_all_finish_on_the_few_threads() {
        let checks = (0..3 * hashers())
            .map(|n| tokio::spawn(verify(Secret::new(format!("password {n}")), None)));
        for check in futures::future::join_all(checks).await {
            assert!(!check.unwrap().unwrap());
        }
    }

    #[test]
    fn hashes_are_the_crates_own_phc_strings() {
        use argon2::PasswordVerifier as _;
        // What this module writes, the argon2 crate's own verifier accepts, and the other way
        // round: the reused memory changes nothing in the result.
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let ours = runtime
            .block_on(hash(Secret::new("correct horse")))
            .unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        let theirs = {
            use argon2::PasswordHasher as _;
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(b"battery staple", &salt)
                .unwrap()
                .to_string()
        };
        assert!(
            runtime
                .block_on(verify(Secret::new("battery staple"), Some(theirs.clone())))
                .unwrap()
        );
        assert!(
            !runtime
                .block_on(verify(Secret::new("battery"), Some(theirs)))
                .unwrap()
        );
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies() {
        assert!(!verify(Secret::new("anything"), None).await.unwrap());
    }
}
