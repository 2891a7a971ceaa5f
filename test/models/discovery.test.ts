/**
 * Finding what users already have (issue 16): the Hugging Face hub cache (HF_HOME / HF_HUB_CACHE),
 * the tokenizer inside diffusers folders, InvokeAI and Fooocus folders; and the tokenizer never being
 * the hurdle (a missing one points at the 2 MB `models pull tokenizer`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, symlinkSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, dirname } from 'node:path';
import { resolveRoots } from '../../bridge/models/config.ts';
import { missingFeatures } from '../../bridge/models/features.ts';
import { detectLayout } from '../../bridge/models/layouts.ts';
import { MissingModelError, ModelRegistry } from '../../bridge/models/registry.ts';
import { clipVision, diffusersUnet, ipAdapter, kohyaLora, ldmCheckpoint, lllyasvielControlNet, tokenizerFiles, writeFile, writeOnnx, writeSafetensors, type Shapes } from './make-models.ts';

const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));
const C1 = '1'.repeat(40);
const C2 = '2'.repeat(40);

/** A file in the hub cache as huggingface_hub stores it: a blob, and a relative symlink in the snapshot. */
function hubFile(cache: string, repo: string, commit: string, path: string, write: (p: string) => void): void {
  const repoDir = join(cache, `models--${repo.replace('/', '--')}`);
  const blob = join(repoDir, 'blobs', `${repo.replace('/', '_')}_${path.replace(/\//g, '_')}_${commit.slice(0, 4)}`);
  mkdirSync(dirname(blob), { recursive: true });
  write(blob);
  const pointer = join(repoDir, 'snapshots', commit, ...path.split('/'));
  mkdirSync(dirname(pointer), { recursive: true });
  symlinkSync(relative(dirname(pointer), blob), pointer);
}

const st = (shapes: Shapes) => (p: string) => void writeSafetensors(p, shapes);
const text = (s: string) => (p: string) => void writeFile(p, s);

function hubCache(home: string): string {
  const cache = join(home, 'hub');
  hubFile(cache, 'h94/IP-Adapter', C1, 'models/ip-adapter_sd15.safetensors', st(ipAdapter('base', 16, 1024)));
  hubFile(cache, 'h94/IP-Adapter', C1, 'models/image_encoder/config.json', text('{"architectures": ["CLIPVisionModelWithProjection"]}'));
  hubFile(cache, 'h94/IP-Adapter', C1, 'models/image_encoder/model.safetensors', st(clipVision(1280, 1024)));
  hubFile(cache, 'openai/clip-vit-large-patch14', C1, 'vocab.json', text('{"a</w>": 0, "<|startoftext|>": 1}'));
  hubFile(cache, 'openai/clip-vit-large-patch14', C1, 'merges.txt', text('#version: 0.2\n'));
  // The file name says nothing; the repo says "openpose".
  hubFile(cache, 'lllyasviel/control_v11p_sd15_openpose', C1, 'diffusion_pytorch_model.fp16.safetensors', st(lllyasvielControlNet()));
  hubFile(cache, 'onnx-community/depth-anything-v2-small', C1, 'onnx/model.onnx', (p) => void writeOnnx(p));
  // Two snapshots of the SD1.5 repo: refs/main names the second.
  hubFile(cache, 'stable-diffusion-v1-5/stable-diffusion-v1-5', C1, 'v1-5-pruned-emaonly.safetensors', st(ldmCheckpoint({ sdxl: true, crossDim: 2048 })));
  hubFile(cache, 'stable-diffusion-v1-5/stable-diffusion-v1-5', C2, 'v1-5-pruned-emaonly.safetensors', st(ldmCheckpoint({ crossDim: 768 })));
  writeFile(join(cache, 'models--stable-diffusion-v1-5--stable-diffusion-v1-5', 'refs', 'main'), C2);
  mkdirSync(join(cache, 'datasets--someone--data', 'snapshots', C1), { recursive: true });
  return cache;
}

test('the Hugging Face hub cache (HF_HOME) is scanned by default: every role found, named by repo', () => {
  const home = tmp('ipa-hf-');
  const cache = hubCache(join(home, 'hf'));
  const env = { IPA_BRIDGE_CONFIG_DIR: join(home, 'cfg'), XDG_DATA_HOME: join(home, 'data'), HF_HOME: join(home, 'hf') };
  const where = resolveRoots([], env);
  assert.equal(where.downloadDir, cache, 'models pull writes into the same cache');
  assert.ok(where.roots.includes(cache));
  const reg = ModelRegistry.scan(where.roots);
  assert.equal(detectLayout(cache).kind, 'hf-cache');
  const found = (role: string) => reg.find(role).name;
  assert.equal(found('ipadapter:base'), 'h94/IP-Adapter/models/ip-adapter_sd15.safetensors');
  assert.equal(found('clip_vision:vit-h'), 'h94/IP-Adapter/models/image_encoder');
  assert.equal(found('tokenizer'), 'openai/clip-vit-large-patch14');
  assert.equal(found('controlnet:pose'), 'lllyasviel/control_v11p_sd15_openpose/diffusion_pytorch_model.fp16.safetensors');
  assert.equal(found('depth'), 'onnx-community/depth-anything-v2-small/onnx/model.onnx');
  const ckpt = reg.find('checkpoint');
  assert.equal(ckpt.name, 'stable-diffusion-v1-5/stable-diffusion-v1-5/v1-5-pruned-emaonly.safetensors');
  assert.ok(ckpt.path.includes(C2), 'the snapshot refs/main names, not the older one');
  assert.ok(!reg.entries.some((e) => e.path.includes('datasets--')), 'datasets are not models');
  // HF_HUB_CACHE alone works as well, and a folder holding hub/ (HF_HOME) can be given with --models.
  assert.ok(resolveRoots([], { ...env, HF_HOME: undefined, HF_HUB_CACHE: cache }).roots.includes(cache));
  assert.equal(detectLayout(join(home, 'hf')).kind, 'hf-cache');
});

test('a diffusers checkpoint folder brings its tokenizer: text prompts need nothing else', () => {
  const comfy = tmp('ipa-comfy-diffusers-');
  const ckpt = join(comfy, 'models', 'diffusers', 'my-sd15');
  writeFile(join(ckpt, 'model_index.json'), JSON.stringify({ _class_name: 'StableDiffusionPipeline' }));
  writeSafetensors(join(ckpt, 'unet', 'diffusion_pytorch_model.safetensors'), diffusersUnet(768));
  mkdirSync(join(ckpt, 'vae'), { recursive: true });
  mkdirSync(join(ckpt, 'text_encoder'), { recursive: true });
  tokenizerFiles(join(ckpt, 'tokenizer'));
  writeFile(join(comfy, 'models', 'checkpoints', 'put_checkpoints_here'), '');
  const reg = ModelRegistry.scan([comfy]);
  assert.equal(reg.find('checkpoint').name, 'my-sd15');
  assert.equal(reg.find('tokenizer').name, 'my-sd15/tokenizer');
  assert.ok(!missingFeatures(reg.summaries()).some((m) => m.feature === 'text to image'));
});

test('a ComfyUI models folder without a tokenizer points at the 2 MB `models pull tokenizer`, not the 6.8 GB preset', () => {
  const m = tmp('ipa-comfy-models-');
  writeSafetensors(join(m, 'checkpoints', 'dreamshaper_8.safetensors'), ldmCheckpoint({ crossDim: 768 }));
  writeFile(join(m, 'upscale_models', 'x.txt'), '');
  const reg = ModelRegistry.scan([m]);
  assert.throws(() => reg.find('tokenizer'), (e: Error) => e instanceof MissingModelError && /Fetch it with: npx ipa-bridge models pull tokenizer$/.test(e.message));
  const missing = missingFeatures(reg.summaries());
  assert.deepEqual(missing.find((f) => f.feature === 'text to image'), { feature: 'text to image', lacks: ['CLIP tokenizer'], roles: ['tokenizer'], command: 'npx ipa-bridge models pull tokenizer' });
});

test('an SDXL-only install is not told to fetch SD1.5 models for what its SDXL models serve', () => {
  const missing = missingFeatures([
    { kind: 'checkpoint:sdxl' }, { kind: 'tokenizer' }, { kind: 'ipadapter:sdxl-base' }, { kind: 'clip_vision:vit-bigG' }, { kind: 'controlnet:sdxl-pose' },
  ]).map((m) => m.feature);
  for (const served of ['text to image', 'image prompts', 'pose control']) assert.ok(!missing.includes(served), `${served}: ${missing.join(', ')}`);
  assert.ok(missing.includes('canny control'), 'what no installed model serves is still listed');
});

test('InvokeAI: the root (invokeai.yaml) and its models folder, models/<base>/<type>/<name>', () => {
  const root = tmp('ipa-invoke-');
  writeFile(join(root, 'invokeai.yaml'), 'schema_version: 4.0.2\n');
  writeSafetensors(join(root, 'models', 'sd-1', 'main', 'dreamshaper_8.safetensors'), ldmCheckpoint({ crossDim: 768 }));
  writeSafetensors(join(root, 'models', 'sd-1', 'controlnet', 'control_v11p_sd15_canny', 'diffusion_pytorch_model.safetensors'), lllyasvielControlNet());
  writeFile(join(root, 'models', 'sd-1', 'controlnet', 'control_v11p_sd15_canny', 'config.json'), '{}');
  writeSafetensors(join(root, 'models', 'any', 'clip_vision', 'ip_adapter_sd_image_encoder', 'model.safetensors'), clipVision(1280, 1024));
  writeFile(join(root, 'models', 'any', 'clip_vision', 'ip_adapter_sd_image_encoder', 'config.json'), '{}');
  writeSafetensors(join(root, 'models', 'sd-1', 'lora', 'watercolor.safetensors'), kohyaLora());
  mkdirSync(join(root, 'models', 'core'), { recursive: true });
  for (const dir of [root, join(root, 'models')]) {
    assert.equal(detectLayout(dir).kind, 'invokeai', dir);
    const reg = ModelRegistry.scan([dir]);
    assert.equal(reg.find('checkpoint').name, 'sd-1/main/dreamshaper_8.safetensors');
    assert.equal(reg.find('controlnet:canny').name, 'sd-1/controlnet/control_v11p_sd15_canny');
    assert.equal(reg.find('clip_vision:vit-h').name, 'any/clip_vision/ip_adapter_sd_image_encoder');
    assert.equal(reg.find('lora').name, 'sd-1/lora/watercolor.safetensors');
  }
});

test('Fooocus: the install or its models folder, plus the folders config.txt names', () => {
  const root = tmp('ipa-fooocus-');
  writeFile(join(root, 'entry_with_update.py'), '');
  writeSafetensors(join(root, 'models', 'checkpoints', 'realisticVision.safetensors'), ldmCheckpoint({ crossDim: 768 }));
  writeSafetensors(join(root, 'models', 'clip_vision', 'clip_vision_vit_h.safetensors'), clipVision(1280, 1024));
  mkdirSync(join(root, 'models', 'prompt_expansion', 'fooocus_expansion'), { recursive: true });
  mkdirSync(join(root, 'models', 'upscale_models'), { recursive: true });
  const elsewhere = tmp('ipa-fooocus-loras-');
  writeSafetensors(join(elsewhere, 'watercolor.safetensors'), kohyaLora());
  writeFile(join(root, 'config.txt'), JSON.stringify({ path_checkpoints: ['models/checkpoints'], path_loras: [elsewhere], path_controlnet: 'models/controlnet' }));
  assert.equal(detectLayout(root).kind, 'fooocus');
  assert.equal(detectLayout(join(root, 'models')).kind, 'fooocus', 'its models folder (not mistaken for ComfyUI)');
  const reg = ModelRegistry.scan([root]);
  assert.equal(reg.find('checkpoint').name, 'realisticVision.safetensors');
  assert.equal(reg.find('clip_vision:vit-h').name, 'clip_vision_vit_h.safetensors');
  assert.equal(reg.find('lora').name, 'watercolor.safetensors', 'path_loras from config.txt');
});

test('refs/main missing: the newest snapshot is used', () => {
  const home = tmp('ipa-hf-norefs-');
  const cache = join(home, 'hub');
  hubFile(cache, 'h94/IP-Adapter', C1, 'models/ip-adapter_sd15.safetensors', st(ipAdapter('base', 16, 1024)));
  hubFile(cache, 'h94/IP-Adapter', C2, 'models/ip-adapter-plus_sd15.safetensors', st(ipAdapter('plus', 16, 1280)));
  const old = new Date(Date.now() - 3600_000);
  utimesSync(join(cache, 'models--h94--IP-Adapter', 'snapshots', C1), old, old);
  const reg = ModelRegistry.scan([cache]);
  assert.deepEqual(reg.entries.map((e) => e.role), ['ipadapter:plus']);
});
