// A model file from a URL, as every worker of the page gets it: streamed with progress, kept in
// the Cache API (with its sha256) so a second visit, another lab or the views page reads it from
// disk instead of the network, and checked for the GGUF magic before the wasm parser sees it.
// The caller saves the copy (`save`) only once the file parsed: a corrupt download is never kept.

const CACHE_NAME = 'steerscope-models';

/** What a download reports to and asks of its caller.
 *  @typedef {{ progress: (done: number, total: number) => void, stopped: () => boolean }} Reporter */

/** A GGUF file starts with the ASCII magic "GGUF"; check it here so a wrong URL (an HTML page,
 *  a 404 body) gets a plain answer before the wasm parser sees it. */
/** @param {Uint8Array} bytes */
export function checkMagic(bytes) {
  const head = String.fromCharCode(...bytes.subarray(0, 4));
  if (head !== 'GGUF') {
    const shown = JSON.stringify(String.fromCharCode(...bytes.subarray(0, 16)));
    throw new Error(`not a GGUF model file: it starts with ${shown}, a GGUF file starts ` +
      `with "GGUF" (${bytes.length} bytes; is the model URL right?)`);
  }
}

async function openCache() {
  try {
    return self.caches ? await caches.open(CACHE_NAME) : null; // absent on insecure origins
  } catch {
    return null;
  }
}

/** The cached copy is reused if a HEAD request says the file on the server is unchanged (size
 *  and date), or if the server cannot be asked at all (offline). */
/** @param {string} url @param {Response} cached */
async function isFresh(url, cached) {
  try {
    const head = await fetch(url, { method: 'HEAD', cache: 'no-store' });
    if (!head.ok) return true;
    /** @type {(k: string, ck: string) => boolean} */
    const same = (k, ck) => !head.headers.get(k) || head.headers.get(k) === cached.headers.get(ck);
    return same('Content-Length', 'X-Source-Length') && same('Last-Modified', 'X-Source-Modified');
  } catch {
    return true;
  }
}

/** @param {string} url @param {Reporter} c
 *  @returns {Promise<{bytes: Uint8Array<ArrayBuffer>, save: ((sha: string) => Promise<void>) | null, cached: boolean, sha256: string}>} */
export async function fetchModel(url, c) {
  const cache = await openCache();
  let res = cache && (await cache.match(url));
  const cached = !!res && (await isFresh(url, res));
  if (!cached) {
    res = await fetch(url, { cache: 'no-store' });
    if (!res.ok) {
      const body = (await res.text().catch(() => '')).slice(0, 200).trim();
      throw new Error(`could not fetch model from ${url}: HTTP ${res.status}${body ? ` (${body})` : ''}`);
    }
  }
  if (!res || !res.body) throw new Error(`could not fetch model from ${url}: no body`);
  const response = res;
  const total = Number(res.headers.get('Content-Length')) || 0;
  const reader = res.body.getReader();
  /** @type {Uint8Array[]} */
  const chunks = [];
  let got = 0;
  let lastPost = 0;
  for (;;) {
    const { done: end, value } = await reader.read();
    if (end) break;
    if (c.stopped()) {
      reader.cancel();
      throw new Error('cancelled');
    }
    chunks.push(value);
    got += value.length;
    if (got - lastPost > 1 << 20) { // about one progress message per MiB
      lastPost = got;
      c.progress(got, total);
    }
  }
  c.progress(got, total || got);
  const bytes = new Uint8Array(got);
  let at = 0;
  for (const chunk of chunks) { bytes.set(chunk, at); at += chunk.length; }
  const sha256 = cached ? response.headers.get('X-Sha256') || '' : '';
  const save = cached || !cache ? null : (/** @type {string} */ sha) => cache.put(url, new Response(bytes, {
    headers: {
      'Content-Type': 'application/octet-stream',
      'X-Source-Length': response.headers.get('Content-Length') || String(got),
      'X-Source-Modified': response.headers.get('Last-Modified') || '',
      'X-Sha256': sha,
    },
  }));
  return { bytes, save, cached, sha256 };
}

/** Hex sha256, or '' where the page has no WebCrypto (plain http off localhost). */
/** @param {Uint8Array<ArrayBuffer>} bytes */
export async function sha256Hex(bytes) {
  if (!self.crypto?.subtle) return '';
  const d = new Uint8Array(await self.crypto.subtle.digest('SHA-256', bytes));
  return [...d].map((b) => b.toString(16).padStart(2, '0')).join('');
}
