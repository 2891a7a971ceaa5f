/**
 * SD1.5 UNet2DConditionModel (diffusers module tree) with decoupled IP-Adapter cross-attention
 * and ControlNet residual inputs. One graph serves every adapter combination: per attn2 layer it
 * takes the image keys/values (computed once per job) and a per-layer scale, so base, Plus,
 * FaceID, several references and per-block presets need no rebuild.
 *
 * Inputs:  sample [B,Cin,h,w], timestep f32 [B], encoder_hidden_states [B,77*k,Cx]
 *          (control) down_residual_0..N-1, mid_residual (one per `skips[i]`, then `mid`)
 *          (ip)      ip_k.<l>, ip_v.<l> [B,A,T,C_l] for l in `attn2` order, ip_scale [L,A], ip_bias [A,T]
 * Output:  noise_pred [B,Cout,h,w]
 * The blocks, their depths, the attn2 layers and the skips all come from one `UNetStructure`
 * (weights/unet-structure.ts); input names from `UNET_IO`.
 */
import { GraphBuilder, TensorType, type BuiltGraph, type Flavour } from '../onnx/builder.ts';
import type { WeightSource } from '../weights/source.ts';
import { inspectUNet, UNET_IO, type UNetStructure } from '../weights/unet-structure.ts';
import { resnetBlock, type NormConfig } from './blocks.ts';
import { attention, conv2d, fromTokens, gelu, groupNorm, join, layerNorm, linear, shape, siluOf, toTokens, type Ctx } from './nn.ts';

export interface UNetConfig {
  /** SD1.5 "attention_head_dim" = number of heads (8); not recoverable from shapes. */
  readonly heads: number;
  readonly normGroups: number;
  readonly normEps: number;
  readonly flipSinToCos: boolean;
  readonly freqShift: number;
}

export const SD15_UNET: UNetConfig = { heads: 8, normGroups: 32, normEps: 1e-5, flipSinToCos: true, freqShift: 0 };

/** Per-job inputs of the decoupled image cross-attention. */
export interface IpInputs {
  /** attn2 module path -> [ip_k, ip_v] graph values */
  readonly kv: ReadonlyMap<string, readonly [string, string]>;
  /** [L, A] per-layer, per-adapter scale */
  readonly scale: string;
  /** [A, T] additive bias masking padded tokens */
  readonly bias: string;
  readonly layerIndex: ReadonlyMap<string, number>;
}

interface UNetCtx extends Ctx {
  readonly cfg: UNetConfig;
  readonly norm: NormConfig;
  readonly ip?: IpInputs;
}

/** Sinusoidal timestep embedding (diffusers get_timestep_embedding) → time_embedding MLP. */
export function timeEmbedding(ctx: UNetCtx, timestep: string, dim: number): string {
  const { g, cfg } = ctx;
  const half = dim / 2;
  const freqs = new Float32Array(half);
  for (let i = 0; i < half; i++) freqs[i] = Math.exp((-Math.log(10000) * i) / (half - cfg.freqShift));
  const t = g.op('Unsqueeze', [g.op('Cast', [timestep], { to: TensorType.FLOAT }), g.ints([1])]);
  const args = g.op('Mul', [t, g.const(freqs, [1, half], 'freqs')]);
  const sin = g.op('Sin', [args]);
  const cos = g.op('Cos', [args]);
  let emb = g.op('Concat', cfg.flipSinToCos ? [cos, sin] : [sin, cos], { axis: 1 });
  if (g.computeType !== TensorType.FLOAT) emb = g.op('Cast', [emb], { to: g.computeType });
  let h = linear(ctx, 'time_embedding.linear_1', emb);
  h = siluOf(g, h);
  return linear(ctx, 'time_embedding.linear_2', h);
}

/** attn1 / attn2 of a BasicTransformerBlock; attn2 adds the decoupled image term when present. */
function crossAttention(ctx: UNetCtx, prefix: string, x: string, context: string): string {
  const { g, cfg } = ctx;
  return g.scope(prefix, () => {
    const [inner] = shape(ctx, join(prefix, 'to_q.weight'));
    const dimHead = inner / cfg.heads;
    const q = linear(ctx, join(prefix, 'to_q'), x);
    const k = linear(ctx, join(prefix, 'to_k'), context);
    const v = linear(ctx, join(prefix, 'to_v'), context);
    let out = attention(g, q, k, v, cfg.heads, dimHead, { longQueries: x === context });
    const ip = ctx.ip?.kv.get(prefix);
    if (ip && ctx.ip) out = g.op('Add', [out, imageAttention(ctx, join(prefix, 'ip'), q, ip[0], ip[1], ctx.ip.layerIndex.get(prefix) ?? 0, dimHead)]);
    return linear(ctx, join(prefix, 'to_out.0'), out);
  });
}

/**
 * sum_a scale[l,a] * softmax(q k_a^T / sqrt(d) + bias_a) v_a over adapters a, computed as one
 * batched attention over [B, A, heads, Lq, T] (T is small: 4–16 tokens per adapter).
 */
function imageAttention(ctx: UNetCtx, prefix: string, q: string, ipK: string, ipV: string, layer: number, dimHead: number): string {
  const { g, cfg } = ctx;
  const ip = ctx.ip!;
  return g.scope(prefix, () => {
    const h = cfg.heads;
    const qh = g.op('Unsqueeze', [g.op('Transpose', [g.op('Reshape', [q, g.ints([0, 0, h, dimHead])])], { perm: [0, 2, 1, 3] }), g.ints([1])]); // [B,1,H,Lq,D]
    const kh = g.op('Transpose', [g.op('Reshape', [ipK, g.ints([0, 0, 0, h, dimHead])])], { perm: [0, 1, 3, 4, 2] }); // [B,A,H,D,T]
    const vh = g.op('Transpose', [g.op('Reshape', [ipV, g.ints([0, 0, 0, h, dimHead])])], { perm: [0, 1, 3, 2, 4] }); // [B,A,H,T,D]
    let scores = g.op('Mul', [g.op('MatMul', [qh, kh]), g.scalar(1 / Math.sqrt(dimHead))]); // [B,A,H,Lq,T]
    scores = g.op('Add', [scores, g.op('Unsqueeze', [ip.bias, g.ints([0, 2, 3])])]); // [1,A,1,1,T]
    const probs = g.op('Softmax', [scores], { axis: -1 });
    const perAdapter = g.op('MatMul', [probs, vh]); // [B,A,H,Lq,D]
    const scale = g.op('Reshape', [g.op('Gather', [ip.scale, g.ints([layer])], { axis: 0 }), g.ints([1, -1, 1, 1, 1])]);
    const summed = g.op('ReduceSum', [g.op('Mul', [perAdapter, scale]), g.ints([1])], { keepdims: 0 }); // [B,H,Lq,D]
    return g.op('Reshape', [g.op('Transpose', [summed], { perm: [0, 2, 1, 3] }), g.ints([0, 0, h * dimHead])]);
  });
}

/** Feed-forward with GEGLU: proj → (hidden, gate) halves → hidden * gelu(gate) → net.2 */
function feedForward(ctx: UNetCtx, prefix: string, x: string): string {
  const { g } = ctx;
  return g.scope(prefix, () => {
    const half = shape(ctx, join(prefix, 'net.0.proj.weight'))[0] / 2;
    const proj = linear(ctx, join(prefix, 'net.0.proj'), x);
    const [hidden, gate] = g.opN('Split', [proj, g.ints([half, half])], 2, { axis: -1 });
    return linear(ctx, join(prefix, 'net.2'), g.op('Mul', [hidden, gelu(g, gate)]));
  });
}

function transformerBlock(ctx: UNetCtx, prefix: string, x: string, context: string): string {
  const { g } = ctx;
  return g.scope(prefix, () => {
    const n1 = layerNorm(ctx, join(prefix, 'norm1'), x);
    let h = g.op('Add', [crossAttention(ctx, join(prefix, 'attn1'), n1, n1), x]);
    h = g.op('Add', [crossAttention(ctx, join(prefix, 'attn2'), layerNorm(ctx, join(prefix, 'norm2'), h), context), h]);
    return g.op('Add', [feedForward(ctx, join(prefix, 'ff'), layerNorm(ctx, join(prefix, 'norm3'), h)), h]);
  });
}

/** Transformer2DModel: GroupNorm (eps 1e-6) → proj_in → blocks → proj_out, plus the input. */
export function spatialTransformer(ctx: UNetCtx, prefix: string, x: string, context: string, depth: number): string {
  const { g } = ctx;
  return g.scope(prefix, () => {
    const normed = groupNorm(ctx, join(prefix, 'norm'), x, ctx.norm.groups, 1e-6);
    // proj_in/proj_out are 1x1 convs (or linears in use_linear_projection files): both are a
    // linear map on the channel axis, applied here on tokens.
    let t = linear(ctx, join(prefix, 'proj_in'), toTokens(g, normed, shape(ctx, join(prefix, 'norm.weight'))[0]));
    for (let i = 0; i < depth; i++) t = transformerBlock(ctx, join(prefix, `transformer_blocks.${i}`), t, context);
    t = linear(ctx, join(prefix, 'proj_out'), t);
    return g.op('Add', [fromTokens(g, t, x), x]);
  });
}

/** The Transformer2DModel at `path`, as deep as the structure says. */
function transformerAt(ctx: UNetCtx, shp: UNetStructure, path: string, x: string, context: string): string {
  return spatialTransformer(ctx, path, x, context, shp.transformers.get(path) ?? 0);
}

/** The encoder half shared by the UNet and the ControlNet: returns the skip tensors and the mid output. */
export function downAndMid(ctx: UNetCtx, shp: UNetStructure, h0: string, tembSilu: string, context: string): { skips: string[]; mid: string } {
  const skips = [h0];
  let h = h0;
  for (const b of shp.downBlocks) {
    for (let j = 0; j < b.resnets; j++) {
      h = resnetBlock(ctx, `${b.path}.resnets.${j}`, h, ctx.norm, tembSilu);
      if (j < b.attentions) h = transformerAt(ctx, shp, `${b.path}.attentions.${j}`, h, context);
      skips.push(h);
    }
    if (b.resample) {
      h = conv2d(ctx, `${b.path}.downsamplers.0.conv`, h, { stride: 2, padding: 1 });
      skips.push(h);
    }
  }
  h = resnetBlock(ctx, 'mid_block.resnets.0', h, ctx.norm, tembSilu);
  if (shp.transformers.has('mid_block.attentions.0')) h = transformerAt(ctx, shp, 'mid_block.attentions.0', h, context);
  h = resnetBlock(ctx, 'mid_block.resnets.1', h, ctx.norm, tembSilu);
  return { skips, mid: h };
}

export interface UNetGraphOptions {
  readonly flavour: Flavour;
  readonly config?: Partial<UNetConfig>;
  /** Take ControlNet residual inputs. */
  readonly control: boolean;
  /** Take IP-Adapter key/value inputs (the weights must include nothing extra: k/v come in). */
  readonly ip: boolean;
  /** The structure of `w` when the caller has read it already (LoRAs change no shape). */
  readonly structure?: UNetStructure;
}

export function buildUNet(w: WeightSource, opts: UNetGraphOptions): BuiltGraph {
  const cfg = { ...SD15_UNET, ...opts.config };
  const shp = opts.structure ?? inspectUNet(w);
  const g = new GraphBuilder(`unet${opts.control ? '-control' : ''}${opts.ip ? '-ip' : ''}`, opts.flavour);
  const sample = g.floatInput('sample', ['batch', shp.inChannels, 'height', 'width']);
  const timestep = g.input('timestep', TensorType.FLOAT, ['batch']);
  const context = g.floatInput('encoder_hidden_states', ['batch', 'tokens', shp.crossAttentionDim]);

  let ip: IpInputs | undefined;
  if (opts.ip) {
    const kv = new Map<string, readonly [string, string]>();
    const layerIndex = new Map<string, number>();
    shp.attn2.forEach(({ path, channels: c }, l) => {
      kv.set(path, [g.floatInput(UNET_IO.ipKey(l), ['batch', 'adapters', 'ip_tokens', c]), g.floatInput(UNET_IO.ipValue(l), ['batch', 'adapters', 'ip_tokens', c])]);
      layerIndex.set(path, l);
    });
    const scale = g.floatInput(UNET_IO.ipScale, [shp.attn2.length, 'adapters']);
    const bias = g.floatInput(UNET_IO.ipBias, ['adapters', 'ip_tokens']);
    ip = { kv, scale, bias, layerIndex };
  }
  const ctx: UNetCtx = { g, w, cfg, norm: { groups: cfg.normGroups, eps: cfg.normEps }, ip };

  const temb = timeEmbedding(ctx, timestep, shape(ctx, 'time_embedding.linear_1.weight')[1]);
  const tembSilu = siluOf(g, temb);
  const h0 = conv2d(ctx, 'conv_in', sample);
  let { skips, mid } = downAndMid(ctx, shp, h0, tembSilu, context);

  if (opts.control) {
    skips = skips.map((s, i) => g.op('Add', [s, g.floatInput(UNET_IO.downResidual(i), ['batch', shp.skips[i].channels, `h${i}`, `w${i}`])]));
    mid = g.op('Add', [mid, g.floatInput(UNET_IO.midResidual, ['batch', shp.mid.channels, 'hm', 'wm'])]);
  }

  let h = mid;
  for (const b of shp.upBlocks) {
    for (let j = 0; j < b.resnets; j++) {
      const skip = skips.pop()!;
      h = g.op('Concat', [h, skip], { axis: 1 });
      h = resnetBlock(ctx, `${b.path}.resnets.${j}`, h, ctx.norm, tembSilu);
      if (j < b.attentions) h = transformerAt(ctx, shp, `${b.path}.attentions.${j}`, h, context);
    }
    if (b.resample) {
      // Nearest 2x to the size of the next skip (odd latent sizes round like diffusers' upsample_size).
      const next = skips[skips.length - 1];
      const size = next ? g.op('Shape', [next]) : g.op('Mul', [g.op('Shape', [h]), g.ints([1, 1, 2, 2])]);
      const nc = g.op('Concat', [g.op('Slice', [g.op('Shape', [h]), g.ints([0]), g.ints([2])]), g.op('Slice', [size, g.ints([2]), g.ints([4])])], { axis: 0 });
      h = g.op('Resize', [h, '', '', nc], { mode: 'nearest', nearest_mode: 'floor', coordinate_transformation_mode: 'asymmetric' });
      h = conv2d(ctx, `${b.path}.upsamplers.0.conv`, h);
    }
  }
  h = groupNorm(ctx, 'conv_norm_out', h, cfg.normGroups, cfg.normEps, true);
  h = conv2d(ctx, 'conv_out', h);
  g.floatOutput('noise_pred', h, ['batch', shp.outChannels, 'height', 'width']);
  return g.build(`SD UNet (${shp.blockChannels.join(',')}), ${shp.attn2.length} attn2 layers${opts.ip ? ', IP-Adapter inputs' : ''}${opts.control ? ', ControlNet residual inputs' : ''}`);
}
