/**
 * Decoded input images by content hash (sha256 of the frame payload), so a client can send
 * `{source: "hash"}` for a layer it sent before. Byte-capped, least recently used out first.
 */
import { createHash } from 'node:crypto';
import type { Pixels } from './image.ts';
import { ByteLru } from './lru.ts';

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export class BlobStore {
  private readonly lru: ByteLru<Pixels>;

  constructor(maxBytes: number) {
    this.lru = new ByteLru<Pixels>({ maxBytes, sizeOf: (p) => p.data.byteLength + 64 });
  }

  get(hash: string): Pixels | undefined {
    return this.lru.get(hash);
  }

  put(hash: string, pixels: Pixels): void {
    this.lru.set(hash, pixels);
  }

  get bytes(): number {
    return this.lru.bytes;
  }

  get count(): number {
    return this.lru.size;
  }
}
