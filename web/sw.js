// The steerscope service worker (registered by lib/isolate.js, scope: this folder).
// - Offline after the first visit: every same-origin file the page fetched is kept in a cache
//   and served from it when the network fails (the model itself is kept by the steering worker
//   in its own cache, so it is passed through here, never stored twice).
// - Cross-origin isolation on hosts that cannot set headers: responses get
//   Cross-Origin-Opener-Policy / Cross-Origin-Embedder-Policy (and a Cross-Origin-Resource-Policy
//   for subresources), which is what makes `crossOriginIsolated` true.
// Network first, cache second: an updated page is picked up whenever the network answers.
const SHELL = 'steerscope-shell-v1';
const sw = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));

sw.addEventListener('install', () => sw.skipWaiting());
sw.addEventListener('activate', (e) => e.waitUntil(sw.clients.claim()));

/** A copy of `res` with the isolation headers added (opaque responses cannot be changed). */
/** @param {Response} res */
function isolated(res) {
  if (!res || res.status === 0 || res.type === 'opaque' || res.type === 'opaqueredirect') return res;
  const headers = new Headers(res.headers);
  headers.set('Cross-Origin-Opener-Policy', 'same-origin');
  headers.set('Cross-Origin-Embedder-Policy', 'require-corp');
  if (!headers.has('Cross-Origin-Resource-Policy')) headers.set('Cross-Origin-Resource-Policy', 'cross-origin');
  return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
}

sw.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin) {
    if (req.method === 'HEAD' && url.origin === self.location.origin) event.respondWith(fetch(req).then(isolated));
    return;
  }
  const big = url.pathname.endsWith('.gguf') || req.headers.has('range');
  event.respondWith((async () => {
    try {
      const res = await fetch(req);
      if (res.ok && !big) {
        const cache = await caches.open(SHELL);
        await cache.put(req, res.clone()).catch(() => {});
      }
      return isolated(res);
    } catch (err) {
      const hit = await caches.match(req, { ignoreSearch: req.mode === 'navigate', cacheName: SHELL });
      if (hit) return isolated(hit);
      throw err;
    }
  })());
});
