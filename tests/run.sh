#!/usr/bin/env bash
# Every test: set-up, house rules (fmt, clippy), the no_std build, all Rust tests (parity,
# steering, sweep session, layering, bad input, mutation, attention lab) with the doctests, the
# examples, the wasm build, native-vs-wasm parity in Node and the browser tests in Debian's chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/steerscope/target}"
bash tests/setup.sh --browser

echo "== house rules: rustfmt and clippy with no findings"
cargo fmt --all --check
cargo clippy --release --workspace --all-targets -- -D warnings

echo "== core builds as no_std + alloc (thumbv7em-none-eabihf has no std at all)"
cargo build -p steerscope --no-default-features --target thumbv7em-none-eabihf

echo "== the core's unit tests as wasm32 + SIMD128 (the browser's kernels), under Node's WASI"
CARGO_TARGET_WASM32_WASIP1_RUNNER="node --no-warnings $PWD/tests/wasi-runner.mjs" \
  cargo test -p steerscope --no-default-features --lib --target wasm32-wasip1

echo "== Rust tests"
cargo test --release -p steerscope

echo "== the examples the crate docs point to (the way in, run on the real model)"
cargo run --release -q -p steerscope --example steer
cargo run --release -q -p steerscope --example lab

echo "== attention lab: every architecture end to end on its smallest setting"
cargo run --release -q -p steerscope -- compose experiment --quick --out "$CARGO_TARGET_DIR/compose-quick"

echo "== browser: wasm build + Playwright in chromium"
bash web/build.sh
STEERSCOPE_REQUIRE_BROWSER=1 node --test tests/node/
STEERSCOPE_REQUIRE_BROWSER=1 node --test tests/browser/
