/** `tokenizer` fixture kind: exact ids for every prompt of cases.json, with both vocabulary layouts. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CheckResult } from '../compare.ts';
import type { FixtureCase } from '../fixture.ts';
import { ClipTokenizer } from '../../tokenizer/clip.ts';

interface TokenizerEntry {
  prompt: string;
  bpe_ids: number[];
  num_bpe_tokens: number;
  truncated: boolean;
  input_ids: number[];
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
