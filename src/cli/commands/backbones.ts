/**
 * `protolens backbones [MODEL]`: the bundled backbones; for a model (a .onnx file, a TF.js model
 * folder, a bundled name), its inputs, outputs and candidate feature layers with their shapes
 * (src/features/describe.node.ts).
 */
import type { Command } from 'commander';
import { bundledBackbones, describeModel } from '../../features/describe.node.ts';
import { userInput } from '../errors.ts';
import { numbers } from '../flags.ts';

interface BackbonesFlags {
  inputSize?: string;
  all: boolean;
  json: boolean;
}

/** Rows as aligned columns. */
function columns(rows: string[][]): string {
  const w = rows[0].map((_, j) => Math.max(...rows.map((r) => r[j].length)));
  return rows.map((r) => r.map((c, j) => (j === r.length - 1 ? c : c.padEnd(w[j]))).join('  ')).join('\n');
}

export function register(program: Command): void {
  program
    .command('backbones')
    .argument('[model]', 'a .onnx file, a TF.js model folder, or a bundled backbone name')
    .option('--input-size <h,w>', 'input size of a model that does not fix it (makes every shape concrete)')
    .option('--all', 'every layer or tensor, not only the candidate feature layers', false)
    .option('--json', 'write JSON', false)
    .action(async (model: string | undefined, flags: BackbonesFlags) => {
      const size = flags.inputSize ? numbers('--input-size', flags.inputSize, 2) as [number, number] : undefined;
      if (model === undefined) {
        const list = bundledBackbones();
        const text = columns([['name', 'network', 'input', 'layer', 'dim', 'weights'], ...list.map((b) => [b.name, b.network, b.input, b.layer, String(b.dim), b.source])]);
        process.stdout.write(flags.json ? JSON.stringify(list, null, 1) + '\n' : `${text}\nAny TF.js model folder or .onnx file is also a backbone: protolens backbones MODEL lists its layers.\n`);
        return;
      }
      const d = await userInput(() => describeModel(model, size), undefined, { inputSize: '--input-size H,W' });
      if (flags.json) { process.stdout.write(JSON.stringify(d, null, 1) + '\n'); return; }
      const shown = flags.all ? d.layers : d.candidates;
      const out = [
        `${d.model}: ${d.about}`,
        `inputs:  ${d.inputs.join('; ') || '–'}`,
        `outputs: ${d.outputs.join('; ') || '–'}`,
        `image input: ${d.image}`,
        ...(d.preprocess === undefined ? [] : [`feature preprocessing: ${d.preprocess}`]),
        `${flags.all ? 'layers' : 'candidate feature layers (float32, rank 2–4; --all for every layer)'}: ${shown.length} of ${d.layers.length}`,
        columns([['name', 'op', 'shape'], ...shown.map((l) => [l.name, l.op, l.shape ? l.shape.join('×') : '?'])]),
      ];
      process.stdout.write(out.join('\n') + '\n');
    });
}
