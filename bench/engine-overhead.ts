/**
 * What the pipeline costs on top of onnxruntime: one denoising step through `denoise()` (scheduler,
 * CFG, IP-Adapter inputs, ControlNet residuals, tensor plumbing) against bare `session.run` calls
 * of the same ControlNet + UNet graphs with the same inputs. Full-size synthetic SD1.5, 512x512,
 * CFG batch 2, IP-Adapter + ControlNet. Target: overhead <= 3%. One JSON line on stdout.
 *
 *   node --import tsx bench/engine-overhead.ts [--size 512] [--rounds 3] [--steps 2]
 */
import * as ort from 'onnxruntime-node';
import { buildControlNet, controlScales } from '../engine/graphs/controlnet.ts';
import { buildUNet } from '../engine/graphs/unet.ts';
import { inspectUNet } from '../engine/weights/unet-structure.ts';
import { noise } from '../engine/noise.ts';
import { denoise, type ControlRun } from '../engine/pipeline/denoise.ts';
import { packIpInputs, ipScaleMatrix } from '../engine/pipeline/ip-inputs.ts';
import { SessionCache } from '../engine/pipeline/sessions.ts';
import { createScheduler } from '../engine/schedulers/index.ts';
import { safetensorsSource } from '../engine/weights/source.ts';
import { emit } from './lib/types.ts';
import { ensureSyntheticSd15 } from './synthetic.ts';

const args = process.argv.slice(2);
const opt = (n: string, d: number) => (args.includes(n) ? Number(args[args.indexOf(n) + 1]) : d);
const size = opt('--size', 512);
const rounds = opt('--rounds', 3);
const steps = opt('--steps', 2);

const set = ensureSyntheticSd15();
const sessions = new SessionCache({ provider: 'cpu' });
const unetW = safetensorsSource(set.unet);
const shp = inspectUNet(unetW);
const [unet, cn] = await Promise.all([
  sessions.get('unet', () => buildUNet(unetW, { flavour: 'cpu', control: true, ip: true })),
  sessions.get('cn', () => buildControlNet(safetensorsSource(set.controlnet), { flavour: 'cpu' })),
]);
const h = size / 8;
const channels = shp.attn2.map((l) => l.channels);
const T = 4;
const rand = (n: number, s: number) => noise(s, [n]);
const slot = { tokens: T, k: channels.map((c, l) => rand(2 * T * c, l)), v: channels.map((c, l) => rand(2 * T * c, 100 + l)) };
const packed = packIpInputs([slot], shp.attn2, 2);
const text = rand(77 * 768, 7);
const uncond = rand(77 * 768, 8);
const cond = new Float32Array(3 * size * size).fill(0.5);
const scales = controlScales(shp.skips.length + 1, 1, false);
const control: ControlRun = { session: cn, cond, condShape: [1, 3, size, size], scales, range: { start: 0, end: 1 }, guessMode: false };
const latents0 = noise(1, [1, 4, h, h]);

/** The pipeline: `steps` steps of denoise(), per-step mean. */
async function pipelineStep(): Promise<number> {
  const scheduler = createScheduler('dpmpp-2m', steps);
  const t = performance.now();
  await denoise({
    unet, structure: shp, latents: latents0.map((v) => v * scheduler.initNoiseSigma), latentShape: [1, 4, h, h],
    cond: text, uncond, textShape: [77, 768], guidance: 7, scheduler, startIndex: 0,
    ip: { packed, layerScales: [channels.map(() => 0.7)], ranges: [{ start: 0, end: 1 }] }, controls: [control],
  });
  return (performance.now() - t) / steps;
}

/** Bare onnxruntime: the same two session.run calls per step with prepared tensors. */
const f = (d: Float32Array, dims: number[]) => new ort.Tensor('float32', d, dims);
const x2 = new Float32Array(2 * latents0.length).fill(0.1);
const ctx = f(new Float32Array([...uncond, ...text]), [2, 77, 768]);
const cnFeeds = { sample: f(x2, [2, 4, h, h]), timestep: f(new Float32Array([500, 500]), [2]), encoder_hidden_states: ctx, controlnet_cond: f(new Float32Array([...cond, ...cond]), [2, 3, size, size]), conditioning_scale: f(scales, [scales.length]) };
const ipFeeds: Record<string, ort.Tensor> = { ip_bias: f(packed.bias, [1, T]), ip_scale: f(ipScaleMatrix([channels.map(() => 0.7)], [true], channels.length), [channels.length, 1]) };
packed.k.forEach((k, l) => { ipFeeds[`ip_k.${l}`] = f(k, packed.kShape[l]); ipFeeds[`ip_v.${l}`] = f(packed.v[l], packed.kShape[l]); });
async function bareStep(): Promise<number> {
  const t = performance.now();
  for (let i = 0; i < steps; i++) {
    const res = await cn.run(cnFeeds);
    await unet.run({ sample: cnFeeds.sample, timestep: cnFeeds.timestep, encoder_hidden_states: ctx, ...ipFeeds, ...res });
  }
  return (performance.now() - t) / steps;
}

await bareStep(); // warm-up (first runs allocate arenas)
const bare: number[] = [];
const pipe: number[] = [];
for (let r = 0; r < rounds; r++) {
  bare.push(await bareStep());
  pipe.push(await pipelineStep());
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const overhead = (med(pipe) - med(bare)) / med(bare);
const row = (label: string, a: number[], unit = 's') => ({ label, value: +(med(a) / 1000).toFixed(2), unit, min: +(Math.min(...a) / 1000).toFixed(2), max: +(Math.max(...a) / 1000).toFixed(2) });
emit({
  bench: 'engine-overhead',
  rows: [
    row(`bare session.run: ControlNet + UNet step, ${size}² CFG + IP-Adapter`, bare),
    row('same step through the pipeline (denoise)', pipe),
    { label: 'pipeline overhead per step', value: +(overhead * 100).toFixed(2), unit: '%', target: '≤ 3', pass: overhead <= 0.03 },
  ],
});
await sessions.releaseAll();
