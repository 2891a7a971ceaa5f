/**
 * What a parity run checks: the execution provider sessions run on and the graph flavour they are
 * built in. The fixtures' tolerances hold for the fp32 flavours; the fp16 flavour has its own
 * (FP16_TOLERANCES in kinds.ts).
 */
import type { Flavour } from '../onnx/builder.ts';
import { graphFlavour, type GraphKind } from '../graphs/flavour.ts';
import { flavourFor, type ProviderName } from '../runtime/providers.ts';

export interface ParityTarget {
  readonly provider: ProviderName;
  readonly flavour: Flavour;
}

export const CPU_TARGET: ParityTarget = { provider: 'cpu', flavour: 'cpu' };

export function parityTarget(provider: ProviderName, fp16 = false): ParityTarget {
  return { provider, flavour: flavourFor(provider, fp16) };
}

/** The flavour graph `kind` is built in for this target (the engine's rule, e.g. fp32 SD VAE decoder). */
export function flavourOf(t: ParityTarget, kind: GraphKind): Flavour {
  return graphFlavour(t.flavour, kind);
}

export const isFp16Target = (t: ParityTarget): boolean => t.flavour === 'portable-fp16' || t.flavour === 'webgpu-fp16' || t.flavour === 'cuda';

export function targetLabel(t: ParityTarget): string {
  return t.provider === 'cpu' && t.flavour === 'cpu' ? 'cpu' : `${t.provider}/${t.flavour}`;
}
