/** OpenPose keypoint JSON parsing: absolute and normalised coordinates, BODY_25, wrappers, errors, round trip. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EngineError } from '../../engine/api.ts';
import { BODY25_TO_COCO18, countPeople, parseOpenPoseJson, poseFrameToJson } from '../../engine/preprocess/pose/keypoints.ts';
import { FIXTURE_POSE } from './pose-fixture.ts';

/** 18 body triples with point i at (10 i + 1, 20 i + 2) in the given unit, all present. */
const body18 = (k = 1): number[] => Array.from({ length: 18 }, (_, i) => [(10 * i + 1) * k, (20 * i + 2) * k, 1]).flat();

test('absolute pixel coordinates are kept and the canvas comes from the file', () => {
  const f = parseOpenPoseJson({ people: [{ pose_keypoints_2d: body18() }], canvas_width: 512, canvas_height: 768 });
  assert.equal(f.width, 512);
  assert.equal(f.height, 768);
  assert.equal(f.people.length, 1);
  assert.deepEqual(f.people[0].body[3], { x: 31, y: 62, score: 1 });
  assert.equal(f.people[0].leftHand, undefined);
});

test('normalised 0–1 coordinates are detected and scaled to the canvas', () => {
  const f = parseOpenPoseJson({ people: [{ pose_keypoints_2d: body18(1 / 400) }], canvas_width: 200, canvas_height: 100 });
  assert.equal(f.people[0].body[3].x, (31 / 400) * 200);
  assert.equal(f.people[0].body[3].y, (62 / 400) * 100);
  // Forced modes override the detection.
  const px = parseOpenPoseJson({ people: [{ pose_keypoints_2d: body18(1 / 400) }], canvas_width: 200, canvas_height: 100 }, { coordinates: 'pixels' });
  assert.equal(px.people[0].body[3].x, 31 / 400);
});

test('normalised file without a canvas uses the fallback size; absolute without a canvas needs one', () => {
  const f = parseOpenPoseJson({ people: [{ pose_keypoints_2d: body18(1 / 400) }] }, { fallbackWidth: 1000, fallbackHeight: 400 });
  assert.equal(f.width, 1000);
  assert.ok(Math.abs(f.people[0].body[1].x - (11 / 400) * 1000) < 1e-9);
  const noCanvas = parseOpenPoseJson({ people: [{ pose_keypoints_2d: body18(1 / 400) }] });
  assert.deepEqual([noCanvas.width, noCanvas.height], [1, 1]);
  assert.throws(() => parseOpenPoseJson({ people: [{ pose_keypoints_2d: body18() }] }), /canvas_width/);
  const withFallback = parseOpenPoseJson({ people: [{ pose_keypoints_2d: body18() }] }, { fallbackWidth: 300, fallbackHeight: 400 });
  assert.deepEqual(withFallback.people[0].body[0], { x: 1, y: 2, score: 1 });
});

test('absent points (confidence 0) do not decide normalisation and stay absent', () => {
  const flat = body18(1 / 1000);
  flat[0] = 500; // a huge coordinate on an absent point...
  flat[2] = 0;
  const f = parseOpenPoseJson({ people: [{ pose_keypoints_2d: flat }], canvas_width: 100, canvas_height: 100 });
  assert.deepEqual(f.people[0].body[0], { x: 0, y: 0, score: 0 }); // ...is ignored
  assert.equal(f.people[0].body[1].x, (11 / 1000) * 100); // the file is still normalised
});

test('BODY_25 is mapped to COCO-18 (MidHip and feet dropped)', () => {
  const b25 = Array.from({ length: 25 }, (_, i) => [i + 100, i + 200, 1]).flat();
  const f = parseOpenPoseJson({ people: [{ pose_keypoints_2d: b25 }], canvas_width: 512, canvas_height: 512 });
  assert.equal(f.people[0].body.length, 18);
  assert.deepEqual(f.people[0].body.map((k) => k.x - 100), BODY25_TO_COCO18);
  assert.equal(f.people[0].body[8].x, 109); // COCO RHip = BODY_25 9
});

test('JSON text, a one-frame list and null parts are accepted', () => {
  const doc = { people: [{ pose_keypoints_2d: body18(), hand_left_keypoints_2d: null, face_keypoints_2d: [] }], canvas_width: 512, canvas_height: 512 };
  const a = parseOpenPoseJson(JSON.stringify(doc));
  const b = parseOpenPoseJson([doc]);
  assert.deepEqual(a, b);
  assert.equal(a.people[0].leftHand, undefined);
  assert.equal(a.people[0].face, undefined);
});

test('hands and face are parsed with the body', () => {
  const f = parseOpenPoseJson(FIXTURE_POSE);
  assert.equal(f.people[0].rightHand?.length, 21);
  assert.equal(f.people[0].leftHand?.length, 21);
  assert.equal(f.people[0].face?.length, 68);
  assert.equal(f.people[1].face, undefined);
  assert.equal(countPeople(f), 2);
});

test('bad input is rejected with the field that is wrong', () => {
  const err = (v: unknown, field: string, re: RegExp) =>
    assert.throws(() => parseOpenPoseJson(v, { fallbackWidth: 10, fallbackHeight: 10 }), (e: unknown) => e instanceof EngineError && e.code === 'invalid-keypoints' && e.field === field && re.test(e.message));
  err('{nope', '', /not valid JSON/);
  err([], '', /empty list/);
  err({}, 'people', /"people" must be an array/);
  err({ people: [{ pose_keypoints_2d: [1, 2] }] }, 'people[0].pose_keypoints_2d', /multiple of 3/);
  err({ people: [{ pose_keypoints_2d: [1, 2, 1] }] }, 'people[0].pose_keypoints_2d', /1 points; expected 18/);
  err({ people: [{ pose_keypoints_2d: body18(), hand_right_keypoints_2d: [1, 'x', 1] }] }, 'people[0].hand_right_keypoints_2d', /element 1/);
  err({ people: [], canvas_width: -5 }, 'canvas_width', /positive/);
  err({ people: ['x'] }, 'people[0]', /object/);
});

test('poseFrameToJson writes absolute pixels and [0,0,0] for absent points; parsing it back is lossless', () => {
  const f = parseOpenPoseJson(FIXTURE_POSE);
  const json = poseFrameToJson(f);
  assert.equal(json.canvas_width, 256);
  assert.deepEqual(json.people[0].pose_keypoints_2d.slice(17 * 3), [0, 0, 0]);
  assert.deepEqual(json.people[0].pose_keypoints_2d, FIXTURE_POSE.people[0].pose_keypoints_2d);
  assert.deepEqual(parseOpenPoseJson(json), f);
});
