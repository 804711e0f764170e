//! Scheduled jobs run once per tick, however many origin instances fire it.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use origin_worker::jobs::purge::purge_once;
use origin_worker::state::AppState;
use support::TestOrigin;

#[tokio::test]
async fn the_hourly_purge_runs_once_across_instances() {
    let origin = TestOrigin::new().await;
    // Three instances on one database, their schedulers firing the same tick.
    let instances: Vec<AppState> = (0..3)
        .map(|_| AppState::new(origin.db.clone(), support::settings("http://127.0.0.1:9")))
        .collect();
    let runs = futures::future::join_all(instances.iter().map(purge_once)).await;
    let ran = runs
        .into_iter()
        .map(Result::unwrap)
        .filter(|ran| *ran)
        .count();
    assert_eq!(ran, 1);
    // A later tick of the same hour (a restarted scheduler) finds it taken too.
    assert!(!purge_once(&origin.state).await.unwrap());
    assert_eq!(origin.count("SELECT count(*) FROM cron_runs").await, 1);
}
