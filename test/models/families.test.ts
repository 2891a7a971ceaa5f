/** The handshake's per-family capabilities: checkpoints, adapters and controls by family, defaults. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { familyCapabilities } from '../../bridge/models/families.ts';
import { MIXED_INSTALL } from '../helpers/installed-models.ts';

test('each family lists its own checkpoints, adapter kinds and control types, and its defaults', () => {
  // The mixed install, plus an SD1.5 inpainting checkpoint and SDXL's plus adapter: every kind of name maps to its family.
  const f = familyCapabilities([
    ...MIXED_INSTALL,
    { name: 'sd-inpaint.safetensors', kind: 'checkpoint:inpaint', base: 'sd15' },
    { name: 'ip-adapter-plus_sdxl_vit-h.safetensors', kind: 'ipadapter:sdxl-plus', base: 'sdxl' },
  ]);
  assert.deepEqual(f.sd15?.checkpoints, ['dreamshaper_8.safetensors', 'sd-inpaint.safetensors']);
  assert.deepEqual([f.sd15?.adapters, f.sd15?.controls], [['base', 'plus'], ['pose', 'canny']]);
  assert.deepEqual([f.sdxl?.checkpoints, f.sdxl?.adapters, f.sdxl?.controls], [['sd_xl_base_1.0.safetensors', 'sd_xl_inpaint.safetensors'], ['base', 'plus'], ['pose']]);
  assert.deepEqual(f.sd15?.defaults, { width: 512, height: 512, steps: 20, guidance: 7, sampler: 'euler-ancestral' });
  assert.deepEqual([f.sdxl?.defaults.width, f.sdxl?.defaults.steps, f.sdxl?.defaults.guidance, f.sdxl?.defaults.sampler], [1024, 30, 5, 'dpmpp-2m-karras']);
  assert.ok(f.sdxl?.defaults.buckets?.every(([w, h]) => w % 64 === 0 && h % 64 === 0 && Math.abs(w * h - 1024 * 1024) <= 0.1 * 1024 * 1024));
  assert.deepEqual(familyCapabilities([{ name: 'x', kind: 'ipadapter:sdxl-base' }]), {}, 'no checkpoint, no family');
});
