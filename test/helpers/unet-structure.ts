/**
 * UNet structures for tests that need one but no weights: the synthetic key/shape lists
 * (engine/synthetic/specs.ts) read through the real `inspectUNet`.
 */
import * as S from '../../engine/synthetic/specs.ts';
import type { WeightSource, WeightTensor } from '../../engine/weights/source.ts';
import { inspectUNet, type UNetStructure } from '../../engine/weights/unet-structure.ts';

/** A weight source that knows names and shapes only (reading its bytes is a test bug). */
export function shapeOnlySource(description: string, specs: readonly S.TensorSpec[]): WeightSource {
  const byName = new Map(specs.map((s) => [s.name, s]));
  return {
    description,
    keys: () => [...byName.keys()],
    get: (key): WeightTensor | undefined => {
      const s = byName.get(key);
      return s && { key, dtype: 'F32', shape: s.shape, data: { bytes: new Uint8Array(0) }, origin: `${description}: ${key}` };
    },
  };
}

/** The structure of an SD1.5-topology UNet of this config (default: the tiny widths). */
export function sd15Structure(cfg: Partial<S.UNetSpecConfig> = {}): UNetStructure {
  return inspectUNet(shapeOnlySource('tiny-unet.safetensors', S.unetSpecs({ ...S.TINY_UNET_SPEC, ...cfg })));
}
