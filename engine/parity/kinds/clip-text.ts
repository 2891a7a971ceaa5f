/** Parity for `clip-text`: the text encoder built from the case's hf-clip weights, run on CPU. */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { BuiltGraph } from '../../onnx/builder.ts';
import { createSession } from '../../runtime/session.ts';
import { safetensorsSource } from '../../weights/source.ts';
import { buildClipTextGraph, type ClipAct } from '../../graphs/clip-text.ts';
import { compareOutputs, type CheckResult, type GotTensor } from '../compare.ts';
import type { FixtureCase } from '../fixture.ts';

/** Graph cache for parity runs: never inside the fixtures (read-only) or the user's model folders. */
export function parityCacheDir(): string {
  return process.env.IPA_BRIDGE_CACHE_DIR ?? join(tmpdir(), 'ipa-bridge-parity');
}

export type Feeds = Record<string, ort.Tensor>;

/** Builds a CPU session for `built`, runs it once and returns every output as float data + shape. */
export async function runBuilt(built: BuiltGraph, feeds: Feeds): Promise<Record<string, GotTensor & { data: Float32Array }>> {
  const session = await createSession(built, { provider: 'cpu', cacheDir: parityCacheDir() });
  try {
    const out = await session.run(feeds);
    const res: Record<string, GotTensor & { data: Float32Array }> = {};
    for (const [k, t] of Object.entries(out)) res[k] = { data: t.data as Float32Array, shape: t.dims.map(Number) };
    return res;
  } finally {
    await session.release();
  }
}

export function floatTensor(data: Float32Array, shape: readonly number[]): ort.Tensor {
  return new ort.Tensor('float32', data, [...shape]);
}

export function configNumber(c: FixtureCase, key: string): number | undefined {
  const v = c.config[key];
  return typeof v === 'number' ? v : undefined;
}

export function configAct(c: FixtureCase): ClipAct | undefined {
  const v = c.config.hidden_act;
  if (v === undefined) return undefined;
  if (v === 'quick_gelu' || v === 'gelu') return v;
  throw new Error(`${c.name}: unsupported hidden_act ${JSON.stringify(v)}`);
}

export function weightFile(c: FixtureCase, role: string): string {
  const p = c.weights[role];
  if (!p) throw new Error(`${c.name}: case.json names no "${role}" weights`);
  return p;
}

export async function runClipTextCase(c: FixtureCase): Promise<CheckResult[]> {
  if (!c.io) throw new Error(`${c.name}: case has no io file`);
  const src = safetensorsSource(weightFile(c, 'text_encoder'));
  const built = buildClipTextGraph(src, { heads: configNumber(c, 'num_attention_heads'), act: configAct(c), eps: configNumber(c, 'layer_norm_eps') });
  const info = c.io.info('in.input_ids');
  const ids = new ort.Tensor('int64', c.io.readInt64('in.input_ids'), [...info.shape]);
  const got = await runBuilt(built, { input_ids: ids });
  return compareOutputs(c, got);
}
