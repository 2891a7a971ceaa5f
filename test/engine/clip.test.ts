/**
 * CLIP text / vision graphs and the CLIP image preprocessing: failure paths, prefix handling,
 * semantics that need no reference (causality, clip-skip LayerNorm), the fp16 (CUDA) flavour built
 * and run on the CPU provider, and preprocessing of non-square images.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maxDiff, runGraph } from '../helpers/graph.ts';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { BuiltGraph } from '../../engine/onnx/builder.ts';
import { memorySource, type WeightSource } from '../../engine/weights/source.ts';
import { SafetensorsFile, type Dtype } from '../../engine/weights/safetensors.ts';
import { buildClipTextGraph, clipTextConfig } from '../../engine/graphs/clip-text.ts';
import { buildClipVisionGraph, clipVisionConfig } from '../../engine/graphs/clip-vision.ts';
import { preprocessClipImage, shortestEdgeSize, CLIP_MEAN, CLIP_STD } from '../../engine/preprocess/clip-image.ts';
import { rng } from '../helpers/rng.ts';

const cacheDir = mkdtempSync(join(tmpdir(), 'ipa-bridge-clip-test-'));
process.on('exit', () => rmSync(cacheDir, { recursive: true, force: true }));

type T = { dtype: Dtype; shape: readonly number[]; bytes: Uint8Array };


function tensors(spec: Record<string, readonly number[]>, seed: number, prefix = ''): Map<string, T> {
  const r = rng(seed);
  const m = new Map<string, T>();
  for (const [k, shape] of Object.entries(spec)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const f = Float32Array.from({ length: n }, () => (k.endsWith('norm1.weight') || k.endsWith('norm2.weight') || k.endsWith('layernorm.weight') || k.endsWith('layer_norm.weight') || k.endsWith('layrnorm.weight') ? 1 + r() * 0.2 : r()));
    m.set(prefix + k, { dtype: 'F32', shape, bytes: new Uint8Array(f.buffer) });
  }
  return m;
}

function encoderSpec(root: string, layers: number, hidden: number, inter: number): Record<string, number[]> {
  const s: Record<string, number[]> = {};
  for (let i = 0; i < layers; i++) {
    const p = `${root}.encoder.layers.${i}`;
    for (const n of ['layer_norm1', 'layer_norm2']) {
      s[`${p}.${n}.weight`] = [hidden];
      s[`${p}.${n}.bias`] = [hidden];
    }
    for (const n of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
      s[`${p}.self_attn.${n}.weight`] = [hidden, hidden];
      s[`${p}.self_attn.${n}.bias`] = [hidden];
    }
    s[`${p}.mlp.fc1.weight`] = [inter, hidden];
    s[`${p}.mlp.fc1.bias`] = [inter];
    s[`${p}.mlp.fc2.weight`] = [hidden, inter];
    s[`${p}.mlp.fc2.bias`] = [hidden];
  }
  return s;
}

function tinyTextEncoder(prefix = '', opts: { vocab?: number; positions?: number; hidden?: number; layers?: number } = {}): WeightSource {
  const { vocab = 50, positions = 8, hidden = 8, layers = 3 } = opts;
  const spec: Record<string, number[]> = {
    'text_model.embeddings.token_embedding.weight': [vocab, hidden],
    'text_model.embeddings.position_embedding.weight': [positions, hidden],
    'text_model.final_layer_norm.weight': [hidden],
    'text_model.final_layer_norm.bias': [hidden],
    ...encoderSpec('text_model', layers, hidden, hidden * 4),
  };
  return memorySource(`tiny-text-encoder${prefix ? ` (${prefix})` : ''}.safetensors`, tensors(spec, 7, prefix));
}

function tinyVisionEncoder(opts: { hidden?: number; layers?: number; patch?: number; grid?: number; proj?: number } = {}): WeightSource {
  const { hidden = 8, layers = 2, patch = 4, grid = 3, proj = 6 } = opts;
  const spec: Record<string, number[]> = {
    'vision_model.embeddings.class_embedding': [hidden],
    'vision_model.embeddings.patch_embedding.weight': [hidden, 3, patch, patch],
    'vision_model.embeddings.position_embedding.weight': [grid * grid + 1, hidden],
    'vision_model.pre_layrnorm.weight': [hidden],
    'vision_model.pre_layrnorm.bias': [hidden],
    'vision_model.post_layernorm.weight': [hidden],
    'vision_model.post_layernorm.bias': [hidden],
    'visual_projection.weight': [proj, hidden],
    ...encoderSpec('vision_model', layers, hidden, hidden * 4),
  };
  return memorySource('tiny-image-encoder.safetensors', tensors(spec, 11));
}

const run = (built: BuiltGraph, feeds: Record<string, ort.Tensor>) => runGraph(built, feeds, cacheDir);

const ids = (rows: number[][]): ort.Tensor => new ort.Tensor('int64', BigInt64Array.from(rows.flat(), (v) => BigInt(v)), [rows.length, rows[0].length]);

test('a CLIP vision file given as the text encoder: error names the file and the missing key', () => {
  const vision = tinyVisionEncoder();
  assert.throws(() => buildClipTextGraph(vision), (e: Error) => {
    assert.match(e.message, /tiny-image-encoder\.safetensors/);
    assert.match(e.message, /missing tensor "text_model\.embeddings\.token_embedding\.weight"/);
    assert.match(e.message, /CLIP vision encoder/);
    return true;
  });
});

test('a CLIP text encoder given as the image encoder: error names the file and the missing key', () => {
  assert.throws(() => buildClipVisionGraph(tinyTextEncoder()), /tiny-text-encoder\.safetensors: not a CLIP vision encoder — missing tensor "vision_model\.embeddings\.patch_embedding\.weight"/);
});

test('a text encoder missing its final LayerNorm: error names the file and the missing key', () => {
  const full = tinyTextEncoder();
  const m = new Map<string, T>();
  for (const k of full.keys()) if (k !== 'text_model.final_layer_norm.weight') {
    const t = full.get(k)!;
    m.set(k, { dtype: t.dtype, shape: t.shape, bytes: (t.data as { bytes: Uint8Array }).bytes });
  }
  assert.throws(() => buildClipTextGraph(memorySource('broken.safetensors', m)), /broken\.safetensors: not a CLIP text encoder — missing tensor "text_model\.final_layer_norm\.weight"/);
});

test('text encoder config comes from the tensors; heads that do not divide the width are refused', () => {
  const cfg = clipTextConfig(tinyTextEncoder('', { hidden: 8, layers: 3, positions: 8, vocab: 50 }), { heads: 2 });
  assert.deepEqual({ layers: cfg.layers, hidden: cfg.hidden, heads: cfg.heads, intermediate: cfg.intermediate, positions: cfg.positions, vocab: cfg.vocab, act: cfg.act }, { layers: 3, hidden: 8, heads: 2, intermediate: 32, positions: 8, vocab: 50, act: 'quick_gelu' });
  assert.throws(() => clipTextConfig(tinyTextEncoder(), { heads: 3 }), /3 attention heads do not divide the hidden size 8/);
  const v = clipVisionConfig(tinyVisionEncoder(), { heads: 2 });
  assert.deepEqual({ imageSize: v.imageSize, tokens: v.tokens, patch: v.patch, projection: v.projection, act: v.act }, { imageSize: 12, tokens: 10, patch: 4, projection: 6, act: 'gelu' });
});

test('single-file (cond_stage_model.transformer.) naming gives the same outputs; causal; clip-skip LayerNorm', async () => {
  const hf = tinyTextEncoder();
  const ldm = tinyTextEncoder('cond_stage_model.transformer.');
  const a = [[1, 5, 9, 3, 2, 2, 2, 2], [1, 4, 2, 2, 2, 2, 2, 2]];
  const b = [[1, 5, 9, 3, 7, 8, 11, 12], [1, 4, 2, 2, 2, 2, 2, 2]]; // later tokens changed in row 0
  const gHf = buildClipTextGraph(hf, { heads: 2 });
  const gLdm = buildClipTextGraph(ldm, { heads: 2 });
  const rHf = await run(gHf, { input_ids: ids(a) });
  const rLdm = await run(gLdm, { input_ids: ids(a) });
  for (const k of ['last_hidden_state', 'hidden_states_penultimate', 'hidden_states_penultimate_ln']) {
    assert.deepEqual(rHf[k].dims, [2, 8, 8]);
    assert.ok(maxDiff(rHf[k].data, rLdm[k].data) === 0, k);
  }
  // Causal: positions 0..3 of row 0 do not see tokens 4..7.
  const rB = await run(gHf, { input_ids: ids(b) });
  const H = 8;
  const first = (x: Float32Array): Float32Array => x.subarray(0, 4 * H);
  assert.ok(maxDiff(first(rHf.last_hidden_state.data), first(rB.last_hidden_state.data)) < 1e-6);
  assert.ok(maxDiff(rHf.last_hidden_state.data.subarray(4 * H, 8 * H), rB.last_hidden_state.data.subarray(4 * H, 8 * H)) > 1e-3);
  // hidden_states_penultimate_ln = final_layer_norm(hidden_states_penultimate).
  const w = new Float32Array((hf.get('text_model.final_layer_norm.weight')!.data as { bytes: Uint8Array }).bytes.buffer);
  const bias = new Float32Array((hf.get('text_model.final_layer_norm.bias')!.data as { bytes: Uint8Array }).bytes.buffer);
  const pen = rHf.hidden_states_penultimate.data;
  const ln = new Float32Array(pen.length);
  for (let r = 0; r < pen.length / H; r++) {
    const row = pen.subarray(r * H, r * H + H);
    const mean = row.reduce((s, v) => s + v, 0) / H;
    const v = row.reduce((s, x) => s + (x - mean) ** 2, 0) / H;
    for (let i = 0; i < H; i++) ln[r * H + i] = ((row[i] - mean) / Math.sqrt(v + 1e-5)) * w[i] + bias[i];
  }
  assert.ok(maxDiff(ln, rHf.hidden_states_penultimate_ln.data) < 1e-5);
});

test('CUDA (fp16) flavours build, load and match the fp32 graphs within fp16 precision', async () => {
  const text = tinyTextEncoder();
  const vision = tinyVisionEncoder();
  const feedsT = { input_ids: ids([[1, 5, 9, 3, 2, 2, 2, 2]]) };
  const r = rng(3);
  const px = new ort.Tensor('float32', Float32Array.from({ length: 2 * 3 * 12 * 12 }, () => r() * 2), [2, 3, 12, 12]);
  const t32 = await run(buildClipTextGraph(text, { heads: 2 }), feedsT);
  const t16 = await run(buildClipTextGraph(text, { heads: 2, flavour: 'cuda' }), feedsT);
  for (const k of Object.keys(t32)) assert.ok(maxDiff(t32[k].data, t16[k].data) < 2e-2, `text ${k}`);
  const v32 = await run(buildClipVisionGraph(vision, { heads: 2 }), { pixel_values: px });
  const v16 = await run(buildClipVisionGraph(vision, { heads: 2, flavour: 'cuda' }), { pixel_values: px });
  for (const k of Object.keys(v32)) assert.ok(maxDiff(v32[k].data, v16[k].data) < 2e-2, `vision ${k}`);
  assert.deepEqual(v32.image_embeds.dims, [2, 6]);
  assert.deepEqual(v32.hidden_states_penultimate.dims, [2, 10, 8]);
});

function solid(width: number, height: number, rgb: [number, number, number], channels: 3 | 4 = 3): Uint8Array {
  const d = new Uint8Array(width * height * channels);
  for (let i = 0; i < width * height; i++) {
    d.set(rgb, i * channels);
    if (channels === 4) d[i * channels + 3] = 128;
  }
  return d;
}

test('preprocessing a landscape image: shortest side to 224, horizontal center crop', () => {
  assert.deepEqual(shortestEdgeSize(300, 200, 224), { width: 336, height: 224 });
  assert.deepEqual(shortestEdgeSize(200, 300, 224), { width: 224, height: 336 });
  assert.deepEqual(shortestEdgeSize(641, 480, 224), { width: 299, height: 224 });
  // 448x224: no resize, crop columns 112..335.
  const W = 448;
  const H = 224;
  const img = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) img.set([x % 256, y, (x * 7 + y) % 256], (y * W + x) * 3);
  const { data, shape } = preprocessClipImage({ data: img, width: W, height: H, channels: 3 });
  assert.deepEqual(shape, [1, 3, 224, 224]);
  for (const [y, x] of [[0, 0], [10, 200], [223, 223], [100, 5]]) {
    for (let c = 0; c < 3; c++) {
      const exp = (img[(y * W + x + 112) * 3 + c] / 255 - CLIP_MEAN[c]) / CLIP_STD[c];
      assert.ok(Math.abs(data[c * 224 * 224 + y * 224 + x] - exp) < 1e-6);
    }
  }
});

test('preprocessing: a solid colour stays exact through the bicubic downscale; RGBA drops alpha', () => {
  for (const [w, h] of [[1000, 333], [250, 700], [224, 224], [100, 60]]) {
    const { data } = preprocessClipImage({ data: solid(w, h, [200, 30, 90], 4), width: w, height: h, channels: 4 });
    for (let c = 0; c < 3; c++) {
      const exp = ([200, 30, 90][c] / 255 - CLIP_MEAN[c]) / CLIP_STD[c];
      const plane = data.subarray(c * 224 * 224, (c + 1) * 224 * 224);
      assert.ok(plane.every((v) => Math.abs(v - exp) < 1e-6), `${w}x${h} channel ${c}`);
    }
  }
  const onWhite = preprocessClipImage({ data: solid(300, 300, [0, 0, 0], 4), width: 300, height: 300, channels: 4 }, { background: [255, 255, 255] });
  assert.ok(Math.abs(onWhite.data[0] - (127 / 255 - CLIP_MEAN[0]) / CLIP_STD[0]) < 1e-6);
  assert.throws(() => preprocessClipImage({ data: new Uint8Array(10), width: 4, height: 4, channels: 3 }), /10 bytes for a 4x4x3 image/);
});

const fixture = join(import.meta.dirname, '../../../shared/fixtures/clip-vision-preprocess/io.safetensors');
test('preprocessing the fixture image turned sideways matches the transposed reference within 2 uint8 levels', { skip: !existsSync(fixture) && 'no fixtures' }, () => {
  const f = SafetensorsFile.open(fixture);
  const [H, W] = f.info('in.image_uint8').shape;
  const src = f.readUint8('in.image_uint8');
  const exp = f.readFloat32('out.pixel_values');
  const t = new Uint8Array(src.length); // [W, H, 3]: landscape
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < 3; c++) t[(x * H + y) * 3 + c] = src[(y * W + x) * 3 + c];
  const { data } = preprocessClipImage({ data: t, width: H, height: W, channels: 3 });
  let m = 0;
  // In uint8 levels: Pillow resizes horizontally first into 8 bits, so transposing moves rounding.
  for (let c = 0; c < 3; c++) for (let y = 0; y < 224; y++) for (let x = 0; x < 224; x++) m = Math.max(m, Math.abs(data[c * 50176 + x * 224 + y] - exp[c * 50176 + y * 224 + x]) * CLIP_STD[c] * 255);
  assert.ok(m <= 2 + 1e-3, `max error ${m.toFixed(3)} uint8 levels`);
});
