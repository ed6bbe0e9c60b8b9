// docs/tutorial.md runs as written: every command of its ```sh blocks, in order, in a fresh
// folder (../shared read where the shared data is), as a user runs them: protolens through its
// command (bin/protolens.mjs; in-process runs would start fit --cv's workers with the test's
// `--import tsx`, which does not resolve outside the clone), other lines through bash, and `serve`
// started, asked for its page and map, and stopped. The results are checked: the unseen drawings
// get their true characters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { omniglotDir, repoRoot, sharedDir } from './helpers/data.ts';

/** The command lines of the page's ```sh blocks, in order. */
function tutorialCommands(): string[] {
  const md = readFileSync(join(repoRoot, 'docs', 'tutorial.md'), 'utf8');
  return [...md.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1].split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')));
}

/** Starts `serve` (on a free port, its address as JSON), fetches its page and map, stops it. */
async function serveOnce(args: string[], cwd: string): Promise<{ page: number; map: { n: number; classes: string[] }; code: number | null }> {
  const child = spawn(process.execPath, [join(repoRoot, 'bin', 'protolens.mjs'), ...args, '--port', '0', '--json'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (b: Buffer) => { err += b.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const first = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).once('line', resolve);
      void exited.then((code) => reject(new Error(`serve exited (${code}) before listening: ${err}`)));
    });
    const { url } = JSON.parse(first) as { url: string };
    const page = (await fetch(url)).status;
    const map = await (await fetch(new URL('api/map', url))).json() as { n: number; classes: string[] };
    child.kill('SIGTERM');
    return { page, map, code: await exited };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

const om = omniglotDir();
test('docs/tutorial.md: extract → fit --cv → evaluate → explain → predict → serve, as written', { skip: om.skip }, om.guard(async () => {
  const commands = tutorialCommands();
  assert.deepEqual(commands.filter((c) => c.startsWith('protolens ')).map((c) => c.split(' ')[1]), ['extract', 'fit', 'evaluate', 'explain', 'predict', 'serve']);
  const dir = mkdtempSync(join(tmpdir(), 'protolens-tutorial-'));
  const at = (f: string) => join(dir, f);
  try {
    let predicted = '';
    for (const line of commands.map((c) => c.replaceAll('../shared', sharedDir))) {
      if (!line.startsWith('protolens ')) {
        const r = spawnSync('bash', ['-c', line], { cwd: dir, encoding: 'utf8' });
        assert.equal(r.status, 0, `${line}: ${r.stderr}`);
        continue;
      }
      assert.doesNotMatch(line, /["'\\$`]/, 'the test splits protolens lines on spaces: no quoting');
      const args = line.split(/\s+/).slice(1);
      if (args[0] === 'serve') {
        const s = await serveOnce(args, dir);
        assert.equal(s.page, 200);
        assert.deepEqual([s.map.n, s.map.classes], [98, ['character01', 'character02', 'character03', 'character04', 'character05']]);
        assert.equal(s.code, 0, 'serve stops cleanly on SIGTERM');
        continue;
      }
      const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'protolens.mjs'), ...args, ...(['extract', 'fit', 'evaluate'].includes(args[0]) ? ['--no-progress'] : [])], { cwd: dir, encoding: 'utf8' });
      assert.equal(r.status, 0, `${line}: ${r.stderr}`);
      if (args[0] === 'predict') predicted = r.stdout;
    }
    // 5 characters × 20 drawings, 2 put aside.
    const sidecar = JSON.parse(readFileSync(at('tutorial/features.json'), 'utf8'));
    assert.deepEqual([sidecar.rows, sidecar.cols], [98, 1280]);
    // A Pipeline (the sqrt-l2 transform, then the prototype model) with the search saved in it.
    const model = JSON.parse(readFileSync(at('tutorial/model.json'), 'utf8'));
    assert.deepEqual([model.kind, model.model.selection.folds], ['Pipeline', 3]);
    const evaluation = JSON.parse(readFileSync(at('tutorial/evaluation/evaluation.json'), 'utf8'));
    assert.deepEqual(evaluation.classifiers.map((c: { confusion: number[][] }) => c.confusion.flat().reduce((a, b) => a + b, 0)), [98, 98, 98, 98]);
    for (const f of ['tutorial/evaluation/report.html', 'tutorial/evaluation/confusion-prototype.svg', 'tutorial/report/report.html']) assert.ok(existsSync(at(f)), f);
    // The two unseen drawings get their own characters.
    const rows = predicted.trim().split('\n');
    // fit --cv also calibrates (docs/openset.md): the model has a rejection rule, so predict says which answers are "unknown".
    assert.equal(rows[0], 'index,path,label,probability,unknown,novelty,novelty_reason');
    assert.deepEqual(rows.slice(1).map((r) => r.split(',').slice(1, 3).join(',')), ['0893_20.png,character01', '0894_20.png,character02']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}));
