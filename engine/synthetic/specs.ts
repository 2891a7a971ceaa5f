/**
 * Key names and shapes of SD1.5-family models (diffusers / HF / h94 naming) for any widths, so
 * the same code makes the full-size synthetic checkpoint for benchmarks and the tiny models the
 * self-test and the tests run on.
 */

export interface TensorSpec {
  readonly name: string;
  readonly shape: readonly number[];
  /** 'zeros' | 'ones' for norms and biases where random values would break numerics. */
  readonly init?: 'normal' | 'ones' | 'zeros' | 'positions';
}

export interface UNetSpecConfig {
  readonly blockChannels: readonly number[];
  readonly layersPerBlock: number;
  readonly crossAttentionDim: number;
  readonly inChannels: number;
  readonly outChannels: number;
  /** Which down blocks have cross-attention (SD1.5: all but the last). */
  readonly attnDown: readonly boolean[];
}

export const SD15_UNET_SPEC: UNetSpecConfig = { blockChannels: [320, 640, 1280, 1280], layersPerBlock: 2, crossAttentionDim: 768, inChannels: 4, outChannels: 4, attnDown: [true, true, true, false] };
export const TINY_UNET_SPEC: UNetSpecConfig = { blockChannels: [16, 16, 32, 32], layersPerBlock: 2, crossAttentionDim: 16, inChannels: 4, outChannels: 4, attnDown: [true, true, true, false] };

type Out = TensorSpec[];
const lin = (o: Out, p: string, out: number, inp: number, bias = true) => {
  o.push({ name: `${p}.weight`, shape: [out, inp] });
  if (bias) o.push({ name: `${p}.bias`, shape: [out], init: 'zeros' });
};
const conv = (o: Out, p: string, out: number, inp: number, k: number) => {
  o.push({ name: `${p}.weight`, shape: [out, inp, k, k] }, { name: `${p}.bias`, shape: [out], init: 'zeros' });
};
const norm = (o: Out, p: string, c: number) => {
  o.push({ name: `${p}.weight`, shape: [c], init: 'ones' }, { name: `${p}.bias`, shape: [c], init: 'zeros' });
};

function resnet(o: Out, p: string, cin: number, cout: number, temb?: number) {
  norm(o, `${p}.norm1`, cin);
  conv(o, `${p}.conv1`, cout, cin, 3);
  if (temb) lin(o, `${p}.time_emb_proj`, cout, temb);
  norm(o, `${p}.norm2`, cout);
  conv(o, `${p}.conv2`, cout, cout, 3);
  if (cin !== cout) conv(o, `${p}.conv_shortcut`, cout, cin, 1);
}

function transformer(o: Out, p: string, c: number, cross: number) {
  norm(o, `${p}.norm`, c);
  conv(o, `${p}.proj_in`, c, c, 1);
  const b = `${p}.transformer_blocks.0`;
  for (const a of ['attn1', 'attn2']) {
    lin(o, `${b}.${a}.to_q`, c, c, false);
    lin(o, `${b}.${a}.to_k`, c, a === 'attn1' ? c : cross, false);
    lin(o, `${b}.${a}.to_v`, c, a === 'attn1' ? c : cross, false);
    lin(o, `${b}.${a}.to_out.0`, c, c);
  }
  lin(o, `${b}.ff.net.0.proj`, c * 8, c);
  lin(o, `${b}.ff.net.2`, c, c * 4);
  for (const n of ['norm1', 'norm2', 'norm3']) norm(o, `${b}.${n}`, c);
  conv(o, `${p}.proj_out`, c, c, 1);
}

/** The encoder half (conv_in, time embedding, down blocks, mid block) shared with the ControlNet. */
function unetEncoder(o: Out, cfg: UNetSpecConfig): number[] {
  const ch = cfg.blockChannels;
  const temb = ch[0] * 4;
  conv(o, 'conv_in', ch[0], cfg.inChannels, 3);
  lin(o, 'time_embedding.linear_1', temb, ch[0]);
  lin(o, 'time_embedding.linear_2', temb, temb);
  const skips = [ch[0]];
  let cin = ch[0];
  ch.forEach((cout, i) => {
    for (let j = 0; j < cfg.layersPerBlock; j++) {
      resnet(o, `down_blocks.${i}.resnets.${j}`, j === 0 ? cin : cout, cout, temb);
      if (cfg.attnDown[i]) transformer(o, `down_blocks.${i}.attentions.${j}`, cout, cfg.crossAttentionDim);
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
  transformer(o, 'mid_block.attentions.0', c, cfg.crossAttentionDim);
  resnet(o, 'mid_block.resnets.1', c, c, temb);
  return skips;
}

export function unetSpecs(cfg: UNetSpecConfig = SD15_UNET_SPEC): TensorSpec[] {
  const o: Out = [];
  const skips = unetEncoder(o, cfg);
  const ch = cfg.blockChannels;
  const temb = ch[0] * 4;
  const rev = [...ch].reverse();
  const attnUp = [...cfg.attnDown].reverse();
  let prev = rev[0];
  rev.forEach((cout, i) => {
    for (let j = 0; j <= cfg.layersPerBlock; j++) {
      const skip = skips.pop()!;
      resnet(o, `up_blocks.${i}.resnets.${j}`, (j === 0 ? prev : cout) + skip, cout, temb);
      if (attnUp[i]) transformer(o, `up_blocks.${i}.attentions.${j}`, cout, cfg.crossAttentionDim);
    }
    if (i < rev.length - 1) conv(o, `up_blocks.${i}.upsamplers.0.conv`, cout, cout, 3);
    prev = cout;
  });
  norm(o, 'conv_norm_out', ch[0]);
  conv(o, 'conv_out', cfg.outChannels, ch[0], 3);
  return o;
}

export function controlNetSpecs(cfg: UNetSpecConfig = SD15_UNET_SPEC, embedChannels: readonly number[] = [16, 32, 96, 256]): TensorSpec[] {
  const o: Out = [];
  const skips = unetEncoder(o, cfg);
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

export interface VaeSpecConfig {
  readonly blockChannels: readonly number[];
  readonly layersPerBlock: number;
  readonly latentChannels: number;
}
export const SD15_VAE_SPEC: VaeSpecConfig = { blockChannels: [128, 256, 512, 512], layersPerBlock: 2, latentChannels: 4 };
export const TINY_VAE_SPEC: VaeSpecConfig = { blockChannels: [8, 16, 16, 16], layersPerBlock: 2, latentChannels: 4 };

function vaeMid(o: Out, p: string, c: number) {
  resnet(o, `${p}.resnets.0`, c, c);
  const a = `${p}.attentions.0`;
  norm(o, `${a}.group_norm`, c);
  for (const n of ['to_q', 'to_k', 'to_v', 'to_out.0']) lin(o, `${a}.${n}`, c, c);
  resnet(o, `${p}.resnets.1`, c, c);
}

export function vaeSpecs(cfg: VaeSpecConfig = SD15_VAE_SPEC): TensorSpec[] {
  const o: Out = [];
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

function clipLayers(o: Out, p: string, cfg: ClipSpecConfig) {
  for (let i = 0; i < cfg.layers; i++) {
    const l = `${p}.encoder.layers.${i}`;
    norm(o, `${l}.layer_norm1`, cfg.hidden);
    for (const n of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) lin(o, `${l}.self_attn.${n}`, cfg.hidden, cfg.hidden);
    norm(o, `${l}.layer_norm2`, cfg.hidden);
    lin(o, `${l}.mlp.fc1`, cfg.intermediate, cfg.hidden);
    lin(o, `${l}.mlp.fc2`, cfg.hidden, cfg.intermediate);
  }
}

export function clipTextSpecs(cfg: ClipSpecConfig = SD15_TEXT_SPEC, vocab = 49408, positions = 77): TensorSpec[] {
  const o: Out = [];
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
  const o: Out = [];
  const tokens = (cfg.image / cfg.patch) ** 2 + 1;
  o.push({ name: 'vision_model.embeddings.class_embedding', shape: [cfg.hidden] });
  o.push({ name: 'vision_model.embeddings.patch_embedding.weight', shape: [cfg.hidden, 3, cfg.patch, cfg.patch] });
  o.push({ name: 'vision_model.embeddings.position_embedding.weight', shape: [tokens, cfg.hidden] });
  norm(o, 'vision_model.pre_layrnorm', cfg.hidden);
  clipLayers(o, 'vision_model', cfg);
  norm(o, 'vision_model.post_layernorm', cfg.hidden);
  lin(o, 'visual_projection', cfg.projection, cfg.hidden, false);
  return o;
}

/** h94 base IP-Adapter (ImageProjModel, 4 tokens) for a UNet of this config. */
export function ipAdapterBaseSpecs(unet: UNetSpecConfig, imageEmbedDim: number, tokens = 4): TensorSpec[] {
  const o: Out = [];
  lin(o, 'image_proj.proj', tokens * unet.crossAttentionDim, imageEmbedDim);
  norm(o, 'image_proj.norm', unet.crossAttentionDim);
  ipAttnSpecs(o, unet);
  return o;
}

/**
 * h94 FaceID adapter: MLPProjModel (face embedding → 4 tokens) plus the LoRA it carries for all 32
 * attention processors (attn1 at even, attn2 at odd indices).
 */
export function ipAdapterFaceIdSpecs(unet: UNetSpecConfig, faceDim = 512, hidden = 1024, tokens = 4, rank = 128): TensorSpec[] {
  const o: Out = [];
  lin(o, 'image_proj.proj.0', hidden, faceDim);
  lin(o, 'image_proj.proj.2', tokens * unet.crossAttentionDim, hidden);
  norm(o, 'image_proj.norm', unet.crossAttentionDim);
  ipAttnSpecs(o, unet);
  attnChannels(unet).forEach((c, l) => {
    for (const [i, kvIn] of [[2 * l, c], [2 * l + 1, unet.crossAttentionDim]] as const) {
      for (const [proj, inp] of [['to_q', c], ['to_k', kvIn], ['to_v', kvIn], ['to_out', c]] as const) {
        o.push({ name: `ip_adapter.${i}.${proj}_lora.down.weight`, shape: [rank, inp] }, { name: `ip_adapter.${i}.${proj}_lora.up.weight`, shape: [c, rank] });
      }
    }
  });
  return o;
}

/** Output channels of every attn2 layer, in attention-processor order (down, up, mid). */
function attnChannels(unet: UNetSpecConfig): number[] {
  const ch = unet.blockChannels;
  const layers: number[] = [];
  ch.forEach((c, i) => { if (unet.attnDown[i]) for (let j = 0; j < unet.layersPerBlock; j++) layers.push(c); });
  const rev = [...ch].reverse();
  const attnUp = [...unet.attnDown].reverse();
  rev.forEach((c, i) => { if (attnUp[i]) for (let j = 0; j <= unet.layersPerBlock; j++) layers.push(c); });
  layers.push(ch[ch.length - 1]);
  return layers;
}

/** to_k_ip / to_v_ip for every attn2 layer in attention-processor order (odd h94 indices). */
function ipAttnSpecs(o: Out, unet: UNetSpecConfig) {
  attnChannels(unet).forEach((c, l) => {
    lin(o, `ip_adapter.${2 * l + 1}.to_k_ip`, c, unet.crossAttentionDim, false);
    lin(o, `ip_adapter.${2 * l + 1}.to_v_ip`, c, unet.crossAttentionDim, false);
  });
}
