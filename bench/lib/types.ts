/**
 * What every bench prints: exactly one JSON line on stdout, shaped BenchResult. bench/run.ts collects
 * these lines from each bench's child process and merges repeated runs into one table.
 *
 *   {"bench":"transport","rows":[{"label":"raw frames: round trip","value":812,"unit":"ms","min":790,"max":850}]}
 *
 * `value` is the figure (a median where the bench repeated it itself, with `min`/`max`); `target` a
 * human-readable goal such as "≥ 50%" and `pass` whether `value` meets it. Labels are unique within a
 * bench: run.ts matches rows of repeated runs by label.
 */
export interface BenchRow {
  label: string;
  value: number;
  unit: string;
  min?: number;
  max?: number;
  target?: string;
  pass?: boolean;
}

export interface BenchResult {
  bench: string;
  rows: BenchRow[];
  /** Free-form notes (machine load, sizes); shown under the table, not merged. */
  notes?: string[];
}

/** Prints the one JSON line (with --json) or a readable table (without). */
export function emit(result: BenchResult, json = process.argv.includes('--json')): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  // Imported lazily so a bench's JSON mode loads nothing extra.
  void import('./table.ts').then(({ formatTable }) => {
    process.stdout.write(`${formatTable([result])}\n`);
    for (const n of result.notes ?? []) process.stdout.write(`  ${n}\n`);
  });
}

/** A type guard for lines read back from a child's stdout. */
export function isBenchResult(v: unknown): v is BenchResult {
  if (!v || typeof v !== 'object') return false;
  const r = v as Partial<BenchResult>;
  return typeof r.bench === 'string' && Array.isArray(r.rows) && r.rows.every((x) => x && typeof x.label === 'string' && typeof x.value === 'number' && typeof x.unit === 'string');
}
