# Shared by ./dev: installing what is missing, a private Postgres cluster, background services.
# Every step is idempotent and quick when its work is already done.

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORKER_BUILD_VERSION=0.8.7

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
note() { printf '    %s\n' "$*" >&2; }
die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# --- installing ---------------------------------------------------------------------------

ensure_wasm_target() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "Adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
}

# ensure_cargo_tool CRATE VERSION BINARY [--locked]
ensure_cargo_tool() {
  local crate="$1" version="$2" binary="$3" locked="${4:-}"
  if "$binary" --version 2>/dev/null | grep -qF "$version"; then return; fi
  say "Installing $crate $version (once; a few minutes on 2 cores)"
  cargo install $locked --quiet "$crate" --version "$version"
}

wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$root/Cargo.lock"
}

ensure_npm_packages() {
  local stamp="$root/node_modules/.package-lock.json"
  if [[ ! -f "$stamp" || "$root/package-lock.json" -nt "$stamp" ]]; then
    say "Installing npm packages from package-lock.json"
    # `npm install`, not `npm ci`: the registry mirror here lacks the macOS/Windows builds of
    # workerd, so the lock has no entries for them and `npm ci` refuses it as out of sync.
    # With the lock present, `npm install` installs exactly the locked versions.
    (cd "$root" && npm install --no-audit --no-fund --loglevel=error)
  fi
}

pg_bin=""
ensure_postgres() {
  pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [[ -z "$pg_bin" || ! -x "$pg_bin/pg_ctl" ]]; then
    say "Installing PostgreSQL server binaries (apt)"
    if [[ $(id -u) -eq 0 ]]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else
      sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  fi
}

ensure_tools() {
  command -v cargo >/dev/null || die "cargo is missing: install Rust with rustup first"
  command -v npm >/dev/null || die "npm is missing: install Node.js 20+ first"
  ensure_wasm_target
  ensure_cargo_tool worker-build "$WORKER_BUILD_VERSION" "$HOME/.cargo/bin/worker-build" --locked
  # wasm-bindgen-cli must match the wasm-bindgen in Cargo.lock exactly. Not --locked: its lock
  # pins a webpki-roots release the registry mirror lacks.
  ensure_cargo_tool wasm-bindgen-cli "$(wasm_bindgen_version)" "$HOME/.cargo/bin/wasm-bindgen"
  if ! command -v cargo-nextest >/dev/null; then
    say "Installing cargo-nextest"
    cargo install --locked --quiet cargo-nextest
  fi
  ensure_npm_packages
  ensure_postgres
}

# --- building -----------------------------------------------------------------------------

build_all() {
  say "Building the origin worker"
  (cd "$root" && cargo build --quiet -p origin-worker)
  say "Building the edge (wasm)"
  local started=$SECONDS
  "$root/scripts/build-edge.sh" >"$root/.data/build-edge.log" 2>&1 \
    || { tail -n 30 "$root/.data/build-edge.log" >&2; die "the edge build failed (log: .data/build-edge.log)"; }
  local wasm="$root/edge/build/index_bg.wasm"
  note "edge wasm: $(stat -c %s "$wasm") bytes raw, $(gzip -9 -c "$wasm" | wc -c) gzip ($((SECONDS - started)) s)"
}

# --- Postgres -----------------------------------------------------------------------------

# pg_as CMD...: runs a server binary as an unprivileged user (initdb refuses root).
pg_as() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# pg_up DIR PORT: initialises (once) and starts a private cluster; creates database `app`.
pg_up() {
  local dir="$1" port="$2"
  mkdir -p "$dir"
  [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
  if [[ ! -f "$dir/data/PG_VERSION" ]]; then
    say "Initialising a private Postgres cluster in ${dir#"$root"/}"
    pg_as "$pg_bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  fi
  if ! pg_as "$pg_bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    pg_as "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null \
      || { tail -n 20 "$dir/postgres.log" >&2; die "Postgres did not start (log: $dir/postgres.log)"; }
  fi
  if ! pg_as "$pg_bin/psql" -h "$dir" -p "$port" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'app'" | grep -q 1; then
    pg_as "$pg_bin/psql" -h "$dir" -p "$port" -U postgres -qc "CREATE DATABASE app" >/dev/null
  fi
}

pg_down() {
  local dir="$1"
  if [[ -f "$dir/data/postmaster.pid" ]]; then
    pg_as "$pg_bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
}

# --- background services ------------------------------------------------------------------

service_pids=()
cleanup_hooks=()

# start_service NAME LOGFILE CMD...: runs CMD in its own process group, output to LOGFILE.
start_service() {
  local name="$1" log="$2"; shift 2
  setsid "$@" </dev/null >"$log" 2>&1 &
  service_pids+=("$!")
  note "$name started (pid $!, log ${log#"$root"/})"
}

stop_services() {
  local pid
  for pid in "${service_pids[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  for pid in "${service_pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  service_pids=()
  local hook
  for hook in "${cleanup_hooks[@]}"; do eval "$hook"; done
  cleanup_hooks=()
}

# wait_http NAME URL SECONDS: waits until URL answers 200.
wait_http() {
  local name="$1" url="$2" limit="$3" started=$SECONDS
  until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
    if (( SECONDS - started > limit )); then die "$name did not answer at $url within ${limit}s"; fi
    sleep 0.2
  done
  note "$name ready after $((SECONDS - started)) s ($url)"
}

# free_port: a TCP port nothing listens on right now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# local_secrets DIR: generated once per data folder, never committed.
local_secrets() {
  local file="$1/secrets.env"
  if [[ ! -f "$file" ]]; then
    mkdir -p "$1"
    {
      echo "ORIGIN_SHARED_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
      echo "JWT_SIGNING_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    } >"$file"
    chmod 600 "$file"
  fi
  # shellcheck disable=SC1090
  source "$file"
}

# start_stack DATA_DIR EDGE_PORT ORIGIN_PORT PG_PORT SMTP_PORT INBOX_PORT INSPECTOR_PORT
start_stack() {
  local data="$1" edge_port="$2" origin_port="$3" pg_port="$4" smtp_port="$5" inbox_port="$6" inspector_port="$7"
  mkdir -p "$data/logs"
  local_secrets "$data"
  pg_up "$data/pg" "$pg_port"
  export STACK_DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/app"

  say "Applying D1 migrations (local)"
  (cd "$root" && WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false \
    npx --no-install wrangler d1 migrations apply DB --local --persist-to "$data/wrangler" \
    </dev/null >"$data/logs/d1-migrations.log" 2>&1) \
    || { tail -n 20 "$data/logs/d1-migrations.log" >&2; die "D1 migrations failed"; }

  say "Starting services"
  start_service "inbox (MailDev)" "$data/logs/maildev.log" \
    "$root/node_modules/.bin/maildev" --ip 127.0.0.1 --smtp "$smtp_port" --web "$inbox_port" --silent
  start_service "origin worker" "$data/logs/origin.log" env \
    ENVIRONMENT=development \
    DATABASE_URL="$STACK_DATABASE_URL" \
    LISTEN_ADDR="127.0.0.1:$origin_port" \
    EDGE_URL="http://127.0.0.1:$edge_port" \
    ORIGIN_SHARED_SECRET="$ORIGIN_SHARED_SECRET" \
    JWT_SIGNING_KEY="$JWT_SIGNING_KEY" \
    SMTP_URL="smtp://127.0.0.1:$smtp_port" \
    REPLICATION_SWEEP_SECS="${REPLICATION_SWEEP_SECS:-5}" \
    RUST_LOG="${RUST_LOG:-info,sqlx=warn,apalis=warn}" \
    ${ACCESS_TOKEN_LIFETIME_SECS:+ACCESS_TOKEN_LIFETIME_SECS=$ACCESS_TOKEN_LIFETIME_SECS} \
    "${ORIGIN_BIN:-$root/target/debug/origin-worker}" serve
  local started=$SECONDS
  start_service "edge (wrangler dev)" "$data/logs/edge.log" env \
    SKIP_WORKER_BUILD=1 WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false \
    bash -c 'cd "$0" && exec npx --no-install wrangler dev --local --ip 127.0.0.1 --port "$1" \
      --inspector-port "$2" --persist-to "$3" --show-interactive-dev-session=false \
      --var ENVIRONMENT:development --var ORIGIN_URL:"$4" \
      --var ORIGIN_SHARED_SECRET:"$5" --var JWT_SIGNING_KEY:"$6" ${EXTRA_WRANGLER_VARS:-}' \
    "$root" "$edge_port" "$inspector_port" "$data/wrangler" "http://127.0.0.1:$origin_port" \
    "$ORIGIN_SHARED_SECRET" "$JWT_SIGNING_KEY"
  wait_http "origin" "http://127.0.0.1:$origin_port/health/" 60
  wait_http "edge" "http://127.0.0.1:$edge_port/health/" 90
  note "edge cold start: $((SECONDS - started)) s from launching wrangler dev"
  wait_http "inbox" "http://127.0.0.1:$inbox_port/" 30
}
