/**
 * What live mode asks of the engine, on tiny generated models: sessions stay warm between live jobs —
 * a new init image, prompt, seed or strength builds no graph and creates no session (counted at the
 * SessionCache); a draft job encodes its init with the TAESD encoder when one is installed (and the full
 * VAE encoder is never built for it), a normal job with the full VAE; switching a LoRA rebuilds the
 * UNet and text encoder (counted, so a change there is visible).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { registryLocator } from '../../bridge/models/locator.ts';
import type { Engine, GenerateParams, GenerateRequest, RgbaImage } from '../../engine/api.ts';
import { createEngine, writeTinyModels } from '../../engine/index.ts';
import { SessionCache } from '../../engine/pipeline/sessions.ts';
import { taesdOriginalSpecs, TINY_TAESD_SPEC } from '../../engine/synthetic/taesd-specs.ts';
import { writeSynthetic } from '../../engine/synthetic/write.ts';
import { encodeSafetensors } from '../../engine/weights/safetensors.ts';

const dir = mkdtempSync(join(tmpdir(), 'ipa-live-sessions-'));
const models = join(dir, 'models');
const W = 64;
let engine: Engine;

/** Session creations (graph build + onnxruntime session), by cache key prefix. */
const built: string[] = [];
const originalGet = SessionCache.prototype.get;

before(async () => {
  SessionCache.prototype.get = function (this: SessionCache, key, build) {
    if (!this.has(key)) built.push(key.split('|')[0]);
    return originalGet.call(this, key, build);
  };
  await writeTinyModels(models);
  mkdirSync(join(models, 'vae'), { recursive: true });
  writeSynthetic(join(models, 'vae', 'taesd_decoder.safetensors'), taesdOriginalSpecs('decoder', TINY_TAESD_SPEC), { seed: 9 });
  writeSynthetic(join(models, 'vae', 'taesd_encoder.safetensors'), taesdOriginalSpecs('encoder', TINY_TAESD_SPEC), { seed: 10 });
  engine = await createEngine({ provider: 'cpu', models: registryLocator(models), cacheDir: join(dir, 'cache') });
});

after(async () => {
  SessionCache.prototype.get = originalGet;
  await engine.dispose();
  rmSync(dir, { recursive: true, force: true });
});

function layer(edit: number): RgbaImage {
  const data = new Uint8Array(W * W * 4);
  for (let i = 0; i < W * W; i++) {
    data[i * 4] = (i * 3 + edit * 40) & 0xff;
    data[i * 4 + 1] = (i >> 3) & 0xff;
    data[i * 4 + 2] = 90;
    data[i * 4 + 3] = 255;
  }
  return { width: W, height: W, data };
}

const base: GenerateParams = { prompt: 'a fox', negativePrompt: '', seed: 3, steps: 4, sampler: 'lcm', guidance: 1, width: W, height: W, strength: 0.5, batchSize: 1, clipSkip: 1, draftDecode: true };
const live = (edit: number, p: Partial<GenerateParams> = {}): GenerateRequest => ({ params: { ...base, ...p }, init: layer(edit), references: [], controls: [] });

test('live edits (init, prompt, seed, strength) create no session after the first job; the draft init goes through the TAESD encoder', async () => {
  const first = await engine.generate(live(0), { wantPreview: true });
  assert.ok(first.metadata.models['vae:taesd-encoder'], 'the TAESD encoder encoded the init');
  assert.ok(first.metadata.timings.taesd_encode !== undefined && first.metadata.timings.vae_encode === undefined);
  assert.ok(built.includes('taesd-enc') && !built.includes('vae-enc'), `built: ${built.join(', ')}`);
  const warm = built.length;

  await engine.generate(live(1), { wantPreview: true });
  await engine.generate(live(2, { seed: 99 }), { wantPreview: true });
  await engine.generate(live(3, { strength: 0.7 }), { wantPreview: true });
  await engine.generate(live(4, { prompt: 'a fox in the snow' }), { wantPreview: true });
  assert.deepEqual(built.slice(warm), [], 'no graph built, no session created while live');
});

test('a normal (non-draft) img2img job encodes with the full VAE', async () => {
  const r = await engine.generate(live(5, { draftDecode: false }));
  assert.equal(r.metadata.models['vae:taesd-encoder'], undefined);
  assert.ok(r.metadata.timings.vae_encode !== undefined);
  assert.ok(built.includes('vae-enc'));
});

test('switching a LoRA rebuilds the UNet and the text encoder (one session each); switching back rebuilds again', async () => {
  const r = 2;
  const rand = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + k) * 0.05);
  const lora: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
  const add = (name: string, out: number, inp: number, k: number) => {
    lora[`${name}.lora_down.weight`] = { dtype: 'F32', shape: [r, inp], data: rand(r * inp, k) };
    lora[`${name}.lora_up.weight`] = { dtype: 'F32', shape: [out, r], data: rand(out * r, k + 1) };
  };
  add('lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q', 16, 16, 1);
  add('lora_te_text_model_encoder_layers_0_self_attn_q_proj', 16, 16, 3);
  mkdirSync(join(models, 'loras'), { recursive: true });
  writeFileSync(join(models, 'loras', 'lcm-lora-sdv1-5.safetensors'), encodeSafetensors(lora));
  const before = built.length;
  await engine.generate(live(6, { loras: [{ model: 'lcm-lora-sdv1-5.safetensors', strength: 1 }] }));
  assert.deepEqual(built.slice(before).sort(), ['text', 'unet'], 'a LoRA is merged into the weights: UNet and text encoder rebuilt');
  const mid = built.length;
  await engine.generate(live(7, { loras: [{ model: 'lcm-lora-sdv1-5.safetensors', strength: 1 }] }));
  assert.equal(built.length, mid, 'the same LoRA again: warm');
  await engine.generate(live(8));
  assert.deepEqual(built.slice(mid).sort(), ['unet'], 'back without it: one UNet in memory, so it is rebuilt; the embeddings of the prompt without the LoRA are still cached (no text session)');
});
