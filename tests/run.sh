#!/usr/bin/env bash
# Every test: set-up, house rules (fmt, clippy, rustdoc), the no_std build, all Rust tests (parity,
# steering, sweep session, layering, bad input, mutation, attention lab) with the doctests, the
# examples, the wasm build, native-vs-wasm parity in Node and the browser tests in Debian's chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/steerscope/target}"
# Each section's start, as time since the run began: where a slow CI spends its minutes.
section() { printf '== [%d:%02d] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }
trap 'section "done (exit $?)"' EXIT
bash tests/setup.sh --browser

section "house rules: rustfmt, clippy and rustdoc (every doc link resolves) with no findings"
cargo fmt --all --check
cargo clippy --release --workspace --all-targets -- -D warnings
cargo clippy --release -p steerscope --all-targets --features gpu -- -D warnings
# --release: rustdoc then reads the dependencies clippy just checked instead of checking them again.
RUSTDOCFLAGS="-D warnings" cargo doc --release --no-deps -p steerscope
RUSTDOCFLAGS="-D warnings" cargo doc --release --no-deps -p steerscope --features gpu

section "core builds as no_std + alloc (thumbv7em-none-eabihf has no std at all)"
cargo build -p steerscope --no-default-features --target thumbv7em-none-eabihf

section "the core's unit tests as wasm32 + SIMD128 (the browser's kernels), under Node's WASI"
CARGO_TARGET_WASM32_WASIP1_RUNNER="node --no-warnings $PWD/tests/wasi-runner.mjs" \
  cargo test -p steerscope --no-default-features --lib --target wasm32-wasip1

section "the kernels' exactness tests again with relaxed SIMD (the page's second build; Node 20 runs it behind a flag)"
CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS='-C target-feature=+simd128,+relaxed-simd' \
  CARGO_TARGET_WASM32_WASIP1_RUNNER="node --no-warnings --experimental-wasm-relaxed-simd $PWD/tests/wasi-runner.mjs" \
  cargo test -p steerscope --no-default-features --lib --target wasm32-wasip1 --target-dir "$CARGO_TARGET_DIR/wasi-relaxed" kernels

section "Rust tests"
cargo test --release -p steerscope

section "the examples the crate docs point to (the way in, run on the real model)"
cargo run --release -q -p steerscope --example steer
cargo run --release -q -p steerscope --example lab

section "GPU backend (feature gpu): every WGSL kernel, the tiny and the real model (logits, steering, scoring, sweep points), device loss, bad input, the CLI's --backend — on lavapipe (software Vulkan)"
WGPU_BACKEND=vulkan STEERSCOPE_REQUIRE_GPU=1 cargo test --release -p steerscope --features gpu --test gpu

section "attention lab: every architecture end to end on its smallest setting"
cargo run --release -q -p steerscope -- compose experiment --quick --out "$CARGO_TARGET_DIR/compose-quick"

section "browser: wasm build + Playwright in chromium"
bash web/build.sh
section "page: tsc --checkJs (strict) over web/"
(cd web && npm run --silent check)
section "Node: URL-hash parser under mutation; precomputed first-paint files equal a live recomputation (wasm)"
STEERSCOPE_REQUIRE_BROWSER=1 node --test tests/node/
section "browser: the page, the elements, the npm package (pack, install, tsc, run)"
STEERSCOPE_REQUIRE_BROWSER=1 node --test tests/browser/
