/** The library version, written into every saved model, feature file and report. */
export const VERSION = '0.1.0';
