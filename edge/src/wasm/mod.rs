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

use worker::{Context, Env, console_error};

use crate::platform::Platform;
use crate::settings::Settings;

/// The platform of one request on Workers.
struct WasmPlatform<'a> {
    replica: d1::D1,
    origin: origin::FetchOrigin<'a>,
    counts: limiter::ObjectCounts<'a>,
    blobs: r2::R2<'a>,
}

impl<'a> WasmPlatform<'a> {
    /// The platform over `env`'s bindings. `context` is the request's (for `waitUntil`); none
    /// for the scheduled sweep.
    fn new(
        env: &'a Env,
        settings: &'a Settings,
        context: Option<&'a Context>,
    ) -> worker::Result<Self> {
        Ok(Self {
            replica: d1::D1(env.d1("DB")?),
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
}
