//! A programmable SMTP server for tests: it listens on a free local port, records every message
//! it accepts, and answers `RCPT TO` and the end of `DATA` from a script (say `451` twice, then
//! `250`; or `550`), so a test can make delivery fail the way a real server does.
//!
//! It speaks just enough SMTP for a client like lettre: greeting, `EHLO`/`HELO`, `MAIL`,
//! `RCPT`, `DATA` (with dot-unstuffing), `RSET`, `NOOP`, `QUIT`. No TLS, no authentication.
//!
//! Replies can be scripted for one recipient only ([`FakeSmtp::script_for`]), so that another
//! email arriving meanwhile does not use them up; and the greeting can be withheld
//! ([`FakeSmtp::hold_greetings`]), so a test can catch a client between connecting and
//! sending (and kill it there).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Where in a mail transaction a scripted reply is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// The reply to `RCPT TO`.
    Rcpt,
    /// The reply after the message's final `.`: accepting or refusing the message itself.
    Data,
}

/// A message the server accepted.
#[derive(Debug, Clone)]
pub struct Received {
    /// The `MAIL FROM` address, without angle brackets.
    pub from: String,
    /// Each accepted `RCPT TO` address, without angle brackets.
    pub to: Vec<String>,
    /// The message as sent (headers and body, CRLF line ends, dot-unstuffed).
    pub data: String,
}

#[derive(Debug, Default)]
struct Script {
    rcpt: VecDeque<u16>,
    data: VecDeque<u16>,
    /// Replies for one recipient's transactions, used before the shared queues above.
    for_recipient: HashMap<(String, Stage), VecDeque<u16>>,
    /// Every `RCPT TO` seen, accepted or not: how many times delivery was tried.
    rcpt_seen: usize,
    /// The same, per recipient.
    rcpt_seen_by: HashMap<String, usize>,
    /// Connections accepted so far.
    connections: usize,
    /// Connections waiting for their greeting now.
    held: usize,
    received: Vec<Received>,
}

impl Script {
    /// The next scripted reply at `stage` for the first of `recipients` that has one, else the
    /// next shared one, else `250`.
    fn next_reply(&mut self, stage: Stage, recipients: &[String]) -> u16 {
        let own = recipients.iter().find_map(|recipient| {
            self.for_recipient
                .get_mut(&(recipient.clone(), stage))
                .and_then(VecDeque::pop_front)
        });
        let shared = match stage {
            Stage::Rcpt => &mut self.rcpt,
            Stage::Data => &mut self.data,
        };
        own.or_else(|| shared.pop_front()).unwrap_or(250)
    }
}

/// A running fake SMTP server; stops when dropped.
#[derive(Debug)]
pub struct FakeSmtp {
    addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    /// `true` while greetings are withheld; dropping it (with the server) lets every held
    /// connection go.
    hold: watch::Sender<bool>,
    server: JoinHandle<()>,
}

impl Drop for FakeSmtp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeSmtp {
    /// Listens on `127.0.0.1` at a free port; every reply is `250` until scripted otherwise.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let script = Arc::new(Mutex::new(Script::default()));
        let (hold, gate) = watch::channel(false);
        let shared = script.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let script = shared.clone();
                let gate = gate.clone();
                tokio::spawn(async move {
                    // A client that hangs up mid-conversation is none of the test's business.
                    let _ = converse(stream, &script, gate).await;
                });
            }
        });
        Ok(Self {
            addr,
            script,
            hold,
            server,
        })
    }

    /// The URL a client connects with: `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Queues replies for `stage`, used one per command in order; once they are used up the
    /// server answers `250` again. Codes from 400 refuse (4xx for now, 5xx for good).
    pub fn script(&self, stage: Stage, codes: impl IntoIterator<Item = u16>) {
        let mut script = self.lock();
        let queue = match stage {
            Stage::Rcpt => &mut script.rcpt,
            Stage::Data => &mut script.data,
        };
        queue.extend(codes);
    }

    /// Like [`FakeSmtp::script`], for the transactions of one recipient only (the address as
    /// in `RCPT TO`, without angle brackets); used before the shared replies.
    pub fn script_for(&self, recipient: &str, stage: Stage, codes: impl IntoIterator<Item = u16>) {
        self.lock()
            .for_recipient
            .entry((recipient.to_owned(), stage))
            .or_default()
            .extend(codes);
    }

    /// Withholds the `220` greeting from every connection from now on, until
    /// [`FakeSmtp::release_greetings`]: the client waits as it would for a slow server, connected
    /// and having sent nothing. A connection held when its client dies is simply closed later.
    pub fn hold_greetings(&self) {
        self.hold.send_replace(true);
    }

    /// Greets every held connection, and new ones at once again.
    pub fn release_greetings(&self) {
        self.hold.send_replace(false);
    }

    /// How many connections wait for their greeting now.
    pub fn held(&self) -> usize {
        self.lock().held
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> usize {
        self.lock().connections
    }

    /// Waits until at least `count` connections wait for their greeting, or `timeout` passes;
    /// returns how many wait either way.
    pub async fn wait_until_held(&self, count: usize, timeout: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let held = self.held();
            if held >= count || tokio::time::Instant::now() >= deadline {
                return held;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The messages accepted so far.
    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    /// How many `RCPT TO` commands arrived so far (each delivery attempt sends one per
    /// recipient).
    pub fn rcpt_attempts(&self) -> usize {
        self.lock().rcpt_seen
    }

    /// How many `RCPT TO` commands named `recipient` so far: its delivery attempts.
    pub fn rcpt_attempts_for(&self, recipient: &str) -> usize {
        self.lock()
            .rcpt_seen_by
            .get(recipient)
            .copied()
            .unwrap_or_default()
    }

    /// The accepted messages addressed to `recipient`.
    pub fn received_by(&self, recipient: &str) -> Vec<Received> {
        self.lock()
            .received
            .iter()
            .filter(|message| message.to.iter().any(|to| to == recipient))
            .cloned()
            .collect()
    }

    /// Waits until at least `count` messages were accepted, or `timeout` passes; returns what
    /// was accepted either way.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let received = self.received();
            if received.len() >= count || tokio::time::Instant::now() >= deadline {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn reply_line(code: u16) -> String {
    let text = match code {
        250 => "2.0.0 OK",
        421 => "4.3.2 Service not available, closing channel",
        c if (400..500).contains(&c) => "4.3.0 Try again later",
        c if (500..600).contains(&c) => "5.1.1 Rejected",
        _ => "OK",
    };
    format!("{code} {text}\r\n")
}

/// Strips `<` `>` and any parameters from `MAIL FROM:<a@b> BODY=8BITMIME`.
fn path_of(argument: &str) -> String {
    let argument = argument.trim();
    let path = argument.split_whitespace().next().unwrap_or_default();
    path.trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned()
}

/// One client connection, from greeting to `QUIT` (or hang-up). The greeting waits while
/// `gate` says greetings are held.
async fn converse(
    stream: TcpStream,
    script: &Mutex<Script>,
    mut gate: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let lock = || script.lock().unwrap_or_else(PoisonError::into_inner);
    lock().connections += 1;
    if *gate.borrow_and_update() {
        lock().held += 1;
        // An error is the server gone, which lets the connection go too.
        let _ = gate.wait_for(|held| !held).await;
        lock().held -= 1;
    }
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 fake-smtp ESMTP ready\r\n").await?;
    let mut from = String::new();
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end();
        let verb = command
            .split([' ', ':'])
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let answer = match verb.as_str() {
            "EHLO" => "250-fake-smtp\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n".to_owned(),
            "HELO" | "NOOP" => reply_line(250),
            "RSET" => {
                from.clear();
                to.clear();
                reply_line(250)
            }
            "MAIL" => {
                from = path_of(command.split_once(':').map_or("", |(_, a)| a));
                to.clear();
                reply_line(250)
            }
            "RCPT" => {
                let recipient = path_of(command.split_once(':').map_or("", |(_, a)| a));
                let mut script = lock();
                script.rcpt_seen += 1;
                *script.rcpt_seen_by.entry(recipient.clone()).or_default() += 1;
                let code = script.next_reply(Stage::Rcpt, std::slice::from_ref(&recipient));
                if code == 250 {
                    to.push(recipient);
                }
                reply_line(code)
            }
            "DATA" if to.is_empty() => "503 5.5.1 No valid recipients\r\n".to_owned(),
            "DATA" => {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let data = read_data(&mut lines).await?;
                let mut script = lock();
                let code = script.next_reply(Stage::Data, &to);
                if code == 250 {
                    script.received.push(Received {
                        from: from.clone(),
                        to: to.clone(),
                        data,
                    });
                }
                from.clear();
                to.clear();
                reply_line(code)
            }
            "QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => "500 5.5.2 Command not recognised\r\n".to_owned(),
        };
        write.write_all(answer.as_bytes()).await?;
    }
}

/// The message after `354`, up to the line holding a single `.`, with leading dots unstuffed.
async fn read_data(
    lines: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<String> {
    let mut data = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == ".\r\n" || line == ".\n" {
            return Ok(data);
        }
        data.push_str(line.strip_prefix('.').unwrap_or(&line));
    }
}
