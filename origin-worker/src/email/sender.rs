//! The SMTP client: lettre's async transport, one connection per email, and the line between
//! failures worth retrying and failures that are final.

use std::fmt;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::render::Rendered;
use crate::settings::EmailSettings;

/// Why an email was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later: an SMTP 4xx reply, a connection refused or reset, a timeout,
    /// anything that is not a final refusal.
    #[error("transient: {0}")]
    Transient(String),
    /// Trying again would get the same answer: an SMTP 5xx reply, an address that does not
    /// parse, a message that cannot be built.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl SendError {
    /// Reads lettre's error: an SMTP reply's code decides (`is_permanent` is a 5xx reply,
    /// `is_transient` a 4xx one); a failure with no reply (connection refused or reset,
    /// network, TLS, a garbled response) is transient.
    fn from_smtp(error: &lettre::transport::smtp::Error) -> Self {
        // lettre's message already ends with its source's (the server's reply text).
        let message = error.to_string();
        if error.is_permanent() {
            Self::Permanent(message)
        } else {
            Self::Transient(message)
        }
    }
}

/// Sends rendered emails from the configured sender.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    timeout: Duration,
}

/// Leaves the transport out: its configuration may hold the SMTP password.
impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// A client for `SMTP_URL`. Connections are opened per email (no pool), each bounded by
    /// `SMTP_TIMEOUT_MS` from connecting to the final reply.
    pub fn new(settings: &EmailSettings) -> Result<Self, lettre::transport::smtp::Error> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(settings.smtp_url())?
            // lettre bounds the connect with this; the whole delivery is bounded in `send`.
            .timeout(Some(settings.smtp_timeout))
            .build();
        Ok(Self {
            transport,
            from: settings.from.clone(),
            timeout: settings.smtp_timeout,
        })
    }

    /// Hands the email to the SMTP server; `Ok` once the server has accepted it.
    pub async fn send(&self, to: &str, email: &Rendered) -> Result<(), SendError> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| SendError::Permanent(format!("recipient `{to}`: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                email.html.clone(),
            ))
            .map_err(|e| SendError::Permanent(format!("building the message: {e}")))?;
        // lettre's async transport bounds only the connect; a server that stops answering
        // mid-conversation would hold the job for ever.
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_reply)) => Ok(()),
            Ok(Err(e)) => Err(SendError::from_smtp(&e)),
            Err(_elapsed) => Err(SendError::Transient(format!(
                "no answer from the SMTP server within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }
}
