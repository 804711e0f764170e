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

# apt_install PACKAGE...: Debian's packages, as root or through sudo.
apt_install() {
  if [[ $(id -u) -eq 0 ]]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  fi
}

pg_bin=""
ensure_postgres() {
  pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [[ -z "$pg_bin" || ! -x "$pg_bin/pg_ctl" ]]; then
    say "Installing PostgreSQL server binaries (apt)"
    apt_install postgresql
    pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  fi
}

# ensure_chromium: Debian's chromium, which the browser tests (tests/tests/browser.rs) drive
# headless over the DevTools protocol. Never a downloaded browser build: none can be fetched
# here, and the distribution's is the one that gets security updates.
ensure_chromium() {
  if ! command -v chromium >/dev/null; then
    say "Installing chromium for the browser tests (apt)"
    apt_install chromium
  fi
}

# ensure_schemathesis: the parity gate's fuzzer in a venv of its own (.data/venv-parity), at
# exactly the versions parity/requirements.txt pins. A copy of that file in the venv records
# what was installed; while the two agree there is nothing to do.
ensure_schemathesis() {
  local venv="$root/.data/venv-parity" pins="$root/parity/requirements.txt"
  if [[ -x "$venv/bin/schemathesis" ]] && cmp -s "$pins" "$venv/requirements.txt"; then return; fi
  command -v python3 >/dev/null || die "python3 is missing: the parity gate's fuzzer needs it"
  # Debian's python3 has `venv` without ensurepip until python3-venv is installed.
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    say "Installing python3-venv (apt)"
    apt_install python3-venv
  fi
  say "Installing schemathesis for the parity gate (pinned in parity/requirements.txt)"
  rm -rf "$venv"
  mkdir -p "$root/.data"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$pins"
  cp "$pins" "$venv/requirements.txt"
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
  ensure_chromium
  ensure_schemathesis
}

# --- building -----------------------------------------------------------------------------

build_all() {
  say "Building the origin worker and the fake Stripe"
  (cd "$root" && cargo build --quiet -p origin-worker -p stripe-fake)
  say "Building the edge (wasm)"
  local started=$SECONDS
  "$root/scripts/build-edge.sh" >"$root/.data/build-edge.log" 2>&1 \
    || { tail -n 30 "$root/.data/build-edge.log" >&2; die "the edge build failed (log: .data/build-edge.log)"; }
  local wasm="$root/edge/build/index_bg.wasm"
  note "edge wasm: $(stat -c %s "$wasm") bytes raw, $(gzip -9 -c "$wasm" | wc -c) gzip ($((SECONDS - started)) s)"
}
