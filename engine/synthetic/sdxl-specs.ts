/**
 * Key names and shapes of an SDXL UNet (and its ControlNet) in diffusers naming, for any widths: the
 * full-size synthetic set for benchmarks (bench/sdxl.ts) and tiny SDXL-topology models for tests.
 * SDXL differs from SD1.5 in: three levels, transformer depth per level (base: 0, 2, 10; up blocks the
 * reversed list; the mid block the deepest), linear proj_in / proj_out, and the `text_time` added
 * embedding (`add_embedding`, input = pooled text + 6 time ids × their sinusoid width). The VAE is the
 * SD VAE (specs.ts `vaeSpecs`).
 */
import type { TensorSpec } from './specs.ts';

export interface SdxlUNetSpecConfig {
  readonly blockChannels: readonly number[];
  readonly layersPerBlock: number;
  /** Transformer blocks per attention, per down level (0 = no attention at that level). */
  readonly transformerDepth: readonly number[];
  readonly crossAttentionDim: number;
  /** add_embedding.linear_1 input: pooled width + 6 × time-id sinusoid width (SDXL base: 1280 + 6 × 256). */
  readonly addEmbedInput: number;
  readonly inChannels: number;
  readonly outChannels: number;
}

/** stabilityai/stable-diffusion-xl-base-1.0 `unet/config.json`. */
export const SDXL_UNET_SPEC: SdxlUNetSpecConfig = { blockChannels: [320, 640, 1280], layersPerBlock: 2, transformerDepth: [0, 2, 10], crossAttentionDim: 2048, addEmbedInput: 2816, inChannels: 4, outChannels: 4 };
/** The fixture set's tiny SDXL topology (heads 1, 2, 4 → head width 16 / 12; time ids of width 8, pooled 20). */
export const TINY_SDXL_UNET_SPEC: SdxlUNetSpecConfig = { blockChannels: [16, 32, 48], layersPerBlock: 2, transformerDepth: [0, 2, 2], crossAttentionDim: 36, addEmbedInput: 68, inChannels: 4, outChannels: 4 };

type Out = TensorSpec[];
const lin = (o: Out, p: string, out: number, inp: number, bias = true): void => {
  o.push({ name: `${p}.weight`, shape: [out, inp] });
  if (bias) o.push({ name: `${p}.bias`, shape: [out], init: 'zeros' });
};
const conv = (o: Out, p: string, out: number, inp: number, k: number): void => {
  o.push({ name: `${p}.weight`, shape: [out, inp, k, k] }, { name: `${p}.bias`, shape: [out], init: 'zeros' });
};
const norm = (o: Out, p: string, c: number): void => {
  o.push({ name: `${p}.weight`, shape: [c], init: 'ones' }, { name: `${p}.bias`, shape: [c], init: 'zeros' });
};

function resnet(o: Out, p: string, cin: number, cout: number, temb: number): void {
  norm(o, `${p}.norm1`, cin);
  conv(o, `${p}.conv1`, cout, cin, 3);
  lin(o, `${p}.time_emb_proj`, cout, temb);
  norm(o, `${p}.norm2`, cout);
  conv(o, `${p}.conv2`, cout, cout, 3);
  if (cin !== cout) conv(o, `${p}.conv_shortcut`, cout, cin, 1);
}

/** Transformer2DModel with linear projections and `depth` BasicTransformerBlocks. */
function transformer(o: Out, p: string, c: number, cross: number, depth: number): void {
  norm(o, `${p}.norm`, c);
  lin(o, `${p}.proj_in`, c, c);
  for (let t = 0; t < depth; t++) {
    const b = `${p}.transformer_blocks.${t}`;
    for (const a of ['attn1', 'attn2']) {
      lin(o, `${b}.${a}.to_q`, c, c, false);
      lin(o, `${b}.${a}.to_k`, c, a === 'attn1' ? c : cross, false);
      lin(o, `${b}.${a}.to_v`, c, a === 'attn1' ? c : cross, false);
      lin(o, `${b}.${a}.to_out.0`, c, c);
    }
    lin(o, `${b}.ff.net.0.proj`, c * 8, c);
    lin(o, `${b}.ff.net.2`, c, c * 4);
    for (const n of ['norm1', 'norm2', 'norm3']) norm(o, `${b}.${n}`, c);
  }
  lin(o, `${p}.proj_out`, c, c);
}

/** conv_in, time and added embeddings, down blocks and mid block; returns the skip widths. */
function encoder(o: Out, cfg: SdxlUNetSpecConfig): number[] {
  const ch = cfg.blockChannels;
  const temb = ch[0] * 4;
  conv(o, 'conv_in', ch[0], cfg.inChannels, 3);
  lin(o, 'time_embedding.linear_1', temb, ch[0]);
  lin(o, 'time_embedding.linear_2', temb, temb);
  lin(o, 'add_embedding.linear_1', temb, cfg.addEmbedInput);
  lin(o, 'add_embedding.linear_2', temb, temb);
  const skips = [ch[0]];
  let cin = ch[0];
  ch.forEach((cout, i) => {
    for (let j = 0; j < cfg.layersPerBlock; j++) {
      resnet(o, `down_blocks.${i}.resnets.${j}`, j === 0 ? cin : cout, cout, temb);
      if (cfg.transformerDepth[i] > 0) transformer(o, `down_blocks.${i}.attentions.${j}`, cout, cfg.crossAttentionDim, cfg.transformerDepth[i]);
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
  transformer(o, 'mid_block.attentions.0', c, cfg.crossAttentionDim, cfg.transformerDepth[cfg.transformerDepth.length - 1]);
  resnet(o, 'mid_block.resnets.1', c, c, temb);
  return skips;
}

export function sdxlUnetSpecs(cfg: SdxlUNetSpecConfig = SDXL_UNET_SPEC): TensorSpec[] {
  const o: Out = [];
  const skips = encoder(o, cfg);
  const ch = cfg.blockChannels;
  const temb = ch[0] * 4;
  const rev = [...ch].reverse();
  const depthUp = [...cfg.transformerDepth].reverse();
  let prev = rev[0];
  rev.forEach((cout, i) => {
    for (let j = 0; j <= cfg.layersPerBlock; j++) {
      const skip = skips.pop()!;
      resnet(o, `up_blocks.${i}.resnets.${j}`, (j === 0 ? prev : cout) + skip, cout, temb);
      if (depthUp[i] > 0) transformer(o, `up_blocks.${i}.attentions.${j}`, cout, cfg.crossAttentionDim, depthUp[i]);
    }
    if (i < rev.length - 1) conv(o, `up_blocks.${i}.upsamplers.0.conv`, cout, cout, 3);
    prev = cout;
  });
  norm(o, 'conv_norm_out', ch[0]);
  conv(o, 'conv_out', cfg.outChannels, ch[0], 3);
  return o;
}

/** ControlNetModel.from_unet of an SDXL UNet (conditioning embedding 16, 32, 96, 256 as in diffusers). */
export function sdxlControlNetSpecs(cfg: SdxlUNetSpecConfig = SDXL_UNET_SPEC, embedChannels: readonly number[] = [16, 32, 96, 256]): TensorSpec[] {
  const o: Out = [];
  const skips = encoder(o, cfg);
  conv(o, 'controlnet_cond_embedding.conv_in', embedChannels[0], 3, 3);
  for (let i = 0; i < embedChannels.length - 1; i++) {
    conv(o, `controlnet_cond_embedding.blocks.${2 * i}`, embedChannels[i], embedChannels[i], 3);
    conv(o, `controlnet_cond_embedding.blocks.${2 * i + 1}`, embedChannels[i + 1], embedChannels[i], 3);
  }
  conv(o, 'controlnet_cond_embedding.conv_out', cfg.blockChannels[0], embedChannels[embedChannels.length - 1], 3);
  skips.forEach((c, k) => conv(o, `controlnet_down_blocks.${k}`, c, c, 1));
  const c = cfg.blockChannels[cfg.blockChannels.length - 1];
  conv(o, 'controlnet_mid_block', c, c, 1);
  return o;
}
