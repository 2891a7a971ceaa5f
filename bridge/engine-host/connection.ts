/**
 * One engine child process, seen from the daemon: fork, the booted → init → ready handshake, calls
 * matched to answers by id, and what happens to the calls in flight when the process ends. A call
 * never outlives the process: when it exits, every pending call is rejected with `engine-crashed`
 * (or cancelled, when the caller had cancelled). A child that stops talking during a job (a native
 * call that never returns) is killed after `stallMs`; one that ignores a cancel after `cancelGraceMs`.
 * Restarting is the owner's business (engine-process.ts).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { CancelledError, EngineError, type GenerateOptions, type GenerateRequest, type GenerateResult, type ModelSummary } from '../../engine/api.ts';
import type { EngineFactoryOptions } from '../engine-loader.ts';
import { childEntry } from './entry.ts';
import { isOutOfMemoryText } from './out-of-memory.ts';
import { fromWireError, isFromChild, type EngineDescription, type FromChild, type ToChild } from './protocol.ts';

export interface ConnectionOptions {
  readonly spec?: string;
  readonly factory: EngineFactoryOptions;
  readonly env?: NodeJS.ProcessEnv;
  /** Fork → ready; beyond it the child is killed and the start fails. */
  readonly startTimeoutMs: number;
  /** Longest silence from the child while a job runs (every step sends progress). */
  readonly stallMs: number;
  /** How long a cancelled job may take to stop before the child is killed. */
  readonly cancelGraceMs: number;
  /** One line of the child's stdout/stderr (onnxruntime warnings, native crash reports). */
  readonly onOutput: (line: string) => void;
}

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Set when the daemon killed it, and why. */
  readonly killedFor?: string;
}

/** The start failed: the child said why (the factory threw), died, or took too long. */
export class EngineStartError extends Error {
  constructor(message: string, readonly fromFactory: boolean) {
    super(message);
    this.name = 'EngineStartError';
  }
}

interface Pending {
  onMessage(m: FromChild): void;
  /** The process ended with this call unanswered. */
  onExit(info: ExitInfo): void;
}

/** Lines of child output kept for the crash message. */
const TAIL_LINES = 20;

export class EngineConnection {
  readonly pid: number;
  readonly exited: Promise<ExitInfo>;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private killedFor?: string;
  private alive = true;

  private constructor(private readonly proc: ChildProcess, readonly description: EngineDescription, readonly startMs: number, private readonly opts: ConnectionOptions, exited: Promise<ExitInfo>, private readonly tail: readonly string[]) {
    this.pid = proc.pid!;
    this.exited = exited.then((info) => {
      this.alive = false;
      const full = { ...info, ...(this.killedFor ? { killedFor: this.killedFor } : {}) };
      for (const p of [...this.pending.values()]) p.onExit(full);
      this.pending.clear();
      return full;
    });
    proc.on('message', (m: unknown) => {
      if (!isFromChild(m) || !('id' in m)) return;
      this.pending.get(m.id)?.onMessage(m);
    });
  }

  /** Forks the child and waits until its engine exists. `signal` gives up (the daemon is stopping). */
  static async open(opts: ConnectionOptions, signal?: AbortSignal): Promise<EngineConnection> {
    const entry = childEntry();
    const t0 = performance.now();
    const proc = fork(entry.path, [], {
      execArgv: entry.execArgv,
      env: opts.env ?? process.env,
      serialization: 'advanced',
      // stdout too is piped: the daemon's stdout carries only its "listening" line.
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const tail: string[] = [];
    const onLine = (line: string): void => {
      if (!line) return;
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      opts.onOutput(line);
    };
    for (const s of [proc.stdout!, proc.stderr!]) {
      let buf = '';
      s.setEncoding('utf8').on('data', (d: string) => {
        buf += d;
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const l of lines) onLine(l);
      });
      s.on('end', () => onLine(buf));
    }
    const exited = new Promise<ExitInfo>((resolve) => {
      proc.once('exit', (code, signal) => {
        // Its last output (a native crash report) may still be in the pipes: 'close' comes after
        // them, unless something else holds them open.
        const done = (): void => resolve({ code, signal });
        proc.once('close', done);
        setTimeout(done, 500).unref();
      });
      proc.once('error', () => resolve({ code: null, signal: null })); // fork failed (e.g. EAGAIN)
    });
    let onStartMessage: ((m: unknown) => void) | undefined;
    let onAbort: (() => void) | undefined;
    try {
      const ready = await new Promise<Extract<FromChild, { type: 'ready' }>>((resolve, reject) => {
        const timer = setTimeout(() => reject(new EngineStartError(`the engine process did not start within ${Math.round(opts.startTimeoutMs / 1000)} s`, false)), opts.startTimeoutMs);
        onAbort = () => {
          clearTimeout(timer);
          reject(new EngineStartError('the engine start was abandoned (shutting down)', false));
        };
        if (signal?.aborted) onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
        proc.on('message', (onStartMessage = (m: unknown) => {
          if (!isFromChild(m)) return;
          if (m.type === 'booted') {
            const init: ToChild = { type: 'init', spec: opts.spec, options: opts.factory };
            proc.send(init);
          } else if (m.type === 'ready') {
            clearTimeout(timer);
            resolve(m);
          } else if (m.type === 'start-failed') {
            clearTimeout(timer);
            reject(new EngineStartError(fromWireError(m.error).message, true));
          }
        }));
        void exited.then((info) => {
          clearTimeout(timer);
          reject(new EngineStartError(`the engine process ${describeExit(info)} while starting${lastLine(tail)}`, false));
        });
      });
      return new EngineConnection(proc, ready.engine, Math.round(performance.now() - t0), opts, exited, tail);
    } catch (e) {
      proc.kill('SIGKILL');
      await exited;
      throw e;
    } finally {
      if (onStartMessage) proc.off('message', onStartMessage);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  }

  get isAlive(): boolean {
    return this.alive;
  }

  /** Jobs or listings in flight. */
  get busy(): boolean {
    return this.pending.size > 0;
  }

  generate(request: GenerateRequest, opts: GenerateOptions): Promise<GenerateResult> {
    const { signal } = opts;
    if (signal?.aborted) return Promise.reject(new CancelledError());
    const id = this.nextId++;
    return new Promise<GenerateResult>((resolve, reject) => {
      let stall: ReturnType<typeof setTimeout> | undefined;
      let grace: ReturnType<typeof setTimeout> | undefined;
      const watch = (): void => {
        clearTimeout(stall);
        stall = setTimeout(() => this.kill(`it stopped responding (no progress for ${Math.round(this.opts.stallMs / 1000)} s)`), this.opts.stallMs);
      };
      const onAbort = (): void => {
        this.send({ type: 'cancel', id });
        grace = setTimeout(() => this.kill(`a cancelled job did not stop within ${Math.round(this.opts.cancelGraceMs / 1000)} s`), this.opts.cancelGraceMs);
      };
      const done = (): void => {
        clearTimeout(stall);
        clearTimeout(grace);
        signal?.removeEventListener('abort', onAbort);
        this.pending.delete(id);
      };
      this.pending.set(id, {
        onMessage: (m) => {
          watch();
          if (m.type === 'progress') {
            opts.onProgress?.(m.event);
          } else if (m.type === 'result') {
            done();
            resolve(m.result);
          } else if (m.type === 'failed') {
            done();
            reject(fromWireError(m.error));
          }
        },
        onExit: (info) => {
          done();
          reject(signal?.aborted ? new CancelledError() : crashError(info, this.tail));
        },
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      watch();
      try {
        this.send({ type: 'generate', id, request, wantPreview: opts.wantPreview ?? false });
      } catch (e) {
        done(); // the request could not be serialized (a bug): fail this call only
        reject(e);
      }
    });
  }

  listModels(): Promise<ModelSummary[]> {
    const id = this.nextId++;
    return new Promise<ModelSummary[]>((resolve, reject) => {
      this.pending.set(id, {
        onMessage: (m) => {
          if (m.type === 'models') resolve(m.models);
          else if (m.type === 'failed') reject(fromWireError(m.error));
          else return;
          this.pending.delete(id);
        },
        onExit: (info) => reject(crashError(info, this.tail)),
      });
      this.send({ type: 'list-models', id });
    });
  }

  /** Asks the engine to release its sessions and the process to exit; kills it after `timeoutMs`. */
  async close(timeoutMs: number): Promise<void> {
    if (!this.alive) return;
    this.send({ type: 'dispose' });
    const timer = setTimeout(() => this.kill('it did not exit after dispose', 'SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }

  kill(why: string, signal: NodeJS.Signals = 'SIGKILL'): void {
    if (!this.alive) return;
    this.killedFor ??= why;
    this.proc.kill(signal);
  }

  private send(m: ToChild): void {
    // The child may be gone already (EPIPE in the callback): its exit handler settles every pending call.
    if (this.alive && this.proc.connected) this.proc.send(m, () => undefined);
  }
}

/** "was killed by SIGKILL", "crashed (SIGSEGV)", "exited with code 3". */
export function describeExit(info: ExitInfo): string {
  if (info.killedFor) return `was stopped because ${info.killedFor}`;
  if (info.signal === 'SIGKILL') return 'was killed (SIGKILL; the system may have run out of memory)';
  if (info.signal) return `crashed (${info.signal})`;
  if (info.code === null) return 'could not be started';
  return `exited unexpectedly with code ${info.code}`;
}

function lastLine(tail: readonly string[]): string {
  const l = tail.at(-1);
  return l ? ` (last output: ${l.slice(0, 300)})` : '';
}

/** The error a job in flight gets when its engine process ends. */
export function crashError(info: ExitInfo, tail: readonly string[]): EngineError {
  const hint = tail.some(isOutOfMemoryText) ? ' It ran out of memory: try a smaller size or a batch of 1.' : '';
  return new EngineError('engine-crashed', `the engine process ${describeExit(info)} during this job${info.killedFor ? '' : lastLine(tail)}.${hint} The engine restarts for the next job; resubmit this one.`);
}
