#!/usr/bin/env bash
# Builds the edge's wasm with worker-build, offline: the three tools worker-build would download
# come from cargo and npm instead (see ../shared/docs/TOOLCHAIN.md).
# SKIP_WORKER_BUILD=1 keeps an existing build (./dev builds once before starting wrangler).
# The static assets (the API docs) are brought up to date first, in either case: see
# scripts/docs-assets.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/docs-assets.sh"
if [[ -n "${SKIP_WORKER_BUILD:-}" && -f "$root/edge/build/index.js" ]]; then
  echo "build-edge: using the existing edge/build"
  exit 0
fi
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$HOME/.cargo/bin/wasm-bindgen}"
export ESBUILD_BIN="${ESBUILD_BIN:-$root/node_modules/esbuild/bin/esbuild}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$root/node_modules/.bin/wasm-opt}"
cd "$root/edge-worker"
exec "${WORKER_BUILD:-$HOME/.cargo/bin/worker-build}" --release --out-dir ../edge/build
