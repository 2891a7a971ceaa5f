/**
 * Keeps onnxruntime sessions alive between jobs, keyed by what the graph was built from (graph
 * kind + weight files + options), so a second job starts without rebuilding. Building is lazy
 * and concurrent requests for one key share the same promise.
 */
import { statSync } from 'node:fs';
import type * as ort from 'onnxruntime-node';
import type { BuiltGraph } from '../onnx/builder.ts';
import { createSession, type Provider } from '../runtime/session.ts';

export interface SessionCacheOptions {
  readonly provider: Provider;
  readonly cacheDir?: string;
  readonly intraOpThreads?: number;
}

/** Identity of a weight file for cache keys: path, size and mtime. */
export function fileIdentity(path: string): string {
  const s = statSync(path);
  return `${path}:${s.size}:${Math.round(s.mtimeMs)}`;
}

export class SessionCache {
  private readonly sessions = new Map<string, Promise<ort.InferenceSession>>();
  readonly timings = new Map<string, number>();

  constructor(readonly opts: SessionCacheOptions) {}

  get(key: string, build: () => BuiltGraph): Promise<ort.InferenceSession> {
    let s = this.sessions.get(key);
    if (!s) {
      const t0 = performance.now();
      s = (async () => createSession(build(), this.opts))();
      s.then(() => this.timings.set(key, performance.now() - t0), () => this.sessions.delete(key));
      this.sessions.set(key, s);
    }
    return s;
  }

  has(key: string): boolean {
    return this.sessions.has(key);
  }

  async release(key: string): Promise<void> {
    const s = this.sessions.get(key);
    this.sessions.delete(key);
    if (s) await (await s).release();
  }

  /** Drops every session whose key does not satisfy `keep` (e.g. after the checkpoint changed). */
  async prune(keep: (key: string) => boolean): Promise<void> {
    for (const key of [...this.sessions.keys()]) if (!keep(key)) await this.release(key);
  }

  async releaseAll(): Promise<void> {
    await this.prune(() => false);
  }
}
