/**
 * TAESD / TAESDXL graphs on tiny generated weights: the layer list read off the tensors, both weight
 * layouts (diffusers AutoencoderTiny and taesd.py's files) giving identical graphs and outputs, the
 * layout detection, and the portable flavours' op set. The numerical reference (diffusers 0.30.3) is
 * ../shared/fixtures-sdxl (taesd-*), run by test/engine/parity.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { PORTABLE_OP_TYPES } from '../../engine/graphs/op-support.ts';
import { buildTaesdDecoder, buildTaesdEncoder, inspectTaesd, taesdLayout, taesdScale, taesdSource } from '../../engine/graphs/taesd.ts';
import { noise } from '../../engine/noise.ts';
import { TINY_TAESD_SPEC, taesdDiffusersSpecs, taesdOriginalSpecs } from '../../engine/synthetic/taesd-specs.ts';
import * as S from '../../engine/synthetic/specs.ts';
import { writeSynthetic } from '../../engine/synthetic/write.ts';
import { SafetensorsFile, encodeSafetensors, readRange } from '../../engine/weights/safetensors.ts';
import { maxDiff, runGraph } from '../helpers/graph.ts';

const dir = mkdtempSync(join(tmpdir(), 'ipa-taesd-'));
const diffusers = join(dir, 'diffusion_pytorch_model.safetensors');
writeSynthetic(diffusers, taesdDiffusersSpecs(TINY_TAESD_SPEC), { seed: 21 });

/** The same tensors under taesd.py's names (what convert_tiny_autoencoder_to_diffusers.py undoes). */
function writeOriginal(part: 'encoder' | 'decoder'): string {
  const f = SafetensorsFile.open(diffusers);
  const tensors: Record<string, { dtype: 'F32'; shape: number[]; data: Uint8Array }> = {};
  for (const key of f.keys()) {
    const m = /^(encoder|decoder)\.layers\.(\d+)\.(.+)$/.exec(key);
    if (!m || m[1] !== part) continue;
    const info = f.tensors.get(key)!;
    const index = part === 'decoder' ? Number(m[2]) + 1 : Number(m[2]);
    tensors[`${index}.${m[3]}`] = { dtype: 'F32', shape: [...info.shape], data: readRange(diffusers, info.offset, info.byteLength) };
  }
  const path = join(dir, `taesd_${part}.safetensors`);
  writeFileSync(path, encodeSafetensors(tensors));
  return path;
}
const origDecoder = writeOriginal('decoder');
const origEncoder = writeOriginal('encoder');

test('the synthetic original layout has taesd.py\'s key set (67 tensors per part)', () => {
  const names = (p: string): string[] => SafetensorsFile.open(p).keys().sort();
  assert.deepEqual(names(origDecoder), taesdOriginalSpecs('decoder', TINY_TAESD_SPEC).map((s) => s.name).sort());
  assert.deepEqual(names(origEncoder), taesdOriginalSpecs('encoder', TINY_TAESD_SPEC).map((s) => s.name).sort());
  assert.equal(names(origDecoder).length, 67);
  assert.equal(names(origEncoder).length, 67);
});

test('taesdLayout tells diffusers, taesd.py decoder and encoder files apart, and refuses other models', () => {
  assert.equal(taesdLayout(SafetensorsFile.open(diffusers).keys()), 'diffusers');
  assert.equal(taesdLayout(SafetensorsFile.open(origDecoder).keys()), 'taesd-decoder');
  assert.equal(taesdLayout(SafetensorsFile.open(origEncoder).keys()), 'taesd-encoder');
  assert.equal(taesdLayout(S.vaeSpecs(S.TINY_VAE_SPEC).map((s) => s.name)), undefined);
  assert.equal(taesdLayout(S.unetSpecs(S.TINY_UNET_SPEC).map((s) => s.name)), undefined);
  assert.equal(taesdLayout(['0.weight', '0.bias', 'model.diffusion_model.x']), undefined);
  assert.throws(() => taesdSource(join(import.meta.dirname, '../../../shared/fixtures-sdxl/sdxl-vae-decoder/vae.safetensors')), /not a TAESD file/);
});

test('inspectTaesd reads the Sequential off the tensors: upsamplers, stride-2 convs, channels', () => {
  const dec = inspectTaesd(taesdSource(diffusers), 'decoder');
  assert.deepEqual(dec.layers.map((l) => l.kind).join(' '), 'conv relu block block block upsample conv block block block upsample conv block block block upsample conv block conv');
  assert.equal(dec.latentChannels, 4);
  assert.equal(dec.imageChannels, 3);
  assert.equal(taesdScale(dec), 8);
  const enc = inspectTaesd(taesdSource(diffusers), 'encoder');
  assert.deepEqual(enc.layers.filter((l) => l.kind === 'conv').map((l) => (l.kind === 'conv' ? l.stride : 0)), [1, 2, 2, 2, 1]);
  assert.equal(taesdScale(enc), 1 / 8);
  assert.equal(enc.latentChannels, 4);
  // Shapes, not constants: a 16-channel latent space (TAESD3 / TAEF1 style) is read as such.
  const wide = join(dir, 'wide.safetensors');
  writeSynthetic(wide, taesdDiffusersSpecs({ ...TINY_TAESD_SPEC, latentChannels: 16, width: 6 }), { seed: 2 });
  assert.equal(inspectTaesd(taesdSource(wide), 'decoder').latentChannels, 16);
  assert.throws(() => inspectTaesd(taesdSource(origDecoder), 'encoder'), /no "encoder.layers/);
});

test('decoder and encoder: shapes, and both layouts give identical outputs', async () => {
  const latents = new ort.Tensor('float32', noise(3, [1, 4, 8, 12]).map((v) => v * 2.5), [1, 4, 8, 12]);
  const a = (await runGraph(buildTaesdDecoder(taesdSource(diffusers)), { latents }, dir)).image;
  const b = (await runGraph(buildTaesdDecoder(taesdSource(origDecoder, origEncoder)), { latents }, dir)).image;
  assert.deepEqual([...a.dims], [1, 3, 64, 96]);
  assert.ok(a.data.every(Number.isFinite));
  assert.equal(maxDiff(a.data, b.data), 0);
  const image = new ort.Tensor('float32', noise(4, [2, 3, 64, 96]).map((v) => Math.tanh(v)), [2, 3, 64, 96]);
  const ea = (await runGraph(buildTaesdEncoder(taesdSource(diffusers)), { image }, dir)).latents;
  const eb = (await runGraph(buildTaesdEncoder(taesdSource(origEncoder)), { image }, dir)).latents;
  assert.deepEqual([...ea.dims], [2, 4, 8, 12]);
  assert.equal(maxDiff(ea.data, eb.data), 0);
});

test('the decoder soft-clamps its input: latents beyond +-3 saturate instead of growing the image', async () => {
  const big = new ort.Tensor('float32', new Float32Array(4 * 64).fill(40), [1, 4, 8, 8]);
  const bigger = new ort.Tensor('float32', new Float32Array(4 * 64).fill(400), [1, 4, 8, 8]);
  const g = buildTaesdDecoder(taesdSource(diffusers));
  const x = (await runGraph(g, { latents: big }, dir)).image;
  const y = (await runGraph(g, { latents: bigger }, dir)).image;
  assert.ok(maxDiff(x.data, y.data) < 1e-5);
});

for (const flavour of ['portable', 'portable-fp16', 'webgpu', 'webgpu-fp16'] as const) {
  test(`${flavour}: TAESD graphs use only standard ops listed in op-support.ts`, () => {
    for (const g of [buildTaesdDecoder(taesdSource(diffusers), { flavour }), buildTaesdEncoder(taesdSource(diffusers), { flavour })]) {
      assert.deepEqual(g.ops.filter((o) => o.domain !== ''), []);
      assert.deepEqual(g.ops.map((o) => o.opType).filter((op) => !PORTABLE_OP_TYPES.has(op)), []);
    }
  });
}
