/** The handshake's per-family capabilities: checkpoints, adapters and controls by family, defaults. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { familyCapabilities } from '../../bridge/models/families.ts';

test('each family lists its own checkpoints, adapter kinds and control types, and its defaults', () => {
  const f = familyCapabilities([
    { name: 'v1-5.safetensors', kind: 'checkpoint', base: 'sd15' },
    { name: 'sd-inpaint.safetensors', kind: 'checkpoint:inpaint', base: 'sd15' },
    { name: 'sd_xl_base_1.0.safetensors', kind: 'checkpoint:sdxl', base: 'sdxl' },
    { name: 'ip-adapter_sd15.safetensors', kind: 'ipadapter:base', base: 'sd15' },
    { name: 'ip-adapter-plus_sdxl_vit-h.safetensors', kind: 'ipadapter:sdxl-plus', base: 'sdxl' },
    { name: 'control_v11p_sd15_canny.safetensors', kind: 'controlnet:canny', base: 'sd15' },
    { name: 'controlnet-openpose-sdxl-1.0', kind: 'controlnet:sdxl-pose', base: 'sdxl' },
  ]);
  assert.deepEqual(f.sd15?.checkpoints, ['v1-5.safetensors', 'sd-inpaint.safetensors']);
  assert.deepEqual([f.sd15?.adapters, f.sd15?.controls], [['base'], ['canny']]);
  assert.deepEqual([f.sdxl?.checkpoints, f.sdxl?.adapters, f.sdxl?.controls], [['sd_xl_base_1.0.safetensors'], ['plus'], ['pose']]);
  assert.deepEqual(f.sd15?.defaults, { width: 512, height: 512, steps: 20, guidance: 7, sampler: 'euler-ancestral' });
  assert.deepEqual([f.sdxl?.defaults.width, f.sdxl?.defaults.steps, f.sdxl?.defaults.guidance, f.sdxl?.defaults.sampler], [1024, 30, 5, 'dpmpp-2m-karras']);
  assert.ok(f.sdxl?.defaults.buckets?.every(([w, h]) => w % 64 === 0 && h % 64 === 0 && Math.abs(w * h - 1024 * 1024) <= 0.1 * 1024 * 1024));
  assert.deepEqual(familyCapabilities([{ name: 'x', kind: 'ipadapter:sdxl-base' }]), {}, 'no checkpoint, no family');
});
