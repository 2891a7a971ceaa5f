/** Running a built graph once in a test, and comparing float outputs. */
import assert from 'node:assert/strict';
import type * as ort from 'onnxruntime-node';
import type { BuiltGraph } from '../../engine/onnx/builder.ts';
import { createSession } from '../../engine/runtime/session.ts';

export async function runGraph(built: BuiltGraph, feeds: Record<string, ort.Tensor>, cacheDir: string): Promise<Record<string, { data: Float32Array; dims: readonly number[] }>> {
  const s = await createSession(built, { provider: 'cpu', cacheDir });
  try {
    const out = await s.run(feeds);
    const r: Record<string, { data: Float32Array; dims: readonly number[] }> = {};
    for (const [k, v] of Object.entries(out)) r[k] = { data: v.data as Float32Array, dims: v.dims };
    return r;
  } finally {
    await s.release();
  }
}

export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
