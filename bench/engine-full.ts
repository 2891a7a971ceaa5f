/**
 * A real 512x512 job through the engine on the synthetic full-size SD1.5 set: IP-Adapter (base)
 * + OpenPose ControlNet + CFG, 2 steps, DPM++ 2M. The first job includes graph build and session
 * creation; the second is warm. Reports the phase timings, peak RSS against the size of the
 * weights the job loaded (target <= 1.3x). One JSON line on stdout.
 *
 *   node --import tsx bench/engine-full.ts [--steps 2] [--size 512] [--no-ip] [--no-control]
 */
import { registryLocator } from '../bridge/models/locator.ts';
import type { GenerateRequest, RgbaImage } from '../engine/api.ts';
import { createEngine } from '../engine/index.ts';
import { emit } from './lib/types.ts';
import { ensureSyntheticSd15, gib } from './synthetic.ts';

const args = process.argv.slice(2);
const opt = (n: string, d: number) => (args.includes(n) ? Number(args[args.indexOf(n) + 1]) : d);
const steps = opt('--steps', 2);
const size = opt('--size', 512);
const ip = !args.includes('--no-ip');
const control = !args.includes('--no-control');

const set = ensureSyntheticSd15();
const engine = await createEngine({ provider: 'cpu', models: registryLocator(set.models, { hashes: 'cached' }) }); // hashing 8 GB is not the job's time
const image = (w: number, h: number): RgbaImage => ({ width: w, height: h, data: Uint8Array.from({ length: w * h * 4 }, (_, i) => (i * 31 + (i >> 9)) % 256) });
const req: GenerateRequest = {
  params: { prompt: 'a lighthouse on a cliff at dusk, oil painting', negativePrompt: 'blurry', seed: 7, steps, sampler: 'dpmpp-2m', guidance: 7, width: size, height: size, strength: 1, batchSize: 1, clipSkip: 1 },
  references: ip ? [{ image: image(640, 480), adapter: 'base', scale: 0.7, preset: 'reference', range: { start: 0, end: 1 }, hash: 'bench-ref' }] : [],
  controls: control ? [{ image: image(size, size), type: 'pose', preprocess: 'none', scale: 1, range: { start: 0, end: 1 }, guessMode: false }] : [],
};
const run = async () => {
  const t = performance.now();
  const r = await engine.generate(req);
  return { ms: performance.now() - t, timings: r.metadata.timings };
};
const cold = await run();
const warm = await run();
const weights = gib(set.unet) + gib(set.vae) + gib(set.textEncoder) + (ip ? gib(set.imageEncoder) + gib(set.ipAdapter) : 0) + (control ? gib(set.controlnet) : 0);
const peak = process.resourceUsage().maxRSS / 2 ** 20;
const label = `${size}² ${steps} steps CFG${ip ? ' + IP-Adapter' : ''}${control ? ' + ControlNet' : ''}`;
const row = (l: string, value: number, unit: string, extra: Record<string, unknown> = {}) => ({ label: l, value: Math.round(value * 100) / 100, unit, ...extra });
emit({
  bench: 'engine-full',
  rows: [
    row(`first job (graph build + sessions), ${label}`, cold.ms / 1000, 's'),
    row(`warm job, ${label}`, warm.ms / 1000, 's'),
    row('warm: step (UNet + ControlNet + CFG)', warm.timings.ms_per_step / 1000, 's'),
    row('warm: VAE decode', warm.timings.vae_decode_0 / 1000, 's', { target: '≤ 18', pass: warm.timings.vae_decode_0 <= 18000 }),
    row('peak RSS', peak, 'GiB'),
    row('peak RSS / weights loaded', peak / weights, '×', { target: '≤ 1.3', pass: peak / weights <= 1.3 }),
  ],
  notes: [`engine-full phases (ms): cold ${JSON.stringify(cold.timings)}; warm ${JSON.stringify(warm.timings)}; weights loaded ${weights.toFixed(2)} GiB`],
});
await engine.dispose();
