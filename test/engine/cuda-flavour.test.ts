/**
 * The CUDA flavour (fp16 compute, fused com.microsoft ops) cannot run without a GPU, but
 * onnxruntime resolves the whole graph — every node's types and shapes checked — before it picks
 * kernels. Loading it on the CPU provider must therefore get past graph resolution and fail, if at
 * all, only for the CUDA-only GroupNorm kernel.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { BuiltGraph } from '../../engine/onnx/builder.ts';
import { buildClipTextGraph } from '../../engine/graphs/clip-text.ts';
import { buildClipVisionGraph } from '../../engine/graphs/clip-vision.ts';
import { buildControlNet } from '../../engine/graphs/controlnet.ts';
import { buildIpKvGraph, buildIpProjectionGraph } from '../../engine/graphs/ip-adapter.ts';
import { buildUNet } from '../../engine/graphs/unet.ts';
import { buildVaeDecoder, buildVaeEncoder } from '../../engine/graphs/vae.ts';
import { materialize } from '../../engine/runtime/session.ts';
import { safetensorsSource } from '../../engine/weights/source.ts';
import { inspectUNet } from '../../engine/weights/unet-structure.ts';

const fx = join(import.meta.dirname, '../../../shared/fixtures');
const fxXl = join(import.meta.dirname, '../../../shared/fixtures-sdxl');
const tinyXl = { heads: [1, 2, 4], normGroups: 8, timeIdDim: 8 };
const cache = mkdtempSync(join(tmpdir(), 'ipa-cuda-'));
const tiny = { heads: 2, normGroups: 8 };

const graphs: Array<[string, () => BuiltGraph]> = [
  ['UNet (IP + ControlNet inputs)', () => buildUNet(safetensorsSource(join(fx, 'unet-basic/unet.safetensors')), { flavour: 'cuda', control: true, ip: true, config: tiny })],
  ['ControlNet', () => buildControlNet(safetensorsSource(join(fx, 'controlnet/controlnet.safetensors')), { flavour: 'cuda', config: tiny })],
  ['SDXL UNet (IP + ControlNet inputs)', () => buildUNet(safetensorsSource(join(fxXl, 'sdxl-unet-basic/unet.safetensors')), { flavour: 'cuda', control: true, ip: true, config: tinyXl })],
  ['SDXL ControlNet', () => buildControlNet(safetensorsSource(join(fxXl, 'sdxl-controlnet/controlnet.safetensors')), { flavour: 'cuda', config: tinyXl })],
  ['VAE decoder', () => buildVaeDecoder(safetensorsSource(join(fx, 'vae-decoder/vae.safetensors')), { flavour: 'cuda', config: { groups: 4 } })],
  ['VAE encoder', () => buildVaeEncoder(safetensorsSource(join(fx, 'vae-decoder/vae.safetensors')), { flavour: 'cuda', config: { groups: 4 } })],
  ['CLIP text', () => buildClipTextGraph(safetensorsSource(join(fx, 'clip-text/text_encoder.safetensors')), { flavour: 'cuda', heads: 2 })],
  ['CLIP vision', () => buildClipVisionGraph(safetensorsSource(join(fx, 'clip-vision/image_encoder.safetensors')), { flavour: 'cuda', heads: 2 })],
  ['IP-Adapter Plus projection', () => buildIpProjectionGraph(safetensorsSource(join(fx, 'ip-proj-plus/ip-adapter-plus.safetensors')), { flavour: 'cuda', heads: 2, dimHead: 8 })],
  ['IP-Adapter keys/values', () => buildIpKvGraph(safetensorsSource(join(fx, 'ip-proj-base/ip-adapter-base.safetensors')), inspectUNet(safetensorsSource(join(fx, 'unet-basic/unet.safetensors'))), { flavour: 'cuda' })],
];

for (const [name, build] of graphs) {
  test(`CUDA flavour of the ${name} resolves in onnxruntime`, async () => {
    const g = build();
    const { modelPath } = materialize(g, cache);
    try {
      const s = await ort.InferenceSession.create(modelPath, { executionProviders: ['cpu'], graphOptimizationLevel: 'disabled' });
      await s.release();
    } catch (e) {
      assert.match((e as Error).message, /Failed to find kernel for com\.microsoft\.GroupNorm/, `${name}: ${(e as Error).message}`);
    }
  });
}
