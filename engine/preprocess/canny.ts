/**
 * Canny edges in pure TypeScript with OpenCV's semantics (cv2.Canny, aperture 3, L1 gradient), after the
 * classic 5x5 Gaussian:
 * 1. grey = (4899 R + 9617 G + 1868 B + 2¹³) >> 14 (cv2.COLOR_RGB2GRAY's fixed point);
 * 2. 5x5 Gaussian with the binomial kernel [1 4 6 4 1] / 16 (cv2.GaussianBlur(5, 0)), reflect-101 border,
 *    rounded to 8 bits;
 * 3. 3x3 Sobel dx, dy (replicated border), magnitude |dx| + |dy|;
 * 4. non-maximum suppression along the gradient direction quantised to 0/45/90/135° with OpenCV's
 *    fixed-point tan 22.5° test (ties resolved as OpenCV: strictly greater than one neighbour, ≥ the other,
 *    both strict on diagonals);
 * 5. double threshold (magnitude > high: strong; > low: weak) and hysteresis: weak pixels 8-connected to a
 *    strong one become edges. Thresholds are floored to integers and swapped if low > high.
 * Output: 255 on edges, 0 elsewhere.
 */
import type { RgbaImage } from '../api.ts';
import { flattenRgba, resample, rgbToRgba, toUint8 } from './pose/resample.ts';

export interface CannyOptions {
  /** Lower hysteresis threshold on |dx| + |dy| (0–255 scale of ControlNet UIs; 100 by default). */
  readonly low?: number;
  /** Upper threshold (200 by default). */
  readonly high?: number;
  /** Apply the 5x5 Gaussian first (default true). */
  readonly blur?: boolean;
}

export const CANNY_DEFAULT_LOW = 100;
export const CANNY_DEFAULT_HIGH = 200;

/** cv2.cvtColor(RGB2GRAY) on interleaved RGB. */
export function rgbToGray(rgb: Uint8Array): Uint8Array {
  const n = rgb.length / 3;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (rgb[i * 3] * 4899 + rgb[i * 3 + 1] * 9617 + rgb[i * 3 + 2] * 1868 + 8192) >> 14;
  return out;
}

/** BORDER_REFLECT_101 index: ... 2 1 | 0 1 2 ... n-1 | n-2 ... */
function reflect101(i: number, n: number): number {
  if (n === 1) return 0;
  while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
  return i;
}

const clampIndex = (i: number, n: number): number => (i < 0 ? 0 : i >= n ? n - 1 : i);

/** cv2.GaussianBlur(gray, (5, 5), 0): exact integer [1 4 6 4 1]² / 256, rounded half up. */
export function gaussianBlur5(gray: Uint8Array, w: number, h: number): Uint8Array {
  const k = [1, 4, 6, 4, 1];
  const tmp = new Int32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let t = -2; t <= 2; t++) s += k[t + 2] * gray[y * w + reflect101(x + t, w)];
      tmp[y * w + x] = s;
    }
  }
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let t = -2; t <= 2; t++) s += k[t + 2] * tmp[reflect101(y + t, h) * w + x];
      out[y * w + x] = (s + 128) >> 8;
    }
  }
  return out;
}

/** 3x3 Sobel derivatives with a replicated border (as cv2.Canny computes them). */
export function sobel3(gray: Uint8Array, w: number, h: number): { dx: Int32Array; dy: Int32Array } {
  const dx = new Int32Array(w * h), dy = new Int32Array(w * h);
  const p = (x: number, y: number): number => gray[clampIndex(y, h) * w + clampIndex(x, w)];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      dx[y * w + x] = p(x + 1, y - 1) - p(x - 1, y - 1) + 2 * (p(x + 1, y) - p(x - 1, y)) + p(x + 1, y + 1) - p(x - 1, y + 1);
      dy[y * w + x] = p(x - 1, y + 1) - p(x - 1, y - 1) + 2 * (p(x, y + 1) - p(x, y - 1)) + p(x + 1, y + 1) - p(x + 1, y - 1);
    }
  }
  return { dx, dy };
}

const CANNY_SHIFT = 15;
const TG22 = Math.trunc(0.4142135623730950488016887242097 * (1 << CANNY_SHIFT) + 0.5);

/** cv2.Canny(gray, low, high) (L1 gradient) on an already smoothed 8-bit image: 255 = edge. */
export function cannyEdges(gray: Uint8Array, w: number, h: number, lowThreshold: number, highThreshold: number): Uint8Array {
  let low = Math.floor(lowThreshold), high = Math.floor(highThreshold);
  if (low > high) [low, high] = [high, low];
  const { dx, dy } = sobel3(gray, w, h);
  const mag = new Int32Array(w * h);
  for (let i = 0; i < mag.length; i++) mag[i] = Math.abs(dx[i]) + Math.abs(dy[i]);
  // Magnitude outside the image is 0 (OpenCV pads its magnitude rows with zeros).
  const m = (x: number, y: number): number => (x < 0 || y < 0 || x >= w || y >= h ? 0 : mag[y * w + x]);

  // 0 = weak candidate, 1 = not an edge, 2 = strong edge
  const map = new Uint8Array(w * h).fill(1);
  const stack: number[] = [];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const v = mag[i];
      if (v <= low) continue;
      const xs = dx[i], ys = dy[i];
      const ax = Math.abs(xs);
      const ay = Math.abs(ys) * (1 << CANNY_SHIFT);
      const tg22x = ax * TG22;
      let isMax: boolean;
      if (ay < tg22x) {
        isMax = v > m(x - 1, y) && v >= m(x + 1, y);
      } else {
        const tg67x = tg22x + ax * (1 << (CANNY_SHIFT + 1));
        if (ay > tg67x) {
          isMax = v > m(x, y - 1) && v >= m(x, y + 1);
        } else {
          const s = (xs < 0) !== (ys < 0) ? -1 : 1; // (xs ^ ys) < 0 in OpenCV
          isMax = v > m(x - s, y - 1) && v > m(x + s, y + 1);
        }
      }
      if (!isMax) continue;
      if (v > high) {
        map[i] = 2;
        stack.push(i);
      } else {
        map[i] = 0;
      }
    }
  }
  // Hysteresis: grow strong edges through 8-connected weak candidates.
  while (stack.length > 0) {
    const i = stack.pop()!;
    const x = i % w, y = (i - x) / w;
    for (let oy = -1; oy <= 1; oy++) {
      for (let ox = -1; ox <= 1; ox++) {
        const nx = x + ox, ny = y + oy;
        if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
        const j = ny * w + nx;
        if (map[j] === 0) {
          map[j] = 2;
          stack.push(j);
        }
      }
    }
  }
  const out = new Uint8Array(w * h);
  for (let i = 0; i < out.length; i++) out[i] = map[i] === 2 ? 255 : 0;
  return out;
}

/**
 * The canny control image: `image` flattened over white (transparent areas are paper), resized to
 * width x height, grey, blurred, edges; white edges on black, opaque RGBA.
 */
export function cannyImage(image: RgbaImage, width: number, height: number, opts: CannyOptions = {}): RgbaImage {
  let rgb = flattenRgba(image, [255, 255, 255]);
  if (image.width !== width || image.height !== height) rgb = toUint8(resample(rgb, image.width, image.height, 3, width, height));
  let gray = rgbToGray(rgb);
  if (opts.blur !== false) gray = gaussianBlur5(gray, width, height);
  const edges = cannyEdges(gray, width, height, opts.low ?? CANNY_DEFAULT_LOW, opts.high ?? CANNY_DEFAULT_HIGH);
  const out = new Uint8Array(width * height * 3);
  for (let i = 0; i < edges.length; i++) out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = edges[i];
  return rgbToRgba(out, width, height);
}
