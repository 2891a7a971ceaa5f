/**
 * Pixel work of insightface's face pipeline, reproducing the OpenCV calls it makes on 8-bit images:
 * cv2.resize(INTER_LINEAR) for the detector letterbox and cv2.warpAffine(INTER_LINEAR,
 * BORDER_CONSTANT 0) for the aligned crops, plus the blobFromImage normalisation.
 *
 * Colour order: insightface is handed BGR images (cv2.imread) and both networks are fed with
 * `swapRB=True`, i.e. they see RGB. Our images are RGB already, so channels go in as they are.
 * Alpha is dropped (cv2.imread drops it too; CLIPImageProcessor's RGB conversion likewise).
 */
import type { RgbaImage } from '../../api.ts';
import { invertAffine, type Affine } from './geometry.ts';

/** Interleaved 8-bit RGB. */
export interface RgbPixels {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

export function validateRgba(img: RgbaImage, what: string): void {
  if (!(img.width > 0 && img.height > 0) || !Number.isInteger(img.width) || !Number.isInteger(img.height)) {
    throw new Error(`${what}: bad image size ${img.width}x${img.height}`);
  }
  if (img.data.length !== img.width * img.height * 4) {
    throw new Error(`${what}: ${img.data.length} bytes of pixels for ${img.width}x${img.height} RGBA (needs ${img.width * img.height * 4})`);
  }
}

/** The colour channels of `pixels` pixels repacked from `from` to `to` channels a pixel; an alpha written is opaque. */
function repackRgb(data: ArrayLike<number>, pixels: number, from: 3 | 4, to: 3 | 4): Uint8Array {
  const out = new Uint8Array(pixels * to);
  for (let i = 0; i < pixels; i++) {
    const s = i * from, o = i * to;
    out[o] = data[s];
    out[o + 1] = data[s + 1];
    out[o + 2] = data[s + 2];
    if (to === 4) out[o + 3] = 255;
  }
  return out;
}

export function rgbaToRgb(img: RgbaImage): RgbPixels {
  return { width: img.width, height: img.height, data: repackRgb(img.data, img.width * img.height, 4, 3) };
}

export function rgbToRgba(img: RgbPixels): RgbaImage {
  return { width: img.width, height: img.height, data: repackRgb(img.data, img.width * img.height, 3, 4) };
}

/** Source taps and weights of one axis of cv2's INTER_LINEAR (half-pixel centres, edges clamped). */
function linearTaps(src: number, dst: number): { i0: Int32Array; w1: Float64Array } {
  const scale = src / dst;
  const i0 = new Int32Array(dst);
  const w1 = new Float64Array(dst);
  for (let d = 0; d < dst; d++) {
    const f = Math.fround((d + 0.5) * scale - 0.5); // OpenCV keeps this coordinate in float
    let s = Math.floor(f);
    let frac = f - s;
    if (s < 0) { s = 0; frac = 0; }
    if (s >= src - 1) { s = src - 1; frac = 0; }
    i0[d] = s;
    w1[d] = frac;
  }
  return { i0, w1 };
}

/**
 * cv2.resize(INTER_LINEAR) of RGB pixels. OpenCV evaluates the same taps in 11-bit fixed point
 * (or IPP), so a pixel may differ from it by one level; the sampling geometry is identical.
 */
export function resizeBilinear(img: RgbPixels, width: number, height: number): RgbPixels {
  const xs = linearTaps(img.width, width);
  const ys = linearTaps(img.height, height);
  const out = new Uint8Array(width * height * 3);
  const src = img.data;
  const stride = img.width * 3;
  for (let y = 0; y < height; y++) {
    const r0 = ys.i0[y] * stride;
    const r1 = Math.min(ys.i0[y] + 1, img.height - 1) * stride;
    const wy = ys.w1[y];
    for (let x = 0; x < width; x++) {
      const c0 = xs.i0[x] * 3;
      const c1 = Math.min(xs.i0[x] + 1, img.width - 1) * 3;
      const wx = xs.w1[x];
      for (let c = 0; c < 3; c++) {
        const top = src[r0 + c0 + c] * (1 - wx) + src[r0 + c1 + c] * wx;
        const bottom = src[r1 + c0 + c] * (1 - wx) + src[r1 + c1 + c] * wx;
        out[(y * width + x) * 3 + c] = Math.min(255, Math.max(0, Math.round(top * (1 - wy) + bottom * wy)));
      }
    }
  }
  return { width, height, data: out };
}

/** Round half to even, as OpenCV's cvRound / saturate_cast<int>(double). */
function roundEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const INTER_BITS = 5; // 1/32-pixel sub-grid
const INTER_TAB = 1 << INTER_BITS;
const AB_BITS = 10;
const AB_SCALE = 1 << AB_BITS;
const ROUND_DELTA = AB_SCALE / INTER_TAB / 2;

/**
 * cv2.warpAffine(img, M, (size, size), INTER_LINEAR, BORDER_CONSTANT, 0) with `m` the forward map
 * (image → crop), reproducing OpenCV's fixed-point path exactly: the inverse map sampled on a
 * 1/32-pixel grid (coordinates in 10-bit fixed point, rounded half to even), bilinear weights in
 * 15 bits, taps outside the image read as 0.
 */
export function warpAffine(img: RgbPixels, m: Affine, width: number, height = width): RgbPixels {
  const [a, b, c, d, e, f] = invertAffine(m);
  const out = new Uint8Array(width * height * 3);
  const adelta = new Int32Array(width);
  const bdelta = new Int32Array(width);
  for (let x = 0; x < width; x++) {
    adelta[x] = roundEven(a * x * AB_SCALE);
    bdelta[x] = roundEven(d * x * AB_SCALE);
  }
  const W = img.width, H = img.height, src = img.data;
  const tap = (sx: number, sy: number, ch: number) => (sx >= 0 && sy >= 0 && sx < W && sy < H ? src[(sy * W + sx) * 3 + ch] : 0);
  for (let y = 0; y < height; y++) {
    const X0 = roundEven((b * y + c) * AB_SCALE) + ROUND_DELTA;
    const Y0 = roundEven((e * y + f) * AB_SCALE) + ROUND_DELTA;
    for (let x = 0; x < width; x++) {
      const X = (X0 + adelta[x]) >> (AB_BITS - INTER_BITS);
      const Y = (Y0 + bdelta[x]) >> (AB_BITS - INTER_BITS);
      const sx = X >> INTER_BITS;
      const sy = Y >> INTER_BITS;
      const o = (y * width + x) * 3;
      if (sx >= W || sx + 1 < 0 || sy >= H || sy + 1 < 0) continue; // all four taps outside: border 0
      const fx = X & (INTER_TAB - 1);
      const fy = Y & (INTER_TAB - 1);
      // (1 - fx/32)(1 - fy/32) · 2^15, exact in integers.
      const w00 = (INTER_TAB - fx) * (INTER_TAB - fy) * 32;
      const w01 = fx * (INTER_TAB - fy) * 32;
      const w10 = (INTER_TAB - fx) * fy * 32;
      const w11 = fx * fy * 32;
      for (let ch = 0; ch < 3; ch++) {
        const v = tap(sx, sy, ch) * w00 + tap(sx + 1, sy, ch) * w01 + tap(sx, sy + 1, ch) * w10 + tap(sx + 1, sy + 1, ch) * w11;
        out[o + ch] = Math.min(255, (v + (1 << 14)) >> 15);
      }
    }
  }
  return { width, height, data: out };
}

/**
 * cv2.dnn.blobFromImage(img, 1/std, size, (mean,)*3, swapRB=True) of an RGB image already at the
 * network size: NCHW float32, (x − mean) / std, channels in RGB order. `into` (width × height of
 * the blob) pads the image top-left into a bigger zero (black) canvas, for the letterbox.
 */
export function toBlob(img: RgbPixels, mean: number, std: number, into?: { width: number; height: number }): Float32Array {
  const W = into?.width ?? img.width;
  const H = into?.height ?? img.height;
  const plane = W * H;
  const inv = 1 / std; // blobFromImage multiplies by the scale factor (in double, stored as float)
  const out = new Float32Array(3 * plane).fill((0 - mean) * inv);
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      const s = (y * img.width + x) * 3;
      const t = y * W + x;
      out[t] = (img.data[s] - mean) * inv;
      out[plane + t] = (img.data[s + 1] - mean) * inv;
      out[2 * plane + t] = (img.data[s + 2] - mean) * inv;
    }
  }
  return out;
}
