/**
 * The real engine on tiny generated SDXL models (real graphs, real onnxruntime sessions):
 * txt2img, img2img, inpaint (9-channel UNet), IP-Adapter + ControlNet + LoRA together, the
 * single-file SDXL checkpoint of the fixture set, family in the metadata, SDXL roles.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registryLocator } from '../../bridge/models/locator.ts';
import { ModelRegistry } from '../../bridge/models/registry.ts';
import type { Engine, GenerateParams, GenerateRequest, RgbaImage } from '../../engine/api.ts';
import { peftTextPart } from '../../engine/engine.ts';
import { createEngine } from '../../engine/index.ts';
import { memorySource } from '../../engine/weights/source.ts';
import { nearestSdxlBucket, sdxlTimeIds, vaeDecoderPlan } from '../../engine/pipeline/family.ts';
import { openCheckpoint } from '../../engine/pipeline/checkpoint.ts';
import { writeTinySdxlModels, writeTinySdxlPipeline, type TinySdxlModelSet } from '../../engine/synthetic/tiny-sdxl.ts';
import { sdxlIpAdapterFaceIdSpecs, TINY_SDXL_UNET_SPEC } from '../../engine/synthetic/sdxl-specs.ts';
import { writeSynthetic } from '../../engine/synthetic/write.ts';
import { taesdOriginalSpecs, TINY_TAESD_SPEC } from '../../engine/synthetic/taesd-specs.ts';
import { buildDetector, buildRecognizer, canvas } from '../helpers/tiny-face-models.ts';

const dir = mkdtempSync(join(tmpdir(), 'ipa-engine-sdxl-'));
const fixtures = join(import.meta.dirname, '..', '..', '..', 'shared', 'fixtures-sdxl');
let engine: Engine;
let set: TinySdxlModelSet;
const W = 64;
const params: GenerateParams = { prompt: 'a (red:1.2) fox BREAK snow', negativePrompt: 'blurry', seed: 5, steps: 3, sampler: 'euler', guidance: 5, width: W, height: W, strength: 1, batchSize: 1, clipSkip: 1, checkpoint: 'tiny-sdxl' };
const pattern = (w: number, h: number, k = 7): RgbaImage => ({ width: w, height: h, data: Uint8Array.from({ length: w * h * 4 }, (_, i) => (i % 4 === 3 ? 255 : (i * k) % 251)) });
const job = (p: Partial<GenerateParams> = {}, extra: Partial<GenerateRequest> = {}): GenerateRequest => ({ params: { ...params, ...p }, references: [], controls: [], ...extra });
const varied = (img: RgbaImage) => img.data.some((v, i) => i % 4 !== 3 && v !== img.data[0]);

before(async () => {
  set = await writeTinySdxlModels(join(dir, 'models'));
  engine = await createEngine({ provider: 'cpu', models: registryLocator(join(dir, 'models')), cacheDir: join(dir, 'cache') });
});
after(() => engine.dispose());

test('the tiny SDXL set is found with SDXL roles', () => {
  const reg = ModelRegistry.scan([join(dir, 'models')]);
  const roles = Object.fromEntries(reg.entries.map((e) => [e.name, e.role]));
  assert.equal(roles['tiny-sdxl'], 'checkpoint:sdxl');
  assert.equal(roles['tiny-sdxl-inpainting'], 'checkpoint:sdxl-inpaint');
  assert.equal(roles['ip-adapter_sdxl_tiny.safetensors'], 'ipadapter:sdxl-base');
  assert.equal(roles['controlnet-openpose-sdxl-tiny.safetensors'], 'controlnet:sdxl-pose');
  assert.equal(roles['tiny-sdxl-style.safetensors'], 'lora');
  assert.equal(openCheckpoint(set.checkpoint).family, 'sdxl');
  assert.equal(openCheckpoint(set.checkpoint).vaeScaling, 0.13025);
});

test('SDXL txt2img with an image prompt, a ControlNet and a LoRA together; seeds reproduce; each part changes the image', async () => {
  const full = job({ loras: [{ model: 'tiny-sdxl-style.safetensors', strength: 0.8 }] }, {
    references: [{ image: pattern(90, 70), adapter: 'base', scale: 0.8, preset: 'style', range: { start: 0, end: 1 }, hash: 'ref-a' }],
    controls: [{ image: pattern(W, W, 3), type: 'pose', preprocess: 'none', scale: 1, range: { start: 0, end: 1 }, guessMode: false }],
  });
  const steps: number[] = [];
  const a = await engine.generate(full, { onProgress: (e) => steps.push(e.step) });
  const b = await engine.generate(full);
  assert.deepEqual(steps, [1, 2, 3]);
  assert.ok(varied(a.images[0]));
  assert.deepEqual(a.images[0].data, b.images[0].data, 'same seed, same image');
  assert.equal(a.metadata.family, 'sdxl');
  assert.ok(a.metadata.models['ipadapter:0'].name.includes('sdxl'));
  assert.ok(a.metadata.models['controlnet:0'].name.includes('sdxl'));
  for (const [what, r] of [
    ['the image prompt', { ...full, references: [] }],
    ['the ControlNet', { ...full, controls: [] }],
    ['the LoRA', { ...full, params: { ...full.params, loras: [] } }],
    ['the negative prompt', { ...full, params: { ...full.params, negativePrompt: '' } }],
  ] as const) {
    const other = await engine.generate(r);
    assert.notDeepEqual(other.images[0].data, a.images[0].data, `${what} changes the result`);
  }
});

test('SDXL ControlNets: several at once add up, guess mode and a step range each change the result', async () => {
  const control = (k: number, extra: Partial<GenerateRequest['controls'][number]> = {}): GenerateRequest['controls'][number] =>
    ({ image: pattern(W, W, k), type: 'pose', preprocess: 'none', scale: 0.8, range: { start: 0, end: 1 }, guessMode: false, ...extra });
  const one = await engine.generate(job({}, { controls: [control(3)] }));
  const two = await engine.generate(job({}, { controls: [control(3), control(11, { scale: 0.6 })] }));
  const guess = await engine.generate(job({}, { controls: [control(3, { guessMode: true })] }));
  const early = await engine.generate(job({}, { controls: [control(3, { range: { start: 0, end: 0.4 } })] }));
  assert.equal(two.metadata.controls.length, 2);
  assert.notDeepEqual(two.images[0].data, one.images[0].data, 'a second ControlNet changes the result');
  assert.notDeepEqual(guess.images[0].data, one.images[0].data, 'guess mode changes the result');
  assert.notDeepEqual(early.images[0].data, one.images[0].data, 'a shorter step range changes the result');
});

test('SDXL drafts and previews use TAESDXL, never SD1.5\'s TAESD (another latent space)', async () => {
  const models = join(dir, 'models-taesd');
  await writeTinySdxlModels(models);
  mkdirSync(join(models, 'vae'), { recursive: true });
  writeSynthetic(join(models, 'vae', 'taesd_decoder.safetensors'), taesdOriginalSpecs('decoder', TINY_TAESD_SPEC), { seed: 9 });
  writeSynthetic(join(models, 'vae', 'taesd_encoder.safetensors'), taesdOriginalSpecs('encoder', TINY_TAESD_SPEC), { seed: 10 });
  const draft = job({ draftDecode: true, strength: 0.5 }, { init: pattern(W, W) });
  const sd15Only = await createEngine({ provider: 'cpu', models: registryLocator(models), cacheDir: join(dir, 'cache') });
  const withSd15 = await sd15Only.generate(draft, { wantPreview: true });
  await sd15Only.dispose();
  assert.deepEqual(Object.keys(withSd15.metadata.models).filter((r) => r.startsWith('vae:taesd')), [], 'only SD1.5 TAESD installed: the full VAE encodes and decodes');
  writeSynthetic(join(models, 'vae', 'taesdxl_decoder.safetensors'), taesdOriginalSpecs('decoder', TINY_TAESD_SPEC), { seed: 11 });
  writeSynthetic(join(models, 'vae', 'taesdxl_encoder.safetensors'), taesdOriginalSpecs('encoder', TINY_TAESD_SPEC), { seed: 12 });
  const both = await createEngine({ provider: 'cpu', models: registryLocator(models), cacheDir: join(dir, 'cache') });
  const withXl = await both.generate(draft);
  await both.dispose();
  assert.match(withXl.metadata.models['vae:taesd']?.name ?? '', /taesdxl_decoder/);
  assert.match(withXl.metadata.models['vae:taesd-encoder']?.name ?? '', /taesdxl_encoder/);
});

test('every sampler runs with SDXL\'s scheduler config (leading spacing), few-step ones included', async () => {
  for (const sampler of ['ddim', 'euler', 'euler-ancestral', 'dpmpp-2m', 'dpmpp-2m-karras', 'unipc', 'lcm', 'tcd', 'euler-trailing'] as const) {
    const r = await engine.generate(job({ sampler, steps: 2, guidance: sampler === 'lcm' || sampler === 'tcd' ? 1 : 5 }));
    assert.ok(varied(r.images[0]), `${sampler} produced a flat image`);
  }
});

test('SDXL img2img and inpaint (9-channel UNet); the area outside the mask is kept', async () => {
  const init = pattern(W, W, 5);
  const i2i = await engine.generate(job({ strength: 0.6 }, { init }));
  assert.ok(varied(i2i.images[0]));
  const mask = { width: W, height: W, data: Uint8Array.from({ length: W * W }, (_, i) => (i % W < W / 2 ? 255 : 0)) };
  const inpaint = await engine.generate(job({ checkpoint: 'tiny-sdxl-inpainting', strength: 1 }, { init, mask }));
  assert.equal(inpaint.metadata.family, 'sdxl');
  for (let y = 0; y < W; y += 7) {
    const o = (y * W + W - 1) * 4;
    assert.deepEqual([...inpaint.images[0].data.subarray(o, o + 3)], [...init.data.subarray(o, o + 3)], 'right half (outside the mask) unchanged');
  }
});

test('an SD1.5 adapter request on SDXL asks for the SDXL role and says so when none is installed', async () => {
  await assert.rejects(engine.generate(job({}, { references: [{ image: pattern(32, 32), adapter: 'plus', scale: 0.5, preset: 'style', range: { start: 0, end: 1 } }] })), /ipadapter:sdxl-plus/);
});

test('the single-file SDXL checkpoint (conditioner.embedders.*) generates', { skip: !existsSync(join(fixtures, 'sdxl-weights-ldm')) && 'no ../shared/fixtures-sdxl' }, async () => {
  // The fixture's file with the tiny architecture's hints added to its metadata (a copy: ../shared is read-only).
  const src = readFileSync(join(fixtures, 'sdxl-weights-ldm', 'sdxl_model.safetensors'));
  const n = Number(src.readBigUInt64LE(0));
  const header = JSON.parse(src.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
  header.__metadata__ = { 'ipa_bridge.unet.heads': '[1,2,4]', 'ipa_bridge.unet.norm_groups': '8', 'ipa_bridge.unet.time_id_dim': '8', 'ipa_bridge.vae.norm_groups': '4', 'ipa_bridge.text.heads': '2', 'ipa_bridge.text2.heads': '2' };
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const models = join(dir, 'single');
  mkdirSync(join(models, 'checkpoints'), { recursive: true });
  writeFileSync(join(models, 'checkpoints', 'tiny_sdxl_single.safetensors'), Buffer.concat([len, Buffer.from(json), src.subarray(8 + n)]));
  mkdirSync(join(models, 'tokenizer'));
  for (const f of ['vocab.json', 'merges.txt']) writeFileSync(join(models, 'tokenizer', f), readFileSync(join(set.tokenizer, f)));
  const e = await createEngine({ provider: 'cpu', models: registryLocator(models), cacheDir: join(dir, 'cache') });
  try {
    const ckpt = openCheckpoint(join(models, 'checkpoints', 'tiny_sdxl_single.safetensors'));
    assert.equal(ckpt.family, 'sdxl');
    const r = await e.generate(job({ checkpoint: 'tiny_sdxl_single.safetensors' }));
    assert.ok(varied(r.images[0]));
    assert.equal(r.metadata.family, 'sdxl');
  } finally {
    await e.dispose();
  }
});

test('an fp16 SDXL diffusers folder (variant files *.fp16.safetensors) is read in place and generates', async () => {
  const models = join(dir, 'fp16');
  writeTinySdxlPipeline(join(models, 'checkpoints', 'tiny-sdxl-fp16'), { fp16: true });
  mkdirSync(join(models, 'tokenizer'));
  for (const f of ['vocab.json', 'merges.txt']) writeFileSync(join(models, 'tokenizer', f), readFileSync(join(set.tokenizer, f)));
  const ckpt = openCheckpoint(join(models, 'checkpoints', 'tiny-sdxl-fp16'));
  assert.equal(ckpt.family, 'sdxl');
  assert.equal(ckpt.source('text2').get('text_projection.weight')?.dtype, 'F16');
  const e = await createEngine({ provider: 'cpu', models: registryLocator(models), cacheDir: join(dir, 'cache') });
  try {
    const r = await e.generate(job({ checkpoint: 'tiny-sdxl-fp16' }));
    assert.ok(varied(r.images[0]));
  } finally {
    await e.dispose();
  }
});

test('family helpers: SDXL buckets for a selection, time ids', () => {
  assert.deepEqual(nearestSdxlBucket(1920, 1080), { width: 1344, height: 768 });
  assert.deepEqual(nearestSdxlBucket(500, 500), { width: 1024, height: 1024 });
  assert.deepEqual(nearestSdxlBucket(600, 900), { width: 832, height: 1216 });
  assert.deepEqual(Array.from(sdxlTimeIds(96, 64)), [64, 96, 0, 0, 64, 96]);
});

test('diffusers/peft LoRA keys reach the right SDXL text encoder (both share module names)', () => {
  const t = { dtype: 'F32' as const, shape: [1], bytes: new Uint8Array(4) };
  const lora = memorySource('peft.safetensors', new Map([
    ['text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight', t],
    ['text_encoder_2.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight', t],
    ['unet.down_blocks.1.attentions.0.proj_in.lora_A.weight', t],
    ['lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight', t],
  ]));
  assert.deepEqual(peftTextPart(lora, 'text').keys().sort(), [
    'lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight', 'text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight', 'unet.down_blocks.1.attentions.0.proj_in.lora_A.weight',
  ]);
  const two = peftTextPart(lora, 'text2');
  assert.deepEqual(two.keys().sort(), ['lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight', 'text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight', 'unet.down_blocks.1.attentions.0.proj_in.lora_A.weight']);
  assert.equal(two.get('text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight')?.origin, 'peft.safetensors: text_encoder_2.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight');
});

test('the SDXL VAE never decodes in fp16 unless sdxl-vae-fp16-fix is installed; SD1.5 and fp32 flavours are unchanged', () => {
  assert.deepEqual(vaeDecoderPlan('sdxl', 'cuda', false), { flavour: 'cpu', fp16Fix: false });
  assert.deepEqual(vaeDecoderPlan('sdxl', 'cuda', true), { flavour: 'cuda', fp16Fix: true });
  assert.deepEqual(vaeDecoderPlan('sd15', 'cuda', true), { flavour: 'cuda', fp16Fix: false });
  assert.deepEqual(vaeDecoderPlan('sdxl', 'webgpu', true), { flavour: 'webgpu', fp16Fix: false });
  assert.deepEqual(vaeDecoderPlan('sdxl', 'cpu', false), { flavour: 'cpu', fp16Fix: false });
});

test('SDXL FaceID: the face is found, embedded and projected; the adapter LoRA is merged into the SDXL UNet', async () => {
  const models = join(dir, 'models');
  mkdirSync(join(models, 'insightface'), { recursive: true });
  writeFileSync(join(models, 'insightface', 'det_10g.onnx'), buildDetector());
  writeFileSync(join(models, 'insightface', 'w600k_r50.onnx'), buildRecognizer());
  writeSynthetic(join(models, 'ipadapter', 'ip-adapter-faceid_sdxl_tiny.safetensors'), sdxlIpAdapterFaceIdSpecs(TINY_SDXL_UNET_SPEC, 512, 64, 4, 4), { seed: 29 });
  // A red square where the tiny detector "sees" a face (test/helpers/tiny-face-models.ts).
  const face = canvas(1280, 960, [{ x: 320, y: 256, w: 64, h: 64, rgb: [255, 0, 0] }]);
  const ref = { image: face, adapter: 'faceid' as const, scale: 0.8, preset: 'reference' as const, range: { start: 0, end: 1 } };
  const a = await engine.generate(job({ prompt: 'portrait photo' }, { references: [ref] }));
  const plain = await engine.generate(job({ prompt: 'portrait photo' }));
  assert.equal(a.metadata.models['ipadapter:0'].name, 'ip-adapter-faceid_sdxl_tiny.safetensors');
  assert.notDeepEqual(a.images[0].data, plain.images[0].data, 'the face prompt changes the result');
});
