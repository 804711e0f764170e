//! Ctrl-C, SIGTERM and SIGHUP: noticed once, acted on wherever xtask is waiting.
//!
//! The stack's services run in process groups of their own, out of reach of the terminal's
//! Ctrl-C, so that xtask decides the order of teardown. That only works if xtask itself does not
//! die on the signal: [`Shutdown::listen`] replaces the default action for good, every wait in
//! xtask selects on [`Shutdown::wait`], and the stack's `Drop` does the stopping as the
//! interrupted step returns [`Interrupted`] up the stack of calls.

use std::fmt;

use nix::sys::signal::Signal;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// A handle on "has a stop been asked for, and by which signal".
#[derive(Debug, Clone)]
pub struct Shutdown {
    asked: watch::Receiver<Option<Signal>>,
}

/// The error of a step cut short by a signal. `main` tells it apart from real failures.
#[derive(Debug, Clone, Copy)]
pub struct Interrupted(pub Signal);

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "interrupted ({})", self.0.as_str())
    }
}

impl std::error::Error for Interrupted {}

impl Shutdown {
    /// Installs the handlers; from here on these signals no longer kill xtask. Needs the tokio
    /// runtime.
    pub fn listen() -> anyhow::Result<Self> {
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let mut hangup = signal(SignalKind::hangup())?;
        let (tell, asked) = watch::channel(None);
        tokio::spawn(async move {
            let which = tokio::select! {
                _ = interrupt.recv() => Signal::SIGINT,
                _ = terminate.recv() => Signal::SIGTERM,
                _ = hangup.recv() => Signal::SIGHUP,
            };
            tell.send_replace(Some(which));
            // Keep the sender: a closed channel would read as "never" to later waiters. Further
            // signals are ignored (the handlers stay installed), so a second Ctrl-C cannot cut
            // the teardown short and leave processes behind.
            std::future::pending::<()>().await;
            drop(tell);
        });
        Ok(Self { asked })
    }

    /// The signal, if one has arrived.
    pub fn requested(&self) -> Option<Interrupted> {
        (*self.asked.borrow()).map(Interrupted)
    }

    /// Sleeps for `how_long`, unless a signal comes first.
    pub async fn sleep(&self, how_long: std::time::Duration) -> Result<(), Interrupted> {
        tokio::select! {
            () = tokio::time::sleep(how_long) => Ok(()),
            signal = self.wait() => Err(signal),
        }
    }

    /// Resolves when a signal arrives (at once if one already has).
    pub async fn wait(&self) -> Interrupted {
        let mut asked = self.asked.clone();
        match asked.wait_for(Option::is_some).await {
            Ok(which) => Interrupted((*which).unwrap_or(Signal::SIGTERM)),
            // The sender lives as long as the runtime; without it no signal can come.
            Err(_) => std::future::pending().await,
        }
    }
}
