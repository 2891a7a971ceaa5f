/**
 * A complete tiny model set in the daemon's own folder layout, so `ipa-bridge selftest` and the
 * end-to-end tests run a real job (real graphs, real onnxruntime sessions) with no downloads:
 * an SD1.5-topology checkpoint (diffusers folder), a CLIP vocabulary, a CLIP image encoder, a base
 * IP-Adapter and an OpenPose ControlNet, all with random weights and tiny widths. Architecture
 * numbers that shapes cannot tell travel in the safetensors metadata (`ipa_bridge.*`).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bytesToUnicode } from '../tokenizer/index.ts';
import * as S from './specs.ts';
import { writeSynthetic } from './write.ts';

export interface TinyModelSet {
  readonly root: string;
  readonly checkpoint: string;
  readonly tokenizer: string;
  readonly imageEncoder: string;
  readonly ipAdapter: string;
  readonly controlnet: string;
}

const HINTS = { 'ipa_bridge.unet.heads': '2', 'ipa_bridge.unet.norm_groups': '8', 'ipa_bridge.vae.norm_groups': '4', 'ipa_bridge.text.heads': '2', 'ipa_bridge.vision.heads': '2' };

/**
 * A CLIP-shaped vocabulary whose merges never fire: every byte is a token (any prompt tokenizes), ids
 * padded to 49408 with BOS/EOS at 49406/49407 like the real one.
 */
export function tinyVocabulary(): { vocab: Record<string, number>; merges: string } {
  const vocab: Record<string, number> = {};
  const chars = bytesToUnicode();
  let id = 0;
  for (const c of chars) vocab[c] = id++;
  for (const c of chars) vocab[`${c}</w>`] = id++;
  while (id < 49406) vocab[`<filler${id}>`] = id++;
  vocab['<|startoftext|>'] = 49406;
  vocab['<|endoftext|>'] = 49407;
  // The loader expects CLIP's 48894 merge rules; these join filler symbols no text produces.
  const rules = Array.from({ length: 48894 }, (_, i) => `<filler${600 + i}> <filler${601 + i}>`);
  return { vocab, merges: `#version: 0.2\n${rules.join('\n')}\n` };
}

/** The tiny vocabulary as a tokenizer folder (vocab.json, merges.txt), created if missing. */
export function writeTinyTokenizer(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const v = tinyVocabulary();
  writeFileSync(join(dir, 'vocab.json'), JSON.stringify(v.vocab));
  writeFileSync(join(dir, 'merges.txt'), v.merges);
}

/** `root/...parts`, created if missing: a folder of the daemon's models layout. */
export function modelsFolder(root: string, ...parts: string[]): string {
  const d = join(root, ...parts);
  mkdirSync(d, { recursive: true });
  return d;
}

/** A 9-channel (inpainting) UNet beside the tiny checkpoint, sharing its VAE and text encoder. */
export function writeTinyInpaintingCheckpoint(root: string): string {
  const ckpt = join(root, 'checkpoints', 'tiny-sd15-inpainting');
  for (const sub of ['unet', 'vae', 'text_encoder']) mkdirSync(join(ckpt, sub), { recursive: true });
  writeFileSync(join(ckpt, 'model_index.json'), JSON.stringify({ _class_name: 'StableDiffusionInpaintPipeline', unet: ['diffusers', 'UNet2DConditionModel'], vae: ['diffusers', 'AutoencoderKL'], text_encoder: ['transformers', 'CLIPTextModel'] }));
  writeSynthetic(join(ckpt, 'unet', 'diffusion_pytorch_model.safetensors'), S.unetSpecs({ ...S.TINY_UNET_SPEC, inChannels: 9 }), { seed: 17, metadata: HINTS });
  writeSynthetic(join(ckpt, 'vae', 'diffusion_pytorch_model.safetensors'), S.vaeSpecs(S.TINY_VAE_SPEC), { seed: 12, metadata: HINTS });
  writeSynthetic(join(ckpt, 'text_encoder', 'model.safetensors'), S.clipTextSpecs(S.TINY_TEXT_SPEC), { seed: 13, metadata: HINTS });
  return ckpt;
}

export async function writeTinyModels(root: string): Promise<TinyModelSet> {
  const dir = (...parts: string[]) => modelsFolder(root, ...parts);
  const ckpt = dir('checkpoints', 'tiny-sd15');
  writeFileSync(join(ckpt, 'model_index.json'), JSON.stringify({ _class_name: 'StableDiffusionPipeline', _diffusers_version: '0.30.3', unet: ['diffusers', 'UNet2DConditionModel'], vae: ['diffusers', 'AutoencoderKL'], text_encoder: ['transformers', 'CLIPTextModel'] }, null, 2));
  writeSynthetic(join(dir('checkpoints', 'tiny-sd15', 'unet'), 'diffusion_pytorch_model.safetensors'), S.unetSpecs(S.TINY_UNET_SPEC), { seed: 11, metadata: HINTS });
  writeSynthetic(join(dir('checkpoints', 'tiny-sd15', 'vae'), 'diffusion_pytorch_model.safetensors'), S.vaeSpecs(S.TINY_VAE_SPEC), { seed: 12, metadata: HINTS });
  writeSynthetic(join(dir('checkpoints', 'tiny-sd15', 'text_encoder'), 'model.safetensors'), S.clipTextSpecs(S.TINY_TEXT_SPEC), { seed: 13, metadata: HINTS });
  const tok = join(root, 'tokenizer');
  writeTinyTokenizer(tok);
  const imageEncoder = join(dir('clip_vision'), 'tiny-clip-vit-h.safetensors');
  writeSynthetic(imageEncoder, S.clipVisionSpecs(S.TINY_VISION_SPEC), { seed: 14, metadata: HINTS });
  const ipAdapter = join(dir('ipadapter'), 'ip-adapter_sd15_tiny.safetensors');
  writeSynthetic(ipAdapter, S.ipAdapterBaseSpecs(S.TINY_UNET_SPEC, S.TINY_VISION_SPEC.projection), { seed: 15, metadata: HINTS });
  const controlnet = join(dir('controlnet'), 'control_v11p_sd15_openpose_tiny.safetensors');
  writeSynthetic(controlnet, S.controlNetSpecs(S.TINY_UNET_SPEC, [8, 8, 16, 16]), { seed: 16, metadata: HINTS });
  return { root, checkpoint: ckpt, tokenizer: tok, imageEncoder, ipAdapter, controlnet };
}
