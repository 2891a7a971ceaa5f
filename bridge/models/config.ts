/**
 * The models config file (`models.json` in the user config folder):
 *   { "roots": ["/path/to/ComfyUI", "D:/stable-diffusion-webui"], "downloadDir": "/big/disk/ipa-models" }
 * `roots` are scanned (layout detected per root); `downloadDir` is where `models pull` writes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { hubCacheDir } from './hub.ts';
import { defaultModelsDir, legacyModelsDir, modelsConfigFile, type Env } from './paths.ts';

export interface ModelsConfig {
  readonly roots: readonly string[];
  readonly downloadDir?: string;
}

export class ConfigError extends Error {
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'ConfigError';
  }
}

/** `~/x` and paths relative to the config file's folder become absolute. */
function absolutePath(p: string, baseDir: string): string {
  if (p === '~' || p.startsWith('~/') || p.startsWith('~\\')) return resolve(homedir(), p.slice(2));
  return isAbsolute(p) ? p : resolve(baseDir, p);
}

export function parseModelsConfig(text: string, file: string): ModelsConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(file, `not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(file, 'must be a JSON object like {"roots": ["/path/to/models"]}');
  const obj = raw as Record<string, unknown>;
  const roots = obj.roots ?? [];
  if (!Array.isArray(roots) || !roots.every((r): r is string => typeof r === 'string' && r.length > 0)) {
    throw new ConfigError(file, '"roots" must be an array of folder paths');
  }
  if (obj.downloadDir !== undefined && (typeof obj.downloadDir !== 'string' || obj.downloadDir === '')) {
    throw new ConfigError(file, '"downloadDir" must be a folder path');
  }
  const base = dirname(file);
  return {
    roots: roots.map((r) => absolutePath(r, base)),
    downloadDir: typeof obj.downloadDir === 'string' ? absolutePath(obj.downloadDir, base) : undefined,
  };
}

export function readModelsConfig(env: Env = process.env): ModelsConfig & { readonly file: string; readonly exists: boolean } {
  const file = modelsConfigFile(env);
  if (!existsSync(file)) return { file, exists: false, roots: [] };
  return { file, exists: true, ...parseModelsConfig(readFileSync(file, 'utf8'), file) };
}

export interface ResolvedRoots {
  /** Folders to scan, in priority order (earlier wins when two files fill the same role). */
  readonly roots: readonly string[];
  /** Where `models pull` writes. */
  readonly downloadDir: string;
  readonly configFile: string;
  readonly configExists: boolean;
}

/**
 * `--models DIR` (repeatable) replaces the config file's roots; without it the config roots, the
 * download folder (so pulled models are always found), the Hugging Face hub cache and the download
 * folder of earlier versions are scanned.
 */
export function resolveRoots(cliRoots: readonly string[], env: Env = process.env): ResolvedRoots {
  const cfg = readModelsConfig(env);
  const downloadDir = cfg.downloadDir ?? defaultModelsDir(env);
  const explicit = cliRoots.map((r) => resolve(r));
  // What users already have: the hub cache (diffusers, the hub CLI), and what earlier versions pulled.
  const found = [hubCacheDir(env), legacyModelsDir(env)].filter((d) => existsSync(d));
  const roots = explicit.length > 0 ? explicit : [...cfg.roots, downloadDir, ...found];
  return { roots: [...new Set(roots)], downloadDir: explicit[0] ?? downloadDir, configFile: cfg.file, configExists: cfg.exists };
}
