/** Parity for `unet` (optionally with ControlNet residuals) and `unet-ip` cases. */
import * as ort from 'onnxruntime-node';
import { buildIpKvGraph } from '../../graphs/ip-adapter.ts';
import { buildUNet } from '../../graphs/unet.ts';
import { inspectUNet, UNET_IO } from '../../weights/unet-structure.ts';
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
  const structure = inspectUNet(unet);
  const graph = buildUNet(unet, { flavour: flavourOf(t, 'unet'), control: hasControl, ip: hasIp, config: unetConfigFromCase(c), structure });
  const session = await openSession(graph, t);
  const feeds: Record<string, ort.Tensor> = {
    sample: f32(input(c, 'sample')),
    timestep: f32(input(c, 'timestep')),
    encoder_hidden_states: f32(input(c, 'encoder_hidden_states')),
  };
  if (hasControl) {
    structure.skips.forEach((_, i) => (feeds[UNET_IO.downResidual(i)] = f32(input(c, `down_block_additional_residuals_${i}`))));
    feeds[UNET_IO.midResidual] = f32(input(c, 'mid_block_additional_residual'));
  }
  if (hasIp) {
    const layers = structure.attn2;
    const slots: AdapterKv[] = [];
    for (const [a, role] of ipRoles.entries()) {
      const tokens = input(c, ipRoles.length === 1 ? 'image_prompt_tokens' : `image_prompt_tokens_${a}`);
      const out = await runBuilt(buildIpKvGraph(safetensorsSource(c.weights[role]), structure, { flavour: flavourOf(t, 'ip-kv') }), { tokens: f32(tokens) }, t);
      slots.push({ tokens: tokens.shape[1], k: layers.map((_, l) => out[UNET_IO.ipKey(l)].data), v: layers.map((_, l) => out[UNET_IO.ipValue(l)].data) });
    }
    const batch = feeds.sample.dims[0];
    const packed = packIpInputs(slots, layers, batch);
    packed.k.forEach((k, l) => {
      feeds[UNET_IO.ipKey(l)] = new ort.Tensor('float32', k, packed.kShape[l]);
      feeds[UNET_IO.ipValue(l)] = new ort.Tensor('float32', packed.v[l], packed.kShape[l]);
    });
    const layerScales = slots.map((_, a) => layers.map((__, l) => {
      if (Array.isArray(c.params.ip_layer_scales)) return Number(c.params.ip_layer_scales[l]);
      if (Array.isArray(c.params.ip_scales)) return Number(c.params.ip_scales[a]);
      return Number(c.params.ip_scale);
    }));
    feeds[UNET_IO.ipScale] = new ort.Tensor('float32', ipScaleMatrix(layerScales, slots.map(() => true), layers.length), [layers.length, packed.adapters]);
    feeds[UNET_IO.ipBias] = new ort.Tensor('float32', packed.bias, [packed.adapters, packed.tokens]);
  }
  try {
    const r = (await session.run(feeds)).noise_pred;
    return compareOutputs(c, { sample: { data: r.data as Float32Array, shape: r.dims } });
  } finally {
    await session.release();
  }
}
