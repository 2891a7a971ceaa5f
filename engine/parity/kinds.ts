/**
 * One handler per fixture kind. Each builds what the case describes from its weight files, runs it
 * on the target's provider in the target's flavour and returns one CheckResult per compared output.
 * Handlers live in kinds/<kind>.ts.
 */
import type { CheckResult } from './compare.ts';
import type { FixtureCase, Tolerance } from './fixture.ts';
import { isFp16Target, type ParityTarget } from './target.ts';

export type KindHandler = (c: FixtureCase, t: ParityTarget) => Promise<CheckResult[]>;

const loaders: Record<string, () => Promise<KindHandler>> = {
  'clip-text': async () => (await import('./kinds/clip-text.ts')).runClipTextCase,
  'clip-vision': async () => (await import('./kinds/clip-vision.ts')).runClipVisionCase,
  'clip-image-preprocess': async () => (await import('./kinds/clip-image-preprocess.ts')).runClipImagePreprocessCase,
  'ip-proj': async () => (await import('./kinds/ip-proj.ts')).runIpProjCase,
  tokenizer: async () => (await import('./kinds/tokenizer.ts')).runTokenizerCase,
  'tokenizer-2': async () => (await import('./kinds/tokenizer.ts')).runTokenizer2Case,
  'sdxl-clip-text-l': async () => (await import('./kinds/clip-text.ts')).runClipTextCase,
  'sdxl-clip-text-g': async () => (await import('./kinds/clip-text.ts')).runSdxlClipTextCase,
  scheduler: async () => (await import('./kinds/scheduler.ts')).runSchedulerCase,
  'scheduler-img2img': async () => (await import('./kinds/scheduler.ts')).runSchedulerImg2ImgCase,
  unet: async () => (await import('./kinds/unet.ts')).runUNetCase,
  'unet-ip': async () => (await import('./kinds/unet.ts')).runUNetCase,
  'sdxl-unet': async () => (await import('./kinds/unet.ts')).runUNetCase,
  'sdxl-unet-ip': async () => (await import('./kinds/unet.ts')).runUNetCase,
  'unet-ip-masked': async () => (await import('./kinds/unet.ts')).runUNetCase,
  'sdxl-controlnet': async () => (await import('./kinds/controlnet.ts')).runControlNetCase,
  pipeline: async () => (await import('./kinds/pipeline.ts')).runPipelineCase,
  'sdxl-pipeline': async () => (await import('./kinds/pipeline.ts')).runSdxlPipelineCase,
  controlnet: async () => (await import('./kinds/controlnet.ts')).runControlNetCase,
  'vae-decoder': async () => (await import('./kinds/vae.ts')).runVaeDecoderCase,
  'vae-encoder': async () => (await import('./kinds/vae.ts')).runVaeEncoderCase,
  'weights-ldm': async () => (await import('./kinds/weights-ldm.ts')).runWeightsLdmCase,
  'sdxl-weights-ldm': async () => (await import('./kinds/weights-ldm.ts')).runWeightsLdmCase,
  'taesd-decoder': async () => (await import('./kinds/taesd.ts')).runTaesdDecoderCase,
  'taesd-encoder': async () => (await import('./kinds/taesd.ts')).runTaesdEncoderCase,
  'weights-only': async () => (await import('./kinds/weights-only.ts')).runWeightsOnlyCase,
};

export function registerKind(kind: string, load: () => Promise<KindHandler>): void {
  loaders[kind] = load;
}

export async function handlerFor(kind: string): Promise<KindHandler | undefined> {
  const load = loaders[kind];
  return load ? load() : undefined;
}

/**
 * Tolerances of the fp16 flavours (|got - exp| <= atol + rtol |exp|), per kind: about twice the
 * largest error measured on WebGPU (lavapipe, shader-f16) against the fp32 references; the
 * measurements are in docs/providers.md. fp16 has an 11-bit mantissa, so errors grow with depth;
 * the pipeline compounds them (guidance 7.5 amplifies the UNet's error in each of its 4 steps).
 * Kinds that build no graph (tokenizer, schedulers, CLIP preprocessing) and the VAE decoder (fp32
 * in portable-fp16, see graphFlavour) keep the fixture's tolerance.
 */
export const FP16_TOLERANCES: Readonly<Record<string, Tolerance>> = {
  'clip-text': { atol: 3e-2, rtol: 1e-2 },
  'sdxl-clip-text-l': { atol: 3e-2, rtol: 1e-2 },
  'sdxl-clip-text-g': { atol: 3e-2, rtol: 1e-2 },
  'clip-vision': { atol: 5e-2, rtol: 2e-2 },
  'ip-proj': { atol: 3e-2, rtol: 1e-2 },
  unet: { atol: 5e-2, rtol: 2e-2 },
  'unet-ip': { atol: 5e-2, rtol: 2e-2 },
  controlnet: { atol: 8e-2, rtol: 2e-2 },
  'sdxl-unet': { atol: 5e-2, rtol: 2e-2 },
  'sdxl-unet-ip': { atol: 5e-2, rtol: 2e-2 },
  'unet-ip-masked': { atol: 5e-2, rtol: 2e-2 },
  // measured 7.6e-2 (lavapipe, shader-f16; SDXL's 9 residuals, the deepest at 10 transformer blocks per
  // attention in real files): about twice that
  'sdxl-controlnet': { atol: 1.5e-1, rtol: 2e-2 },
  'vae-encoder': { atol: 4e-2, rtol: 2e-2 },
  pipeline: { atol: 4e-1, rtol: 5e-2, uint8: 10 },
  'sdxl-pipeline': { atol: 4e-1, rtol: 5e-2, uint8: 10 },
  // TAESD runs in fp16 (no norms, small activations: no overflow); its image is a preview / draft.
  'taesd-decoder': { atol: 4e-2, rtol: 2e-2, uint8: 6 },
  'taesd-encoder': { atol: 5e-3, rtol: 1e-2 },
};

/** The case as this target checks it: the fp16 flavours compare with FP16_TOLERANCES. */
export function caseForTarget(c: FixtureCase, t: ParityTarget): FixtureCase {
  const tol = isFp16Target(t) ? FP16_TOLERANCES[c.kind] : undefined;
  if (!tol) return c;
  const uint8 = Math.max(tol.uint8 ?? 1, c.tolerance.uint8 ?? 1);
  return { ...c, tolerance: { atol: Math.max(tol.atol, c.tolerance.atol), rtol: Math.max(tol.rtol, c.tolerance.rtol), uint8 } };
}
