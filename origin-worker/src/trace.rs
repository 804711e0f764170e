//! The trace a piece of work belongs to ([`domain::trace`]): a request's, held in a task-local
//! while it runs, so that the jobs it enqueues carry it (in apalis's job metadata, under
//! [`METADATA_KEY`]) and their runs log the same trace id. When spans are exported
//! ([`crate::telemetry`]) the ids are the exported spans'.

use std::future::Future;

use apalis::prelude::MetadataStore;
use domain::trace::{Randomness, TraceContext};

use crate::telemetry;

/// Where a job's `traceparent` is kept in apalis's job metadata.
pub const METADATA_KEY: &str = "traceparent";

tokio::task_local! {
    static CURRENT: TraceContext;
}

/// Runs a future with a trace as the current one.
pub trait ScopeTrace: Future + Sized {
    fn scope_trace(self, trace: TraceContext) -> impl Future<Output = Self::Output> {
        CURRENT.scope(trace, self)
    }
}

impl<F: Future> ScopeTrace for F {}

/// The trace of the request (or job) being handled, if any.
pub fn current() -> Option<TraceContext> {
    CURRENT.try_with(|trace| *trace).ok()
}

/// Fresh random bytes for new ids.
pub fn randomness() -> Randomness {
    rand::random()
}

/// The trace of `span`, which continues the trace a `traceparent` names (or starts one): under
/// the exported span's own ids when spans are exported ([`crate::telemetry`]), else under a span
/// id of its own. Recorded as the span's `trace_id` field (declared empty where it is made).
pub fn begin(span: &tracing::Span, traceparent: Option<&str>) -> TraceContext {
    let caller = traceparent.and_then(TraceContext::parse);
    let trace = telemetry::join(span, caller)
        .unwrap_or_else(|| TraceContext::continue_or_start(traceparent, randomness()));
    span.record("trace_id", trace.trace_id());
    trace
}

/// Runs a job's `work` in a `job` span naming its queue and trace id, with its trace current
/// (so that what it enqueues carries the trace on).
pub fn in_job<F: Future>(
    queue: &'static str,
    metadata: &MetadataStore,
    work: F,
) -> impl Future<Output = F::Output> {
    use tracing::Instrument as _;
    let span = tracing::info_span!("job", queue, trace_id = tracing::field::Empty);
    // A job enqueued outside any request (a cron tick, an operator's command) starts a trace.
    let trace = begin(&span, metadata.get(METADATA_KEY));
    work.instrument(span).scope_trace(trace)
}
