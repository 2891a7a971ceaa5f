/**
 * Key names and shapes of SD1.5-family models (diffusers / HF / h94 naming) for any widths, so
 * the same code makes the full-size synthetic checkpoint for benchmarks and the tiny models the
 * self-test and the tests run on.
 */
import { faceIdLora, faceIdProjection, ipAdapterBaseTopologySpecs, ipKeyValue } from './ip-adapter-specs.ts';
import { conv, linear, norm, resnet, type SpecList, type TensorSpec } from './spec-layers.ts';
import { attn2Channels, controlNetTopologySpecs, unetTopologySpecs, type UNetTopology, type UNetWidths } from './unet-specs.ts';

export type { TensorSpec } from './spec-layers.ts';

export interface UNetSpecConfig extends UNetWidths {
  /** Which down blocks have cross-attention (SD1.5: all but the last). */
  readonly attnDown: readonly boolean[];
}

export const SD15_UNET_SPEC: UNetSpecConfig = { blockChannels: [320, 640, 1280, 1280], layersPerBlock: 2, crossAttentionDim: 768, inChannels: 4, outChannels: 4, attnDown: [true, true, true, false] };
export const TINY_UNET_SPEC: UNetSpecConfig = { blockChannels: [16, 16, 32, 32], layersPerBlock: 2, crossAttentionDim: 16, inChannels: 4, outChannels: 4, attnDown: [true, true, true, false] };

/** The SD1.5 config as a UNet topology: one conv-projected transformer block per attention, one in the mid block. */
export function sd15Topology(cfg: UNetSpecConfig): UNetTopology {
  return { ...cfg, depthDown: cfg.attnDown.map((a) => (a ? 1 : 0)), depthMid: 1, projection: 'conv' };
}

export function unetSpecs(cfg: UNetSpecConfig = SD15_UNET_SPEC): TensorSpec[] {
  return unetTopologySpecs(sd15Topology(cfg));
}

export function controlNetSpecs(cfg: UNetSpecConfig = SD15_UNET_SPEC, embedChannels: readonly number[] = [16, 32, 96, 256]): TensorSpec[] {
  return controlNetTopologySpecs(sd15Topology(cfg), embedChannels);
}

export interface VaeSpecConfig {
  readonly blockChannels: readonly number[];
  readonly layersPerBlock: number;
  readonly latentChannels: number;
}
export const SD15_VAE_SPEC: VaeSpecConfig = { blockChannels: [128, 256, 512, 512], layersPerBlock: 2, latentChannels: 4 };
export const TINY_VAE_SPEC: VaeSpecConfig = { blockChannels: [8, 16, 16, 16], layersPerBlock: 2, latentChannels: 4 };

function vaeMid(o: SpecList, p: string, c: number) {
  resnet(o, `${p}.resnets.0`, c, c);
  const a = `${p}.attentions.0`;
  norm(o, `${a}.group_norm`, c);
  for (const n of ['to_q', 'to_k', 'to_v', 'to_out.0']) linear(o, `${a}.${n}`, c, c);
  resnet(o, `${p}.resnets.1`, c, c);
}

export function vaeSpecs(cfg: VaeSpecConfig = SD15_VAE_SPEC): TensorSpec[] {
  const o: SpecList = [];
  const ch = cfg.blockChannels;
  const top = ch[ch.length - 1];
  conv(o, 'encoder.conv_in', ch[0], 3, 3);
  let cin = ch[0];
  ch.forEach((cout, i) => {
    for (let j = 0; j < cfg.layersPerBlock; j++) resnet(o, `encoder.down_blocks.${i}.resnets.${j}`, j === 0 ? cin : cout, cout);
    if (i < ch.length - 1) conv(o, `encoder.down_blocks.${i}.downsamplers.0.conv`, cout, cout, 3);
    cin = cout;
  });
  vaeMid(o, 'encoder.mid_block', top);
  norm(o, 'encoder.conv_norm_out', top);
  conv(o, 'encoder.conv_out', 2 * cfg.latentChannels, top, 3);
  conv(o, 'quant_conv', 2 * cfg.latentChannels, 2 * cfg.latentChannels, 1);
  conv(o, 'post_quant_conv', cfg.latentChannels, cfg.latentChannels, 1);
  conv(o, 'decoder.conv_in', top, cfg.latentChannels, 3);
  vaeMid(o, 'decoder.mid_block', top);
  const rev = [...ch].reverse();
  let prev = top;
  rev.forEach((cout, i) => {
    for (let j = 0; j <= cfg.layersPerBlock; j++) resnet(o, `decoder.up_blocks.${i}.resnets.${j}`, j === 0 ? prev : cout, cout);
    if (i < rev.length - 1) conv(o, `decoder.up_blocks.${i}.upsamplers.0.conv`, cout, cout, 3);
    prev = cout;
  });
  norm(o, 'decoder.conv_norm_out', ch[0]);
  conv(o, 'decoder.conv_out', 3, ch[0], 3);
  return o;
}

export interface ClipSpecConfig {
  readonly hidden: number;
  readonly layers: number;
  readonly intermediate: number;
}
export const SD15_TEXT_SPEC: ClipSpecConfig = { hidden: 768, layers: 12, intermediate: 3072 };
export const TINY_TEXT_SPEC: ClipSpecConfig = { hidden: 16, layers: 2, intermediate: 64 };

function clipLayers(o: SpecList, p: string, cfg: ClipSpecConfig) {
  for (let i = 0; i < cfg.layers; i++) {
    const l = `${p}.encoder.layers.${i}`;
    norm(o, `${l}.layer_norm1`, cfg.hidden);
    for (const n of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) linear(o, `${l}.self_attn.${n}`, cfg.hidden, cfg.hidden);
    norm(o, `${l}.layer_norm2`, cfg.hidden);
    linear(o, `${l}.mlp.fc1`, cfg.intermediate, cfg.hidden);
    linear(o, `${l}.mlp.fc2`, cfg.hidden, cfg.intermediate);
  }
}

export function clipTextSpecs(cfg: ClipSpecConfig = SD15_TEXT_SPEC, vocab = 49408, positions = 77): TensorSpec[] {
  const o: SpecList = [];
  o.push({ name: 'text_model.embeddings.token_embedding.weight', shape: [vocab, cfg.hidden] });
  o.push({ name: 'text_model.embeddings.position_embedding.weight', shape: [positions, cfg.hidden] });
  clipLayers(o, 'text_model', cfg);
  norm(o, 'text_model.final_layer_norm', cfg.hidden);
  return o;
}

export interface VisionSpecConfig extends ClipSpecConfig {
  readonly projection: number;
  readonly patch: number;
  readonly image: number;
}
export const VIT_H_SPEC: VisionSpecConfig = { hidden: 1280, layers: 32, intermediate: 5120, projection: 1024, patch: 14, image: 224 };
export const TINY_VISION_SPEC: VisionSpecConfig = { hidden: 32, layers: 2, intermediate: 128, projection: 24, patch: 14, image: 224 };

export function clipVisionSpecs(cfg: VisionSpecConfig = VIT_H_SPEC): TensorSpec[] {
  const o: SpecList = [];
  const tokens = (cfg.image / cfg.patch) ** 2 + 1;
  o.push({ name: 'vision_model.embeddings.class_embedding', shape: [cfg.hidden] });
  o.push({ name: 'vision_model.embeddings.patch_embedding.weight', shape: [cfg.hidden, 3, cfg.patch, cfg.patch] });
  o.push({ name: 'vision_model.embeddings.position_embedding.weight', shape: [tokens, cfg.hidden] });
  norm(o, 'vision_model.pre_layrnorm', cfg.hidden);
  clipLayers(o, 'vision_model', cfg);
  norm(o, 'vision_model.post_layernorm', cfg.hidden);
  linear(o, 'visual_projection', cfg.projection, cfg.hidden, false);
  return o;
}

/** h94 base IP-Adapter (ImageProjModel, 4 tokens) for a UNet of this config. */
export function ipAdapterBaseSpecs(unet: UNetSpecConfig, imageEmbedDim: number, tokens = 4): TensorSpec[] {
  return ipAdapterBaseTopologySpecs(sd15Topology(unet), imageEmbedDim, tokens);
}

/**
 * h94 FaceID adapter: MLPProjModel (face embedding → 4 tokens) plus the LoRA it carries for all 32
 * attention processors (attn1 at even, attn2 at odd indices). Tensor order: every to_k_ip / to_v_ip,
 * then every LoRA (the SDXL builder interleaves them; each order is kept so seeded files stay as they were).
 */
export function ipAdapterFaceIdSpecs(unet: UNetSpecConfig, faceDim = 512, hidden = 1024, tokens = 4, rank = 128): TensorSpec[] {
  const o: SpecList = [];
  const cross = unet.crossAttentionDim;
  const attn2 = attn2Channels(sd15Topology(unet));
  faceIdProjection(o, cross, faceDim, hidden, tokens);
  attn2.forEach((c, l) => ipKeyValue(o, l, c, cross));
  attn2.forEach((c, l) => faceIdLora(o, l, c, cross, rank));
  return o;
}
