/**
 * Small raster operations plugins need between the editor and the wire: resampling (tent filter: bilinear
 * when enlarging, area-weighted when shrinking), compositing a piece at fractional document coordinates,
 * flattening, alpha from a mask. RGBA8 with straight alpha, masks as one 8-bit channel. Pure, no host APIs.
 */
import type { Rect } from './region.ts';

export interface Rgba8 {
  width: number;
  height: number;
  /** width*height*4 bytes, rows top to bottom, straight (not premultiplied) alpha. */
  data: Uint8Array;
}

export interface Gray8 {
  width: number;
  height: number;
  /** width*height bytes; 255 = fully selected / opaque. */
  data: Uint8Array;
}

export function blankRgba(width: number, height: number, rgba: readonly [number, number, number, number] = [0, 0, 0, 0]): Rgba8 {
  const data = new Uint8Array(width * height * 4);
  if (rgba.some((v) => v !== 0)) for (let i = 0; i < data.length; i += 4) data.set(rgba, i);
  return { width, height, data };
}

export function blankGray(width: number, height: number, value = 0): Gray8 {
  const data = new Uint8Array(width * height);
  if (value) data.fill(value);
  return { width, height, data };
}

interface Taps {
  /** First source index per destination index. */
  first: Int32Array;
  /** Number of taps per destination index (all share `stride` slots in `w`). */
  count: Int32Array;
  stride: number;
  w: Float32Array;
}

/** Tent-filter weights from `src` samples to `dst` samples (pixel centres aligned). */
function taps(src: number, dst: number): Taps {
  const scale = dst / src;
  const support = scale < 1 ? 1 / scale : 1;
  const stride = Math.ceil(support * 2) + 1;
  const first = new Int32Array(dst);
  const count = new Int32Array(dst);
  const w = new Float32Array(dst * stride);
  for (let i = 0; i < dst; i++) {
    const centre = (i + 0.5) / scale - 0.5;
    const lo = Math.max(0, Math.ceil(centre - support));
    const hi = Math.min(src - 1, Math.floor(centre + support));
    let sum = 0;
    let n = 0;
    for (let s = lo; s <= hi && n < stride; s++, n++) {
      const k = Math.max(0, 1 - Math.abs(s - centre) / support);
      w[i * stride + n] = k;
      sum += k;
    }
    if (sum === 0) {
      // Enlarging past the last sample: repeat the edge.
      const s = Math.min(src - 1, Math.max(0, Math.round(centre)));
      first[i] = s;
      count[i] = 1;
      w[i * stride] = 1;
      continue;
    }
    for (let k = 0; k < n; k++) w[i * stride + k] /= sum;
    first[i] = lo;
    count[i] = n;
  }
  return { first, count, stride, w };
}

/**
 * Rows [y0, y1) of a separable resample of `channels`-interleaved data (only the source rows those
 * destination rows need are touched, so a huge output can be produced in stripes). `load(row, out)`
 * writes one source row as floats.
 */
function resampleRows(load: (row: number, out: Float32Array) => void, channels: number, sw: number, sh: number, dw: number, dh: number, y0: number, y1: number): Float32Array {
  const tx = taps(sw, dw);
  const ty = taps(sh, dh);
  let lo = sh, hi = -1;
  for (let y = y0; y < y1; y++) {
    lo = Math.min(lo, ty.first[y]);
    hi = Math.max(hi, ty.first[y] + ty.count[y] - 1);
  }
  const rows = Math.max(0, hi - lo + 1);
  const row = new Float32Array(sw * channels);
  const mid = new Float32Array(dw * rows * channels);
  for (let r = 0; r < rows; r++) {
    load(lo + r, row);
    const out = r * dw * channels;
    for (let x = 0; x < dw; x++) {
      const f = tx.first[x], n = tx.count[x], base = x * tx.stride;
      for (let c = 0; c < channels; c++) {
        let acc = 0;
        for (let k = 0; k < n; k++) acc += row[(f + k) * channels + c] * tx.w[base + k];
        mid[out + x * channels + c] = acc;
      }
    }
  }
  const dst = new Float32Array(dw * (y1 - y0) * channels);
  for (let y = y0; y < y1; y++) {
    const f = ty.first[y], n = ty.count[y], base = y * ty.stride;
    const out = (y - y0) * dw * channels;
    for (let k = 0; k < n; k++) {
      const wk = ty.w[base + k];
      const m = (f + k - lo) * dw * channels;
      for (let i = 0; i < dw * channels; i++) dst[out + i] += mid[m + i] * wk;
    }
  }
  return dst;
}

/**
 * Resizes RGBA8. Colour is resampled premultiplied, so transparent pixels do not bleed dark fringes into
 * a layer's edges. `rows` limits the output to rows [start, end) of the resized image (for stripes).
 */
export function resizeRgba(img: Rgba8, width: number, height: number, rows?: { start: number; end: number }): Rgba8 {
  width = Math.max(1, Math.round(width));
  height = Math.max(1, Math.round(height));
  const y0 = rows ? Math.max(0, rows.start) : 0;
  const y1 = rows ? Math.min(height, rows.end) : height;
  if (width === img.width && height === img.height) return y0 === 0 && y1 === height ? img : cropRgba(img, { x: 0, y: y0, width, height: y1 - y0 });
  const d = img.data;
  const load = (row: number, out: Float32Array): void => {
    for (let i = 0, s = row * img.width * 4; i < out.length; i += 4, s += 4) {
      const a = d[s + 3] / 255;
      out[i] = d[s] * a; out[i + 1] = d[s + 1] * a; out[i + 2] = d[s + 2] * a; out[i + 3] = d[s + 3];
    }
  };
  const r = resampleRows(load, 4, img.width, img.height, width, height, y0, y1);
  const out = new Uint8Array(width * (y1 - y0) * 4);
  for (let i = 0; i < out.length; i += 4) {
    const a = r[i + 3];
    if (a <= 0.5) continue; // fully transparent stays transparent black
    const k = 255 / a;
    out[i] = clamp255(r[i] * k); out[i + 1] = clamp255(r[i + 1] * k); out[i + 2] = clamp255(r[i + 2] * k); out[i + 3] = clamp255(a);
  }
  return { width, height: y1 - y0, data: out };
}

export function resizeGray(img: Gray8, width: number, height: number): Gray8 {
  width = Math.max(1, Math.round(width));
  height = Math.max(1, Math.round(height));
  if (width === img.width && height === img.height) return img;
  const load = (row: number, out: Float32Array): void => {
    for (let i = 0, s = row * img.width; i < out.length; i++, s++) out[i] = img.data[s];
  };
  const r = resampleRows(load, 1, img.width, img.height, width, height, 0, height);
  const out = new Uint8Array(width * height);
  for (let i = 0; i < out.length; i++) out[i] = clamp255(r[i]);
  return { width, height, data: out };
}

function clamp255(v: number): number {
  return v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
}

/** Integer pixel box of a fractional rect: edges rounded, so neighbouring pieces meet without gaps. */
export function pixelBox(r: Rect): Rect {
  const x0 = Math.round(r.x), y0 = Math.round(r.y);
  return { x: x0, y: y0, width: Math.round(r.x + r.width) - x0, height: Math.round(r.y + r.height) - y0 };
}

/** Where a draw at `at` lands: its whole pixel box, and the part of it inside `dst` (x0..x1, y0..y1); null for an empty box. */
function placement(dst: { readonly width: number; readonly height: number }, at: Rect): { box: Rect; x0: number; y0: number; x1: number; y1: number } | null {
  const box = pixelBox(at);
  if (box.width <= 0 || box.height <= 0) return null;
  const x0 = Math.max(0, box.x), y0 = Math.max(0, box.y);
  const x1 = Math.min(dst.width, box.x + box.width), y1 = Math.min(dst.height, box.y + box.height);
  return { box, x0, y0, x1, y1 };
}

/**
 * Draws `src` over `dst` (source-over, straight alpha) scaled into `at` (fractional coordinates in `dst`),
 * clipped to `dst`. Returns `dst`, changed in place.
 */
export function drawRgba(dst: Rgba8, src: Rgba8, at: Rect): Rgba8 {
  const place = placement(dst, at);
  if (!place) return dst;
  const { box, x0, y0, x1, y1 } = place;
  const piece = resizeRgba(src, box.width, box.height);
  const p = piece.data, d = dst.data;
  for (let y = y0; y < y1; y++) {
    let s = ((y - box.y) * piece.width + (x0 - box.x)) * 4;
    let o = (y * dst.width + x0) * 4;
    for (let x = x0; x < x1; x++, s += 4, o += 4) {
      const sa = p[s + 3];
      if (sa === 0) continue;
      if (sa === 255) {
        d[o] = p[s]; d[o + 1] = p[s + 1]; d[o + 2] = p[s + 2]; d[o + 3] = 255;
        continue;
      }
      const da = d[o + 3] * (255 - sa) / 255;
      const oa = sa + da;
      d[o] = Math.round((p[s] * sa + d[o] * da) / oa);
      d[o + 1] = Math.round((p[s + 1] * sa + d[o + 1] * da) / oa);
      d[o + 2] = Math.round((p[s + 2] * sa + d[o + 2] * da) / oa);
      d[o + 3] = Math.round(oa);
    }
  }
  return dst;
}

/** Same for one-channel masks: `src` replaces `dst` inside `at` (selections do not stack). */
export function drawGray(dst: Gray8, src: Gray8, at: Rect): Gray8 {
  const place = placement(dst, at);
  if (!place) return dst;
  const { box, x0, y0, x1, y1 } = place;
  const piece = resizeGray(src, box.width, box.height);
  for (let y = y0; y < y1; y++) {
    const s = (y - box.y) * piece.width + (x0 - box.x);
    dst.data.set(piece.data.subarray(s, s + (x1 - x0)), y * dst.width + x0);
  }
  return dst;
}

/** Opaque copy: transparent areas become `bg` (black for control maps, white for references). */
export function flattenRgba(img: Rgba8, bg: readonly [number, number, number]): Rgba8 {
  const d = img.data;
  const out = new Uint8Array(d.length);
  for (let i = 0; i < d.length; i += 4) {
    const a = d[i + 3];
    const na = 255 - a;
    out[i] = (d[i] * a + bg[0] * na + 127) / 255;
    out[i + 1] = (d[i + 1] * a + bg[1] * na + 127) / 255;
    out[i + 2] = (d[i + 2] * a + bg[2] * na + 127) / 255;
    out[i + 3] = 255;
  }
  return { width: img.width, height: img.height, data: out };
}

/** Multiplies the image's alpha by a same-sized mask (a selection baked into a layer's transparency). */
export function maskAlpha(img: Rgba8, mask: Gray8): Rgba8 {
  if (mask.width !== img.width || mask.height !== img.height) throw new Error(`mask ${mask.width}x${mask.height} does not match image ${img.width}x${img.height}`);
  const out = new Uint8Array(img.data);
  for (let i = 0, j = 3; i < mask.data.length; i++, j += 4) out[j] = (out[j] * mask.data[i] + 127) / 255;
  return { width: img.width, height: img.height, data: out };
}

export function cropRgba(img: Rgba8, r: Rect): Rgba8 {
  const out = new Uint8Array(r.width * r.height * 4);
  for (let y = 0; y < r.height; y++) {
    const s = ((r.y + y) * img.width + r.x) * 4;
    out.set(img.data.subarray(s, s + r.width * 4), y * r.width * 4);
  }
  return { width: r.width, height: r.height, data: out };
}

/** Expands RGB (3 components) to RGBA; RGBA is returned as is. */
export function rgbToRgba(data: Uint8Array, width: number, height: number, components: number): Rgba8 {
  if (components === 4) return { width, height, data };
  if (components !== 3) throw new Error(`expected 3 or 4 components, got ${components}`);
  const out = new Uint8Array(width * height * 4);
  for (let i = 0, j = 0; j < out.length; i += 3, j += 4) {
    out[j] = data[i]; out[j + 1] = data[i + 1]; out[j + 2] = data[i + 2]; out[j + 3] = 255;
  }
  return { width, height, data: out };
}

export interface Stripe {
  /** First row of the stripe in the full-size image. */
  y: number;
  pixels: Rgba8;
}

/**
 * The result scaled to `width`×`height` with `alpha` (full size, or null) applied, as horizontal stripes
 * of at most `maxPixels` pixels: a 1 MP result put into a 50 MP region never needs the 50 MP image (or
 * its float intermediates) in memory at once.
 */
export function* scaledStripes(img: Rgba8, width: number, height: number, alpha: Gray8 | null, maxPixels = 4 * 1024 * 1024): Generator<Stripe> {
  if (alpha && (alpha.width !== width || alpha.height !== height)) throw new Error(`alpha ${alpha.width}x${alpha.height} does not match ${width}x${height}`);
  const rows = Math.max(1, Math.floor(maxPixels / Math.max(1, width)));
  for (let y = 0; y < height; y += rows) {
    const end = Math.min(height, y + rows);
    let pixels = resizeRgba(img, width, height, { start: y, end });
    if (alpha) pixels = maskAlpha(pixels, { width, height: end - y, data: alpha.data.subarray(y * width, end * width) });
    yield { y, pixels };
  }
}
