/** The library version (package.json's, copied by scripts/version.mjs), written into every saved model, feature file and report. */
export const VERSION = '0.1.0';
