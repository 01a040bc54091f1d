#!/usr/bin/env bash
# Builds the two wasm packages the page chooses between (web/wasm.js, by feature detection):
#   web/pkg/          SIMD128 — runs in every browser with wasm SIMD; with the TypeScript
#                     declarations of the wasm-bindgen types (they ship in the npm package);
#   web/pkg/relaxed/  SIMD128 + relaxed SIMD (the Q4 × Q8 dot product in one instruction).
# SIMD128 and the getrandom backend come from .cargo/config.toml (an environment RUSTFLAGS
# would replace them, so it is cleared here); the relaxed build restates both plus
# +relaxed-simd, in its own target directory so the two builds never invalidate each other.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/steerscope/target}"
unset RUSTFLAGS
cargo build -p steerscope-wasm --target wasm32-unknown-unknown --profile wasm
wasm-bindgen --target web --out-dir web/pkg \
  "$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm/steerscope_wasm.wasm"

relaxed_dir="$CARGO_TARGET_DIR/wasm-relaxed"
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS='-C target-feature=+simd128,+relaxed-simd --cfg getrandom_backend="wasm_js"' \
  cargo build -p steerscope-wasm --target wasm32-unknown-unknown --profile wasm --target-dir "$relaxed_dir"
wasm-bindgen --target web --no-typescript --out-dir web/pkg/relaxed \
  "$relaxed_dir/wasm32-unknown-unknown/wasm/steerscope_wasm.wasm"
ls -l web/pkg web/pkg/relaxed
