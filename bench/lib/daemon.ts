/**
 * A real daemon process for benchmarks: `node --import tsx bridge/cli.ts start --port 0` with a
 * temporary config folder and a known IPA_BRIDGE_TOKEN, its port read from the `listening port=` line.
 * `engine: 'test'` loads test/helpers/test-engine.ts (no models; steps sleep IPA_TEST_ENGINE_STEP_MS);
 * `engine: 'real'` loads engine/ with `--models DIR`.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectBridge } from '../../bridge/connect.ts';
import type { BridgeClient } from '../../shared/protocol/client.ts';
import { spawnListening } from '../../test/helpers/spawn.ts';

export interface BenchDaemonOptions {
  engine: 'test' | 'real';
  modelsDir?: string;
  /** Test engine step duration (default 0: the step costs only a timer tick). */
  stepMs?: number;
  args?: string[];
  env?: Record<string, string>;
}

export interface BenchDaemon {
  readonly port: number;
  readonly token: string;
  readonly proc: ChildProcess;
  url(): string;
  connect(name?: string): Promise<BridgeClient>;
  /** What the daemon wrote to stderr (its log). */
  log(): string;
  /** Resident set size in KiB now, and the peak (VmHWM), from /proc; null off Linux. */
  rssKb(): { rss: number; peak: number } | null;
  stop(): Promise<void>;
}

export async function startBenchDaemon(opts: BenchDaemonOptions): Promise<BenchDaemon> {
  const configDir = mkdtempSync(join(tmpdir(), 'ipa-bench-cfg-'));
  const token = randomBytes(16).toString('hex');
  // No job rate limit: a bench submits jobs back to back on purpose.
  const args = ['--import', 'tsx', 'bridge/cli.ts', 'start', '--port', '0', '--host', '127.0.0.1', '--job-rate', '10000', '--job-burst', '10000'];
  if (opts.engine === 'test') args.push('--engine', 'test');
  if (opts.modelsDir) args.push('--models', opts.modelsDir);
  args.push(...(opts.args ?? []));
  const { proc, port, log, exited } = await spawnListening(args, {
    env: { ...process.env, IPA_BRIDGE_CONFIG_DIR: configDir, IPA_BRIDGE_TOKEN: token, IPA_TEST_ENGINE_STEP_MS: String(opts.stepMs ?? 0), ...opts.env },
    timeoutMs: 60_000,
    what: 'daemon',
  });
  return {
    port,
    token,
    proc,
    url: () => `ws://127.0.0.1:${port}/?token=${token}`,
    connect: (name = 'bench') => connectBridge({ host: '127.0.0.1', port, token, clientName: name, maxPayload: 512 * 1024 * 1024 }),
    log,
    rssKb: () => {
      try {
        const s = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
        const rss = /VmRSS:\s+(\d+) kB/.exec(s);
        const peak = /VmHWM:\s+(\d+) kB/.exec(s);
        return rss && peak ? { rss: Number(rss[1]), peak: Number(peak[1]) } : null;
      } catch {
        return null;
      }
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const killer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
      rmSync(configDir, { recursive: true, force: true });
    },
  };
}

/** One of bench/lib/servers.ts's comparison servers in its own process. */
export async function startCompareServer(kind: 'echo' | 'base64'): Promise<{ port: number; stop(): Promise<void> }> {
  const { proc, port, exited } = await spawnListening(['--import', 'tsx', join('bench', 'lib', 'servers.ts'), kind], { pattern: /port=(\d+)/, what: `${kind} server` });
  return {
    port,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}
