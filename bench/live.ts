/**
 * Live mode's engine path (`npm run bench -- live`): on the synthetic full-size SD1.5 set, a 512²
 * img2img at strength 0.5 with 4 LCM steps (CFG off) and a TAESD draft decode, repeated for a run of
 * "edits" (the init image changes each time, the seed stays), against the standard job: 512²
 * txt2img, 20 steps, CFG, the full VAE. Prints edit→preview latency (median, p90) and the ratio of
 * the two (goal ≤ 1/8). Sessions stay warm between edits, as in live mode.
 *
 * With the TAESD encoder installed beside the decoder, the live job's init is encoded by TAESD too
 * (engine/pipeline/tiny-encode.ts); `--no-taesd-encoder` measures the full VAE encode instead.
 * `--lora-switch` also measures what switching a LoRA costs (UNet + text encoder rebuilt with the
 * merged weights, new sessions) with a synthetic rank-64 LoRA on every UNet linear layer.
 *
 * `--encoders-only` times just the init encode, full VAE encoder against TAESD's, interleaved.
 *
 *   node --import tsx bench/live.ts [--provider cpu|webgpu|…] [--edits 5] [--standard-steps 20] [--no-taesd-encoder] [--lora-switch] [--encoders-only]
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { registryLocator } from '../bridge/models/locator.ts';
import type { GenerateRequest, RgbaImage } from '../engine/api.ts';
import { createEngine } from '../engine/index.ts';
import { isProviderChoice } from '../engine/runtime/providers.ts';
import { taesdOriginalSpecs } from '../engine/synthetic/taesd-specs.ts';
import { writeSynthetic } from '../engine/synthetic/write.ts';
import type { TensorSpec } from '../engine/synthetic/specs.ts';
import { openCheckpoint } from '../engine/pipeline/checkpoint.ts';
import * as ort from 'onnxruntime-node';
import { buildTaesdEncoder, taesdSource } from '../engine/graphs/taesd.ts';
import { buildVaeEncoder } from '../engine/graphs/vae.ts';
import { createSession } from '../engine/runtime/session.ts';

const SIZE_ENC = 512;
import { median, percentile, summarize } from './lib/stats.ts';
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
// The TAESD encoder (taesd.py layout) for the live init encode; removed again when asked to measure without it.
const taesdEnc = join(set.models, 'vae', 'taesd_encoder.safetensors');
if (args.includes('--no-taesd-encoder')) rmSync(taesdEnc, { force: true });
else if (!existsSync(taesdEnc)) writeSynthetic(taesdEnc, taesdOriginalSpecs('encoder'), { seed: 10 });
const loraSwitch = args.includes('--lora-switch');
const loraName = 'live-bench-lora.safetensors';
if (loraSwitch) {
  // Rank 64 on every 2-D UNet weight (attention, feed-forward, projections, time embedding): LCM-LoRA's reach.
  const file = join(set.models, 'loras', loraName);
  if (!existsSync(file)) {
    mkdirSync(join(set.models, 'loras'), { recursive: true });
    const unet = openCheckpoint(set.checkpoint).source('unet');
    const specs: TensorSpec[] = [];
    for (const k of unet.keys()) {
      const t = unet.get(k);
      if (!t || !k.endsWith('.weight') || t.shape.length !== 2) continue;
      const name = `lora_unet_${k.slice(0, -'.weight'.length).replace(/\./g, '_')}`;
      specs.push({ name: `${name}.lora_down.weight`, shape: [64, t.shape[1]] }, { name: `${name}.lora_up.weight`, shape: [t.shape[0], 64] });
    }
    writeSynthetic(file, specs, { seed: 12 });
  }
}
if (args.includes('--encoders-only')) {
  // The live init encode alone, both encoders warm and interleaved under the same load: the full SD VAE
  // encoder (a non-draft job) against TAESD's (a draft/live job), 512², 2 threads like the engine.
  const ckpt = openCheckpoint(set.checkpoint);
  const vae = await createSession(buildVaeEncoder(ckpt.source('vae')), { provider: 'cpu' });
  const tiny = await createSession(buildTaesdEncoder(taesdSource(taesdEnc)), { provider: 'cpu' });
  const x = new Float32Array(3 * SIZE_ENC * SIZE_ENC).map((_, i) => Math.sin(i * 0.001));
  const run = async (s: typeof vae): Promise<number> => {
    const t = performance.now();
    await s.run({ image: new ort.Tensor('float32', x, [1, 3, SIZE_ENC, SIZE_ENC]) });
    return performance.now() - t;
  };
  await run(vae);
  await run(tiny);
  const full: number[] = [];
  const small: number[] = [];
  for (let i = 0; i < 5; i++) {
    full.push(await run(vae));
    small.push(await run(tiny));
  }
  const load = loadavg();
  const result = {
    bench: 'live',
    rows: [
      { label: 'init encode 512², full SD VAE encoder: median', value: Math.round(median(full)), unit: 'ms', min: Math.round(Math.min(...full)), max: Math.round(Math.max(...full)) },
      { label: 'init encode 512², TAESD encoder: median', value: Math.round(median(small)), unit: 'ms', min: Math.round(Math.min(...small)), max: Math.round(Math.max(...small)) },
    ],
    notes: [`5 interleaved runs each after a warm-up; load average ${load.map((v) => v.toFixed(2)).join(' / ')} (1/5/15 min, 2 cores)`],
  };
  emit(result, true);
  await vae.release();
  await tiny.release();
  process.exit(0);
}
const loadBefore = loadavg();
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
let loraRows: Array<{ label: string; value: number; unit: string }> = [];
if (loraSwitch) {
  const withLora = (edit: number): GenerateRequest => ({ ...liveJob(edit), params: { ...liveJob(edit).params, loras: [{ model: loraName, strength: 0.01 }] } });
  phase('LoRA switch: live job with a LoRA (UNet + text encoder rebuilt)');
  let t = performance.now();
  const on = await engine.generate(withLora(edits + 1));
  const onMs = performance.now() - t;
  phase('LoRA switch back: live job without it');
  t = performance.now();
  await engine.generate(liveJob(edits + 2));
  const offMs = performance.now() - t;
  loraRows = [
    { label: 'LoRA switch on: live job incl. UNet + text rebuild', value: Math.round(onMs / 100) / 10, unit: 's' },
    { label: 'LoRA switch off: live job incl. UNet + text rebuild', value: Math.round(offMs / 100) / 10, unit: 's' },
    { label: 'LoRA switch cost over a warm live job (on, off mean)', value: Math.round(((onMs + offMs) / 2 - median(latencies)) / 100) / 10, unit: 's' },
  ];
  phase(`LoRA job phases ${JSON.stringify(on.metadata.timings)}`);
}
phase(`standard job: ${standardSteps} steps, CFG, full VAE (takes minutes on a CPU)`);
const standardReq: GenerateRequest = { params: { ...params, steps: standardSteps, sampler: 'euler', guidance: 7, strength: 1 }, references: [], controls: [] };
await engine.generate({ ...standardReq, params: { ...standardReq.params, steps: 1 } }); // its sessions (full VAE decoder) warm, like the live ones
const ts = performance.now();
const standard = await engine.generate(standardReq);
const standardMs = performance.now() - ts;
await engine.dispose();

const loadAfter = loadavg();
const s = summarize(latencies);
const p90 = percentile(latencies, 0.9);
const ratio = s.value / standardMs;
emit({
  bench: 'live',
  rows: [
    { label: `edit → preview, 512² img2img 0.5, 4 LCM steps, TAESD (${provider}): median`, value: Math.round(s.value), unit: 'ms', min: Math.round(s.min), max: Math.round(s.max) },
    { label: 'edit → preview: p90', value: Math.round(p90), unit: 'ms' },
    { label: `standard job: 512² txt2img ${standardSteps} steps CFG, full VAE`, value: Math.round(standardMs / 100) / 10, unit: 's' },
    { label: 'live / standard', value: Math.round(ratio * 1000) / 1000, unit: '×', target: '≤ 0.125', pass: ratio <= 0.125 },
    ...loraRows,
  ],
  notes: [
    `first live job (graph build + sessions) ${(coldMs / 1000).toFixed(1)} s; warm live job phases (ms) ${JSON.stringify(lastTimings)}; standard phases ${JSON.stringify(standard.metadata.timings)}`,
    'strength 0.5 of 4 steps runs 2 UNet steps; CFG off (guidance 1) runs the UNet at batch 1',
    `init encode: ${existsSync(taesdEnc) ? 'TAESD encoder' : 'full VAE encoder'}`,
    `load average ${loadBefore.map((x) => x.toFixed(2)).join(' / ')} before, ${loadAfter.map((x) => x.toFixed(2)).join(' / ')} after (1/5/15 min, 2 cores)`,
  ],
});
