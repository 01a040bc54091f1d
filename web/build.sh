#!/usr/bin/env bash
# Builds the two wasm packages the page chooses between (web/wasm.js, by feature detection):
#   web/pkg/          SIMD128 — runs in every browser with wasm SIMD; with the TypeScript
#                     declarations of the wasm-bindgen types (they ship in the npm package);
#   web/pkg/relaxed/  SIMD128 + relaxed SIMD (the Q4 × Q8 dot product in one instruction);
#                     both with the WebGPU engine (`GpuSession`, feature `gpu`: +0.1 MB gzip),
#                     which the worker probes at load and scores points on when it is faster;
#   web/pkg/threads/  SIMD128 + atomics: rayon's pool as Web Workers sharing the wasm memory,
#                     loaded by the worker when the page is cross-origin isolated and more than
#                     one thread is asked for. Threads need std rebuilt with atomics:
#                     `-Z build-std` on the stable toolchain's rust-src (RUSTC_BOOTSTRAP=1 lets
#                     stable cargo take that one unstable flag), and room for the model in a
#                     shared memory, whose maximum is fixed at link time (4 GiB, wasm32's limit).
# SIMD128 and the getrandom backend come from .cargo/config.toml (an environment RUSTFLAGS
# would replace them, so it is cleared here); the relaxed build restates both plus
# +relaxed-simd, in its own target directory so the two builds never invalidate each other.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/steerscope/target}"
unset RUSTFLAGS
cargo build -p steerscope-wasm --features gpu --target wasm32-unknown-unknown --profile wasm
wasm-bindgen --target web --out-dir web/pkg \
  "$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm/steerscope_wasm.wasm"

relaxed_dir="$CARGO_TARGET_DIR/wasm-relaxed"
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS='-C target-feature=+simd128,+relaxed-simd --cfg getrandom_backend="wasm_js"' \
  cargo build -p steerscope-wasm --features gpu --target wasm32-unknown-unknown --profile wasm --target-dir "$relaxed_dir"
wasm-bindgen --target web --no-typescript --out-dir web/pkg/relaxed \
  "$relaxed_dir/wasm32-unknown-unknown/wasm/steerscope_wasm.wasm"

threads_dir="$CARGO_TARGET_DIR/wasm-threads"
RUSTC_BOOTSTRAP=1 CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS='-C target-feature=+simd128,+atomics,+bulk-memory,+mutable-globals --cfg getrandom_backend="wasm_js" -C link-arg=--shared-memory -C link-arg=--import-memory -C link-arg=--max-memory=4294967296 -C link-arg=--export=__wasm_init_tls -C link-arg=--export=__tls_size -C link-arg=--export=__tls_align -C link-arg=--export=__tls_base' \
  cargo build -p steerscope-wasm --features threads --target wasm32-unknown-unknown --profile wasm \
  --target-dir "$threads_dir" -Z build-std=panic_abort,std
wasm-bindgen --target web --no-typescript --out-dir web/pkg/threads \
  "$threads_dir/wasm32-unknown-unknown/wasm/steerscope_wasm.wasm"
ls -l web/pkg web/pkg/relaxed web/pkg/threads
