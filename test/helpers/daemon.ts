/**
 * Runs a real daemon process for tests: `node --import tsx bridge/cli.ts start --port 0 --engine test`
 * with a temporary config folder and a known token, and reads its port from the stdout line.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';

import { ROOT, spawnListening } from './spawn.ts';

export { ROOT };

export interface TestDaemon {
  readonly port: number;
  readonly token: string;
  readonly proc: ChildProcess;
  readonly configDir: string;
  url(token?: string | null, host?: string): string;
  /** Everything the daemon wrote to stderr so far. */
  log(): string;
  /** Resident set size in KiB (Linux /proc), or null elsewhere. */
  rssKb(): number | null;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface TestDaemonOptions {
  args?: string[];
  env?: Record<string, string>;
  /** Test engine step duration. */
  stepMs?: number;
}

export async function startTestDaemon(opts: TestDaemonOptions = {}): Promise<TestDaemon> {
  const configDir = mkdtempSync(join(tmpdir(), 'ipa-cfg-'));
  const token = randomBytes(16).toString('hex');
  const { proc, port, log, exited } = await spawnListening(['--import', 'tsx', 'bridge/cli.ts', 'start', '--port', '0', '--engine', 'test', ...(opts.args ?? [])], {
    env: { ...process.env, IPA_BRIDGE_CONFIG_DIR: configDir, IPA_BRIDGE_TOKEN: token, IPA_TEST_ENGINE_STEP_MS: String(opts.stepMs ?? 10), ...opts.env },
    what: 'daemon',
  });
  return {
    port,
    token,
    proc,
    configDir,
    url: (t = token, host = '127.0.0.1') => `ws://${host.includes(':') ? `[${host}]` : host}:${port}/${t === null ? '' : `?token=${encodeURIComponent(t)}`}`,
    log,
    rssKb: () => {
      try {
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'));
        return m ? Number(m[1]) : null;
      } catch {
        return null;
      }
    },
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const killer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      const r = await exited;
      clearTimeout(killer);
      return r;
    },
  };
}

/** The test engine that also lists an SDXL checkpoint (test/helpers/test-engine-families.ts), stepping fast. */
export const FAMILIES_DAEMON: TestDaemonOptions = { stepMs: 5, args: ['--engine', 'test/helpers/test-engine-families.ts'] };

/**
 * One daemon for a whole test file: started in `before`, stopped in `after`. The returned object reads
 * through to it, so tests use it like the daemon itself (it throws if read before `before` ran).
 */
export function useTestDaemon(opts: TestDaemonOptions = {}): TestDaemon {
  let started: TestDaemon | undefined;
  before(async () => {
    started = await startTestDaemon(opts);
  });
  after(async () => {
    await started?.stop();
  });
  return readThrough(() => {
    if (!started) throw new Error('the test daemon starts in before(); it is not running yet');
    return started;
  });
}

/** A TestDaemon that reads every field from `current()`, for a daemon started later (in a `before` hook). */
export function readThrough(current: () => TestDaemon): TestDaemon {
  return {
    get port() {
      return current().port;
    },
    get token() {
      return current().token;
    },
    get proc() {
      return current().proc;
    },
    get configDir() {
      return current().configDir;
    },
    url: (token, host) => current().url(token, host),
    log: () => current().log(),
    rssKb: () => current().rssKb(),
    stop: (signal) => current().stop(signal),
  };
}
