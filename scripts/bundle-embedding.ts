/**
 * Bundles a network trained by `protolens train-embedding` as a backbone of the repository
 * (`models/<name>/`, loaded by `--backbone <name>` with no network and no training): copies
 * `model.json`, `weights.bin` and the card `embedding.json` (adding the command that trained
 * it), copies an example image beside them and records its embedding through the ordinary
 * backbone pipeline in `example.json` — the vector test/bundled-backbone.test.ts checks (1e-5).
 *
 *   node --import tsx scripts/bundle-embedding.ts --from /work/models/f-all --name omniglot_conv4 \
 *     --example ../shared/data/omniglot/images_background_small/Greek/character01/0394_01.png \
 *     --command "protolens train-embedding …"
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeFileAtomicSync } from '../src/data/atomic.node.ts';
import { initTfNode } from '../src/features/backend.node.ts';
import { decodeImage } from '../src/features/decode.node.ts';
import { bundledEmbeddingDir, isBundledEmbedding, loadBackboneNode } from '../src/features/load.node.ts';

const { values } = parseArgs({ options: { from: { type: 'string' }, name: { type: 'string' }, example: { type: 'string' }, command: { type: 'string' } } });
if (!values.from || !values.name || !values.example) throw new Error('usage: --from DIR --name NAME --example IMAGE [--command "…"]');
if (!isBundledEmbedding(values.name)) throw new Error(`${values.name}: not a name of BUNDLED_EMBEDDINGS (src/features/load.node.ts)`);
const dir = bundledEmbeddingDir(values.name);
mkdirSync(dir, { recursive: true });
for (const f of ['weights.bin', 'model.json']) writeFileAtomicSync(join(dir, f), readFileSync(join(values.from, f)));
const card = JSON.parse(readFileSync(join(values.from, 'embedding.json'), 'utf8')) as Record<string, unknown>;
writeFileAtomicSync(join(dir, 'embedding.json'), JSON.stringify({ name: values.name, command: values.command ?? null, ...card }, null, 1));
writeFileAtomicSync(join(dir, 'example.png'), readFileSync(values.example));

await initTfNode('wasm');
const { backbone } = await loadBackboneNode(values.name, { cacheDir: false });
const img = await decodeImage(new Uint8Array(readFileSync(join(dir, 'example.png'))), 'example.png');
const v = Array.from((await backbone.embed([img])).slice(0, backbone.info.dim));
backbone.dispose();
writeFileAtomicSync(join(dir, 'example.json'), JSON.stringify({
  image: 'example.png', source: values.example.replace(/^.*omniglot\//, 'omniglot/'), backend: 'wasm', embedding: v,
}, null, 1) + '\n');
console.log(`${dir}: ${v.length}-d embedding of the example recorded`);
