import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { resolveRoots } from '../../bridge/models/config.ts';
import { HashCache, sha256File } from '../../bridge/models/hash-cache.ts';
import { detectLayout } from '../../bridge/models/layouts.ts';
import { listModels, MissingModelError, ModelRegistry, WrongModelError } from '../../bridge/models/registry.ts';
import { clipVision, ipAdapter, kohyaLora, ldmCheckpoint, lllyasvielControlNet, tokenizerFiles, writeFile, writeOnnx, writeSafetensors } from './make-models.ts';

const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));

/** A ComfyUI install with the usual folders and tiny files. */
function comfyTree(): string {
  const root = tmp('ipa-comfy-');
  const m = join(root, 'models');
  writeSafetensors(join(m, 'checkpoints', 'SD1.5', 'dreamshaper_8.safetensors'), ldmCheckpoint({ crossDim: 768 }));
  writeSafetensors(join(m, 'checkpoints', 'sdxl_base.safetensors'), ldmCheckpoint({ sdxl: true, crossDim: 2048 }));
  writeFile(join(m, 'checkpoints', 'broken.safetensors'), 'not a safetensors file');
  writeFile(join(m, 'checkpoints', 'put_checkpoints_here'), '');
  writeSafetensors(join(m, 'controlnet', 'control_v11p_sd15_openpose.safetensors'), lllyasvielControlNet());
  writeSafetensors(join(m, 'ipadapter', 'ip-adapter_sd15.safetensors'), ipAdapter('base', 16, 1024));
  writeSafetensors(join(m, 'ipadapter', 'ip-adapter-plus_sd15.safetensors'), ipAdapter('plus', 16, 1280));
  writeSafetensors(join(m, 'clip_vision', 'CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors'), clipVision(1280, 1024));
  for (const f of ['det_10g.onnx', 'w600k_r50.onnx', 'genderage.onnx']) writeOnnx(join(m, 'insightface', 'models', 'buffalo_l', f));
  writeSafetensors(join(m, 'loras', 'watercolor.safetensors'), kohyaLora());
  writeFile(join(m, 'upscale_models', 'x.txt'), '');
  writeOnnx(join(root, 'custom_nodes', 'comfyui_controlnet_aux', 'ckpts', 'yzd-v', 'DWPose', 'yolox_l.onnx'));
  tokenizerFiles(join(root, 'comfy', 'sd1_tokenizer'));
  writeFile(join(root, 'output', 'ComfyUI_00001_.png'), 'png');
  return root;
}

/** An A1111 / Forge webui folder with the ControlNet extension. */
function a1111Tree(): string {
  const root = tmp('ipa-a1111-');
  writeSafetensors(join(root, 'models', 'Stable-diffusion', 'v1-5-pruned-emaonly.safetensors'), ldmCheckpoint({ crossDim: 768 }));
  writeSafetensors(join(root, 'models', 'ControlNet', 'control_v11p_sd15_canny.safetensors'), lllyasvielControlNet('control_model.'));
  writeSafetensors(join(root, 'extensions', 'sd-webui-controlnet', 'models', 'control_v11f1p_sd15_depth.safetensors'), lllyasvielControlNet());
  writeSafetensors(join(root, 'extensions', 'sd-webui-controlnet', 'models', 'ip-adapter_sd15_plus.safetensors'), ipAdapter('plus'));
  writeSafetensors(join(root, 'models', 'Lora', 'ip-adapter-faceid_sd15_lora.safetensors'), kohyaLora());
  writeOnnx(join(root, 'models', 'insightface', 'models', 'buffalo_l', 'det_10g.onnx'));
  writeOnnx(join(root, 'extensions', 'sd-webui-controlnet', 'annotator', 'downloads', 'openpose', 'dw-ll_ucoco_384.onnx'));
  writeFile(join(root, 'webui.py'), '');
  return root;
}

/** path -> size:mtime of every file under `dir` (to prove nothing was written). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const st = statSync(p);
        out[relative(dir, p)] = `${st.size}:${st.mtimeMs}`;
      }
    }
  };
  walk(dir);
  return out;
}

test('layout detection: ComfyUI and A1111 installs and models folders, our own layout, flat', () => {
  const comfy = comfyTree();
  const l = detectLayout(comfy);
  assert.equal(l.kind, 'comfyui');
  const dirs = l.dirs.map((d) => relative(comfy, d.path).split('\\').join('/'));
  assert.deepEqual(dirs, ['models/checkpoints', 'models/controlnet', 'models/ipadapter', 'models/clip_vision', 'models/insightface', 'models/loras', 'custom_nodes/comfyui_controlnet_aux/ckpts', 'comfy/sd1_tokenizer']);
  assert.equal(detectLayout(join(comfy, 'models')).kind, 'comfyui');
  const a1111 = a1111Tree();
  const la = detectLayout(a1111);
  assert.equal(la.kind, 'a1111');
  assert.ok(la.dirs.some((d) => d.path.endsWith(join('extensions', 'sd-webui-controlnet', 'models')) && d.folderKind === 'controlnet'));
  const lam = detectLayout(join(a1111, 'models'));
  assert.equal(lam.kind, 'a1111');
  assert.ok(lam.dirs.some((d) => d.path.endsWith(join('sd-webui-controlnet', 'models'))), 'the extension folder beside a webui models folder is found too');
  const own = tmp('ipa-own-');
  writeFile(join(own, 'tokenizer', 'vocab.json'), '{}');
  writeFile(join(own, 'ipadapter', 'x'), '');
  assert.equal(detectLayout(own).kind, 'ipa-bridge');
  assert.equal(detectLayout(tmp('ipa-flat-')).kind, 'flat');
});

test('a ComfyUI tree: every model found with its role; broken files skipped with a reason', () => {
  const comfy = comfyTree();
  const reg = ModelRegistry.scan([comfy]);
  const roles = Object.fromEntries(reg.entries.map((e) => [e.name, e.role]));
  assert.deepEqual(roles, {
    'SD1.5/dreamshaper_8.safetensors': 'checkpoint',
    'sdxl_base.safetensors': 'checkpoint:sdxl',
    'control_v11p_sd15_openpose.safetensors': 'controlnet:pose',
    'ip-adapter-plus_sd15.safetensors': 'ipadapter:plus',
    'ip-adapter_sd15.safetensors': 'ipadapter:base',
    'CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors': 'clip_vision:vit-h',
    'models/buffalo_l/det_10g.onnx': 'insightface:detector',
    'models/buffalo_l/genderage.onnx': 'insightface:auxiliary',
    'models/buffalo_l/w600k_r50.onnx': 'insightface:recognizer',
    'watercolor.safetensors': 'lora',
    'yzd-v/DWPose/yolox_l.onnx': 'dwpose:detector',
    sd1_tokenizer: 'tokenizer',
  });
  assert.deepEqual(reg.scan.skipped.map((s) => relative(comfy, s.path)), [join('models', 'checkpoints', 'broken.safetensors')]);
  assert.match(reg.scan.skipped[0].reason, /broken\.safetensors: header length/);
  assert.equal(reg.find('checkpoint').name, 'SD1.5/dreamshaper_8.safetensors', 'a plain checkpoint request prefers SD1.5');
  assert.equal(reg.find('checkpoint:sdxl').name, 'sdxl_base.safetensors');
  assert.equal(reg.find('checkpoint', { name: 'sdxl_base.safetensors' }).role, 'checkpoint:sdxl', 'a named SDXL checkpoint fills the checkpoint role');
  assert.equal(reg.find('ipadapter:plus').name, 'ip-adapter-plus_sd15.safetensors');
  assert.equal(reg.find('clip_vision:vit-h').role, 'clip_vision:vit-h');
  assert.equal(reg.find('controlnet:pose').detection.format, 'lllyasviel');
  assert.equal(reg.find('tokenizer').isDirectory, true);
  assert.equal(reg.find('ipadapter', { name: 'ip-adapter_sd15.safetensors' }).role, 'ipadapter:base');
  // The handshake marks what a job that names no model gets: one checkpoint across both families, one per role.
  const defaults = reg.summaries().filter((m) => m.default).map((m) => `${m.kind} ${m.name}`);
  assert.ok(defaults.includes('checkpoint SD1.5/dreamshaper_8.safetensors'), defaults.join('; '));
  assert.ok(!defaults.some((d) => d.startsWith('checkpoint:sdxl ')), 'the SDXL checkpoint is not the default while an SD1.5 one is installed');
  assert.ok(defaults.includes('ipadapter:plus ip-adapter-plus_sd15.safetensors'));
  assert.equal(new Set(reg.summaries().filter((m) => m.default).map((m) => (m.kind.startsWith('checkpoint') ? 'checkpoint' : m.kind))).size, defaults.length, 'one per role');
});

test('a missing model names itself and the command that fetches it', () => {
  const reg = ModelRegistry.scan([comfyTree()]);
  assert.throws(() => reg.find('controlnet:depth'), (e: Error) => e instanceof MissingModelError && e.code === 'model-missing' && /No Depth ControlNet for SD1\.5 \(controlnet:depth\) found in .*Fetch it with: npx ipa-bridge models pull sd15-style$/.test(e.message));
  assert.throws(() => reg.find('ipadapter:faceid-plusv2'), (e: Error) => e instanceof MissingModelError && e.command === 'npx ipa-bridge models pull faceid');
  assert.throws(() => reg.find('dwpose:pose'), /npx ipa-bridge models pull annotators/);
  assert.throws(() => reg.find('checkpoint', { name: 'ip-adapter_sd15.safetensors' }), (e: Error) => e instanceof WrongModelError && /"ip-adapter_sd15\.safetensors" is a ipadapter:base model \(IP-Adapter \(base, ip-adapter_sd15\)\); this needs checkpoint \(Stable Diffusion 1\.5 checkpoint\)/.test(e.message));
  assert.throws(() => reg.find('ipadapter:sdxl-base'), /No IP-Adapter SDXL .*\(ipadapter:sdxl-base\) found/);
  // Only an SDXL refiner: the error says what was found and why it is unusable.
  const xl = tmp('ipa-xl-');
  writeSafetensors(join(xl, 'checkpoints', 'sdxl_refiner.safetensors'), ldmCheckpoint({ sdxlRefiner: true }));
  writeFile(join(xl, 'tokenizer', 'x'), '');
  assert.throws(() => ModelRegistry.scan([xl]).find('checkpoint'), /found but unusable: sdxl_refiner\.safetensors: an SDXL refiner checkpoint/);
  assert.throws(() => ModelRegistry.scan([xl]).find('checkpoint', { name: 'sdxl_refiner.safetensors' }), /cannot be used: an SDXL refiner checkpoint/);
});

test('an A1111 tree: ControlNets from models/ControlNet and the extension folder, LoRAs, insightface, DWPose', () => {
  const root = a1111Tree();
  const reg = ModelRegistry.scan([root]);
  const roles = reg.entries.map((e) => e.role).sort();
  assert.deepEqual(roles, ['checkpoint', 'controlnet:canny', 'controlnet:depth', 'dwpose:pose', 'insightface:detector', 'ipadapter:plus', 'lora:faceid']);
  assert.equal(reg.find('controlnet:depth').layout, 'a1111');
  assert.equal(reg.find('lora:faceid').name, 'ip-adapter-faceid_sd15_lora.safetensors');
});

test('listing never writes into model folders; hashes are cached by path, size and mtime', async () => {
  const comfy = comfyTree();
  const before = snapshot(comfy);
  const cacheDir = tmp('ipa-cache-');
  const first = new HashCache(cacheDir);
  const models = await listModels([comfy], { cache: first });
  assert.deepEqual(snapshot(comfy), before, 'the model folders are untouched');
  assert.ok(first.misses > 0 && first.hits === 0);
  const ip = models.find((m) => m.name === 'ip-adapter_sd15.safetensors');
  assert.ok(ip);
  assert.equal(ip.kind, 'ipadapter:base');
  assert.equal(ip.sha256, await sha256File(ip.path));
  assert.deepEqual(models.filter((m) => m.name === 'sdxl_base.safetensors').map((m) => [m.kind, m.base]), [['checkpoint:sdxl', 'sdxl']], 'SDXL checkpoints are listed with their family');
  // A second process: everything from the cache, nothing re-read.
  const second = new HashCache(cacheDir);
  await listModels([comfy], { cache: second });
  assert.equal(second.misses, 0);
  // Every file is answered from the cache; a model folder (the tokenizer) counts once, not per file.
  assert.ok(second.hits > 0 && second.hits <= first.misses);
  // A changed file (new mtime) is hashed again.
  const t = new Date(Date.now() + 5000);
  utimesSync(ip.path, t, t);
  const third = new HashCache(cacheDir);
  await listModels([comfy], { cache: third });
  assert.equal(third.misses, 1);
  const cachedOnly = await listModels([comfy], { hash: 'cached', cache: new HashCache(tmp('ipa-empty-cache-')) });
  assert.ok(cachedOnly.every((m) => m.sha256 === undefined), "'cached' mode never hashes");
});

test('roots: --models replaces the config file roots; the config file lists several; the download folder is scanned', () => {
  const cfg = tmp('ipa-cfg-');
  const comfy = comfyTree();
  const a1111 = a1111Tree();
  const env = { IPA_BRIDGE_CONFIG_DIR: cfg, IPA_BRIDGE_MODELS_DIR: join(cfg, 'dl'), HF_HOME: join(cfg, 'hf'), XDG_DATA_HOME: join(cfg, 'data') };
  assert.deepEqual(resolveRoots([], env).roots, [join(cfg, 'dl')]);
  writeFile(join(cfg, 'models.json'), JSON.stringify({ roots: [comfy, a1111] }));
  const r = resolveRoots([], env);
  assert.deepEqual(r.roots, [comfy, a1111, join(cfg, 'dl')]);
  assert.equal(r.downloadDir, join(cfg, 'dl'));
  assert.deepEqual(resolveRoots([a1111], env).roots, [a1111]);
  writeFile(join(cfg, 'models.json'), '{"roots": "not-a-list"}');
  assert.throws(() => resolveRoots([], env), /models\.json: "roots" must be an array of folder paths/);
});

test('SDXL: the ViT-bigG encoder where users keep it, SDXL adapters and ControlNets by family, the image encoder each adapter needs', () => {
  const root = tmp('ipa-sdxl-tree-');
  const m = join(root, 'models');
  writeSafetensors(join(m, 'checkpoints', 'sd_xl_base_1.0.safetensors'), ldmCheckpoint({ sdxl: true, crossDim: 2048 }));
  writeSafetensors(join(m, 'checkpoints', 'dreamshaper_8.safetensors'), ldmCheckpoint({ crossDim: 768 }));
  writeSafetensors(join(m, 'clip_vision', 'CLIP-ViT-bigG-14-laion2B-39B-b160k.safetensors'), clipVision(1664, 1280));
  writeSafetensors(join(m, 'clip_vision', 'CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors'), clipVision(1280, 1024));
  // h94's repository layout: sdxl_models/image_encoder/{config.json, model.safetensors}
  writeFile(join(root, 'IP-Adapter', 'sdxl_models', 'image_encoder', 'config.json'), '{}');
  writeSafetensors(join(root, 'IP-Adapter', 'sdxl_models', 'image_encoder', 'model.safetensors'), clipVision(1664, 1280));
  writeSafetensors(join(m, 'ipadapter', 'ip-adapter_sdxl.safetensors'), ipAdapter('base', 2048, 1280));
  writeSafetensors(join(m, 'ipadapter', 'ip-adapter_sdxl_vit-h.safetensors'), ipAdapter('base', 2048, 1024));
  writeSafetensors(join(m, 'ipadapter', 'ip-adapter-plus_sdxl_vit-h.safetensors'), ipAdapter('plus', 2048, 1280));
  writeSafetensors(join(m, 'ipadapter', 'ip-adapter_sd15.safetensors'), ipAdapter('base', 768, 1024));
  writeSafetensors(join(m, 'controlnet', 'controlnet-openpose-sdxl-1.0', 'diffusion_pytorch_model.fp16.safetensors'), { 'controlnet_cond_embedding.conv_in.weight': [16, 3, 3, 3], 'controlnet_down_blocks.0.weight': [8, 8, 1, 1], 'add_embedding.linear_1.weight': [32, 16], 'down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight': [8, 2048] });
  writeFile(join(m, 'controlnet', 'controlnet-openpose-sdxl-1.0', 'config.json'), '{}');
  writeSafetensors(join(m, 'controlnet', 'controlnet-union-sdxl-1.0.safetensors'), { 'controlnet_cond_embedding.conv_in.weight': [16, 3, 3, 3], 'task_embedding': [8, 32] });
  writeSafetensors(join(m, 'vae', 'sdxl-vae-fp16-fix.safetensors'), { 'decoder.up_blocks.0.resnets.0.conv1.weight': [8, 8, 3, 3], 'post_quant_conv.weight': [4, 4, 1, 1] });
  writeSafetensors(join(m, 'vae', 'vae-ft-mse-840000.safetensors'), { 'decoder.up.0.block.0.conv1.weight': [8, 8, 3, 3], 'post_quant_conv.weight': [4, 4, 1, 1] });
  const reg = ModelRegistry.scan([m, join(root, 'IP-Adapter')]);
  const role = (name: string) => reg.entries.find((e) => e.name === name || e.path.endsWith(name))?.role;
  assert.equal(role('CLIP-ViT-bigG-14-laion2B-39B-b160k.safetensors'), 'clip_vision:vit-bigG');
  assert.equal(role('image_encoder'), 'clip_vision:vit-bigG');
  assert.equal(reg.find('checkpoint:sdxl').name, 'sd_xl_base_1.0.safetensors');
  assert.equal(reg.find('ipadapter:sdxl-base').name, 'ip-adapter_sdxl.safetensors');
  assert.equal(reg.find('ipadapter:base').name, 'ip-adapter_sd15.safetensors', 'an SD1.5 job never gets an SDXL adapter');
  const need = (name: string) => reg.entries.find((e) => e.name === name)?.detection.details.clipVision;
  assert.deepEqual([need('ip-adapter_sdxl.safetensors'), need('ip-adapter_sdxl_vit-h.safetensors'), need('ip-adapter-plus_sdxl_vit-h.safetensors')], ['vit-bigG', 'vit-h', 'vit-h']);
  assert.equal(reg.find('controlnet:sdxl-pose').name, 'controlnet-openpose-sdxl-1.0');
  assert.throws(() => reg.find('controlnet', { name: 'controlnet-union-sdxl-1.0.safetensors' }), /cannot be used: a ControlNet Union model .*not supported yet/);
  assert.equal(reg.find('vae:sdxl-fp16-fix').name, 'sdxl-vae-fp16-fix.safetensors');
  assert.equal(role('vae-ft-mse-840000.safetensors'), 'vae');
});
