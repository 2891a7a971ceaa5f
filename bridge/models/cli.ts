/**
 * `ipa-bridge models …`: list, pull, presets, where, on commander (each subcommand has its own
 * --help; usage mistakes exit 2, failures 1). The daemon's CLI passes the arguments after `models`;
 * the exit code is returned, never process.exit'ed, so it can be embedded and tested.
 */
import { existsSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
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
import { formatMissing, missingFeatures } from './features.ts';

export interface CliIo {
  readonly stdout: TextStream;
  readonly stderr: TextStream;
  readonly env: Env;
}

const HELP_AFTER = `
Configuration: models.json in the config folder ({"roots": [...], "downloadDir": "..."}; see
\`models where\`). Environment: HF_ENDPOINT (hub mirror), HF_TOKEN (gated repos), HF_HOME /
HF_HUB_CACHE (the Hugging Face cache, scanned too), IPA_BRIDGE_CONFIG_DIR, IPA_BRIDGE_CACHE_DIR,
IPA_BRIDGE_MODELS_DIR.

Examples:
  npx ipa-bridge models pull sd15-style
  npx ipa-bridge models pull tokenizer
  npx ipa-bridge models list --models ~/ComfyUI
`;

const MODELS_OPTION = 'a model folder to use instead of the configured ones (repeatable): our own layout, a ComfyUI, A1111/Forge, InvokeAI or Fooocus folder (the layout is detected)';

export interface Args {
  readonly models?: string[];
  readonly json?: boolean;
  readonly verbose?: boolean;
  readonly hash?: boolean;
}

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

class UsageError extends Error {}

/** The `models` command tree; `ran` receives each subcommand's exit code. */
export function modelsCommand(io: CliIo, ran: (code: number) => void): Command {
  const models = new Command('models').description('list and fetch models').addHelpText('after', HELP_AFTER);
  const run = (fn: () => Promise<number> | number) => async (): Promise<void> => {
    try {
      ran(await fn());
    } catch (e) {
      if (e instanceof UsageError) {
        io.stderr.write(`error: ${e.message}\n`);
        ran(2);
        return;
      }
      io.stderr.write(`error: ${(e as Error).message}\n`);
      ran(1);
    }
  };
  const list = new Command('list')
    .description('every model found: name, type, size, sha256 (hashes are cached: a second listing does not re-read multi-GB files)')
    .option('--models <dir>', MODELS_OPTION, collect)
    .option('--json', 'machine-readable output')
    .option('--verbose', 'also show the files that were skipped, and why')
    .option('--no-hash', 'show only the hashes already cached (instant)');
  list.action(run(() => listCommand(list.opts<Args>(), io)));
  const presetArg = (name: string): Preset => {
    try {
      return getPreset(name);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
  };
  const pull = new Command('pull')
    .description('download a preset from the model hub (resumable, sha256-verified), into the hub cache layout')
    .argument('<preset>', `one of: ${[...builtinPresets().keys()].join(', ')} (see: models presets)`, presetArg)
    .option('--models <dir>', 'the folder to download into (default: the download folder, see: models where)', collect);
  pull.action(async (preset: Preset) => run(() => pullCommand(preset, pull.opts<Args>(), io))());
  const presets = new Command('presets').description('the presets and the files each one fetches').option('--json', 'machine-readable output');
  presets.action(run(() => presetsCommand(presets.opts<Args>(), io)));
  const where = new Command('where')
    .description('config file, cache, download folder and the model folders that are scanned')
    .option('--models <dir>', MODELS_OPTION, collect)
    .option('--json', 'machine-readable output');
  where.action(run(() => whereCommand(where.opts<Args>(), io)));
  for (const c of [list, pull, presets, where]) models.addCommand(c);
  return models;
}

/** Runs `models …` (argv after "models") on its own: what tests and embedders call. */
export async function runModelsCommand(argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  const rest = argv[0] === 'models' ? argv.slice(1) : argv;
  let code = 0;
  const cmd = modelsCommand(io, (c) => (code = c)).name('ipa-bridge models');
  return (await parseCommand(cmd, rest, io)) ?? code;
}

/**
 * Parses `argv` with `cmd`, help and errors going to `io`: the exit code when commander ends the run
 * (help, --version, a usage mistake); undefined when the command's action ran (it reports its own code).
 */
export async function parseCommand(cmd: Command, argv: readonly string[], io: CliIo): Promise<number | undefined> {
  configureIo(cmd, io);
  try {
    await cmd.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return commanderExitCode(e);
    throw e;
  }
  return undefined;
}

/** Help and errors to `io`, and commander's exits turned into exceptions (for every subcommand). */
export function configureIo(cmd: Command, io: CliIo): void {
  const apply = (c: Command): void => {
    c.configureOutput({ writeOut: (s) => void io.stdout.write(s), writeErr: (s) => void io.stderr.write(s) });
    c.exitOverride();
    c.showHelpAfterError('(add --help for usage)');
    for (const sub of c.commands) apply(sub);
  };
  apply(cmd);
}

/** Help and --version are success; a command called without its subcommand and every parse error are usage mistakes. */
export function commanderExitCode(e: CommanderError): number {
  // Help asked for (--help, `help <command>`) and --version exit 0; help shown because a subcommand is missing does not.
  return e.exitCode === 0 ? 0 : 2;
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

/** A folder named with --models that is not there is a typo to point at, not an empty model list. */
function checkModelsArgs(args: Args): void {
  for (const dir of args.models ?? []) if (!existsSync(dir)) throw new UsageError(`--models ${dir}: no such folder`);
}

async function listCommand(args: Args, io: CliIo): Promise<number> {
  checkModelsArgs(args);
  const where = resolveRoots(args.models ?? [], io.env);
  const reg = ModelRegistry.scan(where.roots);
  const cache = new HashCache(cacheDir(io.env));
  const progress = !args.json === true && io.stderr.isTTY;
  await reg.hash(args.hash === false ? 'cached' : 'compute', cache, (e) => {
    if (progress && !cache.cached(e.path)) io.stderr.write(`hashing ${e.name} (${formatBytes(e.bytes)})…\n`);
  });
  if (args.json === true) {
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
  // The default download folder not existing yet is normal before the first pull.
  for (const missing of reg.scan.missingRoots) if (missing !== where.downloadDir) io.stderr.write(`warning: model folder ${missing} (from ${where.configFile}) does not exist\n`);
  if (reg.entries.length === 0) {
    io.stdout.write(`No models found in ${where.roots.join(', ') || '(no folders)'}${reg.scan.missingRoots.length === where.roots.length ? ' (not created yet)' : ''}.\n`);
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
  const missing = missingFeatures(reg.summaries());
  if (missing.length) {
    io.stdout.write('\nMissing:\n');
    for (const m of missing) io.stdout.write(`  ${formatMissing(m)}\n`);
  }
  const skipped = reg.scan.skipped;
  if (skipped.length && args.verbose === true) {
    io.stdout.write(`\nSkipped ${skipped.length} file${skipped.length === 1 ? '' : 's'}:\n`);
    for (const s of skipped) io.stdout.write(`  ${s.reason}\n`);
  } else if (skipped.length) {
    io.stdout.write(`\n${skipped.length} file${skipped.length === 1 ? '' : 's'} not recognised (--verbose shows why)\n`);
  }
  return 0;
}

async function pullCommand(preset: Preset, args: Args, io: CliIo): Promise<number> {
  const where = resolveRoots(args.models ?? [], io.env);
  io.stderr.write(`Pulling ${preset.name} into ${where.downloadDir} from ${hubEndpoint(io.env)}\n`);
  const result = await pullPreset(preset, {
    modelsDir: where.downloadDir,
    endpoint: hubEndpoint(io.env),
    token: hubToken(io.env),
    hashCache: new HashCache(cacheDir(io.env)),
    progress: io.stderr,
  });
  for (const f of result.files) {
    if (f.error) io.stderr.write(`✗ ${f.file.repo}/${f.file.path}: ${f.error.message}\n`);
    else if (f.result) {
      const how = f.result.verifiedBy === 'pinned' ? 'the preset' : f.result.verifiedBy === 'hub-sha256' ? 'the hub' : 'the hub (git sha1)';
      io.stdout.write(`${f.result.skipped ? '= already present' : '✓ downloaded'}  ${f.file.repo}/${f.file.path}  ${formatBytes(f.result.bytes)}  sha256 ${f.result.sha256.slice(0, 12)} (verified against ${how})\n`);
    }
  }
  const failed = result.files.filter((f) => f.error).length;
  if (!failed) io.stdout.write(`(in the Hugging Face cache layout: ${where.downloadDir}/models--<org>--<name>/snapshots/…; diffusers and the hub CLI use these files too)\n`);
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
  if (args.json === true) {
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
  const where: ResolvedRoots = resolveRoots(args.models ?? [], io.env);
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
  if (args.json === true) {
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
