/**
 * CLIP byte-level BPE tokenizer (SD1.5's text encoder vocabulary, 49408 ids).
 *
 * Text -> normalizePrompt -> pre-tokenizer regex -> each piece's UTF-8 bytes mapped to printable code points
 * (the GPT-2 byte->unicode table) -> BPE with the merge ranks, `</w>` marking the end of each piece -> ids.
 * Loads Hugging Face `vocab.json` + `merges.txt` or OpenAI's `bpe_simple_vocab_16e6.txt.gz`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { PY_WHITESPACE, normalizePrompt } from './normalize.ts';

export const BOS_ID = 49406;
export const EOS_ID = 49407;
/**
 * What SDXL's second tokenizer (OpenCLIP bigG's, `tokenizer_2`) pads with: id 0 ("!"). The first
 * tokenizer, and SD1.5's, pad with EOS. Both share the BPE, so one ClipTokenizer serves both.
 */
export const OPENCLIP_PAD_ID = 0;
/** SD1.5's text encoder input length: BOS + 75 tokens + EOS. */
export const CONTEXT_LENGTH = 77;

const BOS_TOKEN = '<|startoftext|>';
const EOS_TOKEN = '<|endoftext|>';
/** CLIP's merges: the first 49152 - 256 - 2 lines after the header line. */
const NUM_MERGES = 49152 - 256 - 2;
/** Cap of the per-word cache; prompts reuse a small vocabulary, so this is never hit in practice. */
const CACHE_LIMIT = 100_000;

/**
 * The pre-tokenizer (CLIP's regex, IGNORECASE): special tokens, English contractions, letter runs, single digits,
 * runs of anything else that is not whitespace.
 */
const PIECE = new RegExp(
  `<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|\\p{L}+|\\p{N}|[^${PY_WHITESPACE}\\p{L}\\p{N}]+`,
  'giu',
);

/** GPT-2's reversible byte -> printable character table: printable Latin-1 bytes map to themselves, the rest to 256+. */
export function bytesToUnicode(): string[] {
  const table = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCodePoint(printable ? b : 256 + extra++);
  }
  return table;
}

/** The printable characters in the order OpenAI's vocabulary lists them (printable bytes first, then the others). */
function byteAlphabetOrder(table: string[]): string[] {
  const printable: string[] = [];
  const rest: string[] = [];
  for (let b = 0; b < 256; b++) (table[b].codePointAt(0)! < 256 ? printable : rest).push(table[b]);
  return [...printable, ...rest];
}

export class ClipTokenizer {
  private readonly encoder: ReadonlyMap<string, number>;
  private readonly decoder: ReadonlyMap<number, string>;
  /** "a b" -> merge rank (lower merges first). Symbols never contain a space: byte 0x20 maps to 'Ġ'. */
  private readonly ranks: ReadonlyMap<string, number>;
  private readonly byteChars = bytesToUnicode();
  private readonly utf8 = new TextEncoder();
  private cache = new Map<string, readonly number[]>();

  constructor(vocab: ReadonlyMap<string, number>, merges: readonly string[]) {
    this.encoder = vocab;
    this.decoder = new Map([...vocab].map(([k, v]) => [v, k]));
    const ranks = new Map<string, number>();
    merges.forEach((m, i) => ranks.set(m, i));
    this.ranks = ranks;
    if (vocab.get(BOS_TOKEN) !== BOS_ID || vocab.get(EOS_TOKEN) !== EOS_ID) {
      throw new Error(`not the CLIP vocabulary: ${BOS_TOKEN} / ${EOS_TOKEN} are not ids ${BOS_ID} / ${EOS_ID}`);
    }
    this.seedCache();
  }

  get vocabSize(): number {
    return this.encoder.size;
  }

  /** Id of a vocabulary token (byte-level form, e.g. "cat</w>"). */
  tokenId(token: string): number | undefined {
    return this.encoder.get(token);
  }

  /** Vocabulary token of an id. */
  tokenOf(id: number): string | undefined {
    return this.decoder.get(id);
  }

  /** Hugging Face layout: vocab.json (token -> id) and merges.txt ("#version" header, one "a b" per line). */
  static fromHuggingFace(vocabJson: string, mergesTxt: string): ClipTokenizer {
    const raw = JSON.parse(vocabJson) as unknown;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('vocab.json is not an object');
    const vocab = new Map<string, number>();
    for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
      if (typeof v !== 'number') throw new Error(`vocab.json: id of ${JSON.stringify(k)} is not a number`);
      vocab.set(k, v);
    }
    return new ClipTokenizer(vocab, parseMerges(mergesTxt));
  }

  /** OpenAI layout: the merges file (optionally gzipped); the vocabulary is derived from it as CLIP does. */
  static fromOpenAiBpe(bpe: Uint8Array): ClipTokenizer {
    const gz = bpe[0] === 0x1f && bpe[1] === 0x8b;
    const merges = parseMerges(Buffer.from(gz ? gunzipSync(bpe) : bpe).toString('utf8'));
    // ids: 256 byte chars, the same with </w>, one per merge (concatenated), then the two special tokens.
    const alphabet = byteAlphabetOrder(bytesToUnicode());
    const tokens = [...alphabet, ...alphabet.map((c) => `${c}</w>`), ...merges.map((m) => m.replace(' ', '')), BOS_TOKEN, EOS_TOKEN];
    return new ClipTokenizer(new Map(tokens.map((t, i) => [t, i])), merges);
  }

  /** From a folder holding vocab.json + merges.txt, or bpe_simple_vocab_16e6.txt(.gz). */
  static fromDirectory(dir: string): ClipTokenizer {
    const vocab = join(dir, 'vocab.json');
    const merges = join(dir, 'merges.txt');
    if (existsSync(vocab) && existsSync(merges)) return ClipTokenizer.fromHuggingFace(readFileSync(vocab, 'utf8'), readFileSync(merges, 'utf8'));
    for (const name of ['bpe_simple_vocab_16e6.txt.gz', 'bpe_simple_vocab_16e6.txt']) {
      const p = join(dir, name);
      if (existsSync(p)) return ClipTokenizer.fromOpenAiBpe(readFileSync(p));
    }
    throw new Error(`${dir}: no CLIP vocabulary (vocab.json + merges.txt, or bpe_simple_vocab_16e6.txt.gz)`);
  }

  /** BPE ids of a text, without BOS/EOS and untruncated. */
  encode(text: string): number[] {
    const out: number[] = [];
    const norm = normalizePrompt(text);
    for (const m of norm.matchAll(PIECE)) {
      for (const id of this.bpeIds(m[0])) out.push(id);
    }
    return out;
  }

  /** A text encoder input: BOS + first 75 BPE ids + EOS, padded to 77 with `pad` (EOS; OPENCLIP_PAD_ID for SDXL's tokenizer 2). */
  encodeForClip(text: string, length = CONTEXT_LENGTH, pad = EOS_ID): number[] {
    return frameIds(this.encode(text), length, pad);
  }

  /** Text of ids (special tokens dropped), `</w>` as a space; for debugging and tests. */
  decode(ids: readonly number[]): string {
    const byteOf = new Map(this.byteChars.map((c, b) => [c, b]));
    const bytes: number[] = [];
    for (const id of ids) {
      if (id === BOS_ID || id === EOS_ID) continue;
      const tok = this.decoder.get(id);
      if (tok === undefined) throw new RangeError(`id ${id} is not in the vocabulary`);
      const word = tok.endsWith('</w>') ? tok.slice(0, -4) : tok;
      for (const ch of word) bytes.push(byteOf.get(ch) ?? 0x3f);
      if (word !== tok) bytes.push(0x20);
    }
    return Buffer.from(bytes).toString('utf8').trimEnd();
  }

  /** Ids of one pre-tokenized piece, cached per piece. */
  private bpeIds(piece: string): readonly number[] {
    const hit = this.cache.get(piece);
    if (hit) return hit;
    let mapped = '';
    for (const b of this.utf8.encode(piece)) mapped += this.byteChars[b];
    const ids = this.bpe(mapped).map((sym) => {
      const id = this.encoder.get(sym);
      if (id === undefined) throw new Error(`BPE symbol ${JSON.stringify(sym)} is not in the vocabulary`);
      return id;
    });
    if (this.cache.size >= CACHE_LIMIT) this.seedCache();
    this.cache.set(piece, ids);
    return ids;
  }

  /** Repeatedly merges the lowest-ranked adjacent pair (all its non-overlapping occurrences, left to right). */
  private bpe(word: string): string[] {
    let syms = Array.from(word);
    syms[syms.length - 1] += '</w>';
    while (syms.length > 1) {
      let best = Infinity;
      let bestKey = '';
      for (let i = 0; i + 1 < syms.length; i++) {
        const key = `${syms[i]} ${syms[i + 1]}`;
        const r = this.ranks.get(key);
        if (r !== undefined && r < best) {
          best = r;
          bestKey = key;
        }
      }
      if (best === Infinity) break;
      const [a, b] = bestKey.split(' ');
      const next: string[] = [];
      for (let i = 0; i < syms.length; i++) {
        if (i + 1 < syms.length && syms[i] === a && syms[i + 1] === b) {
          next.push(a + b);
          i++;
        } else {
          next.push(syms[i]);
        }
      }
      syms = next;
    }
    return syms;
  }

  /** The special tokens typed in a prompt map to their ids, as in CLIP (its cache is seeded with them). */
  private seedCache(): void {
    this.cache = new Map([[BOS_TOKEN, [BOS_ID]], [EOS_TOKEN, [EOS_ID]]]);
  }
}

/** BOS + ids[:length-2] + EOS, right-padded with `pad` (default EOS) to `length`. */
export function frameIds(ids: readonly number[], length = CONTEXT_LENGTH, pad = EOS_ID): number[] {
  const body = ids.slice(0, length - 2);
  const out = [BOS_ID, ...body, EOS_ID];
  while (out.length < length) out.push(pad);
  return out;
}

function parseMerges(text: string): string[] {
  const lines = text.split('\n');
  const merges = lines.slice(1, NUM_MERGES + 1).map((l) => l.replace(/\r$/, ''));
  if (merges.length !== NUM_MERGES || merges.some((m) => m.split(' ').length !== 2)) {
    throw new Error(`merges: expected ${NUM_MERGES} "a b" lines after the header, found ${merges.length}`);
  }
  return merges;
}
