//! The origin over `fetch`, with a timeout, behind the [`Origin`] port.

use worker::{AbortSignal, Fetch, Headers, Method, RequestInit, js_sys, web_sys};

use crate::platform::{Origin, OriginRequest, OriginResponse, PortError};

pub struct FetchOrigin<'a> {
    pub base: &'a str,
    pub timeout_ms: u32,
}

fn failed(doing: &'static str) -> impl Fn(worker::Error) -> PortError {
    move |e| PortError::caused_by(doing, e)
}

impl Origin for FetchOrigin<'_> {
    async fn send(&self, request: OriginRequest) -> Result<OriginResponse, PortError> {
        let headers = Headers::new();
        for (name, value) in &request.headers {
            headers
                .set(name, value)
                .map_err(failed("setting a header"))?;
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
        let outgoing =
            worker::Request::new_with_init(&url, &init).map_err(failed("building the request"))?;
        let signal: AbortSignal = web_sys::AbortSignal::timeout_with_u32(self.timeout_ms).into();
        let mut answer = Fetch::Request(outgoing)
            .send_with_signal(&signal)
            .await
            .map_err(failed("fetching the origin"))?;
        Ok(OriginResponse {
            status: answer.status_code(),
            headers: answer.headers().entries().collect(),
            body: answer
                .bytes()
                .await
                .map_err(failed("reading the origin's body"))?,
        })
    }
}
