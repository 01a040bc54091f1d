#!/usr/bin/env node
// Dependency-free static server for the steerscope demo.
//
//   node web/serve.mjs [--port 8000] [--host 127.0.0.1] [--model PATH]
//   node web/serve.mjs --copy-vendor      (copy uPlot into web/vendor/ and exit; npm postinstall)
//
// Why a server of our own: the page needs COOP/COEP headers (crossOriginIsolated, for threads
// later), `application/wasm` for streaming compilation, a Content-Length on the 100 MB model so
// the page can draw a real progress bar, and two mapped folders (model file, concept data) that
// live outside web/. Node's stdlib covers all of it.
import { createServer } from 'node:http';
import { createReadStream, existsSync, mkdirSync, copyFileSync, promises as fsp } from 'node:fs';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { homedir } from 'node:os';
import { fileURLToPath } from 'node:url';

const WEB = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(WEB, '..');
const DATA = join(REPO, 'core', 'data');
const VENDOR = join(WEB, 'vendor');

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.jsonl': 'application/x-ndjson; charset=utf-8',
  '.wasm': 'application/wasm',
  '.gguf': 'application/octet-stream',
  '.map': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

/** uPlot's dist files the page loads; `web/vendor/` is git-ignored, so it is filled from npm. */
function copyVendor() {
  const dist = join(WEB, 'node_modules', 'uplot', 'dist');
  const files = ['uPlot.esm.js', 'uPlot.iife.min.js', 'uPlot.min.css'];
  if (!existsSync(dist)) return false;
  mkdirSync(VENDOR, { recursive: true });
  for (const f of files) copyFileSync(join(dist, f), join(VENDOR, f));
  return true;
}

function parseArgs(argv) {
  const home = process.env.STEERSCOPE_HOME || join(homedir(), '.cache', 'steerscope');
  const opts = {
    port: 8000,
    host: '127.0.0.1',
    model: join(home, 'models', 'SmolLM2-135M-Instruct.Q4_1.gguf'),
    copyVendor: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--port') opts.port = Number(val());
    else if (a === '--host') opts.host = val();
    else if (a === '--model') opts.model = resolve(val());
    else if (a === '--copy-vendor') opts.copyVendor = true;
    else if (a === '-h' || a === '--help') {
      console.log('usage: node web/serve.mjs [--port 8000] [--host 127.0.0.1] [--model PATH]');
      process.exit(0);
    } else throw new Error(`unknown argument: ${a}`);
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    throw new Error(`bad --port: ${opts.port}`);
  }
  return opts;
}

/** Map a URL path to a file, refusing anything that escapes its root (`..`, encoded or not). */
function resolveUnder(root, rel) {
  const full = resolve(root, '.' + sep + rel);
  return full === root || full.startsWith(root + sep) ? full : null;
}

function route(pathname, opts) {
  if (pathname === '/models/model.gguf') return opts.model;
  if (pathname.startsWith('/data/')) return resolveUnder(DATA, pathname.slice('/data/'.length));
  if (pathname.endsWith('/')) pathname += 'index.html';
  return resolveUnder(WEB, pathname.slice(1));
}

function mimeOf(file) {
  return MIME[extname(file).toLowerCase()] || 'application/octet-stream';
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers });
  res.end(body);
}

/** Without a hand-written core/data/concepts/index.json, list the concepts that have training
 *  data, so the page's concept menu matches the files (and the page never sees a 404). */
async function sendConceptIndex(req, res) {
  const files = await fsp.readdir(join(DATA, 'concepts')).catch(() => []);
  const names = files.filter((f) => f.endsWith('.train.jsonl')).map((f) => f.slice(0, -'.train.jsonl'.length)).sort();
  const body = JSON.stringify(names) + '\n';
  res.writeHead(200, { 'Content-Type': MIME['.json'], 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-cache' });
  res.end(req.method === 'HEAD' ? undefined : body);
}

async function handle(req, res, opts) {
  // Isolation headers on every response, errors included, so the page stays crossOriginIsolated.
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return send(res, 405, 'method not allowed\n', { Allow: 'GET, HEAD' });
  }
  let pathname;
  try {
    pathname = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  } catch {
    return send(res, 400, 'bad url\n');
  }
  const file = route(pathname, opts);
  if (!file || pathname.includes('\0')) return send(res, 403, 'forbidden\n');
  let st;
  try {
    st = await fsp.stat(file);
  } catch {
    if (pathname === '/data/concepts/index.json') return sendConceptIndex(req, res);
    const hint = pathname === '/models/model.gguf'
      ? `model file not found on the server: ${file} (start serve.mjs with --model PATH)\n`
      : `not found: ${pathname}\n`;
    return send(res, 404, hint);
  }
  if (st.isDirectory()) {
    res.writeHead(301, { Location: pathname + '/' });
    return res.end();
  }
  res.writeHead(200, {
    'Content-Type': mimeOf(file),
    'Content-Length': st.size,
    'Last-Modified': st.mtime.toUTCString(),
    // Dev server: always revalidate so an edited page or a rebuilt wasm is picked up. The model
    // itself is kept client-side in the Cache API, not in the HTTP cache.
    'Cache-Control': 'no-cache',
  });
  if (req.method === 'HEAD') return res.end();
  const stream = createReadStream(file);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`serve.mjs: ${e.message}`);
    process.exit(2);
  }
  if (opts.copyVendor) {
    if (!copyVendor()) console.error('serve.mjs: web/node_modules/uplot missing; run npm install in web/');
    return;
  }
  if (!existsSync(join(VENDOR, 'uPlot.esm.js')) && !copyVendor()) {
    console.error('serve.mjs: warning: uPlot not found; run `npm install` in web/ (the plot will not load)');
  }
  if (!existsSync(opts.model)) {
    console.error(`serve.mjs: warning: model file not found: ${opts.model}`);
  }

  const server = createServer((req, res) => {
    handle(req, res, opts).catch((e) => {
      if (!res.headersSent) send(res, 500, `internal error: ${e.message}\n`);
      else res.destroy();
    });
  });
  server.on('error', (e) => {
    console.error(`serve.mjs: ${e.message}`);
    process.exit(1);
  });
  server.listen(opts.port, opts.host, () => {
    const { port } = server.address();
    const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
    console.log(`steerscope demo: http://${host}:${port}/`);
  });

  // Exit promptly: a half-read 100 MB model download would otherwise keep close() waiting.
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main();
