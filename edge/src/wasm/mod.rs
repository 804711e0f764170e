//! The Workers glue, compiled only for `wasm32`. Nothing here decides anything:
//!
//! - [`entry`]: `#[event(fetch)]`, converting a `worker::Request` into a plain request (its body
//!   read as the route table says) and the answer back;
//! - [`d1`]: the D1 replica behind the [`Replica`](crate::platform::Replica) port;
//! - [`origin`]: the origin over `fetch` behind the [`Origin`](crate::platform::Origin) port;
//! - [`limiter`]: the rate limiter's Durable Object, and the
//!   [`Counts`](crate::platform::Counts) port calling it.
//!
//! - [`r2`]: the attachments' bytes in R2 behind the [`Blobs`](crate::platform::Blobs) port.

mod d1;
mod entry;
mod limiter;
mod origin;
mod r2;

use std::borrow::Cow;

use worker::{Context, Env, console_error};

use crate::platform::{DocumentForm, Platform, PortError};
use crate::settings::Settings;

/// The static assets' binding (`[assets] binding` in `wrangler.toml`).
const ASSETS: &str = "ASSETS";

/// The platform of one request on Workers.
struct WasmPlatform<'a> {
    env: &'a Env,
    replica: d1::D1,
    origin: origin::FetchOrigin<'a>,
    counts: limiter::ObjectCounts<'a>,
    blobs: r2::R2<'a>,
}

impl<'a> WasmPlatform<'a> {
    /// The platform over `env`'s bindings, its D1 queries in one session that starts at
    /// `anchor` (a bookmark or a constraint, see [`crate::sessions`]). `context` is the
    /// request's (for `waitUntil`); none for the scheduled sweep.
    fn new(
        env: &'a Env,
        settings: &'a Settings,
        context: Option<&'a Context>,
        anchor: &str,
    ) -> worker::Result<Self> {
        Ok(Self {
            env,
            replica: d1::D1::new(env.d1("DB")?, anchor),
            origin: origin::FetchOrigin {
                base: &settings.origin_url,
                timeout_ms: settings.origin_timeout_ms,
            },
            counts: limiter::ObjectCounts { env, context },
            blobs: r2::R2 { env },
        })
    }
}

impl<'a> Platform for WasmPlatform<'a> {
    type Replica = d1::D1;
    type Origin = origin::FetchOrigin<'a>;
    type Counts = limiter::ObjectCounts<'a>;
    type Blobs = r2::R2<'a>;

    fn replica(&self) -> &Self::Replica {
        &self.replica
    }

    fn origin(&self) -> &Self::Origin {
        &self.origin
    }

    fn counts(&self) -> &Self::Counts {
        &self.counts
    }

    fn blobs(&self) -> &Self::Blobs {
        &self.blobs
    }

    fn log(&self, line: &str) {
        console_error!("{line}");
    }

    async fn openapi_document(&self, form: DocumentForm) -> Result<Cow<'static, str>, PortError> {
        let assets = self
            .env
            .assets(ASSETS)
            .map_err(|e| PortError::caused_by("the ASSETS binding", e))?;
        // The host is never contacted: the binding serves its own files by path.
        let mut file = assets
            .fetch(format!("https://assets.invalid{}", form.asset_path()), None)
            .await
            .map_err(|e| PortError::caused_by("reading the OpenAPI document's asset", e))?;
        if file.status_code() != 200 {
            return Err(PortError::new(format!(
                "the static assets answered {} for {}",
                file.status_code(),
                form.asset_path()
            )));
        }
        file.text()
            .await
            .map(Cow::Owned)
            .map_err(|e| PortError::caused_by("reading the OpenAPI document's asset", e))
    }
}
