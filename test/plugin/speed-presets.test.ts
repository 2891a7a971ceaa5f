/**
 * The Live / Fast / Quality presets (shared/plugin/speed-presets.ts) and the daemon's few-step name
 * rule (bridge/models/few-step.ts): each published few-step model gets its model card's sampler,
 * steps and CFG; the plugins only offer what the daemon reports; a models folder with few-step LoRAs
 * named as published is recognised by the real registry, and the recipe's job passes the daemon's
 * validator.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fewStepOf } from '../../bridge/models/few-step.ts';
import { ModelRegistry } from '../../bridge/models/registry.ts';
import type { ModelInfo } from '../../shared/protocol/messages.ts';
import { validateJob } from '../../shared/protocol/validate.ts';
import { applySpeedPreset, DEFAULT_SETTINGS, parseSettings } from '../../shared/plugin/settings.ts';
import { buildJob } from '../../shared/plugin/job.ts';
import { presetRecipe, stepsForStrength } from '../../shared/plugin/speed-presets.ts';

test('few-step names as published: family, steps, CFG variant', () => {
  const cases: Array<[string, string, unknown]> = [
    ['loras/lcm-lora-sdv1-5.safetensors', 'lora', { family: 'lcm' }],
    ['latent-consistency/lcm-lora-sdxl/pytorch_lora_weights.safetensors', 'lora', { family: 'lcm' }],
    ['lcm_lora_sd15.safetensors', 'lora', { family: 'lcm' }],
    ['h1t/TCD-SD15-LoRA/pytorch_lora_weights.safetensors', 'lora', { family: 'tcd' }],
    ['Hyper-SD15-1step-lora.safetensors', 'lora', { family: 'hyper-sd', steps: 1 }],
    ['Hyper-SD15-8steps-lora.safetensors', 'lora', { family: 'hyper-sd', steps: 8 }],
    ['Hyper-SD15-12steps-CFG-lora.safetensors', 'lora', { family: 'hyper-sd', cfg: true, steps: 12 }],
    ['Hyper-SDXL-1step-Unet.safetensors', 'checkpoint', { family: 'hyper-sd', steps: 1 }],
    ['sdxl_lightning_4step_lora.safetensors', 'lora', { family: 'lightning', steps: 4 }],
    ['sdxl_lightning_8step.safetensors', 'checkpoint', { family: 'lightning', steps: 8 }],
    ['sdxl_lightning_1step_unet_x0.safetensors', 'unet', undefined],
    ['sd_xl_turbo_1.0_fp16.safetensors', 'checkpoint', { family: 'turbo' }],
    ['dreamshaper_8.safetensors', 'checkpoint', undefined],
    ['lcm-lora-sdv1-5.safetensors', 'controlnet:pose', undefined],
    ['ip-adapter_sd15.safetensors', 'ipadapter:base', undefined],
  ];
  for (const [name, role, want] of cases) assert.deepEqual(fewStepOf(name, role), want, name);
});

const ckpt = (name: string, base: ModelInfo['base'] = 'sd15'): ModelInfo => ({ name, kind: 'checkpoint', base });
const lora = (name: string, base: ModelInfo['base'] = 'sd15'): ModelInfo => ({ name, kind: 'lora', base, fewStep: fewStepOf(name, 'lora') });
const fewCkpt = (name: string, base: ModelInfo['base'] = 'sdxl'): ModelInfo => ({ name, kind: 'checkpoint', base, fewStep: fewStepOf(name, 'checkpoint') });

test('each family gets its model card recipe', () => {
  const lcm = presetRecipe('live', [ckpt('dreamshaper_8.safetensors'), lora('lcm-lora-sdv1-5.safetensors')]);
  assert.deepEqual([lcm.checkpoint, lcm.loras, lcm.steps, lcm.sampler, lcm.guidance, lcm.draftDecode], ['', [{ model: 'lcm-lora-sdv1-5.safetensors', strength: 1 }], 4, 'lcm', 1, true]);
  assert.match(lcm.label, /LCM-LoRA \(lcm-lora-sdv1-5\.safetensors\), 4 steps/);
  const fast = presetRecipe('fast', [ckpt('dreamshaper_8.safetensors'), lora('lcm-lora-sdv1-5.safetensors')]);
  assert.deepEqual([fast.steps, fast.sampler, fast.guidance, fast.draftDecode], [8, 'lcm', 1, false]);

  const tcd = presetRecipe('live', [ckpt('a.safetensors'), lora('TCD-SD15-LoRA.safetensors')]);
  assert.deepEqual([tcd.sampler, tcd.steps, tcd.guidance, tcd.eta], ['tcd', 4, 1, 0.3]);

  const hyper = [ckpt('a.safetensors'), lora('Hyper-SD15-2steps-lora.safetensors'), lora('Hyper-SD15-8steps-lora.safetensors'), lora('Hyper-SD15-12steps-CFG-lora.safetensors')];
  const hl = presetRecipe('live', hyper);
  assert.deepEqual([hl.loras[0].model, hl.steps, hl.sampler, hl.guidance], ['Hyper-SD15-2steps-lora.safetensors', 2, 'ddim-trailing', 1], 'Live: the fewest steps');
  const hf = presetRecipe('fast', hyper);
  assert.deepEqual([hf.loras[0].model, hf.steps, hf.sampler, hf.guidance], ['Hyper-SD15-8steps-lora.safetensors', 8, 'ddim-trailing', 1], 'Fast: the most steps up to 8');
  const cfgOnly = presetRecipe('fast', [ckpt('a.safetensors'), lora('Hyper-SD15-12steps-CFG-lora.safetensors')]);
  assert.deepEqual([cfgOnly.steps, cfgOnly.guidance], [12, 5], 'a CFG-keeping Hyper-SD LoRA keeps CFG');
  const unified = presetRecipe('live', [ckpt('a.safetensors'), lora('Hyper-SD15-1step-lora.safetensors')]);
  assert.deepEqual([unified.sampler, unified.steps, unified.eta], ['tcd', 1, 1]);

  const xl = [{ name: 'sd_xl_base_1.0.safetensors', kind: 'checkpoint:sdxl' }, lora('sdxl_lightning_4step_lora.safetensors', 'sdxl'), lora('lcm-lora-sdv1-5.safetensors', 'sd15')];
  const lightning = presetRecipe('live', xl);
  assert.deepEqual([lightning.loras[0].model, lightning.sampler, lightning.steps, lightning.guidance], ['sdxl_lightning_4step_lora.safetensors', 'euler-trailing', 4, 1], 'an SD1.5 LoRA is never put on an SDXL checkpoint');

  const turbo = presetRecipe('live', [fewCkpt('sd_xl_turbo_1.0_fp16.safetensors')]);
  assert.deepEqual([turbo.checkpoint, turbo.loras, turbo.sampler, turbo.steps, turbo.guidance], ['sd_xl_turbo_1.0_fp16.safetensors', [], 'euler-ancestral-trailing', 1, 1]);
  const turboQuality = presetRecipe('quality', [fewCkpt('sd_xl_turbo_1.0_fp16.safetensors')]);
  assert.deepEqual([turboQuality.checkpoint, turboQuality.steps], ['sd_xl_turbo_1.0_fp16.safetensors', 4], 'only a Turbo checkpoint: Quality is Turbo at 4 steps');
});

test('Quality is the standard checkpoint; without a few-step model Live says what to install', () => {
  const q = presetRecipe('quality', [ckpt('dreamshaper_8.safetensors'), lora('lcm-lora-sdv1-5.safetensors'), fewCkpt('sd_xl_turbo_1.0.safetensors')]);
  assert.deepEqual([q.checkpoint, q.loras, q.steps, q.sampler, q.guidance, q.draftDecode], ['', [], 25, 'dpmpp-2m-karras', 7, false]);
  const none = presetRecipe('live', [ckpt('dreamshaper_8.safetensors')]);
  assert.deepEqual([none.loras, none.steps, none.sampler], [[], 8, 'dpmpp-2m-karras']);
  assert.match(none.note ?? '', /No few-step model is installed.*lcm-lora-sdv1-5/);
  assert.equal(presetRecipe('live', [ckpt('a.safetensors'), lora('lcm-lora-sdv1-5.safetensors')]).note, undefined);
  // A newer daemon's family this rule does not know, or a nonsense step count: ignored, not a crash.
  const odd = presetRecipe('live', [ckpt('a.safetensors'), { name: 'x.safetensors', kind: 'lora', fewStep: { family: 'warp' as never } }, { name: 'y.safetensors', kind: 'lora', fewStep: { family: 'lightning', steps: 0 } }]);
  assert.match(odd.note ?? '', /No few-step model/);
});

test('a preset in the settings: stored, read back, built into a job the daemon accepts', () => {
  const models = [ckpt('dreamshaper_8.safetensors'), lora('TCD-SD15-LoRA.safetensors')];
  const s = applySpeedPreset(DEFAULT_SETTINGS, presetRecipe('live', models));
  const back = parseSettings(JSON.parse(JSON.stringify(s)));
  assert.deepEqual([back.speed, back.loras, back.sampler, back.steps, back.eta, back.draftDecode], ['live', [{ model: 'TCD-SD15-LoRA.safetensors', strength: 1 }], 'tcd', 4, 0.3, true]);
  const job = buildJob(back, { jobId: 'j-1', seed: 1, hasInit: true, area: { width: 512, height: 512 }, references: 0, controls: 0, preview: true }, { maxPixels: 1024 * 1024, maxBatch: 8 });
  assert.deepEqual([job.loras, job.sampler, job.eta, job.draftDecode], [[{ model: 'TCD-SD15-LoRA.safetensors', strength: 1 }], 'tcd', 0.3, true]);
  assert.ok(validateJob(job, { maxPixels: 1024 * 1024, maxBatch: 8 }).ok);
  const damaged = parseSettings({ ...s, loras: [{ model: 3 }, { model: 'x.safetensors', strength: 99 }], speed: 'warp', eta: 7 });
  assert.deepEqual([damaged.loras, damaged.speed, damaged.eta], [[{ model: 'x.safetensors', strength: 1 }], 'custom', 0]);
});

test('img2img steps: enough that at least one step runs at the strength', () => {
  assert.equal(stepsForStrength(4, 0.5), 4);
  assert.equal(stepsForStrength(1, 0.5), 2, 'Turbo img2img: 2 steps at 0.5');
  assert.equal(stepsForStrength(1, 0.3), 4);
  assert.equal(stepsForStrength(2, 1), 2);
});

/** A kohya LoRA with an SD1.5 attn2 to_k (768 wide), as few-step LoRAs are. */
function tinySd15Lora(): Buffer {
  const tensors: Array<[string, number[]]> = [
    ['lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight', [4, 768]],
    ['lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight', [320, 4]],
  ];
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, shape] of tensors) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 4;
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = Buffer.from(JSON.stringify(header).padEnd(Math.ceil(JSON.stringify(header).length / 8) * 8, ' '));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, Buffer.alloc(offset)]);
}

test('the registry reports few-step LoRAs named as published, with their base', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ipa-fewstep-'));
  try {
    mkdirSync(join(dir, 'loras'), { recursive: true });
    for (const name of ['lcm-lora-sdv1-5.safetensors', 'Hyper-SD15-8steps-lora.safetensors', 'my-style.safetensors']) writeFileSync(join(dir, 'loras', name), tinySd15Lora());
    const summaries = ModelRegistry.scan([dir]).summaries();
    const infos: ModelInfo[] = summaries.map((m) => ({ name: m.name, kind: m.kind, ...(m.base ? { base: m.base } : {}), ...(fewStepOf(m.name, m.kind) ? { fewStep: fewStepOf(m.name, m.kind) } : {}) }));
    const byName = new Map(infos.map((m) => [m.name.split('/').pop(), m]));
    assert.deepEqual(byName.get('lcm-lora-sdv1-5.safetensors')?.fewStep, { family: 'lcm' });
    assert.equal(byName.get('lcm-lora-sdv1-5.safetensors')?.base, 'sd15');
    assert.deepEqual(byName.get('Hyper-SD15-8steps-lora.safetensors')?.fewStep, { family: 'hyper-sd', steps: 8 });
    assert.equal(byName.get('my-style.safetensors')?.fewStep, undefined);
    const live = presetRecipe('live', [ckpt('sd15.safetensors'), ...infos]);
    assert.equal(live.loras[0].model, byName.get('Hyper-SD15-8steps-lora.safetensors')!.name, 'Hyper-SD ranks before LCM');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
