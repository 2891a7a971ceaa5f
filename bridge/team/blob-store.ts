/**
 * The front's blob store: images on the front's disk, by content hash, never in Redis. Two kinds:
 *   inputs/   decoded input pixels, named by the hash of the frame the client sent (the same hash the
 *             protocol's `source:"hash"` and `accepted.inputs` use); written by the front only;
 *   results/  result and control-result payloads (PNG or raw), named by their own sha256, written by
 *             workers through the blob endpoint (bridge/team/blob-http.ts), which checks the hash.
 * Files are written to a temporary name and renamed, so a reader never sees half a file, and removed
 * when older than the retention time (a put of an existing blob refreshes it).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { Pixels } from '../image.ts';
import type { Logger } from '../log.ts';

export type BlobKind = 'inputs' | 'results';
export const HASH = /^[0-9a-f]{64}$/;

export class DiskBlobStore {
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(readonly dir: string, private readonly ttlMs: number, private readonly log: Logger) {
    for (const k of ['inputs', 'results', 'tmp']) mkdirSync(join(dir, k), { recursive: true, mode: 0o700 });
    this.timer = setInterval(() => void this.sweep(), Math.min(10 * 60_000, Math.max(1000, ttlMs / 4)));
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  path(kind: BlobKind, hash: string): string {
    if (!HASH.test(hash)) throw new Error(`not a sha256: ${hash.slice(0, 80)}`);
    return join(this.dir, kind, hash.slice(0, 2), hash);
  }

  async has(kind: BlobKind, hash: string): Promise<boolean> {
    try {
      const now = new Date();
      await fs.utimes(this.path(kind, hash), now, now); // still in use: keep it
      return true;
    } catch {
      return false;
    }
  }

  async get(kind: BlobKind, hash: string): Promise<Buffer | undefined> {
    try {
      return await fs.readFile(this.path(kind, hash));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async put(kind: BlobKind, hash: string, bytes: Uint8Array): Promise<void> {
    if (await this.has(kind, hash)) return;
    const final = this.path(kind, hash);
    await fs.mkdir(join(this.dir, kind, hash.slice(0, 2)), { recursive: true, mode: 0o700 });
    const tmp = join(this.dir, 'tmp', `${hash}.${randomBytes(6).toString('hex')}`);
    await fs.writeFile(tmp, bytes, { mode: 0o600 });
    await fs.rename(tmp, final);
  }

  /** Removes blobs (and stray temporary files) older than the retention time. */
  async sweep(now = Date.now()): Promise<number> {
    let removed = 0;
    for (const kind of ['inputs', 'results', 'tmp']) {
      const root = join(this.dir, kind);
      let entries: string[];
      try {
        entries = await fs.readdir(root, { recursive: true });
      } catch {
        continue;
      }
      for (const rel of entries) {
        const p = join(root, rel);
        try {
          const st = await fs.stat(p);
          if (st.isFile() && now - st.mtimeMs > this.ttlMs) {
            await fs.rm(p, { force: true });
            removed++;
          }
        } catch {
          // gone meanwhile
        }
      }
    }
    if (removed) this.log.debug(`blob store: removed ${removed} expired blobs`);
    return removed;
  }
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Decoded pixels as a blob: "IPXL", width, height (u32 LE), channels (u8), 3 zero bytes, then the data. */
export function encodePixels(p: Pixels): Buffer {
  const head = Buffer.alloc(16);
  head.write('IPXL', 0, 'ascii');
  head.writeUInt32LE(p.width, 4);
  head.writeUInt32LE(p.height, 8);
  head.writeUInt8(p.channels, 12);
  return Buffer.concat([head, p.data]);
}

export function decodePixelsBlob(b: Buffer): Pixels {
  if (b.length < 16 || b.toString('ascii', 0, 4) !== 'IPXL') throw new Error('not a pixels blob');
  const width = b.readUInt32LE(4);
  const height = b.readUInt32LE(8);
  const channels = b.readUInt8(12);
  if (channels !== 1 && channels !== 4) throw new Error(`pixels blob with ${channels} channels`);
  const data = new Uint8Array(b.buffer, b.byteOffset + 16, b.length - 16);
  if (data.length !== width * height * channels) throw new Error(`pixels blob is ${data.length} bytes, expected ${width * height * channels}`);
  return { width, height, channels, data };
}
