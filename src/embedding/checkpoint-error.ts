/**
 * The error of a checkpoint that exists but cannot be used. Its own module (no TF.js) so that the
 * CLI's error mapping can recognise it without loading the trainer.
 */

/** A checkpoint that exists but cannot be used. */
export class CheckpointError extends Error {
  constructor(readonly path: string, reason: string) {
    super(`${path}: unreadable checkpoint (${reason}). Delete checkpoint.json and its .bin data file in that folder, or choose another --out, to start afresh`);
    this.name = 'CheckpointError';
  }
}
