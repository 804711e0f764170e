//! A programmable SMTP server for tests: it listens on a free local port, records every message
//! it accepts, and answers `RCPT TO` and the end of `DATA` from a script (say `451` twice, then
//! `250`; or `550`), so a test can make delivery fail the way a real server does.
//!
//! It speaks just enough SMTP for a client like lettre: greeting, `EHLO`/`HELO`, `MAIL`,
//! `RCPT`, `DATA` (with dot-unstuffing), `RSET`, `NOOP`, `QUIT`. No TLS, no authentication.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Where in a mail transaction a scripted reply is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// Every `RCPT TO` seen, accepted or not: how many times delivery was tried.
    rcpt_seen: usize,
    received: Vec<Received>,
}

/// A running fake SMTP server; stops when dropped.
#[derive(Debug)]
pub struct FakeSmtp {
    addr: SocketAddr,
    script: Arc<Mutex<Script>>,
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
        let shared = script.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let script = shared.clone();
                tokio::spawn(async move {
                    // A client that hangs up mid-conversation is none of the test's business.
                    let _ = converse(stream, &script).await;
                });
            }
        });
        Ok(Self {
            addr,
            script,
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

    /// The messages accepted so far.
    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    /// How many `RCPT TO` commands arrived so far (each delivery attempt sends one per
    /// recipient).
    pub fn rcpt_attempts(&self) -> usize {
        self.lock().rcpt_seen
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

/// One client connection, from greeting to `QUIT` (or hang-up).
async fn converse(stream: TcpStream, script: &Mutex<Script>) -> std::io::Result<()> {
    let lock = || script.lock().unwrap_or_else(PoisonError::into_inner);
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
                let mut script = lock();
                script.rcpt_seen += 1;
                let code = script.rcpt.pop_front().unwrap_or(250);
                if code == 250 {
                    to.push(path_of(command.split_once(':').map_or("", |(_, a)| a)));
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
                let code = script.data.pop_front().unwrap_or(250);
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
