# Shared by ./dev: installing what is missing, and building. Every step is idempotent and quick
# when its work is already done. Starting, waiting for and stopping processes (Postgres, D1,
# MailDev, the origin, wrangler dev) is xtask's: see xtask/src/main.rs.

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
