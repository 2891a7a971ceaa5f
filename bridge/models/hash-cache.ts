/**
 * sha256 of model files and model folders, computed streaming and remembered by (path, size, mtime)
 * in the user cache folder, so listing a 4 GB checkpoint twice hashes it once. The cache lives
 * outside the model folders (they are never written to).
 *
 * A folder's sha256 (diffusers pipelines, tokenizer folders) is the sha256 of its `sha256sum`-style
 * manifest: one line "<sha256 of the file>  <path relative to the folder, / separated>\n" per file,
 * sorted by path (byte order), hidden files and partial downloads left out. The same bytes give the
 * same hash wherever the folder sits, and `sha256sum` reproduces it (docs/models.md).
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';

const CHUNK = 4 * 1024 * 1024;

/** Streams the file through sha256 (constant memory). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: CHUNK })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The same, blocking: for the engine's synchronous model lookup when the cache does not know the file yet. */
export function sha256FileSync(path: string): string {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(CHUNK);
  const fd = openSync(path, 'r');
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/** The files a folder hash covers, sorted by their relative posix path. */
export function folderFiles(dir: string): Array<{ rel: string; path: string; size: number; mtimeMs: number }> {
  const out: Array<{ rel: string; path: string; size: number; mtimeMs: number }> = [];
  const walk = (d: string, depth: number): void => {
    if (depth > 6) return;
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const name of names) {
      if (name.startsWith('.') || name.endsWith('.part') || name.endsWith('.incomplete')) continue;
      const path = join(d, name);
      try {
        const st = statSync(path);
        if (st.isDirectory()) walk(path, depth + 1);
        else if (st.isFile()) out.push({ rel: relative(dir, path).split(sep).join('/'), path, size: st.size, mtimeMs: st.mtimeMs });
      } catch {
        // vanished or a dangling link: not part of the model
      }
    }
  };
  walk(dir, 0);
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

/** sha256 of the manifest "<sha256>  <rel>\n"… (see the module comment). */
export function manifestSha256(lines: ReadonlyArray<{ rel: string; sha256: string }>): string {
  const h = createHash('sha256');
  for (const l of lines) h.update(`${l.sha256}  ${l.rel}\n`);
  return h.digest('hex');
}

/** A folder's cache key: changes when any file in it changes size or mtime, or files come and go. */
function folderStamp(files: ReadonlyArray<{ rel: string; size: number; mtimeMs: number }>): { size: number; mtimeMs: number } {
  const h = createHash('sha1');
  for (const f of files) h.update(`${f.rel}\0${f.size}\0${f.mtimeMs}\n`);
  // Folded into the two numbers the cache stores: total size, and a number from the listing's hash.
  return { size: files.reduce((a, f) => a + f.size, 0), mtimeMs: parseInt(h.digest('hex').slice(0, 12), 16) };
}

interface CacheEntry {
  readonly size: number;
  readonly mtimeMs: number;
  readonly sha256: string;
}

interface CacheFile {
  readonly version: 1;
  readonly entries: Record<string, CacheEntry>;
}

export class HashCache {
  readonly file: string;
  /** Lookups answered from the cache / computed, for diagnostics and tests. */
  hits = 0;
  misses = 0;
  private entries: Record<string, CacheEntry>;

  constructor(cacheDir: string) {
    this.file = join(cacheDir, 'hashes.json');
    this.entries = loadEntries(this.file);
  }

  /** Cached hash if the file is unchanged since it was hashed, else undefined (no I/O beyond stat). */
  cached(path: string): string | undefined {
    const abs = resolve(path);
    const e = this.entries[abs];
    if (!e) return undefined;
    const st = statSync(abs);
    return e.size === st.size && e.mtimeMs === st.mtimeMs ? e.sha256 : undefined;
  }

  async sha256(path: string): Promise<string> {
    const abs = resolve(path);
    const hit = this.cached(abs);
    if (hit) {
      this.hits++;
      return hit;
    }
    this.misses++;
    const before = statSync(abs);
    const sha256 = await sha256File(abs);
    const after = statSync(abs);
    // A file still being written would be cached with a hash of bytes that are gone.
    if (before.size === after.size && before.mtimeMs === after.mtimeMs) this.remember(abs, sha256, after.size, after.mtimeMs);
    return sha256;
  }

  /** The same, blocking (the engine's synchronous lookup); cached like `sha256`. */
  sha256Sync(path: string): string {
    const abs = resolve(path);
    const hit = this.cached(abs);
    if (hit) return hit;
    const before = statSync(abs);
    const sha256 = sha256FileSync(abs);
    this.remember(abs, sha256, before.size, before.mtimeMs);
    return sha256;
  }

  /** A model folder's hash when nothing in it changed since it was computed. */
  cachedFolder(dir: string): string | undefined {
    const abs = resolve(dir);
    const e = this.entries[abs];
    if (!e) return undefined;
    const stamp = folderStamp(folderFiles(abs));
    return e.size === stamp.size && e.mtimeMs === stamp.mtimeMs ? e.sha256 : undefined;
  }

  /** A model folder's hash (module comment): each file's hash from the cache or computed, then the manifest's. */
  async folderSha256(dir: string): Promise<string> {
    const hit = this.cachedFolder(dir);
    if (hit) {
      this.hits++;
      return hit;
    }
    const files = folderFiles(resolve(dir));
    const lines = [];
    for (const f of files) lines.push({ rel: f.rel, sha256: await this.sha256(f.path) });
    return this.rememberFolder(dir, files, manifestSha256(lines));
  }

  folderSha256Sync(dir: string): string {
    const hit = this.cachedFolder(dir);
    if (hit) return hit;
    const files = folderFiles(resolve(dir));
    return this.rememberFolder(dir, files, manifestSha256(files.map((f) => ({ rel: f.rel, sha256: this.sha256Sync(f.path) }))));
  }

  private rememberFolder(dir: string, files: ReturnType<typeof folderFiles>, sha256: string): string {
    const stamp = folderStamp(files);
    this.remember(resolve(dir), sha256, stamp.size, stamp.mtimeMs);
    return sha256;
  }

  /** Records a hash computed elsewhere (a finished download) without re-reading the file. */
  remember(path: string, sha256: string, size?: number, mtimeMs?: number): void {
    const abs = resolve(path);
    const st = size === undefined || mtimeMs === undefined ? statSync(abs) : { size, mtimeMs };
    // Re-read before writing: another process (the daemon, a second CLI) may have added entries.
    this.entries = { ...loadEntries(this.file), ...this.entries, [abs]: { size: st.size, mtimeMs: st.mtimeMs, sha256 } };
    this.save();
  }

  private save(): void {
    const dir = join(this.file, '..');
    mkdirSync(dir, { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    const body: CacheFile = { version: 1, entries: this.entries };
    writeFileSync(tmp, JSON.stringify(body));
    renameSync(tmp, this.file); // atomic: readers never see a half-written cache
  }
}

function loadEntries(file: string): Record<string, CacheEntry> {
  if (!existsSync(file)) return {};
  try {
    const raw = JSON.parse(readFileSync(file, 'utf8')) as Partial<CacheFile>;
    return raw.version === 1 && raw.entries && typeof raw.entries === 'object' ? { ...raw.entries } : {};
  } catch {
    return {}; // a corrupt cache only costs re-hashing
  }
}
