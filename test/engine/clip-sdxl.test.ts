/**
 * SDXL's text side without fixtures: the OpenCLIP (`conditioner.embedders.1.model.*`) naming read
 * as Hugging Face CLIP (stacked q/k/v split by byte range, text_projection transposed), the pooled
 * `text_embeds` at each prompt's EOS, and the SDXL prompt encoding (concat per token, the empty
 * negative prompt as zeros, long prompts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { buildClipTextGraph, CLIP_TEXT_IO, eosRows } from '../../engine/graphs/clip-text.ts';
import { openSession } from '../../engine/parity/graph-run.ts';
import { concatPerToken, sdxlPromptEmbeddings } from '../../engine/pipeline/conditioning.ts';
import { ClipTokenizer } from '../../engine/tokenizer/index.ts';
import { openClipTextMap, openClipTextSource, transposeBytes } from '../../engine/weights/openclip-names.ts';
import { readWeightFloat32, memorySource, type WeightSource } from '../../engine/weights/source.ts';
import type { Dtype } from '../../engine/weights/safetensors.ts';
import { maxDiff, runGraph } from '../helpers/graph.ts';
import { rng } from '../helpers/rng.ts';

const cacheDir = mkdtempSync(join(tmpdir(), 'ipa-bridge-clip-sdxl-test-'));
process.on('exit', () => rmSync(cacheDir, { recursive: true, force: true }));

type T = { dtype: Dtype; shape: readonly number[]; bytes: Uint8Array };
const VOCAB = 49408;

function f32(shape: readonly number[], r: () => number, around = 0): T {
  const f = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => around + r() * 0.3);
  return { dtype: 'F32', shape, bytes: new Uint8Array(f.buffer) };
}

/** A tiny HF CLIPTextModelWithProjection (or without, projection 0), positions 77, the real vocabulary size. */
function hfText(seed: number, hidden: number, layers: number, projection: number): Map<string, T> {
  const r = rng(seed);
  const m = new Map<string, T>();
  m.set('text_model.embeddings.token_embedding.weight', f32([VOCAB, hidden], r));
  m.set('text_model.embeddings.position_embedding.weight', f32([77, hidden], r));
  for (let i = 0; i < layers; i++) {
    const p = `text_model.encoder.layers.${i}`;
    for (const n of ['layer_norm1', 'layer_norm2']) {
      m.set(`${p}.${n}.weight`, f32([hidden], r, 1));
      m.set(`${p}.${n}.bias`, f32([hidden], r));
    }
    for (const n of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
      m.set(`${p}.self_attn.${n}.weight`, f32([hidden, hidden], r));
      m.set(`${p}.self_attn.${n}.bias`, f32([hidden], r));
    }
    m.set(`${p}.mlp.fc1.weight`, f32([hidden * 4, hidden], r));
    m.set(`${p}.mlp.fc1.bias`, f32([hidden * 4], r));
    m.set(`${p}.mlp.fc2.weight`, f32([hidden, hidden * 4], r));
    m.set(`${p}.mlp.fc2.bias`, f32([hidden], r));
  }
  m.set('text_model.final_layer_norm.weight', f32([hidden], r, 1));
  m.set('text_model.final_layer_norm.bias', f32([hidden], r));
  if (projection) m.set('text_projection.weight', f32([projection, hidden], r));
  return m;
}

const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), (o += p.length));
  return out;
};

/** The same tensors in OpenCLIP naming, as SDXL single files store embedder 1. */
function toOpenClip(hf: Map<string, T>, prefix: string, layers: number): Map<string, T> {
  const g = (k: string) => hf.get(k)!;
  const m = new Map<string, T>();
  m.set(`${prefix}token_embedding.weight`, g('text_model.embeddings.token_embedding.weight'));
  m.set(`${prefix}positional_embedding`, g('text_model.embeddings.position_embedding.weight'));
  for (let i = 0; i < layers; i++) {
    const h = `text_model.encoder.layers.${i}`;
    const o = `${prefix}transformer.resblocks.${i}`;
    for (const [from, to] of [['layer_norm1', 'ln_1'], ['layer_norm2', 'ln_2'], ['self_attn.out_proj', 'attn.out_proj'], ['mlp.fc1', 'mlp.c_fc'], ['mlp.fc2', 'mlp.c_proj']]) {
      m.set(`${o}.${to}.weight`, g(`${h}.${from}.weight`));
      m.set(`${o}.${to}.bias`, g(`${h}.${from}.bias`));
    }
    const q = g(`${h}.self_attn.q_proj.weight`);
    m.set(`${o}.attn.in_proj_weight`, { dtype: 'F32', shape: [q.shape[0] * 3, q.shape[1]], bytes: cat(...['q', 'k', 'v'].map((x) => g(`${h}.self_attn.${x}_proj.weight`).bytes)) });
    m.set(`${o}.attn.in_proj_bias`, { dtype: 'F32', shape: [q.shape[0] * 3], bytes: cat(...['q', 'k', 'v'].map((x) => g(`${h}.self_attn.${x}_proj.bias`).bytes)) });
  }
  m.set(`${prefix}ln_final.weight`, g('text_model.final_layer_norm.weight'));
  m.set(`${prefix}ln_final.bias`, g('text_model.final_layer_norm.bias'));
  const p = g('text_projection.weight');
  m.set(`${prefix}text_projection`, { dtype: 'F32', shape: [p.shape[1], p.shape[0]], bytes: transposeBytes(p.bytes, p.shape[0], p.shape[1], 4) });
  m.set(`${prefix}logit_scale`, f32([], rng(1)));
  return m;
}

const PREFIX = 'conditioner.embedders.1.model.';

test('OpenCLIP bigG naming reads as HF CLIP: q/k/v thirds of in_proj, text_projection transposed, logit_scale ignored', () => {
  const hf = hfText(3, 8, 2, 6);
  const oc = openClipTextSource(memorySource('sdxl.safetensors', toOpenClip(hf, PREFIX, 2)), PREFIX);
  assert.deepEqual(new Set(oc.keys()), new Set(hf.keys()));
  for (const [k, t] of hf) {
    const got = oc.get(k)!;
    assert.deepEqual(got.shape, t.shape, k);
    assert.deepEqual(readWeightFloat32(got), readWeightFloat32({ ...got, data: { bytes: t.bytes } }), k);
  }
});

test('an unknown key under the OpenCLIP prefix is an error naming the file and the key', () => {
  const m = toOpenClip(hfText(3, 8, 2, 6), PREFIX, 2);
  m.set(`${PREFIX}transformer.resblocks.0.attn.mystery`, f32([2], rng(2)));
  assert.throws(() => openClipTextMap([...m.keys()], PREFIX, 'x.safetensors'), /x\.safetensors: 1 tensor\(s\) not understood.*resblocks\.0\.attn\.mystery/);
});

test('fp16 text_projection is transposed element by element', () => {
  const bytes = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]); // [2, 3] of 2-byte elements
  assert.deepEqual(Array.from(transposeBytes(bytes, 2, 3, 2)), [1, 2, 7, 8, 3, 4, 9, 10, 5, 6, 11, 12]);
});

test('text_embeds = text_projection(final LN output at the EOS row), EOS found by the largest id whatever the padding', async () => {
  const hf = hfText(5, 8, 2, 6);
  const src = memorySource('g.safetensors', hf);
  const ocSrc = openClipTextSource(memorySource('sdxl.safetensors', toOpenClip(hf, PREFIX, 2)), PREFIX);
  const ids = new BigInt64Array(2 * 77);
  const rows = [[49406, 320, 1929, 49407], [49406, 49407]];
  rows.forEach((r, b) => r.forEach((v, i) => (ids[b * 77 + i] = BigInt(v)))); // rest 0: tokenizer 2's padding
  assert.deepEqual(Array.from(eosRows(ids, 77)), [3n, 77n + 1n]);
  const feeds = { input_ids: new ort.Tensor('int64', ids, [2, 77]), eos_rows: new ort.Tensor('int64', eosRows(ids, 77), [2]) };
  const a = await runGraph(buildClipTextGraph(src, { heads: 2 }), feeds, cacheDir);
  const b = await runGraph(buildClipTextGraph(ocSrc, { heads: 2 }), feeds, cacheDir);
  assert.deepEqual(a.text_embeds.dims, [2, 6]);
  assert.equal(maxDiff(a.text_embeds.data, b.text_embeds.data), 0);
  assert.equal(maxDiff(a.hidden_states_penultimate.data, b.hidden_states_penultimate.data), 0);
  // By hand: P @ last[b, eos].
  const P = readWeightFloat32({ ...src.get('text_projection.weight')! });
  for (const [bi, row] of [[0, 3], [1, 1]]) {
    const x = a.last_hidden_state.data.subarray((bi * 77 + row) * 8, (bi * 77 + row + 1) * 8);
    for (let o = 0; o < 6; o++) {
      let s = 0;
      for (let i = 0; i < 8; i++) s += P[o * 8 + i] * x[i];
      assert.ok(Math.abs(s - a.text_embeds.data[bi * 6 + o]) < 1e-5);
    }
  }
  // An encoder without a projection keeps SD1.5's inputs and outputs.
  hf.delete('text_projection.weight');
  const plain = buildClipTextGraph(memorySource('l.safetensors', hf), { heads: 2 });
  const s = await openSession(plain, undefined, cacheDir);
  assert.deepEqual(s.inputNames, [CLIP_TEXT_IO.input]);
  assert.ok(!s.outputNames.includes(CLIP_TEXT_IO.textEmbeds));
  await s.release();
});

test('SDXL prompt encoding: concat per token, pooled from the first chunk, empty negative = zeros, long prompts chunked for both encoders', async () => {
  const tok = ClipTokenizer.fromDirectory(join(process.env.IPA_FIXTURES ?? join(import.meta.dirname, '../../../shared/fixtures'), 'tokenizer'));
  const l: WeightSource = memorySource('l.safetensors', hfText(7, 8, 2, 0));
  const g: WeightSource = memorySource('g.safetensors', hfText(9, 12, 2, 5));
  const enc = { clipL: await openSession(buildClipTextGraph(l, { heads: 2 }), undefined, cacheDir), openClipG: await openSession(buildClipTextGraph(g, { heads: 2 }), undefined, cacheDir) };
  try {
    const e = await sdxlPromptEmbeddings(enc, tok, 'a red fox', '');
    assert.equal(e.dim, 20);
    assert.equal(e.tokens, 77);
    assert.equal(e.cond.length, 77 * 20);
    assert.ok(e.uncond.every((v) => v === 0) && e.uncond.length === e.cond.length);
    assert.ok(e.pooledUncond.every((v) => v === 0) && e.pooledCond.length === 5);
    assert.ok(e.pooledCond.some((v) => v !== 0));
    // An explicit negative prompt is encoded.
    const n = await sdxlPromptEmbeddings(enc, tok, 'a red fox', 'blurry');
    assert.ok(n.uncond.some((v) => v !== 0) && n.pooledUncond.some((v) => v !== 0));
    assert.deepEqual(n.cond, e.cond);
    // The concatenation: the CLIP-L half of each token is the CLIP-L encoder's hs[-2].
    const ids = new BigInt64Array(77).fill(49407n);
    tok.encodeForClip('a red fox').forEach((v, i) => (ids[i] = BigInt(v)));
    const lOut = await enc.clipL.run({ input_ids: new ort.Tensor('int64', ids, [1, 77]) });
    const lHidden = lOut[CLIP_TEXT_IO.penultimate].data as Float32Array;
    const gOnly = new Float32Array(77 * 12);
    assert.equal(maxDiff(concatPerToken(lHidden, 8, gOnly, 12).filter((_, i) => i % 20 < 8), e.cond.filter((_, i) => i % 20 < 8)), 0);
    // BREAK / long prompts: chunks on both sides, the uncond padded to the same length.
    const long = await sdxlPromptEmbeddings(enc, tok, 'a red fox BREAK (in the snow:1.3)', 'blurry');
    assert.equal(long.tokens, 154);
    assert.equal(long.uncond.length, long.cond.length);
    assert.deepEqual(long.pooledCond, e.pooledCond); // pooled = first chunk's ('a red fox')
  } finally {
    await enc.clipL.release();
    await enc.openClipG.release();
  }
});

test("SDXL base's exact text-encoder key names and shapes (single file) map completely and read as the released towers", async () => {
  const { ldmTextMap, mappedSource } = await import('../../engine/weights/names.ts');
  const { clipTextConfig } = await import('../../engine/graphs/clip-text.ts');
  const shapes = new Map<string, readonly number[]>();
  const g = 'conditioner.embedders.1.model.';
  shapes.set(`${g}token_embedding.weight`, [49408, 1280]);
  shapes.set(`${g}positional_embedding`, [77, 1280]);
  shapes.set(`${g}ln_final.weight`, [1280]);
  shapes.set(`${g}ln_final.bias`, [1280]);
  shapes.set(`${g}text_projection`, [1280, 1280]);
  shapes.set(`${g}logit_scale`, []);
  for (let i = 0; i < 32; i++) {
    const r = `${g}transformer.resblocks.${i}.`;
    for (const n of ['ln_1', 'ln_2']) (shapes.set(`${r}${n}.weight`, [1280]), shapes.set(`${r}${n}.bias`, [1280]));
    shapes.set(`${r}attn.in_proj_weight`, [3840, 1280]);
    shapes.set(`${r}attn.in_proj_bias`, [3840]);
    shapes.set(`${r}attn.out_proj.weight`, [1280, 1280]);
    shapes.set(`${r}attn.out_proj.bias`, [1280]);
    shapes.set(`${r}mlp.c_fc.weight`, [5120, 1280]);
    shapes.set(`${r}mlp.c_fc.bias`, [5120]);
    shapes.set(`${r}mlp.c_proj.weight`, [1280, 5120]);
    shapes.set(`${r}mlp.c_proj.bias`, [1280]);
  }
  const l = 'conditioner.embedders.0.transformer.text_model.';
  shapes.set(`${l}embeddings.token_embedding.weight`, [49408, 768]);
  shapes.set(`${l}embeddings.position_embedding.weight`, [77, 768]);
  shapes.set(`${l}embeddings.position_ids`, [1, 77]);
  shapes.set(`${l}final_layer_norm.weight`, [768]);
  shapes.set(`${l}final_layer_norm.bias`, [768]);
  for (let i = 0; i < 12; i++) {
    const r = `${l}encoder.layers.${i}.`;
    for (const n of ['layer_norm1', 'layer_norm2']) (shapes.set(`${r}${n}.weight`, [768]), shapes.set(`${r}${n}.bias`, [768]));
    for (const n of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) (shapes.set(`${r}self_attn.${n}.weight`, [768, 768]), shapes.set(`${r}self_attn.${n}.bias`, [768]));
    shapes.set(`${r}mlp.fc1.weight`, [3072, 768]);
    shapes.set(`${r}mlp.fc1.bias`, [3072]);
    shapes.set(`${r}mlp.fc2.weight`, [768, 3072]);
    shapes.set(`${r}mlp.fc2.bias`, [768]);
  }
  // Shapes only (no bytes): every tensor is an empty F16 placeholder.
  const file: WeightSource = {
    description: 'sd_xl_base_1.0.safetensors',
    keys: () => [...shapes.keys()],
    get: (key) => {
      const shape = shapes.get(key);
      return shape && { key, dtype: 'F16', shape, data: { bytes: new Uint8Array(shape.reduce((a, b) => a * b, 1) * (key.endsWith('text_projection') ? 2 : 0)) }, origin: key };
    },
  };
  const bigG = clipTextConfig(openClipTextSource(file, g));
  assert.deepEqual([bigG.layers, bigG.hidden, bigG.heads, bigG.intermediate, bigG.act, bigG.projection, bigG.vocab, bigG.positions], [32, 1280, 20, 5120, 'gelu', 1280, 49408, 77]);
  assert.deepEqual(openClipTextSource(file, g).get('text_model.encoder.layers.31.self_attn.v_proj.weight')?.shape, [1280, 1280]);
  const clipL = clipTextConfig(mappedSource(file, ldmTextMap(shapes, 'conditioner.embedders.0.transformer.'), 'clip-l'));
  assert.deepEqual([clipL.layers, clipL.hidden, clipL.heads, clipL.act, clipL.projection], [12, 768, 12, 'quick_gelu', undefined]);
});
