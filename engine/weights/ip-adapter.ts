/**
 * What an h94 IP-Adapter file is — the one place that decides (the model registry's detection and the
 * graph builders both ask here). `image_proj.*` is the image projection, `ip_adapter.<i>.*` the
 * attention-processor weights, i the index in diffusers' `unet.attn_processors` order.
 *
 * The projection model tells the kind (tencent-ailab IP-Adapter ip_adapter.py / resampler.py /
 * ip_adapter_faceid.py; ComfyUI_IPAdapter_plus uses the same rules):
 * - ImageProjModel (`image_proj.proj.weight` + `norm`): base (ip-adapter_sd15, _light, _vit-G, _sdxl).
 * - Resampler (`image_proj.latents`, `layers.N`): plus and plus-face (face only by file name).
 * - MLPProjModel with the LayerNorm inside (`image_proj.proj.0/2/3`): full-face (recognised, not offered).
 * - MLPProjModel for FaceID (`proj.0`, `proj.2`, `norm`): faceid (4 tokens), portrait (16 tokens, no LoRA).
 * - ProjPlusModel (the FaceID MLP + `perceiver_resampler.*`): FaceID-Plus and PlusV2. The two have the
 *   same tensors (v2 only switches on the shortcut at inference), so only the file name can tell them
 *   apart — the single name rule below, `isPlusV2Name`.
 */
import type { AdapterKind } from '../../shared/protocol/messages.ts';
import { describeStructure, type UNetStructure } from './unet-structure.ts';

export type { AdapterKind };

/** Every kind a file can be: the wire's AdapterKind, plus full-face (recognised, not supported). */
export type IpAdapterFileKind = AdapterKind | 'full-face';

/** The reference implementation's projection model, which decides the projection graph. */
export type IpProjection = 'image-proj' | 'resampler' | 'mlp' | 'faceid-mlp' | 'proj-plus';

export type IpProjectionInput = 'image_embeds' | 'hidden_states_penultimate' | 'faceid_embeds';

export type ClipVisionVariant = 'vit-h' | 'vit-bigG' | 'vit-l' | 'vit-b' | 'custom';

export interface IpAdapterDescription {
  readonly kind: IpAdapterFileKind;
  readonly projection: IpProjection;
  /** Width of the image prompt tokens (= the UNet's cross_attention_dim). */
  readonly crossDim: number;
  /** Image prompt tokens per image (4 base/FaceID, 16 plus/portrait, 257 full-face). */
  readonly numTokens: number;
  /** What the projection graph takes, with the width of its last axis. */
  readonly inputs: ReadonlyArray<{ readonly name: IpProjectionInput; readonly width: number }>;
  /** Its image key/value projections: h94 index and width (= the channels of the attn2 layer it serves). */
  readonly layers: ReadonlyArray<{ readonly index: number; readonly width: number }>;
  /** FaceID LoRA on the attention processors (`ip_adapter.<i>.to_q_lora.down.weight`). */
  readonly hasLora: boolean;
  readonly loraRank?: number;
  /** Resampler sizes (plus, FaceID-Plus). */
  readonly resampler?: { readonly depth: number; readonly dim: number; readonly inner: number };
  /** The image encoder its input width identifies. */
  readonly clipVision?: ClipVisionVariant;
  /** Plus trained on faces (plus-face), by file name. */
  readonly face?: boolean;
}

export class IpAdapterLayoutError extends Error {
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'IpAdapterLayoutError';
  }
}

/** Tensor names and shapes: a WeightSource (`shapesOf`) and the detector's listing both fit. */
export interface TensorShapeLookup {
  keys(): readonly string[];
  shape(key: string): readonly number[] | undefined;
}

export function shapesOf(src: { keys(): string[]; get(key: string): { readonly shape: readonly number[] } | undefined }): TensorShapeLookup {
  return { keys: () => src.keys(), shape: (key) => src.get(key)?.shape };
}

/**
 * FaceID-PlusV2 by file name, in every spelling users have: h94's `ip-adapter-faceid-plusv2_sd15.bin`,
 * renamed copies (`…plus_v2…`, `…plus-v2…`, `…PlusV2…`, `…plus v2…`, `…plus.v2…`) and hub paths
 * (`h94/IP-Adapter-FaceID/ip-adapter-faceid-plusv2_sdxl.bin`).
 */
export function isPlusV2Name(name: string): boolean {
  return /plus[-_ .]?v2/i.test(name);
}

/** The FaceID kinds: they take a face embedding (InsightFace) and may carry a LoRA for the UNet. */
export function isFaceIdKind(kind: IpAdapterFileKind): boolean {
  return kind === 'faceid' || kind === 'faceid-plus' || kind === 'faceid-plusv2' || kind === 'portrait';
}

/** Kind by file name alone, for files whose tensors cannot be read safely (PyTorch pickles). */
export function adapterKindFromName(name: string): IpAdapterFileKind | undefined {
  const n = name.toLowerCase();
  if (/face[-_ ]?id[-_ ]?portrait/.test(n)) return 'portrait';
  if (/face[-_ ]?id[-_ ]?plus/.test(n)) return isPlusV2Name(n) ? 'faceid-plusv2' : 'faceid-plus';
  if (/face[-_ ]?id/.test(n)) return 'faceid';
  if (/full[-_ ]?face/.test(n)) return 'full-face';
  if (/plus/.test(n)) return 'plus';
  if (/sd15|sdxl|light|vit-?[gh]/.test(n)) return 'base';
  return undefined;
}

const P = 'image_proj.';

/**
 * Reads which IP-Adapter a file is, and its sizes, from keys and shapes; `name` (the file name) is only
 * the v1/v2 and plus-face tie-break. Processors named `adapter_modules.*` (training checkpoints) count
 * as `ip_adapter.*`. Throws IpAdapterLayoutError naming `file` for anything else.
 */
export function describeIpAdapter(t: TensorShapeLookup, name: string, file = name): IpAdapterDescription {
  const keys = t.keys();
  const mod = keys.some((k) => k.startsWith('ip_adapter.')) ? 'ip_adapter' : keys.some((k) => k.startsWith('adapter_modules.')) ? 'adapter_modules' : undefined;
  if (!keys.some((k) => k.startsWith(P)) || !mod) {
    const first = keys.slice(0, 3).map((k) => `"${k}"`).join(', ');
    throw new IpAdapterLayoutError(file, `not an IP-Adapter file in the h94 layout (image_proj.*, ip_adapter.N.*)${first ? `; its first keys are ${first}` : ''}`);
  }
  const has = (k: string): boolean => t.shape(P + k) !== undefined;
  const shapeOf = (k: string): readonly number[] => t.shape(P + k)!;
  const countLayers = (base: string): number => {
    let n = 0;
    while (t.shape(`${base}.${n}.0.to_q.weight`)) n++;
    return n;
  };
  const tokensOf = (rows: number, width: number): number => {
    if (rows % width !== 0) throw new IpAdapterLayoutError(file, `projection output ${rows} is not a multiple of the token width ${width}`);
    return rows / width;
  };

  const indices = [...new Set(keys.map((k) => new RegExp(`^${mod}\\.(\\d+)\\.to_k_ip\\.weight$`).exec(k)?.[1]).filter((x): x is string => x !== undefined).map(Number))].sort((a, b) => a - b);
  if (indices.length === 0) throw new IpAdapterLayoutError(file, `has no image key/value projections (${mod}.N.to_k_ip.weight)`);
  const layers = indices.map((index) => {
    const k = t.shape(`${mod}.${index}.to_k_ip.weight`)!;
    const v = t.shape(`${mod}.${index}.to_v_ip.weight`);
    if (!v) throw new IpAdapterLayoutError(file, `missing tensor "${mod}.${index}.to_v_ip.weight"`);
    if (k.length !== 2 || v.length !== 2 || k[0] !== v[0] || k[1] !== v[1]) throw new IpAdapterLayoutError(file, `${mod}.${index}: to_k_ip [${k}] / to_v_ip [${v}] are not equal [hidden, cross_dim] matrices`);
    return { index, width: k[0], crossIn: k[1] };
  });
  const loraKey = keys.find((k) => new RegExp(`^${mod}\\.\\d+\\.to_q_lora\\.down\\.weight$`).test(k));
  const hasLora = loraKey !== undefined;
  const loraRank = loraKey === undefined ? undefined : t.shape(loraKey)![0];

  type Projection = Omit<IpAdapterDescription, 'layers' | 'hasLora' | 'loraRank'>;
  let p: Projection;
  if (has('latents') && has('layers.0.0.to_q.weight')) {
    if (has('to_latents_from_mean_pooled_seq.1.weight')) throw new IpAdapterLayoutError(file, 'Resampler with mean-pooled latents is not supported');
    const [, numTokens, dim] = shapeOf('latents');
    const [, clipDim] = shapeOf('proj_in.weight');
    p = {
      kind: 'plus', projection: 'resampler', crossDim: shapeOf('proj_out.weight')[0], numTokens,
      inputs: [{ name: 'hidden_states_penultimate', width: clipDim }],
      resampler: { depth: countLayers(`${P}layers`), dim, inner: shapeOf('layers.0.0.to_q.weight')[0] },
      clipVision: clipForHidden(clipDim), face: /face/i.test(name) || undefined,
    };
  } else if (has('proj.0.weight') && has('proj.2.weight') && has('perceiver_resampler.proj_in.weight')) {
    const crossDim = shapeOf('norm.weight')[0];
    const [dim, clipDim] = shapeOf('perceiver_resampler.proj_in.weight');
    p = {
      kind: isPlusV2Name(name) ? 'faceid-plusv2' : 'faceid-plus', projection: 'proj-plus', crossDim, numTokens: tokensOf(shapeOf('proj.2.weight')[0], crossDim),
      inputs: [{ name: 'faceid_embeds', width: shapeOf('proj.0.weight')[1] }, { name: 'hidden_states_penultimate', width: clipDim }],
      resampler: { depth: countLayers(`${P}perceiver_resampler.layers`), dim, inner: shapeOf('perceiver_resampler.layers.0.0.to_q.weight')[0] },
      clipVision: clipForHidden(clipDim),
    };
  } else if (has('proj.0.weight') && has('proj.2.weight') && has('proj.3.weight')) {
    const clipDim = shapeOf('proj.0.weight')[1];
    p = { kind: 'full-face', projection: 'mlp', crossDim: shapeOf('proj.3.weight')[0], numTokens: 257, inputs: [{ name: 'hidden_states_penultimate', width: clipDim }], clipVision: clipForHidden(clipDim) };
  } else if (has('proj.0.weight') && has('proj.2.weight') && has('norm.weight')) {
    const crossDim = shapeOf('norm.weight')[0];
    const numTokens = tokensOf(shapeOf('proj.2.weight')[0], crossDim);
    // Portrait: 16 tokens and no LoRA; the file name settles a file that says neither clearly.
    const portrait = /portrait/i.test(name) || (numTokens === 16 && !hasLora);
    p = { kind: portrait ? 'portrait' : 'faceid', projection: 'faceid-mlp', crossDim, numTokens, inputs: [{ name: 'faceid_embeds', width: shapeOf('proj.0.weight')[1] }] };
  } else if (has('proj.weight') && has('norm.weight')) {
    const crossDim = shapeOf('norm.weight')[0];
    const [rows, clipDim] = shapeOf('proj.weight');
    p = { kind: 'base', projection: 'image-proj', crossDim, numTokens: tokensOf(rows, crossDim), inputs: [{ name: 'image_embeds', width: clipDim }], clipVision: clipForEmbeds(clipDim) };
  } else {
    const projKeys = keys.filter((k) => k.startsWith(P)).slice(0, 6);
    throw new IpAdapterLayoutError(file, `unknown IP-Adapter image projection layout (image_proj keys: ${projKeys.join(', ')}); supported: ImageProjModel (base), Resampler (plus), MLPProjModel (full-face, FaceID, portrait), ProjPlusModel (FaceID-Plus/PlusV2)`);
  }
  for (const l of layers) {
    if (l.crossIn !== p.crossDim) throw new IpAdapterLayoutError(file, `${mod}.${l.index}.to_k_ip takes width ${l.crossIn}, the projection makes tokens of width ${p.crossDim}`);
  }
  if (p.resampler && p.resampler.depth === 0) throw new IpAdapterLayoutError(file, 'resampler has no layers');
  return { ...p, layers: layers.map(({ index, width }) => ({ index, width })), hasLora, ...(loraRank !== undefined ? { loraRank } : {}) };
}

/**
 * Checks that an adapter serves exactly this UNet's cross-attention layers: one key/value projection per
 * attn2 layer, at its h94 index, of its width, taking tokens of the UNet's context width. An SDXL adapter
 * given to an SD1.5 checkpoint (or the other way round) fails here, before any graph is built.
 */
export function adapterMismatch(d: IpAdapterDescription, unet: Pick<UNetStructure, 'attn2' | 'crossAttentionDim'>): string | undefined {
  const fam = (n: number): string => (n === 16 ? ' (SD1.5)' : n === 70 ? ' (SDXL)' : '');
  const wanted = unet.attn2.map((a) => a.index);
  const got = d.layers.map((l) => l.index);
  if (got.length !== wanted.length || got.some((v, i) => v !== wanted[i])) {
    return `it has image key/value projections for ${got.length} cross-attention layers${fam(got.length)}, but the checkpoint's UNet has ${wanted.length}${fam(wanted.length)} (h94 indices ${wanted.length ? `${wanted[0]},${wanted[1] ?? ''}…${wanted[wanted.length - 1]}` : 'none'}, found ${got.slice(0, 3).join(',')}…${got[got.length - 1]}): it was trained for another model family`;
  }
  if (d.crossDim !== unet.crossAttentionDim) return `it makes image tokens of width ${d.crossDim}; the checkpoint's UNet takes context of width ${unet.crossAttentionDim} (${describeStructure(unet)})`;
  const bad = d.layers.findIndex((l, i) => l.width !== unet.attn2[i].channels);
  if (bad >= 0) return `ip_adapter.${d.layers[bad].index} has width ${d.layers[bad].width}; the UNet's ${unet.attn2[bad].path} has ${unet.attn2[bad].channels} channels`;
  return undefined;
}

/** Image encoder from the width of its penultimate hidden states (Plus / FaceID-Plus / full-face input). */
function clipForHidden(width: number | undefined): ClipVisionVariant | undefined {
  if (width === 1280) return 'vit-h';
  if (width === 1664) return 'vit-bigG';
  if (width === 1024) return 'vit-l';
  return undefined;
}

/** Image encoder from the width of its projected image_embeds (base adapter input). */
function clipForEmbeds(width: number | undefined): ClipVisionVariant | undefined {
  if (width === 1024) return 'vit-h';
  if (width === 1280) return 'vit-bigG';
  if (width === 768) return 'vit-l';
  return undefined;
}
