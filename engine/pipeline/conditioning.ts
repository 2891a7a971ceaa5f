/**
 * What the denoising loop is conditioned on, computed once per job: text embeddings (with
 * A1111-style chunking and emphasis), image-prompt tokens and their per-layer keys/values.
 */
import * as ort from 'onnxruntime-node';
import { CLIP_TEXT_IO } from '../graphs/clip-text.ts';
import { IP_KV_IO, IP_PROJ_IO } from '../graphs/ip-adapter.ts';
import { applyPromptWeights, encodePrompt, padChunks, type ClipTokenizer } from '../tokenizer/index.ts';
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

/** Runs the text encoder on 77-token chunks; returns each chunk's [77, D] embeddings. */
export async function encodeChunks(session: ort.InferenceSession, chunks: readonly Int32Array[], clipSkip: number): Promise<Float32Array[]> {
  const n = chunks.length;
  const L = chunks[0].length;
  const ids = new BigInt64Array(n * L);
  chunks.forEach((c, i) => c.forEach((v, j) => (ids[i * L + j] = BigInt(v))));
  const out = await session.run({ [CLIP_TEXT_IO.input]: new ort.Tensor('int64', ids, [n, L]) });
  // clip skip 2 = the penultimate layer through the final LayerNorm (A1111 / ComfyUI semantics).
  const t = out[clipSkip >= 2 ? CLIP_TEXT_IO.penultimateLn : CLIP_TEXT_IO.lastHiddenState];
  const data = t.data as Float32Array;
  const per = data.length / n;
  return Array.from({ length: n }, (_, i) => data.subarray(i * per, (i + 1) * per));
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
