/**
 * Key names and shapes of an SDXL UNet, its ControlNet and h94 SDXL IP-Adapters, for any widths: the
 * full-size synthetic set for benchmarks (bench/sdxl.ts) and tiny SDXL-topology models for tests.
 * SDXL differs from SD1.5 in: three levels, transformer depth per level (base: 0, 2, 10; up blocks the
 * reversed list; the mid block the deepest), linear proj_in / proj_out, and the `text_time` added
 * embedding (`add_embedding`, input = pooled text + 6 time ids × their sinusoid width). The VAE is the
 * SD VAE (specs.ts `vaeSpecs`).
 */
import { faceIdLora, faceIdProjection, ipAdapterBaseTopologySpecs, ipKeyValue } from './ip-adapter-specs.ts';
import type { SpecList, TensorSpec } from './spec-layers.ts';
import { attn2Channels, controlNetTopologySpecs, unetTopologySpecs, type UNetTopology, type UNetWidths } from './unet-specs.ts';

export interface SdxlUNetSpecConfig extends UNetWidths {
  /** Transformer blocks per attention, per down level (0 = no attention at that level). */
  readonly transformerDepth: readonly number[];
  /** add_embedding.linear_1 input: pooled width + 6 × time-id sinusoid width (SDXL base: 1280 + 6 × 256). */
  readonly addEmbedInput: number;
}

/** stabilityai/stable-diffusion-xl-base-1.0 `unet/config.json`. */
export const SDXL_UNET_SPEC: SdxlUNetSpecConfig = { blockChannels: [320, 640, 1280], layersPerBlock: 2, transformerDepth: [0, 2, 10], crossAttentionDim: 2048, addEmbedInput: 2816, inChannels: 4, outChannels: 4 };
/** The fixture set's tiny SDXL topology (heads 1, 2, 4 → head width 16 / 12; time ids of width 8, pooled 20). */
export const TINY_SDXL_UNET_SPEC: SdxlUNetSpecConfig = { blockChannels: [16, 32, 48], layersPerBlock: 2, transformerDepth: [0, 2, 2], crossAttentionDim: 36, addEmbedInput: 68, inChannels: 4, outChannels: 4 };

/** The SDXL config as a UNet topology: linear projections, the mid block as deep as the deepest level, the added embedding. */
export function sdxlTopology(cfg: SdxlUNetSpecConfig): UNetTopology {
  const { transformerDepth, ...rest } = cfg;
  return { ...rest, depthDown: transformerDepth, depthMid: transformerDepth[transformerDepth.length - 1], projection: 'linear' };
}

export function sdxlUnetSpecs(cfg: SdxlUNetSpecConfig = SDXL_UNET_SPEC): TensorSpec[] {
  return unetTopologySpecs(sdxlTopology(cfg));
}

/** ControlNetModel.from_unet of an SDXL UNet (conditioning embedding 16, 32, 96, 256 as in diffusers). */
export function sdxlControlNetSpecs(cfg: SdxlUNetSpecConfig = SDXL_UNET_SPEC, embedChannels: readonly number[] = [16, 32, 96, 256]): TensorSpec[] {
  return controlNetTopologySpecs(sdxlTopology(cfg), embedChannels);
}

/** Output channels of every transformer block's attn2, in attention-processor order (down, up, mid): h94 index 2l + 1. */
export function sdxlAttn2Channels(cfg: SdxlUNetSpecConfig): number[] {
  return attn2Channels(sdxlTopology(cfg));
}

/** h94 ip-adapter_sdxl layout: ImageProjModel (4 tokens) + to_k_ip / to_v_ip per attn2. */
export function sdxlIpAdapterBaseSpecs(cfg: SdxlUNetSpecConfig, imageEmbedDim: number, tokens = 4): TensorSpec[] {
  return ipAdapterBaseTopologySpecs(sdxlTopology(cfg), imageEmbedDim, tokens);
}

/**
 * h94 ip-adapter-faceid_sdxl layout: MLPProjModel (face embedding → `tokens` tokens), to_k_ip / to_v_ip
 * per attn2, and the LoRA it carries on every attention processor (attn1 at even, attn2 at odd h94 indices).
 * Tensor order: per block its to_k_ip / to_v_ip, then its LoRA (SD1.5's builder groups them; each order is
 * kept so seeded files stay as they were).
 */
export function sdxlIpAdapterFaceIdSpecs(cfg: SdxlUNetSpecConfig, faceDim = 512, hidden = 1024, tokens = 4, rank = 128): TensorSpec[] {
  const o: SpecList = [];
  const cross = cfg.crossAttentionDim;
  faceIdProjection(o, cross, faceDim, hidden, tokens);
  sdxlAttn2Channels(cfg).forEach((c, l) => {
    ipKeyValue(o, l, c, cross);
    faceIdLora(o, l, c, cross, rank);
  });
  return o;
}
