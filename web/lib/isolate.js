// Registers the package's service worker (../sw.js): it keeps the app shell for offline use and,
// on hosts that cannot send the COOP/COEP headers (GitHub Pages, many static hosts), adds them
// itself so the page becomes cross-origin isolated — shared memory, so long calls can be
// stopped mid-way and threads can run. Without isolation the page still works, single-threaded.
// A classic script (not a module) so that it runs before anything else on the page.
(function () {
  // A classic <script src> (never an SVG script): its src locates the package.
  var script = /** @type {HTMLScriptElement | null} */ (document.currentScript);
  if (!('serviceWorker' in navigator) || !window.isSecureContext || !script) return;
  var root = new URL('../', script.src);
  var FLAG = 'steerscope-isolation-reload';
  navigator.serviceWorker.register(new URL('sw.js', root).href, { scope: root.pathname }).then(function (reg) {
    if (window.crossOriginIsolated) {
      sessionStorage.removeItem(FLAG);
      return;
    }
    // One reload once the worker controls this page: its responses then carry the headers.
    // The flag stops a loop where even that does not isolate the page (an old browser).
    if (sessionStorage.getItem(FLAG)) return;
    var reload = function () {
      sessionStorage.setItem(FLAG, '1');
      location.reload();
    };
    if (navigator.serviceWorker.controller) reload();
    else navigator.serviceWorker.addEventListener('controllerchange', reload, { once: true });
    void reg;
  }).catch(function (e) {
    console.warn('steerscope: service worker not registered (' + e.message + '); no offline use, and ' +
      'one thread unless the host sends COOP/COEP headers');
  });
})();
