#!/usr/bin/env node
// Builds protolens's Node addons (native/binding.gyp: protolens_gemm from gemm.cc, protolens_conv
// from conv.cc) with node-gyp. Run by npm as the package's `install` script (`npm ci`,
// `npm install`) and by `npm run build:native`.
//
// Outside CI it never fails the install: when the build fails (no compiler, no Node headers, an
// unsupported platform), protolens keeps its WebAssembly/JavaScript kernels. In CI (CI=true or 1,
// which .ci/run exports) a build that fails or is skipped fails the install: the CLI and every
// headline figure run on the addon, so CI must test it. Either way the outcome is written to
// native/build/status.json ({ ok, reason, … }), which src/linalg/gemm-native.node.ts reads to say
// why the native kernel is not in use, and node-gyp's output to native/build/build.log.
// PROTOLENS_NATIVE=0 skips the build.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const nativeDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'native');
const ADDONS = ['protolens_gemm.node', 'protolens_conv.node'];
const buildDir = join(nativeDir, 'build');

function finish(ok, reason, log = '') {
  mkdirSync(buildDir, { recursive: true });
  writeFileSync(join(buildDir, 'build.log'), log);
  const status = { ok, reason, date: new Date().toISOString(), node: process.version, platform: `${process.platform}-${process.arch}` };
  // The sources the addons were built from, for the tests that catch a stale build.
  if (ok) {
    status.sourceSha256 = Object.fromEntries(['gemm.cc', 'conv.cc'].map((f) => [f, createHash('sha256').update(readFileSync(join(nativeDir, f))).digest('hex')]));
  }
  writeFileSync(join(buildDir, 'status.json'), `${JSON.stringify(status, null, 2)}\n`);
  if (!ok && inCI) {
    console.error(`protolens: native addons not built (${reason}). CI is set, and CI must test the native addon: failing the install. Log: native/build/build.log`);
    process.exit(1);
  }
  console.log(ok
    ? `protolens: native addons built (${ADDONS.map((a) => `native/build/Release/${a}`).join(', ')})`
    : `protolens: native addons not built (${reason}); protolens will use its WebAssembly/JavaScript kernels. Log: native/build/build.log`);
  process.exit(0);
}

const inCI = /^(true|1)$/i.test((process.env.CI ?? '').trim());

if (process.env.PROTOLENS_NATIVE === '0') finish(false, 'skipped: PROTOLENS_NATIVE=0 at install');

// Inside npm scripts, npm names its bundled node-gyp and passes its settings (e.g. nodedir) as
// npm_config_* variables: run this through npm (`npm run build:native`). Run by hand, it falls
// back to a node-gyp on the PATH.
const gypJs = process.env.npm_config_node_gyp;
const [cmd, args] = gypJs && existsSync(gypJs)
  ? [process.execPath, [gypJs, 'rebuild']]
  : ['node-gyp', ['rebuild']];
const r = spawnSync(cmd, args, { cwd: nativeDir, encoding: 'utf8', shell: process.platform === 'win32' && cmd === 'node-gyp' });
const log = `${cmd} ${args.join(' ')}\n${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? `\n${r.error.message}\n` : ''}`;
if (r.error) finish(false, `could not run node-gyp: ${r.error.message}`, log);
if (r.status !== 0) {
  // The first compiler or gyp error line says the most.
  const line = log.split('\n').find((l) => /error|ERR!.*(stack Error|not found|configure error)/i.test(l) && !/gyp ERR! (System|command|cwd|node -v|node-gyp -v|not ok)/.test(l));
  finish(false, `node-gyp rebuild exited with ${r.status}${line ? `: ${line.trim().slice(0, 200)}` : ''}`, log);
}
const missing = ADDONS.filter((a) => !existsSync(join(buildDir, 'Release', a)));
if (missing.length > 0) finish(false, `node-gyp succeeded but produced no ${missing.join(', ')}`, log);
finish(true, 'built', log);
