/**
 * Starts a node process from the repository root and waits for the line announcing its port
 * (`listening port=N` for the daemon, `port=N` for bench servers). Used by tests and benchmarks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');

export interface Listening {
  readonly proc: ChildProcess;
  readonly port: number;
  /** Everything the process wrote to stderr so far. */
  log(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export async function spawnListening(args: readonly string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; pattern?: RegExp; what?: string } = {}): Promise<Listening> {
  const what = opts.what ?? 'process';
  const proc = spawn(process.execPath, [...args], { cwd: ROOT, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  const pattern = opts.pattern ?? /^listening port=(\d+)/m;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start in ${timeoutMs / 1000} s:\n${stderr}`)), timeoutMs);
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      const m = pattern.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code} before listening:\n${stderr}`));
    });
  });
  return { proc, port, log: () => stderr, exited };
}
