/**
 * sha256 of model files, computed streaming and remembered by (path, size, mtime) in the user cache
 * folder, so listing a 4 GB checkpoint twice hashes it once. The cache lives outside the model
 * folders (they are never written to).
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Streams the file through sha256 (constant memory). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
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
