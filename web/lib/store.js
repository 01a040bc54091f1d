// Results by the full key of what produced them, in memory and in IndexedDB, so going back to
// an earlier setting is instant and a second visit shows the first visit's results at once.
//
// A key names everything a result depends on — model sha256, the pairs' sha256 and prompt
// format, method, site, layer, positions, strength, … (see keys in steer-lab.js) — so a result
// can never be shown for controls it does not belong to, and nothing is ever invalidated: a
// different input is a different key. Without IndexedDB (a private window, an old browser) the
// store keeps results for the page's lifetime only.

const DB = 'steerscope';
const STORE = 'results';
const VERSION = 1;

/** @returns {Promise<IDBDatabase | null>} */
function open() {
  return new Promise((resolve) => {
    let req;
    try {
      req = indexedDB.open(DB, VERSION);
    } catch {
      return resolve(null);
    }
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => resolve(null);
    req.onblocked = () => resolve(null);
  });
}

/** A key object as one canonical string (fields in the order given). @param {Record<string, unknown>} parts */
export function keyOf(parts) {
  return JSON.stringify(Object.entries(parts));
}

export class ResultStore {
  constructor() {
    /** @type {Map<string, any>} */
    this.memory = new Map();
    /** @type {Promise<IDBDatabase | null> | null} */
    this.db = typeof indexedDB === 'undefined' ? null : open();
    /** Keys looked up in IndexedDB already (found or not). */
    this.looked = new Set();
  }

  /** @param {string} key */
  peek(key) {
    return this.memory.get(key);
  }

  /** The value under `key`, from memory or IndexedDB. @param {string} key */
  async get(key) {
    if (this.memory.has(key) || this.looked.has(key)) return this.memory.get(key);
    const got = await this.getMany([key]);
    return got.get(key);
  }

  /** Loads every key not yet looked up into memory, in one transaction. @param {string[]} keys */
  async getMany(keys) {
    const want = keys.filter((k) => !this.memory.has(k) && !this.looked.has(k));
    const db = want.length && this.db ? await this.db : null;
    if (db) {
      await new Promise((resolve) => {
        const tx = db.transaction(STORE, 'readonly');
        const store = tx.objectStore(STORE);
        for (const k of want) {
          const r = store.get(k);
          r.onsuccess = () => { if (r.result !== undefined && !this.memory.has(k)) this.memory.set(k, r.result); };
        }
        tx.oncomplete = () => resolve(null);
        tx.onerror = () => resolve(null);
        tx.onabort = () => resolve(null);
      });
    }
    for (const k of want) this.looked.add(k);
    return new Map(keys.map((k) => [k, this.memory.get(k)]));
  }

  /** Keeps `value` under `key` (IndexedDB writes are best effort: a full disk is no error).
   *  @param {string} key @param {any} value */
  put(key, value) {
    this.memory.set(key, value);
    this.looked.add(key);
    if (!this.db) return;
    this.db.then((db) => {
      if (!db) return;
      try {
        db.transaction(STORE, 'readwrite').objectStore(STORE).put(value, key);
      } catch { /* quota, or the database is closing */ }
    });
  }
}

/** The page's one store (shared by every lab on it). @type {ResultStore | null} */
let shared = null;
export function resultStore() {
  if (!shared) shared = new ResultStore();
  return shared;
}
