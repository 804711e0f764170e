//! The Workers glue: converts a `worker::Request` into a plain [`Request`], hands it to
//! [`app::handle`] with D1 and `fetch` behind the ports, and converts the answer back. Nothing
//! here decides anything.

use std::cell::OnceCell;
use std::rc::Rc;

use serde::de::DeserializeOwned;
use worker::{
    AbortSignal, Context, D1Database, Date, Env, Fetch, Headers, Method, RequestInit,
    console_error, console_log, event, js_sys, wasm_bindgen::JsValue, web_sys,
};

use crate::app::{self, Ctx};
use crate::http::{Request, Response};
use crate::internal::MAX_PUSH_BYTES;
use crate::ports::{
    Origin, OriginRequest, OriginResponse, PortError, Replica, Rows, SqlValue, Statement,
};
use crate::settings::{ConfigError, Settings};
use domain::ApiError;

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

#[event(fetch)]
async fn fetch(
    mut incoming: worker::Request,
    env: Env,
    _ctx: Context,
) -> worker::Result<worker::Response> {
    let started = Date::now().as_millis();
    let mut request = plain_request(&incoming)?;
    let request_id = app::request_id(&request, random_id);
    let declared = request
        .header("content-length")
        .and_then(|l| l.parse::<usize>().ok());
    let response = if declared.is_some_and(|length| length > MAX_PUSH_BYTES) {
        // Refused before a byte of it is read.
        Response::error(
            &ApiError::PayloadTooLarge {
                limit: MAX_PUSH_BYTES,
            },
            &request_id,
        )
    } else {
        request.body = incoming.bytes().await.unwrap_or_default();
        handle(&env, request.clone(), &request_id).await
    };
    let line = serde_json::json!({
        "level": "info",
        "request_id": request_id,
        "method": request.method,
        "path": request.path,
        "status": response.status,
        "ms": Date::now().as_millis().saturating_sub(started),
    });
    console_log!("{line}");
    worker_response(response)
}

async fn handle(env: &Env, request: Request, request_id: &str) -> Response {
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
    let replica = match env.d1("DB") {
        Ok(db) => D1(db),
        Err(e) => {
            console_error!("D1 binding DB missing: {e}");
            return Response::error(&ApiError::Internal, request_id);
        }
    };
    let origin = FetchOrigin {
        base: &settings.origin_url,
        timeout_ms: settings.origin_timeout_ms,
    };
    let log = |line: &str| console_error!("{line}");
    let ctx = Ctx {
        replica: &replica,
        origin: &origin,
        settings: &settings,
        now: i64::try_from(Date::now().as_millis() / 1000).unwrap_or_default(),
        request_id,
        log: &log,
    };
    app::handle(&ctx, request).await
}

fn plain_request(incoming: &worker::Request) -> worker::Result<Request> {
    let url = incoming.url()?;
    Ok(Request {
        base_url: url.origin().ascii_serialization(),
        method: incoming.method().to_string().to_ascii_uppercase(),
        path: url.path().to_owned(),
        query: url.query().map(str::to_owned),
        headers: incoming
            .headers()
            .entries()
            .map(|(n, v)| (n.to_ascii_lowercase(), v))
            .collect(),
        body: Vec::new(),
    })
}

fn worker_response(response: Response) -> worker::Result<worker::Response> {
    let headers = Headers::new();
    for (name, value) in &response.headers {
        headers.append(name, value)?;
    }
    let out = if response.body.is_empty() {
        worker::Response::empty()?
    } else {
        worker::Response::from_bytes(response.body)?
    };
    Ok(out.with_status(response.status).with_headers(headers))
}

/// D1 behind the [`Replica`] port.
struct D1(D1Database);

fn bind_values(params: &[SqlValue]) -> Vec<JsValue> {
    params
        .iter()
        .map(|p| match p {
            SqlValue::Null => JsValue::NULL,
            #[expect(clippy::cast_precision_loss, reason = "ids and versions are < 2^53")]
            SqlValue::Integer(i) => JsValue::from_f64(*i as f64),
            SqlValue::Real(f) => JsValue::from_f64(*f),
            SqlValue::Text(t) => JsValue::from_str(t),
        })
        .collect()
}

fn d1_error(error: worker::Error) -> PortError {
    PortError(match error {
        worker::Error::D1(d1) => d1.cause(),
        other => other.to_string(),
    })
}

/// One statement's result of a D1 batch.
struct D1Rows(worker::D1Result);

impl Rows for D1Rows {
    fn decode<T: DeserializeOwned>(self) -> Result<Vec<T>, PortError> {
        self.0.results::<T>().map_err(d1_error)
    }
}

impl D1 {
    fn prepare_all(
        &self,
        statements: &[Statement],
    ) -> Result<Vec<worker::D1PreparedStatement>, PortError> {
        statements
            .iter()
            .map(|s| self.0.prepare(&*s.sql).bind(&bind_values(&s.params)))
            .collect::<worker::Result<Vec<_>>>()
            .map_err(d1_error)
    }
}

impl Replica for D1 {
    type Rows = D1Rows;

    async fn read_batch(&self, statements: Vec<Statement>) -> Result<Vec<D1Rows>, PortError> {
        let prepared = self.prepare_all(&statements)?;
        Ok(self
            .0
            .batch(prepared)
            .await
            .map_err(d1_error)?
            .into_iter()
            .map(D1Rows)
            .collect())
    }

    async fn query<T: DeserializeOwned>(&self, statement: Statement) -> Result<Vec<T>, PortError> {
        let prepared = self
            .0
            .prepare(&*statement.sql)
            .bind(&bind_values(&statement.params))
            .map_err(d1_error)?;
        prepared
            .all()
            .await
            .map_err(d1_error)?
            .results::<T>()
            .map_err(d1_error)
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<(), PortError> {
        let prepared = self.prepare_all(&statements)?;
        self.0.batch(prepared).await.map_err(d1_error)?;
        Ok(())
    }
}

/// The origin over `fetch`, with a timeout.
struct FetchOrigin<'a> {
    base: &'a str,
    timeout_ms: u32,
}

impl Origin for FetchOrigin<'_> {
    async fn send(&self, request: OriginRequest) -> Result<OriginResponse, PortError> {
        let failed = |e: worker::Error| PortError(e.to_string());
        let headers = Headers::new();
        for (name, value) in &request.headers {
            headers.set(name, value).map_err(failed)?;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::from(request.method.clone()))
            .with_headers(headers);
        if !request.body.is_empty() {
            init.with_body(Some(
                js_sys::Uint8Array::from(request.body.as_slice()).into(),
            ));
        }
        let url = format!("{}{}", self.base, request.path_and_query);
        let outgoing = worker::Request::new_with_init(&url, &init).map_err(failed)?;
        let signal: AbortSignal = web_sys::AbortSignal::timeout_with_u32(self.timeout_ms).into();
        let mut answer = Fetch::Request(outgoing)
            .send_with_signal(&signal)
            .await
            .map_err(failed)?;
        Ok(OriginResponse {
            status: answer.status_code(),
            headers: answer.headers().entries().collect(),
            body: answer.bytes().await.map_err(failed)?,
        })
    }
}
