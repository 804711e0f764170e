//! Comparing D1 with Postgres, and repairing it: the operator commands `check-edge` and
//! `resync-edge`.
//!
//! Postgres holds the truth and, in the outbox, the version of the last change record of every
//! row. D1 holds a version on every row. A row is in sync when D1 has it at exactly that
//! version; it is missing, stale, or extra (in D1 only) otherwise. Repair writes fresh change
//! records (upserts for missing or stale rows, deletes for extra ones) and pushes them, so it
//! runs while the service is live and can be repeated.
//!
//! A check runs while writes go on, so it compares at a watermark: the newest outbox version
//! when it starts. A row that a newer record touches, or that D1 holds at a newer version, may
//! still be on its way and is neither missing, stale nor extra. One case slips past a
//! watermark (a write that took its version before it but committed after), so whatever
//! differs is looked at a second time after another push: what was in flight has landed by
//! then, and only what still differs is reported.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::{self, Write as _};
use std::time::Duration;

use domain::ids::AttachmentId;
use domain::replication::{ChangeKind, Entity};
use domain::wire::{DenylistPage, MAX_VERSIONS_PAGE, RowVersions, VersionsRequest};
use domain::{OrderId, ProductId, ProjectId, TaskId, UserId, paths};

use crate::replication::outbox::{self, NewChange};
use crate::replication::push;
use crate::state::AppState;
use crate::{attachments, auth, orders, projects};

/// How one table differs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TableDiff {
    pub postgres_rows: usize,
    pub edge_rows: usize,
    /// In Postgres, not in D1.
    pub missing: Vec<i64>,
    /// In both, D1 at another version.
    pub stale: Vec<i64>,
    /// In D1 only.
    pub extra: Vec<i64>,
}

impl TableDiff {
    pub fn in_sync(&self) -> bool {
        self.missing.is_empty() && self.stale.is_empty() && self.extra.is_empty()
    }
}

/// The comparison of every table, and of the denylist.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub tables: Vec<(Entity, TableDiff)>,
    /// Unexpired blacklisted tokens D1 does not refuse yet (id, expiry).
    pub denials_missing: Vec<(String, i64)>,
}

impl Report {
    pub fn in_sync(&self) -> bool {
        self.tables.iter().all(|(_, diff)| diff.in_sync()) && self.denials_missing.is_empty()
    }

    /// This report, keeping only the differences `later` found too. (Sets, not scans: a
    /// wiped D1 differs by every row, a million at a time.)
    fn confirmed_by(mut self, later: &Self) -> Self {
        let keep = |ids: &mut Vec<i64>, again: &[i64]| {
            let again: HashSet<i64> = again.iter().copied().collect();
            ids.retain(|id| again.contains(id));
        };
        for (entity, diff) in &mut self.tables {
            if let Some((_, again)) = later.tables.iter().find(|(e, _)| e == entity) {
                keep(&mut diff.missing, &again.missing);
                keep(&mut diff.stale, &again.stale);
                keep(&mut diff.extra, &again.extra);
            }
        }
        let denied_again: HashSet<&(String, i64)> = later.denials_missing.iter().collect();
        self.denials_missing
            .retain(|denial| denied_again.contains(denial));
        self
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<12} {:>10} {:>10} {:>8} {:>8} {:>8}",
            "table", "postgres", "edge", "missing", "stale", "extra"
        )?;
        for (entity, diff) in &self.tables {
            writeln!(
                f,
                "{:<12} {:>10} {:>10} {:>8} {:>8} {:>8}",
                entity.table(),
                diff.postgres_rows,
                diff.edge_rows,
                diff.missing.len(),
                diff.stale.len(),
                diff.extra.len()
            )?;
            let mut sample = String::new();
            for (label, ids) in [
                ("missing", &diff.missing),
                ("stale", &diff.stale),
                ("extra", &diff.extra),
            ] {
                if !ids.is_empty() {
                    let shown: Vec<String> = ids.iter().take(10).map(i64::to_string).collect();
                    let more = if ids.len() > 10 { " …" } else { "" };
                    let _ = write!(sample, "  {label}: {}{more}", shown.join(", "));
                }
            }
            if !sample.is_empty() {
                writeln!(f, "{sample}")?;
            }
        }
        writeln!(
            f,
            "denylist: {} blacklisted tokens missing at the edge",
            self.denials_missing.len()
        )?;
        f.write_str(if self.in_sync() {
            "in sync"
        } else {
            "OUT OF SYNC"
        })
    }
}

/// The version D1 should hold for every current row of a table: that of the row's last upsert
/// record in the outbox.
async fn expected(state: &AppState, entity: Entity) -> anyhow::Result<BTreeMap<i64, i64>> {
    // The table name comes from the enum, never from input.
    let sql = format!(
        "SELECT r.id, coalesce((SELECT max(c.version) FROM replication_changes c \
             WHERE c.change->>'kind' = $1 AND c.change->'data'->>'id' = r.id::text), 0) \
         FROM {} r",
        entity.table()
    );
    let rows: Vec<(i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(entity.upsert_kind())
        .fetch_all(&state.db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// One page of `/internal/versions/`.
async fn versions_page<T: serde::de::DeserializeOwned>(
    state: &AppState,
    client: &reqwest::Client,
    request: &VersionsRequest,
) -> anyhow::Result<T> {
    let body = serde_json::to_vec(request)?;
    let answer = push::call_edge(state, client, paths::INTERNAL_VERSIONS, body).await?;
    Ok(serde_json::from_slice(&answer)?)
}

/// What D1 holds, page by page.
async fn actual(
    state: &AppState,
    client: &reqwest::Client,
    entity: Entity,
) -> anyhow::Result<BTreeMap<i64, i64>> {
    let mut found = BTreeMap::new();
    let mut after = 0;
    loop {
        let request = VersionsRequest::Rows {
            entity,
            after,
            limit: MAX_VERSIONS_PAGE,
        };
        let page: RowVersions = versions_page(state, client, &request).await?;
        let Some((last, _)) = page.rows.last().copied() else {
            break;
        };
        found.extend(page.rows);
        after = last;
    }
    Ok(found)
}

/// What is compared at the watermark: ids that a record newer than it touches are left out.
#[derive(Debug, Clone, Copy)]
struct Watermark<'a> {
    version: i64,
    changed_after: &'a BTreeSet<i64>,
}

fn diff(
    expected: &BTreeMap<i64, i64>,
    actual: &BTreeMap<i64, i64>,
    watermark: Watermark<'_>,
) -> TableDiff {
    let mut result = TableDiff {
        postgres_rows: expected.len(),
        edge_rows: actual.len(),
        ..TableDiff::default()
    };
    let settled = |id: &i64| !watermark.changed_after.contains(id);
    for (id, version) in expected.iter().filter(|(id, _)| settled(id)) {
        match actual.get(id) {
            None => result.missing.push(*id),
            Some(held) if held != version => result.stale.push(*id),
            Some(_) => {}
        }
    }
    result.extra = actual
        .iter()
        .filter(|(id, held)| {
            !expected.contains_key(id) && settled(id) && **held <= watermark.version
        })
        .map(|(id, _)| *id)
        .collect();
    result
}

/// The newest change record: the watermark of a check.
async fn latest_version(state: &AppState) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT coalesce(max(version), 0) FROM replication_changes")
            .fetch_one(&state.db)
            .await?,
    )
}

/// The ids of `entity` that a change record newer than `version` upserts or deletes.
async fn changed_after(
    state: &AppState,
    entity: Entity,
    version: i64,
) -> anyhow::Result<BTreeSet<i64>> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT DISTINCT (change->'data'->>'id')::bigint FROM replication_changes \
         WHERE version > $1 AND change->>'kind' IN ($2, $3)",
    )
    .bind(version)
    .bind(entity.upsert_kind())
    .bind(entity.delete_kind())
    .fetch_all(&state.db)
    .await?;
    Ok(ids.into_iter().collect())
}

/// One comparison of every table and the denylist at `watermark`.
async fn compare(
    state: &AppState,
    client: &reqwest::Client,
    watermark: i64,
) -> anyhow::Result<Report> {
    let mut report = Report::default();
    for entity in Entity::ALL {
        let expected = expected(state, entity).await?;
        let actual = actual(state, client, entity).await?;
        // Read last: every change the two reads could have seen is in it.
        let changed_after = changed_after(state, entity, watermark).await?;
        let watermark = Watermark {
            version: watermark,
            changed_after: &changed_after,
        };
        report
            .tables
            .push((entity, diff(&expected, &actual, watermark)));
    }
    report.denials_missing = missing_denials(state, client, watermark).await?;
    Ok(report)
}

/// Compares D1 with Postgres at the watermark read first, after delivering whatever is pending;
/// a difference is reported only when a second look after another push still finds it.
pub async fn check(state: &AppState, client: &reqwest::Client) -> anyhow::Result<Report> {
    let watermark = latest_version(state).await?;
    push::push_pending(state, client).await?;
    let first = compare(state, client, watermark).await?;
    if first.in_sync() {
        return Ok(first);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    push::push_pending(state, client).await?;
    let second = compare(state, client, watermark).await?;
    Ok(first.confirmed_by(&second))
}

/// Token ids D1's denylist lacks: unexpired blacklisted tokens it should refuse.
/// Denials newer than the watermark may be on their way and are left out.
async fn missing_denials(
    state: &AppState,
    client: &reqwest::Client,
    watermark: i64,
) -> anyhow::Result<Vec<(String, i64)>> {
    let mut held = BTreeSet::new();
    let mut after = String::new();
    loop {
        let request = VersionsRequest::Denylist {
            after: after.clone(),
            limit: MAX_VERSIONS_PAGE,
        };
        let page: DenylistPage = versions_page(state, client, &request).await?;
        let Some(last) = page.jtis.last().cloned() else {
            break;
        };
        held.extend(page.jtis);
        after = last;
    }
    let denied: Vec<(String, i64)> = sqlx::query_as(
        "SELECT b.jti, extract(epoch FROM b.expires_at)::bigint FROM blacklisted_tokens b \
         WHERE b.expires_at > now() AND NOT EXISTS (SELECT 1 FROM replication_changes c \
             WHERE c.version > $1 AND c.change->>'kind' = 'token.deny' \
               AND c.change->'data'->>'jti' = b.jti)",
    )
    .bind(watermark)
    .fetch_all(&state.db)
    .await?;
    Ok(denied
        .into_iter()
        .filter(|(jti, _)| !held.contains(jti))
        .collect())
}

/// Writes change records for every difference and pushes them; returns how many records.
pub async fn resync(
    state: &AppState,
    client: &reqwest::Client,
    progress: impl Fn(&str),
) -> anyhow::Result<usize> {
    let report = check(state, client).await?;
    let mut tx = state.db.begin().await?;
    let mut written = 0;
    for (entity, diff) in &report.tables {
        let upserts: Vec<i64> = diff.missing.iter().chain(&diff.stale).copied().collect();
        for change in upserts_of(&mut tx, *entity, &upserts).await? {
            outbox::record(&mut tx, change).await?;
            written += 1;
        }
        for (id, owner) in last_owners(&mut tx, *entity, &diff.extra).await? {
            let delete = NewChange {
                owner,
                kind: entity.delete(id),
            };
            outbox::record(&mut tx, delete).await?;
            written += 1;
        }
        progress(&format!(
            "{}: {} to write, {} to delete",
            entity.table(),
            upserts.len(),
            diff.extra.len()
        ));
    }
    progress(&format!(
        "denylist: {} to write",
        report.denials_missing.len()
    ));
    let jtis: Vec<&str> = report
        .denials_missing
        .iter()
        .map(|(jti, _)| jti.as_str())
        .collect();
    let owners = auth::store::token_owners(&mut tx, &jtis).await?;
    for (jti, expires_at) in report.denials_missing {
        // A token purged since the check has expired: its denial goes everywhere, harmlessly.
        let deny = NewChange {
            owner: owners.get(&jti).copied(),
            kind: ChangeKind::TokenDeny { jti, expires_at },
        };
        outbox::record(&mut tx, deny).await?;
        written += 1;
    }
    tx.commit().await?;
    let pushed = push::push_pending(state, client).await?;
    progress(&format!("pushed {pushed} change records"));
    Ok(written)
}

/// The owner named by the last upsert record of each of these rows (D1 holds them, Postgres
/// does not): the shard key of their deletion. `None` for a row no record names an owner of,
/// whose deletion goes to every shard; deleting what a shard does not hold changes nothing.
async fn last_owners(
    conn: &mut sqlx::PgConnection,
    entity: Entity,
    ids: &[i64],
) -> anyhow::Result<Vec<(i64, Option<UserId>)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // Each lookup is one probe of `replication_changes_row`.
    let owners: Vec<(i64, Option<i64>)> = sqlx::query_as(
        "SELECT x.id, (SELECT c.owner_id FROM replication_changes c \
             WHERE c.change->>'kind' = $1 AND c.change->'data'->>'id' = x.id::text \
             ORDER BY c.version DESC LIMIT 1) \
         FROM unnest($2::bigint[]) AS x(id)",
    )
    .bind(entity.upsert_kind())
    .bind(ids)
    .fetch_all(conn)
    .await?;
    Ok(owners
        .into_iter()
        .map(|(id, owner)| (id, owner.map(UserId::new)))
        .collect())
}

/// The upserts that rewrite these rows as Postgres holds them now (a row deleted meanwhile has
/// none), read through the stores so each table's column list is spelled once.
async fn upserts_of(
    conn: &mut sqlx::PgConnection,
    entity: Entity,
    ids: &[i64],
) -> anyhow::Result<Vec<NewChange>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(match entity {
        Entity::User => {
            let ids: Vec<UserId> = ids.iter().copied().map(UserId::new).collect();
            auth::store::users_by_ids(conn, &ids)
                .await?
                .iter()
                .map(|u| NewChange::user(u.replica()))
                .collect()
        }
        Entity::Project => {
            let ids: Vec<ProjectId> = ids.iter().copied().map(ProjectId::new).collect();
            projects::store::projects_by_ids(conn, &ids)
                .await?
                .into_iter()
                .map(|p| NewChange::project(p.into()))
                .collect()
        }
        Entity::Task => {
            let ids: Vec<TaskId> = ids.iter().copied().map(TaskId::new).collect();
            projects::store::tasks_by_ids(conn, &ids)
                .await?
                .into_iter()
                .map(|t| NewChange::task(t.replica()))
                .collect()
        }
        Entity::Attachment => {
            let ids: Vec<AttachmentId> = ids.iter().copied().map(AttachmentId::new).collect();
            attachments::store::attachments_by_ids(conn, &ids)
                .await?
                .into_iter()
                .map(|a| NewChange::attachment(a.replica()))
                .collect()
        }
        Entity::Product => {
            let ids: Vec<ProductId> = ids.iter().copied().map(ProductId::new).collect();
            orders::store::products_by_ids(conn, &ids, false)
                .await?
                .into_values()
                .map(NewChange::product)
                .collect()
        }
        Entity::Order => {
            let ids: Vec<OrderId> = ids.iter().copied().map(OrderId::new).collect();
            orders::store::orders_by_ids(conn, &ids)
                .await?
                .into_iter()
                .map(NewChange::order)
                .collect()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_missing_stale_or_extra() {
        let none = BTreeSet::new();
        let at_100 = Watermark {
            version: 100,
            changed_after: &none,
        };
        let expected = BTreeMap::from([(1, 10), (2, 20), (3, 30)]);
        let actual = BTreeMap::from([(1, 10), (2, 19), (4, 40)]);
        let result = diff(&expected, &actual, at_100);
        assert_eq!(
            (result.missing, result.stale, result.extra),
            (vec![3], vec![2], vec![4])
        );
        assert!(diff(&expected, &expected, at_100).in_sync());
    }

    #[test]
    fn what_changed_after_the_watermark_is_not_a_difference() {
        // 5 was created and 6 deleted after the watermark (records 101 and 102); D1 already has
        // 7 at a version newer than the watermark, which Postgres's read did not see yet.
        let changed_after = BTreeSet::from([5, 6]);
        let at_100 = Watermark {
            version: 100,
            changed_after: &changed_after,
        };
        let expected = BTreeMap::from([(1, 10), (5, 101)]);
        let actual = BTreeMap::from([(1, 10), (6, 50), (7, 103)]);
        assert!(diff(&expected, &actual, at_100).in_sync());
        // A real loss is still found: row 1 gone from D1.
        let damaged = BTreeMap::from([(6, 50), (7, 103)]);
        assert_eq!(diff(&expected, &damaged, at_100).missing, [1]);
    }

    #[test]
    fn the_report_prints_one_aligned_row_per_table() {
        let report = Report {
            tables: Entity::ALL
                .into_iter()
                .map(|entity| (entity, TableDiff::default()))
                .collect(),
            denials_missing: Vec::new(),
        };
        let printed = report.to_string();
        let lines: Vec<&str> = printed.lines().collect();
        let names: Vec<&str> = lines[1..=Entity::ALL.len()]
            .iter()
            .map(|line| line.split_whitespace().next().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "users",
                "projects",
                "tasks",
                "attachments",
                "products",
                "orders"
            ]
        );
        for line in &lines[..=Entity::ALL.len()] {
            assert_eq!(line.len(), lines[0].len(), "aligned: {line:?}");
        }
    }

    #[test]
    fn only_differences_found_twice_are_reported() {
        let first = Report {
            tables: vec![(
                Entity::Task,
                TableDiff {
                    missing: vec![1, 2],
                    extra: vec![3],
                    ..TableDiff::default()
                },
            )],
            denials_missing: vec![("j1".into(), 9)],
        };
        let second = Report {
            tables: vec![(
                Entity::Task,
                TableDiff {
                    missing: vec![2],
                    ..TableDiff::default()
                },
            )],
            denials_missing: Vec::new(),
        };
        let confirmed = first.confirmed_by(&second);
        assert_eq!(confirmed.tables[0].1.missing, [2]);
        assert!(confirmed.tables[0].1.extra.is_empty());
        assert!(confirmed.denials_missing.is_empty());
    }
}
