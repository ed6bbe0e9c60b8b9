/**
 * Lake et al.'s one-shot classification benchmark (Science 2015; github.com/brendenlake/omniglot,
 * python/one-shot-classification/all_runs.zip): 20 fixed runs, each 20 characters of one
 * alphabet of Omniglot's *evaluation* set, one training image per character and 20 test images
 * to classify among them (400 trials; 1-shot 20-way within one alphabet). The evaluation
 * alphabets are not in `images_background`, so this measures a network trained on all 30
 * background alphabets (the bundled `omniglot_conv4`) on characters and alphabets it never saw.
 * Each test image goes to the training image nearest in the embedding (squared Euclidean).
 *
 *   node --import tsx bench/embedding-lake-oneshot.ts --runs /path/to/all_runs --backbone omniglot_conv4 [--backbone DIR …]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initTfNode } from '../src/features/backend.node.ts';
import { loadBackboneNode } from '../src/features/load.node.ts';
import { decodeImage } from '../src/features/decode.node.ts';
import { meanStd } from '../src/select/stats.ts';

const args = process.argv.slice(2);
const opt = (name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const all = (name: string) => args.flatMap((a, i) => (a === name ? [args[i + 1]] : []));
const runs = opt('--runs');
if (!runs) throw new Error('give --runs DIR (the unzipped all_runs folder: run01 … run20)');
await initTfNode('wasm');

const lines = ['| backbone | accuracy (400 trials), ± 95 % over the 20 runs | error rate |', '|---|---|---|'];
for (const name of all('--backbone')) {
  const { backbone } = await loadBackboneNode(name, { cacheDir: false });
  const perRun: number[] = [];
  for (let r = 1; r <= 20; r++) {
    const dir = join(runs, `run${String(r).padStart(2, '0')}`);
    // class_labels.txt: "test/itemNN.png training/classMM.png" per line — the answer of each test item.
    const pairs = readFileSync(join(dir, 'class_labels.txt'), 'utf8').trim().split('\n').map((l) => l.trim().split(/\s+/));
    const train = [...new Set(pairs.map((p) => p[1]))].sort();
    const embed = async (files: string[]) => backbone.embed(await Promise.all(files.map(async (f) => decodeImage(new Uint8Array(readFileSync(join(dir, f.replace(/^run\d+\//, '')))), f))));
    const E = await embed(train), Q = await embed(pairs.map((p) => p[0]));
    const D = E.length / train.length;
    let correct = 0;
    pairs.forEach((p, i) => {
      let best = -1, bestD = Infinity;
      for (let c = 0; c < train.length; c++) {
        let s = 0;
        for (let k = 0; k < D; k++) { const t = Q[i * D + k] - E[c * D + k]; s += t * t; }
        if (s < bestD) { bestD = s; best = c; }
      }
      if (train[best] === p[1]) correct++;
    });
    perRun.push(correct / pairs.length);
  }
  backbone.dispose();
  const { mean, std, n } = meanStd(perRun);
  lines.push(`| ${name} | ${(100 * mean).toFixed(1)} ± ${(196 * std / Math.sqrt(n)).toFixed(1)} % | ${(100 - 100 * mean).toFixed(1)} % |`);
}
process.stdout.write(lines.join('\n') + '\n');
