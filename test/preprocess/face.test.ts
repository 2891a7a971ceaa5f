/**
 * FaceID preprocessing, pure parts: SCRFD letterbox maths, anchors, distance decoding, NMS, the
 * similarity alignment (hand-computed and recovered transforms), and the OpenCV-equivalent
 * resize / warpAffine / blob on small hand-checked images.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ARCFACE_TEMPLATE_112, anchorCentres, applyAffine, arcfaceTemplate, decodeLevel, distance2bbox, distance2kps,
  estimateNorm, invertAffine, letterbox, nms, similarityTransform, unletterbox,
  type Affine, type Detection, type Point,
} from '../../engine/preprocess/face/geometry.ts';
import { resizeBilinear, toBlob, warpAffine, type RgbPixels } from '../../engine/preprocess/face/image.ts';
import { chooseFace } from '../../engine/preprocess/face/index.ts';

const close = (a: number, b: number, tol: number, what = '') => assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b}`);

test('letterbox: keep aspect, fit the input, truncate the other side, scale from the heights', () => {
  assert.deepEqual(letterbox(1280, 960, 640, 640), { width: 640, height: 480, scale: 0.5 });
  // Landscape: width fills; height = int(640 * 333/1000) = int(213.12).
  assert.deepEqual(letterbox(1000, 333, 640, 640), { width: 640, height: 213, scale: 213 / 333 });
  // Portrait: height fills; width = int(640 / (1000/333)) = 213; det_scale = 640/1000.
  assert.deepEqual(letterbox(333, 1000, 640, 640), { width: 213, height: 640, scale: 0.64 });
  // Small images are scaled up.
  assert.deepEqual(letterbox(320, 320, 640, 640), { width: 640, height: 640, scale: 2 });
  // A non-square detector input compares aspect ratios.
  assert.deepEqual(letterbox(800, 800, 640, 480), { width: 480, height: 480, scale: 0.6 });
});

test('anchor centres: row-major (x·stride, y·stride), each repeated per anchor', () => {
  assert.deepEqual([...anchorCentres(2, 3, 8, 2)], [
    0, 0, 0, 0, 8, 0, 8, 0, 16, 0, 16, 0,
    0, 8, 0, 8, 8, 8, 8, 8, 16, 8, 16, 8,
  ]);
});

test('distance2bbox / distance2kps: distances in stride units around the anchor centre', () => {
  assert.deepEqual(distance2bbox(16, 8, [1, 2, 3, 4], 8), [8, -8, 40, 40]);
  assert.deepEqual(distance2kps(16, 8, [0.5, -0.5, 1, 1, 0, 0, -1, 2, 2, -2], 8), [[20, 4], [24, 16], [16, 8], [8, 24], [32, -8]]);
});

test('decodeLevel: threshold inclusive, anchor index → location, per-level stride', () => {
  // 1x2 feature map, 2 anchors: rows (loc0,a0), (loc0,a1), (loc1,a0), (loc1,a1).
  const dets = decodeLevel({
    stride: 16, featWidth: 2, featHeight: 1, anchors: 2,
    scores: [0.1, 0.6, 0.5, 0.49],
    boxes: [0, 0, 0, 0, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 9, 9, 9, 9],
    kps: new Array(40).fill(0),
  }, 0.5);
  assert.equal(dets.length, 2);
  assert.deepEqual(dets[0].box, [-16, -16, 16, 16]);
  assert.deepEqual(dets[1].box, [8, -8, 24, 8]);
  assert.deepEqual(dets[1].kps[0], [16, 0]);
  const back = unletterbox(dets[1], 0.5);
  assert.deepEqual(back.box, [16, -16, 48, 16]);
  assert.deepEqual(back.kps[4], [32, 0]);
});

const det = (box: [number, number, number, number], score: number): Detection => ({ box, score, kps: [] });

test('NMS: inclusive-pixel IoU, keeps the best, drops overlaps above the threshold, keeps ties at it', () => {
  const dets = [
    det([20, 20, 30, 30], 0.7),
    det([1, 1, 11, 11], 0.8), // IoU with the first = 100 / (121 + 121 − 100) = 0.704
    det([0, 0, 10, 10], 0.9),
    det([0, 40, 9, 49], 0.6),
    det([5, 40, 14, 49], 0.5), // IoU = 50 / 150 = 1/3 with the previous one
  ];
  assert.deepEqual(nms(dets, 0.4), [2, 0, 3, 4]);
  assert.deepEqual(nms(dets, 1 / 3), [2, 0, 3, 4]); // ovr <= thresh is kept (float32 compare)
  assert.deepEqual(nms(dets, 0.3), [2, 0, 3]);
  assert.deepEqual(nms([], 0.4), []);
});

test('face choice: largest area by default, best score, or an index', () => {
  const faces = [det([0, 0, 10, 10], 0.9), det([0, 0, 30, 20], 0.8), det([50, 50, 80, 70], 0.7)];
  assert.equal(chooseFace(faces), 1); // tie in area keeps the better score
  assert.equal(chooseFace(faces, 'best'), 0);
  assert.equal(chooseFace(faces, 2), 2);
});

test('similarity transform: a hand-computed case (90° rotation + translation)', () => {
  const m = similarityTransform([[0, 0], [2, 0]], [[1, 1], [1, 3]]);
  const want = [0, -1, 1, 1, 0, 1];
  m.forEach((v, i) => close(v, want[i], 1e-12, `m[${i}]`));
});

test('similarity transform: a mirrored point set gets the best proper rotation (Umeyama, no reflection)', () => {
  // Worked by hand with Umeyama: A = diag(2/3, −2/9), det < 0 → D = diag(1, −1), R = I, scale = (4/9)/(8/9).
  const m = similarityTransform([[-1, 0], [1, 0], [0, 1]], [[-1, 0], [1, 0], [0, -1]]);
  const want = [0.5, 0, 0, 0, 0.5, -0.5];
  m.forEach((v, i) => close(v, want[i], 1e-12, `m[${i}]`));
});

test('similarity transform recovers scale + rotation + translation from the arcface template', () => {
  const s = 2.7, th = (23 * Math.PI) / 180, tx = 412.5, ty = -37.25;
  const forward: Affine = [s * Math.cos(th), -s * Math.sin(th), tx, s * Math.sin(th), s * Math.cos(th), ty];
  const landmarks = ARCFACE_TEMPLATE_112.map((p) => applyAffine(forward, p));
  // Image landmarks → template is the inverse of `forward`.
  const m = similarityTransform(landmarks, ARCFACE_TEMPLATE_112);
  const inv = invertAffine(forward);
  m.forEach((v, i) => close(v, inv[i], 1e-9, `m[${i}]`));
  landmarks.forEach((p, i) => {
    const q = applyAffine(m, p);
    close(q[0], ARCFACE_TEMPLATE_112[i][0], 1e-9);
    close(q[1], ARCFACE_TEMPLATE_112[i][1], 1e-9);
  });
  // estimateNorm at 224 maps the same landmarks onto the doubled template.
  const m224 = estimateNorm(landmarks, 224);
  const t224 = arcfaceTemplate(224);
  landmarks.forEach((p, i) => {
    const q = applyAffine(m224, p);
    close(q[0], t224[i][0], 1e-4);
    close(q[1], t224[i][1], 1e-4);
  });
  assert.throws(() => similarityTransform([[1, 1], [1, 1]], [[0, 0], [1, 1]]), /coincide/);
  assert.throws(() => estimateNorm(landmarks.slice(0, 4), 112), /5 landmarks/);
});

test('arcface template sizes follow insightface estimate_norm (×size/112, or ×size/128 with an 8·ratio x shift)', () => {
  const t112 = arcfaceTemplate(112);
  t112.forEach((p, i) => {
    close(p[0], ARCFACE_TEMPLATE_112[i][0], 1e-5);
    close(p[1], ARCFACE_TEMPLATE_112[i][1], 1e-5);
  });
  const t224 = arcfaceTemplate(224);
  close(t224[0][0], 76.5892, 1e-4);
  close(t224[4][1], 184.4082, 1e-4);
  const t128 = arcfaceTemplate(128);
  close(t128[2][0], 56.0252 + 8, 1e-4);
  close(t128[2][1], 71.7366, 1e-4);
  assert.throws(() => arcfaceTemplate(100), /multiple of 112/);
});

/** An RGB image whose R channel is `f(x, y)`, G = 2R mod 256, B = 255 − R. */
function img(width: number, height: number, f: (x: number, y: number) => number): RgbPixels {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = f(x, y);
      data.set([v, (2 * v) % 256, 255 - v], (y * width + x) * 3);
    }
  }
  return { width, height, data };
}
const R = (im: RgbPixels, x: number, y: number) => im.data[(y * im.width + x) * 3];

test('resize (cv2 INTER_LINEAR): half-pixel centres, clamped edges, exact 2x averages', () => {
  const up = resizeBilinear(img(2, 1, (x) => x * 100), 4, 1);
  assert.deepEqual([0, 1, 2, 3].map((x) => R(up, x, 0)), [0, 25, 75, 100]);
  const src = img(4, 4, (x, y) => x * 10 + y * 50);
  const down = resizeBilinear(src, 2, 2);
  // Each output pixel averages a 2x2 block: (0 + 10 + 50 + 60) / 4 = 30, …
  assert.deepEqual([R(down, 0, 0), R(down, 1, 0), R(down, 0, 1), R(down, 1, 1)], [30, 50, 130, 150]);
  assert.equal(down.data[2], 255 - 30); // channels kept apart
  const same = resizeBilinear(src, 4, 4);
  assert.deepEqual(same.data, src.data);
});

test('warpAffine (cv2 fixed point): identity, integer and half-pixel shifts, zero border, 2x decimation', () => {
  const src = img(6, 5, (x, y) => 20 * x + 7 * y);
  assert.deepEqual(warpAffine(src, [1, 0, 0, 0, 1, 0], 6, 5).data, src.data);
  // The crop starts at (3, 2) of the image: M maps image → crop, so it translates by (−3, −2).
  const shifted = warpAffine(src, [1, 0, -3, 0, 1, -2], 4, 4);
  assert.equal(R(shifted, 0, 0), R(src, 3, 2));
  assert.equal(R(shifted, 2, 2), R(src, 5, 4));
  assert.equal(R(shifted, 3, 3), 0); // past the image: border 0
  // Half a pixel in x: (a + b + 1) >> 1 in 15-bit weights.
  const half = warpAffine(src, [1, 0, -0.5, 0, 1, 0], 5, 5);
  assert.equal(R(half, 1, 1), (R(src, 1, 1) + R(src, 2, 1) + 1) >> 1);
  // The last column blends with the zero border (cv2 BORDER_CONSTANT).
  const edge = warpAffine(src, [1, 0, -0.5, 0, 1, 0], 6, 5);
  assert.equal(R(edge, 5, 0), (R(src, 5, 0) + 1) >> 1);
  // Scale 0.5 samples every other pixel, no antialiasing.
  const dec = warpAffine(src, [0.5, 0, 0, 0, 0.5, 0], 3, 2);
  assert.deepEqual([R(dec, 0, 0), R(dec, 1, 0), R(dec, 2, 1)], [R(src, 0, 0), R(src, 2, 0), R(src, 4, 2)]);
  // A uniform region stays exactly uniform under any transform.
  const flat = img(40, 40, () => 200);
  const rot = warpAffine(flat, similarityTransform([[20, 20], [30, 22]] as Point[], [[2, 3], [14, 9]] as Point[]), 16);
  assert.ok([...Array(16 * 16).keys()].every((i) => rot.data[i * 3] === 200));
});

test('blob: NCHW RGB, (x − mean)·(1/std), letterbox padding is black', () => {
  const src: RgbPixels = { width: 2, height: 1, data: Uint8Array.from([255, 0, 128, 0, 255, 127]) };
  const b = toBlob(src, 127.5, 128, { width: 3, height: 2 });
  assert.equal(b.length, 18);
  assert.deepEqual([b[0], b[1], b[2]], [127.5 / 128, -127.5 / 128, -127.5 / 128]); // R plane, padded
  assert.deepEqual([b[6], b[7]], [-127.5 / 128, 127.5 / 128]); // G plane
  assert.deepEqual([b[12], b[13]], [0.5 / 128, -0.5 / 128]); // B plane
  assert.equal(b[17], -127.5 / 128);
  const a = toBlob(src, 127.5, 127.5);
  assert.deepEqual([a[0], a[2]], [1, -1]);
});
