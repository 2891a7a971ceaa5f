/**
 * Walks the folders a layout names and classifies every model file or model folder in them.
 * Read-only: nothing is written anywhere near the model folders.
 */
import { readdirSync, realpathSync, statSync, type Stats } from 'node:fs';
import { basename, extname, join, relative, sep } from 'node:path';
import { detectDirectory, detectFile, WEIGHT_EXTENSIONS, type Detection, type ModelKind } from '../../engine/weights/detect.ts';
import { detectLayout, type Layout, type LayoutKind } from './layouts.ts';
import { roleOf, type Role } from './roles.ts';

export interface ModelEntry {
  /** Path relative to the folder it was found in (e.g. "SD1.5/model.safetensors"), posix separators. */
  readonly name: string;
  readonly path: string;
  readonly root: string;
  readonly layout: LayoutKind;
  readonly role: Role;
  readonly detection: Detection;
  readonly bytes: number;
  readonly isDirectory: boolean;
  /** Filled in by the registry (hash cache). */
  sha256?: string;
}

export interface SkippedFile {
  readonly path: string;
  readonly reason: string;
}

export interface ScanResult {
  readonly entries: ModelEntry[];
  /** Files with a model extension that could not be classified, with the reason. */
  readonly skipped: SkippedFile[];
  readonly layouts: Layout[];
  readonly missingRoots: string[];
}

const MAX_DEPTH = 6;
/** Stops a mistaken root (a home folder) from turning a scan into a disk crawl. */
const MAX_ENTRIES_PER_ROOT = 50_000;

const EXTENSIONS = new Set<string>(WEIGHT_EXTENSIONS);

interface WalkContext {
  readonly root: string;
  readonly layout: LayoutKind;
  readonly seen: Set<string>;
  readonly result: ScanResult;
  visited: number;
  /** Name prefix for what this folder holds (a hub cache repo id). */
  readonly label?: string;
}

export function scanRoots(roots: readonly string[]): ScanResult {
  const result: ScanResult = { entries: [], skipped: [], layouts: [], missingRoots: [] };
  const seen = new Set<string>();
  for (const root of roots) {
    if (!isDirectory(root)) {
      result.missingRoots.push(root);
      continue;
    }
    const layout = detectLayout(root);
    result.layouts.push(layout);
    for (const dir of layout.dirs) {
      const ctx: WalkContext = { root: layout.root, layout: layout.kind, seen, result, visited: 0, label: dir.label };
      walk(ctx, dir.path, dir.path, dir.folderKind, 0);
    }
  }
  return result;
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Each real file or folder is reported once, however many roots or symlinks lead to it. */
function firstVisit(ctx: WalkContext, path: string): boolean {
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    return false;
  }
  if (ctx.seen.has(real)) return false;
  ctx.seen.add(real);
  return true;
}

function posixRelative(base: string, path: string): string {
  const rel = relative(base, path);
  return (rel === '' ? basename(path) : rel).split(sep).join('/');
}

function walk(ctx: WalkContext, scanBase: string, dir: string, folderKind: ModelKind | undefined, depth: number): void {
  if (depth > MAX_DEPTH || ctx.visited > MAX_ENTRIES_PER_ROOT || !firstVisit(ctx, dir)) return;
  // A folder can itself be one model (diffusers pipeline, component folder, tokenizer).
  let asModel: Detection | null = null;
  try {
    asModel = detectDirectory(dir);
  } catch (e) {
    ctx.result.skipped.push({ path: dir, reason: (e as Error).message });
    return;
  }
  if (asModel) {
    ctx.result.entries.push(entry(ctx, scanBase, dir, asModel, folderBytes(dir), true));
    // A diffusers pipeline carries its CLIP tokenizer as tokenizer/ (vocab.json + merges.txt): list it
    // as one, so a checkpoint folder alone is enough for text prompts.
    const tok = join(dir, 'tokenizer');
    if (asModel.kind === 'diffusers' && isTokenizerDir(tok) && firstVisit(ctx, tok)) {
      const d = detectDirectory(tok);
      if (d) ctx.result.entries.push(entry(ctx, scanBase, tok, d, folderBytes(tok), true));
    }
    return;
  }
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return; // unreadable folder: nothing to list
  }
  for (const name of names) {
    if (name.startsWith('.') || name.endsWith('.part')) continue;
    ctx.visited++;
    const path = join(dir, name);
    let st: Stats;
    try {
      st = statSync(path);
    } catch {
      continue; // dangling symlink
    }
    if (st.isDirectory()) {
      walk(ctx, scanBase, path, folderKind, depth + 1);
    } else if (st.isFile() && EXTENSIONS.has(extname(name).toLowerCase()) && firstVisit(ctx, path)) {
      classifyFile(ctx, scanBase, path, st.size, folderKind);
    }
  }
}

function isTokenizerDir(dir: string): boolean {
  try {
    return statSync(join(dir, 'vocab.json')).isFile() && statSync(join(dir, 'merges.txt')).isFile();
  } catch {
    return false;
  }
}

function classifyFile(ctx: WalkContext, scanBase: string, path: string, bytes: number, folderKind: ModelKind | undefined): void {
  try {
    // In the hub cache the repo names what a file is where its own name cannot ("…/onnx/model.onnx").
    const d = detectFile(path, { folderKind, ...(ctx.label ? { name: entryName(ctx, scanBase, path) } : {}) });
    ctx.result.entries.push(entry(ctx, scanBase, path, d, bytes, false));
  } catch (e) {
    ctx.result.skipped.push({ path, reason: (e as Error).message });
  }
}

/** "SD1.5/model.safetensors" relative to its folder; in the hub cache "h94/IP-Adapter/models/ip-adapter_sd15.safetensors". */
function entryName(ctx: WalkContext, scanBase: string, path: string): string {
  if (!ctx.label) return posixRelative(scanBase, path);
  const rel = relative(scanBase, path).split(sep).join('/');
  return rel ? `${ctx.label}/${rel}` : ctx.label;
}

function entry(ctx: WalkContext, scanBase: string, path: string, detection: Detection, bytes: number, isDirectory: boolean): ModelEntry {
  const name = entryName(ctx, scanBase, path);
  return { name, path, root: ctx.root, layout: ctx.layout, role: roleOf(detection, ctx.label ? name : basename(path)), detection, bytes, isDirectory };
}

/** Total size of the files in a model folder (two levels: a pipeline's component folders). */
function folderBytes(dir: string, depth = 0): number {
  let total = 0;
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    try {
      const st = statSync(join(dir, name));
      if (st.isFile()) total += st.size;
      else if (st.isDirectory() && depth < 2) total += folderBytes(join(dir, name), depth + 1);
    } catch {
      // ignore vanished files
    }
  }
  return total;
}
