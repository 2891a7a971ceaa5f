/**
 * The daemon's fixed cost: job latency from request to result over a real WebSocket, for jobs whose
 * compute is negligible, so what remains is the daemon (validation, queue, prepare, encode, messages).
 *   test engine   64×64, 1 step (the step is a timer tick): ~30 jobs on one connection; plus a
 *                 connect + hello handshake and a protocol ping.
 *   real engine   engine/ on tiny generated models (writeTinyModels), 64×64, 1 step: the first job of a
 *                 fresh daemon (cold: graph build + session creation), several fresh daemons; then
 *                 warm jobs on the last one. Daemon start-up (spawn → listening) is reported too.
 *
 *   node --import tsx bench/latency.ts [--json] [--jobs 30] [--cold 3] [--warm 15] [--skip real]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BridgeClient } from '../shared/protocol/client.ts';
import type { JobMessage } from '../shared/protocol/messages.ts';
import { startBenchDaemon, type BenchDaemonOptions } from './lib/daemon.ts';
import { loadNote, machineInfo } from './lib/machine.ts';
import { sig, summarize } from './lib/stats.ts';
import { emit, type BenchRow } from './lib/types.ts';

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string): string => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const JOBS = Number(opt('--jobs', '30'));
const COLD = Number(opt('--cold', '3'));
const WARM = Number(opt('--warm', '15'));
const SKIP = new Set(opt('--skip', '').split(',').filter(Boolean));
const log = (s: string): void => void process.stderr.write(`[latency] ${s}\n`);

let seq = 0;
function tinyJob(): JobMessage {
  return { type: 'job', jobId: `lat-${process.pid}-${++seq}`, prompt: 'a red apple on a table', seed: 42, steps: 1, width: 64, height: 64 };
}

async function timeJob(client: BridgeClient): Promise<number> {
  const j = tinyJob();
  const t0 = performance.now();
  const out = await client.submit(j);
  const ms = performance.now() - t0;
  if (out.images.length !== 1) throw new Error('no image');
  client.release(j.jobId);
  return ms;
}

const row = (label: string, xs: number[], unit = 'ms'): BenchRow => {
  const s = summarize(xs);
  return { label, value: sig(s.value), unit, min: sig(s.min), max: sig(s.max) };
};

async function startTimed(o: BenchDaemonOptions) {
  const t0 = performance.now();
  const d = await startBenchDaemon(o);
  return { d, startMs: performance.now() - t0 };
}

async function testEngine(rows: BenchRow[]): Promise<void> {
  const { d, startMs } = await startTimed({ engine: 'test', stepMs: 0 });
  try {
    const connects: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      const c = await d.connect('bench-latency');
      connects.push(performance.now() - t0);
      c.close();
    }
    const client = await d.connect('bench-latency');
    const pings: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      await client.ping();
      pings.push(performance.now() - t0);
    }
    for (let i = 0; i < 3; i++) await timeJob(client); // warm-up
    const jobs: number[] = [];
    for (let i = 0; i < JOBS; i++) jobs.push(await timeJob(client));
    client.close();
    log(`test engine: start ${startMs.toFixed(0)} ms, jobs ${jobs.map((x) => x.toFixed(1)).join(' ')}`);
    rows.push(row(`test engine: job 64×64, 1 step, request → result (${JOBS} jobs)`, jobs));
    rows.push(row('test engine: connect + hello → welcome', connects));
    rows.push(row('protocol ping round trip', pings));
  } finally {
    await d.stop();
  }
}

async function realEngine(rows: BenchRow[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ipa-bench-tiny-'));
  try {
    const { writeTinyModels } = await import('../engine/index.ts');
    const t0 = performance.now();
    await writeTinyModels(dir);
    log(`tiny models written in ${(performance.now() - t0).toFixed(0)} ms`);
    const starts: number[] = [];
    const colds: number[] = [];
    const warms: number[] = [];
    for (let i = 0; i < COLD; i++) {
      const { d, startMs } = await startTimed({ engine: 'real', modelsDir: dir });
      starts.push(startMs);
      try {
        const client = await d.connect('bench-latency');
        colds.push(await timeJob(client));
        if (i === COLD - 1) {
          for (let k = 0; k < 2; k++) await timeJob(client); // settle
          for (let k = 0; k < WARM; k++) warms.push(await timeJob(client));
        }
        client.close();
        log(`real engine daemon ${i + 1}/${COLD}: start ${startMs.toFixed(0)} ms, cold job ${colds[i].toFixed(0)} ms`);
      } catch (e) {
        process.stderr.write(d.log());
        throw e;
      } finally {
        await d.stop();
      }
    }
    log(`real engine warm jobs: ${warms.map((x) => x.toFixed(1)).join(' ')}`);
    rows.push(row(`real engine (tiny models): first job, cold: graph build + sessions (${COLD} daemons)`, colds));
    rows.push(row(`real engine (tiny models): warm job 64×64, 1 step (${WARM} jobs)`, warms));
    rows.push(row('real engine: daemon start-up, spawn → listening', starts));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const before = machineInfo();
const rows: BenchRow[] = [];
if (!SKIP.has('test')) await testEngine(rows);
if (!SKIP.has('real')) await realEngine(rows);
const after = machineInfo();
emit({ bench: 'latency', rows, notes: [`${loadNote(before)} before, ${after.load.join(' / ')} after`] });
