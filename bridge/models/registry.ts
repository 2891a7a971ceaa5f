/**
 * The model registry: every usable model under the configured roots, its role, size and sha256,
 * and the lookup a job uses ("give me the ipadapter:plus model"). A missing model is an error that
 * names it and the exact command that fetches it.
 */
import { basename } from 'node:path';
import { EngineError, type ModelSummary } from '../../engine/api.ts';
import { HashCache } from './hash-cache.ts';
import { cacheDir } from './paths.ts';
import { builtinPresets, presetFileNames, presetForRole, type Preset } from './presets.ts';
import { describeRole, normalizeRole, roleMatches, type Role } from './roles.ts';
import { scanRoots, type ModelEntry, type ScanResult } from './scan.ts';

export type HashMode = 'compute' | 'cached' | 'none';

export class MissingModelError extends EngineError {
  constructor(readonly role: Role, message: string, readonly command?: string) {
    super('model-missing', message);
    this.name = 'MissingModelError';
  }
}

export class WrongModelError extends EngineError {
  constructor(readonly role: Role, readonly model: string, message: string) {
    super('model-wrong-type', message);
    this.name = 'WrongModelError';
  }
}

export interface RegistryOptions {
  readonly presets?: ReadonlyMap<string, Preset>;
  /** How `models pull` is spelled in messages (the daemon may run under another name). */
  readonly command?: string;
}

export class ModelRegistry {
  private constructor(
    readonly roots: readonly string[],
    readonly scan: ScanResult,
    private readonly presets: ReadonlyMap<string, Preset>,
    private readonly command: string,
  ) {}

  static scan(roots: readonly string[], opts: RegistryOptions = {}): ModelRegistry {
    return new ModelRegistry(roots, scanRoots(roots), opts.presets ?? builtinPresets(), opts.command ?? 'npx ipa-bridge models pull');
  }

  get entries(): readonly ModelEntry[] {
    return this.scan.entries;
  }

  /** Supported models for `role`, best first: safetensors over pickles, preset file names, root order, name. */
  candidates(role: Role): ModelEntry[] {
    const wanted = normalizeRole(role);
    const preferred = new Set(presetFileNames(wanted, this.presets));
    // An exact role beats a sub-role ('checkpoint' prefers a standard checkpoint to 'checkpoint:inpaint').
    const rank = (e: ModelEntry): number => (e.role === wanted ? 0 : 4) + (e.detection.format === 'pickle' ? 2 : 0) + (preferred.has(basename(e.path)) ? 0 : 1);
    return this.entries
      .filter((e) => e.detection.supported && roleMatches(wanted, e.role))
      .map((e, i) => ({ e, i }))
      .sort((a, b) => rank(a.e) - rank(b.e) || a.i - b.i)
      .map(({ e }) => e);
  }

  /**
   * The model for `role`, or the one named `name` (file name or path relative to its folder) which
   * must fill that role. Throws MissingModelError / WrongModelError with a message a user can act on.
   */
  find(role: Role, opts: { readonly name?: string } = {}): ModelEntry {
    const wanted = normalizeRole(role);
    if (opts.name !== undefined) return this.findNamed(wanted, opts.name);
    const best = this.candidates(wanted)[0];
    if (best) return best;
    throw this.missing(wanted);
  }

  private findNamed(role: Role, name: string): ModelEntry {
    const matches = this.entries.filter((e) => e.name === name || basename(e.path) === name || e.path === name);
    const fits = matches.find((e) => roleMatches(role, e.role) && e.detection.supported);
    if (fits) return fits;
    const other = matches[0];
    if (other && !other.detection.supported) {
      throw new WrongModelError(role, name, `model "${name}" cannot be used: ${other.detection.reason ?? 'unsupported'} (${other.path})`);
    }
    if (other) {
      throw new WrongModelError(role, name, `model "${name}" is a ${other.role} model (${describeRole(other.role)}); this needs ${role} (${describeRole(role)})`);
    }
    const pull = this.pullCommand(role);
    throw new MissingModelError(role, `model "${name}" was not found in ${this.whereText()}${pull ? `; the default ${describeRole(role)} is fetched with: ${pull}` : ''}`, pull);
  }

  private pullCommand(role: Role): string | undefined {
    const preset = presetForRole(role, this.presets);
    return preset ? `${this.command} ${preset.name}` : undefined;
  }

  private whereText(): string {
    return this.roots.length ? this.roots.join(', ') : '(no model folders configured)';
  }

  private missing(role: Role): MissingModelError {
    const unusable = this.entries.filter((e) => roleMatches(role, e.role) && !e.detection.supported);
    const note = unusable.length ? ` (found but unusable: ${unusable.slice(0, 3).map((e) => `${e.name}: ${e.detection.reason}`).join('; ')})` : '';
    const pull = this.pullCommand(role);
    const fix = pull ? `Fetch it with: ${pull}` : `Put one in one of the model folders (see: npx ipa-bridge models where)`;
    return new MissingModelError(role, `No ${describeRole(role)} (${role}) found in ${this.whereText()}${note}. ${fix}`, pull);
  }

  /** Fills in sha256: computed (and cached) or only what the cache already knows. */
  async hash(mode: HashMode, cache: HashCache = new HashCache(cacheDir()), onFile?: (e: ModelEntry) => void): Promise<void> {
    if (mode === 'none') return;
    for (const e of this.entries) {
      // Folders (diffusers pipelines, tokenizers) get the hash of their files' hashes (hash-cache.ts).
      if (mode === 'cached') {
        e.sha256 = e.isDirectory ? cache.cachedFolder(e.path) : cache.cached(e.path);
        continue;
      }
      onFile?.(e);
      e.sha256 = e.isDirectory ? await cache.folderSha256(e.path) : await cache.sha256(e.path);
    }
  }

  /** What the handshake reports: usable models only, each marked where a job that names none gets it. */
  summaries(): ModelSummary[] {
    // `find` without a name: the checkpoint across every checkpoint kind (as the engine asks for it), else per role.
    const defaults = new Set<ModelEntry>();
    for (const e of this.entries) {
      const best = this.candidates(e.role.startsWith('checkpoint') ? 'checkpoint' : e.role)[0];
      if (best) defaults.add(best);
    }
    return this.entries
      .filter((e) => e.detection.supported)
      .map((e) => ({
        name: e.name, kind: e.role, path: e.path, bytes: e.bytes,
        ...(e.sha256 ? { sha256: e.sha256 } : {}), ...(e.detection.base ? { base: e.detection.base } : {}), ...(defaults.has(e) ? { default: true } : {}),
      }));
  }
}

/** Scans `roots` and returns the usable models as the handshake reports them. */
export async function listModels(roots: readonly string[], opts: { readonly hash?: HashMode; readonly cache?: HashCache } = {}): Promise<ModelSummary[]> {
  const reg = ModelRegistry.scan(roots);
  await reg.hash(opts.hash ?? 'compute', opts.cache);
  return reg.summaries();
}

/** One-shot lookup: scans `roots` and returns the model for `role` (or throws MissingModelError). */
export function findModel(roots: readonly string[], role: Role, opts: { readonly name?: string } = {}): ModelEntry {
  return ModelRegistry.scan(roots).find(role, opts);
}
