/**
 * A tiny SDXL model set in the daemon's folder layout, for `ipa-bridge selftest --family sdxl` and
 * the end-to-end tests: an SDXL-topology diffusers pipeline folder (both text encoders, the second
 * with its projection; text_time UNet), a 9-channel inpainting variant, a CLIP image encoder, an h94
 * SDXL base IP-Adapter, an SDXL OpenPose ControlNet (diffusers layout) and a kohya SDXL LoRA
 * (lora_unet_ / lora_te1_ / lora_te2_), random weights, the fixture set's tiny widths. What shapes
 * cannot tell (heads per level, time-id width, norm groups) travels in `ipa_bridge.*` metadata.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as S from './specs.ts';
import { sdxlControlNetSpecs, sdxlUnetSpecs, TINY_SDXL_UNET_SPEC, type SdxlUNetSpecConfig } from './sdxl-specs.ts';
import { tinyVocabulary } from './tiny.ts';
import { writeSynthetic } from './write.ts';

export interface TinySdxlModelSet {
  readonly root: string;
  readonly checkpoint: string;
  readonly inpaintCheckpoint: string;
  readonly tokenizer: string;
  readonly imageEncoder: string;
  readonly ipAdapter: string;
  readonly controlnet: string;
  readonly lora: string;
}

/** CLIP-L and bigG stand-ins: widths 12 + 24 = the UNet's cross-attention width 36; bigG projects to 20 (the pooled width). */
const TEXT_L: S.ClipSpecConfig = { hidden: 12, layers: 2, intermediate: 48 };
const TEXT_G: S.ClipSpecConfig = { hidden: 24, layers: 2, intermediate: 96 };
const POOLED = 20;
const TIME_ID_DIM = 8;

const HINTS: Record<string, string> = {
  'ipa_bridge.unet.heads': '[1,2,4]', 'ipa_bridge.unet.norm_groups': '8', 'ipa_bridge.unet.time_id_dim': String(TIME_ID_DIM),
  'ipa_bridge.vae.norm_groups': '4', 'ipa_bridge.text.heads': '2', 'ipa_bridge.text2.heads': '2', 'ipa_bridge.vision.heads': '2',
};

/** Output channels of every transformer block's attn2, in attention-processor order (down, up, mid): h94 index 2l + 1. */
export function sdxlAttn2Channels(cfg: SdxlUNetSpecConfig): number[] {
  const ch = cfg.blockChannels;
  const out: number[] = [];
  ch.forEach((c, i) => { for (let j = 0; j < cfg.layersPerBlock; j++) for (let t = 0; t < cfg.transformerDepth[i]; t++) out.push(c); });
  const rev = [...ch].reverse();
  const depthUp = [...cfg.transformerDepth].reverse();
  rev.forEach((c, i) => { for (let j = 0; j <= cfg.layersPerBlock; j++) for (let t = 0; t < depthUp[i]; t++) out.push(c); });
  for (let t = 0; t < cfg.transformerDepth[cfg.transformerDepth.length - 1]; t++) out.push(ch[ch.length - 1]);
  return out;
}

/** h94 ip-adapter_sdxl layout: ImageProjModel (4 tokens) + to_k_ip / to_v_ip per attn2. */
export function sdxlIpAdapterBaseSpecs(cfg: SdxlUNetSpecConfig, imageEmbedDim: number, tokens = 4): S.TensorSpec[] {
  const o: S.TensorSpec[] = [
    { name: 'image_proj.proj.weight', shape: [tokens * cfg.crossAttentionDim, imageEmbedDim] },
    { name: 'image_proj.proj.bias', shape: [tokens * cfg.crossAttentionDim], init: 'zeros' },
    { name: 'image_proj.norm.weight', shape: [cfg.crossAttentionDim], init: 'ones' },
    { name: 'image_proj.norm.bias', shape: [cfg.crossAttentionDim], init: 'zeros' },
  ];
  sdxlAttn2Channels(cfg).forEach((c, l) => {
    o.push({ name: `ip_adapter.${2 * l + 1}.to_k_ip.weight`, shape: [c, cfg.crossAttentionDim] }, { name: `ip_adapter.${2 * l + 1}.to_v_ip.weight`, shape: [c, cfg.crossAttentionDim] });
  });
  return o;
}

/**
 * h94 ip-adapter-faceid_sdxl layout: MLPProjModel (face embedding → `tokens` tokens), to_k_ip / to_v_ip
 * per attn2, and the LoRA it carries on every attention processor (attn1 at even, attn2 at odd h94 indices).
 */
export function sdxlIpAdapterFaceIdSpecs(cfg: SdxlUNetSpecConfig, faceDim = 512, hidden = 1024, tokens = 4, rank = 128): S.TensorSpec[] {
  const cross = cfg.crossAttentionDim;
  const o: S.TensorSpec[] = [
    { name: 'image_proj.proj.0.weight', shape: [hidden, faceDim] },
    { name: 'image_proj.proj.0.bias', shape: [hidden], init: 'zeros' },
    { name: 'image_proj.proj.2.weight', shape: [tokens * cross, hidden] },
    { name: 'image_proj.proj.2.bias', shape: [tokens * cross], init: 'zeros' },
    { name: 'image_proj.norm.weight', shape: [cross], init: 'ones' },
    { name: 'image_proj.norm.bias', shape: [cross], init: 'zeros' },
  ];
  sdxlAttn2Channels(cfg).forEach((c, l) => {
    o.push({ name: `ip_adapter.${2 * l + 1}.to_k_ip.weight`, shape: [c, cross] }, { name: `ip_adapter.${2 * l + 1}.to_v_ip.weight`, shape: [c, cross] });
    for (const [i, kvIn] of [[2 * l, c], [2 * l + 1, cross]] as const) {
      for (const [proj, inp] of [['to_q', c], ['to_k', kvIn], ['to_v', kvIn], ['to_out', c]] as const) {
        o.push({ name: `ip_adapter.${i}.${proj}_lora.down.weight`, shape: [rank, inp] }, { name: `ip_adapter.${i}.${proj}_lora.up.weight`, shape: [c, rank] });
      }
    }
  });
  return o;
}

/** A kohya LoRA touching the UNet (diffusers module names) and both text encoders, rank 4. */
export function sdxlLoraSpecs(cfg: SdxlUNetSpecConfig, rank = 4): S.TensorSpec[] {
  const o: S.TensorSpec[] = [];
  const pair = (module: string, out: number, inp: number) => {
    o.push({ name: `${module}.lora_down.weight`, shape: [rank, inp] }, { name: `${module}.lora_up.weight`, shape: [out, rank] }, { name: `${module}.alpha`, shape: [], init: 'ones' });
  };
  const c1 = cfg.blockChannels[1];
  pair('lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k', c1, cfg.crossAttentionDim);
  pair('lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q', c1, c1);
  pair('lora_te1_text_model_encoder_layers_0_self_attn_q_proj', TEXT_L.hidden, TEXT_L.hidden);
  pair('lora_te2_text_model_encoder_layers_0_mlp_fc1', TEXT_G.intermediate, TEXT_G.hidden);
  return o;
}

const textG = (): S.TensorSpec[] => [...S.clipTextSpecs(TEXT_G), { name: 'text_projection.weight', shape: [POOLED, TEXT_G.hidden] }];

/**
 * An SDXL diffusers pipeline folder. `fp16` writes half-precision files under diffusers' variant names
 * (`*.fp16.safetensors`), as the hub's fp16 variants are laid out.
 */
export function writeTinySdxlPipeline(dir: string, opts: { unet?: SdxlUNetSpecConfig; className?: string; fp16?: boolean } = {}): void {
  const unet = opts.unet ?? TINY_SDXL_UNET_SPEC;
  const className = opts.className ?? 'StableDiffusionXLPipeline';
  const variant = opts.fp16 ? '.fp16' : '';
  const dtype = opts.fp16 ? 'F16' : 'F32';
  for (const sub of ['unet', 'vae', 'text_encoder', 'text_encoder_2']) mkdirSync(join(dir, sub), { recursive: true });
  writeFileSync(join(dir, 'model_index.json'), JSON.stringify({
    _class_name: className, _diffusers_version: '0.30.3', force_zeros_for_empty_prompt: true,
    unet: ['diffusers', 'UNet2DConditionModel'], vae: ['diffusers', 'AutoencoderKL'], text_encoder: ['transformers', 'CLIPTextModel'], text_encoder_2: ['transformers', 'CLIPTextModelWithProjection'],
  }, null, 2));
  writeFileSync(join(dir, 'vae', 'config.json'), JSON.stringify({ _class_name: 'AutoencoderKL', scaling_factor: 0.13025, force_upcast: true }, null, 2));
  writeSynthetic(join(dir, 'unet', `diffusion_pytorch_model${variant}.safetensors`), sdxlUnetSpecs(unet), { seed: 21, metadata: HINTS, dtype });
  writeSynthetic(join(dir, 'vae', `diffusion_pytorch_model${variant}.safetensors`), S.vaeSpecs(S.TINY_VAE_SPEC), { seed: 22, metadata: HINTS, dtype });
  writeSynthetic(join(dir, 'text_encoder', `model${variant}.safetensors`), S.clipTextSpecs(TEXT_L), { seed: 23, metadata: HINTS, dtype });
  writeSynthetic(join(dir, 'text_encoder_2', `model${variant}.safetensors`), textG(), { seed: 24, metadata: HINTS, dtype });
}

export async function writeTinySdxlModels(root: string): Promise<TinySdxlModelSet> {
  const dir = (...p: string[]) => {
    const d = join(root, ...p);
    mkdirSync(d, { recursive: true });
    return d;
  };
  const checkpoint = dir('checkpoints', 'tiny-sdxl');
  writeTinySdxlPipeline(checkpoint);
  const inpaintCheckpoint = dir('checkpoints', 'tiny-sdxl-inpainting');
  writeTinySdxlPipeline(inpaintCheckpoint, { unet: { ...TINY_SDXL_UNET_SPEC, inChannels: 9 }, className: 'StableDiffusionXLInpaintPipeline' });
  const tokenizer = dir('tokenizer');
  const v = tinyVocabulary();
  writeFileSync(join(tokenizer, 'vocab.json'), JSON.stringify(v.vocab));
  writeFileSync(join(tokenizer, 'merges.txt'), v.merges);
  const imageEncoder = join(dir('clip_vision'), 'tiny-clip-vit-bigG.safetensors');
  writeSynthetic(imageEncoder, S.clipVisionSpecs(S.TINY_VISION_SPEC), { seed: 25, metadata: HINTS });
  // The file names say SDXL (tiny widths cannot) and the control type, as users' files do.
  const ipAdapter = join(dir('ipadapter'), 'ip-adapter_sdxl_tiny.safetensors');
  writeSynthetic(ipAdapter, sdxlIpAdapterBaseSpecs(TINY_SDXL_UNET_SPEC, S.TINY_VISION_SPEC.projection), { seed: 26, metadata: HINTS });
  const controlnet = join(dir('controlnet'), 'controlnet-openpose-sdxl-tiny.safetensors');
  writeSynthetic(controlnet, sdxlControlNetSpecs(TINY_SDXL_UNET_SPEC, [8, 8, 16, 16]), { seed: 27, metadata: HINTS });
  const lora = join(dir('loras'), 'tiny-sdxl-style.safetensors');
  writeSynthetic(lora, sdxlLoraSpecs(TINY_SDXL_UNET_SPEC), { seed: 28 });
  return { root, checkpoint, inpaintCheckpoint, tokenizer, imageEncoder, ipAdapter, controlnet, lora };
}
