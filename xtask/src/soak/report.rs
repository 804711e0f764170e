//! The soak's report: targets and whether they were met, then the minutes, the request kinds
//! and memory, as the Markdown of `docs/soak.md`.

use std::fmt::Write as _;
use std::process::Command;

use crate::soak::Settings;
use crate::soak::load::{Record, Stats};
use crate::soak::sample::{Rss, Sample};
use crate::stack::Stack;
use crate::table::markdown_table;
use crate::ui::ROOT;

/// How far a service's memory may move from the end of the first minute to the end.
const RSS_TOLERANCE: f64 = 0.10;

/// Where and when the soak ran.
#[derive(Debug)]
pub struct Facts {
    settings: Settings,
    date: String,
    commit: String,
    cpu: String,
    cores: usize,
    postgres: String,
    origin_bin: String,
}

impl Facts {
    pub async fn gather(stack: &Stack, settings: Settings) -> Self {
        let output = |program: &str, args: &[&str]| {
            Command::new(program)
                .args(args)
                .current_dir(&*ROOT)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map_or_else(
                    || "?".to_owned(),
                    |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
                )
        };
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|line| line.starts_with("model name"))
                    .and_then(|line| line.split_once(':'))
                    .map(|(_, name)| name.trim().to_owned())
            })
            .unwrap_or_else(|| "?".to_owned());
        let postgres = match stack.psql() {
            Ok(psql) => psql
                .query("SHOW server_version")
                .await
                .ok()
                .and_then(|v| v.split_whitespace().next().map(str::to_owned))
                .unwrap_or_else(|| "?".to_owned()),
            Err(_) => "?".to_owned(),
        };
        let origin_bin = stack.endpoints().origin_bin.clone();
        Self {
            settings,
            date: output("date", &["-u", "+%Y-%m-%d"]),
            commit: output("git", &["rev-parse", "--short", "HEAD"]),
            cpu,
            cores: std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
            postgres,
            origin_bin: if origin_bin.components().any(|c| c.as_os_str() == "release") {
                "release".to_owned()
            } else {
                "debug".to_owned()
            },
        }
    }
}

/// A target, what was measured, and whether it was met.
#[derive(Debug)]
struct Target {
    what: String,
    measured: String,
    met: bool,
}

fn targets(record: &Record, samples: &[Sample]) -> Vec<Target> {
    let total = whole_run(record);
    let mut targets = vec![
        Target {
            what: "5xx answers: 0".to_owned(),
            measured: total.class('5').to_string(),
            met: total.class('5') == 0,
        },
        Target {
            what: "requests with no answer (refused, reset, timed out): 0".to_owned(),
            measured: total.unanswered().to_string(),
            met: total.unanswered() == 0,
        },
        Target {
            what: "requests skipped, over 64 in flight (saturation): 0".to_owned(),
            measured: total.skipped.to_string(),
            met: total.skipped == 0,
        },
    ];
    // From the first minute's end (warm: pools filled, caches built) to the last's.
    if let (Some(first), Some(last)) = (samples.first(), samples.last()) {
        for (name, pick) in services() {
            let (start, end) = (pick(&first.rss), pick(&last.rss));
            let change = relative_change(start, end);
            targets.push(Target {
                what: format!(
                    "RSS of {name}, minute 1 → end: within {:.0}%",
                    RSS_TOLERANCE * 100.0
                ),
                measured: format!("{} → {} MB ({})", mb(start), mb(end), percent(change)),
                met: change.is_some_and(|c| c.abs() <= RSS_TOLERANCE),
            });
        }
    }
    targets
}

/// Whether every target was met.
pub fn verdict(record: &Record, samples: &[Sample]) -> bool {
    targets(record, samples).iter().all(|t| t.met)
}

type Pick = fn(&Rss) -> u64;

/// The services whose memory must stay flat: what runs in production too.
fn services() -> [(&'static str, Pick); 3] {
    [
        ("the origin", |r| r.origin),
        ("workerd (worker + local D1)", |r| r.workerd),
        ("Postgres", |r| r.postgres),
    ]
}

fn whole_run(record: &Record) -> Stats {
    let mut total = Stats::default();
    for minute in &record.minutes {
        for (label, n) in &minute.seen {
            *total.seen.entry(label.clone()).or_default() += n;
        }
        total.latencies_ms.extend(&minute.latencies_ms);
        total.skipped += minute.skipped;
    }
    total
}

#[expect(clippy::cast_precision_loss, reason = "KiB counts far below 2^52")]
fn relative_change(start: u64, end: u64) -> Option<f64> {
    (start > 0).then(|| (end as f64 - start as f64) / start as f64)
}

#[expect(clippy::cast_precision_loss, reason = "KiB counts far below 2^52")]
fn mb(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

fn percent(change: Option<f64>) -> String {
    change.map_or_else(|| "-".to_owned(), |c| format!("{:+.1}%", c * 100.0))
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"))
}

/// The line printed as each minute's sample is taken.
pub fn progress_line(minute: u32, sample: &Sample) -> String {
    format!(
        "minute {minute}: backlog {}, lag p50 {} ms, write readable after {} ms, RSS origin {} MB, workerd {} MB (proxy {} MB), Postgres {} MB",
        sample
            .backlog
            .map_or_else(|| "-".to_owned(), |b| b.to_string()),
        sample
            .lag
            .map_or_else(|| "-".to_owned(), |l| l.p50_ms.to_string()),
        ms(sample.visible_ms),
        mb(sample.rss.origin),
        mb(sample.rss.workerd),
        mb(sample.rss.proxy),
        mb(sample.rss.postgres),
    )
}

/// The whole report.
pub fn render(facts: &Facts, record: &Record, before: Rss, samples: &[Sample]) -> String {
    [
        introduction(facts),
        targets_section(record, samples),
        minutes_section(record, samples),
        kinds_section(record),
        memory_section(before, samples),
    ]
    .join("\n")
}

fn introduction(facts: &Facts) -> String {
    let Settings { minutes, rate } = facts.settings;
    let mut text = String::new();
    let _ = write!(
        text,
        "# Soak\n\n\
         `./dev soak --minutes {minutes}` on {date}, commit `{commit}`, {cpu}, {cores} cores. A \
         fresh local stack (the {origin} origin, the release wasm in `wrangler dev` with local \
         D1, PostgreSQL {postgres}) under a fixed-rate load of {rate} requests/s for {minutes} \
         {unit}, started on schedule whatever the answers: 60% task lists (four filters and \
         orderings), 25% task details, 10% task creations, 5% logins, by 4 users owning 8 \
         projects and 200 tasks at the start. Latencies are the client's, on the same machine. \
         Written by `cargo xtask soak` (`xtask/src/soak/`).\n",
        date = facts.date,
        commit = facts.commit,
        cpu = facts.cpu,
        cores = facts.cores,
        origin = facts.origin_bin,
        postgres = facts.postgres,
        unit = if minutes == 1 { "minute" } else { "minutes" },
    );
    text
}

fn targets_section(record: &Record, samples: &[Sample]) -> String {
    let mut text = "## Targets\n\n".to_owned();
    let rows: Vec<Vec<String>> = targets(record, samples)
        .into_iter()
        .map(|t| {
            let met = if t.met { "met" } else { "MISSED" };
            vec![t.what, t.measured, met.to_owned()]
        })
        .collect();
    text.push_str(&markdown_table(&["target", "measured", ""], &rows));
    text
}

fn minutes_section(record: &Record, samples: &[Sample]) -> String {
    let mut text = String::from(
        "## Per minute\n\n\
         Requests by the minute they started in; the sample at the minute's end. Outbox backlog: \
         change records not yet pushed to the edge. Push lag: from a write's transaction to the \
         push of its change record, over the records pushed in that minute (the background \
         path: the edge applies a write's records itself before it answers). Readable after: \
         one probe write a minute, from its 201 until `GET /api/v1/tasks/{id}/` at the edge \
         answers 200.\n\n",
    );
    let rows: Vec<Vec<String>> = record
        .minutes
        .iter()
        .enumerate()
        .map(|(index, stats)| {
            let sample = samples.get(index);
            let lag = sample.and_then(|s| s.lag);
            vec![
                (index + 1).to_string(),
                stats.requests().to_string(),
                stats.class('2').to_string(),
                stats.class('4').to_string(),
                stats.class('5').to_string(),
                stats.unanswered().to_string(),
                ms(stats.percentile(0.5)),
                ms(stats.percentile(0.99)),
                sample
                    .and_then(|s| s.backlog)
                    .map_or_else(|| "-".to_owned(), |b| b.to_string()),
                lag.map_or_else(
                    || "-".to_owned(),
                    |l| format!("{} / {} / {}", l.p50_ms, l.p99_ms, l.max_ms),
                ),
                ms(sample.and_then(|s| s.visible_ms)),
                sample.map_or_else(|| "-".to_owned(), |s| mb(s.rss.origin)),
                sample.map_or_else(|| "-".to_owned(), |s| mb(s.rss.workerd)),
                sample.map_or_else(|| "-".to_owned(), |s| mb(s.rss.postgres)),
                sample.map_or_else(|| "-".to_owned(), |s| mb(s.rss.proxy)),
            ]
        })
        .collect();
    text.push_str(&markdown_table(
        &[
            "minute",
            "requests",
            "2xx",
            "4xx",
            "5xx",
            "no answer",
            "p50 ms",
            "p99 ms",
            "outbox backlog",
            "push lag p50 / p99 / max ms",
            "write readable after ms",
            "RSS origin MB",
            "RSS workerd MB",
            "RSS Postgres MB",
            "RSS wrangler proxy MB",
        ],
        &rows,
    ));
    text
}

fn kinds_section(record: &Record) -> String {
    let mut text = "## Per request kind, whole run\n\n".to_owned();
    let rows: Vec<Vec<String>> = record
        .kinds
        .iter()
        .map(|(kind, stats)| {
            vec![
                kind.name().to_owned(),
                stats.requests().to_string(),
                stats.class('4').to_string(),
                stats.class('5').to_string(),
                stats.unanswered().to_string(),
                ms(stats.percentile(0.5)),
                ms(stats.percentile(0.99)),
            ]
        })
        .collect();
    text.push_str(&markdown_table(
        &[
            "kind",
            "requests",
            "4xx",
            "5xx",
            "no answer",
            "p50 ms",
            "p99 ms",
        ],
        &rows,
    ));
    text
}

fn memory_section(before: Rss, samples: &[Sample]) -> String {
    let mut text = String::from(
        "## Memory\n\n\
         VmRSS summed over each service's processes: the origin's process group; the `workerd` \
         of `wrangler dev` that runs the worker and local D1; the postmaster and its backends \
         (shared buffers count once per backend that touched them). Flat means within 10% from \
         the end of minute 1, once pools and caches are warm, to the end. The last two rows are \
         wrangler's local plumbing (its proxy's `workerd`, listening on the edge's port, and its \
         node), which production does not run: shown, not held to the target.\n\n",
    );
    let plumbing: [(&'static str, Pick); 2] = [
        ("workerd (wrangler's proxy)", |r| r.proxy),
        ("wrangler (node, npx)", |r| r.wrangler),
    ];
    let rows: Vec<Vec<String>> = services()
        .into_iter()
        .chain(plumbing)
        .map(|(name, pick)| {
            let first = samples.first().map(|s| pick(&s.rss));
            let last = samples.last().map(|s| pick(&s.rss));
            let change = first.zip(last).and_then(|(a, b)| relative_change(a, b));
            vec![
                name.to_owned(),
                mb(pick(&before)),
                first.map_or_else(|| "-".to_owned(), mb),
                last.map_or_else(|| "-".to_owned(), mb),
                percent(change),
            ]
        })
        .collect();
    text.push_str(&markdown_table(
        &[
            "service",
            "before the load MB",
            "after minute 1 MB",
            "at the end MB",
            "change, minute 1 → end",
        ],
        &rows,
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_relative_to_the_start() {
        assert_eq!(relative_change(100, 110), Some(0.1));
        assert_eq!(relative_change(0, 5), None);
        assert_eq!(percent(relative_change(200, 190)), "-5.0%");
        assert_eq!(mb(2048), "2.0");
    }
}
