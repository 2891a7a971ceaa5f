/** Merging repeated bench results and printing them as one Markdown table (console and README). */
import { median, sig } from './stats.ts';
import type { BenchResult, BenchRow } from './types.ts';

/** A row that merges several runs: median of their values, the widest min–max. */
export interface MergedRow extends BenchRow {
  runs: number;
}

export interface MergedResult {
  bench: string;
  rows: MergedRow[];
  notes: string[];
  /** Set when the bench did not run (missing file, crash): shown as one "not run" row. */
  notRun?: string;
}

/** Checks a value against targets written "≥ 50", "<= 3 %", "≥ 3×" (the number is compared as is). */
export function meetsTarget(value: number, target: string | undefined): boolean | undefined {
  const m = target && /^\s*(≥|>=|≤|<=|>|<)\s*(-?[\d.]+)/.exec(target);
  if (!m) return undefined;
  const t = Number(m[2]);
  switch (m[1]) {
    case '≥': case '>=': return value >= t;
    case '≤': case '<=': return value <= t;
    case '>': return value > t;
    default: return value < t;
  }
}

/** Several results of one bench (one per child process) → one, row by row (matched by label). */
export function mergeRuns(bench: string, results: readonly BenchResult[]): MergedResult {
  const order: string[] = [];
  const byLabel = new Map<string, BenchRow[]>();
  const notes: string[] = [];
  for (const r of results) {
    for (const row of r.rows) {
      if (!byLabel.has(row.label)) {
        byLabel.set(row.label, []);
        order.push(row.label);
      }
      byLabel.get(row.label)!.push(row);
    }
    for (const n of r.notes ?? []) if (!notes.includes(n)) notes.push(n);
  }
  const rows = order.map((label): MergedRow => {
    const rs = byLabel.get(label)!;
    if (rs.length === 1) return { ...rs[0], runs: 1 };
    const value = median(rs.map((r) => r.value));
    const target = rs.find((r) => r.target)?.target;
    const computed = meetsTarget(value, target);
    const passes = rs.filter((r) => r.pass !== undefined).map((r) => r.pass!);
    return {
      label, value, unit: rs[0].unit,
      min: Math.min(...rs.map((r) => r.min ?? r.value)),
      max: Math.max(...rs.map((r) => r.max ?? r.value)),
      ...(target ? { target } : {}),
      ...(computed !== undefined ? { pass: computed } : passes.length ? { pass: passes.filter(Boolean).length * 2 > passes.length } : {}),
      runs: rs.length,
    };
  });
  return { bench, rows, notes };
}

function fmt(x: number | undefined): string {
  if (x === undefined || Number.isNaN(x)) return '';
  const v = sig(x, 3);
  return Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : String(v);
}

/** One Markdown table: bench, measurement, median, min–max, unit, target, verdict. */
export function formatTable(results: ReadonlyArray<MergedResult | BenchResult>): string {
  const lines = ['| bench | measurement | median | min–max | unit | target | |', '|---|---|---:|---:|---|---|---|'];
  for (const r of results) {
    if ('notRun' in r && r.notRun) {
      lines.push(`| ${r.bench} | not run (${esc(r.notRun)}) | | | | | |`);
      continue;
    }
    for (const row of r.rows) {
      const range = row.min !== undefined && row.max !== undefined ? `${fmt(row.min)}–${fmt(row.max)}` : '';
      const verdict = row.pass === undefined ? '' : row.pass ? 'ok' : 'MISS';
      lines.push(`| ${r.bench} | ${esc(row.label)} | ${fmt(row.value)} | ${range} | ${row.unit} | ${esc(row.target ?? '')} | ${verdict} |`);
    }
  }
  return lines.join('\n');
}

function esc(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}
