/**
 * What `bench openset` and `bench calibration` do around their protocol: refuse an --out
 * protolens may not replace before any work, read the features (or extract them) and resolve
 * `--preprocess auto`, run with a progress bar, time the CPU, then write <name>.md and
 * <name>.json into --out atomically and print the Markdown (or, with --json, the JSON).
 */
import { join, resolve } from 'node:path';
import { cpus } from 'node:os';
import { toCliError, userInput } from '../errors.ts';
import { progressBar } from '../progress.ts';
import { checkOutputFolder, writeOutputFolder } from '../../data/outputs.node.ts';
import type { PreprocessChoice, PreprocessMethod } from '../../model/preprocess.ts';
import type { Label } from '../../model/types.ts';
import type { Matrix } from '../../linalg/matrix.ts';
import { VERSION } from '../../version.ts';
import type { LoadFeatures } from './bench-episodes.ts';

/** The flags every such command has. */
export interface BenchRunFlags {
  features?: string;
  data?: string;
  backbone: string;
  cacheDir?: string;
  tta?: string;
  out: string;
  progress: boolean;
  force: boolean;
  json?: boolean;
}

/** One benchmark: its name, how to run it and how to report it. */
export interface BenchRun<R extends { seconds: number }> {
  /** `openset`: files openset.md and openset.json, JSON format `protolens-openset`, progress label. */
  name: string;
  /** Progress bar unit and total (the run may change the total). */
  unit: string;
  total: number;
  run: (data: { X: Matrix; labels: Label[] }, preprocess: PreprocessMethod, tick: (done: number, label?: string) => void) => R;
  /** The Markdown report, given what the run was on and what it cost. */
  markdown: (result: R, context: { source: string; command: string; machine: string; cpuSeconds: number }) => string;
}

/** Runs a benchmark command (see the module comment). */
export async function runBenchCommand<R extends { seconds: number }>(flags: BenchRunFlags, preprocessChoice: PreprocessChoice, loadFeatures: LoadFeatures, spec: BenchRun<R>): Promise<void> {
  const say = (s: string): void => { process.stderr.write(s + '\n'); };
  const check = { inputs: [flags.features, flags.data], force: flags.force };
  checkOutputFolder(flags.out, 'bench', check);
  const { fs, source, preprocess } = await userInput(() => loadFeatures(flags, preprocessChoice, say));
  const bar = flags.progress ? progressBar(spec.name, spec.total, spec.unit) : undefined;
  const cpu0 = process.cpuUsage();
  let result: R;
  try {
    result = spec.run({ X: fs.X, labels: fs.labels }, preprocess, (done, label) => bar?.update(done, label));
  } catch (e) {
    throw toCliError(e, flags.features ?? flags.data);
  } finally {
    bar?.stop();
  }
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const i = process.argv.indexOf('bench');
  const command = ['protolens', ...process.argv.slice(i >= 0 ? i : 2)].join(' ');
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}, Node ${process.version}`;
  const md = spec.markdown(result, { source, command, machine, cpuSeconds });
  const json = {
    format: `protolens-${spec.name}`, version: 1, library: `protolens ${VERSION}`, created: new Date().toISOString(), command, source,
    features: { path: flags.features ?? null, data: flags.data ?? null, backbone: flags.data ? flags.backbone : null, meta: fs.meta }, machine, cpuSeconds, ...result,
  };
  const out = resolve(flags.out);
  // Everything is rendered before the folder is replaced, so a failure leaves earlier outputs intact.
  writeOutputFolder(out, { [`${spec.name}.json`]: JSON.stringify(json) + '\n', [`${spec.name}.md`]: md + '\n' }, 'bench', check);
  process.stdout.write(flags.json ? JSON.stringify(json) + '\n' : md + '\n');
  say(`wrote ${join(out, `${spec.name}.md`)} and ${spec.name}.json in ${result.seconds.toFixed(1)} s (${cpuSeconds.toFixed(1)} s CPU)`);
}
