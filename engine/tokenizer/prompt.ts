/**
 * A1111 / ComfyUI prompt conventions on top of the CLIP tokenizer (syntax: docs/prompts.md):
 * emphasis `(text)` x1.1, `[text]` /1.1, `(text:1.3)`, escapes `\(` `\)` `\[` `\]` `\\`, `BREAK`; prompts longer than
 * 75 tokens become several 77-token chunks whose embeddings the pipeline concatenates; per-token weights are
 * applied to the embeddings with the mean restored (applyPromptWeights).
 */
import { BOS_ID, CONTEXT_LENGTH, EOS_ID, type ClipTokenizer } from './clip.ts';

export type PromptFragment =
  | { readonly kind: 'text'; readonly text: string; readonly weight: number }
  | { readonly kind: 'break' };

/** One text-encoder input: BOS + 75 tokens (EOS-padded) + EOS, and a weight per position (1 for BOS/EOS/padding). */
export interface PromptChunk {
  readonly ids: Int32Array;
  readonly weights: Float32Array;
}

export interface EncodedPrompt {
  readonly chunks: readonly PromptChunk[];
  /** Real tokens in the prompt (what a UI shows as "N / 75"). */
  readonly tokenCount: number;
  /** The id after EOS in every chunk (EOS, or OPENCLIP_PAD_ID for SDXL's second encoder). */
  readonly padId: number;
}

export interface EncodePromptOptions {
  /**
   * When a chunk fills up and a comma is among its last N tokens, the text after that comma moves to the next
   * chunk (A1111's "comma padding backtrack", default 20; 0 disables).
   */
  readonly commaBacktrack?: number;
  /** Parse emphasis syntax (default true); false tokenizes the text literally with weight 1. */
  readonly emphasis?: boolean;
  /** Id filling each chunk after its EOS (default EOS; SDXL's tokenizer 2 pads with OPENCLIP_PAD_ID). */
  readonly padId?: number;
}

const ROUND_MULT = 1.1;
const SQUARE_MULT = 1 / 1.1;
/** Tokens per chunk between BOS and EOS. */
const CHUNK_TOKENS = CONTEXT_LENGTH - 2;
/** `,</w>` in the CLIP vocabulary. */
const COMMA_ID = 267;

/** The lexer: escapes, a lone backslash, brackets, `:weight)`, text runs, a lone colon. */
const LEX = /\\\(|\\\)|\\\[|\\\]|\\\\|\\|\(|\[|:\s*([+-]?[.\d]+)\s*\)|\)|\]|[^\\()[\]:]+|:/gy;
const BREAK_SPLIT = /\s*\bBREAK\b\s*/;

/**
 * Splits a prompt into weighted text fragments and BREAKs, as A1111's parse_prompt_attention: brackets multiply
 * the weight of everything inside them when they close (unclosed ones close at the end), adjacent fragments of
 * equal weight are merged, an empty prompt gives one empty fragment of weight 1.
 */
export function parsePromptAttention(prompt: string): PromptFragment[] {
  type Mutable = { kind: 'text'; text: string; weight: number } | { kind: 'break' };
  const res: Mutable[] = [];
  const round: number[] = [];
  const square: number[] = [];
  const multiply = (from: number, m: number): void => {
    for (let p = from; p < res.length; p++) {
      const f = res[p];
      if (f.kind === 'text') f.weight *= m;
    }
  };
  const pushText = (text: string): void => {
    text.split(BREAK_SPLIT).forEach((part, i) => {
      if (i > 0) res.push({ kind: 'break' });
      res.push({ kind: 'text', text: part, weight: 1 });
    });
  };
  LEX.lastIndex = 0;
  for (let m = LEX.exec(prompt); m !== null && m[0] !== ''; m = LEX.exec(prompt)) {
    const tok = m[0];
    const num = m[1] === undefined ? NaN : Number(m[1]);
    if (tok.startsWith('\\')) res.push({ kind: 'text', text: tok.slice(1), weight: 1 });
    else if (tok === '(') round.push(res.length);
    else if (tok === '[') square.push(res.length);
    else if (m[1] !== undefined && round.length > 0 && Number.isFinite(num)) multiply(round.pop()!, num);
    else if (tok === ')' && round.length > 0) multiply(round.pop()!, ROUND_MULT);
    else if (tok === ']' && square.length > 0) multiply(square.pop()!, SQUARE_MULT);
    else pushText(tok);
  }
  for (const pos of round) multiply(pos, ROUND_MULT);
  for (const pos of square) multiply(pos, SQUARE_MULT);
  if (res.length === 0) res.push({ kind: 'text', text: '', weight: 1 });
  // Merge runs of equal weight (exact float equality, as A1111).
  const merged: Mutable[] = [];
  for (const f of res) {
    const prev = merged[merged.length - 1];
    if (prev && prev.kind === 'text' && f.kind === 'text' && prev.weight === f.weight) prev.text += f.text;
    else merged.push({ ...f });
  }
  return merged;
}

/** An empty chunk: BOS, EOS, 75 x pad (EOS by default), weights 1 (what the empty prompt encodes to). */
export function emptyChunk(padId = EOS_ID): PromptChunk {
  return makeChunk([], [], padId);
}

function makeChunk(tokens: readonly number[], weights: readonly number[], padId: number): PromptChunk {
  const ids = new Int32Array(CONTEXT_LENGTH).fill(padId);
  const w = new Float32Array(CONTEXT_LENGTH).fill(1);
  ids[0] = BOS_ID;
  for (let k = 0; k < tokens.length; k++) {
    ids[k + 1] = tokens[k];
    w[k + 1] = weights[k];
  }
  ids[tokens.length + 1] = EOS_ID;
  return { ids, weights: w };
}

/**
 * Tokenizes a prompt into 77-token chunks with per-token weights (A1111's tokenize_line): fragments are
 * tokenized separately, a BREAK always closes the current chunk, a full chunk (75 tokens) is closed, moving the
 * tail after a recent comma to the next chunk.
 */
export function encodePrompt(tok: ClipTokenizer, prompt: string, opts: EncodePromptOptions = {}): EncodedPrompt {
  const backtrack = opts.commaBacktrack ?? 20;
  const padId = opts.padId ?? EOS_ID;
  const fragments: PromptFragment[] = opts.emphasis === false ? [{ kind: 'text', text: prompt, weight: 1 }] : parsePromptAttention(prompt);
  const chunks: PromptChunk[] = [];
  let tokens: number[] = [];
  let weights: number[] = [];
  let lastComma = -1;
  let tokenCount = 0;
  const close = (): void => {
    chunks.push(makeChunk(tokens, weights, padId));
    tokens = [];
    weights = [];
    lastComma = -1;
  };
  for (const f of fragments) {
    if (f.kind === 'break') {
      close();
      continue;
    }
    const ids = tok.encode(f.text);
    tokenCount += ids.length;
    for (const id of ids) {
      if (id === COMMA_ID) {
        lastComma = tokens.length;
      } else if (backtrack !== 0 && tokens.length === CHUNK_TOKENS && lastComma !== -1 && tokens.length - lastComma <= backtrack) {
        const moveFrom = lastComma + 1;
        const movedT = tokens.slice(moveFrom);
        const movedW = weights.slice(moveFrom);
        tokens = tokens.slice(0, moveFrom);
        weights = weights.slice(0, moveFrom);
        close();
        tokens = movedT;
        weights = movedW;
      }
      if (tokens.length === CHUNK_TOKENS) close();
      tokens.push(id);
      weights.push(f.weight);
    }
  }
  if (tokens.length > 0 || chunks.length === 0) close();
  return { chunks, tokenCount, padId };
}

/**
 * Appends empty chunks until the prompt has `count` chunks, so that cond and uncond embeddings have the same
 * length for classifier-free guidance (A1111 pads the shorter one with the empty prompt).
 */
export function padChunks(p: EncodedPrompt, count: number): EncodedPrompt {
  if (p.chunks.length >= count) return p;
  const chunks = [...p.chunks];
  while (chunks.length < count) chunks.push(emptyChunk(p.padId));
  return { ...p, chunks };
}

/**
 * Applies per-token weights to one chunk's text embeddings ([tokens, hidden] row-major) the A1111 way: multiply
 * each token's vector by its weight, then rescale everything so the mean over all elements equals the unweighted
 * mean. Returns `out` (a new array unless given; may be `embeds` itself). With `restoreMean: false` only the
 * multiplication is done. All weights 1 leaves the values unchanged.
 */
export function applyPromptWeights(
  embeds: Float32Array,
  weights: ArrayLike<number>,
  hidden: number,
  out: Float32Array = new Float32Array(embeds.length),
  restoreMean = true,
): Float32Array {
  const tokens = weights.length;
  if (embeds.length !== tokens * hidden) throw new RangeError(`embeddings have ${embeds.length} values, expected ${tokens} x ${hidden}`);
  let before = 0;
  let after = 0;
  for (let t = 0; t < tokens; t++) {
    const w = weights[t];
    for (let k = t * hidden, end = k + hidden; k < end; k++) {
      const v = embeds[k];
      before += v;
      after += v * w;
      out[k] = v * w;
    }
  }
  // Mean ratio == sum ratio; a zero weighted sum cannot be rescaled (A1111 would produce inf/nan).
  const scale = restoreMean && after !== 0 ? before / after : 1;
  if (scale !== 1) for (let k = 0; k < out.length; k++) out[k] *= scale;
  return out;
}
