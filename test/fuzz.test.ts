/**
 * Property-based fuzzing of every reader (issue 20), with a fixed seed: valid, truncated,
 * bit-flipped and adversarial inputs per reader must end in a result (checked against the source
 * when the input was valid) or a named error. The generators and the judge are in
 * test/helpers/fuzz.ts; the long campaign, with counts per reader, is bench/fuzz.ts. A failure is
 * shrunk by fast-check to a minimal input, which then becomes a regression test in
 * test/bad-input.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { campaigns, runCampaign, type Tally } from './helpers/fuzz.ts';

const SEED = 20;
/** Inputs per reader: about a minute in all on the 2-core development machine. */
const RUNS: Record<string, number> = {
  '.npy': 3000, CSV: 3000, 'JSON lines': 3000, 'model JSON': 2000, 'feature sidecar': 800, 'zip data set': 1500, 'image file': 1500,
};

for (const c of campaigns()) {
  test(`fuzz ${c.name}: ${RUNS[c.name]} inputs (seed ${SEED}) end in a result or a named error`, async () => {
    const t: Tally = await runCampaign(c, RUNS[c.name], SEED);
    const total = Object.values(t).reduce((a, f) => a + f.result + f.refused, 0);
    assert.equal(total, RUNS[c.name]);
    // every family was drawn, and valid inputs were read (not refused)
    for (const f of ['valid', 'truncated', 'bit-flipped', 'adversarial'] as const) assert.ok(t[f].result + t[f].refused > 0, `no ${f} input`);
    assert.equal(t.valid.refused, 0);
    assert.ok(t.valid.result > RUNS[c.name] / 5);
  });
}
