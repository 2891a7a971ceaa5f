/**
 * Live mode's engine path (`npm run bench -- live`): on the synthetic full-size SD1.5 set, a 512²
 * img2img at strength 0.5 with 4 LCM steps (CFG off) and a TAESD draft decode, repeated for a run of
 * "edits" (the init image changes each time, the seed stays), against the standard job: 512²
 * txt2img, 20 steps, CFG, the full VAE. Prints edit→preview latency (median, p90) and the ratio of
 * the two (goal ≤ 1/8). Sessions stay warm between edits, as in live mode.
 *
 *   node --import tsx bench/live.ts [--provider cpu|webgpu|…] [--edits 5] [--standard-steps 20]
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { registryLocator } from '../bridge/models/locator.ts';
import type { GenerateRequest, RgbaImage } from '../engine/api.ts';
import { createEngine } from '../engine/index.ts';
import { isProviderChoice } from '../engine/runtime/providers.ts';
import { taesdOriginalSpecs } from '../engine/synthetic/taesd-specs.ts';
import { writeSynthetic } from '../engine/synthetic/write.ts';
import { summarize } from './lib/stats.ts';
import { emit } from './lib/types.ts';
import { ensureSyntheticSd15 } from './synthetic.ts';

const args = process.argv.slice(2);
const opt = (n: string, d: string): string => (args.includes(n) ? args[args.indexOf(n) + 1] : d);
const provider = opt('--provider', 'cpu');
if (!isProviderChoice(provider)) throw new Error(`--provider ${provider}: not a provider`);
const edits = Number(opt('--edits', '5'));
const standardSteps = Number(opt('--standard-steps', '20'));
const phase = (s: string): void => void process.stderr.write(`[live ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

const set = ensureSyntheticSd15();
// A full-size TAESD decoder (width 64, taesd.py layout) beside the set, where the registry looks.
const taesd = join(set.models, 'vae', 'taesd_decoder.safetensors');
if (!existsSync(taesd)) {
  mkdirSync(join(set.models, 'vae'), { recursive: true });
  writeSynthetic(taesd, taesdOriginalSpecs('decoder'), { seed: 9 });
}
const engine = await createEngine({ provider, models: registryLocator(set.models, { hashes: 'cached' }) });

const SIZE = 512;
/** A layer being painted on: a square that moves a little with each edit. */
function layer(edit: number): RgbaImage {
  const data = new Uint8Array(SIZE * SIZE * 4);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const i = (y * SIZE + x) * 4;
      const inSquare = Math.abs(x - 200 - edit * 8) < 60 && Math.abs(y - 256) < 60;
      data[i] = inSquare ? 220 : (x * 255) / SIZE;
      data[i + 1] = inSquare ? 40 : (y * 255) / SIZE;
      data[i + 2] = 120;
      data[i + 3] = 255;
    }
  }
  return { width: SIZE, height: SIZE, data };
}

const params = { prompt: 'a red box on a gradient, studio light', negativePrompt: '', seed: 11, width: SIZE, height: SIZE, batchSize: 1, clipSkip: 1 };
const liveJob = (edit: number): GenerateRequest => ({
  params: { ...params, steps: 4, sampler: 'lcm', guidance: 1, strength: 0.5, draftDecode: true },
  init: layer(edit),
  references: [],
  controls: [],
});

phase(`warm-up live job on ${provider} (graph build + sessions)`);
const warmStart = performance.now();
const first = await engine.generate(liveJob(0));
const coldMs = performance.now() - warmStart;
const latencies: number[] = [];
let lastTimings = first.metadata.timings;
for (let e = 1; e <= edits; e++) {
  phase(`edit ${e}/${edits}`);
  const t = performance.now();
  const r = await engine.generate(liveJob(e));
  latencies.push(performance.now() - t);
  lastTimings = r.metadata.timings;
}
phase(`standard job: ${standardSteps} steps, CFG, full VAE (takes minutes on a CPU)`);
const standardReq: GenerateRequest = { params: { ...params, steps: standardSteps, sampler: 'euler', guidance: 7, strength: 1 }, references: [], controls: [] };
await engine.generate({ ...standardReq, params: { ...standardReq.params, steps: 1 } }); // its sessions (full VAE decoder) warm, like the live ones
const ts = performance.now();
const standard = await engine.generate(standardReq);
const standardMs = performance.now() - ts;
await engine.dispose();

const s = summarize(latencies);
const p90 = [...latencies].sort((a, b) => a - b)[Math.min(latencies.length - 1, Math.ceil(latencies.length * 0.9) - 1)];
const ratio = s.value / standardMs;
emit({
  bench: 'live',
  rows: [
    { label: `edit → preview, 512² img2img 0.5, 4 LCM steps, TAESD (${provider}): median`, value: Math.round(s.value), unit: 'ms', min: Math.round(s.min), max: Math.round(s.max) },
    { label: 'edit → preview: p90', value: Math.round(p90), unit: 'ms' },
    { label: `standard job: 512² txt2img ${standardSteps} steps CFG, full VAE`, value: Math.round(standardMs / 100) / 10, unit: 's' },
    { label: 'live / standard', value: Math.round(ratio * 1000) / 1000, unit: '×', target: '≤ 0.125', pass: ratio <= 0.125 },
  ],
  notes: [
    `first live job (graph build + sessions) ${(coldMs / 1000).toFixed(1)} s; warm live job phases (ms) ${JSON.stringify(lastTimings)}; standard phases ${JSON.stringify(standard.metadata.timings)}`,
    'strength 0.5 of 4 steps runs 2 UNet steps; CFG off (guidance 1) runs the UNet at batch 1',
  ],
});
