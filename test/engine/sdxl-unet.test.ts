/**
 * The SDXL UNet side: the structure read off SDXL base's exact key names and shapes, InstantStyle's
 * layer sets chosen from that structure, SDXL LoRAs (kohya LDM module names, kohya diffusers names,
 * peft) merged exactly as a hand merge, the LDM module names as the inverse of the name table, and a
 * denoising step of a tiny SDXL UNet with its added inputs (text_embeds, time_ids, ip_mask).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildUNet, SDXL_UNET, transformerHeads } from '../../engine/graphs/unet.ts';
import { hasSdxlLayerSets, ipLayerScales } from '../../engine/graphs/ip-adapter.ts';
import { denoise } from '../../engine/pipeline/denoise.ts';
import { packIpInputs } from '../../engine/pipeline/ip-inputs.ts';
import { binarizeMask } from '../../engine/pipeline/ip-masks.ts';
import { createSession } from '../../engine/runtime/session.ts';
import { createScheduler } from '../../engine/schedulers/index.ts';
import { sdxlUnetSpecs, SDXL_UNET_SPEC, TINY_SDXL_UNET_SPEC } from '../../engine/synthetic/sdxl-specs.ts';
import * as S from '../../engine/synthetic/specs.ts';
import { writeSynthetic } from '../../engine/synthetic/write.ts';
import { fileLoraDeltas, kohyaTargets, ldmUnetModule, mergeDeltas } from '../../engine/weights/lora.ts';
import { ldmUnetMap } from '../../engine/weights/names.ts';
import { encodeSafetensors } from '../../engine/weights/safetensors.ts';
import { readWeightFloat32, safetensorsSource, type WeightSource } from '../../engine/weights/source.ts';
import { attn2Queries, attn2Resolutions, inspectUNet } from '../../engine/weights/unet-structure.ts';

const dir = mkdtempSync(join(tmpdir(), 'ipa-sdxl-unet-'));

/** Shapes without data: enough for inspectUNet (it reads shapes only). */
function shapeSource(specs: readonly S.TensorSpec[]): WeightSource {
  const m = new Map(specs.map((s) => [s.name, s]));
  return {
    description: 'spec shapes',
    keys: () => [...m.keys()],
    get: (key) => {
      const s = m.get(key);
      return s && { key, dtype: 'F32', shape: s.shape, data: { bytes: new Uint8Array(0) }, origin: key };
    },
  };
}

const tinyFile = join(dir, 'tiny-sdxl-unet.safetensors');
writeSynthetic(tinyFile, sdxlUnetSpecs(TINY_SDXL_UNET_SPEC), { seed: 11 });
const tiny = safetensorsSource(tinyFile);

test('SDXL base UNet structure from its key names and shapes: depths 2/10, 70 attn2 layers in h94 order, text_time, 9 skips', () => {
  const s = inspectUNet(shapeSource(sdxlUnetSpecs(SDXL_UNET_SPEC)));
  assert.equal(s.attn2.length, 70);
  assert.deepEqual(s.textTime, { inputWidth: 2816 });
  assert.equal(s.crossAttentionDim, 2048);
  assert.deepEqual(Object.fromEntries(s.transformers), {
    'down_blocks.1.attentions.0': 2, 'down_blocks.1.attentions.1': 2, 'down_blocks.2.attentions.0': 10, 'down_blocks.2.attentions.1': 10,
    'up_blocks.0.attentions.0': 10, 'up_blocks.0.attentions.1': 10, 'up_blocks.0.attentions.2': 10,
    'up_blocks.1.attentions.0': 2, 'up_blocks.1.attentions.1': 2, 'up_blocks.1.attentions.2': 2, 'mid_block.attentions.0': 10,
  });
  // attn_processors order: down, up, mid; h94 index = 2l + 1
  assert.equal(s.attn2[0].path, 'down_blocks.1.attentions.0.transformer_blocks.0.attn2');
  assert.equal(s.attn2[24].path, 'up_blocks.0.attentions.0.transformer_blocks.0.attn2');
  assert.equal(s.attn2[69].path, 'mid_block.attentions.0.transformer_blocks.9.attn2');
  assert.equal(s.attn2[69].index, 139);
  assert.equal(s.skips.length, 9);
  // the attn2 layers run at 1/2 and 1/4 of the latent: 64² and 32² queries at 1024² (latent 128²)
  assert.deepEqual(attn2Resolutions(s), [1, 2]);
  assert.deepEqual(attn2Resolutions(s).map((k) => attn2Queries({ downsamples: k }, 128, 128)), [4096, 1024]);
  // heads: channels / 64 by default (5, 10, 20), or the config's per-level list (up blocks reversed)
  assert.equal(transformerHeads(SDXL_UNET, s, 'down_blocks.1.attentions.0', 640), 10);
  assert.equal(transformerHeads(SDXL_UNET, s, 'mid_block.attentions.0', 1280), 20);
  const listed = { ...SDXL_UNET, heads: [5, 10, 20] };
  assert.equal(transformerHeads(listed, s, 'up_blocks.0.attentions.1', 1280), 20);
  assert.equal(transformerHeads(listed, s, 'up_blocks.1.attentions.1', 640), 10);
  assert.throws(() => transformerHeads({ ...SDXL_UNET, heads: [5, 10] }, s, 'mid_block.attentions.0', 1280), /2 levels; the UNet has 3 down blocks/);
});

test('SDXL presets are InstantStyle\'s layer sets (style = up_blocks.0.attentions.1, composition = down_blocks.2.attentions.1); SD1.5 keeps its own', () => {
  const layers = inspectUNet(shapeSource(sdxlUnetSpecs(SDXL_UNET_SPEC))).attn2;
  assert.ok(hasSdxlLayerSets(layers));
  assert.ok(!hasSdxlLayerSets(inspectUNet(shapeSource(S.unetSpecs(S.SD15_UNET_SPEC))).attn2));
  const on = (scales: number[]) => [...new Set(layers.filter((_, l) => scales[l] !== 0).map((a) => a.transformer))];
  assert.deepEqual(on(ipLayerScales(layers, 'style', 0.8)), ['up_blocks.0.attentions.1']);
  assert.deepEqual(on(ipLayerScales(layers, 'composition', 0.8)), ['down_blocks.2.attentions.1']);
  assert.equal(on(ipLayerScales(layers, 'strong-style', 1)).length, 10);
  assert.ok(!on(ipLayerScales(layers, 'strong-style', 1)).includes('down_blocks.2.attentions.1'));
  const sc = ipLayerScales(layers, 'style-and-composition', 0.9, 0.3);
  assert.deepEqual(new Set(sc), new Set([0, 0.9, 0.3]));
  layers.forEach((a, l) => assert.equal(sc[l], a.transformer === 'up_blocks.0.attentions.1' ? 0.9 : a.transformer === 'down_blocks.2.attentions.1' ? 0.3 : 0));
  assert.ok(ipLayerScales(layers, 'reference', 0.6).every((v) => v === 0.6));
  // every transformer block of the chosen attention: 10 layers each
  assert.equal(ipLayerScales(layers, 'style', 1).filter((v) => v === 1).length, 10);
});

test('ldmUnetModule is the inverse of the name table\'s UNet map (SDXL and SD1.5 layouts)', () => {
  for (const specs of [sdxlUnetSpecs(TINY_SDXL_UNET_SPEC), S.unetSpecs(S.TINY_UNET_SPEC)]) {
    const structure = inspectUNet(shapeSource(specs));
    const shapes = new Map<string, readonly number[]>();
    const expected = new Map<string, string>();
    for (const s of specs) {
      const [module, param] = [s.name.slice(0, s.name.lastIndexOf('.')), s.name.slice(s.name.lastIndexOf('.') + 1)];
      const ldm = ldmUnetModule(module, structure);
      assert.ok(ldm, `no LDM name for ${module}`);
      const key = `model.diffusion_model.${ldm}.${param}`;
      shapes.set(key, s.shape);
      expected.set(s.name, key);
    }
    const map = ldmUnetMap(shapes);
    assert.equal(map.size, expected.size);
    for (const [canonical, key] of expected) assert.equal(map.get(canonical)?.source, key, canonical);
  }
});

/** W + scale * up @ down, by the definition (independent of lora.ts's loop order). */
function handMerge(w: Float32Array, up: Float32Array, down: Float32Array, rank: number, scale: number): Float32Array {
  const out = up.length / rank;
  const inner = down.length / rank;
  const r = Float32Array.from(w);
  for (let o = 0; o < out; o++) for (let i = 0; i < inner; i++) {
    let acc = 0;
    for (let k = 0; k < rank; k++) acc += up[o * rank + k] * down[k * inner + i];
    r[o * inner + i] += scale * acc;
  }
  return r;
}

test('SDXL LoRAs merge into the SDXL UNet exactly as a hand merge: kohya LDM names, kohya diffusers names, peft', () => {
  let seed = 1;
  const rand = (n: number) => Float32Array.from({ length: n }, () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 0.2);
  const shapeOf = (k: string) => tiny.get(k)!.shape;
  const modules: Array<{ lora: string; target: string; kind: 'kohya' | 'peft'; alpha?: number }> = [
    { lora: 'lora_unet_input_blocks_4_1_transformer_blocks_1_attn2_to_k', target: 'down_blocks.1.attentions.0.transformer_blocks.1.attn2.to_k.weight', kind: 'kohya', alpha: 2 },
    { lora: 'lora_unet_output_blocks_2_1_proj_in', target: 'up_blocks.0.attentions.2.proj_in.weight', kind: 'kohya' },
    { lora: 'lora_unet_middle_block_1_transformer_blocks_0_ff_net_2', target: 'mid_block.attentions.0.transformer_blocks.0.ff.net.2.weight', kind: 'kohya', alpha: 1 },
    { lora: 'lora_unet_label_emb_0_0', target: 'add_embedding.linear_1.weight', kind: 'kohya' },
    { lora: 'lora_unet_input_blocks_7_0_in_layers_2', target: 'down_blocks.2.resnets.0.conv1.weight', kind: 'kohya', alpha: 3 },
    { lora: 'lora_unet_output_blocks_5_2_conv', target: 'up_blocks.1.upsamplers.0.conv.weight', kind: 'kohya' },
    { lora: 'lora_unet_down_blocks_2_attentions_1_transformer_blocks_0_attn1_to_out_0', target: 'down_blocks.2.attentions.1.transformer_blocks.0.attn1.to_out.0.weight', kind: 'kohya' },
    { lora: 'unet.up_blocks.1.attentions.0.transformer_blocks.1.attn1.to_v', target: 'up_blocks.1.attentions.0.transformer_blocks.1.attn1.to_v.weight', kind: 'peft' },
  ];
  const rank = 4;
  const file: Parameters<typeof encodeSafetensors>[0] = {};
  const parts = modules.map((m) => {
    const [out, ...rest] = shapeOf(m.target);
    const inner = rest.reduce((a, b) => a * b, 1);
    const down = rand(rank * inner);
    const up = rand(out * rank);
    // conv LoRAs (LoCon): down [r, in, kh, kw], up [out, r, 1, 1]
    const downShape = rest.length === 3 ? [rank, ...rest] : [rank, inner];
    const upShape = rest.length === 3 ? [out, rank, 1, 1] : [out, rank];
    if (m.kind === 'kohya') {
      file[`${m.lora}.lora_down.weight`] = { dtype: 'F32', shape: downShape, data: down };
      file[`${m.lora}.lora_up.weight`] = { dtype: 'F32', shape: upShape, data: up };
      if (m.alpha !== undefined) file[`${m.lora}.alpha`] = { dtype: 'F32', shape: [], data: Float32Array.of(m.alpha) };
    } else {
      file[`${m.lora}.lora_A.weight`] = { dtype: 'F32', shape: downShape, data: down };
      file[`${m.lora}.lora_B.weight`] = { dtype: 'F32', shape: upShape, data: up };
    }
    return { ...m, down, up };
  });
  const loraPath = join(dir, 'sdxl-lora.safetensors');
  writeFileSync(loraPath, encodeSafetensors(file));
  const strength = 0.7;
  const deltas = fileLoraDeltas(safetensorsSource(loraPath), 'lora_unet_', kohyaTargets(tiny), strength);
  assert.deepEqual(deltas.map((d) => d.target).sort(), modules.map((m) => m.target).sort(), 'every LoRA module found its SDXL weight');
  const merged = mergeDeltas(tiny, deltas, 'merged');
  for (const p of parts) {
    const expect = handMerge(readWeightFloat32(tiny.get(p.target)!), p.up, p.down, rank, (strength * (p.alpha ?? rank)) / rank);
    const got = readWeightFloat32(merged.get(p.target)!);
    let max = 0;
    for (let i = 0; i < got.length; i++) max = Math.max(max, Math.abs(got[i] - expect[i]));
    assert.ok(max < 1e-6, `${p.lora}: max |merged - hand merge| ${max}`);
  }
  assert.equal(merged.get('conv_in.weight'), undefined, 'untouched weights stay in the file');
});

test('a tiny SDXL UNet denoises through denoise(): text_embeds / time_ids for both CFG halves, zero residuals, a masked slot', async () => {
  const structure = inspectUNet(tiny);
  const unet = await createSession(buildUNet(tiny, { flavour: 'cpu', control: true, ip: true, structure, config: { heads: [1, 2, 4], normGroups: 8, timeIdDim: 8 } }), { provider: 'cpu', cacheDir: join(dir, 'cache') });
  const [h, w] = [6, 10]; // non-square, not a power of two
  let seed = 5;
  const rand = (n: number) => Float32Array.from({ length: n }, () => ((seed = (seed * 48271) % 2147483647) / 2147483647 - 0.5) * 2);
  const T = 3;
  const slot = { tokens: T, k: structure.attn2.map((a) => rand(2 * T * a.channels)), v: structure.attn2.map((a) => rand(2 * T * a.channels)) };
  const mask = binarizeMask({ width: 8 * w, height: 8 * h, data: Uint8Array.from({ length: 64 * h * w }, (_, i) => ((i % (8 * w)) < 4 * w ? 255 : 0)) }, 8 * w, 8 * h);
  const base = {
    unet, structure, latents: rand(4 * h * w), latentShape: [1, 4, h, w] as const,
    cond: rand(77 * 36), uncond: rand(77 * 36), textShape: [77, 36] as const, guidance: 5, startIndex: 0, controls: [],
  };
  const run = (extra: object) => denoise({ ...base, scheduler: createScheduler('euler', 2), ...extra });
  const textTime = { cond: rand(20), uncond: rand(20), timeIds: Float32Array.of(8 * h, 8 * w, 0, 0, 8 * h, 8 * w) };
  const ip = (masks?: Array<typeof mask | undefined>) => ({ packed: packIpInputs([slot], structure.attn2, 2), layerScales: [structure.attn2.map(() => 0.8)], ranges: [{ start: 0, end: 1 }], ...(masks ? { masks } : {}) });
  const plain = await run({ textTime });
  assert.equal(plain.length, 4 * h * w);
  assert.ok(plain.every(Number.isFinite));
  const withIp = await run({ textTime, ip: ip() });
  const masked = await run({ textTime, ip: ip([mask]) });
  assert.notDeepEqual(withIp, plain);
  assert.notDeepEqual(masked, withIp);
  assert.deepEqual(await run({ textTime, ip: ip([undefined]) }), withIp, 'an unmasked slot is all ones');
  await assert.rejects(run({}), /needs pooled text embeddings and time ids/);
  await unet.release();
});

test('a ControlNet-Union file is refused by name, not built as a plain ControlNet', async () => {
  const { buildControlNet, unionControlNetKeys } = await import('../../engine/graphs/controlnet.ts');
  const { sdxlControlNetSpecs } = await import('../../engine/synthetic/sdxl-specs.ts');
  const specs = [...sdxlControlNetSpecs(TINY_SDXL_UNET_SPEC, [8, 8, 16, 16]), { name: 'task_embedding', shape: [8, 16] }, { name: 'transformer_layes.0.attn.in_proj_weight', shape: [48, 16] }];
  const file = join(dir, 'controlnet-union-sdxl.safetensors');
  writeSynthetic(file, specs, { seed: 2 });
  assert.deepEqual(unionControlNetKeys(safetensorsSource(file)), ['task_embedding', 'transformer_layes']);
  assert.throws(() => buildControlNet(safetensorsSource(file), { flavour: 'cpu' }), /controlnet-union-sdxl\.safetensors: a ControlNet-Union model .* is not supported yet/);
});
