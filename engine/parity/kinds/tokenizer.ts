/**
 * `tokenizer` fixture kind: exact ids for every prompt of cases.json, with both vocabulary layouts.
 * `tokenizer-2` (SDXL): the same BPE framed twice, padded with EOS (tokenizer 1) and with
 * OPENCLIP_PAD_ID (tokenizer 2), both by encodeForClip and by the prompt chunker the pipeline uses.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CheckResult } from '../compare.ts';
import type { FixtureCase } from '../fixture.ts';
import { ClipTokenizer, EOS_ID, OPENCLIP_PAD_ID } from '../../tokenizer/clip.ts';
import { encodePrompt } from '../../tokenizer/prompt.ts';

interface TokenizerEntry {
  prompt: string;
  bpe_ids: number[];
  num_bpe_tokens: number;
  truncated: boolean;
  input_ids: number[];
  /** tokenizer-2 only: SDXL's second tokenizer (pad 0). */
  input_ids_2?: number[];
}

function same(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function weight(c: FixtureCase, role: string): string {
  const p = c.weights[role];
  if (!p) throw new Error(`${c.name}: weights.${role} missing`);
  return p;
}

/** One check per layout: every prompt's bpe ids, count, truncation flag and 77 input ids must match exactly. */
function checkLayout(name: string, tok: ClipTokenizer, entries: readonly TokenizerEntry[]): CheckResult {
  const bad: string[] = [];
  for (const e of entries) {
    const bpe = tok.encode(e.prompt);
    const ids = tok.encodeForClip(e.prompt);
    const truncated = bpe.length > 75;
    if (!same(bpe, e.bpe_ids) || bpe.length !== e.num_bpe_tokens || truncated !== e.truncated || !same(ids, e.input_ids)) {
      bad.push(`${JSON.stringify(e.prompt.slice(0, 40))}: got [${bpe.slice(0, 12)}${bpe.length > 12 ? ',…' : ''}], expected [${e.bpe_ids.slice(0, 12)}${e.bpe_ids.length > 12 ? ',…' : ''}]`);
    }
  }
  return { name: `${name} (${entries.length} prompts)`, maxAbsError: bad.length === 0 ? 0 : Infinity, pass: bad.length === 0, detail: bad.length ? `${bad.length} mismatches; first ${bad[0]}` : undefined };
}

export async function runTokenizerCase(c: FixtureCase): Promise<CheckResult[]> {
  const casesFile = typeof c.params.cases_file === 'string' ? c.params.cases_file : 'cases.json';
  const entries = JSON.parse(readFileSync(join(c.dir, casesFile), 'utf8')) as TokenizerEntry[];
  if (!Array.isArray(entries) || entries.length === 0) throw new Error(`${casesFile}: no entries`);
  const hf = ClipTokenizer.fromHuggingFace(readFileSync(weight(c, 'vocab_json'), 'utf8'), readFileSync(weight(c, 'merges_txt'), 'utf8'));
  const openai = ClipTokenizer.fromOpenAiBpe(readFileSync(weight(c, 'bpe_gz')));
  const results = [checkLayout('input_ids hf vocab.json+merges.txt', hf, entries), checkLayout('input_ids openai bpe_simple_vocab_16e6.txt.gz', openai, entries)];
  const vocabSize = Number(c.config.vocab_size ?? 49408);
  results.push({ name: 'vocab_size', maxAbsError: Math.abs(hf.vocabSize - vocabSize) + Math.abs(openai.vocabSize - vocabSize), pass: hf.vocabSize === vocabSize && openai.vocabSize === vocabSize });
  return results;
}

/** Every prompt framed with `pad`, as encodeForClip and as the first chunk of the pipeline's chunker (no emphasis, no comma backtracking: plain truncation). */
function checkFraming(name: string, tok: ClipTokenizer, entries: readonly TokenizerEntry[], expected: (e: TokenizerEntry) => number[] | undefined, pad: number): CheckResult {
  const bad: string[] = [];
  for (const e of entries) {
    const want = expected(e);
    if (!want) {
      bad.push(`${JSON.stringify(e.prompt.slice(0, 40))}: no expected ids`);
      continue;
    }
    const framed = tok.encodeForClip(e.prompt, want.length, pad);
    const chunk = Array.from(encodePrompt(tok, e.prompt, { emphasis: false, commaBacktrack: 0, padId: pad }).chunks[0].ids);
    if (!same(framed, want)) bad.push(`${JSON.stringify(e.prompt.slice(0, 40))}: encodeForClip got [${framed.slice(-4)}], expected [${want.slice(-4)}] at the end`);
    else if (!same(chunk, want)) bad.push(`${JSON.stringify(e.prompt.slice(0, 40))}: encodePrompt's first chunk got [${chunk.slice(-4)}], expected [${want.slice(-4)}] at the end`);
  }
  return { name: `${name} (${entries.length} prompts)`, maxAbsError: bad.length === 0 ? 0 : Infinity, pass: bad.length === 0, detail: bad.length ? `${bad.length} mismatches; first ${bad[0]}` : undefined };
}

export async function runTokenizer2Case(c: FixtureCase): Promise<CheckResult[]> {
  const casesFile = typeof c.params.cases_file === 'string' ? c.params.cases_file : 'cases.json';
  const entries = JSON.parse(readFileSync(join(c.dir, casesFile), 'utf8')) as TokenizerEntry[];
  if (!Array.isArray(entries) || entries.length === 0) throw new Error(`${casesFile}: no entries`);
  const tok = ClipTokenizer.fromOpenAiBpe(readFileSync(weight(c, 'bpe_gz')));
  const pad2 = Number(c.config.pad_token_id_2 ?? OPENCLIP_PAD_ID);
  return [
    checkLayout('bpe ids + input_ids (tokenizer 1, pad eos)', tok, entries),
    checkFraming('input_ids (tokenizer 1, pad eos)', tok, entries, (e) => e.input_ids, EOS_ID),
    checkFraming(`input_ids_2 (tokenizer 2, pad ${pad2})`, tok, entries, (e) => e.input_ids_2, pad2),
    { name: 'pad_token_id_2 is OPENCLIP_PAD_ID', maxAbsError: Math.abs(pad2 - OPENCLIP_PAD_ID), pass: pad2 === OPENCLIP_PAD_ID },
  ];
}
