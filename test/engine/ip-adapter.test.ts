/**
 * IP-Adapter: variant detection from keys/shapes, failure paths, the key/value graph, FaceID-Plus
 * shortcut semantics, the CUDA flavour, and the per-layer scale presets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maxDiff, runGraph } from '../helpers/graph.ts';
import * as ort from 'onnxruntime-node';
import { memorySource, type WeightSource } from '../../engine/weights/source.ts';
import type { Dtype } from '../../engine/weights/safetensors.ts';
import { buildIpKvGraph, buildIpProjectionGraph, describeIpAdapterSource as detectIpAdapter, ipLayerScales } from '../../engine/graphs/ip-adapter.ts';
import { adapterMismatch, type IpAdapterFileKind as IpAdapterVariant } from '../../engine/weights/ip-adapter.ts';
import { attentionProcessors } from '../../engine/weights/lora.ts';
import { UNET_IO } from '../../engine/weights/unet-structure.ts';
import { sd15Structure } from '../helpers/unet-structure.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuiltGraph } from '../../engine/onnx/builder.ts';
import { rng } from '../helpers/rng.ts';

type T = { dtype: Dtype; shape: readonly number[]; bytes: Uint8Array };

const cacheDir = mkdtempSync(join(tmpdir(), 'ipa-bridge-ip-test-'));
process.on('exit', () => rmSync(cacheDir, { recursive: true, force: true }));


const run = (built: BuiltGraph, feeds: Record<string, ort.Tensor>) => runGraph(built, feeds, cacheDir);

const D = 8; // cross_attention_dim
const WIDTHS = [8, 8, 16, 16, 24, 24, 24, 24, 24, 16, 16, 16, 8, 8, 8, 24]; // per attn2 layer, h94 order
/** The SD1.5-topology UNet these adapters are for: block widths 8, 16, 24, 24 (= WIDTHS), context D. */
const UNET = sd15Structure({ blockChannels: [8, 16, 24, 24], crossAttentionDim: D });

function add(m: Map<string, T>, r: () => number, key: string, shape: number[], ones = false): void {
  const n = shape.reduce((a, b) => a * b, 1);
  const f = Float32Array.from({ length: n }, () => (ones ? 1 + 0.2 * r() : r()));
  m.set(key, { dtype: 'F32', shape, bytes: new Uint8Array(f.buffer) });
}

function perceiver(m: Map<string, T>, r: () => number, p: string, depth: number, dim: number, inner: number): void {
  for (let i = 0; i < depth; i++) {
    add(m, r, `${p}.layers.${i}.0.norm1.weight`, [dim], true);
    add(m, r, `${p}.layers.${i}.0.norm1.bias`, [dim]);
    add(m, r, `${p}.layers.${i}.0.norm2.weight`, [dim], true);
    add(m, r, `${p}.layers.${i}.0.norm2.bias`, [dim]);
    add(m, r, `${p}.layers.${i}.0.to_q.weight`, [inner, dim]);
    add(m, r, `${p}.layers.${i}.0.to_kv.weight`, [2 * inner, dim]);
    add(m, r, `${p}.layers.${i}.0.to_out.weight`, [dim, inner]);
    add(m, r, `${p}.layers.${i}.1.0.weight`, [dim], true);
    add(m, r, `${p}.layers.${i}.1.0.bias`, [dim]);
    add(m, r, `${p}.layers.${i}.1.1.weight`, [dim * 4, dim]);
    add(m, r, `${p}.layers.${i}.1.3.weight`, [dim, dim * 4]);
  }
}

/** A tiny h94-layout adapter of the given kind (CLIP width 12, id width 10). */
function tinyAdapter(variant: IpAdapterVariant, opts: { tokens?: number; depth?: number; prefix?: string; indices?: number[] } = {}): WeightSource {
  const r = rng(variant.length * 31 + (opts.tokens ?? 0));
  const m = new Map<string, T>();
  const C = 12;
  const ID = 10;
  const faceMlp = (tokens: number): void => {
    add(m, r, 'image_proj.proj.0.weight', [2 * ID, ID]);
    add(m, r, 'image_proj.proj.0.bias', [2 * ID]);
    add(m, r, 'image_proj.proj.2.weight', [tokens * D, 2 * ID]);
    add(m, r, 'image_proj.proj.2.bias', [tokens * D]);
    add(m, r, 'image_proj.norm.weight', [D], true);
    add(m, r, 'image_proj.norm.bias', [D]);
  };
  switch (variant) {
    case 'base': {
      const T = opts.tokens ?? 4;
      add(m, r, 'image_proj.proj.weight', [T * D, C]);
      add(m, r, 'image_proj.proj.bias', [T * D]);
      add(m, r, 'image_proj.norm.weight', [D], true);
      add(m, r, 'image_proj.norm.bias', [D]);
      break;
    }
    case 'plus': {
      const dim = 16;
      add(m, r, 'image_proj.latents', [1, opts.tokens ?? 16, dim]);
      add(m, r, 'image_proj.proj_in.weight', [dim, C]);
      add(m, r, 'image_proj.proj_in.bias', [dim]);
      add(m, r, 'image_proj.proj_out.weight', [D, dim]);
      add(m, r, 'image_proj.proj_out.bias', [D]);
      add(m, r, 'image_proj.norm_out.weight', [D], true);
      add(m, r, 'image_proj.norm_out.bias', [D]);
      perceiver(m, r, 'image_proj', opts.depth ?? 3, dim, 16);
      break;
    }
    case 'full-face':
      add(m, r, 'image_proj.proj.0.weight', [C, C]);
      add(m, r, 'image_proj.proj.0.bias', [C]);
      add(m, r, 'image_proj.proj.2.weight', [D, C]);
      add(m, r, 'image_proj.proj.2.bias', [D]);
      add(m, r, 'image_proj.proj.3.weight', [D], true);
      add(m, r, 'image_proj.proj.3.bias', [D]);
      break;
    case 'faceid':
    case 'portrait':
      faceMlp(opts.tokens ?? (variant === 'faceid' ? 4 : 16));
      break;
    case 'faceid-plus':
    case 'faceid-plusv2':
      faceMlp(4);
      add(m, r, 'image_proj.perceiver_resampler.proj_in.weight', [D, C]);
      add(m, r, 'image_proj.perceiver_resampler.proj_in.bias', [D]);
      add(m, r, 'image_proj.perceiver_resampler.proj_out.weight', [D, D]);
      add(m, r, 'image_proj.perceiver_resampler.proj_out.bias', [D]);
      add(m, r, 'image_proj.perceiver_resampler.norm_out.weight', [D], true);
      add(m, r, 'image_proj.perceiver_resampler.norm_out.bias', [D]);
      perceiver(m, r, 'image_proj.perceiver_resampler', opts.depth ?? 2, D, D);
      break;
  }
  const proc = opts.prefix ?? 'ip_adapter';
  const idx = opts.indices ?? UNET.attn2.map((l) => l.index);
  idx.forEach((i, j) => {
    add(m, r, `${proc}.${i}.to_k_ip.weight`, [WIDTHS[j % 16], D]);
    add(m, r, `${proc}.${i}.to_v_ip.weight`, [WIDTHS[j % 16], D]);
  });
  if (variant === 'faceid' || variant === 'faceid-plus') {
    for (let i = 0; i < 32; i++) for (const n of ['to_q', 'to_k', 'to_v', 'to_out']) {
      add(m, r, `${proc}.${i}.${n}_lora.down.weight`, [2, WIDTHS[i >> 1]]);
      add(m, r, `${proc}.${i}.${n}_lora.up.weight`, [WIDTHS[i >> 1], 2]);
    }
  }
  return memorySource(`tiny-ip-adapter-${variant}.safetensors`, m);
}

const f32 = (shape: number[], seed: number, zero = false): ort.Tensor => {
  const r = rng(seed);
  return new ort.Tensor('float32', Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (zero ? 0 : r() * 2)), shape);
};

function weightOf(src: WeightSource, key: string): Float32Array {
  return new Float32Array((src.get(key)!.data as { bytes: Uint8Array }).bytes.slice().buffer);
}

test('variant and token count come from keys and shapes', () => {
  const cases: Array<[IpAdapterVariant, Parameters<typeof tinyAdapter>[1], number, string[]]> = [
    ['base', {}, 4, ['image_embeds']],
    ['base', { tokens: 16 }, 16, ['image_embeds']],
    ['plus', {}, 16, ['hidden_states_penultimate']],
    ['full-face', {}, 257, ['hidden_states_penultimate']],
    ['faceid', {}, 4, ['faceid_embeds']],
    ['portrait', {}, 16, ['faceid_embeds']],
    ['faceid-plus', {}, 4, ['faceid_embeds', 'hidden_states_penultimate']],
  ];
  for (const [variant, opts, tokens, inputs] of cases) {
    const info = detectIpAdapter(tinyAdapter(variant, opts));
    assert.equal(info.kind, variant);
    assert.equal(info.numTokens, tokens, variant);
    assert.equal(info.crossDim, D);
    assert.deepEqual(info.inputs.map((i) => i.name), inputs);
    assert.deepEqual(info.layers.map((k) => k.width), WIDTHS);
    assert.equal(adapterMismatch(info, UNET), undefined, variant);
    assert.equal(info.hasLora, variant === 'faceid' || variant === 'faceid-plus');
  }
  assert.equal(detectIpAdapter(tinyAdapter('plus', { depth: 5 })).resampler?.depth, 5);
  // Training checkpoints name the processors adapter_modules.*.
  assert.equal(detectIpAdapter(tinyAdapter('base', { prefix: 'adapter_modules' })).kind, 'base');
});

test('unknown IP-Adapter projection layout: clear error naming the file and the keys found', () => {
  const base = tinyAdapter('base');
  const m = new Map<string, T>();
  for (const k of base.keys()) {
    const t = base.get(k)!;
    m.set(k.replace('image_proj.proj.', 'image_proj.mystery.'), { dtype: t.dtype, shape: t.shape, bytes: (t.data as { bytes: Uint8Array }).bytes });
  }
  const odd = memorySource('odd-adapter.safetensors', m);
  assert.throws(() => detectIpAdapter(odd), /odd-adapter\.safetensors: unknown IP-Adapter image projection layout \(image_proj keys: .*image_proj\.mystery\.weight/);
  assert.throws(() => buildIpProjectionGraph(odd), { name: 'IpAdapterLayoutError' });
});

test('wrong files for the IP-Adapter role: clear errors', () => {
  const text = new Map<string, T>();
  add(text, rng(1), 'text_model.embeddings.token_embedding.weight', [10, 4]);
  add(text, rng(1), 'text_model.final_layer_norm.weight', [4]);
  assert.throws(() => detectIpAdapter(memorySource('text_encoder.safetensors', text)), /text_encoder\.safetensors: not an IP-Adapter file in the h94 layout.*; its first keys are "text_model/);
  // Resampler heads must split its width: 16 wide with the default 64-wide heads cannot.
  assert.throws(() => buildIpProjectionGraph(tinyAdapter('plus')), /inner width 16 cannot be split/);
});

test('an adapter for other cross-attention layers (SDXL-like) is refused against the UNet, naming both', () => {
  // 18 layers where the UNet has 16, as an SDXL adapter (70) has for an SD1.5 checkpoint.
  const more = tinyAdapter('base', { indices: [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31, 33, 35] });
  assert.match(adapterMismatch(detectIpAdapter(more), UNET) ?? '', /projections for 18 cross-attention layers, but the checkpoint's UNet has 16 \(SD1\.5\)/);
  assert.throws(() => buildIpKvGraph(more, UNET), /tiny-ip-adapter-base\.safetensors: .*18 cross-attention layers.*UNet has 16/);
  // Same layer count, other widths or context: also named.
  const wider = sd15Structure({ blockChannels: [8, 16, 32, 32], crossAttentionDim: D });
  assert.match(adapterMismatch(detectIpAdapter(tinyAdapter('base')), wider) ?? '', /ip_adapter\.9 has width 24; the UNet's down_blocks\.2\.attentions\.0\.transformer_blocks\.0\.attn2 has 32 channels/);
  const context = sd15Structure({ blockChannels: [8, 16, 24, 24], crossAttentionDim: 2 * D });
  assert.match(adapterMismatch(detectIpAdapter(tinyAdapter('base')), context) ?? '', /tokens of width 8; the checkpoint's UNet takes context of width 16/);
});

test('key/value graph: to_k_ip / to_v_ip of the tokens for each attn2 layer, under the UNet input names', async () => {
  const src = tinyAdapter('plus');
  const built = buildIpKvGraph(src, UNET);
  assert.deepEqual(built.outputs.map((o) => o.name), UNET.attn2.flatMap((_, l) => [UNET_IO.ipKey(l), UNET_IO.ipValue(l)]));
  assert.equal(UNET_IO.ipKey(0), 'ip_k.0');
  assert.deepEqual(UNET.attn2.map((l) => l.index), WIDTHS.map((_, j) => 2 * j + 1));
  const B = 2;
  const T = 3;
  const tokens = f32([B, T, D], 5);
  const out = await run(built, { tokens });
  const x = tokens.data as Float32Array;
  for (let j = 0; j < 16; j++) {
    for (const [name, kind] of [[UNET_IO.ipKey(j), 'k'], [UNET_IO.ipValue(j), 'v']] as const) {
      const w = weightOf(src, `ip_adapter.${2 * j + 1}.to_${kind}_ip.weight`);
      const H = WIDTHS[j];
      const exp = new Float32Array(B * T * H);
      for (let r = 0; r < B * T; r++) for (let o = 0; o < H; o++) {
        let s = 0;
        for (let i = 0; i < D; i++) s += x[r * D + i] * w[o * D + i];
        exp[r * H + o] = s;
      }
      assert.deepEqual(out[name].dims, [B, T, H]);
      assert.ok(maxDiff(out[name].data, exp) < 1e-5, name);
    }
  }
});

test('base projection: LayerNorm(reshape(Linear(x), [B, T, D]))', async () => {
  const src = tinyAdapter('base');
  const x = f32([2, 12], 9);
  const out = await run(buildIpProjectionGraph(src), { image_embeds: x });
  const w = weightOf(src, 'image_proj.proj.weight');
  const b = weightOf(src, 'image_proj.proj.bias');
  const g = weightOf(src, 'image_proj.norm.weight');
  const beta = weightOf(src, 'image_proj.norm.bias');
  const xd = x.data as Float32Array;
  const exp = new Float32Array(2 * 4 * D);
  for (let n = 0; n < 2; n++) {
    const y = Array.from({ length: 4 * D }, (_, o) => b[o] + Array.from({ length: 12 }, (_, i) => xd[n * 12 + i] * w[o * 12 + i]).reduce((s, v) => s + v, 0));
    for (let t = 0; t < 4; t++) {
      const row = y.slice(t * D, t * D + D);
      const mean = row.reduce((s, v) => s + v, 0) / D;
      const v = row.reduce((s, q) => s + (q - mean) ** 2, 0) / D;
      for (let i = 0; i < D; i++) exp[(n * 4 + t) * D + i] = ((row[i] - mean) / Math.sqrt(v + 1e-5)) * g[i] + beta[i];
    }
  }
  assert.deepEqual(out.image_prompt_tokens.dims, [2, 4, D]);
  assert.ok(maxDiff(out.image_prompt_tokens.data, exp) < 1e-5);
});

test('FaceID-Plus: shortcut off = perceiver output; PlusV2 = faceid tokens + s_scale × perceiver output', async () => {
  const src = tinyAdapter('faceid-plus');
  const feeds = { faceid_embeds: f32([2, 10], 1), hidden_states_penultimate: f32([2, 5, 12], 2) };
  const v1 = await run(buildIpProjectionGraph(src, { dimHead: 4 }), feeds);
  assert.ok(maxDiff(v1.image_prompt_tokens.data, v1.image_prompt_tokens_no_shortcut.data) === 0);
  const x = await run(buildIpProjectionGraph(src, { dimHead: 4, shortcut: true, sScale: 0 }), feeds);
  const v2 = await run(buildIpProjectionGraph(src, { dimHead: 4, shortcut: true, sScale: 0.8 }), feeds);
  const exp = x.image_prompt_tokens.data.map((v, i) => v + 0.8 * v1.image_prompt_tokens_no_shortcut.data[i]);
  assert.ok(maxDiff(v2.image_prompt_tokens.data, exp) < 1e-5);
  assert.ok(maxDiff(x.image_prompt_tokens.data, v1.image_prompt_tokens.data) > 1e-3);
  assert.deepEqual(v2.image_prompt_tokens.dims, [2, 4, D]);
});

test('CUDA (fp16) flavour of every projection and the key/value graph builds, loads and tracks fp32', async () => {
  const feedsFor = (variant: IpAdapterVariant): Record<string, ort.Tensor> => {
    const f: Record<string, ort.Tensor> = {};
    for (const i of detectIpAdapter(tinyAdapter(variant)).inputs) f[i.name] = i.name === 'hidden_states_penultimate' ? f32([2, 5, i.width], 4) : f32([2, i.width], 3);
    return f;
  };
  for (const variant of ['base', 'plus', 'full-face', 'faceid', 'portrait', 'faceid-plus'] as const) {
    const src = tinyAdapter(variant);
    const opts = { dimHead: 4, shortcut: true, sScale: 0.8 };
    const feeds = feedsFor(variant);
    const a = await run(buildIpProjectionGraph(src, opts), feeds);
    const b = await run(buildIpProjectionGraph(src, { ...opts, flavour: 'cuda' }), feeds);
    assert.ok(maxDiff(a.image_prompt_tokens.data, b.image_prompt_tokens.data) < 3e-2, variant);
  }
  const kv = buildIpKvGraph(tinyAdapter('faceid'), UNET, { flavour: 'cuda' });
  const out = await run(kv, { tokens: f32([1, 4, D], 8) });
  assert.equal(Object.keys(out).length, 32);
});

test('layer presets follow ComfyUI_IPAdapter_plus SD1.5 weight types (h94 order)', () => {
  const w = 0.8;
  const L = UNET.attn2;
  assert.deepEqual(ipLayerScales(L, 'reference', w), Array(16).fill(w));
  //                                  d0a0 d0a1 d1a0 d1a1 d2a0 d2a1 u1a0 u1a1 u1a2 u2a0 u2a1 u2a2 u3a0 u3a1 u3a2 mid
  assert.deepEqual(ipLayerScales(L, 'style', w), [w, w, w, w, 0, 0, 0, 0, w, w, w, w, w, w, w, 0]);
  assert.deepEqual(ipLayerScales(L, 'composition', w), [0, 0, 0, 0, 0.25 * w, w, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(ipLayerScales(L, 'strong-style', 1), [1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
  assert.deepEqual(ipLayerScales(L, 'style-and-composition', 1, 0.4), [1, 1, 1, 1, 0.1, 0.4, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0]);
  assert.deepEqual(ipLayerScales(L, 'style'), ipLayerScales(L, 'style', 1));
  assert.throws(() => ipLayerScales(L, 'bogus' as 'style'), /unknown IP-Adapter layer preset "bogus"/);
  // ComfyUI's transformer_index runs down blocks, mid block, up blocks.
  assert.deepEqual(L.map((l) => l.executionOrder), [0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 6]);
  const processors = attentionProcessors(UNET);
  assert.equal(processors.length, 32);
  assert.equal(processors[0], 'down_blocks.0.attentions.0.transformer_blocks.0.attn1');
  assert.equal(processors[31], 'mid_block.attentions.0.transformer_blocks.0.attn2');
});
