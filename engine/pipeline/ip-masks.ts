/**
 * Regional image prompts: a reference's mask limits where its image term acts, as diffusers'
 * `IPAdapterMaskProcessor` and `ip_adapter_masks` do it. The mask is binarized once at image size,
 * then, per attn2 resolution, resized with PyTorch's bicubic (a = -0.75, align_corners=False,
 * border-clamped taps) to the grid diffusers derives from the query count, and NOT binarized again
 * (a coarse layer sees 0.5 on a boundary column). The UNet takes one [A, N] mask per resolution
 * (`UNET_IO.ipMask`); an unmasked slot is all ones. Pure functions.
 */
import type { MaskImage } from '../api.ts';
import { attn2Queries, attn2Resolutions, type UNetStructure } from '../weights/unet-structure.ts';

/** A single-channel float mask, row-major [height, width]. */
export interface FloatMask {
  readonly width: number;
  readonly height: number;
  readonly data: Float32Array;
}

const A = -0.75;
/** PyTorch's cubic convolution kernel for |x| <= 1 and 1 < |x| < 2 (upsample_bicubic2d). */
const cubic1 = (x: number): number => ((A + 2) * x - (A + 3)) * x * x + 1;
const cubic2 = (x: number): number => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;

/** Per output index: the four clamped source taps and their weights along one axis. */
function bicubicTaps(inSize: number, outSize: number): { idx: Int32Array; wt: Float64Array } {
  const scale = inSize / outSize;
  const idx = new Int32Array(outSize * 4);
  const wt = new Float64Array(outSize * 4);
  for (let o = 0; o < outSize; o++) {
    // align_corners=False; cubic source indices are not clamped at 0 (only the taps are).
    const src = scale * (o + 0.5) - 0.5;
    const i0 = Math.floor(src);
    const t = src - i0;
    const w = [cubic2(t + 1), cubic1(t), cubic1(1 - t), cubic2(2 - t)];
    for (let k = 0; k < 4; k++) {
      idx[o * 4 + k] = Math.min(inSize - 1, Math.max(0, i0 - 1 + k));
      wt[o * 4 + k] = w[k];
    }
  }
  return { idx, wt };
}

/** `F.interpolate(x, (outH, outW), mode="bicubic", align_corners=False)` of one channel (no antialias). */
export function bicubicResize(m: FloatMask, outH: number, outW: number): FloatMask {
  const ty = bicubicTaps(m.height, outH);
  const tx = bicubicTaps(m.width, outW);
  const out = new Float32Array(outH * outW);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      let acc = 0;
      for (let a = 0; a < 4; a++) {
        const row = ty.idx[y * 4 + a] * m.width;
        let r = 0;
        for (let b = 0; b < 4; b++) r += tx.wt[x * 4 + b] * m.data[row + tx.idx[x * 4 + b]];
        acc += ty.wt[y * 4 + a] * r;
      }
      out[y * outW + x] = acc;
    }
  }
  return { width: outW, height: outH, data: out };
}

/**
 * `IPAdapterMaskProcessor.preprocess` for one gray mask: to [0, 1], resized to the image size when it
 * differs, then binarized (< 0.5 → 0, ≥ 0.5 → 1). The resize is the bicubic above, where diffusers
 * uses PIL's Lanczos: masks at the image size (what the plugins send) are exact, others can differ
 * by a pixel along edges.
 */
export function binarizeMask(mask: MaskImage, width: number, height: number): FloatMask {
  if (mask.data.length !== mask.width * mask.height) throw new Error(`mask: ${mask.data.length} bytes for ${mask.width}x${mask.height} (one gray byte per pixel expected)`);
  let m: FloatMask = { width: mask.width, height: mask.height, data: Float32Array.from(mask.data, (v) => v / 255) };
  if (m.width !== width || m.height !== height) m = bicubicResize(m, height, width);
  return { width, height, data: m.data.map((v) => (v >= 0.5 ? 1 : 0)) };
}

/**
 * The grid diffusers resizes a mask to for a layer of `queries` tokens (`IPAdapterMaskProcessor.downsample`):
 * mask_h = int(sqrt(N / (w/h))), plus one when it does not divide N; mask_w = N // mask_h. It matches the
 * layer's real grid when the aspect ratio survives the downsampling, not always otherwise (hence the
 * zero-pad / truncate of `downsampleMask`).
 */
export function maskGrid(maskH: number, maskW: number, queries: number): [number, number] {
  let h = Math.max(1, Math.floor(Math.sqrt(queries / (maskW / maskH))));
  if (queries % h !== 0) h += 1;
  return [h, Math.floor(queries / h)];
}

/** The mask of a layer with `queries` tokens, flattened row-major to exactly [queries]. */
export function downsampleMask(m: FloatMask, queries: number): Float32Array {
  const [h, w] = maskGrid(m.height, m.width, queries);
  const r = bicubicResize(m, h, w).data;
  const out = new Float32Array(queries); // zero-padded when the grid is smaller, truncated when larger
  out.set(r.subarray(0, Math.min(queries, r.length)));
  return out;
}

/**
 * The UNet's `ip_mask.<k>` values: for every attn2 resolution k, [A, N_k] with slot a's downsampled mask,
 * or ones for an unmasked slot (and for the single placeholder slot when there are none).
 * `masks[a]` is slot a's binarized mask at image size; the latent is `latentH` × `latentW`.
 */
export function ipMaskFeeds(masks: ReadonlyArray<FloatMask | undefined>, structure: Pick<UNetStructure, 'attn2'>, latentH: number, latentW: number): Map<number, { data: Float32Array; dims: [number, number] }> {
  const slots = Math.max(1, masks.length);
  const feeds = new Map<number, { data: Float32Array; dims: [number, number] }>();
  for (const k of attn2Resolutions(structure)) {
    const n = attn2Queries({ downsamples: k }, latentH, latentW);
    const data = new Float32Array(slots * n).fill(1);
    masks.forEach((m, a) => {
      if (m) data.set(downsampleMask(m, n), a * n);
    });
    feeds.set(k, { data, dims: [slots, n] });
  }
  return feeds;
}

/** Each slot's binarized mask at the image size (undefined where its reference has none). */
export function referenceMasks(refs: ReadonlyArray<{ readonly mask?: MaskImage }>, width: number, height: number): Array<FloatMask | undefined> {
  return refs.map((r) => (r.mask ? binarizeMask(r.mask, width, height) : undefined));
}
