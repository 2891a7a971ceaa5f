/**
 * A download progress bar on stderr. On a terminal it redraws one line (throttled); elsewhere
 * (logs, CI) it prints a line at each quarter so logs stay short.
 */
import type { DownloadProgress } from './download.ts';
import { formatBytes } from './units.ts';

export interface TextStream {
  write(s: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export interface ProgressSink {
  update(p: DownloadProgress): void;
  /** Ends the bar's line. */
  done(): void;
}

const REDRAW_MS = 100;

export function renderBar(label: string, p: DownloadProgress, bytesPerSecond: number, width: number): string {
  const pct = p.total ? Math.min(1, p.received / p.total) : undefined;
  const sizes = p.total ? `${formatBytes(p.received)} / ${formatBytes(p.total)}` : formatBytes(p.received);
  const speed = bytesPerSecond > 0 ? `  ${formatBytes(bytesPerSecond)}/s` : '';
  const tail = `${pct === undefined ? '' : `${String(Math.floor(pct * 100)).padStart(3)}%  `}${sizes}${speed}`;
  const barWidth = Math.max(10, Math.min(30, width - label.length - tail.length - 6));
  const filled = pct === undefined ? 0 : Math.round(pct * barWidth);
  return `${label} [${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}] ${tail}`;
}

export function progressBar(label: string, stream: TextStream, now: () => number = Date.now): ProgressSink {
  const start = now();
  let last = 0;
  let lastQuarter = -1;
  let latest: DownloadProgress | undefined;
  const speed = (p: DownloadProgress) => {
    const secs = (now() - start) / 1000;
    return secs > 0.5 ? (p.received - p.resumedFrom) / secs : 0;
  };
  return {
    update(p) {
      latest = p;
      if (stream.isTTY) {
        const t = now();
        if (t - last < REDRAW_MS && p.received !== p.total) return;
        last = t;
        stream.write(`\r${renderBar(label, p, speed(p), stream.columns ?? 80)}\x1b[K`);
        return;
      }
      const quarter = p.total ? Math.floor((p.received / p.total) * 4) : -1;
      if (quarter > lastQuarter) {
        lastQuarter = quarter;
        stream.write(`${renderBar(label, p, speed(p), 80)}\n`);
      }
    },
    done() {
      if (stream.isTTY && latest) stream.write(`\r${renderBar(label, latest, speed(latest), stream.columns ?? 80)}\x1b[K\n`);
    },
  };
}
