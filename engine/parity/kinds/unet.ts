/**
 * Parity for the UNet kinds: `unet` / `sdxl-unet` (optionally with ControlNet residuals), `unet-ip` /
 * `sdxl-unet-ip`, and `unet-ip-masked` (regional image prompts: masks, their per-layer downsampling,
 * the projected tokens and the masked and unmasked UNet outputs).
 */
import * as ort from 'onnxruntime-node';
import { buildIpKvGraph, buildIpProjectionGraph, describeIpAdapterSource, IP_PROJ_IO } from '../../graphs/ip-adapter.ts';
import { buildUNet } from '../../graphs/unet.ts';
import { attn2Queries, attn2Resolutions, inspectUNet, UNET_IO, type UNetStructure } from '../../weights/unet-structure.ts';
import { packIpInputs, ipScaleMatrix, type AdapterKv } from '../../pipeline/ip-inputs.ts';
import { binarizeMask, downsampleMask, ipMaskFeeds, type FloatMask } from '../../pipeline/ip-masks.ts';
import { mergeIpAdapterLora } from '../../weights/lora.ts';
import { roleSource } from '../../weights/names.ts';
import { layeredSource, safetensorsSource, type WeightSource } from '../../weights/source.ts';
import { compareOutputs, input, type CheckResult, type GotTensor } from '../compare.ts';
import type { FixtureCase } from '../fixture.ts';
import { openSession, runBuilt, type Feeds } from '../graph-run.ts';
import { CPU_TARGET, flavourOf, type ParityTarget } from '../target.ts';
import { unetConfigFromCase } from './config.ts';

const f32 = (x: { data: Float32Array; shape: readonly number[] }) => new ort.Tensor('float32', x.data, [...x.shape]);
const has = (c: FixtureCase, name: string): boolean => !!c.io?.has(`in.${name}`);

/** One adapter slot for the UNet: its keys/values (from the adapter's k/v graph), scale and mask. */
interface Slot {
  readonly kv: AdapterKv;
  readonly scale: number;
  readonly mask?: FloatMask;
}

/** The inputs every UNet case has: sample, timestep, text; SDXL's text_embeds / time_ids; residuals. */
function baseFeeds(c: FixtureCase, structure: UNetStructure, control: boolean): Feeds {
  const feeds: Feeds = {
    sample: f32(input(c, 'sample')),
    timestep: f32(input(c, 'timestep')),
    encoder_hidden_states: f32(input(c, 'encoder_hidden_states')),
  };
  if (structure.textTime) {
    feeds[UNET_IO.textEmbeds] = f32(input(c, 'text_embeds'));
    feeds[UNET_IO.timeIds] = f32(input(c, 'time_ids'));
  }
  if (control) {
    structure.skips.forEach((_, i) => (feeds[UNET_IO.downResidual(i)] = f32(input(c, `down_block_additional_residuals_${i}`))));
    feeds[UNET_IO.midResidual] = f32(input(c, 'mid_block_additional_residual'));
  }
  return feeds;
}

/** ip_k/ip_v, ip_scale (same scale on every layer unless the case lists per-layer ones), ip_bias, ip_mask.<k>. */
function ipFeeds(c: FixtureCase, structure: UNetStructure, slots: readonly Slot[], batch: number, h: number, w: number): Feeds {
  const layers = structure.attn2;
  const packed = packIpInputs(slots.map((s) => s.kv), layers, batch);
  const feeds: Feeds = {};
  packed.k.forEach((k, l) => {
    feeds[UNET_IO.ipKey(l)] = new ort.Tensor('float32', k, packed.kShape[l]);
    feeds[UNET_IO.ipValue(l)] = new ort.Tensor('float32', packed.v[l], packed.kShape[l]);
  });
  const layerScales = slots.map((s) => layers.map((_, l) => (Array.isArray(c.params.ip_layer_scales) ? Number(c.params.ip_layer_scales[l]) : s.scale)));
  feeds[UNET_IO.ipScale] = new ort.Tensor('float32', ipScaleMatrix(layerScales, slots.map(() => true), layers.length), [layers.length, packed.adapters]);
  feeds[UNET_IO.ipBias] = new ort.Tensor('float32', packed.bias, [packed.adapters, packed.tokens]);
  for (const [k, m] of ipMaskFeeds(slots.map((s) => s.mask), structure, h, w)) feeds[UNET_IO.ipMask(k)] = new ort.Tensor('float32', m.data, m.dims);
  return feeds;
}

/** Keys/values of `tokens` [B, T, D] through the adapter's k/v graph, as a slot. */
async function adapterKv(file: string, structure: UNetStructure, tokens: { data: Float32Array; shape: readonly number[] }, t: ParityTarget): Promise<AdapterKv> {
  const out = await runBuilt(buildIpKvGraph(safetensorsSource(file), structure, { flavour: flavourOf(t, 'ip-kv') }), { tokens: f32(tokens) }, t);
  return { tokens: tokens.shape[1], k: structure.attn2.map((_, l) => out[UNET_IO.ipKey(l)].data), v: structure.attn2.map((_, l) => out[UNET_IO.ipValue(l)].data) };
}

function caseScale(c: FixtureCase, a: number): number {
  return Array.isArray(c.params.ip_scales) ? Number(c.params.ip_scales[a]) : Number(c.params.ip_scale);
}

export async function runUNetCase(c: FixtureCase, t: ParityTarget = CPU_TARGET): Promise<CheckResult[]> {
  if (c.kind === 'unet-ip-masked') return runMaskedCase(c, t);
  const hasIp = c.kind === 'unet-ip' || c.kind === 'sdxl-unet-ip';
  const hasControl = has(c, 'mid_block_additional_residual');
  const ipRoles = Object.keys(c.weights).filter((r) => r.startsWith('ip_adapter')).sort();
  let unet: WeightSource = roleSource(c, 'unet', 'unet');
  const loraScale = typeof c.params.lora_scale === 'number' ? c.params.lora_scale : undefined;
  if (loraScale !== undefined) {
    const ip = safetensorsSource(c.weights[ipRoles[0]], 'ip_adapter.');
    unet = layeredSource(unet.description, mergeIpAdapterLora(unet, ip, loraScale), unet);
  }
  const structure = inspectUNet(unet);
  const graph = buildUNet(unet, { flavour: flavourOf(t, 'unet'), control: hasControl, ip: hasIp, config: unetConfigFromCase(c), structure });
  const session = await openSession(graph, t);
  const feeds = baseFeeds(c, structure, hasControl);
  if (hasIp) {
    const slots: Slot[] = [];
    for (const [a, role] of ipRoles.entries()) {
      const tokens = input(c, ipRoles.length === 1 ? 'image_prompt_tokens' : `image_prompt_tokens_${a}`);
      slots.push({ kv: await adapterKv(c.weights[role], structure, tokens, t), scale: caseScale(c, a) });
    }
    const [B, , h, w] = feeds.sample.dims;
    Object.assign(feeds, ipFeeds(c, structure, slots, B, h, w));
  }
  try {
    const r = (await session.run(feeds)).noise_pred;
    return compareOutputs(c, { sample: { data: r.data as Float32Array, shape: r.dims } });
  } finally {
    await session.release();
  }
}

/** in.<name> [B, n, ...rest] as n tensors [B, ...rest] (one per reference image). */
function splitImages(x: { data: Float32Array; shape: readonly number[] }): Array<{ data: Float32Array; shape: number[] }> {
  const [B, n, ...rest] = x.shape;
  const per = rest.reduce((a, b) => a * b, 1);
  return Array.from({ length: n }, (_, i) => {
    const data = new Float32Array(B * per);
    for (let b = 0; b < B; b++) data.set(x.data.subarray((b * n + i) * per, (b * n + i + 1) * per), b * per);
    return { data, shape: [B, ...rest] };
  });
}

/** [B, T_i, D] per image → [B, n, T, D] (equal T). */
function stackImages(parts: ReadonlyArray<{ data: Float32Array; shape: readonly number[] }>): GotTensor {
  const [B, T, D] = parts[0].shape;
  const out = new Float32Array(B * parts.length * T * D);
  parts.forEach((p, i) => {
    for (let b = 0; b < B; b++) out.set(p.data.subarray(b * T * D, (b + 1) * T * D), (b * parts.length + i) * T * D);
  });
  return { data: out, shape: [B, parts.length, T, D] };
}

/** [B, T1, D] ++ [B, T2, D] along tokens. */
function concatTokens(parts: ReadonlyArray<{ data: Float32Array; shape: readonly number[] }>): { data: Float32Array; shape: number[] } {
  const [B, , D] = parts[0].shape;
  const T = parts.reduce((n, p) => n + p.shape[1], 0);
  const out = new Float32Array(B * T * D);
  for (let b = 0; b < B; b++) {
    let at = b * T * D;
    for (const p of parts) {
      const n = p.shape[1] * D;
      out.set(p.data.subarray(b * n, (b + 1) * n), at);
      at += n;
    }
  }
  return { data: out, shape: [B, T, D] };
}

/**
 * `unet-ip-masked`: the masks (binarized, then downsampled per attn2 resolution), the projected tokens,
 * and the UNet with every masked image as its own slot; `sample_unmasked` is the same call without
 * masks, where one adapter's images share one slot (one softmax over their concatenated tokens).
 */
async function runMaskedCase(c: FixtureCase, t: ParityTarget): Promise<CheckResult[]> {
  if (!c.io) throw new Error(`${c.name}: case has no io file`);
  const unet = roleSource(c, 'unet', 'unet');
  const structure = inspectUNet(unet);
  const feeds = baseFeeds(c, structure, false);
  const [B, , h, w] = feeds.sample.dims;
  const got: Record<string, GotTensor> = {};

  // Masks at image size → binarized → per-resolution downsampling.
  const masks: FloatMask[] = [];
  for (let i = 0; c.io.has(`in.mask_image_${i}_uint8`); i++) {
    const info = c.io.info(`in.mask_image_${i}_uint8`);
    const [H, W] = info.shape;
    masks.push(binarizeMask({ width: W, height: H, data: c.io.readUint8(`in.mask_image_${i}_uint8`) }, W, H));
  }
  const [H, W] = [masks[0].height, masks[0].width];
  const allMasks = new Float32Array(masks.length * H * W);
  masks.forEach((m, i) => allMasks.set(m.data, i * H * W));
  got.ip_adapter_masks = { data: allMasks, shape: [masks.length, 1, H, W] };
  for (const k of attn2Resolutions(structure)) {
    const n = attn2Queries({ downsamples: k }, h, w);
    const data = new Float32Array(masks.length * n);
    masks.forEach((m, i) => data.set(downsampleMask(m, n), i * n));
    got[`mask_downsampled_q${n}`] = { data, shape: [masks.length, n] };
  }

  // Tokens per adapter role and image: the h94 projection of the case's inputs.
  const ipRoles = Object.keys(c.weights).filter((r) => r.startsWith('ip_adapter')).sort();
  const imageTokens: Array<{ role: string; images: Array<{ data: Float32Array; shape: number[] }> }> = [];
  for (const [a, role] of ipRoles.entries()) {
    const suffix = ipRoles.length === 1 ? '' : `_${a}`;
    const src = safetensorsSource(c.weights[role]);
    const info = describeIpAdapterSource(src);
    const proj = buildIpProjectionGraph(src, { flavour: flavourOf(t, 'ip-proj') });
    const perInput = info.inputs.map(({ name }) => ({ name, images: splitImages(input(c, `${name}${suffix}`)) }));
    const images: Array<{ data: Float32Array; shape: number[] }> = [];
    for (let i = 0; i < perInput[0].images.length; i++) {
      const out = await runBuilt(proj, Object.fromEntries(perInput.map((p) => [p.name, f32(p.images[i])])), t);
      images.push({ data: out[IP_PROJ_IO.tokens].data, shape: [...out[IP_PROJ_IO.tokens].shape] });
    }
    got[`image_prompt_tokens${suffix}`] = stackImages(images);
    imageTokens.push({ role, images });
  }

  // Masked: one slot per image, each with the mask of its position; unmasked: one slot per adapter.
  const masked: Slot[] = [];
  const unmasked: Slot[] = [];
  for (const [a, { role, images }] of imageTokens.entries()) {
    for (const tokens of images) masked.push({ kv: await adapterKv(c.weights[role], structure, tokens, t), scale: caseScale(c, a), mask: masks[masked.length] });
    unmasked.push({ kv: await adapterKv(c.weights[role], structure, concatTokens(images), t), scale: caseScale(c, a) });
  }
  if (masked.length !== masks.length) throw new Error(`${c.name}: ${masked.length} reference images but ${masks.length} masks`);

  const graph = buildUNet(unet, { flavour: flavourOf(t, 'unet'), control: false, ip: true, config: unetConfigFromCase(c), structure });
  const session = await openSession(graph, t);
  try {
    const run = async (slots: readonly Slot[]): Promise<GotTensor> => {
      const r = (await session.run({ ...feeds, ...ipFeeds(c, structure, slots, B, h, w) })).noise_pred;
      return { data: r.data as Float32Array, shape: r.dims };
    };
    got.sample = await run(masked);
    got.sample_unmasked = await run(unmasked);
  } finally {
    await session.release();
  }
  return compareOutputs(c, got);
}
