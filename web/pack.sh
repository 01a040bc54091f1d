#!/usr/bin/env bash
# Builds the npm package into web/dist/ from the page's sources and the wasm build (web/pkg/,
# made by web/build.sh), then `npm pack`s it: web/dist/steerscope-<version>.tgz installs
# offline (it has no dependencies). Layout = web/'s, so every relative URL works the same:
#   steerscope.js (entry: client + elements), lib/ (client, worker, elements), wasm.js, pkg/
#   (wasm + wasm-bindgen .d.ts; pkg/relaxed/ the relaxed-SIMD build; pkg/threads/ the threaded build
#   with its worker snippet), sw.js, index.html, embed.html, views/ (the views page),
#   data/concepts/, data/updates/ (its shipped updates), precomputed/,
#   types/ (declarations generated from the JSDoc types by tsc), README.md.
# The model is not in the package (98 MB): serve it at models/model.gguf beside it, or give
# the elements a `model` URL.
set -euo pipefail
cd "$(dirname "$0")"
[ -f pkg/steerscope_wasm.js ] || { echo "pack.sh: web/pkg/ missing: run web/build.sh first" >&2; exit 1; }
[ -f node_modules/typescript/bin/tsc ] || { echo "pack.sh: typescript missing: run npm ci in web/" >&2; exit 1; }
VERSION=$(awk -F'"' '/^version = /{print $2; exit}' ../Cargo.toml)
rm -rf dist
mkdir -p dist/lib dist/views dist/pkg/relaxed dist/pkg/threads dist/data/concepts dist/data/updates dist/precomputed
cp steerscope.js wasm.js sw.js index.html embed.html style.css dist/
cp lib/*.js dist/lib/
cp views/* dist/views/
cp pkg/steerscope_wasm.js pkg/steerscope_wasm_bg.wasm pkg/steerscope_wasm.d.ts pkg/steerscope_wasm_bg.wasm.d.ts dist/pkg/
cp pkg/relaxed/steerscope_wasm.js pkg/relaxed/steerscope_wasm_bg.wasm dist/pkg/relaxed/
cp -r pkg/threads/steerscope_wasm.js pkg/threads/steerscope_wasm_bg.wasm pkg/threads/snippets dist/pkg/threads/
cp ../core/data/concepts/*.jsonl ../core/data/concepts/index.json dist/data/concepts/
cp -r ../core/data/updates/. dist/data/updates/
cp precomputed/* dist/precomputed/ 2>/dev/null || true
cp README.md dist/README.md
node_modules/typescript/bin/tsc -p jsconfig.json --noEmit false --declaration --emitDeclarationOnly --outDir dist/types
cat > dist/package.json <<JSON
{
  "name": "steerscope",
  "version": "$VERSION",
  "description": "Steer a language model in the browser: a promise-based client, <steer-lab> and <attention-lab> elements, the wasm core (SmolLM2 and any llama GGUF).",
  "license": "Apache-2.0",
  "type": "module",
  "main": "./steerscope.js",
  "types": "./types/steerscope.d.ts",
  "exports": {
    ".": { "types": "./types/steerscope.d.ts", "default": "./steerscope.js" },
    "./client": { "types": "./types/lib/client.d.ts", "default": "./lib/client.js" },
    "./wasm": { "types": "./pkg/steerscope_wasm.d.ts", "default": "./pkg/steerscope_wasm.js" },
    "./sw.js": "./sw.js",
    "./package.json": "./package.json"
  },
  "sideEffects": ["./steerscope.js", "./lib/steer-lab.js", "./lib/attention-lab.js", "./lib/embed.js"],
  "files": ["*.js", "*.html", "*.css", "lib/", "views/", "pkg/", "data/", "precomputed/", "types/", "README.md"]
}
JSON
(cd dist && npm pack --silent >/dev/null && ls -l ./*.tgz)
