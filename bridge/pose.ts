/**
 * Draws OpenPose keypoint JSON as the skeleton image the OpenPose ControlNet was trained on: coloured
 * limbs (at 60 % brightness) and joints on black, in the standard COCO-18 colour order. BODY_25 input is
 * mapped to COCO-18; normalised (0–1) coordinates are accepted too.
 */
import type { RgbaImage } from '../engine/api.ts';
import type { PoseKeypoints } from '../shared/protocol/messages.ts';

type Point = { x: number; y: number } | null;

/** COCO-18 joint pairs (0-based): neck–shoulders, arms, hips, legs, head. */
const LIMBS: ReadonlyArray<readonly [number, number]> = [
  [1, 2], [1, 5], [2, 3], [3, 4], [5, 6], [6, 7], [1, 8], [8, 9], [9, 10], [1, 11], [11, 12], [12, 13],
  [1, 0], [0, 14], [14, 16], [0, 15], [15, 17],
];

const COLORS: ReadonlyArray<readonly [number, number, number]> = [
  [255, 0, 0], [255, 85, 0], [255, 170, 0], [255, 255, 0], [170, 255, 0], [85, 255, 0], [0, 255, 0], [0, 255, 85],
  [0, 255, 170], [0, 255, 255], [0, 170, 255], [0, 85, 255], [0, 0, 255], [85, 0, 255], [170, 0, 255], [255, 0, 255],
  [255, 0, 170], [255, 0, 85],
];

/** BODY_25 index of each COCO-18 joint (BODY_25 adds MidHip at 8 and feet after 18). */
const BODY25_TO_COCO = [0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18];

export function renderPose(kp: PoseKeypoints, width: number, height: number): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  for (let i = 3; i < data.length; i += 4) data[i] = 255;
  const img = { width, height, data };
  const unit = Math.min(width, height) / 512;
  const stick = Math.max(1, 4 * unit);
  const joint = Math.max(1.5, 4 * unit);
  for (const person of kp.people) {
    const pts = joints(person.pose_keypoints_2d, kp.canvas_width, kp.canvas_height, width, height);
    LIMBS.forEach(([a, b], i) => {
      const p = pts[a], q = pts[b];
      if (p && q) drawSegment(img, p, q, stick, dim(COLORS[i]));
    });
    pts.forEach((p, i) => {
      if (p) drawSegment(img, p, p, joint, COLORS[i]);
    });
  }
  return img;
}

function dim(c: readonly [number, number, number]): [number, number, number] {
  return [Math.round(c[0] * 0.6), Math.round(c[1] * 0.6), Math.round(c[2] * 0.6)];
}

function joints(k: readonly number[], cw: number, ch: number, w: number, h: number): Point[] {
  const n = k.length / 3;
  const order = n === 25 ? BODY25_TO_COCO : [...Array(18).keys()];
  let maxCoord = 0;
  for (let i = 0; i < n; i++) if (k[i * 3 + 2] > 0) maxCoord = Math.max(maxCoord, k[i * 3], k[i * 3 + 1]);
  const normalised = maxCoord <= 1;
  const sx = normalised ? w : w / cw;
  const sy = normalised ? h : h / ch;
  return order.map((j) => (k[j * 3 + 2] > 0 ? { x: k[j * 3] * sx, y: k[j * 3 + 1] * sy } : null));
}

/** Fills every pixel within `radius` of segment pq (a capsule; p = q draws a disc). */
function drawSegment(img: RgbaImage, p: { x: number; y: number }, q: { x: number; y: number }, radius: number, color: readonly [number, number, number]): void {
  const x0 = Math.max(0, Math.floor(Math.min(p.x, q.x) - radius));
  const x1 = Math.min(img.width - 1, Math.ceil(Math.max(p.x, q.x) + radius));
  const y0 = Math.max(0, Math.floor(Math.min(p.y, q.y) - radius));
  const y1 = Math.min(img.height - 1, Math.ceil(Math.max(p.y, q.y) + radius));
  const dx = q.x - p.x, dy = q.y - p.y;
  const len2 = dx * dx + dy * dy;
  const r2 = radius * radius;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const px = x + 0.5 - p.x, py = y + 0.5 - p.y;
      const t = len2 > 0 ? Math.max(0, Math.min(1, (px * dx + py * dy) / len2)) : 0;
      const ex = px - t * dx, ey = py - t * dy;
      if (ex * ex + ey * ey <= r2) {
        const o = (y * img.width + x) * 4;
        img.data[o] = color[0];
        img.data[o + 1] = color[1];
        img.data[o + 2] = color[2];
      }
    }
  }
}
