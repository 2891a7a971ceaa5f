/**
 * `npm run parity -- [--provider P] [--fp16] <dir> [case-name-filter...]`: every fixture case under
 * <dir>, one line each. --provider picks the execution provider (default cpu: the CPU flavour);
 * GPU providers run the portable flavour (fp32), or portable-fp16 with --fp16 (cuda: its own
 * flavour). WebGPU on Linux needs XDG_RUNTIME_DIR (a private default is set when it is missing).
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PROVIDER_NAMES, type ProviderName } from '../runtime/providers.ts';
import { listCases } from './fixture.ts';
import { formatReport, runCase } from './run.ts';
import { parityTarget, targetLabel } from './target.ts';

const USAGE = `usage: npm run parity -- [--provider ${PROVIDER_NAMES.join('|')}] [--fp16] <fixtures-dir> [name-filter ...]

Runs every case in <dir>/index.json (or <dir> itself if it holds a case.json),
compares every out.* tensor with its tolerance, prints one line per case and "N passed, M failed".
--provider  execution provider (default cpu); GPU providers get the portable graph flavour
--fp16      fp16 compute (portable-fp16; fp16 tolerances, see docs/providers.md)`;

interface CliArgs {
  readonly provider: ProviderName;
  readonly fp16: boolean;
  readonly positional: string[];
}

function parseArgs(argv: readonly string[]): CliArgs | string {
  let provider: ProviderName = 'cpu';
  let fp16 = false;
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--fp16') fp16 = true;
    else if (a === '--provider' || a.startsWith('--provider=')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (!v || !(PROVIDER_NAMES as readonly string[]).includes(v)) return `--provider: expected one of ${PROVIDER_NAMES.join(', ')}, got ${JSON.stringify(v ?? '')}`;
      provider = v as ProviderName;
    } else if (a.startsWith('--')) return `unknown option ${a}`;
    else positional.push(a);
  }
  return { provider, fp16, positional };
}

/** Dawn's Vulkan backend on Linux wants XDG_RUNTIME_DIR; give it a private one when unset. */
function ensureRuntimeDir(): void {
  if (process.platform !== 'linux' || process.env.XDG_RUNTIME_DIR) return;
  const dir = join(tmpdir(), `ipa-bridge-xdg-${process.getuid?.() ?? 'user'}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  process.env.XDG_RUNTIME_DIR = dir;
}

const argv = process.argv.slice(2);
if (argv.length === 0 || argv.includes('--help')) {
  console.log(USAGE);
  process.exit(argv.length === 0 ? 2 : 0);
}
const args = parseArgs(argv);
if (typeof args === 'string' || args.positional.length === 0) {
  console.error(`${typeof args === 'string' ? args : 'missing <fixtures-dir>'}\n\n${USAGE}`);
  process.exit(2);
}
ensureRuntimeDir();
const target = parityTarget(args.provider, args.fp16);
const [dir, ...filters] = args.positional;
const cases = listCases(resolve(dir)).filter((c) => filters.length === 0 || filters.some((f) => c.includes(f)));
console.log(`parity on ${targetLabel(target)}: ${cases.length} cases`);
let passed = 0;
let failed = 0;
for (const c of cases) {
  const r = await runCase(c, target);
  console.log(formatReport(r));
  if (r.pass) passed++;
  else failed++;
}
console.log(`${passed} passed, ${failed} failed (${targetLabel(target)})`);
process.exit(failed > 0 ? 1 : 0);
