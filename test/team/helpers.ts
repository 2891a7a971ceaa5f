/**
 * Real parts for the team tests and the team bench: a private redis-server (Debian package) on a free
 * port with `--save "" --appendonly yes` in a temporary folder, the front (`team serve`) and workers
 * (`team worker --engine test`) as real processes, and users made with `team user add`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closedPort } from '../helpers/ports.ts';
import { ROOT, spawnListening } from '../helpers/spawn.ts';

export function redisServerPath(): string | null {
  for (const p of ['/usr/bin/redis-server', '/usr/local/bin/redis-server', '/usr/sbin/redis-server']) if (existsSync(p)) return p;
  const w = spawnSync('which', ['redis-server'], { encoding: 'utf8' });
  return w.status === 0 ? w.stdout.trim() : null;
}

export class TestRedis {
  private proc?: ChildProcess;
  private constructor(readonly port: number, readonly dir: string, private readonly bin: string) {}

  static async start(): Promise<TestRedis> {
    const bin = redisServerPath();
    if (!bin) throw new Error('redis-server is not installed (Debian: apt-get install redis-server; .ci/run installs it)');
    const r = new TestRedis(await closedPort(), mkdtempSync(join(tmpdir(), 'ipa-redis-')), bin);
    await r.up();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts (again) on the same port and folder: the append-only file brings the data back. */
  async up(): Promise<void> {
    const proc = spawn(this.bin, ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--dir', this.dir,
      '--maxmemory-policy', 'noeviction', '--protected-mode', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${out}`)), 10_000);
      proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (/Ready to accept connections/.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}:\n${out}`));
      });
    });
  }

  /** SIGTERM: Redis flushes its append-only file and exits. */
  async down(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await exited;
    this.proc = undefined;
  }

  async stop(): Promise<void> {
    await this.down();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface Proc {
  readonly proc: ChildProcess;
  readonly port: number;
  log(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

function wrap(l: { proc: ChildProcess; port: number; log(): string; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }): Proc {
  return {
    ...l,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (l.proc.exitCode !== null || l.proc.signalCode !== null) return;
      l.proc.kill(signal);
      const killer = setTimeout(() => l.proc.kill('SIGKILL'), 10_000);
      await l.exited;
      clearTimeout(killer);
    },
  };
}

export interface FrontOptions {
  redis: string;
  dataDir: string;
  port?: number;
  tls?: boolean;
  args?: string[];
}

export async function startFront(o: FrontOptions): Promise<Proc & { url: string; fingerprint?: string }> {
  const args = ['--import', 'tsx', 'bridge/cli.ts', 'team', 'serve', '--redis', o.redis, '--host', '127.0.0.1', '--port', String(o.port ?? 0), '--data', o.dataDir,
    ...(o.tls ? [] : ['--no-tls']), ...(o.args ?? [])];
  const l = await spawnListening(args, { what: 'front', pattern: /^listening port=(\d+).*$/m, env: { ...process.env, IPA_BRIDGE_CONFIG_DIR: o.dataDir } });
  // The stdout line has it too; the log line (stderr) is the one spawnListening keeps.
  const fp = /fingerprint ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})/.exec(l.log()) ?? undefined;
  return { ...wrap(l), url: `${o.tls ? 'wss' : 'ws'}://127.0.0.1:${l.port}/`, ...(fp ? { fingerprint: fp[1] } : {}) };
}

export interface WorkerOptions {
  redis: string;
  stepMs?: number;
  args?: string[];
  env?: Record<string, string>;
  spool?: string;
  /** Run the real engine on this models folder instead of the test engine. */
  models?: string;
}

/** A worker on the test engine (or the real one with `models`); short BullMQ lock and stalled check so a killed worker's job moves on fast. */
export async function startWorker(o: WorkerOptions): Promise<Proc> {
  const args = ['--import', 'tsx', 'bridge/cli.ts', 'team', 'worker', '--redis', o.redis, ...(o.models ? ['--models', o.models, '--provider', 'cpu'] : ['--engine', 'test']),
    '--lock-duration', '2000', '--stalled-interval', '1000', '--upload-wait', '300', '--spool', o.spool ?? mkdtempSync(join(tmpdir(), 'ipa-spool-')), ...(o.args ?? [])];
  const l = await spawnListening(args, {
    what: 'worker', pattern: /^worker ready id=\S+-(\d+)$/m,
    env: { ...process.env, IPA_TEST_ENGINE_STEP_MS: String(o.stepMs ?? 10), ...o.env },
  });
  return wrap(l);
}

/** Runs the CLI (`node --import tsx bridge/cli.ts ARGS`) to the end. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'bridge/cli.ts', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** `team user add NAME`: the token is the last line of stdout. */
export async function addUser(redis: string, name: string): Promise<string> {
  const r = await runCli(['team', 'user', 'add', name, '--redis', redis]);
  if (r.status !== 0) throw new Error(`team user add ${name} failed (${r.status}): ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  return lines[lines.length - 1];
}

export { ROOT };
