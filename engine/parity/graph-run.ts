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

/**
 * Fails when this onnxruntime-node build has no such provider: the binding would otherwise drop it
 * from the list with a warning and run on the CPU, and a parity run would pass without testing it.
 */
export function requireProvider(t: ParityTarget): void {
  const names = ort.listSupportedBackends().map((b) => b.name);
  if (!names.includes(t.provider)) throw new Error(`execution provider "${t.provider}" is not in this onnxruntime-node build (it has ${names.join(', ')})`);
}

/** A session for `built` on the target's provider. */
export async function openSession(built: BuiltGraph, t: ParityTarget = CPU_TARGET, cacheDir = parityCacheDir()): Promise<ort.InferenceSession> {
  requireProvider(t);
  return createSession(built, { provider: t.provider, cacheDir });
}

/** A float output read back from a one-shot run: its data and its shape. */
export interface FloatOutput extends GotTensor {
  readonly data: Float32Array;
  readonly shape: readonly number[];
}

/** Builds a session for `built`, runs it once and returns every output as float data + shape. */
export async function runBuilt(built: BuiltGraph, feeds: Feeds, t: ParityTarget = CPU_TARGET, cacheDir = parityCacheDir()): Promise<Record<string, FloatOutput>> {
  const session = await openSession(built, t, cacheDir);
  try {
    const out = await session.run(feeds);
    const res: Record<string, FloatOutput> = {};
    for (const [k, v] of Object.entries(out)) res[k] = { data: v.data as Float32Array, shape: v.dims.map(Number) };
    return res;
  } finally {
    await session.release();
  }
}

export function floatTensor(data: Float32Array, shape: readonly number[]): ort.Tensor {
  return new ort.Tensor('float32', data, [...shape]);
}
