/**
 * `ipa-bridge models …`: list, pull, presets, where. The daemon's CLI passes the arguments after
 * `models`; the exit code is returned, never process.exit'ed, so it can be embedded and tested.
 */
import { existsSync } from 'node:fs';
import { resolveRoots, type ResolvedRoots } from './config.ts';
import { HashCache } from './hash-cache.ts';
import { hubEndpoint, hubToken } from './hub.ts';
import { cacheDir, type Env } from './paths.ts';
import { builtinPresets, getPreset, type Preset } from './presets.ts';
import type { TextStream } from './progress.ts';
import { pullPreset } from './pull.ts';
import { ModelRegistry } from './registry.ts';
import type { ModelEntry } from './scan.ts';
import { formatBytes } from './units.ts';

export interface CliIo {
  readonly stdout: TextStream;
  readonly stderr: TextStream;
  readonly env: Env;
}

const USAGE = `Usage: ipa-bridge models <command> [options]

Commands:
  list [--json] [--verbose] [--no-hash]
                     every model found: name, type, size, sha256 (hashes are cached, so a second
                     listing does not re-read multi-GB files); --verbose also shows skipped files
  pull <preset>      download a preset from the model hub (resumable, sha256-verified)
  presets [--json]   the presets and the files each one fetches
  where [--json]     config file, cache, download folder and the model folders that are scanned

Options:
  --models DIR       a model folder to use instead of the configured ones (repeatable). Our own
                     layout, a ComfyUI install or models folder, or an A1111/Forge install or models
                     folder; the layout is detected. For pull: the folder to download into.
  -h, --help         this help

Configuration: models.json in the config folder ({"roots": [...], "downloadDir": "..."}; see
\`models where\`). Environment: HF_ENDPOINT (hub mirror), HF_TOKEN (gated repos),
IPA_BRIDGE_CONFIG_DIR, IPA_BRIDGE_CACHE_DIR, IPA_BRIDGE_MODELS_DIR.

Examples:
  npx ipa-bridge models pull sd15-style
  npx ipa-bridge models list --models ~/ComfyUI
`;

interface Args {
  readonly positional: string[];
  readonly models: string[];
  readonly flags: Set<string>;
}

class UsageError extends Error {}

const FLAGS = new Set(['--json', '--verbose', '--no-hash', '--help', '-h']);

function parseArgs(argv: readonly string[]): Args {
  const positional: string[] = [];
  const models: string[] = [];
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--models') {
      const v = argv[++i];
      if (!v) throw new UsageError('--models needs a folder');
      models.push(v);
    } else if (a.startsWith('--models=')) {
      models.push(a.slice('--models='.length));
    } else if (FLAGS.has(a)) {
      flags.add(a === '-h' ? '--help' : a);
    } else if (a.startsWith('-')) {
      throw new UsageError(`unknown option ${a}`);
    } else {
      positional.push(a);
    }
  }
  return { positional, models, flags };
}

export async function runModelsCommand(argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  const rest = argv[0] === 'models' ? argv.slice(1) : argv;
  let args: Args;
  try {
    args = parseArgs(rest);
  } catch (e) {
    io.stderr.write(`error: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const [command, ...params] = args.positional;
  if (args.flags.has('--help') || command === undefined || command === 'help') {
    io.stdout.write(USAGE);
    return command === undefined && !args.flags.has('--help') ? 2 : 0;
  }
  try {
    switch (command) {
      case 'list':
        return await listCommand(args, io);
      case 'pull':
        return await pullCommand(params, args, io);
      case 'presets':
        return presetsCommand(args, io);
      case 'where':
        return whereCommand(args, io);
      default:
        io.stderr.write(`error: unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    io.stderr.write(`error: ${(e as Error).message}\n`);
    return 1;
  }
}

// ---------------------------------------------------------------------------------------------

function typeLabel(e: ModelEntry): string {
  const d = e.detection;
  const base = d.base && d.base !== 'sd15' ? ` ${d.base}` : '';
  return `${e.role}${base}`;
}

function table(rows: readonly string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join('  ').trimEnd()).join('\n') + '\n';
}

async function listCommand(args: Args, io: CliIo): Promise<number> {
  const where = resolveRoots(args.models, io.env);
  const reg = ModelRegistry.scan(where.roots);
  const cache = new HashCache(cacheDir(io.env));
  const progress = !args.flags.has('--json') && io.stderr.isTTY;
  await reg.hash(args.flags.has('--no-hash') ? 'cached' : 'compute', cache, (e) => {
    if (progress && !cache.cached(e.path)) io.stderr.write(`hashing ${e.name} (${formatBytes(e.bytes)})…\n`);
  });
  if (args.flags.has('--json')) {
    const out = {
      roots: reg.scan.layouts.map((l) => ({ root: l.root, layout: l.kind, dirs: l.dirs.map((d) => d.path) })),
      missingRoots: reg.scan.missingRoots,
      models: reg.entries.map((e) => ({
        name: e.name,
        kind: e.role,
        type: { kind: e.detection.kind, variant: e.detection.variant ?? null, base: e.detection.base, format: e.detection.format },
        supported: e.detection.supported,
        reason: e.detection.reason ?? null,
        details: e.detection.details,
        bytes: e.bytes,
        sha256: e.sha256 ?? null,
        path: e.path,
        root: e.root,
        layout: e.layout,
      })),
      skipped: reg.scan.skipped,
    };
    io.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  }
  // The download folder not existing yet is normal before the first pull.
  for (const missing of reg.scan.missingRoots) if (missing !== where.downloadDir) io.stderr.write(`warning: model folder ${missing} does not exist\n`);
  if (reg.entries.length === 0) {
    io.stdout.write(`No models found in ${where.roots.join(', ') || '(no folders)'}.\nFetch the basics with: npx ipa-bridge models pull sd15-style\n`);
    return 0;
  }
  for (const layout of reg.scan.layouts) {
    const entries = reg.entries.filter((e) => e.root === layout.root);
    io.stdout.write(`\n${layout.root} (${layout.kind} layout, ${entries.length} model${entries.length === 1 ? '' : 's'})\n`);
    if (entries.length === 0) continue;
    const rows = [['NAME', 'TYPE', 'SIZE', 'SHA256', 'NOTE']];
    for (const e of entries) {
      rows.push([e.name, typeLabel(e), formatBytes(e.bytes), e.sha256 ? e.sha256.slice(0, 12) : '-', e.detection.supported ? '' : `unsupported: ${e.detection.reason ?? ''}`]);
    }
    io.stdout.write(table(rows));
  }
  const skipped = reg.scan.skipped;
  if (skipped.length && args.flags.has('--verbose')) {
    io.stdout.write(`\nSkipped ${skipped.length} file${skipped.length === 1 ? '' : 's'}:\n`);
    for (const s of skipped) io.stdout.write(`  ${s.reason}\n`);
  } else if (skipped.length) {
    io.stdout.write(`\n${skipped.length} file${skipped.length === 1 ? '' : 's'} not recognised (--verbose shows why)\n`);
  }
  return 0;
}

async function pullCommand(params: readonly string[], args: Args, io: CliIo): Promise<number> {
  const name = params[0];
  if (!name) {
    io.stderr.write(`error: which preset? available: ${[...builtinPresets().keys()].join(', ')}\n`);
    return 2;
  }
  const preset = getPreset(name);
  const where = resolveRoots(args.models, io.env);
  io.stderr.write(`Pulling ${preset.name} into ${where.downloadDir} from ${hubEndpoint(io.env)}\n`);
  const result = await pullPreset(preset, {
    modelsDir: where.downloadDir,
    endpoint: hubEndpoint(io.env),
    token: hubToken(io.env),
    hashCache: new HashCache(cacheDir(io.env)),
    progress: io.stderr,
  });
  for (const f of result.files) {
    if (f.error) io.stderr.write(`✗ ${f.file.dest}: ${f.error.message}\n`);
    else if (f.result) {
      const how = f.result.verifiedBy === 'pinned' ? 'the preset' : f.result.verifiedBy === 'hub-sha256' ? 'the hub' : 'the hub (git sha1)';
      io.stdout.write(`${f.result.skipped ? '= already present' : '✓ downloaded'}  ${f.file.dest}  ${formatBytes(f.result.bytes)}  sha256 ${f.result.sha256.slice(0, 12)} (verified against ${how})\n`);
    }
  }
  const failed = result.files.filter((f) => f.error).length;
  io.stdout.write(failed ? `${failed} of ${result.files.length} files failed; run the same command again to resume.\n` : `${preset.name}: all ${result.files.length} files in place in ${where.downloadDir}\n`);
  return failed ? 1 : 0;
}

function presetSize(p: Preset): string {
  const known = p.files.filter((f) => f.size !== null);
  const sum = known.reduce((a, f) => a + (f.size ?? 0), 0);
  return known.length === p.files.length ? formatBytes(sum) : `> ${formatBytes(sum)}`;
}

function presetsCommand(args: Args, io: CliIo): number {
  const presets = [...builtinPresets().values()];
  if (args.flags.has('--json')) {
    io.stdout.write(`${JSON.stringify(presets, null, 2)}\n`);
    return 0;
  }
  for (const p of presets) {
    io.stdout.write(`\n${p.name}  (${p.files.length} files, ${presetSize(p)})\n  ${p.description}\n`);
    const rows = p.files.map((f) => [`  ${f.role}`, f.dest, `${f.repo}/${f.path}`, f.sha256 ? 'sha256 pinned' : 'sha256 from hub', f.license ?? '']);
    io.stdout.write(table(rows));
  }
  io.stdout.write('\nFetch one with: npx ipa-bridge models pull <preset>\n');
  return 0;
}

function whereCommand(args: Args, io: CliIo): number {
  const where: ResolvedRoots = resolveRoots(args.models, io.env);
  const reg = ModelRegistry.scan(where.roots);
  const info = {
    configFile: where.configFile,
    configExists: where.configExists,
    cacheDir: cacheDir(io.env),
    downloadDir: where.downloadDir,
    hubEndpoint: hubEndpoint(io.env),
    roots: where.roots.map((root) => {
      const layout = reg.scan.layouts.find((l) => l.root === root);
      return { root, exists: existsSync(root), layout: layout?.kind ?? null, dirs: layout?.dirs.map((d) => d.path) ?? [] };
    }),
  };
  if (args.flags.has('--json')) {
    io.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
    return 0;
  }
  io.stdout.write(
    `config file:     ${info.configFile}${info.configExists ? '' : ' (not created; write {"roots": ["/path/to/ComfyUI"]} there to add folders)'}\n` +
      `hash cache:      ${info.cacheDir}\n` +
      `download folder: ${info.downloadDir}\n` +
      `model hub:       ${info.hubEndpoint}\n` +
      `model folders:\n`,
  );
  for (const r of info.roots) {
    io.stdout.write(`  ${r.root}  ${r.exists ? `(${r.layout} layout)` : '(does not exist yet)'}\n`);
    for (const d of r.dirs) io.stdout.write(`    ${d}\n`);
  }
  return 0;
}
