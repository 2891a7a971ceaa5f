/**
 * Full-size SD1.5 UNet on CPU from the synthetic checkpoint: graph build, session creation, peak
 * RSS against the weights' size, and one denoising step at 512x512 with CFG (batch 2).
 * Runs in its own process so peak RSS is this measurement's alone. Prints one JSON line.
 *
 *   node --import tsx bench/unet-step.ts [--control] [--ip] [--size 512] [--steps 2]
 */
import { statSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { buildUNet } from '../engine/graphs/unet.ts';
import { createSession } from '../engine/runtime/session.ts';
import { safetensorsSource } from '../engine/weights/source.ts';
import { emit } from './lib/types.ts';
import { ensureSyntheticSd15 } from './synthetic.ts';

const args = process.argv.slice(2);
const flag = (n: string) => args.includes(n);
const opt = (n: string, d: number) => (args.includes(n) ? Number(args[args.indexOf(n) + 1]) : d);
const size = opt('--size', 512);
const runs = opt('--steps', 2);
const control = flag('--control');
const ip = flag('--ip');

const set = ensureSyntheticSd15();
const rssGiB = () => process.memoryUsage().rss / 2 ** 30;
const t0 = performance.now();
const graph = buildUNet(safetensorsSource(set.unet), { flavour: 'cpu', control, ip });
const tBuild = performance.now() - t0;
const session = await createSession(graph, { provider: 'cpu' });
const tSession = performance.now() - t0 - tBuild;
const rssAfterLoad = rssGiB();

const B = 2;
const h = size / 8;
const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
const feeds: Record<string, ort.Tensor> = {
  sample: new ort.Tensor('float32', rand(B * 4 * h * h), [B, 4, h, h]),
  timestep: new ort.Tensor('float32', new Float32Array([500, 500]), [B]),
  encoder_hidden_states: new ort.Tensor('float32', rand(B * 77 * 768), [B, 77, 768]),
};
if (control) {
  const ch = [320, 320, 320, 320, 640, 640, 640, 1280, 1280, 1280, 1280, 1280];
  const hs = [h, h, h, h / 2, h / 2, h / 2, h / 4, h / 4, h / 4, h / 8, h / 8, h / 8];
  ch.forEach((c, i) => (feeds[`down_residual_${i}`] = new ort.Tensor('float32', new Float32Array(B * c * hs[i] * hs[i]), [B, c, hs[i], hs[i]])));
  feeds.mid_residual = new ort.Tensor('float32', new Float32Array(B * 1280 * (h / 8) ** 2), [B, 1280, h / 8, h / 8]);
}
if (ip) {
  const layers = graph.inputs.filter((i) => i.name.startsWith('ip_k.'));
  for (const l of layers) {
    const c = Number(l.dims[3]);
    const idx = l.name.slice(5);
    feeds[`ip_k.${idx}`] = new ort.Tensor('float32', rand(B * 4 * c), [B, 1, 4, c]);
    feeds[`ip_v.${idx}`] = new ort.Tensor('float32', rand(B * 4 * c), [B, 1, 4, c]);
  }
  feeds.ip_scale = new ort.Tensor('float32', new Float32Array(layers.length).fill(0.7), [layers.length, 1]);
  feeds.ip_bias = new ort.Tensor('float32', new Float32Array(4), [1, 4]);
}
const stepMs: number[] = [];
for (let i = 0; i < runs; i++) {
  const s = performance.now();
  await session.run(feeds);
  stepMs.push(performance.now() - s);
}
const weightsGiB = statSync(set.unet).size / 2 ** 30;
const peakGiB = process.resourceUsage().maxRSS / 2 ** 20;
const what = `UNet${ip ? ' + IP-Adapter' : ''}${control ? ' + ControlNet residuals' : ''}`;
const sorted = [...stepMs].sort((a, b) => a - b);
const r2 = (v: number) => Math.round(v * 100) / 100;
emit({
  bench: 'unet-step',
  rows: [
    { label: `${what}: graph build`, value: r2(tBuild / 1000), unit: 's' },
    { label: `${what}: session creation`, value: r2(tSession / 1000), unit: 's' },
    { label: `${what}: one step ${size}² batch ${B} (CFG)`, value: r2(sorted[Math.floor(sorted.length / 2)] / 1000), unit: 's', min: r2(sorted[0] / 1000), max: r2(sorted[sorted.length - 1] / 1000), target: '≤ 25', pass: sorted[Math.floor(sorted.length / 2)] <= 25000 },
    { label: `${what}: peak RSS / weights (${weightsGiB.toFixed(2)} GiB)`, value: r2(peakGiB / weightsGiB), unit: '×', target: '≤ 1.3', pass: peakGiB / weightsGiB <= 1.3 },
  ],
  notes: [`unet-step ${what}: RSS after load ${rssAfterLoad.toFixed(2)} GiB, peak ${peakGiB.toFixed(2)} GiB; session creation is ~50 s the first time on a machine (optimising and saving the graph), ~5 s after`],
});
