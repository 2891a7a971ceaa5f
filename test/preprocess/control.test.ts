/**
 * preprocessControl end to end: pass-through, keypoint rendering, DWPose with tiny generated YOLOX /
 * whole-body models (real input/output names and shapes, run by onnxruntime), missing-model errors.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { EngineError, type RgbaImage } from '../../engine/api.ts';
import { preprocessControl, renderKeypoints } from '../../engine/preprocess/control.ts';
import { disposeAnnotatorSessions, loadAnnotator } from '../../engine/preprocess/pose/annotator-session.ts';
import { POSE_COLORS } from '../../engine/preprocess/pose/draw.ts';
import { detectPersons, estimateWholebody } from '../../engine/preprocess/pose/dwpose.ts';
import { flattenRgba } from '../../engine/preprocess/pose/resample.ts';
import { buildDwpose, buildYolox, dir } from './tiny-models.ts';
import { FIXTURE_POSE } from './pose-fixture.ts';

const yolox = buildYolox();
const dwpose = buildDwpose();
const models = { poseDetector: yolox, poseEstimator: dwpose };

after(async () => {
  await disposeAnnotatorSessions();
  rmSync(dir, { recursive: true, force: true });
});

/** White photo with a pure red square [x0, x0 + s) x [y0, y0 + s). */
function redSquare(w: number, h: number, x0: number, y0: number, s: number): RgbaImage {
  const data = new Uint8Array(w * h * 4).fill(255);
  for (let y = y0; y < y0 + s; y++) for (let x = x0; x < x0 + s; x++) data.set([255, 0, 0, 255], (y * w + x) * 4);
  return { width: w, height: h, data };
}

const px = (img: RgbaImage, x: number, y: number): number[] => Array.from(img.data.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 4));
const near = (a: number, b: number, eps: number, msg: string) => assert.ok(Math.abs(a - b) <= eps, `${msg}: ${a} vs ${b}`);

test('the tiny models have the published names and shapes', async () => {
  const det = await loadAnnotator('dwpose:detector', yolox);
  assert.deepEqual(det.inputNames, ['images']);
  assert.deepEqual(det.outputNames, ['output']);
  assert.deepEqual((det.inputMetadata[0] as ort.InferenceSession.TensorValueMetadata).shape, [1, 3, 640, 640]);
  const pose = await loadAnnotator('dwpose:pose', dwpose);
  assert.deepEqual(pose.inputNames, ['input']);
  assert.deepEqual(pose.outputNames, ['simcc_x', 'simcc_y']);
  assert.deepEqual((pose.inputMetadata[0] as ort.InferenceSession.TensorValueMetadata).shape, [1, 3, 384, 288]);
  // Cached: the same session object comes back.
  assert.equal(await loadAnnotator('dwpose:detector', yolox), det);
});

test('detector: letterbox → YOLOX decode → NMS gives the one red cell’s box in image pixels', async () => {
  // 320x240 → ratio 2; the square [80, 96) x [48, 64) becomes stride-32 cell (5, 3) = [160, 192) x [96, 128).
  // The box is that cell's centre (176, 112) ± 64 in letterbox pixels, / 2 in the image.
  const img = redSquare(320, 240, 80, 48, 16);
  const det = await loadAnnotator('dwpose:detector', yolox);
  const boxes = await detectPersons(det, flattenRgba(img, [255, 255, 255]), 320, 240);
  assert.equal(boxes.length, 1);
  const b = boxes[0];
  for (const [k, v] of [['x1', 56], ['y1', 24], ['x2', 120], ['y2', 88]] as const) near(b[k], v, 1e-3, k);
  assert.ok(b.score > 0.99);
  const none = await detectPersons(det, new Uint8Array(320 * 240 * 3).fill(255), 320, 240);
  assert.deepEqual(none, []);
});

test('pose model: affine crop → SimCC decode → inverse crop lands on the red square’s top-left', async () => {
  const img = redSquare(320, 240, 80, 48, 16);
  const pose = await loadAnnotator('dwpose:pose', dwpose);
  const kp = await estimateWholebody(pose, flattenRgba(img, [255, 255, 255]), 320, 240, { x1: 56, y1: 24, x2: 120, y2: 88 });
  // Box 64x64 → ×1.25 = 80 → aspect 3:4 → 80 x 106.67; crop scale 288/80 = 3.6. The first fully red
  // crop column is u = 116 (x = 80.22), the first fully red row v = 164 (y = 48.22).
  near(kp.x[0], 88 - 40 + (116 / 288) * 80, 1e-3, 'x');
  near(kp.y[0], 56 - 160 / 3 + (164 / 384) * (320 / 3), 1e-3, 'y');
  near(kp.score[0], 0.2 * ((255 - 123.675) / 58.395 + 116.28 / 57.12), 1e-4, 'score');
  assert.ok(kp.score[6] < 0.3 && kp.score[120] < 0.3);
});

test('pose-detect: skeleton image + OpenPose JSON in the photo’s pixels', async () => {
  const img = redSquare(320, 240, 80, 48, 16);
  const { image, keypoints } = await preprocessControl('pose-detect', img, { width: 640, height: 480, models });
  assert.ok(keypoints);
  assert.deepEqual([keypoints.canvas_width, keypoints.canvas_height], [320, 240]);
  assert.equal(keypoints.people.length, 1);
  const body = keypoints.people[0].pose_keypoints_2d;
  assert.equal(body.length, 54);
  near(body[0], 80.22, 0.01, 'nose x');
  near(body[1], 48.22, 0.01, 'nose y');
  near(body[2], 0.857, 0.001, 'nose score');
  // mmpose 6 (right shoulder) scored 0.21 → openpose 2 absent, and so is the neck.
  assert.deepEqual(body.slice(3, 9), [0, 0, 0, 0, 0, 0]);
  assert.equal(keypoints.people[0].hand_left_keypoints_2d?.length, 63);
  assert.ok(keypoints.people[0].hand_right_keypoints_2d?.every((v) => v === 0));
  assert.ok(keypoints.people[0].face_keypoints_2d?.every((v) => v === 0));
  // Rendered at the target size (×2): every present point is at (160.4, 96.4) → discs centred on (160, 96).
  // Hand joints (blue, radius 4) are drawn after the body, so they cover it; nothing reaches 5 px away.
  assert.deepEqual([image.width, image.height], [640, 480]);
  assert.deepEqual(px(image, 160, 96), [0, 0, 255, 255]);
  assert.deepEqual(px(image, 164, 96), [0, 0, 255, 255]);
  assert.deepEqual(px(image, 165, 96), [0, 0, 0, 255]);
  assert.deepEqual(px(image, 300, 300), [0, 0, 0, 255]);
  // Without hands: the last body joint drawn there (L ear, 17) shows.
  const bodyOnly = await preprocessControl('pose-detect', img, { width: 640, height: 480, models, draw: { hands: false, face: false } });
  assert.deepEqual(px(bodyOnly.image, 160, 96), [...POSE_COLORS[17], 255]);
});

test('pose-detect on a large photo runs on a ≤ 1024 px copy and reports original pixels', async () => {
  // 1280x960 → 1024x768 copy; the square [320, 384) x [192, 256) lands on the same letterbox cell.
  const img = redSquare(1280, 960, 320, 192, 64);
  const { keypoints } = await preprocessControl('pose-detect', img, { width: 64, height: 48, models });
  assert.ok(keypoints);
  assert.deepEqual([keypoints.canvas_width, keypoints.canvas_height], [1280, 960]);
  near(keypoints.people[0].pose_keypoints_2d[0], 320, 1.5, 'x');
  near(keypoints.people[0].pose_keypoints_2d[1], 192, 1.5, 'y');
});

test('pose-detect with nobody in the photo: whole-image fallback finds nothing → empty JSON, black image', async () => {
  const white: RgbaImage = { width: 96, height: 64, data: new Uint8Array(96 * 64 * 4).fill(255) };
  const { image, keypoints } = await preprocessControl('pose-detect', white, { models });
  assert.deepEqual(keypoints?.people, []);
  assert.ok(image.data.every((v, i) => (i % 4 === 3 ? v === 255 : v === 0)));
});

test('a layer that already is a skeleton passes through pose-detect (no models needed), resized', async () => {
  const { image: skel } = renderKeypoints(FIXTURE_POSE, 256, 320);
  const out = await preprocessControl('pose-detect', skel, { width: 128, height: 160 });
  assert.equal(out.keypoints, undefined);
  assert.deepEqual([out.image.width, out.image.height], [128, 160]);
  const same = await preprocessControl('pose-detect', skel, {});
  assert.deepEqual(same.image.data, skel.data);
  // Opting out runs detection, which needs the models.
  await assert.rejects(preprocessControl('pose-detect', skel, { passThroughSkeleton: false }), (e: unknown) => e instanceof EngineError && e.code === 'model-missing');
});

test("'none' passes the layer through: transparent → black, resized to the target", async () => {
  const data = new Uint8Array(4 * 2 * 4);
  data.set([255, 0, 0, 255], 0);
  data.set([0, 255, 0, 0], 4); // transparent green → black
  const out = await preprocessControl('none', { width: 4, height: 2, data }, {});
  assert.deepEqual(px(out.image, 0, 0), [255, 0, 0, 255]);
  assert.deepEqual(px(out.image, 1, 0), [0, 0, 0, 255]);
  const big = await preprocessControl('none', { width: 4, height: 2, data }, { width: 8, height: 4 });
  assert.deepEqual([big.image.width, big.image.height], [8, 4]);
});

test('keypoint JSON is rendered for none / pose-detect, refused for canny / depth', async () => {
  const viaNone = await preprocessControl('none', null, { keypoints: FIXTURE_POSE, width: 384, height: 480 });
  const direct = renderKeypoints(FIXTURE_POSE, 384, 480);
  assert.deepEqual(viaNone.image.data, direct.image.data);
  assert.deepEqual(viaNone.keypoints, FIXTURE_POSE);
  const viaDetect = await preprocessControl('pose-detect', null, { keypoints: JSON.stringify(FIXTURE_POSE), width: 384, height: 480 });
  assert.deepEqual(viaDetect.image.data, direct.image.data);
  await assert.rejects(preprocessControl('canny', null, { keypoints: FIXTURE_POSE, width: 8, height: 8 }), (e: unknown) => e instanceof EngineError && e.code === 'invalid-control');
  await assert.rejects(
    preprocessControl('none', null, { keypoints: { people: 3 }, width: 8, height: 8, field: 'controls[0]' }),
    (e: unknown) => e instanceof EngineError && e.code === 'invalid-keypoints' && e.field === 'controls[0].keypoints.people',
  );
});

test('missing DWPose models: one error names every missing file and the pull command', async () => {
  const photo = redSquare(64, 48, 8, 8, 8);
  const check = (files: string[], absent: string[]) => (e: unknown) =>
    e instanceof EngineError && e.code === 'model-missing' && e.message.includes('npx ipa-bridge models pull annotators') &&
    files.every((f) => e.message.includes(f)) && absent.every((f) => !e.message.includes(f));
  await assert.rejects(preprocessControl('pose-detect', photo, {}), check(['yolox_l.onnx', 'dw-ll_ucoco_384.onnx'], []));
  await assert.rejects(preprocessControl('pose-detect', photo, { models: { poseDetector: yolox } }), check(['dw-ll_ucoco_384.onnx'], ['yolox_l.onnx']));
  await assert.rejects(preprocessControl('pose-detect', photo, { models: { poseDetector: '/nonexistent/yolox_l.onnx', poseEstimator: dwpose } }), check(['yolox_l.onnx', '/nonexistent/yolox_l.onnx'], []));
});

test('bad requests: no size, wrong byte count, unknown kind, aborted', async () => {
  await assert.rejects(preprocessControl('none', null, {}), /size is unknown/);
  await assert.rejects(preprocessControl('none', { width: 2, height: 2, data: new Uint8Array(3) }, {}), /expected 2x2x4/);
  await assert.rejects(preprocessControl('bogus' as 'none', redSquare(4, 4, 0, 0, 1), {}), /unknown control preprocess/);
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(preprocessControl('canny', redSquare(4, 4, 0, 0, 1), { signal: ac.signal }), (e: unknown) => (e as Error).name === 'AbortError');
  const canny = await preprocessControl('canny', redSquare(64, 64, 16, 16, 32), { low: 50, high: 100 });
  assert.equal(canny.keypoints, undefined);
  assert.ok(canny.image.data.some((v) => v === 255));
});
