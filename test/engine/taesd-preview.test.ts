/**
 * The engine with a TAESD model installed (tiny generated weights in taesd.py's layout, in the
 * models folder's vae/): per-step previews are full-size TAESD decodes of the denoised estimate, a
 * draft decode goes through TAESD, and without TAESD the previews stay the latent-RGB approximation.
 * Also: the few-step samplers run end to end.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registryLocator } from '../../bridge/models/locator.ts';
import type { Engine, GenerateParams, GenerateRequest, RgbaImage } from '../../engine/api.ts';
import { createEngine, writeTinyModels } from '../../engine/index.ts';
import { latentPreview, poolLatents, previewPoolFactor } from '../../engine/pipeline/preview.ts';
import { taesdOriginalSpecs, TINY_TAESD_SPEC } from '../../engine/synthetic/taesd-specs.ts';
import { writeSynthetic } from '../../engine/synthetic/write.ts';

const dir = mkdtempSync(join(tmpdir(), 'ipa-taesd-engine-'));
const models = join(dir, 'models');
const taesdFile = join(models, 'vae', 'taesd_decoder.safetensors');
let engine: Engine;
const W = 64;
const params: GenerateParams = { prompt: 'a fox', negativePrompt: '', seed: 3, steps: 3, sampler: 'euler', guidance: 1, width: W, height: W, strength: 1, batchSize: 1, clipSkip: 1 };
const job = (p: Partial<GenerateParams> = {}): GenerateRequest => ({ params: { ...params, ...p }, references: [], controls: [] });

async function run(req: GenerateRequest): Promise<{ previews: RgbaImage[]; image: RgbaImage; models: Record<string, unknown> }> {
  const previews: RgbaImage[] = [];
  const r = await engine.generate(req, { wantPreview: true, onProgress: (e) => e.preview && previews.push(e.preview) });
  return { previews, image: r.images[0], models: r.metadata.models };
}

before(async () => {
  await writeTinyModels(models);
  engine = await createEngine({ provider: 'cpu', models: registryLocator(models), cacheDir: join(dir, 'cache') });
});
after(async () => {
  await engine.dispose();
  rmSync(dir, { recursive: true, force: true });
});

test('without TAESD: previews are the latent-resolution RGB approximation, draftDecode uses the full VAE', async () => {
  const a = await run(job());
  assert.equal(a.previews.length, 3);
  assert.deepEqual([a.previews[0].width, a.previews[0].height], [W / 8, W / 8]);
  const draft = await run(job({ draftDecode: true }));
  assert.deepEqual(draft.image.data, a.image.data, 'no TAESD installed: the full VAE decodes the draft');
  assert.equal(draft.models['vae:taesd'], undefined);
});

test('with TAESD installed: full-size previews decoded by TAESD; draftDecode is the TAESD decode of the result', async () => {
  mkdirSync(join(models, 'vae'), { recursive: true });
  writeSynthetic(taesdFile, taesdOriginalSpecs('decoder', TINY_TAESD_SPEC), { seed: 9 });
  const full = await run(job());
  assert.equal(full.previews.length, 3);
  for (const pv of full.previews) {
    assert.deepEqual([pv.width, pv.height], [W, W]);
    assert.equal(pv.data.length, W * W * 4);
  }
  assert.notDeepEqual(full.previews[0].data, full.previews[2].data, 'previews follow the denoising');
  assert.ok(full.models['vae:taesd'], 'the TAESD model is in the metadata');
  // Euler's last step lands on its x0 estimate: the last preview is TAESD(final latents), which is
  // exactly what the draft decode returns, while the full VAE gives another image.
  const draft = await run(job({ draftDecode: true }));
  assert.deepEqual(draft.image.data, draft.previews[2].data);
  assert.deepEqual(draft.previews[2].data, full.previews[2].data);
  assert.notDeepEqual(draft.image.data, full.image.data, 'the final image of a normal job is the full VAE decode');
});

test('few-step samplers run end to end (tcd with its gamma, trailing spacings, sgm-uniform)', async () => {
  for (const sampler of ['tcd', 'euler-trailing', 'euler-ancestral-trailing', 'ddim-trailing', 'sgm-uniform', 'lcm'] as const) {
    const r = await engine.generate(job({ sampler, steps: 2 }));
    assert.ok(r.images[0].data.some((v, i) => i % 4 !== 3 && v !== r.images[0].data[0]), `${sampler} produced a flat image`);
  }
  const g0 = await engine.generate(job({ sampler: 'tcd', steps: 2, eta: 0 }));
  const g1 = await engine.generate(job({ sampler: 'tcd', steps: 2, eta: 1 }));
  assert.notDeepEqual(g0.images[0].data, g1.images[0].data, 'TCD gamma changes the result');
});

test('preview size: full size up to 1 MPix, pooled latents above', () => {
  assert.equal(previewPoolFactor(64, 64), 1);
  assert.equal(previewPoolFactor(128, 128), 1);
  assert.equal(previewPoolFactor(192, 128), 2);
  assert.equal(previewPoolFactor(256, 256), 2);
  assert.equal(previewPoolFactor(512, 512), 4);
  const lat = Float32Array.from({ length: 2 * 4 * 4 }, (_, i) => i);
  const p = poolLatents(lat, 2, 4, 4, 2);
  assert.deepEqual([p.h, p.w], [2, 2]);
  assert.deepEqual([...p.data.subarray(0, 4)], [2.5, 4.5, 10.5, 12.5]);
});

test('the latent-RGB approximation uses its family\'s factors: SDXL\'s latent space has its own, with a bias', () => {
  // One latent pixel: zero, then a unit value in channel 0.
  const zero = new Float32Array(4);
  const unit = Float32Array.of(1, 0, 0, 0);
  const rgb = (img: RgbaImage): number[] => [...img.data.subarray(0, 3)];
  assert.deepEqual(rgb(latentPreview(zero, 1, 1, 'sd15')), [128, 128, 128]);
  assert.deepEqual(rgb(latentPreview(zero, 1, 1, 'sdxl')), [141, 125, 127], 'SDXL: (bias + 1) × 127.5');
  assert.deepEqual(rgb(latentPreview(unit, 1, 1, 'sd15')), [172, 157, 169]);
  assert.deepEqual(rgb(latentPreview(unit, 1, 1, 'sdxl')), [188, 179, 183]);
});
