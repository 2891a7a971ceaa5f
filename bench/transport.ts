/**
 * Transport: a 4096×4096 RGBA layer sent client → daemon and a same-size result back over loopback.
 *   raw     our path: the real daemon process (test engine, 1 step), BridgeClient, raw-rgba8 frames in
 *           and out. The daemon generates at its pixel budget (the layer is resized to ~512², the result
 *           scaled back to 4096²), so that resizing is part of the figure, as a plugin user feels it.
 *   png     the same daemon and job with PNG frames (client encodes with sharp, low zlib effort; the
 *           daemon decodes, and encodes its result as PNG; the client decodes it): reported with and
 *           without the client's encode/decode.
 *   mask    our path with a selection: the layer plus a raw-gray8 mask (an ellipse with a soft edge), as
 *           the Photoshop plugin sends an inpaint job (crop off, feather 0); the result is pasted back
 *           through the mask at full size. (80 MiB up, 64 MiB down.)
 *   base64  the existing plugins' approach: the same bytes base64 in a JSON text message each way,
 *           against a minimal server (bench/lib/servers.ts, own process) that decodes and re-encodes.
 *   echo    the ceiling: a bare `ws` server echoing the same bytes (own process).
 * Runs are interleaved (echo, raw, png, base64, echo, …) so machine load hits every path alike.
 * MB/s = pixel bytes up + down (2 × 4096·4096·4 = 134 MB) / round-trip time.
 *
 *   node --import tsx bench/transport.ts [--json] [--runs 5] [--size 4096] [--skip mask,png,base64,sha]
 */
import sharp from 'sharp';
import WebSocket from 'ws';
import type { BridgeClient } from '../shared/protocol/client.ts';
import type { JobMessage } from '../shared/protocol/messages.ts';
import { sha256Hex } from '../shared/protocol/sha256.ts';
import { startBenchDaemon, startCompareServer } from './lib/daemon.ts';
import { loadNote, machineInfo } from './lib/machine.ts';
import { sig, summarize } from './lib/stats.ts';
import { emit, type BenchRow } from './lib/types.ts';

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string): string => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const RUNS = Number(opt('--runs', '5'));
const SIZE = Number(opt('--size', '4096'));
const SKIP = new Set(opt('--skip', '').split(',').filter(Boolean));
const BYTES = SIZE * SIZE * 4;
const log = (s: string): void => void process.stderr.write(`[transport] ${s}\n`);

/** A photo-like opaque layer: smooth gradients, a few soft shapes, mild noise (matters for PNG only). */
function makeLayer(w: number, h: number): Uint8Array {
  const d = new Uint8Array(w * h * 4);
  let seed = 12345;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const n = (seed >>> 24) & 7;
      const o = (y * w + x) * 4;
      const u = x / w, v = y / h;
      const ring = Math.sin(((u - 0.4) ** 2 + (v - 0.6) ** 2) * 60) * 40;
      d[o] = 90 + u * 120 + ring + n;
      d[o + 1] = 60 + v * 140 + n;
      d[o + 2] = 150 - u * 60 + ring * 0.5 + n;
      d[o + 3] = 255;
    }
  }
  return d;
}

/** A selection mask: an ellipse over the middle of the layer, 255 inside, a 32-pixel ramp at its edge. */
function makeMask(w: number, h: number): Uint8Array {
  const m = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const r = Math.hypot((x - w / 2) / (w * 0.35), (y - h / 2) / (h * 0.3));
      m[y * w + x] = Math.max(0, Math.min(255, Math.round((1 - r) * 255 * ((w * 0.3) / 32))));
    }
  }
  return m;
}

function open(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1024 * 1024 * 1024 });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function nextMessage(ws: WebSocket): Promise<Buffer> {
  return new Promise((resolve) => ws.once('message', (data: Buffer) => resolve(data)));
}

interface Sample {
  ms: number;
  /** For png: round trip without the client's encode and decode. */
  transportMs?: number;
  daemon?: Record<string, number>;
}

let jobSeq = 0;
function job(format: 'raw-rgba8' | 'png', mask = false): JobMessage {
  return {
    type: 'job', jobId: `bench-${process.pid}-${++jobSeq}`, prompt: 'transport bench', seed: 1, steps: 1, strength: 0.5, init: { source: 'frame' }, output: { format },
    ...(mask ? { mask: { source: 'frame', feather: 0, crop: false } } : {}),
  };
}

async function ourPath(client: BridgeClient, layer: Uint8Array): Promise<Sample> {
  const t0 = performance.now();
  const j = job('raw-rgba8');
  const out = await client.submit(j, { init: { format: 'raw-rgba8', width: SIZE, height: SIZE, data: layer } });
  const ms = performance.now() - t0;
  const img = out.images[0];
  if (img.data.length !== BYTES || img.descriptor.width !== SIZE) throw new Error(`raw result is ${img.descriptor.width}x${img.descriptor.height}, ${img.data.length} bytes`);
  client.release(j.jobId);
  return { ms, daemon: out.result.metadata.timings };
}

async function maskPath(client: BridgeClient, layer: Uint8Array, mask: Uint8Array): Promise<Sample> {
  const t0 = performance.now();
  const j = job('raw-rgba8', true);
  const out = await client.submit(j, { init: { format: 'raw-rgba8', width: SIZE, height: SIZE, data: layer }, mask: { format: 'raw-gray8', width: SIZE, height: SIZE, data: mask } });
  const ms = performance.now() - t0;
  const img = out.images[0];
  if (img.data.length !== BYTES) throw new Error(`masked result is ${img.descriptor.width}x${img.descriptor.height}`);
  // Outside the selection the layer comes back untouched.
  for (const o of [0, 4 * (SIZE * 3 + 5), BYTES - 4]) if (img.data[o] !== layer[o] || img.data[o + 2] !== layer[o + 2]) throw new Error('pixels outside the mask changed');
  client.release(j.jobId);
  return { ms, daemon: out.result.metadata.timings };
}

async function pngPath(client: BridgeClient, layer: Uint8Array): Promise<Sample> {
  const t0 = performance.now();
  const png = await sharp(layer, { raw: { width: SIZE, height: SIZE, channels: 4 } }).png({ compressionLevel: 1, adaptiveFiltering: false }).toBuffer();
  const t1 = performance.now();
  const j = job('png');
  const out = await client.submit(j, { init: { format: 'png', width: SIZE, height: SIZE, data: png } });
  const t2 = performance.now();
  const { info } = await sharp(out.images[0].data).raw().toBuffer({ resolveWithObject: true });
  const ms = performance.now() - t0;
  if (info.width !== SIZE || info.height !== SIZE) throw new Error(`png result is ${info.width}x${info.height}`);
  client.release(j.jobId);
  return { ms, transportMs: t2 - t1, daemon: out.result.metadata.timings };
}

async function base64Path(ws: WebSocket, layer: Uint8Array): Promise<Sample> {
  const t0 = performance.now();
  const reply = nextMessage(ws);
  ws.send(JSON.stringify({ type: 'job', jobId: `b64-${++jobSeq}`, width: SIZE, height: SIZE, image: Buffer.from(layer.buffer, layer.byteOffset, layer.byteLength).toString('base64') }));
  const m = JSON.parse((await reply).toString('utf8')) as { image: string };
  const pixels = Buffer.from(m.image, 'base64');
  const ms = performance.now() - t0;
  if (pixels.length !== BYTES) throw new Error('base64 result has the wrong size');
  return { ms };
}

async function echoPath(ws: WebSocket, layer: Uint8Array): Promise<Sample> {
  const t0 = performance.now();
  const reply = nextMessage(ws);
  ws.send(layer);
  const back = await reply;
  const ms = performance.now() - t0;
  if (back.length !== BYTES) throw new Error('echo came back short');
  return { ms };
}

async function main(): Promise<void> {
  const before = machineInfo();
  log(`building a ${SIZE}x${SIZE} layer (${(BYTES / 2 ** 20).toFixed(0)} MiB); ${loadNote(before)}`);
  const layer = makeLayer(SIZE, SIZE);
  const mask = makeMask(SIZE, SIZE);
  const daemon = await startBenchDaemon({ engine: 'test', stepMs: 0 });
  const echo = await startCompareServer('echo');
  const b64 = await startCompareServer('base64');
  const client = await daemon.connect('bench-transport');
  const echoWs = await open(`ws://127.0.0.1:${echo.port}/`);
  const b64Ws = await open(`ws://127.0.0.1:${b64.port}/`);

  type Path = { name: string; run: () => Promise<Sample> };
  const paths: Path[] = [
    { name: 'echo', run: () => echoPath(echoWs, layer) },
    { name: 'raw', run: () => ourPath(client, layer) },
    { name: 'mask', run: () => maskPath(client, layer, mask) },
    { name: 'png', run: () => pngPath(client, layer) },
    { name: 'base64', run: () => base64Path(b64Ws, layer) },
  ].filter((p) => !SKIP.has(p.name));
  const samples = new Map<string, Sample[]>(paths.map((p) => [p.name, []]));
  try {
    for (const p of paths) await p.run(); // warm-up: JIT, sharp's thread pool, the daemon's first job
    for (let i = 0; i < RUNS; i++) {
      for (const p of paths) {
        const s = await p.run();
        samples.get(p.name)!.push(s);
        log(`run ${i + 1}/${RUNS} ${p.name}: ${s.ms.toFixed(0)} ms${s.daemon ? ` (daemon ${JSON.stringify(s.daemon)})` : ''}`);
      }
    }
  } finally {
    client.close();
    echoWs.close();
    b64Ws.close();
    await Promise.all([daemon.stop(), echo.stop(), b64.stop()]);
  }

  const rows: BenchRow[] = [];
  const mbps = (ms: number): number => (2 * BYTES) / 1e6 / (ms / 1000);
  const names: Record<string, string> = {
    raw: 'raw frames via daemon (our path)',
    mask: 'raw frames + selection mask via daemon (inpaint)',
    png: 'PNG frames via daemon, incl. client encode+decode',
    base64: 'base64 in JSON',
    echo: 'raw ws echo (ceiling)',
  };
  const ms = (name: string): number[] => samples.get(name)?.map((s) => s.ms) ?? [];
  for (const name of ['raw', 'mask', 'png', 'base64', 'echo']) {
    if (!samples.has(name)) continue;
    const t = summarize(ms(name));
    rows.push({ label: `${names[name]}: round trip`, value: sig(t.value), unit: 'ms', min: sig(t.min), max: sig(t.max) });
    if (name === 'mask') continue; // more bytes up (the mask): its MB/s would not compare
    const r = summarize(ms(name).map(mbps));
    rows.push({ label: `${names[name]}: throughput`, value: sig(r.value), unit: 'MB/s', min: sig(r.min), max: sig(r.max) });
    if (name === 'png') {
      const tt = summarize(samples.get('png')!.map((s) => s.transportMs!));
      rows.push({ label: 'PNG frames via daemon, without client codec: round trip', value: sig(tt.value), unit: 'ms', min: sig(tt.min), max: sig(tt.max) });
    }
  }
  // Where the daemon's time goes (its own result timings).
  for (const [name, who] of [['raw', 'our path'], ['mask', 'inpaint']] as const) {
    const got = samples.get(name);
    if (!got) continue;
    for (const k of ['prepare', 'generate', 'encode']) {
      const v = got.map((s) => s.daemon?.[k]).filter((x): x is number => typeof x === 'number');
      if (!v.length) continue;
      const t = summarize(v);
      const what = k === 'prepare' ? 'prepare (fit to the pixel budget)' : k === 'generate' ? 'generate (test engine, 1 step)' : name === 'mask' ? 'finish (scale back, paste through the mask, hash)' : 'finish (scale back to full size, hash)';
      rows.push({ label: `${who}, daemon ${what}`, value: sig(t.value), unit: 'ms', min: sig(t.min), max: sig(t.max) });
    }
  }
  // Ratios from per-round pairs (same moment, same load), then their median.
  if (samples.has('raw') && samples.has('echo')) {
    const k = summarize(ms('raw').map((t, i) => (100 * ms('echo')[i]) / t));
    rows.push({ label: 'our path vs raw echo (throughput)', value: sig(k.value), unit: '%', min: sig(k.min), max: sig(k.max), target: '≥ 50 %', pass: k.value >= 50 });
  }
  if (samples.has('raw') && samples.has('base64')) {
    const k = summarize(ms('raw').map((t, i) => ms('base64')[i] / t));
    rows.push({ label: 'our path speed-up over base64 in JSON', value: sig(k.value), unit: '×', min: sig(k.min), max: sig(k.max), target: '≥ 3 ×', pass: k.value >= 3 });
  }
  // The Photoshop plugin hashes each layer in pure JS (to send it by hash next time): a client cost per job.
  if (!SKIP.has('sha')) {
    const hs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      sha256Hex(layer);
      hs.push(performance.now() - t0);
    }
    const t = summarize(hs);
    rows.push({ label: 'client: pure-JS sha256 of the layer (Photoshop plugin, per job)', value: sig(t.value), unit: 'ms', min: sig(t.min), max: sig(t.max) });
  }
  const after = machineInfo();
  emit({
    bench: 'transport',
    rows,
    notes: [
      `${SIZE}x${SIZE} RGBA8 layer in, same-size result out, over loopback; daemon with the test engine (1 step), generating at ~512² and scaling back; ${RUNS} runs of each path, interleaved, after one warm-up`,
      'MB/s = pixel bytes up + down (2 × 64 MiB at 4096²) / round trip; the ratios are medians of same-round pairs; echo and base64 servers run in their own process, like the daemon',
      `${loadNote(before)} before, ${after.load.join(' / ')} after`,
    ],
  });
}

await main();
