import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { detectPath, looksLikeOnnx, requireSupported, UnsupportedModelError, type Detection } from '../../engine/weights/detect.ts';
import { clipVision, diffusersUnet, ipAdapter, kohyaLora, lllyasvielControlNet, ldmCheckpoint, peftLora, tokenizerFiles, writeFile, writeOnnx, writeSafetensors } from './make-models.ts';

const dir = mkdtempSync(join(tmpdir(), 'ipa-detect-'));
const fixtures = join(import.meta.dirname, '..', '..', '..', 'shared', 'fixtures');

function pick(d: Detection) {
  return { kind: d.kind, variant: d.variant, supported: d.supported };
}

/** Every weight file under ../shared/fixtures and what it is. */
const FIXTURE_EXPECTED: Record<string, Partial<Detection>> = {
  'clip-text/text_encoder.safetensors': { kind: 'text_encoder', format: 'hf-clip', supported: true },
  'clip-vision/image_encoder.safetensors': { kind: 'clip_vision', format: 'hf-clip', supported: true },
  'controlnet/controlnet.safetensors': { kind: 'controlnet', format: 'diffusers', base: 'sd15', supported: true },
  'ip-proj-base/ip-adapter-base.safetensors': { kind: 'ipadapter', variant: 'base', format: 'h94', base: 'sd15', supported: true },
  'ip-proj-plus/ip-adapter-plus.safetensors': { kind: 'ipadapter', variant: 'plus', supported: true },
  'ip-proj-faceid/ip-adapter-faceid.safetensors': { kind: 'ipadapter', variant: 'faceid', supported: true },
  'ip-proj-faceid-plusv2/ip-adapter-faceid-plusv2.safetensors': { kind: 'ipadapter', variant: 'faceid-plusv2', evidence: 'keys+name', supported: true },
  'unet-basic/unet.safetensors': { kind: 'unet', format: 'diffusers', base: 'sd15', supported: true },
  'vae-decoder/vae.safetensors': { kind: 'vae', format: 'diffusers', supported: true },
  'weights-ldm/model.safetensors': { kind: 'checkpoint', variant: 'sd15', format: 'ldm', base: 'sd15', supported: true },
  'weights-ldm/controlnet_ldm.safetensors': { kind: 'controlnet', format: 'lllyasviel', base: 'sd15', supported: true },
  'weights-ldm/controlnet_ldm_control_model.safetensors': { kind: 'controlnet', format: 'lllyasviel', supported: true },
};

test('every fixture weight file is classified correctly, with sizes read off the shapes', { skip: !existsSync(fixtures) && 'no ../shared/fixtures' }, () => {
  const found = readdirSync(fixtures, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) => readdirSync(join(fixtures, d.name)).filter((f) => f.endsWith('.safetensors') && f !== 'io.safetensors').map((f) => `${d.name}/${f}`));
  assert.deepEqual(found.sort(), Object.keys(FIXTURE_EXPECTED).sort(), 'the fixture set changed: classify the new files');
  for (const [rel, expected] of Object.entries(FIXTURE_EXPECTED)) {
    const d = detectPath(join(fixtures, rel));
    for (const [k, v] of Object.entries(expected)) assert.deepEqual(d[k as keyof Detection], v, `${rel}: ${k}`);
  }
  const plus = detectPath(join(fixtures, 'ip-proj-plus/ip-adapter-plus.safetensors'));
  assert.deepEqual([plus.details.tokens, plus.details.crossAttentionDim, plus.details.ipLayers, plus.details.imageEmbedDim], [16, 16, 16, 32]);
  const base = detectPath(join(fixtures, 'ip-proj-base/ip-adapter-base.safetensors'));
  assert.deepEqual([base.details.tokens, base.details.imageEmbedDim], [4, 24]);
  const faceid = detectPath(join(fixtures, 'ip-proj-faceid/ip-adapter-faceid.safetensors'));
  assert.deepEqual([faceid.details.tokens, faceid.details.faceEmbedDim, faceid.details.hasLora, faceid.details.loraRank], [4, 64, true, 4]);
  const vision = detectPath(join(fixtures, 'clip-vision/image_encoder.safetensors'));
  assert.deepEqual([vision.details.hiddenSize, vision.details.projectionDim, vision.details.layers, vision.details.patchSize], [32, 24, 3, 14]);
  const cn = detectPath(join(fixtures, 'weights-ldm/controlnet_ldm_control_model.safetensors'));
  assert.deepEqual([cn.details.residuals, cn.details.prefix], [12, 'control_model.']);
  const ckpt = detectPath(join(fixtures, 'weights-ldm/model.safetensors'));
  assert.deepEqual(ckpt.details.components, ['unet', 'vae', 'text_encoder']);
  assert.equal(detectPath(join(fixtures, 'tokenizer')).kind, 'tokenizer');
});

test('SDXL checkpoints (both embedders) and SD1.5 inpainting checkpoints are used; the SDXL refiner, SD2 and instruct checkpoints are refused with a clear reason', () => {
  const sdxl = detectPath(writeSafetensors(join(dir, 'sdxl.safetensors'), ldmCheckpoint({ sdxl: true, crossDim: 2048 })));
  assert.deepEqual([sdxl.kind, sdxl.base, sdxl.supported, sdxl.details.components], ['checkpoint', 'sdxl', true, ['unet', 'vae', 'text_encoder', 'text_encoder_2']]);
  const xlInpaint = detectPath(writeSafetensors(join(dir, 'sdxl-inpaint.safetensors'), ldmCheckpoint({ sdxl: true, crossDim: 2048, inChannels: 9 })));
  assert.deepEqual([xlInpaint.base, xlInpaint.supported, xlInpaint.details.inChannels], ['sdxl', true, 9]);
  const refiner = detectPath(writeSafetensors(join(dir, 'sdxl-refiner.safetensors'), ldmCheckpoint({ sdxlRefiner: true, crossDim: 1280 })));
  assert.deepEqual([refiner.base, refiner.supported], ['sdxl', false]);
  assert.match(refiner.reason ?? '', /SDXL refiner/);
  assert.throws(() => requireSupported(refiner, 'sdxl-refiner.safetensors'), (e: Error) => e instanceof UnsupportedModelError && e.message.startsWith('sdxl-refiner.safetensors: an SDXL refiner'));
  const sd2 = detectPath(writeSafetensors(join(dir, 'sd2.safetensors'), ldmCheckpoint({ sd2: true, crossDim: 1024 })));
  assert.equal(sd2.base, 'sd2');
  assert.match(sd2.reason ?? '', /Stable Diffusion 2\.x/);
  const inpaint = detectPath(writeSafetensors(join(dir, 'inpaint.safetensors'), ldmCheckpoint({ inChannels: 9 })));
  assert.deepEqual([inpaint.base, inpaint.supported, inpaint.details.inChannels], ['sd15', true, 9]);
  const instruct = detectPath(writeSafetensors(join(dir, 'instruct.safetensors'), ldmCheckpoint({ inChannels: 8 })));
  assert.deepEqual([instruct.supported, instruct.details.inChannels], [false, 8]);
  assert.match(instruct.reason ?? '', /8 input channels/);
  const real = detectPath(writeSafetensors(join(dir, 'sd15.safetensors'), ldmCheckpoint({ crossDim: 768 })));
  assert.deepEqual([real.base, real.supported, real.details.crossAttentionDim], ['sd15', true, 768]);
  const xlUnet = detectPath(writeSafetensors(join(dir, 'xl-unet.safetensors'), diffusersUnet(2048, true)));
  assert.deepEqual([xlUnet.kind, xlUnet.base, xlUnet.supported], ['unet', 'sdxl', true]);
});

test('IP-Adapter variants from the projection keys; image encoder from the input width', () => {
  const at = (name: string, shapes: Parameters<typeof writeSafetensors>[1]) => detectPath(writeSafetensors(join(dir, name), shapes));
  const base = at('ip-adapter_sd15.safetensors', ipAdapter('base', 768, 1024));
  assert.deepEqual([base.variant, base.details.tokens, base.details.clipVision, base.details.crossAttentionDim], ['base', 4, 'vit-h', 768]);
  const vitG = at('ip-adapter_sd15_vit-G.safetensors', ipAdapter('base', 768, 1280));
  assert.equal(vitG.details.clipVision, 'vit-bigG');
  const plus = at('ip-adapter-plus_sd15.safetensors', ipAdapter('plus', 768, 1280));
  assert.deepEqual([plus.variant, plus.details.tokens, plus.details.clipVision, plus.details.face], ['plus', 16, 'vit-h', undefined]);
  const plusFace = at('ip-adapter-plus-face_sd15.safetensors', ipAdapter('plus', 768, 1280));
  assert.deepEqual([plusFace.variant, plusFace.details.face], ['plus', true]);
  assert.deepEqual(pick(at('ip-adapter-faceid_sd15.safetensors', ipAdapter('faceid'))), { kind: 'ipadapter', variant: 'faceid', supported: true });
  const portrait = at('ip-adapter-faceid-portrait_sd15.safetensors', ipAdapter('portrait'));
  assert.deepEqual([portrait.variant, portrait.details.tokens, portrait.details.hasLora], ['portrait', 16, false]);
  // FaceID-Plus v1 and v2 share tensors: the name decides, v1 by default.
  const v1 = at('ip-adapter-faceid-plus_sd15.safetensors', ipAdapter('faceid-plus', 16, 1280));
  assert.deepEqual([v1.variant, v1.evidence, v1.details.clipVision], ['faceid-plus', 'keys+name', 'vit-h']);
  assert.equal(at('my-faceid-plus-v2.safetensors', ipAdapter('faceid-plus')).variant, 'faceid-plusv2');
  const full = at('ip-adapter-full-face_sd15.safetensors', ipAdapter('full-face'));
  assert.deepEqual([full.variant, full.supported], ['full-face', false]);
  const xl = at('ip-adapter_sdxl.safetensors', ipAdapter('base', 2048, 1280));
  assert.deepEqual([xl.base, xl.supported, xl.details.clipVision], ['sdxl', true, 'vit-bigG']);
  const xlH = at('ip-adapter_sdxl_vit-h.safetensors', ipAdapter('base', 2048, 1024));
  assert.deepEqual([xlH.base, xlH.details.clipVision], ['sdxl', 'vit-h']);
  const xlPlus = at('ip-adapter-plus_sdxl_vit-h.safetensors', ipAdapter('plus', 2048, 1280));
  assert.deepEqual([xlPlus.base, xlPlus.variant, xlPlus.details.clipVision], ['sdxl', 'plus', 'vit-h']);
  const xlPlusFace = at('ip-adapter-plus-face_sdxl_vit-h.safetensors', ipAdapter('plus', 2048, 1280));
  assert.deepEqual([xlPlusFace.base, xlPlusFace.variant, xlPlusFace.details.face], ['sdxl', 'plus', true]);
  assert.deepEqual([at('ip-adapter-faceid_sdxl.safetensors', ipAdapter('faceid', 2048)).base], ['sdxl']);
  const xlV2 = at('ip-adapter-faceid-plusv2_sdxl.safetensors', ipAdapter('faceid-plus', 2048, 1280));
  assert.deepEqual([xlV2.base, xlV2.variant], ['sdxl', 'faceid-plusv2']);
  assert.deepEqual([at('ip-adapter-faceid-portrait_sdxl.safetensors', ipAdapter('portrait', 2048)).variant], ['portrait']);
  // Tiny test widths cannot tell the family: the name does.
  assert.equal(at('tiny-ip-adapter_sdxl.safetensors', ipAdapter('base', 36, 20)).base, 'sdxl');
  assert.equal(at('tiny-ip-adapter.safetensors', ipAdapter('base', 36, 20)).base, 'sd15');
});

test('CLIP vision ViT-H vs ViT-bigG by hidden size; ControlNets with and without prefix; LoRA formats', () => {
  const h = detectPath(writeSafetensors(join(dir, 'clip-h.safetensors'), clipVision(1280, 1024)));
  assert.deepEqual([h.kind, h.variant, h.details.hiddenSize, h.details.projectionDim], ['clip_vision', 'vit-h', 1280, 1024]);
  const g = detectPath(writeSafetensors(join(dir, 'clip-g.safetensors'), clipVision(1664, 1280)));
  assert.equal(g.variant, 'vit-bigG');
  const cn = detectPath(writeSafetensors(join(dir, 'control_v11p_sd15_openpose.safetensors'), lllyasvielControlNet('control_model.')));
  assert.deepEqual([cn.kind, cn.variant, cn.format, cn.details.residuals, cn.evidence], ['controlnet', 'pose', 'lllyasviel', 12, 'keys+name']);
  assert.equal(detectPath(writeSafetensors(join(dir, 'cn_canny.safetensors'), lllyasvielControlNet())).variant, 'canny');
  const kohya = detectPath(writeSafetensors(join(dir, 'ip-adapter-faceid-plusv2_sd15_lora.safetensors'), kohyaLora(768)));
  assert.deepEqual([kohya.kind, kohya.format, kohya.variant, kohya.base, kohya.details.loraRank], ['lora', 'kohya', 'faceid-plusv2', 'sd15', 4]);
  const peft = detectPath(writeSafetensors(join(dir, 'style.safetensors'), peftLora(2048)));
  assert.deepEqual([peft.kind, peft.format, peft.base, peft.supported], ['lora', 'peft', 'sdxl', true]);
  const union = detectPath(writeSafetensors(join(dir, 'controlnet-union-sdxl-1.0.safetensors'), { 'controlnet_cond_embedding.conv_in.weight': [4, 3, 3, 3], 'task_embedding': [8, 32], 'control_add_embedding.linear_1.weight': [32, 8] }));
  assert.deepEqual([union.kind, union.variant, union.supported], ['controlnet', 'union', false]);
  assert.throws(() => requireSupported(union, 'controlnet-union-sdxl-1.0.safetensors'), /^UnsupportedModelError: controlnet-union-sdxl-1\.0\.safetensors: a ControlNet Union model .* not supported yet/);
  const loha = detectPath(writeSafetensors(join(dir, 'loha.safetensors'), { 'lora_unet_x.hada_w1_a': [4, 4], 'lora_unet_x.alpha': [] }));
  assert.equal(loha.supported, false);
});

test('ONNX files by name after a protobuf check; pickles never unpickled', () => {
  const det = detectPath(writeOnnx(join(dir, 'buffalo_l', 'det_10g.onnx')));
  assert.deepEqual([det.kind, det.variant, det.evidence], ['insightface', 'detector', 'name']);
  assert.equal(detectPath(writeOnnx(join(dir, 'buffalo_l', 'w600k_r50.onnx'))).variant, 'recognizer');
  assert.deepEqual(pick(detectPath(writeOnnx(join(dir, 'yolox_l.onnx')))), { kind: 'dwpose', variant: 'detector', supported: true });
  assert.equal(detectPath(writeOnnx(join(dir, 'dw-ll_ucoco_384.onnx'))).variant, 'pose');
  assert.equal(detectPath(writeOnnx(join(dir, 'depth_anything_v2_small.onnx'))).kind, 'depth');
  assert.equal(detectPath(writeOnnx(join(dir, 'genderage.onnx'))).supported, false);
  assert.throws(() => detectPath(writeFile(join(dir, 'html', 'det_10g.onnx'), '<!DOCTYPE html><html>rate limited</html>')), /det_10g\.onnx: .*not an ONNX model/);
  assert.throws(() => detectPath(writeOnnx(join(dir, 'mystery.onnx'))), /mystery\.onnx: unknown ONNX model/);
  assert.equal(looksLikeOnnx(Buffer.from('PK\x03\x04junk')), false);
  const bin = detectPath(writeFile(join(dir, 'ip-adapter-faceid-plusv2_sd15.bin'), Buffer.from('PK\x03\x04rest-of-a-torch-zip')));
  assert.deepEqual([bin.kind, bin.variant, bin.format, bin.evidence], ['ipadapter', 'faceid-plusv2', 'pickle', 'name']);
  assert.throws(() => detectPath(writeFile(join(dir, 'model.ckpt'), Buffer.from('PK\x03\x04'))), /cannot be classified without unpickling/);
});

test('unsupported or unknown files get an error naming the file and why', () => {
  const unknown = writeSafetensors(join(dir, 'mystery.safetensors'), { 'foo.bar.weight': [2, 2], 'baz.bias': [2] });
  assert.throws(() => detectPath(unknown), (e: Error) => e instanceof UnsupportedModelError && e.message.includes('mystery.safetensors') && /not a model ipa-bridge recognises.*foo\.bar\.weight/.test(e.message));
  const garbage = writeFile(join(dir, 'truncated.safetensors'), Buffer.from('definitely not safetensors'));
  assert.throws(() => detectPath(garbage), /truncated\.safetensors: header length/);
  assert.throws(() => detectPath(writeFile(join(dir, 'notes.txt'), 'hi')), /notes\.txt: unknown file type/);
  const flux = detectPath(writeSafetensors(join(dir, 'flux.safetensors'), { 'double_blocks.0.img_attn.qkv.weight': [4, 4] }));
  assert.match(flux.reason ?? '', /FLUX/);
});

test('folders: diffusers pipelines, component folders and tokenizers', () => {
  const pipe = join(dir, 'my-sd15-diffusers');
  writeFile(join(pipe, 'model_index.json'), JSON.stringify({ _class_name: 'StableDiffusionPipeline' }));
  writeSafetensors(join(pipe, 'unet', 'diffusion_pytorch_model.safetensors'), diffusersUnet(768));
  writeFile(join(pipe, 'vae', 'config.json'), '{}');
  const d = detectPath(pipe);
  assert.deepEqual([d.kind, d.base, d.supported, d.details.crossAttentionDim], ['diffusers', 'sd15', true, 768]);
  const xl = join(dir, 'xl-diffusers');
  writeFile(join(xl, 'model_index.json'), JSON.stringify({ _class_name: 'StableDiffusionXLPipeline' }));
  writeSafetensors(join(xl, 'unet', 'diffusion_pytorch_model.safetensors'), diffusersUnet(2048, true));
  assert.match(detectPath(xl).reason ?? '', /SDXL pipeline folder without text_encoder/);
  for (const sub of ['text_encoder', 'text_encoder_2', 'tokenizer', 'tokenizer_2']) writeFile(join(xl, sub, 'config.json'), '{}');
  const xlOk = detectPath(xl);
  assert.deepEqual([xlOk.base, xlOk.supported, xlOk.details.components], ['sdxl', true, ['unet', 'text_encoder', 'text_encoder_2', 'tokenizer', 'tokenizer_2']]);
  const enc = join(dir, 'image_encoder');
  writeFile(join(enc, 'config.json'), '{}');
  writeSafetensors(join(enc, 'model.safetensors'), clipVision(1280));
  assert.equal(detectPath(enc).variant, 'vit-h');
  const tok = join(dir, 'tok');
  tokenizerFiles(tok);
  assert.equal(detectPath(tok).kind, 'tokenizer');
  assert.throws(() => detectPath(join(dir, 'buffalo_l')), /buffalo_l: folder is not a diffusers model/);
  assert.equal(basename(pipe), 'my-sd15-diffusers');
});
