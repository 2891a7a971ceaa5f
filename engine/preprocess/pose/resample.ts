/**
 * Pure-TS resampling for the preprocessors (no sharp in the engine): separable resize with OpenCV's
 * INTER_LINEAR geometry (half-pixel centres, edge clamp, no antialiasing) or box/area averaging for
 * shrinking (INTER_AREA-like), bilinear affine warps (cv2.warpAffine, constant border), and RGBA → RGB
 * flattening.
 */
import type { RgbaImage } from '../../api.ts';

export type ResizeMode = 'linear' | 'area' | 'auto';

/** 2x3 affine matrix [a, b, c, d, e, f]: x' = a x + b y + c, y' = d x + e y + f. */
export type Affine = readonly [number, number, number, number, number, number];

interface Taps {
  readonly index: Int32Array;
  readonly weight: Float32Array;
  readonly count: number; // taps per output sample
}

/** Per-output-sample source indices and weights along one axis. */
export function axisTaps(inSize: number, outSize: number, mode: 'linear' | 'area'): Taps {
  const scale = inSize / outSize;
  if (mode === 'linear') {
    const index = new Int32Array(outSize * 2), weight = new Float32Array(outSize * 2);
    for (let d = 0; d < outSize; d++) {
      const s = (d + 0.5) * scale - 0.5;
      let x0 = Math.floor(s);
      let f = s - x0;
      if (x0 < 0) {
        x0 = 0;
        f = 0;
      }
      if (x0 >= inSize - 1) {
        x0 = inSize - 1;
        f = 0;
      }
      index[d * 2] = x0;
      index[d * 2 + 1] = Math.min(x0 + 1, inSize - 1);
      weight[d * 2] = 1 - f;
      weight[d * 2 + 1] = f;
    }
    return { index, weight, count: 2 };
  }
  const count = Math.ceil(scale) + 1;
  const index = new Int32Array(outSize * count), weight = new Float32Array(outSize * count);
  for (let d = 0; d < outSize; d++) {
    const start = d * scale, end = (d + 1) * scale;
    let k = 0;
    for (let s = Math.floor(start); s < end && k < count; s++) {
      const w = Math.min(end, s + 1) - Math.max(start, s);
      if (w <= 0) continue;
      index[d * count + k] = Math.min(s, inSize - 1);
      weight[d * count + k] = w / scale;
      k++;
    }
  }
  return { index, weight, count };
}

/** Resizes `ch`-channel interleaved data; returns floats (callers round or keep them). */
export function resample(src: ArrayLike<number>, w: number, h: number, ch: number, dw: number, dh: number, mode: ResizeMode = 'auto'): Float32Array {
  const mx = mode === 'auto' ? (dw < w ? 'area' : 'linear') : mode;
  const my = mode === 'auto' ? (dh < h ? 'area' : 'linear') : mode;
  const tx = axisTaps(w, dw, mx), ty = axisTaps(h, dh, my);
  const tmp = new Float32Array(dw * h * ch);
  for (let y = 0; y < h; y++) {
    const row = y * w * ch;
    for (let x = 0; x < dw; x++) {
      const o = (y * dw + x) * ch;
      for (let k = 0; k < tx.count; k++) {
        const wt = tx.weight[x * tx.count + k];
        if (wt === 0) continue;
        const s = row + tx.index[x * tx.count + k] * ch;
        for (let c = 0; c < ch; c++) tmp[o + c] += wt * src[s + c];
      }
    }
  }
  const out = new Float32Array(dw * dh * ch);
  for (let y = 0; y < dh; y++) {
    for (let k = 0; k < ty.count; k++) {
      const wt = ty.weight[y * ty.count + k];
      if (wt === 0) continue;
      const s = ty.index[y * ty.count + k] * dw * ch;
      const o = y * dw * ch;
      for (let i = 0; i < dw * ch; i++) out[o + i] += wt * tmp[s + i];
    }
  }
  return out;
}

export function toUint8(v: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = Math.min(255, Math.max(0, Math.round(v[i])));
  return out;
}

/** Resize an RGBA image (area when shrinking, linear when enlarging); identity when the size matches. */
export function resizeRgba(img: RgbaImage, width: number, height: number, mode: ResizeMode = 'auto'): RgbaImage {
  if (img.width === width && img.height === height) return img;
  return { width, height, data: toUint8(resample(img.data, img.width, img.height, 4, width, height, mode)) };
}

/** RGBA → interleaved RGB, composited over `background` where alpha < 255 (unpremultiplied input). */
export function flattenRgba(img: RgbaImage, background: readonly [number, number, number]): Uint8Array {
  const n = img.width * img.height;
  const out = new Uint8Array(n * 3);
  const d = img.data;
  for (let i = 0; i < n; i++) {
    const a = d[i * 4 + 3];
    for (let c = 0; c < 3; c++) {
      out[i * 3 + c] = a === 255 ? d[i * 4 + c] : Math.round((d[i * 4 + c] * a + background[c] * (255 - a)) / 255);
    }
  }
  return out;
}

export function rgbToRgba(rgb: Uint8Array, width: number, height: number): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    data[j] = rgb[i];
    data[j + 1] = rgb[i + 1];
    data[j + 2] = rgb[i + 2];
    data[j + 3] = 255;
  }
  return { width, height, data };
}

export function invertAffine(m: Affine): Affine {
  const [a, b, c, d, e, f] = m;
  const det = a * e - b * d;
  if (det === 0) throw new Error('affine matrix is singular');
  const ia = e / det, ib = -b / det, id = -d / det, ie = a / det;
  return [ia, ib, -(ia * c + ib * f), id, ie, -(id * c + ie * f)];
}

/**
 * cv2.warpAffine(src, M, (dw, dh), INTER_LINEAR, BORDER_CONSTANT, 0) on interleaved RGB: each output
 * pixel (u, v) samples the source at M⁻¹(u, v) bilinearly; neighbours outside the image count as 0.
 */
export function warpAffineRgb(src: Uint8Array, w: number, h: number, m: Affine, dw: number, dh: number): Uint8Array {
  const [a, b, c, d, e, f] = invertAffine(m);
  const out = new Uint8Array(dw * dh * 3);
  const px = (x: number, y: number, ch: number): number => (x < 0 || y < 0 || x >= w || y >= h ? 0 : src[(y * w + x) * 3 + ch]);
  for (let v = 0; v < dh; v++) {
    for (let u = 0; u < dw; u++) {
      const sx = a * u + b * v + c, sy = d * u + e * v + f;
      const x0 = Math.floor(sx), y0 = Math.floor(sy);
      if (x0 < -1 || y0 < -1 || x0 >= w || y0 >= h) continue;
      const fx = sx - x0, fy = sy - y0;
      const o = (v * dw + u) * 3;
      for (let ch = 0; ch < 3; ch++) {
        const top = px(x0, y0, ch) * (1 - fx) + px(x0 + 1, y0, ch) * fx;
        const bot = px(x0, y0 + 1, ch) * (1 - fx) + px(x0 + 1, y0 + 1, ch) * fx;
        out[o + ch] = Math.round(top * (1 - fy) + bot * fy);
      }
    }
  }
  return out;
}
