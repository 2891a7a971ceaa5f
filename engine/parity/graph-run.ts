/** Running one built graph for a parity case. */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { BuiltGraph } from '../onnx/builder.ts';
import { createSession } from '../runtime/session.ts';
import type { GotTensor } from './compare.ts';
import { CPU_TARGET, type ParityTarget } from './target.ts';

/** Graph cache for parity runs: never inside the fixtures (read-only) or the user's model folders. */
export function parityCacheDir(): string {
  return process.env.IPA_BRIDGE_CACHE_DIR ?? join(tmpdir(), 'ipa-bridge-parity');
}

export type Feeds = Record<string, ort.Tensor>;

/** A session for `built` on the target's provider. */
export function openSession(built: BuiltGraph, t: ParityTarget = CPU_TARGET, cacheDir = parityCacheDir()): Promise<ort.InferenceSession> {
  return createSession(built, { provider: t.provider, cacheDir });
}

/** Builds a session for `built`, runs it once and returns every output as float data + shape. */
export async function runBuilt(built: BuiltGraph, feeds: Feeds, t: ParityTarget = CPU_TARGET): Promise<Record<string, GotTensor & { data: Float32Array }>> {
  const session = await openSession(built, t);
  try {
    const out = await session.run(feeds);
    const res: Record<string, GotTensor & { data: Float32Array }> = {};
    for (const [k, v] of Object.entries(out)) res[k] = { data: v.data as Float32Array, shape: v.dims.map(Number) };
    return res;
  } finally {
    await session.release();
  }
}

export function floatTensor(data: Float32Array, shape: readonly number[]): ort.Tensor {
  return new ort.Tensor('float32', data, [...shape]);
}
