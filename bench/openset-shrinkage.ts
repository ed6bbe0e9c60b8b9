/**
 * The learned metric's shrinkage in the open-set bench (BENCHMARKS.md, "The learned metric's
 * shrinkage chosen per split"): for each grid given, the default score's AUROC (same / unseen
 * groups) beside the class-mean distance's, and the shrinkage each split chose. Run it on
 * exploration seeds; confirm on a seed not run before with `protolens bench openset`.
 *
 *   node --import tsx bench/openset-shrinkage.ts --features /work/features/omniglot_small_conv4_h-episode.npy \
 *     --seed 100 --splits 10 --grids 0.2 0.7 0.2,0.7
 */
import { parseArgs } from 'node:util';
import { readFeatures } from '../src/data/features.node.ts';
import { runOpenSet } from '../src/select/openset.ts';

const { values, positionals } = parseArgs({ allowPositionals: true, options: {
  features: { type: 'string' }, seed: { type: 'string', default: '100' }, splits: { type: 'string', default: '10' }, grids: { type: 'string', multiple: true },
} });
const fs = readFeatures(values.features ?? '');
const grids = [...(values.grids ?? []), ...positionals].map((g) => g.split(',').map(Number));
console.log(`${values.features}, seed ${values.seed}, ${values.splits} splits\n| shrinkages tried | default score AUROC, same / unseen | class mean, same / unseen | chosen per split |\n|---|---:|---:|---|`);
for (const grid of grids) {
  const r = runOpenSet({ X: fs.X, labels: fs.labels.map(String) }, { splits: Number(values.splits), seed: Number(values.seed), models: ['metric', 'ncm'], shrinkages: grid });
  const row = (k: string) => { const v = r.summary.rows[k]; return `${v.same.auroc.mean.toFixed(3)} / ${v.unseen?.auroc.mean.toFixed(3) ?? '–'}`; };
  console.log(`| ${grid.join(', ')} | ${row('metric/spread')} | ${row('ncm/distance')} | ${r.splits.map((s) => s.shrinkage).join(' ')} |`);
}
