/**
 * Progress bars for long CLI jobs (`cli-progress`), written to stderr so stdout stays clean for
 * results. Quiet when stderr is not a terminal unless `force` is set; then one line per ~10%.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** Advances to `value` (absolute), with an optional status text. */
  update(value: number, status?: string): void;
  /** Changes the total (e.g. once it is known). */
  setTotal(total: number): void;
  stop(): void;
}

/** Makes a progress bar titled `title` counting up to `total` `unit`s, showing rate and ETA. */
export function progressBar(title: string, total: number, unit = 'items', force = false): Progress {
  const tty = Boolean(process.stderr.isTTY);
  if (!tty && !force) {
    let lastDecile = -1;
    let t = total;
    const start = Date.now();
    return {
      update(value, status) {
        const decile = t > 0 ? Math.floor((10 * value) / t) : 0;
        if (decile !== lastDecile) {
          lastDecile = decile;
          const rate = value / Math.max(1e-3, (Date.now() - start) / 1000);
          process.stderr.write(`${title}: ${value}/${t} ${unit} (${rate.toFixed(1)}/s)${status ? ' ' + status : ''}\n`);
        }
      },
      setTotal(n) { t = n; },
      stop() { /* nothing to clear */ },
    };
  }
  const bar = new cliProgress.SingleBar({
    format: `${title} [{bar}] {percentage}% | {value}/{total} ${unit} | {rate}/s | ETA {eta_formatted} {status}`,
    stream: process.stderr,
    hideCursor: true,
    etaBuffer: 50,
  }, cliProgress.Presets.shades_classic);
  const start = Date.now();
  bar.start(total, 0, { rate: '0.0', status: '' });
  return {
    update(value, status) {
      const rate = value / Math.max(1e-3, (Date.now() - start) / 1000);
      bar.update(value, { rate: rate.toFixed(1), status: status ?? '' });
    },
    setTotal(n) { bar.setTotal(n); },
    stop() { bar.stop(); },
  };
}
