/**
 * What the α benches on groups of Omniglot alphabets share (bench/default-alpha.ts,
 * bench/streamed-alpha.ts): the rows of the characters of some alphabets of a labelled feature
 * file (labels Alphabet/characterNN), and how their held-out rows are scored.
 */
import { readFeatures } from '../src/data/features.node.ts';
import { toMatrix, type Matrix } from '../src/linalg/matrix.ts';
import type { Label } from '../src/model/types.ts';

/** The feature file's rows, string labels, and the rows of each character of the named alphabets (classes sorted). */
export function alphabetGroup(features: string, alphabets: string): { X: Matrix; labels: string[]; group: Set<string>; rowsOf: Map<string, number[]>; classes: string[] } {
  const fs = readFeatures(features);
  const X = toMatrix(fs.X, { name: 'features' });
  const labels = fs.labels.map(String);
  const group = new Set(alphabets.split(','));
  const rowsOf = new Map<string, number[]>();
  labels.forEach((l, i) => { if (group.has(l.split('/')[0])) rowsOf.set(l, [...(rowsOf.get(l) ?? []), i]); });
  for (const a of group) if (![...rowsOf.keys()].some((l) => l.startsWith(`${a}/`))) throw new Error(`${features}: no class of alphabet "${a}"`);
  return { X, labels, group, rowsOf, classes: [...rowsOf.keys()].sort() };
}

/**
 * Accuracy and mean negative log-likelihood of predicted probabilities on labelled held-out rows:
 * the argmax's first maximum, probabilities clipped at 1e-12 (the library's validationScore clips
 * at 1e-15; the recorded figures were made with 1e-12).
 */
export function heldOutScore(P: Matrix, classes: readonly Label[], y: readonly Label[]): { accuracy: number; nll: number } {
  const cls = classes.map(String);
  let right = 0, ll = 0;
  y.forEach((label, i) => {
    const row = P.data.subarray(i * P.cols, (i + 1) * P.cols);
    let best = 0; for (let k = 1; k < row.length; k++) if (row[k] > row[best]) best = k;
    if (cls[best] === String(label)) right++;
    ll -= Math.log(Math.max(row[cls.indexOf(String(label))], 1e-12));
  });
  return { accuracy: right / y.length, nll: ll / y.length };
}
