/**
 * The one structural description of a UNet (or ControlNet encoder), read off its tensors in diffusers
 * naming: blocks, transformer depths, the cross-attention (attn2) layers with their h94 indices, and
 * the skip connections. The UNet and ControlNet graphs, the IP-Adapter key/value graph, the FaceID LoRA
 * merge and the denoising loop all use this description, so a second reading of the weights cannot
 * disagree with the first. Nothing here depends on SD1.5's sizes: SDXL's 10-deep transformers, three
 * down blocks, 70 attn2 layers and its `text_time` added embedding come out of the same walk.
 */
import type { WeightSource } from './source.ts';

/** A down or up block: `resnets` resnets, the first `attentions` of them followed by a transformer. */
export interface UNetBlock {
  readonly path: string;
  readonly resnets: number;
  readonly attentions: number;
  /** Ends in a downsampler (down blocks) or an upsampler (up blocks). */
  readonly resample: boolean;
}

/** One decoupled cross-attention layer: where the image keys/values go. */
export interface Attn2Layer {
  /** Module path, e.g. `down_blocks.0.attentions.0.transformer_blocks.0.attn2`. */
  readonly path: string;
  /** Its self-attention sibling (`…attn1`): FaceID LoRAs also patch it. */
  readonly attn1: string;
  /** The Transformer2DModel it sits in, e.g. `down_blocks.0.attentions.0` (per-block presets name these). */
  readonly transformer: string;
  /** Output width of `to_q` = width of the image keys/values this layer takes. */
  readonly channels: number;
  /**
   * h94 index: `ip_adapter.<index>.to_k_ip`. diffusers' `attn_processors` lists every transformer
   * block's attn1 then attn2, down blocks, then up blocks, then the mid block; attn2 is at the odd slots.
   */
  readonly index: number;
  /** Position of `transformer` in execution order (down, mid, up): ComfyUI's `transformer_index` for SD1.5. */
  readonly executionOrder: number;
  /**
   * Downsamplers between the latent and this layer's resolution: its queries are the latent grid halved
   * (rounding up) this many times (`attn2Queries`). Regional masks are fed per resolution (`UNET_IO.ipMask`).
   */
  readonly downsamples: number;
}

/** One skip connection of the encoder half (a ControlNet residual adds onto it). */
export interface Skip {
  /** The module whose output it is: `conv_in`, a down resnet, or a downsampler. */
  readonly source: string;
  readonly channels: number;
  /** Downsamplers before it: its size is the latent's, halved (rounding up) this many times. */
  readonly downsamples: number;
}

export interface UNetStructure {
  readonly inChannels: number;
  /** 0 for a ControlNet (no conv_out). */
  readonly outChannels: number;
  readonly crossAttentionDim: number;
  /** Output width of each down block's first resnet. */
  readonly blockChannels: readonly number[];
  readonly downBlocks: readonly UNetBlock[];
  readonly upBlocks: readonly UNetBlock[];
  /** Transformer2DModel path → number of transformer blocks (1 for SD1.5; 2 or 10 in SDXL). */
  readonly transformers: ReadonlyMap<string, number>;
  /** In h94 order (= the UNet's `ip_k.<l>` input order, l the position in this list). */
  readonly attn2: readonly Attn2Layer[];
  /** The encoder's skip connections in order: `down_residual_<i>` adds onto `skips[i]`. */
  readonly skips: readonly Skip[];
  /** The mid block's output (`mid_residual`). */
  readonly mid: Skip;
  /**
   * SDXL's `text_time` added embedding (`add_embedding.linear_1/2`): the graph takes `text_embeds` (pooled
   * text) and `time_ids`; `inputWidth` = pooled width + time ids × their sinusoid width. Absent for SD1.5.
   */
  readonly textTime?: { readonly inputWidth: number };
}

/** Names of the UNet's per-job inputs (and the ControlNet's / key-value graph's outputs that feed them). */
export const UNET_IO = {
  downResidual: (i: number): string => `down_residual_${i}`,
  midResidual: 'mid_residual',
  ipKey: (l: number): string => `ip_k.${l}`,
  ipValue: (l: number): string => `ip_v.${l}`,
  ipScale: 'ip_scale',
  ipBias: 'ip_bias',
  /** [A, N] per-slot regional mask of the attn2 layers with `downsamples` = k (N = their query count). */
  ipMask: (k: number): string => `ip_mask.${k}`,
  /** SDXL (`textTime`): pooled text embeddings [B, P] and time ids [B, n] (original size, crop, target size). */
  textEmbeds: 'text_embeds',
  timeIds: 'time_ids',
} as const;

/** Spatial size of a skip (or an attn2 layer's grid) for a latent of h × w (odd sizes round up, as diffusers' strided convs do). */
export function skipSize(s: Pick<Skip, 'downsamples'>, h: number, w: number): [number, number] {
  for (let i = 0; i < s.downsamples; i++) {
    h = Math.ceil(h / 2);
    w = Math.ceil(w / 2);
  }
  return [h, w];
}

/** Number of queries (tokens) an attn2 layer sees for a latent of h × w. */
export function attn2Queries(layer: Pick<Attn2Layer, 'downsamples'>, h: number, w: number): number {
  const [a, b] = skipSize(layer, h, w);
  return a * b;
}

/** The distinct resolutions (downsample counts) the attn2 layers run at, ascending: one `ip_mask.<k>` input each. */
export function attn2Resolutions(s: Pick<UNetStructure, 'attn2'>): number[] {
  return [...new Set(s.attn2.map((a) => a.downsamples))].sort((a, b) => a - b);
}

const join = (...parts: string[]): string => parts.filter((p) => p !== '').join('.');

/** Consecutive numbered modules under `prefix` (resnets have norm1, transformers norm). */
function countModules(w: WeightSource, prefix: string): number {
  let n = 0;
  while (w.get(`${prefix}.${n}.norm1.weight`) || w.get(`${prefix}.${n}.norm.weight`)) n++;
  return n;
}

function countBlocks(w: WeightSource, prefix: string): number {
  let n = 0;
  while (w.get(`${prefix}.${n}.resnets.0.conv1.weight`)) n++;
  return n;
}

/** Reads the structure off the tensors (`prefix` for a UNet stored under one, e.g. in tests). */
export function inspectUNet(w: WeightSource, prefix = ''): UNetStructure {
  const k = (s: string): string => join(prefix, s);
  const shapeOf = (key: string): readonly number[] => {
    const t = w.get(k(key));
    if (!t) throw new Error(`${w.description}: missing tensor "${k(key)}" — not a UNet (or ControlNet) in diffusers naming`);
    return t.shape;
  };
  const out = (module: string): number => shapeOf(`${module}.${w.get(k(`${module}.conv2.weight`)) ? 'conv2' : 'conv'}.weight`)[0];

  const blocks = (kind: 'down_blocks' | 'up_blocks', resampler: string): UNetBlock[] =>
    Array.from({ length: countBlocks(w, k(kind)) }, (_, i) => ({
      path: `${kind}.${i}`,
      resnets: countModules(w, k(`${kind}.${i}.resnets`)),
      attentions: countModules(w, k(`${kind}.${i}.attentions`)),
      resample: !!w.get(k(`${kind}.${i}.${resampler}.0.conv.weight`)),
    }));
  const downBlocks = blocks('down_blocks', 'downsamplers');
  if (downBlocks.length === 0) shapeOf('down_blocks.0.resnets.0.conv1.weight'); // the clear error
  const upBlocks = blocks('up_blocks', 'upsamplers');
  const midAttentions = countModules(w, k('mid_block.attentions'));

  const transformers = new Map<string, number>();
  const addTransformers = (block: string, n: number): string[] => {
    const paths = Array.from({ length: n }, (_, j) => `${block}.attentions.${j}`);
    for (const p of paths) {
      let depth = 0;
      while (w.get(k(`${p}.transformer_blocks.${depth}.norm1.weight`))) depth++;
      transformers.set(p, depth);
    }
    return paths;
  };
  const down = downBlocks.flatMap((b) => addTransformers(b.path, b.attentions));
  const up = upBlocks.flatMap((b) => addTransformers(b.path, b.attentions));
  const mid = addTransformers('mid_block', midAttentions);

  // Resolution of each transformer: the down path halves after each downsampler, the mid block sits at
  // the lowest, and each upsampler doubles again (to the size of the skip it meets).
  const resolution = new Map<string, number>();
  let level = 0;
  for (const b of downBlocks) {
    for (let j = 0; j < b.attentions; j++) resolution.set(`${b.path}.attentions.${j}`, level);
    if (b.resample) level++;
  }
  for (const p of mid) resolution.set(p, level);
  for (const b of upBlocks) {
    for (let j = 0; j < b.attentions; j++) resolution.set(`${b.path}.attentions.${j}`, level);
    if (b.resample) level--;
  }

  // h94 / attn_processors order is down, up, mid; execution order (ComfyUI's index) is down, mid, up.
  const execution = [...down, ...mid, ...up];
  const attn2: Attn2Layer[] = [...down, ...up, ...mid].flatMap((transformer) =>
    Array.from({ length: transformers.get(transformer)! }, (_, t) => `${transformer}.transformer_blocks.${t}`)
      .map((tb) => ({ tb, transformer })))
    .map(({ tb, transformer }, l) => ({
      path: `${tb}.attn2`,
      attn1: `${tb}.attn1`,
      transformer,
      channels: shapeOf(`${tb}.attn2.to_q.weight`)[0],
      index: 2 * l + 1,
      executionOrder: execution.indexOf(transformer),
      downsamples: resolution.get(transformer)!,
    }));

  const skips: Skip[] = [{ source: 'conv_in', channels: shapeOf('conv_in.weight')[0], downsamples: 0 }];
  let downsamples = 0;
  for (const b of downBlocks) {
    for (let j = 0; j < b.resnets; j++) skips.push({ source: `${b.path}.resnets.${j}`, channels: out(`${b.path}.resnets.${j}`), downsamples });
    if (b.resample) skips.push({ source: `${b.path}.downsamplers.0`, channels: out(`${b.path}.downsamplers.0`), downsamples: ++downsamples });
  }
  const midResnets = countModules(w, k('mid_block.resnets'));
  const midOut = midResnets > 0 ? out(`mid_block.resnets.${midResnets - 1}`) : skips[skips.length - 1].channels;
  const addEmbedding = w.get(k('add_embedding.linear_1.weight'));

  return {
    inChannels: shapeOf('conv_in.weight')[1],
    outChannels: w.get(k('conv_out.weight'))?.shape[0] ?? 0,
    crossAttentionDim: attn2.length ? shapeOf(`${attn2[0].path}.to_k.weight`)[1] : 0,
    blockChannels: downBlocks.map((b) => shapeOf(`${b.path}.resnets.0.conv1.weight`)[0]),
    downBlocks,
    upBlocks,
    transformers,
    attn2,
    skips,
    mid: { source: 'mid_block', channels: midOut, downsamples },
    ...(addEmbedding ? { textTime: { inputWidth: addEmbedding.shape[1] } } : {}),
  };
}

/** A short description for error messages: "16 cross-attention layers of widths 320–1280, context 768". */
export function describeStructure(s: Pick<UNetStructure, 'attn2' | 'crossAttentionDim'>): string {
  const widths = [...new Set(s.attn2.map((a) => a.channels))].sort((a, b) => a - b);
  return `${s.attn2.length} cross-attention layers of width ${widths.length > 1 ? `${widths[0]}–${widths[widths.length - 1]}` : widths[0] ?? 0}, context width ${s.crossAttentionDim}`;
}
