/**
 * Full-size SDXL on CPU from a synthetic weight set with SDXL base's exact key names and shapes
 * (engine/synthetic/sdxl-specs.ts: 2,567,463,684 UNet parameters in 1680 tensors, the 83.7 M SD VAE;
 * random data), generated once into $IPA_BENCH_SDXL_DIR (default <user cache>/bench/sdxl-synthetic).
 * Prints: UNet graph build and session creation, one UNet step at 1024² with CFG (batch 2, text_embeds
 * and time_ids), VAE decode at 1024² untiled and in the engine's tiles, and peak RSS against the
 * weights held in memory. One process, one JSON line with --json.
 *
 *   node --import tsx bench/sdxl.ts [--size 1024] [--no-vae] [--no-unet] [--fp16] [--optimized-cache] [--tiny]
 *
 * fp32 files by default (9.6 GiB UNet): the CPU flavour computes in fp32, and with --fp16 files the
 * session holds the fp16 initializers and their fp32 casts at once (≈ 5.1 + 10.3 GB at load), which did
 * not fit this machine's share of its 24 GiB. The onnxruntime optimised-graph cache (engine default for
 * CPU graphs, runtime/session.ts) is off unless --optimized-cache: writing it for the SDXL UNet took the
 * first session creation past 15.7 GiB RSS (1.65× the weights, still rising when stopped); without it the
 * peak is ~1.16×. --tiny runs the same code on the tiny SDXL topology (a smoke test, seconds).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { buildUNet } from '../engine/graphs/unet.ts';
import { buildVaeDecoder, runTiled, type Planar, type TileRunner } from '../engine/graphs/vae.ts';
import { createSession, defaultCacheDir } from '../engine/runtime/session.ts';
import { sdxlUnetSpecs, SDXL_UNET_SPEC, TINY_SDXL_UNET_SPEC } from '../engine/synthetic/sdxl-specs.ts';
import * as S from '../engine/synthetic/specs.ts';
import { elementCount, fanIn, writeSafetensorsFile, writeSynthetic } from '../engine/synthetic/write.ts';
import { floatToHalf, halfToFloat } from '../engine/weights/safetensors.ts';
import { safetensorsSource } from '../engine/weights/source.ts';
import { inspectUNet, UNET_IO } from '../engine/weights/unet-structure.ts';
import { emit, type BenchRow } from './lib/types.ts';

const args = process.argv.slice(2);
const flag = (n: string) => args.includes(n);
const opt = (n: string, d: number) => (args.includes(n) ? Number(args[args.indexOf(n) + 1]) : d);
const tiny = flag('--tiny');
/** fp32 files (default): the CPU flavour then holds the file's own bytes, no fp16 copy beside the fp32 one. */
const fp32 = !flag('--fp16');
const optimizedCache = flag('--optimized-cache');
const size = opt('--size', tiny ? 64 : 1024);
const log = (s: string) => process.stderr.write(`${s}\n`);

/** The engine's VAE tiling (engine/engine.ts): tiles of 64 latent px (512 px) with 16 px overlap above 96² latents. */
const VAE_TILE = { tile: tiny ? 4 : 64, overlap: tiny ? 1 : 16, scale: 8 } as const;

function benchDir(): string {
  return process.env.IPA_BENCH_SDXL_DIR ?? join(defaultCacheDir(), 'bench', tiny ? 'sdxl-synthetic-tiny' : 'sdxl-synthetic');
}

/**
 * fp16 random weights at copy speed: per fan-in, one pool of N(0, 1/fan_in) halves (from writeSynthetic's
 * generator, on a 1 M-value tensor), copied out at random offsets. writeSynthetic converts every value
 * one by one (~100 MB/min on a busy 2-core machine: most of an hour for SDXL's 5.1 GB); the values' only
 * job here is to be finite and of the right scale.
 */
function writeFast(path: string, specs: readonly S.TensorSpec[], seed: number, dtype: 'F16' | 'F32'): number {
  const size = dtype === 'F16' ? 2 : 4;
  const POOL = 1 << 20;
  const poolFile = join(dirname(path), '.pool.safetensors');
  writeSynthetic(poolFile, [{ name: 'p', shape: [POOL] }], { seed, dtype: 'F16' }); // N(0, 1) halves
  const raw = readFileSync(poolFile);
  const unit = new Uint16Array(raw.buffer.slice(raw.byteOffset + raw.length - 2 * POOL, raw.byteOffset + raw.length));
  rmSync(poolFile);
  const pools = new Map<number, Buffer>();
  const poolFor = (inputs: number): Buffer => {
    let b = pools.get(inputs);
    if (!b) {
      const std = 1 / Math.sqrt(inputs);
      const f = Float32Array.from(unit, (u) => halfToFloat(u) * std);
      b = Buffer.from(dtype === 'F16' ? Uint16Array.from(f, floatToHalf).buffer : f.buffer);
      pools.set(inputs, b);
    }
    return b;
  };
  const metadata = { format: 'pt', generator: 'ipa-bridge synthetic (bench/sdxl.ts)' };
  return writeSafetensorsFile(path, specs, dtype, metadata, (fd) => {
    let rng = seed >>> 0 || 1;
    const ONE = Buffer.from(dtype === 'F16' ? new Uint16Array(POOL).fill(0x3c00).buffer : new Float32Array(POOL).fill(1).buffer);
    const ZERO = Buffer.alloc(size * POOL);
    for (const t of specs) {
      const pool = t.init === 'ones' ? ONE : t.init === 'zeros' ? ZERO : poolFor(fanIn(t.shape));
      for (let left = elementCount(t.shape); left > 0;) {
        rng ^= rng << 13; rng ^= rng >>> 17; rng ^= rng << 5; rng >>>= 0;
        const start = rng % (POOL / 2);
        const m = Math.min(left, POOL - start);
        writeSync(fd, pool, size * start, size * m);
        left -= m;
      }
    }
  });
}

function ensure(path: string, specs: readonly S.TensorSpec[], seed: number): void {
  if (existsSync(path)) return;
  mkdirSync(dirname(path), { recursive: true });
  const t0 = performance.now();
  const bytes = writeFast(path, specs, seed, fp32 ? 'F32' : 'F16');
  log(`wrote ${path} (${(bytes / 2 ** 30).toFixed(2)} GiB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

const fileName = fp32 ? 'diffusion_pytorch_model.safetensors' : 'diffusion_pytorch_model.fp16.safetensors';
const unetFile = join(benchDir(), 'unet', fileName);
const vaeFile = join(benchDir(), 'vae', fileName);
const unetSpecs = sdxlUnetSpecs(tiny ? TINY_SDXL_UNET_SPEC : SDXL_UNET_SPEC);
const vaeSpecs = S.vaeSpecs(tiny ? S.TINY_VAE_SPEC : S.SD15_VAE_SPEC);
ensure(unetFile, unetSpecs, 21);
ensure(vaeFile, vaeSpecs, 22);

const GiB = 2 ** 30;
const fp32Bytes = (specs: readonly S.TensorSpec[]) => specs.reduce((n, s) => n + 4 * s.shape.reduce((a, b) => a * b, 1), 0);
const rssGiB = () => process.memoryUsage().rss / GiB;
const r2 = (v: number) => Math.round(v * 100) / 100;
const rows: BenchRow[] = [];
const notes: string[] = [];
let seed = 7;
const rand = (n: number) => Float32Array.from({ length: n }, () => ((seed = (seed * 48271) % 2147483647) / 2147483647) * 2 - 1);
const cacheDir = join(benchDir(), 'cache');

if (!flag('--no-unet')) {
  let t = performance.now();
  const src = safetensorsSource(unetFile);
  const structure = inspectUNet(src);
  const graph = buildUNet(src, { flavour: 'cpu', control: false, ip: false, structure, config: tiny ? { heads: [1, 2, 4], normGroups: 8, timeIdDim: 8 } : {} });
  const tBuild = performance.now() - t;
  t = performance.now();
  const session = await createSession(graph, { provider: 'cpu', cacheDir, optimizedCache });
  const tSession = performance.now() - t;
  const rssLoaded = rssGiB();
  log(`UNet: build ${(tBuild / 1000).toFixed(1)} s, session ${(tSession / 1000).toFixed(1)} s, RSS ${rssLoaded.toFixed(2)} GiB`);
  const B = 2;
  const h = size / 8;
  const pooled = structure.textTime!.inputWidth - 6 * (tiny ? 8 : 256);
  const feeds: Record<string, ort.Tensor> = {
    sample: new ort.Tensor('float32', rand(B * 4 * h * h), [B, 4, h, h]),
    timestep: new ort.Tensor('float32', Float32Array.of(500, 500), [B]),
    encoder_hidden_states: new ort.Tensor('float32', rand(B * 77 * structure.crossAttentionDim), [B, 77, structure.crossAttentionDim]),
    [UNET_IO.textEmbeds]: new ort.Tensor('float32', rand(B * pooled), [B, pooled]),
    [UNET_IO.timeIds]: new ort.Tensor('float32', Float32Array.from([size, size, 0, 0, size, size, size, size, 0, 0, size, size]), [B, 6]),
  };
  t = performance.now();
  const out = await session.run(feeds);
  const tStep = performance.now() - t;
  const finite = (out.noise_pred.data as Float32Array).every(Number.isFinite);
  log(`UNet step ${size}² batch 2: ${(tStep / 1000).toFixed(1)} s (finite: ${finite})`);
  await session.release();
  const held = fp32Bytes(unetSpecs) / GiB;
  const peak = process.resourceUsage().maxRSS / 2 ** 20;
  rows.push(
    { label: 'SDXL UNet: graph build', value: r2(tBuild / 1000), unit: 's' },
    { label: 'SDXL UNet: session creation', value: r2(tSession / 1000), unit: 's' },
    { label: `SDXL UNet: one step ${size}² batch 2 (CFG)`, value: r2(tStep / 1000), unit: 's' },
    { label: `SDXL UNet: peak RSS / weights held (fp32 ${held.toFixed(2)} GiB)`, value: r2(peak / held), unit: '×', target: '≤ 1.3', pass: peak / held <= 1.3 },
  );
  notes.push(`sdxl UNet: optimised-graph cache ${optimizedCache ? 'on' : 'off'}; file ${(statSync(unetFile).size / GiB).toFixed(2)} GiB ${fp32 ? 'fp32' : 'fp16'}, held ${held.toFixed(2)} GiB fp32; RSS after load ${rssLoaded.toFixed(2)} GiB, peak so far ${peak.toFixed(2)} GiB (= ${(peak / (statSync(unetFile).size / GiB)).toFixed(2)}× the file); output finite: ${finite}`);
}

if (!flag('--no-vae')) {
  let t = performance.now();
  const graph = buildVaeDecoder(safetensorsSource(vaeFile), { flavour: 'cpu', config: { scalingFactor: 0.13025, ...(tiny ? { groups: 4 } : {}) } });
  const session = await createSession(graph, { provider: 'cpu', cacheDir, optimizedCache });
  const tLoad = performance.now() - t;
  const h = size / 8;
  const latents: Planar = { data: rand(4 * h * h), shape: [1, 4, h, h] };
  const run: TileRunner = async (tile) => {
    const r = await session.run({ latents: new ort.Tensor('float32', tile.data, [...tile.shape]) });
    return { image: { data: r.image.data as Float32Array, shape: r.image.dims.map(Number) } };
  };
  t = performance.now();
  await run(latents);
  const tFull = performance.now() - t;
  const peakUntiled = process.resourceUsage().maxRSS / 2 ** 20;
  t = performance.now();
  await runTiled(run, latents, VAE_TILE);
  const tTiled = performance.now() - t;
  await session.release();
  log(`VAE decode ${size}²: untiled ${(tFull / 1000).toFixed(1)} s, tiled ${(tTiled / 1000).toFixed(1)} s`);
  rows.push(
    { label: 'SDXL VAE decoder: build + session', value: r2(tLoad / 1000), unit: 's' },
    { label: `SDXL VAE decode ${size}² untiled`, value: r2(tFull / 1000), unit: 's' },
    { label: `SDXL VAE decode ${size}² tiled (${VAE_TILE.tile * 8} px tiles, ${VAE_TILE.overlap * 8} px overlap)`, value: r2(tTiled / 1000), unit: 's' },
  );
  notes.push(`sdxl VAE: peak RSS after the untiled decode ${peakUntiled.toFixed(2)} GiB (process peak, includes the UNet phase when it ran)`);
}

const peak = process.resourceUsage().maxRSS / 2 ** 20;
rows.push({ label: 'SDXL: process peak RSS', value: r2(peak), unit: 'GiB' });
emit({ bench: 'sdxl', rows, notes });
