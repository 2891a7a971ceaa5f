/** Parity for `unet` (optionally with ControlNet residuals) and `unet-ip` cases. */
import * as ort from 'onnxruntime-node';
import { buildIpKvGraph, ipAdapterSource, ipKeyName, ipValueName } from '../../graphs/ip-adapter.ts';
import { buildUNet, inspectUNet } from '../../graphs/unet.ts';
import { packIpInputs, ipScaleMatrix, type AdapterKv } from '../../pipeline/ip-inputs.ts';
import { mergeIpAdapterLora } from '../../weights/lora.ts';
import { roleSource } from '../../weights/names.ts';
import { layeredSource, safetensorsSource, type WeightSource } from '../../weights/source.ts';
import { compareOutputs, input, type CheckResult } from '../compare.ts';
import type { FixtureCase } from '../fixture.ts';
import { openSession, runBuilt } from '../graph-run.ts';
import { CPU_TARGET, flavourOf, type ParityTarget } from '../target.ts';
import { unetConfigFromCase } from './config.ts';

const f32 = (x: { data: Float32Array; shape: readonly number[] }) => new ort.Tensor('float32', x.data, [...x.shape]);

export async function runUNetCase(c: FixtureCase, t: ParityTarget = CPU_TARGET): Promise<CheckResult[]> {
  const hasIp = c.kind === 'unet-ip';
  const hasControl = !!c.io?.has('in.mid_block_additional_residual');
  const ipRoles = Object.keys(c.weights).filter((r) => r.startsWith('ip_adapter')).sort();
  let unet: WeightSource = roleSource(c, 'unet', 'unet');
  const loraScale = typeof c.params.lora_scale === 'number' ? c.params.lora_scale : undefined;
  if (loraScale !== undefined) {
    const ip = safetensorsSource(c.weights[ipRoles[0]], 'ip_adapter.');
    unet = layeredSource(unet.description, mergeIpAdapterLora(unet, ip, loraScale), unet);
  }
  const graph = buildUNet(unet, { flavour: flavourOf(t, 'unet'), control: hasControl, ip: hasIp, config: unetConfigFromCase(c) });
  const session = await openSession(graph, t);
  const feeds: Record<string, ort.Tensor> = {
    sample: f32(input(c, 'sample')),
    timestep: f32(input(c, 'timestep')),
    encoder_hidden_states: f32(input(c, 'encoder_hidden_states')),
  };
  if (hasControl) {
    for (let i = 0; c.io!.has(`in.down_block_additional_residuals_${i}`); i++) feeds[`down_residual_${i}`] = f32(input(c, `down_block_additional_residuals_${i}`));
    feeds.mid_residual = f32(input(c, 'mid_block_additional_residual'));
  }
  if (hasIp) {
    const shp = inspectUNet(unet);
    const channels = shp.attn2Layers.map((p) => unet.get(`${p}.to_q.weight`)!.shape[0]);
    const slots: AdapterKv[] = [];
    for (const [a, role] of ipRoles.entries()) {
      const tokens = input(c, ipRoles.length === 1 ? 'image_prompt_tokens' : `image_prompt_tokens_${a}`);
      const out = await runBuilt(buildIpKvGraph(safetensorsSource(c.weights[role]), { flavour: flavourOf(t, 'ip-kv') }), { tokens: f32(tokens) }, t);
      slots.push({ tokens: tokens.shape[1], k: channels.map((_, j) => out[ipKeyName(j)].data), v: channels.map((_, j) => out[ipValueName(j)].data) });
    }
    const batch = feeds.sample.dims[0];
    const packed = packIpInputs(slots, channels, batch);
    packed.k.forEach((k, l) => {
      feeds[`ip_k.${l}`] = new ort.Tensor('float32', k, packed.kShape[l]);
      feeds[`ip_v.${l}`] = new ort.Tensor('float32', packed.v[l], packed.kShape[l]);
    });
    const layerScales = slots.map((_, a) => shp.attn2Layers.map((__, l) => {
      if (Array.isArray(c.params.ip_layer_scales)) return Number(c.params.ip_layer_scales[l]);
      if (Array.isArray(c.params.ip_scales)) return Number(c.params.ip_scales[a]);
      return Number(c.params.ip_scale);
    }));
    feeds.ip_scale = new ort.Tensor('float32', ipScaleMatrix(layerScales, slots.map(() => true), shp.attn2Layers.length), [shp.attn2Layers.length, packed.adapters]);
    feeds.ip_bias = new ort.Tensor('float32', packed.bias, [packed.adapters, packed.tokens]);
  }
  try {
    const r = (await session.run(feeds)).noise_pred;
    return compareOutputs(c, { sample: { data: r.data as Float32Array, shape: r.dims } });
  } finally {
    await session.release();
  }
}
