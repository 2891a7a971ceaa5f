/**
 * The daemon's Engine when inference runs in a child process (connection.ts): same interface as the
 * in-process engine, so the job queue does not know the difference. Adds what a separate process
 * needs: a restart after the child dies (at once; with backoff while it keeps dying before it is ready,
 * and a pause after several such failures instead of a restart loop), and a model list served from
 * a cache so a handshake never waits for a UNet step to finish in the child.
 */
import type { Engine, GenerateOptions, GenerateRequest, GenerateResult, ModelSummary, RuntimeReport } from '../../engine/api.ts';
import { EngineError } from '../../engine/api.ts';
import type { EngineFactoryOptions } from '../engine-loader.ts';
import type { Logger } from '../log.ts';
import { describeExit, EngineConnection, type ConnectionOptions } from './connection.ts';
import type { EngineDescription } from './protocol.ts';

export interface EngineProcessOptions {
  /** As for loadEngineFactory: undefined = the real engine, "test" = the test engine, or a module path. */
  readonly spec?: string;
  readonly factory: EngineFactoryOptions;
  readonly log: Logger;
  readonly env?: NodeJS.ProcessEnv;
  /** Default 120 s: the real engine's factory probes providers (session creation on each). */
  readonly startTimeoutMs?: number;
  /** Default 10 min: a CPU step at 512² takes ~14 s and a large VAE decode minutes; only a hang is silent longer. */
  readonly stallMs?: number;
  /** Default 60 s after a cancel (one long step) before the child is killed. */
  readonly cancelGraceMs?: number;
  /** Wait before the next start after 1, 2, … consecutive failures; past the last, restarts pause. */
  readonly restartDelaysMs?: readonly number[];
  /** Paused restarts: one more attempt when a job asks this long after the pause began (default 60 s). */
  readonly retryAfterMs?: number;
}

/** Waits before the attempt after 1, 2, … consecutive failures: the first restart is immediate. */
const DEFAULT_DELAYS = [0, 1000, 2000, 5000, 10_000];
/** A child that dies within this of becoming ready counts as a failed start. */
const QUICK_DEATH_MS = 30_000;
/** The first model list (before any is cached) waits at most this for the child. */
const LIST_TIMEOUT_MS = 30_000;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

export class EngineProcess implements Engine {
  private conn?: EngineConnection;
  private starting?: Promise<EngineConnection>;
  private description: EngineDescription;
  private disposed = false;
  /** Consecutive failures: starts that failed, and children that died soon after starting. */
  private failures = 0;
  /** Set while restarts are paused after repeated failures. */
  private pausedSince?: number;
  private lastStartError = '';
  private models?: ModelSummary[];
  private refreshing?: Promise<ModelSummary[]>;
  /** Aborted by dispose(): ends a backoff wait or a start in progress at once. */
  private readonly stopping = new AbortController();

  private constructor(private readonly opts: EngineProcessOptions, first: EngineConnection) {
    this.description = first.description;
    this.adopt(first);
  }

  /**
   * Starts the child and waits for its engine. A factory that throws (unknown engine module, no usable
   * provider) fails here with its message: the daemon then runs without an engine, as it did in-process.
   */
  static async start(opts: EngineProcessOptions): Promise<EngineProcess> {
    const ep = new EngineProcess(opts, await EngineConnection.open(connectionOptions(opts)));
    ep.refreshModels().catch(() => undefined); // the first handshake then finds the list ready
    return ep;
  }

  get provider(): string {
    return this.description.provider;
  }

  get runtime(): RuntimeReport | undefined {
    return this.description.runtime;
  }

  /** The running child's pid (undefined between a crash and the restart). */
  get pid(): number | undefined {
    return this.conn?.isAlive ? this.conn.pid : undefined;
  }

  async generate(req: GenerateRequest, opts: GenerateOptions = {}): Promise<GenerateResult> {
    const conn = await this.connection();
    const result = await conn.generate(req, opts);
    this.failures = 0; // it finished a job: whatever killed earlier ones is not a start-up failure
    return result;
  }

  /**
   * The cached list at once (refreshed in the background). Only a call before any list exists waits
   * for the child, and not longer than LIST_TIMEOUT_MS (a handshake must not hang on a stuck child).
   */
  async listModels(): Promise<ModelSummary[]> {
    const fresh = this.refreshModels();
    if (this.models) {
      fresh.catch((e: unknown) => this.opts.log.debug(`engine process: listing models failed: ${(e as Error).message}`));
      return this.models;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the engine process did not list its models within ${LIST_TIMEOUT_MS / 1000} s`)), LIST_TIMEOUT_MS);
    });
    try {
      return await Promise.race([fresh, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    this.stopping.abort();
    await this.starting?.catch(() => undefined);
    await this.conn?.close(5000);
  }

  private refreshModels(): Promise<ModelSummary[]> {
    this.refreshing ??= this.connection()
      .then((c) => c.listModels())
      .then((m) => (this.models = m))
      .finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  /** The live child, waiting for a restart in progress, or one more attempt after a pause. */
  private async connection(): Promise<EngineConnection> {
    if (this.disposed) throw new EngineError('engine-unavailable', 'the engine is shutting down');
    if (this.conn?.isAlive) return this.conn;
    if (!this.starting && this.pausedSince !== undefined) {
      const retryAfter = this.opts.retryAfterMs ?? 60_000;
      const left = retryAfter - (Date.now() - this.pausedSince);
      if (left > 0) throw new EngineError('engine-unavailable', `the engine process keeps failing (${this.lastStartError}); the daemon tries again in ${Math.ceil(left / 1000)} s`);
      this.pausedSince = undefined;
      this.scheduleStart({ lastChance: true });
    }
    if (!this.starting) this.scheduleStart({});
    try {
      return await this.starting!;
    } catch {
      throw new EngineError('engine-unavailable', `the engine process could not be restarted: ${this.lastStartError}`);
    }
  }

  private adopt(conn: EngineConnection): void {
    this.conn = conn;
    const readyAt = Date.now();
    this.opts.log.info(`engine process pid=${conn.pid} ready in ${conn.startMs} ms (provider ${conn.description.provider})`);
    void conn.exited.then((info) => {
      if (this.conn === conn) this.conn = undefined;
      if (this.disposed) return;
      // A child that dies soon after starting counts as a failed start: no tight restart loop.
      this.failures = Date.now() - readyAt < QUICK_DEATH_MS ? this.failures + 1 : 0;
      this.lastStartError = `it ${describeExit(info)}`;
      this.opts.log.warn(`engine process pid=${conn.pid} ${describeExit(info)}; starting a new one`);
      this.scheduleStart({});
    });
  }

  /**
   * Starts a child in the background. After n consecutive failures (failed starts, or deaths soon after
   * one) it waits delays[n-1] first; past the last delay it pauses (see connection()).
   */
  private scheduleStart({ lastChance = false }: { lastChance?: boolean }): void {
    if (this.starting || this.disposed) return;
    const delays = this.opts.restartDelaysMs ?? DEFAULT_DELAYS;
    const pause = (): Error => {
      this.pausedSince = Date.now();
      this.opts.log.error(`engine process failed ${this.failures} times in a row (${this.lastStartError}); jobs fail with engine-unavailable until a retry succeeds`);
      return new Error(this.lastStartError);
    };
    const run = async (): Promise<EngineConnection> => {
      for (;;) {
        if (!lastChance && this.failures > delays.length) throw pause();
        const wait = lastChance || this.failures === 0 ? 0 : delays[this.failures - 1];
        if (wait > 0) {
          this.opts.log.warn(`engine process: next start in ${wait / 1000} s`);
          await sleep(wait, this.stopping.signal);
        }
        if (this.disposed) throw new Error('shutting down');
        try {
          const conn = await EngineConnection.open(connectionOptions(this.opts), this.stopping.signal);
          if (this.disposed) {
            await conn.close(2000);
            throw new Error('shutting down');
          }
          this.description = conn.description;
          this.adopt(conn);
          return conn;
        } catch (e) {
          if (this.disposed) throw e;
          this.failures++;
          this.lastStartError = (e as Error).message;
          this.opts.log.warn(`engine process failed to start: ${this.lastStartError}`);
          if (lastChance) throw pause();
        }
      }
    };
    this.starting = run().finally(() => (this.starting = undefined));
    this.starting.catch(() => undefined); // logged above; callers that wait get engine-unavailable
  }
}

function connectionOptions(o: EngineProcessOptions): ConnectionOptions {
  return {
    spec: o.spec,
    factory: o.factory,
    env: o.env,
    startTimeoutMs: o.startTimeoutMs ?? 120_000,
    stallMs: o.stallMs ?? 10 * 60_000,
    cancelGraceMs: o.cancelGraceMs ?? 60_000,
    onOutput: (line: string) => o.log.info(`engine: ${line}`),
  };
}
