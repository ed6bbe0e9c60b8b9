/**
 * `protolens combine-embeddings DIR DIR… --out DIR`: trained embeddings as one network whose
 * feature is the concatenation of theirs (src/embedding/io.node.ts, `combineEmbeddings`).
 */
import type { Command } from 'commander';
import { combineEmbeddings } from '../../embedding/io.node.ts';
import { userInput } from '../errors.ts';

export function register(program: Command): void {
  program
    .command('combine-embeddings')
    .argument('<dirs...>', 'two or more folders written by protolens train-embedding (same input size)')
    .requiredOption('-o, --out <dir>', 'output folder: model.json + weights.bin + embedding.json (only a folder protolens wrote, see --force)')
    .option('--force', 'write into --out even if protolens did not make it (never an input)', false)
    .option('--json', 'print the result as JSON (model file, dimension, networks) instead of the model\'s path', false)
    .action((dirs: string[], f: { out: string; force: boolean; json: boolean }) => {
      const command = ['protolens', 'combine-embeddings', ...dirs, '--out', f.out].join(' ');
      const r = userInput(() => combineEmbeddings(dirs, f.out, { force: f.force }, command));
      process.stderr.write(`${r.members.map((m) => `${m.dir} (${m.dim}-d, seed ${String(m.seed)})`).join(' + ')} → ${r.dim}-d\n`);
      process.stdout.write(f.json ? JSON.stringify({ model: `${r.out}/model.json`, dim: r.dim, members: r.members }) + '\n' : `${r.out}/model.json\n`);
    });
}
