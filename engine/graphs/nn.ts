/**
 * The layers every model graph is made of. Each takes the checkpoint key path of its module
 * (`prefix`) and reads its weights from `src` under that path, so `linear(g, w, 'to_q', x)` is
 * exactly the module `to_q` of the checkpoint. Activations are [batch, ..., channels] or NCHW.
 */
import { float, slicesAttention, type GraphBuilder } from '../onnx/builder.ts';
import type { WeightSource } from '../weights/source.ts';

export interface Ctx {
  readonly g: GraphBuilder;
  readonly w: WeightSource;
}

export const join = (...parts: Array<string | number>): string => parts.filter((p) => p !== '').join('.');

export function has(ctx: Ctx, key: string): boolean {
  return ctx.w.get(key) !== undefined;
}

export function shape(ctx: Ctx, key: string): readonly number[] {
  return ctx.g.shapeOf(ctx.w, key);
}

/** nn.Linear on the last axis: x @ W^T + b (the Transpose of a constant is folded at load). */
export function linear(ctx: Ctx, prefix: string, x: string): string {
  const { g, w } = ctx;
  return g.scope(prefix, () => {
    const [out, inp] = shape(ctx, join(prefix, 'weight'));
    // Conv-shaped 1x1 weights ([out,in,1,1], e.g. LDM attention projections) are viewed as [out,in].
    const wt = g.op('Transpose', [g.weight(w, join(prefix, 'weight'), [out, inp])], { perm: [1, 0] });
    const y = g.op('MatMul', [x, wt]);
    return has(ctx, join(prefix, 'bias')) ? g.op('Add', [y, g.weight(w, join(prefix, 'bias'))]) : y;
  });
}

export function conv2d(ctx: Ctx, prefix: string, x: string, opts: { stride?: number; padding?: number } = {}): string {
  const { g, w } = ctx;
  return g.scope(prefix, () => {
    const ws = shape(ctx, join(prefix, 'weight'));
    const k = ws.length === 4 ? ws[2] : 1;
    const pad = opts.padding ?? Math.floor(k / 2);
    const weight = g.weight(w, join(prefix, 'weight'), ws.length === 2 ? [ws[0], ws[1], 1, 1] : ws);
    const inputs = [x, weight];
    if (has(ctx, join(prefix, 'bias'))) inputs.push(g.weight(w, join(prefix, 'bias')));
    const s = opts.stride ?? 1;
    return g.op('Conv', inputs, { kernel_shape: [k, k], strides: [s, s], pads: [pad, pad, pad, pad] });
  });
}

/** nn.LayerNorm on the last axis. */
export function layerNorm(ctx: Ctx, prefix: string, x: string, eps = 1e-5): string {
  const { g, w } = ctx;
  return g.scope(prefix, () => g.op('LayerNormalization', [x, g.weight(w, join(prefix, 'weight')), g.weight(w, join(prefix, 'bias'))], { axis: -1, epsilon: float(eps) }));
}

/**
 * nn.GroupNorm on NCHW. CPU and portable: InstanceNormalization over [N, groups, -1] then the
 * per-channel affine (the standard decomposition; onnxruntime has no CPU GroupNorm kernel, and
 * opset-18 GroupNormalization is not in every target EP's list). CUDA: the fused com.microsoft
 * GroupNorm (NHWC) with optional SiLU.
 */
export function groupNorm(ctx: Ctx, prefix: string, x: string, groups: number, eps: number, silu = false): string {
  const { g, w } = ctx;
  return g.scope(prefix, () => {
    const [c] = shape(ctx, join(prefix, 'weight'));
    const gamma = g.weight(w, join(prefix, 'weight'));
    const beta = g.weight(w, join(prefix, 'bias'));
    if (g.flavour === 'cuda') {
      const nhwc = g.op('Transpose', [x], { perm: [0, 2, 3, 1] });
      const y = g.op('GroupNorm', [nhwc, gamma, beta], { activation: silu ? 1 : 0, channels_last: 1, epsilon: float(eps), groups }, 'com.microsoft');
      return g.op('Transpose', [y], { perm: [0, 3, 1, 2] });
    }
    const shp = g.op('Shape', [x]);
    const grouped = g.op('Reshape', [x, g.ints([0, groups, -1])]);
    const ones = g.floatConst(new Float32Array(groups).fill(1), [groups], 'gn_ones');
    const zeros = g.floatConst(new Float32Array(groups), [groups], 'gn_zeros');
    const normed = g.op('InstanceNormalization', [grouped, ones, zeros], { epsilon: float(eps) });
    const back = g.op('Reshape', [normed, shp]);
    const scaled = g.op('Mul', [back, g.op('Reshape', [gamma, g.ints([c, 1, 1])])]);
    const y = g.op('Add', [scaled, g.op('Reshape', [beta, g.ints([c, 1, 1])])]);
    return silu ? siluOf(g, y) : y;
  });
}

export function siluOf(g: GraphBuilder, x: string): string {
  return g.op('Mul', [x, g.op('Sigmoid', [x])]);
}

/**
 * Exact (erf) GELU. Portable: 0.5 x (1 + erf(x / sqrt 2)) — opset-20 Gelu would need a newer opset
 * than the graphs import (17), and Erf is in every target EP's list (docs/providers.md).
 */
export function gelu(g: GraphBuilder, x: string): string {
  if (!g.portable) return g.op('Gelu', [x], {}, 'com.microsoft');
  const erf = g.op('Erf', [g.op('Mul', [x, g.scalar(Math.SQRT1_2)])]);
  return g.op('Mul', [g.op('Mul', [x, g.scalar(0.5)]), g.op('Add', [erf, g.scalar(1)])]);
}

/** CLIP's quick_gelu: x * sigmoid(1.702 x). */
export function quickGelu(g: GraphBuilder, x: string): string {
  return g.op('Mul', [x, g.op('Sigmoid', [g.op('Mul', [x, g.scalar(1.702)])])]);
}

/**
 * Scaled dot-product attention over [B, L, heads*dim] tensors. `mask` is an additive bias
 * broadcastable to [B, heads, Lq, Lk] (e.g. CLIP's causal mask). `scale` defaults to dim^-0.5.
 */
/**
 * WebGPU flavours: self-attention over image tokens runs in this many query slices, one node chain
 * each, so no score tensor is larger than [B, heads, L/16, L]. Without it the tiny test UNet at 1024²
 * (L = 16384) needed more storage buffers than WebGPU binds per shader (measured on lavapipe: "Too
 * many storage buffers in shader. Current: 18, Max is 16"); a real SD1.5 UNet's [2, 8, 16384, 16384]
 * fp16 scores would be 8 GiB in one tensor.
 * Attention rows are independent, so the slices give the same result. CPU and CUDA use MultiHeadAttention.
 */
const SELF_ATTENTION_QUERY_SLICES = 16;

export function attention(g: GraphBuilder, q: string, k: string, v: string, heads: number, dimHead: number, opts: { mask?: string; scale?: number; longQueries?: boolean } = {}): string {
  const scale = opts.scale ?? 1 / Math.sqrt(dimHead);
  if (!opts.mask && !g.portable) {
    // MultiHeadAttention has CPU and CUDA kernels; on CPU it avoids materialising the
    // [B, heads, L, L] score tensor for long sequences. Not in the portable flavours: WebGPU's
    // kernel (flash-attention path) is wrong for head sizes divisible by 4 (docs/webgpu-mha.md).
    return g.op('MultiHeadAttention', [q, k, v], { num_heads: heads, scale: float(scale) }, 'com.microsoft');
  }
  const split = (t: string, perm: number[]) => g.op('Transpose', [g.op('Reshape', [t, g.ints([0, 0, heads, dimHead])])], { perm });
  // Portable: scale q before the product (L*C multiplies instead of L*L, and fp16 scores stay small).
  const qs = g.portable ? g.op('Mul', [q, g.scalar(scale)]) : q;
  const qh = split(qs, [0, 2, 1, 3]);
  const kh = split(k, [0, 2, 3, 1]);
  const vh = split(v, [0, 2, 1, 3]);
  const rows = (qs: string): string => {
    let scores = g.portable ? g.op('MatMul', [qs, kh]) : g.op('Mul', [g.op('MatMul', [qs, kh]), g.scalar(scale)]);
    if (opts.mask) scores = g.op('Add', [scores, opts.mask]);
    return g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), vh]);
  };
  const sliced = slicesAttention(g.flavour) && opts.longQueries && !opts.mask;
  const joined = sliced ? slicedRows(g, qh, SELF_ATTENTION_QUERY_SLICES, rows) : rows(qh);
  const out = g.op('Transpose', [joined], { perm: [0, 2, 1, 3] });
  return g.op('Reshape', [out, g.ints([0, 0, heads * dimHead])]);
}

/**
 * `rows` over `n` consecutive slices of q [B, heads, L, D] along L, joined again. Slice i is rows
 * floor(i·L'/n) to floor((i+1)·L'/n) of q zero-padded to L' = max(L, n) rows (cut off afterwards), so
 * no slice is empty: WebGPU refuses an empty one ("Invalid dispatch group size (0, 1, 1)").
 */
function slicedRows(g: GraphBuilder, qh: string, n: number, rows: (q: string) => string): string {
  const len = g.op('Shape', [qh], { start: 2, end: 3 });
  const padded = g.op('Max', [len, g.ints([n])]);
  const pads = g.op('Concat', [g.ints([0, 0, 0, 0, 0, 0]), g.op('Sub', [padded, len]), g.ints([0])], { axis: 0 }); // begins 0,0,0,0; ends 0,0,pad,0
  const q = g.op('Pad', [qh, pads]);
  const bound = (i: number): string => (i === 0 ? g.ints([0]) : i === n ? padded : g.op('Div', [g.op('Mul', [padded, g.ints([i])]), g.ints([n])]));
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(rows(g.op('Slice', [q, bound(i), bound(i + 1), g.ints([2])])));
  return g.op('Slice', [g.op('Concat', parts, { axis: 2 }), g.ints([0]), len, g.ints([2])]);
}

/** NCHW -> [N, H*W, C] */
export function toTokens(g: GraphBuilder, x: string, channels: number): string {
  const t = g.op('Transpose', [x], { perm: [0, 2, 3, 1] });
  return g.op('Reshape', [t, g.ints([0, -1, channels])]);
}

/** [N, H*W, C] -> NCHW, taking N, H, W from `like` (an NCHW tensor). */
export function fromTokens(g: GraphBuilder, t: string, like: string): string {
  const shp = g.op('Shape', [like]);
  const n = g.op('Slice', [shp, g.ints([0]), g.ints([1])]);
  const hw = g.op('Slice', [shp, g.ints([2]), g.ints([4])]);
  const nhwc = g.op('Concat', [n, hw, g.ints([-1])], { axis: 0 });
  return g.op('Transpose', [g.op('Reshape', [t, nhwc])], { perm: [0, 3, 1, 2] });
}
