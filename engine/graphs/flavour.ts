/**
 * Which flavour each graph kind is built in, given the provider's flavour. The SD VAE decoder's
 * activations exceed fp16's range (65504) in its up blocks: in fp16 it gives inf/NaN (a black or
 * speckled image), so the portable fp16 flavour builds it in fp32. CUDA keeps its fp16 decoder
 * (the fused GroupNorm accumulates in fp32; not changed without a measurement).
 */
import type { Flavour } from '../onnx/builder.ts';

export type GraphKind = 'unet' | 'controlnet' | 'vae-decoder' | 'vae-encoder' | 'clip-text' | 'clip-vision' | 'ip-proj' | 'ip-kv';

export const GRAPH_KINDS: readonly GraphKind[] = ['unet', 'controlnet', 'vae-decoder', 'vae-encoder', 'clip-text', 'clip-vision', 'ip-proj', 'ip-kv'];

export function graphFlavour(flavour: Flavour, kind: GraphKind): Flavour {
  if (kind === 'vae-decoder' && flavour === 'portable-fp16') return 'portable';
  if (kind === 'vae-decoder' && flavour === 'webgpu-fp16') return 'webgpu';
  return flavour;
}
