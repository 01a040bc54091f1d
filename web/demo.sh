#!/usr/bin/env bash
# The demo: set up, build the wasm package, serve the page on localhost (prints its URL).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
bash web/build.sh
exec node web/serve.mjs --port "${PORT:-8000}"
