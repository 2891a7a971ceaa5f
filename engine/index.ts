/** The engine's entry point for the daemon and the CLI. */
import type { Engine, EngineCreateOptions } from './api.ts';
import { SdEngine } from './engine.ts';
import { selectProvider } from './runtime/probe.ts';

export * from './api.ts';

/** Probes the provider choice (CPU fallback only under `auto`) and creates the engine on it. */
export async function createEngine(opts: EngineCreateOptions): Promise<Engine> {
  const { onSkip, fp16: wantFp16, provider: choice, ...rest } = opts;
  const selection = await selectProvider(choice, { onSkip });
  const fp16 = selection.fp16 && wantFp16 !== false;
  return new SdEngine({ ...rest, provider: selection.provider, fp16 }, { ...selection, fp16 });
}
export { writeTinyModels } from './synthetic/tiny.ts';
export { writeTinySdxlModels, type TinySdxlModelSet } from './synthetic/tiny-sdxl.ts';
