/**
 * Colour helpers for editor pixels: 8/16/32-bit components to 8-bit sRGB and back, and conversion
 * between the common matrix RGB profiles (sRGB, Adobe RGB (1998), Display P3, ProPhoto RGB) through the
 * D50 connection space with Bradford adaptation — relative colorimetric, as Photoshop converts matrix
 * profiles. Photoshop's 16-bit range is 0..32768; its 32-bit data is linear light. Pure, no host APIs.
 */
import type { Rgba8 } from './raster.ts';

export type ComponentSize = 8 | 16 | 32;
export type PixelArray = Uint8Array | Uint16Array | Float32Array;

export const SRGB_PROFILE = 'sRGB IEC61966-2.1';
/** Photoshop's 16-bit component maximum (not 65535). */
export const PS16_MAX = 32768;

type Xy = readonly [number, number];
export type Mat3 = readonly [number, number, number, number, number, number, number, number, number];

export interface RgbProfile {
  /** The name Photoshop uses. */
  name: string;
  red: Xy;
  green: Xy;
  blue: Xy;
  white: Xy;
  /** 'srgb' = the IEC 61966-2-1 piecewise curve, a number = pure gamma. */
  curve: 'srgb' | number;
}

const D65: Xy = [0.3127, 0.329];
const D50: Xy = [0.3457, 0.3585];

export const PROFILES: readonly RgbProfile[] = [
  { name: SRGB_PROFILE, red: [0.64, 0.33], green: [0.3, 0.6], blue: [0.15, 0.06], white: D65, curve: 'srgb' },
  { name: 'Adobe RGB (1998)', red: [0.64, 0.33], green: [0.21, 0.71], blue: [0.15, 0.06], white: D65, curve: 563 / 256 },
  { name: 'Display P3', red: [0.68, 0.32], green: [0.265, 0.69], blue: [0.15, 0.06], white: D65, curve: 'srgb' },
  { name: 'ProPhoto RGB', red: [0.7347, 0.2653], green: [0.1596, 0.8404], blue: [0.0366, 0.0001], white: D50, curve: 1.8 },
];

/** 32-bit documents report "<profile> (Linear RGB Profile)"; the imaging API wants the plain name. */
export function baseProfileName(name: string): string {
  return name.replace(/\s*\(linear rgb profile\)\s*$/i, '').trim();
}

/** The known profile a Photoshop profile name refers to, or null (a custom ICC profile). */
export function findProfile(name: string | null | undefined): RgbProfile | null {
  if (!name) return null;
  const n = baseProfileName(name).toLowerCase();
  if (n.startsWith('srgb')) return PROFILES[0];
  if (n.startsWith('adobe rgb')) return PROFILES[1];
  if (n === 'display p3' || n.startsWith('display p3 ')) return PROFILES[2];
  if (n.startsWith('prophoto')) return PROFILES[3];
  return null;
}

export function isSrgb(p: RgbProfile | null): boolean {
  return p !== null && p.name === SRGB_PROFILE;
}

// ---------------------------------------------------------------- transfer curves

export function srgbToLinear(v: number): number {
  return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
}

export function linearToSrgb(v: number): number {
  return v <= 0.0031308 ? v * 12.92 : 1.055 * v ** (1 / 2.4) - 0.055;
}

/** Encoded component (0–1) → linear light, by the profile's curve. */
export function decodeCurve(p: RgbProfile, v: number): number {
  if (v <= 0) return 0;
  return p.curve === 'srgb' ? srgbToLinear(v) : v ** p.curve;
}

/** Linear light → encoded component (0–1), by the profile's curve. */
export function encodeCurve(p: RgbProfile, v: number): number {
  if (v <= 0) return 0;
  return p.curve === 'srgb' ? linearToSrgb(v) : v ** (1 / p.curve);
}

// ---------------------------------------------------------------- matrices

function mul(a: Mat3, b: Mat3): Mat3 {
  const o: number[] = [];
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) o.push(a[r * 3] * b[c] + a[r * 3 + 1] * b[3 + c] + a[r * 3 + 2] * b[6 + c]);
  return o as unknown as Mat3;
}

export function applyMatrix(m: Mat3, v: readonly [number, number, number]): [number, number, number] {
  return [m[0] * v[0] + m[1] * v[1] + m[2] * v[2], m[3] * v[0] + m[4] * v[1] + m[5] * v[2], m[6] * v[0] + m[7] * v[1] + m[8] * v[2]];
}

function invert(m: Mat3): Mat3 {
  const [a, b, c, d, e, f, g, h, i] = m;
  const A = e * i - f * h, B = -(d * i - f * g), C = d * h - e * g;
  const det = a * A + b * B + c * C;
  return [A / det, -(b * i - c * h) / det, (b * f - c * e) / det, B / det, (a * i - c * g) / det, -(a * f - c * d) / det, C / det, -(a * h - b * g) / det, (a * e - b * d) / det];
}

function xyz(p: Xy): [number, number, number] {
  return [p[0] / p[1], 1, (1 - p[0] - p[1]) / p[1]];
}

const BRADFORD: Mat3 = [0.8951, 0.2664, -0.1614, -0.7502, 1.7135, 0.0367, 0.0389, -0.0685, 1.0296];

/** Chromatic adaptation between two whites (Bradford). */
function adapt(from: Xy, to: Xy): Mat3 {
  const s = applyMatrix(BRADFORD, xyz(from));
  const d = applyMatrix(BRADFORD, xyz(to));
  const scale: Mat3 = [d[0] / s[0], 0, 0, 0, d[1] / s[1], 0, 0, 0, d[2] / s[2]];
  return mul(invert(BRADFORD), mul(scale, BRADFORD));
}

/** Linear RGB → XYZ relative to D50 (what an ICC matrix profile stores). */
export function rgbToXyzD50(p: RgbProfile): Mat3 {
  const r = xyz(p.red), g = xyz(p.green), b = xyz(p.blue);
  const m: Mat3 = [r[0], g[0], b[0], r[1], g[1], b[1], r[2], g[2], b[2]];
  const s = applyMatrix(invert(m), xyz(p.white));
  const toXyz: Mat3 = [m[0] * s[0], m[1] * s[1], m[2] * s[2], m[3] * s[0], m[4] * s[1], m[5] * s[2], m[6] * s[0], m[7] * s[1], m[8] * s[2]];
  return mul(adapt(p.white, D50), toXyz);
}

/** Linear RGB in `from` → linear RGB in `to`, or null when no conversion is needed. */
export function conversionMatrix(from: RgbProfile, to: RgbProfile): Mat3 | null {
  if (from.name === to.name) return null;
  return mul(invert(rgbToXyzD50(to)), rgbToXyzD50(from));
}

/** Converts one colour (components 0–1, encoded) between profiles; for tests and swatches. */
export function convertColor(rgb: readonly [number, number, number], from: RgbProfile, to: RgbProfile): [number, number, number] {
  const m = conversionMatrix(from, to);
  const lin = rgb.map((v) => decodeCurve(from, v)) as [number, number, number];
  const out = m ? applyMatrix(m, lin) : lin;
  return out.map((v) => Math.min(1, Math.max(0, encodeCurve(to, v)))) as [number, number, number];
}

// ---------------------------------------------------------------- whole images

export interface PixelSource {
  width: number;
  height: number;
  /** 3 (RGB) or 4 (RGBA), chunky. */
  components: number;
  componentSize: ComponentSize;
  /** The data's profile; null = unknown (treated as sRGB by the caller's choice). */
  profile: RgbProfile | null;
  /** 16-bit data in 0..65535 instead of Photoshop's 0..32768. */
  fullRange?: boolean;
}

const ENCODE_STEPS = 65535;

/** value (0–1, linear) → 8-bit sRGB code, through a table fine enough for the curve's steep start. */
let srgbEncode8: Uint8Array | undefined;
function srgbEncodeTable(): Uint8Array {
  if (!srgbEncode8) {
    srgbEncode8 = new Uint8Array(ENCODE_STEPS + 1);
    for (let i = 0; i <= ENCODE_STEPS; i++) srgbEncode8[i] = Math.round(linearToSrgb(i / ENCODE_STEPS) * 255);
  }
  return srgbEncode8;
}

function maxOf(size: ComponentSize, fullRange?: boolean): number {
  return size === 8 ? 255 : size === 16 ? (fullRange ? 65535 : PS16_MAX) : 1;
}

/**
 * Any RGB(A) pixels from the editor → 8-bit sRGB RGBA. 8-bit sRGB is only repacked; integer depths go
 * through a decode table; 32-bit data is linear light already.
 */
export function toSrgb8(data: PixelArray, src: PixelSource): Rgba8 {
  const { width, height, components } = src;
  if (components !== 3 && components !== 4) throw new Error(`expected RGB or RGBA pixels, got ${components} components`);
  const n = width * height;
  if (data.length !== n * components) throw new Error(`pixel data has ${data.length} values; ${width}x${height}x${components} needs ${n * components}`);
  const out = new Uint8Array(n * 4);
  const prof = src.profile ?? PROFILES[0];
  const matrix = conversionMatrix(prof, PROFILES[0]);
  const max = maxOf(src.componentSize, src.fullRange);
  const linearIn = src.componentSize === 32;

  if (!matrix && !linearIn) {
    // Same profile: only the depth changes.
    const k = 255 / max;
    for (let i = 0, j = 0; i < n; i++, j += components) {
      const o = i * 4;
      out[o] = Math.round(data[j] * k); out[o + 1] = Math.round(data[j + 1] * k); out[o + 2] = Math.round(data[j + 2] * k);
      out[o + 3] = components === 4 ? Math.round(data[j + 3] * k) : 255;
    }
    return { width, height, data: out };
  }

  // Decode to linear light (table for integer depths), convert, encode as sRGB.
  let decode: Float32Array | null = null;
  if (!linearIn) {
    decode = new Float32Array(max + 1);
    for (let v = 0; v <= max; v++) decode[v] = decodeCurve(prof, v / max);
  }
  const enc = srgbEncodeTable();
  const m = matrix ?? [1, 0, 0, 0, 1, 0, 0, 0, 1];
  const alphaK = 255 / max;
  for (let i = 0, j = 0; i < n; i++, j += components) {
    const r = decode ? decode[data[j]] : data[j];
    const g = decode ? decode[data[j + 1]] : data[j + 1];
    const b = decode ? decode[data[j + 2]] : data[j + 2];
    const o = i * 4;
    out[o] = enc[toIndex(m[0] * r + m[1] * g + m[2] * b)];
    out[o + 1] = enc[toIndex(m[3] * r + m[4] * g + m[5] * b)];
    out[o + 2] = enc[toIndex(m[6] * r + m[7] * g + m[8] * b)];
    out[o + 3] = components === 4 ? clampByte(data[j + 3] * alphaK) : 255;
  }
  return { width, height, data: out };
}

function toIndex(v: number): number {
  return v <= 0 ? 0 : v >= 1 ? ENCODE_STEPS : Math.round(v * ENCODE_STEPS);
}

function clampByte(v: number): number {
  return v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
}

export interface PixelTarget {
  componentSize: ComponentSize;
  /** Profile to express the pixels in; null = leave them in sRGB (the host converts). */
  profile: RgbProfile | null;
}

/**
 * 8-bit sRGB RGBA → RGBA at the document's depth (16-bit in 0..32768, 32-bit linear) and, when given,
 * in the document's profile. Out-of-gamut colours are clipped (integer depths) as Photoshop does.
 */
export function fromSrgb8(img: Rgba8, target: PixelTarget): PixelArray {
  const n = img.width * img.height;
  const d = img.data;
  const to = target.profile ?? PROFILES[0];
  const matrix = conversionMatrix(PROFILES[0], to);
  const size = target.componentSize;
  if (size === 8 && !matrix) return d;
  const max = maxOf(size);
  const out: PixelArray = size === 8 ? new Uint8Array(n * 4) : size === 16 ? new Uint16Array(n * 4) : new Float32Array(n * 4);

  const lin = new Float32Array(256);
  for (let v = 0; v < 256; v++) lin[v] = srgbToLinear(v / 255);

  if (!matrix) {
    // Depth only: a table per 8-bit code.
    const table = new Float32Array(256);
    for (let v = 0; v < 256; v++) table[v] = size === 32 ? lin[v] : Math.round((v / 255) * max);
    const alpha = new Float32Array(256);
    for (let v = 0; v < 256; v++) alpha[v] = size === 32 ? v / 255 : Math.round((v / 255) * max);
    for (let i = 0; i < n * 4; i += 4) {
      out[i] = table[d[i]]; out[i + 1] = table[d[i + 1]]; out[i + 2] = table[d[i + 2]]; out[i + 3] = alpha[d[i + 3]];
    }
    return out;
  }

  const m = matrix;
  let encode: Float32Array | null = null;
  if (size !== 32) {
    encode = new Float32Array(ENCODE_STEPS + 1);
    for (let i = 0; i <= ENCODE_STEPS; i++) encode[i] = Math.round(encodeCurve(to, i / ENCODE_STEPS) * max);
  }
  for (let i = 0; i < n * 4; i += 4) {
    const r = lin[d[i]], g = lin[d[i + 1]], b = lin[d[i + 2]];
    const R = m[0] * r + m[1] * g + m[2] * b;
    const G = m[3] * r + m[4] * g + m[5] * b;
    const B = m[6] * r + m[7] * g + m[8] * b;
    if (encode) {
      out[i] = encode[toIndex(R)]; out[i + 1] = encode[toIndex(G)]; out[i + 2] = encode[toIndex(B)];
      out[i + 3] = Math.round((d[i + 3] / 255) * max);
    } else {
      out[i] = R; out[i + 1] = G; out[i + 2] = B; out[i + 3] = d[i + 3] / 255;
    }
  }
  return out;
}

/** Typed-array kind for a component size (what `createImageDataFromBuffer` infers the depth from). */
export function componentSizeOf(data: PixelArray): ComponentSize {
  return data instanceof Uint8Array ? 8 : data instanceof Uint16Array ? 16 : 32;
}
