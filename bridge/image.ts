/**
 * Image I/O for the daemon: decode frames into 8-bit sRGB pixels, prepare them for a role (alpha,
 * masks, the model's 8-pixel grid) and put results back (resize, paste into the original). sharp does
 * decoding, colour management and resampling; the per-pixel passes are plain loops over typed arrays.
 * Raw frames are used where they lie (no copy) unless a pass has to change them.
 */
import { availableParallelism } from 'node:os';
import sharp from 'sharp';
import { flattenRgba } from '../shared/plugin/raster.ts';
import type { MaskImage, RgbaImage } from '../engine/api.ts';
import type { FrameFormat } from '../shared/protocol/frame.ts';

/** Decoded pixels: RGBA8 (channels 4) or one 8-bit channel (masks sent as raw-gray8). */
export interface Pixels {
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 4;
  readonly data: Uint8Array;
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export class ImageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageError';
  }
}

/**
 * sharp runs each image on one libvips thread by default on glibc Linux (to limit malloc arena growth).
 * The daemon works on one job's images at a time, mostly while the engine is idle, so it lets libvips
 * use the cores: scaling a 512² result back to 4096² takes ~20% less time on 2 busy cores.
 */
export function useCoresForImages(max = 4): void {
  sharp.concurrency(Math.max(1, Math.min(max, availableParallelism())));
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Turns a frame payload into 8-bit sRGB pixels. PNG/JPEG go through sharp (16-bit → 8-bit, embedded ICC
 * profile → sRGB, EXIF orientation applied); raw RGBA is used in place, un-premultiplied if flagged
 * (which rewrites the payload: it belongs to this message alone).
 */
export async function decodePixels(payload: Uint8Array, format: FrameFormat, width: number, height: number, opts: { premultiplied: boolean; maxPixels: number }): Promise<Pixels> {
  if (format === 'raw-rgba8' || format === 'raw-gray8') {
    if (width * height > opts.maxPixels) throw new ImageError(`image ${width}x${height} is over the input limit of ${opts.maxPixels} pixels`);
    const channels = format === 'raw-rgba8' ? 4 : 1;
    if (payload.length !== width * height * channels) throw new ImageError(`raw ${format} payload of ${payload.length} bytes does not match ${width}x${height}`);
    const img: Pixels = { width, height, channels, data: payload };
    if (channels === 4 && opts.premultiplied) unpremultiplyInPlace(img.data);
    return img;
  }
  if (format === 'png' && !PNG_SIGNATURE.every((b, i) => payload[i] === b)) throw new ImageError('payload is not a PNG (bad signature)');
  if (format === 'jpeg' && !(payload[0] === 0xff && payload[1] === 0xd8)) throw new ImageError('payload is not a JPEG (bad signature)');
  let out;
  try {
    const input = { limitInputPixels: opts.maxPixels, failOn: 'error' } as const;
    // The header alone tells whether there is anything to convert: an untagged 8-bit sRGB image with no
    // EXIF rotation (what editors export) decodes as is, bit-identical and ~130 ms sooner at 4096².
    const m = await sharp(payload, input).metadata();
    const plain = m.space === 'srgb' && m.depth === 'uchar' && !m.hasProfile && (m.orientation ?? 1) === 1 && (m.channels === 3 || m.channels === 4);
    out = plain
      ? await sharp(payload, input).ensureAlpha().raw().toBuffer({ resolveWithObject: true })
      : await sharp(payload, input)
        .rotate() // EXIF orientation
        .toColourspace('srgb')
        .withIccProfile('srgb') // transforms from an embedded profile (Display P3, Adobe RGB, ...); raw output alone would not
        .ensureAlpha()
        .raw({ depth: 'uchar' })
        .toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new ImageError(`cannot decode ${format}: ${(e as Error).message}`);
  }
  const { info } = out;
  if (info.channels !== 4) throw new ImageError(`decoded ${format} has ${info.channels} channels, expected 4`);
  if ((width && width !== info.width) || (height && height !== info.height)) {
    throw new ImageError(`frame header says ${width}x${height} but the ${format} is ${info.width}x${info.height}`);
  }
  return { width: info.width, height: info.height, channels: 4, data: out.data };
}

/** Straight alpha from premultiplied, in place. Fully transparent pixels become transparent black. */
export function unpremultiplyInPlace(d: Uint8Array): void {
  for (let i = 0; i < d.length; i += 4) {
    const a = d[i + 3];
    if (a === 255) continue;
    if (a === 0) {
      d[i] = d[i + 1] = d[i + 2] = 0;
      continue;
    }
    const k = 255 / a;
    d[i] = Math.min(255, Math.round(d[i] * k));
    d[i + 1] = Math.min(255, Math.round(d[i + 1] * k));
    d[i + 2] = Math.min(255, Math.round(d[i + 2] * k));
  }
}

/** Composites straight-alpha RGBA over a solid colour; the result is opaque. New buffer unless already opaque. */
export function flatten(img: Pixels, bg: readonly [number, number, number]): RgbaImage {
  const rgba = toRgba(img);
  const d = rgba.data;
  let opaque = true;
  for (let i = 3; i < d.length; i += 4) if (d[i] !== 255) { opaque = false; break; }
  return opaque ? rgba : flattenRgba(rgba, bg);
}

/** Gray pixels expand to opaque RGBA; RGBA passes through. */
export function toRgba(img: Pixels): RgbaImage {
  if (img.channels === 4) return { width: img.width, height: img.height, data: img.data };
  const o = new Uint8Array(img.width * img.height * 4);
  for (let i = 0, j = 0; i < img.data.length; i++, j += 4) {
    o[j] = o[j + 1] = o[j + 2] = img.data[i];
    o[j + 3] = 255;
  }
  return { width: img.width, height: img.height, data: o };
}

/**
 * A mask (255 = repaint) from a selection image: a gray frame as is, RGBA as luminance × alpha (so a
 * white-on-transparent painting and a black/white selection both work).
 */
export function toMask(img: Pixels, invert = false): MaskImage {
  const n = img.width * img.height;
  if (img.channels === 1 && !invert) return { width: img.width, height: img.height, data: img.data };
  const o = new Uint8Array(n);
  const d = img.data;
  if (img.channels === 1) {
    for (let i = 0; i < n; i++) o[i] = 255 - d[i];
  } else {
    for (let i = 0, j = 0; i < n; i++, j += 4) {
      // Rec. 709 luma in fixed point, then weighted by alpha.
      const y = (d[j] * 54 + d[j + 1] * 183 + d[j + 2] * 19) >> 8;
      const m = ((y * d[j + 3] + 127) / 255) | 0;
      o[i] = invert ? 255 - m : m;
    }
  }
  return { width: img.width, height: img.height, data: o };
}

/** Softens a mask's edge with a Gaussian of σ = radius / 2 (radius 0 returns the mask unchanged). */
export async function featherMask(mask: MaskImage, radius: number): Promise<MaskImage> {
  if (radius <= 0) return mask;
  const sigma = Math.max(0.3, radius / 2);
  // toColourspace('b-w'): sharp would otherwise write one channel out as three.
  const data = await sharp(mask.data, { raw: { width: mask.width, height: mask.height, channels: 1 } }).blur(sigma).toColourspace('b-w').raw().toBuffer();
  return { width: mask.width, height: mask.height, data };
}

/** Bounding box of pixels above `threshold`, or null for an empty mask. */
export function maskBounds(mask: MaskImage, threshold = 0): Rect | null {
  const { width: w, height: h, data: d } = mask;
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      if (d[row + x] > threshold) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        y1 = y;
      }
    }
  }
  return x1 < 0 ? null : { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
}

/** Grows a rectangle by `padding` on every side, clipped to width × height. */
export function padRect(r: Rect, padding: number, width: number, height: number): Rect {
  const x = Math.max(0, r.x - padding);
  const y = Math.max(0, r.y - padding);
  return { x, y, width: Math.min(width, r.x + r.width + padding) - x, height: Math.min(height, r.y + r.height + padding) - y };
}

/** Copies a rectangle out of RGBA or gray pixels (row copies, no per-pixel work). */
export function crop<T extends { width: number; height: number; data: Uint8Array }>(img: T, r: Rect): T {
  const ch = img.data.length / (img.width * img.height);
  if (r.x === 0 && r.y === 0 && r.width === img.width && r.height === img.height) return img;
  if (r.x < 0 || r.y < 0 || r.x + r.width > img.width || r.y + r.height > img.height || r.width <= 0 || r.height <= 0) {
    throw new ImageError(`crop ${r.width}x${r.height}+${r.x}+${r.y} outside ${img.width}x${img.height}`);
  }
  const o = new Uint8Array(r.width * r.height * ch);
  const rowBytes = r.width * ch;
  for (let y = 0; y < r.height; y++) {
    const src = ((r.y + y) * img.width + r.x) * ch;
    o.set(img.data.subarray(src, src + rowBytes), y * rowBytes);
  }
  return { ...img, width: r.width, height: r.height, data: o };
}

/**
 * Resamples RGBA or a gray mask to exactly width × height: Lanczos when shrinking (anti-aliased input
 * for the model); bilinear when enlarging both sides (a generated area scaled back to a big layer).
 * libvips enlarges with the same interpolation for lanczos3 and cubic, and bilinear stays within
 * ~1 level RMS of it (PSNR 46–50 dB at 1.25–8×) while taking about 35% less time at 512² → 4096².
 */
export async function resize<T extends { width: number; height: number; data: Uint8Array }>(img: T, width: number, height: number): Promise<T> {
  if (img.width === width && img.height === height) return img;
  const channels = (img.data.length / (img.width * img.height)) as 1 | 4;
  const kernel = width >= img.width && height >= img.height ? 'linear' : 'lanczos3';
  let pipeline = sharp(img.data, { raw: { width: img.width, height: img.height, channels } }).resize(width, height, { fit: 'fill', kernel });
  if (channels === 1) pipeline = pipeline.toColourspace('b-w'); // keep one channel out
  const data = await pipeline.raw().toBuffer();
  return { ...img, width, height, data };
}

/**
 * A generation size on the model's grid for an area of w × h: same aspect ratio, about `targetPixels`
 * (small selections are upscaled, big ones downscaled), never over `maxPixels`, sides multiples of 8 ≥ 64.
 */
export function fitToGrid(w: number, h: number, targetPixels: number, maxPixels: number, multiple = 8): { width: number; height: number } {
  const scale = Math.sqrt(Math.min(targetPixels, maxPixels) / (w * h));
  let gw = Math.max(64, Math.round((w * scale) / multiple) * multiple);
  let gh = Math.max(64, Math.round((h * scale) / multiple) * multiple);
  while (gw * gh > maxPixels) {
    if (gw >= gh) gw -= multiple;
    else gh -= multiple;
  }
  return { width: gw, height: gh };
}

/**
 * Puts `patch` (rect-sized) into a copy of `base` at `rect`. With a mask (rect-sized, 255 = patch) the
 * two are blended, so pixels outside the selection stay exactly as they were.
 * `reusePatch`: when the rect is all of `base` and the caller owns `patch` (a fresh resize), the result is
 * written into the patch's buffer instead of a new base-sized copy (64 MiB less to allocate at 4096²).
 * Runs of mask 0 / 255 are row copies; only the soft edge is blended pixel by pixel.
 */
export function pasteBack(base: RgbaImage, patch: RgbaImage, rect: Rect, mask?: MaskImage, opts: { reusePatch?: boolean } = {}): RgbaImage {
  if (patch.width !== rect.width || patch.height !== rect.height) throw new ImageError(`patch ${patch.width}x${patch.height} does not fit the ${rect.width}x${rect.height} region`);
  if (mask && (mask.width !== rect.width || mask.height !== rect.height)) throw new ImageError('mask does not match the region');
  const whole = rect.x === 0 && rect.y === 0 && rect.width === base.width && rect.height === base.height;
  if (opts.reusePatch && whole && mask) {
    blendRows(patch.data, base.data, mask.data, base.width, base.height, true);
    return { width: base.width, height: base.height, data: patch.data };
  }
  const out = new Uint8Array(base.data);
  const p = patch.data;
  const rowBytes = rect.width * 4;
  if (!mask) {
    for (let y = 0; y < rect.height; y++) out.set(p.subarray(y * rowBytes, (y + 1) * rowBytes), ((rect.y + y) * base.width + rect.x) * 4);
    return { width: base.width, height: base.height, data: out };
  }
  for (let y = 0; y < rect.height; y++) {
    const o = ((rect.y + y) * base.width + rect.x) * 4;
    blendRows(out.subarray(o, o + rowBytes), p.subarray(y * rowBytes, (y + 1) * rowBytes), mask.data.subarray(y * rect.width, (y + 1) * rect.width), rect.width, 1, false);
  }
  return { width: base.width, height: base.height, data: out };
}

/**
 * Mask-blends `other` into `dst` (both w×h RGBA, mask w×h). `dstIsPatch` false: dst holds the base and
 * `other` the patch (mask 255 = take `other`); true: dst holds the patch and `other` the base (mask 0 =
 * take `other`). Either way pixel = (patch·a + base·(255−a) + 127) / 255, runs copied with set().
 */
function blendRows(dst: Uint8Array, other: Uint8Array, m: Uint8Array, w: number, h: number, dstIsPatch: boolean): void {
  const take = dstIsPatch ? 0 : 255; // mask value where `other` wins outright
  const keep = 255 - take; // … and where dst stays
  for (let y = 0; y < h; y++) {
    const row = y * w;
    let x = 0;
    while (x < w) {
      const a = m[row + x];
      if (a === keep) {
        x++;
        continue;
      }
      if (a === take) {
        let e = x + 1;
        while (e < w && m[row + e] === take) e++;
        dst.set(other.subarray((row + x) * 4, (row + e) * 4), (row + x) * 4);
        x = e;
        continue;
      }
      const o = (row + x) * 4;
      const na = 255 - a;
      if (dstIsPatch) {
        dst[o] = (dst[o] * a + other[o] * na + 127) / 255;
        dst[o + 1] = (dst[o + 1] * a + other[o + 1] * na + 127) / 255;
        dst[o + 2] = (dst[o + 2] * a + other[o + 2] * na + 127) / 255;
        dst[o + 3] = (dst[o + 3] * a + other[o + 3] * na + 127) / 255;
      } else {
        dst[o] = (other[o] * a + dst[o] * na + 127) / 255;
        dst[o + 1] = (other[o + 1] * a + dst[o + 1] * na + 127) / 255;
        dst[o + 2] = (other[o + 2] * a + dst[o + 2] * na + 127) / 255;
        dst[o + 3] = (other[o + 3] * a + dst[o + 3] * na + 127) / 255;
      }
      x++;
    }
  }
}

/** sRGB 8-bit PNG. Low zlib effort: results are large and sent over loopback. */
export async function encodePng(img: RgbaImage): Promise<Uint8Array> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 4 } }).png({ compressionLevel: 3 }).toBuffer();
}

/** Reads any image file sharp knows into 8-bit sRGB RGBA (CLI inputs). */
export async function readImageFile(path: string, maxPixels: number): Promise<RgbaImage> {
  const { data, info } = await sharp(path, { limitInputPixels: maxPixels }).rotate().toColourspace('srgb').withIccProfile('srgb').ensureAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data };
}
