//! Blobs that nothing refers to are removed: at once when a batch of change records deletes
//! their attachments (directly, or with a project or an account), and once a day by the
//! orphan sweep for those a failure left behind (an upload whose metadata write and removal
//! both failed, a removal that failed after a delete).

use domain::files::key::{self, KEY_PREFIX};
use domain::replication::Change;
use serde_json::json;

use serde::Deserialize;

use crate::ctx::Ctx;
use crate::platform::{Blobs as _, Platform, PortError, Replica as _, Statement};
use crate::replica;

/// Keys asked about in one D1 statement (D1 binds at most 100 parameters).
const KEYS_PER_QUERY: usize = 90;

/// Applies change records to D1, then removes the blobs of the attachments they deleted. A
/// failed removal is logged and left to the sweep; the rows are what clients see.
pub async fn apply<P: Platform>(ctx: &Ctx<'_, P>, changes: &[Change]) -> Result<(), PortError> {
    let doomed = match replica::doomed_keys(ctx.replica(), changes).await {
        Ok(keys) => keys,
        Err(e) => {
            ctx.warn("finding the blobs a batch deletes (the sweep will)", &e);
            Vec::new()
        }
    };
    replica::apply(ctx.replica(), changes).await?;
    if !doomed.is_empty()
        && let Err(e) = ctx.platform.blobs().delete(&doomed).await
    {
        ctx.warn("removing deleted attachments' blobs (the sweep will)", &e);
    }
    Ok(())
}

/// What a sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Swept {
    /// Blobs looked at.
    pub examined: usize,
    /// Blobs removed: no attachment refers to them, and they are older than a day.
    pub removed: usize,
    /// The first [`REPORTED_KEYS`] of them, for the log.
    pub keys: Vec<String>,
}

/// How many removed keys a sweep's report names (the count is always whole).
pub const REPORTED_KEYS: usize = 100;

/// Removes the blobs under `attachments/` that no attachment in D1 refers to and that were
/// stored at least `ORPHAN_MIN_AGE_SECS` (a day) ago, a page at a time; logs and answers what
/// it did. Keys of another shape are left alone: they are not the edge's.
///
/// It trusts D1 to hold every attachment's row: were replication to stall for longer than the
/// minimum age, rows not yet pushed would look like orphans (the push's health is on the
/// origin's `/ready/` and in `check-edge`).
pub async fn sweep<P: Platform>(ctx: &Ctx<'_, P>) -> Result<Swept, PortError> {
    let now = ctx.now;
    let min_age = ctx.settings.media.orphan_min_age_secs;
    let blobs = ctx.platform.blobs();
    let mut swept = Swept::default();
    let mut cursor: Option<String> = None;
    loop {
        let page = blobs.list(KEY_PREFIX, cursor.as_deref()).await?;
        swept.examined += page.blobs.len();
        let old: Vec<String> = page
            .blobs
            .into_iter()
            .filter(|(key, stored_at)| key::is_storage_key(key) && *stored_at <= now - min_age)
            .map(|(key, _)| key)
            .collect();
        let mut orphans = Vec::new();
        for keys in old.chunks(KEYS_PER_QUERY) {
            let referenced: Vec<KeyRow> = ctx.replica().query(referenced(keys)).await?;
            orphans.extend(
                keys.iter()
                    .filter(|key| !referenced.iter().any(|row| row.storage_key == **key))
                    .cloned(),
            );
        }
        if !orphans.is_empty() {
            blobs.delete(&orphans).await?;
            swept.removed += orphans.len();
            let room = REPORTED_KEYS.saturating_sub(swept.keys.len());
            swept.keys.extend(orphans.into_iter().take(room));
        }
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    ctx.platform.log(
        &json!({
            "level": "info",
            "request_id": ctx.request_id,
            "message": "orphan sweep",
            "examined": swept.examined,
            "removed": swept.removed,
            "removed_keys": swept.keys,
        })
        .to_string(),
    );
    Ok(swept)
}

/// Which of `keys` some attachment refers to.
#[derive(Debug, Deserialize)]
struct KeyRow {
    storage_key: String,
}

fn referenced(keys: &[String]) -> Statement {
    let marks: Vec<String> = (1..=keys.len()).map(|n| format!("?{n}")).collect();
    Statement::new(
        format!(
            "SELECT storage_key FROM attachments WHERE storage_key IN ({})",
            marks.join(", ")
        ),
        keys.iter().map(|key| key.as_str().into()).collect(),
    )
}
