/**
 * faceEmbedding end to end through onnxruntime, with tiny generated models that have the real
 * input/output names and layouts of insightface buffalo_l:
 * - det_10g.onnx: input "input.1" [1, 3, H, W]; outputs 448/471/494 (scores [rows, 1]),
 *   451/474/497 (box distances [rows, 4]), 454/477/500 (landmark distances [rows, 10]) for strides
 *   8/16/32 with 2 anchors (rows = 2·(H/s)·(W/s): 12800/3200/800 at 640), in insightface's order.
 *   Each level is AveragePool(stride) → 1x1 Conv → NHWC → [rows, C], the SCRFD head layout, so a
 *   level "sees" one stride cell: stride 32 scores the red channel, stride 16 the green one.
 *   Distances are constant biases, chosen so the landmarks land on the arcface template inside the
 *   coloured square, and the aligned crop is that colour exactly.
 * - w600k_r50.onnx: input "input.1" [1, 3, 112, 112] → output "683" [1, 512] as
 *   GlobalAveragePool → MatMul + bias, so the embedding of a uniform crop is known in closed form.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RgbaImage } from '../../engine/api.ts';
import { EngineError } from '../../engine/api.ts';
import { ARCFACE_TEMPLATE_112 } from '../../engine/preprocess/face/geometry.ts';
import { buildDetector, buildRecognizer, canvas, expectedEmbedding } from '../helpers/tiny-face-models.ts';
import { detectFaces, faceEmbedding, faceSession, releaseFaceSessions, swapRedBlue } from '../../engine/preprocess/face/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'ipa-face-'));
after(async () => {
  await releaseFaceSessions();
  rmSync(dir, { recursive: true, force: true });
});

function write(name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

const detector = write('det_10g.onnx', buildDetector());
const recognizer = write('w600k_r50.onnx', buildRecognizer());
const models = { detector, recognizer };

const RED = [255, 0, 0] as const;
const GREEN = [0, 255, 0] as const;
const twoFaces = canvas(1280, 960, [{ x: 320, y: 256, w: 64, h: 64, rgb: RED }, { x: 960, y: 640, w: 32, h: 32, rgb: GREEN }]);
const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
const close = (a: number, b: number, tol: number, what = '') => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

function assertEmbedding(actual: Float32Array, want: { normed: number[] }): void {
  assert.equal(actual.length, 512);
  let n = 0;
  for (let i = 0; i < 512; i++) {
    close(actual[i], want.normed[i], 2e-6, `embedding[${i}]`);
    n += actual[i] * actual[i];
  }
  close(n, 1, 1e-5, '|embedding|²');
}

test('default: the largest face, its landmarks on the template, the ArcFace embedding and the 224 crop', async () => {
  const r = await faceEmbedding(twoFaces, models, { role: 'references[0].image' });
  assert.equal(r.faces.length, 2);
  assert.equal(r.detSize, 640);
  // faces are in score order: green (sigmoid(6·0.996 − 1)) before red (sigmoid(4·0.996 − 2)).
  close(r.faces[0].score, sigmoid(6 * (127.5 / 128) - 1), 1e-6, 'green score');
  assert.equal(r.index, 1);
  close(r.score, sigmoid(4 * (127.5 / 128) - 2), 1e-6, 'red score');
  // Anchor (160, 128) ± 32 in the letterbox, /0.5 back to the image.
  assert.deepEqual(r.box, [256, 192, 384, 320]);
  r.kps.forEach(([x, y], i) => {
    close(x, ARCFACE_TEMPLATE_112[i][0] * 0.5 + 324, 1e-4, `kps[${i}].x`);
    close(y, ARCFACE_TEMPLATE_112[i][1] * 0.5 + 260, 1e-4, `kps[${i}].y`);
  });
  const want = expectedEmbedding(RED);
  assertEmbedding(r.embedding, want);
  close(r.norm, want.norm, 1e-4, 'norm');
  const crop = r.alignedCrop224!;
  assert.equal(crop.width, 224);
  assert.equal(crop.height, 224);
  for (let i = 0; i < 224 * 224; i++) assert.deepEqual([...crop.data.subarray(i * 4, i * 4 + 4)], [255, 0, 0, 255], `crop pixel ${i}`);
  assert.deepEqual([...swapRedBlue(crop).data.subarray(0, 4)], [0, 0, 255, 255]);
});

test('"best" and an index pick by score order; a bad index is a clear error', async () => {
  const best = await faceEmbedding(twoFaces, models, { face: 'best', alignedCrop: false });
  assert.equal(best.index, 0);
  assert.deepEqual(best.box, [928, 608, 992, 672]);
  assert.equal(best.alignedCrop224, undefined);
  assertEmbedding(best.embedding, expectedEmbedding(GREEN));
  const byIndex = await faceEmbedding(twoFaces, models, { face: 1 });
  assert.deepEqual(byIndex.box, [256, 192, 384, 320]);
  await assert.rejects(faceEmbedding(twoFaces, models, { face: 2, role: 'references[1].image' }),
    (e: unknown) => e instanceof EngineError && e.code === 'face-index' && e.field === 'references[1].image' && /2 faces were found/.test(e.message));
});

test('no face: EngineError "no-face" naming the image role', async () => {
  const black = canvas(300, 200, []);
  await assert.rejects(faceEmbedding(black, models, { role: 'references[2].image' }),
    (e: unknown) => e instanceof EngineError && e.code === 'no-face' && e.field === 'references[2].image' && e.message.includes('references[2].image') && e.message.includes('300x200'));
  const { faces } = await detectFaces(black, detector);
  assert.equal(faces.length, 0);
});

test('outputs are matched by shape: another order, a batch axis and a fixed 640 input give the same faces', async () => {
  const shuffled = write('det_shuffled.onnx', buildDetector({ fixed: 640, batchAxis: true, order: ['500', '448', '474', '454', '471', '497', '477', '494', '451'] }));
  const a = await detectFaces(twoFaces, detector);
  const b = await detectFaces(twoFaces, shuffled, { detSizes: [320] }); // a fixed-size model ignores detSizes
  assert.equal(b.detSize, 640);
  assert.deepEqual(b.faces, a.faces);
});

test('detector sizes are tried in turn until one finds a face', async () => {
  // A 90-px red square at (395, 395): at 640 (scale 0.5) and 576 it covers no whole stride-32 cell,
  // at 512 (scale 0.4) it covers letterbox [158, 194) ⊃ the cell [160, 192).
  const img = canvas(1280, 960, [{ x: 395, y: 395, w: 90, h: 90, rgb: RED }]);
  await assert.rejects(faceEmbedding(img, models, { detSizes: [640, 576] }), (e: unknown) => e instanceof EngineError && e.code === 'no-face');
  const r = await faceEmbedding(img, models);
  assert.equal(r.detSize, 512);
  assert.deepEqual(r.box.map((v) => Math.round(v * 1000) / 1000), [320, 320, 480, 480]);
});

test('sessions are cached per model file; missing and wrong-shaped models are clear errors', async () => {
  assert.equal(faceSession(detector, 'detector'), faceSession(detector, 'detector'));
  await assert.rejects(faceEmbedding(twoFaces, { detector, recognizer: join(dir, 'nope.onnx') }),
    (e: unknown) => e instanceof EngineError && e.code === 'model-missing' && /w600k_r50\.onnx/.test(e.message));
  const junk = write('junk.onnx', Buffer.from('not an onnx model'));
  await assert.rejects(faceEmbedding(twoFaces, { detector: junk, recognizer }),
    (e: unknown) => e instanceof EngineError && e.code === 'model-invalid' && e.message.includes('junk.onnx'));
  const wrong = write('rec128.onnx', buildRecognizer(128));
  await assert.rejects(faceEmbedding(twoFaces, { detector, recognizer: wrong }),
    (e: unknown) => e instanceof EngineError && e.code === 'model-invalid' && /expected \[N, 3, 112, 112\]/.test(e.message));
  // The recognizer given as the detector: its single [1, 512] output is no SCRFD layout.
  await assert.rejects(faceEmbedding(twoFaces, { detector: recognizer, recognizer }),
    (e: unknown) => e instanceof EngineError && e.code === 'model-invalid' && /SCRFD detector outputs: "683" has shape \[1,512\]/.test(e.message));
  await assert.rejects(faceEmbedding({ width: 2, height: 2, data: new Uint8Array(3) }, models, { role: 'references[0].image' }), /references\[0\]\.image: 3 bytes/);
});
