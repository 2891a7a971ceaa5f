/**
 * The plugins' family rule (shared/plugin/families.ts) on handshakes the daemon's own
 * familyCapabilities builds, and the regional-mask helpers (shared/plugin/reference-mask.ts): SDXL
 * picks the nearest aspect bucket, SD1.5 keeps the ~512² budget, defaults apply only where the user
 * set nothing, only what the family's models allow is offered, and masks are built at the size the
 * daemon accepts (its validator and its pipeline's rules).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { familyCapabilities } from '../../bridge/models/families.ts';
import type { Capabilities, ModelInfo } from '../../shared/protocol/messages.ts';
import {
  checkpointChoices, checkpointFamily, familyGenerationSize, familyModelSettings, familyOffer, familyPlanSizes, nearestBucket, settingsForFamily,
} from '../../shared/plugin/families.ts';
import { referenceMaskSize, regionalMask, regionShapeOn, selectsSomething, shapeMask } from '../../shared/plugin/reference-mask.ts';
import { DEFAULT_SETTINGS, applySpeedPreset } from '../../shared/plugin/settings.ts';
import { presetRecipe } from '../../shared/plugin/speed-presets.ts';
import { MIXED_INSTALL } from '../helpers/installed-models.ts';

function caps(models: readonly ModelInfo[] = MIXED_INSTALL): Capabilities {
  return {
    models: [...models], maxPixels: 1024 * 1024, maxInputPixels: 4096 * 4096, maxPayload: 1 << 26, maxBatch: 8, samplers: ['euler', 'dpmpp-2m-karras'],
    adapters: ['base', 'plus'], controls: ['pose', 'canny'], features: ['txt2img'], provider: 'cpu', families: familyCapabilities(models),
  };
}

test('the family of the chosen checkpoint, and what its installed models allow', () => {
  const c = caps();
  assert.equal(checkpointFamily(c, 'sd_xl_base_1.0.safetensors'), 'sdxl');
  assert.equal(checkpointFamily(c, 'dreamshaper_8.safetensors'), 'sd15');
  assert.equal(checkpointFamily(c, ''), 'sd15', 'the daemon defaults to SD1.5 when one is installed');
  assert.equal(checkpointFamily(caps(MIXED_INSTALL.filter((m) => m.base === 'sdxl')), ''), 'sdxl');
  assert.equal(checkpointFamily({ ...c, models: MIXED_INSTALL.map((m) => ({ ...m, default: m.name.startsWith('sd_xl_base') })) }, ''), 'sdxl', 'the daemon\'s default mark wins');
  const xl = familyOffer(c, 'sd_xl_base_1.0.safetensors');
  assert.deepEqual([xl.label, xl.adapters, xl.controls], ['SDXL', ['base'], ['pose']]);
  assert.deepEqual([xl.defaults.steps, xl.defaults.guidance, xl.defaults.sampler], [30, 5, 'dpmpp-2m-karras']);
  const sd = familyOffer(c, '');
  assert.deepEqual([sd.label, sd.adapters, sd.controls], ['SD 1.5', ['base', 'plus'], ['pose', 'canny']]);
  // An older daemon without `families`: SD1.5 with the top-level lists.
  const old = familyOffer({ ...c, families: undefined }, '');
  assert.deepEqual([old.family, old.adapters, old.defaults.steps], ['sd15', ['base', 'plus'], 20]);
  // The picker lists generating checkpoints with their family, not the inpainting one.
  assert.deepEqual(checkpointChoices(c).map((x) => x.label), ['dreamshaper_8.safetensors · SD 1.5', 'sd_xl_base_1.0.safetensors · SDXL']);
});

test('family defaults apply where the user set nothing; a preset or a typed value stays', () => {
  const xl = familyOffer(caps(), 'sd_xl_base_1.0.safetensors');
  assert.deepEqual(familyModelSettings(DEFAULT_SETTINGS, xl), { steps: 30, guidance: 5, sampler: 'dpmpp-2m-karras' });
  assert.deepEqual(familyModelSettings({ ...DEFAULT_SETTINGS, steps: 12, sampler: 'euler' }, xl), { steps: 12, guidance: 5, sampler: 'euler' });
  const quality = applySpeedPreset(DEFAULT_SETTINGS, presetRecipe('quality', MIXED_INSTALL));
  assert.deepEqual(familyModelSettings(quality, xl), { steps: quality.steps, guidance: quality.guidance, sampler: quality.sampler });
  // SD1.5's defaults are the plugins' own: nothing changes.
  assert.deepEqual(familyModelSettings(DEFAULT_SETTINGS, familyOffer(caps(), '')), { steps: 20, guidance: 7, sampler: 'dpmpp-2m-karras' });
  // An adapter or control type the family has no model for becomes one it has.
  const s = settingsForFamily({ ...DEFAULT_SETTINGS, adapter: 'plus', controlType: 'canny' }, xl);
  assert.deepEqual([s.adapter, s.controlType, s.steps], ['base', 'pose', 30]);
});

test('SDXL sizes a selection to the nearest aspect bucket; SD1.5 keeps the ~512² budget', () => {
  const c = caps();
  const xl = familyOffer(c, 'sd_xl_base_1.0.safetensors');
  const sd = familyOffer(c, '');
  const buckets = xl.defaults.buckets!;
  assert.deepEqual(nearestBucket({ width: 1000, height: 1000 }, buckets), { width: 1024, height: 1024 });
  assert.deepEqual(nearestBucket({ width: 1920, height: 1080 }, buckets), { width: 1344, height: 768 });
  assert.deepEqual(nearestBucket({ width: 600, height: 800 }, buckets), { width: 896, height: 1152 });
  assert.deepEqual(nearestBucket({ width: 300, height: 1000 }, buckets), { width: 640, height: 1536 });
  // Every bucket is its own nearest.
  for (const [w, h] of buckets) assert.deepEqual(nearestBucket({ width: w, height: h }, buckets), { width: w, height: h });
  assert.deepEqual(familyGenerationSize({ width: 1920, height: 1080 }, xl, 512 * 512, c.maxPixels), { width: 1344, height: 768 });
  // A daemon budget below the bucket: the bucket's aspect, shrunk on the 8-px grid into the budget.
  const small = familyGenerationSize({ width: 1920, height: 1080 }, xl, 512 * 512, 512 * 512);
  assert.ok(small.width * small.height <= 512 * 512 && small.width % 8 === 0 && Math.abs(small.width / small.height - 1344 / 768) < 0.05, JSON.stringify(small));
  assert.deepEqual(familyGenerationSize({ width: 1920, height: 1080 }, sd, 512 * 512, c.maxPixels), { width: 680, height: 384 });
  // A plan: a region bigger than the bucket is read at the bucket's size; a small one as it is.
  assert.deepEqual(familyPlanSizes({ x: 0, y: 0, width: 3000, height: 2000 }, xl, 512 * 512, c.maxPixels).read, { width: 1216, height: 832 });
  assert.deepEqual(familyPlanSizes({ x: 5, y: 5, width: 400, height: 300 }, xl, 512 * 512, c.maxPixels).read, { width: 400, height: 300 });
});

test('regional masks: at the init\'s size or the generation size, from a read channel or a shape', () => {
  assert.deepEqual(referenceMaskSize(true, { width: 400, height: 300 }, { width: 1152, height: 896 }), { width: 400, height: 300 });
  assert.deepEqual(referenceMaskSize(false, { width: 400, height: 300 }, { width: 1152, height: 896 }), { width: 1152, height: 896 });
  // A layer mask covering the left half of a 200×100 document, read at half scale; region = the canvas.
  const read = { width: 50, height: 50, data: new Uint8Array(2500).fill(255) };
  const m = regionalMask(read, { x: 0, y: 0, width: 100, height: 100 }, { x: 0, y: 0, width: 200, height: 100 }, { width: 40, height: 20 });
  assert.deepEqual([m.width, m.height, m.data[0], m.data[19], m.data[20], m.data[39]], [40, 20, 255, 255, 0, 0]);
  assert.ok(selectsSomething(m));
  assert.ok(!selectsSomething({ width: 2, height: 1, data: Uint8Array.from([0, 127]) }));
  // A region node over the right half of a frame at (100, 50) 200×100; an ellipse inside it.
  const right = regionShapeOn({ x: 200, y: 50, width: 100, height: 100 }, { x: 100, y: 50, width: 200, height: 100 }, 'rect');
  assert.deepEqual(right, { x: 0.5, y: 0, width: 0.5, height: 1, shape: 'rect' });
  const r = shapeMask(right, { width: 8, height: 4 });
  assert.deepEqual(Array.from(r.data.slice(0, 8)), [0, 0, 0, 0, 255, 255, 255, 255]);
  const e = shapeMask({ x: 0, y: 0, width: 1, height: 1, shape: 'ellipse' }, { width: 10, height: 10 });
  assert.deepEqual([e.data[0], e.data[55], e.data[9]], [0, 255, 0]);
});
