// Runs a wasm32-wasip1 test binary under Node's WASI (cargo's runner for that target, set by
// tests/run.sh): the core's unit tests — the SIMD128 kernels among them — execute as
// wasm, on the same instruction set the browser build uses.
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import { argv, env, exit } from 'node:process';

const [, , wasmPath, ...args] = argv;
const wasi = new WASI({ version: 'preview1', args: [wasmPath, ...args], env, preopens: { '/': '/' }, returnOnExit: true });
const module = await WebAssembly.compile(await readFile(wasmPath));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
exit(wasi.start(instance));
