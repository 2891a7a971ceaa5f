/**
 * Key names and shapes of TAESD / TAESDXL (AutoencoderTiny) for any width, in both layouts: diffusers
 * (`encoder.layers.K.*`, `decoder.layers.N.*`, one file) and taesd.py's (bare Sequential indices, one
 * file per part, the decoder's shifted by one for its Clamp). Real files: width 64.
 */
import type { TensorSpec } from './specs.ts';

export interface TaesdSpecConfig {
  readonly width: number;
  readonly latentChannels: number;
  /** Blocks per level: encoder (1, 3, 3, 3) after its convs, decoder (3, 3, 3, 1). */
  readonly encoderBlocks: readonly number[];
  readonly decoderBlocks: readonly number[];
}

export const TAESD_SPEC: TaesdSpecConfig = { width: 64, latentChannels: 4, encoderBlocks: [1, 3, 3, 3], decoderBlocks: [3, 3, 3, 1] };
export const TINY_TAESD_SPEC: TaesdSpecConfig = { ...TAESD_SPEC, width: 8 };

type Layer = { kind: 'conv'; cin: number; cout: number; bias: boolean } | { kind: 'block'; c: number } | { kind: 'none' };

/** taesd.py's Encoder() Sequential: conv, Blocks, then per level a bias-free stride-2 conv and Blocks, conv out. */
function encoderLayers(cfg: TaesdSpecConfig): Layer[] {
  const c = cfg.width;
  const out: Layer[] = [{ kind: 'conv', cin: 3, cout: c, bias: true }];
  cfg.encoderBlocks.forEach((n, level) => {
    if (level > 0) out.push({ kind: 'conv', cin: c, cout: c, bias: false });
    for (let i = 0; i < n; i++) out.push({ kind: 'block', c });
  });
  out.push({ kind: 'conv', cin: c, cout: cfg.latentChannels, bias: true });
  return out;
}

/** Decoder() without its Clamp: conv, ReLU, Blocks, then per level Upsample, bias-free conv, Blocks, conv out. */
function decoderLayers(cfg: TaesdSpecConfig): Layer[] {
  const c = cfg.width;
  const out: Layer[] = [{ kind: 'conv', cin: cfg.latentChannels, cout: c, bias: true }, { kind: 'none' }];
  cfg.decoderBlocks.forEach((n, level) => {
    if (level > 0) out.push({ kind: 'none' }, { kind: 'conv', cin: c, cout: c, bias: false });
    for (let i = 0; i < n; i++) out.push({ kind: 'block', c });
  });
  out.push({ kind: 'conv', cin: c, cout: 3, bias: true });
  return out;
}

function specsOf(layers: readonly Layer[], prefix: (i: number) => string): TensorSpec[] {
  const o: TensorSpec[] = [];
  layers.forEach((l, i) => {
    const p = prefix(i);
    if (l.kind === 'conv') {
      o.push({ name: `${p}.weight`, shape: [l.cout, l.cin, 3, 3] });
      if (l.bias) o.push({ name: `${p}.bias`, shape: [l.cout], init: 'zeros' });
    } else if (l.kind === 'block') {
      for (const j of [0, 2, 4]) o.push({ name: `${p}.conv.${j}.weight`, shape: [l.c, l.c, 3, 3] }, { name: `${p}.conv.${j}.bias`, shape: [l.c], init: 'zeros' });
    }
  });
  return o;
}

/** diffusers AutoencoderTiny: both parts in one file. */
export function taesdDiffusersSpecs(cfg: TaesdSpecConfig = TAESD_SPEC): TensorSpec[] {
  return [...specsOf(encoderLayers(cfg), (i) => `encoder.layers.${i}`), ...specsOf(decoderLayers(cfg), (i) => `decoder.layers.${i}`)];
}

/** taesd_encoder.safetensors (indices as diffusers') or taesd_decoder.safetensors (index + 1: 0 is the Clamp). */
export function taesdOriginalSpecs(part: 'encoder' | 'decoder', cfg: TaesdSpecConfig = TAESD_SPEC): TensorSpec[] {
  return part === 'encoder' ? specsOf(encoderLayers(cfg), (i) => `${i}`) : specsOf(decoderLayers(cfg), (i) => `${i + 1}`);
}
