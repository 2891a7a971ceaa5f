/** A one-line progress bar on stderr (a line per 25 % when stderr is not a terminal). */

export interface ProgressBar {
  update(step: number, total: number, etaMs?: number): void;
  note(text: string): void;
  done(): void;
}

export function progressBar(stream: NodeJS.WriteStream = process.stderr): ProgressBar {
  const tty = stream.isTTY === true;
  let lastQuarter = -1;
  let drawn = false;
  return {
    update(step, total, etaMs) {
      const frac = total > 0 ? Math.min(1, step / total) : 0;
      const eta = etaMs !== undefined && step < total ? `  eta ${(etaMs / 1000).toFixed(1)} s` : '';
      if (tty) {
        const width = 30;
        const fill = Math.round(frac * width);
        stream.write(`\r[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${step}/${total}${eta}\x1b[K`);
        drawn = true;
      } else {
        const q = Math.floor(frac * 4);
        if (q !== lastQuarter) {
          lastQuarter = q;
          stream.write(`step ${step}/${total}${eta}\n`);
        }
      }
    },
    note(text) {
      if (tty && drawn) stream.write('\r\x1b[K');
      drawn = false;
      stream.write(`${text}\n`);
    },
    done() {
      if (tty && drawn) stream.write('\n');
      drawn = false;
    },
  };
}
