// The package as a user gets it: `npm pack` (which builds dist/ through the prepack script), then
// an install of the tarball into a new project outside the repository, which can reach none of the
// repository's files. From that install: plain Node ESM imports both entries and fits a model, a
// TypeScript consumer type-checks against the shipped declarations, and the installed command
// answers --version, fits, predicts and serves the packaged explorer page (no Vite installed).
//
// The install needs no network: the project gets a package-lock.json made of the repository's own
// (every dependency that is not a devDependency, at the same version and integrity), so `npm ci
// --offline` takes every package from the npm cache that the repository's `npm ci` filled. The
// native addon's build is skipped in that install (PROTOLENS_NATIVE=0): the command must then run
// on its WebAssembly kernels, and the tarball must still carry the addon's sources.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './helpers/data.ts';

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
  version: string; license: string; dependencies: Record<string, string>; bin: Record<string, string>; engines: Record<string, string>;
};

/**
 * Where the project goes: a memory file system (/dev/shm) when it has room, else the temporary
 * folder. The install writes about 800 MB in 16,000 files, then removes them: on this machine's
 * shared disk that took 67 s and 75 s, in memory a few seconds.
 */
function scratch(): string {
  const shm = '/dev/shm';
  try {
    if (existsSync(shm)) {
      const s = statfsSync(shm);
      if (s.bavail * s.bsize > 3 * 2 ** 30) return shm;
    }
  } catch { /* not there: the temporary folder */ }
  return tmpdir();
}

/** Runs a command, failing with its output when it exits with another code. */
function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env, code = 0): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(r.status, code, `${cmd} ${args.join(' ')} (in ${cwd}) exited with ${r.status}${r.error ? ` (${r.error.message})` : ''}\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** The environment of the user's project: not CI (their install may skip the addon), no TS loader. */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PROTOLENS_NATIVE: '0', npm_config_onnxruntime_node_install: 'skip', npm_config_audit: 'false', npm_config_fund: 'false' };
  for (const k of ['CI', 'NODE_OPTIONS', 'PROTOLENS_NATIVE_ADDON', 'PROTOLENS_GEMM']) delete env[k];
  return env;
}

/** A lockfile for a project depending on the tarball alone, made of the repository's lockfile. */
function consumerLock(tarball: string): unknown {
  const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  const packages: Record<string, unknown> = {
    '': { name: 'consumer', dependencies: { protolens: `file:${tarball}` } },
    'node_modules/protolens': {
      version: pkg.version, resolved: `file:${tarball}`,
      integrity: `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`,
      license: pkg.license, hasInstallScript: true, dependencies: pkg.dependencies, bin: pkg.bin, engines: pkg.engines,
    },
  };
  for (const [path, entry] of Object.entries(lock.packages)) if (path && !entry.dev) packages[path] = entry;
  return { name: 'consumer', lockfileVersion: 3, requires: true, packages };
}

const ESM_CONSUMER = `
import { PrototypeClassifier, NearestClassMean, loadModel, analyzeModel, VERSION } from 'protolens';
import * as node from 'protolens/node';
import * as root from 'protolens';
const X = [[0, 0], [0.2, 0.1], [0.1, 0.3], [4, 4], [4.2, 3.9], [3.8, 4.1]];
const y = ['a', 'a', 'a', 'b', 'b', 'b'];
const m = new PrototypeClassifier({ nPrototypes: 2, seed: 1 }).fit(X, y);
const back = loadModel(JSON.parse(JSON.stringify(m.toJSON())));
const a = analyzeModel(m, X, y);
console.log(JSON.stringify({
  version: VERSION,
  predict: back.predict([[0.1, 0.1], [4, 4]]),
  ncm: new NearestClassMean().fit(X, y).predict([[3.9, 4]]),
  analysed: a.samples.accuracy,
  node: ['readFeatures', 'writeFeatures', 'extractDataset', 'explainToReport', 'startExplorerServer', 'enableNodeGemm',
    'trainEmbedding', 'runTraining', 'combineEmbeddings', 'concatEmbeddings', 'resolvePreprocess'].filter((k) => typeof node[k] === 'function'),
  // The browser-safe entry: joining model files and resolving --preprocess auto, not training or files.
  root: ['concatEmbeddings', 'resolvePreprocess', 'trainEmbedding', 'runTraining', 'combineEmbeddings'].filter((k) => typeof root[k] === 'function'),
  trainDefaults: typeof node.TRAIN_DEFAULTS?.seed === 'number' && node.DEFAULT_VAL_GROUPS.length > 0,
}));
`;

const TS_CONSUMER = `
import { PrototypeClassifier, type Explanation, type Label, type ModelAnalysis, analyzeModel } from 'protolens';
import { readFeatures, explainToReport, trainEmbedding, combineEmbeddings, type FeatureSet, type TrainEmbeddingOptions, type CombinedEmbedding } from 'protolens/node';
import { concatEmbeddings, type EmbeddingParts } from 'protolens';
const m: PrototypeClassifier = new PrototypeClassifier({ nPrototypes: 2, regularization: 'l1', seed: 1 });
const X: number[][] = [[0, 0], [1, 1], [5, 5], [6, 6]];
const y: Label[] = ['a', 'a', 'b', 'b'];
m.fit(X, y);
const e: Explanation = m.explain([0, 0]);
const p: number = e.probability;
const a: ModelAnalysis = analyzeModel(m, X, y);
const load: (path: string) => FeatureSet = readFeatures;
const report: typeof explainToReport = explainToReport;
const train: (o: TrainEmbeddingOptions) => Promise<{ out: string; bestValAccuracy: number }> = trainEmbedding;
const combine: (dirs: string[], out: string) => CombinedEmbedding = combineEmbeddings;
const join: (parts: EmbeddingParts[]) => { weights: Uint8Array } = concatEmbeddings;
// Each line below must be an error: were a declaration unresolved (any), it would pass, and the
// unused @ts-expect-error would fail the check instead.
// @ts-expect-error: the options are checked (a typo in an option name is an error)
new PrototypeClassifier({ nPrototype: 2 });
// @ts-expect-error: a probability is a number
const wrong1: string = e.probability;
// @ts-expect-error: an analysis's accuracy is a number
const wrong2: string = a.samples.accuracy;
// @ts-expect-error: a feature set's matrix has numeric rows
const wrong3: string = readFeatures('f.npy').X.rows;
// @ts-expect-error: training needs its data folder
const wrong4: TrainEmbeddingOptions = { out: 'runs/a', train: {} };
export { p, a, load, report, train, combine, join, wrong1, wrong2, wrong3, wrong4 };
`;

test('the packed package installs offline into a project with no access to the sources, and works there', { timeout: 600_000 }, async (t) => {
  const work = mkdtempSync(join(scratch(), 'protolens-packed-'));
  t.after(() => {
    const t0 = performance.now();
    rmSync(work, { recursive: true, force: true });
    t.diagnostic(`clean-up ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  });
  const times: string[] = [];
  const timed = <T>(what: string, f: () => T): T => {
    const t0 = performance.now();
    const done = () => { times.push(`${what} ${((performance.now() - t0) / 1000).toFixed(1)} s`); };
    const r = f();
    if (r instanceof Promise) return r.finally(done) as T;
    done();
    return r;
  };

  // Pack (prepack builds dist/ unless it is up to date with the sources).
  const packed = timed('pack', () => run('npm', ['pack', '--json', '--pack-destination', work], repoRoot));
  const info = (JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>)[0];
  const files = info.files.map((f) => f.path);
  for (const f of ['package.json', 'README.md', 'LICENSE', 'bin/protolens.mjs', 'dist/index.js', 'dist/index.d.ts', 'dist/index.node.js',
    'dist/index.node.d.ts', 'dist/cli/main.js', 'dist/index.js.map', 'dist/web/index.html', 'dist/features/worker-boot.node.mjs',
    'dist/select/cv-worker-boot.node.mjs', 'native/binding.gyp', 'native/gemm.cc', 'native/conv.cc', 'scripts/build-native.mjs']) {
    assert.ok(files.includes(f), `the tarball lacks ${f}`);
  }
  const stray = files.filter((f) => /^(src|test|bench|web)\//.test(f) || /\.ts$/.test(f) && !f.endsWith('.d.ts'));
  assert.deepEqual(stray, [], 'the tarball ships no sources, tests, benchmarks or results');
  const tarball = join(work, info.filename);

  // Install, from the npm cache only.
  const project = join(work, 'consumer');
  const env = userEnv();
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: { protolens: `file:${tarball}` } }));
  writeFileSync(join(project, 'package-lock.json'), JSON.stringify(consumerLock(tarball)));
  timed('offline install', () => run('npm', ['ci', '--offline'], project, env));

  // Plain Node, ESM: both entries load; a model fits, round-trips and is analysed.
  writeFileSync(join(project, 'consumer.mjs'), ESM_CONSUMER);
  const esm = JSON.parse(timed('node ESM', () => run('node', ['consumer.mjs'], project, env)).stdout);
  assert.deepEqual(esm, { version: pkg.version, predict: ['a', 'b'], ncm: ['b'], analysed: 1,
    node: ['readFeatures', 'writeFeatures', 'extractDataset', 'explainToReport', 'startExplorerServer', 'enableNodeGemm',
      'trainEmbedding', 'runTraining', 'combineEmbeddings', 'concatEmbeddings', 'resolvePreprocess'],
    root: ['concatEmbeddings', 'resolvePreprocess'], trainDefaults: true });

  // TypeScript: the shipped declarations type-check a strict consumer under Node's module resolution,
  // with no TS5097 (.ts import) error and no declaration that resolves to any.
  writeFileSync(join(project, 'consumer.ts'), TS_CONSUMER);
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true,
      // The dependencies' own declarations (TF.js's) do not all pass a strict check; ours are checked through their use.
      skipLibCheck: true,
      lib: ['ES2022', 'DOM'], types: ['node'], typeRoots: [join(repoRoot, 'node_modules', '@types')],
    },
    files: ['consumer.ts'],
  }));
  timed('tsc', () => run('node', [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], project, env));

  // The command: its version, a tiny fit and predict, on compiled JavaScript with the wasm kernels.
  const version = timed('--version', () => run('npx', ['--no-install', 'protolens', '--version'], project, env));
  assert.equal(version.stdout.trim(), pkg.version);
  const rows = ['label,f0,f1'];
  for (let i = 0; i < 20; i++) rows.push(`${i % 2 ? 'b' : 'a'},${(i % 2) * 3 + (i % 5) * 0.1},${(i % 2) * 3 - (i % 3) * 0.1}`);
  writeFileSync(join(project, 'f.csv'), rows.join('\n') + '\n');
  const fit = timed('fit', () => run('npx', ['--no-install', 'protolens', 'fit', 'f.csv', '-o', 'model.json', '--no-progress'], project, env));
  assert.match(fit.stdout, /training accuracy 1\.000/);
  const model = JSON.parse(readFileSync(join(project, 'model.json'), 'utf8')) as { format: string; library: string };
  assert.deepEqual([model.format, model.library], ['protolens-model', `protolens ${pkg.version}`]);
  const predicted = JSON.parse(timed('predict', () => run('npx', ['--no-install', 'protolens', 'predict', 'model.json', '--features', 'f.csv', '--json'], project, env)).stdout) as { accuracy: number };
  assert.equal(predicted.accuracy, 1);

  // serve: the page packed with the package, without Vite (a devDependency, not installed here).
  assert.equal(spawnSync('node', ['-e', "import('vite').then(() => process.exit(0), () => process.exit(3))"], { cwd: project, env }).status, 3);
  const page = await timed('serve', () => servePage(project, env));
  assert.match(page, /<title>protolens explorer<\/title>/);
  t.diagnostic(`times: ${times.join(', ')}`);
});

/** Starts the installed `protolens serve` on the project's features, fetches its page, stops it. */
async function servePage(project: string, env: NodeJS.ProcessEnv): Promise<string> {
  // The installed command itself (not through npx), so that stopping it stops the server.
  const bin = join(project, 'node_modules', '.bin', 'protolens');
  const child = spawn(process.execPath, [bin, 'serve', '--features', 'f.csv', '--port', '0'], { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => { err += d; });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d;
        const m = /protolens explorer: (http:\S+)/.exec(out);
        if (m) resolve(m[1]);
      });
      child.on('exit', (code) => reject(new Error(`serve exited with ${code} before listening:\n${err}`)));
    });
    const res = await fetch(url);
    assert.equal(res.status, 200);
    return await res.text();
  } finally {
    child.kill('SIGTERM');
  }
}
