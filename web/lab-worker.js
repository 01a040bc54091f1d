// Compute for the attention lab (web/lab.js): the hand-set construction and small trained models,
// in their own worker so they run beside the steering demo and need no language model.
//
// Messages in:  {id, op: 'sample' | 'construct' | 'train', args: {...}}
// Messages out: {id, type: 'progress', done, total, loss?} | {id, type: 'result', result}
//               | {id, type: 'error', message}
import { errText, loadWasm, plain } from './wasm.js';


const OPS = {
  sample: (w, a) => w.labSample(a.lookup, a.L, a.k, a.seed),
  construct: (w, a, progress) => w.labConstruct(a.lookup, a.L, a.k, a.beta ?? undefined, a.instances, progress),
  train: (w, a, progress) => w.labTrain(a.lookup, a.L, a.k, a.spec, a.d, a.steps, a.seed, progress),
};

self.onmessage = async ({ data: { id, op, args } }) => {
  try {
    const w = await loadWasm();
    const progress = (done, total, loss) => self.postMessage({ id, type: 'progress', done, total, loss });
    self.postMessage({ id, type: 'result', result: plain(OPS[op](w, args, progress)) });
  } catch (e) {
    self.postMessage({ id, type: 'error', message: errText(e) });
  }
};
