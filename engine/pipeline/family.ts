/**
 * What a model family (SD1.5, SDXL) implies for a job: its generation defaults, SDXL's aspect
 * buckets, the roles of the models bound to its UNet, and SDXL's added time ids.
 */
import type { Role, SamplerName } from '../api.ts';
import type { Flavour } from '../onnx/builder.ts';
import type { SchedulerConfig } from '../schedulers/index.ts';

export type Family = 'sd15' | 'sdxl';

export interface FamilyDefaults {
  /** Square side of the default image (the training resolution). */
  readonly size: number;
  readonly steps: number;
  readonly guidance: number;
  readonly sampler: SamplerName;
  /** The VAE's latent scaling where the model does not say (diffusers' configs). */
  readonly vaeScaling: number;
}

/** Defaults per family: SD1.5 as the protocol's, SDXL as its model card and diffusers' pipeline use it. */
export const FAMILY_DEFAULTS: Readonly<Record<Family, FamilyDefaults>> = {
  sd15: { size: 512, steps: 20, guidance: 7, sampler: 'euler-ancestral', vaeScaling: 0.18215 },
  sdxl: { size: 1024, steps: 30, guidance: 5, sampler: 'dpmpp-2m-karras', vaeScaling: 0.13025 },
};

/**
 * Scheduler settings beyond SD1.5's: SDXL's scheduler_config.json (EulerDiscreteScheduler, same betas)
 * spaces timesteps "leading" for every sampler built from it; few-step samplers override the spacing.
 */
export const FAMILY_SCHEDULER: Readonly<Record<Family, Partial<SchedulerConfig>>> = {
  sd15: {},
  sdxl: { timestepSpacing: 'leading' },
};

/**
 * The tiny autoencoder trained on this family's latent space: TAESD for SD1.5, TAESDXL for SDXL (the
 * same architecture, other weights: the other one decodes another VAE's latents into wrong colours).
 */
export function tinyVaeRole(family: Family): 'vae:taesd' | 'vae:taesdxl' {
  return family === 'sdxl' ? 'vae:taesdxl' : 'vae:taesd';
}

/** The family names as they appear in metadata and A1111's `parameters` text. */
export const FAMILY_LABEL: Readonly<Record<Family, string>> = { sd15: 'SD1.5', sdxl: 'SDXL' };

/** SDXL's training buckets (width × height, ≈ 1 MPix, multiples of 64), the usual selection. */
export const SDXL_BUCKETS: ReadonlyArray<readonly [number, number]> = [
  [1024, 1024], [1152, 896], [896, 1152], [1216, 832], [832, 1216], [1344, 768], [768, 1344], [1536, 640], [640, 1536],
];

/** The SDXL bucket closest in aspect ratio (log scale, so 2:1 and 1:2 are equally far from 1:1) to a selection. */
export function nearestSdxlBucket(width: number, height: number): { width: number; height: number } {
  if (!(width > 0 && height > 0)) throw new RangeError(`a selection of ${width}x${height} has no aspect ratio`);
  const target = Math.log(width / height);
  let best = SDXL_BUCKETS[0];
  for (const b of SDXL_BUCKETS) if (Math.abs(Math.log(b[0] / b[1]) - target) < Math.abs(Math.log(best[0] / best[1]) - target)) best = b;
  return { width: best[0], height: best[1] };
}

/**
 * The role of a UNet-bound model for this family: SD1.5 keeps `ipadapter:plus`, SDXL asks for
 * `ipadapter:sdxl-plus` (bridge/models/roles.ts files SDXL models so).
 */
export function familyRole<K extends 'ipadapter' | 'controlnet'>(family: Family, kind: K, variant: string): Role {
  return `${kind}:${family === 'sdxl' ? 'sdxl-' : ''}${variant}` as Role;
}

/**
 * SDXL's add_time_ids: original size, crop top-left, target size ([h, w, top, left, h, w]). The
 * image is generated at its own size, uncropped, as diffusers' pipeline does by default.
 */
export function sdxlTimeIds(width: number, height: number, crop: readonly [number, number] = [0, 0], original: readonly [number, number] = [height, width]): Float32Array {
  return new Float32Array([original[0], original[1], crop[0], crop[1], height, width]);
}

/**
 * How the VAE decoder runs. SDXL's VAE overflows fp16 (activations past 65504 in its up blocks), so
 * where the decoder would compute in fp16 (the CUDA flavour; the portable fp16 flavours already decode
 * in fp32) SDXL decodes in fp32 with the standard-op graph, or in fp16 with madebyollin's
 * sdxl-vae-fp16-fix when it is installed (finetuned to stay in range).
 */
export function vaeDecoderPlan(family: Family, flavour: Flavour, fp16FixInstalled: boolean): { readonly flavour: Flavour; readonly fp16Fix: boolean } {
  if (family !== 'sdxl' || flavour !== 'cuda') return { flavour, fp16Fix: false };
  return fp16FixInstalled ? { flavour, fp16Fix: true } : { flavour: 'cpu', fp16Fix: false };
}
