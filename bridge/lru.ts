/** A map with a byte budget (least recently used first out) and an optional time to live. */

export interface LruOptions<V> {
  maxBytes: number;
  ttlMs?: number;
  sizeOf: (v: V) => number;
  /** Called for entries dropped by the budget or the TTL (not by delete/clear). */
  onEvict?: (key: string, v: V) => void;
  now?: () => number;
}

interface Entry<V> {
  value: V;
  bytes: number;
  expires: number;
}

export class ByteLru<V> {
  private readonly map = new Map<string, Entry<V>>();
  private total = 0;

  constructor(private readonly opts: LruOptions<V>) {}

  get bytes(): number {
    return this.total;
  }

  get size(): number {
    return this.map.size;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Returns the value and marks it most recently used. */
  get(key: string): V | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (e.expires <= this.now()) {
      this.drop(key, e, true);
      return undefined;
    }
    this.map.delete(key); // re-insert: Map keeps insertion order, so the end is "most recent"
    this.map.set(key, e);
    return e.value;
  }

  /** Stores a value; one larger than the whole budget is not kept (returns false). */
  set(key: string, value: V): boolean {
    const old = this.map.get(key);
    if (old) this.drop(key, old, false);
    const bytes = this.opts.sizeOf(value);
    if (bytes > this.opts.maxBytes) return false;
    this.map.set(key, { value, bytes, expires: this.opts.ttlMs ? this.now() + this.opts.ttlMs : Infinity });
    this.total += bytes;
    this.prune();
    return true;
  }

  delete(key: string): boolean {
    const e = this.map.get(key);
    if (!e) return false;
    this.drop(key, e, false);
    return true;
  }

  /** Drops expired entries and shrinks to the budget. */
  prune(): void {
    const now = this.now();
    for (const [k, e] of this.map) if (e.expires <= now) this.drop(k, e, true);
    for (const [k, e] of this.map) {
      if (this.total <= this.opts.maxBytes) break;
      this.drop(k, e, true);
    }
  }

  clear(): void {
    this.map.clear();
    this.total = 0;
  }

  private drop(key: string, e: Entry<V>, evicted: boolean): void {
    this.map.delete(key);
    this.total -= e.bytes;
    if (evicted) this.opts.onEvict?.(key, e.value);
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }
}
