/** Skeleton rendering: the golden PNG, the annotator's colours/widths, the raster primitives, skeleton detection. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import type { RgbaImage } from '../../engine/api.ts';
import { renderKeypoints } from '../../engine/preprocess/control.ts';
import { POSE_COLORS, renderPoseFrame } from '../../engine/preprocess/pose/draw.ts';
import { parseOpenPoseJson } from '../../engine/preprocess/pose/keypoints.ts';
import { createCanvas, ellipsePolygon, fillCircle, fillConvexPolygon, hsvColor, roundHalfEven } from '../../engine/preprocess/pose/raster.ts';
import { looksLikeSkeleton } from '../../engine/preprocess/pose/skeleton.ts';
import { FIXTURE_POSE, GOLDEN_HEIGHT, GOLDEN_PATH, GOLDEN_WIDTH } from './pose-fixture.ts';

const px = (img: RgbaImage, x: number, y: number): number[] => Array.from(img.data.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 4));

test('the fixture renders exactly as the committed golden PNG', async () => {
  const { image } = renderKeypoints(FIXTURE_POSE, GOLDEN_WIDTH, GOLDEN_HEIGHT);
  const golden = await sharp(GOLDEN_PATH).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([golden.info.width, golden.info.height, golden.info.channels], [GOLDEN_WIDTH, GOLDEN_HEIGHT, 3]);
  let diff = 0;
  for (let i = 0, j = 0; i < image.data.length; i += 4, j += 3) {
    if (image.data[i] !== golden.data[j] || image.data[i + 1] !== golden.data[j + 1] || image.data[i + 2] !== golden.data[j + 2]) diff++;
    assert.equal(image.data[i + 3], 255);
  }
  assert.equal(diff, 0, `${diff} pixels differ from ${GOLDEN_PATH} (regenerate with test/fixtures-gen/pose-golden.ts only after an intended change)`);
});

test('limbs at 60 % of the palette over black, joints at full colour, hands blue, face white', () => {
  // One person: neck (100, 50) – right shoulder (60, 50) is limb 0 (red); plus a hand and a face dot.
  const body = new Array(54).fill(0);
  body.splice(1 * 3, 3, 100, 50, 1);
  body.splice(2 * 3, 3, 60, 50, 1);
  const hand = new Array(63).fill(0);
  hand.splice(0, 6, 150, 150, 1, 150, 170, 1); // wrist → thumb 1: edge 0
  const { image } = renderKeypoints({ canvas_width: 200, canvas_height: 200, people: [{ pose_keypoints_2d: body, hand_right_keypoints_2d: hand, face_keypoints_2d: [30, 180, 1] }] }, 200, 200);
  assert.deepEqual(px(image, 80, 50), [153, 0, 0, 255]); // floor(255 × 0.6)
  assert.deepEqual(px(image, 80, 53), [153, 0, 0, 255]); // stickwidth 4: ±4 px across the limb
  assert.deepEqual(px(image, 80, 55), [0, 0, 0, 255]);
  assert.deepEqual(px(image, 100, 50), [...POSE_COLORS[1], 255]); // neck joint drawn over the limb
  assert.deepEqual(px(image, 60, 54), [...POSE_COLORS[2], 255]); // radius 4
  assert.deepEqual(px(image, 60, 55), [0, 0, 0, 255]);
  assert.deepEqual(px(image, 150, 160), [255, 0, 0, 255]); // hand edge 0: hue 0
  assert.deepEqual(px(image, 150, 150), [0, 0, 255, 255]); // hand joint
  assert.deepEqual(px(image, 30, 183), [255, 255, 255, 255]); // face dot radius 3
  assert.deepEqual(px(image, 30, 184), [0, 0, 0, 255]);
  // Without hands and face, only the body is drawn.
  const bodyOnly = renderKeypoints({ canvas_width: 200, canvas_height: 200, people: [{ pose_keypoints_2d: body, hand_right_keypoints_2d: hand }] }, 200, 200, { draw: { hands: false } }).image;
  assert.deepEqual(px(bodyOnly, 150, 150), [0, 0, 0, 255]);
});

test('a limb needs both ends; a canvas of another size is stretched onto the target', () => {
  const body = new Array(54).fill(0);
  body.splice(1 * 3, 3, 0.5, 0.25, 1); // normalised: only the neck
  const f = parseOpenPoseJson({ people: [{ pose_keypoints_2d: body }] });
  const img = renderPoseFrame(f, 100, 80);
  assert.deepEqual(px(img, 50, 20), [...POSE_COLORS[1], 255]);
  let lit = 0;
  for (let i = 0; i < img.data.length; i += 4) if (img.data[i] || img.data[i + 1] || img.data[i + 2]) lit++;
  assert.equal(lit, 49); // just the radius-4 joint disc
});

test('fillCircle reproduces OpenCV’s radius-4 midpoint disc (49 pixels, rows 9/7/7/5/1)', () => {
  const c = createCanvas(20, 20);
  fillCircle(c, 10, 10, 4, [255, 255, 255]);
  const rows: number[] = [];
  for (let y = 6; y <= 14; y++) {
    let n = 0;
    for (let x = 0; x < 20; x++) if (c.data[(y * 20 + x) * 3]) n++;
    rows.push(n);
  }
  assert.deepEqual(rows, [1, 5, 7, 7, 9, 7, 7, 5, 1]);
});

test('ellipsePolygon matches cv2.ellipse2Poly for an axis-aligned and a rotated case', () => {
  const p = ellipsePolygon(50, 40, 10, 4, 0, 90);
  assert.deepEqual(p, [[60, 40], [50, 44], [40, 40], [50, 36], [60, 40]]);
  const r = ellipsePolygon(0, 0, 10, 4, 90, 90); // rotated 90°: long axis vertical
  assert.deepEqual(r, [[0, 10], [-4, 0], [0, -10], [4, 0], [0, 10]]);
  const full = ellipsePolygon(20, 20, 10, 4, -30, 1); // negative angles wrap like OpenCV
  assert.deepEqual(full, ellipsePolygon(20, 20, 10, 4, 330, 1));
  assert.ok(full.length > 40);
});

test('fillConvexPolygon fills the rectangle including its outline', () => {
  const c = createCanvas(10, 10);
  fillConvexPolygon(c, [[2, 3], [6, 3], [6, 5], [2, 5]], [1, 2, 3]);
  let n = 0;
  for (let i = 0; i < 100; i++) if (c.data[i * 3] === 1) n++;
  assert.equal(n, 5 * 3);
});

test('hand edge colours are matplotlib HSV × 255 rounded as cv2 does', () => {
  assert.deepEqual(hsvColor(0), [255, 0, 0]);
  assert.deepEqual(hsvColor(1 / 20), [255, 77, 0]); // 0.3 × 255 = 76.5 (+ float error) → 77
  assert.deepEqual(hsvColor(5 / 20), [128, 255, 0]); // q = 0.5 → 127.5 → 128 (half to even)
  assert.deepEqual(hsvColor(10 / 20), [0, 255, 255]);
  assert.deepEqual(hsvColor(19 / 20), [255, 0, 77]);
  assert.equal(roundHalfEven(2.5), 2);
  assert.equal(roundHalfEven(3.5), 4);
  assert.equal(roundHalfEven(-2.5), -2);
});

test('skeleton detection: rendered skeletons yes; photos, flat grey, white edge maps no', async () => {
  const { image } = renderKeypoints(FIXTURE_POSE, 256, 320);
  assert.equal(looksLikeSkeleton(image), true);
  // The same skeleton on a transparent layer, shrunk (blended edges).
  const shrunk = await sharp(Buffer.from(image.data), { raw: { width: 256, height: 320, channels: 4 } }).resize(100, 125).raw().toBuffer();
  assert.equal(looksLikeSkeleton({ width: 100, height: 125, data: new Uint8Array(shrunk) }), true);
  const w = 64, h = 64;
  const photo = new Uint8Array(w * h * 4);
  for (let i = 0; i < w * h; i++) photo.set([(i % w) * 4, 90 + ((i / w) | 0), 120, 255], i * 4);
  assert.equal(looksLikeSkeleton({ width: w, height: h, data: photo }), false);
  assert.equal(looksLikeSkeleton({ width: w, height: h, data: new Uint8Array(w * h * 4).fill(128) }), false);
  const edges = new Uint8Array(w * h * 4);
  for (let i = 0; i < w * h; i++) edges.set(i % 9 === 0 ? [255, 255, 255, 255] : [0, 0, 0, 255], i * 4);
  assert.equal(looksLikeSkeleton({ width: w, height: h, data: edges }), false);
  assert.equal(looksLikeSkeleton({ width: w, height: h, data: new Uint8Array(w * h * 4) }), true); // empty transparent layer
});
