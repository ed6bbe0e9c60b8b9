import { test } from 'node:test';
import assert from 'node:assert/strict';
import { calibrationRecord } from '../src/model/calibration.ts';
import { DEFAULT_NOVELTY_SCORE } from '../src/model/novelty.ts';

test('calibrationRecord without options uses its documented defaults (novelty score, 5 % target); a bad score is still named', () => {
  // 10 held-out samples, 2 classes: 9 right, 1 wrong; novelty scores 0.1 … 1.0.
  const logits = { data: Float32Array.from([2, 0, 2, 0, 2, 0, 2, 0, 2, 0, 2, 0, 2, 0, 2, 0, 2, 0, 0, 2]), rows: 10, cols: 2 };
  const codes = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  const novelty = Float64Array.from({ length: 10 }, (_, i) => (i + 1) / 10);
  const a = calibrationRecord({ logits, codes, novelty }, {}, 'hand-made');
  const b = calibrationRecord({ logits, codes, novelty }, { score: DEFAULT_NOVELTY_SCORE, targetFalseRejection: 0.05 }, 'hand-made');
  assert.equal(a.rejection.score, 'spread');
  assert.deepEqual(a, b);
  assert.throws(() => calibrationRecord({ logits, codes, novelty }, { score: 'nearest' as 'spread' }, 'hand-made'), /nearest/);
});
