//! OpenTelemetry: the origin's spans exported over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT`
//! is set (off by default), in the traces the edge's `traceparent` names. The exporter reads
//! the standard variables itself (`OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_BSP_SCHEDULE_DELAY`, …).
//!
//! The trace id in the JSON log lines ([`crate::trace`]) is the exported one: a request's span
//! continues the edge's trace, and its span id is the one the jobs it enqueues name as their
//! parent.

use std::sync::OnceLock;

use domain::trace::TraceContext;
use opentelemetry::trace::{
    SpanContext, TraceContextExt as _, TraceFlags, TraceState, TracerProvider as _,
};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The exporter's provider, once built: its spans are flushed at shutdown.
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// The tracing layer that exports spans, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set; the reason
/// when it is set and the exporter cannot be built.
pub fn layer<S>() -> Result<Option<impl tracing_subscriber::Layer<S>>, String>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_none() {
        return Ok(None);
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|e| format!("the OTLP exporter: {e}"))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name("origin-worker")
                .build(),
        )
        .build();
    let tracer = provider.tracer("origin-worker");
    let _ = PROVIDER.set(provider);
    Ok(Some(tracing_opentelemetry::layer().with_tracer(tracer)))
}

/// Exports what is still buffered; at shutdown.
pub fn flush() {
    if let Some(provider) = PROVIDER.get()
        && let Err(e) = provider.shutdown()
    {
        tracing::warn!(error = %e, "the OTLP exporter did not flush");
    }
}

/// When spans are exported: makes `span` a child of `caller` (when there is one) and answers
/// this hop's context with the exported span's own ids. `None` when nothing is exported.
pub fn join(span: &tracing::Span, caller: Option<TraceContext>) -> Option<TraceContext> {
    PROVIDER.get()?;
    if let Some(caller) = caller {
        let remote = SpanContext::new(
            opentelemetry::trace::TraceId::from_bytes(caller.trace_id_bytes()),
            opentelemetry::trace::SpanId::from_bytes(caller.span_id_bytes()),
            if caller.is_sampled() {
                TraceFlags::SAMPLED
            } else {
                TraceFlags::default()
            },
            true,
            TraceState::default(),
        );
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
    }
    let context = span.context();
    let ours = context.span().span_context().clone();
    TraceContext::from_ids(
        ours.trace_id().to_bytes(),
        ours.span_id().to_bytes(),
        ours.is_sampled(),
    )
}
