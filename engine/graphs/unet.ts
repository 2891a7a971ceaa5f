/**
 * UNet2DConditionModel (diffusers module tree) of SD1.5 and SDXL with decoupled IP-Adapter
 * cross-attention and ControlNet residual inputs. One graph serves every adapter combination: per
 * attn2 layer it takes the image keys/values (computed once per job), a per-layer scale and a
 * per-resolution regional mask, so base, Plus, FaceID, several references, per-block presets and
 * masked references need no rebuild.
 *
 * Inputs:  sample [B,Cin,h,w], timestep f32 [B], encoder_hidden_states [B,77*k,Cx]
 *          (SDXL)    text_embeds [B,P], time_ids [B,6] (when the structure has `textTime`)
 *          (control) down_residual_0..N-1, mid_residual (one per `skips[i]`, then `mid`)
 *          (ip)      ip_k.<l>, ip_v.<l> [B,A,T,C_l] for l in `attn2` order, ip_scale [L,A], ip_bias [A,T],
 *                    ip_mask.<k> [A,N_k] for each attn2 resolution k (`attn2Resolutions`; ones = unmasked)
 * Output:  noise_pred [B,Cout,h,w]
 * The blocks, their depths, the attn2 layers, the skips and the added embedding all come from one
 * `UNetStructure` (weights/unet-structure.ts); input names from `UNET_IO`.
 */
import { GraphBuilder, TensorType, type BuiltGraph, type Flavour } from '../onnx/builder.ts';
import type { WeightSource } from '../weights/source.ts';
import { attn2Resolutions, inspectUNet, UNET_IO, type UNetStructure } from '../weights/unet-structure.ts';
import { resnetBlock, type NormConfig } from './blocks.ts';
import { attention, conv2d, fromTokens, gelu, groupNorm, join, layerNorm, linear, shape, siluOf, toTokens, type Ctx } from './nn.ts';

export interface UNetConfig {
  /**
   * Attention heads, which shapes cannot tell (they give heads × head width only). One count for every
   * transformer (SD1.5's "attention_head_dim" = 8 heads), or one per down level as diffusers' SDXL
   * configs list them ("attention_head_dim" [5, 10, 20] = heads): up block i takes entry n-1-i, the mid
   * block the last. Absent: channels / `headDim`.
   */
  readonly heads?: number | readonly number[];
  /** Head width when `heads` is absent (64 in every released SDXL UNet). */
  readonly headDim: number;
  readonly normGroups: number;
  readonly normEps: number;
  readonly flipSinToCos: boolean;
  readonly freqShift: number;
  /** SDXL `text_time`: width of each time id's sinusoid ("addition_time_embed_dim"; 256 in SDXL). */
  readonly timeIdDim: number;
}

export const SD15_UNET: UNetConfig = { heads: 8, headDim: 64, normGroups: 32, normEps: 1e-5, flipSinToCos: true, freqShift: 0, timeIdDim: 256 };
/** SDXL base / refiner: head width 64 at every level (5, 10, 20 heads at 320, 640, 1280 channels). */
export const SDXL_UNET: UNetConfig = { headDim: 64, normGroups: 32, normEps: 1e-5, flipSinToCos: true, freqShift: 0, timeIdDim: 256 };

/** The defaults for a UNet (or ControlNet) of this structure: SDXL's when it has the text_time embedding. */
export function unetDefaults(shp: Pick<UNetStructure, 'textTime'>): UNetConfig {
  return shp.textTime ? SDXL_UNET : SD15_UNET;
}

/** Heads of the transformer at `path` (`down_blocks.i…`, `up_blocks.i…`, `mid_block…`) with `inner` channels. */
export function transformerHeads(cfg: UNetConfig, shp: Pick<UNetStructure, 'downBlocks'>, path: string, inner: number): number {
  let heads: number;
  if (cfg.heads === undefined) heads = inner / cfg.headDim;
  else if (typeof cfg.heads === 'number') heads = cfg.heads;
  else {
    const n = shp.downBlocks.length;
    if (cfg.heads.length !== n) throw new Error(`UNet config lists heads for ${cfg.heads.length} levels; the UNet has ${n} down blocks`);
    const m = /^(down|up)_blocks\.(\d+)\./.exec(path);
    heads = cfg.heads[!m ? n - 1 : m[1] === 'down' ? Number(m[2]) : n - 1 - Number(m[2])];
  }
  if (!Number.isInteger(heads) || heads < 1 || inner % heads !== 0) throw new Error(`${path}: ${inner} channels cannot be split into ${cfg.heads === undefined ? `heads of width ${cfg.headDim}` : `${heads} heads`} (pass the model's "attention_head_dim")`);
  return heads;
}

/** Per-job inputs of the decoupled image cross-attention. */
export interface IpInputs {
  /** attn2 module path -> [ip_k, ip_v] graph values */
  readonly kv: ReadonlyMap<string, readonly [string, string]>;
  /** [L, A] per-layer, per-adapter scale */
  readonly scale: string;
  /** [A, T] additive bias masking padded tokens */
  readonly bias: string;
  /** attn2 module path -> [A, N] regional mask of its resolution */
  readonly mask: ReadonlyMap<string, string>;
  readonly layerIndex: ReadonlyMap<string, number>;
}

export interface UNetCtx extends Ctx {
  readonly cfg: UNetConfig;
  readonly norm: NormConfig;
  readonly shp: UNetStructure;
  readonly ip?: IpInputs;
}

/**
 * diffusers get_timestep_embedding of every value of `x` (float32, rank `rank`): [..., dim] in the compute
 * type, cos half first with flip_sin_to_cos.
 */
function sinusoid(ctx: UNetCtx, x: string, rank: number, dim: number): string {
  const { g, cfg } = ctx;
  const half = dim / 2;
  const freqs = new Float32Array(half);
  for (let i = 0; i < half; i++) freqs[i] = Math.exp((-Math.log(10000) * i) / (half - cfg.freqShift));
  const t = g.op('Unsqueeze', [g.op('Cast', [x], { to: TensorType.FLOAT }), g.ints([rank])]);
  const args = g.op('Mul', [t, g.const(freqs, [1, half], 'freqs')]);
  const sin = g.op('Sin', [args]);
  const cos = g.op('Cos', [args]);
  const emb = g.op('Concat', cfg.flipSinToCos ? [cos, sin] : [sin, cos], { axis: rank });
  return g.computeType !== TensorType.FLOAT ? g.op('Cast', [emb], { to: g.computeType }) : emb;
}

/** Sinusoidal timestep embedding → time_embedding MLP. */
export function timeEmbedding(ctx: UNetCtx, timestep: string, dim: number): string {
  const { g } = ctx;
  let h = linear(ctx, 'time_embedding.linear_1', sinusoid(ctx, timestep, 1, dim));
  h = siluOf(g, h);
  return linear(ctx, 'time_embedding.linear_2', h);
}

/**
 * SDXL's text_time added embedding: add_embedding(concat(text_embeds, flatten(sinusoid(time_ids)))),
 * each time id embedded like a timestep with `timeIdDim` channels.
 */
function textTimeEmbedding(ctx: UNetCtx, textEmbeds: string, timeIds: string): string {
  const { g } = ctx;
  return g.scope('add_embedding', () => {
    const ids = g.op('Reshape', [sinusoid(ctx, timeIds, 2, ctx.cfg.timeIdDim), g.ints([0, -1])]); // [B, n * timeIdDim]
    const h = linear(ctx, 'add_embedding.linear_1', g.op('Concat', [textEmbeds, ids], { axis: 1 }));
    return linear(ctx, 'add_embedding.linear_2', siluOf(g, h));
  });
}

/** The inputs the UNet and its ControlNet share (names from UNET_IO); text_time models add two. */
export interface StepInputs {
  readonly sample: string;
  readonly timestep: string;
  readonly context: string;
  readonly textTime?: { readonly textEmbeds: string; readonly timeIds: string };
}

export function stepInputs(g: GraphBuilder, shp: UNetStructure): StepInputs {
  const sample = g.floatInput('sample', ['batch', shp.inChannels, 'height', 'width']);
  const timestep = g.input('timestep', TensorType.FLOAT, ['batch']);
  const context = g.floatInput('encoder_hidden_states', ['batch', 'tokens', shp.crossAttentionDim]);
  if (!shp.textTime) return { sample, timestep, context };
  const textEmbeds = g.floatInput(UNET_IO.textEmbeds, ['batch', 'pooled_width']);
  const timeIds = g.input(UNET_IO.timeIds, TensorType.FLOAT, ['batch', 'time_ids']);
  return { sample, timestep, context, textTime: { textEmbeds, timeIds } };
}

/** SiLU(time embedding [+ added embedding]): what every resnet's time_emb_proj takes. */
export function stepEmbedding(ctx: UNetCtx, inputs: StepInputs): string {
  const { g } = ctx;
  let temb = timeEmbedding(ctx, inputs.timestep, shape(ctx, 'time_embedding.linear_1.weight')[1]);
  if (inputs.textTime) temb = g.op('Add', [temb, textTimeEmbedding(ctx, inputs.textTime.textEmbeds, inputs.textTime.timeIds)]);
  return siluOf(g, temb);
}

/** attn1 / attn2 of a BasicTransformerBlock; attn2 adds the decoupled image term when present. */
function crossAttention(ctx: UNetCtx, prefix: string, x: string, context: string, heads: number): string {
  const { g } = ctx;
  return g.scope(prefix, () => {
    const [inner] = shape(ctx, join(prefix, 'to_q.weight'));
    const dimHead = inner / heads;
    const q = linear(ctx, join(prefix, 'to_q'), x);
    const k = linear(ctx, join(prefix, 'to_k'), context);
    const v = linear(ctx, join(prefix, 'to_v'), context);
    let out = attention(g, q, k, v, heads, dimHead, { longQueries: x === context });
    const ip = ctx.ip?.kv.get(prefix);
    if (ip && ctx.ip) out = g.op('Add', [out, imageAttention(ctx, prefix, q, ip[0], ip[1], heads, dimHead)]);
    return linear(ctx, join(prefix, 'to_out.0'), out);
  });
}

/**
 * sum_a scale[l,a] * mask_a[q] * softmax(q k_a^T / sqrt(d) + bias_a) v_a over adapter slots a, computed
 * as one batched attention over [B, A, heads, Lq, T] (T is small: 4–16 tokens per slot). One softmax
 * per slot, so a masked reference image is its own slot (diffusers' per-image softmax with masks).
 */
function imageAttention(ctx: UNetCtx, attn2: string, q: string, ipK: string, ipV: string, h: number, dimHead: number): string {
  const { g } = ctx;
  const ip = ctx.ip!;
  const layer = ip.layerIndex.get(attn2) ?? 0;
  return g.scope(join(attn2, 'ip'), () => {
    const qh = g.op('Unsqueeze', [g.op('Transpose', [g.op('Reshape', [q, g.ints([0, 0, h, dimHead])])], { perm: [0, 2, 1, 3] }), g.ints([1])]); // [B,1,H,Lq,D]
    const kh = g.op('Transpose', [g.op('Reshape', [ipK, g.ints([0, 0, 0, h, dimHead])])], { perm: [0, 1, 3, 4, 2] }); // [B,A,H,D,T]
    const vh = g.op('Transpose', [g.op('Reshape', [ipV, g.ints([0, 0, 0, h, dimHead])])], { perm: [0, 1, 3, 2, 4] }); // [B,A,H,T,D]
    let scores = g.op('Mul', [g.op('MatMul', [qh, kh]), g.scalar(1 / Math.sqrt(dimHead))]); // [B,A,H,Lq,T]
    scores = g.op('Add', [scores, g.op('Unsqueeze', [ip.bias, g.ints([0, 2, 3])])]); // [1,A,1,1,T]
    const probs = g.op('Softmax', [scores], { axis: -1 });
    const perAdapter = g.op('MatMul', [probs, vh]); // [B,A,H,Lq,D]
    // scale [A] × mask [A, Lq] → [1, A, 1, Lq, 1]
    const scale = g.op('Reshape', [g.op('Gather', [ip.scale, g.ints([layer])], { axis: 0 }), g.ints([-1, 1])]);
    const weight = g.op('Unsqueeze', [g.op('Mul', [scale, ip.mask.get(attn2)!]), g.ints([0, 2, 4])]);
    const summed = g.op('ReduceSum', [g.op('Mul', [perAdapter, weight]), g.ints([1])], { keepdims: 0 }); // [B,H,Lq,D]
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

function transformerBlock(ctx: UNetCtx, prefix: string, x: string, context: string, heads: number): string {
  const { g } = ctx;
  return g.scope(prefix, () => {
    const n1 = layerNorm(ctx, join(prefix, 'norm1'), x);
    let h = g.op('Add', [crossAttention(ctx, join(prefix, 'attn1'), n1, n1, heads), x]);
    h = g.op('Add', [crossAttention(ctx, join(prefix, 'attn2'), layerNorm(ctx, join(prefix, 'norm2'), h), context, heads), h]);
    return g.op('Add', [feedForward(ctx, join(prefix, 'ff'), layerNorm(ctx, join(prefix, 'norm3'), h)), h]);
  });
}

/** Transformer2DModel: GroupNorm (eps 1e-6) → proj_in → blocks → proj_out, plus the input. */
function spatialTransformer(ctx: UNetCtx, prefix: string, x: string, context: string, depth: number): string {
  const { g } = ctx;
  return g.scope(prefix, () => {
    const normed = groupNorm(ctx, join(prefix, 'norm'), x, ctx.norm.groups, 1e-6);
    const heads = transformerHeads(ctx.cfg, ctx.shp, prefix, shape(ctx, join(prefix, 'transformer_blocks.0.attn1.to_q.weight'))[0]);
    // proj_in/proj_out are 1x1 convs (SD1.5) or linears (SDXL's use_linear_projection): both are a
    // linear map on the channel axis, applied here on tokens.
    let t = linear(ctx, join(prefix, 'proj_in'), toTokens(g, normed, shape(ctx, join(prefix, 'norm.weight'))[0]));
    for (let i = 0; i < depth; i++) t = transformerBlock(ctx, join(prefix, `transformer_blocks.${i}`), t, context, heads);
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

/**
 * The image cross-attention inputs: keys/values per attn2 layer, the [L, A] scales, the [A, T] padding
 * bias and one [A, N] regional mask per attn2 resolution (shared by every layer of that resolution).
 */
function ipInputs(g: GraphBuilder, shp: UNetStructure): IpInputs {
  const kv = new Map<string, readonly [string, string]>();
  const layerIndex = new Map<string, number>();
  shp.attn2.forEach(({ path, channels: c }, l) => {
    kv.set(path, [g.floatInput(UNET_IO.ipKey(l), ['batch', 'adapters', 'ip_tokens', c]), g.floatInput(UNET_IO.ipValue(l), ['batch', 'adapters', 'ip_tokens', c])]);
    layerIndex.set(path, l);
  });
  const scale = g.floatInput(UNET_IO.ipScale, [shp.attn2.length, 'adapters']);
  const bias = g.floatInput(UNET_IO.ipBias, ['adapters', 'ip_tokens']);
  const byResolution = new Map(attn2Resolutions(shp).map((k) => [k, g.floatInput(UNET_IO.ipMask(k), ['adapters', `queries_${k}`])]));
  const mask = new Map(shp.attn2.map((a) => [a.path, byResolution.get(a.downsamples)!]));
  return { kv, scale, bias, mask, layerIndex };
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
  const shp = opts.structure ?? inspectUNet(w);
  const cfg = { ...unetDefaults(shp), ...opts.config };
  const g = new GraphBuilder(`unet${opts.control ? '-control' : ''}${opts.ip ? '-ip' : ''}`, opts.flavour);
  const inputs = stepInputs(g, shp);
  const ip = opts.ip ? ipInputs(g, shp) : undefined;
  const ctx: UNetCtx = { g, w, cfg, shp, norm: { groups: cfg.normGroups, eps: cfg.normEps }, ip };

  const tembSilu = stepEmbedding(ctx, inputs);
  const { sample, context } = inputs;
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
