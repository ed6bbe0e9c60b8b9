/**
 * `protolens bench calibration`: calibration on the Table 1 tasks (src/select/calibration-bench.ts)
 * on a labelled feature file, or on an image folder through a backbone: for each 5-shot N-way
 * task, each calibrated method's setting chosen on the validation half, its temperature fitted on
 * the same half (alone, and around a centre from other tasks of classes outside the task's), and
 * the expected calibration error measured on the test fold before and after. Prints the Markdown
 * report and writes calibration.md and calibration.json into --out (an output folder protolens
 * owns; the inputs are never outputs).
 */
import type { Command } from 'commander';
import { int, libraryChoice, names, numberList, oneOf, featureSourceOptions, preprocessHelp, type OptionsWithChoice } from '../flags.ts';
import { checkPreprocessChoice } from '../../model/preprocess.ts';
import { METHOD_INFO } from '../../select/fewshot.ts';
import { CALIBRATION_METHODS, type CalibrationMethod } from '../../select/fewshot-calibration.ts';
import { calibrationMarkdown, runCalibrationBench } from '../../select/calibration-bench.ts';
import type { FewShotOptions } from '../../select/fewshot.ts';
import type { LoadFeatures } from './bench-episodes.ts';
import { runBenchCommand, type BenchRunFlags } from './bench-run.ts';

interface CalibrationFlags extends BenchRunFlags {
  ways: string;
  subsets: string;
  seed: string;
  preprocess: string;
  methods?: string;
  centreTasks: string;
  title?: string;
}

/** Turns the flags into the bench's options (exported for tests). */
export function calibrationOptions(f: CalibrationFlags): OptionsWithChoice<Omit<FewShotOptions, 'methods'> & { methods?: CalibrationMethod[]; centreTasks: number }> {
  return {
    ways: numberList('--ways', f.ways, (x) => Number.isInteger(x) && x >= 2, 'integers ≥ 2'),
    subsets: int('--subsets', f.subsets, 1),
    seed: int('--seed', f.seed, 0),
    preprocess: libraryChoice('--preprocess', f.preprocess, checkPreprocessChoice),
    methods: f.methods ? names(f.methods).map((m) => oneOf('--methods', m, CALIBRATION_METHODS, true)) : undefined,
    centreTasks: int('--centre-tasks', f.centreTasks, 0),
  };
}

/** Registers `bench calibration` under the `bench` command. */
export function registerCalibration(bench: Command, loadFeatures: LoadFeatures): void {
  featureSourceOptions(bench
    .command('calibration')
    .description('Calibration on the Table 1 tasks: ECE of the prototype models and softmax-L2 before and after temperature scaling fitted on each task\'s validation half'))
    .option('--ways <list>', 'numbers of classes per task', '2,5,20')
    .option('--subsets <n>', 'random tasks per N', '10')
    .option('--seed <n>', 'seed of every random choice', '0')
    .option('--preprocess <name>', preprocessHelp('feature preprocessing for every method'), 'auto')
    .option('--methods <list>', `rows to run (default all): ${CALIBRATION_METHODS.join(', ')}`)
    .option('--centre-tasks <n>', 'other tasks per task whose calibration is the centre of the task\'s own (classes outside the task\'s, fitted with its setting; 0: the validation half alone)', '5')
    .option('-o, --out <dir>', 'output folder for calibration.md and calibration.json (replaced as a whole; only a folder protolens wrote, see --force)', 'bench-out')
    .option('--force', 'replace --out even if protolens did not write it (never an input)')
    .option('--title <text>', 'heading of the report')
    .option('--json', 'print the results as JSON (what calibration.json holds) instead of the Markdown report', false)
    .option('--no-progress', 'no progress bar')
    .action(async (flags: CalibrationFlags) => {
      const options = calibrationOptions(flags);
      const rowNames = Object.fromEntries(Object.entries(METHOD_INFO).map(([k, v]) => [k, v.name]));
      await runBenchCommand(flags, options.preprocess, loadFeatures, {
        name: 'calibration', unit: 'tasks', total: options.ways!.length * options.subsets!,
        run: (data, preprocess, tick) => runCalibrationBench(data, { ...options, preprocess, onProgress: (p) => tick(p.done, `N=${p.ways} task ${p.subset + 1}`) }),
        markdown: (result, { source, command, machine, cpuSeconds }) => {
          const rule = result.centreTasks > 0
            ? `The few-shot rule is "ECE after, centred on ${result.centreTasks} other tasks": each task's temperature fitted on its validation half around the calibration of ${result.centreTasks} other tasks of the same N, drawn from the classes outside it and fitted with the task's chosen setting (docs/openset.md, "Few-shot tasks"). "ECE after" fits the validation half alone.`
            : '"ECE after" fits each task\'s temperature on its validation half alone (`--centre-tasks 5` adds the few-shot rule centred on other tasks, docs/openset.md).';
          return [
            `# ${flags.title ?? 'Calibration on the Table 1 tasks'}`, '',
            `${source}; ${result.subsets} tasks per N (5 fitting, 5 validation and 10 test samples per class), seed ${result.seed}. ECE: 15 equal-width confidence bins over all test predictions of the tasks of each N; "calibrated predictor": the ECE a perfectly calibrated predictor with the same confidences would show by chance.`, '',
            rule, '',
            calibrationMarkdown(result, rowNames), '',
            `\`${command}\` · ${result.seconds.toFixed(1)} s (${cpuSeconds.toFixed(1)} s CPU) on ${machine}`,
          ].join('\n');
        },
      });
    });
}
