/**
 * The synthetic full-size SD1.5 model set the CPU benchmarks run on: random weights with SD1.5's
 * exact key names and shapes (fp32 like the reference figures in DESIGN.md), laid out as a models
 * folder the daemon's registry understands (diffusers checkpoint folder, ViT-H encoder, base
 * IP-Adapter, OpenPose ControlNet, a CLIP-shaped vocabulary). Generated once (~7.8 GB) into
 * $IPA_BENCH_DIR (default: the user cache folder).
 *
 *   node --import tsx bench/synthetic.ts
 */
import { existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { defaultCacheDir } from '../engine/runtime/session.ts';
import * as S from '../engine/synthetic/specs.ts';
import { writeTinyTokenizer } from '../engine/synthetic/tiny.ts';
import { writeSynthetic } from '../engine/synthetic/write.ts';

export interface SyntheticSet {
  readonly models: string;
  readonly checkpoint: string;
  readonly unet: string;
  readonly vae: string;
  readonly textEncoder: string;
  readonly controlnet: string;
  readonly imageEncoder: string;
  readonly ipAdapter: string;
}

export function benchDir(): string {
  return process.env.IPA_BENCH_DIR ?? join(defaultCacheDir(), 'bench', 'sd15-synthetic');
}

export function ensureSyntheticSd15(log: (s: string) => void = console.error): SyntheticSet {
  const models = join(benchDir(), 'models');
  const checkpoint = join(models, 'checkpoints', 'sd15-synthetic');
  const set: SyntheticSet = {
    models,
    checkpoint,
    unet: join(checkpoint, 'unet', 'diffusion_pytorch_model.safetensors'),
    vae: join(checkpoint, 'vae', 'diffusion_pytorch_model.safetensors'),
    textEncoder: join(checkpoint, 'text_encoder', 'model.safetensors'),
    controlnet: join(models, 'controlnet', 'control_v11p_sd15_openpose-synthetic.safetensors'),
    imageEncoder: join(models, 'clip_vision', 'clip-vit-h-synthetic.safetensors'),
    ipAdapter: join(models, 'ipadapter', 'ip-adapter_sd15-synthetic.safetensors'),
  };
  const make = (path: string, specs: S.TensorSpec[], seed: number, legacyName: string) => {
    if (existsSync(path)) return;
    mkdirSync(dirname(path), { recursive: true });
    const legacy = join(benchDir(), legacyName); // files of the first layout of this script
    if (existsSync(legacy)) return renameSync(legacy, path);
    const t0 = performance.now();
    const bytes = writeSynthetic(path, specs, { seed });
    log(`wrote ${path} (${(bytes / 2 ** 30).toFixed(2)} GiB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  };
  make(set.unet, S.unetSpecs(S.SD15_UNET_SPEC), 1, 'unet.safetensors');
  make(set.controlnet, S.controlNetSpecs(S.SD15_UNET_SPEC), 2, 'controlnet.safetensors');
  make(set.vae, S.vaeSpecs(S.SD15_VAE_SPEC), 3, 'vae.safetensors');
  make(set.textEncoder, S.clipTextSpecs(S.SD15_TEXT_SPEC), 4, 'text_encoder.safetensors');
  make(set.imageEncoder, S.clipVisionSpecs(S.VIT_H_SPEC), 5, 'image_encoder.safetensors');
  make(set.ipAdapter, S.ipAdapterBaseSpecs(S.SD15_UNET_SPEC, S.VIT_H_SPEC.projection), 6, 'ip-adapter_sd15.safetensors');
  const index = join(checkpoint, 'model_index.json');
  if (!existsSync(index)) writeFileSync(index, JSON.stringify({ _class_name: 'StableDiffusionPipeline', unet: ['diffusers', 'UNet2DConditionModel'], vae: ['diffusers', 'AutoencoderKL'], text_encoder: ['transformers', 'CLIPTextModel'] }));
  const tok = join(models, 'tokenizer');
  if (!existsSync(join(tok, 'merges.txt'))) writeTinyTokenizer(tok);
  return set;
}

export function gib(path: string): number {
  return statSync(path).size / 2 ** 30;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(ensureSyntheticSd15(), null, 2));
}
