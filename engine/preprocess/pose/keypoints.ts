/**
 * OpenPose keypoint JSON ⇄ PoseFrame.
 *
 * Accepted input (what openpose editors and sd-webui-controlnet export): an object
 * `{ people: [{ pose_keypoints_2d, hand_left_keypoints_2d?, hand_right_keypoints_2d?, face_keypoints_2d? }],
 * canvas_width?, canvas_height? }`, a one-element array of such objects, or its JSON text. Body arrays
 * hold 18 (COCO-18) or 25 (BODY_25, mapped to COCO-18) triples; hand/face arrays any number of triples
 * or null. A triple with confidence ≤ 0 is an absent point.
 *
 * Coordinates are absolute pixels of the canvas or normalised 0–1; `auto` decides by the data: if every
 * present point lies within [-1, 1] on both axes the file is normalised (no real pixel pose fits in a
 * 1 px square).
 */
import { EngineError } from '../../api.ts';
import { BODY_POINTS, type Keypoint, type OpenPoseJson, type OpenPosePerson, type PersonPose, type PoseFrame } from './types.ts';

export type CoordinateMode = 'auto' | 'pixels' | 'normalized';

export interface ParseOptions {
  /** Canvas size to assume when the JSON has no canvas_width / canvas_height (the target size). */
  readonly fallbackWidth?: number;
  readonly fallbackHeight?: number;
  readonly coordinates?: CoordinateMode;
}

/** BODY_25 index of each COCO-18 joint: BODY_25 inserts MidHip at 8 and appends feet after 18. */
export const BODY25_TO_COCO18: readonly number[] = [0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18];

const fail = (message: string, field: string): never => {
  throw new EngineError('invalid-keypoints', `keypoint JSON: ${message}`, field);
};

type RawPerson = { body: number[]; leftHand?: number[]; rightHand?: number[]; face?: number[] };

export function parseOpenPoseJson(input: unknown, opts: ParseOptions = {}): PoseFrame {
  let doc = input;
  if (typeof doc === 'string') {
    try {
      doc = JSON.parse(doc) as unknown;
    } catch (e) {
      fail(`not valid JSON (${(e as Error).message})`, '');
    }
  }
  // Editors that export animations write a list of frames; a still pose is its first frame.
  if (Array.isArray(doc)) {
    if (doc.length === 0) fail('empty list of frames', '');
    doc = doc[0];
  }
  if (!isRecord(doc)) return fail('expected an object with a "people" array', '');
  if (!Array.isArray(doc.people)) return fail('"people" must be an array', 'people');
  const cw = optionalSize(doc.canvas_width, 'canvas_width');
  const ch = optionalSize(doc.canvas_height, 'canvas_height');
  const raw = doc.people.map((p, i) => rawPerson(p, `people[${i}]`));

  const mode = opts.coordinates ?? 'auto';
  const normalized = mode === 'normalized' || (mode === 'auto' && looksNormalized(raw));
  const width = cw ?? opts.fallbackWidth;
  const height = ch ?? opts.fallbackHeight;
  if (width === undefined || height === undefined) {
    if (!normalized) return fail('canvas_width / canvas_height are missing and no target size was given', 'canvas_width');
  }
  // Normalised points are scaled to the canvas; with no canvas at all, to a 1x1 one (the renderer scales).
  const w = width ?? 1;
  const h = height ?? 1;
  const sx = normalized ? w : 1;
  const sy = normalized ? h : 1;
  return {
    width: w,
    height: h,
    people: raw.map((p) => ({
      body: toKeypoints(p.body, sx, sy),
      ...(p.leftHand ? { leftHand: toKeypoints(p.leftHand, sx, sy) } : {}),
      ...(p.rightHand ? { rightHand: toKeypoints(p.rightHand, sx, sy) } : {}),
      ...(p.face ? { face: toKeypoints(p.face, sx, sy) } : {}),
    })),
  };
}

/** The JSON the plugin shows and editors import: absolute pixels, absent points as [0, 0, 0]. */
export function poseFrameToJson(frame: PoseFrame): OpenPoseJson {
  return {
    people: frame.people.map((p) => {
      const person: OpenPosePerson = { pose_keypoints_2d: flatten(p.body) };
      if (p.leftHand) person.hand_left_keypoints_2d = flatten(p.leftHand);
      if (p.rightHand) person.hand_right_keypoints_2d = flatten(p.rightHand);
      if (p.face) person.face_keypoints_2d = flatten(p.face);
      return person;
    }),
    canvas_width: frame.width,
    canvas_height: frame.height,
  };
}

/** True if every present point has |x| ≤ 1 and |y| ≤ 1 (and at least one point is present). */
function looksNormalized(people: readonly RawPerson[]): boolean {
  let any = false;
  for (const p of people) {
    for (const arr of [p.body, p.leftHand, p.rightHand, p.face]) {
      if (!arr) continue;
      for (let i = 0; i + 2 < arr.length; i += 3) {
        if (!(arr[i + 2] > 0)) continue;
        any = true;
        if (Math.abs(arr[i]) > 1 || Math.abs(arr[i + 1]) > 1) return false;
      }
    }
  }
  return any;
}

function rawPerson(p: unknown, field: string): RawPerson {
  if (!isRecord(p)) return fail('each person must be an object', field);
  let body = triples(p.pose_keypoints_2d, `${field}.pose_keypoints_2d`) ?? new Array<number>(BODY_POINTS * 3).fill(0);
  const n = body.length / 3;
  if (n === 25) body = BODY25_TO_COCO18.flatMap((j) => body.slice(j * 3, j * 3 + 3));
  else if (n !== BODY_POINTS) fail(`pose_keypoints_2d has ${n} points; expected 18 (COCO-18) or 25 (BODY_25)`, `${field}.pose_keypoints_2d`);
  const leftHand = triples(p.hand_left_keypoints_2d, `${field}.hand_left_keypoints_2d`);
  const rightHand = triples(p.hand_right_keypoints_2d, `${field}.hand_right_keypoints_2d`);
  const face = triples(p.face_keypoints_2d, `${field}.face_keypoints_2d`);
  return { body, ...(leftHand ? { leftHand } : {}), ...(rightHand ? { rightHand } : {}), ...(face ? { face } : {}) };
}

/** A flat [x, y, c, ...] array of finite numbers, or undefined when absent / null / empty. */
function triples(v: unknown, field: string): number[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) return fail('must be an array of numbers', field);
  if (v.length === 0) return undefined;
  if (v.length % 3 !== 0) fail(`length ${v.length} is not a multiple of 3 (x, y, confidence triples)`, field);
  v.forEach((x, i) => {
    if (typeof x !== 'number' || !Number.isFinite(x)) fail(`element ${i} is not a finite number`, field);
  });
  return v as number[];
}

function optionalSize(v: unknown, field: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) return fail('must be a positive number', field);
  return v;
}

function toKeypoints(flat: readonly number[], sx: number, sy: number): Keypoint[] {
  const out: Keypoint[] = [];
  for (let i = 0; i < flat.length; i += 3) {
    const score = flat[i + 2];
    out.push(score > 0 ? { x: flat[i] * sx, y: flat[i + 1] * sy, score } : { x: 0, y: 0, score: 0 });
  }
  return out;
}

function flatten(points: readonly Keypoint[]): number[] {
  const out: number[] = [];
  for (const k of points) {
    if (k.score > 0) out.push(round(k.x, 2), round(k.y, 2), round(k.score, 4));
    else out.push(0, 0, 0);
  }
  return out;
}

const round = (v: number, digits: number): number => {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Number of people with at least one present body point. */
export function countPeople(frame: PoseFrame): number {
  return frame.people.filter((p: PersonPose) => p.body.some((k) => k.score > 0)).length;
}
