//! Comparing D1 with Postgres, and repairing it: the operator commands `check-edge` and
//! `resync-edge`.
//!
//! Postgres holds the truth and, in the outbox, the version of the last change record of every
//! row. D1 holds a version on every row. A row is in sync when D1 has it at exactly that
//! version; it is missing, stale, or extra (in D1 only) otherwise. Repair writes fresh change
//! records (upserts for missing or stale rows, deletes for extra ones) and pushes them, so it
//! runs while the service is live and can be repeated.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use domain::replication::{ChangeKind, Entity};
use domain::wire::{DenylistPage, MAX_VERSIONS_PAGE, RowVersions, VersionsRequest};
use domain::{ProjectId, TaskId, UserId, paths};

use crate::replication::{outbox, push};
use crate::state::AppState;
use crate::{auth, projects};

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
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<10} {:>10} {:>10} {:>8} {:>8} {:>8}",
            "table", "postgres", "edge", "missing", "stale", "extra"
        )?;
        for (entity, diff) in &self.tables {
            writeln!(
                f,
                "{:<10} {:>10} {:>10} {:>8} {:>8} {:>8}",
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

fn diff(expected: &BTreeMap<i64, i64>, actual: &BTreeMap<i64, i64>) -> TableDiff {
    let mut result = TableDiff {
        postgres_rows: expected.len(),
        edge_rows: actual.len(),
        ..TableDiff::default()
    };
    for (id, version) in expected {
        match actual.get(id) {
            None => result.missing.push(*id),
            Some(held) if held != version => result.stale.push(*id),
            Some(_) => {}
        }
    }
    result.extra = actual
        .keys()
        .filter(|id| !expected.contains_key(id))
        .copied()
        .collect();
    result
}

/// Compares every table, after delivering whatever is pending (so in-flight records are not
/// reported as differences).
pub async fn check(state: &AppState, client: &reqwest::Client) -> anyhow::Result<Report> {
    push::push_pending(state, client).await?;
    let mut report = Report::default();
    for entity in Entity::ALL {
        let diff = diff(
            &expected(state, entity).await?,
            &actual(state, client, entity).await?,
        );
        report.tables.push((entity, diff));
    }
    report.denials_missing = missing_denials(state, client).await?;
    Ok(report)
}

/// Token ids D1's denylist lacks: unexpired blacklisted tokens it should refuse.
async fn missing_denials(
    state: &AppState,
    client: &reqwest::Client,
) -> anyhow::Result<Vec<(String, i64)>> {
    let mut held = std::collections::BTreeSet::new();
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
        "SELECT jti, extract(epoch FROM expires_at)::bigint FROM blacklisted_tokens WHERE expires_at > now()",
    )
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
        for kind in upsert_kinds(&mut tx, *entity, &upserts).await? {
            outbox::record(&mut tx, kind).await?;
            written += 1;
        }
        for id in &diff.extra {
            outbox::record(&mut tx, entity.delete(*id)).await?;
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
    for (jti, expires_at) in report.denials_missing {
        outbox::record(&mut tx, ChangeKind::TokenDeny { jti, expires_at }).await?;
        written += 1;
    }
    tx.commit().await?;
    let pushed = push::push_pending(state, client).await?;
    progress(&format!("pushed {pushed} change records"));
    Ok(written)
}

/// The upserts that rewrite these rows as Postgres holds them now (a row deleted meanwhile has
/// none), read through the stores so each table's column list is spelled once.
async fn upsert_kinds(
    conn: &mut sqlx::PgConnection,
    entity: Entity,
    ids: &[i64],
) -> anyhow::Result<Vec<ChangeKind>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(match entity {
        Entity::User => {
            let ids: Vec<UserId> = ids.iter().copied().map(UserId::new).collect();
            auth::store::users_by_ids(conn, &ids)
                .await?
                .iter()
                .map(|u| ChangeKind::UserUpsert(u.replica()))
                .collect()
        }
        Entity::Project => {
            let ids: Vec<ProjectId> = ids.iter().copied().map(ProjectId::new).collect();
            projects::store::projects_by_ids(conn, &ids)
                .await?
                .into_iter()
                .map(|p| ChangeKind::ProjectUpsert(p.into()))
                .collect()
        }
        Entity::Task => {
            let ids: Vec<TaskId> = ids.iter().copied().map(TaskId::new).collect();
            projects::store::tasks_by_ids(conn, &ids)
                .await?
                .into_iter()
                .map(|t| ChangeKind::TaskUpsert(t.replica()))
                .collect()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_missing_stale_or_extra() {
        let expected = BTreeMap::from([(1, 10), (2, 20), (3, 30)]);
        let actual = BTreeMap::from([(1, 10), (2, 19), (4, 40)]);
        let result = diff(&expected, &actual);
        assert_eq!(
            (result.missing, result.stale, result.extra),
            (vec![3], vec![2], vec![4])
        );
        assert!(diff(&expected, &expected).in_sync());
    }
}
