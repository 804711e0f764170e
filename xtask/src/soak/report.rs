//! The soak's report: targets and whether they were met, then the minutes, the request kinds
//! and memory, as the Markdown of `docs/soak.md`.

use std::fmt::Write as _;
use std::process::Command;

use crate::soak::Settings;
use crate::soak::load::{Record, Stats};
use crate::soak::sample::{Memory, Sample};
use crate::soak::worker::WorkerMemory;
use crate::stack::Stack;
use crate::table::markdown_table;
use crate::ui::ROOT;

/// How far a held figure may move from the end of the first minute to the end.
const MEMORY_TOLERANCE: f64 = 0.10;

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
    // A leak grows for as long as the load runs, so it shows in the second half as much as in
    // the first; warming up (pools filling, caches and allocators reaching their working size)
    // shows only in the first. Hence growth over the second half is held, and the growth from
    // minute 1 is shown beside it. Each end of the second half is the median of the samples
    // around it, so one sample taken mid-burst (a heap full of in-flight requests) does not
    // decide the verdict.
    for measure in MEASURES.iter().filter(|m| m.held) {
        let values: Vec<Option<u64>> = samples.iter().map(|s| measure.of(s)).collect();
        let start = values.first().copied().flatten();
        let (middle, end) = second_half(&values);
        let growth = |from: Option<u64>| from.zip(end).and_then(|(a, b)| relative_change(a, b));
        targets.push(Target {
            what: format!(
                "{}: grows at most {:.0}% over the second half",
                measure.name,
                MEMORY_TOLERANCE * 100.0
            ),
            measured: format!(
                "{} → {} → {} MB ({} over the second half, {} from minute 1)",
                mb(start),
                mb(middle),
                mb(end),
                percent(growth(middle)),
                percent(growth(start)),
            ),
            met: growth(middle).is_some_and(|g| g <= MEMORY_TOLERANCE),
        });
    }
    targets
}

/// How many samples each end of the second half is the median of (fewer in a short run).
const ENDS_WINDOW: usize = 5;

/// The second half's two ends: the medians of the samples around half time and of the last
/// ones, each over [`ENDS_WINDOW`] samples (or a quarter of the run, if that is fewer). `None`
/// when a window holds no reading.
fn second_half(values: &[Option<u64>]) -> (Option<u64>, Option<u64>) {
    let width = ENDS_WINDOW.min(values.len() / 4).max(1);
    let half = values.len() / 2;
    let middle = half.saturating_sub(width / 2);
    let around_half = values.get(middle..(middle + width).min(values.len()));
    let last = values.get(values.len().saturating_sub(width)..);
    (around_half.and_then(median), last.and_then(median))
}

/// The median of the readings taken (the lower one of an even count).
fn median(values: &[Option<u64>]) -> Option<u64> {
    let mut taken: Vec<u64> = values.iter().copied().flatten().collect();
    taken.sort_unstable();
    taken.get(taken.len().checked_sub(1)? / 2).copied()
}

/// Whether every target was met.
pub fn verdict(record: &Record, samples: &[Sample]) -> bool {
    targets(record, samples).iter().all(|t| t.met)
}

/// The worker's JavaScript heap (bytes, live after a full GC) at rest before the load and after
/// it. Read only then: the inspector session and the collection stall the isolate for seconds,
/// which a reading during the load turns into a latency spike of its own.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsHeap {
    pub before: Option<u64>,
    pub after: Option<u64>,
}

/// The JavaScript heap at rest, shown and not held: the reading after the load also holds what
/// warming up compiled and the load's last requests, so it says little about a leak alone.
fn heap_section(heap: JsHeap) -> String {
    format!(
        "The worker's JavaScript heap, live after a full GC, at rest: {} MB before the load, {} MB \
         after it (shown, not held: the later reading includes compiled code and the load's \
         last requests).\n",
        mb(heap.before.map(kib)),
        mb(heap.after.map(kib)),
    )
}

/// A memory figure followed over the minutes.
struct Measure {
    name: &'static str,
    /// In KiB; `None` when it could not be read.
    pick: fn(&Memory, Option<&WorkerMemory>) -> Option<u64>,
    /// Held to the flatness target: what runs in production too. The rest is shown to explain.
    held: bool,
}

impl Measure {
    fn of(&self, sample: &Sample) -> Option<u64> {
        (self.pick)(&sample.memory, sample.worker.as_ref())
    }
}

const fn kib(bytes: u64) -> u64 {
    bytes / 1024
}

/// Private memory (`RssAnon`) is where a leak shows; resident memory also counts mapped files
/// and shared buffers, which fill as they warm.
const MEASURES: [Measure; 8] = [
    Measure {
        name: "the origin, private",
        pick: |m, _| Some(m.origin.anon),
        held: true,
    },
    Measure {
        name: "workerd (worker + local D1), private",
        pick: |m, _| Some(m.workerd.anon),
        held: true,
    },
    Measure {
        name: "the worker's wasm linear memory",
        pick: |_, w| w.map(|w| kib(w.linear_memory)),
        held: true,
    },
    Measure {
        name: "Postgres, private",
        pick: |m, _| Some(m.postgres.anon),
        held: true,
    },
    Measure {
        name: "workerd (worker + local D1), resident",
        pick: |m, _| Some(m.workerd.rss),
        held: false,
    },
    Measure {
        name: "Postgres shared buffers touched (once)",
        pick: |m, _| Some(m.postgres.shmem),
        held: false,
    },
    Measure {
        name: "workerd (wrangler's proxy), private",
        pick: |m, _| Some(m.proxy.anon),
        held: false,
    },
    Measure {
        name: "wrangler (node, npx), private",
        pick: |m, _| Some(m.wrangler.anon),
        held: false,
    },
];

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
fn mb(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "-".to_owned(),
        |kib| format!("{:.1}", kib as f64 / 1024.0),
    )
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
        "minute {minute}: backlog {}, lag p50 {} ms, write readable after {} ms; private MB: origin {}, workerd {} (wasm {}), Postgres {}",
        sample
            .backlog
            .map_or_else(|| "-".to_owned(), |b| b.to_string()),
        sample
            .lag
            .map_or_else(|| "-".to_owned(), |l| l.p50_ms.to_string()),
        ms(sample.visible_ms),
        mb(MEASURES[0].of(sample)),
        mb(MEASURES[1].of(sample)),
        mb(MEASURES[2].of(sample)),
        mb(MEASURES[3].of(sample)),
    )
}

/// The whole report.
pub fn render(
    facts: &Facts,
    record: &Record,
    before: &Memory,
    samples: &[Sample],
    heap: JsHeap,
) -> String {
    [
        introduction(facts),
        targets_section(record, samples),
        minutes_section(record, samples),
        kinds_section(record),
        memory_section(before, samples),
        heap_section(heap),
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
            ]
            .into_iter()
            .chain(
                MEASURES
                    .iter()
                    .filter(|m| m.held)
                    .map(|m| mb(sample.and_then(|s| m.of(s)))),
            )
            .collect()
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
            "origin private MB",
            "workerd private MB",
            "worker wasm MB",
            "Postgres private MB",
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

fn memory_section(before: &Memory, samples: &[Sample]) -> String {
    let mut text = String::from(
        "## Memory\n\n\
         Each service's processes: the origin's process group; the `workerd` of `wrangler dev` \
         that runs the worker and local D1; the postmaster and its backends. Private is \
         `RssAnon` summed, where a leak shows; resident (`VmRSS`) also counts mapped files and \
         shared memory. The worker's own share of its `workerd`: the wasm linear memory (the \
         edge's `/internal/isolate/`, every minute) and the JavaScript heap still referenced \
         after a full collection (through the inspector, at rest before and after the load \
         only: the session and the collection stall the isolate for seconds). Held to the target: growth of at most 10% over the second \
         half, where a leak would still grow and warming up no longer does. The rest is shown to explain: \
         wrangler's proxy and node are local plumbing production does not run.\n\n",
    );
    let at = |index: usize, measure: &Measure| samples.get(index).and_then(|s| measure.of(s));
    let half = samples.len().checked_div(2).unwrap_or(0);
    let rows: Vec<Vec<String>> = MEASURES
        .iter()
        .map(|measure| {
            let first = at(0, measure);
            let middle = at(half, measure);
            let last = samples.len().checked_sub(1).and_then(|i| at(i, measure));
            let change =
                |from: Option<u64>| from.zip(last).and_then(|(a, b)| relative_change(a, b));
            vec![
                measure.name.to_owned(),
                if measure.held { "held" } else { "shown" }.to_owned(),
                mb((measure.pick)(before, None)),
                mb(first),
                mb(middle),
                mb(last),
                percent(change(first)),
                percent(change(middle)),
            ]
        })
        .collect();
    text.push_str(&markdown_table(
        &[
            "memory",
            "",
            "before the load MB",
            "after minute 1 MB",
            "at half time MB",
            "at the end MB",
            "minute 1 → end",
            "half time → end",
        ],
        &rows,
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_second_half_is_judged_on_medians_around_its_ends() {
        let run: Vec<Option<u64>> = [
            100, 120, 140, 150, 150, 90, 150, 151, 150, 150, 152, 300, 153, 152, 151,
        ]
        .into_iter()
        .map(Some)
        .collect();
        // Around half time (indices 6..9: 150, 151, 150) and the last three (153, 152, 151).
        assert_eq!(second_half(&run), (Some(150), Some(152)));
        // A short run falls back to single samples; a missing reading is skipped.
        assert_eq!(second_half(&[Some(1), Some(2)]), (Some(2), Some(2)));
        assert_eq!(median(&[None, Some(7), None]), Some(7));
        assert_eq!(median(&[None]), None);
    }

    #[test]
    fn changes_are_relative_to_the_start() {
        assert_eq!(relative_change(100, 110), Some(0.1));
        assert_eq!(relative_change(0, 5), None);
        assert_eq!(percent(relative_change(200, 190)), "-5.0%");
        assert_eq!(mb(Some(2048)), "2.0");
        assert_eq!(mb(None), "-");
    }
}
