//! Email: what the origin sends, how it is rendered, and how it leaves.
//!
//! A feature that wants an email sent calls [`enqueue`] inside its own transaction: the email
//! is recorded in the `emails` table under its dedupe key and the job that sends it is queued,
//! both or neither. The job ([`crate::jobs::email`]) claims the row, renders the email and hands
//! it to the SMTP server.
//!
//! - [`render`]: templates (compiled in from `templates/email/`) into subject, text and HTML;
//! - [`money`]: amounts as a receipt shows them;
//! - [`sender`]: the SMTP client (lettre), and which failures are worth retrying;
//! - [`store`]: the `emails` table, where each email is claimed before it is sent, so none is
//!   ever sent twice.

pub mod money;
pub mod render;
pub mod sender;
pub mod store;

use domain::UserId;
use domain::orders::Order;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use crate::db;

/// Queue name of the email job.
pub const EMAIL_QUEUE: &str = "email";

/// apalis's own limit on runs of one email job. The job decides when to give up (after
/// `EMAIL_MAX_ATTEMPTS`, at most this many); this is only a backstop, above anything it can be
/// configured to.
pub const ATTEMPTS_BACKSTOP: usize = 25;

/// An email to send, once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    /// Says which email this is (`welcome:{user_id}`, `receipt:{order_id}`): enqueuing the same
    /// key again changes nothing, and at most one email is ever sent for it.
    pub dedupe_key: String,
    /// The recipient's address, as given. An address the SMTP client cannot parse fails the
    /// email for good when it is sent.
    pub to: String,
    pub kind: EmailKind,
}

/// Which email, with what it shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EmailKind {
    /// After payment: every line of the order and its total.
    Receipt { order: Order },
    /// After registration.
    Welcome { username: String },
}

impl EmailKind {
    /// As stored in `emails.kind`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Receipt { .. } => "receipt",
            Self::Welcome { .. } => "welcome",
        }
    }
}

impl Email {
    /// The welcome email for a new account.
    pub fn welcome(user: UserId, username: &str, to: &str) -> Self {
        Self {
            dedupe_key: format!("welcome:{user}"),
            to: to.to_owned(),
            kind: EmailKind::Welcome {
                username: username.to_owned(),
            },
        }
    }

    /// The receipt for a paid order, to the order's address.
    pub fn receipt(order: Order) -> Self {
        Self {
            dedupe_key: format!("receipt:{}", order.id),
            to: order.email.clone(),
            kind: EmailKind::Receipt { order },
        }
    }
}

/// Payload of the email job: the key of the row that holds the email.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendEmail {
    pub dedupe_key: String,
}

/// Records the email and queues the job that sends it, inside the caller's transaction. An
/// email whose key is already recorded is left as it is, and no second job is queued.
///
/// Errors are the database's own, so a connection lost here is still a 503 to the client.
pub async fn enqueue(conn: &mut PgConnection, email: &Email) -> sqlx::Result<()> {
    if !store::insert(conn, email).await? {
        return Ok(());
    }
    let job = SendEmail {
        dedupe_key: email.dedupe_key.clone(),
    };
    db::push_job(conn, EMAIL_QUEUE, &job, ATTEMPTS_BACKSTOP).await
}
