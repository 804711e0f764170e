//! Email through the queue, against Postgres and a scripted SMTP server: transient refusals
//! are retried after a pause, permanent ones end the job dead at once, and no email is ever
//! sent twice.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::time::{Duration, Instant};

use domain::UserId;
use domain::ids::{OrderId, ProductId};
use domain::orders::{Currency, Order, OrderItem, OrderStatus};
use e2e::smtp::{FakeSmtp, Stage};
use origin_worker::email::{self, Email};
use origin_worker::jobs::{self, email::Delivery, email::EmailContext};
use origin_worker::state::{AppState, JobContext};
use sqlx::PgPool;
use support::{TestOrigin, fresh_db, settings_with};
use tokio::sync::watch;

/// A fresh database, a fake SMTP server, and the origin's state pointed at both. The job
/// workers run only once [`Mail::start_jobs`] is called.
struct Mail {
    db: PgPool,
    state: AppState,
    smtp: FakeSmtp,
    stop: watch::Sender<bool>,
}

impl Mail {
    /// `retry_base_ms` is `EMAIL_RETRY_BASE_MS`; at most 3 attempts, a 2 s SMTP timeout.
    async fn new(retry_base_ms: u64) -> Self {
        let smtp = FakeSmtp::start().await.unwrap();
        let settings = settings_with(
            "http://127.0.0.1:9",
            &[
                ("SMTP_URL", smtp.url()),
                ("SMTP_TIMEOUT_MS", "2000".to_owned()),
                ("EMAIL_MAX_ATTEMPTS", "3".to_owned()),
                ("EMAIL_RETRY_BASE_MS", retry_base_ms.to_string()),
            ],
        );
        let db = fresh_db().await;
        let state = AppState::new(db.clone(), settings);
        let (stop, _) = watch::channel(false);
        Self {
            db,
            state,
            smtp,
            stop,
        }
    }

    /// Every worker of the origin, as `serve` runs them, until the test ends.
    fn start_jobs(&self) {
        let ctx = JobContext {
            state: self.state.clone(),
            client: reqwest::Client::new(),
        };
        let stop = self.stop.subscribe();
        tokio::spawn(async move { jobs::run(ctx, Duration::from_secs(59), stop).await });
    }

    fn context(&self) -> EmailContext {
        EmailContext::new(self.db.clone(), &self.state.settings.email).unwrap()
    }

    async fn enqueue(&self, email: &Email) {
        let mut tx = self.db.begin().await.unwrap();
        email::enqueue(&mut tx, email).await.unwrap();
        tx.commit().await.unwrap();
    }

    /// The email's row: (status, attempts, last error).
    async fn row(&self, key: &str) -> (String, i32, Option<String>) {
        sqlx::query_as("SELECT status, attempts, last_error FROM emails WHERE dedupe_key = $1")
            .bind(key)
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    /// Each email job for `key` in apalis's table: (status, attempts).
    async fn jobs(&self, key: &str) -> Vec<(String, i32)> {
        sqlx::query_as(
            "SELECT status, attempts FROM apalis.jobs WHERE job_type = 'email' \
             AND convert_from(job, 'UTF8')::jsonb ->> 'dedupe_key' = $1 ORDER BY run_at",
        )
        .bind(key)
        .fetch_all(&self.db)
        .await
        .unwrap()
    }

    /// Waits (up to 15 s) until the one job for `key` has `status`.
    async fn job_ends(&self, key: &str, status: &str) -> (String, i32) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let jobs = self.jobs(key).await;
            if jobs.iter().any(|(s, _)| s == status) || Instant::now() > deadline {
                assert_eq!(jobs.len(), 1, "one job for {key}: {jobs:?}");
                assert_eq!(jobs[0].0, status, "{key}: {jobs:?}");
                return jobs[0].clone();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Mail {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn order() -> Order {
    let line = |id, name: &str, quantity, unit_price_cents| OrderItem {
        product_id: ProductId::new(id),
        name: name.into(),
        quantity,
        unit_price_cents,
        line_total_cents: quantity * unit_price_cents,
    };
    Order {
        id: OrderId::new(7),
        email: "buyer@example.com".into(),
        items: vec![line(1, "Mug", 2, 1_250), line(2, "Tea", 1, 1_250)],
        total_cents: 3_750,
        currency: Currency::parse("usd").unwrap(),
        status: OrderStatus::Paid,
        created_at: "2026-01-01T00:00:00.000000Z".into(),
    }
}

#[tokio::test]
async fn registering_records_a_welcome_email_and_queues_its_job_in_the_same_write() {
    let mail = Mail::new(20).await;
    let origin = TestOrigin {
        db: mail.db.clone(),
        state: mail.state.clone(),
        router: origin_worker::api::router(mail.state.clone()),
    };
    let (id, _, _) = origin.user("alice").await;

    let key = format!("welcome:{id}");
    let (status, attempts, _) = mail.row(&key).await;
    assert_eq!((status.as_str(), attempts), ("pending", 0));
    assert_eq!(mail.jobs(&key).await, [("Pending".to_owned(), 0)]);
    let recipient: String = sqlx::query_scalar("SELECT recipient FROM emails")
        .fetch_one(&mail.db)
        .await
        .unwrap();
    assert_eq!(recipient, "alice@example.com");

    // Sent by the worker, once, to the new user.
    mail.start_jobs();
    mail.job_ends(&key, "Done").await;
    let received = mail.smtp.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].to, ["alice@example.com"]);
    assert!(
        received[0]
            .data
            .contains("Subject: Welcome to Projects API, alice"),
        "{}",
        received[0].data
    );
}

#[tokio::test]
async fn a_receipt_refused_with_451_twice_is_delivered_on_the_third_try_after_pauses() {
    let mail = Mail::new(200).await;
    mail.smtp.script(Stage::Rcpt, [451, 451]);
    let receipt = Email::receipt(order());
    mail.enqueue(&receipt).await;
    let started = Instant::now();
    mail.start_jobs();

    let (_, job_attempts) = mail.job_ends("receipt:7", "Done").await;
    assert_eq!(job_attempts, 3);
    // Two pauses of 200 ms and 400 ms, less 20% jitter: a delayed re-run, not an instant one.
    assert!(
        started.elapsed() >= Duration::from_millis(480),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(mail.smtp.rcpt_attempts(), 3);
    let received = mail.smtp.received();
    assert_eq!(received.len(), 1, "exactly one message");
    assert_eq!(received[0].to, ["buyer@example.com"]);
    assert!(
        received[0].data.contains("Total: $37.50"),
        "{}",
        received[0].data
    );
    let (status, attempts, last_error) = mail.row("receipt:7").await;
    assert_eq!((status.as_str(), attempts, last_error), ("sent", 3, None));
}

#[tokio::test]
async fn a_receipt_refused_with_550_is_dead_after_one_try() {
    let mail = Mail::new(20).await;
    mail.smtp.script(Stage::Rcpt, [550]);
    mail.enqueue(&Email::receipt(order())).await;
    mail.start_jobs();

    let (_, job_attempts) = mail.job_ends("receipt:7", "Killed").await;
    assert_eq!(job_attempts, 1);
    // Several polls later, still nothing tried again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mail.smtp.rcpt_attempts(), 1);
    assert!(mail.smtp.received().is_empty());
    let (status, attempts, last_error) = mail.row("receipt:7").await;
    assert_eq!((status.as_str(), attempts), ("failed", 1));
    assert!(last_error.unwrap().contains("550"));
}

#[tokio::test]
async fn an_email_refused_on_every_attempt_is_dead_after_the_last() {
    let mail = Mail::new(20).await;
    mail.smtp.script(Stage::Data, [421, 452, 451]);
    mail.enqueue(&Email::welcome(UserId::new(5), "bob", "bob@example.com"))
        .await;
    mail.start_jobs();

    let (_, job_attempts) = mail.job_ends("welcome:5", "Killed").await;
    assert_eq!(job_attempts, 3, "EMAIL_MAX_ATTEMPTS");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mail.smtp.rcpt_attempts(), 3);
    assert!(mail.smtp.received().is_empty());
    let (status, attempts, last_error) = mail.row("welcome:5").await;
    assert_eq!((status.as_str(), attempts), ("failed", 3));
    assert!(
        last_error.unwrap().starts_with("gave up after 3 attempts"),
        "the reason is kept"
    );
}

#[tokio::test]
async fn a_run_after_a_crash_between_sending_and_recording_it_does_not_send_again() {
    let mail = Mail::new(20).await;
    let ctx = mail.context();
    mail.enqueue(&Email::receipt(order())).await;
    assert_eq!(
        jobs::email::deliver(&ctx, "receipt:7").await.unwrap(),
        Delivery::Sent
    );
    assert_eq!(mail.smtp.received().len(), 1);

    // What a crash after the server's 250 and before `sent` was written leaves behind.
    sqlx::query("UPDATE emails SET status = 'sending' WHERE dedupe_key = 'receipt:7'")
        .execute(&mail.db)
        .await
        .unwrap();
    let again = jobs::email::deliver(&ctx, "receipt:7").await.unwrap();
    assert!(matches!(again, Delivery::Dead { .. }), "{again:?}");
    assert_eq!(
        mail.smtp.rcpt_attempts(),
        1,
        "the server was not even asked"
    );
    let (status, attempts, _) = mail.row("receipt:7").await;
    assert_eq!(
        (status.as_str(), attempts),
        ("sending", 1),
        "left for an operator to see"
    );
}

#[tokio::test]
async fn an_email_already_sent_is_neither_queued_nor_sent_again() {
    let mail = Mail::new(20).await;
    let receipt = Email::receipt(order());
    mail.enqueue(&receipt).await;
    mail.start_jobs();
    mail.job_ends("receipt:7", "Done").await;

    // Enqueued again (say the payment webhook ran twice): no second job.
    mail.enqueue(&receipt).await;
    assert_eq!(mail.jobs("receipt:7").await.len(), 1);
    // The job run again (say apalis re-ran it after a crash before its ack): nothing sent.
    assert_eq!(
        jobs::email::deliver(&mail.context(), "receipt:7")
            .await
            .unwrap(),
        Delivery::AlreadySent
    );
    assert_eq!(mail.smtp.rcpt_attempts(), 1);
    assert_eq!(mail.smtp.received().len(), 1);
}

#[tokio::test]
async fn an_unreachable_smtp_server_is_a_transient_failure() {
    let mail = Mail::new(20).await;
    let ctx = EmailContext::new(
        mail.db.clone(),
        &origin_worker::settings::EmailSettings {
            smtp_url: origin_worker::settings::Secret::new("smtp://127.0.0.1:9"),
            ..mail.state.settings.email.clone()
        },
    )
    .unwrap();
    mail.enqueue(&Email::receipt(order())).await;
    let delivery = jobs::email::deliver(&ctx, "receipt:7").await.unwrap();
    assert!(
        matches!(delivery, Delivery::RetryIn { .. }),
        "connection refused: {delivery:?}"
    );
    let (status, attempts, _) = mail.row("receipt:7").await;
    assert_eq!((status.as_str(), attempts), ("pending", 1));
}

#[tokio::test]
async fn a_server_that_never_greets_leaves_the_email_unclaimed_for_the_next_run() {
    let mail = Mail::new(20).await;
    // Accepts the connection and says nothing, as a server stuck before its greeting.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("smtp://{}", silent.local_addr().unwrap());
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let stuck = EmailContext::new(
        mail.db.clone(),
        &origin_worker::settings::EmailSettings {
            smtp_url: origin_worker::settings::Secret::new(silent_url),
            smtp_timeout: Duration::from_millis(300),
            ..mail.state.settings.email.clone()
        },
    )
    .unwrap();
    mail.enqueue(&Email::receipt(order())).await;

    // While it waits for the greeting, the email is still due: a crash here loses nothing.
    let waiting = tokio::spawn({
        let stuck = stuck.clone();
        async move { jobs::email::deliver(&stuck, "receipt:7").await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(mail.row("receipt:7").await.0, "pending", "not claimed yet");
    let delivery = waiting.await.unwrap().unwrap();
    assert!(
        matches!(&delivery, Delivery::RetryIn { reason, .. } if reason.contains("connecting")),
        "a silent server is a transient failure: {delivery:?}"
    );
    assert_eq!(mail.row("receipt:7").await.0, "pending");
    holder.abort();

    // The next run reaches a server that answers, and sends it once.
    let delivery = jobs::email::deliver(&mail.context(), "receipt:7")
        .await
        .unwrap();
    assert_eq!(delivery, Delivery::Sent);
    assert_eq!(mail.smtp.received().len(), 1);
    let (status, attempts, _) = mail.row("receipt:7").await;
    assert_eq!((status.as_str(), attempts), ("sent", 2));
}

/// The id of the one email job for `key`.
async fn job_id(mail: &Mail, key: &str) -> String {
    sqlx::query_scalar(
        "SELECT id FROM apalis.jobs WHERE job_type = 'email' \
         AND convert_from(job, 'UTF8')::jsonb ->> 'dedupe_key' = $1",
    )
    .bind(key)
    .fetch_one(&mail.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn an_operator_sees_a_dead_email_job_and_retries_it_into_one_delivery() {
    use origin_worker::jobs::queues::{self, Filter, Repair, State};
    let mail = Mail::new(20).await;
    mail.smtp.script(Stage::Rcpt, [550]);
    mail.enqueue(&Email::receipt(order())).await;
    mail.start_jobs();
    mail.job_ends("receipt:7", "Killed").await;
    let id = job_id(&mail, "receipt:7").await;

    let counts = queues::counts(&mail.db).await.unwrap();
    let email = counts.iter().find(|q| q.queue == "email").unwrap();
    assert_eq!((email.dead, email.pending, email.done), (1, 0, 0));
    let dead = Filter {
        queue: Some("email".into()),
        state: Some(State::Dead),
        limit: 10,
    };
    let listed = queues::list(&mail.db, &dead).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, id);
    assert!(
        listed[0].last_error.as_deref().unwrap().contains("550"),
        "{listed:?}"
    );
    let shown = queues::show(&mail.db, &id).await.unwrap().unwrap();
    assert_eq!(shown.status, "Killed");
    assert_eq!(shown.payload["dedupe_key"], "receipt:7");

    // A dead job cannot be killed again; the server now accepts; the retry delivers it.
    assert!(matches!(
        queues::kill(&mail.db, &id).await.unwrap(),
        Repair::Refused { .. }
    ));
    assert_eq!(
        queues::retry(&mail.db, &id).await.unwrap(),
        Repair::Changed {
            state: State::Pending
        }
    );
    let (_, attempts) = mail.job_ends("receipt:7", "Done").await;
    assert_eq!(attempts, 2, "its count carried on");
    assert_eq!(mail.smtp.received().len(), 1);
    let (status, attempts, _) = mail.row("receipt:7").await;
    assert_eq!((status.as_str(), attempts), ("sent", 2));
    // Done: nothing left to retry.
    assert!(matches!(
        queues::retry(&mail.db, &id).await.unwrap(),
        Repair::Refused { .. }
    ));
    assert_eq!(
        queues::retry(&mail.db, "no-such-job").await.unwrap(),
        Repair::Missing
    );
}

#[tokio::test]
async fn an_operator_kills_a_waiting_email_job_and_it_never_runs() {
    use origin_worker::jobs::queues::{self, Repair, State};
    let mail = Mail::new(20).await;
    mail.enqueue(&Email::receipt(order())).await;
    let id = job_id(&mail, "receipt:7").await;
    assert_eq!(
        queues::kill(&mail.db, &id).await.unwrap(),
        Repair::Changed { state: State::Dead }
    );
    mail.start_jobs();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(mail.smtp.rcpt_attempts(), 0, "never tried");
    let shown = queues::show(&mail.db, &id).await.unwrap().unwrap();
    assert_eq!(shown.status, "Killed");
    assert_eq!(
        shown.summary.last_error.as_deref(),
        Some("killed by an operator")
    );
    assert_eq!(mail.row("receipt:7").await.0, "pending");
}
