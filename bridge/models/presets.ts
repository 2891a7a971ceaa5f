/**
 * Presets: named sets of hub files (bridge/models/presets.json, the one data file). Validated on
 * load so a typo in the data file is an error naming the preset and field, not a bad download.
 */
import presetData from './presets.json' with { type: 'json' };
import { roleMatches, type Role } from './roles.ts';

export interface PresetFile {
  readonly role: Role;
  /** Hub repository id, e.g. "h94/IP-Adapter". */
  readonly repo: string;
  /** Branch, tag or commit. */
  readonly revision: string;
  /** Path inside the repository. */
  readonly path: string;
  /** The name ComfyUI/A1111 users know the file by (folder/name); the download itself goes into the hub cache layout. */
  readonly dest: string;
  readonly size: number | null;
  /** Pinned sha256 (hex) or null to trust the hub's reported hash. */
  readonly sha256: string | null;
  readonly license?: string;
}

export interface Preset {
  readonly name: string;
  readonly description: string;
  readonly files: readonly PresetFile[];
}

export class PresetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PresetError';
  }
}

function str(o: Record<string, unknown>, key: string, where: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v === '') throw new PresetError(`${where}: "${key}" must be a non-empty string`);
  return v;
}

function parseFile(raw: unknown, where: string): PresetFile {
  if (typeof raw !== 'object' || raw === null) throw new PresetError(`${where}: must be an object`);
  const o = raw as Record<string, unknown>;
  const dest = str(o, 'dest', where);
  if (dest.startsWith('/') || dest.split('/').includes('..') || dest.includes('\\')) throw new PresetError(`${where}: "dest" must be a relative posix path inside the models folder`);
  const sha256 = o.sha256 ?? null;
  if (sha256 !== null && (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256))) throw new PresetError(`${where}: "sha256" must be 64 lowercase hex digits or null`);
  const size = o.size ?? null;
  if (size !== null && (typeof size !== 'number' || !Number.isInteger(size) || size < 0)) throw new PresetError(`${where}: "size" must be a byte count or null`);
  return {
    role: str(o, 'role', where),
    repo: str(o, 'repo', where),
    revision: typeof o.revision === 'string' && o.revision ? o.revision : 'main',
    path: str(o, 'path', where),
    dest,
    size,
    sha256,
    license: typeof o.license === 'string' ? o.license : undefined,
  };
}

export function parsePresets(raw: unknown): ReadonlyMap<string, Preset> {
  const presets = (raw as { presets?: unknown } | null)?.presets;
  if (typeof presets !== 'object' || presets === null) throw new PresetError('presets.json: missing "presets" object');
  const out = new Map<string, Preset>();
  for (const [name, p] of Object.entries(presets as Record<string, unknown>)) {
    const o = p as { description?: unknown; files?: unknown };
    if (!Array.isArray(o?.files) || o.files.length === 0) throw new PresetError(`preset "${name}": "files" must be a non-empty array`);
    out.set(name, {
      name,
      description: typeof o.description === 'string' ? o.description : '',
      files: o.files.map((f, i) => parseFile(f, `preset "${name}" file ${i}`)),
    });
  }
  return out;
}

let builtin: ReadonlyMap<string, Preset> | undefined;

export function builtinPresets(): ReadonlyMap<string, Preset> {
  builtin ??= parsePresets(presetData);
  return builtin;
}

export function getPreset(name: string, presets: ReadonlyMap<string, Preset> = builtinPresets()): Preset {
  const p = presets.get(name);
  if (!p) throw new PresetError(`unknown preset "${name}"; available: ${[...presets.keys()].join(', ')}`);
  return p;
}

/**
 * The smallest preset that provides a file for `role` (for "run this to fetch it" messages): a missing
 * tokenizer points at the 2 MB `tokenizer` preset, not at the 6.8 GB `sd15-style`.
 */
export function presetForRole(role: Role, presets: ReadonlyMap<string, Preset> = builtinPresets()): Preset | undefined {
  let best: Preset | undefined;
  for (const p of presets.values()) if (p.files.some((f) => roleMatches(role, f.role)) && (!best || p.files.length < best.files.length)) best = p;
  return best;
}

/** File name a preset gives the model for `role` (preferred when several files fill it). */
export function presetFileNames(role: Role, presets: ReadonlyMap<string, Preset> = builtinPresets()): string[] {
  const names: string[] = [];
  // Both the name other apps save it under (dest) and the hub's own file name (what the cache holds).
  for (const p of presets.values()) for (const f of p.files) if (roleMatches(role, f.role)) names.push(f.dest.split('/').pop() ?? f.dest, f.path.split('/').pop() ?? f.path);
  return names;
}
