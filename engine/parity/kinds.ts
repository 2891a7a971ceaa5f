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
  scheduler: async () => (await import('./kinds/scheduler.ts')).runSchedulerCase,
  'scheduler-img2img': async () => (await import('./kinds/scheduler.ts')).runSchedulerImg2ImgCase,
  unet: async () => (await import('./kinds/unet.ts')).runUNetCase,
  'unet-ip': async () => (await import('./kinds/unet.ts')).runUNetCase,
  pipeline: async () => (await import('./kinds/pipeline.ts')).runPipelineCase,
  controlnet: async () => (await import('./kinds/controlnet.ts')).runControlNetCase,
  'vae-decoder': async () => (await import('./kinds/vae.ts')).runVaeDecoderCase,
  'vae-encoder': async () => (await import('./kinds/vae.ts')).runVaeEncoderCase,
  'weights-ldm': async () => (await import('./kinds/weights-ldm.ts')).runWeightsLdmCase,
};

export function registerKind(kind: string, load: () => Promise<KindHandler>): void {
  loaders[kind] = load;
}

export async function handlerFor(kind: string): Promise<KindHandler | undefined> {
  const load = loaders[kind];
  return load ? load() : undefined;
}

/**
 * Tolerances of the fp16 flavours (|got - exp| <= atol + rtol |exp|), per kind, measured on WebGPU
 * (lavapipe) against the fp32 references with margin (docs/providers.md lists the measured errors).
 * fp16 has an 11-bit mantissa (relative step 9.8e-4); errors grow with depth: the 8-step scheduler
 * loops and the 4-step pipeline compound them. Kinds that build no graph (tokenizer, schedulers, CLIP
 * preprocessing) and the fp32 VAE decoder keep the fixture's tolerance.
 */
export const FP16_TOLERANCES: Readonly<Record<string, Tolerance>> = {
  'clip-text': { atol: 2e-2, rtol: 2e-2 },
  'clip-vision': { atol: 2e-2, rtol: 2e-2 },
  'ip-proj': { atol: 2e-2, rtol: 2e-2 },
  unet: { atol: 2e-2, rtol: 2e-2 },
  'unet-ip': { atol: 2e-2, rtol: 2e-2 },
  controlnet: { atol: 2e-2, rtol: 2e-2 },
  'vae-encoder': { atol: 2e-2, rtol: 2e-2 },
  pipeline: { atol: 2e-2, rtol: 2e-2 },
};

/** The case as this target checks it: the fp16 flavours compare with FP16_TOLERANCES. */
export function caseForTarget(c: FixtureCase, t: ParityTarget): FixtureCase {
  const tol = isFp16Target(t) ? FP16_TOLERANCES[c.kind] : undefined;
  if (!tol) return c;
  return { ...c, tolerance: { atol: Math.max(tol.atol, c.tolerance.atol), rtol: Math.max(tol.rtol, c.tolerance.rtol) } };
}
