//! The Worker's wasm: `edge` linked as a cdylib, so that `#[event]` and `#[durable_object]`
//! exports (defined in `edge::wasm`) land in one module that LTO sees whole.
//!
//! `edge` is an rlib for its native tests; a cdylib + rlib crate gets no LTO from cargo, which
//! is why this crate exists. `scripts/build-edge.sh` runs worker-build here, writing to
//! `edge/build/`.

// Linked for its exports; nothing here calls it.
use edge as _;
