// Compute for the attention lab (attention-lab.js through client.js's AttentionLab): the
// hand-set construction and small trained models, in their own worker so they run beside the
// steering experiments and need no language model. It keeps no state, so stopping a call means
// ending this worker and starting a fresh one.
//
// Messages in:  {type: 'init'} | {type: 'call', id, op: 'sample' | 'construct' | 'train', args}
// Messages out: {id, type: 'progress', done, total, loss?} | {id, type: 'result', value}
//               | {id, type: 'error', message}
import { errText, loadWasm, plain } from '../wasm.js';

/** @type {Record<string, (w: any, a: any, progress: (done: number, total: number, loss?: number) => void) => any>} */
const OPS = {
  sample: (w, a) => w.labSample(a.lookup, a.L, a.k, a.seed),
  construct: (w, a, progress) => w.labConstruct(a.lookup, a.L, a.k, a.beta ?? undefined, a.instances, progress),
  train: (w, a, progress) => w.labTrain(a.lookup, a.L, a.k, a.spec, a.d, a.steps, a.seed, progress),
};

self.onmessage = async (/** @type {MessageEvent<any>} */ { data: { type, id, op, args } }) => {
  if (type !== 'call') return;
  try {
    const w = await loadWasm();
    /** @type {(done: number, total: number, loss?: number) => void} */
    const progress = (done, total, loss) => self.postMessage({ id, type: 'progress', done, total, loss });
    if (!OPS[op]) throw new Error(`unknown lab call: ${op}`);
    self.postMessage({ id, type: 'result', value: plain(OPS[op](w, args, progress)) });
  } catch (e) {
    self.postMessage({ id, type: 'error', message: errText(e) });
  }
};
