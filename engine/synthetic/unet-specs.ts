/**
 * Key names and shapes of a UNet2DConditionModel and its ControlNet for any topology both families
 * share: SD1.5 (one transformer block per attention, conv projections) and SDXL (per-level depth,
 * linear projections, the `text_time` added embedding) are two settings of the same builder
 * (specs.ts `sd15Topology`, sdxl-specs.ts `sdxlTopology`).
 */
import { conv, linear, norm, resnet, transformer, type SpecList, type TensorSpec, type TransformerProjection } from './spec-layers.ts';

/** The widths and counts both families' configs give the same way. */
export interface UNetWidths {
  readonly blockChannels: readonly number[];
  readonly layersPerBlock: number;
  readonly crossAttentionDim: number;
  readonly inChannels: number;
  readonly outChannels: number;
}

export interface UNetTopology extends UNetWidths {
  /** Transformer blocks per attention, per down level (0 = no attention there); the up levels take the list reversed. */
  readonly depthDown: readonly number[];
  /** Transformer blocks in the mid block's attention. */
  readonly depthMid: number;
  readonly projection: TransformerProjection;
  /** add_embedding.linear_1 input width (SDXL's pooled text + time ids); absent = no added embedding. */
  readonly addEmbedInput?: number;
}

const timeEmbedWidth = (t: UNetTopology): number => t.blockChannels[0] * 4;

/** The encoder half (conv_in, time and added embeddings, down blocks, mid block) shared with the ControlNet; returns the skip widths. */
function unetEncoder(o: SpecList, t: UNetTopology): number[] {
  const ch = t.blockChannels;
  const temb = timeEmbedWidth(t);
  conv(o, 'conv_in', ch[0], t.inChannels, 3);
  linear(o, 'time_embedding.linear_1', temb, ch[0]);
  linear(o, 'time_embedding.linear_2', temb, temb);
  if (t.addEmbedInput !== undefined) {
    linear(o, 'add_embedding.linear_1', temb, t.addEmbedInput);
    linear(o, 'add_embedding.linear_2', temb, temb);
  }
  const skips = [ch[0]];
  let cin = ch[0];
  ch.forEach((cout, i) => {
    for (let j = 0; j < t.layersPerBlock; j++) {
      resnet(o, `down_blocks.${i}.resnets.${j}`, j === 0 ? cin : cout, cout, temb);
      if (t.depthDown[i] > 0) transformer(o, `down_blocks.${i}.attentions.${j}`, cout, t.crossAttentionDim, t.depthDown[i], t.projection);
      skips.push(cout);
    }
    if (i < ch.length - 1) {
      conv(o, `down_blocks.${i}.downsamplers.0.conv`, cout, cout, 3);
      skips.push(cout);
    }
    cin = cout;
  });
  const c = ch[ch.length - 1];
  resnet(o, 'mid_block.resnets.0', c, c, temb);
  transformer(o, 'mid_block.attentions.0', c, t.crossAttentionDim, t.depthMid, t.projection);
  resnet(o, 'mid_block.resnets.1', c, c, temb);
  return skips;
}

export function unetTopologySpecs(t: UNetTopology): TensorSpec[] {
  const o: SpecList = [];
  const skips = unetEncoder(o, t);
  const ch = t.blockChannels;
  const temb = timeEmbedWidth(t);
  const rev = [...ch].reverse();
  const depthUp = [...t.depthDown].reverse();
  let prev = rev[0];
  rev.forEach((cout, i) => {
    for (let j = 0; j <= t.layersPerBlock; j++) {
      const skip = skips.pop()!;
      resnet(o, `up_blocks.${i}.resnets.${j}`, (j === 0 ? prev : cout) + skip, cout, temb);
      if (depthUp[i] > 0) transformer(o, `up_blocks.${i}.attentions.${j}`, cout, t.crossAttentionDim, depthUp[i], t.projection);
    }
    if (i < rev.length - 1) conv(o, `up_blocks.${i}.upsamplers.0.conv`, cout, cout, 3);
    prev = cout;
  });
  norm(o, 'conv_norm_out', ch[0]);
  conv(o, 'conv_out', t.outChannels, ch[0], 3);
  return o;
}

/** ControlNetModel.from_unet: the UNet's encoder half, the conditioning embedding and a zero conv per skip and for the mid block. */
export function controlNetTopologySpecs(t: UNetTopology, embedChannels: readonly number[]): TensorSpec[] {
  const o: SpecList = [];
  const skips = unetEncoder(o, t);
  conv(o, 'controlnet_cond_embedding.conv_in', embedChannels[0], 3, 3);
  for (let i = 0; i < embedChannels.length - 1; i++) {
    conv(o, `controlnet_cond_embedding.blocks.${2 * i}`, embedChannels[i], embedChannels[i], 3);
    conv(o, `controlnet_cond_embedding.blocks.${2 * i + 1}`, embedChannels[i + 1], embedChannels[i], 3);
  }
  conv(o, 'controlnet_cond_embedding.conv_out', t.blockChannels[0], embedChannels[embedChannels.length - 1], 3);
  skips.forEach((c, k) => conv(o, `controlnet_down_blocks.${k}`, c, c, 1));
  const c = t.blockChannels[t.blockChannels.length - 1];
  conv(o, 'controlnet_mid_block', c, c, 1);
  return o;
}

/** Output channels of every transformer block's attn2, in attention-processor order (down, up, mid): h94 index 2l + 1. */
export function attn2Channels(t: UNetTopology): number[] {
  const ch = t.blockChannels;
  const out: number[] = [];
  const repeat = (c: number, times: number) => { for (let k = 0; k < times; k++) out.push(c); };
  ch.forEach((c, i) => repeat(c, t.layersPerBlock * t.depthDown[i]));
  const rev = [...ch].reverse();
  const depthUp = [...t.depthDown].reverse();
  rev.forEach((c, i) => repeat(c, (t.layersPerBlock + 1) * depthUp[i]));
  repeat(ch[ch.length - 1], t.depthMid);
  return out;
}
