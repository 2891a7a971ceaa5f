/**
 * The test engine with an SDXL checkpoint, an SDXL IP-Adapter and an SDXL OpenPose ControlNet installed
 * beside its SD1.5 models (`--engine test/helpers/test-engine-families.ts`), so the daemon's handshake
 * carries `capabilities.families.sdxl` and results on the SDXL checkpoint name their family, for the
 * plugins' family tests. Pixels are the test engine's; only the model list and the family differ.
 */
import type { Engine, GenerateOptions, GenerateRequest, GenerateResult, ModelSummary } from '../../engine/api.ts';
import { createEngine as createTestEngine, type TestEngineOptions } from './test-engine.ts';

export const SDXL_CHECKPOINT = 'test-sdxl.safetensors';

const SDXL_MODELS: ModelSummary[] = [
  { name: SDXL_CHECKPOINT, kind: 'checkpoint:sdxl', path: `/test/${SDXL_CHECKPOINT}`, bytes: 4321, base: 'sdxl' },
  { name: 'test-ip-adapter_sdxl.safetensors', kind: 'ipadapter:sdxl-base', path: '/test/test-ip-adapter_sdxl.safetensors', bytes: 56, base: 'sdxl' },
  { name: 'test-openpose-sdxl.safetensors', kind: 'controlnet:sdxl-pose', path: '/test/test-openpose-sdxl.safetensors', bytes: 78, base: 'sdxl' },
];

export async function createEngine(opts: TestEngineOptions): Promise<Engine> {
  const inner = await createTestEngine(opts);
  return {
    provider: inner.provider,
    listModels: async () => [...(await inner.listModels()), ...SDXL_MODELS],
    dispose: () => inner.dispose(),
    generate: async (req: GenerateRequest, o?: GenerateOptions): Promise<GenerateResult> => {
      const res = await inner.generate(req, o);
      const sdxl = req.params.checkpoint === SDXL_CHECKPOINT;
      return { ...res, metadata: { ...res.metadata, family: sdxl ? 'sdxl' : 'sd15', ...(sdxl ? { models: { ...res.metadata.models, checkpoint: { name: SDXL_CHECKPOINT, sha256: '1'.repeat(64) } } } : {}) } };
    },
  };
}
