/**
 * The real engine on tiny generated models (real graphs, real onnxruntime sessions): txt2img with
 * an image prompt and a ControlNet, seeds that reproduce, img2img and inpaint, cancellation,
 * progress, and the errors a user sees.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registryLocator } from '../../bridge/models/locator.ts';
import { CancelledError, type Engine, type GenerateParams, type GenerateRequest, type RgbaImage } from '../../engine/api.ts';
import { createEngine, writeTinyModels } from '../../engine/index.ts';
import { encodeSafetensors } from '../../engine/weights/safetensors.ts';
import { writeTinyInpaintingCheckpoint } from '../../engine/synthetic/tiny.ts';
import * as S from '../../engine/synthetic/specs.ts';
import { writeSynthetic } from '../../engine/synthetic/write.ts';
import { buildDetector, buildRecognizer, canvas } from '../helpers/tiny-face-models.ts';

const dir = mkdtempSync(join(tmpdir(), 'ipa-engine-'));
let engine: Engine;
const W = 64;
const params: GenerateParams = { prompt: 'a (red:1.2) fox', negativePrompt: 'blurry', seed: 5, steps: 3, sampler: 'euler-ancestral', guidance: 6, width: W, height: W, strength: 1, batchSize: 1, clipSkip: 1 };
const pattern = (w: number, h: number, k = 7): RgbaImage => ({ width: w, height: h, data: Uint8Array.from({ length: w * h * 4 }, (_, i) => (i % 4 === 3 ? 255 : (i * k) % 251)) });
const job = (p: Partial<GenerateParams> = {}, extra: Partial<GenerateRequest> = {}): GenerateRequest => ({ params: { ...params, ...p }, references: [], controls: [], ...extra });

before(async () => {
  await writeTinyModels(join(dir, 'models'));
  engine = await createEngine({ provider: 'cpu', models: registryLocator(join(dir, 'models')), cacheDir: join(dir, 'cache') });
});
after(() => engine.dispose());

test('txt2img with an image prompt and a ControlNet; the same seed reproduces the image exactly', async () => {
  const req = job({}, {
    references: [{ image: pattern(90, 70), adapter: 'base', scale: 0.8, preset: 'style', range: { start: 0, end: 1 }, hash: 'ref-a' }],
    controls: [{ image: pattern(W, W, 3), type: 'pose', preprocess: 'none', scale: 1, range: { start: 0, end: 0.7 }, guessMode: false }],
  });
  const steps: number[] = [];
  const a = await engine.generate(req, { onProgress: (e) => steps.push(e.step), wantPreview: true });
  const b = await engine.generate(req);
  assert.deepEqual(steps, [1, 2, 3]);
  assert.equal(a.images.length, 1);
  assert.equal(a.images[0].data.length, W * W * 4);
  assert.deepEqual(a.images[0].data, b.images[0].data, 'same seed, same image');
  const c = await engine.generate({ ...req, params: { ...req.params, seed: 6 } });
  assert.notDeepEqual(a.images[0].data, c.images[0].data, 'another seed, another image');
  const withoutRef = await engine.generate({ ...req, references: [] });
  assert.notDeepEqual(a.images[0].data, withoutRef.images[0].data, 'the image prompt changes the result');
  assert.equal(a.metadata.params.seed, 5);
  assert.equal(a.metadata.references[0].scale, 0.8);
  assert.ok(a.metadata.models.checkpoint.name.includes('tiny-sd15'));
  assert.ok(a.metadata.models['ipadapter:0']);
  assert.ok(a.metadata.timings.ms_per_step >= 0);
  assert.equal(a.controlImages?.length, 1);
});

test('every sampler runs; batch images use seed, seed+1, ...', async () => {
  for (const sampler of ['ddim', 'euler', 'euler-ancestral', 'dpmpp-2m', 'dpmpp-2m-karras', 'lcm', 'unipc'] as const) {
    const r = await engine.generate(job({ sampler, guidance: sampler === 'lcm' ? 1 : 6 }));
    assert.ok(r.images[0].data.some((v, i) => i % 4 !== 3 && v !== r.images[0].data[0]), `${sampler} produced a flat image`);
  }
  const batch = await engine.generate(job({ batchSize: 2, seed: 10 }));
  const single = await engine.generate(job({ seed: 11 }));
  assert.equal(batch.images.length, 2);
  assert.deepEqual(batch.images[1].data, single.images[0].data);
});

test('inpaint leaves pixels outside the mask exactly as they were', async () => {
  const init = pattern(W, W, 5);
  const mask = { width: W, height: W, data: Uint8Array.from({ length: W * W }, (_, i) => (i % W >= W / 2 ? 255 : 0)) };
  const r = await engine.generate(job({ strength: 0.7 }, { init, mask }));
  const out = r.images[0].data;
  let changedInside = 0;
  for (let y = 0; y < W; y++) {
    for (let x = 0; x < W; x++) {
      for (let c = 0; c < 3; c++) {
        const i = (y * W + x) * 4 + c;
        if (x < W / 2) assert.equal(out[i], init.data[i], `pixel ${x},${y} outside the mask changed`);
        else if (out[i] !== init.data[i]) changedInside++;
      }
    }
  }
  assert.ok(changedInside > 100, 'the masked half was regenerated');
  const img2img = await engine.generate(job({ strength: 0.5 }, { init }));
  assert.equal(img2img.images[0].width, W);
});

test('cancellation stops between steps', async () => {
  const ac = new AbortController();
  let seen = 0;
  await assert.rejects(
    engine.generate(job({ steps: 20 }), { signal: ac.signal, onProgress: (e) => { seen = e.step; if (e.step === 2) ac.abort(); } }),
    (e: unknown) => e instanceof CancelledError,
  );
  assert.equal(seen, 2);
});

test('a missing model names the command that fetches it', async () => {
  await assert.rejects(
    engine.generate(job({}, { references: [{ image: pattern(32, 32), adapter: 'plus', scale: 1, preset: 'reference', range: { start: 0, end: 1 } }] })),
    (e: Error & { code?: string }) => e.code === 'model-missing' && /models pull sd15-style/.test(e.message),
  );
  await assert.rejects(engine.generate(job({ width: 60 })), /multiples of 8/);
});

test('control preprocessing runs in the engine: canny here, pose detection names the missing annotators', async () => {
  const square: RgbaImage = { width: W, height: W, data: Uint8Array.from({ length: W * W * 4 }, (_, i) => { const p = i >> 2; const x = p % W; const y = Math.floor(p / W); return i % 4 === 3 ? 255 : x > 16 && x < 48 && y > 16 && y < 48 ? 255 : 0; }) };
  const r = await engine.generate(job({}, { controls: [{ image: square, type: 'pose', preprocess: 'canny', scale: 1, range: { start: 0, end: 1 }, guessMode: false }] }));
  const edges = r.controlImages![0];
  const white = edges.data.filter((v, i) => i % 4 === 0 && v === 255).length;
  assert.ok(white > 60 && white < 400, `canny edge pixels: ${white}`);
  await assert.rejects(
    engine.generate(job({}, { controls: [{ image: pattern(W, W), type: 'pose', preprocess: 'pose-detect', scale: 1, range: { start: 0, end: 1 }, guessMode: false }] })),
    (e: Error & { field?: string }) => /models pull annotators/.test(e.message) && e.field === 'controls[0]',
  );
  await assert.rejects(
    engine.generate(job({}, { references: [{ image: pattern(32, 32), adapter: 'faceid', scale: 1, preset: 'reference', range: { start: 0, end: 1 } }] })),
    (e: Error & { code?: string }) => e.code === 'model-missing' && /models pull faceid/.test(e.message),
  );
});

test('a kohya LoRA is merged into the UNet and the text encoder with its strength', async () => {
  const r = 4;
  const rand = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + k) * 0.5);
  const lora: Parameters<typeof encodeSafetensors>[0] = {};
  const add = (name: string, out: number, inp: number, k: number) => {
    lora[`${name}.lora_down.weight`] = { dtype: 'F32', shape: [r, inp], data: rand(r * inp, k) };
    lora[`${name}.lora_up.weight`] = { dtype: 'F32', shape: [out, r], data: rand(out * r, k + 1) };
    lora[`${name}.alpha`] = { dtype: 'F32', shape: [], data: new Float32Array([r]) };
  };
  add('lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q', 16, 16, 1);
  add('lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_k', 32, 16, 2);
  add('lora_te_text_model_encoder_layers_0_self_attn_q_proj', 16, 16, 3);
  mkdirSync(join(dir, 'models', 'loras'), { recursive: true });
  writeFileSync(join(dir, 'models', 'loras', 'tiny-style.safetensors'), encodeSafetensors(lora));
  const base = await engine.generate(job());
  const zero = await engine.generate(job({ loras: [{ model: 'tiny-style.safetensors', strength: 0 }] }));
  const full = await engine.generate(job({ loras: [{ model: 'tiny-style.safetensors', strength: 1 }] }));
  assert.deepEqual(zero.images[0].data, base.images[0].data, 'strength 0 = no LoRA');
  assert.notDeepEqual(full.images[0].data, base.images[0].data, 'the LoRA changes the result');
  assert.ok(full.metadata.models['lora:tiny-style.safetensors']);
});

test('an inpainting (9-channel) checkpoint gets the mask and masked-image latents; the default stays the standard one', async () => {
  writeTinyInpaintingCheckpoint(join(dir, 'models'));
  const init = pattern(W, W, 9);
  const mask = { width: W, height: W, data: Uint8Array.from({ length: W * W }, (_, i) => (Math.floor(i / W) >= W / 2 ? 255 : 0)) };
  const r = await engine.generate(job({ checkpoint: 'tiny-sd15-inpainting' }, { init, mask }));
  assert.equal(r.metadata.models.checkpoint.name, 'tiny-sd15-inpainting');
  assert.ok(r.metadata.timings.vae_encode_masked !== undefined);
  for (let i = 0; i < (W * W) / 2; i++) for (let c = 0; c < 3; c++) assert.equal(r.images[0].data[i * 4 + c], init.data[i * 4 + c]);
  const d = await engine.generate(job());
  assert.equal(d.metadata.models.checkpoint.name, 'tiny-sd15');
});

test('several reference images: separate slots, concatenated group, averaged group', async () => {
  const a = pattern(60, 60, 3);
  const b = pattern(60, 60, 11);
  const ref = (image: RgbaImage, extra: object = {}) => ({ image, adapter: 'base' as const, scale: 0.8, preset: 'reference' as const, range: { start: 0, end: 1 }, ...extra });
  const separate = await engine.generate(job({}, { references: [ref(a), ref(b)] }));
  const concat = await engine.generate(job({}, { references: [ref(a, { group: 'g' }), ref(b, { group: 'g' })] }));
  const average = await engine.generate(job({}, { references: [ref(a, { group: 'g', combine: 'average' }), ref(b, { group: 'g', combine: 'average' })] }));
  const same = await engine.generate(job({}, { references: [ref(a, { group: 'g', combine: 'average' }), ref(a, { group: 'g', combine: 'average' })] }));
  const single = await engine.generate(job({}, { references: [ref(a)] }));
  assert.notDeepEqual(separate.images[0].data, concat.images[0].data);
  assert.notDeepEqual(concat.images[0].data, average.images[0].data);
  assert.deepEqual(same.images[0].data, single.images[0].data, 'the average of one image twice is that image');
});

test('FaceID: the face is found, embedded and projected; the adapter LoRA is merged into the UNet', async () => {
  const models = join(dir, 'models');
  mkdirSync(join(models, 'insightface'), { recursive: true });
  writeFileSync(join(models, 'insightface', 'det_10g.onnx'), buildDetector());
  writeFileSync(join(models, 'insightface', 'w600k_r50.onnx'), buildRecognizer());
  writeSynthetic(join(models, 'ipadapter', 'ip-adapter-faceid_sd15_tiny.safetensors'), S.ipAdapterFaceIdSpecs(S.TINY_UNET_SPEC, 512, 64, 4, 4), { seed: 21 });
  // A red square where the tiny detector "sees" a face (see test/helpers/tiny-face-models.ts).
  const face = canvas(1280, 960, [{ x: 320, y: 256, w: 64, h: 64, rgb: [255, 0, 0] }]);
  const ref = (image: RgbaImage) => ({ image, adapter: 'faceid' as const, scale: 0.8, preset: 'reference' as const, range: { start: 0, end: 1 } });
  const a = await engine.generate(job({ prompt: 'portrait photo' }, { references: [ref(face)] }));
  const b = await engine.generate(job({ prompt: 'portrait photo, oil painting' }, { references: [ref(face)] }));
  const plain = await engine.generate(job({ prompt: 'portrait photo' }));
  assert.ok(a.metadata.models['ipadapter:0'].name.includes('faceid'));
  assert.notDeepEqual(a.images[0].data, b.images[0].data, 'several prompts, one face');
  assert.notDeepEqual(a.images[0].data, plain.images[0].data, 'the face prompt changes the result');
  const blank = canvas(640, 480, []);
  await assert.rejects(engine.generate(job({}, { references: [ref(blank)] })), (e: Error & { code?: string; field?: string }) => e.code === 'no-face' && e.field === 'references[0].image');
});

test('seed variations: strength 0 is the seed itself, a small strength changes the image a little', async () => {
  const base = await engine.generate(job());
  const none = await engine.generate(job({ variationSeed: 99, variationStrength: 0 }));
  const small = await engine.generate(job({ variationSeed: 99, variationStrength: 0.1 }));
  const other = await engine.generate(job({ seed: 99 }));
  assert.deepEqual(none.images[0].data, base.images[0].data);
  assert.notDeepEqual(small.images[0].data, base.images[0].data);
  const diff = (a: Uint8Array, b: Uint8Array) => a.reduce((n, v, i) => n + Math.abs(v - b[i]), 0);
  assert.ok(diff(small.images[0].data, base.images[0].data) < diff(other.images[0].data, base.images[0].data), 'a variation stays closer than another seed');
});

test('above 768² the VAE decodes in feathered tiles: the full-size image, no seams of flat colour', async () => {
  const size = 832;
  const r = await engine.generate(job({ width: size, height: size, steps: 1, sampler: 'euler' }));
  assert.equal(r.metadata.timings.vae_tiled, 1);
  assert.equal(r.images[0].width, size);
  assert.equal(r.images[0].data.length, size * size * 4);
  const small = await engine.generate(job({ steps: 1, sampler: 'euler' }));
  assert.equal(small.metadata.timings.vae_tiled, undefined, 'small images decode in one piece');
  // Every 64-px band across the tile boundaries has texture (a failed tile would be flat).
  for (let y = 0; y < size; y += 64) {
    const row = r.images[0].data.subarray(y * size * 4, (y + 1) * size * 4);
    assert.ok(row.some((v, i) => i % 4 !== 3 && v !== row[0]), `row ${y} is flat`);
  }
});
