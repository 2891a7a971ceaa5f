/**
 * What a job shows while it runs, and its optional draft decode.
 *
 * - With a TAESD decoder installed (role vae:taesd), the per-step preview is a TAESD decode of the
 *   scheduler's current denoised estimate (x0), at full size up to PREVIEW_MAX_PIXELS. Measured on
 *   the 2-core CPU machine (synthetic full-size TAESD, width 64, onnxruntime 1.30, 2 threads): a
 *   512² decode takes 0.8–1.3 s, 384² 0.5–0.6 s, 256² 0.2 s, against ≈ 25 s for the 512² UNet step
 *   with CFG, so a full-size preview costs ≤ 5% per step and is what the engine does. Above 1 MPix
 *   the latents are average-pooled first (2x, 3x…) so a preview stays ≤ 1 MPix (≤ 4 MB of RGBA per
 *   step on the wire, and bounded decoder memory).
 * - Without one: the latent-to-RGB approximation below (the four latent channels projected to RGB
 *   with the published "latent RGB factors" ComfyUI and A1111 use, SD1.5's or SDXL's with its bias:
 *   the two VAEs' latent spaces differ), at latent resolution, in microseconds.
 * - Draft decode (GenerateParams.draftDecode): the final image through TAESD instead of the full
 *   VAE; above 1024² in feathered tiles like the VAE (TAESD is purely local, so tiles blend cleanly).
 */
import * as ort from 'onnxruntime-node';
import { EngineError, type LocatedModel, type ModelLocator, type RgbaImage } from '../api.ts';
import { buildTaesdDecoder } from '../graphs/taesd.ts';
import { imageToRgba, runTiled, type Planar, type TileRunner } from '../graphs/vae.ts';
import type { Flavour } from '../onnx/builder.ts';
import { taesdSource } from '../weights/taesd.ts';
import type { Family } from './family.ts';
import { fileIdentity, type SessionCache } from './sessions.ts';

type Rgb = readonly [number, number, number];

/** Per family: each latent channel's RGB contribution, and the bias added after. */
const LATENT_RGB: Readonly<Record<Family, { readonly factors: readonly Rgb[]; readonly bias: Rgb }>> = {
  sd15: {
    factors: [[0.3512, 0.2297, 0.3227], [0.325, 0.4974, 0.235], [-0.2829, 0.1762, 0.2721], [-0.212, -0.2616, -0.7177]],
    bias: [0, 0, 0],
  },
  sdxl: {
    factors: [[0.3651, 0.4232, 0.4341], [-0.2533, -0.0042, 0.1068], [0.1076, 0.1111, -0.0362], [-0.3165, -0.2492, -0.2188]],
    bias: [0.1084, -0.0175, -0.0011],
  },
};

/** latents [4, h, w] (one image, UNet space) -> RGBA at latent resolution. */
export function latentPreview(latents: Float32Array, width: number, height: number, family: Family = 'sd15'): RgbaImage {
  const { factors: FACTORS, bias } = LATENT_RGB[family];
  const hw = width * height;
  const data = new Uint8Array(hw * 4);
  for (let i = 0; i < hw; i++) {
    let r = bias[0];
    let g = bias[1];
    let b = bias[2];
    for (let c = 0; c < 4; c++) {
      const v = latents[c * hw + i];
      r += v * FACTORS[c][0];
      g += v * FACTORS[c][1];
      b += v * FACTORS[c][2];
    }
    data[i * 4] = Math.max(0, Math.min(255, Math.round((r + 1) * 127.5)));
    data[i * 4 + 1] = Math.max(0, Math.min(255, Math.round((g + 1) * 127.5)));
    data[i * 4 + 2] = Math.max(0, Math.min(255, Math.round((b + 1) * 127.5)));
    data[i * 4 + 3] = 255;
  }
  return { width, height, data };
}

// ---------------------------------------------------------------------------------------------
// TAESD

/** Largest preview, in output pixels (1024²: full size for every SD1.5 size up to 1024²). */
export const PREVIEW_MAX_PIXELS = 1024 * 1024;
/** TAESD's output / latent size ratio (3 upsamplers). */
const TAESD_SCALE = 8;
/** Draft decodes above this latent area (1024² px) run in tiles, like the VAE's. */
const DRAFT_TILE_ABOVE_LATENT_AREA = 128 * 128;
const DRAFT_TILE = { tile: 64, overlap: 16, scale: TAESD_SCALE } as const;

/** The smallest integer pooling factor k with (h/k * 8) * (w/k * 8) <= maxPixels. */
export function previewPoolFactor(h: number, w: number, maxPixels = PREVIEW_MAX_PIXELS): number {
  let k = 1;
  while (Math.floor(h / k) * Math.floor(w / k) * TAESD_SCALE * TAESD_SCALE > maxPixels && k < Math.min(h, w)) k++;
  return k;
}

/** k x k average pooling of [C, h, w] latents (rows / columns past a multiple of k are dropped). */
export function poolLatents(latents: Float32Array, c: number, h: number, w: number, k: number): { data: Float32Array; h: number; w: number } {
  if (k === 1) return { data: latents, h, w };
  const ph = Math.floor(h / k);
  const pw = Math.floor(w / k);
  const out = new Float32Array(c * ph * pw);
  const inv = 1 / (k * k);
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < ph; y++) {
      for (let x = 0; x < pw; x++) {
        let s = 0;
        for (let dy = 0; dy < k; dy++) for (let dx = 0; dx < k; dx++) s += latents[(ch * h + y * k + dy) * w + x * k + dx];
        out[(ch * ph + y) * pw + x] = s * inv;
      }
    }
  }
  return { data: out, h: ph, w: pw };
}

/** A TAESD decoder session and the model it was built from (for the result's metadata). */
export interface TinyDecoder {
  readonly model: LocatedModel;
  /** latents [N, C, h, w] (UNet space) -> image [N, 3, 8h, 8w] in [-1, 1], unclamped. */
  decode(latents: Float32Array, shape: readonly number[]): Promise<Planar>;
}

function sessionDecoder(session: ort.InferenceSession, model: LocatedModel): TinyDecoder {
  return {
    model,
    async decode(latents, shape) {
      const r = await session.run({ latents: new ort.Tensor('float32', latents, [...shape]) });
      return { data: r.image.data as Float32Array, shape: r.image.dims.map(Number) };
    },
  };
}

/**
 * The installed TAESD decoder for `role` as a cached session, or undefined when none is installed
 * (previews then fall back to latentPreview, draft decodes to the full VAE). Any other error (a
 * broken file) propagates.
 */
export async function loadTinyDecoder(models: ModelLocator, sessions: SessionCache, flavour: Flavour, role: 'vae:taesd' | 'vae:taesdxl' = 'vae:taesd'): Promise<TinyDecoder | undefined> {
  let model: LocatedModel;
  try {
    model = models.find(role);
  } catch (e) {
    if (e instanceof EngineError && e.code === 'model-missing') return undefined;
    throw e;
  }
  // TAESD runs in the provider's flavour, fp16 included (no norms, no overflow; docs/providers.md).
  const session = await sessions.get(`taesd-dec|${fileIdentity(model.path)}`, () => buildTaesdDecoder(taesdSource(model.path), { flavour }));
  return sessionDecoder(session, model);
}

/**
 * The preview of one image's latents [C, h, w] after a step: TAESD when given (pooled to stay within
 * PREVIEW_MAX_PIXELS), the latent-RGB approximation otherwise.
 */
export async function stepPreview(tiny: TinyDecoder | undefined, latents: Float32Array, c: number, h: number, w: number, family: Family = 'sd15'): Promise<RgbaImage> {
  if (!tiny) return latentPreview(latents, w, h, family);
  const pooled = poolLatents(latents, c, h, w, previewPoolFactor(h, w));
  const image = await tiny.decode(pooled.data, [1, c, pooled.h, pooled.w]);
  const px = imageToRgba(image.data, image.shape);
  return { width: image.shape[3], height: image.shape[2], data: new Uint8Array(px.buffer, px.byteOffset, px.byteLength) };
}

/** The final image through TAESD (draft decode), tiled above 1024². */
export async function draftDecode(tiny: TinyDecoder, latents: Float32Array, shape: readonly number[]): Promise<{ image: Planar; tiled: boolean }> {
  const run: TileRunner = async (tile) => ({ image: await tiny.decode(tile.data, tile.shape) });
  const tiled = shape[2] * shape[3] > DRAFT_TILE_ABOVE_LATENT_AREA;
  const out = tiled ? await runTiled(run, { data: latents, shape }, DRAFT_TILE) : await run({ data: latents, shape });
  return { image: out.image, tiled };
}
