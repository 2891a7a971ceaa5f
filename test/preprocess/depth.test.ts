/** Depth: input sizing (static dims, DPT keep-aspect rule), normalisation, and tiny Depth-Anything / MiDaS-style ONNX models. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { EngineError, type RgbaImage } from '../../engine/api.ts';
import { preprocessControl } from '../../engine/preprocess/control.ts';
import { depthInputSize, depthInputTensor, estimateDepth, IMAGENET_MEAN, IMAGENET_STD, normalizeDepth } from '../../engine/preprocess/depth.ts';
import { disposeAnnotatorSessions, loadAnnotator } from '../../engine/preprocess/pose/annotator-session.ts';
import { buildDepthAnything, buildMidas, dir } from './tiny-models.ts';

after(async () => {
  await disposeAnnotatorSessions();
  rmSync(dir, { recursive: true, force: true });
});

/** Horizontal grey ramp, w x h. */
function ramp(w: number, h: number): RgbaImage {
  const data = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set([x * 8, x * 8, x * 8, 255], (y * w + x) * 4);
  return { width: w, height: h, data };
}

/** A session wrapper that records the shapes it was fed. */
function spy(s: ort.InferenceSession, fed: number[][]): ort.InferenceSession {
  return new Proxy(s, {
    get(target, prop, recv) {
      if (prop === 'run') {
        return (feeds: Record<string, ort.Tensor>) => {
          for (const t of Object.values(feeds)) fed.push([...t.dims]);
          return target.run(feeds);
        };
      }
      return Reflect.get(target, prop, recv) as unknown;
    },
  });
}

test('input size: static dims win; dynamic dims follow the DPT keep-aspect rule (multiples of 14, half to even)', () => {
  assert.deepEqual(depthInputSize(64, 64), { width: 518, height: 518 });
  // 1024x768: 518/768 is closer to 1 than 518/1024 → both sides × 0.6745 → 690.7 → 686 (49 × 14), 518.
  assert.deepEqual(depthInputSize(1024, 768), { width: 686, height: 518 });
  // 100x50: 518/100 is closer to 1 → 518 x 259; 259 / 14 = 18.5 rounds half to even → 18 × 14 = 252.
  assert.deepEqual(depthInputSize(100, 50), { width: 518, height: 252 });
  assert.deepEqual(depthInputSize(100, 50, { h: 384, w: 384 }), { width: 384, height: 384 });
  assert.deepEqual(depthInputSize(1000, 500, {}, { size: 256, multiple: 32 }), { width: 512, height: 256 });
});

test('input tensor: x / 255, ImageNet mean/std, planar', () => {
  const t = depthInputTensor(new Uint8Array([255, 0, 128]), 1, 1, 1, 1);
  const want = [(1 - IMAGENET_MEAN[0]) / IMAGENET_STD[0], (0 - IMAGENET_MEAN[1]) / IMAGENET_STD[1], (128 / 255 - IMAGENET_MEAN[2]) / IMAGENET_STD[2]];
  want.forEach((v, i) => assert.ok(Math.abs(t[i] - v) < 1e-6));
  const s = depthInputTensor(new Uint8Array([255, 0, 0]), 1, 1, 1, 1, 'symmetric');
  assert.deepEqual(Array.from(s), [1, -1, -1]);
});

test('normalisation: min–max to 0–255, truncated; a flat map is black', () => {
  assert.deepEqual(Array.from(normalizeDepth([2, 4, 6])), [0, 127, 255]);
  assert.deepEqual(Array.from(normalizeDepth([-1, -1])), [0, 0]);
});

test('Depth-Anything-style model (pixel_values → predicted_depth, dynamic dims) through onnxruntime', async () => {
  const path = buildDepthAnything();
  const session = await loadAnnotator('depth', path);
  assert.deepEqual(session.inputNames, ['pixel_values']);
  const fed: number[][] = [];
  const out = await estimateDepth(spy(session, fed), ramp(32, 24), 40, 30);
  // 32x24: 518/32 is closer to 1 → 518 x 388.5 → 392.
  assert.deepEqual(fed, [[1, 3, 392, 518]]);
  assert.deepEqual([out.width, out.height, out.data.length], [40, 30, 40 * 30 * 4]);
  for (let y = 0; y < 30; y += 7) {
    const row = [...Array(40).keys()].map((x) => out.data[(y * 40 + x) * 4]);
    assert.equal(row[0], 0);
    assert.equal(row[39], 255);
    for (let x = 1; x < 40; x++) assert.ok(row[x] >= row[x - 1], `row ${y} not monotone at ${x}`);
    assert.ok(row.every((v, x) => out.data[(y * 40 + x) * 4 + 1] === v && out.data[(y * 40 + x) * 4 + 3] === 255));
  }
  // Same through the entry point.
  const viaControl = await preprocessControl('depth', ramp(32, 24), { width: 40, height: 30, models: { depth: path } });
  assert.deepEqual(viaControl.image.data, out.data);
  assert.equal(viaControl.keypoints, undefined);
});

test('MiDaS-style model (static image [1,3,64,64] → depth [1,1,64,64]) uses its own input size', async () => {
  const session = await loadAnnotator('depth', buildMidas());
  const fed: number[][] = [];
  const out = await estimateDepth(spy(session, fed), ramp(32, 24), 16, 12, { normalize: 'symmetric' });
  assert.deepEqual(fed, [[1, 3, 64, 64]]);
  assert.equal(out.width, 16);
  assert.equal(out.data[0], 0);
  assert.equal(out.data[15 * 4], 255);
});

test('missing or broken depth model: a clear error naming the file and the pull command', async () => {
  const isMissing = (re: RegExp) => (e: unknown) => e instanceof EngineError && e.code === 'model-missing' && /depth_anything_v2_small\.onnx/.test(e.message) && /npx ipa-bridge models pull annotators/.test(e.message) && re.test(e.message);
  await assert.rejects(preprocessControl('depth', ramp(8, 8), {}), isMissing(/not installed/));
  const nowhere = join(dir, 'nope', 'depth.onnx');
  await assert.rejects(preprocessControl('depth', ramp(8, 8), { models: { depth: nowhere }, field: 'controls[1]' }), (e: unknown) => isMissing(new RegExp(nowhere.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))(e) && (e as EngineError).field === 'controls[1]');
  const junk = join(dir, 'junk.onnx');
  writeFileSync(junk, 'not a model');
  await assert.rejects(preprocessControl('depth', ramp(8, 8), { models: { depth: junk } }), (e: unknown) => e instanceof EngineError && e.code === 'model-invalid' && e.message.includes(junk) && e.message.includes('models pull annotators'));
});
