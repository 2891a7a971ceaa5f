/**
 * CLIP text encoder (OpenAI CLIP architecture, Hugging Face `text_model.*` naming) as an ONNX graph.
 *
 * Semantics (transformers CLIPTextModel): token embedding + position embedding; L pre-LN encoder
 * layers (LN1 → causal self-attention → residual, LN2 → fc1 → act → fc2 → residual); the final
 * LayerNorm on the last layer gives `last_hidden_state`. `hidden_states[-2]` is the output of layer
 * L-2 (0-based), i.e. the input of the last layer; with the final LayerNorm applied it is the
 * "clip skip 2" conditioning.
 *
 * Single-file SD1.5 checkpoints store the same tensors under `cond_stage_model.transformer.`; the
 * prefix is detected (or given). Sizes (hidden, layers, MLP width, positions, vocabulary) come from
 * the tensors; heads and the activation cannot be read off shapes and come from options (defaults
 * are SD1.5's: hidden/64 heads, quick_gelu for OpenAI-sized encoders).
 *
 * With a `text_projection.weight` (CLIPTextModelWithProjection: SDXL's second encoder) the graph
 * also gives `text_embeds` = text_projection(last_hidden_state at each prompt's EOS), the pooled
 * embedding SDXL conditions on. The EOS row of each prompt is an input (`eos_rows`, computed by
 * eosRows from the ids), so the graph needs no ArgMax.
 *
 * This file also holds the encoder layer shared with the vision tower (clip-vision.ts).
 */
import { GraphBuilder, TensorType, type BuiltGraph, type Flavour } from '../onnx/builder.ts';
import type { WeightSource } from '../weights/source.ts';
import { attention, gelu, join, layerNorm, linear, quickGelu, type Ctx } from './nn.ts';

export type ClipAct = 'quick_gelu' | 'gelu';

/** Everything the encoder stack needs; read off the weights plus the two non-shape settings. */
export interface ClipEncoderConfig {
  /** The tower's key root (`<prefix>text_model` / `<prefix>vision_model`); its layers sit under `<root>.encoder.layers.N`. */
  readonly root: string;
  readonly layers: number;
  readonly hidden: number;
  readonly heads: number;
  readonly intermediate: number;
  readonly act: ClipAct;
  readonly eps: number;
}

export interface ClipTextConfig extends ClipEncoderConfig {
  /** Key prefix in front of `text_model.` ('' for HF files, 'cond_stage_model.transformer.' for LDM). */
  readonly prefix: string;
  readonly vocab: number;
  /** Sequence length (rows of the position embedding; 77 for SD). */
  readonly positions: number;
  /** Width of `text_projection` (pooled `text_embeds`), when the file has one. */
  readonly projection?: number;
}

export interface ClipTextOptions {
  readonly flavour?: Flavour;
  /** Key prefix before `text_model.`; detected when omitted. */
  readonly prefix?: string;
  /** Attention heads (default hidden/64, SD1.5: 12). */
  readonly heads?: number;
  /** Activation (default quick_gelu for hidden <= 768 (OpenAI CLIP), gelu above (OpenCLIP)). */
  readonly act?: ClipAct;
  readonly eps?: number;
  readonly name?: string;
}

const TEXT_PREFIXES = ['', 'cond_stage_model.transformer.', 'text_encoder.', 'transformer.'];
const TOKEN_KEY = 'text_model.embeddings.token_embedding.weight';

/** Finds the prefix under which `text_model.embeddings.token_embedding.weight` lives, or explains what the file is. */
export function detectClipTextPrefix(src: WeightSource): string {
  for (const p of TEXT_PREFIXES) if (src.get(p + TOKEN_KEY)) return p;
  throw new Error(`${src.description}: not a CLIP text encoder — missing tensor "${TOKEN_KEY}"${describeKeys(src)}`);
}

/** A short hint about what a file holds instead, for "wrong model given for this role" errors. */
export function describeKeys(src: WeightSource): string {
  const keys = src.keys();
  const hints: Array<[RegExp, string]> = [
    [/(^|\.)vision_model\./, 'a CLIP vision encoder (vision_model.*)'],
    [/^image_proj\.|^ip_adapter\./, 'an IP-Adapter (image_proj.*, ip_adapter.*)'],
    [/^model\.diffusion_model\./, 'a single-file SD checkpoint without a text encoder under cond_stage_model.transformer.'],
    [/^cond_stage_model\.model\./, 'an OpenCLIP (SD2.x) text encoder, which is not supported'],
    [/^(down_blocks|up_blocks|mid_block)\./, 'a diffusers UNet or ControlNet'],
    [/^(encoder|decoder)\.(conv_in|down|up|mid)/, 'a VAE'],
  ];
  for (const [re, what] of hints) if (keys.some((k) => re.test(k))) return `; it looks like ${what}`;
  return keys.length ? `; its first keys are ${keys.slice(0, 3).map((k) => `"${k}"`).join(', ')}` : '; it holds no tensors';
}

/** Number of consecutive `<base>.N.` blocks present, probing `<base>.N.<probe>`. */
export function countBlocks(src: WeightSource, base: string, probe: string): number {
  let n = 0;
  while (src.get(`${base}.${n}.${probe}`)) n++;
  return n;
}

function requireKey(src: WeightSource, key: string, what: string): readonly number[] {
  const t = src.get(key);
  if (!t) throw new Error(`${src.description}: not a ${what} — missing tensor "${key}"${describeKeys(src)}`);
  return t.shape;
}

/** Reads the encoder stack's sizes under `<root>.encoder.layers.N`. */
export function clipEncoderConfig(src: WeightSource, root: string, what: string, heads: number | undefined, act: ClipAct, eps: number): ClipEncoderConfig {
  const layers = countBlocks(src, `${root}.encoder.layers`, 'self_attn.q_proj.weight');
  if (layers === 0) requireKey(src, `${root}.encoder.layers.0.self_attn.q_proj.weight`, what);
  const [hidden] = requireKey(src, `${root}.encoder.layers.0.self_attn.q_proj.weight`, what);
  const [intermediate] = requireKey(src, `${root}.encoder.layers.0.mlp.fc1.weight`, what);
  const h = heads ?? Math.max(1, Math.round(hidden / 64));
  if (!Number.isInteger(h) || h < 1 || hidden % h !== 0) throw new Error(`${src.description}: ${h} attention heads do not divide the hidden size ${hidden}`);
  return { root, layers, hidden, heads: h, intermediate, act, eps };
}

export function clipTextConfig(src: WeightSource, opts: ClipTextOptions = {}): ClipTextConfig {
  const prefix = opts.prefix ?? detectClipTextPrefix(src);
  const root = `${prefix}text_model`;
  const what = 'CLIP text encoder';
  const [vocab, hiddenE] = requireKey(src, `${root}.embeddings.token_embedding.weight`, what);
  const [positions] = requireKey(src, `${root}.embeddings.position_embedding.weight`, what);
  requireKey(src, `${root}.final_layer_norm.weight`, what);
  const proj = src.get(`${prefix}text_projection.weight`)?.shape;
  const act = opts.act ?? (hiddenE <= 768 ? 'quick_gelu' : 'gelu');
  const enc = clipEncoderConfig(src, root, what, opts.heads, act, opts.eps ?? 1e-5);
  if (enc.hidden !== hiddenE) throw new Error(`${src.description}: token embedding width ${hiddenE} != attention width ${enc.hidden}`);
  if (proj && proj[1] !== enc.hidden) throw new Error(`${src.description}: text_projection expects width ${proj[1]}, the encoder has ${enc.hidden}`);
  return { ...enc, prefix, vocab, positions, ...(proj ? { projection: proj[0] } : {}) };
}

/**
 * The encoder layers under `<root>.encoder.layers.N`, in order. Both towers need hidden_states[-2]
 * (the last layer's input), so a stack of fewer than two layers is refused here, for both.
 */
export function clipEncoderStack(ctx: Ctx, x: string, cfg: ClipEncoderConfig, what: string, mask?: string): { last: string; penultimate: string } {
  if (cfg.layers < 2) throw new Error(`${ctx.w.description}: ${what} has ${cfg.layers} layer(s); the penultimate output needs at least 2`);
  let last = x;
  let penultimate = '';
  for (let i = 0; i < cfg.layers; i++) {
    if (i === cfg.layers - 1) penultimate = last;
    last = clipEncoderLayer(ctx, `${cfg.root}.encoder.layers.${i}`, last, cfg, mask);
  }
  return { last, penultimate };
}

/** One CLIP encoder layer (pre-LN), `prefix` = `<root>.encoder.layers.N`. */
export function clipEncoderLayer(ctx: Ctx, prefix: string, x: string, cfg: ClipEncoderConfig, mask?: string): string {
  const { g } = ctx;
  return g.scope(prefix, () => {
    const dimHead = cfg.hidden / cfg.heads;
    let h = layerNorm(ctx, join(prefix, 'layer_norm1'), x, cfg.eps);
    const q = linear(ctx, join(prefix, 'self_attn.q_proj'), h);
    const k = linear(ctx, join(prefix, 'self_attn.k_proj'), h);
    const v = linear(ctx, join(prefix, 'self_attn.v_proj'), h);
    const a = attention(g, q, k, v, cfg.heads, dimHead, mask ? { mask } : {});
    x = g.op('Add', [x, linear(ctx, join(prefix, 'self_attn.out_proj'), a)]);
    h = layerNorm(ctx, join(prefix, 'layer_norm2'), x, cfg.eps);
    h = linear(ctx, join(prefix, 'mlp.fc1'), h);
    h = cfg.act === 'gelu' ? gelu(g, h) : quickGelu(g, h);
    h = linear(ctx, join(prefix, 'mlp.fc2'), h);
    return g.op('Add', [x, h]);
  });
}

/** A fresh builder for one tower's graph, named and flavoured from the options. */
export function clipGraphContext(src: WeightSource, opts: ClipTextOptions, defaultName: string): Ctx {
  return { g: new GraphBuilder(opts.name ?? defaultName, opts.flavour ?? 'cpu'), w: src };
}

/** Graph inputs/outputs are float32 in both flavours; the CUDA flavour computes in fp16 inside. */
export function toCompute(g: GraphBuilder, x: string): string {
  return g.computeType === TensorType.FLOAT ? x : g.op('Cast', [x], { to: g.computeType });
}

export function outputFloat32(g: GraphBuilder, name: string, x: string, dims: ReadonlyArray<number | string>): void {
  g.floatOutput(name, x, dims);
}

/** The hidden-state output names both towers' graphs share (hidden_states[-1] and hidden_states[-2]). */
export const CLIP_HIDDEN_STATE_OUTPUTS = { lastHiddenState: 'last_hidden_state', penultimate: 'hidden_states_penultimate' } as const;

/** Input and output names of the text encoder graph. */
export const CLIP_TEXT_IO = { input: 'input_ids', eosRows: 'eos_rows', ...CLIP_HIDDEN_STATE_OUTPUTS, penultimateLn: 'hidden_states_penultimate_ln', textEmbeds: 'text_embeds' } as const;

/**
 * The `eos_rows` input: for each prompt b of a [batch, length] id matrix, b * length + the position
 * of its largest id (first one wins) — transformers' argmax rule, which finds the EOS (49407, the
 * largest id) whatever the padding.
 */
export function eosRows(ids: ArrayLike<number | bigint>, length: number): BigInt64Array {
  const batch = ids.length / length;
  const out = new BigInt64Array(batch);
  for (let b = 0; b < batch; b++) {
    let best = 0;
    for (let i = 1; i < length; i++) if (Number(ids[b * length + i]) > Number(ids[b * length + best])) best = i;
    out[b] = BigInt(b * length + best);
  }
  return out;
}

/**
 * The text encoder graph. Input `input_ids` int64 [batch, positions]; outputs (float32,
 * [batch, positions, hidden]): `last_hidden_state`, `hidden_states_penultimate` (hidden_states[-2]),
 * `hidden_states_penultimate_ln` (final_layer_norm of it = clip skip 2). With a projection: input
 * `eos_rows` int64 [batch] (eosRows) and output `text_embeds` float32 [batch, projection].
 */
export function buildClipTextGraph(src: WeightSource, opts: ClipTextOptions = {}): BuiltGraph {
  const cfg = clipTextConfig(src, opts);
  const ctx = clipGraphContext(src, opts, 'clip_text');
  const { g } = ctx;
  const { root } = cfg;
  const L = cfg.positions;
  const ids = g.input(CLIP_TEXT_IO.input, TensorType.INT64, ['batch', L]);

  const x0 = g.scope(`${root}.embeddings`, () => {
    const tok = g.op('Gather', [g.weight(src, `${root}.embeddings.token_embedding.weight`), ids], { axis: 0 });
    return g.op('Add', [tok, g.weight(src, `${root}.embeddings.position_embedding.weight`)]);
  });

  // Causal mask: token i attends to tokens 0..i (transformers adds the dtype's minimum above the diagonal).
  const m = new Float32Array(L * L);
  for (let i = 0; i < L; i++) for (let j = i + 1; j < L; j++) m[i * L + j] = -1e9;
  const mask = g.floatConst(m, [L, L], 'causal_mask');

  const { last: x, penultimate } = clipEncoderStack(ctx, x0, cfg, 'CLIP text encoder', mask);
  const fln = `${root}.final_layer_norm`;
  const last = layerNorm(ctx, fln, x, cfg.eps);
  const penLn = layerNorm(ctx, fln, penultimate, cfg.eps);
  const dims = ['batch', L, cfg.hidden];
  outputFloat32(g, CLIP_TEXT_IO.lastHiddenState, last, dims);
  outputFloat32(g, CLIP_TEXT_IO.penultimate, penultimate, dims);
  outputFloat32(g, CLIP_TEXT_IO.penultimateLn, penLn, dims);
  if (cfg.projection !== undefined) {
    const rows = g.input(CLIP_TEXT_IO.eosRows, TensorType.INT64, ['batch']);
    const pooled = g.op('Gather', [g.op('Reshape', [last, g.ints([-1, cfg.hidden])]), rows], { axis: 0 });
    outputFloat32(g, CLIP_TEXT_IO.textEmbeds, linear(ctx, `${cfg.prefix}text_projection`, pooled), ['batch', cfg.projection]);
  }
  return g.build(`CLIP text encoder: ${cfg.layers} layers, hidden ${cfg.hidden}, ${cfg.heads} heads, ${cfg.act}${cfg.projection !== undefined ? `, projection ${cfg.projection}` : ''}`);
}

