/**
 * One handler per fixture kind. Each builds what the case describes from its weight files, runs it
 * and returns one CheckResult per compared output. Handlers live in kinds/<kind>.ts.
 */
import type { CheckResult } from './compare.ts';
import type { FixtureCase } from './fixture.ts';

export type KindHandler = (c: FixtureCase) => Promise<CheckResult[]>;

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
