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
import { sdxlControlNetSpecs, sdxlIpAdapterBaseSpecs, sdxlUnetSpecs, TINY_SDXL_UNET_SPEC, type SdxlUNetSpecConfig } from './sdxl-specs.ts';
import { modelsFolder, writeTinyTokenizer } from './tiny.ts';
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
  const dir = (...parts: string[]) => modelsFolder(root, ...parts);
  const checkpoint = dir('checkpoints', 'tiny-sdxl');
  writeTinySdxlPipeline(checkpoint);
  const inpaintCheckpoint = dir('checkpoints', 'tiny-sdxl-inpainting');
  writeTinySdxlPipeline(inpaintCheckpoint, { unet: { ...TINY_SDXL_UNET_SPEC, inChannels: 9 }, className: 'StableDiffusionXLInpaintPipeline' });
  const tokenizer = join(root, 'tokenizer');
  writeTinyTokenizer(tokenizer);
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
