/**
 * The one prepared check for a GPU machine (`npm run bench -- device`), meant to finish within 5
 * minutes: every provider probed; the parity fixtures on the chosen GPU provider (fp32 portable or
 * the CUDA flavour, and fp16); a full-size synthetic SD1.5 512² job with IP-Adapter + ControlNet
 * (20 steps: ms per step, total, GPU memory); a 1024² job, whose VAE decode runs in tiles; and live
 * mode's job (512² img2img at 0.5, 4 LCM steps, CFG off, TAESD encode and draft decode): edit→preview
 * median and p90, previews per second (goal on an H100/H200: ≤ 150 ms, ≥ 5 per second).
 *
 *   node --import tsx bench/device.ts [--provider auto|cuda|webgpu|…] [--steps 20] [--big 1024] [--tiny] [--no-parity]
 *
 * --tiny runs the jobs on the tiny generated models instead of the full-size set (checks the script
 * itself on machines without a GPU, e.g. WebGPU on software Vulkan).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registryLocator } from '../bridge/models/locator.ts';
import type { Engine, GenerateRequest, RgbaImage } from '../engine/api.ts';
import { createEngine, writeTinyModels } from '../engine/index.ts';
import { listCases } from '../engine/parity/fixture.ts';
import { runCase } from '../engine/parity/run.ts';
import { parityTarget } from '../engine/parity/target.ts';
import { probeAll, probeProvider, selectProvider } from '../engine/runtime/probe.ts';
import { isProviderChoice, type ProviderChoice } from '../engine/runtime/providers.ts';
import { taesdOriginalSpecs } from '../engine/synthetic/taesd-specs.ts';
import { writeSynthetic } from '../engine/synthetic/write.ts';
import { percentile, summarize } from './lib/stats.ts';
import { emit, type BenchRow } from './lib/types.ts';
import { ensureSyntheticSd15 } from './synthetic.ts';

const args = process.argv.slice(2);
const opt = (n: string): string | undefined => (args.includes(n) ? args[args.indexOf(n) + 1] : undefined);
const choice = opt('--provider') ?? 'auto';
if (!isProviderChoice(choice)) throw new Error(`--provider ${choice}: not a provider`);
const steps = Number(opt('--steps') ?? 20);
const tiny = args.includes('--tiny');
/** The large job's size: 1024² by default; above 768² the VAE decodes in tiles. */
const big = Number(opt('--big') ?? 1024);
const fixtures = opt('--fixtures') ?? join(import.meta.dirname, '../../shared/fixtures');

const rows: BenchRow[] = [];
/** Progress on stderr: the whole check takes minutes (stdout carries only the result). */
const phase = (s: string): void => void process.stderr.write(`[device ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
const notes: string[] = [];
const row = (label: string, value: number, unit: string, extra: Partial<BenchRow> = {}): void => void rows.push({ label, value: Math.round(value * 100) / 100, unit, ...extra });

// 1. Probes.
phase('probing providers');
const probes = await probeAll();
for (const p of probes) notes.push(`probe ${p.provider}: ${p.ok ? `ok${p.fp16 ? ' fp16' : ''}, ${p.createMs?.toFixed(0)} ms load, ${p.runMs?.toFixed(2)} ms run` : `${p.available ? 'failed' : 'not available'}: ${p.error ?? ''}`}${p.device ? ` [${p.device}]` : ''}`);
const probed = new Map(probes.map((p) => [p.provider, p]));
const selection = await selectProvider(choice as ProviderChoice, { probe: async (p) => probed.get(p) ?? probeProvider(p) });
notes.push(`chosen: ${selection.provider}${selection.fp16 ? ' (fp16)' : ''} — ${selection.reason}`);

// 2. Parity on the chosen provider.
if (!args.includes('--no-parity') && selection.provider !== 'cpu') {
  for (const fp16 of selection.fp16 ? [false, true] : [false]) {
    const target = parityTarget(selection.provider, fp16);
    phase(`parity fixtures on ${selection.provider} (${target.flavour})`);
    const t0 = performance.now();
    let pass = 0;
    const failed: string[] = [];
    const cases = listCases(fixtures);
    for (const dir of cases) {
      const r = await runCase(dir, target).catch((e: unknown) => ({ pass: false, name: dir, error: (e as Error).message }));
      if (r.pass) pass++;
      else failed.push(dir.split('/').pop() ?? dir);
    }
    row(`parity ${target.flavour} on ${selection.provider}: cases passed`, pass, `of ${cases.length}`, { target: `${cases.length}`, pass: pass === cases.length });
    notes.push(`parity ${target.flavour}: ${((performance.now() - t0) / 1000).toFixed(0)} s${failed.length ? `; failed: ${failed.join(', ')}` : ''}`);
  }
}

// 3 + 4. Jobs: 512² (20 steps) and 1024² (tiled VAE), IP-Adapter + ControlNet, CFG.
phase(`jobs on ${selection.provider}${selection.fp16 ? ' (fp16)' : ''}: ${tiny ? 'tiny models' : 'synthetic full-size SD1.5 (generated once, ~7.8 GB)'}`);
const modelsDir = tiny ? join(mkdtempSync(join(tmpdir(), 'ipa-device-')), 'models') : ensureSyntheticSd15().models;
if (tiny) await writeTinyModels(modelsDir);
// Live mode's tiny autoencoder (taesd.py layout, full width), where the registry looks for it.
for (const part of ['decoder', 'encoder'] as const) {
  const file = join(modelsDir, 'vae', `taesd_${part}.safetensors`);
  if (existsSync(file)) continue;
  mkdirSync(join(modelsDir, 'vae'), { recursive: true });
  writeSynthetic(file, taesdOriginalSpecs(part), { seed: part === 'decoder' ? 9 : 10 });
}
const engine: Engine = await createEngine({ provider: selection.provider, fp16: selection.fp16, models: registryLocator(modelsDir, { hashes: 'cached' }) }); // hashing 8 GB is not the job's time
const image = (w: number, h: number): RgbaImage => ({ width: w, height: h, data: Uint8Array.from({ length: w * h * 4 }, (_, i) => (i * 31 + (i >> 9)) % 256) });
const job = (size: number, n: number): GenerateRequest => ({
  params: { prompt: 'a lighthouse on a cliff at dusk, oil painting', negativePrompt: 'blurry', seed: 7, steps: n, sampler: 'dpmpp-2m', guidance: 7, width: size, height: size, strength: 1, batchSize: 1, clipSkip: 1 },
  references: [{ image: image(640, 480), adapter: 'base', scale: 0.7, preset: 'reference', range: { start: 0, end: 1 }, hash: 'device-ref' }],
  controls: [{ image: image(size, size), type: 'pose', preprocess: 'none', scale: 1, range: { start: 0, end: 1 }, guessMode: false }],
});

/** nvidia-smi sampling in its own process (the engine's native calls block this one's timers). */
function gpuMemorySampler(): { stop(): Promise<number | undefined> } {
  let child: ChildProcess | undefined;
  let text = '';
  try {
    child = spawn('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits', '-lms', '200'], { stdio: ['ignore', 'pipe', 'ignore'] });
    child.on('error', () => (child = undefined));
    child.stdout?.on('data', (d: Buffer) => (text += d.toString()));
  } catch {
    child = undefined;
  }
  return {
    async stop() {
      if (!child) return undefined;
      child.kill();
      await new Promise((r) => setTimeout(r, 100));
      const used = text.split('\n').map(Number).filter((n) => Number.isFinite(n) && n > 0);
      return used.length ? Math.max(...used) : undefined;
    },
  };
}

const gpu = gpuMemorySampler();
const label = (size: number, n: number): string => `${size}² ${n} steps IP-Adapter + ControlNet + CFG`;
const timed = async (req: GenerateRequest) => {
  const t = performance.now();
  const r = await engine.generate(req);
  return { ms: performance.now() - t, timings: r.metadata.timings };
};
const cold = await timed(job(512, steps));
const warm = await timed(job(512, steps));
row(`first job (graph build + sessions), ${label(512, steps)}`, cold.ms / 1000, 's');
row(`warm job, ${label(512, steps)}`, warm.ms / 1000, 's', { target: '≤ 1.0 (H100/H200, CUDA)', pass: warm.ms <= 1000 });
row('warm: ms per step (UNet + ControlNet + CFG)', warm.timings.ms_per_step, 'ms');
row('warm: VAE decode 512²', warm.timings.vae_decode_0, 'ms');
phase(`${big}² (tiled VAE)`);
const bigCold = await timed(job(big, Math.min(steps, 4)));
const bigWarm = await timed(job(big, Math.min(steps, 4)));
row(`warm job, ${label(big, Math.min(steps, 4))} (tiled VAE)`, bigWarm.ms / 1000, 's');
row(`warm: VAE decode ${big}² (tiled)`, bigWarm.timings.vae_decode_0, 'ms');
phase('live: 512² img2img 0.5, 4 LCM steps, CFG off, TAESD encode + draft decode');
/** The layer after `edit` strokes: a band across the top that grows with each edit. */
const stroked = (edit: number): RgbaImage => {
  const img = image(512, 512);
  img.data.fill(200, 0, 4 * 512 * 8 * (edit + 1));
  return img;
};
const liveJob = (edit: number): GenerateRequest => ({
  params: { prompt: 'a red box on a gradient, studio light', negativePrompt: '', seed: 11, steps: 4, sampler: 'lcm', guidance: 1, width: 512, height: 512, strength: 0.5, batchSize: 1, clipSkip: 1, draftDecode: true },
  init: stroked(edit),
  references: [],
  controls: [],
});
await timed(liveJob(0)); // sessions for the live path
const liveMs: number[] = [];
for (let e = 1; e <= 10; e++) liveMs.push((await timed(liveJob(e))).ms);
const liveStats = summarize(liveMs);
row('live: edit→preview, median (512², 4 LCM steps, TAESD)', liveStats.value, 'ms', { min: liveStats.min, max: liveStats.max, target: '≤ 150 (H100/H200)', pass: liveStats.value <= 150 });
row('live: edit→preview, p90', percentile(liveMs, 0.9), 'ms');
row('live: previews per second', 1000 / liveStats.value, '/s', { target: '≥ 5', pass: 1000 / liveStats.value >= 5 });
const peakMiB = await gpu.stop();
if (peakMiB !== undefined) row('GPU memory used, peak (nvidia-smi)', peakMiB, 'MiB');
else notes.push('GPU memory: not known here (no nvidia-smi; onnxruntime-node reports no WebGPU/CoreML/DirectML memory)');
notes.push(`models: ${tiny ? 'tiny generated set' : 'synthetic full-size SD1.5 (bench/synthetic.ts)'}; cold phases ${JSON.stringify(cold.timings)}; warm ${JSON.stringify(warm.timings)}; ${big}² first ${JSON.stringify(bigCold.timings)}`);
notes.push(`${big}² decode tiled: ${bigWarm.timings.vae_tiled === 1 ? 'yes' : 'no'}`);
await engine.dispose();
emit({ bench: 'device', rows, notes });
