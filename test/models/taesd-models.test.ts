/**
 * The registry recognises TAESD / TAESDXL in both layouts: taesd.py's files (ComfyUI's vae_approx
 * folder), diffusers AutoencoderTiny folders, and the hub snapshot name deciding TAESDXL.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelRegistry } from '../../bridge/models/registry.ts';
import { roleOf } from '../../bridge/models/roles.ts';
import { detectDirectory, detectFile } from '../../engine/weights/detect.ts';
import { taesdDiffusersSpecs, TINY_TAESD_SPEC } from '../../engine/synthetic/taesd-specs.ts';
import { writeSynthetic } from '../../engine/synthetic/write.ts';

const fx = join(import.meta.dirname, '../../../shared/fixtures-sdxl');

function put(dst: string, src: string): string {
  mkdirSync(join(dst, '..'), { recursive: true });
  copyFileSync(src, dst);
  return dst;
}

test('detect: taesd.py decoder / encoder files and a diffusers AutoencoderTiny folder', () => {
  const dec = detectFile(join(fx, 'taesd-decoder/taesd_decoder.safetensors'));
  assert.deepEqual([dec.kind, dec.variant, dec.format, dec.supported], ['vae', 'taesd', 'taesd', true]);
  const enc = detectFile(join(fx, 'taesd-decoder/taesd_encoder.safetensors'));
  assert.equal(enc.variant, 'taesd-encoder');
  assert.equal(detectFile(join(fx, 'taesdxl-decoder/taesdxl_decoder.safetensors')).variant, 'taesdxl');
  const both = detectFile(join(fx, 'taesd-decoder/vae.safetensors'));
  assert.deepEqual([both.variant, both.format, both.details.components], ['taesd', 'diffusers', ['decoder', 'encoder']]);
  // The SD VAE stays a plain vae.
  assert.equal(detectFile(join(fx, 'sdxl-vae-decoder/vae.safetensors')).variant, undefined);
  const folder = mkdtempSync(join(tmpdir(), 'ipa-taesd-dir-'));
  const xl = join(folder, 'taesdxl');
  mkdirSync(xl);
  writeFileSync(join(xl, 'config.json'), JSON.stringify({ _class_name: 'AutoencoderTiny' }));
  writeSynthetic(join(xl, 'diffusion_pytorch_model.safetensors'), taesdDiffusersSpecs(TINY_TAESD_SPEC));
  const d = detectDirectory(xl)!;
  assert.deepEqual([d.kind, d.variant, d.format], ['vae', 'taesdxl', 'diffusers']);
  // A 16-channel tiny autoencoder (TAESD3 / TAEF1) is recognised and refused with a reason.
  const wide = join(folder, 'taesd3.safetensors');
  writeSynthetic(wide, taesdDiffusersSpecs({ ...TINY_TAESD_SPEC, latentChannels: 16 }));
  const w = detectFile(wide);
  assert.equal(w.supported, false);
  assert.match(w.reason ?? '', /16-channel/);
});

test('roles: vae:taesd / vae:taesdxl; a hub snapshot named madebyollin/taesdxl is TAESDXL', () => {
  const d = detectFile(join(fx, 'taesd-decoder/vae.safetensors'));
  assert.equal(roleOf(d, 'vae.safetensors'), 'vae:taesd');
  assert.equal(roleOf(d, 'madebyollin/taesdxl'), 'vae:taesdxl');
  assert.equal(roleOf(detectFile(join(fx, 'taesd-decoder/taesd_encoder.safetensors')), 'madebyollin/taesdxl/taesdxl_encoder.safetensors'), 'vae:taesdxl-encoder');
  assert.equal(roleOf(detectFile(join(fx, 'sdxl-vae-decoder/vae.safetensors')), 'sdxl_vae.safetensors'), 'vae');
});

test('registry: a ComfyUI vae_approx folder fills vae:taesd and vae:taesdxl; encoders never fill a decoder role', () => {
  const root = mkdtempSync(join(tmpdir(), 'ipa-comfy-taesd-'));
  const m = join(root, 'models');
  mkdirSync(join(m, 'checkpoints'), { recursive: true });
  put(join(m, 'vae_approx', 'taesd_decoder.safetensors'), join(fx, 'taesd-decoder/taesd_decoder.safetensors'));
  put(join(m, 'vae_approx', 'taesd_encoder.safetensors'), join(fx, 'taesd-decoder/taesd_encoder.safetensors'));
  put(join(m, 'vae_approx', 'taesdxl_decoder.safetensors'), join(fx, 'taesdxl-decoder/taesdxl_decoder.safetensors'));
  const reg = ModelRegistry.scan([root]);
  assert.equal(reg.find('vae:taesd').path, join(m, 'vae_approx', 'taesd_decoder.safetensors'));
  assert.equal(reg.find('vae:taesdxl').path, join(m, 'vae_approx', 'taesdxl_decoder.safetensors'));
  assert.equal(reg.find('vae:taesd-encoder').path, join(m, 'vae_approx', 'taesd_encoder.safetensors'));
  assert.ok(reg.candidates('vae:taesd').every((e) => !e.path.includes('encoder')));
});
