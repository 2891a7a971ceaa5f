/**
 * The portable flavours (WebGPU, CoreML, DirectML) emit only standard ONNX ops listed in
 * engine/graphs/op-support.ts, never the com.microsoft domain (not even its opset import), and
 * onnxruntime resolves every graph. Tiny synthetic weights for every graph kind; the Resampler
 * variants (no synthetic spec) use the fixtures' tiny files. The cpu flavour keeps its fused ops.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { BuiltGraph, Flavour } from '../../engine/onnx/builder.ts';
import { buildClipTextGraph } from '../../engine/graphs/clip-text.ts';
import { buildClipVisionGraph } from '../../engine/graphs/clip-vision.ts';
import { buildControlNet } from '../../engine/graphs/controlnet.ts';
import { GRAPH_KINDS, graphFlavour, type GraphKind } from '../../engine/graphs/flavour.ts';
import { buildIpKvGraph, buildIpProjectionGraph } from '../../engine/graphs/ip-adapter.ts';
import { PORTABLE_OP_TYPES, PORTABLE_OPS, PORTABLE_PROVIDERS, cpuFallbackOps } from '../../engine/graphs/op-support.ts';
import { buildUNet } from '../../engine/graphs/unet.ts';
import { buildVaeDecoder, buildVaeEncoder } from '../../engine/graphs/vae.ts';
import { materialize } from '../../engine/runtime/session.ts';
import * as S from '../../engine/synthetic/specs.ts';
import { sdxlControlNetSpecs, sdxlUnetSpecs, TINY_SDXL_UNET_SPEC } from '../../engine/synthetic/sdxl-specs.ts';
import { writeSynthetic } from '../../engine/synthetic/write.ts';
import { safetensorsSource, type WeightSource } from '../../engine/weights/source.ts';
import { inspectUNet } from '../../engine/weights/unet-structure.ts';

const dir = mkdtempSync(join(tmpdir(), 'ipa-portable-'));
const fx = join(import.meta.dirname, '../../../shared/fixtures');
const synthetic = (name: string, specs: readonly S.TensorSpec[]): WeightSource => {
  const path = join(dir, `${name}.safetensors`);
  writeSynthetic(path, specs, { seed: 3 });
  return safetensorsSource(path);
};

const unet = synthetic('unet', S.unetSpecs(S.TINY_UNET_SPEC));
const controlnet = synthetic('controlnet', S.controlNetSpecs(S.TINY_UNET_SPEC, [8, 8, 16, 16]));
const vae = synthetic('vae', S.vaeSpecs(S.TINY_VAE_SPEC));
const text = synthetic('text', S.clipTextSpecs(S.TINY_TEXT_SPEC));
const vision = synthetic('vision', S.clipVisionSpecs(S.TINY_VISION_SPEC));
const ipBase = synthetic('ip-base', S.ipAdapterBaseSpecs(S.TINY_UNET_SPEC, S.TINY_VISION_SPEC.projection));
const ipFaceId = synthetic('ip-faceid', S.ipAdapterFaceIdSpecs(S.TINY_UNET_SPEC, 64, 32, 4, 4));
const tiny = { heads: 2, normGroups: 8 };
const sdxlUnet = synthetic('sdxl-unet', sdxlUnetSpecs(TINY_SDXL_UNET_SPEC));
const sdxlControlnet = synthetic('sdxl-controlnet', sdxlControlNetSpecs(TINY_SDXL_UNET_SPEC, [8, 8, 16, 16]));
const tinySdxl = { heads: [1, 2, 4], normGroups: 8, timeIdDim: 8 };

/** One builder per graph kind (several for the IP projections), each taking the flavour. */
const BUILDS: ReadonlyArray<readonly [GraphKind, string, (f: Flavour) => BuiltGraph]> = [
  ['unet', 'UNet with IP and ControlNet inputs', (flavour) => buildUNet(unet, { flavour, control: true, ip: true, config: tiny })],
  ['controlnet', 'ControlNet', (flavour) => buildControlNet(controlnet, { flavour, config: tiny })],
  ['unet', 'SDXL UNet with IP, regional-mask and ControlNet inputs', (flavour) => buildUNet(sdxlUnet, { flavour, control: true, ip: true, config: tinySdxl })],
  ['controlnet', 'SDXL ControlNet', (flavour) => buildControlNet(sdxlControlnet, { flavour, config: tinySdxl })],
  ['vae-decoder', 'VAE decoder', (flavour) => buildVaeDecoder(vae, { flavour, config: { groups: 4 } })],
  ['vae-encoder', 'VAE encoder (with latent shift)', (flavour) => buildVaeEncoder(vae, { flavour, config: { groups: 4, shiftFactor: 0.1 } })],
  ['clip-text', 'CLIP text', (flavour) => buildClipTextGraph(text, { flavour, heads: 2 })],
  ['clip-vision', 'CLIP vision', (flavour) => buildClipVisionGraph(vision, { flavour, heads: 2 })],
  ['ip-proj', 'IP-Adapter base projection', (flavour) => buildIpProjectionGraph(ipBase, { flavour })],
  ['ip-proj', 'IP-Adapter FaceID projection', (flavour) => buildIpProjectionGraph(ipFaceId, { flavour })],
  ['ip-proj', 'IP-Adapter Plus Resampler', (flavour) => buildIpProjectionGraph(safetensorsSource(join(fx, 'ip-proj-plus/ip-adapter-plus.safetensors')), { flavour, heads: 2, dimHead: 8 })],
  ['ip-proj', 'IP-Adapter FaceID-PlusV2 projection', (flavour) => buildIpProjectionGraph(safetensorsSource(join(fx, 'ip-proj-faceid-plusv2/ip-adapter-faceid-plusv2.safetensors')), { flavour, heads: 2, dimHead: 8, shortcut: true })],
  ['ip-kv', 'IP-Adapter keys/values', (flavour) => buildIpKvGraph(ipBase, inspectUNet(unet), { flavour })],
];

test('every graph kind has a portable-flavour check', () => {
  assert.deepEqual([...new Set(BUILDS.map(([k]) => k))].sort(), [...GRAPH_KINDS].sort());
});

for (const flavour of ['portable', 'portable-fp16', 'webgpu', 'webgpu-fp16'] as const) {
  for (const [kind, name, build] of BUILDS) {
    test(`${flavour}: ${name} uses only standard ops with portable-EP support data`, async () => {
      const g = build(graphFlavour(flavour, kind));
      const foreign = g.ops.filter((o) => o.domain !== '').map((o) => `${o.domain}.${o.opType}`);
      assert.deepEqual(foreign, [], `${name}: non-standard ops`);
      assert.ok(!Buffer.from(g.model).includes('com.microsoft'), `${name}: the model still names com.microsoft (opset import)`);
      const unlisted = g.ops.map((o) => o.opType).filter((op) => !PORTABLE_OP_TYPES.has(op));
      assert.deepEqual(unlisted, [], `${name}: ops missing from engine/graphs/op-support.ts`);
      // onnxruntime resolves the graph (types and shapes of every node).
      const { modelPath, externalData } = materialize(g, dir);
      const s = await ort.InferenceSession.create(modelPath, { executionProviders: ['cpu'], graphOptimizationLevel: 'disabled', ...(externalData ? { externalData } : {}) });
      await s.release();
    });
  }
}

test('the cpu flavour keeps MultiHeadAttention and Gelu; portable replaces them', () => {
  const ops = (f: Flavour) => buildClipVisionGraph(vision, { flavour: f, heads: 2 }).ops.map((o) => `${o.domain ? `${o.domain}.` : ''}${o.opType}`);
  assert.ok(ops('cpu').includes('com.microsoft.MultiHeadAttention'));
  assert.ok(ops('cpu').includes('com.microsoft.Gelu'));
  assert.ok(ops('portable').includes('Softmax') && ops('portable').includes('Erf'));
});

test('graphFlavour: the SD VAE decoder is fp32 in portable-fp16; everything else keeps its flavour', () => {
  assert.equal(graphFlavour('portable-fp16', 'vae-decoder'), 'portable');
  assert.equal(graphFlavour('portable-fp16', 'vae-encoder'), 'portable-fp16');
  assert.equal(graphFlavour('portable-fp16', 'unet'), 'portable-fp16');
  assert.equal(graphFlavour('webgpu-fp16', 'vae-decoder'), 'webgpu');
  assert.equal(graphFlavour('webgpu-fp16', 'unet'), 'webgpu-fp16');
  assert.equal(graphFlavour('cuda', 'vae-decoder'), 'cuda');
  for (const k of GRAPH_KINDS) {
    assert.equal(graphFlavour('cpu', k), 'cpu');
    assert.equal(graphFlavour('portable', k), 'portable');
  }
});

test('the op-support table is well-formed: unique ops, a note wherever an EP lacks one', () => {
  assert.equal(PORTABLE_OP_TYPES.size, PORTABLE_OPS.length);
  for (const o of PORTABLE_OPS) for (const p of PORTABLE_PROVIDERS) if (!o[p].ok) assert.ok(o[p].note, `${o.op} on ${p}`);
  assert.deepEqual(cpuFallbackOps('webgpu'), []);
  assert.deepEqual(cpuFallbackOps('dml'), []);
});
