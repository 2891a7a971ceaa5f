/**
 * IP-Adapter graphs from h94 files (`image_proj.*` = the image projection, `ip_adapter.<i>.*` = the
 * attention-processor weights, i = index in diffusers' `unet.attn_processors` order).
 *
 * Two graphs per adapter, both built once per adapter file:
 * - the projection (`buildIpProjectionGraph`): CLIP image embeds / penultimate hidden states /
 *   InsightFace embeddings → image prompt tokens [B, T, cross_dim];
 * - the key/value graph (`buildIpKvGraph`): image prompt tokens → `to_k_ip(tokens)`,
 *   `to_v_ip(tokens)` for each of the 16 attn2 layers, computed once per job and fed to the UNet
 *   (which adds `scale_l * softmax(q k_ip^T / sqrt(d)) v_ip` to each attn2 output).
 *
 * Variants, told apart by keys and shapes (tencent-ailab IP-Adapter: ip_adapter.py, resampler.py,
 * ip_adapter_faceid.py; the same rules ComfyUI_IPAdapter_plus uses):
 * - base (ip-adapter_sd15, _light, vit-G): ImageProjModel — LayerNorm(reshape(Linear(image_embeds), [B, T, D])),
 *   T = proj rows / norm width.
 * - plus / plus-face: Resampler — T learned latents (`image_proj.latents` [1, T, dim]) attend to
 *   proj_in(hidden_states[-2]) through `depth` (= number of `layers.N`) PerceiverAttention + FeedForward
 *   blocks; keys/values = concat(LN1(features), LN2(latents)); scores (q·s)(k·s)^T with s = dim_head^-1/4
 *   (= q k^T / sqrt(dim_head)); FF = LN, Linear (no bias), GELU (erf), Linear (no bias); then proj_out,
 *   norm_out. Heads are not visible in the shapes: `heads` or `dimHead` (default 64, SD1.5 plus = 12 x 64).
 * - full-face: MLPProjModel — Linear, GELU, Linear, LayerNorm (`proj.0/2/3`) on the penultimate hidden
 *   states (all 257 tokens).
 * - faceid / faceid-portrait: MLPProjModel (faceid) — LayerNorm(reshape(Linear(GELU(Linear(id))), [B, T, D]));
 *   portrait is the same with 16 tokens and no LoRA in `ip_adapter.*`.
 * - faceid-plus (FaceID-Plus and PlusV2, same layout): ProjPlusModel — x = faceid MLP tokens;
 *   out = FacePerceiverResampler(latents = x, features = proj_in(hidden_states[-2])); PlusV2 uses the
 *   shortcut `x + s_scale * out` (ComfyUI and the reference pick V2 by the file name "plusv2").
 */
import { GraphBuilder, TensorType, type BuiltGraph, type Flavour } from '../onnx/builder.ts';
import { renamedSource, type WeightSource } from '../weights/source.ts';
import { attention, gelu, join, layerNorm, linear, type Ctx } from './nn.ts';
import { describeKeys, outputFloat32, toCompute } from './clip-text.ts';

/**
 * The 16 SD1.5 cross-attention (attn2) layers in h94 order: entry j is `ip_adapter.<2j+1>.*`
 * (diffusers' attn_processors order: down blocks, then up blocks, then the mid block).
 */
export const IP_ATTN2_LAYERS: readonly string[] = [
  'down_blocks.0.attentions.0.transformer_blocks.0.attn2',
  'down_blocks.0.attentions.1.transformer_blocks.0.attn2',
  'down_blocks.1.attentions.0.transformer_blocks.0.attn2',
  'down_blocks.1.attentions.1.transformer_blocks.0.attn2',
  'down_blocks.2.attentions.0.transformer_blocks.0.attn2',
  'down_blocks.2.attentions.1.transformer_blocks.0.attn2',
  'up_blocks.1.attentions.0.transformer_blocks.0.attn2',
  'up_blocks.1.attentions.1.transformer_blocks.0.attn2',
  'up_blocks.1.attentions.2.transformer_blocks.0.attn2',
  'up_blocks.2.attentions.0.transformer_blocks.0.attn2',
  'up_blocks.2.attentions.1.transformer_blocks.0.attn2',
  'up_blocks.2.attentions.2.transformer_blocks.0.attn2',
  'up_blocks.3.attentions.0.transformer_blocks.0.attn2',
  'up_blocks.3.attentions.1.transformer_blocks.0.attn2',
  'up_blocks.3.attentions.2.transformer_blocks.0.attn2',
  'mid_block.attentions.0.transformer_blocks.0.attn2',
];

/** h94 index of IP_ATTN2_LAYERS[j] (`ip_adapter.<i>.to_k_ip.weight`). */
export const ipAttn2Index = (j: number): number => 2 * j + 1;

/**
 * All 32 attention processors in h94 order (index i = `ip_adapter.<i>.*`): attn1 at even, attn2 at
 * odd indices. FaceID files carry `to_{q,k,v,out}_lora.{down,up}.weight` on all of them.
 */
export const IP_ATTN_PROCESSORS: readonly string[] = IP_ATTN2_LAYERS.flatMap((p) => [p.replace(/attn2$/, 'attn1'), p]);

/** Output names of the key/value graph for IP_ATTN2_LAYERS[j]: `ip_k.<2j+1>`, `ip_v.<2j+1>`. */
export const ipKeyName = (j: number): string => `ip_k.${ipAttn2Index(j)}`;
export const ipValueName = (j: number): string => `ip_v.${ipAttn2Index(j)}`;

export type IpAdapterVariant = 'base' | 'plus' | 'full-face' | 'faceid' | 'faceid-portrait' | 'faceid-plus';

export type IpProjectionInput = 'image_embeds' | 'hidden_states_penultimate' | 'faceid_embeds';

export interface IpAdapterInfo {
  readonly variant: IpAdapterVariant;
  /** Width of the image prompt tokens (= the UNet's cross_attention_dim). */
  readonly crossDim: number;
  /** Image prompt tokens per image (4 base/FaceID, 16 plus/portrait, 257 full-face). */
  readonly numTokens: number;
  /** What the projection graph takes, with the width of its last axis. */
  readonly inputs: ReadonlyArray<{ readonly name: IpProjectionInput; readonly width: number }>;
  /** Per attn2 layer (IP_ATTN2_LAYERS order): h94 index and the key/value width (the layer's channels). */
  readonly kv: ReadonlyArray<{ readonly index: number; readonly width: number }>;
  /** FaceID LoRA present on the attention processors (`ip_adapter.<i>.to_q_lora.down.weight`). */
  readonly hasLora: boolean;
  /** Resampler sizes (plus, faceid-plus). */
  readonly resampler?: { readonly depth: number; readonly dim: number; readonly inner: number };
}

export class IpAdapterLayoutError extends Error {
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'IpAdapterLayoutError';
  }
}

/** Accepts files that name the processors `adapter_modules.*` (training checkpoints) as `ip_adapter.*`. */
export function ipAdapterSource(src: WeightSource): WeightSource {
  const keys = src.keys();
  if (!keys.some((k) => k.startsWith('adapter_modules.'))) return src;
  const map = new Map<string, string>();
  for (const k of keys) map.set(k.startsWith('adapter_modules.') ? `ip_adapter.${k.slice('adapter_modules.'.length)}` : k, k);
  return renamedSource(src, map);
}

const P = 'image_proj.';

function dims(src: WeightSource, key: string): readonly number[] | undefined {
  return src.get(key)?.shape;
}

function countLayers(src: WeightSource, base: string): number {
  let n = 0;
  while (src.get(`${base}.${n}.0.to_q.weight`)) n++;
  return n;
}

/** Reads which IP-Adapter a file is, and its sizes, from keys and shapes only. */
export function detectIpAdapter(raw: WeightSource): IpAdapterInfo {
  const src = ipAdapterSource(raw);
  const file = src.description;
  const keys = src.keys();
  if (!keys.some((k) => k.startsWith(P)) || !keys.some((k) => k.startsWith('ip_adapter.'))) {
    throw new IpAdapterLayoutError(file, `not an IP-Adapter file in the h94 layout (image_proj.*, ip_adapter.N.*)${describeKeys(src)}`);
  }
  const has = (k: string): boolean => src.get(P + k) !== undefined;
  const shapeOf = (k: string): readonly number[] => dims(src, P + k)!;

  // attn2 key/value projections, in h94 order.
  const idx = [...new Set(keys.map((k) => /^ip_adapter\.(\d+)\.to_k_ip\.weight$/.exec(k)?.[1]).filter((x): x is string => x !== undefined).map(Number))].sort((a, b) => a - b);
  const expected = IP_ATTN2_LAYERS.map((_, j) => ipAttn2Index(j));
  if (idx.length !== expected.length || idx.some((v, j) => v !== expected[j])) {
    throw new IpAdapterLayoutError(file, `has image key/value projections (ip_adapter.N.to_k_ip.weight) at ${idx.length ? `N = ${idx.join(',')}` : 'no index'}; an SD1.5 IP-Adapter has them at N = 1,3,...,31 (16 attn2 layers). SDXL adapters are not supported`);
  }
  const kv = idx.map((index) => {
    const k = dims(src, `ip_adapter.${index}.to_k_ip.weight`)!;
    const v = dims(src, `ip_adapter.${index}.to_v_ip.weight`);
    if (!v) throw new IpAdapterLayoutError(file, `missing tensor "ip_adapter.${index}.to_v_ip.weight"`);
    if (k.length !== 2 || v.length !== 2 || k[1] !== v[1]) throw new IpAdapterLayoutError(file, `ip_adapter.${index}: to_k_ip [${k}] / to_v_ip [${v}] are not [hidden, cross_dim] matrices`);
    return { index, width: k[0], crossIn: k[1] };
  });
  const hasLora = src.get('ip_adapter.0.to_q_lora.down.weight') !== undefined;

  let info: Omit<IpAdapterInfo, 'kv' | 'hasLora'>;
  if (has('latents') && has('layers.0.0.to_q.weight')) {
    const [, numTokens, dim] = shapeOf('latents');
    const [crossDim] = shapeOf('proj_out.weight');
    const [, clipDim] = shapeOf('proj_in.weight');
    if (has('to_latents_from_mean_pooled_seq.1.weight')) throw new IpAdapterLayoutError(file, 'Resampler with mean-pooled latents is not supported');
    info = { variant: 'plus', crossDim, numTokens, inputs: [{ name: 'hidden_states_penultimate', width: clipDim }], resampler: { depth: countLayers(src, `${P}layers`), dim, inner: shapeOf('layers.0.0.to_q.weight')[0] } };
  } else if (has('perceiver_resampler.proj_in.weight')) {
    const [crossDim] = shapeOf('norm.weight');
    const [, idDim] = shapeOf('proj.0.weight');
    const [tokensTimesD] = shapeOf('proj.2.weight');
    const [, clipDim] = shapeOf('perceiver_resampler.proj_in.weight');
    const [dim] = shapeOf('perceiver_resampler.proj_in.weight');
    info = {
      variant: 'faceid-plus', crossDim, numTokens: tokensOf(file, tokensTimesD, crossDim),
      inputs: [{ name: 'faceid_embeds', width: idDim }, { name: 'hidden_states_penultimate', width: clipDim }],
      resampler: { depth: countLayers(src, `${P}perceiver_resampler.layers`), dim, inner: shapeOf('perceiver_resampler.layers.0.0.to_q.weight')[0] },
    };
  } else if (has('proj.0.weight') && has('proj.3.weight')) {
    const [, clipDim] = shapeOf('proj.0.weight');
    const [crossDim] = shapeOf('proj.3.weight');
    info = { variant: 'full-face', crossDim, numTokens: 257, inputs: [{ name: 'hidden_states_penultimate', width: clipDim }] };
  } else if (has('proj.0.weight') && has('proj.2.weight') && has('norm.weight')) {
    const [crossDim] = shapeOf('norm.weight');
    const [, idDim] = shapeOf('proj.0.weight');
    const [tokensTimesD] = shapeOf('proj.2.weight');
    info = { variant: hasLora ? 'faceid' : 'faceid-portrait', crossDim, numTokens: tokensOf(file, tokensTimesD, crossDim), inputs: [{ name: 'faceid_embeds', width: idDim }] };
  } else if (has('proj.weight') && has('norm.weight')) {
    const [crossDim] = shapeOf('norm.weight');
    const [tokensTimesD, clipDim] = shapeOf('proj.weight');
    info = { variant: 'base', crossDim, numTokens: tokensOf(file, tokensTimesD, crossDim), inputs: [{ name: 'image_embeds', width: clipDim }] };
  } else {
    const projKeys = keys.filter((k) => k.startsWith(P)).slice(0, 6);
    throw new IpAdapterLayoutError(file, `unknown IP-Adapter image projection layout (image_proj keys: ${projKeys.join(', ')}); supported: ImageProjModel (base), Resampler (plus), MLPProjModel (full-face, FaceID, portrait), ProjPlusModel (FaceID-Plus/PlusV2)`);
  }
  for (const k of kv) {
    if (k.crossIn !== info.crossDim) throw new IpAdapterLayoutError(file, `ip_adapter.${k.index}.to_k_ip takes width ${k.crossIn}, the projection makes tokens of width ${info.crossDim}`);
  }
  if (info.resampler && info.resampler.depth === 0) throw new IpAdapterLayoutError(file, 'resampler has no layers');
  return { ...info, kv: kv.map(({ index, width }) => ({ index, width })), hasLora };
}

function tokensOf(file: string, rows: number, width: number): number {
  if (rows % width !== 0) throw new IpAdapterLayoutError(file, `projection output ${rows} is not a multiple of the token width ${width}`);
  return rows / width;
}

export interface IpProjectionOptions {
  readonly flavour?: Flavour;
  /** Resampler / perceiver heads (plus, faceid-plus). Default: inner width / dimHead. */
  readonly heads?: number;
  /** Resampler head width when `heads` is not given (default 64, as in every released SD1.5 file). */
  readonly dimHead?: number;
  /** FaceID-Plus: add the shortcut `x + sScale * perceiver(...)` (PlusV2). Default false (Plus v1). */
  readonly shortcut?: boolean;
  /** FaceID-PlusV2 shortcut scale (s_scale; reference default 1.0, ComfyUI weight_faceidv2). */
  readonly sScale?: number;
  readonly eps?: number;
  readonly name?: string;
}

export const IP_PROJ_IO = {
  tokens: 'image_prompt_tokens',
  tokensNoShortcut: 'image_prompt_tokens_no_shortcut',
} as const;

/**
 * The image projection graph. Inputs (float32), by variant (see `detectIpAdapter(src).inputs`):
 * `image_embeds` [B, clip_dim] (base), `hidden_states_penultimate` [B, S, clip_dim] (plus,
 * full-face, faceid-plus), `faceid_embeds` [B, id_dim] (faceid, portrait, faceid-plus).
 * Output `image_prompt_tokens` [B, T, cross_dim]; faceid-plus also `image_prompt_tokens_no_shortcut`
 * (the perceiver output alone). The unconditional tokens are the same graph on zeros (base, faceid),
 * on the penultimate states of an all-zero image (plus), or both (faceid-plus).
 * Several FaceID images (portrait): run them as a batch and concatenate their tokens along T.
 */
export function buildIpProjectionGraph(raw: WeightSource, opts: IpProjectionOptions = {}): BuiltGraph {
  const src = ipAdapterSource(raw);
  const info = detectIpAdapter(src);
  const g = new GraphBuilder(opts.name ?? `ip_proj_${info.variant}`, opts.flavour ?? 'cpu');
  const ctx: Ctx = { g, w: src };
  const eps = opts.eps ?? 1e-5;
  const inputs: Partial<Record<IpProjectionInput, string>> = {};
  for (const i of info.inputs) {
    const d = i.name === 'hidden_states_penultimate' ? ['batch', 'sequence', i.width] : ['batch', i.width];
    inputs[i.name] = toCompute(g, g.input(i.name, TensorType.FLOAT, d));
  }
  const D = info.crossDim;
  const T = info.numTokens;
  const outDims = ['batch', info.variant === 'full-face' ? 'sequence' : T, D];
  const headsFor = (inner: number): { heads: number; dimHead: number } => {
    const heads = opts.heads ?? inner / (opts.dimHead ?? 64);
    if (!Number.isInteger(heads) || heads < 1 || inner % heads !== 0) {
      throw new IpAdapterLayoutError(src.description, `resampler inner width ${inner} cannot be split into ${opts.heads ?? `heads of ${opts.dimHead ?? 64}`}; pass heads / dimHead`);
    }
    return { heads, dimHead: inner / heads };
  };

  let tokens: string;
  switch (info.variant) {
    case 'base':
      tokens = layerNorm(ctx, `${P}norm`, g.op('Reshape', [linear(ctx, `${P}proj`, inputs.image_embeds!), g.ints([-1, T, D])]), eps);
      break;
    case 'faceid':
    case 'faceid-portrait':
      tokens = faceIdTokens(ctx, inputs.faceid_embeds!, T, D, eps);
      break;
    case 'full-face': {
      const h = linear(ctx, `${P}proj.2`, gelu(g, linear(ctx, `${P}proj.0`, inputs.hidden_states_penultimate!)));
      tokens = layerNorm(ctx, `${P}proj.3`, h, eps);
      break;
    }
    case 'plus': {
      const r = info.resampler!;
      const { heads, dimHead } = headsFor(r.inner);
      let x = inputs.hidden_states_penultimate!;
      if (src.get(`${P}pos_emb.weight`)) {
        const seq = g.op('Slice', [g.op('Shape', [x]), g.ints([1]), g.ints([2])]);
        x = g.op('Add', [x, g.op('Slice', [g.weight(src, `${P}pos_emb.weight`), g.ints([0]), seq, g.ints([0])])]);
      }
      const feats = linear(ctx, `${P}proj_in`, x);
      const batch = g.op('Slice', [g.op('Shape', [feats]), g.ints([0]), g.ints([1])]);
      const latents = g.op('Expand', [g.weight(src, `${P}latents`), g.op('Concat', [batch, g.ints([1, 1])], { axis: 0 })]);
      const out = perceiverLayers(ctx, `${P}layers`, feats, latents, r.depth, heads, dimHead, eps);
      tokens = layerNorm(ctx, `${P}norm_out`, linear(ctx, `${P}proj_out`, out), eps);
      break;
    }
    case 'faceid-plus': {
      const r = info.resampler!;
      const { heads, dimHead } = headsFor(r.inner);
      const x = faceIdTokens(ctx, inputs.faceid_embeds!, T, D, eps);
      const pr = `${P}perceiver_resampler`;
      const feats = linear(ctx, `${pr}.proj_in`, inputs.hidden_states_penultimate!);
      const lat = perceiverLayers(ctx, `${pr}.layers`, feats, x, r.depth, heads, dimHead, eps);
      const out = layerNorm(ctx, `${pr}.norm_out`, linear(ctx, `${pr}.proj_out`, lat), eps);
      outputFloat32(g, IP_PROJ_IO.tokensNoShortcut, out, outDims);
      tokens = opts.shortcut ? g.op('Add', [x, g.op('Mul', [out, g.scalar(opts.sScale ?? 1)])]) : out;
      break;
    }
  }
  outputFloat32(g, IP_PROJ_IO.tokens, tokens, outDims);
  return g.build(`IP-Adapter ${info.variant} projection: ${T} tokens of width ${D}`);
}

/** FaceID MLP: LayerNorm(reshape(proj.2(GELU(proj.0(id))), [B, T, D])). */
function faceIdTokens(ctx: Ctx, id: string, T: number, D: number, eps: number): string {
  const { g } = ctx;
  const h = linear(ctx, `${P}proj.2`, gelu(g, linear(ctx, `${P}proj.0`, id)));
  return layerNorm(ctx, `${P}norm`, g.op('Reshape', [h, g.ints([-1, T, D])]), eps);
}

/** `depth` × (PerceiverAttention + FeedForward), each with a residual, on the latents. */
function perceiverLayers(ctx: Ctx, base: string, feats: string, latents: string, depth: number, heads: number, dimHead: number, eps: number): string {
  const { g } = ctx;
  for (let i = 0; i < depth; i++) {
    const a = join(base, i, 0);
    const f = join(base, i, 1);
    latents = g.scope(a, () => {
      const xn = layerNorm(ctx, join(a, 'norm1'), feats, eps);
      const ln = layerNorm(ctx, join(a, 'norm2'), latents, eps);
      const q = linear(ctx, join(a, 'to_q'), ln);
      const kv = linear(ctx, join(a, 'to_kv'), g.op('Concat', [xn, ln], { axis: 1 }));
      const inner = heads * dimHead;
      const [k, v] = g.opN('Split', [kv, g.ints([inner, inner])], 2, { axis: -1 });
      // (q·s)(k·s)^T with s = dim_head^-1/4 is q k^T / sqrt(dim_head): the standard scale.
      const o = attention(g, q, k, v, heads, dimHead);
      return g.op('Add', [linear(ctx, join(a, 'to_out'), o), latents]);
    });
    latents = g.scope(f, () => {
      let h = layerNorm(ctx, join(f, 0), latents, eps);
      h = linear(ctx, join(f, 3), gelu(g, linear(ctx, join(f, 1), h)));
      return g.op('Add', [h, latents]);
    });
  }
  return latents;
}

export const IP_KV_IO = { input: 'tokens' } as const;

/**
 * The per-adapter key/value graph the UNet consumes. Input `tokens` float32 [B, T, cross_dim]
 * (image prompt tokens; cond and uncond stacked along B as the UNet batch wants them). Outputs
 * float32, for each j in IP_ATTN2_LAYERS order: `ip_k.<2j+1>` = to_k_ip(tokens) and
 * `ip_v.<2j+1>` = to_v_ip(tokens), each [B, T, channels of that layer].
 */
export function buildIpKvGraph(raw: WeightSource, opts: { flavour?: Flavour; name?: string } = {}): BuiltGraph {
  const src = ipAdapterSource(raw);
  const info = detectIpAdapter(src);
  const g = new GraphBuilder(opts.name ?? 'ip_kv', opts.flavour ?? 'cpu');
  const ctx: Ctx = { g, w: src };
  const tokens = toCompute(g, g.input(IP_KV_IO.input, TensorType.FLOAT, ['batch', 'tokens', info.crossDim]));
  info.kv.forEach(({ index, width }, j) => {
    outputFloat32(g, ipKeyName(j), linear(ctx, `ip_adapter.${index}.to_k_ip`, tokens), ['batch', 'tokens', width]);
    outputFloat32(g, ipValueName(j), linear(ctx, `ip_adapter.${index}.to_v_ip`, tokens), ['batch', 'tokens', width]);
  });
  return g.build(`IP-Adapter ${info.variant} image keys/values for ${info.kv.length} attn2 layers`);
}

// ---- Per-layer scale presets ----

export type IpLayerPreset = 'reference' | 'style' | 'composition' | 'strong-style' | 'style-and-composition';

/**
 * Per-layer IP scales (16 numbers, IP_ATTN2_LAYERS order) for a preset, following
 * ComfyUI_IPAdapter_plus's SD1.5 weight types (IPAdapterPlus.py `ipadapter_execute`; SD1.5 dicts
 * added in b334a5c, 2024-04-09, unchanged through its last commit 9d076a3, 2025-02-26). ComfyUI keys its SD1.5 dicts by
 * `transformer_index`, the execution-order index of the SpatialTransformer: 0-5 the down blocks'
 * attentions (input blocks 1,2,4,5,7,8), 6 the mid block, 7-15 the up blocks' (output blocks 3-11);
 * layers not in the dict get 0. Mapped to the h94 order used here (mid block last):
 * - reference ("linear"): every layer = weight.
 * - style ("style transfer", {0,1,2,3,9..15}): down_blocks.0.attentions.0/1, down_blocks.1.attentions.0/1,
 *   up_blocks.1.attentions.2, up_blocks.2.attentions.0/1/2, up_blocks.3.attentions.0/1/2 = weight;
 *   down_blocks.2.*, mid_block, up_blocks.1.attentions.0/1 = 0.
 * - composition ("composition", {4: 0.25w, 5: w}): down_blocks.2.attentions.0 = 0.25 × weight,
 *   down_blocks.2.attentions.1 = weight, all others 0.
 * - strong-style ("strong style transfer", all but 4, 5): everything except down_blocks.2.* = weight.
 * - style-and-composition ("style and composition"): style's layers = weight, plus
 *   down_blocks.2.attentions.0 = 0.25 × compositionWeight and down_blocks.2.attentions.1 = compositionWeight.
 */
export function ipLayerScales(preset: IpLayerPreset, weight = 1, compositionWeight = weight): number[] {
  const byTransformerIndex: Record<number, number> = {};
  const set = (idx: number[], w: number): void => idx.forEach((i) => (byTransformerIndex[i] = w));
  switch (preset) {
    case 'reference':
      set(range(0, 16), weight);
      break;
    case 'style':
      set([0, 1, 2, 3, ...range(9, 16)], weight);
      break;
    case 'composition':
      set([4], weight * 0.25);
      set([5], weight);
      break;
    case 'strong-style':
      set([0, 1, 2, 3, ...range(6, 16)], weight);
      break;
    case 'style-and-composition':
      set([0, 1, 2, 3, ...range(9, 16)], weight);
      set([4], compositionWeight * 0.25);
      set([5], compositionWeight);
      break;
    default:
      throw new Error(`unknown IP-Adapter layer preset "${preset as string}" (reference, style, composition, strong-style, style-and-composition)`);
  }
  return IP_ATTN2_LAYERS.map((_, j) => byTransformerIndex[transformerIndexOf(j)] ?? 0);
}

/** ComfyUI's SD1.5 transformer_index (execution order) of IP_ATTN2_LAYERS[j] (h94 order). */
export function transformerIndexOf(j: number): number {
  if (j < 6) return j; // down blocks
  if (j === 15) return 6; // mid block
  return j + 1; // up blocks: h94 6..14 -> 7..15
}

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a }, (_, i) => a + i);
}
