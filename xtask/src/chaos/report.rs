//! A scenario's verdict, and the table of all of them: one Markdown table, padded so that it
//! reads as well in a terminal as quoted in a note.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use crate::chaos::load::Tally;
use crate::chaos::verify::{CONVERGE_LIMIT, Snapshot};
use crate::table::markdown_table;

/// What a scenario found, and what failed.
#[derive(Debug)]
pub struct Outcome {
    pub scenario: String,
    pub acked: usize,
    pub postgres: Option<usize>,
    pub edge: Option<usize>,
    /// Titles present more than once, in Postgres and at the edge together.
    pub duplicates: usize,
    pub jobs_at_recovery: Option<i64>,
    pub jobs_after: Option<i64>,
    /// Jobs that died during this scenario (out of attempts).
    pub jobs_dead: Option<i64>,
    /// From the fault's end until everything agreed; `None` if it did not within the limit.
    pub converged: Option<Duration>,
    pub in_sync: bool,
    pub writes: BTreeMap<String, u64>,
    pub reads: BTreeMap<String, u64>,
    pub retries: u64,
    /// The first body of each error status clients saw.
    pub examples: BTreeMap<String, String>,
    pub failures: Vec<String>,
}

/// What was seen, and what a scenario expects.
#[derive(Debug)]
pub struct Evidence<'a> {
    pub scenario: &'a str,
    pub tally: Tally,
    /// The acknowledged titles, sorted.
    pub acked: &'a [String],
    pub snapshot: &'a Snapshot,
    pub converged: Option<Duration>,
    pub jobs_at_recovery: Option<i64>,
    /// Dead jobs before the scenario began (earlier scenarios').
    pub dead_before: i64,
    pub check_edge: (bool, String),
    /// Whether every read must have been answered 200 (the edge stayed up).
    pub reads_stay_up: bool,
}

impl Outcome {
    pub fn assess(evidence: Evidence<'_>) -> Self {
        let Evidence {
            scenario,
            tally,
            acked,
            snapshot,
            converged,
            jobs_at_recovery,
            dead_before,
            check_edge: (in_sync, check_report),
            reads_stay_up,
        } = evidence;
        let mut failures = Vec::new();
        if !tally.abandoned.is_empty() {
            failures.push(format!(
                "{} writes still unanswered after their retries ({})",
                tally.abandoned.len(),
                sample(&tally.abandoned)
            ));
        }
        if let Some((title, answer)) = tally.rejected.first() {
            failures.push(format!(
                "{} writes refused; first: {title}: {answer}",
                tally.rejected.len()
            ));
        }
        let mut duplicates = 0;
        for (place, titles) in [
            ("Postgres", &snapshot.postgres),
            ("the edge", &snapshot.edge),
        ] {
            match titles {
                Ok(titles) => {
                    let found = compare(place, acked, titles);
                    duplicates += found.duplicates;
                    failures.extend(found.failures);
                }
                Err(e) => failures.push(format!("{place} could not be read: {e}")),
            }
        }
        let limit = CONVERGE_LIMIT.as_secs();
        match &snapshot.jobs {
            Ok(jobs) if jobs.pending > 0 => failures.push(format!(
                "{} replication jobs still to run {limit} s after the fault",
                jobs.pending
            )),
            Ok(_) => {}
            Err(e) => failures.push(format!("the job queue could not be read: {e}")),
        }
        if let Err(answer) = &snapshot.ready {
            failures.push(format!(
                "the origin's /ready/ was not 200 {limit} s after the fault: {answer}"
            ));
        }
        if !in_sync {
            let last = check_report.lines().last().unwrap_or("no output");
            failures.push(format!("check-edge did not report in sync: {last}"));
        }
        if reads_stay_up {
            let failed: u64 = tally
                .reads
                .iter()
                .filter(|(label, _)| *label != "200")
                .map(|(_, n)| n)
                .sum();
            if failed > 0 {
                failures.push(format!(
                    "{failed} reads not answered 200 although the edge stayed up ({})",
                    counts(&tally.reads)
                ));
            }
        }
        Self {
            scenario: scenario.to_owned(),
            acked: acked.len(),
            postgres: snapshot.postgres.as_ref().ok().map(Vec::len),
            edge: snapshot.edge.as_ref().ok().map(Vec::len),
            duplicates,
            jobs_at_recovery,
            jobs_after: snapshot.jobs.as_ref().ok().map(|jobs| jobs.pending),
            jobs_dead: snapshot
                .jobs
                .as_ref()
                .ok()
                .map(|jobs| jobs.dead - dead_before),
            converged,
            in_sync,
            writes: tally.writes,
            reads: tally.reads,
            retries: tally.retries,
            examples: tally.examples,
            failures,
        }
    }

    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// What a place holds beyond or short of the acknowledged writes.
struct Comparison {
    duplicates: usize,
    failures: Vec<String>,
}

/// Compares `found` (sorted titles) with `acked` (sorted, each once).
fn compare(place: &str, acked: &[String], found: &[String]) -> Comparison {
    let acked_set: BTreeSet<&String> = acked.iter().collect();
    let found_set: BTreeSet<&String> = found.iter().collect();
    let mut failures = Vec::new();
    let twice: Vec<String> = found
        .windows(2)
        .filter(|pair| pair[0] == pair[1])
        .map(|pair| pair[0].clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let duplicates = found.len() - found_set.len();
    if duplicates > 0 {
        failures.push(format!(
            "{duplicates} duplicate rows in {place} ({})",
            sample(&twice)
        ));
    }
    let missing: Vec<String> = acked_set
        .difference(&found_set)
        .map(|t| (*t).clone())
        .collect();
    if !missing.is_empty() {
        failures.push(format!(
            "{} acknowledged writes missing in {place} ({})",
            missing.len(),
            sample(&missing)
        ));
    }
    let extra: Vec<String> = found_set
        .difference(&acked_set)
        .map(|t| (*t).clone())
        .collect();
    if !extra.is_empty() {
        failures.push(format!(
            "{} rows in {place} that no client was told of ({})",
            extra.len(),
            sample(&extra)
        ));
    }
    Comparison {
        duplicates,
        failures,
    }
}

/// Up to three titles, for a failure's message.
fn sample(titles: &[String]) -> String {
    let mut shown = titles
        .iter()
        .take(3)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if titles.len() > 3 {
        shown.push_str(", …");
    }
    shown
}

/// `201×812 503×40`: a tally, most frequent first.
pub fn counts(tally: &BTreeMap<String, u64>) -> String {
    let mut entries: Vec<_> = tally.iter().collect();
    entries.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    entries
        .iter()
        .map(|(label, n)| format!("{label}×{n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// The table of every scenario, then each failure under its scenario's name.
pub fn render(outcomes: &[Outcome]) -> String {
    let headers = [
        "scenario",
        "acked",
        "postgres",
        "edge",
        "duplicates",
        "jobs pending (at recovery → after)",
        "dead jobs",
        "converged in s",
        "check-edge",
        "writes seen (per attempt)",
        "retries",
        "reads seen",
        "result",
    ];
    let rows: Vec<Vec<String>> = outcomes
        .iter()
        .map(|o| {
            vec![
                o.scenario.clone(),
                o.acked.to_string(),
                or_dash(o.postgres),
                or_dash(o.edge),
                o.duplicates.to_string(),
                format!(
                    "{} → {}",
                    or_dash(o.jobs_at_recovery),
                    or_dash(o.jobs_after)
                ),
                or_dash(o.jobs_dead),
                o.converged.map_or_else(
                    || format!("no (>{})", CONVERGE_LIMIT.as_secs()),
                    |d| format!("{:.1}", d.as_secs_f64()),
                ),
                if o.in_sync { "in sync" } else { "OUT OF SYNC" }.to_owned(),
                counts(&o.writes),
                o.retries.to_string(),
                counts(&o.reads),
                if o.passed() { "pass" } else { "FAIL" }.to_owned(),
            ]
        })
        .collect();
    let mut text = markdown_table(&headers, &rows);
    for outcome in outcomes.iter().filter(|o| !o.passed()) {
        let _ = writeln!(text, "\n{} failed:", outcome.scenario);
        for failure in &outcome.failures {
            let _ = writeln!(text, "- {failure}");
        }
    }
    // What an error answer said, once per status: 503s are expected during outages, a 500 is
    // worth a look.
    let examples: Vec<_> = outcomes
        .iter()
        .flat_map(|o| {
            o.examples
                .iter()
                .map(move |(status, body)| (&o.scenario, status, body))
        })
        .collect();
    if !examples.is_empty() {
        text.push_str("\nFirst body of each error status, per scenario:\n");
        for (scenario, status, body) in examples {
            let _ = writeln!(text, "- {scenario}, {status}: {body}");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn titles(names: &[&str]) -> Vec<String> {
        names.iter().map(|&n| n.to_owned()).collect()
    }

    #[test]
    fn finds_duplicates_losses_and_strangers() {
        let acked = titles(&["a", "b", "c"]);
        let same = compare("Postgres", &acked, &titles(&["a", "b", "c"]));
        assert_eq!((same.duplicates, same.failures.len()), (0, 0));
        let found = compare("Postgres", &acked, &titles(&["a", "a", "c", "d"]));
        assert_eq!(found.duplicates, 1);
        let text = found.failures.join("\n");
        assert!(text.contains("1 duplicate rows in Postgres (a)"), "{text}");
        assert!(
            text.contains("1 acknowledged writes missing in Postgres (b)"),
            "{text}"
        );
        assert!(
            text.contains("1 rows in Postgres that no client was told of (d)"),
            "{text}"
        );
    }

    #[test]
    fn tallies_read_most_frequent_first() {
        let tally: BTreeMap<String, u64> = [("201", 5), ("503", 9), ("connect", 1)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert_eq!(counts(&tally), "503×9 201×5 connect×1");
    }
}
