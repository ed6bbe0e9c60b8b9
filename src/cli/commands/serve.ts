/**
 * `protolens serve`: the web explorer on a local server. Without arguments it shows the embedded
 * default (mnist digits embedded by MobileNetV2 through the feature cache, fitted on the spot);
 * with `--features` it shows a feature file (and `--model`, `--images` when given).
 */
import type { Command } from 'commander';
import { CLIError, toCliError } from '../errors.ts';
import { libraryChoice, positiveInt, preprocessHelp } from '../flags.ts';
import { checkPreprocessChoice } from '../../model/preprocess.ts';
import { progressBar, type Progress } from '../progress.ts';
import { explorerPage } from '../../server/build.node.ts';
import { startExplorerServer, type ExplorerSource } from '../../server/server.node.ts';
import { digitsSource, fileSource, type SourceProgress } from '../../server/sources.node.ts';
import type { IterationRecord } from '../../model/types.ts';

interface ServeFlags {
  model?: string;
  features?: string;
  images?: string;
  port: string;
  host: string;
  backbone: string;
  digits: string;
  cacheDir?: string;
  cache: boolean;
  maxUpload: string;
  prototypes?: string;
  reconstructions?: string;
  preprocess: string;
  json: boolean;
}

/** Progress bars for extraction and fitting, on stderr. */
function progress(say: (s: string) => void): SourceProgress & { stop(): void } {
  let extract: Progress | undefined;
  let fit: Progress | undefined;
  return {
    say,
    onExtract(done, total, cached) {
      extract ??= progressBar('embedding digits', total, 'images');
      extract.update(done, cached ? `(${cached} cached)` : '');
      if (done === total) { extract.stop(); }
    },
    onFit(r: IterationRecord, maxIter: number) {
      fit ??= progressBar('fitting prototypes', maxIter, 'iterations');
      fit.update(r.iter, `loss ${r.loss.toFixed(4)}`);
    },
    stop() { fit?.stop(); },
  };
}

export function register(program: Command): void {
  program
    .command('serve')
    .option('-m, --model <model.json>', 'a saved PrototypeClassifier (default: fitted on the spot)')
    .option('-f, --features <file>', 'feature file (.npy with its .json sidecar, .csv or .jsonl) with labels (default: the embedded digits)')
    .option('-i, --images <dir>', 'folder the feature file\'s paths are relative to (thumbnails); only this folder is served')
    .option('-p, --port <n>', 'port (0: any free port)', '8737')
    .option('--host <address>', 'address to listen on; anything but loopback exposes your data to the network', '127.0.0.1')
    .option('-b, --backbone <name|path>', 'backbone of the embedded digits: mobilenet_v2 | inception_v3 | pixels-<n> | a .onnx file', 'mobilenet_v2')
    .option('--digits <n>', 'embedded digits per class', '30')
    .option('-J, --prototypes <n>', 'prototypes of a model fitted on the spot (default: 3 per class for the digits, 2 per class for --features)')
    .option('--preprocess <method>', preprocessHelp('feature transform of a model fitted on the spot on --features, as fit would choose it'), 'auto')
    .option('--cache-dir <dir>', 'feature cache (default $PROTOLENS_CACHE or ~/.cache/protolens)')
    .option('--no-cache', 'neither read nor write the feature cache')
    .option('--max-upload <bytes>', 'largest image accepted by "classify an image"', String(8 * 1024 * 1024))
    .option('--reconstructions <file>', 'the reconstructions.json of a report of the same --model (protolens explain --reconstruct): shown at once instead of computed again')
    .option('--json', 'print the address as one line of JSON ({"url": …}) once the explorer listens', false)
    .action(async (flags: ServeFlags, cmd: Command) => {
      const say = (s: string): void => { process.stderr.write(s + '\n'); };
      const port = positiveInt('--port', flags.port, true);
      if (port > 65535) throw new CLIError(`Invalid value for --port: "${flags.port}". Expected 0–65535.`);
      const maxUpload = positiveInt('--max-upload', flags.maxUpload);
      if (flags.model && !flags.features) throw new CLIError('--model needs --features: the explorer draws the samples the model is explained on');
      if (flags.images && !flags.features) throw new CLIError('--images needs --features: thumbnails are found through the feature file\'s paths');
      if (flags.reconstructions && !flags.model) throw new CLIError('--reconstructions needs --model (and --features): they are reconstructions of that saved model\'s prototypes');
      const cacheDir = flags.cache ? flags.cacheDir : false;
      const J = flags.prototypes === undefined ? undefined : positiveInt('--prototypes', flags.prototypes);
      if (J !== undefined && flags.model) throw new CLIError('--prototypes sets the size of a model fitted on the spot; it cannot change the saved model given by --model');
      const fit = J === undefined ? {} : { nPrototypes: J };
      const preprocess = libraryChoice('--preprocess', flags.preprocess, checkPreprocessChoice);
      if (cmd.getOptionValueSource('preprocess') === 'cli') {
        if (!flags.features) throw new CLIError('--preprocess needs --features: the embedded digits are fitted on their raw features, as protolens demo fits them');
        if (flags.model) throw new CLIError('--preprocess sets the feature transform of a model fitted on the spot; the saved model given by --model carries its own');
      }
      const p = progress(say);
      let source: ExplorerSource;
      try {
        if (flags.features) {
          source = await fileSource({ features: flags.features, model: flags.model, images: flags.images, reconstructions: flags.reconstructions, cacheDir, fit, ...(flags.model ? {} : { preprocess }), ...p });
        } else {
          say(`embedded default: mnist digits (${positiveInt('--digits', flags.digits)} per class), ${flags.backbone} features through the cache`);
          source = await digitsSource({ perClass: positiveInt('--digits', flags.digits), backbone: flags.backbone, cacheDir, model: fit, ...p });
        }
      } catch (e) {
        throw toCliError(e);
      } finally {
        p.stop();
      }
      const m = source.model;
      say(`model: J = ${m.prototypes_!.rows} prototypes, ${m.classes_.length} classes, training accuracy ${(100 * m.score(source.X, source.y)).toFixed(1)}%`);
      let webDir: string;
      try {
        webDir = await explorerPage({ log: say });
      } catch (e) {
        // A broken installation, not a usage error: exit code 1, with the message alone.
        throw new CLIError((e as Error).message, 1);
      }
      let server;
      try {
        server = await startExplorerServer(source, { host: flags.host, port, webDir, maxUpload, onError: (s) => say(`error: ${s}`) });
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE') throw new CLIError(`port ${port} is in use on ${flags.host}; choose another with --port (0 picks a free one)`);
        if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new CLIError(`cannot listen on ${flags.host}: no such local address`);
        throw e;
      }
      (source.embedder as { prefetch?: () => void } | undefined)?.prefetch?.();
      process.stdout.write(flags.json ? JSON.stringify({ url: server.url }) + '\n' : `protolens explorer: ${server.url}\n`);
      if (flags.host !== '127.0.0.1' && flags.host !== 'localhost' && flags.host !== '::1') say(`note: listening on ${flags.host}, reachable from other machines`);
      say('press Ctrl+C to stop');
      await new Promise<void>((resolve) => {
        const stop = () => { void server.close().then(resolve); };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
