/**
 * CLIP image preprocessing (transformers CLIPImageProcessor semantics), pure TypeScript:
 * resize so the shortest side is `size` (the long side becomes int(size * long / short)) with PIL's
 * bicubic resampling, center crop `crop` x `crop` (offset floor((side - crop) / 2)), x / 255, then
 * (x - mean) / std per channel, HWC → NCHW.
 *
 * The resize reproduces Pillow's Resample.c for 8-bit images exactly: a separable convolution
 * (horizontal pass first, into an 8-bit intermediate, then vertical) with the bicubic kernel
 * a = -0.5, support 2 widened by the scale factor when downscaling (antialiasing), taps
 * normalised to sum 1 and quantised to 22-bit fixed point, results rounded and clamped to 0..255.
 *
 * RGBA input: CLIPImageProcessor converts to RGB first, which in Pillow drops the alpha channel
 * (no compositing); that is the default. `background` composites onto a colour instead.
 */

export interface RgbImage {
  /** Interleaved 8-bit pixels, row-major, `channels` per pixel (3 = RGB, 4 = RGBA). */
  readonly data: Uint8Array | Uint8ClampedArray;
  readonly width: number;
  readonly height: number;
  readonly channels: 3 | 4;
}

export interface ClipImageOptions {
  /** Shortest side after resizing (224 for ViT-H/14). */
  readonly size?: number;
  /** Center crop size (224). */
  readonly crop?: number;
  readonly mean?: readonly [number, number, number];
  readonly std?: readonly [number, number, number];
  /** For RGBA input: composite onto this colour (0..255) instead of dropping alpha. */
  readonly background?: readonly [number, number, number];
}

export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const;

/** Output size of the shortest-edge resize, as transformers' get_resize_output_image_size computes it. */
export function shortestEdgeSize(width: number, height: number, size: number): { width: number; height: number } {
  const short = Math.min(width, height);
  const long = Math.max(width, height);
  const newLong = Math.trunc((size * long) / short);
  return width <= height ? { width: size, height: newLong } : { width: newLong, height: size };
}

/** Preprocesses one image into pixel_values [1, 3, crop, crop] (float32, NCHW). */
export function preprocessClipImage(img: RgbImage, opts: ClipImageOptions = {}): { data: Float32Array; shape: [number, number, number, number] } {
  const size = opts.size ?? 224;
  const crop = opts.crop ?? size;
  const mean = opts.mean ?? CLIP_MEAN;
  const std = opts.std ?? CLIP_STD;
  validate(img);
  const rgb = toRgb(img, opts.background);
  const target = shortestEdgeSize(img.width, img.height, size);
  const resized = resizeBicubicPil(rgb, img.width, img.height, target.width, target.height);
  if (target.width < crop || target.height < crop) {
    throw new Error(`clip preprocessing: resized image ${target.width}x${target.height} is smaller than the ${crop}px crop`);
  }
  const top = Math.floor((target.height - crop) / 2);
  const left = Math.floor((target.width - crop) / 2);
  const out = new Float32Array(3 * crop * crop);
  const plane = crop * crop;
  for (let y = 0; y < crop; y++) {
    const row = ((y + top) * target.width + left) * 3;
    for (let x = 0; x < crop; x++) {
      const s = row + x * 3;
      const d = y * crop + x;
      for (let c = 0; c < 3; c++) out[c * plane + d] = (resized[s + c] / 255 - mean[c]) / std[c];
    }
  }
  return { data: out, shape: [1, 3, crop, crop] };
}

function validate(img: RgbImage): void {
  if (!Number.isInteger(img.width) || !Number.isInteger(img.height) || img.width < 1 || img.height < 1) {
    throw new Error(`clip preprocessing: bad image size ${img.width}x${img.height}`);
  }
  if (img.channels !== 3 && img.channels !== 4) throw new Error(`clip preprocessing: ${img.channels} channels (expected 3 or 4)`);
  const need = img.width * img.height * img.channels;
  if (img.data.length !== need) throw new Error(`clip preprocessing: ${img.data.length} bytes for a ${img.width}x${img.height}x${img.channels} image (expected ${need})`);
}

function toRgb(img: RgbImage, background?: readonly [number, number, number]): Uint8Array {
  if (img.channels === 3) return img.data instanceof Uint8Array ? img.data : new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.byteLength);
  const n = img.width * img.height;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const a = img.data[i * 4 + 3];
    for (let c = 0; c < 3; c++) {
      const v = img.data[i * 4 + c];
      out[i * 3 + c] = background ? Math.round((v * a + background[c] * (255 - a)) / 255) : v;
    }
  }
  return out;
}

// ---- Pillow's Resample.c (8 bits per channel), bicubic ----

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);

function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

interface Taps {
  readonly ksize: number;
  /** Per output index: first input index, tap count. */
  readonly bounds: Int32Array;
  /** Fixed-point taps, `ksize` per output index. */
  readonly kk: Int32Array;
}

/** precompute_coeffs + normalize_coeffs_8bpc for one axis (box = the whole input). */
function taps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const filterscale = Math.max(1, scale);
  const support = 2 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = bicubic((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < ksize; x++) {
      const v = x < xmax ? (ww !== 0 ? k[x] / ww : k[x]) : 0;
      kk[xx * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * ONE) : Math.trunc(0.5 + v * ONE);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

function clip8(acc: number): number {
  const v = Math.floor(acc / ONE);
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * Pillow `Image.resize((outW, outH), Image.BICUBIC)` of an 8-bit RGB image (HWC, 3 channels).
 * A pass whose size does not change is skipped, as in Pillow.
 */
export function resizeBicubicPil(rgb: Uint8Array, inW: number, inH: number, outW: number, outH: number): Uint8Array {
  let cur = rgb;
  let curW = inW;
  if (outW !== inW) {
    const t = taps(inW, outW);
    const tmp = new Uint8Array(outW * inH * 3);
    for (let y = 0; y < inH; y++) {
      const rowIn = y * inW * 3;
      const rowOut = y * outW * 3;
      for (let xx = 0; xx < outW; xx++) {
        const xmin = t.bounds[xx * 2];
        const n = t.bounds[xx * 2 + 1];
        const base = xx * t.ksize;
        let r = HALF;
        let g = HALF;
        let b = HALF;
        for (let x = 0; x < n; x++) {
          const w = t.kk[base + x];
          const s = rowIn + (xmin + x) * 3;
          r += cur[s] * w;
          g += cur[s + 1] * w;
          b += cur[s + 2] * w;
        }
        tmp[rowOut + xx * 3] = clip8(r);
        tmp[rowOut + xx * 3 + 1] = clip8(g);
        tmp[rowOut + xx * 3 + 2] = clip8(b);
      }
    }
    cur = tmp;
    curW = outW;
  }
  if (outH !== inH) {
    const t = taps(inH, outH);
    const out = new Uint8Array(curW * outH * 3);
    const stride = curW * 3;
    for (let yy = 0; yy < outH; yy++) {
      const ymin = t.bounds[yy * 2];
      const n = t.bounds[yy * 2 + 1];
      const base = yy * t.ksize;
      const rowOut = yy * stride;
      for (let i = 0; i < stride; i++) {
        let acc = HALF;
        for (let y = 0; y < n; y++) acc += cur[(ymin + y) * stride + i] * t.kk[base + y];
        out[rowOut + i] = clip8(acc);
      }
    }
    cur = out;
  }
  return cur === rgb ? rgb.slice() : cur;
}
