//! The whole local stack on one data folder: a private Postgres cluster, local D1, MailDev, the
//! origin worker and `wrangler dev` running the real wasm in workerd.
//!
//! [`Stack::start`] brings the parts up in dependency order and waits until each answers;
//! dropping the stack (at the end, on an error, or on Ctrl-C as the interrupted step returns)
//! stops the services, then Postgres. A stack that fails half-way is dropped just the same, so
//! nothing it started outlives xtask.
//!
//! The chaos suite restarts parts of a running stack: Postgres, the origin (SIGKILL or a
//! graceful stop) and `wrangler dev`, each on the same ports and data. A restarted service takes
//! its predecessor's place, so the drop (and a Ctrl-C) stops it like the first.
//!
//! Layout of the data folder: `pg/` (the cluster), `wrangler/` (D1), `logs/`, `secrets.env`
//! and `edge.vars` (both 0600).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::signal::Signal;

use crate::postgres::{Postgres, Psql};
use crate::process::{Service, run_logged, stop_all, wait_http};
use crate::secrets::{Secrets, write_private};
use crate::shutdown::Shutdown;
use crate::ui::{ROOT, note, say, shown};

/// How long the origin may take to answer `/health/` after its start (migrations included).
const ORIGIN_START_SECS: u64 = 60;
/// The same for `wrangler dev`, whose cold start takes seconds on two busy cores.
const EDGE_START_SECS: u64 = 90;

/// The ports the stack listens on, all on 127.0.0.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub edge: u16,
    pub origin: u16,
    pub postgres: u16,
    pub smtp: u16,
    pub inbox: u16,
    /// workerd's inspector (for Chrome's developer tools).
    pub inspector: u16,
    /// The fake Stripe API (`stripe-fake`).
    pub stripe: u16,
    /// The origin's operator page (the job queues).
    pub operator: u16,
}

impl Ports {
    /// `./dev run`'s ports, the ones the README and `.dev.vars.example` name.
    pub const RUN: Self = Self {
        edge: 8787,
        origin: 8700,
        postgres: 54329,
        smtp: 1025,
        inbox: 1080,
        inspector: 9229,
        stripe: 12111,
        operator: 8701,
    };

    /// Ports nothing listens on right now, so that a running `./dev run` or another test run is
    /// never in the way. All eight are held open together while choosing, so they differ.
    pub fn free() -> Result<Self> {
        let listeners = (0..8)
            .map(|_| TcpListener::bind(("127.0.0.1", 0)))
            .collect::<std::io::Result<Vec<_>>>()
            .context("finding free ports")?;
        let ports = listeners
            .iter()
            .map(|listener| listener.local_addr().map(|addr| addr.port()))
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Self {
            edge: ports[0],
            origin: ports[1],
            postgres: ports[2],
            smtp: ports[3],
            inbox: ports[4],
            inspector: ports[5],
            stripe: ports[6],
            operator: ports[7],
        })
    }
}

/// What differs between the stacks of `run`, `test` and `bench`.
#[derive(Debug, Clone)]
pub struct Options {
    /// The origin binary (`bench` runs a release build).
    pub origin_bin: PathBuf,
    /// Extra `NAME:VALUE` variables for the edge, passed as `wrangler dev --var`.
    pub wrangler_vars: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            origin_bin: ROOT.join("target/debug/origin-worker"),
            wrangler_vars: RELAXED_LIMITS.iter().map(|&var| var.to_owned()).collect(),
        }
    }
}

/// Rate limits no local stack reaches (the tests, chaos, parity and the soak send thousands of
/// requests from one address), so every request still goes through the limiter and its
/// Durable Object. The throttling tests set their own; `--wrangler-var` overrides these. And
/// an orphan sweep that takes blobs a few seconds old, not a day (the attachments' tests put
/// one and sweep it; locally nothing else uploads while they run).
pub const RELAXED_LIMITS: &[&str] = &[
    "THROTTLE_RATE_ANON:1000000/day",
    "THROTTLE_RATE_USER:1000000/day",
    "THROTTLE_RATE_BURST:1000000/min",
    "THROTTLE_RATE_CREDENTIALS:1000000/min",
    "ORPHAN_MIN_AGE_SECS:3",
];

/// The addresses and credentials of a stack: everything its users are told.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub data: PathBuf,
    pub ports: Ports,
    pub secrets: Secrets,
    pub origin_bin: PathBuf,
}

impl Endpoints {
    pub fn edge_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.edge)
    }

    pub fn origin_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.origin)
    }

    pub fn stripe_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.ports.stripe)
    }

    pub fn database_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/app", self.ports.postgres)
    }

    pub fn logs(&self) -> PathBuf {
        self.data.join("logs")
    }

    /// Copies the log folder to `into` (replacing what an earlier run left there), so that the
    /// logs outlive the run's temporary folder.
    pub fn keep_logs(&self, into: &Path) -> Result<()> {
        if into.exists() {
            std::fs::remove_dir_all(into)?;
        }
        std::fs::create_dir_all(into)?;
        for entry in std::fs::read_dir(self.logs())? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                std::fs::copy(entry.path(), into.join(entry.file_name()))?;
            }
        }
        Ok(())
    }

    /// The variables the tests read (`tests/src/lib.rs`, `tests/tests/operator.rs`, the
    /// origin's test support), and `bench` too.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let path = |p: &Path| p.display().to_string();
        vec![
            ("E2E_EDGE_URL", self.edge_url()),
            ("E2E_ORIGIN_URL", self.origin_url()),
            (
                "E2E_ORIGIN_SECRET",
                self.secrets.origin_shared_secret.clone(),
            ),
            ("E2E_JWT_SIGNING_KEY", self.secrets.jwt_signing_key.clone()),
            ("E2E_DATABASE_URL", self.database_url()),
            ("E2E_LOG_DIR", path(&self.logs())),
            ("E2E_D1_DIR", path(&self.data.join("wrangler"))),
            ("E2E_DATA_DIR", path(&self.data)),
            ("E2E_ROOT", path(&ROOT)),
            ("E2E_ORIGIN_BIN", path(&self.origin_bin)),
            ("ORIGIN_TEST_DATABASE_URL", self.database_url()),
            ("E2E_STRIPE_URL", self.stripe_url()),
            (
                "E2E_STRIPE_WEBHOOK_SECRET",
                self.secrets.stripe_webhook_secret.clone(),
            ),
            ("E2E_SMTP_PORT", self.ports.smtp.to_string()),
            (
                "E2E_INBOX_URL",
                format!("http://127.0.0.1:{}", self.ports.inbox),
            ),
            // With the ones above, what an origin identical to the stack's needs (the tests
            // that crash one run their own: `tests/tests/origin_control.rs`).
            (
                "E2E_ORIGIN_LISTEN",
                format!("127.0.0.1:{}", self.ports.origin),
            ),
            (
                "E2E_STRIPE_SECRET_KEY",
                self.secrets.stripe_secret_key.clone(),
            ),
        ]
    }
}

/// A running stack. Dropping it stops everything it started.
#[derive(Debug)]
pub struct Stack {
    endpoints: Endpoints,
    /// The edge's extra variables, for a restart of `wrangler dev`.
    wrangler_vars: Vec<String>,
    /// In start order; all stopped together.
    services: Vec<Service>,
    /// Where the origin and the edge are in `services`.
    origin: usize,
    edge: usize,
    postgres: Option<Postgres>,
}

/// The services of a stack that can be restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Origin,
    Edge,
}

impl Stack {
    /// Starts the stack on `data` and waits until the origin, the edge and the inbox answer.
    pub async fn start(
        data: &Path,
        ports: Ports,
        options: Options,
        shutdown: &Shutdown,
    ) -> Result<Self> {
        let logs = data.join("logs");
        std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", shown(&logs)))?;
        if !options.origin_bin.is_file() {
            bail!(
                "{} is missing: build it first (cargo build -p origin-worker)",
                shown(&options.origin_bin)
            );
        }
        let mut stack = Self {
            endpoints: Endpoints {
                data: data.to_path_buf(),
                ports,
                secrets: Secrets::load_or_create(data)?,
                origin_bin: options.origin_bin,
            },
            wrangler_vars: options.wrangler_vars,
            services: Vec::new(),
            origin: 0,
            edge: 0,
            postgres: None,
        };
        stack.postgres = Some(Postgres::start(&data.join("pg"), ports.postgres, shutdown).await?);

        say("Applying D1 migrations (local)");
        let config = stack_config(data)?;
        let mut migrate = wrangler(&config);
        migrate
            .args(["d1", "migrations", "apply", "DB", "--local", "--persist-to"])
            .arg(data.join("wrangler"));
        run_logged(
            "D1 migrations",
            migrate,
            &logs.join("d1-migrations.log"),
            shutdown,
        )
        .await?;

        say("Starting services");
        let inbox = stack.spawn("inbox (MailDev)", "maildev.log", stack.maildev())?;
        let stripe = stack.spawn("fake Stripe", "stripe-fake.log", stack.stripe_fake()?)?;
        let origin = stack.spawn("origin worker", "origin.log", stack.origin())?;
        let edge_launched = Instant::now();
        let edge = stack.edge()?;
        let edge = stack.spawn("edge (wrangler dev)", "edge.log", edge)?;
        (stack.origin, stack.edge) = (origin, edge);

        stack
            .wait_ready(
                origin,
                ports.origin,
                "/health/",
                ORIGIN_START_SECS,
                shutdown,
            )
            .await?;
        stack
            .wait_ready(edge, ports.edge, "/health/", EDGE_START_SECS, shutdown)
            .await?;
        note(format!(
            "edge cold start: {} s from launching wrangler dev",
            edge_launched.elapsed().as_secs()
        ));
        stack
            .wait_ready(inbox, ports.inbox, "/", 30, shutdown)
            .await?;
        stack
            .wait_ready(stripe, ports.stripe, "/_fake/events", 30, shutdown)
            .await?;
        Ok(stack)
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// A client for the stack's database `app`.
    pub fn psql(&self) -> Result<Psql> {
        Ok(self.running_postgres()?.client())
    }

    fn running_postgres(&self) -> Result<&Postgres> {
        self.postgres
            .as_ref()
            .context("this stack has no Postgres (it failed to start)")
    }

    /// The process group ids of the origin and the edge (`wrangler dev`: npx, node, workerd),
    /// and the postmaster's pid while Postgres runs: whose memory the soak measures.
    pub fn pids(&self) -> (i32, i32, Option<i32>) {
        (
            self.services[self.origin].group_id(),
            self.services[self.edge].group_id(),
            self.postgres.as_ref().and_then(Postgres::postmaster_pid),
        )
    }

    /// Stops Postgres (fast: connections are cut, open transactions roll back).
    pub async fn stop_postgres(&self, shutdown: &Shutdown) -> Result<()> {
        self.running_postgres()?.stop_server(shutdown).await
    }

    /// Starts Postgres again, on the same port and cluster, and waits until it accepts.
    pub async fn start_postgres(&self, shutdown: &Shutdown) -> Result<()> {
        self.running_postgres()?.start_server(shutdown).await
    }

    /// Stops a service with `signal` (SIGKILL: a crash; SIGTERM: a graceful stop, SIGKILL after
    /// the grace period) and waits until its whole process group is gone.
    pub async fn stop_service(&mut self, part: Part, signal: Signal) {
        let index = self.index(part);
        self.services[index].stop(signal).await;
    }

    /// The edge's extra variables from its next (re)start on: `wrangler dev` keeps the last of
    /// a name, so these win over the defaults.
    pub fn add_wrangler_vars(&mut self, vars: &[&str]) {
        self.wrangler_vars
            .extend(vars.iter().map(|&var| var.to_owned()));
    }

    /// Starts a stopped service again with the command it started with (same ports, data and
    /// log, appended to), and waits until it answers `/health/`.
    pub async fn restart_service(&mut self, part: Part, shutdown: &Shutdown) -> Result<()> {
        let (command, listening, limit) = match part {
            Part::Origin => (
                self.origin(),
                self.endpoints.ports.origin,
                ORIGIN_START_SECS,
            ),
            Part::Edge => (self.edge()?, self.endpoints.ports.edge, EDGE_START_SECS),
        };
        let index = self.index(part);
        self.services[index].respawn(command)?;
        self.wait_ready(index, listening, "/health/", limit, shutdown)
            .await
    }

    fn index(&self, part: Part) -> usize {
        match part {
            Part::Origin => self.origin,
            Part::Edge => self.edge,
        }
    }

    /// Waits until a signal (`Ok`) or until a service exits (an error naming it and its log).
    pub async fn watch(&mut self, shutdown: &Shutdown) -> Result<()> {
        loop {
            for service in &mut self.services {
                if let Some(status) = service.exited() {
                    bail!(
                        "{} exited ({status}); see its log: {}",
                        service.name(),
                        shown(service.log())
                    );
                }
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = shutdown.wait() => return Ok(()),
            }
        }
    }

    /// Starts a service; returns its index in `services`.
    fn spawn(&mut self, name: &'static str, log: &str, command: Command) -> Result<usize> {
        let log = self.endpoints.logs().join(log);
        self.services.push(Service::spawn(name, &log, command)?);
        Ok(self.services.len() - 1)
    }

    async fn wait_ready(
        &mut self,
        service: usize,
        port: u16,
        path: &str,
        limit_secs: u64,
        shutdown: &Shutdown,
    ) -> Result<()> {
        wait_http(
            &mut self.services[service],
            port,
            path,
            Duration::from_secs(limit_secs),
            shutdown,
        )
        .await
    }

    fn maildev(&self) -> Command {
        let ports = self.endpoints.ports;
        let mut command = Command::new(ROOT.join("node_modules/.bin/maildev"));
        command
            .args(["--ip", "127.0.0.1", "--smtp", &ports.smtp.to_string()])
            .args(["--web", &ports.inbox.to_string(), "--silent"]);
        command
    }

    /// The fake Stripe, signing its webhooks for the edge's `/webhooks/stripe/`. Its key and
    /// secret go through its environment, like the origin's.
    fn stripe_fake(&self) -> Result<Command> {
        let endpoints = &self.endpoints;
        let binary = ROOT.join("target/debug/stripe-fake");
        if !binary.is_file() {
            bail!(
                "{} is missing: build it first (cargo build -p stripe-fake)",
                shown(&binary)
            );
        }
        let mut command = Command::new(binary);
        command
            .env(
                "STRIPE_FAKE_LISTEN",
                format!("127.0.0.1:{}", endpoints.ports.stripe),
            )
            .env("STRIPE_FAKE_API_KEYS", &endpoints.secrets.stripe_secret_key)
            .env(
                "STRIPE_FAKE_WEBHOOK_URL",
                format!("{}/webhooks/stripe/", endpoints.edge_url()),
            )
            .env(
                "STRIPE_FAKE_WEBHOOK_SECRETS",
                &endpoints.secrets.stripe_webhook_secret,
            );
        Ok(command)
    }

    /// The origin, configured through its environment: the secrets stay off its command line.
    /// It inherits xtask's environment, so `RUST_LOG`, `REPLICATION_SWEEP_SECS` or
    /// `ACCESS_TOKEN_LIFETIME_SECS` set by the caller reach it.
    fn origin(&self) -> Command {
        let mut command = self.origin_command();
        command.arg("serve");
        command
    }

    /// An operator command of the origin (`products seed-demo`, …) with the stack's
    /// configuration; its output goes to `logs/<log>`.
    pub async fn run_origin(&self, args: &[&str], log: &str, shutdown: &Shutdown) -> Result<()> {
        let mut command = self.origin_command();
        command.args(args);
        let what = format!("origin-worker {}", args.join(" "));
        run_logged(&what, command, &self.endpoints.logs().join(log), shutdown).await
    }

    /// The origin binary with the stack's environment, no subcommand yet.
    fn origin_command(&self) -> Command {
        let endpoints = &self.endpoints;
        let mut command = Command::new(&endpoints.origin_bin);
        command
            .env("ENVIRONMENT", "development")
            // Within the grace xtask gives a stopped service before SIGKILL (process::GRACE),
            // so a stop always ends with the origin's jobs given back.
            .env("SHUTDOWN_DEADLINE_SECS", "3")
            .env("DATABASE_URL", endpoints.database_url())
            .env(
                "LISTEN_ADDR",
                format!("127.0.0.1:{}", endpoints.ports.origin),
            )
            .env("EDGE_URL", endpoints.edge_url())
            .env(
                "SMTP_URL",
                format!("smtp://127.0.0.1:{}", endpoints.ports.smtp),
            )
            .env("STRIPE_API_BASE", endpoints.stripe_url())
            .env(
                "OPERATOR_LISTEN_ADDR",
                format!("127.0.0.1:{}", endpoints.ports.operator),
            )
            .envs(endpoints.secrets.origin_vars());
        for (name, default) in [
            ("REPLICATION_SWEEP_SECS", "5"),
            ("RUST_LOG", "info,sqlx=warn,apalis=warn"),
        ] {
            if std::env::var_os(name).is_none() {
                command.env(name, default);
            }
        }
        command
    }

    /// `wrangler dev` on the prebuilt wasm. The secrets go in a 0600 file passed with
    /// `--env-file`: given that flag, wrangler (4.x) reads the worker's secrets from the files
    /// named and no longer from a `.dev.vars` in the project, so one written for
    /// `npx wrangler dev` by hand cannot get in the way. The rest are plain `--var`s, which
    /// take precedence over both.
    fn edge(&self) -> Result<Command> {
        let endpoints = &self.endpoints;
        let vars_file = endpoints.data.join("edge.vars");
        write_private(&vars_file, &endpoints.secrets.vars())?;
        let mut command = wrangler(&endpoints.data.join("wrangler.toml"));
        command
            .env("SKIP_WORKER_BUILD", "1")
            // The default, stated: `false` would make wrangler skip the file below.
            .env("CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV", "true")
            .args(["dev", "--local", "--ip", "127.0.0.1"])
            .args(["--port", &endpoints.ports.edge.to_string()])
            .args(["--inspector-port", &endpoints.ports.inspector.to_string()])
            .arg("--persist-to")
            .arg(endpoints.data.join("wrangler"))
            .arg("--show-interactive-dev-session=false")
            .arg("--env-file")
            .arg(&vars_file)
            .args(["--var", "ENVIRONMENT:development"])
            .arg("--var")
            .arg(format!("ORIGIN_URL:{}", endpoints.origin_url()));
        for var in &self.wrangler_vars {
            command.arg("--var").arg(var);
        }
        Ok(command)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        say("Stopping the stack");
        // The services first: the origin holds connections to Postgres.
        stop_all(&mut self.services);
        drop(self.postgres.take());
    }
}

/// `npx --no-install wrangler` in the workspace root (where `wrangler.toml` is), without
/// metrics or network fetches.
fn wrangler(config: &Path) -> Command {
    let mut command = Command::new("npx");
    command
        .current_dir(&*ROOT)
        .args(["--no-install", "wrangler"])
        .env("WRANGLER_SEND_METRICS", "false")
        .env("CLOUDFLARE_CF_FETCH_ENABLED", "false");
    command.arg("--config").arg(config);
    command
}

/// The project's `wrangler.toml` as a stack runs it, written into its data folder: without the
/// `[build]` section, whose `watch_dir` makes `wrangler dev` reload the worker whenever a source
/// file is saved (mid-test, a request then gets a 503 "worker restarted mid-request"; a stack
/// runs the wasm built before it started anyway), and with its paths made absolute.
fn stack_config(data: &Path) -> Result<PathBuf> {
    let source = ROOT.join("wrangler.toml");
    let text =
        std::fs::read_to_string(&source).with_context(|| format!("reading {}", shown(&source)))?;
    let config = without_build(&text, &ROOT)?;
    let written = data.join("wrangler.toml");
    std::fs::write(&written, config).with_context(|| format!("writing {}", shown(&written)))?;
    Ok(written)
}

fn without_build(text: &str, root: &Path) -> Result<String> {
    let mut config: toml::Table = toml::from_str(text).context("parsing wrangler.toml")?;
    config.remove("build");
    let absolute = |value: &mut toml::Value| {
        if let Some(relative) = value.as_str() {
            *value = toml::Value::String(root.join(relative).display().to_string());
        }
    };
    if let Some(main) = config.get_mut("main") {
        absolute(main);
    }
    for database in config
        .get_mut("d1_databases")
        .and_then(toml::Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(dir) = database.get_mut("migrations_dir") {
            absolute(dir);
        }
    }
    // The static assets (the API docs, built into edge/build/assets/).
    if let Some(dir) = config
        .get_mut("assets")
        .and_then(|assets| assets.get_mut("directory"))
    {
        absolute(dir);
    }
    toml::to_string(&config).context("writing the stack's wrangler.toml")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints() -> Endpoints {
        Endpoints {
            data: PathBuf::from("/tmp/ptb-test.abc"),
            ports: Ports {
                edge: 40001,
                origin: 40002,
                postgres: 40003,
                smtp: 40004,
                inbox: 40005,
                inspector: 40006,
                stripe: 40007,
                operator: 40008,
            },
            secrets: Secrets {
                origin_shared_secret: "s3cret".to_owned(),
                jwt_signing_key: "k3y".to_owned(),
                stripe_secret_key: "sk_test_x".to_owned(),
                stripe_webhook_secret: "whsec_y".to_owned(),
            },
            origin_bin: PathBuf::from("/w/target/release/origin-worker"),
        }
    }

    #[test]
    fn a_stack_runs_the_config_without_its_build_watch_and_with_absolute_paths() {
        let text = "name = \"w\"\nmain = \"edge/build/index.js\"\n[build]\ncommand = \"x\"\n\
                    watch_dir = [\"edge/src\"]\n[vars]\nA = \"1\"\n[[d1_databases]]\n\
                    binding = \"DB\"\nmigrations_dir = \"migrations/d1\"\n";
        let config: toml::Table =
            toml::from_str(&without_build(text, Path::new("/w")).unwrap()).unwrap();
        assert!(!config.contains_key("build"));
        assert_eq!(config["main"].as_str(), Some("/w/edge/build/index.js"));
        assert_eq!(
            config["d1_databases"][0]["migrations_dir"].as_str(),
            Some("/w/migrations/d1")
        );
        assert_eq!(config["vars"]["A"].as_str(), Some("1"));
        // The project's own file parses, and keeps its bindings.
        let ours = std::fs::read_to_string(ROOT.join("wrangler.toml")).unwrap();
        assert!(
            without_build(&ours, &ROOT)
                .unwrap()
                .contains("d1_databases")
        );
    }

    #[test]
    fn a_stack_serves_the_static_assets_from_an_absolute_directory() {
        let text = "main = \"edge/build/index.js\"\n[assets]\ndirectory = \"edge/build/assets\"\n\
                    html_handling = \"auto-trailing-slash\"\n";
        let config: toml::Table =
            toml::from_str(&without_build(text, Path::new("/w")).unwrap()).unwrap();
        assert_eq!(
            config["assets"]["directory"].as_str(),
            Some("/w/edge/build/assets")
        );
        assert_eq!(
            config["assets"]["html_handling"].as_str(),
            Some("auto-trailing-slash"),
            "the other settings stay as they are"
        );
        // The project's own file: its assets folder, made absolute.
        let ours = std::fs::read_to_string(ROOT.join("wrangler.toml")).unwrap();
        let config: toml::Table = toml::from_str(&without_build(&ours, &ROOT).unwrap()).unwrap();
        assert_eq!(
            config["assets"]["directory"].as_str().map(PathBuf::from),
            Some(ROOT.join("edge/build/assets"))
        );
    }

    #[test]
    fn tells_the_tests_where_everything_is() {
        let env = endpoints().env();
        let get = |name: &str| {
            env.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.as_str())
        };
        assert_eq!(get("E2E_EDGE_URL"), Some("http://127.0.0.1:40001"));
        assert_eq!(get("E2E_ORIGIN_URL"), Some("http://127.0.0.1:40002"));
        assert_eq!(get("E2E_ORIGIN_SECRET"), Some("s3cret"));
        assert_eq!(get("E2E_JWT_SIGNING_KEY"), Some("k3y"));
        let database = Some("postgres://postgres@127.0.0.1:40003/app");
        assert_eq!(get("E2E_DATABASE_URL"), database);
        assert_eq!(get("ORIGIN_TEST_DATABASE_URL"), database);
        assert_eq!(get("E2E_LOG_DIR"), Some("/tmp/ptb-test.abc/logs"));
        assert_eq!(get("E2E_D1_DIR"), Some("/tmp/ptb-test.abc/wrangler"));
        assert_eq!(get("E2E_DATA_DIR"), Some("/tmp/ptb-test.abc"));
        assert_eq!(
            get("E2E_ORIGIN_BIN"),
            Some("/w/target/release/origin-worker")
        );
        assert_eq!(get("E2E_ROOT"), Some(ROOT.to_str().unwrap()));
        assert_eq!(get("E2E_STRIPE_URL"), Some("http://127.0.0.1:40007/"));
        assert_eq!(get("E2E_STRIPE_WEBHOOK_SECRET"), Some("whsec_y"));
        assert_eq!(get("E2E_STRIPE_SECRET_KEY"), Some("sk_test_x"));
        assert_eq!(get("E2E_ORIGIN_LISTEN"), Some("127.0.0.1:40002"));
        assert_eq!(get("E2E_SMTP_PORT"), Some("40004"));
        // Each name once: a duplicate would silently win or lose in `Command::envs`.
        let mut names: Vec<_> = env.iter().map(|(name, _)| *name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), env.len());
    }

    #[test]
    fn free_ports_are_distinct() {
        let ports = Ports::free().unwrap();
        let mut all = [
            ports.edge,
            ports.origin,
            ports.postgres,
            ports.smtp,
            ports.inbox,
            ports.inspector,
            ports.stripe,
            ports.operator,
        ];
        all.sort_unstable();
        assert!(all.windows(2).all(|pair| pair[0] != pair[1]));
        assert!(all[0] > 0);
    }

    #[test]
    fn secrets_stay_off_the_command_lines() {
        let dir = crate::tempdir::TempDir::new("xtask-stack").unwrap();
        let stack = Stack {
            endpoints: Endpoints {
                data: dir.path().to_path_buf(),
                ..endpoints()
            },
            wrangler_vars: vec!["EXTRA:1".to_owned()],
            services: Vec::new(),
            origin: 0,
            edge: 0,
            postgres: None,
        };
        let origin = stack.origin();
        let edge = stack.edge().unwrap();
        for command in [&origin, &edge] {
            let line = command
                .get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ");
            assert!(!line.contains("s3cret") && !line.contains("k3y"), "{line}");
        }
        let vars = std::fs::read_to_string(dir.path().join("edge.vars")).unwrap();
        assert_eq!(vars, "ORIGIN_SHARED_SECRET=s3cret\nJWT_SIGNING_KEY=k3y\n");
        assert!(edge.get_args().any(|a| a == "EXTRA:1"));
    }
}
