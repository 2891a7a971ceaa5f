import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BOS_ID, ClipTokenizer, EOS_ID, OPENCLIP_PAD_ID, applyPromptWeights, emptyChunk, encodePrompt, fixText, htmlUnescape, normalizePrompt, padChunks,
  parsePromptAttention, type PromptFragment,
} from '../../engine/tokenizer/index.ts';

const dir = join(process.env.IPA_FIXTURES ?? join(import.meta.dirname, '../../../shared/fixtures'), 'tokenizer');
const hf = ClipTokenizer.fromDirectory(dir);
const openai = ClipTokenizer.fromOpenAiBpe(readFileSync(join(dir, 'bpe_simple_vocab_16e6.txt.gz')));

interface Entry {
  prompt: string;
  bpe_ids: number[];
  num_bpe_tokens: number;
  truncated: boolean;
  input_ids: number[];
  ids_differ_with_basic_tokenizer_fallback?: boolean;
}
const entries = JSON.parse(readFileSync(join(dir, 'cases.json'), 'utf8')) as Entry[];

test('every fixture prompt gives the exact ids with both vocabulary layouts', () => {
  for (const tok of [hf, openai]) {
    for (const e of entries) {
      assert.deepEqual(tok.encode(e.prompt), e.bpe_ids, e.prompt);
      assert.deepEqual(tok.encodeForClip(e.prompt), e.input_ids, e.prompt);
    }
  }
});

test('CJK prompts follow the ftfy/OpenAI path (whole letter runs), not the per-ideograph fallback', () => {
  const cjk = entries.filter((e) => e.ids_differ_with_basic_tokenizer_fallback);
  assert.equal(cjk.length, 2);
  for (const e of cjk) assert.deepEqual(hf.encodeForClip(e.prompt), e.input_ids);
});

test('the vocabulary derived from the OpenAI merges file equals vocab.json', () => {
  const vocab = JSON.parse(readFileSync(join(dir, 'vocab.json'), 'utf8')) as Record<string, number>;
  assert.equal(openai.vocabSize, 49408);
  for (const [tok, id] of Object.entries(vocab)) assert.equal(openai.tokenId(tok), id, tok);
});

test('framing: BOS, truncation to 75, EOS padding to 77', () => {
  assert.deepEqual(hf.encodeForClip(''), [BOS_ID, ...new Array<number>(76).fill(EOS_ID)]);
  const long = hf.encodeForClip('cat '.repeat(100));
  assert.equal(long.length, 77);
  assert.equal(long[0], BOS_ID);
  assert.equal(long[76], EOS_ID);
  assert.ok(long.slice(1, 76).every((id) => id === hf.tokenId('cat</w>')));
});

test('special tokens typed in a prompt map to their ids', () => {
  assert.deepEqual(hf.encode('a <|endoftext|> b'), [...hf.encode('a'), EOS_ID, ...hf.encode('b')]);
});

test('decode inverts encode for ASCII text', () => {
  assert.equal(hf.decode(hf.encodeForClip('A photo of an astronaut, 8k!')), 'a photo of an astronaut , 8 k !');
});

test('html unescape matches Python html.unescape', () => {
  const cases: Array<[string, string]> = [
    ['a &amp; b', 'a & b'], ['&lt;3 &gt;', '<3 >'], ['&amp;amp;', '&amp;'], ['caf&eacute;', 'café'], ['&eacutex', 'éx'],
    ['&ampfoo;', '&foo;'], ['&#233;&#x4E2D;', 'é中'], ['&#0;&#128;&#150;', '\ufffd€–'], ['&#xD800;', '\ufffd'], ['&#1;x', 'x'],
    ['&notit;', '¬it;'], ['&unknown;', '&unknown;'], ['&#65', 'A'], ['&AMP', '&'], ['&nbsp;x', '\u00a0x'], ['&frac12', '½'],
    ['&NotNestedGreaterGreater;', '⪢̸'],
  ];
  for (const [input, want] of cases) assert.equal(htmlUnescape(input), want, input);
});

test('normalisation: ftfy repairs, double unescape, whitespace (Python set), lowercase', () => {
  // Expected values from ftfy 6.1.1 fix_text + html.unescape x2 + re.sub(r'\s+') + strip + lower.
  assert.equal(normalizePrompt('  A\u3000B\x1cC\t\n D  '), 'a bc d');
  assert.equal(normalizePrompt('&amp;lt;Cafe\u0301&amp;gt;'), '<café>');
  assert.equal(normalizePrompt('x\ufeffy'), 'xy');
  assert.equal(normalizePrompt('x\ufeffy', { ftfy: false }), 'x\ufeffy');
});

test('ftfy character repairs match ftfy.fix_text (mojibake repair aside)', () => {
  const cases: Array<[string, string]> = [
    ['\u201cHello\u201d \u2018world\u2019 \ufb01ne', '"Hello" \'world\' fine'],
    ['\uff08\uff4d\uff41\uff53\uff54\uff45\uff52\uff50\uff49\uff45\uff43\uff45\uff1a\uff11\uff0e\uff12\uff09\u3001\uff76\uff80\uff76\uff85', '(masterpiece:1.2)\u3001\u30ab\u30bf\u30ab\u30ca'],
    ['e&#769;', '\u00e9'],
    ['&amp;amp;amp;', '&'],
    ['P&EACUTE;REZ', 'P\u00c9REZ'],
    ['a<b &amp;amp; c\n&amp;amp;', 'a<b &amp;amp; c\n&amp;amp;'],
    ['\x1b[31mred\x1b[0m', 'red'],
    ['caf\x82 \x93q\x94', 'caf\' "q"'],
  ];
  for (const [input, want] of cases) assert.equal(fixText(input), want, JSON.stringify(input));
  // Fullwidth emphasis syntax typed with a Japanese IME tokenizes like ASCII.
  assert.deepEqual(hf.encode('\uff08cat\uff09'), hf.encode('(cat)'));
});

function flat(fs: PromptFragment[]): Array<[string, number] | 'BREAK'> {
  return fs.map((f) => (f.kind === 'text' ? [f.text, f.weight] : 'BREAK'));
}

test('emphasis parsing follows A1111 parse_prompt_attention', () => {
  assert.deepEqual(flat(parsePromptAttention('normal text')), [['normal text', 1]]);
  assert.deepEqual(flat(parsePromptAttention('an (important) word')), [['an ', 1], ['important', 1.1], [' word', 1]]);
  assert.deepEqual(flat(parsePromptAttention('(unbalanced')), [['unbalanced', 1.1]]);
  assert.deepEqual(flat(parsePromptAttention('[unbalanced')), [['unbalanced', 1 / 1.1]]);
  assert.deepEqual(flat(parsePromptAttention('\\(literal\\]')), [['(literal]', 1]]);
  assert.deepEqual(flat(parsePromptAttention('(unnecessary)(parens)')), [['unnecessaryparens', 1.1]]);
  assert.deepEqual(flat(parsePromptAttention('a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).')), [
    ['a ', 1], ['house', 1.5730000000000004], [' ', 1.1], ['on', 1], [' a ', 1.1], ['hill', 0.55], [', sun, ', 1.1],
    ['sky', 1.4641000000000006], ['.', 1.1],
  ]);
  assert.deepEqual(flat(parsePromptAttention('')), [['', 1]]);
  assert.deepEqual(flat(parsePromptAttention('a BREAK b')), [['a', 1], 'BREAK', ['b', 1]]);
  assert.deepEqual(flat(parsePromptAttention('a:1.2 b (c:x)')), [['a:1.2 b ', 1], ['c:x', 1.1]]);
  assert.deepEqual(flat(parsePromptAttention('(a:-0.5) \\\\ b')), [['a', -0.5], [' \\ b', 1]]);
});

test('a short prompt is one chunk equal to the plain encoding, with per-token weights', () => {
  const p = encodePrompt(hf, 'a (red:1.5) cat');
  assert.equal(p.chunks.length, 1);
  assert.equal(p.tokenCount, 3);
  assert.deepEqual(Array.from(p.chunks[0].ids), hf.encodeForClip('a red cat'));
  assert.deepEqual(Array.from(p.chunks[0].weights.slice(0, 5)), [1, 1, 1.5, 1, 1]);
  assert.deepEqual(encodePrompt(hf, '').chunks, [emptyChunk()]);
});

test('long prompts are split into 77-token chunks, backtracking to a recent comma', () => {
  const prompt = Array.from({ length: 40 }, (_, i) => `tag${i}`).join(', ');
  const p = encodePrompt(hf, prompt);
  const ids = hf.encode(prompt);
  assert.equal(p.tokenCount, ids.length);
  assert.equal(p.chunks.length, 2);
  const body = (k: number): number[] => Array.from(p.chunks[k].ids.slice(1)).filter((id) => id !== EOS_ID);
  // The first chunk ends right after a comma; nothing is lost or duplicated.
  assert.equal(body(0).at(-1), hf.tokenId(',</w>'));
  assert.deepEqual([...body(0), ...body(1)], ids);
  for (const c of p.chunks) {
    assert.equal(c.ids.length, 77);
    assert.equal(c.ids[0], BOS_ID);
    assert.equal(c.ids[76], EOS_ID);
  }
  // Without backtracking the first chunk is full.
  const q = encodePrompt(hf, prompt, { commaBacktrack: 0 });
  assert.deepEqual(Array.from(q.chunks[0].ids.slice(1, 76)), ids.slice(0, 75));
});

test('BREAK starts a new chunk; padChunks appends empty chunks', () => {
  const p = encodePrompt(hf, 'a cat BREAK a dog');
  assert.equal(p.chunks.length, 2);
  assert.deepEqual(Array.from(p.chunks[1].ids.slice(0, 4)), [BOS_ID, ...hf.encode('a dog'), EOS_ID]);
  const padded = padChunks(p, 3);
  assert.equal(padded.chunks.length, 3);
  assert.deepEqual(padded.chunks[2], emptyChunk());
  assert.equal(padChunks(p, 1), p);
});

test("SDXL's tokenizer 2 pads with id 0 after the EOS; chunks, BREAK and padChunks keep that padding", () => {
  assert.deepEqual(hf.encodeForClip('a cat', 77, OPENCLIP_PAD_ID), [BOS_ID, ...hf.encode('a cat'), EOS_ID, ...new Array<number>(77 - 4).fill(0)]);
  const prompt = `${Array.from({ length: 40 }, (_, i) => `tag${i}`).join(', ')} BREAK a (dog:1.2)`;
  const l = encodePrompt(hf, prompt);
  const g = padChunks(encodePrompt(hf, prompt, { padId: OPENCLIP_PAD_ID }), 4);
  assert.equal(g.chunks.length, 4);
  assert.equal(l.chunks.length, 3);
  for (const [i, c] of g.chunks.entries()) {
    const eos = c.ids.indexOf(EOS_ID);
    assert.ok(eos > 0, `chunk ${i} has an EOS`);
    assert.ok(c.ids.slice(eos + 1).every((id) => id === OPENCLIP_PAD_ID), `chunk ${i} pads with 0`);
    // Same tokens and weights as tokenizer 1's chunk: only the padding differs.
    if (i < l.chunks.length) {
      assert.deepEqual(Array.from(c.ids.slice(0, eos + 1)), Array.from(l.chunks[i].ids.slice(0, eos + 1)));
      assert.deepEqual(c.weights, l.chunks[i].weights);
    }
  }
  assert.deepEqual(g.chunks[3], emptyChunk(OPENCLIP_PAD_ID));
  // A full chunk (75 tokens) ends in EOS, no padding.
  const full = encodePrompt(hf, 'cat '.repeat(75), { padId: OPENCLIP_PAD_ID }).chunks[0].ids;
  assert.equal(full[76], EOS_ID);
});

test('applyPromptWeights multiplies per token and restores the mean', () => {
  const hidden = 3;
  const embeds = new Float32Array([1, 2, 3, -1, 0.5, 2, 4, 4, 4]);
  const weights = [1, 2, 0.5];
  const out = applyPromptWeights(embeds, weights, hidden);
  const mean = (a: Float32Array): number => a.reduce((s, v) => s + v, 0) / a.length;
  assert.ok(Math.abs(mean(out) - mean(embeds)) < 1e-6);
  // Ratios between tokens follow the weights.
  assert.ok(Math.abs(out[3] / out[0] - (2 * -1) / 1) < 1e-6);
  assert.ok(Math.abs(out[6] / out[0] - 0.5 * 4) < 1e-6);
  assert.deepEqual(applyPromptWeights(embeds, [1, 1, 1], hidden), embeds);
  const raw = applyPromptWeights(embeds, weights, hidden, undefined, false);
  assert.deepEqual(Array.from(raw.slice(3, 6)), [-2, 1, 4]);
  const inPlace = Float32Array.from(embeds);
  assert.equal(applyPromptWeights(inPlace, weights, hidden, inPlace), inPlace);
  assert.throws(() => applyPromptWeights(embeds, [1, 1], hidden), RangeError);
});
