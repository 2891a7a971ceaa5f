/**
 * CLIP vision tower with projection (transformers CLIPVisionModelWithProjection, `vision_model.*` +
 * `visual_projection.weight`) as an ONNX graph: the IP-Adapter image encoder (ViT-H/14 for SD1.5).
 *
 * Semantics: patch conv (stride = kernel = patch, no bias) → tokens; the class embedding prepended;
 * position embeddings added; `pre_layrnorm` (hidden_states[0]); L encoder layers without a mask;
 * image_embeds = visual_projection(post_layernorm(last_hidden_state[:, 0])) (no bias);
 * hidden_states_penultimate = hidden_states[-2] = the input of the last layer (no post LN), which
 * IP-Adapter Plus / FaceID-Plus consume.
 *
 * Sizes come from the tensors: width, layers, MLP width, patch size (conv kernel), image size
 * (sqrt(positions - 1) * patch), projection width. Heads and activation are options: the default
 * heads follow the released towers (ViT-B 768 → 12, ViT-L 1024 / ViT-H 1280 / ViT-bigG 1664 → 16,
 * else hidden/64) and the default activation is exact-erf gelu (OpenCLIP ViT-H / bigG, which is
 * what every SD1.5 IP-Adapter uses); pass `act: 'quick_gelu'` for OpenAI ViT-L/14 towers.
 */
import { TensorType, type BuiltGraph } from '../onnx/builder.ts';
import type { WeightSource } from '../weights/source.ts';
import { conv2d, layerNorm, linear } from './nn.ts';
import { CLIP_HIDDEN_STATE_OUTPUTS, clipEncoderConfig, clipEncoderStack, clipGraphContext, describeKeys, outputFloat32, toCompute, type ClipEncoderConfig, type ClipTextOptions } from './clip-text.ts';

export interface ClipVisionConfig extends ClipEncoderConfig {
  /** Key prefix before `vision_model.` / `visual_projection.` ('' for HF files). */
  readonly prefix: string;
  readonly patch: number;
  readonly channels: number;
  readonly imageSize: number;
  /** Tokens including the class token (257 for 224px / patch 14). */
  readonly tokens: number;
  readonly projection: number;
}

/** The same knobs as the text encoder's (prefix before `vision_model.`, heads, activation, eps). */
export type ClipVisionOptions = ClipTextOptions;

const VISION_PREFIXES = ['', 'image_encoder.', 'clip_vision.', 'visual.'];
const PATCH_KEY = 'vision_model.embeddings.patch_embedding.weight';

export function detectClipVisionPrefix(src: WeightSource): string {
  for (const p of VISION_PREFIXES) if (src.get(p + PATCH_KEY)) return p;
  throw new Error(`${src.description}: not a CLIP vision encoder — missing tensor "${PATCH_KEY}"${describeKeys(src)}`);
}

const DEFAULT_VISION_HEADS: Record<number, number> = { 768: 12, 1024: 16, 1280: 16, 1664: 16 };

export function clipVisionConfig(src: WeightSource, opts: ClipVisionOptions = {}): ClipVisionConfig {
  const prefix = opts.prefix ?? detectClipVisionPrefix(src);
  const root = `${prefix}vision_model`;
  const what = 'CLIP vision encoder with projection';
  const need = (key: string): readonly number[] => {
    const t = src.get(key);
    if (!t) throw new Error(`${src.description}: not a ${what} — missing tensor "${key}"${describeKeys(src)}`);
    return t.shape;
  };
  const [hidden, channels, patch, patchW] = need(`${root}.embeddings.patch_embedding.weight`);
  if (patch !== patchW) throw new Error(`${src.description}: non-square patch kernel [${patch},${patchW}]`);
  const [tokens] = need(`${root}.embeddings.position_embedding.weight`);
  need(`${root}.embeddings.class_embedding`);
  need(`${root}.pre_layrnorm.weight`);
  need(`${root}.post_layernorm.weight`);
  const [projection, projIn] = need(`${prefix}visual_projection.weight`);
  const grid = Math.round(Math.sqrt(tokens - 1));
  if (grid * grid !== tokens - 1) throw new Error(`${src.description}: ${tokens} position embeddings are not 1 + a square grid of patches`);
  if (projIn !== hidden) throw new Error(`${src.description}: visual_projection expects width ${projIn}, the tower has ${hidden}`);
  const enc = clipEncoderConfig(src, root, what, opts.heads ?? DEFAULT_VISION_HEADS[hidden], opts.act ?? 'gelu', opts.eps ?? 1e-5);
  return { ...enc, prefix, patch, channels, imageSize: grid * patch, tokens, projection };
}

export const CLIP_VISION_IO = { input: 'pixel_values', imageEmbeds: 'image_embeds', ...CLIP_HIDDEN_STATE_OUTPUTS } as const;

/**
 * The image encoder graph. Input `pixel_values` float32 [batch, 3, S, S] (normalised, S = 224 for
 * ViT-H/14); outputs float32 `image_embeds` [batch, projection], `hidden_states_penultimate`
 * [batch, tokens, hidden], `last_hidden_state` [batch, tokens, hidden].
 */
export function buildClipVisionGraph(src: WeightSource, opts: ClipVisionOptions = {}): BuiltGraph {
  const cfg = clipVisionConfig(src, opts);
  const ctx = clipGraphContext(src, opts, 'clip_vision');
  const { g } = ctx;
  const { root } = cfg;
  const px = toCompute(g, g.input(CLIP_VISION_IO.input, TensorType.FLOAT, ['batch', cfg.channels, cfg.imageSize, cfg.imageSize]));

  const emb = g.scope(`${root}.embeddings`, () => {
    const patches = conv2d(ctx, `${root}.embeddings.patch_embedding`, px, { stride: cfg.patch, padding: 0 }); // [B, C, g, g]
    const tokens = g.op('Transpose', [g.op('Reshape', [patches, g.ints([0, 0, -1])])], { perm: [0, 2, 1] }); // [B, g*g, C]
    const batch = g.op('Slice', [g.op('Shape', [px]), g.ints([0]), g.ints([1])]);
    const cls = g.op('Reshape', [g.weight(src, `${root}.embeddings.class_embedding`), g.ints([1, 1, cfg.hidden])]);
    const clsB = g.op('Expand', [cls, g.op('Concat', [batch, g.ints([1, 1])], { axis: 0 })]);
    const seq = g.op('Concat', [clsB, tokens], { axis: 1 });
    return g.op('Add', [seq, g.weight(src, `${root}.embeddings.position_embedding.weight`)]);
  });

  const pre = layerNorm(ctx, `${root}.pre_layrnorm`, emb, cfg.eps);
  const { last: x, penultimate } = clipEncoderStack(ctx, pre, cfg, 'CLIP vision encoder');
  const pooled = g.op('Gather', [x, g.ints([0])], { axis: 1 }); // [B, 1, C]
  const post = layerNorm(ctx, `${root}.post_layernorm`, g.op('Squeeze', [pooled, g.ints([1])]), cfg.eps);
  const embeds = linear(ctx, `${cfg.prefix}visual_projection`, post);
  outputFloat32(g, CLIP_VISION_IO.imageEmbeds, embeds, ['batch', cfg.projection]);
  outputFloat32(g, CLIP_VISION_IO.penultimate, penultimate, ['batch', cfg.tokens, cfg.hidden]);
  outputFloat32(g, CLIP_VISION_IO.lastHiddenState, x, ['batch', cfg.tokens, cfg.hidden]);
  return g.build(`CLIP vision encoder: ${cfg.layers} layers, hidden ${cfg.hidden}, ${cfg.heads} heads, ${cfg.act}, ${cfg.imageSize}px / patch ${cfg.patch}`);
}
