#!/usr/bin/env bash
# Builds the wasm package the page loads: web/pkg/steerscope_wasm{.js,_bg.wasm,.d.ts} (the
# TypeScript declarations of the wasm-bindgen types ship in the npm package).
# SIMD128 and the getrandom backend come from .cargo/config.toml (an environment RUSTFLAGS
# would replace them, so it is cleared here).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/steerscope/target}"
unset RUSTFLAGS
cargo build -p steerscope-wasm --target wasm32-unknown-unknown --profile wasm
wasm-bindgen --target web --out-dir web/pkg \
  "$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm/steerscope_wasm.wasm"
ls -l web/pkg
