#!/usr/bin/env bash
# Every test: set-up, the no_std build, all Rust tests (parity, steering, bad input, mutation,
# attention lab), the wasm build and the browser tests in Debian's chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/steerscope/target}"
bash tests/setup.sh --browser

echo "== core builds as no_std + alloc (thumbv7em-none-eabihf has no std at all)"
cargo build -p steerscope --no-default-features --target thumbv7em-none-eabihf

echo "== the core's unit tests as wasm32 + SIMD128 (the browser's kernels), under Node's WASI"
CARGO_TARGET_WASM32_WASIP1_RUNNER="node --no-warnings $PWD/tests/wasi-runner.mjs" \
  cargo test -p steerscope --no-default-features --lib --target wasm32-wasip1

echo "== Rust tests"
cargo test --release -p steerscope

echo "== attention lab: every architecture end to end on its smallest setting"
cargo run --release -q -p steerscope -- compose experiment --quick --out "$CARGO_TARGET_DIR/compose-quick"

echo "== browser: wasm build + Playwright in chromium"
bash web/build.sh

# ---- the page (issues 13, 15, 12.5): its JavaScript under TypeScript's checker (JSDoc, strict),
# the precomputed first-paint files against a live recomputation in wasm, then the browser tests
# (which include npm pack → install → tsc → run).
echo "== page: tsc --checkJs (strict) over web/"
(cd web && npm run --silent check)
echo "== page: precomputed files equal a live recomputation (wasm in Node)"
STEERSCOPE_REQUIRE_BROWSER=1 node --test tests/node/precomputed.test.mjs
# ---- end of the page's block

STEERSCOPE_REQUIRE_BROWSER=1 node --test tests/browser/
