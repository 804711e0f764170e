//! The faults a scenario injects into the running stack, through the stack's own operations
//! (so that whatever they restart is still torn down on drop and on Ctrl-C).

use std::fmt;
use std::time::Duration;

use anyhow::Result;
use nix::sys::signal::Signal;

use crate::shutdown::Shutdown;
use crate::stack::{Part, Stack};
use crate::ui::note;

/// One fault.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// `pg_ctl restart`: a fast stop (connections cut, transactions rolled back), then a start.
    PostgresRestart,
    /// Postgres stopped for this long, then started.
    PostgresDown(Duration),
    /// The origin killed with SIGKILL (no shutdown code runs) and started at once, `times`
    /// times, the load running for `between` after each restart.
    OriginKilled { times: u32, between: Duration },
    /// `wrangler dev` stopped (its whole process group) and started on the same port and D1.
    EdgeRestart,
    /// The origin stopped for this long (SIGTERM): the edge's forwards are refused.
    OriginStopped(Duration),
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PostgresRestart => f.write_str("Postgres restarted"),
            Self::PostgresDown(outage) => write!(f, "Postgres down {} s", outage.as_secs()),
            Self::OriginKilled { times, .. } => write!(f, "origin SIGKILLed x{times}"),
            Self::EdgeRestart => f.write_str("wrangler dev restarted"),
            Self::OriginStopped(outage) => write!(f, "origin stopped {} s", outage.as_secs()),
        }
    }
}

impl Fault {
    /// Injects the fault and undoes it; returns once the stack is whole again (the restarted
    /// part answers, or Postgres accepts connections). An error means the stack could not be
    /// made whole, and no later scenario can run on it.
    pub async fn inject(self, stack: &mut Stack, shutdown: &Shutdown) -> Result<()> {
        match self {
            Self::PostgresRestart => {
                stack.stop_postgres(shutdown).await?;
                stack.start_postgres(shutdown).await
            }
            Self::PostgresDown(outage) => {
                stack.stop_postgres(shutdown).await?;
                shutdown.sleep(outage).await?;
                stack.start_postgres(shutdown).await
            }
            Self::OriginKilled { times, between } => {
                for time in 1..=times {
                    stack.stop_service(Part::Origin, Signal::SIGKILL).await;
                    note(format!("origin killed ({time} of {times})"));
                    stack.restart_service(Part::Origin, shutdown).await?;
                    if time < times {
                        shutdown.sleep(between).await?;
                    }
                }
                Ok(())
            }
            Self::EdgeRestart => {
                stack.stop_service(Part::Edge, Signal::SIGTERM).await;
                stack.restart_service(Part::Edge, shutdown).await
            }
            Self::OriginStopped(outage) => {
                stack.stop_service(Part::Origin, Signal::SIGTERM).await;
                shutdown.sleep(outage).await?;
                stack.restart_service(Part::Origin, shutdown).await
            }
        }
    }
}
