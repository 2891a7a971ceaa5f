/**
 * YOLOX person detector as DWPose runs it (yolox_l.onnx from yzd-v/DWPose):
 * - input `images` [1, 3, 640, 640], float32 raw 0–255 pixel values, channels in the order given (the
 *   ControlNet annotators pass RGB), no mean/std;
 * - letterbox: scale r = min(640 / h, 640 / w), resize to (int(w r), int(h r)) bilinearly, paste at the
 *   top-left of a 640x640 canvas filled with 114;
 * - output `output` [1, 8400, 85]: per anchor (tx, ty, tw, th, objectness, 80 class scores), already
 *   sigmoid-ed; anchors are the cells of the stride 8, 16, 32 grids (80² + 40² + 20²), row-major;
 *   centre = (t + cell) * stride, size = exp(t) * stride, score = objectness × class score;
 * - boxes / r back to image pixels, class-wise NMS (IoU 0.45, candidates scoring > 0.1), keep class 0
 *   (person) scoring > 0.3.
 */
import type { Box, ScoredBox } from './types.ts';
import { resample, toUint8 } from './resample.ts';

export const YOLOX_SIZE = 640;
export const YOLOX_STRIDES: readonly number[] = [8, 16, 32];
export const YOLOX_PAD = 114;

export interface DetectorThresholds {
  /** Candidate threshold before NMS (0.1 in DWPose). */
  readonly candidate: number;
  /** NMS IoU threshold (0.45). */
  readonly iou: number;
  /** Final person score threshold (0.3). */
  readonly score: number;
}

export const DWPOSE_DETECTOR_THRESHOLDS: DetectorThresholds = { candidate: 0.1, iou: 0.45, score: 0.3 };

export interface LetterboxResult {
  /** [1, 3, inH, inW] planar float32, 0–255. */
  readonly tensor: Float32Array;
  readonly ratio: number;
  readonly resizedWidth: number;
  readonly resizedHeight: number;
}

export function letterboxRatio(width: number, height: number, inW: number, inH: number): number {
  return Math.min(inH / height, inW / width);
}

/** Interleaved RGB (w x h) → letterboxed planar tensor; see the module comment. */
export function letterbox(rgb: Uint8Array, w: number, h: number, inW = YOLOX_SIZE, inH = YOLOX_SIZE, pad = YOLOX_PAD): LetterboxResult {
  const ratio = letterboxRatio(w, h, inW, inH);
  const rw = Math.max(1, Math.trunc(w * ratio));
  const rh = Math.max(1, Math.trunc(h * ratio));
  // cv2.resize(INTER_LINEAR) then astype(uint8): no antialiasing, rounded to bytes.
  const resized = rw === w && rh === h ? rgb : toUint8(resample(rgb, w, h, 3, rw, rh, 'linear'));
  const plane = inW * inH;
  const tensor = new Float32Array(3 * plane).fill(pad);
  for (let y = 0; y < rh; y++) {
    for (let x = 0; x < rw; x++) {
      const s = (y * rw + x) * 3;
      const d = y * inW + x;
      tensor[d] = resized[s];
      tensor[plane + d] = resized[s + 1];
      tensor[2 * plane + d] = resized[s + 2];
    }
  }
  return { tensor, ratio, resizedWidth: rw, resizedHeight: rh };
}

/** Number of anchors YOLOX has for an input size (sum over strides of the grid cells). */
export function yoloxAnchorCount(inW: number, inH: number, strides: readonly number[] = YOLOX_STRIDES): number {
  return strides.reduce((n, s) => n + Math.floor(inW / s) * Math.floor(inH / s), 0);
}

/**
 * Decodes raw YOLOX predictions [anchors, cols] (cols = 5 + classes) into boxes in image pixels with
 * score = objectness × class `classId`. Every anchor is returned; thresholding is the caller's.
 */
export function decodeYolox(pred: Float32Array, cols: number, inW: number, inH: number, ratio: number, classId = 0, strides: readonly number[] = YOLOX_STRIDES): ScoredBox[] {
  const anchors = pred.length / cols;
  if (anchors !== yoloxAnchorCount(inW, inH, strides)) {
    throw new Error(`YOLOX output has ${anchors} anchors; a ${inW}x${inH} input with strides ${strides.join('/')} has ${yoloxAnchorCount(inW, inH, strides)}`);
  }
  const out: ScoredBox[] = [];
  let a = 0;
  for (const stride of strides) {
    const gw = Math.floor(inW / stride), gh = Math.floor(inH / stride);
    for (let gy = 0; gy < gh; gy++) {
      for (let gx = 0; gx < gw; gx++, a++) {
        const o = a * cols;
        const cx = (pred[o] + gx) * stride;
        const cy = (pred[o + 1] + gy) * stride;
        const bw = Math.exp(pred[o + 2]) * stride;
        const bh = Math.exp(pred[o + 3]) * stride;
        const score = pred[o + 4] * pred[o + 5 + classId];
        out.push({ x1: (cx - bw / 2) / ratio, y1: (cy - bh / 2) / ratio, x2: (cx + bw / 2) / ratio, y2: (cy + bh / 2) / ratio, score });
      }
    }
  }
  return out;
}

/**
 * IoU with the inclusive-pixel convention of the DWPose/YOLOX numpy NMS: width = x2 − x1 + 1.
 */
export function iou(a: Box, b: Box): number {
  const w = Math.max(0, Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1) + 1);
  const h = Math.max(0, Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1) + 1);
  const inter = w * h;
  const area = (r: Box): number => (r.x2 - r.x1 + 1) * (r.y2 - r.y1 + 1);
  return inter / (area(a) + area(b) - inter);
}

/**
 * Greedy NMS: highest score first (ties: earlier index first, a stable order), drop every later box
 * whose IoU with a kept one exceeds `threshold`. Returns the kept boxes, best first.
 */
export function nms<T extends ScoredBox>(boxes: readonly T[], threshold: number): T[] {
  const order = boxes.map((_, i) => i).sort((i, j) => boxes[j].score - boxes[i].score || i - j);
  const keep: T[] = [];
  const dead = new Uint8Array(boxes.length);
  for (let oi = 0; oi < order.length; oi++) {
    const i = order[oi];
    if (dead[i]) continue;
    keep.push(boxes[i]);
    for (let oj = oi + 1; oj < order.length; oj++) {
      const j = order[oj];
      if (!dead[j] && iou(boxes[i], boxes[j]) > threshold) dead[j] = 1;
    }
  }
  return keep;
}

/** Candidate filter → NMS → final score filter, as DWPose's multiclass_nms + person filter. */
export function selectPersons(decoded: readonly ScoredBox[], t: DetectorThresholds = DWPOSE_DETECTOR_THRESHOLDS): ScoredBox[] {
  const candidates = decoded.filter((b) => b.score > t.candidate);
  return nms(candidates, t.iou).filter((b) => b.score > t.score);
}
