//! `#[event(fetch)]`: a `worker::Request` becomes a plain [`Request`] (its body read as its
//! route declares), [`app::handle`] answers it over [`WasmPlatform`], and the answer goes back
//! as a `worker::Response`, with an access log line when [`Settings::access_log`] wants one.

use std::cell::OnceCell;
use std::rc::Rc;

use domain::ApiError;
use domain::trace::{Randomness, TRACEPARENT, TraceContext};
use futures_util::StreamExt as _;
use worker::worker_sys::web_sys;
use worker::{
    AnalyticsEngineDataPointBuilder, Context, Date, Env, Headers, ScheduleContext, ScheduledEvent,
    console_error, console_log, event,
};

use super::WasmPlatform;
use crate::analytics::{self, RequestPoint};
use crate::app;
use crate::cors;
use crate::ctx::Ctx;
use crate::http::{self, BodyStream, Request, Response};
use crate::platform::PortError;
use crate::routes;
use crate::sessions;
use crate::settings::{ConfigError, Settings};

thread_local! {
    /// Settings are read once per isolate, on its first request.
    static SETTINGS: OnceCell<Result<Rc<Settings>, ConfigError>> = const { OnceCell::new() };
}

fn settings(env: &Env) -> Result<Rc<Settings>, ConfigError> {
    SETTINGS.with(|cell| {
        cell.get_or_init(|| {
            Settings::from_lookup(|name| {
                env.secret(name)
                    .map(|s| s.to_string())
                    .or_else(|_| env.var(name).map(|v| v.to_string()))
                    .ok()
            })
            .map(Rc::new)
        })
        .clone()
    })
}

/// Random bytes for a trace's ids; zeros (which [`TraceContext::start`] mends) if crypto is
/// absent.
fn trace_randomness() -> Randomness {
    let mut bytes = [0u8; 24];
    let _ = getrandom::getrandom(&mut bytes);
    bytes
}

fn random_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::getrandom(&mut bytes).is_err() {
        // Request ids need uniqueness, not secrecy; the clock will do if crypto is absent.
        return format!("t{}", Date::now().as_millis());
    }
    hex::encode(bytes)
}

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// Takes the runtime's own request: `worker::Request` reads `request.cf` as it is made, a getter
/// that builds a fresh object each time (a tenth of `/health/`'s CPU in a profile), so it is
/// made only for a request that carries a body.
#[event(fetch)]
async fn fetch(
    incoming: web_sys::Request,
    env: Env,
    context: Context,
) -> worker::Result<web_sys::Response> {
    let started = Date::now().as_millis();
    let mut request = plain_request(&incoming)?;
    let request_id = app::request_id(&request, random_id);
    let trace = TraceContext::continue_or_start(request.header(TRACEPARENT), trace_randomness());
    let (method, path) = (request.method.clone(), request.path.clone());
    // No stream is no body (a GET's); a body of unknown length (chunked, HTTP/2) has one.
    let body = if incoming.body().is_some() {
        let mut incoming = worker::Request::from(incoming);
        read_body(&mut incoming, &request)
            .await
            .map(|body| (body, streamed(&mut incoming, &request)))
    } else {
        Ok((Vec::new(), None))
    };
    let response = match body {
        Ok((body, stream)) => {
            request.body = body;
            request.stream = stream;
            handle(&env, &context, request, &request_id, trace).await
        }
        Err(limit) => too_large(&env, &request, &request_id, limit),
    };
    let millis = Date::now().as_millis().saturating_sub(started);
    record(
        &env,
        &RequestPoint::new(
            &path,
            &method,
            response.status,
            u32::try_from(millis).unwrap_or(u32::MAX),
        ),
    );
    // Unreadable settings answered a 500, which is a problem worth its line.
    let wanted = settings(&env).map_or(true, |s| s.access_log.wants(response.status, millis));
    if wanted {
        let line = serde_json::json!({
            "level": "info",
            "request_id": request_id,
            "trace_id": trace.trace_id(),
            "method": method,
            "path": path,
            "status": response.status,
            "ms": millis,
        });
        console_log!("{line}");
    }
    worker_response(response)
}

/// Adds the request's point to the Analytics Engine dataset, when the binding exists. A failed
/// write loses one point, never the request.
fn record(env: &Env, point: &RequestPoint) {
    let Ok(dataset) = env.analytics_engine(analytics::BINDING) else {
        return;
    };
    let data = AnalyticsEngineDataPointBuilder::new()
        .indexes([point.route])
        .blobs(point.blobs())
        .doubles(point.doubles())
        .build();
    if let Err(e) = dataset.write_data_point(&data) {
        console_error!("analytics: a data point was not written: {e}");
    }
}

/// Reads the body as the request's route declares: whole, under the route's limit (refused by
/// `Content-Length` before a byte is read, else as soon as the stream passes it), or not at all
/// for a streamed body and for requests no route takes. `Err` carries the limit passed.
async fn read_body(incoming: &mut worker::Request, request: &Request) -> Result<Vec<u8>, usize> {
    let Some(limit) =
        routes::lookup(&request.path, &request.method).and_then(|route| route.body.read_limit())
    else {
        return Ok(Vec::new());
    };
    let declared = request
        .header("content-length")
        .and_then(|length| length.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(limit);
    }
    // No body at all is an empty one; a client that breaks off mid-body gets whatever arrived,
    // which no JSON parser accepts.
    let Ok(mut stream) = incoming.stream() else {
        return Ok(Vec::new());
    };
    let mut body = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(Ok(chunk)) = stream.next().await {
        if body.len() + chunk.len() > limit {
            return Err(limit);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The body of a route that streams it (an upload), left for its handler to read.
fn streamed(incoming: &mut worker::Request, request: &Request) -> Option<BodyStream> {
    let route = routes::lookup(&request.path, &request.method)?;
    if route.body.read_limit().is_some() {
        return None;
    }
    let stream = incoming.stream().ok()?;
    Some(BodyStream::new(Box::pin(stream.map(|chunk| {
        chunk.map_err(|e| PortError::caused_by("reading the request body", e))
    }))))
}

/// The 413 of a body refused before it was read, wearing every response's headers (and
/// `no-store` on the credentials endpoints), as the pipeline would dress it.
fn too_large(env: &Env, request: &Request, request_id: &str, limit: usize) -> Response {
    let mut response = Response::error(&ApiError::PayloadTooLarge { limit }, request_id);
    if let Ok(settings) = settings(env) {
        let credentials = routes::lookup(&request.path, &request.method)
            .is_some_and(routes::Route::handles_credentials);
        cors::decorate(&mut response, request, &settings, request_id, credentials);
    }
    response
}

async fn handle(
    env: &Env,
    context: &Context,
    request: Request,
    request_id: &str,
    trace: TraceContext,
) -> Response {
    let settings = match settings(env) {
        Ok(settings) => settings,
        Err(e) => {
            console_error!(
                "{}",
                serde_json::json!({"level": "error", "request_id": request_id, "message": "configuration refused", "error": e.to_string()})
            );
            return Response::error(&ApiError::Internal, request_id);
        }
    };
    let anchor = sessions::anchor(&request).to_owned();
    let platform = match WasmPlatform::new(env, &settings, Some(context), &anchor) {
        Ok(platform) => platform,
        Err(e) => {
            console_error!("D1 binding DB missing: {e}");
            return Response::error(&ApiError::Internal, request_id);
        }
    };
    let ctx = Ctx {
        platform: &platform,
        settings: &settings,
        now: unix_now(),
        request_id,
        trace,
    };
    let mut response = app::handle(&ctx, request).await;
    if let Some(bookmark) = platform.replica.bookmark() {
        response.set_header(sessions::BOOKMARK_HEADER, bookmark);
    }
    response
}

/// The daily orphan sweep (`[triggers] crons` in `wrangler.toml`).
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _context: ScheduleContext) {
    let now = unix_now();
    let request_id = format!("sweep-{now}");
    let settings = match settings(&env) {
        Ok(settings) => settings,
        Err(e) => return console_error!("orphan sweep: configuration refused: {e}"),
    };
    // The sweep deletes what nothing refers to: it reads the primary.
    let platform = match WasmPlatform::new(&env, &settings, None, "first-primary") {
        Ok(platform) => platform,
        Err(e) => return console_error!("orphan sweep: D1 binding DB missing: {e}"),
    };
    let ctx = Ctx {
        platform: &platform,
        settings: &settings,
        now,
        request_id: &request_id,
        trace: TraceContext::start(trace_randomness()),
    };
    if let Err(e) = crate::cleanup::sweep(&ctx).await {
        ctx.warn("orphan sweep failed (the next one tries again)", &e);
    }
}

/// Unix seconds, read once per request or event.
fn unix_now() -> i64 {
    i64::try_from(Date::now().as_millis() / 1000).unwrap_or_default()
}

fn plain_request(incoming: &web_sys::Request) -> worker::Result<Request> {
    let url = incoming.url();
    let (origin, path, query) = http::split_url(&url)
        .ok_or_else(|| worker::Error::RustError(format!("not an absolute URL: {url}")))?;
    Ok(Request {
        base_url: origin,
        // The raw method: `worker::Method` turns every method it does not know (`QUERY`,
        // `PROPFIND`…) into `GET`, which would serve them as reads.
        method: incoming.method().to_ascii_uppercase(),
        path: path.to_owned(),
        query: query.map(str::to_owned),
        headers: Headers(incoming.headers())
            .entries()
            .map(|(n, v)| (n.to_ascii_lowercase(), v))
            .collect(),
        body: Vec::new(),
        stream: None,
    })
}

/// The runtime's own response, made directly: one `Headers`, one `ResponseInit`, the body
/// handed over as a view of the wasm memory (`worker::Response` makes a second `Headers` and copies
/// the body twice).
fn worker_response(response: Response) -> worker::Result<web_sys::Response> {
    let headers = web_sys::Headers::new()?;
    for (name, value) in &response.headers {
        headers.append(name, value)?;
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(response.status);
    init.set_headers(&headers);
    let body = match response.stream {
        Some(stream) => stream.take::<worker::ResponseBody>().ok_or_else(|| {
            worker::Error::RustError("a streamed body of another platform".into())
        })?,
        None if response.body.is_empty() => worker::ResponseBody::Empty,
        None => worker::ResponseBody::Body(response.body),
    };
    let out = match body {
        worker::ResponseBody::Stream(stream) => {
            web_sys::Response::new_with_opt_readable_stream_and_init(Some(&stream), &init)?
        }
        worker::ResponseBody::Body(mut bytes) => {
            web_sys::Response::new_with_opt_u8_array_and_init(Some(&mut bytes), &init)?
        }
        worker::ResponseBody::Empty => web_sys::Response::new_with_opt_str_and_init(None, &init)?,
    };
    Ok(out)
}
