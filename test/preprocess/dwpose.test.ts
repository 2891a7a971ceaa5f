/** DWPose pure functions on hand-computed cases: letterbox, YOLOX decoding, NMS, affine crop, SimCC, 133 → OpenPose. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boxToCenterScale, cropForPose, cropMatrix, decodeSimcc, fixAspectRatio, RTMPOSE_MEAN, RTMPOSE_STD, simccToImage } from '../../engine/preprocess/pose/rtmpose.ts';
import { invertAffine, resample, warpAffineRgb } from '../../engine/preprocess/pose/resample.ts';
import { OPENPOSE_FROM_WHOLEBODY, wholebodyToOpenPose } from '../../engine/preprocess/pose/wholebody.ts';
import { decodeYolox, iou, letterbox, letterboxRatio, nms, selectPersons, yoloxAnchorCount } from '../../engine/preprocess/pose/yolox.ts';

const close = (a: number, b: number, eps = 1e-4, msg = '') => assert.ok(Math.abs(a - b) <= eps, `${msg} ${a} ≉ ${b}`);

test('letterbox: ratio min(inH/h, inW/w), image top-left, 114 padding, planar channels', () => {
  assert.equal(letterboxRatio(1280, 960, 640, 640), 0.5);
  assert.equal(letterboxRatio(320, 640, 640, 640), 1);
  // 4x2 RGB image into 8x8: ratio 2 → 8x4 resized, rows 4..7 padding.
  const rgb = new Uint8Array(4 * 2 * 3);
  for (let i = 0; i < 8; i++) rgb.set([10 * i, 100, 200], i * 3);
  const lb = letterbox(rgb, 4, 2, 8, 8);
  assert.equal(lb.ratio, 2);
  assert.deepEqual([lb.resizedWidth, lb.resizedHeight], [8, 4]);
  const plane = 64;
  assert.equal(lb.tensor.length, 3 * plane);
  // Top-left output pixel samples source (−0.25, −0.25) → clamped to pixel 0; G and B constant.
  assert.deepEqual([lb.tensor[0], lb.tensor[plane], lb.tensor[2 * plane]], [0, 100, 200]);
  // Output x = 1 samples source x = 0.25 → R = 0.75·0 + 0.25·10 = 2.5 → rounded to a byte: 3 (cv2 rounds half up here).
  assert.equal(lb.tensor[1], Math.round(2.5));
  for (let y = 4; y < 8; y++) for (let x = 0; x < 8; x++) assert.equal(lb.tensor[y * 8 + x], 114);
  // Same size: the image is copied as is.
  const same = letterbox(new Uint8Array(8 * 8 * 3).fill(7), 8, 8, 8, 8);
  assert.ok(same.tensor.every((v) => v === 7));
});

test('anchor counts: 8400 for 640², strides 8/16/32', () => {
  assert.equal(yoloxAnchorCount(640, 640), 8400);
  assert.equal(yoloxAnchorCount(416, 416), 52 * 52 + 26 * 26 + 13 * 13);
});

test('decodeYolox: (t + cell) × stride, exp(t) × stride, score = obj × cls, / ratio', () => {
  // 16x16 input, strides 8 and 16: a 2x2 grid (anchors 0..3, row-major) then a 1x1 grid (anchor 4).
  const cols = 7; // 4 box + obj + 2 classes
  const pred = new Float32Array(5 * cols);
  // anchor 3 = cell (1, 1) of stride 8: centre (1.5 + 0.25, 1 + 0.5)·8 = ... use t = (0.25, 0.5)
  pred.set([0.25, 0.5, Math.log(2), 0, 0.8, 0.5, 0.9], 3 * cols);
  // anchor 4 = stride 16, cell (0, 0)
  pred.set([0.5, 0.5, 0, Math.log(3), 0.5, 1, 0], 4 * cols);
  const boxes = decodeYolox(pred, cols, 16, 16, 0.5, 0, [8, 16]);
  assert.equal(boxes.length, 5);
  // anchor 3: cx = (0.25 + 1)·8 = 10, cy = (0.5 + 1)·8 = 12, w = 2·8 = 16, h = 8 → /0.5
  const b3 = boxes[3];
  close(b3.x1, (10 - 8) / 0.5); close(b3.y1, (12 - 4) / 0.5); close(b3.x2, (10 + 8) / 0.5); close(b3.y2, (12 + 4) / 0.5);
  close(b3.score, 0.8 * 0.5);
  // anchor 4: cx = cy = 8, w = 16, h = 48
  const b4 = boxes[4];
  close(b4.x1, 0); close(b4.y1, (8 - 24) / 0.5); close(b4.x2, 32); close(b4.y2, (8 + 24) / 0.5);
  close(b4.score, 0.5);
  // Another class.
  close(decodeYolox(pred, cols, 16, 16, 1, 1, [8, 16])[3].score, 0.8 * 0.9);
  assert.throws(() => decodeYolox(new Float32Array(4 * cols), cols, 16, 16, 1, 0, [8, 16]), /4 anchors/);
});

test('IoU with the inclusive-pixel convention; NMS keeps the best and drops overlaps above the threshold', () => {
  // Boxes 0..9 and 5..14 (inclusive): 10x10 each, overlap 5x10 = 50 → IoU 50 / 150.
  const a = { x1: 0, y1: 0, x2: 9, y2: 9, score: 0.9 };
  const b = { x1: 5, y1: 0, x2: 14, y2: 9, score: 0.8 };
  const c = { x1: 30, y1: 30, x2: 39, y2: 39, score: 0.7 };
  const d = { x1: 1, y1: 1, x2: 9, y2: 9, score: 0.95 }; // 9x9 inside a: IoU 81/100
  close(iou(a, b), 50 / 150, 1e-12);
  close(iou(a, d), 81 / 100, 1e-12);
  assert.equal(iou(a, c), 0);
  // d (best) suppresses a (IoU 0.81); b overlaps d by 45 / 136 ≈ 0.33, a is gone, so b survives 0.45 but not 0.3.
  close(iou(d, b), 45 / 136, 1e-12);
  assert.deepEqual(nms([a, b, c, d], 0.45), [d, b, c]);
  assert.deepEqual(nms([a, b, c, d], 0.3), [d, c]);
  // Exactly at the threshold is kept (suppress only when IoU > threshold).
  assert.deepEqual(nms([a, b], 50 / 150), [a, b]);
  // Ties keep input order.
  const t1 = { ...c, score: 0.5 }, t2 = { ...c, score: 0.5 };
  assert.equal(nms([t1, t2], 0.5)[0], t1);
});

test('selectPersons: candidates > 0.1, NMS 0.45, final > 0.3', () => {
  const boxes = [
    { x1: 0, y1: 0, x2: 99, y2: 99, score: 0.9 },
    { x1: 2, y1: 2, x2: 99, y2: 99, score: 0.85 }, // suppressed by the first
    { x1: 200, y1: 0, x2: 299, y2: 99, score: 0.3 }, // not > 0.3
    { x1: 400, y1: 0, x2: 499, y2: 99, score: 0.31 },
    { x1: 600, y1: 0, x2: 699, y2: 99, score: 0.05 },
  ];
  assert.deepEqual(selectPersons(boxes).map((b) => b.x1), [0, 400]);
});

test('box → centre/scale with 1.25 padding, aspect fixed to 288:384, crop matrix maps the centre to the middle', () => {
  const cs = boxToCenterScale({ x1: 10, y1: 20, x2: 110, y2: 100 });
  assert.deepEqual(cs, { cx: 60, cy: 60, sw: 125, sh: 100 });
  const wide = fixAspectRatio(cs, 288 / 384); // 125 > 100·0.75 → height grows to 125 / 0.75
  close(wide.sw, 125); close(wide.sh, 125 / 0.75);
  const tall = fixAspectRatio({ cx: 0, cy: 0, sw: 30, sh: 100 }, 0.75); // width grows to 75
  assert.deepEqual([tall.sw, tall.sh], [75, 100]);
  const m = cropMatrix(wide, 288, 384);
  const s = 288 / 125;
  assert.deepEqual(m, [s, 0, 144 - s * 60, 0, s, 192 - s * 60]);
  // Box centre → (144, 192); box left edge (after padding) → x = 0.
  close(m[0] * 60 + m[2], 144); close(m[4] * 60 + m[5], 192);
  close(m[0] * (60 - 62.5) + m[2], 0);
  const inv = invertAffine(m);
  close(inv[0] * 144 + inv[2], 60);
});

test('warpAffineRgb: integer shift and 2x zoom sample exactly; outside is black', () => {
  const w = 4, h = 3;
  const rgb = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) rgb.set([i * 10, 0, 255], i * 3);
  // Shift by (+1, 0): out(u, v) = in(u − 1, v).
  const shifted = warpAffineRgb(rgb, w, h, [1, 0, 1, 0, 1, 0], w, h);
  assert.equal(shifted[(1 * w + 2) * 3], (1 * w + 1) * 10);
  assert.deepEqual(Array.from(shifted.subarray(0, 3)), [0, 0, 0]); // u = 0 samples x = −1
  // Zoom ×2: out(1, 0) samples in(0.5, 0) = (0 + 10) / 2.
  const zoom = warpAffineRgb(rgb, w, h, [2, 0, 0, 0, 2, 0], 8, 6);
  assert.equal(zoom[3], 5);
});

test('cropForPose: a box fills the crop, normalised with the RTMPose mean/std', () => {
  const w = 40, h = 40;
  const rgb = new Uint8Array(w * h * 3).fill(200);
  const crop = cropForPose(rgb, w, h, { x1: 10, y1: 10, x2: 30, y2: 30 }, 6, 8);
  assert.deepEqual(crop.cs, { cx: 20, cy: 20, sw: 25, sh: 25 / 0.75 });
  assert.equal(crop.tensor.length, 3 * 48);
  close(crop.tensor[0], (200 - RTMPOSE_MEAN[0]) / RTMPOSE_STD[0], 1e-5);
  close(crop.tensor[48 * 2 + 47], (200 - RTMPOSE_MEAN[2]) / RTMPOSE_STD[2], 1e-5);
});

test('decodeSimcc: first argmax / split ratio, score = min of the two maxima, −1 where the score ≤ 0', () => {
  // K = 3, Wx = 6, Wy = 4.
  const sx = new Float32Array([
    0, 0.2, 0.9, 0.9, 0, 0, // k0: first max at bin 2 → x = 1
    0, 0, 0, 0, 0, 0.4, // k1: bin 5 → 2.5
    -1, -0.5, -2, -3, -1, -1, // k2: max −0.5 ≤ 0 → −1
  ]);
  const sy = new Float32Array([
    0.7, 0, 0, 0, // k0: bin 0, max 0.7 → score min(0.9, 0.7)
    0, 0, 0.8, 0, // k1: bin 2 → 1; score min(0.4, 0.8)
    0, 0, 0, 1, //
  ]);
  const d = decodeSimcc(sx, sy, 3, 2);
  assert.deepEqual(Array.from(d.x), [1, 2.5, -0.5]);
  assert.deepEqual(Array.from(d.y), [0, 1, -0.5]);
  close(d.score[0], 0.7, 1e-7); close(d.score[1], 0.4, 1e-7); close(d.score[2], -0.5, 1e-7);
  // Back to the image: loc / input × scale + centre − scale / 2.
  const img = simccToImage(d, { cx: 100, cy: 50, sw: 30, sh: 40 }, 6, 8);
  close(img.x[0], (1 / 6) * 30 + 100 - 15); close(img.y[1], (1 / 8) * 40 + 50 - 20);
});

test('133 whole-body points → OpenPose: the mmpose→openpose table, neck from the shoulders, hands and face', () => {
  assert.deepEqual(OPENPOSE_FROM_WHOLEBODY, [0, -1, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3]);
  const x = Float32Array.from({ length: 133 }, (_, i) => i);
  const y = Float32Array.from({ length: 133 }, (_, i) => 1000 + i);
  const score = new Float32Array(133).fill(0.9);
  score[3] = 0.2; // left ear (openpose 17) absent
  score[100] = 0.29; // a left-hand point absent
  score[30] = 0.3; // a face point exactly at the threshold: kept (hands/face hide < 0.3)
  const p = wholebodyToOpenPose(x, y, score);
  assert.equal(p.body.length, 18);
  assert.deepEqual(p.body[1], { x: 5.5, y: 1005.5, score: 1 }); // neck = mid-shoulders
  assert.equal(p.body[2].x, 6); // R shoulder = mmpose 6
  assert.equal(p.body[8].x, 12); // R hip = mmpose 12
  assert.equal(p.body[14].x, 2); // R eye = mmpose 2
  assert.equal(p.body[17].score, 0);
  assert.equal(p.leftHand?.length, 21);
  assert.equal(p.leftHand?.[0].x, 91);
  assert.equal(p.leftHand?.[9].score, 0);
  assert.equal(p.rightHand?.[0].x, 112);
  assert.equal(p.face?.length, 68);
  assert.equal(p.face?.[0].x, 23);
  assert.equal(p.face?.[7].score, 0.30000001192092896);
  // One shoulder at or below 0.3 → no neck (body uses > 0.3, compared in float32 as numpy does).
  score[6] = 0.3;
  const q = wholebodyToOpenPose(x, y, score);
  assert.equal(q.body[1].score, 0);
  assert.equal(q.body[2].score, 0);
  assert.throws(() => wholebodyToOpenPose(new Float32Array(17), new Float32Array(17), new Float32Array(17)), /133/);
});

test('resample: area average when shrinking, linear with half-pixel centres when enlarging', () => {
  const src = [0, 10, 20, 30];
  assert.deepEqual(Array.from(resample(src, 4, 1, 1, 2, 1)), [5, 25]);
  assert.deepEqual(Array.from(resample(src, 4, 1, 1, 8, 1)), [0, 2.5, 7.5, 12.5, 17.5, 22.5, 27.5, 30]);
  // 3 → 2 area: output 0 covers [0, 1.5) (pixel 0 whole, half of pixel 1), output 1 covers [1.5, 3).
  const a = resample([0, 10, 20], 3, 1, 1, 2, 1);
  close(a[0], (0 + 0.5 * 10) / 1.5, 1e-5);
  close(a[1], (0.5 * 10 + 20) / 1.5, 1e-5);
});
