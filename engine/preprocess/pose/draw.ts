/**
 * Skeleton rendering as the ControlNet OpenPose annotators draw it (controlnet_aux / sd-webui-controlnet
 * `draw_bodypose`, `draw_handpose`, `draw_facepose`), so the OpenPose ControlNet sees what it was
 * trained on:
 * - body: 17 limbs as filled ellipses (half-length x stickwidth 4, rotated to the limb) in the 18-colour
 *   palette, then the whole canvas × 0.6 (limbs at 60 % over black), then 18 joints as radius-4 discs at
 *   full colour;
 * - hands: 20 edges as 2 px lines coloured by hue edge/20 (HSV, full saturation and value), 21 joints as
 *   radius-4 blue discs;
 * - face: radius-3 white dots.
 * Coordinates are truncated to integers as in the Python (`int(x * W)`); widths do not scale with the
 * canvas, as in the annotators (they draw at the detect resolution, ~512 px).
 */
import type { RgbaImage } from '../../api.ts';
import { canvasToRgba, createCanvas, ellipsePolygon, fillCircle, fillConvexPolygon, hsvColor, scaleCanvas, thickLine, type Rgb, type RgbCanvas } from './raster.ts';
import type { Keypoint, PoseFrame } from './types.ts';

/** COCO-18 joint pairs (0-based) of the 17 drawn limbs; the annotator's last two (ear–shoulder) are skipped. */
export const LIMBS: ReadonlyArray<readonly [number, number]> = [
  [1, 2], [1, 5], [2, 3], [3, 4], [5, 6], [6, 7], [1, 8], [8, 9], [9, 10], [1, 11], [11, 12], [12, 13],
  [1, 0], [0, 14], [14, 16], [0, 15], [15, 17],
];

/** Limb i and joint i colour (RGB). */
export const POSE_COLORS: readonly Rgb[] = [
  [255, 0, 0], [255, 85, 0], [255, 170, 0], [255, 255, 0], [170, 255, 0], [85, 255, 0], [0, 255, 0], [0, 255, 85],
  [0, 255, 170], [0, 255, 255], [0, 170, 255], [0, 85, 255], [0, 0, 255], [85, 0, 255], [170, 0, 255], [255, 0, 255],
  [255, 0, 170], [255, 0, 85],
];

/** Hand edges (21-point hand: wrist 0, then 4 points per finger). */
export const HAND_EDGES: ReadonlyArray<readonly [number, number]> = [
  [0, 1], [1, 2], [2, 3], [3, 4], [0, 5], [5, 6], [6, 7], [7, 8], [0, 9], [9, 10], [10, 11], [11, 12],
  [0, 13], [13, 14], [14, 15], [15, 16], [0, 17], [17, 18], [18, 19], [19, 20],
];

export const STICK_WIDTH = 4;
export const LIMB_ALPHA = 0.6;
export const JOINT_RADIUS = 4;
export const HAND_LINE_THICKNESS = 2;
export const HAND_JOINT_RADIUS = 4;
export const FACE_DOT_RADIUS = 3;
const HAND_JOINT_COLOR: Rgb = [0, 0, 255];
const FACE_COLOR: Rgb = [255, 255, 255];

export interface RenderOptions {
  readonly body?: boolean;
  readonly hands?: boolean;
  readonly face?: boolean;
}

/** Draws every person of `frame` on a black width x height canvas (the frame is stretched to it). */
export function renderPoseFrame(frame: PoseFrame, width: number, height: number, opts: RenderOptions = {}): RgbaImage {
  const canvas = createCanvas(width, height);
  const sx = width / frame.width;
  const sy = height / frame.height;
  const at = (k: Keypoint): { x: number; y: number } => ({ x: k.x * sx, y: k.y * sy });
  if (opts.body !== false) drawBody(canvas, frame, at);
  if (opts.hands !== false) {
    // The annotator stacks all left hands, then all right hands.
    const hands = [...frame.people.map((p) => p.leftHand), ...frame.people.map((p) => p.rightHand)];
    for (const h of hands) if (h) drawHand(canvas, h.map(at), h);
  }
  if (opts.face !== false) {
    for (const p of frame.people) if (p.face) drawFace(canvas, p.face.map(at), p.face);
  }
  return canvasToRgba(canvas);
}

function drawBody(canvas: RgbCanvas, frame: PoseFrame, at: (k: Keypoint) => { x: number; y: number }): void {
  LIMBS.forEach(([a, b], i) => {
    for (const person of frame.people) {
      const ka = person.body[a], kb = person.body[b];
      if (!(ka?.score > 0) || !(kb?.score > 0)) continue;
      const p = at(ka), q = at(kb);
      const length = Math.hypot(p.x - q.x, p.y - q.y);
      const angle = (Math.atan2(p.y - q.y, p.x - q.x) * 180) / Math.PI;
      const poly = ellipsePolygon(Math.trunc((p.x + q.x) / 2), Math.trunc((p.y + q.y) / 2), Math.trunc(length / 2), STICK_WIDTH, Math.trunc(angle), 1);
      fillConvexPolygon(canvas, poly, POSE_COLORS[i]);
    }
  });
  scaleCanvas(canvas, LIMB_ALPHA);
  for (let i = 0; i < POSE_COLORS.length; i++) {
    for (const person of frame.people) {
      const k = person.body[i];
      if (!(k?.score > 0)) continue;
      const p = at(k);
      fillCircle(canvas, Math.trunc(p.x), Math.trunc(p.y), JOINT_RADIUS, POSE_COLORS[i]);
    }
  }
}

/** Hand and face points are skipped when absent or at a pixel coordinate ≤ 0, as in the annotator (eps check). */
const visible = (p: { x: number; y: number }, k: Keypoint | undefined): boolean => k !== undefined && k.score > 0 && Math.trunc(p.x) > 0.01 && Math.trunc(p.y) > 0.01;

function drawHand(canvas: RgbCanvas, pts: ReadonlyArray<{ x: number; y: number }>, kps: readonly Keypoint[]): void {
  HAND_EDGES.forEach(([a, b], ie) => {
    const p = pts[a], q = pts[b];
    if (!p || !q || !visible(p, kps[a]) || !visible(q, kps[b])) return;
    thickLine(canvas, Math.trunc(p.x), Math.trunc(p.y), Math.trunc(q.x), Math.trunc(q.y), HAND_LINE_THICKNESS, hsvColor(ie / HAND_EDGES.length));
  });
  pts.forEach((p, i) => {
    if (visible(p, kps[i])) fillCircle(canvas, Math.trunc(p.x), Math.trunc(p.y), HAND_JOINT_RADIUS, HAND_JOINT_COLOR);
  });
}

function drawFace(canvas: RgbCanvas, pts: ReadonlyArray<{ x: number; y: number }>, kps: readonly Keypoint[]): void {
  pts.forEach((p, i) => {
    if (visible(p, kps[i])) fillCircle(canvas, Math.trunc(p.x), Math.trunc(p.y), FACE_DOT_RADIUS, FACE_COLOR);
  });
}
