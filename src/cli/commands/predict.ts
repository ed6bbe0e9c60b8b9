/**
 * `protolens predict MODEL --features FILE [--explain] [--json]`: labels for every row of a
 * feature file; with --explain, why: the class probabilities, the margin between the two best
 * classes, an ambiguity flag (rule in docs/interpretation.md) and the prototypes that matched,
 * with their class links. Explanations are the model's own `explain(x)`.
 */
import type { Command } from 'commander';
import { row } from '../../linalg/matrix.ts';
import type { Explanation } from '../../model/prototype.ts';
import { accuracy } from '../../model/labels.ts';
import type { Label } from '../../model/types.ts';
import { readFeatures } from '../../data/features.node.ts';
import { alignLabels, checkFeaturesForModel, readModelFile, readPrototypeModel } from '../../data/modelfile.node.ts';
import { userInput } from '../errors.ts';
import { positiveInt } from '../flags.ts';

interface PredictFlags {
  features: string;
  explain: boolean;
  json: boolean;
  top: string;
}

const f3 = (v: number): string => v.toFixed(3);

/** One explanation as text lines. */
export function explanationText(i: number, e: Explanation, truth?: Label, path?: string): string {
  const lines = [
    `#${i}${path ? ` ${path}` : ''}: ${String(e.label)} (p = ${f3(e.probability)})` +
    `${truth !== undefined ? `, true ${String(truth)}${String(truth) === String(e.label) ? '' : ' ✗'}` : ''}` +
    `; margin ${f3(e.margin)}${e.ambiguous ? ' — AMBIGUOUS' : ''}`,
    `    next: ${e.probabilities.slice(1, 3).map((c) => `${String(c.label)} ${f3(c.probability)}`).join(', ') || '–'}`,
  ];
  for (const p of e.prototypes) {
    const links = p.links.slice(0, 3).map((l) => `${String(l.label)} ${l.weight.toFixed(2)}`).join(', ') || 'no positive link';
    lines.push(`    p${p.index} q=${f3(p.q)} d=${Math.sqrt(p.sqDistance).toPrecision(4)} → ${String(p.winningClass)} [links: ${links}]`);
  }
  return lines.join('\n');
}

export function register(program: Command): void {
  program
    .command('predict')
    .argument('<model>', 'model saved by "protolens fit" (JSON)')
    .requiredOption('-f, --features <file>', 'feature file (.npy + sidecar, .csv or .jsonl)')
    .option('--explain', 'explain each decision (prototype models only)', false)
    .option('--json', 'write JSON instead of text', false)
    .option('--top <k>', 'prototypes listed per explanation', '3')
    .action((modelPath: string, flags: PredictFlags) => {
      const top = positiveInt('--top', flags.top);
      const { proto, model, fs, unknown } = userInput(() => {
        const proto = flags.explain ? readPrototypeModel(modelPath) : null;
        const model = proto?.saved ?? readModelFile(modelPath);
        const fs = readFeatures(flags.features);
        return { proto, model, fs, unknown: checkFeaturesForModel(fs, model, { features: flags.features, model: modelPath }, 'optional') };
      });
      const labels = fs.labels.length ? alignLabels(fs.labels, model) : [];
      // Explanations live in the prototype model's space: transform first when the model has a transform.
      const Xp = proto?.transform ? proto.transform.transform(fs.X) : fs.X;
      const why = (i: number): Explanation => proto!.model.explain(row(Xp, i), top);
      // Values the model refuses (NaN, beyond ±1e15) are the features file's fault: name it.
      const { predicted, P } = userInput(() => ({ predicted: model.predict(fs.X), P: model.predictProba(fs.X) }), flags.features);
      const L = model.classes_.length;
      const acc = labels.length && unknown.length === 0 ? accuracy(predicted, labels) : null;
      const note = unknown.length
        ? `labels include ${unknown.length} class(es) the model does not know (e.g. ${JSON.stringify(unknown[0])}); accuracy not computed`
        : null;
      const out: string[] = [];
      if (flags.json) {
        const rows = predicted.map((l, i) => {
          const base: Record<string, unknown> = { index: i, label: l };
          if (fs.paths) base.path = fs.paths[i];
          if (labels.length) base.truth = labels[i];
          if (flags.explain) base.explanation = why(i);
          else base.probability = Math.max(...Array.from(P.data.subarray(i * L, (i + 1) * L)));
          return base;
        });
        out.push(JSON.stringify({ model: modelPath, features: flags.features, accuracy: acc, note, predictions: rows }, null, 1));
      } else {
        for (let i = 0; i < predicted.length; i++) {
          if (flags.explain) {
            out.push(explanationText(i, why(i), labels[i], fs.paths?.[i]));
          } else {
            const p = Math.max(...Array.from(P.data.subarray(i * L, (i + 1) * L)));
            out.push(`${i}\t${fs.paths?.[i] ?? ''}\t${String(predicted[i])}\t${f3(p)}${labels.length ? `\t${String(labels[i])}` : ''}`);
          }
        }
        if (acc !== null) out.push(`accuracy ${f3(acc)} on ${predicted.length} samples`);
        if (note) out.push(note);
      }
      process.stdout.write(out.join('\n') + '\n');
    });
}

