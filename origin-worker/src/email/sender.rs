//! The SMTP client, in two steps: [`Mailer::connect`] opens a session (greeting, `EHLO`,
//! TLS, authentication), then [`Session::transmit`] hands one message over (`MAIL FROM`,
//! `RCPT TO`, `DATA`). The job claims the email between the two, so a crash while a slow
//! server is still greeting leaves the email unclaimed, and a later run sends it.
//!
//! Also the line between failures worth retrying and failures that are final.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use lettre::Message;
use lettre::address::Envelope;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::{SMTP_PORT, SUBMISSION_PORT, SUBMISSIONS_PORT};

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

    /// The reason, with every mention of `address` replaced: servers often quote the
    /// recipient in their replies, and the reason goes to logs and to `emails.last_error`.
    pub fn reason_without(self, address: &str) -> (bool, String) {
        let (transient, reason) = match self {
            Self::Transient(reason) => (true, reason),
            Self::Permanent(reason) => (false, reason),
        };
        let reason = if address.is_empty() {
            reason
        } else {
            reason.replace(address, "<recipient>")
        };
        (transient, reason)
    }
}

/// How the connection is secured, as `SMTP_URL` says.
#[derive(Clone)]
enum Security {
    /// `smtp://host`: plain text (a local inbox or a trusted relay).
    Plain,
    /// `smtp://host?tls=required` (`STARTTLS` or fail) or `?tls=opportunistic` (`STARTTLS`
    /// when the server offers it).
    StartTls {
        parameters: TlsParameters,
        required: bool,
    },
    /// `smtps://host`: TLS from the first byte.
    Wrapper(TlsParameters),
}

/// Where and how to connect: `SMTP_URL`, read the way lettre's `from_url` reads it (which
/// validates it at startup, see [`crate::settings`]): default ports 25, 587 with `tls=`, 465
/// for `smtps`; the path as the `EHLO` name; the user and password as credentials.
#[derive(Clone)]
struct SmtpServer {
    host: String,
    port: u16,
    security: Security,
    hello_name: ClientId,
    credentials: Option<Credentials>,
}

impl SmtpServer {
    /// The message never echoes the URL: it may hold a password.
    fn parse(text: &str) -> Result<Self, String> {
        let url = url::Url::parse(text).map_err(|e| format!("SMTP_URL does not parse: {e}"))?;
        let host = url.host_str().ok_or("SMTP_URL has no host")?.to_owned();
        let tls = url
            .query_pairs()
            .find(|(key, _)| key == "tls")
            .map(|(_, value)| value.into_owned());
        let parameters =
            || TlsParameters::new(host.clone()).map_err(|e| format!("SMTP_URL's TLS: {e}"));
        let (security, default_port) = match (url.scheme(), tls.as_deref()) {
            ("smtp", None) => (Security::Plain, SMTP_PORT),
            ("smtp", Some(mode @ ("required" | "opportunistic"))) => (
                Security::StartTls {
                    parameters: parameters()?,
                    required: mode == "required",
                },
                SUBMISSION_PORT,
            ),
            ("smtps", _) => (Security::Wrapper(parameters()?), SUBMISSIONS_PORT),
            _ => {
                return Err(
                    "SMTP_URL must be smtp://, smtp://…?tls=required|opportunistic or \
                             smtps://"
                        .into(),
                );
            }
        };
        let hello_name = match url.path().trim_matches('/') {
            "" => ClientId::default(),
            name => ClientId::Domain(name.to_owned()),
        };
        let decode = |part: &str| {
            percent_encoding::percent_decode_str(part)
                .decode_utf8()
                .map(Cow::into_owned)
                .map_err(|_| "SMTP_URL's user or password is not UTF-8".to_owned())
        };
        let credentials = match url.password() {
            Some(password) => Some(Credentials::new(decode(url.username())?, decode(password)?)),
            None => None,
        };
        Ok(Self {
            port: url.port().unwrap_or(default_port),
            host,
            security,
            hello_name,
            credentials,
        })
    }
}

/// A message ready to go: its envelope and its bytes.
#[derive(Debug, Clone)]
pub struct Prepared {
    envelope: Envelope,
    bytes: Vec<u8>,
}

/// Sends rendered emails from the configured sender.
#[derive(Clone)]
pub struct Mailer {
    server: SmtpServer,
    from: Mailbox,
    timeout: Duration,
}

/// Leaves the server out: its credentials hold the SMTP password.
impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// An open SMTP session, greeted and authenticated, for one message.
pub struct Session {
    connection: AsyncSmtpConnection,
    timeout: Duration,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("encrypted", &self.connection.is_encrypted())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// A client for `SMTP_URL`. A connection is opened per email (no pool); connecting and
    /// transmitting are each bounded by `SMTP_TIMEOUT_MS`.
    pub fn new(settings: &EmailSettings) -> anyhow::Result<Self> {
        Ok(Self {
            server: SmtpServer::parse(settings.smtp_url()).map_err(anyhow::Error::msg)?,
            from: settings.from.clone(),
            timeout: settings.smtp_timeout,
        })
    }

    /// Builds the message: a recipient that does not parse is a permanent failure, found
    /// before anything is sent. The error does not quote the address.
    pub fn prepare(&self, to: &str, email: &Rendered) -> Result<Prepared, SendError> {
        let to: Mailbox = to.parse().map_err(|e| {
            SendError::Permanent(format!("the recipient's address does not parse: {e}"))
        })?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                email.html.clone(),
            ))
            .map_err(|e| SendError::Permanent(format!("building the message: {e}")))?;
        Ok(Prepared {
            envelope: message.envelope().clone(),
            bytes: message.formatted(),
        })
    }

    /// Connects, reads the greeting, says `EHLO`, secures the connection and authenticates
    /// as `SMTP_URL` says. Nothing of any message has been sent when this returns.
    pub async fn connect(&self) -> Result<Session, SendError> {
        let server = &self.server;
        let connecting = async {
            let wrapper = match &server.security {
                Security::Wrapper(parameters) => Some(parameters.clone()),
                Security::Plain | Security::StartTls { .. } => None,
            };
            let mut connection = AsyncSmtpConnection::connect_tokio1(
                (server.host.as_str(), server.port),
                Some(self.timeout),
                &server.hello_name,
                wrapper,
                None,
            )
            .await?;
            if let Security::StartTls {
                parameters,
                required,
            } = &server.security
                && (*required || connection.can_starttls())
            {
                connection
                    .starttls(parameters.clone(), &server.hello_name)
                    .await?;
            }
            if let Some(credentials) = &server.credentials {
                connection
                    .auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                    .await?;
            }
            Ok(connection)
        };
        let connection = bounded(self.timeout, "connecting", connecting).await?;
        Ok(Session {
            connection,
            timeout: self.timeout,
        })
    }
}

impl Session {
    /// Hands the message over; `Ok` once the server has accepted it. The session ends either
    /// way.
    pub async fn transmit(mut self, message: &Prepared) -> Result<(), SendError> {
        let sent = bounded(
            self.timeout,
            "sending",
            self.connection.send(&message.envelope, &message.bytes),
        )
        .await;
        self.close().await;
        sent.map(drop)
    }

    /// Ends the session without sending anything.
    pub async fn close(mut self) {
        // A polite QUIT, bounded: the message's fate is already decided.
        let _ = tokio::time::timeout(Duration::from_secs(1), self.connection.quit()).await;
        self.connection.abort().await;
    }
}

/// Runs one SMTP step within `limit`: lettre bounds each read and write, not a server that
/// trickles its answers for ever.
async fn bounded<T>(
    limit: Duration,
    step: &str,
    work: impl Future<Output = Result<T, lettre::transport::smtp::Error>>,
) -> Result<T, SendError> {
    match tokio::time::timeout(limit, work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(SendError::from_smtp(&e)),
        Err(_elapsed) => Err(SendError::Transient(format!(
            "{step}: no answer from the SMTP server within {} ms",
            limit.as_millis()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_smtp_url_as_lettre_does() {
        let plain = SmtpServer::parse("smtp://127.0.0.1:1025").unwrap();
        assert_eq!((plain.host.as_str(), plain.port), ("127.0.0.1", 1025));
        assert!(matches!(plain.security, Security::Plain));
        assert!(plain.credentials.is_none());

        let submission =
            SmtpServer::parse("smtp://mailer:p%40ss@smtp.example.com?tls=required").unwrap();
        assert_eq!(submission.port, 587);
        assert!(matches!(
            submission.security,
            Security::StartTls { required: true, .. }
        ));
        assert!(submission.credentials.is_some());

        let wrapped = SmtpServer::parse("smtps://smtp.example.com/mail.example.com").unwrap();
        assert_eq!(wrapped.port, 465);
        assert!(matches!(wrapped.security, Security::Wrapper(_)));
        assert_eq!(
            wrapped.hello_name,
            ClientId::Domain("mail.example.com".into())
        );
    }

    #[test]
    fn refuses_other_schemes_and_modes_without_echoing_the_url() {
        for url in [
            "http://mailer:hunter2@host",
            "smtp://mailer:hunter2@host?tls=sometimes",
            "smtp://",
        ] {
            let error = SmtpServer::parse(url).err().unwrap();
            assert!(!error.contains("hunter2"), "{error}");
        }
    }

    #[test]
    fn reasons_do_not_quote_the_recipient() {
        let error = SendError::Permanent(
            "permanent error (550): 5.1.1 <ann@example.com>: Recipient address rejected".into(),
        );
        let (transient, reason) = error.reason_without("ann@example.com");
        assert!(!transient);
        assert_eq!(
            reason,
            "permanent error (550): 5.1.1 <<recipient>>: Recipient address rejected"
        );
    }
}
