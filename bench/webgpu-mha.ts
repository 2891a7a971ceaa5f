/**
 * Minimal reproduction of the WebGPU MultiHeadAttention fault (docs/webgpu-mha.md): one
 * com.microsoft MultiHeadAttention node, random q/k/v, run on the CPU and on the WebGPU provider,
 * max |cpu - webgpu| per shape. The same attention as MatMul/Softmax/MatMul (what the portable
 * flavour emits) is run on WebGPU too, as the control. Not a timed benchmark.
 *
 *   XDG_RUNTIME_DIR=/tmp/xdg node --import tsx bench/webgpu-mha.ts [B Lq Lk heads headDim ...]
 *
 * Without arguments it runs the table of docs/webgpu-mha.md. LP_NATIVE_VECTOR_WIDTH=128 (Mesa
 * lavapipe) halves the subgroup width and changes the error, which is how the subgroup-dependent
 * path was found.
 */
import * as ort from 'onnxruntime-node';
import { GraphBuilder, float } from '../engine/onnx/builder.ts';
import { attention } from '../engine/graphs/nn.ts';

type Shape = readonly [b: number, lq: number, lk: number, heads: number, dim: number];

const DEFAULT_SHAPES: readonly Shape[] = [
  [1, 16, 16, 1, 8], [1, 31, 64, 1, 8], [1, 32, 8, 1, 8], [1, 32, 9, 1, 8], [1, 64, 64, 1, 8],
  [1, 64, 77, 2, 8], [1, 257, 257, 2, 16], [1, 64, 64, 1, 4], [1, 64, 64, 1, 6], [1, 257, 257, 1, 10],
];

function random(n: number, seed: number): Float32Array {
  let s = seed;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    a[i] = (s / 0x7fffffff) * 2 - 1;
  }
  return a;
}

/** q, k, v [B, L, heads*dim] -> y; `fused` = one MultiHeadAttention node, else the standard-op form. */
function graph([b, lq, lk, heads, dim]: Shape, fused: boolean): Uint8Array {
  const g = new GraphBuilder('mha', fused ? 'cpu' : 'portable');
  const c = heads * dim;
  const q = g.floatInput('q', [b, lq, c]);
  const k = g.floatInput('k', [b, lk, c]);
  const v = g.floatInput('v', [b, lk, c]);
  const y = fused ? g.op('MultiHeadAttention', [q, k, v], { num_heads: heads, scale: float(1 / Math.sqrt(dim)) }, 'com.microsoft') : attention(g, q, k, v, heads, dim);
  g.floatOutput('y', y, [b, lq, c]);
  return g.build().model;
}

async function run(model: Uint8Array, ep: 'cpu' | 'webgpu', feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(model, { executionProviders: [ep] });
  try {
    return (await s.run(feeds)).y.data as Float32Array;
  } finally {
    await s.release();
  }
}

const maxDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

const nums = process.argv.slice(2).map(Number);
const shapes: Shape[] = [];
for (let i = 0; i + 5 <= nums.length; i += 5) shapes.push([nums[i], nums[i + 1], nums[i + 2], nums[i + 3], nums[i + 4]]);
console.log('B   Lq   Lk  heads dim  MHA cpu-vs-webgpu  MatMul/Softmax cpu-vs-webgpu');
for (const shp of shapes.length ? shapes : DEFAULT_SHAPES) {
  const [b, lq, lk, heads, dim] = shp;
  const c = heads * dim;
  const feeds = {
    q: new ort.Tensor('float32', random(b * lq * c, 1), [b, lq, c]),
    k: new ort.Tensor('float32', random(b * lk * c, 2), [b, lk, c]),
    v: new ort.Tensor('float32', random(b * lk * c, 3), [b, lk, c]),
  };
  const fused = graph(shp, true);
  const reference = await run(fused, 'cpu', feeds);
  const mha = maxDiff(reference, await run(fused, 'webgpu', feeds));
  const std = maxDiff(reference, await run(graph(shp, false), 'webgpu', feeds));
  console.log(`${b}  ${String(lq).padStart(4)} ${String(lk).padStart(4)}  ${heads}    ${String(dim).padStart(3)}  ${mha.toExponential(2).padStart(16)}  ${std.toExponential(2).padStart(27)}`);
}
