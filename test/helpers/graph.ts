/** Running a built graph once in a test, and comparing float outputs. */
import assert from 'node:assert/strict';
import type * as ort from 'onnxruntime-node';
import type { BuiltGraph } from '../../engine/onnx/builder.ts';
import { runBuilt } from '../../engine/parity/graph-run.ts';
import { CPU_TARGET } from '../../engine/parity/target.ts';

/** One CPU run through the parity runner; outputs keep the `dims` name the engine tests read. */
export async function runGraph(built: BuiltGraph, feeds: Record<string, ort.Tensor>, cacheDir: string): Promise<Record<string, { data: Float32Array; dims: readonly number[] }>> {
  const out = await runBuilt(built, feeds, CPU_TARGET, cacheDir);
  return Object.fromEntries(Object.entries(out).map(([name, o]) => [name, { data: o.data, dims: o.shape }]));
}

export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
