/**
 * `npm run bench [-- NAME… ] [--repeat N] [--readme] [--args "…"] [--timeout S] [--json]`
 *
 * Runs each benchmark in its own child process (`node --import tsx bench/<file> --json`), reads the one
 * JSON line it prints (bench/lib/types.ts BenchResult), merges repeated runs (median, widest min–max)
 * and prints one table. NAMEs pick benches (all variants of a name); none = all. A bench whose file is
 * missing, or that fails, shows as "not run". `--args` replaces the selected benches' own flags.
 * `--readme` rewrites the block between <!-- BENCH:START --> and <!-- BENCH:END --> in README.md with
 * the table, the machine and the date; rows of benches not run this time are kept from the old block.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describeMachine, machineInfo, ROOT } from './lib/machine.ts';
import { summarize } from './lib/stats.ts';
import { formatTable, mergeRuns, type MergedResult } from './lib/table.ts';
import { isBenchResult, type BenchResult, type BenchRow } from './lib/types.ts';

interface Entry {
  /** What NAME selects. */
  name: string;
  /** Shown in the table's bench column (name plus the variant's flags). */
  label: string;
  file: string;
  args: string[];
  /** Runs only when named (the GPU-machine check would take an hour on a CPU). */
  onlyWhenNamed?: boolean;
}

const variant = (name: string, file: string, args: string[] = []): Entry => ({ name, file, args, label: [name, ...args].join(' ') });

/** Every bench run.ts knows, in table order. Files that do not exist yet are reported as "not run". */
export const BENCHES: readonly Entry[] = [
  variant('transport', 'transport.ts'),
  variant('latency', 'latency.ts'),
  variant('responsiveness', 'responsiveness.ts'),
  variant('engine-overhead', 'engine-overhead.ts'),
  variant('unet-step', 'unet-step.ts'),
  variant('unet-step', 'unet-step.ts', ['--ip']),
  variant('unet-step', 'unet-step.ts', ['--ip', '--control']),
  variant('engine-full', 'engine-full.ts'),
  variant('sdxl', 'sdxl.ts'),
  variant('live', 'live.ts'),
  variant('team', 'team.ts'),
  { ...variant('device', 'device.ts'), onlyWhenNamed: true },
];

const START = '<!-- BENCH:START -->';
const END = '<!-- BENCH:END -->';

interface Options {
  names: string[];
  repeat: number;
  readme: boolean;
  json: boolean;
  args?: string[];
  timeoutS: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { names: [], repeat: 1, readme: false, json: false, timeoutS: 3600 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--readme') o.readme = true;
    else if (a === '--json') o.json = true;
    else if (a === '--repeat') o.repeat = Math.max(1, Number(argv[++i]));
    else if (a === '--timeout') o.timeoutS = Number(argv[++i]);
    else if (a === '--args') o.args = (argv[++i] ?? '').split(/\s+/).filter(Boolean);
    else if (a === '--help' || a === '-h') {
      process.stdout.write(`usage: npm run bench -- [${[...new Set(BENCHES.map((b) => b.name))].join('|')} …] [--repeat N] [--readme] [--args "FLAGS"] [--timeout S] [--json]\n`);
      process.exit(0);
    } else if (a.startsWith('--')) throw new Error(`unknown option ${a} (see --help)`);
    else o.names.push(a);
  }
  const known = new Set(BENCHES.map((b) => b.name));
  const unknown = o.names.filter((n) => !known.has(n));
  if (unknown.length) throw new Error(`unknown bench ${unknown.join(', ')}: known are ${[...known].join(', ')}`);
  return o;
}

/** Benches that printed the older free-form shape: numbers (and arrays of numbers) become rows. */
function coerce(name: string, v: Record<string, unknown>): BenchResult {
  const rows: BenchRow[] = [];
  const unitOf = (k: string): string => (/Ms$/.test(k) ? 'ms' : /GiB$/.test(k) ? 'GiB' : /MiB$/.test(k) ? 'MiB' : /Pct$|Percent$/.test(k) ? '%' : '');
  for (const [k, x] of Object.entries(v)) {
    if (typeof x === 'number') rows.push({ label: k, value: x, unit: unitOf(k) });
    else if (Array.isArray(x) && x.length && x.every((e) => typeof e === 'number')) {
      const s = summarize(x as number[]);
      rows.push({ label: k, value: s.value, unit: unitOf(k), min: s.min, max: s.max });
    }
  }
  return { bench: name, rows };
}

/** The last stdout line that is a JSON object with a "bench" field. */
export function parseBenchOutput(name: string, stdout: string): BenchResult | null {
  const lines = stdout.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('{'));
  for (let i = lines.length - 1; i >= 0; i--) {
    let v: unknown;
    try {
      v = JSON.parse(lines[i]);
    } catch {
      continue;
    }
    if (isBenchResult(v)) return v;
    if (v && typeof v === 'object' && 'bench' in v) return coerce(name, v as Record<string, unknown>);
  }
  return null;
}

function runChild(e: Entry, args: string[], timeoutS: number): Promise<{ result: BenchResult | null; error?: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join('bench', e.file), ...args, '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutS * 1000);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ result: null, error: err.message });
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const result = parseBenchOutput(e.name, out);
      if (result) resolve({ result });
      else resolve({ result: null, error: signal === 'SIGKILL' ? `timed out after ${timeoutS} s` : `exit ${code ?? signal}, no JSON line` });
    });
  });
}

/** Table rows and note lines of an earlier README block, by bench label (for benches not run now). */
function oldBlock(block: string): Map<string, { rows: string[]; notes: string[] }> {
  const m = new Map<string, { rows: string[]; notes: string[] }>();
  const get = (k: string) => m.get(k) ?? (m.set(k, { rows: [], notes: [] }), m.get(k)!);
  for (const line of block.split('\n')) {
    const row = /^\|\s*([^|]+?)\s*\|/.exec(line);
    if (row && row[1] !== 'bench' && !/^-+$/.test(row[1]) && !line.includes('| not run')) get(row[1]).rows.push(line);
    const note = /^- \*\*(.+?)\*\*/.exec(line);
    if (note) get(note[1]).notes.push(line);
  }
  return m;
}

/**
 * The README block: this run's rows; for benches not run now (or that failed), the old block's rows and
 * notes as they were (each note carries the date it was measured); "not run" only where nothing is known.
 */
function readmeBlock(results: MergedResult[], date: string, command: string, old: Map<string, { rows: string[]; notes: string[] }>): string {
  const ran = new Map(results.map((r) => [r.bench, r]));
  const labels = [...new Set([...BENCHES.map((b) => b.label), ...results.map((r) => r.bench), ...old.keys()])];
  const table = formatTable([]).split('\n');
  const out = [table[0], table[1]];
  const notes: string[] = [];
  let kept = false;
  for (const label of labels) {
    const r = ran.get(label);
    const before = old.get(label);
    if (r && !r.notRun) {
      out.push(...formatTable([r]).split('\n').slice(2));
      notes.push(`- **${r.bench}** (${date})${r.notes.length ? `: ${r.notes.join('; ')}` : ''}`);
    } else if (before && before.rows.length) {
      out.push(...before.rows);
      notes.push(...before.notes);
      kept = true;
    } else if (r) {
      out.push(...formatTable([r]).split('\n').slice(2));
    }
  }
  const m = machineInfo();
  return [
    `Measured on ${describeMachine(m)}; ${date}; \`${command}\`.`,
    `Each figure is the median of several runs, with the lowest and highest.${kept ? ' Benches not rerun this time keep their earlier figures (dated below).' : ''}`,
    '',
    ...out,
    '',
    ...notes,
  ].join('\n');
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  const entries = BENCHES.filter((b) => (o.names.length === 0 && !b.onlyWhenNamed) || o.names.includes(b.name));
  // `--args` replaces the variants of one name with a single run of those flags.
  const plan: Entry[] = o.args ? [...new Map(entries.map((e) => [e.name, { ...e, args: o.args!, label: [e.name, ...o.args!].join(' ') }])).values()] : entries;
  const m0 = machineInfo();
  process.stderr.write(`bench: ${plan.map((e) => e.label).join(', ')} (${o.repeat} run${o.repeat > 1 ? 's' : ''} each) on ${describeMachine(m0)}, load ${m0.load.join(' / ')}\n`);
  const merged: MergedResult[] = [];
  for (const e of plan) {
    if (!existsSync(join(ROOT, 'bench', e.file))) {
      process.stderr.write(`bench: ${e.label}: bench/${e.file} does not exist; not run\n`);
      merged.push({ bench: e.label, rows: [], notes: [], notRun: `bench/${e.file} missing` });
      continue;
    }
    const got: BenchResult[] = [];
    let error: string | undefined;
    for (let i = 0; i < o.repeat; i++) {
      process.stderr.write(`bench: ${e.label}${o.repeat > 1 ? ` run ${i + 1}/${o.repeat}` : ''}…\n`);
      const t0 = Date.now();
      const r = await runChild(e, e.args, o.timeoutS);
      if (r.result) got.push(r.result);
      else error = r.error;
      process.stderr.write(`bench: ${e.label} ${r.result ? 'done' : `failed (${r.error})`} in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
    }
    merged.push(got.length ? mergeRuns(e.label, got) : { bench: e.label, rows: [], notes: [], notRun: error ?? 'failed' });
  }
  const m1 = machineInfo();
  const table = formatTable(merged);
  if (o.json) process.stdout.write(`${JSON.stringify({ machine: m1, results: merged })}\n`);
  else {
    process.stdout.write(`\n${table}\n\n`);
    for (const r of merged) for (const n of r.notes) process.stdout.write(`${r.bench}: ${n}\n`);
    process.stdout.write(`\n${describeMachine(m1)}; load ${m0.load.join(' / ')} at start, ${m1.load.join(' / ')} at the end\n`);
  }
  if (o.readme) {
    const path = join(ROOT, 'README.md');
    const text = readFileSync(path, 'utf8');
    const a = text.indexOf(START);
    const b = text.indexOf(END);
    if (a < 0 || b < a) throw new Error(`README.md has no ${START} … ${END} block`);
    const date = new Date().toISOString().slice(0, 10);
    const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
    const block = readmeBlock(merged, date, command, oldBlock(text.slice(a + START.length, b)));
    writeFileSync(path, `${text.slice(0, a + START.length)}\n${block}\n${text.slice(b)}`);
    process.stderr.write('bench: README.md updated\n');
  }
  // A missing bench file is expected (benches land one by one); a bench that ran and failed is not.
  return merged.some((r) => r.notRun && !r.notRun.endsWith(' missing')) ? 1 : 0;
}

// Only as the entry point: importing run.ts (for parseBenchOutput, BENCHES) runs nothing.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then((code) => (process.exitCode = code), (e: unknown) => {
    process.stderr.write(`bench: ${(e as Error).message}\n`);
    process.exitCode = 2;
  });
}
