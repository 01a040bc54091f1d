// A typed client script: install the package (npm install steerscope-<version>.tgz), import the
// client, run one sweep point. Nothing is bundled: tsc turns this file into example.js and the
// browser loads it with an import map (index.html).
import { SteerScope, type SweepPoint, type UpdateInfo } from 'steerscope/client';

/** The first `n` pairs of a JSONL file shipped with the package. */
async function pairs(file: string, n: number): Promise<string> {
  const text = await (await fetch(new URL(`node_modules/steerscope/data/concepts/${file}`, location.href))).text();
  return text.split('\n').filter((l) => l.trim()).slice(0, n).map((l) => `${l}\n`).join('');
}

/** DiffMean on sentiment at `layer`, measured at `strength`: the page's own computation. */
export async function run(layer: number, strength: number, onProgress?: (done: number, total: number) => void): Promise<{ fit: UpdateInfo; point: SweepPoint }> {
  const s = await SteerScope.load(new URL('models/model.gguf', location.href), { onProgress });
  await s.setPairs({ train: await pairs('sentiment.train.jsonl', 4), test: await pairs('sentiment.test.jsonl', 2) });
  await s.readActivations({ onProgress });
  const fit = await s.fit({ method: 'diffmean', layer });
  const controller = new AbortController();
  const point = await s.point(strength, { signal: controller.signal, onPartial: (p: SweepPoint) => console.log(`${p.n_pairs} pairs so far`) });
  return { fit, point };
}
