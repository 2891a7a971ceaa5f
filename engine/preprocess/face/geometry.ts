/**
 * Pure geometry of insightface's face pipeline: the SCRFD letterbox, anchor centres and the
 * distance decoding of boxes / 5-point landmarks, NMS, and the least-squares similarity transform
 * that aligns the landmarks onto the ArcFace template.
 *
 * SCRFD decoding follows insightface's numpy code in float32 (its arrays are float32 and a
 * Python float scalar does not upcast them), so `Math.fround` marks each rounding it makes;
 * given the same network outputs, boxes and landmarks come out bit-identical.
 */

export type Point = readonly [number, number];
/** x1, y1, x2, y2 in pixels. */
export type Box = readonly [number, number, number, number];
/** Row-major 2x3 affine matrix [a, b, c, d, e, f]: x' = a x + b y + c, y' = d x + e y + f. */
export type Affine = readonly [number, number, number, number, number, number];

/** insightface `arcface_dst`: eye centres, nose tip, mouth corners in the 112x112 crop. */
export const ARCFACE_TEMPLATE_112: readonly Point[] = [
  [38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041],
];

/**
 * The template for an output size, as insightface's `estimate_norm` scales it: multiples of 112
 * scale it; multiples of 128 scale by size/128 and shift x by 8·size/128 (the 128 crops are wider).
 * Coordinates are float32, like the numpy template they come from.
 */
export function arcfaceTemplate(size: number): Point[] {
  let ratio: number;
  let shiftX = 0;
  if (size % 112 === 0) ratio = size / 112;
  else if (size % 128 === 0) {
    ratio = size / 128;
    shiftX = 8 * ratio;
  } else throw new Error(`arcface alignment: crop size ${size} is neither a multiple of 112 nor of 128`);
  const f = Math.fround;
  return ARCFACE_TEMPLATE_112.map(([x, y]) => [f(f(f(x) * ratio) + shiftX), f(f(y) * ratio)] as const);
}

// ---------------------------------------------------------------------------------------------
// SCRFD

export interface Letterbox {
  /** Size of the resized image inside the detector input (top-left aligned, rest zero). */
  readonly width: number;
  readonly height: number;
  /** Resized / original (insightface's det_scale; taken from the heights, used for both axes). */
  readonly scale: number;
}

/** insightface SCRFD.detect: keep aspect, fit inside input, truncate the other side, pad bottom/right. */
export function letterbox(imageWidth: number, imageHeight: number, inputWidth: number, inputHeight: number): Letterbox {
  const imRatio = imageHeight / imageWidth;
  const modelRatio = inputHeight / inputWidth;
  let width: number;
  let height: number;
  if (imRatio > modelRatio) {
    height = inputHeight;
    width = Math.trunc(height / imRatio);
  } else {
    width = inputWidth;
    height = Math.trunc(width * imRatio);
  }
  // Degenerate strips (e.g. 1x5000) would resize to zero pixels.
  width = Math.max(1, width);
  height = Math.max(1, height);
  return { width, height, scale: height / imageHeight };
}

/** Anchor centres of one level: row-major grid of (x·stride, y·stride), each repeated `anchors` times. */
export function anchorCentres(featHeight: number, featWidth: number, stride: number, anchors: number): Float32Array {
  const out = new Float32Array(featHeight * featWidth * anchors * 2);
  let i = 0;
  for (let y = 0; y < featHeight; y++) {
    for (let x = 0; x < featWidth; x++) {
      for (let a = 0; a < anchors; a++) {
        out[i++] = x * stride;
        out[i++] = y * stride;
      }
    }
  }
  return out;
}

/** distance2bbox for one anchor: distances (left, top, right, bottom) in stride units. */
export function distance2bbox(cx: number, cy: number, d: ArrayLike<number>, stride: number): Box {
  const f = Math.fround;
  return [f(cx - f(d[0] * stride)), f(cy - f(d[1] * stride)), f(cx + f(d[2] * stride)), f(cy + f(d[3] * stride))];
}

/** distance2kps for one anchor: (dx, dy) pairs in stride units added to the centre. */
export function distance2kps(cx: number, cy: number, d: ArrayLike<number>, stride: number): Point[] {
  const f = Math.fround;
  const out: Point[] = [];
  for (let k = 0; k + 1 < d.length; k += 2) out.push([f(cx + f(d[k] * stride)), f(cy + f(d[k + 1] * stride))]);
  return out;
}

export interface Detection {
  readonly box: Box;
  readonly score: number;
  /** Five landmarks: left eye, right eye, nose, left mouth corner, right mouth corner (image left/right). */
  readonly kps: readonly Point[];
}

/** One pyramid level of raw SCRFD outputs, rows in anchor order. */
export interface ScrfdLevel {
  readonly stride: number;
  readonly featWidth: number;
  readonly featHeight: number;
  readonly anchors: number;
  /** [rows] */
  readonly scores: ArrayLike<number>;
  /** [rows, 4] */
  readonly boxes: ArrayLike<number>;
  /** [rows, 10] or absent (models without landmarks). */
  readonly kps?: ArrayLike<number>;
}

/** Candidates with score ≥ threshold, in detector-input pixels. */
export function decodeLevel(level: ScrfdLevel, threshold: number): Detection[] {
  const { stride, featWidth, anchors, scores, boxes, kps } = level;
  const t = Math.fround(threshold); // numpy compares the float32 scores with the threshold as float32
  const out: Detection[] = [];
  for (let i = 0; i < scores.length; i++) {
    const score = scores[i];
    if (!(score >= t)) continue;
    const loc = Math.floor(i / anchors);
    const cx = (loc % featWidth) * stride;
    const cy = Math.floor(loc / featWidth) * stride;
    out.push({
      score,
      box: distance2bbox(cx, cy, sub(boxes, i * 4, 4), stride),
      kps: kps ? distance2kps(cx, cy, sub(kps, i * 10, 10), stride) : [],
    });
  }
  return out;
}

function sub(a: ArrayLike<number>, start: number, n: number): number[] {
  return Array.from({ length: n }, (_, k) => a[start + k]);
}

/** Detector-input pixels → original image pixels (insightface divides by det_scale in float32). */
export function unletterbox(d: Detection, scale: number): Detection {
  const f = Math.fround;
  return {
    score: d.score,
    box: d.box.map((v) => f(v / scale)) as unknown as Box,
    kps: d.kps.map(([x, y]) => [f(x / scale), f(y / scale)] as const),
  };
}

/**
 * insightface's NMS: sort by score (descending; stable here, numpy's argsort is not), keep a box,
 * drop every later box whose IoU with it is above `iouThreshold`. Areas use the inclusive-pixel
 * convention (w + 1)(h + 1), as insightface does. Returns indices into `dets`, best first.
 */
export function nms(dets: readonly Detection[], iouThreshold: number): number[] {
  const f = Math.fround;
  const order = dets.map((_, i) => i).sort((a, b) => dets[b].score - dets[a].score);
  const area = (b: Box) => f(f(f(b[2] - b[0]) + 1) * f(f(b[3] - b[1]) + 1));
  const thresh = f(iouThreshold); // compared with float32 overlaps, as numpy does
  const suppressed = new Uint8Array(dets.length);
  const keep: number[] = [];
  for (let oi = 0; oi < order.length; oi++) {
    const i = order[oi];
    if (suppressed[i]) continue;
    keep.push(i);
    const a = dets[i].box;
    const areaA = area(a);
    for (let oj = oi + 1; oj < order.length; oj++) {
      const j = order[oj];
      if (suppressed[j]) continue;
      const b = dets[j].box;
      const w = Math.max(0, f(f(Math.min(a[2], b[2]) - Math.max(a[0], b[0])) + 1));
      const h = Math.max(0, f(f(Math.min(a[3], b[3]) - Math.max(a[1], b[1])) + 1));
      const inter = f(w * h);
      const iou = f(inter / f(f(areaA + area(b)) - inter));
      if (iou > thresh) suppressed[j] = 1;
    }
  }
  return keep;
}

export function boxArea(b: Box): number {
  return (b[2] - b[0]) * (b[3] - b[1]);
}

// ---------------------------------------------------------------------------------------------
// Alignment

/**
 * Least-squares similarity transform (rotation, uniform scale, translation; no reflection) taking
 * `src` onto `dst` — what skimage's SimilarityTransform.estimate (Umeyama with scale) returns.
 * In 2-D Umeyama's optimum has a closed form: with centred points s, d,
 *   a = Σ(s·d) / Σ|s|²,  b = Σ(s × d) / Σ|s|²,  [[a, −b], [b, a]] · (p − mean_s) + mean_d.
 * A reflected point set yields the best proper rotation, never a mirror.
 */
export function similarityTransform(src: readonly Point[], dst: readonly Point[]): Affine {
  const n = src.length;
  if (n !== dst.length || n < 2) throw new Error(`similarity transform: need the same number (≥ 2) of source and target points, got ${src.length} and ${dst.length}`);
  let msx = 0, msy = 0, mdx = 0, mdy = 0;
  for (let i = 0; i < n; i++) {
    msx += src[i][0]; msy += src[i][1]; mdx += dst[i][0]; mdy += dst[i][1];
  }
  msx /= n; msy /= n; mdx /= n; mdy /= n;
  let dot = 0, cross = 0, norm = 0;
  for (let i = 0; i < n; i++) {
    const sx = src[i][0] - msx, sy = src[i][1] - msy;
    const dx = dst[i][0] - mdx, dy = dst[i][1] - mdy;
    dot += sx * dx + sy * dy;
    cross += sx * dy - sy * dx;
    norm += sx * sx + sy * sy;
  }
  if (!(norm > 0)) throw new Error('similarity transform: the source points all coincide');
  const a = dot / norm;
  const b = cross / norm;
  return [a, -b, mdx - (a * msx - b * msy), b, a, mdy - (b * msx + a * msy)];
}

export function applyAffine(m: Affine, p: Point): Point {
  return [m[0] * p[0] + m[1] * p[1] + m[2], m[3] * p[0] + m[4] * p[1] + m[5]];
}

/** Inverse of an affine map, in the form OpenCV's warpAffine computes it (same operation order). */
export function invertAffine(m: Affine): Affine {
  const det = m[0] * m[4] - m[1] * m[3];
  const D = det !== 0 ? 1 / det : 0;
  const a = m[4] * D, b = -m[1] * D, d = -m[3] * D, e = m[0] * D;
  return [a, b, -a * m[2] - b * m[5], d, e, -d * m[2] - e * m[5]];
}

/** insightface estimate_norm: the transform from image landmarks onto the template for `size`. */
export function estimateNorm(kps: readonly Point[], size: number): Affine {
  if (kps.length !== 5) throw new Error(`arcface alignment needs 5 landmarks, got ${kps.length}`);
  return similarityTransform(kps, arcfaceTemplate(size));
}
