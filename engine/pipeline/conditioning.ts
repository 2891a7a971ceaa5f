/**
 * What the denoising loop is conditioned on, computed once per job: text embeddings (with
 * A1111-style chunking and emphasis), image-prompt tokens and their per-layer keys/values.
 *
 * SDXL (diffusers' StableDiffusionXLPipeline.encode_prompt): both encoders' hidden_states[-2] (no
 * final LayerNorm) concatenated per token, the pooled `text_embeds` of the second encoder, and no
 * negative prompt → zeros (force_zeros_for_empty_prompt). Long prompts and BREAK make 77-token
 * chunks for both encoders alike (same tokens, only the padding differs); emphasis weights each
 * encoder's chunk on its own; the pooled embedding is the first chunk's, as A1111 and ComfyUI do.
 */
import * as ort from 'onnxruntime-node';
import { IP_KV_IO, IP_PROJ_IO } from '../graphs/ip-adapter.ts';
import { CLIP_TEXT_IO, eosRows } from '../graphs/clip-text.ts';
import { applyPromptWeights, encodePrompt, EOS_ID, OPENCLIP_PAD_ID, padChunks, type ClipTokenizer, type EncodedPrompt } from '../tokenizer/index.ts';
import { UNET_IO } from '../weights/unet-structure.ts';
import type { AdapterKv } from './ip-inputs.ts';
import { concat } from './tensor.ts';

export interface TextEmbeddings {
  /** [1, 77*k, D] */
  readonly cond: Float32Array;
  readonly uncond: Float32Array;
  readonly tokens: number;
  readonly dim: number;
}

/** One text encoder run on 77-token chunks: each chunk's [77, D] `hidden` output, and its pooled `text_embeds` when the encoder has a projection. */
export interface EncodedChunks {
  readonly hidden: Float32Array[];
  readonly pooled?: Float32Array[];
}

function splitRows(t: ort.Tensor, n: number): Float32Array[] {
  const data = t.data as Float32Array;
  const per = data.length / n;
  return Array.from({ length: n }, (_, i) => data.subarray(i * per, (i + 1) * per));
}

/** Runs a text encoder graph on chunks of ids, reading output `hidden` (a CLIP_TEXT_IO name). */
export async function runTextEncoder(session: ort.InferenceSession, chunks: readonly ArrayLike<number>[], hidden: string): Promise<EncodedChunks> {
  const n = chunks.length;
  const L = chunks[0].length;
  const flat = new Int32Array(n * L);
  chunks.forEach((c, i) => flat.set(c, i * L));
  const feeds: Record<string, ort.Tensor> = { [CLIP_TEXT_IO.input]: new ort.Tensor('int64', BigInt64Array.from(flat, (v) => BigInt(v)), [n, L]) };
  const projected = session.inputNames.includes(CLIP_TEXT_IO.eosRows);
  if (projected) feeds[CLIP_TEXT_IO.eosRows] = new ort.Tensor('int64', eosRows(flat, L), [n]);
  const out = await session.run(feeds);
  return { hidden: splitRows(out[hidden], n), ...(projected ? { pooled: splitRows(out[CLIP_TEXT_IO.textEmbeds], n) } : {}) };
}

/** Runs the text encoder on 77-token chunks; returns each chunk's [77, D] embeddings. */
export async function encodeChunks(session: ort.InferenceSession, chunks: readonly Int32Array[], clipSkip: number): Promise<Float32Array[]> {
  // clip skip 2 = the penultimate layer through the final LayerNorm (A1111 / ComfyUI semantics).
  return (await runTextEncoder(session, chunks, clipSkip >= 2 ? CLIP_TEXT_IO.penultimateLn : CLIP_TEXT_IO.lastHiddenState)).hidden;
}

/** Prompt and negative prompt → equal-length embeddings (chunks concatenated, emphasis applied). */
export async function promptEmbeddings(session: ort.InferenceSession, tok: ClipTokenizer, prompt: string, negative: string, clipSkip: number): Promise<TextEmbeddings> {
  let pos = encodePrompt(tok, prompt);
  let neg = encodePrompt(tok, negative);
  const k = Math.max(pos.chunks.length, neg.chunks.length);
  pos = padChunks(pos, k);
  neg = padChunks(neg, k);
  const all = await encodeChunks(session, [...pos.chunks, ...neg.chunks].map((c) => c.ids), clipSkip);
  const dim = all[0].length / pos.chunks[0].ids.length;
  const weighted = (chunkIdx: number, weights: Float32Array) => applyPromptWeights(all[chunkIdx], weights, dim);
  const cond = concat(...pos.chunks.map((c, i) => weighted(i, c.weights)));
  const uncond = concat(...neg.chunks.map((c, i) => weighted(k + i, c.weights)));
  return { cond, uncond, tokens: k * pos.chunks[0].ids.length, dim };
}

/** SDXL text conditioning: TextEmbeddings over the concatenated width, plus the pooled embeddings [1, P]. */
export interface SdxlTextEmbeddings extends TextEmbeddings {
  readonly pooledCond: Float32Array;
  readonly pooledUncond: Float32Array;
}

/** SDXL's two text encoders: CLIP-L (tokenizer pads with EOS) and OpenCLIP bigG with projection (pads with OPENCLIP_PAD_ID). */
export interface SdxlTextEncoders {
  readonly clipL: ort.InferenceSession;
  readonly openClipG: ort.InferenceSession;
}

/** Per token, the rows of `a` [T, da] and `b` [T, db] side by side: [T, da + db]. */
export function concatPerToken(a: Float32Array, da: number, b: Float32Array, db: number): Float32Array {
  const tokens = a.length / da;
  if (b.length !== tokens * db) throw new RangeError(`cannot concatenate ${tokens} tokens of width ${da} with ${b.length / db} of width ${db}`);
  const out = new Float32Array(tokens * (da + db));
  for (let t = 0; t < tokens; t++) {
    out.set(a.subarray(t * da, (t + 1) * da), t * (da + db));
    out.set(b.subarray(t * db, (t + 1) * db), t * (da + db) + da);
  }
  return out;
}

/**
 * The prompt embeddings of SDXL chunk pairs (the same prompt framed for each encoder): per chunk,
 * concat(CLIP-L hs[-2], bigG hs[-2]) with the chunk's weights applied per encoder; pooled = the
 * first chunk's bigG text_embeds.
 */
export async function sdxlChunkEmbeddings(enc: SdxlTextEncoders, prompts: ReadonlyArray<{ readonly l: EncodedPrompt; readonly g: EncodedPrompt }>): Promise<Array<{ embeds: Float32Array; pooled: Float32Array; dim: number }>> {
  const l = prompts.flatMap((p) => p.l.chunks);
  const g = prompts.flatMap((p) => p.g.chunks);
  const [outL, outG] = [await runTextEncoder(enc.clipL, l.map((c) => c.ids), CLIP_TEXT_IO.penultimate), await runTextEncoder(enc.openClipG, g.map((c) => c.ids), CLIP_TEXT_IO.penultimate)];
  if (!outG.pooled) throw new Error('the second SDXL text encoder has no text_projection (pooled embeddings)');
  const L = l[0].ids.length;
  const dl = outL.hidden[0].length / L;
  const dg = outG.hidden[0].length / L;
  const result: Array<{ embeds: Float32Array; pooled: Float32Array; dim: number }> = [];
  let at = 0;
  for (const p of prompts) {
    const parts = p.l.chunks.map((c, i) => concatPerToken(applyPromptWeights(outL.hidden[at + i], c.weights, dl), dl, applyPromptWeights(outG.hidden[at + i], p.g.chunks[i].weights, dg), dg));
    result.push({ embeds: concat(...parts), pooled: outG.pooled[at].slice(), dim: dl + dg });
    at += p.l.chunks.length;
  }
  return result;
}

/** A prompt framed for both SDXL tokenizers (same chunks; EOS vs OPENCLIP_PAD_ID padding). */
export function sdxlEncodePrompt(tok: ClipTokenizer, prompt: string): { l: EncodedPrompt; g: EncodedPrompt } {
  return { l: encodePrompt(tok, prompt, { padId: EOS_ID }), g: encodePrompt(tok, prompt, { padId: OPENCLIP_PAD_ID }) };
}

/**
 * Prompt and negative prompt → SDXL conditioning. An empty negative prompt means none was given:
 * zeros for embeddings and pooled, as diffusers' SDXL pipeline does (force_zeros_for_empty_prompt).
 */
export async function sdxlPromptEmbeddings(enc: SdxlTextEncoders, tok: ClipTokenizer, prompt: string, negative: string): Promise<SdxlTextEmbeddings> {
  const zeroNegative = negative.trim() === '';
  let pos = sdxlEncodePrompt(tok, prompt);
  let neg = zeroNegative ? undefined : sdxlEncodePrompt(tok, negative);
  const k = Math.max(pos.l.chunks.length, neg?.l.chunks.length ?? 0);
  const pad = (p: { l: EncodedPrompt; g: EncodedPrompt }) => ({ l: padChunks(p.l, k), g: padChunks(p.g, k) });
  pos = pad(pos);
  neg = neg && pad(neg);
  const [c, u] = await sdxlChunkEmbeddings(enc, neg ? [pos, neg] : [pos]);
  const tokens = k * pos.l.chunks[0].ids.length;
  return {
    cond: c.embeds, uncond: u ? u.embeds : new Float32Array(c.embeds.length), tokens, dim: c.dim,
    pooledCond: c.pooled, pooledUncond: u ? u.pooled : new Float32Array(c.pooled.length),
  };
}

/** Image-prompt tokens for one reference: conditional and unconditional [1, T, D] each. */
export interface ImageTokens {
  readonly cond: Float32Array;
  readonly uncond: Float32Array;
  readonly tokens: number;
  readonly dim: number;
}

/** Runs a projection graph on the conditional and the unconditional inputs as one batch of 2. */
export async function projectTokens(proj: ort.InferenceSession, cond: Record<string, { data: Float32Array; shape: readonly number[] }>, uncond: Record<string, { data: Float32Array; shape: readonly number[] }>): Promise<ImageTokens> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const name of Object.keys(cond)) {
    const c = cond[name];
    const u = uncond[name];
    feeds[name] = new ort.Tensor('float32', concat(u.data, c.data), [2, ...c.shape.slice(1)]);
  }
  const out = (await proj.run(feeds))[IP_PROJ_IO.tokens];
  const data = out.data as Float32Array;
  const half = data.length / 2;
  return { uncond: data.slice(0, half), cond: data.slice(half), tokens: out.dims[1], dim: out.dims[2] };
}

/**
 * Per-layer keys/values of the tokens (batch [uncond, cond], or [cond] without CFG), for the `layers`
 * attn2 layers the key/value graph was built for (its outputs carry the UNet's input names).
 */
export async function adapterKeyValues(kv: ort.InferenceSession, t: ImageTokens, layers: number, cfg: boolean): Promise<AdapterKv> {
  const data = cfg ? concat(t.uncond, t.cond) : t.cond;
  const out = await kv.run({ [IP_KV_IO.input]: new ort.Tensor('float32', data, [cfg ? 2 : 1, t.tokens, t.dim]) });
  const k: Float32Array[] = [];
  const v: Float32Array[] = [];
  for (let l = 0; l < layers; l++) {
    k.push(out[UNET_IO.ipKey(l)].data as Float32Array);
    v.push(out[UNET_IO.ipValue(l)].data as Float32Array);
  }
  return { tokens: t.tokens, k, v };
}
