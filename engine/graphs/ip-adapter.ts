/**
 * IP-Adapter graphs from h94 files (`image_proj.*` = the image projection, `ip_adapter.<i>.*` = the
 * attention-processor weights, i = index in diffusers' `unet.attn_processors` order).
 *
 * Two graphs per adapter, both built once per adapter file:
 * - the projection (`buildIpProjectionGraph`): CLIP image embeds / penultimate hidden states /
 *   InsightFace embeddings → image prompt tokens [B, T, cross_dim];
 * - the key/value graph (`buildIpKvGraph`): image prompt tokens → `to_k_ip(tokens)`,
 *   `to_v_ip(tokens)` for each of the UNet's attn2 layers, computed once per job and fed to the UNet
 *   (which adds `scale_l * softmax(q k_ip^T / sqrt(d)) v_ip` to each attn2 output).
 *
 * Which adapter a file is (kind, projection model, sizes, h94 layer indices) is read in one place,
 * weights/ip-adapter.ts; the key/value graph is built for a UNet's attn2 layers (weights/unet-structure.ts)
 * and refuses an adapter trained for other layers.
 */
import { GraphBuilder, TensorType, type BuiltGraph, type Flavour } from '../onnx/builder.ts';
import { adapterMismatch, describeIpAdapter, IpAdapterLayoutError, shapesOf, type IpAdapterDescription, type IpProjectionInput } from '../weights/ip-adapter.ts';
import { renamedSource, type WeightSource } from '../weights/source.ts';
import { UNET_IO, type Attn2Layer, type UNetStructure } from '../weights/unet-structure.ts';
import { attention, gelu, join, layerNorm, linear, type Ctx } from './nn.ts';
import { outputFloat32, toCompute } from './clip-text.ts';

export { IpAdapterLayoutError, type IpAdapterDescription, type IpProjectionInput };

/** Accepts files that name the processors `adapter_modules.*` (training checkpoints) as `ip_adapter.*`. */
export function ipAdapterSource(src: WeightSource): WeightSource {
  const keys = src.keys();
  if (!keys.some((k) => k.startsWith('adapter_modules.'))) return src;
  const map = new Map<string, string>();
  for (const k of keys) map.set(k.startsWith('adapter_modules.') ? `ip_adapter.${k.slice('adapter_modules.'.length)}` : k, k);
  return renamedSource(src, map);
}

const P = 'image_proj.';

/** The description of an adapter held as a weight source (its description is the file path or name). */
export function describeIpAdapterSource(src: WeightSource): IpAdapterDescription {
  const name = src.description.split(/[\\/]/).pop() ?? src.description;
  return describeIpAdapter(shapesOf(src), name, src.description);
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
 * The image projection graph. Inputs (float32), by projection (see `describeIpAdapterSource(src).inputs`):
 * `image_embeds` [B, clip_dim] (base), `hidden_states_penultimate` [B, S, clip_dim] (plus,
 * full-face, faceid-plus), `faceid_embeds` [B, id_dim] (faceid, portrait, faceid-plus).
 * Output `image_prompt_tokens` [B, T, cross_dim]; faceid-plus also `image_prompt_tokens_no_shortcut`
 * (the perceiver output alone). The unconditional tokens are the same graph on zeros (base, faceid),
 * on the penultimate states of an all-zero image (plus), or both (faceid-plus).
 * Several FaceID images (portrait): run them as a batch and concatenate their tokens along T.
 */
export function buildIpProjectionGraph(raw: WeightSource, opts: IpProjectionOptions = {}): BuiltGraph {
  const src = ipAdapterSource(raw);
  const info = describeIpAdapterSource(src);
  const g = new GraphBuilder(opts.name ?? `ip_proj_${info.kind}`, opts.flavour ?? 'cpu');
  const ctx: Ctx = { g, w: src };
  const eps = opts.eps ?? 1e-5;
  const inputs: Partial<Record<IpProjectionInput, string>> = {};
  for (const i of info.inputs) {
    const d = i.name === 'hidden_states_penultimate' ? ['batch', 'sequence', i.width] : ['batch', i.width];
    inputs[i.name] = toCompute(g, g.input(i.name, TensorType.FLOAT, d));
  }
  const D = info.crossDim;
  const T = info.numTokens;
  const outDims = ['batch', info.projection === 'mlp' ? 'sequence' : T, D];
  const headsFor = (inner: number): { heads: number; dimHead: number } => {
    const heads = opts.heads ?? inner / (opts.dimHead ?? 64);
    if (!Number.isInteger(heads) || heads < 1 || inner % heads !== 0) {
      throw new IpAdapterLayoutError(src.description, `resampler inner width ${inner} cannot be split into ${opts.heads ?? `heads of ${opts.dimHead ?? 64}`}; pass heads / dimHead`);
    }
    return { heads, dimHead: inner / heads };
  };

  let tokens: string;
  switch (info.projection) {
    case 'image-proj':
      tokens = layerNorm(ctx, `${P}norm`, g.op('Reshape', [linear(ctx, `${P}proj`, inputs.image_embeds!), g.ints([-1, T, D])]), eps);
      break;
    case 'faceid-mlp':
      tokens = faceIdTokens(ctx, inputs.faceid_embeds!, T, D, eps);
      break;
    case 'mlp': {
      const h = linear(ctx, `${P}proj.2`, gelu(g, linear(ctx, `${P}proj.0`, inputs.hidden_states_penultimate!)));
      tokens = layerNorm(ctx, `${P}proj.3`, h, eps);
      break;
    }
    case 'resampler': {
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
    case 'proj-plus': {
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
  return g.build(`IP-Adapter ${info.kind} projection: ${T} tokens of width ${D}`);
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
 * The per-adapter key/value graph the UNet consumes, built for that UNet's attn2 layers. Input `tokens`
 * float32 [B, T, cross_dim] (image prompt tokens; cond and uncond stacked along B as the UNet batch
 * wants them). Outputs float32, under the UNet's own input names: for the l-th attn2 layer (h94 index i)
 * `ip_k.<l>` = ip_adapter.<i>.to_k_ip(tokens) and `ip_v.<l>` = to_v_ip(tokens), [B, T, its channels].
 * An adapter for other layers (an SDXL adapter and an SD1.5 UNet) is refused naming both.
 */
export function buildIpKvGraph(raw: WeightSource, unet: Pick<UNetStructure, 'attn2' | 'crossAttentionDim'>, opts: { flavour?: Flavour; name?: string } = {}): BuiltGraph {
  const src = ipAdapterSource(raw);
  const info = describeIpAdapterSource(src);
  const mismatch = adapterMismatch(info, unet);
  if (mismatch) throw new IpAdapterLayoutError(src.description, mismatch);
  const g = new GraphBuilder(opts.name ?? 'ip_kv', opts.flavour ?? 'cpu');
  const ctx: Ctx = { g, w: src };
  const tokens = toCompute(g, g.input(IP_KV_IO.input, TensorType.FLOAT, ['batch', 'tokens', info.crossDim]));
  unet.attn2.forEach(({ index, channels }, l) => {
    outputFloat32(g, UNET_IO.ipKey(l), linear(ctx, `ip_adapter.${index}.to_k_ip`, tokens), ['batch', 'tokens', channels]);
    outputFloat32(g, UNET_IO.ipValue(l), linear(ctx, `ip_adapter.${index}.to_v_ip`, tokens), ['batch', 'tokens', channels]);
  });
  return g.build(`IP-Adapter ${info.kind} image keys/values for ${unet.attn2.length} attn2 layers`);
}

// ---- Per-layer scale presets ----

export type IpLayerPreset = 'reference' | 'style' | 'composition' | 'strong-style' | 'style-and-composition';

/**
 * SDXL's layer sets (InstantStyle, arXiv 2404.02733; diffusers `set_ip_adapter_scale({"up": {"block_0":
 * [0, 1, 0]}})`; ComfyUI_IPAdapter_plus's SDXL dicts `{6: w}` / `{3: w}`), named by transformer path:
 * style = up_blocks.0.attentions.1, composition = down_blocks.2.attentions.1.
 */
export const SDXL_STYLE_TRANSFORMER = 'up_blocks.0.attentions.1';
export const SDXL_COMPOSITION_TRANSFORMER = 'down_blocks.2.attentions.1';

/**
 * Whether a UNet's attention layout is SDXL's: attention in up_blocks.0 (its lowest-resolution up block,
 * where InstantStyle's style layer sits). SD1.5's up_blocks.0 is an UpBlock2D without attention, so its
 * own presets apply. Read from the structure, not from a family flag.
 */
export function hasSdxlLayerSets(layers: readonly Pick<Attn2Layer, 'transformer'>[]): boolean {
  return layers.some((l) => l.transformer.startsWith('up_blocks.0.')) && layers.some((l) => l.transformer === SDXL_COMPOSITION_TRANSFORMER);
}

/** ComfyUI_IPAdapter_plus's SDXL weight types (the `is_sdxl` branches), by transformer path. */
function sdxlLayerScales(layers: readonly Pick<Attn2Layer, 'transformer'>[], preset: IpLayerPreset, weight: number, compositionWeight: number): number[] {
  const style = (l: Pick<Attn2Layer, 'transformer'>) => l.transformer === SDXL_STYLE_TRANSFORMER;
  const composition = (l: Pick<Attn2Layer, 'transformer'>) => l.transformer === SDXL_COMPOSITION_TRANSFORMER;
  switch (preset) {
    case 'reference':
      return layers.map(() => weight);
    case 'style':
      return layers.map((l) => (style(l) ? weight : 0));
    case 'composition':
      return layers.map((l) => (composition(l) ? weight : 0));
    case 'strong-style':
      return layers.map((l) => (composition(l) ? 0 : weight));
    case 'style-and-composition':
      return layers.map((l) => (style(l) ? weight : composition(l) ? compositionWeight : 0));
    default:
      throw new Error(`unknown IP-Adapter layer preset "${preset as string}" (reference, style, composition, strong-style, style-and-composition)`);
  }
}

/**
 * Per-layer IP scales (one per attn2 layer, in `layers` order) for a preset. SDXL layouts
 * (`hasSdxlLayerSets`) use InstantStyle's layer sets (`sdxlLayerScales`); every other UNet follows
 * ComfyUI_IPAdapter_plus's SD1.5 weight types (IPAdapterPlus.py `ipadapter_execute`; SD1.5 dicts
 * added in b334a5c, 2024-04-09, unchanged through its last commit 9d076a3, 2025-02-26). ComfyUI keys its
 * SD1.5 dicts by `transformer_index`, the execution-order index of the SpatialTransformer
 * (`Attn2Layer.executionOrder`): 0-5 the down blocks' attentions, 6 the mid block, 7-15 the up blocks';
 * layers not in the dict get 0. In SD1.5 terms:
 * - reference ("linear"): every layer = weight.
 * - style ("style transfer", {0,1,2,3,9..15}): down_blocks.0/1, up_blocks.1.attentions.2, up_blocks.2/3
 *   = weight; down_blocks.2, mid_block, up_blocks.1.attentions.0/1 = 0.
 * - composition ("composition", {4: 0.25w, 5: w}): down_blocks.2.attentions.0 = 0.25 × weight,
 *   down_blocks.2.attentions.1 = weight, all others 0.
 * - strong-style ("strong style transfer", all but 4, 5): everything except down_blocks.2.* = weight.
 * - style-and-composition ("style and composition"): style's layers = weight, plus
 *   down_blocks.2.attentions.0 = 0.25 × compositionWeight and down_blocks.2.attentions.1 = compositionWeight.
 */
export function ipLayerScales(layers: readonly Pick<Attn2Layer, 'executionOrder' | 'transformer'>[], preset: IpLayerPreset, weight = 1, compositionWeight = weight): number[] {
  if (hasSdxlLayerSets(layers)) return sdxlLayerScales(layers, preset, weight, compositionWeight);
  const byTransformerIndex: Record<number, number> = {};
  const set = (idx: number[], w: number): void => idx.forEach((i) => (byTransformerIndex[i] = w));
  switch (preset) {
    case 'reference':
      return layers.map(() => weight);
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
  return layers.map((l) => byTransformerIndex[l.executionOrder] ?? 0);
}

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a }, (_, i) => a + i);
}
