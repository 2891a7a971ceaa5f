/**
 * Does the daemon keep answering while the engine works? One real job runs on a real daemon (CPU)
 * while a second client sends a protocol ping every 100 ms (fixed rate: a stall shows in every ping
 * sent during it) and a third opens new connections one after another (connect + hello → welcome).
 * Measured twice on fresh daemons: the engine in the daemon's process (IPA_BRIDGE_ENGINE_INPROCESS=1,
 * the old way: onnxruntime's synchronous session creation and runs block the event loop) and in the
 * engine child process. Only what happens while the job runs is counted. Target: ping p99 ≤ 50 ms.
 *
 *   full    the synthetic full-size SD1.5 set (bench/synthetic.ts), 512², 2 steps (first job of the
 *           daemon: graph build + session creation + steps + VAE decode). Minutes on 2 cores.
 *   --tiny  engine/ on tiny generated models, 256², 8 steps: seconds; for iterating.
 *
 *   node --import tsx bench/responsiveness.ts [--tiny] [--steps N] [--size N] [--only inprocess|child] [--json]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BridgeClient } from '../shared/protocol/client.ts';
import { startBenchDaemon } from './lib/daemon.ts';
import { loadNote, machineInfo } from './lib/machine.ts';
import { sig } from './lib/stats.ts';
import { emit, type BenchRow } from './lib/types.ts';

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string): string => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const TINY = argv.includes('--tiny');
const STEPS = Number(opt('--steps', TINY ? '8' : '2'));
const SIZE = Number(opt('--size', TINY ? '256' : '512'));
const ONLY = opt('--only', '');
const PING_EVERY_MS = 100;
const HELLO_PAUSE_MS = 100;
/** What `npx ipa-bridge generate` and the plugins wait for a handshake before giving up. */
const CLIENT_TIMEOUT_MS = 10_000;
const log = (s: string): void => void process.stderr.write(`[responsiveness] ${s}\n`);

interface Sample {
  pings: number[];
  /** Pings still unanswered when the job ended, with how long they had waited. */
  unanswered: number[];
  hellos: number[];
  helloFailures: string[];
  jobMs: number;
  /** Peak resident memory (MiB) of the daemon, and of the engine process when there is one. */
  daemonPeakMiB?: number;
  enginePeakMiB?: number;
}

/** VmHWM of a process in MiB (Linux); undefined elsewhere or when it is gone. */
function peakMiB(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

/** Fixed-rate pings on one connection; each one's round trip. */
function startPinger(client: BridgeClient): { stop(): { answered: number[]; waiting: number[] } } {
  const answered: number[] = [];
  const pending = new Set<number>();
  const timer = setInterval(() => {
    const t0 = performance.now();
    pending.add(t0);
    void client.ping().then(() => {
      if (!pending.delete(t0)) return;
      answered.push(performance.now() - t0);
    }, () => pending.delete(t0));
  }, PING_EVERY_MS);
  return {
    stop() {
      clearInterval(timer);
      const now = performance.now();
      const waiting = [...pending].map((t0) => now - t0);
      pending.clear();
      return { answered, waiting };
    },
  };
}

/** New connections one after another until stopped: connect + hello → welcome. */
function startConnector(connect: (timeoutMs: number) => Promise<BridgeClient>): { stop(): Promise<{ hellos: number[]; failures: string[] }> } {
  const hellos: number[] = [];
  const failures: string[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      try {
        // Longer than a client would wait, so the latency of a stall is measured, not cut off…
        const c = await connect(120_000);
        const ms = performance.now() - t0;
        hellos.push(ms);
        // …and counted as a failure where a client with its usual timeout would have given up.
        if (ms > CLIENT_TIMEOUT_MS) failures.push(`hello took ${(ms / 1000).toFixed(1)} s (> ${CLIENT_TIMEOUT_MS / 1000} s client timeout)`);
        c.close();
      } catch (e) {
        failures.push((e as Error).message);
      }
      await new Promise((r) => setTimeout(r, HELLO_PAUSE_MS));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { hellos, failures };
    },
  };
}

async function measure(mode: 'inprocess' | 'child', modelsDir: string): Promise<Sample> {
  const d = await startBenchDaemon({
    engine: 'real', modelsDir, args: ['--provider', 'cpu'],
    env: mode === 'inprocess' ? { IPA_BRIDGE_ENGINE_INPROCESS: '1' } : { IPA_BRIDGE_ENGINE_INPROCESS: '0' },
  });
  try {
    const submitter = await d.connect('bench-responsiveness-job');
    const pingerClient = await d.connect('bench-responsiveness-ping');
    const { connectBridge } = await import('../bridge/connect.ts');
    const connect = (timeoutMs: number) => connectBridge({ host: '127.0.0.1', port: d.port, token: d.token, clientName: 'bench-responsiveness-hello', timeoutMs });
    await pingerClient.ping(); // warm
    const pinger = startPinger(pingerClient);
    const connector = startConnector(connect);
    const t0 = performance.now();
    const out = await submitter.submit({ type: 'job', jobId: `resp-${mode}-${process.pid}`, prompt: 'a lighthouse on a cliff at dusk, oil painting', negativePrompt: 'blurry', seed: 7, steps: STEPS, sampler: 'euler', width: SIZE, height: SIZE });
    const jobMs = performance.now() - t0;
    const { answered, waiting } = pinger.stop();
    const { hellos, failures } = await connector.stop();
    if (out.images.length !== 1) throw new Error('the job returned no image');
    const enginePid = Number(/engine process pid=(\d+) ready/.exec(d.log())?.[1] ?? 0) || undefined;
    const daemonPeakMiB = peakMiB(d.proc.pid);
    const enginePeakMiB = peakMiB(enginePid);
    log(`${mode}: job ${(jobMs / 1000).toFixed(1)} s, ${answered.length} pings (${waiting.length} unanswered), ${hellos.length} hellos, ${failures.length} failed`);
    submitter.close();
    pingerClient.close();
    return { pings: answered, unanswered: waiting, hellos, helloFailures: failures, jobMs, daemonPeakMiB, enginePeakMiB };
  } catch (e) {
    process.stderr.write(d.log());
    throw e;
  } finally {
    await d.stop();
  }
}

async function modelsFolder(): Promise<{ dir: string; cleanup(): void; what: string }> {
  if (TINY) {
    const dir = mkdtempSync(join(tmpdir(), 'ipa-bench-resp-'));
    const { writeTinyModels } = await import('../engine/index.ts');
    await writeTinyModels(dir);
    return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }), what: 'tiny models' };
  }
  const { ensureSyntheticSd15 } = await import('./synthetic.ts');
  return { dir: ensureSyntheticSd15(log).models, cleanup: () => undefined, what: 'synthetic full-size SD1.5' };
}

const before = machineInfo();
const models = await modelsFolder();
const rows: BenchRow[] = [];
const notes: string[] = [];
const ms = (x: number): number => sig(x, 3);
try {
  for (const mode of ['inprocess', 'child'] as const) {
    if (ONLY && ONLY !== mode) continue;
    const s = await measure(mode, models.dir);
    const name = mode === 'inprocess' ? 'engine in the daemon process (before)' : 'engine in a child process';
    // Unanswered pings count with the time they had waited: a stall must not vanish from the figures.
    const pings = [...s.pings, ...s.unanswered];
    const target = mode === 'child' ? { target: '≤ 50', pass: percentile(pings, 99) <= 50 } : {};
    rows.push({ label: `${name}: ping round trip p50`, value: ms(percentile(pings, 50)), unit: 'ms' });
    rows.push({ label: `${name}: ping round trip p99`, value: ms(percentile(pings, 99)), unit: 'ms', ...target });
    rows.push({ label: `${name}: ping round trip max`, value: ms(Math.max(...pings)), unit: 'ms' });
    rows.push({ label: `${name}: new connection, hello → welcome p50`, value: ms(percentile(s.hellos, 50)), unit: 'ms' });
    rows.push({ label: `${name}: new connection, hello → welcome p99`, value: ms(percentile(s.hellos, 99)), unit: 'ms' });
    rows.push({ label: `${name}: new connection, hello → welcome max`, value: ms(Math.max(...s.hellos)), unit: 'ms' });
    rows.push({ label: `${name}: new connections that failed or took > ${CLIENT_TIMEOUT_MS / 1000} s`, value: s.helloFailures.length, unit: 'count' });
    rows.push({ label: `${name}: the job (${SIZE}², ${STEPS} steps, first of the daemon)`, value: sig(s.jobMs / 1000, 3), unit: 's' });
    if (s.daemonPeakMiB !== undefined) rows.push({ label: `${name}: peak RSS of the daemon process`, value: Math.round(s.daemonPeakMiB), unit: 'MiB' });
    if (s.enginePeakMiB !== undefined) rows.push({ label: `${name}: peak RSS of the engine process`, value: Math.round(s.enginePeakMiB), unit: 'MiB' });
    notes.push(`${name}: ${pings.length} pings (${s.unanswered.length} unanswered at the end), ${s.hellos.length} handshakes${s.helloFailures.length ? `; failures: ${[...new Set(s.helloFailures)].slice(0, 3).join('; ')}` : ''}`);
  }
} finally {
  models.cleanup();
}
const after = machineInfo();
notes.push(`${models.what}, ${SIZE}² txt2img, ${STEPS} steps, CPU; ping every ${PING_EVERY_MS} ms, a new connection every ${HELLO_PAUSE_MS} ms after the last; ${loadNote(before)} before, ${after.load.join(' / ')} after`);
emit({ bench: 'responsiveness', rows, notes });
