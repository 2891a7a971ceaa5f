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
import { GraphBuilder, TensorType, type Dim } from '../../engine/onnx/builder.ts';
import { ARCFACE_TEMPLATE_112 } from '../../engine/preprocess/face/geometry.ts';
import { detectFaces, faceEmbedding, faceSession, releaseFaceSessions, swapRedBlue } from '../../engine/preprocess/face/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'ipa-face-'));
after(async () => {
  await releaseFaceSessions();
  rmSync(dir, { recursive: true, force: true });
});

const STRIDES = [8, 16, 32] as const;
const NAMES = { scores: ['448', '471', '494'], boxes: ['451', '474', '497'], kps: ['454', '477', '500'] } as const;
const INSIGHTFACE_ORDER = [...NAMES.scores, ...NAMES.boxes, ...NAMES.kps];

/** Landmark distances (stride units) putting the 5 points at template·k + (ox, oy) in image pixels, for an anchor at (ax, ay). */
function kpsBias(k: number, ox: number, oy: number, ax: number, ay: number, pixelsPerUnit: number): number[] {
  return ARCFACE_TEMPLATE_112.flatMap(([x, y]) => [(x * k + ox - ax) / pixelsPerUnit, (y * k + oy - ay) / pixelsPerUnit]);
}

/** Per level: score = sigmoid(w · mean(channel) + b); box and landmark distances constant. */
interface LevelSpec { channel: number; w: number; b: number; box: number[]; kps: number[] }

// Test image 1280x960 → letterbox 640x480, det_scale 0.5 (1 letterbox px = 2 image px).
// Red face: the stride-32 cell (5, 4) = letterbox [160,192)x[128,160) = image [320,384)x[256,320);
// landmarks = template·0.5 + (324, 260), a 56-px crop well inside the red square.
// Green face: the stride-16 cell (30, 20) = image [960,992)x[640,672); landmarks = template·0.25 + (962, 642).
const LEVELS: Record<number, LevelSpec> = {
  8: { channel: 0, w: 0, b: -10, box: [0, 0, 0, 0], kps: new Array(10).fill(0) },
  16: { channel: 1, w: 6, b: -1, box: [1, 1, 1, 1], kps: kpsBias(0.25, 962, 642, 960, 640, 32) },
  32: { channel: 0, w: 4, b: -2, box: [1, 1, 1, 1], kps: kpsBias(0.5, 324, 260, 320, 256, 64) },
};

interface DetectorOptions { fixed?: number; order?: readonly string[]; batchAxis?: boolean }

function buildDetector(opts: DetectorOptions = {}): Uint8Array {
  const g = new GraphBuilder('scrfd-tiny', 'cpu');
  const H: Dim = opts.fixed ?? 'height';
  const W: Dim = opts.fixed ?? 'width';
  const x = g.input('input.1', TensorType.FLOAT, [1, 3, H, W]);
  const outs = new Map<string, { value: string; dims: Dim[] }>();
  STRIDES.forEach((s, li) => {
    const spec = LEVELS[s];
    const pooled = g.op('AveragePool', [x], { kernel_shape: [s, s], strides: [s, s] });
    const rows: Dim = opts.fixed ? 2 * (opts.fixed / s) ** 2 : `rows${s}`;
    const head = (c: number, weights: Float32Array, bias: number[], sigmoid: boolean, name: string) => {
      const wts = g.const(weights, [2 * c, 3, 1, 1]);
      const b = g.const(Float32Array.from([...bias, ...bias]), [2 * c]);
      let y = g.op('Conv', [pooled, wts, b]);
      if (sigmoid) y = g.op('Sigmoid', [y]);
      y = g.op('Transpose', [y], { perm: [0, 2, 3, 1] });
      y = g.op('Reshape', [y, g.ints(opts.batchAxis ? [1, -1, c] : [-1, c])]);
      outs.set(name, { value: y, dims: opts.batchAxis ? [1, rows, c] : [rows, c] });
    };
    const sw = new Float32Array(6);
    sw[spec.channel] = spec.w;
    sw[3 + spec.channel] = spec.w;
    head(1, sw, [spec.b], true, NAMES.scores[li]);
    head(4, new Float32Array(8 * 3), spec.box, false, NAMES.boxes[li]);
    head(10, new Float32Array(20 * 3), spec.kps, false, NAMES.kps[li]);
  });
  for (const name of opts.order ?? INSIGHTFACE_ORDER) {
    const o = outs.get(name)!;
    g.output(name, o.value, TensorType.FLOAT, o.dims);
  }
  return g.build().model;
}

/** Deterministic weights for the recognizer's [3, 512] projection. */
const REC_W = Float32Array.from({ length: 3 * 512 }, (_, i) => Math.sin(i * 0.7) * 0.5);
const REC_B = Float32Array.from({ length: 512 }, (_, i) => Math.cos(i * 0.3) * 0.1);

function buildRecognizer(size = 112): Uint8Array {
  const g = new GraphBuilder('arcface-tiny', 'cpu');
  const x = g.input('input.1', TensorType.FLOAT, [1, 3, size, size]);
  const pooled = g.op('Flatten', [g.op('GlobalAveragePool', [x])], { axis: 1 });
  const y = g.op('Add', [g.op('MatMul', [pooled, g.const(REC_W, [3, 512])]), g.const(REC_B, [512])]);
  g.output('683', y, TensorType.FLOAT, [1, 512]);
  return g.build().model;
}

/** What the recognizer returns for a crop of one colour, normalised: means are exactly (c − 127.5)/127.5. */
function expectedEmbedding(rgb: readonly [number, number, number]): { normed: number[]; norm: number } {
  const m = rgb.map((c) => (c - 127.5) / 127.5);
  const raw = Array.from({ length: 512 }, (_, j) => m[0] * REC_W[j] + m[1] * REC_W[512 + j] + m[2] * REC_W[1024 + j] + REC_B[j]);
  const norm = Math.hypot(...raw);
  return { normed: raw.map((v) => v / norm), norm };
}

function write(name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

const detector = write('det_10g.onnx', buildDetector());
const recognizer = write('w600k_r50.onnx', buildRecognizer());
const models = { detector, recognizer };

function canvas(width: number, height: number, rects: ReadonlyArray<{ x: number; y: number; w: number; h: number; rgb: readonly [number, number, number] }>): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  for (let i = 3; i < data.length; i += 4) data[i] = 255;
  for (const r of rects) {
    for (let y = r.y; y < r.y + r.h; y++) for (let x = r.x; x < r.x + r.w; x++) data.set(r.rgb, (y * width + x) * 4);
  }
  return { width, height, data };
}

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
    (e: unknown) => e instanceof EngineError && e.code === 'face_index' && e.field === 'references[1].image' && /2 faces were found/.test(e.message));
});

test('no face: EngineError "no_face" naming the image role', async () => {
  const black = canvas(300, 200, []);
  await assert.rejects(faceEmbedding(black, models, { role: 'references[2].image' }),
    (e: unknown) => e instanceof EngineError && e.code === 'no_face' && e.field === 'references[2].image' && e.message.includes('references[2].image') && e.message.includes('300x200'));
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
  await assert.rejects(faceEmbedding(img, models, { detSizes: [640, 576] }), (e: unknown) => e instanceof EngineError && e.code === 'no_face');
  const r = await faceEmbedding(img, models);
  assert.equal(r.detSize, 512);
  assert.deepEqual(r.box.map((v) => Math.round(v * 1000) / 1000), [320, 320, 480, 480]);
});

test('sessions are cached per model file; missing and wrong-shaped models are clear errors', async () => {
  assert.equal(faceSession(detector, 'detector'), faceSession(detector, 'detector'));
  await assert.rejects(faceEmbedding(twoFaces, { detector, recognizer: join(dir, 'nope.onnx') }),
    (e: unknown) => e instanceof EngineError && e.code === 'model_missing' && /w600k_r50\.onnx/.test(e.message));
  const junk = write('junk.onnx', Buffer.from('not an onnx model'));
  await assert.rejects(faceEmbedding(twoFaces, { detector: junk, recognizer }),
    (e: unknown) => e instanceof EngineError && e.code === 'model_invalid' && e.message.includes('junk.onnx'));
  const wrong = write('rec128.onnx', buildRecognizer(128));
  await assert.rejects(faceEmbedding(twoFaces, { detector, recognizer: wrong }),
    (e: unknown) => e instanceof EngineError && e.code === 'model_invalid' && /expected \[N, 3, 112, 112\]/.test(e.message));
  // The recognizer given as the detector: its single [1, 512] output is no SCRFD layout.
  await assert.rejects(faceEmbedding(twoFaces, { detector: recognizer, recognizer }),
    (e: unknown) => e instanceof EngineError && e.code === 'model_invalid' && /SCRFD detector outputs: "683" has shape \[1,512\]/.test(e.message));
  await assert.rejects(faceEmbedding({ width: 2, height: 2, data: new Uint8Array(3) }, models, { role: 'references[0].image' }), /references\[0\]\.image: 3 bytes/);
});
