//! Retrying a job later rather than at once. apalis-postgres 1.0 re-fetches a `Failed` job as
//! soon as a worker polls (its `get_jobs` wants only `attempts < max_attempts AND run_at <
//! now()`) and has no backoff of its own, and its result update leaves `run_at` alone; so a
//! job that wants a pause moves its own `run_at` before it fails.

use std::time::Duration;

use apalis::prelude::TaskId;
use sqlx::PgPool;

/// The pause before the attempt after `attempt` (1 for the first): `base` doubled for each
/// attempt before, at most `cap`, times `jitter` (drawn from 0.8 to 1.2 by the caller, so jobs
/// that failed together do not all come back together).
pub fn backoff(base: Duration, cap: Duration, attempt: u32, jitter: f64) -> Duration {
    let doublings = attempt.saturating_sub(1).min(30);
    base.saturating_mul(1 << doublings).min(cap).mul_f64(jitter)
}

/// A jitter factor for [`backoff`].
pub fn jitter() -> f64 {
    use rand::Rng as _;
    rand::thread_rng().gen_range(0.8..=1.2)
}

/// Moves the job's next run `delay` into the future; it holds once the job fails.
pub async fn run_later(db: &PgPool, task: &TaskId, delay: Duration) -> sqlx::Result<()> {
    sqlx::query("UPDATE apalis.jobs SET run_at = now() + make_interval(secs => $2) WHERE id = $1")
        .bind(task.to_string())
        .bind(delay.as_secs_f64())
        .execute(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_from_the_base_up_to_the_cap_with_jitter_either_way() {
        let base = Duration::from_secs(2);
        let cap = Duration::from_mins(15);
        let seconds: Vec<u64> = (1..=8)
            .map(|attempt| backoff(base, cap, attempt, 1.0).as_secs())
            .collect();
        assert_eq!(seconds, [2, 4, 8, 16, 32, 64, 128, 256]);
        assert_eq!(backoff(base, cap, 20, 1.0), cap);
        assert_eq!(backoff(base, cap, 1, 0.8), Duration::from_millis(1_600));
        assert_eq!(backoff(base, cap, 2, 1.2), Duration::from_millis(4_800));
    }
}
