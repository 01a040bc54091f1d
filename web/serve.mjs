#!/usr/bin/env node
// Dependency-free static server for the steerscope demo.
//
//   node web/serve.mjs [--port 8000] [--host 127.0.0.1] [--model PATH] [--root DIR] [--base /sub/path/]
//                      [--no-isolation] [--strict-port]
//
// Why a server of our own: the page needs COOP/COEP headers (crossOriginIsolated: shared memory
// to stop long calls, and threads), `application/wasm` for streaming compilation, a
// Content-Length on the 100 MB model so the page can draw a real progress bar, and two mapped
// folders (model file, concept data) that live outside web/. Node's stdlib covers all of it.
//
// --root serves another folder laid out like web/ (the npm package, an install of it); --base
// mounts the site under a sub-path, as a static host would; --no-isolation leaves the COOP/COEP
// headers out, as most static hosts do (the page's service worker then adds them). A port in use
// is replaced by a free one unless --strict-port.
import { createServer } from 'node:http';
import { createReadStream, existsSync, promises as fsp } from 'node:fs';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { homedir } from 'node:os';
import { fileURLToPath } from 'node:url';

const WEB = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(WEB, '..');
const DATA = join(REPO, 'core', 'data');

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

function parseArgs(argv) {
  const home = process.env.STEERSCOPE_HOME || join(homedir(), '.cache', 'steerscope');
  const opts = {
    port: 8000,
    host: '127.0.0.1',
    model: join(home, 'models', 'SmolLM2-135M-Instruct.Q4_1.gguf'),
    root: WEB,
    base: '/',
    isolation: true,
    strictPort: false,
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
    else if (a === '--root') opts.root = resolve(val());
    else if (a === '--base') opts.base = `/${val().replace(/^\/+|\/+$/g, '')}/`.replace('//', '/');
    else if (a === '--no-isolation') opts.isolation = false;
    else if (a === '--strict-port') opts.strictPort = true;
    else if (a === '-h' || a === '--help') {
      console.log('usage: node web/serve.mjs [--port 8000] [--host 127.0.0.1] [--model PATH] [--root DIR] [--base /sub/] [--no-isolation] [--strict-port]');
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

/** The file for a URL path: under --base only; `models/model.gguf` is the model file, `data/` the
 *  repository's concept data unless the root has its own. */
function route(pathname, opts) {
  if (!pathname.startsWith(opts.base)) return null;
  let rel = pathname.slice(opts.base.length);
  if (rel === 'models/model.gguf') return opts.model;
  if (rel.startsWith('data/') && !existsSync(join(opts.root, 'data'))) return resolveUnder(DATA, rel.slice('data/'.length));
  if (rel === '' || rel.endsWith('/')) rel += 'index.html';
  return resolveUnder(opts.root, rel);
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
  // CORP cross-origin: the files may be embedded by another site (an iframe or the elements
  // inside a host page that is itself isolated); they are public.
  if (opts.isolation) {
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
  }
  res.setHeader('Cross-Origin-Resource-Policy', 'cross-origin');
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
  if (!file && !pathname.startsWith(opts.base)) return send(res, 404, `not found: ${pathname} (the site is under ${opts.base})\n`);
  if (!file || pathname.includes('\0')) return send(res, 403, 'forbidden\n');
  let st;
  try {
    st = await fsp.stat(file);
  } catch {
    if (pathname === `${opts.base}data/concepts/index.json`) return sendConceptIndex(req, res);
    const hint = pathname === `${opts.base}models/model.gguf`
      ? `model file not found on the server: ${file} (start serve.mjs with --model PATH)\n`
      : `not found: ${pathname}\n`;
    return send(res, 404, hint);
  }
  if (st.isDirectory()) {
    res.writeHead(301, { Location: encodeURI(pathname) + '/' });
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
  if (!existsSync(opts.model)) {
    console.error(`serve.mjs: warning: model file not found: ${opts.model}`);
  }

  const server = createServer((req, res) => {
    handle(req, res, opts).catch((e) => {
      if (!res.headersSent) send(res, 500, `internal error: ${e.message}\n`);
      else res.destroy();
    });
  });
  // A port in use (a second demo, another server on 8000) is replaced by a free one.
  let retried = false;
  server.on('error', (e) => {
    if (e.code === 'EADDRINUSE' && !opts.strictPort && !retried) {
      retried = true;
      console.error(`serve.mjs: port ${opts.port} is in use; using a free one`);
      server.listen(0, opts.host);
      return;
    }
    console.error(`serve.mjs: ${e.message}`);
    process.exit(1);
  });
  server.on('listening', () => {
    const { port } = server.address();
    const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
    console.log(`steerscope demo: http://${host}:${port}${opts.base}`);
  });
  server.listen(opts.port, opts.host);

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
