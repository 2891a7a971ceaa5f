/** Parity for `unet` (optionally with ControlNet residuals) and `unet-ip` cases. */
import * as ort from 'onnxruntime-node';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildUNet, inspectUNet } from '../../graphs/unet.ts';
import { mergeIpAdapterLora } from '../../weights/lora.ts';
import { createSession } from '../../runtime/session.ts';
import { safetensorsSource, layeredSource, type WeightSource } from '../../weights/source.ts';

const ipAdapterSource = (file: string) => safetensorsSource(file, 'ip_adapter.');
import { compareOutputs, input, type CheckResult } from '../compare.ts';
import type { FixtureCase } from '../fixture.ts';
import { unetConfigFromCase } from './config.ts';

const cacheDir = () => process.env.IPA_BRIDGE_CACHE_DIR ?? mkdtempSync(join(tmpdir(), 'ipa-parity-'));

const f32 = (x: { data: Float32Array; shape: number[] }) => new ort.Tensor('float32', x.data, x.shape);

export async function runUNetCase(c: FixtureCase): Promise<CheckResult[]> {
  const hasIp = c.kind === 'unet-ip';
  const hasControl = !!c.io?.has('in.mid_block_additional_residual');
  const ipFiles = Object.entries(c.weights).filter(([role]) => role.startsWith('ip_adapter')).sort(([a], [b]) => a.localeCompare(b)).map(([, p]) => p);
  let unet: WeightSource = safetensorsSource(c.weights.unet);
  const loraScale = typeof c.params.lora_scale === 'number' ? c.params.lora_scale : undefined;
  if (loraScale !== undefined) unet = layeredSource(unet.description, mergeIpAdapterLora(unet, ipAdapterSource(ipFiles[0]), loraScale), unet);
  const graph = buildUNet(unet, { flavour: 'cpu', control: hasControl, ip: hasIp, config: unetConfigFromCase(c) });
  const session = await createSession(graph, { provider: 'cpu', cacheDir: cacheDir() });
  const sample = input(c, 'sample');
  const feeds: Record<string, ort.Tensor> = {
    sample: f32(sample),
    timestep: f32(input(c, 'timestep')),
    encoder_hidden_states: f32(input(c, 'encoder_hidden_states')),
  };
  if (hasControl) {
    for (let i = 0; c.io!.has(`in.down_block_additional_residuals_${i}`); i++) feeds[`down_residual_${i}`] = f32(input(c, `down_block_additional_residuals_${i}`));
    feeds.mid_residual = f32(input(c, 'mid_block_additional_residual'));
  }
  if (hasIp) {
    const shp = inspectUNet(unet);
    const tokens = ipFiles.length === 1 ? [input(c, 'image_prompt_tokens')] : ipFiles.map((_, a) => input(c, `image_prompt_tokens_${a}`));
    const scales: number[][] = shp.attn2Layers.map((_, l) => ipFiles.map((__, a) => {
      if (Array.isArray(c.params.ip_layer_scales)) return Number(c.params.ip_layer_scales[l]);
      if (Array.isArray(c.params.ip_scales)) return Number(c.params.ip_scales[a]);
      return Number(c.params.ip_scale);
    }));
    const { ipKeyValues } = await import('./ip-kv.ts');
    const kv = await ipKeyValues(ipFiles.map((f) => ipAdapterSource(f)), tokens, shp);
    Object.assign(feeds, Object.fromEntries(Object.entries(kv.feeds).map(([k, v]) => [k, new ort.Tensor('float32', v.data, v.shape)])));
    feeds.ip_scale = new ort.Tensor('float32', Float32Array.from(scales.flat()), [shp.attn2Layers.length, ipFiles.length]);
    feeds.ip_bias = new ort.Tensor('float32', kv.bias.data, kv.bias.shape);
  }
  const out = await session.run(feeds);
  await session.release();
  const r = out.noise_pred;
  return compareOutputs(c, { sample: { data: r.data as Float32Array, shape: r.dims } });
}
